/*
 * journal.h — the rollout journal: DATA/state/journal.jsonl, one JSON
 * object per line, each line appended with one write(2) and fsynced.
 *
 * The engine's records carry a sequence number ("seq", from 1, no gaps),
 * "time" (ISO-8601 UTC), "t_ms", "kind" (transition | action | trigger |
 * plan_change), "who", "why" and "inputs".  The flag store appends its
 * audit records to the same file ("kind":"flag", no seq); they are
 * tolerated and skipped when sequence numbers are counted.
 *
 * A crash can leave a torn last line (no final newline).  journal_open()
 * detects it, reports it once (log and *TORN), moves the fragment to
 * PATH.torn and truncates the file back to its last complete line, so the
 * fragment is never read as a record.
 */
#ifndef ROLLOUT_JOURNAL_H
#define ROLLOUT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct journal;

/*
 * Open (create) the journal at PATH; scan it for the last sequence number
 * and repair a torn tail.  0 or -errno with ERR saying why (a line that is
 * complete but not JSON is reported as "PATH:LINE: ..." and refused:
 * -EBADMSG).
 */
int journal_open(struct journal **out, const char *path, char *err, size_t errlen);
void journal_close(struct journal *j);
const char *journal_path(const struct journal *j);
/* Highest "seq" found in the file (0 when none). */
uint64_t journal_last_seq(const struct journal *j);
/* Bytes of torn tail found (and moved aside) at open, 0 when none. */
size_t journal_torn_bytes(const struct journal *j);

/*
 * Append REC (borrowed) as one compact line and fsync.  When REC has a
 * "seq", it must be journal_last_seq() + 1 (else -EINVAL: a gap or a
 * duplicate).  0 or -errno (the disk's: -EROFS, -EACCES, -ENOSPC, -EIO...;
 * journal_last_seq() is then unchanged and a partial line is cut off, so
 * the caller can append the same record again later).
 */
int journal_append(struct journal *j, json_t *rec);

/*
 * Read the file at PATH and return up to MAX of its last records (new
 * reference, array, oldest first); a torn last line is skipped.  NULL
 * on error.  For /api/history and rolloutctl history.
 */
json_t *journal_read_tail(const char *path, size_t max);

/* Format T_MS as "2026-01-01T00:00:00.000Z" into BUF (at least 32 bytes). */
char *journal_time(int64_t t_ms, char *buf, size_t len);

#endif

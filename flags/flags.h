/*
 * flags.h — the feature-flag store (rolloutd.flags(5)).
 *
 * A libconfig file (default DATA/config/feature-flags.conf) shared by
 * rolloutd and rolloutctl.  Built-in flags (the seed's):
 *   enableHybridSystem  bool   false
 *   enableParallelMode  bool   false
 *   hybridTrafficPercent int   0 (0..100)
 *   emergencyRollback   bool   false
 *   rolloutPhase        string "disabled"
 * plus any the plan declares (flags_declare).  Every write takes an
 * exclusive flock on PATH.lock, re-reads the file and the journal's end,
 * bumps `generation`, appends its audit records (time, who, old -> new,
 * reason, generation) to the journal file given at open and fsyncs them,
 * and only then writes temp + fsync + rename + fsync(dir): write-ahead.
 * Opening (and every write) reconciles a file and a journal that disagree
 * (a writer stopped between the two, a file without audit record) with
 * who="recovery" records; see rolloutd.flags(5) RECOVERY.
 */
#ifndef ROLLOUT_FLAGS_H
#define ROLLOUT_FLAGS_H

#include <stddef.h>
#include <stdint.h>

enum flag_type { FLAG_BOOL = 1, FLAG_INT = 2, FLAG_STRING = 3 };

struct flag_value {
	enum flag_type type;
	int b;
	long long i;
	char s[128];
};

struct flags;

/*
 * Open the store at PATH (created with safe defaults when absent, its
 * records audited first; parent directories too).  AUDIT_PATH is the
 * JSON-lines journal audit records are appended to (may be NULL: no audit,
 * no reconciliation).  With it, a file and journal that disagree are
 * reconciled under the lock (who="recovery"; rolloutd.flags(5) RECOVERY);
 * a reconciliation that cannot be done (lock, read-only journal) is only
 * logged.  When the file exists but is broken,
 * returns -EBADMSG with libconfig's "PATH:LINE: message" in ERR and *OUT is
 * still set (flags_broken() is true; reads return defaults; writes other
 * than flags_emergency_rollback() are refused).
 */
int flags_open(struct flags **out, const char *path, const char *audit_path, char *err, size_t errlen);
void flags_close(struct flags *f);

/*
 * Take audit-record times (and the "Written" comment's) from NOW_MS(CTX),
 * milliseconds since the epoch, instead of the real clock: a virtual clock
 * under --simulate.  NULL restores the real clock.
 */
void flags_set_clock(struct flags *f, int64_t (*now_ms)(void *ctx), void *ctx);

/* Declare an extra flag (from the plan).  0, -EEXIST, -EINVAL. */
int flags_declare(struct flags *f, const char *name, enum flag_type type, long long min,
    long long max, const struct flag_value *deflt);

/*
 * Re-read the file (after inotify/SIGHUP); audits external changes as
 * who="external", and a new generation without audit records as
 * who="recovery".  1 if changed, 0, or -errno.
 */
int flags_reload(struct flags *f, char *err, size_t errlen);

int flags_broken(const struct flags *f);
/* The "PATH:LINE: message" that made the file broken ("" when it is not).  Owned by F. */
const char *flags_error(const struct flags *f);
uint64_t flags_generation(const struct flags *f);
const char *flags_path(const struct flags *f);

/* Typed reads from memory (defaults when unset/broken). */
int flags_get(const struct flags *f, const char *name, struct flag_value *out); /* 0 or -ENOENT */
int flags_get_bool(const struct flags *f, const char *name);
long long flags_get_int(const struct flags *f, const char *name);
int flags_traffic(const struct flags *f);          /* hybridTrafficPercent, 0 when emergencyRollback */

/*
 * Set NAME from its textual VALUE ("true", "25", "gradual"), type- and
 * range-checked.  WHO/REASON go to the audit record.  0, or -ENOENT
 * (unknown flag), -EINVAL/-ERANGE (bad value; ERR says which), -EBADMSG
 * (file broken: refused), -errno (I/O).
 */
int flags_set(struct flags *f, const char *name, const char *value, const char *who,
    const char *reason, char *err, size_t errlen);
/* Set several at once in one write and one generation (NAMES/VALUES arrays of N). */
int flags_set_many(struct flags *f, size_t n, const char *const *names,
    const char *const *values, const char *who, const char *reason, char *err, size_t errlen);

/*
 * Emergency rollback: traffic 0, enableHybridSystem false, emergencyRollback
 * true — written even when the file is broken (the broken file is kept as
 * PATH.corrupt).  Consults nothing else.  0 or -errno.
 */
int flags_emergency_rollback(struct flags *f, const char *who, const char *reason,
    char *err, size_t errlen);

/*
 * For crash tests only: call HOOK(POINT) at the named points of every
 * write ("audited": the audit records are durable, the file not yet
 * replaced; "written": the file is replaced).  A hook that kills the
 * process there simulates a crash.  NULL removes it.
 */
void flags_test_hook(void (*hook)(const char *point));

/* Names of all flags (built-in then declared), for listing. N set to the count. */
const char *const *flags_names(const struct flags *f, size_t *n);
/* Format a value as text ("true", "25", "gradual"). */
const char *flag_value_str(const struct flag_value *v, char *buf, size_t len);

#endif

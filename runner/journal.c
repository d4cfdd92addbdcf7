/*
 * journal.c — append-only JSON-lines journal with torn-tail repair (journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "journal.h"
#include "log.h"

#define JOURNAL_MAX_BYTES ((size_t)1 << 30)

struct journal {
	char *path;
	uint64_t last_seq;
	size_t torn;
};

char *
journal_time(int64_t t_ms, char *buf, size_t len)
{
	time_t s = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
	int ms = (int)(t_ms - (int64_t)s * 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return buf;
}

/* Move the LEN-byte fragment at OFF of PATH to PATH.torn and truncate PATH at OFF. */
static int
journal_cut_tail(const char *path, const char *buf, size_t off, size_t len)
{
	char torn[4096];
	int fd, rc = 0;

	snprintf(torn, sizeof(torn), "%s.torn", path);
	rc = fs_append_sync(torn, buf + off, len, 0644);
	if (rc == 0)
		rc = fs_append_sync(torn, "\n", 1, 0644);
	if (rc != 0)
		return rc;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
journal_open(struct journal **out, const char *path, char *err, size_t errlen)
{
	struct journal *j;
	char *buf = NULL, *line, *nl;
	size_t len = 0, lineno = 0, complete;
	int rc;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	rc = fs_read_all(path, JOURNAL_MAX_BYTES, &buf, &len);
	if (rc == -ENOENT) {
		rc = fs_append_sync(path, "", 0, 0644);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			goto fail;
		}
		*out = j;
		return 0;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	/* everything after the last newline is a torn record */
	nl = len ? memrchr(buf, '\n', len) : NULL;
	complete = nl ? (size_t)(nl - buf) + 1 : 0;
	if (complete < len) {
		j->torn = len - complete;
		log_warn("journal %s: torn last line (%zu bytes, from a crash): moved to %s.torn, not used",
		    path, j->torn, path);
		rc = journal_cut_tail(path, buf, complete, j->torn);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot repair the torn last line: %s", path,
			    strerror(-rc));
			goto fail;
		}
		buf[complete] = '\0';
	}
	for (line = buf; line < buf + complete; line = nl + 1) {
		json_error_t jerr;
		json_t *rec, *seq;

		nl = strchr(line, '\n');
		*nl = '\0';
		lineno++;
		if (*line == '\0')
			continue;
		rec = json_loads(line, 0, &jerr);
		if (rec == NULL || !json_is_object(rec)) {
			snprintf(err, errlen, "%s:%zu: not a JSON object: %s", path, lineno,
			    rec ? "wrong type" : jerr.text);
			json_decref(rec);
			rc = -EBADMSG;
			goto fail;
		}
		seq = json_object_get(rec, "seq");
		if (json_is_integer(seq) && (uint64_t)json_integer_value(seq) > j->last_seq)
			j->last_seq = (uint64_t)json_integer_value(seq);
		json_decref(rec);
	}
	free(buf);
	*out = j;
	return 0;
fail:
	free(buf);
	free(j->path);
	free(j);
	return rc;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	free(j->path);
	free(j);
}

const char *
journal_path(const struct journal *j)
{
	return j->path;
}

uint64_t
journal_last_seq(const struct journal *j)
{
	return j->last_seq;
}

size_t
journal_torn_bytes(const struct journal *j)
{
	return j->torn;
}

/*
 * Append LEN bytes of TEXT to PATH with one write(2) and fdatasync.  A
 * short write (a full disk) is cut off again, so the file never holds a
 * partial line that a later append would continue.  0 or -errno.
 */
static int
journal_write_line(const char *path, const char *text, size_t len)
{
	struct stat st;
	off_t before = -1;
	ssize_t w;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0)
		before = st.st_size;
	do
		w = write(fd, text, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		rc = -errno;
	else if ((size_t)w < len)
		rc = -ENOSPC;
	else if (fdatasync(fd) != 0)
		rc = -errno;
	if (rc != 0 && w > 0 && before >= 0 && fstat(fd, &st) == 0 && st.st_size == before + w) {
		if (ftruncate(fd, before) != 0)
			log_warn("journal %s: a partial line (%zd bytes) could not be cut off: %s", path,
			    w, strerror(errno));
	}
	close(fd);
	return rc;
}

int
journal_append(struct journal *j, json_t *rec)
{
	json_t *seq = json_object_get(rec, "seq");
	uint64_t s = 0;
	char *text;
	size_t n;
	int rc;

	if (seq != NULL) {
		if (!json_is_integer(seq) || (s = (uint64_t)json_integer_value(seq)) != j->last_seq + 1)
			return -EINVAL;
	}
	text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return -ENOMEM;
	n = strlen(text);
	text[n] = '\n';         /* json_dumps leaves room: replace the NUL, write n + 1 */
	rc = journal_write_line(j->path, text, n + 1);
	free(text);
	if (rc == 0 && seq != NULL)
		j->last_seq = s;
	return rc;
}

json_t *
journal_read_tail(const char *path, size_t max)
{
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	json_t *all;

	if (fs_read_all(path, JOURNAL_MAX_BYTES, &buf, &len) != 0)
		return NULL;
	all = json_array();
	for (line = buf; all != NULL && (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		json_t *rec;

		*nl = '\0';
		rec = json_loads(line, 0, NULL);
		if (rec == NULL)
			continue;
		json_array_append_new(all, rec);
		if (json_array_size(all) > max)
			json_array_remove(all, 0);
	}
	free(buf);
	return all;
}

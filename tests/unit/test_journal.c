/* test_journal.c — append, sequence checks, torn last line, shared flag records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsutil.h"
#include "journal.h"
#include "log.h"

static char dir[64], path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
journal_append__seq__must_follow_without_gap(void **state)
{
	struct journal *j;
	char err[256];
	json_t *r;

	(void)state;
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	assert_int_equal(journal_last_seq(j), 0);
	r = json_pack("{s:i, s:s}", "seq", 1, "kind", "transition");
	assert_int_equal(journal_append(j, r), 0);
	assert_int_equal(journal_append(j, r), -EINVAL);          /* duplicate */
	json_object_set_new(r, "seq", json_integer(3));
	assert_int_equal(journal_append(j, r), -EINVAL);          /* gap */
	json_object_set_new(r, "seq", json_integer(2));
	assert_int_equal(journal_append(j, r), 0);
	json_decref(r);
	/* a flag audit record: no seq, accepted anywhere */
	r = json_pack("{s:s, s:s}", "kind", "flag", "flag", "hybridTrafficPercent");
	assert_int_equal(journal_append(j, r), 0);
	json_decref(r);
	journal_close(j);
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	assert_int_equal(journal_last_seq(j), 2);
	assert_int_equal(journal_torn_bytes(j), 0);
	journal_close(j);
	r = journal_read_tail(path, 2);
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "kind")), "flag");
	json_decref(r);
}

static void
journal_open__torn_last_line__reported_moved_and_not_used(void **state)
{
	static const char text[] = "{\"seq\":1,\"kind\":\"transition\"}\n{\"seq\":2,\"kind\":\"tr";
	struct journal *j;
	char err[256], torn[160], *buf;
	size_t len;

	(void)state;
	assert_int_equal(fs_append_sync(path, text, sizeof(text) - 1, 0644), 0);
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	assert_int_equal(journal_last_seq(j), 1);
	assert_int_equal(journal_torn_bytes(j), strlen("{\"seq\":2,\"kind\":\"tr"));
	journal_close(j);
	assert_int_equal(fs_read_all(path, 4096, &buf, &len), 0);
	assert_string_equal(buf, "{\"seq\":1,\"kind\":\"transition\"}\n");
	free(buf);
	snprintf(torn, sizeof(torn), "%s.torn", path);
	assert_int_equal(fs_read_all(torn, 4096, &buf, &len), 0);
	assert_string_equal(buf, "{\"seq\":2,\"kind\":\"tr\n");
	free(buf);
	/* the next record continues the sequence on a clean line */
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	json_t *r = json_pack("{s:i}", "seq", 2);
	assert_int_equal(journal_append(j, r), 0);
	json_decref(r);
	journal_close(j);
}

static void
journal_open__garbage_line__refused_with_line_number(void **state)
{
	static const char text[] = "{\"seq\":1}\nnot json\n{\"seq\":2}\n";
	struct journal *j;
	char err[256];

	(void)state;
	assert_int_equal(fs_append_sync(path, text, sizeof(text) - 1, 0644), 0);
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "journal.jsonl:2: not a JSON object"));
}

static void
journal_time__formats_iso_utc(void **state)
{
	char buf[40];

	(void)state;
	assert_string_equal(journal_time(1767225600123LL, buf, sizeof(buf)), "2026-01-01T00:00:00.123Z");
}

/* Count the lines of PATH that hold "seq":N. */
static int
count_seq(int n)
{
	json_t *all = journal_read_tail(path, 1000), *r;
	size_t i;
	int k = 0;

	assert_non_null(all);
	json_array_foreach(all, i, r)
		if (json_integer_value(json_object_get(r, "seq")) == n)
			k++;
	json_decref(all);
	return k;
}

static void
journal_append__unwritable__errno_then_same_record_once(void **state)
{
	struct journal *j;
	char err[256], away[160];
	json_t *r;
	FILE *f;

	(void)state;
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	r = json_pack("{s:i, s:s}", "seq", 1, "kind", "transition");
	assert_int_equal(journal_append(j, r), 0);
	json_object_set_new(r, "seq", json_integer(2));
	/* the directory is gone and a file stands in its place: every write fails */
	snprintf(away, sizeof(away), "%s.away", dir);
	assert_int_equal(rename(dir, away), 0);
	f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(journal_append(j, r), -ENOTDIR);
	assert_int_equal(journal_last_seq(j), 1);                 /* not counted */
	assert_int_equal(journal_append(j, r), -ENOTDIR);         /* retried: same answer */
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(rename(away, dir), 0);
	assert_int_equal(journal_append(j, r), 0);                /* the same record, now */
	assert_int_equal(journal_last_seq(j), 2);
	json_decref(r);
	journal_close(j);
	assert_int_equal(count_seq(1), 1);
	assert_int_equal(count_seq(2), 1);
}

static void
journal_append__short_write__partial_line_cut_off(void **state)
{
	struct rlimit old, lim;
	struct journal *j;
	char err[256], big[200];
	json_t *r;
	long size;
	FILE *f;

	(void)state;
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	r = json_pack("{s:i, s:s}", "seq", 1, "kind", "transition");
	assert_int_equal(journal_append(j, r), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	/* a full disk, as far as this process goes: 10 more bytes, then EFBIG/short writes */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(r, "seq", json_integer(2));
	json_object_set_new(r, "pad", json_string(big));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(journal_append(j, r), -ENOSPC);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(journal_last_seq(j), 1);
	/* no partial line: the file is as it was, and the retry makes a whole line */
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	assert_int_equal(ftell(f), size);
	fclose(f);
	assert_int_equal(journal_append(j, r), 0);
	json_decref(r);
	journal_close(j);
	assert_int_equal(journal_open(&j, path, err, sizeof(err)), 0);
	assert_int_equal(journal_torn_bytes(j), 0);
	assert_int_equal(journal_last_seq(j), 2);
	journal_close(j);
	assert_int_equal(count_seq(2), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(journal_append__seq__must_follow_without_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_open__torn_last_line__reported_moved_and_not_used, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_open__garbage_line__refused_with_line_number, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_time__formats_iso_utc, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_append__unwritable__errno_then_same_record_once, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_append__short_write__partial_line_cut_off, setup, teardown),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

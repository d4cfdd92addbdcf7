/*
 * test_flags.c — the feature-flag store: types, ranges, defaults,
 * generation, audit records, corrupt files, external edits and two
 * processes writing under the lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"
#include "fsutil.h"

struct fx {
	char dir[256];
	char path[300];
	char audit[300];
};

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	snprintf(x->dir, sizeof(x->dir), "%s/test_flags.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->path, sizeof(x->path), "%s/config/feature-flags.conf", x->dir);
	snprintf(x->audit, sizeof(x->audit), "%s/state/journal.jsonl", x->dir);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", x->dir);
	free(x);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static char *
read_file(const char *path)
{
	char *s = NULL;
	size_t n;

	if (fs_read_all(path, 1 << 24, &s, &n) != 0)
		fail_msg("cannot read %s", path);
	return s;
}

/* Parse the audit journal; returns an array of objects (caller decrefs). */
static json_t *
read_audit_all(const char *path)
{
	json_t *arr = json_array();
	char *text, *line, *save = NULL;

	if (access(path, F_OK) != 0)
		return arr;
	text = read_file(path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);

		if (o == NULL)
			fail_msg("bad audit line: %s (%s)", line, je.text);
		json_array_append_new(arr, o);
	}
	free(text);
	return arr;
}

/* The audit records without the file's creation (who="rolloutd (defaults)"). */
static json_t *
read_audit(const char *path)
{
	json_t *all = read_audit_all(path), *arr = json_array(), *o;
	size_t i;

	json_array_foreach(all, i, o) {
		const char *who = json_string_value(json_object_get(o, "who"));

		if (who == NULL || strcmp(who, "rolloutd (defaults)") != 0)
			json_array_append(arr, o);
	}
	json_decref(all);
	return arr;
}

static void
open_ok(struct fx *x, struct flags **f)
{
	char err[512] = "";

	if (flags_open(f, x->path, x->audit, err, sizeof(err)) != 0)
		fail_msg("flags_open: %s", err);
}

static void
flags_open__absent_file__safe_defaults_written(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	struct flag_value v;
	char *text;
	json_t *a, *o;
	size_t i;

	open_ok(x, &f);
	assert_false(flags_broken(f));
	assert_int_equal(flags_generation(f), 1);
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 0);
	assert_int_equal(flags_get_bool(f, "enableParallelMode"), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 0);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 0);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get(f, "rolloutPhase", &v), 0);
	assert_int_equal(v.type, FLAG_STRING);
	assert_string_equal(v.s, "disabled");
	assert_int_equal(flags_get(f, "noSuchFlag", &v), -ENOENT);
	text = read_file(x->path);
	assert_non_null(strstr(text, "hybridTrafficPercent = 0;"));
	assert_non_null(strstr(text, "generation = 1;"));
	free(text);
	flags_close(f);
	/* the creation is audited too: one record per flag, generation 1, old null */
	a = read_audit_all(x->audit);
	assert_int_equal(json_array_size(a), 5);
	json_array_foreach(a, i, o) {
		assert_string_equal(json_string_value(json_object_get(o, "who")), "rolloutd (defaults)");
		assert_int_equal(json_integer_value(json_object_get(o, "generation")), 1);
		assert_true(json_is_null(json_object_get(o, "old")));
	}
	json_decref(a);
}

static void
flags_set__each_type__typed_and_persisted(void **state)
{
	struct fx *x = *state;
	struct flags *f, *g;
	struct flag_value v;
	char err[256], buf[64];

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "enableHybridSystem", "true", "t", "r", err, sizeof(err)), 0);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "25", "t", "r", err, sizeof(err)), 0);
	assert_int_equal(flags_set(f, "rolloutPhase", "gradual", "t", "r", err, sizeof(err)), 0);
	assert_int_equal(flags_set(f, "enableParallelMode", "on", "t", "r", err, sizeof(err)), 0);
	assert_int_equal(flags_traffic(f), 25);
	flags_close(f);

	open_ok(x, &g);
	assert_int_equal(flags_get_bool(g, "enableHybridSystem"), 1);
	assert_int_equal(flags_get_bool(g, "enableParallelMode"), 1);
	assert_int_equal(flags_get_int(g, "hybridTrafficPercent"), 25);
	assert_int_equal(flags_get(g, "rolloutPhase", &v), 0);
	assert_string_equal(flag_value_str(&v, buf, sizeof(buf)), "gradual");
	assert_int_equal(flags_get(g, "hybridTrafficPercent", &v), 0);
	assert_string_equal(flag_value_str(&v, buf, sizeof(buf)), "25");
	assert_int_equal(flags_generation(g), 5);
	flags_close(g);
}

static void
flags_set__bad_values__refused_file_unchanged(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], *before, *after;

	open_ok(x, &f);
	before = read_file(x->path);
	err[0] = '\0';
	assert_int_equal(flags_set(f, "enableHybridSystem", "maybe", "t", NULL, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "enableHybridSystem"));
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "abc", "t", NULL, err, sizeof(err)),
	    -EINVAL);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "101", "t", NULL, err, sizeof(err)),
	    -ERANGE);
	assert_non_null(strstr(err, "0..100"));
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "-1", "t", NULL, err, sizeof(err)),
	    -ERANGE);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "99999999999999999999", "t", NULL,
	    err, sizeof(err)), -ERANGE);
	assert_int_equal(flags_set(f, "rolloutPhase", "a\"b", "t", NULL, err, sizeof(err)),
	    -EINVAL);
	assert_int_equal(flags_set(f, "noSuchFlag", "1", "t", NULL, err, sizeof(err)), -ENOENT);
	assert_int_equal(flags_generation(f), 1);
	after = read_file(x->path);
	assert_string_equal(before, after);
	free(before);
	free(after);
	flags_close(f);
}

static void
flags_set__generation_and_audit__one_line_per_flag(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	const char *names[] = { "enableHybridSystem", "hybridTrafficPercent" };
	const char *values[] = { "true", "35" };
	char err[256];
	json_t *a, *o;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "alice", "step 2", err,
	    sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 2);
	assert_int_equal(flags_set_many(f, 2, names, values, "bob", "both", err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 3);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 3);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "flag");
	assert_string_equal(json_string_value(json_object_get(o, "who")), "alice");
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "hybridTrafficPercent");
	assert_int_equal(json_integer_value(json_object_get(o, "old")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "new")), 5);
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "step 2");
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 2);
	assert_true(json_integer_value(json_object_get(o, "t_ms")) > 1600000000000LL);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "time"))), 24);
	o = json_array_get(a, 1);
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "enableHybridSystem");
	assert_true(json_is_false(json_object_get(o, "old")));
	assert_true(json_is_true(json_object_get(o, "new")));
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
	o = json_array_get(a, 2);
	assert_int_equal(json_integer_value(json_object_get(o, "old")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "new")), 35);
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
	json_decref(a);
	flags_close(f);
}

static void
flags_set__stale_handle__rereads_under_lock(void **state)
{
	struct fx *x = *state;
	struct flags *f, *g;
	char err[256];

	open_ok(x, &f);
	open_ok(x, &g);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "15", "f", NULL, err, sizeof(err)), 0);
	/* g has not seen f's write; its write must not undo it */
	assert_int_equal(flags_set(g, "enableParallelMode", "true", "g", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(g), 3);
	assert_int_equal(flags_get_int(g, "hybridTrafficPercent"), 15);
	flags_close(f);
	flags_close(g);
	open_ok(x, &f);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 15);
	assert_int_equal(flags_get_bool(f, "enableParallelMode"), 1);
	flags_close(f);
}

static void
flags_open__syntax_error__line_reported_writes_refused(void **state)
{
	struct fx *x = *state;
	struct flags *f = NULL;
	const char *broken = "generation = 41;\nenableHybridSystem = true;\n"
	    "hybridTrafficPercent = 35;\nemergencyRollback = = false;\n";
	char err[512] = "", want[400], *text, corrupt[320];
	json_t *a;
	size_t i;

	assert_int_equal(fs_mkdir_p(x->dir, 0755), 0);
	snprintf(want, sizeof(want), "%s/config", x->dir);
	assert_int_equal(fs_mkdir_p(want, 0755), 0);
	write_file(x->path, broken);
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), -EBADMSG);
	assert_non_null(f);
	snprintf(want, sizeof(want), "%s:4: ", x->path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error [%s] does not start with [%s]", err, want);
	assert_string_equal(flags_error(f), err);
	assert_true(flags_broken(f));
	/* reads fall back to the safe defaults */
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 0);
	assert_int_equal(flags_traffic(f), 0);
	err[0] = '\0';
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "50", "t", NULL, err, sizeof(err)),
	    -EBADMSG);
	assert_non_null(strstr(err, ":4: "));
	text = read_file(x->path);
	assert_string_equal(text, broken);
	free(text);

	/* the emergency rollback still works and keeps the broken file */
	assert_int_equal(flags_emergency_rollback(f, "oncall", "drill", err, sizeof(err)), 0);
	assert_false(flags_broken(f));
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt", x->path);
	text = read_file(corrupt);
	assert_string_equal(text, broken);
	free(text);
	assert_int_equal(flags_generation(f), 42);
	flags_close(f);
	open_ok(x, &f);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 0);
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	assert_int_equal(flags_generation(f), 42);
	flags_close(f);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 4);
	/* first a note: the file was broken and is kept */
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "who")), "recovery");
	assert_true(json_is_null(json_object_get(json_array_get(a, 0), "flag")));
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(a, 0), "reason")),
	    ".corrupt"));
	for (i = 1; i < 4; i++) {
		json_t *o = json_array_get(a, i);

		assert_string_equal(json_string_value(json_object_get(o, "who")), "oncall");
		assert_string_equal(json_string_value(json_object_get(o, "reason")), "drill");
		assert_int_equal(json_integer_value(json_object_get(o, "generation")), 42);
	}
	json_decref(a);
}

static void
flags_open__out_of_range_value__broken_with_line(void **state)
{
	struct fx *x = *state;
	struct flags *f = NULL;
	char err[512] = "", want[400];

	snprintf(want, sizeof(want), "%s/config", x->dir);
	assert_int_equal(fs_mkdir_p(want, 0755), 0);
	write_file(x->path, "generation = 3;\n\nhybridTrafficPercent = 150;\n");
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "%s:3: hybridTrafficPercent: 150 is out of range 0..100",
	    x->path);
	assert_string_equal(err, want);
	flags_close(f);
	write_file(x->path, "enableHybridSystem = \"yes\";\n");
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ":1: enableHybridSystem: expected boolean, got string"));
	flags_close(f);
	write_file(x->path, "");
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ":1: empty file"));
	flags_close(f);
	write_file(x->path, "# only a comment: every flag at its default\n");
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 0);
	flags_close(f);
	write_file(x->path, "nested = { a = 1; };\n");
	assert_int_equal(flags_open(&f, x->path, x->audit, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ":1: nested: unsupported value"));
	flags_close(f);
}

static void
flags_emergency_rollback__healthy_file__traffic_zero(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	const char *names[] = { "enableHybridSystem", "hybridTrafficPercent", "rolloutPhase" };
	const char *values[] = { "true", "75", "production" };
	char err[256], corrupt[320];
	struct flag_value v;

	open_ok(x, &f);
	assert_int_equal(flags_set_many(f, 3, names, values, "t", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_traffic(f), 75);
	assert_int_equal(flags_emergency_rollback(f, "t", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	assert_int_equal(flags_get(f, "rolloutPhase", &v), 0);
	assert_string_equal(v.s, "production");
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt", x->path);
	assert_int_not_equal(access(corrupt, F_OK), 0);
	/* emergencyRollback alone forces traffic 0 */
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "50", "t", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_traffic(f), 0);
	flags_close(f);
}

static void
flags_declare__plan_flag__checked_and_preserved(void **state)
{
	struct fx *x = *state;
	struct flags *f, *g;
	struct flag_value d = { .type = FLAG_INT, .i = 10 };
	char err[256];

	open_ok(x, &f);
	assert_int_equal(flags_declare(f, "batchSize", FLAG_INT, 1, 50, &d), 0);
	assert_int_equal(flags_declare(f, "batchSize", FLAG_INT, 1, 50, &d), -EEXIST);
	assert_int_equal(flags_declare(f, "hybridTrafficPercent", FLAG_INT, 0, 5, NULL), -EEXIST);
	assert_int_equal(flags_declare(f, "bad name", FLAG_BOOL, 0, 0, NULL), -EINVAL);
	assert_int_equal(flags_declare(f, "generation", FLAG_INT, 0, 5, NULL), -EINVAL);
	d.i = 99;
	assert_int_equal(flags_declare(f, "other", FLAG_INT, 1, 50, &d), -EINVAL);
	assert_int_equal(flags_get_int(f, "batchSize"), 10);
	assert_int_equal(flags_set(f, "batchSize", "51", "t", NULL, err, sizeof(err)), -ERANGE);
	assert_int_equal(flags_set(f, "batchSize", "20", "t", NULL, err, sizeof(err)), 0);

	/* a second handle that never declared it (rolloutctl) keeps it */
	open_ok(x, &g);
	assert_int_equal(flags_get_int(g, "batchSize"), 20);
	assert_int_equal(flags_set(g, "hybridTrafficPercent", "1", "g", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(g, "batchSize", "30", "g", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(g, "batchSize", "x", "g", NULL, err, sizeof(err)), -EINVAL);
	flags_close(g);
	assert_int_equal(flags_reload(f, err, sizeof(err)), 1);
	assert_int_equal(flags_get_int(f, "batchSize"), 30);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 1);
	flags_close(f);

	/* a declaration the file violates makes the store broken */
	open_ok(x, &g);
	d.i = 1;
	assert_int_equal(flags_declare(g, "batchSize", FLAG_INT, 1, 25, &d), 0);
	assert_true(flags_broken(g));
	assert_non_null(strstr(flags_error(g), "batchSize: 30 is out of range 1..25"));
	flags_close(g);
}

static void
flags_reload__external_edit__audited_as_external(void **state)
{
	struct fx *x = *state;
	struct flags *f, *g;
	char err[256], buf[512];
	json_t *a, *o;

	open_ok(x, &f);
	assert_int_equal(flags_reload(f, err, sizeof(err)), 0);
	/* an operator edits the file by hand (same generation, one value changed) */
	snprintf(buf, sizeof(buf), "generation = %llu;\nenableHybridSystem = false;\n"
	    "enableParallelMode = true;\nhybridTrafficPercent = 0;\n"
	    "emergencyRollback = false;\nrolloutPhase = \"disabled\";\n",
	    (unsigned long long)flags_generation(f));
	write_file(x->path, buf);
	assert_int_equal(flags_reload(f, err, sizeof(err)), 1);
	assert_int_equal(flags_get_bool(f, "enableParallelMode"), 1);
	assert_int_equal(flags_reload(f, err, sizeof(err)), 0);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 1);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "external");
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "enableParallelMode");
	assert_true(json_is_true(json_object_get(o, "new")));
	json_decref(a);

	/* a write through the store by another process is not "external" */
	open_ok(x, &g);
	assert_int_equal(flags_set(g, "hybridTrafficPercent", "5", "ctl", NULL, err, sizeof(err)), 0);
	flags_close(g);
	assert_int_equal(flags_reload(f, err, sizeof(err)), 1);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 5);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "who")), "ctl");
	json_decref(a);

	/* a hand-broken file: reported, defaults read */
	write_file(x->path, "generation = 3;\nhybridTrafficPercent = ;\n");
	assert_int_equal(flags_reload(f, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ":2: "));
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "enableParallelMode"), 0);
	/* repaired by hand: the values that come back into force are audited */
	write_file(x->path, "generation = 3;\nhybridTrafficPercent = 5;\n");
	assert_int_equal(flags_reload(f, err, sizeof(err)), 1);
	assert_int_equal(flags_traffic(f), 5);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 3);
	o = json_array_get(a, 2);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "external");
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "hybridTrafficPercent");
	assert_int_equal(json_integer_value(json_object_get(o, "old")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "new")), 5);
	json_decref(a);
	flags_close(f);
}


static void
flags_emergency_rollback__directory_gone__recreated(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], cmd[400];

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "40", "t", NULL, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/config'", x->dir);
	assert_int_equal(system(cmd), 0);
	if (flags_emergency_rollback(f, "t", "dir gone", err, sizeof(err)) != 0)
		fail_msg("rollback: %s", err);
	/* the generation never goes back, even though the file was gone */
	assert_int_equal(flags_generation(f), 3);
	flags_close(f);
	open_ok(x, &f);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	assert_int_equal(flags_generation(f), 3);
	flags_close(f);
}

static void
flags_emergency_rollback__unreadable_file__replaced(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], corrupt[320];
	size_t big = 2 * 1024 * 1024;
	char *junk = malloc(big + 1);
	struct stat st;

	open_ok(x, &f);
	memset(junk, '#', big);
	junk[big] = '\0';
	write_file(x->path, junk);    /* over the 1 MiB limit: cannot be read */
	free(junk);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "t", NULL, err, sizeof(err)), -EFBIG);
	if (flags_emergency_rollback(f, "t", "too big", err, sizeof(err)) != 0)
		fail_msg("rollback: %s", err);
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt", x->path);
	assert_int_equal(stat(corrupt, &st), 0);
	assert_int_equal((size_t)st.st_size, big);
	assert_int_equal(flags_traffic(f), 0);
	flags_close(f);
	open_ok(x, &f);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	flags_close(f);
}

static void
flags_emergency_rollback__lock_held_elsewhere__writes_anyway(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], lockpath[320];
	int pfd[2], status;
	struct timespec t0, t1;
	pid_t pid;
	char c;

	open_ok(x, &f);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", x->path);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a writer stuck while holding the lock */
		int fd = open(lockpath, O_RDWR | O_CREAT, 0644);

		if (fd < 0 || flock(fd, LOCK_EX) != 0)
			_exit(1);
		if (write(pfd[1], "L", 1) != 1)
			_exit(1);
		sleep(30);
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (flags_emergency_rollback(f, "t", "stuck writer", err, sizeof(err)) != 0)
		fail_msg("rollback: %s", err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_true(t1.tv_sec - t0.tv_sec < 6);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	flags_close(f);
}

static void
flags_set__unreloaded_hand_edit__audited_before_the_write(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], buf[512];
	json_t *a, *o;

	open_ok(x, &f);
	/* the operator's edit lands; the daemon has not re-read yet when it writes */
	snprintf(buf, sizeof(buf), "generation = %llu;\nhybridTrafficPercent = 3;\n",
	    (unsigned long long)flags_generation(f));
	write_file(x->path, buf);
	assert_int_equal(flags_set(f, "rolloutPhase", "parallel", "engine", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 3);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 2);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "external");
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "hybridTrafficPercent");
	assert_int_equal(json_integer_value(json_object_get(o, "new")), 3);
	o = json_array_get(a, 1);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "engine");
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 2);
	json_decref(a);
	/* nothing left for the (late) re-read to report */
	assert_int_equal(flags_reload(f, err, sizeof(err)), 0);
	flags_close(f);
}

static int64_t
fixed_clock(void *ctx)
{
	return *(const int64_t *)ctx;
}

static void
flags_set_clock__virtual_time__in_audit_records(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	int64_t now = 1893456000123LL;  /* 2030-01-01T00:00:00.123Z */
	char err[256], *text;
	json_t *a, *o;

	open_ok(x, &f);
	flags_set_clock(f, fixed_clock, &now);
	assert_int_equal(flags_set(f, "enableParallelMode", "true", "sim", NULL, err, sizeof(err)), 0);
	a = read_audit(x->audit);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "time")), "2030-01-01T00:00:00.123Z");
	assert_int_equal(json_integer_value(json_object_get(o, "t_ms")), now);
	json_decref(a);
	text = read_file(x->path);
	assert_non_null(strstr(text, "Written 2030-01-01T00:00:00.123Z by sim"));
	free(text);
	flags_set_clock(f, NULL, NULL);
	assert_int_equal(flags_set(f, "enableParallelMode", "false", "real", NULL, err, sizeof(err)), 0);
	a = read_audit(x->audit);
	o = json_array_get(a, 1);
	assert_true(json_integer_value(json_object_get(o, "t_ms")) < now);
	json_decref(a);
	flags_close(f);
}

#define HAMMER_WRITES 60

static void
flags_set__two_processes_hammering__no_lost_update(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	pid_t pid[2];
	int k, status;
	json_t *a;
	size_t i;
	long long prev_new = 0;

	open_ok(x, &f);  /* generation 1 */
	flags_close(f);
	for (k = 0; k < 2; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			struct flags *c;
			char err[256], val[32], who[32];
			int j, rc = 0;

			if (flags_open(&c, x->path, x->audit, err, sizeof(err)) != 0)
				_exit(10);
			snprintf(who, sizeof(who), "writer%d", k);
			for (j = 0; j < HAMMER_WRITES && rc == 0; j++) {
				snprintf(val, sizeof(val), "%d", k * 50 + j % 50);
				rc = flags_set(c, "hybridTrafficPercent", val, who, NULL, err,
				    sizeof(err));
			}
			flags_close(c);
			_exit(rc == 0 ? 0 : 11);
		}
	}
	for (k = 0; k < 2; k++) {
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 1 + 2 * HAMMER_WRITES);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), 2 * HAMMER_WRITES);
	/* every write saw the one before it: generations consecutive, old == previous new */
	for (i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i);

		assert_int_equal(json_integer_value(json_object_get(o, "generation")), (long long)i + 2);
		assert_int_equal(json_integer_value(json_object_get(o, "old")), prev_new);
		prev_new = json_integer_value(json_object_get(o, "new"));
	}
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), prev_new);
	json_decref(a);
	flags_close(f);
}

/* ------------------------------------------------------------------ */
/* Crashes between the audit and the file (write-ahead, recovery)       */

static const char *crash_at;

static void
crash_hook(const char *point)
{
	if (crash_at != NULL && strcmp(point, crash_at) == 0)
		raise(SIGKILL);
}

/* Run FN(X) in a child that is killed at POINT; asserts that it was. */
static void
run_killed_at(struct fx *x, const char *point, void (*fn)(struct fx *x))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		crash_at = point;
		flags_test_hook(crash_hook);
		fn(x);
		_exit(0);     /* not reached when the hook fired */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static uint64_t
file_generation(const char *path)
{
	char *text = NULL;
	unsigned long long g = 0;
	size_t len, i;

	assert_int_equal(fs_read_all(path, 1 << 20, &text, &len), 0);
	for (i = 0; i + 13 <= len; i++)
		if (strncmp(text + i, "generation = ", 13) == 0) {
			g = strtoull(text + i + 13, NULL, 10);
			break;
		}
	free(text);
	return (uint64_t)g;
}

static size_t
count_recovery(json_t *a)
{
	size_t i, n = 0;
	json_t *o;

	json_array_foreach(a, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "who")), "recovery"))
			n++;
	return n;
}

/*
 * The crash invariant, once the next opener has reconciled: the file parses; the records naming a flag of one
 * generation come from one write (one who, one time, each flag once) and
 * generations never go down; the file's generation has records; replaying
 * every record's "new" in order gives the file's values.
 */
static void
assert_consistent(struct fx *x)
{
	struct flags *f;
	json_t *all = read_audit_all(x->audit), *a = json_array(), *o, *last = json_object();
	char err[512] = "", buf[160];
	const char *const *names;
	size_t i, n;
	long long prevgen = -1, filegen;
	int filegen_seen = 0;

	/* the flag store's records only (the engine journals in the same file) */
	json_array_foreach(all, i, o)
		if (json_is_string(json_object_get(o, "kind")) &&
		    !strcmp(json_string_value(json_object_get(o, "kind")), "flag"))
			json_array_append(a, o);
	json_decref(all);
	if (flags_open(&f, x->path, NULL, err, sizeof(err)) != 0)
		fail_msg("the flags file does not open: %s", err);
	filegen = (long long)flags_generation(f);
	for (i = 0; i < json_array_size(a); i++) {
		long long g;
		const char *who, *name;
		json_int_t t;
		size_t j;

		o = json_array_get(a, i);
		g = json_integer_value(json_object_get(o, "generation"));
		name = json_string_value(json_object_get(o, "flag"));
		if (g < prevgen)
			fail_msg("record %zu: generation %lld after %lld", i, g, prevgen);
		prevgen = g;
		if (name == NULL)
			continue;
		if (g == filegen)
			filegen_seen = 1;
		json_object_set(last, name, json_object_get(o, "new"));
		who = json_string_value(json_object_get(o, "who"));
		t = json_integer_value(json_object_get(o, "t_ms"));
		/* the other records of this generation: same write */
		for (j = i + 1; j < json_array_size(a); j++) {
			json_t *p = json_array_get(a, j);
			const char *pn = json_string_value(json_object_get(p, "flag"));

			if (json_integer_value(json_object_get(p, "generation")) != g)
				break;
			if (pn == NULL)
				continue;
			if (strcmp(who, json_string_value(json_object_get(p, "who"))) != 0 ||
			    t != json_integer_value(json_object_get(p, "t_ms")))
				fail_msg("generation %lld audited by two writes (%s, %s)", g, who,
				    json_string_value(json_object_get(p, "who")));
			if (strcmp(pn, name) == 0)
				fail_msg("generation %lld audits %s twice", g, name);
		}
	}
	if (!filegen_seen)
		fail_msg("the file's generation %lld has no audit record", filegen);
	names = flags_names(f, &n);
	for (i = 0; i < n; i++) {
		struct flag_value v;
		json_t *want = json_object_get(last, names[i]);
		char *w;

		if (want == NULL)
			continue;
		assert_int_equal(flags_get(f, names[i], &v), 0);
		flag_value_str(&v, buf, sizeof(buf));
		w = json_dumps(want, JSON_ENCODE_ANY);
		if (json_is_string(want) ? strcmp(json_string_value(want), buf) != 0 :
		    strcmp(w, buf) != 0)
			fail_msg("%s: the file has %s, the audit replay %s", names[i], buf, w);
		free(w);
	}
	json_decref(last);
	json_decref(a);
	flags_close(f);
}

static void
child_set_two(struct fx *x)
{
	const char *names[] = { "hybridTrafficPercent", "enableHybridSystem" };
	const char *values[] = { "40", "true" };
	struct flags *f;
	char err[256];

	open_ok(x, &f);
	flags_set_many(f, 2, names, values, "alice", "canary", err, sizeof(err));
}

static void
flags_set__killed_after_audit__completed_on_open(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], *text;
	json_t *a, *o;
	size_t n;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	run_killed_at(x, "audited", child_set_two);
	/* the records of generation 3 are there, the file is still generation 2 */
	assert_int_equal(file_generation(x->path), 2);
	a = read_audit(x->audit);
	o = json_array_get(a, json_array_size(a) - 1);
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
	json_decref(a);
	/* the next opener completes the write, says so, and writes it as alice would have */
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 3);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 40);
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 1);
	flags_close(f);
	text = read_file(x->path);
	assert_non_null(strstr(text, " by alice."));
	free(text);
	a = read_audit(x->audit);
	assert_int_equal(count_recovery(a), 1);
	o = json_array_get(a, json_array_size(a) - 1);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "recovery");
	assert_true(json_is_null(json_object_get(o, "flag")));
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")),
	    "had not reached"));
	n = json_array_size(a);
	json_decref(a);
	assert_consistent(x);
	/* once only: opening again finds nothing to do */
	open_ok(x, &f);
	flags_close(f);
	a = read_audit(x->audit);
	assert_int_equal(json_array_size(a), n);
	json_decref(a);
}

static void
child_rollback(struct fx *x)
{
	struct flags *f;
	char err[256];

	flags_open(&f, x->path, x->audit, err, sizeof(err));
	flags_emergency_rollback(f, "oncall", "killed", err, sizeof(err));
}

static void
flags_emergency_rollback__killed_after_rename__nothing_to_recover(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256];
	json_t *a;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "20", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	run_killed_at(x, "written", child_rollback);
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 3);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	flags_close(f);
	a = read_audit(x->audit);
	assert_int_equal(count_recovery(a), 0);
	json_decref(a);
	assert_consistent(x);
}

static void
flags_emergency_rollback__killed_after_audit__rollback_completed(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256];

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "20", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	run_killed_at(x, "audited", child_rollback);
	assert_int_equal(file_generation(x->path), 2);
	/* the next writer (not only an opener) completes it first, then writes its own */
	open_ok(x, &f);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "emergencyRollback"), 1);
	assert_int_equal(flags_set(f, "rolloutPhase", "gradual", "engine", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 4);
	flags_close(f);
	assert_consistent(x);
}

static void
child_open(struct fx *x)
{
	struct flags *f;

	open_ok(x, &f);
}

/*
 * The creation is a write like any other: audited (generation 1), killed
 * before its rename, it is completed as generation 1 by the next opener, as
 * an uninterrupted start would have left it (a restarted rollout's flags
 * file is then byte-identical to an uninterrupted one's: e2e 61).
 */
static void
flags_open__killed_while_creating__creation_completed(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	json_t *a, *o;
	char *text, err[256];
	size_t n;

	run_killed_at(x, "audited", child_open);
	assert_int_not_equal(access(x->path, F_OK), 0);
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 1);
	assert_int_equal(flags_traffic(f), 0);
	assert_int_equal(flags_get_bool(f, "enableHybridSystem"), 0);
	flags_close(f);
	text = read_file(x->path);
	assert_non_null(strstr(text, " by rolloutd (defaults)."));
	assert_non_null(strstr(text, "generation = 1;"));
	free(text);
	a = read_audit_all(x->audit);
	assert_int_equal(count_recovery(a), 1);
	o = json_array_get(a, json_array_size(a) - 1);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "recovery");
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "had not reached"));
	n = json_array_size(a);
	json_decref(a);
	assert_consistent(x);
	/* the next write takes generation 2, nothing is recovered twice */
	open_ok(x, &f);
	assert_int_equal(flags_set(f, "rolloutPhase", "foundation", "engine", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 2);
	flags_close(f);
	a = read_audit_all(x->audit);
	assert_int_equal(json_array_size(a), n + 1);
	json_decref(a);
	assert_consistent(x);
}

/* A file deleted after its creation and a later write: recreated as the next generation. */
static void
flags_open__deleted_after_writes__recreated_with_next_generation(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256];
	json_t *a, *o;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	assert_int_equal(unlink(x->path), 0);
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 3);
	assert_int_equal(flags_traffic(f), 0);
	flags_close(f);
	a = read_audit_all(x->audit);
	o = json_array_get(a, json_array_size(a) - 1);
	assert_int_equal(json_integer_value(json_object_get(o, "generation")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "was missing"));
	json_decref(a);
	assert_consistent(x);
}

static void
flags_open__file_without_audit__values_recorded(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], dir[320];
	json_t *a, *o;
	size_t i;

	/* written before its audit record by an older rolloutd, killed before the append */

	snprintf(dir, sizeof(dir), "%s/config", x->dir);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	write_file(x->path, "generation = 7;\nhybridTrafficPercent = 15;\nenableHybridSystem = true;\n");
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 7);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 15);
	/* a write builds on it, with the next generation */
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "0", "ops", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 8);
	flags_close(f);
	a = read_audit(x->audit);
	/* a note, then the five values as generation 7, then the write */
	assert_int_equal(json_array_size(a), 7);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "who")), "recovery");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "no audit record"));
	for (i = 0; i < 6; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(a, i),
		    "generation")), 7);
	o = json_array_get(a, 2);
	assert_string_equal(json_string_value(json_object_get(o, "flag")), "enableParallelMode");
	json_decref(a);
	assert_consistent(x);
}

static void
flags_open__file_behind_journal__kept_as_next_generation(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256];
	json_t *a;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "ops", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "15", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	/* a backup of generation 1 is restored by hand */
	write_file(x->path, "generation = 1;\nhybridTrafficPercent = 0;\n");
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 4);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 0);
	flags_close(f);
	assert_int_equal(file_generation(x->path), 4);
	a = read_audit(x->audit);
	assert_int_equal(count_recovery(a), 6);
	json_decref(a);
	assert_consistent(x);
}

/* Many writers killed at every point, in turn: the invariant holds after each. */
static void
flags_set__killed_at_each_point_repeatedly__always_consistent(void **state)
{
	static const char *const points[] = { "audited", "written" };
	static void (*const fns[])(struct fx *) = { child_set_two, child_rollback };
	struct fx *x = *state;
	struct flags *f;
	char err[256];
	int k;

	open_ok(x, &f);
	flags_close(f);
	for (k = 0; k < 12; k++) {
		run_killed_at(x, points[k % 2], fns[(k / 2) % 2]);
		if (k % 3 == 0) {
			/* a normal write in between, which reconciles first */
			open_ok(x, &f);
			assert_int_equal(flags_set(f, "emergencyRollback", "false", "ops", NULL, err,
			    sizeof(err)), 0);
			flags_close(f);
		} else {
			/* the next opener reconciles */
			open_ok(x, &f);
			flags_close(f);
		}
		assert_consistent(x);
	}
}

static void
flags_reload__hand_edit_with_new_generation__recorded_as_recovery(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256];
	json_t *a, *o;
	size_t i, n = 0;

	open_ok(x, &f);
	/* an operator bumps the generation by hand: not a write through the store */
	write_file(x->path, "generation = 9;\nhybridTrafficPercent = 12;\n");
	assert_int_equal(flags_reload(f, err, sizeof(err)), 1);
	assert_int_equal(flags_generation(f), 9);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 12);
	a = read_audit(x->audit);
	json_array_foreach(a, i, o) {
		assert_string_equal(json_string_value(json_object_get(o, "who")), "recovery");
		assert_int_equal(json_integer_value(json_object_get(o, "generation")), 9);
		if (json_is_string(json_object_get(o, "flag")) &&
		    !strcmp(json_string_value(json_object_get(o, "flag")), "hybridTrafficPercent")) {
			assert_int_equal(json_integer_value(json_object_get(o, "new")), 12);
			n++;
		}
	}
	assert_int_equal(n, 1);
	assert_true(json_array_size(a) >= 2);
	json_decref(a);
	/* nothing more on the next re-read, and the next write is generation 10 */
	assert_int_equal(flags_reload(f, err, sizeof(err)), 0);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "0", "ops", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_generation(f), 10);
	flags_close(f);
	assert_consistent(x);
}

static void
flags_open__audit_far_from_journal_end__still_found(void **state)
{
	struct fx *x = *state;
	struct flags *f;
	char err[256], line[300];
	int i;

	open_ok(x, &f);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "5", "ops", NULL, err, sizeof(err)), 0);
	flags_close(f);
	run_killed_at(x, "audited", child_set_two);
	/* the engine goes on journaling: 300 KB of other records after the audited write */
	for (i = 1; i <= 1000; i++) {
		snprintf(line, sizeof(line), "{\"seq\":%d,\"time\":\"2026-11-27T10:00:00.000Z\","
		    "\"kind\":\"transition\",\"who\":\"engine\",\"why\":\"%0200d\"}\n", i, i);
		assert_int_equal(fs_append_sync(x->audit, line, strlen(line), 0644), 0);
	}
	open_ok(x, &f);
	assert_int_equal(flags_generation(f), 3);
	assert_int_equal(flags_get_int(f, "hybridTrafficPercent"), 40);
	flags_close(f);
	assert_consistent(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(flags_open__absent_file__safe_defaults_written, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__each_type__typed_and_persisted, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__bad_values__refused_file_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__generation_and_audit__one_line_per_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__stale_handle__rereads_under_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__syntax_error__line_reported_writes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__out_of_range_value__broken_with_line, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__healthy_file__traffic_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_declare__plan_flag__checked_and_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_reload__external_edit__audited_as_external, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__directory_gone__recreated, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__unreadable_file__replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__lock_held_elsewhere__writes_anyway, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__unreloaded_hand_edit__audited_before_the_write, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set_clock__virtual_time__in_audit_records, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__two_processes_hammering__no_lost_update, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__killed_after_audit__completed_on_open, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__killed_after_rename__nothing_to_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_emergency_rollback__killed_after_audit__rollback_completed, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__killed_while_creating__creation_completed, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__deleted_after_writes__recreated_with_next_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__file_without_audit__values_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__file_behind_journal__kept_as_next_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_set__killed_at_each_point_repeatedly__always_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_reload__hand_edit_with_new_generation__recorded_as_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_open__audit_far_from_journal_end__still_found, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

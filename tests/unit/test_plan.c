/* test_plan.c — the plan loader: the shipped phase files, the bad-plan corpus, limits. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "plan.h"

#define BAD_DIR "tests/plans/bad"

struct msgs {
	char *lines[512];
	size_t n;
};

static void
collect(void *ctx, const char *msg)
{
	struct msgs *m = ctx;

	if (m->n < 512)
		m->lines[m->n++] = strdup(msg);
}

static void
msgs_free(struct msgs *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->lines[i]);
	m->n = 0;
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)len + 1);
	if (buf != NULL && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* Load PATH; on failure print every message and fail. */
static struct plan *
load_ok(const char *path)
{
	struct msgs m = { 0 };
	struct plan *p = NULL;
	size_t i;

	if (plan_load(path, &p, collect, &m) != 0) {
		for (i = 0; i < m.n; i++)
			print_error("%s\n", m.lines[i]);
		msgs_free(&m);
		fail_msg("%s: expected to load", path);
	}
	assert_int_equal(m.n, 0);
	return p;
}

/* A phase fragment (no version:) is checked by including it from a wrapper plan. */
static int
is_fragment(const char *path)
{
	char *t = read_text(path);
	int frag;

	assert_non_null(t);
	frag = strncmp(t, "version:", 8) != 0 && strstr(t, "\nversion:") == NULL;
	free(t);
	return frag;
}

static void
plan_load__shipped_phase_files__check_clean(void **state)
{
	DIR *d = opendir("phases");
	struct dirent *e;
	char tmpl[] = "/tmp/test_plan.XXXXXX", cwd[4096];
	int n = 0;

	(void)state;
	assert_non_null(d);
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	while ((e = readdir(d)) != NULL) {
		char path[4200], wrap[4200], text[9000];
		size_t len = strlen(e->d_name);
		struct plan *p;

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "phases/%s", e->d_name);
		if (is_fragment(path)) {
			snprintf(wrap, sizeof(wrap), "%s/wrap-%s", tmpl, e->d_name);
			snprintf(text, sizeof(text), "version: 1\nname: wrap\nsystems:\n"
			    "  baseline: { plugin: subscan_poller }\n  candidate: { plugin: rpc_watcher }\n"
			    "triggers:\n  - { name: t, when: shadow.accuracy < 0.9, from: %.*s }\n"
			    "include: [ %s/%s ]\n", (int)(len - 5), e->d_name, cwd, path);
			write_text(wrap, text);
			p = load_ok(wrap);
			assert_int_equal(p->nphases, 1);
			/* each fragment holds the phase its file is named after */
			assert_int_equal(strlen(p->phases[0].name), len - 5);
			assert_memory_equal(p->phases[0].name, e->d_name, len - 5);
			plan_free(p);
			unlink(wrap);
		} else {
			p = load_ok(path);
			assert_true(p->nphases >= 1);
			plan_free(p);
		}
		n++;
	}
	closedir(d);
	rmdir(tmpl);
	assert_true(n >= 7);
}

static void
plan_load__full_yaml__seed_numbers(void **state)
{
	struct plan *p = load_ok("phases/full.yaml");
	static const char *const names[] = { "foundation", "parallel", "gradual", "performance",
		"production" };
	static const int gradual[] = { 1, 5, 15, 35 };
	static const int production[] = { 50, 75, 90, 100 };
	static const int64_t gradual_hold[] = { 1, 2, 3, 4 };
	const struct plan_phase *ph;
	size_t i, k;
	uint8_t zero[32] = { 0 };

	(void)state;
	assert_int_equal(p->version, 1);
	assert_string_equal(p->name, "hybrid-whale-monitor");
	assert_string_equal(p->chain, "polkadot-assethub");
	assert_string_equal(p->salt, "hybrid-whale-monitor");
	assert_int_equal(p->tick_ms, 10000);
	assert_string_equal(p->baseline.plugin, "subscan_poller");
	assert_string_equal(p->candidate.plugin, "rpc_watcher");
	assert_string_equal(p->alerting.plugin, "alerting");
	assert_non_null(p->baseline.with);
	assert_string_equal(ynode_get(p->baseline.with, "interval")->scalar, "60m");
	assert_string_equal(ynode_get(p->baseline.with, "top")->scalar, "1000");
	assert_int_equal(ynode_get(p->alerting.with, "channels")->kind, YNODE_SEQ);
	assert_int_equal(p->nphases, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(p->phases[i].name, names[i]);
		assert_int_equal(plan_phase_index(p, names[i]), (int)i);
	}
	assert_int_equal(plan_phase_index(p, "nope"), -1);

	ph = &p->phases[0];
	assert_int_equal(ph->steps[0].kind, STEP_DRILL);
	assert_int_equal(ph->on_fail, ON_FAIL_ABORT);
	assert_string_equal(ph->gates[0].text, "safety.last_drill_ms < 30000");

	ph = &p->phases[1];
	assert_int_equal(ph->hold_ms, 7LL * 86400000);
	assert_int_equal(ph->ngates, 3);
	assert_int_equal(ph->gates[0].min_samples, 10);
	assert_int_equal(ph->gates[0].consecutive_errors, 6);
	assert_int_equal(ph->gates[1].min_samples, 1);
	assert_int_equal(ph->gates[1].failure_limit, 0);
	assert_int_equal(ph->gates[1].consecutive_errors, 4);
	assert_non_null(ph->gates[2].expr);

	ph = &p->phases[2];
	assert_int_equal(ph->nsteps, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(ph->steps[i].kind, STEP_TRAFFIC);
		assert_int_equal(ph->steps[i].traffic, gradual[i]);
		assert_int_equal(ph->steps[i].hold_ms, gradual_hold[i] * 86400000);
	}
	assert_string_equal(ph->sets[0].flag, "rolloutPhase");
	assert_int_equal(ph->sets[0].type, PLAN_VAL_STRING);
	assert_string_equal(ph->sets[0].s, "gradual");
	assert_int_equal(ph->sets[0].pos.line, 7);
	assert_non_null(strstr(ph->sets[0].pos.file, "phases/gradual.yaml"));

	ph = &p->phases[3];
	assert_int_equal(ph->steps[0].kind, STEP_CALL);
	assert_string_equal(ph->steps[0].call_system, "candidate");
	assert_string_equal(ph->steps[0].call_command, "watch.extra");
	assert_string_equal(ph->steps[0].call_arg, "1000");
	assert_null(ph->steps[2].call_arg);
	assert_int_equal(ph->steps[1].kind, STEP_HOLD);
	assert_int_equal(ph->steps[4].kind, STEP_DRILL);

	ph = &p->phases[4];
	assert_int_equal(ph->steps[0].kind, STEP_APPROVE);
	for (i = 1, k = 0; i < ph->nsteps; i++, k++)
		assert_int_equal(ph->steps[i].traffic, production[k]);

	assert_int_equal(p->ntriggers, 3);
	assert_int_equal(p->triggers[0].kind, TRIGGER_EXPR);
	assert_int_equal(p->triggers[0].for_checks, 3);
	assert_int_equal(p->triggers[0].on_fail, ON_FAIL_ROLLBACK);
	assert_null(p->triggers[0].from_phase);
	assert_int_equal(p->triggers[1].kind, TRIGGER_MATCH);
	assert_non_null(p->triggers[1].re);
	assert_string_equal(p->triggers[1].match, "(?i)panic|fatal");
	assert_int_equal(p->triggers[1].count, 1);
	assert_int_equal(p->triggers[1].window_ms, 300000);
	assert_string_equal(p->triggers[1].source, "candidate");
	assert_string_equal(p->triggers[2].from_phase, "parallel");
	assert_true(memcmp(p->sha256, zero, 32) != 0);
	assert_string_equal(plan_on_fail_name(ON_FAIL_PAUSE), "pause");
	assert_string_equal(plan_step_kind_name(STEP_CALL), "call");
	plan_free(p);
}

static void
plan_load__sha256__covers_top_file(void **state)
{
	struct plan *p = load_ok("phases/test-small.yaml");
	char *t = read_text("phases/test-small.yaml");
	uint8_t h[32];

	(void)state;
	assert_non_null(t);
	crypto_hash_sha256(h, (const unsigned char *)t, strlen(t));
	assert_memory_equal(h, p->sha256, 32);
	assert_string_equal(p->salt, "test-small-salt");
	assert_int_equal(p->tick_ms, 1000);
	assert_null(p->alerting.plugin);
	free(t);
	plan_free(p);
}

/* The messages of BAD_DIR/NAME.yaml, with the top file's "PATH:" prefix stripped. */
static void
check_bad(const char *name, int *failures)
{
	char path[512], exp_path[512];
	struct msgs m = { 0 };
	struct plan *p = NULL;
	char *expected, *line, *save = NULL;
	size_t i = 0, plen;
	int rc, bad = 0;

	snprintf(path, sizeof(path), BAD_DIR "/%s.yaml", name);
	snprintf(exp_path, sizeof(exp_path), BAD_DIR "/%s.expected", name);
	plen = strlen(path);
	expected = read_text(exp_path);
	if (expected == NULL) {
		print_error("%s: missing %s\n", path, exp_path);
		(*failures)++;
		return;
	}
	rc = plan_load(path, &p, collect, &m);
	if (rc == 0 || p != NULL) {
		print_error("%s: loaded, but it should not\n", path);
		plan_free(p);
		bad = 1;
	}
	for (line = strtok_r(expected, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), i++) {
		const char *got = i < m.n ? m.lines[i] : NULL;

		if (got != NULL && strncmp(got, path, plen) == 0 && got[plen] == ':')
			got += plen + 1;
		if (got == NULL || strcmp(got, line) != 0) {
			print_error("%s: line %zu: expected [%s]\n%*s got      [%s]\n", path, i + 1, line,
			    (int)strlen(path), "", got ? got : "(nothing)");
			bad = 1;
		}
	}
	for (; i < m.n; i++) {
		print_error("%s: unexpected extra message [%s]\n", path, m.lines[i]);
		bad = 1;
	}
	if (m.n == 0) {
		print_error("%s: no message at all\n", path);
		bad = 1;
	}
	*failures += bad;
	free(expected);
	msgs_free(&m);
}

static void
plan_load__bad_corpus__exact_messages(void **state)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *e;
	int n = 0, failures = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char name[256];

		if (len < 6 || len > 200 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
		check_bad(name, &failures);
		n++;
	}
	closedir(d);
	if (failures > 0)
		fail_msg("%d of %d bad plans did not give their expected messages", failures, n);
	assert_true(n >= 40);
}

static char tmpdir[64];

static int
setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_plan.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
expect_one(const char *path, const char *want)
{
	struct msgs m = { 0 };
	struct plan *p = NULL;
	char full[1024];

	assert_int_not_equal(plan_load(path, &p, collect, &m), 0);
	assert_null(p);
	snprintf(full, sizeof(full), "%s:%s", path, want);
	if (m.n != 1 || strcmp(m.lines[0], full) != 0)
		fail_msg("%s: got %zu messages, first [%s]; want [%s]", path, m.n,
		    m.n ? m.lines[0] : "", full);
	msgs_free(&m);
}

static void
plan_load__ten_megabytes__too_large(void **state)
{
	char path[128];
	FILE *f;
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("version: 1\nname: big\nphases:\n", f);
	for (i = 0; ftell(f) < 10 * 1024 * 1024; i++)
		fprintf(f, "  - { name: phase%zu, hold: 1d, gates: [ \"shadow.accuracy >= 0.95\" ] }\n", i);
	fclose(f);
	truncate(path, 10 * 1024 * 1024);
	expect_one(path, "1:1: file too large (10485760 bytes; the limit is 1048576)");
}

static void
plan_load__deeply_nested__refused(void **state)
{
	char path[128];
	FILE *f;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/deep.yaml", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("version: 1\nname: deep\nrules: ", f);
	for (i = 0; i < 100000; i++)
		fputc('[', f);
	for (i = 0; i < 100000; i++)
		fputc(']', f);
	fputc('\n', f);
	fclose(f);
	/* the root map is level 1, rules' value level 2: the 64th '[' is level 65 */
	expect_one(path, "3:71: nesting too deep (more than 64 levels)");

	/* block-style nesting too */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("version: 1\nname: deep\nrules:\n", f);
	for (i = 0; i < 100; i++)
		fprintf(f, "%*sk:\n", 2 * (i + 1), "");
	fclose(f);
	expect_one(path, "66:127: nesting too deep (more than 64 levels)");
}

static void
plan_load__missing_file__no_position(void **state)
{
	char path[128], want[256];
	struct msgs m = { 0 };
	struct plan *p = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/none.yaml", tmpdir);
	assert_int_equal(plan_load(path, &p, collect, &m), -ENOENT);
	assert_int_equal(m.n, 1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(m.lines[0], want);
	msgs_free(&m);
}

static void
plan_load__include_relative_to_includer__and_flags_merge(void **state)
{
	char sub[128], path[192];
	struct plan *p;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/sub/a.yaml", tmpdir);
	write_text(path, "include: b.yaml\nphases:\n  - name: one\n    set: { cacheOn: true, batch: 7 }\n"
	    "    steps: [ { traffic: 10 }, { set: { hybridTrafficPercent: 20 } } ]\n");
	snprintf(path, sizeof(path), "%s/sub/b.yaml", tmpdir);
	write_text(path, "flags:\n  cacheOn: { type: bool }\n  batch: { type: int, min: 1, max: 9, default: 2 }\n"
	    "triggers:\n  - { name: late, when: x.y > 1, from: two, for: 2 }\n"
	    "phases:\n  - name: zero\n");
	snprintf(path, sizeof(path), "%s/top.yaml", tmpdir);
	write_text(path, "version: 1\nname: inc\nsystems:\n  baseline: { plugin: b }\n"
	    "  candidate: { plugin: c }\ninclude: [ sub/a.yaml ]\nphases:\n  - name: two\n"
	    "    steps: [ { traffic: 20 } ]\n");
	p = load_ok(path);
	assert_int_equal(p->nphases, 3);
	assert_string_equal(p->phases[0].name, "zero");   /* b.yaml is included first by a.yaml */
	assert_string_equal(p->phases[1].name, "one");
	assert_string_equal(p->phases[2].name, "two");
	assert_int_equal(p->nflags, 2);
	assert_string_equal(p->flags[1].name, "batch");
	assert_int_equal(p->flags[1].def_i, 2);
	assert_int_equal(p->flags[1].min, 1);
	assert_int_equal(p->phases[1].nsets, 2);
	assert_int_equal(p->phases[1].sets[1].i, 7);
	assert_int_equal(p->phases[1].steps[1].kind, STEP_SET);
	assert_int_equal(p->phases[1].steps[1].sets[0].i, 20);
	assert_int_equal(p->triggers[0].for_checks, 2);
	plan_free(p);
}

static void
plan_load_buffer__same_checks(void **state)
{
	static const char text[] = "version: 1\nname: buf\nsystems:\n  baseline: { plugin: b }\n"
	    "  candidate: { plugin: c }\nphases:\n  - name: a\n    hold: 5q\n";
	struct msgs m = { 0 };
	struct plan *p = NULL;

	(void)state;
	assert_int_equal(plan_load_buffer("mem.yaml", text, strlen(text), &p, collect, &m), -EINVAL);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.lines[0], "mem.yaml:8:11: hold: bad duration '5q': unknown unit 'q' "
	    "(use ms, s, m, h or d)");
	msgs_free(&m);
	assert_int_equal(plan_load_buffer("mem.yaml", text, strlen(text) - 13, &p, collect, &m), 0);
	assert_int_equal(m.n, 0);
	plan_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plan_load__shipped_phase_files__check_clean),
		cmocka_unit_test(plan_load__full_yaml__seed_numbers),
		cmocka_unit_test(plan_load__sha256__covers_top_file),
		cmocka_unit_test(plan_load__bad_corpus__exact_messages),
		cmocka_unit_test(plan_load__ten_megabytes__too_large),
		cmocka_unit_test(plan_load__deeply_nested__refused),
		cmocka_unit_test(plan_load__missing_file__no_position),
		cmocka_unit_test(plan_load__include_relative_to_includer__and_flags_merge),
		cmocka_unit_test(plan_load_buffer__same_checks),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

/* test_engine.c — every transition of the rollout state machine, on a virtual clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "engine.h"
#include "flags.h"
#include "fsutil.h"
#include "journal.h"
#include "metrics.h"
#include "log.h"
#include "plan.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define T0 1767225600000LL   /* 2026-01-01T00:00:00Z */
#define MIN 60000LL
#define HOUR 3600000LL

static const char PLAN[] =
    "version: 1\n"
    "name: t\n"
    "chain: westend\n"
    "tick: 10s\n"
    "systems:\n"
    "  baseline: { plugin: subscan_poller }\n"
    "  candidate: { plugin: rpc_watcher }\n"
    "triggers:\n"
    "  - name: errs\n"
    "    when: candidate.error_ratio > 0.5\n"
    "    for: 3 checks\n"
    "    from: gradual\n"
    "  - name: fatal\n"
    "    match: 'panic'\n"
    "    count: 2 in 1m\n"
    "    from: gradual\n"
    "phases:\n"
    "  - name: foundation\n"
    "    steps: [ { drill: rollback } ]\n"
    "    gates: [ \"safety.last_drill_ms < 30000\" ]\n"
    "  - name: parallel\n"
    "    hold: 1h\n"
    "    gates:\n"
    "      - expr: shadow.accuracy >= 0.95\n"
    "        consecutive_errors: 2\n"
    "  - name: gradual\n"
    "    steps: [ { traffic: 5, hold: 1h }, { call: { system: candidate, command: chaos.disconnect } },"
    " { traffic: 15, hold: 1h } ]\n"
    "    gates: [ \"shadow.accuracy >= 0.95\" ]\n"
    "  - name: production\n"
    "    steps: [ { approve: manual }, { traffic: 100 } ]\n";

/* A plan whose parallel phase turns flags on with set: (what a rollback turns off). */
static const char PLAN_SETS[] =
    "version: 1\n"
    "name: t\n"
    "chain: westend\n"
    "tick: 10s\n"
    "systems:\n"
    "  baseline: { plugin: subscan_poller }\n"
    "  candidate: { plugin: rpc_watcher }\n"
    "phases:\n"
    "  - name: parallel\n"
    "    set: { enableHybridSystem: true, enableParallelMode: true }\n"
    "    hold: 1h\n"
    "    gates: [ \"shadow.accuracy >= 0.95\" ]\n"
    "  - name: gradual\n"
    "    steps: [ { traffic: 5, hold: 1h } ]\n"
    "    gates: [ \"shadow.accuracy >= 0.95\" ]\n";

struct fx {
	char dir[128], state_dir[200], flags_path[256], journal_path[256];
	struct plan *plan;
	struct clock *clk;
	struct metrics *m;
	struct flags *flags;
	struct engine *e;
	int calls, call_rc;
	char lines[64][600];
	int nlines;
	size_t queue_max;
	char notes[16][64];               /* notify types, in order */
	int nnotes;
	const char *kill_after;           /* SIGKILL once a transition line has this (crash tests) */
};

static int
hook_call(void *ctx, const char *system, const char *command, const char *arg, char *reply,
    size_t replylen)
{
	struct fx *f = ctx;

	(void)arg;
	assert_string_equal(system, "candidate");
	assert_string_equal(command, "chaos.disconnect");
	f->calls++;
	snprintf(reply, replylen, "disconnected");
	return f->call_rc;
}

static void
hook_transition(void *ctx, int64_t at, const char *line)
{
	struct fx *f = ctx;

	(void)at;
	if (f->nlines < 64)
		snprintf(f->lines[f->nlines++], sizeof(f->lines[0]), "%s", line);
	/* the hook runs once the transition is persisted, before its flags write */
	if (f->kill_after != NULL && strstr(line, f->kill_after) != NULL)
		raise(SIGKILL);
}

static void
hook_notify(void *ctx, int severity, const char *type, const char *title, const char *message)
{
	struct fx *f = ctx;

	(void)severity;
	(void)title;
	(void)message;
	if (f->nnotes < 16)
		snprintf(f->notes[f->nnotes++], sizeof(f->notes[0]), "%s", type);
}

static void
open_engine(struct fx *f, const char *plan_text, int accept)
{
	struct engine_opts o = { 0 };
	char err[512] = "";

	if (f->plan == NULL)
		assert_int_equal(plan_load_buffer("t.yaml", plan_text, strlen(plan_text), &f->plan,
		    NULL, NULL), 0);
	o.plan = f->plan;
	o.state_dir = f->state_dir;
	o.clock = f->clk;
	o.metrics = f->m;
	o.flags = f->flags;
	o.hooks.ctx = f;
	o.hooks.call = hook_call;
	o.hooks.transition = hook_transition;
	o.hooks.notify = hook_notify;
	o.accept_plan_change = accept;
	o.queue_max = f->queue_max;
	if (engine_open(&f->e, &o, err, sizeof(err)) != 0)
		fail_msg("engine_open: %s", err);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_engine.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
	snprintf(f->flags_path, sizeof(f->flags_path), "%s/config/feature-flags.conf", f->dir);
	snprintf(f->journal_path, sizeof(f->journal_path), "%s/journal.jsonl", f->state_dir);
	assert_int_equal(fs_mkdir_p(f->state_dir, 0755), 0);
	f->clk = clock_virtual(T0);
	assert_int_equal(metrics_create(&f->m, f->clk), 0);
	assert_int_equal(flags_open(&f->flags, f->flags_path, f->journal_path, err, sizeof(err)), 0);
	open_engine(f, PLAN, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	engine_close(f->e);
	flags_close(f->flags);
	metrics_free(f->m);
	clock_free(f->clk);
	plan_free(f->plan);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Run the engine on the virtual clock up to T, feeding shadow.accuracy = ACC each tick when ACC >= 0. */
static void
run_until(struct fx *f, int64_t t, double acc)
{
	for (;;) {
		int64_t next;

		if (acc >= 0)
			metrics_record(f->m, "shadow.accuracy", acc);
		next = engine_tick(f->e);
		if (next > t || next <= clock_now_ms(f->clk))
			break;
		assert_int_equal(clock_set(f->clk, next), 0);
	}
	if (clock_now_ms(f->clk) < t) {
		assert_int_equal(clock_set(f->clk, t), 0);
		if (acc >= 0)
			metrics_record(f->m, "shadow.accuracy", acc);
		engine_tick(f->e);
	}
}

static void
assert_at(struct fx *f, enum engine_state s, const char *phase, int step)
{
	json_t *st = engine_status(f->e);

	assert_string_equal(engine_state_name(engine_state(f->e)), engine_state_name(s));
	assert_string_equal(json_string_value(json_object_get(st, "phase")), phase);
	assert_int_equal(json_integer_value(json_object_get(st, "step")), step);
	json_decref(st);
}

static const char *
last_line(struct fx *f)
{
	return f->nlines ? f->lines[f->nlines - 1] : "";
}

static int
has_line(struct fx *f, const char *needle)
{
	int i;

	for (i = 0; i < f->nlines; i++)
		if (strstr(f->lines[i], needle))
			return 1;
	return 0;
}

static void
engine_tick__fresh__drill_then_gate_then_parallel_hold(void **state)
{
	struct fx *f = *state;
	json_t *st;

	assert_int_equal(engine_state(f->e), ENG_PENDING);
	engine_tick(f->e);
	/* drill ran (0 ms on the virtual clock), the gate passed, parallel is holding 1h */
	assert_at(f, ENG_HOLDING, "parallel", 1);
	assert_true(has_line(f, "phase foundation: step 1 (drill rollback): pending -> running: rollout started"));
	assert_true(has_line(f, "rollback drill: emergency path took 0 ms"));
	assert_true(has_line(f, "gate \"safety.last_drill_ms < 30000\" passed (0, 1 samples)"));
	assert_true(flags_get_bool(f->flags, "enableHybridSystem") == 0);
	st = engine_status(f->e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "safety"),
	    "last_drill_ms")), 0);
	json_decref(st);
}

static void
engine_tick__hold__not_before_deadline(void **state)
{
	struct fx *f = *state;

	run_until(f, T0 + HOUR - 1, 0.99);
	assert_at(f, ENG_HOLDING, "parallel", 1);
	run_until(f, T0 + HOUR, 0.99);
	/* gate passed at the deadline: gradual step 1 (traffic 5%) holding */
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(engine_traffic(f->e), 5);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	assert_true(has_line(f, "phase parallel -> phase gradual: gate \"shadow.accuracy >= 0.95\" passed (0.99"));
}

static void
engine_gates__fail__rolls_back(void **state)
{
	struct fx *f = *state;

	run_until(f, T0 + HOUR, 0.99);
	run_until(f, T0 + 2 * HOUR, 0.5);
	assert_at(f, ENG_ROLLED_BACK, "gradual", 1);
	assert_int_equal(engine_traffic(f->e), 0);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_true(flags_get_bool(f->flags, "emergencyRollback"));
	assert_non_null(strstr(last_line(f), "rolling_back -> rolled_back: emergency rollback done"));
	assert_true(has_line(f, "gate \"shadow.accuracy >= 0.95\" failed"));
}

static void
engine_gates__inconclusive__pauses_then_promote_advances(void **state)
{
	struct fx *f = *state;
	char err[256];

	engine_tick(f->e);
	/* no shadow.accuracy at all: the gate can never pass */
	run_until(f, T0 + HOUR, -1);
	assert_at(f, ENG_GATING, "parallel", 1);
	run_until(f, T0 + HOUR + 20000, -1);
	/* evaluated at +0, +10 s, +20 s: 3 inconclusive > consecutive_errors 2 */
	assert_at(f, ENG_PAUSED, "parallel", 1);
	assert_non_null(strstr(last_line(f), "paused (inconclusive): gate \"shadow.accuracy >= 0.95\" inconclusive 3 times in a row"));
	assert_int_equal(engine_act(f->e, ACT_PROMOTE, NULL, &(struct engine_actor){ "cli", NULL, "latency ok" },
	    err, sizeof(err)), 0);
	/* the promoted step starts at once, not at the next tick */
	assert_at(f, ENG_HOLDING, "gradual", 1);
}

static void
engine_act__manual_approval__resume_refused_promote_passes(void **state)
{
	struct fx *f = *state;
	struct engine_actor who = { "api", "127.0.0.1", NULL };
	char err[256];

	run_until(f, T0 + 4 * HOUR, 0.99);
	assert_int_equal(f->calls, 1);
	assert_at(f, ENG_PAUSED, "production", 1);
	assert_int_equal(engine_act(f->e, ACT_RESUME, NULL, &who, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "use promote"));
	assert_int_equal(engine_act(f->e, ACT_PROMOTE, NULL, &who, err, sizeof(err)), 0);
	run_until(f, T0 + 5 * HOUR, 0.99);
	assert_at(f, ENG_COMPLETED, "production", 3);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 100);
}

static void
engine_act__pause_during_hold__paused_time_not_counted(void **state)
{
	struct fx *f = *state;
	char err[256];

	run_until(f, T0 + 10 * MIN, 0.99);
	assert_int_equal(engine_act(f->e, ACT_PAUSE, NULL, NULL, err, sizeof(err)), 0);
	assert_at(f, ENG_PAUSED, "parallel", 1);
	run_until(f, T0 + 40 * MIN, 0.99);
	assert_int_equal(engine_act(f->e, ACT_RESUME, NULL, NULL, err, sizeof(err)), 0);
	assert_at(f, ENG_HOLDING, "parallel", 1);
	/* 30 min paused: the 1 h hold now ends at 1 h 30 min */
	run_until(f, T0 + HOUR + 29 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "parallel", 1);
	run_until(f, T0 + HOUR + 30 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(engine_act(f->e, ACT_PROMOTE_FULL, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(engine_state(f->e), ENG_COMPLETED);
	assert_int_equal(engine_traffic(f->e), 100);
	assert_int_equal(engine_act(f->e, ACT_PAUSE, NULL, NULL, err, sizeof(err)), -EINVAL);
}

static void
engine_act__abort_then_retry__reenters_the_step(void **state)
{
	struct fx *f = *state;
	char err[256];

	run_until(f, T0 + HOUR + 30 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(engine_act(f->e, ACT_ABORT, NULL, NULL, err, sizeof(err)), 0);
	assert_at(f, ENG_ABORTED, "gradual", 1);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_int_equal(engine_act(f->e, ACT_PROMOTE, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(engine_act(f->e, ACT_RETRY, NULL, NULL, err, sizeof(err)), 0);
	engine_tick(f->e);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	/* the retried hold starts again from the retry */
	run_until(f, T0 + 2 * HOUR + 29 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
}

/*
 * A rollback turns enableHybridSystem off; a retry in gradual must put back
 * what parallel's set: block turned on, or the retried step would route
 * traffic with the hybrid system nominally off.
 */
static void
engine_act__rollback_then_retry__restores_earlier_phase_sets(void **state)
{
	struct fx *f = *state;
	char err[256];

	engine_close(f->e);
	plan_free(f->plan);
	f->plan = NULL;
	open_engine(f, PLAN_SETS, 1);
	run_until(f, T0 + HOUR + 30 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_true(flags_get_bool(f->flags, "enableHybridSystem"));
	assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, NULL, err, sizeof(err)), 0);
	assert_false(flags_get_bool(f->flags, "enableHybridSystem"));
	assert_int_equal(flags_traffic(f->flags), 0);
	assert_int_equal(engine_act(f->e, ACT_RETRY, NULL, NULL, err, sizeof(err)), 0);
	engine_tick(f->e);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_true(flags_get_bool(f->flags, "enableHybridSystem"));
	assert_true(flags_get_bool(f->flags, "enableParallelMode"));
	assert_false(flags_get_bool(f->flags, "emergencyRollback"));
	assert_int_equal(flags_traffic(f->flags), 5);
}

static void
engine_act__rollback_and_skip_to_phase(void **state)
{
	struct fx *f = *state;
	char err[256];

	run_until(f, T0 + HOUR + 30 * MIN, 0.99);
	assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, &(struct engine_actor){ "signal", NULL, "SIGUSR1" },
	    err, sizeof(err)), 0);
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	assert_true(flags_get_bool(f->flags, "emergencyRollback"));
	assert_int_equal(engine_act(f->e, ACT_SKIP_TO_PHASE, "nope", NULL, err, sizeof(err)), -ENOENT);
	assert_int_equal(engine_act(f->e, ACT_SKIP_TO_PHASE, "production", NULL, err, sizeof(err)), 0);
	engine_tick(f->e);
	assert_at(f, ENG_PAUSED, "production", 1);
	assert_false(flags_get_bool(f->flags, "emergencyRollback"));
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 15);
}

static void
engine_triggers__expr__fires_only_after_n_checks(void **state)
{
	struct fx *f = *state;
	int i;

	run_until(f, T0 + HOUR + 30 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	/* flapping: bad, bad, good, bad, bad, good ... never 3 in a row */
	for (i = 0; i < 30; i++) {
		metrics_record(f->m, "candidate.error_ratio", (i % 3 == 2) ? 0.1 : 0.9);
		run_until(f, clock_now_ms(f->clk) + 10000, 0.99);
	}
	assert_at(f, ENG_HOLDING, "gradual", 1);
	for (i = 0; i < 3; i++) {
		metrics_record(f->m, "candidate.error_ratio", 0.9);
		run_until(f, clock_now_ms(f->clk) + 10000, 0.99);
	}
	assert_at(f, ENG_ROLLED_BACK, "gradual", 1);
	assert_true(has_line(f, "trigger \"errs\" fired: candidate.error_ratio = 0.9"));
	assert_true(has_line(f, "for 3 checks"));
}

static void
engine_triggers__match__armed_from_phase_count_in_window(void **state)
{
	struct fx *f = *state;

	engine_tick(f->e);
	/* not armed before gradual */
	engine_log_line(f->e, "candidate", "panic: boom");
	engine_log_line(f->e, "candidate", "panic: boom");
	assert_at(f, ENG_HOLDING, "parallel", 1);
	run_until(f, T0 + HOUR + MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	engine_log_line(f->e, "baseline", "panic: not the candidate");
	engine_log_line(f->e, "candidate", "all fine");
	engine_log_line(f->e, "candidate", "panic: one");
	run_until(f, T0 + HOUR + 3 * MIN, 0.99);
	/* the second match is outside the 1 m window of the first */
	engine_log_line(f->e, "candidate", "panic: two");
	assert_at(f, ENG_HOLDING, "gradual", 1);
	run_until(f, T0 + HOUR + 3 * MIN + 30000, 0.99);
	engine_log_line(f->e, "candidate", "panic: three");
	assert_at(f, ENG_ROLLED_BACK, "gradual", 1);
	assert_true(has_line(f, "trigger \"fatal\" fired: 2 matches of /panic/ in 1m from candidate, last: panic: three"));
}

static void
engine_call__failure__pauses_and_resume_retries(void **state)
{
	struct fx *f = *state;
	char err[256];

	f->call_rc = -EIO;
	run_until(f, T0 + 2 * HOUR + MIN, 0.99);
	assert_at(f, ENG_PAUSED, "gradual", 2);
	assert_non_null(strstr(last_line(f), "paused (call_failed): call candidate chaos.disconnect failed"));
	f->call_rc = 0;
	assert_int_equal(engine_act(f->e, ACT_RESUME, NULL, NULL, err, sizeof(err)), 0);
	engine_tick(f->e);
	assert_at(f, ENG_HOLDING, "gradual", 3);
	assert_int_equal(f->calls, 2);
}

static void
engine_open__restart__resumes_with_absolute_deadline(void **state)
{
	struct fx *f = *state;
	json_t *j;
	uint64_t seq;

	run_until(f, T0 + HOUR + 20 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	j = engine_status(f->e);
	seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	json_decref(j);
	engine_close(f->e);
	f->e = NULL;
	/* down for 30 minutes */
	assert_int_equal(clock_set(f->clk, T0 + HOUR + 50 * MIN), 0);
	open_engine(f, NULL, 0);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	j = engine_status(f->e);
	assert_int_equal(json_integer_value(json_object_get(j, "seq")), seq);
	json_decref(j);
	/* the hold still ends 1 h after it began (T0 + 1 h + 1 h) */
	run_until(f, T0 + 2 * HOUR - 1, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	run_until(f, T0 + 2 * HOUR, 0.99);
	assert_int_equal(f->calls, 1);
	assert_at(f, ENG_HOLDING, "gradual", 3);
}

static void
engine_open__pending_record__appended_once_after_crash(void **state)
{
	struct fx *f = *state;
	struct journal *j;
	char *buf, *last;
	size_t len;
	char err[256];
	int fd;

	run_until(f, T0 + HOUR, 0.99);
	engine_close(f->e);
	f->e = NULL;
	/* simulate a crash between the state write and the journal append: drop the last line */
	assert_int_equal(fs_read_all(f->journal_path, 1 << 20, &buf, &len), 0);
	buf[len - 1] = '\0';
	last = strrchr(buf, '\n');
	assert_non_null(last);
	fd = open(f->journal_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)(last - buf) + 1), (ssize_t)((last - buf) + 1));
	close(fd);
	free(buf);
	assert_int_equal(journal_open(&j, f->journal_path, err, sizeof(err)), 0);
	uint64_t before = journal_last_seq(j);
	journal_close(j);
	open_engine(f, NULL, 0);
	assert_int_equal(journal_open(&j, f->journal_path, err, sizeof(err)), 0);
	assert_int_equal(journal_last_seq(j), before + 1);
	journal_close(j);
	engine_close(f->e);
	f->e = NULL;
	/* a second restart appends nothing */
	open_engine(f, NULL, 0);
	assert_int_equal(journal_open(&j, f->journal_path, err, sizeof(err)), 0);
	assert_int_equal(journal_last_seq(j), before + 1);
	journal_close(j);
}

static void
engine_open__changed_plan__refused_unless_accepted(void **state)
{
	struct fx *f = *state;
	struct engine_opts o = { 0 };
	char err[512], *changed;
	struct plan *p2;

	engine_tick(f->e);
	engine_close(f->e);
	f->e = NULL;
	changed = malloc(sizeof(PLAN) + 32);
	snprintf(changed, sizeof(PLAN) + 32, "%s", PLAN);
	strstr(changed, "hold: 1h")[7] = 'm';     /* parallel hold 1h -> 1m */
	assert_int_equal(plan_load_buffer("t.yaml", changed, strlen(changed), &p2, NULL, NULL), 0);
	free(changed);
	o.plan = p2;
	o.state_dir = f->state_dir;
	o.clock = f->clk;
	o.metrics = f->m;
	o.flags = f->flags;
	assert_int_equal(engine_open(&f->e, &o, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "--accept-plan-change"));
	o.accept_plan_change = 1;
	assert_int_equal(engine_open(&f->e, &o, err, sizeof(err)), 0);
	assert_at(f, ENG_HOLDING, "parallel", 1);
	engine_close(f->e);
	f->e = NULL;
	plan_free(p2);
	/* the journal says so */
	assert_int_equal(fs_read_all(f->journal_path, 1 << 20, &changed, NULL), 0);
	assert_non_null(strstr(changed, "\"kind\":\"plan_change\""));
	free(changed);
	/* and the accepted hash is now the state's: the old plan is the changed one */
	o.plan = f->plan;
	o.accept_plan_change = 0;
	assert_int_equal(engine_open(&f->e, &o, err, sizeof(err)), -ESTALE);
}


static void
engine_open__crash_inside_traffic_step__traffic_never_steps_back(void **state)
{
	struct fx *f = *state;
	char path[300];
	json_t *st;
	uint64_t gen;

	run_until(f, T0 + 2 * HOUR + MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 3);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 15);
	engine_close(f->e);
	f->e = NULL;
	/* as if killed after entering step 3 and writing 15%, before the hold was persisted */
	snprintf(path, sizeof(path), "%s/state.json", f->state_dir);
	st = json_load_file(path, 0, NULL);
	assert_non_null(st);
	json_object_set_new(st, "state", json_string("running"));
	json_object_set_new(st, "traffic", json_integer(5));
	assert_int_equal(json_dump_file(st, path, 0), 0);
	json_decref(st);
	gen = flags_generation(f->flags);
	open_engine(f, NULL, 0);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 15);
	assert_int_equal(flags_generation(f->flags), gen);      /* nothing written back */
	engine_tick(f->e);
	assert_at(f, ENG_HOLDING, "gradual", 3);
	assert_int_equal(flags_generation(f->flags), gen);
}

/* ---- a crash between a re-entry's record and its flags write ---------------------- */

/*
 * Restart the engine in a child, perform A there and kill it (SIGKILL) as
 * soon as the transition whose line has NEEDLE is persisted, before the
 * flags write that follows it; then restart here, the flags re-opened from
 * disk as rolloutd does.
 */
static void
crash_after_transition(struct fx *f, enum engine_action a, const char *needle)
{
	char err[512] = "";
	pid_t pid;
	int status;

	engine_close(f->e);
	f->e = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		f->kill_after = needle;
		open_engine(f, NULL, 0);
		engine_act(f->e, a, NULL, NULL, err, sizeof(err));
		_exit(0);       /* not reached when the hook fired */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	flags_close(f->flags);
	assert_int_equal(flags_open(&f->flags, f->flags_path, f->journal_path, err, sizeof(err)), 0);
	open_engine(f, NULL, 0);
}

/* The journal's flag records of generations above GEN: "flag=new" in order, ';'-joined. */
static void
flag_writes_after(struct fx *f, uint64_t gen, char *out, size_t len)
{
	json_t *all = journal_read_tail(f->journal_path, 100000), *r;
	size_t i, o = 0;

	assert_non_null(all);
	out[0] = '\0';
	json_array_foreach(all, i, r) {
		const char *name = json_string_value(json_object_get(r, "flag"));
		char *v;

		if (name == NULL || json_integer_value(json_object_get(r, "generation")) <= (json_int_t)gen)
			continue;
		v = json_dumps(json_object_get(r, "new"), JSON_ENCODE_ANY);
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s=%s", o ? ";" : "", name,
		    v ? v : "?");
		free(v);
	}
	json_decref(all);
}

/*
 * A retry at a traffic step writes no intermediate traffic (the previous
 * step's) before the step sets its own: an uninterrupted retry and one
 * killed between its record and its flags write end at the same
 * generation (e2e 61 compares the flags file byte for byte).
 */
static void
engine_open__crash_after_retry_record__same_flag_writes(void **state)
{
	struct fx *f = *state;
	char err[256], runs[2][600];
	uint64_t g0[2], g1[2];

	for (int crash = 0; crash < 2; crash++) {
		if (crash) {
			teardown(state);
			setup(state);
			f = *state;
		}
		run_until(f, T0 + 2 * HOUR + MIN, 0.99);
		assert_at(f, ENG_HOLDING, "gradual", 3);
		assert_int_equal(engine_act(f->e, ACT_ABORT, NULL, NULL, err, sizeof(err)), 0);
		assert_int_equal(flags_traffic(f->flags), 0);
		g0[crash] = flags_generation(f->flags);
		if (crash)
			crash_after_transition(f, ACT_RETRY, "aborted -> running: retry");
		else
			assert_int_equal(engine_act(f->e, ACT_RETRY, NULL, NULL, err, sizeof(err)), 0);
		engine_tick(f->e);
		assert_at(f, ENG_HOLDING, "gradual", 3);
		assert_int_equal(flags_traffic(f->flags), 15);
		g1[crash] = flags_generation(f->flags);
		flag_writes_after(f, g0[crash], runs[crash], sizeof(runs[0]));
	}
	/* traffic 0 -> 15 in one write, never through the previous step's 5 */
	assert_string_equal(runs[0], "hybridTrafficPercent=15");
	assert_string_equal(runs[1], runs[0]);
	assert_int_equal(g1[0] - g0[0], 1);
	assert_int_equal(g1[1] - g0[1], g1[0] - g0[0]);
}

/*
 * A retry after a rollback killed before its flags write: the restart
 * writes what the retry writes (emergencyRollback off, the earlier phases'
 * sets back), not only what the position wants.
 */
static void
engine_open__crash_after_retry_of_rollback__emergency_flag_cleared(void **state)
{
	struct fx *f = *state;
	char err[256], runs[2][600];

	for (int crash = 0; crash < 2; crash++) {
		uint64_t g0;

		if (crash) {
			teardown(state);
			setup(state);
			f = *state;
		}
		engine_close(f->e);
		plan_free(f->plan);
		f->plan = NULL;
		open_engine(f, PLAN_SETS, 1);
		run_until(f, T0 + HOUR + 30 * MIN, 0.99);
		assert_at(f, ENG_HOLDING, "gradual", 1);
		assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, NULL, err, sizeof(err)), 0);
		assert_true(flags_get_bool(f->flags, "emergencyRollback"));
		assert_false(flags_get_bool(f->flags, "enableHybridSystem"));
		g0 = flags_generation(f->flags);
		if (crash)
			crash_after_transition(f, ACT_RETRY, "rolled_back -> running: retry");
		else
			assert_int_equal(engine_act(f->e, ACT_RETRY, NULL, NULL, err, sizeof(err)), 0);
		engine_tick(f->e);
		assert_at(f, ENG_HOLDING, "gradual", 1);
		assert_false(flags_get_bool(f->flags, "emergencyRollback"));
		assert_true(flags_get_bool(f->flags, "enableHybridSystem"));
		assert_int_equal(flags_traffic(f->flags), 5);
		flag_writes_after(f, g0, runs[crash], sizeof(runs[0]));
	}
	assert_string_equal(runs[1], runs[0]);
}

/* ---- storage failures ---------------------------------------------------------- */

/*
 * Make every write under the state directory fail (a file stands where the
 * directory was: ENOTDIR, even for root), or undo it.
 */
static void
storage_break(struct fx *f, int broken)
{
	char away[260];
	FILE *x;

	snprintf(away, sizeof(away), "%s.away", f->state_dir);
	if (broken) {
		assert_int_equal(rename(f->state_dir, away), 0);
		x = fopen(f->state_dir, "w");
		assert_non_null(x);
		fclose(x);
	} else {
		assert_int_equal(unlink(f->state_dir), 0);
		assert_int_equal(rename(away, f->state_dir), 0);
	}
}

/* The journal's engine records (with a seq), oldest first. */
static json_t *
journal_records(struct fx *f)
{
	json_t *all = journal_read_tail(f->journal_path, 100000), *out = json_array(), *r;
	size_t i;

	assert_non_null(all);
	json_array_foreach(all, i, r)
		if (json_object_get(r, "seq") != NULL)
			json_array_append(out, r);
	json_decref(all);
	return out;
}

/* Every record once, seq 1..n without a gap; returns n. */
static size_t
assert_contiguous(json_t *recs)
{
	size_t i;

	for (i = 0; i < json_array_size(recs); i++)
		if (json_integer_value(json_object_get(json_array_get(recs, i), "seq")) != (json_int_t)i + 1)
			fail_msg("journal record %zu has seq %lld", i,
			    (long long)json_integer_value(json_object_get(json_array_get(recs, i), "seq")));
	return json_array_size(recs);
}

static const char *
flag_str(struct fx *f, const char *name, char *buf, size_t len)
{
	struct flag_value v;

	assert_int_equal(flags_get(f->flags, name, &v), 0);
	return flag_value_str(&v, buf, len);
}

static const char *
rec_str(json_t *recs, size_t i, const char *k1, const char *k2)
{
	json_t *v = json_object_get(json_array_get(recs, i), k1);

	return json_string_value(k2 ? json_object_get(v, k2) : v);
}

static void
engine_storage__unwritable__pauses_never_advances_then_recovers(void **state)
{
	struct fx *f = *state;
	char err[300];
	json_t *recs, *st;
	size_t n0, n, i;
	int paused = -1, resumed = -1;

	run_until(f, T0 + HOUR - MIN, 0.99);
	assert_at(f, ENG_HOLDING, "parallel", 1);
	recs = journal_records(f);
	n0 = assert_contiguous(recs);
	json_decref(recs);
	storage_break(f, 1);
	/* the hold ends, the gate would pass: 10 hours of ticks with good data */
	run_until(f, T0 + 11 * HOUR, 0.99);
	assert_int_equal(engine_state(f->e), ENG_PAUSED);
	st = engine_status(f->e);
	assert_string_equal(json_string_value(json_object_get(st, "pause_reason")), "storage");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "parallel");
	assert_false(json_is_true(json_object_get(json_object_get(st, "storage"), "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "storage"), "queued")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(st, "storage"), "error")),
	    "state.json: cannot write the state: Not a directory"));
	json_decref(st);
	assert_non_null(strstr(last_line(f), "paused (storage): storage: "));
	assert_string_equal(f->notes[f->nnotes - 1], "storage");
	assert_int_equal(engine_traffic(f->e), 0);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_string_equal(flag_str(f, "rolloutPhase", err, sizeof(err)), "parallel");
	/* moving on by hand is refused while the disk refuses; the queue holds 2 */
	assert_int_equal(engine_act(f->e, ACT_RESUME, NULL, NULL, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "cannot resume: "));
	assert_non_null(strstr(err, "resumes by itself"));
	assert_int_equal(engine_act(f->e, ACT_SKIP_TO_PHASE, "gradual", NULL, err, sizeof(err)), -EIO);
	assert_int_equal(engine_act(f->e, ACT_PROMOTE, NULL, NULL, err, sizeof(err)), -EIO);
	assert_int_equal(engine_storage(f->e, &n), -ENOTDIR);
	assert_int_equal(n, 2);
	assert_int_equal(engine_state(f->e), ENG_PAUSED);
	storage_break(f, 0);
	/* back: the next tick writes the 2 records, resumes (journaled), the gate passes */
	run_until(f, T0 + 11 * HOUR + 10000, 0.99);
	assert_int_equal(engine_storage(f->e, &n), 0);
	assert_int_equal(n, 0);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	recs = journal_records(f);
	n = assert_contiguous(recs);
	for (i = n0; i < n; i++) {
		if (paused < 0 && json_is_string(json_object_get(json_array_get(recs, i), "pause_reason")))
			paused = (int)i;
		if (resumed < 0 && strstr(rec_str(recs, i, "why", NULL), "storage writable again: 2 queued"))
			resumed = (int)i;
	}
	/* the failed transition (the hold's end), the pause, the resume, then the gate */
	assert_int_equal(paused, (int)n0 + 1);
	assert_string_equal(rec_str(recs, n0, "to", "state"), "gating");
	assert_string_equal(rec_str(recs, (size_t)paused, "pause_reason", NULL), "storage");
	assert_non_null(strstr(rec_str(recs, (size_t)paused, "why", NULL), "Not a directory"));
	assert_int_equal(resumed, paused + 1);
	assert_string_equal(rec_str(recs, (size_t)resumed, "from", "state"), "paused");
	assert_string_equal(rec_str(recs, (size_t)resumed, "to", "state"), "gating");
	assert_string_equal(rec_str(recs, (size_t)resumed + 1, "to", "phase"), "gradual");
	json_decref(recs);
	/* state.json agrees with the journal */
	{
		char path[300];
		json_t *sj;

		snprintf(path, sizeof(path), "%s/state.json", f->state_dir);
		sj = json_load_file(path, 0, NULL);
		assert_non_null(sj);
		assert_int_equal(json_integer_value(json_object_get(sj, "seq")), (json_int_t)n);
		assert_null(json_object_get(sj, "unjournaled"));
		json_decref(sj);
	}
}

static void
engine_storage__rollback_during_failure__at_once_then_written(void **state)
{
	struct fx *f = *state;
	char err[300];
	json_t *recs;
	size_t n0, n;

	run_until(f, T0 + HOUR + 10 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	recs = journal_records(f);
	n0 = assert_contiguous(recs);
	json_decref(recs);
	storage_break(f, 1);
	/* the trigger fires while nothing can be written: the rollback is not held back */
	engine_log_line(f->e, "candidate", "panic: one");
	assert_int_equal(clock_set(f->clk, T0 + HOUR + 10 * MIN + 30000), 0);
	engine_log_line(f->e, "candidate", "panic: two");
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	assert_int_equal(engine_traffic(f->e), 0);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_true(flags_get_bool(f->flags, "emergencyRollback"));
	assert_non_null(strstr(last_line(f), "rolling_back -> rolled_back: emergency rollback done"));
	assert_non_null(strstr(last_line(f), "audit record was not journaled"));
	assert_int_equal(engine_storage(f->e, &n), -ENOTDIR);
	assert_int_equal(n, 2);
	/* an operator rollback on top: accepted, in memory */
	assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(engine_storage(f->e, &n), -ENOTDIR);
	assert_int_equal(n, 4);
	run_until(f, T0 + HOUR + 20 * MIN, -1);
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	storage_break(f, 0);
	run_until(f, T0 + HOUR + 21 * MIN, -1);
	assert_int_equal(engine_storage(f->e, &n), 0);
	recs = journal_records(f);
	assert_int_equal(assert_contiguous(recs), n0 + 4);
	assert_string_equal(rec_str(recs, n0, "to", "state"), "rolling_back");
	assert_string_equal(rec_str(recs, n0 + 1, "to", "state"), "rolled_back");
	assert_string_equal(rec_str(recs, n0 + 2, "action", NULL), "rollback");
	assert_string_equal(rec_str(recs, n0 + 3, "to", "state"), "rolled_back");
	json_decref(recs);
	/* a restart resumes rolled back, nothing appended twice */
	engine_close(f->e);
	f->e = NULL;
	open_engine(f, NULL, 0);
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	recs = journal_records(f);
	assert_int_equal(assert_contiguous(recs), n0 + 4);
	json_decref(recs);
}

static void
engine_storage__journal_only_fails__restart_appends_what_the_state_kept(void **state)
{
	struct fx *f = *state;
	char away[300];
	json_t *recs;
	size_t n0, n;

	run_until(f, T0 + HOUR - MIN, 0.99);
	recs = journal_records(f);
	n0 = assert_contiguous(recs);
	json_decref(recs);
	/* the journal alone cannot be appended to (a directory in its place); state.json can */
	snprintf(away, sizeof(away), "%s.away", f->journal_path);
	assert_int_equal(rename(f->journal_path, away), 0);
	assert_int_equal(mkdir(f->journal_path, 0755), 0);
	run_until(f, T0 + 3 * HOUR, 0.99);
	assert_int_equal(engine_state(f->e), ENG_PAUSED);
	assert_int_equal(engine_storage(f->e, &n), -EISDIR);
	assert_int_equal(n, 2);
	/* killed now: state.json holds the pause as "pending" and the record before it */
	engine_close(f->e);
	f->e = NULL;
	assert_int_equal(rmdir(f->journal_path), 0);
	assert_int_equal(rename(away, f->journal_path), 0);
	open_engine(f, NULL, 0);
	recs = journal_records(f);
	assert_int_equal(assert_contiguous(recs), n0 + 2);
	assert_string_equal(rec_str(recs, n0 + 1, "pause_reason", NULL), "storage");
	json_decref(recs);
	/* the resumed engine sees the disk is fine: resumes by itself and goes on */
	run_until(f, T0 + 3 * HOUR + 10000, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	recs = journal_records(f);
	n = assert_contiguous(recs);
	assert_true(n > n0 + 3);
	assert_non_null(strstr(rec_str(recs, n0 + 2, "why", NULL), "storage writable again"));
	json_decref(recs);
}

static void
engine_storage__queue_bound__only_rollback_past_it(void **state)
{
	struct fx *f = *state;
	char err[300];
	json_t *recs;
	size_t n0, n;

	engine_close(f->e);
	f->queue_max = 2;
	open_engine(f, NULL, 0);
	run_until(f, T0 + HOUR - MIN, 0.99);
	recs = journal_records(f);
	n0 = assert_contiguous(recs);
	json_decref(recs);
	storage_break(f, 1);
	run_until(f, T0 + 2 * HOUR, 0.99);
	assert_int_equal(engine_storage(f->e, &n), -ENOTDIR);
	assert_int_equal(n, 2);
	/* the bound: an abort is refused with the reason, a rollback still goes */
	assert_int_equal(engine_act(f->e, ACT_ABORT, NULL, NULL, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "cannot abort: 2 journal records already wait for the disk"));
	assert_non_null(strstr(err, "only a rollback is accepted"));
	assert_int_equal(engine_state(f->e), ENG_PAUSED);
	assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_int_equal(engine_storage(f->e, &n), -ENOTDIR);
	assert_int_equal(n, 4);
	storage_break(f, 0);
	run_until(f, T0 + 2 * HOUR + 10000, 0.99);
	assert_int_equal(engine_storage(f->e, &n), 0);
	recs = journal_records(f);
	assert_int_equal(assert_contiguous(recs), n0 + 4);
	assert_string_equal(rec_str(recs, n0 + 3, "to", "state"), "rolled_back");
	json_decref(recs);
	/* the bound is for what waits: with the queue written, actions are accepted again */
	assert_int_equal(engine_act(f->e, ACT_RETRY, NULL, NULL, err, sizeof(err)), 0);
}

static void
engine_storage__flags_file_unwritable__pauses_storage_and_recovers(void **state)
{
	struct fx *f = *state;
	char cfg[300], away[320];
	json_t *st;

	run_until(f, T0 + HOUR - MIN, 0.99);
	/* the flags' directory refuses; the state directory is fine */
	snprintf(cfg, sizeof(cfg), "%s/config", f->dir);
	snprintf(away, sizeof(away), "%s.away", cfg);
	assert_int_equal(rename(cfg, away), 0);
	{
		FILE *x = fopen(cfg, "w");

		assert_non_null(x);
		fclose(x);
	}
	run_until(f, T0 + 3 * HOUR, 0.99);
	/* gradual's entry could not set its flags: paused for storage, not "flags_broken" */
	assert_int_equal(engine_state(f->e), ENG_PAUSED);
	st = engine_status(f->e);
	assert_string_equal(json_string_value(json_object_get(st, "pause_reason")), "storage");
	json_decref(st);
	assert_non_null(strstr(last_line(f), "flags not written"));
	assert_int_equal(unlink(cfg), 0);
	assert_int_equal(rename(away, cfg), 0);
	run_until(f, T0 + 3 * HOUR + 10000, 0.99);
	assert_int_equal(engine_storage(f->e, NULL), 0);
	assert_int_equal(engine_state(f->e), ENG_HOLDING);
	assert_string_equal(flag_str(f, "rolloutPhase", cfg, sizeof(cfg)), "gradual");
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	assert_true(has_line(f, "storage writable again"));
}

static void
engine_storage__rollback_with_flags_unwritable__flags_written_when_back(void **state)
{
	struct fx *f = *state;
	char cfg[300], away[320], err[300];
	json_t *recs;
	size_t n0, n;
	FILE *x;

	run_until(f, T0 + HOUR + 10 * MIN, 0.99);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 5);
	recs = journal_records(f);
	n0 = assert_contiguous(recs);
	json_decref(recs);
	/* the whole data directory refuses: state/ and config/ */
	storage_break(f, 1);
	snprintf(cfg, sizeof(cfg), "%s/config", f->dir);
	snprintf(away, sizeof(away), "%s.away", cfg);
	assert_int_equal(rename(cfg, away), 0);
	x = fopen(cfg, "w");
	assert_non_null(x);
	fclose(x);
	assert_int_equal(engine_act(f->e, ACT_ROLLBACK, NULL, NULL, err, sizeof(err)), 0);
	/* the engine has rolled back (its traffic is 0); the file could not say so */
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	assert_int_equal(engine_traffic(f->e), 0);
	assert_non_null(strstr(last_line(f), "emergency rollback FAILED to write the flags"));
	assert_int_not_equal(engine_storage(f->e, &n), 0);
	assert_int_equal(n, 2);
	run_until(f, T0 + HOUR + 20 * MIN, -1);
	assert_int_not_equal(engine_storage(f->e, NULL), 0);
	/* back: the flags are written by the retry, the records appended */
	assert_int_equal(unlink(cfg), 0);
	assert_int_equal(rename(away, cfg), 0);
	storage_break(f, 0);
	run_until(f, T0 + HOUR + 21 * MIN, -1);
	assert_int_equal(engine_storage(f->e, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(flags_get_int(f->flags, "hybridTrafficPercent"), 0);
	assert_true(flags_get_bool(f->flags, "emergencyRollback"));
	recs = journal_records(f);
	assert_int_equal(assert_contiguous(recs), n0 + 2);
	assert_string_equal(rec_str(recs, n0 + 1, "to", "state"), "rolled_back");
	json_decref(recs);
}

/* The detail shown is the one of the evaluation (formatted when read, from what it saw then). */
static void
engine_status__trigger_detail__as_evaluated_not_as_now(void **state)
{
	struct fx *f = *state;
	json_t *st, *t;

	run_until(f, T0 + HOUR + 10 * MIN, 0.99);
	assert_at(f, ENG_HOLDING, "gradual", 1);
	metrics_record(f->m, "candidate.error_ratio", 0.25);
	run_until(f, T0 + HOUR + 11 * MIN, 0.99);
	metrics_record(f->m, "candidate.error_ratio", 0.125);     /* after the evaluation */
	st = engine_status(f->e);
	t = json_array_get(json_object_get(st, "triggers"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "name")), "errs");
	assert_string_equal(json_string_value(json_object_get(t, "verdict")), "fail");
	assert_string_equal(json_string_value(json_object_get(t, "detail")),
	    "candidate.error_ratio = 0.25 (1 sample) > 0.5");
	json_decref(st);
	/* three checks over the line: the trigger's record carries the detail of the third */
	metrics_record(f->m, "candidate.error_ratio", 0.75);
	run_until(f, T0 + HOUR + 11 * MIN + 30000, 0.99);
	assert_int_equal(engine_state(f->e), ENG_ROLLED_BACK);
	assert_true(has_line(f, "trigger \"errs\" fired: candidate.error_ratio = 0.75 (3 samples) > 0.5 for 3 checks"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(engine_tick__fresh__drill_then_gate_then_parallel_hold),
		T(engine_tick__hold__not_before_deadline),
		T(engine_gates__fail__rolls_back),
		T(engine_gates__inconclusive__pauses_then_promote_advances),
		T(engine_act__manual_approval__resume_refused_promote_passes),
		T(engine_act__pause_during_hold__paused_time_not_counted),
		T(engine_act__abort_then_retry__reenters_the_step),
		T(engine_act__rollback_then_retry__restores_earlier_phase_sets),
		T(engine_act__rollback_and_skip_to_phase),
		T(engine_triggers__expr__fires_only_after_n_checks),
		T(engine_triggers__match__armed_from_phase_count_in_window),
		T(engine_call__failure__pauses_and_resume_retries),
		T(engine_open__restart__resumes_with_absolute_deadline),
		T(engine_open__pending_record__appended_once_after_crash),
		T(engine_open__changed_plan__refused_unless_accepted),
		T(engine_open__crash_inside_traffic_step__traffic_never_steps_back),
		T(engine_open__crash_after_retry_record__same_flag_writes),
		T(engine_open__crash_after_retry_of_rollback__emergency_flag_cleared),
		T(engine_storage__unwritable__pauses_never_advances_then_recovers),
		T(engine_storage__rollback_during_failure__at_once_then_written),
		T(engine_storage__journal_only_fails__restart_appends_what_the_state_kept),
		T(engine_storage__queue_bound__only_rollback_past_it),
		T(engine_storage__flags_file_unwritable__pauses_storage_and_recovers),
		T(engine_storage__rollback_with_flags_unwritable__flags_written_when_back),
		T(engine_status__trigger_detail__as_evaluated_not_as_now),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

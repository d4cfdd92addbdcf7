/*
 * test_pipeline.c — the whole host side with real plugins (scripted.so):
 * load, init errors, events over the bus from plugin threads, rules per
 * system, router modes from the flag file, delivery to the sink, commands,
 * notifications, the log hook, plugin metrics.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "flags.h"
#include "fsutil.h"
#include "log.h"
#include "test_plugins.h"
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
#include "ynode.h"

#define T0 1700000000000LL
/* sink line prefix of a large-movement alert of severity warning, up to the system name */
#define LM "\"type\":\"large_movement\",\"severity\":1,\"system\":"

static char plugdir[PATH_MAX + 16];

static int
setup(void **state)
{
	(void)state;
	log_set_plain(1);
	log_set_level(LOG_LVL_WARN);
	return test_plugin_dir(plugdir, sizeof(plugdir));
}

struct env {
	char dir[64];
	char sink[128];
	struct ynode *ybase, *ycand, *yalert;
	struct plan plan;
	struct clock *clk;
	struct metrics *m;
	struct flags *flags;
	struct pipeline *p;
	char logs[8][128];
	int nlogs;
	int wakes;
	double time_scale;              /* pipeline_opts.time_scale (0: real time) */
};

static void
count_wake(void *ctx)
{
	struct env *e = ctx;

	__atomic_add_fetch(&e->wakes, 1, __ATOMIC_SEQ_CST);
}

static void
log_hook(void *ctx, const char *instance, const char *line)
{
	struct env *e = ctx;

	if (e->nlogs < 8)
		snprintf(e->logs[e->nlogs++], 128, "%s|%s", instance, line);
}

static struct ynode *
yaml(const char *text)
{
	struct ynode *n;
	char err[256];

	assert_int_equal(ynode_load_buffer("plan.yaml", text, strlen(text), &n, err, sizeof(err)), 0);
	return n;
}

static void
env_init(struct env *e, const char *base_yaml, const char *cand_yaml, const char *cand_plugin)
{
	char path[256], alert_yaml[256], err[256];

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_pipeline.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sink, sizeof(e->sink), "%s/sink.jsonl", e->dir);
	snprintf(alert_yaml, sizeof(alert_yaml), "sink_file: %s\n", e->sink);
	e->ybase = yaml(base_yaml);
	e->ycand = yaml(cand_yaml);
	e->yalert = yaml(alert_yaml);
	e->plan.version = 1;
	e->plan.name = "test-plan";
	e->plan.chain = "polkadot";
	e->plan.salt = "s";
	e->plan.baseline = (struct plan_system){ "baseline", "scripted", e->ybase, { 0 } };
	e->plan.candidate = (struct plan_system){ "candidate", (char *)cand_plugin, e->ycand, { 0 } };
	e->plan.alerting = (struct plan_system){ "alerting", "scripted", e->yalert, { 0 } };
	e->clk = clock_virtual(T0);
	assert_int_equal(metrics_create(&e->m, e->clk), 0);
	snprintf(path, sizeof(path), "%s/feature-flags.conf", e->dir);
	assert_int_equal(flags_open(&e->flags, path, NULL, err, sizeof(err)), 0);
}

static int
env_open(struct env *e, char *err, size_t errlen)
{
	struct pipeline_opts o;

	memset(&o, 0, sizeof(o));
	o.plan = &e->plan;
	o.data_dir = e->dir;
	o.plugin_dir = plugdir;
	o.clock = e->clk;
	o.metrics = e->m;
	o.flags = e->flags;
	o.wake = count_wake;
	o.wake_ctx = e;
	o.time_scale = e->time_scale;
	return pipeline_open(&e->p, &o, err, errlen);
}

static void
env_free(struct env *e)
{
	char cmd[128];

	pipeline_close(e->p);
	flags_close(e->flags);
	metrics_free(e->m);
	clock_free(e->clk);
	ynode_free(e->ybase);
	ynode_free(e->ycand);
	ynode_free(e->yalert);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

static int
count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Drain until the sink saw WANT lines containing NEEDLE (5 s at most). */
static void
drain_until(struct env *e, const char *needle, int want)
{
	struct timespec ts = { 0, 5 * 1000000L };

	for (int i = 0; i < 4000; i++) {
		pipeline_drain(e->p);
		if (count_lines(e->sink, needle) >= want)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("timed out waiting for %d x %s in the sink", want, needle); /* ~20 s */
}

/* 10 decimals: 2,000,000 DOT = 2e16 planck */
static const char *cand_script =
    "delay: 1ms\n"
    "events:\n"
    "  - first @7 100 5000000000000000 1700000000000\n"
    "  - balance @7 101 5000000000000000 25000000000000000 1700000006000\n"
    "  - metric requests 1\n"
    "  - \"log 1 PANIC: something broke\"\n"
    "  - health 1 connected\n";
static const char *base_script =
    "delay: 1ms\n"
    "events:\n"
    "  - window @8 1699996400000 1700000000000 0 1500000000000000\n";

static void
pipeline__parallel_mode__baseline_delivered_candidate_shadowed(void **state)
{
	struct env e;
	char err[512], reply[256];
	json_t *j, *arr;
	double v;

	(void)state;
	env_init(&e, base_script, cand_script, "scripted");
	assert_int_equal(flags_set(e.flags, "enableParallelMode", "true", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	pipeline_set_log_hook(e.p, log_hook, &e);
	assert_int_equal(pipeline_start(e.p), 0);
	drain_until(&e, LM "\"baseline\"", 1);
	/* wait for the candidate's script to be fully consumed too */
	for (int i = 0;; i++) {
		pipeline_drain(e.p);
		assert_int_equal(pipeline_command(e.p, "candidate", "stats", NULL, reply, sizeof(reply)), 0);
		if (strstr(reply, "\"emitted\":5") && e.nlogs > 0)
			break;
		if (i == 4000)
			fail_msg("candidate script not consumed: %s", reply);
		usleep(5000);
	}
	pipeline_drain(e.p);
	/* only the baseline's alert reached the sink */
	/* (the whale rules raise their own alerts on the same moves; only the
	 * large movement is looked at here) */
	assert_int_equal(count_lines(e.sink, "\"large_movement\""), 1);
	assert_int_equal(count_lines(e.sink, "\"type\":\"large_movement\",\"severity\":1,\"system\":\"baseline\""), 1); /* 150000 DOT: warning */
	j = pipeline_alerts_json(e.p, 0, 100);
	arr = json_object_get(j, "alerts");
	int nlm = 0;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *a = json_array_get(arr, i);
		const char *sys = json_string_value(json_object_get(a, "system"));

		if (strcmp(json_string_value(json_object_get(a, "type")), "large_movement") != 0) {
			/* whatever the other rules raised, routed the same way */
			assert_int_equal(json_is_true(json_object_get(a, "delivered")),
			    strcmp(sys, "baseline") == 0);
			continue;
		}
		nlm++;

		assert_int_equal(json_is_true(json_object_get(a, "delivered")), strcmp(sys, "baseline") == 0);
		if (strcmp(sys, "candidate") == 0) {
			assert_string_equal(json_string_value(json_object_get(a, "amount_tokens")), "2000000");
			assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
			assert_int_equal(json_integer_value(json_object_get(a, "block_to")), 101);
		}
	}
	assert_int_equal(nlm, 2);
	json_decref(j);
	/* plugin metrics, log lines and health reached the runner thread */
	assert_int_equal(metrics_latest(e.m, "candidate.requests", &v), 0);
	assert_true(v == 1.0);
	assert_int_equal(metrics_latest(e.m, "alerts.delivered", &v), 0);
	assert_int_equal(metrics_latest(e.m, "candidate.alert_latency", &v), 0);
	assert_int_equal(metrics_latest(e.m, "bus.depth", &v), 0);
	assert_int_equal(e.nlogs, 1);
	assert_string_equal(e.logs[0], "candidate|PANIC: something broke");
	j = pipeline_health_json(e.p);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "router"), "mode")),
	    "parallel");
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(j, "plugins"),
	    "candidate"), "healthy")));
	json_decref(j);
	pipeline_stop(e.p);
	env_free(&e);
}

static void
pipeline__gradual_100__candidate_delivered(void **state)
{
	struct env e;
	char err[512];
	struct rollout_event ev;

	(void)state;
	env_init(&e, "{}", "{}", "scripted");
	assert_int_equal(flags_set(e.flags, "hybridTrafficPercent", "100", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	assert_int_equal(pipeline_start(e.p), 0);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_BALANCE;
	memset(ev.u.balance.pubkey, 9, 32);
	ev.u.balance.has_before = 1;
	ev.u.balance.block_from = ev.u.balance.block_to = 55;
	ev.u.balance.block_time_ms = ev.u.balance.window_start_ms = ev.u.balance.window_end_ms = T0;
	ev.u.balance.before.free = 0;
	ev.u.balance.after.free = (rollout_u128)200000 * 10000000000ULL;
	assert_int_equal(pipeline_emit(e.p, "candidate", &ev), 0);
	ev.u.balance.block_from = ev.u.balance.block_to = 0;
	ev.u.balance.window_start_ms = T0 - 3600000;
	assert_int_equal(pipeline_emit(e.p, "baseline", &ev), 0);
	assert_int_equal(pipeline_emit(e.p, "nobody", &ev), -ENOENT);
	drain_until(&e, "large_movement", 1);
	pipeline_drain(e.p);
	assert_int_equal(count_lines(e.sink, LM "\"candidate\""), 1);
	assert_int_equal(count_lines(e.sink, "\"system\":\"baseline\""), 0);
	/* the large-movement key ends with the block (consolidation also fires: 0 -> 200k) */
	assert_int_equal(count_lines(e.sink, ":55\",\"type\":\"large_movement\""), 1);
	/* a rollback flips delivery to the baseline at once */
	assert_int_equal(flags_emergency_rollback(e.flags, "test", "drill", err, sizeof(err)), 0);
	ev.u.balance.window_start_ms = T0;
	ev.u.balance.window_end_ms = T0 + 3600000;
	assert_int_equal(pipeline_emit(e.p, "baseline", &ev), 0);
	ev.u.balance.block_from = ev.u.balance.block_to = 900;
	ev.u.balance.block_time_ms = ev.u.balance.window_start_ms = ev.u.balance.window_end_ms = T0 + 7200000;
	assert_int_equal(pipeline_emit(e.p, "candidate", &ev), 0);
	drain_until(&e, LM "\"baseline\"", 1);
	pipeline_drain(e.p);
	assert_int_equal(count_lines(e.sink, LM "\"candidate\""), 1);
	pipeline_stop(e.p);
	env_free(&e);
}

static void
pipeline__commands_and_notifications(void **state)
{
	struct env e;
	char err[512], reply[256];

	(void)state;
	env_init(&e, "{}", "{}", "scripted");
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	assert_int_equal(pipeline_start(e.p), 0);
	assert_int_equal(pipeline_command(e.p, "alerting", "stats", NULL, reply, sizeof(reply)), 0);
	assert_string_equal(reply, "{\"emitted\":0,\"alerts\":0}");
	assert_int_equal(pipeline_command(e.p, "candidate", "nope", NULL, reply, sizeof(reply)), -ENOTSUP);
	assert_non_null(strstr(reply, "unknown command \"nope\""));
	assert_int_equal(pipeline_command(e.p, "candidate", "fail", NULL, reply, sizeof(reply)), -EIO);
	assert_int_equal(pipeline_command(e.p, "nobody", "stats", NULL, reply, sizeof(reply)), -ENOENT);
	assert_int_equal(pipeline_notify(e.p, ROLLOUT_SEV_CRITICAL, "rollout.rollback", "Rolled back",
	    "trigger candidate-errors fired"), 0);
	assert_int_equal(count_lines(e.sink, "\"rollout\":1"), 1);
	assert_int_equal(count_lines(e.sink, "\"system\":\"rollout\""), 1);
	assert_int_equal(pipeline_command(e.p, "alerting", "stats", NULL, reply, sizeof(reply)), 0);
	assert_string_equal(reply, "{\"emitted\":0,\"alerts\":1}");
	/* no events at all: the ticker still wakes the runner for time-based work */
	for (int i = 0; i < 400 && __atomic_load_n(&e.wakes, __ATOMIC_SEQ_CST) == 0; i++)
		usleep(10000);
	assert_true(__atomic_load_n(&e.wakes, __ATOMIC_SEQ_CST) > 0);
	pipeline_stop(e.p);
	env_free(&e);
}

static void
pipeline_open__plugin_failures__one_clear_line(void **state)
{
	struct env e;
	char err[512];

	(void)state;
	env_init(&e, "{}", "answer: 99\n", "bad_init");
	assert_int_equal(env_open(&e, err, sizeof(err)), -EINVAL);
	assert_null(e.p);
	assert_non_null(strstr(err, "plugin candidate (bad_init): "));
	assert_non_null(strstr(err, "/bad_init.so: init failed: plan.yaml:1:9: candidate: answer: 99 is out of range [0, 10]"));
	env_free(&e);

	env_init(&e, "{}", "{}", "no_such_plugin");
	assert_int_equal(env_open(&e, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "plugin candidate (no_such_plugin): "));
	assert_non_null(strstr(err, "no_such_plugin.so: No such file or directory"));
	env_free(&e);

	env_init(&e, "{}", "{}", "bad_abi");
	assert_int_equal(env_open(&e, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "plugin candidate (bad_abi): "));
	env_free(&e);

	env_init(&e, "{}", "fail_start: true\n", "scripted");
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	assert_int_equal(pipeline_start(e.p), -EIO);
	env_free(&e);

	env_init(&e, "{}", "events: 5\n", "scripted");
	assert_int_equal(env_open(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:1:9: candidate: events: expected a list of strings"));
	env_free(&e);
}

/*
 * --speed 100: the clock runs 100 times real time.  A candidate change seen
 * 200 s (clock) after its block time took 2 s of processing, and that is
 * what candidate.alert_latency must record (wall-clock seconds).
 */
static void
pipeline__time_scale__alert_latency_in_wall_seconds(void **state)
{
	struct env e;
	char err[512];
	struct rollout_event ev;
	double v = -1;

	(void)state;
	env_init(&e, "{}", "{}", "scripted");
	e.time_scale = 100;
	assert_int_equal(flags_set(e.flags, "hybridTrafficPercent", "100", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	assert_int_equal(pipeline_start(e.p), 0);
	clock_set(e.clk, T0 + 200000);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_BALANCE;
	memset(ev.u.balance.pubkey, 9, 32);
	ev.u.balance.has_before = 1;
	ev.u.balance.block_from = ev.u.balance.block_to = 55;
	ev.u.balance.block_time_ms = ev.u.balance.window_start_ms = ev.u.balance.window_end_ms = T0;
	ev.u.balance.observed_ms = T0 + 200000;
	ev.u.balance.before.free = 0;
	ev.u.balance.after.free = (rollout_u128)200000 * 10000000000ULL;
	assert_int_equal(pipeline_emit(e.p, "candidate", &ev), 0);
	drain_until(&e, "large_movement", 1);
	assert_int_equal(metrics_latest(e.m, "candidate.alert_latency", &v), 0);
	assert_true(fabs(v - 2.0) < 1e-9);
	pipeline_stop(e.p);
	env_free(&e);

	/* time_scale 0 (real time): the clock difference as it is */
	env_init(&e, "{}", "{}", "scripted");
	assert_int_equal(flags_set(e.flags, "hybridTrafficPercent", "100", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(env_open(&e, err, sizeof(err)), 0);
	assert_int_equal(pipeline_start(e.p), 0);
	clock_set(e.clk, T0 + 3000);
	assert_int_equal(pipeline_emit(e.p, "candidate", &ev), 0);
	drain_until(&e, "large_movement", 1);
	assert_int_equal(metrics_latest(e.m, "candidate.alert_latency", &v), 0);
	assert_true(fabs(v - 3.0) < 1e-9);
	pipeline_stop(e.p);
	env_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipeline__parallel_mode__baseline_delivered_candidate_shadowed),
		cmocka_unit_test(pipeline__gradual_100__candidate_delivered),
		cmocka_unit_test(pipeline__time_scale__alert_latency_in_wall_seconds),
		cmocka_unit_test(pipeline__commands_and_notifications),
		cmocka_unit_test(pipeline_open__plugin_failures__one_clear_line),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

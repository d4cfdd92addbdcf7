/*
 * test_whale_pipeline.c — the whale rules inside the pipeline with real
 * plugins (scripted.so as baseline, candidate and sink): the plan's rules:
 * block reaches both systems, whale alerts are routed and delivered, the
 * last activity lands in the data directory, and the shadow comparator
 * matches only what both systems can see (a baseline-only whale_entry /
 * whale_exit is never counted as missed).
 */
#include <errno.h>
#include <limits.h>
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
#include <jansson.h>

#include "clock.h"
#include "flags.h"
#include "log.h"
#include "test_plugins.h"
#include "expr.h"
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
#include "router.h"
#include "ynode.h"

#define T0 1700000000000LL

static char plugdir[PATH_MAX + 16];

static int
setup(void **state)
{
	(void)state;
	log_set_plain(1);
	log_set_level(LOG_LVL_ERROR);
	return test_plugin_dir(plugdir, sizeof(plugdir));
}

static struct ynode *
yaml(const char *text)
{
	struct ynode *n;
	char err[256];

	assert_int_equal(ynode_load_buffer("plan.yaml", text, strlen(text), &n, err, sizeof(err)), 0);
	return n;
}

static int
count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* 10 decimals: 1 DOT = 1e10 planck */
static const char *base_script =
    "delay: 1ms\n"
    "events:\n"
    "  - snapshot 1700000000000 @1=50000000000000000 @2=30000000000000000 @3=20000000000000000\n"
    "  - snapshot 1700000060000 @1=40000000000000000 @4=30000000000000000:Kraken @3=20000000000000000\n"
    "  - window @1 1700000000000 1700000060000 50000000000000000 40000000000000000\n";
static const char *cand_script =
    "delay: 1ms\n"
    "events:\n"
    "  - balance @1 100 50000000000000000 40000000000000000 1700000030000\n";

static void
whale_pipeline__rules_block__alerts_routed_comparator_skips_one_sided(void **state)
{
	char dir[] = "/tmp/test_whale_pipeline.XXXXXX", sink[128], path[256], err[512], reply[256];
	char cmd[300], alert_yaml[200];
	struct ynode *yb, *yc, *ya, *yr;
	struct plan plan;
	struct clock *clk;
	struct metrics *m;
	struct flags *fl;
	struct pipeline *p = NULL;
	struct pipeline_opts o;
	json_t *j;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sink, sizeof(sink), "%s/sink.jsonl", dir);
	snprintf(alert_yaml, sizeof(alert_yaml), "sink_file: %s\n", sink);
	yb = yaml(base_script);
	yc = yaml(cand_script);
	ya = yaml(alert_yaml);
	yr = yaml("exchange_flow: { patterns: [ \"(?i)kraken\" ] }\nwhale_list: { critical: 2000000 }\n");
	memset(&plan, 0, sizeof(plan));
	plan.version = 1;
	plan.name = "whale-plan";
	plan.chain = "polkadot";
	plan.salt = "s";
	plan.baseline = (struct plan_system){ "baseline", "scripted", yb, { 0 } };
	plan.candidate = (struct plan_system){ "candidate", "scripted", yc, { 0 } };
	plan.alerting = (struct plan_system){ "alerting", "scripted", ya, { 0 } };
	plan.rules = yr;
	clk = clock_virtual(T0 + 61000);
	assert_int_equal(metrics_create(&m, clk), 0);
	snprintf(path, sizeof(path), "%s/feature-flags.conf", dir);
	assert_int_equal(flags_open(&fl, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(fl, "enableParallelMode", "true", "test", NULL, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	o.plan = &plan;
	o.data_dir = dir;
	o.plugin_dir = plugdir;
	o.clock = clk;
	o.metrics = m;
	o.flags = fl;
	if (pipeline_open(&p, &o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(pipeline_start(p), 0);
	for (i = 0;; i++) {
		int done = 1;

		pipeline_drain(p);
		assert_int_equal(pipeline_command(p, "baseline", "stats", NULL, reply, sizeof(reply)), 0);
		done &= strstr(reply, "\"emitted\":3") != NULL;
		assert_int_equal(pipeline_command(p, "candidate", "stats", NULL, reply, sizeof(reply)), 0);
		done &= strstr(reply, "\"emitted\":1") != NULL;
		if (done && count_lines(sink, "rapid_draining") >= 1)
			break;
		if (i == 4000)
			fail_msg("scripts not consumed: %s", reply);
		usleep(5000);
	}
	pipeline_drain(p);
	/* the baseline's alerts were delivered (parallel mode), the candidate's shadowed */
	assert_int_equal(count_lines(sink, "whale_entry"), 1);
	assert_int_equal(count_lines(sink, "whale_exit"), 1);
	assert_int_equal(count_lines(sink, "exchange_flow"), 0); /* @4 did not move */
	assert_int_equal(count_lines(sink, "\"large_movement"), 1);
	assert_int_equal(count_lines(sink, "\"rapid_draining"), 1);
	assert_int_equal(count_lines(sink, "\"system\":\"candidate\""), 0);
	j = pipeline_alerts_json(p, 0, 50);
	{
		json_t *arr = json_object_get(j, "alerts");
		int cand_drain = 0;

		for (size_t k = 0; k < json_array_size(arr); k++) {
			json_t *a = json_array_get(arr, k);

			if (strcmp(json_string_value(json_object_get(a, "system")), "candidate") == 0 &&
			    strcmp(json_string_value(json_object_get(a, "type")), "rapid_draining") == 0)
				cand_drain++;
		}
		assert_int_equal(cand_drain, 1); /* same rules on the candidate side */
	}
	json_decref(j);
	/* each system keeps the last activity of @1 under the data directory */
	pipeline_sync(p);
	snprintf(path, sizeof(path), "%s/rules/candidate/activity/"
	    "0101010101010101010101010101010101010101010101010101010101010101.json", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/rules/baseline/activity/"
	    "0101010101010101010101010101010101010101010101010101010101010101.json", dir);
	assert_int_equal(access(path, R_OK), 0);
	/* after the lag: the movements both saw are matched, the list alerts are not missed */
	assert_int_equal(clock_set(clk, T0 + 600000), 0);
	pipeline_drain(p);
	j = pipeline_shadow_json(p);
	assert_int_equal(json_integer_value(json_object_get(j, "missed")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "matched")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "extra")), 0);
	json_decref(j);
	pipeline_stop(p);
	pipeline_close(p);
	flags_close(fl);
	metrics_free(m);
	clock_free(clk);
	ynode_free(yb);
	ynode_free(yc);
	ynode_free(ya);
	ynode_free(yr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the baseline's facts reach both rule sets; one system delivers each ------------------- */

#define NW 40
#define TOKP ((rollout_u128)10000000000ULL)

static void
wpk(uint8_t pk[32], int id)
{
	memset(pk, 0x11, 32);
	pk[0] = (uint8_t)id;
}

/* DIR/rules/SYS/activity/<hex of wpk(ID)>.json */
static void
act_path(char *buf, size_t len, const char *dir, const char *sys, int id)
{
	char hex[65];

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", i == 0 ? id : 0x11);
	snprintf(buf, len, "%s/rules/%s/activity/%s.json", dir, sys, hex);
}

static void
emit_transfers(struct pipeline *p, const char *tag)
{
	struct rollout_event ev;

	for (int i = 1; i <= NW; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.size = sizeof(ev);
		ev.kind = ROLLOUT_EV_TRANSFER;
		wpk(ev.u.transfer.from, i);
		wpk(ev.u.transfer.to, 99);
		ev.u.transfer.amount = 20000 * TOKP;
		ev.u.transfer.block = 1000 + (uint64_t)i;
		ev.u.transfer.block_time_ms = T0 + 30000;
		snprintf(ev.u.transfer.id, sizeof(ev.u.transfer.id), "%s-%d", tag, i);
		assert_int_equal(pipeline_emit(p, "baseline", &ev), 0);
	}
}

static void
whale_pipeline__activity_and_transfers__both_rule_sets_one_delivery(void **state)
{
	char dir[] = "/tmp/test_whale_pipeline.XXXXXX", path[256], err[512], cmd[300];
	struct rollout_snapshot_entry e[NW + 1];
	struct rollout_event ev;
	struct plan plan;
	struct clock *clk;
	struct metrics *m;
	struct flags *fl;
	struct pipeline *p = NULL;
	struct pipeline_opts o;
	struct router *rt;
	json_t *j, *arr;
	int delivered[NW + 1] = { 0 }, raised[2] = { 0, 0 }, by_cand = 0, dormant = 0;
	double v;
	size_t ns;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&plan, 0, sizeof(plan));
	plan.version = 1;
	plan.name = "whale-plan";
	plan.chain = "polkadot";
	plan.salt = "facts";
	clk = clock_virtual(T0 + 61000);
	assert_int_equal(metrics_create(&m, clk), 0);
	snprintf(path, sizeof(path), "%s/feature-flags.conf", dir);
	assert_int_equal(flags_open(&fl, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(fl, "enableHybridSystem", "true", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(fl, "hybridTrafficPercent", "50", "test", NULL, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	o.plan = &plan;
	o.data_dir = dir;
	o.clock = clk;
	o.metrics = m;
	o.flags = fl;
	o.no_plugins = 1;
	if (pipeline_open(&p, &o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* the baseline's list: whales 1..NW and an exchange (tag_type) */
	memset(e, 0, sizeof(e));
	for (int i = 0; i <= NW; i++) {
		wpk(e[i].pubkey, i < NW ? i + 1 : 99);
		e[i].rank = (uint32_t)i + 1;
		e[i].total = e[i].data.free = (rollout_u128)(5000000 - i) * TOKP;
	}
	snprintf(e[NW].tag_type, sizeof(e[NW].tag_type), "Exchange");
	snprintf(e[NW].tag_name, sizeof(e[NW].tag_name), "Binance.com");
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	ev.u.snapshot.taken_ms = T0;
	ev.u.snapshot.count = NW + 1;
	ev.u.snapshot.entries = e;
	assert_int_equal(pipeline_emit(p, "baseline", &ev), 0);
	/* seeds: whale 1 last moved 200 days ago, whale 2 never (found 0) */
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_ACTIVITY;
	wpk(ev.u.activity.pubkey, 1);
	ev.u.activity.found = 1;
	ev.u.activity.last_ms = T0 - 200LL * 86400000;
	ev.u.activity.block = 12345;
	snprintf(ev.u.activity.source, sizeof(ev.u.activity.source), "subscan.transfers");
	assert_int_equal(pipeline_emit(p, "baseline", &ev), 0);
	wpk(ev.u.activity.pubkey, 2);
	ev.u.activity.found = 0;
	ev.u.activity.last_ms = 0;
	assert_int_equal(pipeline_emit(p, "baseline", &ev), 0);
	emit_transfers(p, "t");
	pipeline_drain(p);
	/* the seed is in both systems' activity files; found 0 wrote nothing */
	pipeline_sync(p);
	act_path(path, sizeof(path), dir, "baseline", 1);
	assert_int_equal(count_lines(path, "\"last_activity_ms\":1682720000000"), 1);
	assert_int_equal(count_lines(path, "subscan.transfers"), 1);
	act_path(path, sizeof(path), dir, "candidate", 1);
	assert_int_equal(count_lines(path, "\"last_activity_ms\":1682720000000"), 1);
	act_path(path, sizeof(path), dir, "candidate", 2);
	assert_int_not_equal(access(path, F_OK), 0);
	/* the top list of each system is saved */
	snprintf(path, sizeof(path), "%s/rules/baseline/top.json", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/rules/candidate/top.json", dir);
	assert_int_equal(access(path, R_OK), 0);
	/* every deposit raised by both, delivered by exactly the system serving the whale */
	assert_int_equal(router_create(&rt, "facts"), 0);
	j = pipeline_alerts_json(p, 0, 1000);
	arr = json_object_get(j, "alerts");
	for (size_t k = 0; k < json_array_size(arr); k++) {
		json_t *a = json_array_get(arr, k);
		const char *sys = json_string_value(json_object_get(a, "system"));
		int cand = strcmp(sys, "candidate") == 0, id = -1;
		uint8_t pk[32];

		assert_string_equal(json_string_value(json_object_get(a, "type")), "exchange_deposit");
		raised[cand]++;
		for (int i = 1; i <= NW; i++) {
			char key[32];

			snprintf(key, sizeof(key), ":t-%d", i);
			if (strstr(json_string_value(json_object_get(a, "key")), key) &&
			    strlen(strstr(json_string_value(json_object_get(a, "key")), key)) == strlen(key))
				id = i;
		}
		assert_true(id > 0);
		if (!json_is_true(json_object_get(a, "delivered")))
			continue;
		wpk(pk, id);
		assert_int_equal(cand, router_candidate_serves(rt, ROUTER_GRADUAL, 50, pk));
		delivered[id]++;
		by_cand += cand;
	}
	json_decref(j);
	assert_int_equal(raised[0], NW);
	assert_int_equal(raised[1], NW);
	for (int i = 1; i <= NW; i++)
		assert_int_equal(delivered[i], 1);
	assert_true(by_cand > 0 && by_cand < NW); /* both systems own some whales at 50 % */
	/* no latency samples from the baseline's polling delay */
	assert_false(metrics_window(m, "candidate.alert_latency", EXPR_FN_COUNT, 3600000, &v, &ns) == 0 &&
	    ns > 0);
	/* the same transfers again: nothing new */
	emit_transfers(p, "t");
	pipeline_drain(p);
	j = pipeline_alerts_json(p, 0, 1000);
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 2 * NW);
	json_decref(j);
	/* parallel mode (traffic 0): every new transfer is delivered by the baseline only */
	assert_int_equal(flags_set(fl, "hybridTrafficPercent", "0", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(flags_set(fl, "enableParallelMode", "true", "test", NULL, err, sizeof(err)), 0);
	emit_transfers(p, "p");
	pipeline_drain(p);
	j = pipeline_alerts_json(p, 0, 2 * NW);
	arr = json_object_get(j, "alerts");
	assert_int_equal(json_array_size(arr), 2 * NW);
	for (size_t k = 0; k < json_array_size(arr); k++) {
		json_t *a = json_array_get(arr, k);
		int cand = strcmp(json_string_value(json_object_get(a, "system")), "candidate") == 0;

		assert_non_null(strstr(json_string_value(json_object_get(a, "key")), ":p-"));
		assert_int_equal(json_is_true(json_object_get(a, "delivered")), !cand);
	}
	json_decref(j);
	/* traffic 100: a new list (whale 40 replaced by 41): the entry and the exit come
	 * from the candidate (it serves every account), once each */
	assert_int_equal(flags_set(fl, "hybridTrafficPercent", "100", "test", NULL, err, sizeof(err)),
	    0);
	wpk(e[NW - 1].pubkey, 41);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	ev.u.snapshot.taken_ms = T0 + 600000;
	ev.u.snapshot.count = NW + 1;
	ev.u.snapshot.entries = e;
	assert_int_equal(pipeline_emit(p, "baseline", &ev), 0);
	pipeline_drain(p);
	j = pipeline_alerts_json(p, 0, 4);
	arr = json_object_get(j, "alerts");
	{
		int entry = 0, exit_ = 0;

		for (size_t k = 0; k < json_array_size(arr); k++) {
			json_t *a = json_array_get(arr, k);
			const char *type = json_string_value(json_object_get(a, "type"));
			int cand = strcmp(json_string_value(json_object_get(a, "system")), "candidate") == 0;

			assert_int_equal(json_is_true(json_object_get(a, "delivered")), cand);
			entry += strcmp(type, "whale_entry") == 0 && cand;
			exit_ += strcmp(type, "whale_exit") == 0 && cand;
		}
		assert_int_equal(entry, 1);
		assert_int_equal(exit_, 1);
	}
	json_decref(j);
	/* whale 1 moves (both systems see it): a dormant awakening from the seed, 200 days */
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_BALANCE;
	wpk(ev.u.balance.pubkey, 1);
	ev.u.balance.block_from = ev.u.balance.block_to = 2000;
	ev.u.balance.block_time_ms = ev.u.balance.window_start_ms = ev.u.balance.window_end_ms = T0;
	ev.u.balance.observed_ms = T0 + 10;
	ev.u.balance.has_before = 1;
	ev.u.balance.known_mask = ROLLOUT_KNOW_ALL;
	ev.u.balance.before.free = 5000000 * TOKP;
	ev.u.balance.after.free = 4999000 * TOKP;
	assert_int_equal(pipeline_emit(p, "candidate", &ev), 0);
	pipeline_drain(p);
	j = pipeline_alerts_json(p, 0, 10);
	arr = json_object_get(j, "alerts");
	for (size_t k = 0; k < json_array_size(arr); k++) {
		json_t *a = json_array_get(arr, k);

		if (strcmp(json_string_value(json_object_get(a, "type")), "dormant_awakening") == 0) {
			dormant++;
			assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
			assert_non_null(strstr(json_string_value(json_object_get(a, "message")),
			    "after 200d without"));
			assert_non_null(strstr(json_string_value(json_object_get(a, "message")),
			    "subscan.transfers, block #12345"));
		}
	}
	json_decref(j);
	assert_int_equal(dormant, 1);
	/* after the comparator's lag: transfers are neither missed nor extra */
	assert_int_equal(clock_set(clk, T0 + 3600000), 0);
	pipeline_drain(p);
	j = pipeline_shadow_json(p);
	assert_int_equal(json_integer_value(json_object_get(j, "missed")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "extra")), 0);
	json_decref(j);
	router_free(rt);
	pipeline_close(p);
	flags_close(fl);
	metrics_free(m);
	clock_free(clk);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whale_pipeline__rules_block__alerts_routed_comparator_skips_one_sided),
		cmocka_unit_test(whale_pipeline__activity_and_transfers__both_rule_sets_one_delivery),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

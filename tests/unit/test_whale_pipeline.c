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
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whale_pipeline__rules_block__alerts_routed_comparator_skips_one_sided),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

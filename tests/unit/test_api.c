/*
 * test_api.c — the API's routing and rules against a real engine, flag
 * store and journal on a virtual clock (no sockets: requests are handed to
 * api_handle() as the listener would).  The emergency rollback is checked
 * over a corrupt flags file, where every other write is refused.
 */
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
#include <jansson.h>

#include "api.h"
#include "clock.h"
#include "engine.h"
#include "flags.h"
#include "fsutil.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "promexp.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define AUTH "Bearer " TOKEN

struct fx {
	char dir[64], state_dir[128], flags_path[160], journal_path[160];
	struct clock *clk;
	struct metrics *m;
	struct flags *f;
	struct journal *j;
	struct plan *plan;
	struct engine *e;
	struct promexp *prom;
	struct api *api;
	int changed;
};

static void
on_changed(void *ctx)
{
	((struct fx *)ctx)->changed++;
}

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof *x);
	struct engine_opts eo = { 0 };
	struct api_opts ao = { 0 };
	char err[1024];

	snprintf(x->dir, sizeof x->dir, "/tmp/test_api.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->state_dir, sizeof x->state_dir, "%s/state", x->dir);
	snprintf(x->flags_path, sizeof x->flags_path, "%s/config/feature-flags.conf", x->dir);
	snprintf(x->journal_path, sizeof x->journal_path, "%s/journal.jsonl", x->state_dir);
	assert_int_equal(fs_mkdir_p(x->state_dir, 0700), 0);
	x->clk = clock_virtual(1700000000000LL);
	assert_int_equal(metrics_create(&x->m, x->clk), 0);
	assert_int_equal(journal_open(&x->j, x->journal_path, err, sizeof err), 0);
	assert_int_equal(flags_open(&x->f, x->flags_path, x->journal_path, err, sizeof err), 0);
	assert_int_equal(plan_load("tests/e2e/plans-api/api.yaml", &x->plan, NULL, NULL), 0);
	eo.plan = x->plan;
	eo.state_dir = x->state_dir;
	eo.clock = x->clk;
	eo.metrics = x->m;
	eo.flags = x->f;
	eo.journal = x->j;
	assert_int_equal(engine_open(&x->e, &eo, err, sizeof err), 0);
	engine_tick(x->e);
	assert_int_equal(promexp_create(&x->prom), 0);
	ao.plan = x->plan;
	ao.engine = x->e;
	ao.flags = x->f;
	ao.metrics = x->m;
	ao.clock = x->clk;
	ao.journal = x->j;
	ao.prom = x->prom;
	ao.journal_path = x->journal_path;
	ao.token = TOKEN;
	ao.speed = 1;
	ao.version = "test";
	ao.changed = on_changed;
	ao.ctx = x;
	assert_int_equal(api_create(&x->api, &ao), 0);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	char cmd[128];

	api_free(x->api);
	promexp_free(x->prom);
	engine_close(x->e);
	plan_free(x->plan);
	flags_close(x->f);
	journal_close(x->j);
	metrics_free(x->m);
	clock_free(x->clk);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", x->dir);
	free(x);
	return 0;
}

/* Hand one request to the API; returns the status, *BODY the parsed JSON (caller decrefs). */
static int
req(struct api *a, enum http_method m, const char *path, const char *query, const char *body,
    const char *auth, json_t **out, struct http_response *keep)
{
	struct http_request rq = { 0 };
	struct http_response rs = { 0 };
	int status;

	rq.method = m;
	rq.path = path;
	rq.query = query ? query : "";
	rq.body = body ? body : "";
	rq.body_len = strlen(rq.body);
	rq.authorization = auth;
	rq.peer = "127.0.0.1";
	api_handle(a, &rq, &rs);
	status = rs.status;
	if (out != NULL)
		*out = rs.body ? json_loadb(rs.body, rs.len, 0, NULL) : NULL;
	if (keep != NULL)
		*keep = rs;
	else
		free(rs.body);
	return status;
}

static const char *
err_of(json_t *o)
{
	return json_string_value(json_object_get(o, "error"));
}

static void
api__reads_and_auth(void **state)
{
	struct fx *x = *state;
	struct http_response rs;
	json_t *o = NULL;

	assert_int_equal(req(x->api, HTTP_GET, "/api/status", NULL, NULL, NULL, &o, NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "paused");
	assert_string_equal(json_string_value(json_object_get(o, "phase")), "approval");
	assert_int_equal(json_array_size(json_object_get(o, "phases")), 3);
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_GET, "/api/health", NULL, NULL, NULL, &o, NULL), 200);
	assert_true(json_is_true(json_object_get(o, "journal_writable")));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_GET, "/api/history", "limit=2", NULL, NULL, &o, NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o, "entries")), 2);
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_GET, "/api/history", "limit=1001", NULL, NULL, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "query \"limit\""));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_GET, "/api/nope", NULL, NULL, NULL, NULL, NULL), 404);

	assert_int_equal(req(x->api, HTTP_GET, "/api/rollout/abort", NULL, NULL, NULL, NULL, &rs), 405);
	assert_string_equal(rs.allow, "POST");
	free(rs.body);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, NULL, NULL, NULL, &rs), 401);
	assert_true(rs.www_authenticate);
	free(rs.body);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, NULL,
	    "Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF", NULL, NULL), 401);
	assert_int_equal(engine_state(x->e), ENG_PAUSED);
	assert_int_equal(x->changed, 0);
}

static void
api__bodies_validated_with_field_names(void **state)
{
	struct fx *x = *state;
	json_t *o = NULL;

	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, "{\"full\":", AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "invalid JSON at line 1"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, "\"x\"", AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "expected a JSON object, got a string"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, "{\"full\":1}", AUTH, &o, NULL), 400);
	assert_string_equal(err_of(o), "field \"full\": expected a boolean, got an integer");
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, "{\"who\":7}", AUTH, &o, NULL), 400);
	assert_string_equal(err_of(o), "field \"who\": expected a string, got an integer");
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/phase", NULL, "{\"nam\":\"x\"}", AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "field \"nam\": unknown field (known: who, reason, name)"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/phase", NULL, "{}", AUTH, &o, NULL), 400);
	assert_string_equal(err_of(o), "field \"name\": required");
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, "{\"full\":true,\"full\":false}",
	    AUTH, &o, NULL), 400);
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/hybridTrafficPercent", NULL, "{\"value\":101}",
	    AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "out of range"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/hybridTrafficPercent", NULL, "{\"value\":1.5}",
	    AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "is an integer, got a number"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/emergencyRollback", NULL, "{\"value\":\"true\"}",
	    AUTH, &o, NULL), 400);
	assert_non_null(strstr(err_of(o), "is a boolean, got a string"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/nope", NULL, "{\"value\":1}", AUTH, NULL, NULL), 404);
	assert_int_equal(flags_get_int(x->f, "hybridTrafficPercent"), 0);
	assert_int_equal(engine_state(x->e), ENG_PAUSED);
}

static void
api__actions_reach_the_engine_and_journal(void **state)
{
	struct fx *x = *state;
	json_t *o = NULL;
	char *text = NULL;
	size_t len;

	assert_int_equal(req(x->api, HTTP_POST, "/api/emergency/pause", NULL, NULL, AUTH, &o, NULL), 409);
	assert_non_null(strstr(err_of(o), "pause"));
	json_decref(o);
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL,
	    "{\"reason\":\"unit\",\"who\":\"tester\"}", AUTH, &o, NULL), 200);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	assert_true(x->changed > 0);
	engine_tick(x->e);
	assert_int_equal(engine_state(x->e), ENG_HOLDING);
	assert_int_equal(engine_traffic(x->e), 10);
	assert_int_equal(flags_get_int(x->f, "hybridTrafficPercent"), 10);
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/enableParallelMode", NULL, "{\"value\":true}",
	    AUTH, &o, NULL), 200);
	json_decref(o);
	assert_true(flags_get_bool(x->f, "enableParallelMode"));
	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/phase", NULL, "{\"name\":\"nope\"}", AUTH, NULL,
	    NULL), 404);
	assert_int_equal(req(x->api, HTTP_POST, "/api/plugins/candidate/stats", NULL, NULL, AUTH, NULL,
	    NULL), 503);
	assert_int_equal(fs_read_all(x->journal_path, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "\"kind\":\"api\",\"who\":\"tester\",\"addr\":\"127.0.0.1\","
	    "\"route\":\"/api/rollout/promote\",\"status\":200"));
	assert_non_null(strstr(text, "\"route\":\"/api/emergency/pause\",\"status\":409"));
	free(text);
}

static void
api_emergency_rollback__corrupt_flags_file__still_rolls_back(void **state)
{
	struct fx *x = *state;
	struct engine_actor who = { "signal", NULL, "unit test" };
	char err[512], corrupt[200], *text = NULL;
	json_t *o = NULL;
	size_t len;
	FILE *f;

	assert_int_equal(req(x->api, HTTP_POST, "/api/rollout/promote", NULL, NULL, AUTH, NULL, NULL), 200);
	engine_tick(x->e);
	assert_int_equal(flags_get_int(x->f, "hybridTrafficPercent"), 10);
	f = fopen(x->flags_path, "w");
	fputs("hybridTrafficPercent = = 10;\n", f);
	fclose(f);
	assert_true(flags_reload(x->f, err, sizeof err) < 0);
	assert_true(flags_broken(x->f));
	/* ordinary writes are refused */
	assert_int_equal(req(x->api, HTTP_POST, "/api/flags/hybridTrafficPercent", NULL, "{\"value\":5}",
	    AUTH, &o, NULL), 409);
	json_decref(o);
	/* the emergency rollback is not */
	assert_int_equal(api_emergency_rollback(x->api, &who, err, sizeof err), 0);
	assert_false(flags_broken(x->f));
	assert_true(flags_get_bool(x->f, "emergencyRollback"));
	assert_int_equal(flags_traffic(x->f), 0);
	assert_false(flags_get_bool(x->f, "enableHybridSystem"));
	assert_int_equal(engine_state(x->e), ENG_ROLLED_BACK);
	snprintf(corrupt, sizeof corrupt, "%s.corrupt", x->flags_path);
	assert_int_equal(access(corrupt, F_OK), 0);
	assert_int_equal(fs_read_all(x->flags_path, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "emergencyRollback = true;"));
	assert_non_null(strstr(text, "hybridTrafficPercent = 0;"));
	free(text);
	assert_int_equal(req(x->api, HTTP_GET, "/api/safety", NULL, NULL, NULL, &o, NULL), 200);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "last_emergency_rollback"),
	    "who")), "signal");
	assert_true(json_is_true(json_object_get(json_object_get(o, "last_emergency_rollback"),
	    "flags_written")));
	json_decref(o);
}

static void
api__read_only_refuses_posts(void **state)
{
	struct fx *x = *state;
	struct api_opts ao = { 0 };
	struct api *ro = NULL;
	json_t *o = NULL;

	ao.engine = x->e;
	ao.flags = x->f;
	ao.token = TOKEN;
	ao.read_only = 1;
	assert_int_equal(api_create(&ro, &ao), 0);
	assert_int_equal(req(ro, HTTP_POST, "/api/emergency/rollback", NULL, NULL, AUTH, &o, NULL), 403);
	assert_non_null(strstr(err_of(o), "read-only"));
	json_decref(o);
	assert_int_equal(req(ro, HTTP_GET, "/api/flags", NULL, NULL, NULL, NULL, NULL), 200);
	assert_false(flags_get_bool(x->f, "emergencyRollback"));
	/* no plan and no journal: not ready */
	assert_int_equal(req(ro, HTTP_GET, "/api/health", NULL, NULL, NULL, &o, NULL), 503);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "unavailable");
	json_decref(o);
	api_free(ro);
}

static void
api__snapshot_and_prometheus(void **state)
{
	struct fx *x = *state;
	struct http_response rs;
	json_t *o;
	size_t len = 0;
	char *s;

	metrics_record(x->m, "candidate.alert_latency", 0.3);
	s = api_ws_snapshot(x->api, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "snapshot");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "status"), "state")), "paused");
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(o, "metrics"),
	    "series"), "candidate.alert_latency")), 1);
	json_decref(o);
	free(s);
	clock_set(x->clk, 1700000001000LL);
	assert_int_equal(req(x->api, HTTP_GET, "/metrics", NULL, NULL, NULL, NULL, &rs), 200);
	assert_string_equal(rs.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(rs.body, "rolloutd_state{state=\"paused\"} 1\n"));
	assert_non_null(strstr(rs.body,
	    "rolloutd_system_alert_latency_seconds_count{system=\"candidate\"} 1\n"));
	free(rs.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(api__reads_and_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(api__bodies_validated_with_field_names, setup, teardown),
		cmocka_unit_test_setup_teardown(api__actions_reach_the_engine_and_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(api_emergency_rollback__corrupt_flags_file__still_rolls_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(api__read_only_refuses_posts, setup, teardown),
		cmocka_unit_test_setup_teardown(api__snapshot_and_prometheus, setup, teardown),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

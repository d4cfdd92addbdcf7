/* test_state.c — state.json round trip and precise errors. */
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

#include "fsutil.h"
#include "state.h"

static void
state_save_load__round_trip__identical(void **state)
{
	struct rollout_state a = { 0 }, b;
	char dir[64], path[128], err[256];
	int64_t m[2] = { 111, 222 };
	struct state_gate g[2] = { { 1, 2 }, { 0, 3 } };
	struct state_trigger t[1] = { { 2, 2, m } };
	json_t *ja, *jb;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(a.plan_name, sizeof(a.plan_name), "p");
	snprintf(a.plan_sha256, sizeof(a.plan_sha256), "%064d", 7);
	a.seq = 42;
	a.state = ENG_PAUSED;
	a.pause_reason = PAUSE_INCONCLUSIVE;
	a.paused_from = ENG_GATING;
	a.phase = 2;
	a.step = 3;
	a.hold_until_ms = 1767225600000LL;
	a.traffic = 15;
	a.last_drill_ms = -1;
	a.rollbacks = 1;
	a.host_cursor = 9;
	a.gates = g;
	a.ngates = 2;
	a.triggers = t;
	a.ntriggers = 1;
	a.pending = json_pack("{s:i}", "seq", 42);
	assert_int_equal(state_save(path, &a), 0);
	assert_int_equal(state_load(path, &b, err, sizeof(err)), 0);
	ja = state_to_json(&a);
	jb = state_to_json(&b);
	assert_true(json_equal(ja, jb));
	assert_int_equal(b.triggers[0].matches[1], 222);
	assert_int_equal(b.pause_reason, PAUSE_INCONCLUSIVE);
	json_decref(ja);
	json_decref(jb);
	json_decref(a.pending);
	state_clear(&b);
	assert_int_equal(state_load("/nonexistent/state.json", &b, err, sizeof(err)), -ENOENT);
	/* a wrong field is named */
	{
		static const char bad[] = "{\"version\":1,\"plan\":{\"name\":\"p\",\"sha256\":\"x\"},\"seq\":\"x\"}";

		assert_int_equal(fs_write_atomic(path, bad, strlen(bad), 0644), 0);
	}
	assert_int_equal(state_load(path, &b, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "field \"seq\""));
	assert_int_equal(fs_write_atomic(path, "{", 1, 0644), 0);
	assert_int_equal(state_load(path, &b, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "state.json:1:"));
	unlink(path);
	rmdir(dir);
}

static void
state_save_load__storage_pause_and_unjournaled__kept(void **state)
{
	struct rollout_state a = { 0 }, b;
	char dir[64], path[128], err[256];
	json_t *ja, *jb;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(a.plan_name, sizeof(a.plan_name), "p");
	snprintf(a.plan_sha256, sizeof(a.plan_sha256), "%064d", 7);
	a.seq = 7;
	a.state = ENG_PAUSED;
	a.pause_reason = PAUSE_STORAGE;
	a.paused_from = ENG_HOLDING;
	a.last_drill_ms = -1;
	a.pending = json_pack("{s:i, s:s}", "seq", 7, "kind", "transition");
	a.unjournaled = json_pack("[{s:i}, {s:i}]", "seq", 5, "seq", 6);
	assert_string_equal(state_pause_reason_name(PAUSE_STORAGE), "storage");
	assert_int_equal(state_save(path, &a), 0);
	assert_int_equal(state_load(path, &b, err, sizeof(err)), 0);
	assert_int_equal(b.pause_reason, PAUSE_STORAGE);
	assert_int_equal(json_array_size(b.unjournaled), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(b.unjournaled, 1), "seq")), 6);
	ja = state_to_json(&a);
	jb = state_to_json(&b);
	assert_true(json_equal(ja, jb));
	json_decref(ja);
	json_decref(jb);
	state_clear(&b);
	/* none left: the field is not written, and a state without it loads */
	json_decref(a.unjournaled);
	a.unjournaled = json_array();
	ja = state_to_json(&a);
	assert_null(json_object_get(ja, "unjournaled"));
	json_decref(ja);
	assert_int_equal(state_save(path, &a), 0);
	assert_int_equal(state_load(path, &b, err, sizeof(err)), 0);
	assert_null(b.unjournaled);
	state_clear(&b);
	/* a record without a seq is named */
	json_decref(a.unjournaled);
	a.unjournaled = json_pack("[{s:i}, {s:s}]", "seq", 5, "kind", "x");
	assert_int_equal(state_save(path, &a), 0);
	assert_int_equal(state_load(path, &b, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "field \"unjournaled\"[1]"));
	json_decref(a.unjournaled);
	json_decref(a.pending);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_save_load__round_trip__identical),
		cmocka_unit_test(state_save_load__storage_pause_and_unjournaled__kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

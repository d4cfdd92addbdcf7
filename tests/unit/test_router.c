/*
 * test_router.c — sticky buckets: monotone in traffic, exact percentages
 * over 100k random keys, modes, one delivered system per account/window.
 */
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

#include "flags.h"
#include "router.h"
#include "rules.h"

#define NKEYS 100000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t (*random_keys(void))[32]
{
	uint8_t (*keys)[32] = malloc((size_t)NKEYS * 32);

	for (size_t i = 0; i < NKEYS; i++)
		for (int j = 0; j < 32; j += 8) {
			uint64_t r = next_rand();

			memcpy(keys[i] + j, &r, 8);
		}
	return keys;
}

static void
router__raising_traffic__never_moves_an_account_back(void **state)
{
	struct router *r;
	uint8_t (*keys)[32] = random_keys();

	(void)state;
	assert_int_equal(router_create(&r, "hybrid-whale-monitor"), 0);
	for (size_t i = 0; i < NKEYS / 5; i++) {
		int was = 0;

		for (int t = 0; t <= 100; t++) {
			int now = router_candidate_serves(r, ROUTER_GRADUAL, t, keys[i]);

			assert_false(was && !now); /* once served by the candidate, always */
			was = now;
		}
		assert_true(was); /* 100% serves everyone */
		assert_false(router_candidate_serves(r, ROUTER_GRADUAL, 0, keys[i]));
	}
	router_free(r);
	free(keys);
}

static void
router__percentages__within_half_a_percent_over_100k_keys(void **state)
{
	static const int steps[] = { 1, 5, 10, 15, 25, 35, 50, 75, 90, 99 };
	struct router *r;
	uint8_t (*keys)[32] = random_keys();

	(void)state;
	assert_int_equal(router_create(&r, "salt-1"), 0);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		size_t served = 0;

		for (size_t i = 0; i < NKEYS; i++)
			served += (size_t)router_candidate_serves(r, ROUTER_GRADUAL, steps[k], keys[i]);
		double pct = 100.0 * (double)served / NKEYS;

		if (pct < steps[k] - 0.5 || pct > steps[k] + 0.5)
			fail_msg("traffic %d%%: %.3f%% of keys served", steps[k], pct);
	}
	router_free(r);
	free(keys);
}

static void
router__bucket__sticky_and_salted(void **state)
{
	struct router *a, *a2, *b;
	uint8_t pk[32];
	size_t differ = 0;

	(void)state;
	assert_int_equal(router_create(&a, "plan-a"), 0);
	assert_int_equal(router_create(&a2, "plan-a"), 0);
	assert_int_equal(router_create(&b, "plan-b"), 0);
	for (int i = 0; i < 1000; i++) {
		memset(pk, 0, 32);
		memcpy(pk, &i, sizeof(i));
		unsigned x = router_bucket(a, pk);

		assert_true(x < 10000);
		assert_int_equal(x, router_bucket(a2, pk));
		differ += x != router_bucket(b, pk);
	}
	assert_true(differ > 990);
	router_free(a);
	router_free(a2);
	router_free(b);
}

static struct rules_alert
alert(const char *system, uint8_t who, int64_t s, int64_t e)
{
	struct rules_alert a;

	memset(&a, 0, sizeof(a));
	snprintf(a.system, sizeof(a.system), "%s", system);
	memset(a.pubkey, who, 32);
	a.window_start_ms = s;
	a.window_end_ms = e;
	a.time_ms = e;
	return a;
}

static void
router__modes__deliver_the_right_system(void **state)
{
	struct router *r;
	struct rules_alert b, c;

	(void)state;
	assert_int_equal(router_create(&r, "x"), 0);
	for (uint8_t who = 1; who < 50; who++) {
		int64_t t = who * 10000000LL;

		b = alert("baseline", who, t, t + 1000);
		c = alert("candidate", who, t + 500, t + 500);
		/* legacy, parallel and rollback: baseline only */
		assert_int_equal(router_route(r, ROUTER_LEGACY, 0, &c), ROUTE_SHADOW);
		assert_int_equal(router_route(r, ROUTER_PARALLEL, 0, &c), ROUTE_SHADOW);
		assert_int_equal(router_route(r, ROUTER_ROLLBACK, 100, &c), ROUTE_SHADOW);
		assert_int_equal(router_route(r, ROUTER_PARALLEL, 0, &b), ROUTE_DELIVER);
		b.window_start_ms += 2000, b.window_end_ms += 2000;
		assert_int_equal(router_route(r, ROUTER_ROLLBACK, 100, &b), ROUTE_DELIVER);
		b.window_start_ms += 2000, b.window_end_ms += 2000;
		assert_int_equal(router_route(r, ROUTER_LEGACY, 0, &b), ROUTE_DELIVER);
		/* gradual: exactly one of the two, decided by the bucket */
		int serves = router_candidate_serves(r, ROUTER_GRADUAL, 50, c.pubkey);

		c.window_end_ms = c.time_ms = t + 100000;
		b.window_start_ms = t + 200000, b.window_end_ms = t + 300000;
		assert_int_equal(router_route(r, ROUTER_GRADUAL, 50, &c),
		    serves ? ROUTE_DELIVER : ROUTE_SHADOW);
		assert_int_equal(router_route(r, ROUTER_GRADUAL, 50, &b),
		    serves ? ROUTE_SHADOW : ROUTE_DELIVER);
	}
	router_free(r);
}

static void
router__traffic_drops_between_observations__one_alert_per_window(void **state)
{
	struct router *r;
	struct rules_alert c = alert("candidate", 7, 1500000, 1500000);
	struct rules_alert b = alert("baseline", 7, 0, 3600000);
	struct rules_alert b2 = alert("baseline", 7, 3600000, 7200000);
	struct rules_alert c2 = alert("candidate", 7, 3000000, 3000000);

	(void)state;
	assert_int_equal(router_create(&r, "x"), 0);
	/* candidate delivered it at 100%, then a rollback: the baseline's hourly
	 * diff of the same window must not deliver it a second time */
	assert_int_equal(router_route(r, ROUTER_GRADUAL, 100, &c), ROUTE_DELIVER);
	assert_int_equal(router_route(r, ROUTER_ROLLBACK, 0, &b), ROUTE_COVERED);
	/* the next window is the baseline's again */
	assert_int_equal(router_route(r, ROUTER_ROLLBACK, 0, &b2), ROUTE_DELIVER);
	/* and a late candidate alert inside a window the baseline delivered is covered */
	assert_int_equal(router_route(r, ROUTER_GRADUAL, 100, &c2), ROUTE_COVERED);
	router_free(r);
}

static void
router__mode_from_flags__follows_the_flag_file(void **state)
{
	char dir[] = "/tmp/test_router.XXXXXX", path[256], err[256];
	struct flags *f;
	int traffic;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/feature-flags.conf", dir);
	assert_int_equal(flags_open(&f, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(router_mode_from_flags(NULL, &traffic), ROUTER_LEGACY);
	assert_int_equal(router_mode_from_flags(f, &traffic), ROUTER_LEGACY);
	assert_int_equal(flags_set(f, "enableParallelMode", "true", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(router_mode_from_flags(f, &traffic), ROUTER_PARALLEL);
	assert_int_equal(flags_set(f, "hybridTrafficPercent", "15", "test", NULL, err, sizeof(err)), 0);
	assert_int_equal(router_mode_from_flags(f, &traffic), ROUTER_GRADUAL);
	assert_int_equal(traffic, 15);
	assert_int_equal(flags_emergency_rollback(f, "test", "drill", err, sizeof(err)), 0);
	assert_int_equal(router_mode_from_flags(f, &traffic), ROUTER_ROLLBACK);
	assert_int_equal(traffic, 0);
	flags_close(f);
	unlink(path);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(router__raising_traffic__never_moves_an_account_back),
		cmocka_unit_test(router__percentages__within_half_a_percent_over_100k_keys),
		cmocka_unit_test(router__bucket__sticky_and_salted),
		cmocka_unit_test(router__modes__deliver_the_right_system),
		cmocka_unit_test(router__traffic_drops_between_observations__one_alert_per_window),
		cmocka_unit_test(router__mode_from_flags__follows_the_flag_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

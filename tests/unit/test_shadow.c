/*
 * test_shadow.c — the comparator on scripted streams: lag, reorder,
 * missing and extra events; metrics; the mismatch ring.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"
#include "shadow.h"

#define DOT ((rollout_u128)10000000000ULL)
#define S(x) ((int64_t)(x) * 1000)     /* seconds -> ms */
#define T0 1700000000000LL

/* ---- a tiny metric recorder ---- */
struct rec {
	char name[8][32];
	double sum[8], last[8];
	int count[8];
	int n;
};

static void
record(void *ctx, const char *name, double v)
{
	struct rec *r = ctx;
	int i;

	for (i = 0; i < r->n && strcmp(r->name[i], name) != 0; i++)
		;
	if (i == r->n) {
		assert_true(r->n < 8);
		snprintf(r->name[r->n++], 32, "%s", name);
	}
	r->sum[i] += v;
	r->last[i] = v;
	r->count[i]++;
}

static int
rec_count(const struct rec *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->name[i], name) == 0)
			return r->count[i];
	return 0;
}

static double
rec_last(const struct rec *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->name[i], name) == 0)
			return r->last[i];
	return NAN;
}

static struct shadow *
mk(struct rec *r)
{
	struct shadow_opts o;
	struct shadow *s;

	memset(&o, 0, sizeof(o));
	memset(r, 0, sizeof(*r));
	o.lag_ms = S(120);
	o.settle_ms = S(10);
	o.decimals = 10;
	o.metric = record;
	o.metric_ctx = r;
	assert_int_equal(shadow_create(&s, &o), 0);
	return s;
}

static void
cand(struct shadow *s, uint8_t who, int64_t t, rollout_u128 before, rollout_u128 after, int first)
{
	struct rollout_balance_change bc;

	memset(&bc, 0, sizeof(bc));
	memset(bc.pubkey, who, 32);
	bc.block_time_ms = bc.window_start_ms = bc.window_end_ms = t;
	bc.observed_ms = t + 1000;
	bc.block_from = bc.block_to = (uint64_t)(t / 6000);
	bc.has_before = !first;
	bc.before.free = before;
	bc.after.free = after;
	shadow_candidate_change(s, &bc);
}

static void
snap(struct shadow *s, int64_t taken, uint8_t who, rollout_u128 total)
{
	struct rollout_snapshot_entry e;
	struct rollout_snapshot sn = { taken, 1, &e };

	memset(&e, 0, sizeof(e));
	memset(e.pubkey, who, 32);
	e.total = total;
	e.rank = 1;
	shadow_baseline_snapshot(s, &sn);
}

static void
alert(struct shadow *s, const char *sys, uint8_t who, int64_t ws, int64_t we, int neg,
    rollout_u128 amount, int64_t time_ms)
{
	struct rules_alert a;

	memset(&a, 0, sizeof(a));
	snprintf(a.system, sizeof(a.system), "%s", sys);
	memset(a.pubkey, who, 32);
	a.window_start_ms = ws;
	a.window_end_ms = we;
	a.negative = neg;
	a.amount = amount;
	a.time_ms = time_ms;
	shadow_alert(s, &a);
}

static void
shadow__balance_agreement__within_lag_only(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;
	json_t *j, *m;

	(void)state;
	cand(s, 1, T0, 0, 100 * DOT, 1);
	cand(s, 1, T0 + S(1000), 100 * DOT, 200 * DOT, 0);
	/* Subscan 60 s behind the change still shows the old value: agreed */
	snap(s, T0 + S(1060), 1, 100 * DOT);
	/* right value shortly after the change: agreed */
	snap(s, T0 + S(1010), 1, 200 * DOT);
	/* the old value long after the change: a mismatch */
	snap(s, T0 + S(2000), 1, 100 * DOT);
	/* nothing is decided before the lag and the settle time have passed */
	assert_int_equal(shadow_tick(s, T0 + S(2000)), 2);  /* the two early ones */
	assert_int_equal(shadow_tick(s, T0 + S(2129)), 0);
	assert_int_equal(shadow_tick(s, T0 + S(2130)), 1);
	shadow_get_stats(s, &st);
	assert_int_equal(st.balance_checked, 3);
	assert_int_equal(st.balance_agreed, 2);
	assert_true(fabs(rec_last(&r, "shadow.balance_agreement") - 2.0 / 3.0) < 1e-9);
	assert_true(fabs(rec_last(&r, "shadow.accuracy") - 2.0 / 3.0) < 1e-9);
	j = shadow_json(s);
	m = json_array_get(json_object_get(j, "mismatches"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "kind")), "balance");
	assert_string_equal(json_string_value(json_object_get(m, "baseline")), "1000000000000");
	assert_string_equal(json_string_value(json_object_get(m, "candidate")), "2000000000000");
	json_decref(j);
	shadow_free(s);
}

static void
shadow__reordered_events__decided_after_they_arrive(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;

	(void)state;
	cand(s, 2, T0, 0, 200 * DOT, 1);
	/* the baseline snapshot arrives before the candidate's late notification */
	snap(s, T0 + S(5000), 2, 300 * DOT);
	assert_int_equal(shadow_tick(s, T0 + S(5001)), 0);
	cand(s, 2, T0 + S(4990), 200 * DOT, 300 * DOT, 0);
	/* and candidate events out of order among themselves */
	cand(s, 2, T0 + S(4000), 200 * DOT, 200 * DOT, 0);
	assert_int_equal(shadow_tick(s, T0 + S(5200)), 1);
	shadow_get_stats(s, &st);
	assert_int_equal(st.balance_checked, 1);
	assert_int_equal(st.balance_agreed, 1);
	/* an account the candidate never watched is not checked */
	snap(s, T0 + S(6000), 99, 5 * DOT);
	shadow_tick(s, T0 + S(7000));
	shadow_get_stats(s, &st);
	assert_int_equal(st.balance_checked, 1);
	assert_int_equal(st.balance_unchecked, 1);
	shadow_free(s);
}

static void
shadow__baseline_alert__matched_with_lag_and_lead_time(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;

	(void)state;
	cand(s, 3, T0, 0, 1000000 * DOT, 1);
	cand(s, 3, T0 + S(1000), 1000000 * DOT, 1030000 * DOT, 0);
	alert(s, "candidate", 3, T0 + S(1000), T0 + S(1000), 0, 30000 * DOT, T0 + S(1001));
	cand(s, 3, T0 + S(3550), 1030000 * DOT, 1050000 * DOT, 0);
	alert(s, "candidate", 3, T0 + S(3550), T0 + S(3550), 0, 20000 * DOT, T0 + S(3551));
	/* the hourly baseline saw the whole +50000 */
	alert(s, "baseline", 3, T0, T0 + S(3600), 0, 50000 * DOT, T0 + S(3700));
	/* account 4: the baseline's snapshot lagged 100 s and missed the last change */
	cand(s, 4, T0, 0, 1000000 * DOT, 1);
	cand(s, 4, T0 + S(1000), 1000000 * DOT, 1030000 * DOT, 0);
	cand(s, 4, T0 + S(3550), 1030000 * DOT, 1050000 * DOT, 0);
	alert(s, "baseline", 4, T0, T0 + S(3600), 0, 30000 * DOT, T0 + S(3700));
	assert_int_equal(shadow_tick(s, T0 + S(3700)), 0);
	shadow_tick(s, T0 + S(3730));
	shadow_get_stats(s, &st);
	assert_int_equal(st.matched, 2);
	assert_int_equal(st.missed, 0);
	assert_int_equal(rec_count(&r, "shadow.matched"), 2);
	/* lead time: baseline alerted at 3700 s, the candidate at 1001 s */
	assert_int_equal(rec_count(&r, "shadow.lead_time"), 1);
	assert_true(fabs(rec_last(&r, "shadow.lead_time") - 2699.0) < 1e-9);
	assert_true(fabs(rec_last(&r, "shadow.accuracy") - 1.0) < 1e-9);
	shadow_free(s);
}

static void
shadow__baseline_alert__sum_of_changes_in_the_lagged_window(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;
	int64_t S = T0, E = T0 + S(3600);

	(void)state;
	/* 10: first seen inside the window, then the move: the candidate was not
	 * watching at S, so the window's opening value is unknown: skipped */
	cand(s, 10, S + S(1000), 0, 700000 * DOT, 1);
	cand(s, 10, S + S(2000), 700000 * DOT, 900000 * DOT, 0);
	alert(s, "baseline", 10, S, E, 0, 200000 * DOT, E + S(60));
	/* 11: the move 60 s before S; the baseline's first snapshot lagged past it */
	cand(s, 11, S - S(1000), 0, 100000 * DOT, 1);
	cand(s, 11, S - S(60), 100000 * DOT, 300000 * DOT, 0);
	alert(s, "baseline", 11, S, E, 0, 200000 * DOT, E + S(60));
	/* 12: the move 300 s before S is outside any lag: not this window's */
	cand(s, 12, S - S(1000), 0, 100000 * DOT, 1);
	cand(s, 12, S - S(300), 100000 * DOT, 300000 * DOT, 0);
	alert(s, "baseline", 12, S, E, 0, 200000 * DOT, E + S(60));
	/* 13: two moves that net out to the baseline's delta; the last one 30 s
	 * before E, which the lagging end snapshot may or may not include */
	cand(s, 13, S, 0, 1000000 * DOT, 1);
	cand(s, 13, S + S(100), 1000000 * DOT, 1500000 * DOT, 0);
	cand(s, 13, E - S(30), 1500000 * DOT, 1400000 * DOT, 0);
	alert(s, "baseline", 13, S, E, 0, 500000 * DOT, E + S(60));
	alert(s, "baseline", 13, S + S(10000), E + S(10000), 0, 400000 * DOT, E + S(10060));
	shadow_tick(s, E + S(20000));
	shadow_get_stats(s, &st);
	assert_int_equal(st.matched, 2);  /* 11, 13 (first window) */
	assert_int_equal(st.missed, 2);   /* 12; 13's second window has no changes */
	assert_int_equal(st.skipped, 1);  /* 10 */
	shadow_free(s);
}

static void
shadow__warm_up__alerts_before_the_first_observation_skipped(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;
	int64_t S = T0, E = T0 + S(3600);
	json_t *j;

	(void)state;
	/* start-up: the candidate's first value of account 20 comes 30 s after
	 * the baseline window began; the window's move (before it) is invisible */
	cand(s, 20, S + S(30), 0, 1200000 * DOT, 1);
	alert(s, "baseline", 20, S, E, 0, 200000 * DOT, E + S(60));
	/* restart: account 21 observed before the window (value known at S), then
	 * again as a first observation after the restart; compared normally */
	cand(s, 21, S - S(500), 0, 1000000 * DOT, 1);
	cand(s, 21, S + S(900), 0, 1000000 * DOT, 1);
	alert(s, "baseline", 21, S, E, 0, 50000 * DOT, E + S(60));
	/* the candidate's first observation came after the window: not comparable
	 * either, even though it has a value now */
	cand(s, 22, E + S(10), 0, 5000000 * DOT, 1);
	alert(s, "baseline", 22, S, E, 1, 300000 * DOT, E + S(60));
	assert_int_equal(shadow_tick(s, E + S(129)), 0);
	assert_int_equal(shadow_tick(s, E + S(130)), 3);
	shadow_get_stats(s, &st);
	assert_int_equal(st.skipped, 2);  /* 20, 22 */
	assert_int_equal(st.matched, 0);
	assert_int_equal(st.missed, 1);   /* 21: watched, saw no +50000 */
	assert_int_equal(rec_count(&r, "shadow.skipped"), 2);
	assert_int_equal(rec_count(&r, "shadow.missed"), 1);
	/* the skipped ones are not in the accuracy, nor in the mismatch list */
	assert_true(rec_last(&r, "shadow.accuracy") == 0.0);
	j = shadow_json(s);
	assert_int_equal(json_integer_value(json_object_get(j, "skipped")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "missed")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "mismatches")), 1);
	json_decref(j);
	/* the next window of account 20 is compared: it was watched at its start */
	cand(s, 20, E + S(100), 1200000 * DOT, 1300000 * DOT, 0);
	alert(s, "baseline", 20, E, E + S(3600), 0, 100000 * DOT, E + S(3660));
	shadow_tick(s, E + S(3730));
	shadow_get_stats(s, &st);
	assert_int_equal(st.matched, 1);
	assert_int_equal(st.skipped, 2);
	assert_true(fabs(rec_last(&r, "shadow.accuracy") - 0.5) < 1e-9);
	shadow_free(s);
}

static void
shadow__warm_up__only_skipped__no_accuracy_sample(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);

	(void)state;
	cand(s, 23, T0 + S(5), 0, 900000 * DOT, 1);
	alert(s, "baseline", 23, T0, T0 + S(3600), 0, 100000 * DOT, T0 + S(3660));
	assert_int_equal(shadow_tick(s, T0 + S(3800)), 1);
	assert_int_equal(rec_count(&r, "shadow.skipped"), 1);
	assert_int_equal(rec_count(&r, "shadow.accuracy"), 0);
	shadow_free(s);
}

static void
shadow__missing__counted_with_both_sides(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;
	json_t *j, *arr;

	(void)state;
	/* the candidate never saw account 5 */
	alert(s, "baseline", 5, T0, T0 + S(3600), 1, 20000 * DOT, T0 + S(3700));
	/* the candidate saw a different movement on account 6 */
	cand(s, 6, T0, 0, 500000 * DOT, 1);
	cand(s, 6, T0 + S(100), 500000 * DOT, 490000 * DOT, 0);
	alert(s, "baseline", 6, T0, T0 + S(3600), 1, 20000 * DOT, T0 + S(3700));
	shadow_tick(s, T0 + S(4000));
	shadow_get_stats(s, &st);
	assert_int_equal(st.missed, 2);
	assert_int_equal(st.matched, 0);
	assert_int_equal(rec_count(&r, "shadow.missed"), 2);
	assert_true(rec_last(&r, "shadow.accuracy") == 0.0);
	j = shadow_json(s);
	arr = json_object_get(j, "mismatches");
	assert_int_equal(json_array_size(arr), 2);
	/* newest first: account 6 */
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "baseline")),
	    "-200000000000000");
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "candidate")),
	    "-100000000000000");
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "candidate")),
	    "none");
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "kind")),
	    "missed");
	json_decref(j);
	shadow_free(s);
}

static void
shadow__extra__candidate_only_alerts_once_baseline_looked(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	struct shadow_stats st;

	(void)state;
	/* account 7: in and out within the hour; the baseline sees no net change */
	cand(s, 7, T0, 0, 100000 * DOT, 1);
	cand(s, 7, T0 + S(4000), 100000 * DOT, 200000 * DOT, 0);
	alert(s, "candidate", 7, T0 + S(4000), T0 + S(4000), 0, 100000 * DOT, T0 + S(4001));
	cand(s, 7, T0 + S(5000), 200000 * DOT, 100000 * DOT, 0);
	alert(s, "candidate", 7, T0 + S(5000), T0 + S(5000), 1, 100000 * DOT, T0 + S(5001));
	/* account 8: covered by a baseline alert, not extra */
	cand(s, 8, T0, 0, 100000 * DOT, 1);
	cand(s, 8, T0 + S(4100), 100000 * DOT, 300000 * DOT, 0);
	alert(s, "candidate", 8, T0 + S(4100), T0 + S(4100), 0, 200000 * DOT, T0 + S(4101));
	/* undecidable until the baseline has looked past them */
	assert_int_equal(shadow_tick(s, T0 + S(6000)), 0);
	snap(s, T0 + S(7200), 42, 1);
	alert(s, "baseline", 8, T0 + S(3600), T0 + S(7200), 0, 200000 * DOT, T0 + S(7300));
	shadow_tick(s, T0 + S(7300));
	shadow_tick(s, T0 + S(7400));
	shadow_get_stats(s, &st);
	assert_int_equal(st.extra, 2);
	assert_int_equal(st.matched, 1);
	assert_int_equal(rec_count(&r, "shadow.extra"), 2);
	shadow_free(s);
}

static void
shadow__mismatch_ring__keeps_the_last_100(void **state)
{
	struct rec r;
	struct shadow *s = mk(&r);
	json_t *j, *arr;

	(void)state;
	for (int i = 0; i < 150; i++) {
		cand(s, 9, T0 + S(i * 1000), 0, (rollout_u128)i, i == 0);
		snap(s, T0 + S(i * 1000 + 500), 9, 1000000 + (rollout_u128)i);
	}
	shadow_tick(s, T0 + S(200000));
	j = shadow_json(s);
	arr = json_object_get(j, "mismatches");
	assert_int_equal(json_array_size(arr), SHADOW_MISMATCHES);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "baseline")),
	    "1000149");
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 99), "baseline")),
	    "1000050");
	assert_int_equal(json_integer_value(json_object_get(j, "balance_checked")), 150);
	json_decref(j);
	shadow_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shadow__balance_agreement__within_lag_only),
		cmocka_unit_test(shadow__reordered_events__decided_after_they_arrive),
		cmocka_unit_test(shadow__baseline_alert__matched_with_lag_and_lead_time),
		cmocka_unit_test(shadow__baseline_alert__sum_of_changes_in_the_lagged_window),
		cmocka_unit_test(shadow__missing__counted_with_both_sides),
		cmocka_unit_test(shadow__warm_up__alerts_before_the_first_observation_skipped),
		cmocka_unit_test(shadow__warm_up__only_skipped__no_accuracy_sample),
		cmocka_unit_test(shadow__extra__candidate_only_alerts_once_baseline_looked),
		cmocka_unit_test(shadow__mismatch_ring__keeps_the_last_100),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_metrics.c — the windowed metrics store. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "clock.h"
#include "metrics.h"

#define T0 1767225600000LL  /* 2026-01-01T00:00:00Z */

struct fixture {
	struct clock *clk;
	struct metrics *m;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->clk = clock_virtual(T0);
	assert_int_equal(metrics_create(&f->m, f->clk), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	metrics_free(f->m);
	clock_free(f->clk);
	free(f);
	return 0;
}

static double
win(struct fixture *f, const char *name, enum expr_fn fn, int64_t w, size_t *n)
{
	double v = NAN;
	size_t dummy;

	assert_int_equal(metrics_window(f->m, name, fn, w, &v, n ? n : &dummy), 0);
	return v;
}

static void
metrics_window__no_data__enoent(void **state)
{
	struct fixture *f = *state;
	double v;
	size_t n;

	assert_int_equal(metrics_latest(f->m, "x.y", &v), -ENOENT);
	assert_int_equal(metrics_window(f->m, "x.y", EXPR_FN_AVG, 60000, &v, &n), -ENOENT);
	metrics_record_at(f->m, "x.y", T0 - 120000, 3);
	/* a sample outside the window is no data for the window */
	assert_int_equal(metrics_window(f->m, "x.y", EXPR_FN_AVG, 60000, &v, &n), -ENOENT);
	assert_int_equal(metrics_latest(f->m, "x.y", &v), 0);
	assert_true(v == 3);
}

static void
metrics_window__all_functions__exact_on_raw(void **state)
{
	struct fixture *f = *state;
	size_t n;
	int i;

	/* 1..100 at one per second ending now */
	for (i = 1; i <= 100; i++)
		metrics_record_at(f->m, "candidate.alert_latency", T0 - (100 - i) * 1000, i);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_COUNT, 100000, &n) == 100);
	assert_int_equal(n, 100);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_SUM, 100000, NULL) == 5050);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_AVG, 100000, NULL) == 50.5);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_RATE, 100000, NULL) == 50.5);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_MIN, 100000, NULL) == 1);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_MAX, 100000, NULL) == 100);
	assert_true(fabs(win(f, "candidate.alert_latency", EXPR_FN_P50, 100000, NULL) - 50.5) < 1e-9);
	assert_true(fabs(win(f, "candidate.alert_latency", EXPR_FN_P95, 100000, NULL) - 95.05) < 1e-9);
	assert_true(fabs(win(f, "candidate.alert_latency", EXPR_FN_P99, 100000, NULL) - 99.01) < 1e-9);
	/* the last 10 s: samples 91..100 (t = now-9s .. now) and the one at now-10s */
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_COUNT, 10000, &n) == 11);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_MIN, 10000, NULL) == 90);
	assert_true(win(f, "candidate.alert_latency", EXPR_FN_SUM, 10000, NULL) == 1045);
}

static void
metrics_rate__counter_increments__per_second(void **state)
{
	struct fixture *f = *state;
	int i;

	/* 600 requests over 10 minutes, 3 errors */
	for (i = 0; i < 600; i++)
		metrics_record_at(f->m, "candidate.requests", T0 - 599000 + i * 1000, 1);
	for (i = 0; i < 3; i++)
		metrics_record_at(f->m, "candidate.errors", T0 - 1000 * i, 1);
	assert_true(fabs(win(f, "candidate.requests", EXPR_FN_RATE, 600000, NULL) - 1.0) < 1e-12);
	assert_true(fabs(win(f, "candidate.errors", EXPR_FN_RATE, 600000, NULL) - 0.005) < 1e-12);
}

static void
metrics_memory__bounded__long_windows_from_buckets(void **state)
{
	struct fixture *f = *state;
	struct metrics_series *s = metrics_series(f->m, "shadow.accuracy");
	int64_t t = T0;
	size_t n;
	int i;

	/* 3 days at one sample per second: beyond the raw ring, within the fine buckets' day */
	for (i = 0; i < 3 * 86400; i++, t += 1000)
		metrics_series_record(s, t, (i % 2) ? 1.0 : 0.5);
	assert_int_equal(clock_set(f->clk, t - 1000), 0);
	/* 1 h fits the raw ring: exact */
	assert_true(win(f, "shadow.accuracy", EXPR_FN_COUNT, 3600000, &n) == 3601);
	/* 12 h from 10 s buckets: exact count and mean at bucket granularity */
	assert_true(win(f, "shadow.accuracy", EXPR_FN_COUNT, 12 * 3600000LL, &n) >= 43200);
	assert_true(n <= 43210);
	assert_true(fabs(win(f, "shadow.accuracy", EXPR_FN_AVG, 12 * 3600000LL, NULL) - 0.75) < 1e-3);
	assert_true(win(f, "shadow.accuracy", EXPR_FN_MIN, 12 * 3600000LL, NULL) == 0.5);
	/* 2 days from 5-minute buckets */
	assert_true(fabs(win(f, "shadow.accuracy", EXPR_FN_AVG, 2 * 86400000LL, NULL) - 0.75) < 1e-3);
	assert_true(win(f, "shadow.accuracy", EXPR_FN_P95, 2 * 86400000LL, NULL) == 1.0);
	/* 2 days = 172800 samples, give or take one 5-minute bucket */
	assert_true(win(f, "shadow.accuracy", EXPR_FN_COUNT, 2 * 86400000LL, &n) >= 172800);
	assert_true(n <= 172800 + 300);
	/* the newest samples (not yet folded into 5-minute buckets) count too */
	{
		double before = win(f, "shadow.accuracy", EXPR_FN_SUM, 2 * 86400000LL, NULL);

		metrics_series_record(s, t - 1000, 7.0);
		assert_true(fabs(win(f, "shadow.accuracy", EXPR_FN_SUM, 2 * 86400000LL, NULL)
		    - (before + 7.0)) < 1e-6);
		assert_true(win(f, "shadow.accuracy", EXPR_FN_MAX, 2 * 86400000LL, NULL) == 7.0);
	}
}

static void
metrics_view__expr_evaluator__sees_samples(void **state)
{
	struct fixture *f = *state;
	const struct expr_metrics *v = metrics_view(f->m);
	double x;
	size_t n;

	metrics_record(f->m, "shadow.accuracy", 0.99);
	metrics_record(f->m, "shadow.accuracy", 0.98);
	assert_int_equal(v->latest(v->ctx, "shadow.accuracy", &x, &n), 0);
	assert_true(x == 0.98);
	assert_int_equal(n, 2);
	assert_int_equal(v->window(v->ctx, "shadow.accuracy", EXPR_FN_MAX, 1000, &x, &n), 0);
	assert_true(x == 0.99);
	assert_int_equal(v->latest(v->ctx, "nope", &x, &n), -ENOENT);
}

static void
each(void *ctx, const char *name, enum metric_type type, const char *help, double latest,
    uint64_t total)
{
	int *calls = ctx;

	(void)help;
	if (*calls == 0) {
		assert_string_equal(name, "a.first");
		assert_int_equal(type, METRIC_COUNTER);
		assert_true(latest == 2);
		assert_int_equal(total, 2);
	} else {
		assert_string_equal(name, "b.second");
	}
	(*calls)++;
}

static void
metrics_foreach__sorted_by_name(void **state)
{
	struct fixture *f = *state;
	json_t *j;
	int calls = 0;
	int i;

	metrics_record(f->m, "b.second", 1);
	metrics_describe(f->m, "a.first", METRIC_COUNTER, "first");
	metrics_record(f->m, "a.first", 1);
	metrics_record(f->m, "a.first", 2);
	metrics_foreach(f->m, each, &calls);
	assert_int_equal(calls, 2);
	for (i = 0; i < 100; i++)
		metrics_record_at(f->m, "c.third", T0 - i * 100, i);
	j = metrics_series_json(f->m, "c.third", 60000, 10);
	assert_int_equal(json_array_size(j), 10);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(metrics_window__no_data__enoent, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_window__all_functions__exact_on_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_rate__counter_increments__per_second, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_memory__bounded__long_windows_from_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_view__expr_evaluator__sees_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_foreach__sorted_by_name, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

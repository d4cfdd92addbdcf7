/* test_expr.c — gate expressions: parser errors with columns, three-valued evaluation. */
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

#include "expr.h"

/* A metrics double: a small table of (name, fn, window, value, samples). */
struct fake_metric {
	const char *name;
	enum expr_fn fn;
	int64_t window_ms;
	double value;
	size_t samples;
};

struct fake {
	const struct fake_metric *m;
	size_t n;
	int calls;
};

static int
fake_lookup(struct fake *f, const char *name, enum expr_fn fn, int64_t w, double *out, size_t *ns)
{
	size_t i;

	f->calls++;
	for (i = 0; i < f->n; i++) {
		if (strcmp(f->m[i].name, name) == 0 && f->m[i].fn == fn &&
		    (fn == EXPR_FN_LATEST || f->m[i].window_ms == w)) {
			*out = f->m[i].value;
			*ns = f->m[i].samples;
			return 0;
		}
	}
	return -ENOENT;
}

static int
fake_latest(void *ctx, const char *name, double *out, size_t *ns)
{
	return fake_lookup(ctx, name, EXPR_FN_LATEST, 0, out, ns);
}

static int
fake_window(void *ctx, const char *name, enum expr_fn fn, int64_t w, double *out, size_t *ns)
{
	return fake_lookup(ctx, name, fn, w, out, ns);
}

static const struct fake_metric healthy[] = {
	{ "shadow.accuracy", EXPR_FN_LATEST, 0, 0.991, 1440 },
	{ "candidate.errors", EXPR_FN_RATE, 600000, 0.01, 6 },
	{ "candidate.requests", EXPR_FN_RATE, 600000, 10.0, 6000 },
	{ "candidate.alert_latency", EXPR_FN_P95, 3600000, 3.2, 120 },
	{ "safety.last_drill_ms", EXPR_FN_LATEST, 0, 1200, 1 },
	{ "candidate.watched", EXPR_FN_LATEST, 0, 1000, 3 },
	{ "thin.metric", EXPR_FN_LATEST, 0, 5, 2 },
	{ "nan.metric", EXPR_FN_LATEST, 0, NAN, 10 },
	{ "zero.requests", EXPR_FN_RATE, 600000, 0, 0 },
	{ "inf.metric", EXPR_FN_LATEST, 0, INFINITY, 10 },
	{ "few.errors", EXPR_FN_RATE, 600000, 0.002, 2 },
};

static enum verdict
eval(const char *text, size_t min_samples, struct expr_result *res)
{
	struct fake f = { healthy, sizeof(healthy) / sizeof(healthy[0]), 0 };
	struct expr_metrics m = { &f, fake_latest, fake_window };
	struct expr *e = NULL;
	char err[256];
	int col;

	if (expr_parse(text, &e, &col, err, sizeof(err)) != 0)
		fail_msg("parse of '%s' failed at %d: %s", text, col, err);
	expr_eval(e, &m, min_samples, res);
	expr_free(e);
	return res->verdict;
}

/*
 * expr_verdict() gives expr_eval()'s verdict, sides and samples, asks the
 * metrics the same number of questions, and leaves the detail empty.
 */
static void
expr_verdict__same_answers_as_eval__no_detail(void **state)
{
	static const char *const texts[] = {
		"shadow.accuracy >= 0.95",
		"rate(candidate.errors, 10m) / rate(candidate.requests, 10m) < 0.01",
		"p95(candidate.alert_latency, 1h) < 5 && candidate.watched >= 1000",
		"thin.metric > 1 || shadow.accuracy < 0.5",
		"nan.metric > 0",
		"!(zero.requests > 0)",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct fake fe = { healthy, sizeof(healthy) / sizeof(healthy[0]), 0 };
		struct fake fv = fe;
		struct expr_metrics me = { &fe, fake_latest, fake_window };
		struct expr_metrics mv = { &fv, fake_latest, fake_window };
		struct expr_result re, rv;
		struct expr *e = NULL;
		char err[256];
		int col;

		if (expr_parse(texts[i], &e, &col, err, sizeof(err)) != 0)
			fail_msg("parse of '%s' failed at %d: %s", texts[i], col, err);
		expr_eval(e, &me, 3, &re);
		expr_verdict(e, &mv, 3, &rv);
		expr_free(e);
		if (re.verdict != rv.verdict || re.samples != rv.samples || fe.calls != fv.calls)
			fail_msg("'%s': eval %s/%zu/%d calls, verdict %s/%zu/%d calls", texts[i],
			    verdict_name(re.verdict), re.samples, fe.calls, verdict_name(rv.verdict),
			    rv.samples, fv.calls);
		assert_true((isnan(re.lhs) && isnan(rv.lhs)) || re.lhs == rv.lhs);
		assert_true(re.detail[0] != '\0');
		assert_string_equal(rv.detail, "");
	}
}

static void
parse_bad(const char *text, int wantcol, const char *wantmsg)
{
	struct expr *e = (struct expr *)1;
	char err[256];
	int col = -1;

	assert_int_equal(expr_parse(text, &e, &col, err, sizeof(err)), -EINVAL);
	assert_null(e);
	if (col != wantcol || strcmp(err, wantmsg) != 0)
		fail_msg("'%s': got %d: %s; want %d: %s", text, col, err, wantcol, wantmsg);
}

static void
expr_eval__seed_gates__pass_with_detail(void **state)
{
	struct expr_result r;

	(void)state;
	assert_int_equal(eval("shadow.accuracy >= 0.95", 1, &r), VERDICT_PASS);
	assert_string_equal(r.detail, "shadow.accuracy = 0.991 (1440 samples) >= 0.95");
	assert_true(fabs(r.lhs - 0.991) < 1e-12);
	assert_true(fabs(r.rhs - 0.95) < 1e-12);
	assert_int_equal(r.samples, 1440);

	assert_int_equal(eval("rate(candidate.errors, 10m) / rate(candidate.requests, 10m) < 0.005",
	    1, &r), VERDICT_PASS);
	assert_string_equal(r.detail, "rate(candidate.errors, 10m) / rate(candidate.requests, 10m)"
	    " = 0.001 < 0.005");
	assert_int_equal(r.samples, 6);

	assert_int_equal(eval("p95(candidate.alert_latency, 1h) < 5s", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("p95(candidate.alert_latency, 1h) < 3s", 1, &r), VERDICT_FAIL);
	assert_int_equal(eval("p95(candidate.alert_latency, 1h) < 3200ms", 1, &r), VERDICT_FAIL);
	assert_int_equal(eval("p95(candidate.alert_latency,1h)<=3.2", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("safety.last_drill_ms < 30000", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("candidate.watched >= 1000 && shadow.accuracy > 95%", 1, &r),
	    VERDICT_PASS);
}

static void
expr_eval__arithmetic_and_precedence(void **state)
{
	struct expr_result r;

	(void)state;
	assert_int_equal(eval("1 + 2 * 3 == 7", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("(1 + 2) * 3 == 9", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("10 - 4 - 3 == 3", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("-2 * -3 == 6", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("1h == 3600", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("500ms == 0.5", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("1h30m == 90 * 60", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("1 < 2 || 2 < 1", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("1 < 2 && 2 < 1", 1, &r), VERDICT_FAIL);
	assert_int_equal(eval("!(1 < 2)", 1, &r), VERDICT_FAIL);
	assert_int_equal(eval("!(2 < 1) && 3 != 4", 1, &r), VERDICT_PASS);
	/* && binds tighter than || */
	assert_int_equal(eval("1 > 2 && 1 > 2 || 1 < 2", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("50% == 0.5", 1, &r), VERDICT_PASS);
}

static void
expr_eval__missing_data__inconclusive_never_pass(void **state)
{
	struct expr_result r;

	(void)state;
	assert_int_equal(eval("no.such > 0", 1, &r), VERDICT_INCONCLUSIVE);
	assert_string_equal(r.detail, "no.such = ? (no data) > 0");
	assert_true(isnan(r.lhs));
	assert_int_equal(eval("no.such <= 0", 1, &r), VERDICT_INCONCLUSIVE);
	/* negation keeps inconclusive */
	assert_int_equal(eval("!(no.such > 0)", 1, &r), VERDICT_INCONCLUSIVE);
	/* too few samples */
	assert_int_equal(eval("thin.metric == 5", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("thin.metric == 5", 3, &r), VERDICT_INCONCLUSIVE);
	assert_string_equal(r.detail, "thin.metric = ? (too few samples) (2 samples) == 5");
	assert_int_equal(r.samples, 2);
	/* NaN */
	assert_int_equal(eval("nan.metric < 1", 1, &r), VERDICT_INCONCLUSIVE);
	assert_int_equal(eval("nan.metric != 1", 1, &r), VERDICT_INCONCLUSIVE);
	/* division by zero (a dead candidate with no requests) */
	assert_int_equal(eval("rate(candidate.errors, 10m) / rate(zero.requests, 10m) < 0.005", 1, &r),
	    VERDICT_INCONCLUSIVE);
	assert_non_null(strstr(r.detail, "division by zero"));
	assert_int_equal(eval("1 / 0 > 0", 1, &r), VERDICT_INCONCLUSIVE);
	/* a counter window with no events is zero events */
	assert_int_equal(eval("count(candidate.panics, 5m) < 1", 1, &r), VERDICT_PASS);
	assert_int_equal(eval("rate(candidate.panics, 5m) == 0", 1, &r), VERDICT_PASS);
	/* but a gauge window with no samples is no data */
	assert_int_equal(eval("avg(candidate.panics, 5m) < 1", 1, &r), VERDICT_INCONCLUSIVE);
	assert_int_equal(eval("max(shadow.accuracy, 5m) < 1", 1, &r), VERDICT_INCONCLUSIVE);
	/* infinite values are unknown too */
	assert_int_equal(eval("inf.metric > 1", 1, &r), VERDICT_INCONCLUSIVE);
	assert_string_equal(r.detail, "inf.metric = ? (infinite) (10 samples) > 1");
}

static void
expr_eval__min_samples__guards_estimates_not_event_counts(void **state)
{
	struct expr_result r;

	(void)state;
	/* two error events are two events, even when the gate wants 100 samples */
	assert_int_equal(eval("rate(few.errors, 10m) < 0.005", 100, &r), VERDICT_PASS);
	assert_int_equal(eval("rate(few.errors, 10m) / rate(candidate.requests, 10m) < 0.005", 100,
	    &r), VERDICT_PASS);
	/* but the 1440-sample accuracy is too thin for min_samples 2000 */
	assert_int_equal(eval("shadow.accuracy >= 0.95", 2000, &r), VERDICT_INCONCLUSIVE);
	assert_int_equal(eval("p95(candidate.alert_latency, 1h) < 5s", 121, &r), VERDICT_INCONCLUSIVE);
	assert_int_equal(eval("p95(candidate.alert_latency, 1h) < 5s", 120, &r), VERDICT_PASS);
}

static void
expr_eval__three_valued_logic__truth_table(void **state)
{
	static const char *const v[] = { "1 < 2", "2 < 1", "no.data > 0" };   /* P F I */
	static const enum verdict and_t[3][3] = {
		{ VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE },
		{ VERDICT_FAIL, VERDICT_FAIL, VERDICT_FAIL },
		{ VERDICT_INCONCLUSIVE, VERDICT_FAIL, VERDICT_INCONCLUSIVE },
	};
	static const enum verdict or_t[3][3] = {
		{ VERDICT_PASS, VERDICT_PASS, VERDICT_PASS },
		{ VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE },
		{ VERDICT_PASS, VERDICT_INCONCLUSIVE, VERDICT_INCONCLUSIVE },
	};
	struct expr_result r;
	char buf[128];
	int i, j;

	(void)state;
	for (i = 0; i < 3; i++) {
		for (j = 0; j < 3; j++) {
			snprintf(buf, sizeof(buf), "%s && %s", v[i], v[j]);
			assert_int_equal(eval(buf, 1, &r), and_t[i][j]);
			snprintf(buf, sizeof(buf), "%s || %s", v[i], v[j]);
			assert_int_equal(eval(buf, 1, &r), or_t[i][j]);
		}
	}
}

static void
expr_eval__no_metrics_interface__inconclusive(void **state)
{
	struct expr *e;
	struct expr_result r;
	char err[128];
	int col;

	(void)state;
	assert_int_equal(expr_parse("shadow.accuracy >= 0.95", &e, &col, err, sizeof(err)), 0);
	expr_eval(e, NULL, 1, &r);
	assert_int_equal(r.verdict, VERDICT_INCONCLUSIVE);
	expr_eval(NULL, NULL, 1, &r);
	assert_int_equal(r.verdict, VERDICT_INCONCLUSIVE);
	expr_free(e);
}

static void
count_metric(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
}

static void
expr_foreach_metric__lists_every_operand(void **state)
{
	struct expr *e;
	char err[128];
	int col, n = 0;

	(void)state;
	assert_int_equal(expr_parse("rate(a.x, 1m) / rate(a.y, 1m) < 1 && !(b.z == 2)", &e, &col,
	    err, sizeof(err)), 0);
	expr_foreach_metric(e, count_metric, &n);
	assert_int_equal(n, 3);
	expr_free(e);
}

static void
expr_parse__errors__column_and_message(void **state)
{
	(void)state;
	parse_bad("", 1, "empty expression");
	parse_bad("   ", 1, "empty expression");
	parse_bad("shadow.accuracy", 1, "the expression is a number, not a condition (compare it: ... < 0.005)");
	parse_bad("shadow.accuracy >= ", 20, "expected a number, a metric, a function or '(', found end of expression");
	parse_bad("shadow.accuracy >= 0.95 extra", 25, "expected an operator or the end of the expression, found 'e'");
	parse_bad("accuracy > 1", 1, "unknown name 'accuracy' (a metric is written INSTANCE.NAME, e.g. candidate.errors)");
	parse_bad("p96(a.b, 1h) < 1", 1, "unknown function 'p96' (known: rate, avg, min, max, sum, count, p50, p95, p99)");
	parse_bad("rate(a.b) < 1", 9, "expected ',' and a window (e.g. 10m), found ')'");
	parse_bad("rate(a.b, 10) < 1", 11, "the window must be a duration with a unit (e.g. 10m)");
	parse_bad("rate(a.b, 0s) < 1", 11, "the window must be longer than 0");
	parse_bad("rate(a.b, 10x) < 1", 11, "bad duration '10x': unknown unit 'x' (use ms, s, m, h or d)");
	parse_bad("rate(1, 10m) < 1", 6, "expected a metric name, found '1'");
	parse_bad("(a.b < 1", 9, "expected ')', found end of expression");
	parse_bad("a.b < 1 < 2", 9, "comparisons cannot be chained; use && between them");
	parse_bad("a.b && 1 < 2", 5, "'&&' needs a condition, not a number on its left");
	parse_bad("1 < 2 || a.b", 10, "'||' needs a condition, not a number on its right");
	parse_bad("!a.b < 1", 2, "'!' needs a condition, not a number (write !(a < b) with parentheses)");
	parse_bad("(1 < 2) + 1 > 0", 9, "'+' needs a number, not a condition on its left");
	parse_bad("(1 < 2) < 1", 9, "'<' compares numbers, not conditions");
	parse_bad("a..b > 1", 1, "malformed metric name 'a..b'");
	parse_bad("1.2.3 > 1", 1, "bad number '1.2.3'");
	parse_bad("a.b & 1", 5, "expected an operator or the end of the expression, found '&'");
	parse_bad("a.b = 1", 5, "expected an operator or the end of the expression, found '='");
	parse_bad("a.b > \x01", 7, "expected a number, a metric, a function or '(', found byte 0x01");
	parse_bad("a.b > \xc3\xa9", 7, "expected a number, a metric, a function or '(', found '\xc3\xa9'");
	parse_bad("a.b > \xff", 7, "expected a number, a metric, a function or '(', found byte 0xFF");
	parse_bad("a.b > \xc3", 7, "expected a number, a metric, a function or '(', found byte 0xC3");
}

static void
expr_parse__hostile_input__bounded(void **state)
{
	char *t = malloc(200001);
	struct expr *e;
	char err[256];
	int col, i;

	(void)state;
	/* deep parentheses */
	memset(t, '(', 100000);
	t[100000] = '\0';
	assert_int_equal(expr_parse(t, &e, &col, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expression too long (more than 4096 characters)");
	memset(t, '(', 4000);
	t[4000] = '\0';
	assert_int_equal(expr_parse(t, &e, &col, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expression nested too deeply");
	/* a long left-deep chain: the tree height is bounded */
	for (i = 0; i < 1000; i++)
		memcpy(t + 2 * i, "1+", 2);
	memcpy(t + 2000, "1>0", 4);
	assert_int_equal(expr_parse(t, &e, &col, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expression too long or nested too deeply");
	/* many negations */
	memset(t, '!', 3000);
	memcpy(t + 3000, "(1<2)", 6);
	assert_int_equal(expr_parse(t, &e, &col, err, sizeof(err)), -EINVAL);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expr_eval__seed_gates__pass_with_detail),
		cmocka_unit_test(expr_verdict__same_answers_as_eval__no_detail),
		cmocka_unit_test(expr_eval__arithmetic_and_precedence),
		cmocka_unit_test(expr_eval__missing_data__inconclusive_never_pass),
		cmocka_unit_test(expr_eval__three_valued_logic__truth_table),
		cmocka_unit_test(expr_eval__min_samples__guards_estimates_not_event_counts),
		cmocka_unit_test(expr_eval__no_metrics_interface__inconclusive),
		cmocka_unit_test(expr_foreach_metric__lists_every_operand),
		cmocka_unit_test(expr_parse__errors__column_and_message),
		cmocka_unit_test(expr_parse__hostile_input__bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * expr.h — the gate expression language (rolloutd.plan(5), EXPRESSIONS).
 *
 *   shadow.accuracy >= 0.95
 *   rate(candidate.errors, 10m) / rate(candidate.requests, 10m) > 0.005
 *   p95(candidate.alert_latency, 1h) < 5s && !(safety.rollback_armed == 0)
 *
 * Numbers, durations (a duration is a number of seconds: 5s == 5,
 * 500ms == 0.5), metric names (dotted identifiers, latest value),
 * window functions rate/avg/min/max/sum/count/p50/p95/p99(metric, window),
 * + - * /, comparisons < <= > >= == !=, && || !, parentheses.
 *
 * Evaluation is three-valued: a metric with no data or with fewer samples
 * than asked, a division by zero, or a NaN makes the comparison
 * INCONCLUSIVE — never PASS.
 */
#ifndef ROLLOUT_EXPR_H
#define ROLLOUT_EXPR_H

#include <stddef.h>
#include <stdint.h>

struct expr;

enum expr_fn {
	EXPR_FN_LATEST = 0, EXPR_FN_RATE, EXPR_FN_AVG, EXPR_FN_MIN, EXPR_FN_MAX,
	EXPR_FN_SUM, EXPR_FN_COUNT, EXPR_FN_P50, EXPR_FN_P95, EXPR_FN_P99,
};

enum verdict { VERDICT_PASS = 0, VERDICT_FAIL = 1, VERDICT_INCONCLUSIVE = 2 };

/*
 * What the evaluator reads.  Implemented by the metrics store (metrics.c)
 * and by test doubles.  Both return 0 with *OUT set, or -ENOENT when the
 * metric has no sample (in the window).  *NSAMPLES receives how many samples
 * the value is based on.
 */
struct expr_metrics {
	void *ctx;
	int (*latest)(void *ctx, const char *name, double *out, size_t *nsamples);
	int (*window)(void *ctx, const char *name, enum expr_fn fn, int64_t window_ms,
	    double *out, size_t *nsamples);
};

/*
 * Parse TEXT.  On error returns -EINVAL, sets *ERRCOL to the 1-based column
 * in TEXT and writes a message (no position) to ERR.  Never crashes on any
 * input; nesting is bounded.
 */
int expr_parse(const char *text, struct expr **out, int *errcol, char *err, size_t errlen);
void expr_free(struct expr *e);

struct expr_result {
	enum verdict verdict;
	double lhs;              /* value of the left side of the top comparison (NaN if unknown) */
	double rhs;
	size_t samples;          /* fewest samples any metric operand had */
	char detail[256];        /* e.g. "shadow.accuracy = 0.991 (1440 samples) >= 0.95" */
};

/* Evaluate E.  A metric operand with fewer than MIN_SAMPLES samples is unknown. */
void expr_eval(const struct expr *e, const struct expr_metrics *m, size_t min_samples,
    struct expr_result *res);
/*
 * expr_eval() without the detail string (RES->detail is ""): for a caller
 * that evaluates often and formats the detail only when something reads it
 * (the engine, every tick).  The metric callbacks are asked the same
 * questions in the same order as by expr_eval().
 */
void expr_verdict(const struct expr *e, const struct expr_metrics *m, size_t min_samples,
    struct expr_result *res);

/* Call FN for every metric name E references (for dashboards, checks). */
void expr_foreach_metric(const struct expr *e, void (*fn)(void *ctx, const char *name), void *ctx);
const char *verdict_name(enum verdict v);

#endif

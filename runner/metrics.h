/*
 * metrics.h — time-windowed series keyed by name (ring buffers), the data
 * gates and triggers read, /metrics exposes and the dashboard charts.
 * Memory is bounded per series whatever the input rate (old samples are
 * folded into per-second buckets once the ring is full).
 * Owned by the runner thread: not thread-safe (plugins reach it through
 * the bus).
 */
#ifndef ROLLOUT_METRICS_H
#define ROLLOUT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "expr.h"

struct clock;
struct metrics;

enum metric_type { METRIC_GAUGE = 0, METRIC_COUNTER = 1 };

int metrics_create(struct metrics **out, struct clock *clk);
void metrics_free(struct metrics *m);

/* Record one sample of NAME at the clock's now.  A counter sample is an increment. */
void metrics_record(struct metrics *m, const char *name, double value);
void metrics_record_at(struct metrics *m, const char *name, int64_t t_ms, double value);
/*
 * A series handle for hot paths (the simulator feeds millions of samples):
 * look the name up once, then record without hashing.  The handle lives as
 * long as M.  NULL beyond the series limit (4096) or on ENOMEM.
 */
struct metrics_series;
struct metrics_series *metrics_series(struct metrics *m, const char *name);
void metrics_series_record(struct metrics_series *s, int64_t t_ms, double value);
/* Declare a series' type and help text (for /metrics).  Optional. */
void metrics_describe(struct metrics *m, const char *name, enum metric_type type, const char *help);

/* The view the expression evaluator reads; valid as long as M. */
const struct expr_metrics *metrics_view(struct metrics *m);

/* Latest value; 0 or -ENOENT. */
int metrics_latest(struct metrics *m, const char *name, double *out);
/* Aggregate over [now - window, now]; 0 or -ENOENT. */
int metrics_window(struct metrics *m, const char *name, enum expr_fn fn, int64_t window_ms,
    double *out, size_t *nsamples);

/* For each series: name, type, help, latest value, total samples seen. */
typedef void (*metrics_each_fn)(void *ctx, const char *name, enum metric_type type,
    const char *help, double latest, uint64_t total);
void metrics_foreach(struct metrics *m, metrics_each_fn fn, void *ctx);

/* NAME's samples in [now - window, now] as [[t_ms, v], ...], at most MAXPOINTS (downsampled). */
json_t *metrics_series_json(struct metrics *m, const char *name, int64_t window_ms, size_t maxpoints);

#endif

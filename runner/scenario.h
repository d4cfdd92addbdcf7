/*
 * scenario.h — a simulation scenario (rolloutd(8), SIMULATION): scripted
 * metric streams, operator actions and log lines on a virtual clock.
 *
 *   start: 2026-01-01T00:00:00Z   # virtual start (default)
 *   sample: 10s                   # default sample period
 *   duration: 60d                 # stop here at the latest (default 90d)
 *   seed: 42                      # noise seed
 *   metrics:
 *     shadow.accuracy: 0.99       # a constant
 *     candidate.alert_latency:
 *       value: 1.5                # base value
 *       noise: 0.5                # + uniform noise in [-0.5, 0.5], a function of (seed, metric, time)
 *       every: 1s                 # this metric's sample period
 *       points:                   # piecewise: from AT on, VALUE (ramp: true = linear from the previous point)
 *         - { at: 10d, value: 0.80 }
 *         - { at: 12d, value: 0.99, ramp: true }
 *       outages: [ { from: 3d, to: 3d2h } ]   # no samples at all
 *   events:
 *     - { at: 9d, action: promote, who: cli, reason: "latency is fine" }
 *     - { at: 9d, action: phase, arg: gradual }
 *     - { at: 10d, log: "panic: runtime error", source: candidate }
 *
 * Every value is a pure function of the time, so a resumed simulation
 * feeds exactly the samples an uninterrupted one did.
 */
#ifndef ROLLOUT_SCENARIO_H
#define ROLLOUT_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct scenario_point {
	int64_t at_ms;                  /* offset from start */
	double value;
	int ramp;
};

struct scenario_outage {
	int64_t from_ms, to_ms;         /* offsets, [from, to) */
};

struct scenario_metric {
	char *name;
	double value;
	double noise;
	int64_t every_ms;
	struct scenario_point *points;
	size_t npoints;
	struct scenario_outage *outages;
	size_t noutages;
	uint64_t salt;                  /* hash of the name, for the noise */
};

struct scenario_event {
	int64_t at_ms;                  /* offset from start */
	enum engine_action action;      /* 0: a log line */
	char *arg;
	char *who;
	char *reason;
	char *log;
	char *source;
};

struct scenario {
	char *file;
	int64_t start_ms;               /* absolute */
	int64_t sample_ms;
	int64_t duration_ms;
	uint64_t seed;
	struct scenario_metric *metrics;
	size_t nmetrics;
	struct scenario_event *events;  /* sorted by time (stable) */
	size_t nevents;
};

/* Load FILE.  0, or -errno with "FILE:LINE:COLUMN: message" in ERR. */
int scenario_load(const char *file, struct scenario **out, char *err, size_t errlen);
void scenario_free(struct scenario *s);
/* The value of M at offset T_MS; 0 when it has a sample then, or -ENODATA (outage). */
int scenario_value(const struct scenario *s, const struct scenario_metric *m, int64_t t_ms,
    double *out);

#endif

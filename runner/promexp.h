/*
 * promexp.h — GET /metrics: the Prometheus text exposition format (0.0.4)
 * with HELP and TYPE lines (rolloutd-api(7), PROMETHEUS).
 *
 * Series of the metrics store map to Prometheus names:
 *   candidate.X / baseline.X  ->  rolloutd_system_X{system="candidate"}
 *   OTHER.X                   ->  rolloutd_OTHER_X
 * counters get the suffix _total (cumulative sum of the increments since
 * start); latencies (names containing "latency", ending in "_lag" or
 * "lead_time"; recorded in seconds) become histograms
 * rolloutd_..._seconds{le=...}; everything else is a gauge (latest value).
 * Rollout state (phase, state, traffic, gates), plugin health, queue,
 * alerts, HTTP statistics and RSS come from the inputs given to render.
 *
 * Counters and histograms are cumulative, so promexp_collect() must see
 * every sample: call it at least once a second and before rendering (it
 * reads the samples recorded since its last call).  Runner thread only.
 */
#ifndef ROLLOUT_PROMEXP_H
#define ROLLOUT_PROMEXP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct metrics;
struct http_stats;
struct promexp;

int promexp_create(struct promexp **out);
void promexp_free(struct promexp *p);

/* Fold the samples of counter and latency series recorded since the last call (up to NOW_MS). */
void promexp_collect(struct promexp *p, struct metrics *m, int64_t now_ms);

/* Everything but METRICS may be NULL/0. All borrowed. */
struct promexp_input {
	struct metrics *metrics;
	json_t *status;                 /* engine status: "plan","phase","phase_index","state","traffic","gates" */
	const char *const *state_names; /* every engine state name (NULL-terminated) */
	json_t *health;                 /* pipeline health: "bus", "plugins" */
	json_t *alerts;                 /* pipeline alerts view: "total", "alerts" (recent ring) */
	json_t *shadow;                 /* pipeline shadow view */
	const struct http_stats *http;
	size_t ws_clients;
	int flags_traffic;              /* hybridTrafficPercent as the router applies it */
	int emergency_rollback;         /* the flag */
	int flags_broken;
	uint64_t flags_generation;
	double uptime_seconds;
	const char *version;
};

/* Render the exposition (heap string, caller frees; *LEN set).  NULL on ENOMEM. */
char *promexp_render(struct promexp *p, const struct promexp_input *in, size_t *len);

/* Map a series name to its Prometheus base name and system label (SYSTEM "" when none). */
void promexp_name(const char *series, char *name, size_t namelen, char *system, size_t syslen);
/* 1 when SERIES is exported as a histogram. */
int promexp_is_latency(const char *series);
/* The process's resident set size in bytes (/proc/self/statm), 0 when unknown. */
double promexp_rss_bytes(void);

#endif

/*
 * shadow.h — the shadow comparator (Diffy-style): baseline and candidate
 * observe the same accounts; this module says how well they agree.
 *
 * Balance agreement: for every account of a baseline snapshot taken at T
 * with value V (free + reserved, planck), the candidate's value at the
 * nearest block within the lag tolerance, i.e. any value the candidate
 * held during [T - lag, T + lag], must equal V to the planck.  Accounts
 * the candidate has never observed are not checked (counted as unchecked).
 *
 * Alert matching: a baseline alert (account, window [S, E], net delta D)
 * is matched when the candidate's changes on that account in the window
 * sum to D within the tolerance.  The baseline's view of the chain lags by
 * up to `lag`, so its window is (S - x1, E - x2] for some x1, x2 in
 * [0, lag]: changes in (S, E - lag] must be in the sum, those in
 * (S - lag, S] and (E - lag, E] may be.  Otherwise it is missed.
 * Warm-up: when the candidate had no value for the account at S (its
 * first observation, has_before == 0, came after S: start-up, restart),
 * the alert is not comparable and counted as skipped, neither matched
 * nor missed.  An account the candidate never observed at all when the
 * alert is decided is missed.
 * A candidate alert at time t that no baseline alert of that account covers (S - lag < t <= E) once the baseline has
 * looked past t is an extra (coverage gain).  Lead time = baseline alert
 * time - the first covering candidate alert's time (seconds, positive when
 * the candidate was earlier).
 *
 * Decisions are deferred until the evidence can have arrived (events may
 * come late or out of order): a balance check or baseline alert at T is
 * decided once now >= T + lag + settle; a candidate alert once the
 * baseline horizon (latest snapshot / window end) passed t + lag.
 *
 * Metrics published through the metric callback:
 *   shadow.accuracy           (matched + agreed) / (matched + missed + checked)
 *   shadow.balance_agreement  agreed / checked
 *   shadow.matched, shadow.missed, shadow.extra, shadow.skipped
 *                             1 per decision (counters; skipped is not in accuracy)
 *   shadow.lead_time          seconds, one sample per matched alert with a candidate alert
 * The last 100 mismatches (balance, missed, extra) are kept with both sides.
 * Runner thread only.
 */
#ifndef ROLLOUT_SHADOW_H
#define ROLLOUT_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout/plugin.h"

struct rules_alert;

#define SHADOW_MISMATCHES 100

struct shadow_opts {
	int64_t lag_ms;               /* default 120000 */
	int64_t settle_ms;            /* extra wait before deciding; <= 0: 10000 */
	rollout_u128 tolerance;       /* planck; default 0 (exact) */
	unsigned decimals;            /* for token strings */
	uint16_t ss58_prefix;
	int64_t retain_ms;            /* candidate history kept; default 48h */
	void (*metric)(void *ctx, const char *name, double value); /* may be NULL */
	void *metric_ctx;
};

struct shadow_stats {
	uint64_t matched, missed, extra;
	uint64_t skipped;             /* baseline alerts not comparable (warm-up) */
	uint64_t balance_checked, balance_agreed, balance_unchecked;
	uint64_t lead_samples;
	double lead_sum_s;
	size_t pending;
};

struct shadow;

int shadow_create(struct shadow **out, const struct shadow_opts *o);
void shadow_free(struct shadow *s);

/* A candidate balance change (including first observations). */
void shadow_candidate_change(struct shadow *s, const struct rollout_balance_change *bc);
/* A baseline balance change: only moves the baseline horizon. */
void shadow_baseline_change(struct shadow *s, const struct rollout_balance_change *bc);
/* A baseline snapshot: queues a balance check per entry, moves the horizon. */
void shadow_baseline_snapshot(struct shadow *s, const struct rollout_snapshot *snap);
/* An alert of either system (A->system), delivered or not. */
void shadow_alert(struct shadow *s, const struct rules_alert *a);
/* Decide what can be decided at NOW_MS; publishes metrics.  Returns decisions made. */
size_t shadow_tick(struct shadow *s, int64_t now_ms);

void shadow_get_stats(const struct shadow *s, struct shadow_stats *out);
/* The JSON view documented in pipeline.h (new reference). */
json_t *shadow_json(const struct shadow *s);

#endif

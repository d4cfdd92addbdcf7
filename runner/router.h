/*
 * router.h — which system's alert is delivered (the traffic split).
 *
 * Modes, from the flags (router_mode_from_flags):
 *   rollback  emergencyRollback is true: baseline only.
 *   gradual   hybridTrafficPercent > 0: an account's alerts come from the
 *             candidate iff bucket(account) < traffic * 100, else baseline.
 *   parallel  enableParallelMode or enableHybridSystem with traffic 0: the
 *             candidate is computed for every account, delivered for none.
 *   legacy    otherwise: baseline only.
 * bucket(account) = LE64(BLAKE2b-64(salt || pubkey)) mod 10000: sticky, and
 * monotone in traffic (raising it only adds accounts).
 *
 * Exactly one system's alert per account and window: besides the bucket
 * rule, the router remembers per account the last time a candidate alert
 * was delivered and the last baseline window delivered, and suppresses an
 * alert of the other system that covers the same time (this matters only
 * when traffic changed between the two observations).
 * Runner thread only.
 */
#ifndef ROLLOUT_ROUTER_H
#define ROLLOUT_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct flags;
struct rules_alert;

enum router_mode { ROUTER_LEGACY = 0, ROUTER_PARALLEL, ROUTER_GRADUAL, ROUTER_ROLLBACK };

enum router_verdict {
	ROUTE_DELIVER = 0,
	ROUTE_SHADOW,        /* computed, not delivered (parallel mode or not this system's bucket) */
	ROUTE_COVERED,       /* the other system already delivered this account's window */
};

struct router;

/* SALT (plan salt, copied) seeds the buckets.  0 or -ENOMEM. */
int router_create(struct router **out, const char *salt);
void router_free(struct router *r);

/* bucket(pubkey) in 0..9999. */
unsigned router_bucket(const struct router *r, const uint8_t pubkey[32]);
/* 1 when the candidate serves PUBKEY under MODE/TRAFFIC. */
int router_candidate_serves(const struct router *r, enum router_mode mode, int traffic,
    const uint8_t pubkey[32]);

/* Read the mode and traffic (0..100) from F (NULL: legacy, 0). */
enum router_mode router_mode_from_flags(const struct flags *f, int *traffic);
const char *router_mode_name(enum router_mode m);

/*
 * Decide for alert A (A->system is "baseline" or "candidate") and record
 * the delivery.  Rollout notifications are not routed.
 */
enum router_verdict router_route(struct router *r, enum router_mode mode, int traffic,
    const struct rules_alert *a);
const char *router_verdict_name(enum router_verdict v);

#endif

/*
 * whale.h — the whale detection rules beyond the large movement (issue 9),
 * plugged into a rules instance (rules.h) with rules_add().  Both systems
 * get the same rules from the same plan block; each runs them on its own
 * observations.
 *
 *   whale_entry / whale_exit   an account enters / leaves the top-N list
 *   dormant_awakening          an account idle >= 30 d (warning) / 180 d (critical) moves
 *   coordinated_movement       >= 3 distinct whales move >= 10k tokens the same way within 60 min
 *   rapid_draining             loses > 10 % and >= 1k tokens (warning > 50 %)
 *   consolidation              gains > 20 % and >= 50k tokens (warning > 500k tokens)
 *   exchange_flow              an exchange account moves >= 10k / 100k / 1M tokens
 *   unlock                     frozen drops by >= 10k / 100k / 1M tokens (candidate only)
 *
 * Configuration: the plan's rules: block (see rolloutd.plan(5), RULES).
 * Amounts are tokens in the plan, rollout_u128 planck here; no floating
 * point.  Runner thread only.
 */
#ifndef ROLLOUT_WHALE_H
#define ROLLOUT_WHALE_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct ynode;

/*
 * Parse the whale keys of the rules: block CFG (NULL: defaults) and add the
 * rules to R (freed by rules_free).  Every key of CFG other than
 * large_movement (rules.c) and the whale rules' keys is an error.
 * DATA_DIR (may be NULL: memory only) keeps each account's last activity
 * in DATA_DIR/rules/<system>/activity/<hex public key>.json.
 * 0, or -EINVAL/-ENOMEM with "FILE:LINE:COL: rules: ..." in ERR.
 */
int whale_install(struct rules *r, const struct ynode *cfg, const char *data_dir, char *err,
    size_t errlen);

/*
 * Seed the last activity of PUBKEY (e.g. the time of its latest transfer
 * from Subscan) when none is known yet.  Returns 0, -EEXIST when one is
 * already known (own history wins), -ENOENT when R has no whale rules.
 */
int whale_seed_activity(struct rules *r, const uint8_t pubkey[32], int64_t ms);
/* The last activity of PUBKEY: 0 and *MS, or -ENOENT when unknown. */
int whale_last_activity(struct rules *r, const uint8_t pubkey[32], int64_t *ms);

/*
 * 1 when the shadow comparator can match alert A against the other system:
 * per-account balance movements both systems see (large_movement,
 * rapid_draining, consolidation, exchange_flow).  Alerts about the list
 * (whale_entry/exit, raised from the baseline's snapshots only), about
 * clusters (coordinated_movement), about history each side keeps itself
 * (dormant_awakening) and about what only the candidate sees (unlock:
 * per-block frozen) are not compared: never missed, never extra.
 */
int whale_compared(const struct rules_alert *a);

#endif

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
 *   exchange_deposit           a whale (in the top list) sends >= 10k / 100k / 1M tokens to
 *                              an exchange (from the baseline's transfers, whale_transfer)
 *   exchange_withdrawal        an exchange sends them to a whale
 *   unlock                     frozen drops by >= 10k / 100k / 1M tokens (candidate only)
 *
 * Facts only the baseline's source knows reach both systems' rules alike
 * (the pipeline feeds them to both): the top list (labels, ranks,
 * whale_entry/whale_exit), the seeded last activity of an account first
 * seen (whale_seed) and the transfers with both counterparties
 * (whale_transfer).  Alerts from a list or a transfer are raised by both
 * rule sets at the same moment; the pipeline delivers the one of the
 * system that serves the account (whale_fact_alert), and the comparator
 * does not compare them (whale_compared).
 *
 * Files (DATA_DIR given to whale_install):
 *   DATA/rules/<system>/activity/<hex public key>.json   last activity, from the
 *       account's own history ("source":"history") or a seed ("subscan.transfers")
 *   DATA/rules/<system>/top.json   the last top list (public key, rank, total planck),
 *       rewritten atomically when it changes and read back at start, so that
 *       whale_entry/whale_exit after a restart compare with the list from before it.
 * Both are written by a writer thread per rules instance, so that bursts of
 * writes (a seed per account first seen, a list per snapshot) do not stall
 * the runner thread; the list atomically with fsync, the activity files
 * renamed into place without fsync (they survive a kill -9; a power loss can
 * only make an account look idler).  A crash loses at most the writes still
 * queued (whale_sync() waits for them).
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
 * in DATA_DIR/rules/<system>/activity/<hex public key>.json and the last
 * top list in DATA_DIR/rules/<system>/top.json, which is read here: a
 * damaged one is logged ("FILE: damaged top list: line L, column C: ...")
 * and ignored (no list, as on a first start), never fatal.
 * 0, or -EINVAL/-ENOMEM with "FILE:LINE:COL: rules: ..." in ERR.
 */
int whale_install(struct rules *r, const struct ynode *cfg, const char *data_dir, char *err,
    size_t errlen);

/*
 * Seed the last activity of ACT->pubkey from a source other than its own
 * history (ROLLOUT_EV_ACTIVITY: Subscan's latest transfer) when none is
 * known yet; the seed is written to the activity file like the account's
 * own history, so it survives a restart, and the next change is a
 * dormant_awakening when it came >= dormant.warning after ACT->last_ms.
 * Returns 0, -EEXIST when an activity is already known (own history, or an
 * earlier seed, wins), -ENODATA when ACT->found is 0 (stays unknown, never
 * "now"), -EINVAL for last_ms <= 0, -ENOENT when R has no whale rules,
 * -ENOMEM.
 */
int whale_seed(struct rules *r, const struct rollout_activity *act);
/* whale_seed() with found = 1, block 0, source "seed". */
int whale_seed_activity(struct rules *r, const uint8_t pubkey[32], int64_t ms);

/*
 * Observe a transfer with both counterparties (ROLLOUT_EV_TRANSFER).  A
 * whale (in the last top list, within whale_list.top when set; not itself
 * an exchange) sending >= exchange_flow.transfers.info to an exchange raises
 * exchange_deposit (an outflow of the whale's account); an exchange
 * sending to a whale raises exchange_withdrawal (an inflow).  A side is an
 * exchange when its tag_type is "Exchange" on the transfer or in the last
 * list, or its label (the transfer's tag name, else the list's label)
 * matches exchange_flow.patterns.  The alert is about the whale's account
 * (routed by it); key "<type>:<whale account>:<transfer id>"; a transfer
 * id seen before (the last 8192) raises nothing.  FN NULL: remember only.
 * Returns the number of alerts (0 or 1).
 */
int whale_transfer(struct rules *r, const struct rollout_transfer *t, int64_t now_ms,
    rules_alert_fn fn, void *ctx);
/*
 * Wait until every file R queued (activity files, top list) is written.
 * Files are written atomically on a thread of R's own (fsync off the
 * runner thread); rules_free() waits for them too.  0, or -ENOENT when R
 * has no whale rules.
 */
int whale_sync(struct rules *r);
/* The last activity of PUBKEY: 0 and *MS, or -ENOENT when unknown. */
int whale_last_activity(struct rules *r, const uint8_t pubkey[32], int64_t *ms);

/*
 * 1 when the shadow comparator can match alert A against the other system:
 * per-account balance movements both systems see (large_movement,
 * rapid_draining, consolidation, exchange_flow).  Alerts about the list
 * (whale_entry/exit, from the baseline's lists given to both), about
 * clusters (coordinated_movement), about history each side keeps itself
 * (dormant_awakening), about what only the candidate sees (unlock:
 * per-block frozen) and about the baseline's transfers, which both systems
 * get alike (exchange_deposit/exchange_withdrawal) are not compared: never
 * missed, never extra.
 */
int whale_compared(const struct rules_alert *a);

/*
 * 1 when A comes from a fact both rule sets get at the same moment from the
 * baseline (whale_entry, whale_exit, exchange_deposit, exchange_withdrawal):
 * the pipeline delivers
 * the copy of the system serving the account (router_candidate_serves,
 * without the router's window coverage) and records no *.alert_latency
 * (the delay is the baseline's polling, not the system's processing).
 */
int whale_fact_alert(const struct rules_alert *a);

#endif

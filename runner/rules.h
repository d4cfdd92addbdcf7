/*
 * rules.h — whale detection rules, run identically on each system's
 * observations (baseline and candidate each get their own struct rules
 * built from the same configuration), so the shadow comparator compares
 * them on equal terms.
 *
 * A rules instance keeps each account's last-known state (balance, label,
 * last change) and turns balance changes and snapshots into alerts.  The
 * first rule is the large movement (|Δ(free + reserved)| >= 10k / 100k / 1M
 * tokens -> info / warning / critical); the other rules of the whale
 * detection issue plug into the same table (rules.c, `rules_table`).
 *
 * Amounts are rollout_u128 planck everywhere; no floating point.
 * Runner thread only.
 */
#ifndef ROLLOUT_RULES_H
#define ROLLOUT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "rollout/plugin.h"

struct ynode;

/* An alert produced by a rule.  Self-contained (fixed buffers). */
struct rules_alert {
	char id[33];                      /* hex of BLAKE2b-128(key): stable across restarts */
	char key[192];                    /* "large_movement:<account>:<block or window end>" */
	char type[32];                    /* "large_movement" */
	enum rollout_severity severity;
	uint8_t pubkey[32];
	char account[64];                 /* SS58 (or 0x-hex when no prefix is known) */
	char label[128];                  /* display name / exchange tag, "" when none */
	int negative;                     /* 1: outflow */
	rollout_u128 amount;              /* |delta| planck */
	char amount_tokens[64];           /* exact decimal, "-12345.6789" */
	uint64_t block_from, block_to;    /* 0 when unknown (baseline windows) */
	int64_t window_start_ms, window_end_ms;
	int64_t time_ms;                  /* when the system observed it (observed_ms) */
	char system[16];                  /* "baseline" / "candidate" */
	char title[256];
	char message[768];
	char details[512];                /* JSON object text */
};

typedef void (*rules_alert_fn)(void *ctx, const struct rules_alert *a);

/* Thresholds of the large-movement rule, planck. */
struct rules_large_movement {
	rollout_u128 info, warning, critical;
};

struct rules;

/*
 * Create a rules instance for SYSTEM ("baseline"/"candidate") from the
 * plan's rules: block CFG (may be NULL: defaults).  Amounts in CFG are
 * tokens (exact decimals), converted with DECIMALS.  SS58_PREFIX formats
 * accounts; SYMBOL labels amounts.  On error returns -EINVAL with
 * "FILE:LINE:COL: rules: ..." in ERR.
 *
 *   rules:
 *     large_movement: { info: 10000, warning: 100000, critical: 1000000 }
 */
int rules_create(struct rules **out, const char *system, const struct ynode *cfg,
    unsigned decimals, const char *symbol, uint16_t ss58_prefix, char *err, size_t errlen);
void rules_free(struct rules *r);

/*
 * Observe a balance change.  Updates the account's state and calls FN for
 * every alert (FN must copy what it keeps).  A first observation
 * (has_before == 0) only records the state.  Returns the number of alerts.
 */
int rules_balance(struct rules *r, const struct rollout_balance_change *bc, int64_t now_ms,
    rules_alert_fn fn, void *ctx);
/* Observe a top-N snapshot (labels, ranks).  FN may be NULL (state only).  Returns the number of alerts. */
int rules_snapshot(struct rules *r, const struct rollout_snapshot *s, int64_t now_ms,
    rules_alert_fn fn, void *ctx);

/* Last-known state of an account. */
struct rules_account {
	uint8_t pubkey[32];
	int known;
	struct rollout_account_data data;
	uint64_t block;                   /* block of the last observation, 0 unknown */
	int64_t changed_ms;               /* time of the last change, 0 unknown */
	uint32_t rank;                    /* from the last snapshot, 0 none */
	char label[128];
};
/* The state of PUBKEY, or NULL when never seen.  Valid until the next rules_* call. */
const struct rules_account *rules_account(const struct rules *r, const uint8_t pubkey[32]);
size_t rules_account_count(const struct rules *r);
const struct rules_large_movement *rules_thresholds(const struct rules *r);

/* ---- adding rules (the whale detection issue) ------------------------------ */

/*
 * A rule.  BALANCE sees the account's state before the change is applied
 * (ACCT is NULL only when out of memory) and only real changes
 * (has_before == 1); SNAPSHOT sees each top-N list, also when FN is NULL
 * (then it only updates its state and raises nothing).  Each calls FN once
 * per alert and returns how many it raised.  Either may be NULL.
 */
struct rules_rule {
	const char *name;
	int (*balance)(struct rules *r, const struct rules_account *acct,
	    const struct rollout_balance_change *bc, int64_t now_ms, rules_alert_fn fn, void *ctx);
	int (*snapshot)(struct rules *r, const struct rollout_snapshot *s, int64_t now_ms,
	    rules_alert_fn fn, void *ctx);
	void *arg;                        /* the rule's own state (see rules_rule_arg) */
};

/* Run RULE (copied; RULE->arg stays the caller's) after the built-in ones.  0 or -ENOMEM/-E2BIG. */
int rules_add(struct rules *r, const struct rules_rule *rule);
/* Have rules_free() call FN(ARG) (once, before freeing R), e.g. to free a rule's state.  0 or -E2BIG. */
int rules_on_free(struct rules *r, void (*fn)(void *arg), void *arg);
/* The arg of the rule named NAME, or NULL. */
void *rules_rule_arg(const struct rules *r, const char *name);

/* What a rule needs to know about its instance. */
const char *rules_system(const struct rules *r);
unsigned rules_decimals(const struct rules *r);
const char *rules_symbol(const struct rules *r);
uint16_t rules_ss58_prefix(const struct rules *r);
/* Mutable state of PUBKEY (created when new; NULL on out of memory). */
struct rules_account *rules_account_get(struct rules *r, const uint8_t pubkey[32]);

/*
 * Start an alert: zero A, set type, severity, system, pubkey, account
 * (SS58), label (from the account's state), amount (sign/magnitude and
 * exact tokens), block range and window from BC (may be NULL) and time.
 * The rule then writes key, title, message, details and calls
 * rules_alert_id(a->key, a->id).
 */
void rules_alert_init(const struct rules *r, struct rules_alert *a, const char *type,
    enum rollout_severity sev, const uint8_t pubkey[32], int negative, rollout_u128 amount,
    const struct rollout_balance_change *bc, int64_t time_ms);

/* ---- helpers shared with the comparator and tests ----------------------- */

/*
 * Signed difference AFTER - BEFORE of free + reserved as sign and magnitude.
 * A magnitude beyond 2^128-1 (only with values near the u128 maximum)
 * saturates at 2^128-1.  Returns 1 if negative, 0 otherwise.
 */
int rules_total_delta(const struct rollout_account_data *before,
    const struct rollout_account_data *after, rollout_u128 *mag);
/* free + reserved, saturating at 2^128-1. */
rollout_u128 rules_total(const struct rollout_account_data *d);
/* V planck as exact tokens ("-1.5"), into BUF (>= 64 bytes). */
char *rules_format_tokens(rollout_u128 v, unsigned decimals, int negative, char *buf, size_t len);
char *rules_format_u128(rollout_u128 v, char *buf, size_t len);
/* Exact decimal tokens -> planck.  0, -EINVAL, -ERANGE. */
int rules_parse_tokens(const char *s, unsigned decimals, rollout_u128 *out);
/* The account string used in alerts (SS58 when PREFIX is usable, else 0x-hex). */
void rules_account_string(const uint8_t pubkey[32], uint16_t prefix, char *buf, size_t len);
/* Hex of BLAKE2b-128(KEY) into ID (33 bytes). */
void rules_alert_id(const char *key, char id[33]);

#endif

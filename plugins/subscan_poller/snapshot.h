/*
 * snapshot.h — top-N snapshots of subscan_poller: Subscan rows to planck
 * entries, the legacy diff between two snapshots, and the on-disk copy.
 */
#ifndef SUBSCAN_SNAPSHOT_H
#define SUBSCAN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout/plugin.h"
#include "ss58.h"

struct snapshot {
	int64_t taken_ms;
	size_t count, cap;
	struct rollout_snapshot_entry *entries;  /* rank order */
	char (*addresses)[SS58_MAX_LEN];         /* parallel to entries */
};

/* Free what S holds (S itself is the caller's) and zero it. */
void snapshot_clear(struct snapshot *s);

/*
 * Convert one row of /api/v2/scan/accounts (`balance`, `reserved`,
 * `balance_lock` decimal token strings, `nonce`, `address`,
 * `account_display`) and append it to S with the next rank; a pubkey that
 * is already in S (pages shifted while paging) is skipped.  DECIMALS and
 * PREFIX come from the chain preset (an address of another network is
 * rejected).  0, or -EINVAL with "field: reason" in ERR.
 */
int snapshot_add_row(struct snapshot *s, json_t *row, unsigned decimals, uint16_t prefix,
    char *err, size_t errlen);

/* Called for each legacy change; returns 0 to go on. */
typedef int (*snapshot_change_fn)(void *ctx, const struct rollout_balance_change *ch,
    size_t index);

/*
 * The legacy detector: for every account of CUR that is also in PREV and
 * whose free, reserved or nonce differ, call FN with a change whose window
 * is PREV->taken_ms..CUR->taken_ms (blocks 0, known_mask FREE|RESERVED|NONCE;
 * frozen carries balance_lock but is not "known" per block).  Accounts new
 * in CUR are reported with has_before = 0 when REPORT_NEW.  Returns the
 * number of changes (has_before = 1) reported.
 */
size_t snapshot_diff(const struct snapshot *prev, const struct snapshot *cur, int64_t observed_ms,
    int report_new, snapshot_change_fn fn, void *ctx);

/* Write S to PATH atomically as JSON (planck as decimal strings).  0 or -errno. */
int snapshot_save(const struct snapshot *s, const char *path, const char *chain,
    unsigned decimals);
/*
 * Load PATH into S (cleared first).  -ENOENT when absent, -EINVAL (message
 * in ERR) when malformed or written for another chain/decimals.
 */
int snapshot_load(struct snapshot *s, const char *path, const char *chain, unsigned decimals,
    uint16_t prefix, char *err, size_t errlen);

#endif

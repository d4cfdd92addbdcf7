/*
 * lookups.h — per-account Subscan lookups of subscan_poller, made on the
 * poller's own thread after each good snapshot cycle, within per-cycle
 * request budgets and before the next cycle is half due (snapshots have
 * priority):
 *
 *   activity   for each account of the top list not asked before, the
 *              newest transfer (POST /api/v2/scan/transfers {address,
 *              row:1, page:0}) -> one ROLLOUT_EV_ACTIVITY (found = 0 when
 *              Subscan knows no transfer).  An error leaves the account
 *              un-asked: it is asked again next cycle.
 *   exchanges  the top list's exchanges (merkle.tag_type "Exchange", or a
 *              tag_name / display matching `exchange_pattern`) whose free,
 *              reserved or nonce moved since their last look (every one
 *              with follow_always) are followed round-robin: the transfers
 *              newer than the newest id already seen -> one
 *              ROLLOUT_EV_TRANSFER each, oldest first.  The first look at
 *              an exchange only remembers its newest id.
 *
 * The asked-set and the newest id per exchange persist in one JSON file
 * (DATA/plugins/<instance>/lookups.json), written atomically.
 *
 * Threads: lookups_cycle() runs on the poller's thread; lookups_stats()
 * may be called from any thread.
 */
#ifndef SUBSCAN_LOOKUPS_H
#define SUBSCAN_LOOKUPS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout/plugin.h"
#include "sclient.h"
#include "snapshot.h"

struct lookups_exchange {
	uint8_t pubkey[32];
	long long newest_id;          /* newest transfer_id seen (0: none yet) */
	/* the snapshot values at its last look (not persisted: a restart looks again) */
	int have_values;
	uint32_t nonce;
	rollout_u128 free, reserved;
};

struct lookups {
	/* configuration (set before the first cycle) */
	long long activity_max;       /* activity requests per cycle; 0 disables */
	long long exchange_max;       /* exchange-following requests per cycle; 0 disables */
	int follow_always;            /* 0: only exchanges whose balance or nonce moved */
	long long page_rows;          /* rows per page when following (1..100) */
	void *exchange_re;            /* pcre2_code *, owned; NULL: tag_type only */
	void *exchange_md;            /* pcre2_match_data *, owned */
	char *path;                   /* the state file, NULL: not persisted */
	char chain[64];
	char symbol[16];
	uint16_t prefix;
	unsigned decimals;
	/* state: written by the poller's thread only */
	uint8_t (*asked)[32];         /* sorted */
	size_t nasked, capasked;
	struct lookups_exchange *ex;  /* sorted by pubkey */
	size_t nex, capex;
	size_t cursor;                /* round-robin position among the exchanges */
	int dirty;
	/* transfer ids emitted lately: a transfer between two followed exchanges once */
	long long recent[1024];
	size_t nrecent, recent_pos;
	/* counters, under lock */
	pthread_mutex_t lock;
	uint64_t activity_found, activity_none, activity_errors;
	uint64_t transfers_emitted, transfer_errors, exchange_requests, gaps;
	size_t exchanges_in_top, exchanges_moved, unasked_in_top;
};

/* What lookups_cycle() reports back to the poller (called without locks). */
struct lookups_sink {
	void *ctx;
	/* emit an event (retrying while the bus is full); 0 or -errno */
	int (*emit)(void *ctx, const struct rollout_event *ev);
	/* report an error (an EV_ERROR event and the poller's last error) */
	void (*error)(void *ctx, const char *kind, const char *message);
};

/*
 * Prepare L (zeroed by the caller) for CHAIN / PREFIX / DECIMALS / SYMBOL;
 * PATH (copied, may be NULL) is the state file.  0 or -ENOMEM.
 */
int lookups_init(struct lookups *l, const char *path, const char *chain, uint16_t prefix,
    unsigned decimals, const char *symbol);
/* Free what L holds (L itself is the caller's). */
void lookups_free(struct lookups *l);

/*
 * Compile PATTERN (PCRE2, UTF) as the exchange label pattern.  0, or
 * -EINVAL with "offset N: reason" in ERR.
 */
int lookups_set_pattern(struct lookups *l, const char *pattern, char *err, size_t errlen);

/* 1 when E is an exchange: merkle.tag_type "Exchange", or a label matching the pattern. */
int lookups_is_exchange(struct lookups *l, const struct rollout_snapshot_entry *e);

/*
 * Load the state file.  0, -ENOENT when absent, -EINVAL (message in ERR,
 * naming the file and the field) when malformed or for another chain.
 */
int lookups_load(struct lookups *l, char *err, size_t errlen);
/* Write the state file atomically (when L->path is set).  0 or -errno. */
int lookups_save(const struct lookups *l);

/*
 * Decode one item of Subscan's transfers list into OUT (labels from the
 * items' from/to_account_display merkle tags, "" when none).  *ID gets
 * transfer_id, or -1 when it cannot be read.  Returns 0, 1 when the item
 * is well formed but not a transfer to report (success false, or another
 * asset than SYMBOL), or -EINVAL with "FIELD: reason" in ERR; OUT is then
 * not to be used.
 */
int lookups_decode_transfer(const struct lookups *l, json_t *item, struct rollout_transfer *out,
    long long *id, char *err, size_t errlen);

/*
 * One round of lookups for the top list CUR (the accounts' addresses are
 * CUR->addresses) over CONN, stopping at the budgets, at the first failed
 * request, or when HOST's clock passes DEADLINE_MS.  Events and errors go
 * to SINK; the state file is rewritten when something changed.
 */
void lookups_cycle(struct lookups *l, struct sclient_conn *conn, const struct rollout_host *host,
    const struct snapshot *cur, int64_t deadline_ms, const struct lookups_sink *sink);

/* Add the counters to OBJ (a JSON object) as OBJ.lookups. */
void lookups_stats(struct lookups *l, json_t *obj);

#endif

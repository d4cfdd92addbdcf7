/*
 * ledger.h — the chain state of the fake Polkadot node: accounts with their
 * System.Account values per block, and a reorg-free list of blocks.  Values
 * are kept as the 80-byte SCALE encoding (scale.h) or "absent" (reaped), so
 * what the node serves is produced by the primitives that the unit tests
 * check against ../shared/fixtures/.  Single-threaded.  Reused by the
 * simulated chain (issue 11): nothing here knows about JSON or sockets.
 */
#ifndef FAKENODE_LEDGER_H
#define FAKENODE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <rollout/plugin.h>

#include "storage.h"

struct ledger_value {
	uint64_t block;                 /* first block where this value holds */
	int exists;                     /* 0: reaped / never existed (storage is null) */
	uint8_t info[80];               /* SCALE AccountInfo when exists */
};

struct ledger_account {
	uint8_t pubkey[32];
	char key_hex[STORAGE_ACCOUNT_KEY_HEXLEN + 1];
	size_t nhist, caphist;
	struct ledger_value *hist;      /* ascending by block */
};

struct ledger_block {
	uint64_t number;
	uint8_t hash[32];               /* header_hash() of the header below (empty digest) */
	uint8_t parent[32];
	uint8_t state_root[32];         /* derived from number and parent */
	uint8_t extrinsics_root[32];
	int64_t time_ms;                /* Timestamp.Now */
	size_t nchanged;
	size_t *changed;                /* indices of accounts whose value changed */
};

struct ledger;

/*
 * A ledger with a genesis block #0 at GENESIS_MS and a deterministic random
 * generator seeded with SEED.  NULL on out of memory.
 */
struct ledger *ledger_new(int64_t genesis_ms, uint64_t seed);
void ledger_free(struct ledger *l);

/*
 * Stage a new value of PUBKEY for the next block (the account is created if
 * unknown).  D NULL means reaped (storage null).  Returns the account
 * index or -ENOMEM.
 */
long ledger_stage(struct ledger *l, const uint8_t pubkey[32], const struct rollout_account_data *d);

/*
 * Add N accounts with derived keys blake2_256("fakenode" ++ seed ++ i) and
 * random balances: written into genesis while no block was produced, else
 * staged for the next block.
 */
int ledger_generate(struct ledger *l, size_t n);

/*
 * Stage N random changes (free balance moves, nonce bumps, occasional reap
 * and re-creation) over random existing accounts.  Returns how many were staged.
 */
size_t ledger_stage_random(struct ledger *l, size_t n);

/* Commit the staged values as a new block at TIME_MS (0: previous + 6 s; never before the previous + 1 ms). */
const struct ledger_block *ledger_produce(struct ledger *l, int64_t time_ms);

size_t ledger_naccounts(const struct ledger *l);
const struct ledger_account *ledger_account(const struct ledger *l, size_t i);
/* Index of PUBKEY, or -1. */
long ledger_find(const struct ledger *l, const uint8_t pubkey[32]);
const struct ledger_block *ledger_best(const struct ledger *l);
const struct ledger_block *ledger_block(const struct ledger *l, uint64_t number); /* NULL if none */
const struct ledger_block *ledger_block_by_hash(const struct ledger *l, const uint8_t hash[32]);
/* The value of account I at block NUMBER (NULL if the account did not exist then). */
const struct ledger_value *ledger_value_at(const struct ledger *l, size_t i, uint64_t number);
/* Number of staged changes. */
size_t ledger_npending(const struct ledger *l);

#endif

/* ledger.c — see ledger.h. */
#include "ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "header.h"
#include "scale.h"

struct ledger_pending {
	size_t account;
	int exists;
	uint8_t info[80];
};

struct ledger {
	struct ledger_account *accounts;
	size_t naccounts, capaccounts;
	long *index;                    /* open addressing over pubkey, -1 = empty */
	size_t indexcap;
	struct ledger_block *blocks;
	size_t nblocks, capblocks;
	struct ledger_pending *pending;
	size_t npending, cappending;
	uint64_t rng;
	uint64_t seed;
	uint64_t generated;
};

static uint64_t
ledger_rand(struct ledger *l)
{
	/* xorshift64* */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 2685821657736338717ull;
}

static size_t
ledger_hash(const uint8_t pk[32])
{
	uint64_t h;

	memcpy(&h, pk, 8);
	return (size_t)(h ^ (h >> 29));
}

static int
ledger_index_grow(struct ledger *l)
{
	size_t cap = l->indexcap ? l->indexcap * 2 : 1024, i;
	long *idx = malloc(cap * sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	for (i = 0; i < cap; i++)
		idx[i] = -1;
	for (i = 0; i < l->naccounts; i++) {
		size_t h = ledger_hash(l->accounts[i].pubkey) & (cap - 1);

		while (idx[h] >= 0)
			h = (h + 1) & (cap - 1);
		idx[h] = (long)i;
	}
	free(l->index);
	l->index = idx;
	l->indexcap = cap;
	return 0;
}

long
ledger_find(const struct ledger *l, const uint8_t pubkey[32])
{
	size_t h;

	if (l->indexcap == 0)
		return -1;
	for (h = ledger_hash(pubkey) & (l->indexcap - 1); l->index[h] >= 0;
	    h = (h + 1) & (l->indexcap - 1))
		if (memcmp(l->accounts[l->index[h]].pubkey, pubkey, 32) == 0)
			return l->index[h];
	return -1;
}

/* Roots derived from the number and parent; the hash is the real header hash. */
static void
ledger_block_hash(struct ledger_block *b)
{
	uint8_t in[45];
	int i;

	for (i = 0; i < 8; i++)
		in[i] = (uint8_t)(b->number >> (8 * i));
	memcpy(in + 8, b->parent, 32);
	memcpy(in + 40, "state", 5);
	blake2_256(in, sizeof(in), b->state_root);
	memcpy(in + 40, "extrs", 5);
	blake2_256(in, sizeof(in), b->extrinsics_root);
	header_hash(b->parent, b->number, b->state_root, b->extrinsics_root, 0, NULL, 0, b->hash);
}

struct ledger *
ledger_new(int64_t genesis_ms, uint64_t seed)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->seed = seed;
	l->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	l->blocks = calloc(64, sizeof(*l->blocks));
	if (l->blocks == NULL || ledger_index_grow(l) < 0) {
		ledger_free(l);
		return NULL;
	}
	l->capblocks = 64;
	l->nblocks = 1;
	l->blocks[0].time_ms = genesis_ms;
	ledger_block_hash(&l->blocks[0]);
	return l;
}

void
ledger_free(struct ledger *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->naccounts; i++)
		free(l->accounts[i].hist);
	for (i = 0; i < l->nblocks; i++)
		free(l->blocks[i].changed);
	free(l->accounts);
	free(l->index);
	free(l->blocks);
	free(l->pending);
	free(l);
}

static int
ledger_hist_push(struct ledger_account *a, uint64_t block, int exists, const uint8_t info[80])
{
	struct ledger_value *v;

	if (a->nhist > 0 && a->hist[a->nhist - 1].block == block) {
		v = &a->hist[a->nhist - 1];
	} else {
		if (a->nhist == a->caphist) {
			size_t cap = a->caphist ? a->caphist * 2 : 2;
			struct ledger_value *h = realloc(a->hist, cap * sizeof(*h));

			if (h == NULL)
				return -ENOMEM;
			a->hist = h;
			a->caphist = cap;
		}
		v = &a->hist[a->nhist++];
	}
	v->block = block;
	v->exists = exists;
	if (exists)
		memcpy(v->info, info, 80);
	else
		memset(v->info, 0, 80);
	return 0;
}

static long
ledger_account_add(struct ledger *l, const uint8_t pubkey[32])
{
	struct ledger_account *a;

	if ((l->naccounts + 1) * 2 > l->indexcap && ledger_index_grow(l) < 0)
		return -ENOMEM;
	if (l->naccounts == l->capaccounts) {
		size_t cap = l->capaccounts ? l->capaccounts * 2 : 64;
		struct ledger_account *n = realloc(l->accounts, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		l->accounts = n;
		l->capaccounts = cap;
	}
	a = &l->accounts[l->naccounts];
	memset(a, 0, sizeof(*a));
	memcpy(a->pubkey, pubkey, 32);
	storage_system_account_key_hex(pubkey, a->key_hex);
	{
		size_t h = ledger_hash(pubkey) & (l->indexcap - 1);

		while (l->index[h] >= 0)
			h = (h + 1) & (l->indexcap - 1);
		l->index[h] = (long)l->naccounts;
	}
	return (long)l->naccounts++;
}

static void
ledger_encode(const struct rollout_account_data *d, uint8_t info[80])
{
	/* flags: the "new logic" bit that every migrated account carries */
	scale_encode_account_info(d, 0, 1, 0, (rollout_u128)1 << 127, info);
}

static long
ledger_put(struct ledger *l, const uint8_t pubkey[32], const struct rollout_account_data *d,
    int genesis)
{
	uint8_t info[80];
	long i = ledger_find(l, pubkey);
	size_t k;

	if (i < 0 && (i = ledger_account_add(l, pubkey)) < 0)
		return i;
	if (d != NULL)
		ledger_encode(d, info);
	if (genesis && l->nblocks == 1) {
		if (ledger_hist_push(&l->accounts[i], 0, d != NULL, info) < 0)
			return -ENOMEM;
		return i;
	}
	for (k = 0; k < l->npending; k++)
		if (l->pending[k].account == (size_t)i)
			break;
	if (k == l->npending) {
		if (l->npending == l->cappending) {
			size_t cap = l->cappending ? l->cappending * 2 : 64;
			struct ledger_pending *p = realloc(l->pending, cap * sizeof(*p));

			if (p == NULL)
				return -ENOMEM;
			l->pending = p;
			l->cappending = cap;
		}
		l->npending++;
	}
	l->pending[k].account = (size_t)i;
	l->pending[k].exists = d != NULL;
	if (d != NULL)
		memcpy(l->pending[k].info, info, 80);
	return i;
}

long
ledger_stage(struct ledger *l, const uint8_t pubkey[32], const struct rollout_account_data *d)
{
	return ledger_put(l, pubkey, d, 0);
}

int
ledger_generate(struct ledger *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t in[24], pk[32];
		struct rollout_account_data d;
		uint64_t g = l->generated++;
		int j;

		memcpy(in, "fakenode", 8);
		for (j = 0; j < 8; j++) {
			in[8 + j] = (uint8_t)(l->seed >> (8 * j));
			in[16 + j] = (uint8_t)(g >> (8 * j));
		}
		blake2_256(in, sizeof(in), pk);
		memset(&d, 0, sizeof(d));
		d.nonce = (uint32_t)(ledger_rand(l) % 1000);
		/* 1 .. ~18M DOT with 10 decimals, a few whales */
		d.free = (rollout_u128)(ledger_rand(l) % 1000000000000000000ull) + 10000000000ull;
		if (ledger_rand(l) % 10 == 0)
			d.free *= 1000;
		d.reserved = (rollout_u128)(ledger_rand(l) % 1000) * 10000000000ull;
		d.frozen = d.free / 4;
		if (ledger_put(l, pk, &d, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

size_t
ledger_stage_random(struct ledger *l, size_t n)
{
	size_t done = 0, tries;

	for (tries = 0; done < n && l->naccounts > 0 && tries < n * 4; tries++) {
		size_t i = (size_t)(ledger_rand(l) % l->naccounts);
		const struct ledger_value *v = ledger_value_at(l, i, ledger_best(l)->number);
		struct rollout_account_data d;
		uint64_t r = ledger_rand(l);
		size_t k;

		for (k = 0; k < l->npending; k++)
			if (l->pending[k].account == i)
				break;
		if (k < l->npending)
			continue; /* one change per account per block keeps tests simple */
		memset(&d, 0, sizeof(d));
		if (v == NULL || !v->exists) {
			d.free = (rollout_u128)(r % 100000000000000ull) + 10000000000ull;
		} else {
			scale_decode_account_info(v->info, 80, &d, NULL, NULL, NULL, NULL);
			if (r % 50 == 0) {
				if (ledger_stage(l, l->accounts[i].pubkey, NULL) >= 0)
					done++;
				continue;
			}
			{
				rollout_u128 amt = (rollout_u128)(ledger_rand(l) % 100000000000000ull) + 1;

				if (r % 2 == 0 || d.free <= amt) {
					d.free += amt;
				} else {
					d.free -= amt;
					d.nonce++;
				}
			}
		}
		if (ledger_stage(l, l->accounts[i].pubkey, &d) >= 0)
			done++;
	}
	return done;
}

const struct ledger_block *
ledger_produce(struct ledger *l, int64_t time_ms)
{
	struct ledger_block *b, *prev;
	size_t k;

	if (l->nblocks == l->capblocks) {
		size_t cap = l->capblocks * 2;
		struct ledger_block *nb = realloc(l->blocks, cap * sizeof(*nb));

		if (nb == NULL)
			return NULL;
		l->blocks = nb;
		l->capblocks = cap;
	}
	prev = &l->blocks[l->nblocks - 1];
	b = &l->blocks[l->nblocks];
	memset(b, 0, sizeof(*b));
	b->number = prev->number + 1;
	memcpy(b->parent, prev->hash, 32);
	b->time_ms = time_ms > prev->time_ms ? time_ms : prev->time_ms + (time_ms == 0 ? 6000 : 1);
	ledger_block_hash(b);
	if (l->npending > 0) {
		b->changed = malloc(l->npending * sizeof(*b->changed));
		if (b->changed == NULL)
			return NULL;
	}
	for (k = 0; k < l->npending; k++) {
		struct ledger_pending *p = &l->pending[k];

		if (ledger_hist_push(&l->accounts[p->account], b->number, p->exists, p->info) < 0)
			return NULL;
		b->changed[b->nchanged++] = p->account;
	}
	l->npending = 0;
	l->nblocks++;
	return b;
}

size_t
ledger_naccounts(const struct ledger *l)
{
	return l->naccounts;
}

const struct ledger_account *
ledger_account(const struct ledger *l, size_t i)
{
	return i < l->naccounts ? &l->accounts[i] : NULL;
}

const struct ledger_block *
ledger_best(const struct ledger *l)
{
	return &l->blocks[l->nblocks - 1];
}

const struct ledger_block *
ledger_block(const struct ledger *l, uint64_t number)
{
	return number < l->nblocks ? &l->blocks[number] : NULL;
}

const struct ledger_block *
ledger_block_by_hash(const struct ledger *l, const uint8_t hash[32])
{
	size_t i;

	for (i = l->nblocks; i > 0; i--)
		if (memcmp(l->blocks[i - 1].hash, hash, 32) == 0)
			return &l->blocks[i - 1];
	return NULL;
}

const struct ledger_value *
ledger_value_at(const struct ledger *l, size_t i, uint64_t number)
{
	const struct ledger_account *a;
	size_t lo, hi;

	if (i >= l->naccounts)
		return NULL;
	a = &l->accounts[i];
	/* last entry with block <= number */
	lo = 0;
	hi = a->nhist;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->hist[mid].block <= number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? NULL : &a->hist[lo - 1];
}

size_t
ledger_npending(const struct ledger *l)
{
	return l->npending;
}

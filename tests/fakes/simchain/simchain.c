/*
 * simchain — the simulated chain used by `make demo` and the end-to-end
 * tests: ONE ledger served both as a Polkadot node (WebSocket JSON-RPC,
 * tests/fakes/fakenode/noderpc.c) and as a Subscan-compatible HTTP API
 * (tests/fakes/fakescan/scanapi.c), so both detectors observe the same
 * truth.
 *
 * It replays the real top-1000 snapshots in
 * ../shared/data/polkadot-top1000-2025-07/: genesis holds the first
 * snapshot's values, and each pair of consecutive snapshots is
 * interpolated into blocks (one block per 6 s of chain time): every
 * account whose values differ between the two moves once, at a block
 * chosen by a seeded generator inside the interval.  After the last
 * snapshot it goes on with synthetic whale activity (transfers between top
 * accounts, a few large ones) from the same seed; about a quarter of them
 * are deposits to or withdrawals from an account the snapshots label
 * "Exchange".  Chain time runs --speed times faster than real time.
 *
 * The Subscan face serves /api/v2/scan/accounts (the chain at the start of
 * each cycle) and /api/v2/scan/transfers from the same ledger: every
 * synthetic transfer, ids increasing, with both sides' account_display
 * (merkle tags) as the snapshots have them, amount (tokens) and amount_v2
 * (planck); the lag fault hides the transfers of the blocks it hides.
 *
 * Every change it makes is appended to the ground-truth file (--truth,
 * JSON lines), so tests can compute the alerts that must arrive.
 *
 * Faults: the node's own control channel (POST /control on the node port:
 * drop, stall, malformed, error ...), the fake Subscan's (POST /_fake/fault
 * on the Subscan port: 429, 5xx, ...), and the simulated chain's own, on
 * the Subscan port:
 *   POST /_sim/corrupt  "SS58 PLANCK"  the node serves free+PLANCK for that
 *                                       account from now on (Subscan keeps the truth);
 *                                       one account a line, all or none
 *   POST /_sim/uncorrupt "SS58"         (also one a line)
 *   POST /_sim/lag      "SECONDS"       Subscan serves the chain as it was SECONDS ago
 *   POST /_sim/pause    "1" | "0"       stop / resume block production
 *   POST /_sim/hold                     no changes from the next block on (as --hold)
 *   POST /_sim/go       ["T_MS"]        end --hold: activity starts now; with T_MS the
 *                                       chain time is moved to T_MS first (empty
 *                                       blocks catch up, or production waits), so
 *                                       it shares another process's time line
 *   GET  /_sim/status                   JSON: best block, chain time, accounts, changes
 *
 * Chain time starts at --genesis-ms (default: the wall clock at start, so
 * that the chain and an accelerated rolloutd started alongside it share a
 * time line); the snapshots keep their relative spacing.  Truth lines:
 *   {"block":N,"time_ms":T,"account":SS58,"cause":"replay"|"transfer",
 *    "before":{free,reserved,frozen,nonce},"after":{...}}
 * with planck amounts as decimal strings; "transfer" lines also carry
 * "counterparty" (the other side's SS58), "direction" ("out" for the
 * sender's line, "in" for the receiver's), "amount" (planck) and
 * "transfer_id" (the id the Subscan face serves).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../fakenode/ledger.h"
#include "../fakenode/noderpc.h"
#include "../fakescan/httpd.h"
#include "../fakescan/scanapi.h"
#include "hex.h"
#include "planck.h"
#include "ss58.h"

#define SIM_BLOCK_MS 6000
#define SIM_DECIMALS 10
#define SIM_MAX_SNAPS 64
#define SIM_LAG_RING 4096             /* truth history kept for --lag (blocks) */
#define SIM_MAX_TRANSFERS 20000       /* newest transfers the Subscan face keeps */
#define SIM_EXCHANGE_PCT 25           /* synthetic transfers with an exchange on one side */

struct sim_label {
	char display[64];
	char tag_type[32];
	char tag_name[64];
	json_t *account_display;          /* as captured (for Subscan) */
};

struct sim_account {
	uint8_t pubkey[32];
	char ss58[64];
	struct rollout_account_data truth;   /* what the chain really holds */
	int corrupt;                         /* node serves free + corrupt_by */
	int restage;                         /* corruption changed: stage again */
	rollout_u128 corrupt_by;
	json_t *display;                     /* account_display object (owned) */
};

/* A synthetic transfer made under the lock, published to Subscan after it. */
struct sim_xfer {
	uint64_t id, block;
	size_t from, to;
	rollout_u128 amount;
};

/* One scheduled change: at BLOCK, account IDX takes VALUE. */
struct sim_change {
	uint64_t block;
	size_t idx;
	struct rollout_account_data value;
};

struct sim {
	pthread_mutex_t lock;             /* guards accounts[].truth/corrupt, lag, paused, best */
	struct ledger *ledger;
	struct noderpc *node;
	struct scanapi *scan;
	struct sim_account *acc;
	size_t nacc, capacc;
	struct sim_change *sched;
	size_t nsched, capsched, next;
	int64_t genesis_ms;
	uint64_t replay_end_block;
	uint64_t best;
	double speed;
	uint64_t rng;
	uint64_t seed;
	int scan_fd;
	int paused;
	int64_t lag_s;
	FILE *truth;
	uint64_t nchanges;
	size_t top;
	unsigned activity;                /* percent of synthetic blocks carrying a transfer */
	long long synth_from;             /* first block with synthetic activity (-1: after the replay) */
	int held;                         /* --hold: empty blocks until /_sim/go */
	uint64_t shift;                   /* replay and synthetic blocks start after this one */
	int go_pending;                   /* /_sim/go received, main loop applies it */
	int64_t go_to_ms, go_real_ms;     /* its chain time target and when it came */
	int nrestage;
	size_t *exchanges;                /* indexes of accounts tagged "Exchange" */
	size_t nexchanges;
	uint64_t rng_ex;                  /* its own stream: the main one's draws stay as they were */
	uint64_t xfer_id;                 /* last transfer id */
	struct sim_xfer *pending;         /* made in this block, not yet published */
	size_t npending, cappending;
	/* values per block for lagged Subscan views: ring of (block, idx, before) undo records */
	struct { uint64_t block; size_t idx; struct rollout_account_data before; } *undo;
	size_t nundo, capundo;
};

static volatile sig_atomic_t sim_stop;

static void
sim_on_signal(int sig)
{
	(void)sig;
	sim_stop = 1;
	httpd_stop();
}

static uint64_t
sim_rand(struct sim *s)
{
	/* xorshift64*: deterministic for a seed */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static int64_t
sim_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
sim_find(struct sim *s, const uint8_t pk[32])
{
	size_t i;

	for (i = 0; i < s->nacc; i++)
		if (memcmp(s->acc[i].pubkey, pk, 32) == 0)
			return (long)i;
	return -1;
}

static long
sim_add_account(struct sim *s, const uint8_t pk[32], const char *ss58)
{
	struct sim_account *a;

	if (s->nacc == s->capacc) {
		size_t ncap = s->capacc ? s->capacc * 2 : 1024;
		struct sim_account *n = realloc(s->acc, ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->acc = n;
		s->capacc = ncap;
	}
	a = &s->acc[s->nacc];
	memset(a, 0, sizeof(*a));
	memcpy(a->pubkey, pk, 32);
	snprintf(a->ss58, sizeof(a->ss58), "%s", ss58);
	return (long)s->nacc++;
}

static int
sim_schedule(struct sim *s, uint64_t block, size_t idx, const struct rollout_account_data *v)
{
	if (s->nsched == s->capsched) {
		size_t ncap = s->capsched ? s->capsched * 2 : 4096;
		struct sim_change *n = realloc(s->sched, ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->sched = n;
		s->capsched = ncap;
	}
	s->sched[s->nsched].block = block;
	s->sched[s->nsched].idx = idx;
	s->sched[s->nsched].value = *v;
	s->nsched++;
	return 0;
}

static int
sim_cmp_change(const void *a, const void *b)
{
	const struct sim_change *x = a, *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
sim_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse one snapshot entry into account data.  0 or -EINVAL. */
static int
sim_entry_values(json_t *e, struct rollout_account_data *v, char *err, size_t errlen)
{
	rollout_u128 total, reserved, lock;
	const char *bal = json_string_value(json_object_get(e, "balance"));
	const char *res = json_string_value(json_object_get(e, "reserved"));
	const char *lck = json_string_value(json_object_get(e, "balance_lock"));

	if (bal == NULL || planck_parse_tokens(bal, SIM_DECIMALS, &total, err, errlen) != 0)
		return -EINVAL;
	if (res == NULL || planck_parse_tokens(res, SIM_DECIMALS, &reserved, err, errlen) != 0)
		return -EINVAL;
	if (lck == NULL || planck_parse_tokens(lck, SIM_DECIMALS, &lock, err, errlen) != 0)
		return -EINVAL;
	if (reserved > total) {
		snprintf(err, errlen, "reserved above balance");
		return -EINVAL;
	}
	v->free = total - reserved;
	v->reserved = reserved;
	v->frozen = lock;
	v->nonce = (uint32_t)json_integer_value(json_object_get(e, "nonce"));
	return 0;
}

static int
sim_same(const struct rollout_account_data *a, const struct rollout_account_data *b)
{
	return a->free == b->free && a->reserved == b->reserved && a->frozen == b->frozen &&
	    a->nonce == b->nonce;
}

/*
 * Load the snapshots in DIR and build genesis + the replay schedule.
 * 0 or -errno after printing why.
 */
static int
sim_load(struct sim *s, const char *dir)
{
	char *names[SIM_MAX_SNAPS], path[4096], err[256];
	struct rollout_account_data *cur = NULL;
	int64_t times[SIM_MAX_SNAPS];
	json_t *snaps[SIM_MAX_SNAPS];
	size_t nsnap = 0, k, i;
	struct dirent *de;
	DIR *d;
	int rc = -EINVAL;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "simchain: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) != NULL && nsnap < SIM_MAX_SNAPS) {
		size_t n = strlen(de->d_name);

		if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0)
			names[nsnap++] = strdup(de->d_name);
	}
	closedir(d);
	if (nsnap < 2) {
		fprintf(stderr, "simchain: %s: need at least two snapshot files\n", dir);
		goto out_names;
	}
	qsort(names, nsnap, sizeof(names[0]), sim_cmp_name);
	for (k = 0; k < nsnap; k++) {
		json_error_t je;

		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		snaps[k] = json_load_file(path, 0, &je);
		if (snaps[k] == NULL) {
			fprintf(stderr, "simchain: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
			nsnap = k;
			goto out_snaps;
		}
		times[k] = (int64_t)json_integer_value(json_object_get(snaps[k], "generated_at")) * 1000;
	}
	if (s->genesis_ms == 0)
		s->genesis_ms = times[0];
	if ((s->ledger = ledger_new(s->genesis_ms, s->seed)) == NULL)
		goto out_snaps;
	/* Accounts: every address seen in any snapshot, first-seen values at genesis. */
	for (k = 0; k < nsnap; k++) {
		json_t *list = json_object_get(json_object_get(snaps[k], "data"), "list"), *e;

		json_array_foreach(list, i, e) {
			const char *addr = json_string_value(json_object_get(e, "address"));
			struct rollout_account_data v;
			uint8_t pk[32];
			uint16_t prefix;
			long idx;

			if (addr == NULL || ss58_decode(addr, pk, &prefix, err, sizeof(err)) != 0) {
				fprintf(stderr, "simchain: %s: list[%zu].address: %s\n", names[k], i,
				    addr ? err : "missing");
				goto out_snaps;
			}
			if (sim_entry_values(e, &v, err, sizeof(err)) != 0) {
				fprintf(stderr, "simchain: %s: list[%zu] (%s): %s\n", names[k], i, addr, err);
				goto out_snaps;
			}
			if ((idx = sim_find(s, pk)) < 0) {
				if ((idx = sim_add_account(s, pk, addr)) < 0)
					goto out_snaps;
				s->acc[idx].truth = v;
			}
			if (s->acc[idx].display == NULL)
				s->acc[idx].display = json_deep_copy(json_object_get(e, "account_display"));
		}
	}
	if ((cur = calloc(s->nacc, sizeof(*cur))) == NULL)
		goto out_snaps;
	for (i = 0; i < s->nacc; i++) {
		cur[i] = s->acc[i].truth;
		if (ledger_stage(s->ledger, s->acc[i].pubkey, &cur[i]) < 0)
			goto out_snaps;
	}
	/* Genesis holds the staged values (ledger writes into genesis before block 1). */
	for (k = 0; k + 1 < nsnap; k++) {
		json_t *list = json_object_get(json_object_get(snaps[k + 1], "data"), "list"), *e;
		uint64_t b0 = (uint64_t)((times[k] - times[0]) / SIM_BLOCK_MS);
		uint64_t b1 = (uint64_t)((times[k + 1] - times[0]) / SIM_BLOCK_MS);

		if (b1 <= b0)
			b1 = b0 + 1;
		json_array_foreach(list, i, e) {
			struct rollout_account_data v;
			uint8_t pk[32];
			uint16_t prefix;
			long idx;

			ss58_decode(json_string_value(json_object_get(e, "address")), pk, &prefix, err,
			    sizeof(err));
			idx = sim_find(s, pk);
			if (idx < 0 || sim_entry_values(e, &v, err, sizeof(err)) != 0)
				continue;
			if (sim_same(&cur[idx], &v))
				continue;
			if (sim_schedule(s, b0 + 1 + sim_rand(s) % (b1 - b0), (size_t)idx, &v) != 0)
				goto out_snaps;
			cur[idx] = v;
		}
		s->replay_end_block = b1;
	}
	qsort(s->sched, s->nsched, sizeof(*s->sched), sim_cmp_change);
	if ((s->exchanges = calloc(s->nacc + 1, sizeof(*s->exchanges))) == NULL)
		goto out_snaps;
	for (i = 0; i < s->nacc; i++) {
		const char *tt = json_string_value(json_object_get(json_object_get(s->acc[i].display,
		    "merkle"), "tag_type"));

		if (tt != NULL && strcmp(tt, "Exchange") == 0)
			s->exchanges[s->nexchanges++] = i;
	}
	fprintf(stderr, "simchain: %zu snapshots, %zu accounts (%zu exchanges), %zu scheduled changes "
	    "over %llu blocks\n", nsnap, s->nacc, s->nexchanges, s->nsched,
	    (unsigned long long)s->replay_end_block);
	rc = 0;
out_snaps:
	free(cur);
	for (k = 0; k < nsnap; k++)
		json_decref(snaps[k]);
out_names:
	for (k = 0; k < nsnap; k++)
		free(names[k]);
	return rc;
}

/* The transfer a "transfer" truth line belongs to (NULL for a replay). */
struct sim_truth_xfer {
	const char *counterparty;
	const char *direction;            /* "out" or "in" */
	rollout_u128 amount;
	uint64_t id;
};

static void
sim_truth_write(struct sim *s, uint64_t block, int64_t t_ms, const struct sim_account *a,
    const struct rollout_account_data *before, const struct rollout_account_data *after,
    const char *cause, const struct sim_truth_xfer *x)
{
	char f0[48], f1[48], r0[48], r1[48], z0[48], z1[48], extra[200] = "", amt[48];

	if (s->truth == NULL)
		return;
	if (x != NULL)
		snprintf(extra, sizeof(extra), ",\"counterparty\":\"%s\",\"direction\":\"%s\","
		    "\"amount\":\"%s\",\"transfer_id\":%llu", x->counterparty, x->direction,
		    planck_format_int(x->amount, amt, sizeof(amt)), (unsigned long long)x->id);
	fprintf(s->truth,
	    "{\"block\":%llu,\"time_ms\":%lld,\"account\":\"%s\",\"cause\":\"%s\","
	    "\"before\":{\"free\":\"%s\",\"reserved\":\"%s\",\"frozen\":\"%s\",\"nonce\":%u},"
	    "\"after\":{\"free\":\"%s\",\"reserved\":\"%s\",\"frozen\":\"%s\",\"nonce\":%u}%s}\n",
	    (unsigned long long)block, (long long)t_ms, a->ss58, cause,
	    planck_format_int(before->free, f0, sizeof(f0)),
	    planck_format_int(before->reserved, r0, sizeof(r0)),
	    planck_format_int(before->frozen, z0, sizeof(z0)), before->nonce,
	    planck_format_int(after->free, f1, sizeof(f1)),
	    planck_format_int(after->reserved, r1, sizeof(r1)),
	    planck_format_int(after->frozen, z1, sizeof(z1)), after->nonce, extra);
}

static void
sim_undo_push(struct sim *s, uint64_t block, size_t idx, const struct rollout_account_data *before)
{
	if (s->nundo == s->capundo) {
		size_t ncap = s->capundo ? s->capundo * 2 : 4096;
		void *n = realloc(s->undo, ncap * sizeof(*s->undo));

		if (n == NULL)
			return;
		s->undo = n;
		s->capundo = ncap;
	}
	s->undo[s->nundo].block = block;
	s->undo[s->nundo].idx = idx;
	s->undo[s->nundo].before = *before;
	s->nundo++;
	/* Keep only what a lag of SIM_LAG_RING blocks needs. */
	if (s->nundo > 8 * SIM_LAG_RING && s->undo[0].block + SIM_LAG_RING < block) {
		size_t drop = s->nundo / 2;

		memmove(s->undo, s->undo + drop, (s->nundo - drop) * sizeof(*s->undo));
		s->nundo -= drop;
	}
}

/* Stage a change of account IDX at block BLOCK (the next one to be produced).  Lock held. */
static void
sim_apply(struct sim *s, uint64_t block, size_t idx, const struct rollout_account_data *v,
    const char *cause, const struct sim_truth_xfer *x)
{
	struct sim_account *a = &s->acc[idx];
	struct rollout_account_data served = *v;

	if (sim_same(&a->truth, v))
		return;
	sim_truth_write(s, block, s->genesis_ms + (int64_t)block * SIM_BLOCK_MS, a, &a->truth, v, cause,
	    x);
	sim_undo_push(s, block, idx, &a->truth);
	a->truth = *v;
	if (a->corrupt)
		served.free += a->corrupt_by;
	ledger_stage(s->ledger, a->pubkey, &served);
	s->nchanges++;
}

static uint64_t
sim_rand_ex(struct sim *s)
{
	s->rng_ex ^= s->rng_ex >> 12;
	s->rng_ex ^= s->rng_ex << 25;
	s->rng_ex ^= s->rng_ex >> 27;
	return s->rng_ex * 2685821657736338717ULL;
}

/* Record a transfer to publish once the lock is released; assigns its id.  Lock held. */
static int
sim_pending_add(struct sim *s, uint64_t block, size_t from, size_t to, rollout_u128 amount)
{
	if (s->npending == s->cappending) {
		size_t cap = s->cappending ? s->cappending * 2 : 16;
		struct sim_xfer *n = realloc(s->pending, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->pending = n;
		s->cappending = cap;
	}
	s->pending[s->npending].id = ++s->xfer_id;
	s->pending[s->npending].block = block;
	s->pending[s->npending].from = from;
	s->pending[s->npending].to = to;
	s->pending[s->npending].amount = amount;
	s->npending++;
	return 0;
}

/* One side's account_display as Subscan gives it in a transfer. */
static json_t *
sim_display(const struct sim_account *a)
{
	json_t *d = a->display != NULL ? json_deep_copy(a->display) : json_object();

	if (d != NULL && json_object_get(d, "address") == NULL)
		json_object_set_new(d, "address", json_string(a->ss58));
	return d;
}

/*
 * Publish the transfers made in the last block to the Subscan face, and
 * what it may serve (the lag).  Called without the lock (the fake's lock is
 * never taken inside ours).
 */
static void
sim_publish(struct sim *s)
{
	struct sim_xfer *px;
	size_t n, i;
	uint64_t horizon;

	pthread_mutex_lock(&s->lock);
	px = s->pending;
	n = s->npending;
	s->pending = NULL;
	s->npending = s->cappending = 0;
	horizon = s->best;
	if (s->lag_s > 0) {
		uint64_t lagb = (uint64_t)(s->lag_s * 1000 / SIM_BLOCK_MS);

		horizon = s->best > lagb ? s->best - lagb : 0;
	}
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++) {
		const struct sim_account *fa = &s->acc[px[i].from], *ta = &s->acc[px[i].to];
		char tokens[64], planck[48], ext[48], hash[80];
		json_t *t = json_object();

		if (t == NULL)
			break;
		snprintf(ext, sizeof(ext), "%llu-1", (unsigned long long)px[i].block);
		snprintf(hash, sizeof(hash), "0x%064llx", (unsigned long long)px[i].id);
		json_object_set_new(t, "transfer_id", json_integer((json_int_t)px[i].id));
		json_object_set_new(t, "from", json_string(fa->ss58));
		json_object_set_new(t, "to", json_string(ta->ss58));
		json_object_set_new(t, "amount", json_string(planck_format_tokens(px[i].amount,
		    SIM_DECIMALS, 0, tokens, sizeof(tokens))));
		json_object_set_new(t, "amount_v2", json_string(planck_format_int(px[i].amount, planck,
		    sizeof(planck))));
		json_object_set_new(t, "asset_symbol", json_string("DOT"));
		json_object_set_new(t, "block_num", json_integer((json_int_t)px[i].block));
		json_object_set_new(t, "block_timestamp", json_integer((json_int_t)((s->genesis_ms +
		    (int64_t)px[i].block * SIM_BLOCK_MS) / 1000)));
		json_object_set_new(t, "extrinsic_index", json_string(ext));
		json_object_set_new(t, "hash", json_string(hash));
		json_object_set_new(t, "success", json_true());
		json_object_set_new(t, "from_account_display", sim_display(fa));
		json_object_set_new(t, "to_account_display", sim_display(ta));
		if (scanapi_push_transfer(s->scan, t) < 0)
			json_decref(t);
	}
	free(px);
	if (n > 0)
		scanapi_trim_transfers(s->scan, SIM_MAX_TRANSFERS);
	scanapi_set_transfer_horizon(s->scan, (long long)horizon);
}

/* Synthetic whale activity after the replay: a transfer between two top accounts. */
static void
sim_synthetic(struct sim *s, uint64_t block)
{
	static const uint64_t tiers[] = { 2000, 12000, 60000, 150000, 1200000 };
	const rollout_u128 unit = (rollout_u128)10000000000ULL; /* 1 DOT */
	struct rollout_account_data from, to;
	size_t a, b, n = s->nacc < 300 ? s->nacc : 300;
	rollout_u128 amount;

	if (n < 2 || sim_rand(s) % 100 >= s->activity)   /* --activity % of blocks */
		return;
	a = sim_rand(s) % n;
	b = sim_rand(s) % n;
	if (a == b)
		return;
	amount = unit * tiers[sim_rand(s) % 5] + unit * (sim_rand(s) % 1000);
	/* some deposits to and withdrawals from exchanges, from a stream of their own */
	if (s->nexchanges > 0) {
		uint64_t r = sim_rand_ex(s);

		if (r % 100 < SIM_EXCHANGE_PCT) {
			size_t e = s->exchanges[(r / 100) % s->nexchanges];

			if ((r / 100) & 0x100000)
				a = e;          /* a withdrawal */
			else
				b = e;          /* a deposit */
			if (a == b)
				return;
		}
	}
	from = s->acc[a].truth;
	to = s->acc[b].truth;
	if (from.free - from.frozen < amount || from.free < from.frozen)
		return;
	from.free -= amount;
	from.nonce++;
	to.free += amount;
	{
		struct sim_truth_xfer xo = { s->acc[b].ss58, "out", amount, s->xfer_id + 1 };
		struct sim_truth_xfer xi = { s->acc[a].ss58, "in", amount, s->xfer_id + 1 };

		if (sim_pending_add(s, block, a, b, amount) < 0)
			return;
		sim_apply(s, block, a, &from, "transfer", &xo);
		sim_apply(s, block, b, &to, "transfer", &xi);
	}
}

/* Produce block NUMBER (the ledger's next). */
static void
sim_produce(struct sim *s)
{
	uint64_t number = s->best + 1;

	pthread_mutex_lock(&s->lock);
	if (s->nrestage) {
		size_t i;

		for (i = 0; i < s->nacc; i++) {
			struct rollout_account_data served = s->acc[i].truth;

			if (!s->acc[i].restage)
				continue;
			s->acc[i].restage = 0;
			if (s->acc[i].corrupt)
				served.free += s->acc[i].corrupt_by;
			ledger_stage(s->ledger, s->acc[i].pubkey, &served);
		}
		s->nrestage = 0;
	}
	while (!s->held && s->next < s->nsched && s->sched[s->next].block + s->shift <= number) {
		sim_apply(s, number, s->sched[s->next].idx, &s->sched[s->next].value, "replay", NULL);
		s->next++;
	}
	if (!s->held && (s->synth_from >= 0 ? number >= (uint64_t)s->synth_from + s->shift :
	    number > s->replay_end_block + s->shift))
		sim_synthetic(s, number);
	s->best = number;
	pthread_mutex_unlock(&s->lock);
	noderpc_block_at(s->node, s->genesis_ms + (int64_t)number * SIM_BLOCK_MS);
	sim_publish(s);
}

struct sim_row {
	size_t idx;
	rollout_u128 total;
	struct rollout_account_data v;
};

static int
sim_cmp_row(const void *a, const void *b)
{
	const struct sim_row *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The chain as Subscan sees it now (minus the lag): a Subscan accounts envelope. */
static json_t *
sim_envelope(struct sim *s)
{
	struct sim_row *rows;
	json_t *list, *env;
	uint64_t at;
	size_t i, n;
	char b1[64], b2[64], b3[64];

	pthread_mutex_lock(&s->lock);
	n = s->nacc;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (rows == NULL) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		rows[i].idx = i;
		rows[i].v = s->acc[i].truth;
	}
	at = s->best;
	if (s->lag_s > 0) {
		uint64_t lagb = (uint64_t)(s->lag_s * 1000 / SIM_BLOCK_MS);
		size_t u;

		at = s->best > lagb ? s->best - lagb : 0;
		for (u = s->nundo; u-- > 0 && s->undo[u].block > at;)
			rows[s->undo[u].idx].v = s->undo[u].before;
	}
	for (i = 0; i < n; i++)
		rows[i].total = rows[i].v.free + rows[i].v.reserved;
	qsort(rows, n, sizeof(*rows), sim_cmp_row);
	list = json_array();
	for (i = 0; i < n && i < s->top; i++) {
		const struct sim_account *a = &s->acc[rows[i].idx];
		json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:I}", "address", a->ss58,
		    "balance", planck_format_tokens(rows[i].total, SIM_DECIMALS, 0, b1, sizeof(b1)),
		    "balance_lock", planck_format_tokens(rows[i].v.frozen, SIM_DECIMALS, 0, b2, sizeof(b2)),
		    "reserved", planck_format_tokens(rows[i].v.reserved, SIM_DECIMALS, 0, b3, sizeof(b3)),
		    "nonce", (json_int_t)rows[i].v.nonce);

		if (a->display != NULL)
			json_object_set(e, "account_display", a->display);
		json_array_append_new(list, e);
	}
	env = json_pack("{s:i,s:s,s:I,s:{s:I,s:o}}", "code", 0, "message", "Success",
	    "generated_at", (json_int_t)((s->genesis_ms + (int64_t)at * SIM_BLOCK_MS) / 1000),
	    "data", "count", (json_int_t)json_array_size(list), "list", list);
	pthread_mutex_unlock(&s->lock);
	free(rows);
	return env;
}

static void
sim_status(struct sim *s, struct httpd_resp *resp)
{
	char text[512];

	pthread_mutex_lock(&s->lock);
	snprintf(text, sizeof(text),
	    "{\"best\":%llu,\"chain_time_ms\":%lld,\"replay_end_block\":%llu,\"accounts\":%zu,"
	    "\"changes\":%llu,\"paused\":%s,\"lag_s\":%lld,\"held\":%s,\"shift\":%llu}",
	    (unsigned long long)s->best, (long long)(s->genesis_ms + (int64_t)s->best * SIM_BLOCK_MS),
	    (unsigned long long)s->replay_end_block, s->nacc, (unsigned long long)s->nchanges,
	    s->paused ? "true" : "false", (long long)s->lag_s, s->held ? "true" : "false",
	    (unsigned long long)s->shift);
	pthread_mutex_unlock(&s->lock);
	httpd_set_body(resp, 200, text);
}

static void
sim_control(struct sim *s, const struct httpd_req *req, struct httpd_resp *resp)
{
	char addr[80] = "", err[128];
	unsigned long long amount = 0;
	uint8_t pk[32];
	uint16_t prefix;
	long idx;
	int pass, n = 0;

	if (strcmp(req->path, "/_sim/status") == 0) {
		sim_status(s, resp);
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		httpd_set_body(resp, 405, "{\"error\":\"POST only\"}");
		return;
	}
	if (strcmp(req->path, "/_sim/hold") == 0) {
		pthread_mutex_lock(&s->lock);
		s->held = 1;
		pthread_mutex_unlock(&s->lock);
		httpd_set_body(resp, 200, "{\"ok\":true}");
		return;
	}
	if (strcmp(req->path, "/_sim/go") == 0) {
		long long t = strtoll(req->body ? req->body : "0", NULL, 10);

		pthread_mutex_lock(&s->lock);
		s->go_pending = 1;
		s->go_to_ms = t > 0 ? t : 0;
		s->go_real_ms = sim_real_ms();
		pthread_mutex_unlock(&s->lock);
		httpd_set_body(resp, 200, "{\"ok\":true}");
		return;
	}
	if (strcmp(req->path, "/_sim/lag") == 0 || strcmp(req->path, "/_sim/pause") == 0) {
		long long v = strtoll(req->body ? req->body : "0", NULL, 10);

		pthread_mutex_lock(&s->lock);
		if (req->path[6] == 'l')
			s->lag_s = v < 0 ? 0 : v;
		else
			s->paused = v != 0;
		pthread_mutex_unlock(&s->lock);
		sim_publish(s);         /* the lag hides transfers too, from now on */
		httpd_set_body(resp, 200, "{\"ok\":true}");
		return;
	}
	if (strcmp(req->path, "/_sim/corrupt") != 0 && strcmp(req->path, "/_sim/uncorrupt") != 0) {
		httpd_set_body(resp, 404, "{\"error\":\"unknown /_sim route\"}");
		return;
	}
	if (req->body == NULL) {
		httpd_set_body(resp, 400, "{\"error\":\"body: SS58 [PLANCK], one account a line\"}");
		return;
	}
	/* one "SS58 [PLANCK]" a line; all or nothing */
	for (pass = 0; pass < 2; pass++) {
		const char *line = req->body;

		while (*line != '\0') {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			char buf[160];

			snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
			line += len + (nl != NULL);
			amount = 0;
			if (buf[0] == '\0')
				continue;
			if (sscanf(buf, "%79s %llu", addr, &amount) < 1 ||
			    ss58_decode(addr, pk, &prefix, err, sizeof(err)) != 0) {
				httpd_set_body(resp, 400, "{\"error\":\"body: SS58 [PLANCK], one account a line\"}");
				return;
			}
			pthread_mutex_lock(&s->lock);
			idx = sim_find(s, pk);
			if (idx >= 0 && pass == 1) {
				s->acc[idx].corrupt = req->path[6] == 'c';
				s->acc[idx].corrupt_by = s->acc[idx].corrupt ? (rollout_u128)amount : 0;
				s->acc[idx].restage = 1;
				s->nrestage = 1;
				n++;
			}
			pthread_mutex_unlock(&s->lock);
			if (idx < 0) {
				httpd_set_body(resp, 404, "{\"error\":\"unknown account\"}");
				return;
			}
		}
	}
	snprintf(err, sizeof(err), "{\"ok\":true,\"accounts\":%d}", n);
	httpd_set_body(resp, 200, err);
}

/* Subscan face: before a new cycle (page 0), publish the chain as it is now. */
static void
sim_http(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct sim *s = ctx;

	if (strncmp(req->path, "/_sim/", 6) == 0) {
		sim_control(s, req, resp);
		return;
	}
	if (strcmp(req->path, "/api/v2/scan/accounts") == 0 && req->body != NULL) {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);

		if (json_integer_value(json_object_get(body, "page")) == 0 &&
		    json_object_get(body, "page") != NULL) {
			json_t *env = sim_envelope(s);

			if (env != NULL && scanapi_replace_snapshot(s->scan, env) != 0)
				json_decref(env);
		}
		json_decref(body);
	}
	scanapi_handle(s->scan, req, resp);
}

static void *
sim_http_thread(void *arg)
{
	struct sim *s = arg;

	httpd_serve(s->scan_fd, sim_http, s);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: simchain --node-port N --scan-port N [--data DIR] [--speed X] [--seed N]\n"
	    "                [--top N] [--truth FILE] [--api-key KEY] [--activity PCT]\n"
	    "                [--genesis-ms MS] [--synthetic-from BLOCK] [--hold] [--quiet]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "node-port", required_argument, NULL, 'n' },
		{ "scan-port", required_argument, NULL, 's' },
		{ "data", required_argument, NULL, 'd' },
		{ "speed", required_argument, NULL, 'x' },
		{ "seed", required_argument, NULL, 'r' },
		{ "top", required_argument, NULL, 't' },
		{ "truth", required_argument, NULL, 'o' },
		{ "api-key", required_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "activity", required_argument, NULL, 'a' },
		{ "genesis-ms", required_argument, NULL, 'g' },
		{ "synthetic-from", required_argument, NULL, 'f' },
		{ "hold", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct noderpc_opts no = { 0 };
	struct sim s = { 0 };
	const char *data = "../shared/data/polkadot-top1000-2025-07", *truth = NULL, *key = NULL;
	int node_port = 0, scan_port = 0, c, fd;
	uint16_t bound = 0;
	uint64_t seed = 42;
	int64_t start_real;
	pthread_t th;

	s.speed = 600;
	s.top = 1000;
	s.activity = 8;
	s.genesis_ms = -1;
	s.synth_from = -1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': node_port = atoi(optarg); break;
		case 's': scan_port = atoi(optarg); break;
		case 'd': data = optarg; break;
		case 'x': s.speed = strtod(optarg, NULL); break;
		case 'r': seed = strtoull(optarg, NULL, 10); break;
		case 't': s.top = (size_t)strtoul(optarg, NULL, 10); break;
		case 'o': truth = optarg; break;
		case 'k': key = optarg; break;
		case 'q': no.quiet = 1; break;
		case 'a': s.activity = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'g': s.genesis_ms = strtoll(optarg, NULL, 10); break;
		case 'f': s.synth_from = strtoll(optarg, NULL, 10); break;
		case 'h': s.held = 1; break;
		default: usage(); return 64;
		}
	}
	if (!(s.speed >= 0.001 && s.speed <= 1e6) || s.top == 0 || s.activity > 100) {
		usage();
		return 64;
	}
	if (s.genesis_ms < 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s.genesis_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	pthread_mutex_init(&s.lock, NULL);
	s.rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	s.rng_ex = (seed + 1) * 0xbf58476d1ce4e5b9ULL + 7;
	s.seed = seed;
	if (truth != NULL && (s.truth = fopen(truth, "w")) == NULL) {
		fprintf(stderr, "simchain: %s: %s\n", truth, strerror(errno));
		return 1;
	}
	if ((s.scan = scanapi_new()) == NULL)
		return 1;
	if (sim_load(&s, data) != 0)
		return 1;
	scanapi_set_api_key(s.scan, key);
	no.port = node_port;
	no.finality_lag = 2;
	if ((s.node = noderpc_new(s.ledger, &no)) == NULL)
		return 1;
	if ((fd = httpd_listen("127.0.0.1", (uint16_t)scan_port, &bound)) < 0) {
		fprintf(stderr, "simchain: Subscan port %d: %s\n", scan_port, strerror(-fd));
		return 1;
	}
	signal(SIGINT, sim_on_signal);
	signal(SIGTERM, sim_on_signal);
	signal(SIGPIPE, SIG_IGN);
	s.scan_fd = fd;
	if (pthread_create(&th, NULL, sim_http_thread, &s) != 0)
		return 1;
	printf("simchain: node ws://127.0.0.1:%d  subscan http://127.0.0.1:%u  speed %gx\n",
	    noderpc_port(s.node), bound, s.speed);
	fflush(stdout);
	start_real = sim_real_ms();
	while (!sim_stop && noderpc_service(s.node) >= 0) {
		uint64_t due = (uint64_t)((double)(sim_real_ms() - start_real) * s.speed / SIM_BLOCK_MS);
		int burst = 0;

		int paused;

		pthread_mutex_lock(&s.lock);
		paused = s.paused;
		if (s.go_pending) {
			/* chain time T at go_real: due blocks follow from there */
			if (s.go_to_ms > s.genesis_ms)
				start_real = s.go_real_ms -
				    (int64_t)((double)(s.go_to_ms - s.genesis_ms) / s.speed);
			due = (uint64_t)((double)(sim_real_ms() - start_real) * s.speed / SIM_BLOCK_MS);
			if (s.held)
				s.shift = due > s.best ? due : s.best;
			s.held = 0;
			s.go_pending = 0;
		}
		pthread_mutex_unlock(&s.lock);
		while (!paused && s.best < due && burst++ < 2000)
			sim_produce(&s);
		if (paused)
			start_real = sim_real_ms() - (int64_t)((double)s.best * SIM_BLOCK_MS / s.speed);
		if (burst > 0 && s.truth != NULL)
			fflush(s.truth);
	}
	httpd_stop();
	pthread_join(th, NULL);
	if (s.truth)
		fclose(s.truth);
	noderpc_free(s.node);
	scanapi_free(s.scan);
	ledger_free(s.ledger);
	for (size_t i = 0; i < s.nacc; i++)
		json_decref(s.acc[i].display);
	free(s.acc);
	free(s.exchanges);
	free(s.pending);
	free(s.sched);
	free(s.undo);
	return 0;
}

/*
 * router.c — sticky, monotone traffic split between baseline and
 * candidate alerts (router.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "flags.h"
#include "router.h"
#include "rules.h"

/* Per-account delivery memory (open addressing on the public key). */
struct router_acct {
	uint8_t pubkey[32];
	int used;
	int64_t cand_last_ms;         /* time of the last candidate alert delivered */
	int64_t base_last_end_ms;     /* end of the last baseline window delivered */
};

struct router {
	uint8_t *salt;
	size_t saltlen;
	struct router_acct *slots;
	size_t nslots, count;
};

int
router_create(struct router **out, const char *salt)
{
	struct router *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	if (salt == NULL)
		salt = "";
	r->saltlen = strlen(salt);
	r->salt = malloc(r->saltlen + 32);
	r->nslots = 1024;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (r->salt == NULL || r->slots == NULL) {
		router_free(r);
		return -ENOMEM;
	}
	memcpy(r->salt, salt, r->saltlen);
	*out = r;
	return 0;
}

void
router_free(struct router *r)
{
	if (r == NULL)
		return;
	free(r->salt);
	free(r->slots);
	free(r);
}

unsigned
router_bucket(const struct router *r, const uint8_t pubkey[32])
{
	crypto_generichash_state st;
	uint8_t h[8];
	uint64_t x = 0;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, r->salt, r->saltlen);
	crypto_generichash_update(&st, pubkey, 32);
	crypto_generichash_final(&st, h, sizeof(h));
	for (int i = 7; i >= 0; i--)
		x = (x << 8) | h[i];
	return (unsigned)(x % 10000);
}

int
router_candidate_serves(const struct router *r, enum router_mode mode, int traffic,
    const uint8_t pubkey[32])
{
	if (mode != ROUTER_GRADUAL || traffic <= 0)
		return 0;
	if (traffic >= 100)
		return 1;
	return router_bucket(r, pubkey) < (unsigned)traffic * 100u;
}

enum router_mode
router_mode_from_flags(const struct flags *f, int *traffic)
{
	int t;

	*traffic = 0;
	if (f == NULL)
		return ROUTER_LEGACY;
	if (flags_get_bool(f, "emergencyRollback"))
		return ROUTER_ROLLBACK;
	t = flags_traffic(f);
	if (t < 0)
		t = 0;
	if (t > 100)
		t = 100;
	*traffic = t;
	if (t > 0)
		return ROUTER_GRADUAL;
	if (flags_get_bool(f, "enableParallelMode") || flags_get_bool(f, "enableHybridSystem"))
		return ROUTER_PARALLEL;
	return ROUTER_LEGACY;
}

const char *
router_mode_name(enum router_mode m)
{
	switch (m) {
	case ROUTER_LEGACY: return "legacy";
	case ROUTER_PARALLEL: return "parallel";
	case ROUTER_GRADUAL: return "gradual";
	case ROUTER_ROLLBACK: return "rollback";
	}
	return "?";
}

const char *
router_verdict_name(enum router_verdict v)
{
	switch (v) {
	case ROUTE_DELIVER: return "delivered";
	case ROUTE_SHADOW: return "shadow";
	case ROUTE_COVERED: return "covered";
	}
	return "?";
}

static size_t
router_hash(const uint8_t pk[32])
{
	uint64_t x;

	memcpy(&x, pk + 8, 8);
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(x ^ (x >> 29));
}

static struct router_acct *
router_acct(struct router *r, const uint8_t pk[32], int create)
{
	size_t i = router_hash(pk) & (r->nslots - 1);

	while (r->slots[i].used) {
		if (memcmp(r->slots[i].pubkey, pk, 32) == 0)
			return &r->slots[i];
		i = (i + 1) & (r->nslots - 1);
	}
	if (!create)
		return NULL;
	if ((r->count + 1) * 4 > r->nslots * 3) {
		size_t n = r->nslots * 2;
		struct router_acct *s = calloc(n, sizeof(*s));

		if (s == NULL)
			return NULL;
		for (size_t k = 0; k < r->nslots; k++) {
			if (!r->slots[k].used)
				continue;
			size_t j = router_hash(r->slots[k].pubkey) & (n - 1);

			while (s[j].used)
				j = (j + 1) & (n - 1);
			s[j] = r->slots[k];
		}
		free(r->slots);
		r->slots = s;
		r->nslots = n;
		return router_acct(r, pk, 1);
	}
	memset(&r->slots[i], 0, sizeof(r->slots[i]));
	memcpy(r->slots[i].pubkey, pk, 32);
	r->slots[i].used = 1;
	r->count++;
	return &r->slots[i];
}

enum router_verdict
router_route(struct router *r, enum router_mode mode, int traffic, const struct rules_alert *a)
{
	int is_cand = strcmp(a->system, "candidate") == 0;
	int serves = router_candidate_serves(r, mode, traffic, a->pubkey);
	struct router_acct *acct;
	int64_t t;

	if (is_cand != serves)
		return ROUTE_SHADOW;
	acct = router_acct(r, a->pubkey, 1);
	if (is_cand) {
		t = a->window_end_ms ? a->window_end_ms : a->time_ms;
		if (acct && acct->base_last_end_ms && t <= acct->base_last_end_ms)
			return ROUTE_COVERED;
		if (acct && t > acct->cand_last_ms)
			acct->cand_last_ms = t;
	} else {
		if (acct && acct->cand_last_ms && acct->cand_last_ms > a->window_start_ms &&
		    acct->cand_last_ms <= a->window_end_ms)
			return ROUTE_COVERED;
		if (acct && a->window_end_ms > acct->base_last_end_ms)
			acct->base_last_end_ms = a->window_end_ms;
	}
	return ROUTE_DELIVER;
}

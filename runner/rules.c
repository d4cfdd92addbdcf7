/*
 * rules.c — whale detection rules over one system's observations (rules.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rules.h"
#include "ss58.h"
#include "ynode.h"

#define U128_MAX (~(rollout_u128)0)
#define RULES_EXTRA_MAX 16

struct rules {
	char system[16];
	unsigned decimals;
	char symbol[16];
	uint16_t ss58_prefix;
	struct rules_large_movement lm;
	/* accounts: open addressing on the public key */
	struct rules_account *slots;
	size_t nslots, count;
	struct rules_rule extra[RULES_EXTRA_MAX];
	size_t nextra;
	struct { void (*fn)(void *); void *arg; } on_free[RULES_EXTRA_MAX];
	size_t nfree;
};

/* ---- u128 arithmetic and formatting ------------------------------------------------ */

rollout_u128
rules_total(const struct rollout_account_data *d)
{
	rollout_u128 t = d->free + d->reserved;

	return t < d->free ? U128_MAX : t;
}

int
rules_total_delta(const struct rollout_account_data *before,
    const struct rollout_account_data *after, rollout_u128 *mag)
{
	/* Work per component so that no intermediate sum can overflow silently. */
	rollout_u128 df, dr;
	int nf = after->free < before->free, nr = after->reserved < before->reserved;

	df = nf ? before->free - after->free : after->free - before->free;
	dr = nr ? before->reserved - after->reserved : after->reserved - before->reserved;
	if (nf == nr) {
		rollout_u128 s = df + dr;

		*mag = s < df ? U128_MAX : s;
		return *mag ? nf : 0;
	}
	if (df >= dr) {
		*mag = df - dr;
		return *mag ? nf : 0;
	}
	*mag = dr - df;
	return nr;
}

char *
rules_format_u128(rollout_u128 v, char *buf, size_t len)
{
	char tmp[48];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	if (len < n + 1) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

char *
rules_format_tokens(rollout_u128 v, unsigned decimals, int negative, char *buf, size_t len)
{
	char digits[48], out[96];
	size_t n, o = 0;

	rules_format_u128(v, digits, sizeof(digits));
	n = strlen(digits);
	if (negative && v)
		out[o++] = '-';
	if (n <= decimals) {
		out[o++] = '0';
		out[o++] = '.';
		for (size_t i = n; i < decimals; i++)
			out[o++] = '0';
		memcpy(out + o, digits, n);
		o += n;
	} else {
		memcpy(out + o, digits, n - decimals);
		o += n - decimals;
		if (decimals) {
			out[o++] = '.';
			memcpy(out + o, digits + n - decimals, decimals);
			o += decimals;
		}
	}
	out[o] = '\0';
	if (decimals) { /* trim trailing zeros and a bare dot */
		while (o > 0 && out[o - 1] == '0')
			out[--o] = '\0';
		if (o > 0 && out[o - 1] == '.')
			out[--o] = '\0';
	}
	snprintf(buf, len, "%s", out);
	return buf;
}

int
rules_parse_tokens(const char *s, unsigned decimals, rollout_u128 *out)
{
	rollout_u128 v = 0;
	unsigned frac = 0;
	int dot = 0, digits = 0;

	if (s == NULL || *s == '\0' || decimals > 38)
		return -EINVAL;
	for (; *s; s++) {
		if (*s == '.') {
			if (dot || digits == 0)
				return -EINVAL;
			dot = 1;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (dot && ++frac > decimals)
			return -ERANGE;
		if (v > (U128_MAX - (rollout_u128)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (rollout_u128)(*s - '0');
		digits++;
	}
	if (dot && frac == 0)
		return -EINVAL;
	for (; frac < decimals; frac++) {
		if (v > U128_MAX / 10)
			return -ERANGE;
		v *= 10;
	}
	*out = v;
	return 0;
}

/* ---- accounts ------------------------------------------------------------------------ */

void
rules_account_string(const uint8_t pubkey[32], uint16_t prefix, char *buf, size_t len)
{
	static const char hx[] = "0123456789abcdef";

	if (ss58_encode(pubkey, prefix, buf, len) == 0)
		return;
	if (len < 67) {
		if (len)
			buf[0] = '\0';
		return;
	}
	buf[0] = '0';
	buf[1] = 'x';
	for (int i = 0; i < 32; i++) {
		buf[2 + 2 * i] = hx[pubkey[i] >> 4];
		buf[3 + 2 * i] = hx[pubkey[i] & 15];
	}
	buf[66] = '\0';
}

void
rules_alert_id(const char *key, char id[33])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)key, strlen(key), NULL, 0);
	for (int i = 0; i < 16; i++) {
		id[2 * i] = hx[h[i] >> 4];
		id[2 * i + 1] = hx[h[i] & 15];
	}
	id[32] = '\0';
}

static size_t
rules_slot_hash(const uint8_t pk[32])
{
	uint64_t x;

	memcpy(&x, pk, 8);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static struct rules_account *
rules_find(const struct rules *r, const uint8_t pk[32])
{
	size_t i = rules_slot_hash(pk) & (r->nslots - 1);

	while (r->slots[i].known) {
		if (memcmp(r->slots[i].pubkey, pk, 32) == 0)
			return &r->slots[i];
		i = (i + 1) & (r->nslots - 1);
	}
	return NULL;
}

static int
rules_grow(struct rules *r)
{
	size_t n = r->nslots * 2;
	struct rules_account *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < r->nslots; k++) {
		if (!r->slots[k].known)
			continue;
		size_t i = rules_slot_hash(r->slots[k].pubkey) & (n - 1);

		while (s[i].known)
			i = (i + 1) & (n - 1);
		s[i] = r->slots[k];
	}
	free(r->slots);
	r->slots = s;
	r->nslots = n;
	return 0;
}

/* The account's record, created when new.  NULL on out of memory. */
static struct rules_account *
rules_get(struct rules *r, const uint8_t pk[32])
{
	struct rules_account *a = rules_find(r, pk);
	size_t i;

	if (a)
		return a;
	if ((r->count + 1) * 4 > r->nslots * 3 && rules_grow(r) != 0)
		return NULL;
	i = rules_slot_hash(pk) & (r->nslots - 1);
	while (r->slots[i].known)
		i = (i + 1) & (r->nslots - 1);
	a = &r->slots[i];
	memset(a, 0, sizeof(*a));
	memcpy(a->pubkey, pk, 32);
	a->known = 1;
	r->count++;
	return a;
}

const struct rules_account *
rules_account(const struct rules *r, const uint8_t pubkey[32])
{
	return rules_find(r, pubkey);
}

size_t
rules_account_count(const struct rules *r)
{
	return r->count;
}

const struct rules_large_movement *
rules_thresholds(const struct rules *r)
{
	return &r->lm;
}

/* ---- configuration ---------------------------------------------------------------------- */

static int
rules_amount(const struct ynode *map, const char *key, unsigned decimals, rollout_u128 *out,
    char *err, size_t errlen)
{
	const struct ynode *v = ynode_get(map, key);
	int rc;

	if (v == NULL)
		return 0;
	if (v->kind != YNODE_SCALAR) {
		snprintf(err, errlen, "%s:%d:%d: rules: large_movement.%s: expected an amount in tokens, got a %s",
		    v->file, v->line, v->col, key, ynode_kind_name(v->kind));
		return -EINVAL;
	}
	rc = rules_parse_tokens(v->scalar, decimals, out);
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d:%d: rules: large_movement.%s: \"%s\" is not %s",
		    v->file, v->line, v->col, key, v->scalar,
		    rc == -ERANGE ? "representable in planck (too many decimals or too large)"
				  : "a decimal token amount like 10000 or 2.5");
		return -EINVAL;
	}
	return 0;
}

int
rules_create(struct rules **out, const char *system, const struct ynode *cfg, unsigned decimals,
    const char *symbol, uint16_t ss58_prefix, char *err, size_t errlen)
{
	struct rules *r;
	const struct ynode *lm;
	int rc;

	*out = NULL;
	if (decimals > 30) {
		snprintf(err, errlen, "rules: %u decimals is more than supported (30)", decimals);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "rules: out of memory");
		return -ENOMEM;
	}
	snprintf(r->system, sizeof(r->system), "%s", system);
	snprintf(r->symbol, sizeof(r->symbol), "%s", symbol ? symbol : "");
	r->decimals = decimals;
	r->ss58_prefix = ss58_prefix;
	rules_parse_tokens("10000", decimals, &r->lm.info);
	rules_parse_tokens("100000", decimals, &r->lm.warning);
	rules_parse_tokens("1000000", decimals, &r->lm.critical);
	if (cfg && cfg->kind == YNODE_MAP && (lm = ynode_get(cfg, "large_movement")) != NULL) {
		if (lm->kind != YNODE_MAP) {
			snprintf(err, errlen, "%s:%d:%d: rules: large_movement: expected a map with info, warning, critical",
			    lm->file, lm->line, lm->col);
			rc = -EINVAL;
			goto fail;
		}
		for (size_t i = 0; i < lm->len; i++) {
			const struct ynode *k = lm->keys[i];

			if (strcmp(k->scalar, "info") != 0 && strcmp(k->scalar, "warning") != 0 &&
			    strcmp(k->scalar, "critical") != 0) {
				snprintf(err, errlen, "%s:%d:%d: rules: large_movement: unknown key \"%s\" (info, warning, critical)",
				    k->file, k->line, k->col, k->scalar);
				rc = -EINVAL;
				goto fail;
			}
		}
		if ((rc = rules_amount(lm, "info", decimals, &r->lm.info, err, errlen)) != 0 ||
		    (rc = rules_amount(lm, "warning", decimals, &r->lm.warning, err, errlen)) != 0 ||
		    (rc = rules_amount(lm, "critical", decimals, &r->lm.critical, err, errlen)) != 0)
			goto fail;
		if (!(r->lm.info <= r->lm.warning && r->lm.warning <= r->lm.critical) || r->lm.info == 0) {
			snprintf(err, errlen, "%s:%d:%d: rules: large_movement: need 0 < info <= warning <= critical",
			    lm->file, lm->line, lm->col);
			rc = -EINVAL;
			goto fail;
		}
	}
	r->nslots = 1024;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (r->slots == NULL) {
		snprintf(err, errlen, "rules: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	free(r);
	return rc;
}

void
rules_free(struct rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nfree; i++)
		r->on_free[i].fn(r->on_free[i].arg);
	free(r->slots);
	free(r);
}

/* ---- the rules ------------------------------------------------------------------------------ */

static const char *
rules_sev_name(enum rollout_severity s)
{
	return s == ROLLOUT_SEV_CRITICAL ? "critical" : s == ROLLOUT_SEV_WARNING ? "warning" : "info";
}

/* Large movement: |Δ(free + reserved)| against the three tiers. */
static int
rule_large_movement(struct rules *r, const struct rules_account *acct,
    const struct rollout_balance_change *bc, int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	struct rules_alert a;
	rollout_u128 mag, thr;
	int neg;
	char thr_s[64], when[64];

	neg = rules_total_delta(&bc->before, &bc->after, &mag);
	if (mag < r->lm.info)
		return 0;
	if (mag >= r->lm.critical)
		thr = r->lm.critical;
	else if (mag >= r->lm.warning)
		thr = r->lm.warning;
	else
		thr = r->lm.info;
	rules_alert_init(r, &a, "large_movement", mag >= r->lm.critical ? ROLLOUT_SEV_CRITICAL :
	    mag >= r->lm.warning ? ROLLOUT_SEV_WARNING : ROLLOUT_SEV_INFO, bc->pubkey, neg, mag, bc,
	    bc->observed_ms ? bc->observed_ms : now_ms);
	(void)acct;
	if (bc->block_to) {
		snprintf(a.key, sizeof(a.key), "large_movement:%s:%llu", a.account,
		    (unsigned long long)bc->block_to);
		snprintf(when, sizeof(when), "at block #%llu", (unsigned long long)bc->block_to);
	} else {
		snprintf(a.key, sizeof(a.key), "large_movement:%s:w%lld", a.account,
		    (long long)bc->window_end_ms);
		snprintf(when, sizeof(when), "in the window ending %lld", (long long)bc->window_end_ms);
	}
	rules_alert_id(a.key, a.id);
	rules_format_tokens(thr, r->decimals, 0, thr_s, sizeof(thr_s));
	snprintf(a.title, sizeof(a.title), "Large movement: %s %s %s", a.amount_tokens, r->symbol,
	    a.label[0] ? a.label : a.account);
	snprintf(a.message, sizeof(a.message),
	    "%s%s%s moved %s %s %s (%s: |delta| >= %s %s), seen by %s",
	    a.account, a.label[0] ? " " : "", a.label, a.amount_tokens, r->symbol, when,
	    rules_sev_name(a.severity), thr_s, r->symbol, r->system);
	{
		char bt[48], at[48], mg[48];

		rules_format_u128(rules_total(&bc->before), bt, sizeof(bt));
		rules_format_u128(rules_total(&bc->after), at, sizeof(at));
		rules_format_u128(mag, mg, sizeof(mg));
		snprintf(a.details, sizeof(a.details),
		    "{\"rule\":\"large_movement\",\"before_planck\":\"%s\",\"after_planck\":\"%s\","
		    "\"delta_planck\":\"%s%s\",\"threshold_tokens\":\"%s\"}",
		    bt, at, neg ? "-" : "", mg, thr_s);
	}
	fn(ctx, &a);
	return 1;
}

/*
 * The rule table.  Each balance rule sees the account's state before the
 * change is applied (ACCT may be NULL for an account never seen).
 */
typedef int (*rules_balance_rule)(struct rules *r, const struct rules_account *acct,
    const struct rollout_balance_change *bc, int64_t now_ms, rules_alert_fn fn, void *ctx);
static const rules_balance_rule rules_table[] = {
	rule_large_movement,
};

int
rules_add(struct rules *r, const struct rules_rule *rule)
{
	if (r->nextra >= RULES_EXTRA_MAX)
		return -E2BIG;
	r->extra[r->nextra++] = *rule;
	return 0;
}

int
rules_on_free(struct rules *r, void (*fn)(void *arg), void *arg)
{
	if (r->nfree >= RULES_EXTRA_MAX)
		return -E2BIG;
	r->on_free[r->nfree].fn = fn;
	r->on_free[r->nfree].arg = arg;
	r->nfree++;
	return 0;
}

void *
rules_rule_arg(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nextra; i++)
		if (r->extra[i].name && strcmp(r->extra[i].name, name) == 0)
			return r->extra[i].arg;
	return NULL;
}

const char *
rules_system(const struct rules *r)
{
	return r->system;
}

unsigned
rules_decimals(const struct rules *r)
{
	return r->decimals;
}

const char *
rules_symbol(const struct rules *r)
{
	return r->symbol;
}

uint16_t
rules_ss58_prefix(const struct rules *r)
{
	return r->ss58_prefix;
}

struct rules_account *
rules_account_get(struct rules *r, const uint8_t pubkey[32])
{
	return rules_get(r, pubkey);
}

void
rules_alert_init(const struct rules *r, struct rules_alert *a, const char *type,
    enum rollout_severity sev, const uint8_t pubkey[32], int negative, rollout_u128 amount,
    const struct rollout_balance_change *bc, int64_t time_ms)
{
	const struct rules_account *acct = rules_find(r, pubkey);

	memset(a, 0, sizeof(*a));
	snprintf(a->type, sizeof(a->type), "%s", type);
	a->severity = sev;
	snprintf(a->system, sizeof(a->system), "%s", r->system);
	memcpy(a->pubkey, pubkey, 32);
	rules_account_string(pubkey, r->ss58_prefix, a->account, sizeof(a->account));
	snprintf(a->label, sizeof(a->label), "%s", acct ? acct->label : "");
	a->negative = negative && amount != 0;
	a->amount = amount;
	rules_format_tokens(amount, r->decimals, a->negative, a->amount_tokens,
	    sizeof(a->amount_tokens));
	if (bc) {
		a->block_from = bc->block_from;
		a->block_to = bc->block_to;
		a->window_start_ms = bc->window_start_ms;
		a->window_end_ms = bc->window_end_ms;
	}
	a->time_ms = time_ms;
}

int
rules_balance(struct rules *r, const struct rollout_balance_change *bc, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	struct rules_account *a;
	int n = 0;

	a = rules_get(r, bc->pubkey);
	if (bc->has_before) {
		for (size_t i = 0; i < sizeof(rules_table) / sizeof(rules_table[0]); i++)
			n += rules_table[i](r, a, bc, now_ms, fn, ctx);
		for (size_t i = 0; i < r->nextra; i++)
			if (r->extra[i].balance)
				n += r->extra[i].balance(r, a, bc, now_ms, fn, ctx);
	}
	if (a) {
		a->data = bc->after;
		if (bc->block_to)
			a->block = bc->block_to;
		if (bc->has_before)
			a->changed_ms = bc->block_time_ms ? bc->block_time_ms : bc->window_end_ms;
	}
	return n;
}

int
rules_snapshot(struct rules *r, const struct rollout_snapshot *s, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	int n = 0;

	/* rules first, so that they see the previous list's ranks and labels;
	 * without FN they only update their state */
	for (size_t i = 0; i < r->nextra; i++)
		if (r->extra[i].snapshot)
			n += r->extra[i].snapshot(r, s, now_ms, fn, ctx);
	for (size_t i = 0; i < s->count; i++) {
		const struct rollout_snapshot_entry *e = &s->entries[i];
		struct rules_account *a = rules_get(r, e->pubkey);

		if (a == NULL)
			return n;
		a->rank = e->rank;
		if (e->tag_name[0])
			snprintf(a->label, sizeof(a->label), "%s", e->tag_name);
		else
			snprintf(a->label, sizeof(a->label), "%s", e->display);
	}
	return n;
}

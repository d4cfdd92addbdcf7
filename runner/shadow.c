/*
 * shadow.c — baseline vs candidate comparator (shadow.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "shadow.h"

#define HIST_CAP 256          /* candidate changes kept per account */
#define VALS_MAX 64           /* candidate values considered in one lag window */
#define PENDING_MAX 200000    /* per list; beyond that the oldest are dropped */

struct hist_ent {
	int64_t t;                  /* block time (or observed time when unknown) */
	rollout_u128 before, after; /* free + reserved */
	int has_before;
};

struct cand_acct {
	uint8_t pk[32];
	int used;
	int truncated;              /* older history was dropped: earlier values unknown */
	struct hist_ent *h;
	size_t n, cap;
};

struct cand_alert {
	uint8_t pk[32];
	int64_t t;                  /* block time of the change */
	int64_t time_ms;            /* when the candidate observed it */
	int negative;
	rollout_u128 amount;
	char account[64];
	int decided;
};

struct base_alert {
	uint8_t pk[32];
	int64_t s, e;               /* window */
	int64_t time_ms;
	int negative;
	rollout_u128 amount;
	char account[64];
	int decided;
};

struct bal_check {
	uint8_t pk[32];
	int64_t t;
	rollout_u128 v;
};

struct mismatch {
	char kind[12];              /* "balance", "missed", "extra" */
	char account[64];
	int64_t time_ms;
	int64_t window_start_ms, window_end_ms;
	char baseline[64];          /* planck (signed for deltas) or "none" */
	char candidate[64];
	char detail[160];
};

#define VEC(T) struct { T *v; size_t n, cap; }

struct shadow {
	struct shadow_opts o;
	struct cand_acct *accts;
	size_t nslots, naccts;
	VEC(struct cand_alert) calerts;
	VEC(struct base_alert) balerts;
	VEC(struct bal_check) checks;
	int64_t horizon_ms, horizon_at_ms, now_ms;
	/*
	 * shadow_tick() scans the lists only when something can happen: DUE_MS is
	 * the earliest now at which a balance check or a baseline alert becomes
	 * decidable, CMIN_T the earliest time of an undecided candidate alert,
	 * GC_MS the earliest now at which a decided alert is forgotten
	 * (INT64_MAX: none).  Kept exact, so decisions do not change.
	 */
	int64_t due_ms, cmin_t, gc_ms;
	struct shadow_stats st;
	uint64_t dropped;
	struct mismatch mm[SHADOW_MISMATCHES];
	size_t mm_next, mm_count;
};

#define VEC_PUSH(vec, item) do { \
	if ((vec).n == (vec).cap) { \
		size_t nc_ = (vec).cap ? (vec).cap * 2 : 64; \
		void *nv_ = realloc((vec).v, nc_ * sizeof(*(vec).v)); \
		if (nv_ == NULL) break; \
		(vec).v = nv_; (vec).cap = nc_; \
	} \
	(vec).v[(vec).n++] = (item); \
} while (0)

int
shadow_create(struct shadow **out, const struct shadow_opts *o)
{
	struct shadow *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->o = *o;
	if (s->o.lag_ms <= 0)
		s->o.lag_ms = 120000;
	if (s->o.settle_ms <= 0)
		s->o.settle_ms = 10000;
	if (s->o.retain_ms <= 0)
		s->o.retain_ms = 48LL * 3600 * 1000;
	s->due_ms = s->cmin_t = s->gc_ms = INT64_MAX;
	s->nslots = 1024;
	s->accts = calloc(s->nslots, sizeof(*s->accts));
	if (s->accts == NULL) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void
shadow_free(struct shadow *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nslots; i++)
		free(s->accts[i].h);
	free(s->accts);
	free(s->calerts.v);
	free(s->balerts.v);
	free(s->checks.v);
	free(s);
}

/* ---- candidate history --------------------------------------------------------------- */

static size_t
shadow_hash(const uint8_t pk[32])
{
	uint64_t x;

	memcpy(&x, pk + 16, 8);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(x ^ (x >> 27));
}

static struct cand_acct *
shadow_acct(struct shadow *s, const uint8_t pk[32], int create)
{
	size_t i = shadow_hash(pk) & (s->nslots - 1);

	while (s->accts[i].used) {
		if (memcmp(s->accts[i].pk, pk, 32) == 0)
			return &s->accts[i];
		i = (i + 1) & (s->nslots - 1);
	}
	if (!create)
		return NULL;
	if ((s->naccts + 1) * 4 > s->nslots * 3) {
		size_t n = s->nslots * 2;
		struct cand_acct *t = calloc(n, sizeof(*t));

		if (t == NULL)
			return NULL;
		for (size_t k = 0; k < s->nslots; k++) {
			if (!s->accts[k].used)
				continue;
			size_t j = shadow_hash(s->accts[k].pk) & (n - 1);

			while (t[j].used)
				j = (j + 1) & (n - 1);
			t[j] = s->accts[k];
		}
		free(s->accts);
		s->accts = t;
		s->nslots = n;
		return shadow_acct(s, pk, 1);
	}
	memset(&s->accts[i], 0, sizeof(s->accts[i]));
	memcpy(s->accts[i].pk, pk, 32);
	s->accts[i].used = 1;
	s->naccts++;
	return &s->accts[i];
}

void
shadow_candidate_change(struct shadow *s, const struct rollout_balance_change *bc)
{
	struct cand_acct *a = shadow_acct(s, bc->pubkey, 1);
	struct hist_ent e;
	size_t i;

	if (a == NULL)
		return;
	e.t = bc->block_time_ms ? bc->block_time_ms : bc->observed_ms;
	e.before = rules_total(&bc->before);
	e.after = rules_total(&bc->after);
	e.has_before = bc->has_before;
	if (a->n == a->cap) {
		if (a->cap >= HIST_CAP) {
			/* Keep the newer half; older values become unknown. */
			memmove(a->h, a->h + a->n / 2, (a->n - a->n / 2) * sizeof(*a->h));
			a->n -= a->n / 2;
			a->truncated = 1;
		} else {
			size_t nc = a->cap ? a->cap * 2 : 8;
			struct hist_ent *nh = realloc(a->h, nc * sizeof(*nh));

			if (nh == NULL)
				return;
			a->h = nh;
			a->cap = nc;
		}
	}
	/* Insert in time order (events may arrive out of order). */
	i = a->n;
	while (i > 0 && a->h[i - 1].t > e.t) {
		a->h[i] = a->h[i - 1];
		i--;
	}
	a->h[i] = e;
	a->n++;
}

/* Value held at time T: 1 and *V, or 0 when unknown. */
static int
shadow_value_at(const struct cand_acct *a, int64_t t, rollout_u128 *v)
{
	size_t i = a->n;

	while (i > 0 && a->h[i - 1].t > t)
		i--;
	if (i > 0) {
		*v = a->h[i - 1].after;
		return 1;
	}
	if (a->n > 0 && !a->truncated && a->h[0].has_before) {
		*v = a->h[0].before;
		return 1;
	}
	return 0;
}

/* Every value the candidate held during [LO, HI]; returns the count. */
static size_t
shadow_values_in(const struct cand_acct *a, int64_t lo, int64_t hi, rollout_u128 *vals)
{
	size_t n = 0;
	rollout_u128 v;

	if (shadow_value_at(a, lo, &v))
		vals[n++] = v;
	for (size_t i = 0; i < a->n && n < VALS_MAX; i++) {
		if (a->h[i].t > lo && a->h[i].t <= hi)
			vals[n++] = a->h[i].after;
	}
	return n;
}

/* ---- inputs ------------------------------------------------------------------------------- */

static void
shadow_horizon(struct shadow *s, int64_t t)
{
	if (t > s->horizon_ms) {
		s->horizon_ms = t;
		s->horizon_at_ms = s->now_ms;
	}
}

void
shadow_baseline_change(struct shadow *s, const struct rollout_balance_change *bc)
{
	shadow_horizon(s, bc->window_end_ms);
}

void
shadow_baseline_snapshot(struct shadow *s, const struct rollout_snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++) {
		const struct rollout_snapshot_entry *e = &snap->entries[i];
		struct bal_check c;

		if (s->checks.n >= PENDING_MAX) {
			s->dropped++;
			continue;
		}
		memcpy(c.pk, e->pubkey, 32);
		c.t = snap->taken_ms;
		c.v = e->total ? e->total : rules_total(&e->data);
		VEC_PUSH(s->checks, c);
		if (c.t + s->o.lag_ms + s->o.settle_ms < s->due_ms)
			s->due_ms = c.t + s->o.lag_ms + s->o.settle_ms;
	}
	shadow_horizon(s, snap->taken_ms);
}

void
shadow_alert(struct shadow *s, const struct rules_alert *a)
{
	if (strcmp(a->system, "candidate") == 0) {
		struct cand_alert c;

		if (s->calerts.n >= PENDING_MAX) {
			s->dropped++;
			return;
		}
		memset(&c, 0, sizeof(c));
		memcpy(c.pk, a->pubkey, 32);
		c.t = a->window_end_ms ? a->window_end_ms : a->time_ms;
		c.time_ms = a->time_ms;
		c.negative = a->negative;
		c.amount = a->amount;
		snprintf(c.account, sizeof(c.account), "%s", a->account);
		VEC_PUSH(s->calerts, c);
		if (c.t < s->cmin_t)
			s->cmin_t = c.t;
	} else if (strcmp(a->system, "baseline") == 0) {
		struct base_alert b;

		if (s->balerts.n >= PENDING_MAX) {
			s->dropped++;
			return;
		}
		memset(&b, 0, sizeof(b));
		memcpy(b.pk, a->pubkey, 32);
		b.s = a->window_start_ms;
		b.e = a->window_end_ms;
		b.time_ms = a->time_ms;
		b.negative = a->negative;
		b.amount = a->amount;
		snprintf(b.account, sizeof(b.account), "%s", a->account);
		VEC_PUSH(s->balerts, b);
		if (b.e + s->o.lag_ms + s->o.settle_ms < s->due_ms)
			s->due_ms = b.e + s->o.lag_ms + s->o.settle_ms;
		shadow_horizon(s, b.e);
	}
}

/* ---- decisions ------------------------------------------------------------------------------ */

static void
shadow_metric(struct shadow *s, const char *name, double v)
{
	if (s->o.metric)
		s->o.metric(s->o.metric_ctx, name, v);
}

static struct mismatch *
shadow_mismatch(struct shadow *s, const char *kind, const uint8_t pk[32], const char *account)
{
	struct mismatch *m = &s->mm[s->mm_next];

	memset(m, 0, sizeof(*m));
	snprintf(m->kind, sizeof(m->kind), "%s", kind);
	if (account && *account)
		snprintf(m->account, sizeof(m->account), "%s", account);
	else
		rules_account_string(pk, s->o.ss58_prefix, m->account, sizeof(m->account));
	s->mm_next = (s->mm_next + 1) % SHADOW_MISMATCHES;
	if (s->mm_count < SHADOW_MISMATCHES)
		s->mm_count++;
	return m;
}

static void
shadow_signed(int neg, rollout_u128 v, char *buf, size_t len)
{
	char d[48];

	rules_format_u128(v, d, sizeof(d));
	snprintf(buf, len, "%s%s", neg && v ? "-" : "", d);
}

static int
shadow_within(rollout_u128 a, rollout_u128 b, rollout_u128 tol)
{
	return (a >= b ? a - b : b - a) <= tol;
}

static void
shadow_decide_check(struct shadow *s, const struct bal_check *c)
{
	const struct cand_acct *a = shadow_acct(s, c->pk, 0);
	rollout_u128 vals[VALS_MAX], near;
	size_t n;
	int ok = 0;

	if (a == NULL || a->n == 0) {
		s->st.balance_unchecked++;
		return;
	}
	n = shadow_values_in(a, c->t - s->o.lag_ms, c->t + s->o.lag_ms, vals);
	if (n == 0) {
		s->st.balance_unchecked++;
		return;
	}
	for (size_t i = 0; i < n && !ok; i++)
		ok = shadow_within(vals[i], c->v, s->o.tolerance);
	s->st.balance_checked++;
	if (ok) {
		s->st.balance_agreed++;
		return;
	}
	struct mismatch *m = shadow_mismatch(s, "balance", c->pk, NULL);
	m->time_ms = c->t;
	shadow_signed(0, c->v, m->baseline, sizeof(m->baseline));
	if (shadow_value_at(a, c->t, &near))
		shadow_signed(0, near, m->candidate, sizeof(m->candidate));
	else
		shadow_signed(0, vals[n - 1], m->candidate, sizeof(m->candidate));
	snprintf(m->detail, sizeof(m->detail),
	    "no candidate value within +-%llds of the snapshot equals the baseline's",
	    (long long)(s->o.lag_ms / 1000));
}

typedef __int128 shadow_i128;
#define SHADOW_CLAMP ((shadow_i128)1 << 125) /* far above any real balance */

static shadow_i128
shadow_clamp(rollout_u128 v, int neg)
{
	shadow_i128 x = v > (rollout_u128)SHADOW_CLAMP ? SHADOW_CLAMP : (shadow_i128)v;

	return neg ? -x : x;
}

static shadow_i128
shadow_delta(const struct hist_ent *e)
{
	return e->after >= e->before ? shadow_clamp(e->after - e->before, 0)
				     : shadow_clamp(e->before - e->after, 1);
}

/*
 * Match baseline alert B against the candidate's changes.  The baseline saw
 * the chain through snapshots that lag by up to `lag`, so its window is
 * (S - x1, E - x2] for some x1, x2 in [0, lag]: changes in (S, E - lag] must
 * be in the sum, those in (S - lag, S] may be (a suffix of them), those in
 * (E - lag, E] may be (a prefix).  1 when some such sum equals B's delta
 * within the tolerance; *CORE gets the sum over (S, E].
 */
static int
shadow_sum_matches(const struct shadow *s, const struct cand_acct *a, const struct base_alert *b,
    shadow_i128 *core)
{
	shadow_i128 prefix[HIST_CAP + 1], want = shadow_clamp(b->amount, b->negative);
	shadow_i128 tol = shadow_clamp(s->o.tolerance, 0);
	size_t n = 0, lo_max = 0, hi_min = 0;
	int64_t lag = s->o.lag_ms;

	prefix[0] = 0;
	*core = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct hist_ent *e = &a->h[i];

		if (!e->has_before || e->t <= b->s - lag || e->t > b->e)
			continue;
		prefix[n + 1] = prefix[n] + shadow_delta(e);
		if (e->t > b->s)
			*core += shadow_delta(e);
		if (e->t <= b->s)
			lo_max = n + 1;     /* may drop entries [0, lo_max) */
		if (e->t <= b->e - lag)
			hi_min = n + 1;     /* must keep entries [.., hi_min) */
		n++;
	}
	if (hi_min < lo_max)
		hi_min = lo_max;
	for (size_t lo = 0; lo <= lo_max; lo++) {
		for (size_t hi = hi_min; hi <= n; hi++) {
			shadow_i128 d = prefix[hi] - prefix[lo] - want;

			if (d <= tol && -d <= tol)
				return 1;
		}
	}
	return 0;
}

static void
shadow_decide_base(struct shadow *s, struct base_alert *b)
{
	const struct cand_acct *a = shadow_acct(s, b->pk, 0);
	shadow_i128 core = 0;
	int ok = 0;

	b->decided = 1;
	/*
	 * Warm-up: the candidate observed the account (its first value) only
	 * after the window began, e.g. at start-up or after a restart, so it
	 * cannot know the window's opening value: not comparable, neither
	 * matched nor missed.  An account the candidate never observed at all
	 * by now (lag + settle after the window end) is still missed.
	 */
	if (a && a->n && !shadow_value_at(a, b->s, &(rollout_u128){ 0 })) {
		s->st.skipped++;
		shadow_metric(s, "shadow.skipped", 1);
		return;
	}
	if (a && a->n)
		ok = shadow_sum_matches(s, a, b, &core);
	if (ok) {
		int64_t first = 0;
		int found = 0;

		s->st.matched++;
		shadow_metric(s, "shadow.matched", 1);
		for (size_t i = 0; i < s->calerts.n; i++) {
			const struct cand_alert *c = &s->calerts.v[i];

			if (memcmp(c->pk, b->pk, 32) == 0 && c->t > b->s - s->o.lag_ms &&
			    c->t <= b->e && (!found || c->time_ms < first)) {
				first = c->time_ms;
				found = 1;
			}
		}
		if (found) {
			double lead = (double)(b->time_ms - first) / 1000.0;

			s->st.lead_samples++;
			s->st.lead_sum_s += lead;
			shadow_metric(s, "shadow.lead_time", lead);
		}
		return;
	}
	s->st.missed++;
	shadow_metric(s, "shadow.missed", 1);
	struct mismatch *m = shadow_mismatch(s, "missed", b->pk, b->account);
	m->time_ms = b->time_ms;
	m->window_start_ms = b->s;
	m->window_end_ms = b->e;
	shadow_signed(b->negative, b->amount, m->baseline, sizeof(m->baseline));
	if (a && a->n) {
		shadow_signed(core < 0, (rollout_u128)(core < 0 ? -core : core), m->candidate,
		    sizeof(m->candidate));
		snprintf(m->detail, sizeof(m->detail),
		    "the candidate's changes in the window (lag %llds) sum to another delta",
		    (long long)(s->o.lag_ms / 1000));
	} else {
		snprintf(m->candidate, sizeof(m->candidate), "none");
		snprintf(m->detail, sizeof(m->detail), "the candidate never observed the account");
	}
}

static void
shadow_decide_cand(struct shadow *s, struct cand_alert *c)
{
	c->decided = 1;
	for (size_t i = 0; i < s->balerts.n; i++) {
		const struct base_alert *b = &s->balerts.v[i];

		if (memcmp(b->pk, c->pk, 32) == 0 && c->t > b->s - s->o.lag_ms && c->t <= b->e)
			return; /* covered: counted on the baseline side */
	}
	s->st.extra++;
	shadow_metric(s, "shadow.extra", 1);
	struct mismatch *m = shadow_mismatch(s, "extra", c->pk, c->account);
	m->time_ms = c->time_ms;
	m->window_start_ms = c->t;
	m->window_end_ms = c->t;
	snprintf(m->baseline, sizeof(m->baseline), "none");
	shadow_signed(c->negative, c->amount, m->candidate, sizeof(m->candidate));
	snprintf(m->detail, sizeof(m->detail), "candidate-only alert (coverage gain)");
}

/* May an undecided candidate alert be decided at NOW_MS? */
static int
shadow_cand_due(const struct shadow *s, int64_t now_ms)
{
	return s->cmin_t != INT64_MAX && s->horizon_ms - s->o.lag_ms >= s->cmin_t &&
	    now_ms >= s->horizon_at_ms + s->o.settle_ms;
}

static int64_t
shadow_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

size_t
shadow_tick(struct shadow *s, int64_t now_ms)
{
	size_t decided = 0, k;
	int64_t wait = s->o.lag_ms + s->o.settle_ms;
	int64_t due = INT64_MAX, cmin = INT64_MAX, gc = INT64_MAX;

	if (now_ms > s->now_ms)
		s->now_ms = now_ms;
	if (s->horizon_at_ms == 0 && s->horizon_ms)
		s->horizon_at_ms = now_ms;
	/* called after every batch of events: most calls have nothing to do */
	if (now_ms < s->due_ms && now_ms < s->gc_ms && !shadow_cand_due(s, now_ms))
		return 0;
	/* balance checks */
	k = 0;
	for (size_t i = 0; i < s->checks.n; i++) {
		if (now_ms >= s->checks.v[i].t + wait) {
			shadow_decide_check(s, &s->checks.v[i]);
			decided++;
		} else {
			due = shadow_min(due, s->checks.v[i].t + wait);
			s->checks.v[k++] = s->checks.v[i];
		}
	}
	s->checks.n = k;
	/* baseline alerts */
	for (size_t i = 0; i < s->balerts.n; i++) {
		if (!s->balerts.v[i].decided && now_ms >= s->balerts.v[i].e + wait) {
			shadow_decide_base(s, &s->balerts.v[i]);
			decided++;
		}
	}
	/* candidate alerts, once the baseline has looked past them */
	for (size_t i = 0; i < s->calerts.n; i++) {
		struct cand_alert *c = &s->calerts.v[i];

		if (!c->decided && s->horizon_ms >= c->t + s->o.lag_ms &&
		    now_ms >= s->horizon_at_ms + s->o.settle_ms) {
			shadow_decide_cand(s, c);
			decided++;
		}
	}
	/* forget what no decision can need any more */
	k = 0;
	for (size_t i = 0; i < s->calerts.n; i++) {
		const struct cand_alert *c = &s->calerts.v[i];

		if (!c->decided)
			cmin = shadow_min(cmin, c->t);
		else if (c->t + s->o.retain_ms > now_ms)
			gc = shadow_min(gc, c->t + s->o.retain_ms);
		else
			continue;
		s->calerts.v[k++] = *c;
	}
	s->calerts.n = k;
	k = 0;
	for (size_t i = 0; i < s->balerts.n; i++) {
		const struct base_alert *b = &s->balerts.v[i];

		if (!b->decided)
			due = shadow_min(due, b->e + wait);
		else if (b->e + s->o.retain_ms > now_ms)
			gc = shadow_min(gc, b->e + s->o.retain_ms);
		else
			continue;
		s->balerts.v[k++] = *b;
	}
	s->balerts.n = k;
	s->due_ms = due;
	s->cmin_t = cmin;
	s->gc_ms = gc;
	if (decided) {
		uint64_t den = s->st.matched + s->st.missed + s->st.balance_checked;

		if (den)
			shadow_metric(s, "shadow.accuracy",
			    (double)(s->st.matched + s->st.balance_agreed) / (double)den);
		if (s->st.balance_checked)
			shadow_metric(s, "shadow.balance_agreement",
			    (double)s->st.balance_agreed / (double)s->st.balance_checked);
	}
	return decided;
}

void
shadow_get_stats(const struct shadow *s, struct shadow_stats *out)
{
	size_t pending = s->checks.n;

	*out = s->st;
	for (size_t i = 0; i < s->balerts.n; i++)
		pending += !s->balerts.v[i].decided;
	for (size_t i = 0; i < s->calerts.n; i++)
		pending += !s->calerts.v[i].decided;
	out->pending = pending;
}

json_t *
shadow_json(const struct shadow *s)
{
	json_t *o = json_object(), *arr = json_array();
	uint64_t den = s->st.matched + s->st.missed + s->st.balance_checked;
	struct shadow_stats st;

	shadow_get_stats(s, &st);
	json_object_set_new(o, "accuracy", den ? json_real((double)(s->st.matched +
	    s->st.balance_agreed) / (double)den) : json_null());
	json_object_set_new(o, "balance_agreement", s->st.balance_checked ?
	    json_real((double)s->st.balance_agreed / (double)s->st.balance_checked) : json_null());
	json_object_set_new(o, "matched", json_integer((json_int_t)s->st.matched));
	json_object_set_new(o, "missed", json_integer((json_int_t)s->st.missed));
	json_object_set_new(o, "extra", json_integer((json_int_t)s->st.extra));
	json_object_set_new(o, "skipped", json_integer((json_int_t)s->st.skipped));
	json_object_set_new(o, "balance_checked", json_integer((json_int_t)s->st.balance_checked));
	json_object_set_new(o, "balance_agreed", json_integer((json_int_t)s->st.balance_agreed));
	json_object_set_new(o, "balance_unchecked", json_integer((json_int_t)s->st.balance_unchecked));
	json_object_set_new(o, "lead_time_ms", s->st.lead_samples ?
	    json_integer((json_int_t)(s->st.lead_sum_s * 1000.0 / (double)s->st.lead_samples)) :
	    json_null());
	json_object_set_new(o, "pending", json_integer((json_int_t)st.pending));
	json_object_set_new(o, "lag_ms", json_integer(s->o.lag_ms));
	/* newest first */
	for (size_t i = 0; i < s->mm_count; i++) {
		const struct mismatch *m =
		    &s->mm[(s->mm_next + SHADOW_MISMATCHES - 1 - i) % SHADOW_MISMATCHES];
		json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}",
		    "kind", m->kind, "account", m->account, "time_ms", (json_int_t)m->time_ms,
		    "window_start_ms", (json_int_t)m->window_start_ms,
		    "window_end_ms", (json_int_t)m->window_end_ms, "baseline", m->baseline,
		    "candidate", m->candidate, "detail", m->detail);

		if (j)
			json_array_append_new(arr, j);
	}
	json_object_set_new(o, "mismatches", arr);
	return o;
}

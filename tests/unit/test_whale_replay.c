/*
 * test_whale_replay.c — replay the real Subscan top-1000 snapshots of July
 * 2025 (../shared/data/polkadot-top1000-2025-07/, SHARED overrides) through
 * the rules as the baseline feeds them (each list, then the balance changes
 * between consecutive lists), and compare every alert with what this test
 * computes itself from the files and each rule's definition: straight code
 * over the parsed JSON (its own decimal parser, its own window walk, plain
 * multiplication for percentages), not the program's output pasted in.
 * Twice: with the defaults, and with a sensitive configuration that makes
 * every rule fire on these two days of data.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rules.h"
#include "ss58.h"
#include "whale.h"
#include "ynode.h"

#define NSNAP_MAX 64
#define PLANCK ((rollout_u128)10000000000ULL) /* DOT: 10 decimals */

struct acc {
	char addr[64];
	uint8_t pk[32];
	uint32_t rank;
	rollout_u128 total, reserved, frozen;
	uint32_t nonce;
	char display[64], tag_type[32], tag_name[64];
};

struct snapf {
	int64_t t;
	struct acc *a;
	size_t n;
	const struct acc **by_addr;   /* sorted by address, for lookup() */
};

static struct snapf snaps[NSNAP_MAX];
static size_t nsnaps;

/* ---- parsing (independent of the poller's code) --------------------------------------- */

/* "123.45" tokens -> planck; -1 on anything else */
static int
tok(const char *s, rollout_u128 *out)
{
	rollout_u128 v = 0;
	int frac = -1;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || frac >= 10)
			return -1;
		v = v * 10 + (rollout_u128)(*s - '0');
		if (frac >= 0)
			frac++;
	}
	for (frac = frac < 0 ? 0 : frac; frac < 10; frac++)
		v *= 10;
	*out = v;
	return 0;
}

static const char *
str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_acc(const void *a, const void *b)
{
	return strcmp((*(const struct acc *const *)a)->addr, (*(const struct acc *const *)b)->addr);
}

static int
load(void **state)
{
	const char *shared = getenv("SHARED");
	char dir[1024], path[2048], *names[NSNAP_MAX];
	size_t nn = 0;
	DIR *d;
	struct dirent *de;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/data/polkadot-top1000-2025-07", shared ? shared : "../shared");
	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && nn < NSNAP_MAX)
		if (strstr(de->d_name, ".json"))
			names[nn++] = strdup(de->d_name);
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_name);
	for (size_t f = 0; f < nn; f++) {
		json_error_t je;
		json_t *root, *list;
		struct snapf *s = &snaps[nsnaps];

		snprintf(path, sizeof(path), "%s/%s", dir, names[f]);
		free(names[f]);
		root = json_load_file(path, 0, &je);
		if (root == NULL) {
			fprintf(stderr, "%s:%d: %s\n", path, je.line, je.text);
			return -1;
		}
		s->t = (int64_t)json_integer_value(json_object_get(root, "generated_at")) * 1000;
		list = json_object_get(json_object_get(root, "data"), "list");
		s->a = calloc(json_array_size(list) + 1, sizeof(*s->a));
		for (size_t i = 0; i < json_array_size(list); i++) {
			json_t *row = json_array_get(list, i), *disp, *people, *merkle;
			struct acc *a = &s->a[s->n];
			uint16_t pfx;
			char why[128];
			int dup = 0;

			snprintf(a->addr, sizeof(a->addr), "%s", str(row, "address"));
			if (ss58_decode(a->addr, a->pk, &pfx, why, sizeof(why)) != 0 ||
			    tok(str(row, "balance"), &a->total) != 0 ||
			    tok(str(row, "reserved"), &a->reserved) != 0 ||
			    tok(str(row, "balance_lock"), &a->frozen) != 0) {
				fprintf(stderr, "%s: row %zu: unparsable\n", path, i);
				return -1;
			}
			for (size_t j = 0; j < s->n && !dup; j++)
				dup = strcmp(s->a[j].addr, a->addr) == 0;
			if (dup)
				continue;
			a->nonce = (uint32_t)json_integer_value(json_object_get(row, "nonce"));
			disp = json_object_get(row, "account_display");
			people = json_object_get(disp, "people");
			merkle = json_object_get(disp, "merkle");
			if (*str(disp, "display"))
				snprintf(a->display, sizeof(a->display), "%s", str(disp, "display"));
			else if (*str(people, "display"))
				snprintf(a->display, sizeof(a->display), "%s", str(people, "display"));
			else
				snprintf(a->display, sizeof(a->display), "%s", str(disp, "identity"));
			snprintf(a->tag_type, sizeof(a->tag_type), "%s", str(merkle, "tag_type"));
			snprintf(a->tag_name, sizeof(a->tag_name), "%s", str(merkle, "tag_name"));
			a->rank = (uint32_t)s->n + 1;
			s->n++;
		}
		json_decref(root);
		s->by_addr = calloc(s->n + 1, sizeof(*s->by_addr));
		for (size_t i = 0; i < s->n; i++)
			s->by_addr[i] = &s->a[i];
		qsort(s->by_addr, s->n, sizeof(*s->by_addr), cmp_acc);
		nsnaps++;
	}
	return nsnaps >= 2 ? 0 : -1;
}

static int
unload(void **state)
{
	(void)state;
	for (size_t i = 0; i < nsnaps; i++) {
		free(snaps[i].a);
		free(snaps[i].by_addr);
	}
	return 0;
}

static const struct acc *
lookup(const struct snapf *s, const char *addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->by_addr[mid]->addr, addr);

		if (c == 0)
			return s->by_addr[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- alert lines: "type|key|severity|amount" -------------------------------------------------- */

struct lines {
	char **v;
	size_t n, cap;
};

static void
add(struct lines *l, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = strdup(buf);
}

static void
lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static char *
u128s(rollout_u128 v, char *buf)
{
	char t[48];
	int n = 0;

	do {
		t[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = t[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

static const char *sevname[] = { "info", "warning", "critical" };

static void
on_alert(void *ctx, const struct rules_alert *a)
{
	char m[48];

	/* a cluster's sum depends on where in the list the third whale came: not compared */
	if (strcmp(a->type, "coordinated_movement") == 0)
		add(ctx, "%s|%s|%s|-", a->type, a->key, sevname[a->severity]);
	else
		add(ctx, "%s|%s|%s|%s%s", a->type, a->key, sevname[a->severity],
		    a->negative ? "-" : "", u128s(a->amount, m));
}

/* ---- the expectation ----------------------------------------------------------------------- */

struct params {
	const char *yaml;                   /* the rules: block */
	rollout_u128 lm[3];                 /* large movement tiers */
	uint32_t top;                       /* 0: the whole list */
	rollout_u128 entry_critical;
	int64_t dorm_warn, dorm_crit;
	unsigned coord_k;
	rollout_u128 coord_min;
	int64_t coord_w;
	unsigned drain_pct, drain_wpct;
	rollout_u128 drain_min;
	unsigned gain_pct;
	rollout_u128 gain_min, gain_warn;
	int patterns;                        /* (?i)binance|kraken|coinbase */
	rollout_u128 ex[3];
	size_t restart_at;                   /* >0: restart (new instance, same data dir) before
	                                        the last snapshot with list alerts (chosen by
	                                        compare()); then only the
	                                        rules whose state is all on disk or in each
	                                        change are compared */
};

static int
tier(const rollout_u128 t[3], rollout_u128 v)
{
	return v >= t[2] ? 2 : v >= t[1] ? 1 : 0;
}

static int
exchange_label(const struct acc *a, int patterns)
{
	const char *label = a->tag_name[0] ? a->tag_name : a->display;

	if (strcmp(a->tag_type, "Exchange") == 0)
		return 1;
	return patterns && label[0] &&
	    (strcasestr(label, "binance") || strcasestr(label, "kraken") || strcasestr(label, "coinbase"));
}

struct mv {
	char addr[64];
	int64_t t;
};

static void
expect(const struct params *P, struct lines *out)
{
	struct { char addr[64]; int64_t last; } *act = calloc(8192, sizeof(*act));
	size_t nact = 0;
	struct mv *mv[2] = { calloc(20000, sizeof(struct mv)), calloc(20000, sizeof(struct mv)) };
	size_t nmv[2] = { 0, 0 };
	int alerted[2] = { 0, 0 };
	char m[48];

	for (size_t k = 1; k < nsnaps; k++) {
		const struct snapf *p = &snaps[k - 1], *c = &snaps[k];
		uint32_t M = (uint32_t)(p->n < c->n ? p->n : c->n);
		size_t batch0[2] = { nmv[0], nmv[1] };

		if (P->top && P->top < M)
			M = P->top;
		/* entries and exits */
		for (size_t i = 0; i < c->n; i++) {
			const struct acc *a = &c->a[i], *b = lookup(p, a->addr);

			if (a->rank <= M && !(b && b->rank <= M))
				add(out, "whale_entry|whale_entry:%s:%lld|%s|%s", a->addr, (long long)c->t,
				    a->total > P->entry_critical ? "critical" : "info", u128s(a->total, m));
		}
		for (size_t i = 0; i < p->n; i++) {
			const struct acc *b = &p->a[i], *a = lookup(c, b->addr);

			if (b->rank <= M && !(a && a->rank <= M))
				add(out, "whale_exit|whale_exit:%s:%lld|info|-%s", b->addr, (long long)c->t,
				    u128s(a ? a->total : b->total, m));
		}
		/* balance changes */
		for (size_t i = 0; i < c->n; i++) {
			const struct acc *a = &c->a[i], *b = lookup(p, a->addr);
			rollout_u128 d;
			int out_, j;
			size_t x;

			if (b == NULL || (a->total == b->total && a->reserved == b->reserved &&
			    a->nonce == b->nonce))
				continue;
			out_ = a->total < b->total;
			d = out_ ? b->total - a->total : a->total - b->total;
			if (d >= P->lm[0])
				add(out, "large_movement|large_movement:%s:w%lld|%s|%s%s", a->addr,
				    (long long)c->t, sevname[tier(P->lm, d)], out_ ? "-" : "", u128s(d, m));
			/* dormant: own history only */
			for (x = 0; x < nact && strcmp(act[x].addr, a->addr) != 0; x++)
				;
			if (x < nact && p->t - act[x].last >= P->dorm_warn)
				add(out, "dormant_awakening|dormant_awakening:%s:w%lld|%s|%s%s", a->addr,
				    (long long)c->t, p->t - act[x].last >= P->dorm_crit ? "critical" : "warning",
				    out_ && d ? "-" : "", u128s(d, m));
			if (x == nact) {
				snprintf(act[nact].addr, sizeof(act[nact].addr), "%s", a->addr);
				nact++;
			}
			act[x].last = c->t;
			if (d == 0)
				continue;
			if (out_ && d >= P->drain_min && d * 100 > b->total * P->drain_pct)
				add(out, "rapid_draining|rapid_draining:%s:w%lld|%s|-%s", a->addr,
				    (long long)c->t, d * 100 > b->total * P->drain_wpct ? "warning" : "info",
				    u128s(d, m));
			if (!out_ && d >= P->gain_min && d * 100 > b->total * P->gain_pct)
				add(out, "consolidation|consolidation:%s:w%lld|%s|%s", a->addr,
				    (long long)c->t, d > P->gain_warn ? "warning" : "info", u128s(d, m));
			if (d >= P->ex[0] && exchange_label(a, P->patterns))
				add(out, "exchange_flow|exchange_flow:%s:w%lld|%s|%s%s", a->addr,
				    (long long)c->t, sevname[tier(P->ex, d)], out_ ? "-" : "", u128s(d, m));
			if (d >= P->coord_min) { /* every account of the list is a whale */
				j = out_;
				snprintf(mv[j][nmv[j]].addr, sizeof(mv[j][0].addr), "%s", a->addr);
				mv[j][nmv[j]++].t = c->t;
			}
		}
		/* coordinated: this list's moves (all at c->t) against the window before */
		for (int j = 0; j < 2; j++) {
			size_t distinct = 0;
			int64_t first = c->t, last = INT64_MIN;

			if (nmv[j] == batch0[j])
				continue;
			for (size_t i = 0; i < batch0[j]; i++)
				if (mv[j][i].t > last)
					last = mv[j][i].t;
			if (batch0[j] == 0 || c->t - last > P->coord_w)
				alerted[j] = 0; /* a gap longer than the window: a new cluster */
			for (size_t i = 0; i < nmv[j]; i++) {
				int seen = 0;

				if (c->t - mv[j][i].t > P->coord_w)
					continue;
				if (mv[j][i].t < first)
					first = mv[j][i].t;
				for (size_t q = 0; q < i; q++)
					seen |= c->t - mv[j][q].t <= P->coord_w &&
					    strcmp(mv[j][q].addr, mv[j][i].addr) == 0;
				distinct += !seen;
			}
			if (distinct >= P->coord_k && !alerted[j]) {
				alerted[j] = 1;
				add(out, "coordinated_movement|coordinated_movement:%s:%lld|warning|-",
				    j ? "out" : "in", (long long)first);
			}
		}
	}
	free(act);
	free(mv[0]);
	free(mv[1]);
}

/* ---- the program, fed as the baseline would be -------------------------------------------- */

static void
run(const struct params *P, struct lines *got)
{
	struct ynode *doc = NULL;
	struct rules *r;
	char err[512];

	assert_int_equal(ynode_load_buffer("plan.yaml", P->yaml, strlen(P->yaml), &doc, err,
	    sizeof(err)), 0);
	char dir[] = "/tmp/test_whale_replay.XXXXXX";

	if (P->restart_at)
		assert_non_null(mkdtemp(dir));
	assert_int_equal(rules_create(&r, "baseline", doc, 10, "DOT", 0, err, sizeof(err)), 0);
	if (whale_install(r, doc, P->restart_at ? dir : NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	for (size_t k = 0; k < nsnaps; k++) {
		const struct snapf *c = &snaps[k];
		struct rollout_snapshot_entry *e;
		struct rollout_snapshot s;

		if (P->restart_at && k == P->restart_at) { /* a restart: only the disk remains */
			rules_free(r);
			assert_int_equal(rules_create(&r, "baseline", doc, 10, "DOT", 0, err, sizeof(err)),
			    0);
			if (whale_install(r, doc, dir, err, sizeof(err)) != 0)
				fail_msg("%s", err);
		}
		e = calloc(c->n, sizeof(*e));
		s.taken_ms = c->t;
		s.count = c->n;
		s.entries = e;

		for (size_t i = 0; i < c->n; i++) {
			memcpy(e[i].pubkey, c->a[i].pk, 32);
			e[i].rank = c->a[i].rank;
			e[i].data.free = c->a[i].total - c->a[i].reserved;
			e[i].data.reserved = c->a[i].reserved;
			e[i].data.frozen = c->a[i].frozen;
			e[i].data.nonce = c->a[i].nonce;
			e[i].total = c->a[i].total;
			snprintf(e[i].display, sizeof(e[i].display), "%s", c->a[i].display);
			snprintf(e[i].tag_type, sizeof(e[i].tag_type), "%s", c->a[i].tag_type);
			snprintf(e[i].tag_name, sizeof(e[i].tag_name), "%s", c->a[i].tag_name);
		}
		/* the poller: the list first, then the changes against the previous list */
		rules_snapshot(r, &s, c->t, on_alert, got);
		for (size_t i = 0; i < c->n; i++) {
			struct rollout_balance_change bc;
			const struct acc *b = k ? lookup(&snaps[k - 1], c->a[i].addr) : NULL;

			if (k == 0)
				break;
			memset(&bc, 0, sizeof(bc));
			memcpy(bc.pubkey, e[i].pubkey, 32);
			bc.window_start_ms = snaps[k - 1].t;
			bc.window_end_ms = bc.observed_ms = c->t;
			bc.known_mask = ROLLOUT_KNOW_FREE | ROLLOUT_KNOW_RESERVED | ROLLOUT_KNOW_NONCE;
			bc.after = e[i].data;
			if (b) {
				if (b->total == c->a[i].total && b->reserved == c->a[i].reserved &&
				    b->nonce == c->a[i].nonce)
					continue;
				bc.has_before = 1;
				bc.before.free = b->total - b->reserved;
				bc.before.reserved = b->reserved;
				bc.before.frozen = b->frozen;
				bc.before.nonce = b->nonce;
			}
			rules_balance(r, &bc, c->t, on_alert, got);
		}
		free(e);
	}
	rules_free(r);
	ynode_free(doc);
	if (P->restart_at) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/*
 * After a restart only what is on disk or in each change survives: the
 * top list (whale_entry/exit), the last activity (hourly; dormant_awakening
 * is left out: an account can look up to an hour idler), and the per-change
 * rules.  The open clusters of coordinated_movement are memory only.
 */
static void
drop_memory_only(struct lines *l)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i], "coordinated_movement|", 21) == 0 ||
		    strncmp(l->v[i], "dormant_awakening|", 18) == 0) {
			free(l->v[i]);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
compare(const struct params *P, int want_all_types)
{
	struct lines want = { 0 }, got = { 0 };
	size_t i = 0, j = 0;
	int bad = 0;
	static const char *types[] = { "large_movement", "whale_entry", "whale_exit",
		"dormant_awakening", "coordinated_movement", "rapid_draining", "consolidation",
		"exchange_flow" };

	expect(P, &want);
	if (P->restart_at) {
		struct params Q = *P;
		size_t after = 0;

		/* restart before the last list that has entries or exits (as computed
		 * here): the one a lost list would get wrong */
		for (Q.restart_at = nsnaps - 1; Q.restart_at > 0 && after == 0; Q.restart_at--) {
			char t[32];

			snprintf(t, sizeof(t), ":%lld|", (long long)snaps[Q.restart_at].t);
			for (size_t k = 0; k < want.n; k++)
				after += strncmp(want.v[k], "whale_e", 7) == 0 && strstr(want.v[k], t) != NULL;
		}
		Q.restart_at++;
		fprintf(stderr, "# restart before snapshot %zu of %zu: %zu list alerts right after it\n",
		    Q.restart_at, nsnaps, after);
		assert_true(after > 0);
		run(&Q, &got);
		drop_memory_only(&want);
		drop_memory_only(&got);
	} else {
		run(P, &got);
	}
	qsort(want.v, want.n, sizeof(*want.v), cmp_line);
	qsort(got.v, got.n, sizeof(*got.v), cmp_line);
	while (i < want.n || j < got.n) {
		int c = i == want.n ? 1 : j == got.n ? -1 : strcmp(want.v[i], got.v[j]);

		if (c == 0) {
			i++, j++;
			continue;
		}
		if (bad++ < 20)
			fprintf(stderr, "%s %s\n", c < 0 ? "missing:" : "unexpected:",
			    c < 0 ? want.v[i] : got.v[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	fprintf(stderr, "# %zu alerts expected, %zu raised\n", want.n, got.n);
	assert_int_equal(bad, 0);
	assert_true(want.n > 0);
	if (want_all_types)
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			size_t n = 0;

			for (size_t k = 0; k < want.n; k++)
				n += strncmp(want.v[k], types[t], strlen(types[t])) == 0 &&
				    want.v[k][strlen(types[t])] == '|';
			if (n == 0)
				fail_msg("the replay never exercises %s", types[t]);
		}
	lines_free(&want);
	lines_free(&got);
}

static void
replay__defaults__alerts_as_computed_from_the_files(void **state)
{
	struct params P;

	(void)state;
	memset(&P, 0, sizeof(P));
	P.yaml = "{}\n";
	P.lm[0] = 10000 * PLANCK, P.lm[1] = 100000 * PLANCK, P.lm[2] = 1000000 * PLANCK;
	P.entry_critical = 1000000 * PLANCK;
	P.dorm_warn = 30LL * 86400000, P.dorm_crit = 180LL * 86400000;
	P.coord_k = 3, P.coord_min = 10000 * PLANCK, P.coord_w = 3600000;
	P.drain_pct = 10, P.drain_wpct = 50, P.drain_min = 1000 * PLANCK;
	P.gain_pct = 20, P.gain_min = 50000 * PLANCK, P.gain_warn = 500000 * PLANCK;
	P.ex[0] = 10000 * PLANCK, P.ex[1] = 100000 * PLANCK, P.ex[2] = 1000000 * PLANCK;
	compare(&P, 0);
}

static void
replay__sensitive__every_rule_fires_as_computed(void **state)
{
	struct params P;

	(void)state;
	memset(&P, 0, sizeof(P));
	P.yaml =
	    "large_movement: { info: 100, warning: 1000, critical: 10000 }\n"
	    "whale_list: { top: 100, critical: 2000000 }\n"
	    "dormant: { warning: 1h, critical: 12h }\n"
	    "coordinated: { accounts: 3, min: 100, window: 30m }\n"
	    "draining: { percent: 1, warning_percent: 5, min: 10 }\n"
	    "consolidation: { percent: 1, min: 100, warning: 1000 }\n"
	    "exchange_flow: { patterns: [ \"(?i)binance|kraken|coinbase\" ], info: 100, "
	    "warning: 1000, critical: 10000 }\n";
	P.lm[0] = 100 * PLANCK, P.lm[1] = 1000 * PLANCK, P.lm[2] = 10000 * PLANCK;
	P.top = 100;
	P.entry_critical = 2000000 * PLANCK;
	P.dorm_warn = 3600000, P.dorm_crit = 12 * 3600000LL;
	P.coord_k = 3, P.coord_min = 100 * PLANCK, P.coord_w = 1800000;
	P.drain_pct = 1, P.drain_wpct = 5, P.drain_min = 10 * PLANCK;
	P.gain_pct = 1, P.gain_min = 100 * PLANCK, P.gain_warn = 1000 * PLANCK;
	P.patterns = 1;
	P.ex[0] = 100 * PLANCK, P.ex[1] = 1000 * PLANCK, P.ex[2] = 10000 * PLANCK;
	compare(&P, 1);
}

static void
replay__restart_midway__list_compared_with_the_one_before(void **state)
{
	struct params P;

	(void)state;
	memset(&P, 0, sizeof(P));
	P.yaml =
	    "large_movement: { info: 100, warning: 1000, critical: 10000 }\n"
	    "whale_list: { critical: 2000000 }\n"
	    "draining: { percent: 1, warning_percent: 5, min: 10 }\n"
	    "consolidation: { percent: 1, min: 100, warning: 1000 }\n"
	    "exchange_flow: { patterns: [ \"(?i)binance|kraken|coinbase\" ], info: 100, "
	    "warning: 1000, critical: 10000 }\n";
	P.lm[0] = 100 * PLANCK, P.lm[1] = 1000 * PLANCK, P.lm[2] = 10000 * PLANCK;
	P.entry_critical = 2000000 * PLANCK;
	P.dorm_warn = 30LL * 86400000, P.dorm_crit = 180LL * 86400000;
	P.coord_k = 3, P.coord_min = 10000 * PLANCK, P.coord_w = 3600000;
	P.drain_pct = 1, P.drain_wpct = 5, P.drain_min = 10 * PLANCK;
	P.gain_pct = 1, P.gain_min = 100 * PLANCK, P.gain_warn = 1000 * PLANCK;
	P.patterns = 1;
	P.ex[0] = 100 * PLANCK, P.ex[1] = 1000 * PLANCK, P.ex[2] = 10000 * PLANCK;
	P.restart_at = 1; /* moved by compare() */
	compare(&P, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replay__defaults__alerts_as_computed_from_the_files),
		cmocka_unit_test(replay__sensitive__every_rule_fires_as_computed),
		cmocka_unit_test(replay__restart_midway__list_compared_with_the_one_before),
	};

	return cmocka_run_group_tests(tests, load, unload);
}

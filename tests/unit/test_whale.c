/*
 * test_whale.c — the whale rules (runner/whale.c) on their edges, u128 exact.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "rules.h"
#include "whale.h"
#include "ynode.h"

#define TOK ((rollout_u128)10000000000ULL) /* 10 decimals */
#define MAXA 64
#define DAY (24LL * 3600 * 1000)

struct got {
	struct rules_alert a[MAXA];
	int n;
};

static void
collect(void *ctx, const struct rules_alert *a)
{
	struct got *g = ctx;

	if (g->n < MAXA)
		g->a[g->n++] = *a;
}

/* the alert of TYPE in G, or NULL */
static const struct rules_alert *
find(const struct got *g, const char *type)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->a[i].type, type) == 0)
			return &g->a[i];
	return NULL;
}

static int
count(const struct got *g, const char *type)
{
	int n = 0;

	for (int i = 0; i < g->n; i++)
		n += strcmp(g->a[i].type, type) == 0;
	return n;
}

/* rules + whale from YAML text (NULL: defaults); DIR may be NULL */
static struct rules *
mk(const char *yaml, const char *dir, const char *system)
{
	struct ynode *doc = NULL;
	struct rules *r = NULL;
	char err[512];

	if (yaml) {
		assert_int_equal(ynode_load_buffer("plan.yaml", yaml, strlen(yaml), &doc, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(rules_create(&r, system, doc, 10, "DOT", 0, err, sizeof(err)), 0);
	if (whale_install(r, doc, dir, err, sizeof(err)) != 0)
		fail_msg("whale_install: %s", err);
	ynode_free(doc);
	return r;
}

static int
mk_err(const char *yaml, char *err, size_t len)
{
	struct ynode *doc = NULL;
	struct rules *r = NULL;
	int rc;

	assert_int_equal(ynode_load_buffer("plan.yaml", yaml, strlen(yaml), &doc, err, len), 0);
	assert_int_equal(rules_create(&r, "baseline", doc, 10, "DOT", 0, err, len), 0);
	rc = whale_install(r, doc, NULL, err, len);
	rules_free(r);
	ynode_free(doc);
	return rc;
}

static void
pk_of(uint8_t pk[32], int id)
{
	memset(pk, 0, 32);
	pk[0] = (uint8_t)id;
	pk[1] = (uint8_t)(id >> 8);
	pk[31] = 0x5a;
}

/* a change of account ID from BEFORE to AFTER (free only) at block BLOCK, time T */
static int
move(struct rules *r, struct got *g, int id, rollout_u128 before, rollout_u128 after,
    uint64_t block, int64_t t)
{
	struct rollout_balance_change bc;

	memset(&bc, 0, sizeof(bc));
	pk_of(bc.pubkey, id);
	bc.block_from = bc.block_to = block;
	bc.block_time_ms = bc.window_start_ms = bc.window_end_ms = t;
	bc.observed_ms = t + 100;
	bc.has_before = 1;
	bc.known_mask = ROLLOUT_KNOW_ALL;
	bc.before.free = before;
	bc.after.free = after;
	return rules_balance(r, &bc, t + 100, collect, g);
}

/* the first observation of ID */
static void
seen(struct rules *r, int id, rollout_u128 v)
{
	struct rollout_balance_change bc;

	memset(&bc, 0, sizeof(bc));
	pk_of(bc.pubkey, id);
	bc.after.free = v;
	rules_balance(r, &bc, 0, collect, NULL);
}

/* ---- configuration ------------------------------------------------------------------- */

static void
whale_install__bad_config__error_with_position(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(mk_err("large_movement: { info: 5 }\nbogus: 1\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:2:1: rules: unknown key \"bogus\""));
	assert_int_equal(mk_err("coordinated: { accounts: 3, windo: 1h }\n", err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:1:29: rules: coordinated: unknown key \"windo\""));
	assert_int_equal(mk_err("draining:\n  min: 1.00000000001\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:2:8: rules: draining.min: \"1.00000000001\" is not representable"));
	assert_int_equal(mk_err("dormant: { warning: 30 }\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:1:21: rules: dormant.warning: expected a positive duration"));
	assert_int_equal(mk_err("exchange_flow: { patterns: [ \"(?i)bin(ance\" ] }\n", err,
	    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:1:30: rules: exchange_flow.patterns: \"(?i)bin(ance\": "));
	assert_int_equal(mk_err("unlock: { info: 10, warning: 5 }\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "need 0 < info <= warning <= critical"));
	assert_int_equal(mk_err("draining: { percent: 60 }\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(mk_err("coordinated: { accounts: 1 }\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "coordinated.accounts: 1 (2..1000)"));
	/* every key of every rule is accepted */
	assert_int_equal(mk_err(
	    "large_movement: { info: 1 }\n"
	    "whale_list: { top: 100, critical: 2000000 }\n"
	    "dormant: { warning: 1d, critical: 2d }\n"
	    "coordinated: { accounts: 4, min: 5000, window: 2h }\n"
	    "draining: { percent: 5, warning_percent: 40, min: 100 }\n"
	    "consolidation: { percent: 30, min: 10, warning: 20 }\n"
	    "exchange_flow: { patterns: \"(?i)kraken\", info: 1, warning: 2, critical: 3 }\n"
	    "unlock: { info: 1, warning: 2, critical: 3 }\n", err, sizeof(err)), 0);
	/* the example of rolloutd.plan(5), RULES */
	assert_int_equal(mk_err(
	    "large_movement: { info: 10000, warning: 100000, critical: 1000000 }\n"
	    "whale_list: { top: 0, critical: 1000000 }\n"
	    "dormant: { warning: 30d, critical: 180d }\n"
	    "coordinated: { accounts: 3, min: 10000, window: 60m }\n"
	    "draining: { percent: 10, warning_percent: 50, min: 1000 }\n"
	    "consolidation: { percent: 20, min: 50000, warning: 500000 }\n"
	    "exchange_flow:\n"
	    "  patterns: [ \"(?i)binance|kraken|coinbase\" ]\n"
	    "  info: 10000\n"
	    "  warning: 100000\n"
	    "  critical: 1000000\n"
	    "unlock: { info: 10000, warning: 100000, critical: 1000000 }\n", err, sizeof(err)), 0);
}

/* ---- draining / consolidation ---------------------------------------------------------------- */

static void
draining__edges__exact_percent_and_minimum(void **state)
{
	struct rules *r = mk(NULL, NULL, "candidate");
	struct got g = { .n = 0 };
	const struct rules_alert *a;

	(void)state;
	/* exactly 10 % of 100,000: not more than 10 % */
	move(r, &g, 1, 100000 * TOK, 90000 * TOK, 10, 1000);
	assert_null(find(&g, "rapid_draining"));
	/* one planck more: info */
	move(r, &g, 2, 100000 * TOK, 90000 * TOK - 1, 11, 2000);
	a = find(&g, "rapid_draining");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_INFO);
	assert_true(a->negative);
	assert_true(a->amount == 10000 * TOK + 1);
	assert_string_equal(a->amount_tokens, "-10000.0000000001");
	assert_non_null(strstr(a->key, "rapid_draining:"));
	assert_non_null(strstr(a->key, ":11"));
	/* exactly 50 %: info; one planck more: warning */
	g.n = 0;
	move(r, &g, 3, 2000 * TOK, 1000 * TOK, 12, 3000);
	assert_int_equal(find(&g, "rapid_draining")->severity, ROLLOUT_SEV_INFO);
	g.n = 0;
	move(r, &g, 4, 2000 * TOK, 1000 * TOK - 1, 13, 4000);
	assert_int_equal(find(&g, "rapid_draining")->severity, ROLLOUT_SEV_WARNING);
	/* 100 % but one planck under 1,000 tokens: nothing */
	g.n = 0;
	move(r, &g, 5, 1000 * TOK - 1, 0, 14, 5000);
	assert_null(find(&g, "rapid_draining"));
	/* exactly 1,000 tokens, all of it: warning */
	move(r, &g, 6, 1000 * TOK, 0, 15, 6000);
	assert_int_equal(find(&g, "rapid_draining")->severity, ROLLOUT_SEV_WARNING);
	/* near the u128 maximum: exact, no overflow */
	g.n = 0;
	{
		rollout_u128 big = ~(rollout_u128)0 / 2, loss = big / 10;

		move(r, &g, 7, big, big - loss, 16, 7000);          /* floor(big/10) is not > 10 % */
		assert_null(find(&g, "rapid_draining"));
		move(r, &g, 8, big, big - loss - 1, 17, 8000);
		assert_non_null(find(&g, "rapid_draining"));
	}
	rules_free(r);
}

static void
consolidation__edges__percent_minimum_warning(void **state)
{
	struct rules *r = mk(NULL, NULL, "candidate");
	struct got g = { .n = 0 };

	(void)state;
	/* +20 % exactly of 250,000 = 50,000: not more than 20 % */
	move(r, &g, 1, 250000 * TOK, 300000 * TOK, 10, 1000);
	assert_null(find(&g, "consolidation"));
	move(r, &g, 2, 250000 * TOK, 300000 * TOK + 1, 11, 2000);
	assert_int_equal(find(&g, "consolidation")->severity, ROLLOUT_SEV_INFO);
	/* one planck under 50,000 tokens from zero: nothing */
	g.n = 0;
	move(r, &g, 3, 0, 50000 * TOK - 1, 12, 3000);
	assert_null(find(&g, "consolidation"));
	move(r, &g, 4, 0, 50000 * TOK, 13, 4000);
	assert_non_null(find(&g, "consolidation"));
	/* exactly 500,000 is not above: info; one planck more: warning */
	g.n = 0;
	move(r, &g, 5, 1000 * TOK, 501000 * TOK, 14, 5000);
	assert_int_equal(find(&g, "consolidation")->severity, ROLLOUT_SEV_INFO);
	g.n = 0;
	move(r, &g, 6, 1000 * TOK, 501000 * TOK + 1, 15, 6000);
	assert_int_equal(find(&g, "consolidation")->severity, ROLLOUT_SEV_WARNING);
	assert_false(find(&g, "consolidation")->negative);
	assert_non_null(strstr(find(&g, "consolidation")->message, "500000.0000000001"));
	rules_free(r);
}

/* ---- list ---------------------------------------------------------------------------------- */

static void
snap(struct rules *r, struct got *g, int64_t t, const int *ids, const rollout_u128 *bal, size_t n)
{
	struct rollout_snapshot_entry e[16];
	struct rollout_snapshot s = { t, n, e };

	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < n; i++) {
		pk_of(e[i].pubkey, ids[i]);
		e[i].rank = (uint32_t)i + 1;
		e[i].data.free = bal[i];
		e[i].total = bal[i];
		if (ids[i] == 99) {
			snprintf(e[i].tag_type, sizeof(e[i].tag_type), "Exchange");
			snprintf(e[i].tag_name, sizeof(e[i].tag_name), "SomeDEX");
		}
		if (ids[i] == 98)
			snprintf(e[i].display, sizeof(e[i].display), "KRAKEN hot wallet");
	}
	rules_snapshot(r, &s, t, g ? collect : NULL, g);
}

static void
whale_list__entries_exits__rank_balance_severity(void **state)
{
	struct rules *r = mk(NULL, NULL, "baseline");
	struct got g = { .n = 0 };
	int ids1[] = { 1, 2, 3, 4 }, ids2[] = { 1, 5, 2, 6 }, ids3[] = { 1, 5, 2 };
	rollout_u128 b1[] = { 5000000 * TOK, 3000000 * TOK, 2000000 * TOK, 1500000 * TOK };
	rollout_u128 b2[] = { 5000000 * TOK, 1000000 * TOK + 1, 3000000 * TOK, 1000000 * TOK };
	const struct rules_alert *a;

	(void)state;
	snap(r, &g, 1000, ids1, b1, 4);
	assert_int_equal(g.n, 0); /* the first list: nothing to compare with */
	assert_int_equal(rules_snapshot(r, &(struct rollout_snapshot){ 2000, 0, NULL }, 2000, collect,
	    &g), 0); /* an empty list is not 4 exits */
	snap(r, &g, 3000, ids2, b2, 4);
	assert_int_equal(count(&g, "whale_entry"), 2);
	assert_int_equal(count(&g, "whale_exit"), 2);
	a = &g.a[0];
	assert_string_equal(a->type, "whale_entry");
	assert_int_equal(a->severity, ROLLOUT_SEV_CRITICAL); /* 1,000,000 + 1 planck: above */
	assert_true(a->amount == 1000000 * TOK + 1);
	assert_non_null(strstr(a->message, "at rank 2"));
	assert_non_null(strstr(a->key, ":3000"));
	assert_int_equal(g.a[1].severity, ROLLOUT_SEV_INFO); /* exactly 1,000,000: not above */
	assert_non_null(strstr(g.a[1].message, "at rank 4"));
	assert_string_equal(g.a[2].type, "whale_exit");
	assert_non_null(strstr(g.a[2].message, "was rank 3"));
	assert_string_equal(g.a[2].amount_tokens, "2000000");
	assert_false(whale_compared(&g.a[0]));
	/* a shorter list (a page missing) compares down to its last rank only */
	g.n = 0;
	snap(r, &g, 4000, ids3, b2, 3);
	assert_int_equal(g.n, 0);
	/* top: 2 */
	rules_free(r);
	r = mk("whale_list: { top: 2 }\n", NULL, "baseline");
	snap(r, NULL, 1000, ids1, b1, 4);
	snap(r, &g, 2000, ids2, b2, 4);
	assert_int_equal(g.n, 2); /* 5 enters the top 2, 2 leaves it (to rank 3) */
	assert_non_null(strstr(g.a[0].message, "entered the top 2 at rank 2"));
	assert_non_null(strstr(g.a[1].message, "now rank 3"));
	rules_free(r);
}

/* ---- dormant -------------------------------------------------------------------------------- */

/* Reads "last_activity_ms" of account N's activity file under DIR, -1 if none. */
static long long
stored_activity(const char *dir, int n)
{
	char path[256], buf[512];
	long long v = -1;
	const char *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/rules/candidate/activity/"
	    "%02x0000000000000000000000000000000000000000000000000000000000005a.json", dir, n);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strstr(buf, "\"last_activity_ms\":")) != NULL)
		v = strtoll(p + 19, NULL, 10);
	fclose(f);
	return v;
}

static void
dormant__store_within_hour__not_rewritten(void **state)
{
	char dir[] = "/tmp/test_whale_XXXXXX";
	struct rules *r;
	struct got g = { .n = 0 };
	int64_t t0 = 1700000000000LL, ms;
	uint8_t pk[32];

	(void)state;
	assert_non_null(mkdtemp(dir));
	r = mk(NULL, dir, "candidate");
	seen(r, 1, 100 * TOK);
	move(r, &g, 1, 100 * TOK, 90 * TOK, 100, t0);
	assert_int_equal(whale_sync(r), 0);
	assert_true(stored_activity(dir, 1) == t0);
	/* activity 59 min later is known in memory but not rewritten on disk */
	move(r, &g, 1, 90 * TOK, 80 * TOK, 101, t0 + 59 * 60000);
	pk_of(pk, 1);
	assert_int_equal(whale_last_activity(r, pk, &ms), 0);
	assert_true(ms == t0 + 59 * 60000);
	assert_int_equal(whale_sync(r), 0);
	assert_true(stored_activity(dir, 1) == t0);
	/* an hour after the stored value it is written */
	move(r, &g, 1, 80 * TOK, 70 * TOK, 102, t0 + 60 * 60000);
	assert_int_equal(whale_sync(r), 0);
	assert_true(stored_activity(dir, 1) == t0 + 60 * 60000);
	rules_free(r);
}

static void
dormant__thresholds_persistence_unknown(void **state)
{
	char dir[] = "/tmp/test_whale_XXXXXX", path[256];
	struct rules *r;
	struct got g = { .n = 0 };
	int64_t t0 = 1700000000000LL, ms;
	uint8_t pk[32];

	(void)state;
	assert_non_null(mkdtemp(dir));
	r = mk(NULL, dir, "candidate");
	seen(r, 1, 100 * TOK);
	pk_of(pk, 1);
	assert_int_equal(whale_last_activity(r, pk, &ms), -ENOENT); /* unknown, not "now" */
	/* the first change: last activity unknown, so no alert, but now it is known */
	move(r, &g, 1, 100 * TOK, 90 * TOK, 100, t0);
	assert_null(find(&g, "dormant_awakening"));
	assert_int_equal(whale_last_activity(r, pk, &ms), 0);
	assert_true(ms == t0);
	/* 30 days - 1 ms later: nothing */
	move(r, &g, 1, 90 * TOK, 80 * TOK, 101, t0 + 30 * DAY - 1);
	assert_null(find(&g, "dormant_awakening"));
	/* exactly 30 days after that: warning */
	move(r, &g, 1, 80 * TOK, 70 * TOK, 102, t0 + 60 * DAY - 1);
	assert_int_equal(find(&g, "dormant_awakening")->severity, ROLLOUT_SEV_WARNING);
	assert_non_null(strstr(find(&g, "dormant_awakening")->message, "after 30d"));
	assert_string_equal(find(&g, "dormant_awakening")->amount_tokens, "-10");
	rules_free(r);
	/* a new instance (restart) reads the activity from disk */
	snprintf(path, sizeof(path), "%s/rules/candidate/activity/"
	    "010000000000000000000000000000000000000000000000000000000000005a.json", dir);
	assert_int_equal(access(path, F_OK), 0);
	r = mk(NULL, dir, "candidate");
	g.n = 0;
	/* a frozen-only change is no activity */
	{
		struct rollout_balance_change bc;

		memset(&bc, 0, sizeof(bc));
		pk_of(bc.pubkey, 1);
		bc.has_before = 1;
		bc.block_time_ms = t0 + 100 * DAY;
		bc.before.free = bc.after.free = 70 * TOK;
		bc.before.frozen = 1;
		rules_balance(r, &bc, 0, collect, &g);
		assert_int_equal(g.n, 0);
	}
	move(r, &g, 1, 70 * TOK, 60 * TOK, 103, t0 + 240 * DAY - 2);
	assert_int_equal(find(&g, "dormant_awakening")->severity, ROLLOUT_SEV_WARNING); /* 180 d - 1 ms */
	g.n = 0;
	move(r, &g, 1, 60 * TOK, 61 * TOK, 104, t0 + 420 * DAY - 2);
	assert_int_equal(find(&g, "dormant_awakening")->severity, ROLLOUT_SEV_CRITICAL); /* 180 d */
	/* a nonce-only change is activity (and, idle >= 30 d, an awakening of 0 tokens) */
	g.n = 0;
	{
		struct rollout_balance_change bc;

		memset(&bc, 0, sizeof(bc));
		pk_of(bc.pubkey, 1);
		bc.has_before = 1;
		bc.block_to = 105;
		bc.block_time_ms = t0 + 460 * DAY;
		bc.before.free = bc.after.free = 61 * TOK;
		bc.after.nonce = 1;
		rules_balance(r, &bc, 0, collect, &g);
		assert_int_equal(find(&g, "dormant_awakening")->severity, ROLLOUT_SEV_WARNING);
	}
	/* seeding (e.g. Subscan's latest transfer) only for accounts with no known activity */
	pk_of(pk, 2);
	assert_int_equal(whale_seed_activity(r, pk, t0), 0);
	assert_int_equal(whale_seed_activity(r, pk, t0 + 1), -EEXIST);
	seen(r, 2, 10 * TOK);
	g.n = 0;
	move(r, &g, 2, 10 * TOK, 11 * TOK, 106, t0 + 200 * DAY);
	assert_int_equal(find(&g, "dormant_awakening")->severity, ROLLOUT_SEV_CRITICAL);
	/* a damaged activity file is unknown, not "now" */
	snprintf(path, sizeof(path), "%s/rules/candidate/activity/"
	    "030000000000000000000000000000000000000000000000000000000000005a.json", dir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("{\"last_activity_ms\": \"yesterday\"}", f);
		fclose(f);
	}
	pk_of(pk, 3);
	assert_int_equal(whale_last_activity(r, pk, &ms), -ENOENT);
	g.n = 0;
	move(r, &g, 3, 10 * TOK, 11 * TOK, 107, t0 + 900 * DAY);
	assert_null(find(&g, "dormant_awakening"));
	rules_free(r);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* ---- coordinated ----------------------------------------------------------------------------- */

static void
coordinated__three_whales_in_window__one_alert_per_cluster(void **state)
{
	struct rules *r = mk(NULL, NULL, "candidate");
	struct got g = { .n = 0 };
	int ids[] = { 1, 2, 3, 4, 5 };
	rollout_u128 b[] = { 500000 * TOK, 500000 * TOK, 500000 * TOK, 500000 * TOK, 500000 * TOK };
	int64_t t = 1000000, H = 3600 * 1000;
	const struct rules_alert *a;

	(void)state;
	snap(r, NULL, 1, ids, b, 5);
	move(r, &g, 1, 500000 * TOK, 490000 * TOK, 1, t);
	move(r, &g, 2, 500000 * TOK, 490000 * TOK + 1, 2, t + 10);   /* under 10,000 */
	move(r, &g, 9, 500000 * TOK, 400000 * TOK, 3, t + 20);       /* not a whale */
	move(r, &g, 1, 490000 * TOK, 480000 * TOK, 4, t + 30);       /* same account again */
	move(r, &g, 3, 500000 * TOK, 510000 * TOK, 5, t + 40);       /* other direction */
	move(r, &g, 2, 500000 * TOK, 490000 * TOK, 6, t + H + 1);    /* 1 is 60 min + 1 ms away */
	move(r, &g, 4, 500000 * TOK, 490000 * TOK, 7, t + 30 + H);   /* exactly 60 min after 1's 2nd */
	assert_int_equal(count(&g, "coordinated_movement"), 1);
	a = find(&g, "coordinated_movement");
	assert_true(a->negative);
	assert_int_equal(a->severity, ROLLOUT_SEV_WARNING);
	assert_true(a->amount == 30000 * TOK);
	assert_non_null(strstr(a->message, "3 distinct whales"));
	assert_string_equal(a->key, "coordinated_movement:out:1000030");
	assert_false(whale_compared(a));
	/* the same cluster goes on: no second alert */
	move(r, &g, 5, 500000 * TOK, 490000 * TOK, 8, t + 2 * H);
	assert_int_equal(count(&g, "coordinated_movement"), 1);
	/* a gap longer than the window, then three again: a new cluster */
	move(r, &g, 1, 480000 * TOK, 470000 * TOK, 9, t + 4 * H);
	move(r, &g, 2, 490000 * TOK, 480000 * TOK, 10, t + 4 * H + 1);
	move(r, &g, 3, 510000 * TOK, 500000 * TOK, 11, t + 4 * H + 2);
	assert_int_equal(count(&g, "coordinated_movement"), 2);
	assert_string_equal(g.a[g.n - 1].key, "coordinated_movement:out:15400000");
	rules_free(r);
	/* accounts: 2, window: 10m */
	r = mk("coordinated: { accounts: 2, window: 10m, min: 1 }\n", NULL, "candidate");
	g.n = 0;
	move(r, &g, 1, 2 * TOK, 1 * TOK, 1, t);
	move(r, &g, 2, 2 * TOK, 3 * TOK, 2, t + 1);
	move(r, &g, 3, 2 * TOK, 3 * TOK, 3, t + 600000);
	assert_int_equal(count(&g, "coordinated_movement"), 1);
	assert_false(g.a[g.n - 1].negative);
	rules_free(r);
	/* more accounts than the quick count follows (64): 70 distinct, repeats between */
	r = mk("coordinated: { accounts: 70, window: 10m, min: 1 }\n", NULL, "candidate");
	g.n = 0;
	for (int i = 1; i <= 70; i++) {
		move(r, &g, i, 5 * TOK, 4 * TOK, (uint64_t)(2 * i), t + i);
		move(r, &g, 1, 5 * TOK, 4 * TOK, (uint64_t)(2 * i + 1), t + i); /* a repeat */
		assert_int_equal(count(&g, "coordinated_movement"), i < 70 ? 0 : 1);
	}
	assert_non_null(strstr(g.a[g.n - 1].message, "70 distinct whales"));
	assert_true(g.a[g.n - 1].amount == 139 * TOK); /* every move in the window when 70 moved */
	move(r, &g, 71, 5 * TOK, 4 * TOK, 200, t + 100);
	assert_int_equal(count(&g, "coordinated_movement"), 1); /* the same cluster */
	rules_free(r);
}

/* ---- exchange flow, unlock ------------------------------------------------------------------ */

static void
exchange_flow__tag_or_pattern__tiers(void **state)
{
	struct rules *r = mk("exchange_flow: { patterns: [ \"(?i)binance|kraken|coinbase\" ] }\n",
	    NULL, "candidate");
	struct got g = { .n = 0 };
	int ids[] = { 99, 98, 1 };
	rollout_u128 b[] = { 9000000 * TOK, 8000000 * TOK, 7000000 * TOK };
	const struct rules_alert *a;

	(void)state;
	snap(r, NULL, 1, ids, b, 3);
	move(r, &g, 99, 9000000 * TOK, 9000000 * TOK + 10000 * TOK - 1, 1, 1000); /* under */
	assert_null(find(&g, "exchange_flow"));
	move(r, &g, 99, 9000000 * TOK, 9010000 * TOK, 2, 2000);
	a = find(&g, "exchange_flow");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_INFO);
	assert_false(a->negative);
	assert_string_equal(a->label, "SomeDEX");
	assert_non_null(strstr(a->message, "tag_type Exchange"));
	assert_true(whale_compared(a));
	g.n = 0;
	move(r, &g, 98, 8000000 * TOK, 7000000 * TOK, 3, 3000); /* display "KRAKEN hot wallet" */
	a = find(&g, "exchange_flow");
	assert_int_equal(a->severity, ROLLOUT_SEV_CRITICAL);
	assert_true(a->negative);
	assert_non_null(strstr(a->message, "pattern"));
	g.n = 0;
	move(r, &g, 1, 7000000 * TOK, 6000000 * TOK, 4, 4000); /* not an exchange */
	assert_null(find(&g, "exchange_flow"));
	assert_non_null(find(&g, "large_movement"));
	rules_free(r);
}

static void
unlock__frozen_drop__only_when_seen(void **state)
{
	struct rules *r = mk(NULL, NULL, "candidate");
	struct got g = { .n = 0 };
	struct rollout_balance_change bc;

	(void)state;
	memset(&bc, 0, sizeof(bc));
	pk_of(bc.pubkey, 1);
	bc.has_before = 1;
	bc.block_from = bc.block_to = 7;
	bc.block_time_ms = 1000;
	bc.known_mask = ROLLOUT_KNOW_ALL;
	bc.before.free = bc.after.free = 500000 * TOK;
	bc.before.frozen = 300000 * TOK;
	bc.after.frozen = 290000 * TOK + 1;
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.n, 0);
	bc.after.frozen = 290000 * TOK;
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.a[0].type, "unlock");
	assert_int_equal(g.a[0].severity, ROLLOUT_SEV_INFO);
	assert_int_equal(strncmp(g.a[0].key, "unlock:", 7), 0);
	assert_string_equal(g.a[0].key + strlen(g.a[0].key) - 2, ":7");
	assert_string_equal(g.a[0].amount_tokens, "-10000");
	assert_non_null(strstr(g.a[0].message, "from 300000 to 290000 DOT"));
	assert_false(whale_compared(&g.a[0]));
	bc.after.frozen = 0;
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.a[1].severity, ROLLOUT_SEV_WARNING);
	/* the baseline does not see frozen per block: no unlock */
	bc.known_mask = ROLLOUT_KNOW_FREE | ROLLOUT_KNOW_RESERVED | ROLLOUT_KNOW_NONCE;
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 0);
	rules_free(r);
}

/* ---- seeded last activity (ROLLOUT_EV_ACTIVITY) ------------------------------------------ */

static int
seed(struct rules *r, int id, int found, int64_t ms, uint64_t block)
{
	struct rollout_activity act;

	memset(&act, 0, sizeof(act));
	pk_of(act.pubkey, id);
	act.found = found;
	act.last_ms = ms;
	act.block = block;
	snprintf(act.source, sizeof(act.source), "subscan.transfers");
	return whale_seed(r, &act);
}

static void
rm_rf(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
seed__found_unknown_old_overwrite__dormant_from_the_seed(void **state)
{
	char dir[] = "/tmp/test_whale_XXXXXX", path[256], buf[512];
	struct rules *r;
	struct got g = { .n = 0 };
	int64_t t0 = 1700000000000LL, ms;
	const struct rules_alert *a;
	uint8_t pk[32];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	r = mk(NULL, dir, "candidate");
	/* found: 31 days before the next move; durable like the account's own history */
	assert_int_equal(seed(r, 1, 1, t0 - 31 * DAY, 4242), 0);
	assert_int_equal(whale_sync(r), 0);
	assert_true(stored_activity(dir, 1) == t0 - 31 * DAY);
	snprintf(path, sizeof(path), "%s/rules/candidate/activity/"
	    "010000000000000000000000000000000000000000000000000000000000005a.json", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_non_null(strstr(buf, "\"source\":\"subscan.transfers\""));
	assert_non_null(strstr(buf, "\"block\":4242"));
	/* a second seed is refused: what is known wins */
	assert_int_equal(seed(r, 1, 1, t0 - 400 * DAY, 1), -EEXIST);
	/* not found: stays unknown, never "now" */
	assert_int_equal(seed(r, 2, 0, 0, 0), -ENODATA);
	pk_of(pk, 2);
	assert_int_equal(whale_last_activity(r, pk, &ms), -ENOENT);
	assert_int_equal(seed(r, 7, 1, 0, 0), -EINVAL); /* found, but no time: refused */
	/* older than 180 days: critical; 29 days: nothing */
	assert_int_equal(seed(r, 3, 1, t0 - 181 * DAY - 5000, 77), 0);
	assert_int_equal(seed(r, 4, 1, t0 - 29 * DAY, 0), 0);
	seen(r, 1, 100 * TOK);
	seen(r, 2, 100 * TOK);
	seen(r, 3, 100 * TOK);
	seen(r, 4, 100 * TOK);
	move(r, &g, 1, 100 * TOK, 99 * TOK, 500, t0);
	a = find(&g, "dormant_awakening");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_WARNING);
	assert_non_null(strstr(a->message, "after 31d without"));       /* the real idle time */
	assert_non_null(strstr(a->message, "subscan.transfers, block #4242"));
	assert_non_null(strstr(a->details, "\"idle_ms\":2678400000"));
	g.n = 0;
	move(r, &g, 2, 100 * TOK, 99 * TOK, 501, t0); /* unknown: no awakening, now known */
	assert_null(find(&g, "dormant_awakening"));
	assert_int_equal(whale_last_activity(r, pk, &ms), 0);
	assert_true(ms == t0);
	move(r, &g, 3, 100 * TOK, 99 * TOK, 502, t0);
	a = find(&g, "dormant_awakening");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_CRITICAL);
	assert_non_null(strstr(a->message, "after 181d5s without"));
	g.n = 0;
	move(r, &g, 4, 100 * TOK, 99 * TOK, 503, t0);
	assert_null(find(&g, "dormant_awakening"));
	/* first seen by a change before its seed: own history, the late seed is refused */
	seen(r, 6, 100 * TOK);
	move(r, &g, 6, 100 * TOK, 99 * TOK, 504, t0);
	assert_int_equal(seed(r, 6, 1, t0 - 300 * DAY, 1), -EEXIST);
	move(r, &g, 6, 99 * TOK, 98 * TOK, 505, t0 + DAY);
	assert_null(find(&g, "dormant_awakening"));
	/* a seed of an account that never moved survives a restart */
	assert_int_equal(seed(r, 5, 1, t0 - 40 * DAY, 9), 0);
	rules_free(r);
	r = mk(NULL, dir, "candidate");
	pk_of(pk, 5);
	assert_int_equal(whale_last_activity(r, pk, &ms), 0);
	assert_true(ms == t0 - 40 * DAY);
	assert_int_equal(seed(r, 5, 1, t0, 1), -EEXIST);
	g.n = 0;
	move(r, &g, 5, 10 * TOK, 11 * TOK, 600, t0);
	a = find(&g, "dormant_awakening");
	assert_non_null(a);
	assert_non_null(strstr(a->message, "after 40d without"));
	assert_non_null(strstr(a->message, "subscan.transfers, block #9"));
	rules_free(r);
	/* without whale rules */
	assert_int_equal(rules_create(&r, "baseline", NULL, 10, "DOT", 0, buf, sizeof(buf)), 0);
	assert_int_equal(seed(r, 1, 1, t0, 1), -ENOENT);
	rules_free(r);
	rm_rf(dir);
}

/* ---- transfers: exchange deposits and withdrawals -------------------------------------------- */

static int
xfer(struct rules *r, struct got *g, int from, int to, rollout_u128 amount, const char *id,
    const char *from_tag, const char *to_tag, const char *to_name)
{
	struct rollout_transfer t;

	memset(&t, 0, sizeof(t));
	if (from)
		pk_of(t.from, from);
	if (to)
		pk_of(t.to, to);
	t.amount = amount;
	t.block = 777;
	t.block_time_ms = 1700000000000LL;
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.from_tag_type, sizeof(t.from_tag_type), "%s", from_tag);
	snprintf(t.to_tag_type, sizeof(t.to_tag_type), "%s", to_tag);
	snprintf(t.to_tag_name, sizeof(t.to_tag_name), "%s", to_name);
	return whale_transfer(r, &t, 1700000000500LL, collect, g);
}

static void
transfer__deposit_withdrawal_tiers_repeat_unknown(void **state)
{
	struct rules *r = mk("exchange_flow: { patterns: [ \"(?i)kraken\" ] }\n", NULL, "baseline");
	struct got g = { .n = 0 };
	int ids[] = { 1, 2, 99, 98 };
	rollout_u128 b[] = { 9000000 * TOK, 8000000 * TOK, 7000000 * TOK, 6000000 * TOK };
	const struct rules_alert *a;

	(void)state;
	{
		char err[512];

		assert_int_equal(mk_err("exchange_flow: { transfers: { info: 7, warning: 6 } }\n", err,
		    sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "plan.yaml:1:29: rules: exchange_flow.transfers: need 0 < info"));
	}
	/* before any list no account is a known whale */
	assert_int_equal(xfer(r, &g, 1, 50, 20000 * TOK, "1-1", "", "Exchange", "Binance"), 0);
	snap(r, NULL, 1, ids, b, 4);
	/* whale 1 -> 50 tagged Exchange on the transfer: a deposit, info at exactly 10,000 */
	assert_int_equal(xfer(r, &g, 1, 50, 10000 * TOK, "100-2", "", "Exchange", "Binance"), 1);
	a = find(&g, "exchange_deposit");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_INFO);
	assert_true(a->negative);
	assert_true(a->amount == 10000 * TOK);
	assert_string_equal(a->amount_tokens, "-10000");
	assert_true(a->block_to == 777);
	assert_true(a->window_end_ms == 1700000000000LL);
	assert_non_null(strstr(a->key, "exchange_deposit:"));
	assert_non_null(strstr(a->key, ":100-2"));
	assert_non_null(strstr(a->message, "(rank 1) sent 10000 DOT to exchange"));
	assert_non_null(strstr(a->message, "Binance (tag_type Exchange on the transfer)"));
	assert_non_null(strstr(a->details, "\"transfer_id\":\"100-2\""));
	assert_false(whale_compared(a));
	assert_true(whale_fact_alert(a));
	/* the same transfer again: nothing */
	assert_int_equal(xfer(r, &g, 1, 50, 10000 * TOK, "100-2", "", "Exchange", "Binance"), 0);
	/* below the tier: nothing */
	assert_int_equal(xfer(r, &g, 1, 50, 10000 * TOK - 1, "100-3", "", "Exchange", "Binance"), 0);
	/* exchange 99 (tag_type in the list) -> whale 2: a withdrawal, warning */
	g.n = 0;
	assert_int_equal(xfer(r, &g, 99, 2, 100000 * TOK, "101-1", "", "", ""), 1);
	a = find(&g, "exchange_withdrawal");
	assert_non_null(a);
	assert_int_equal(a->severity, ROLLOUT_SEV_WARNING);
	assert_false(a->negative);
	assert_non_null(strstr(a->message, "tag_type Exchange in the top list"));
	assert_non_null(strstr(a->message, "SomeDEX"));
	/* whale 1 -> 98 whose list label matches the pattern: a deposit, critical */
	g.n = 0;
	assert_int_equal(xfer(r, &g, 1, 98, 1000000 * TOK, "102-1", "", "", ""), 1);
	a = find(&g, "exchange_deposit");
	assert_int_equal(a->severity, ROLLOUT_SEV_CRITICAL);
	assert_non_null(strstr(a->message, "label matches an exchange pattern"));
	/* a label on the transfer matching the pattern */
	g.n = 0;
	assert_int_equal(xfer(r, &g, 2, 51, 20000 * TOK, "103-1", "", "", "Kraken 3"), 1);
	assert_non_null(find(&g, "exchange_deposit"));
	/* unknown counterparty (no tag, no label, not listed), a zero key, no whale side,
	 * exchange to exchange: nothing */
	g.n = 0;
	assert_int_equal(xfer(r, &g, 1, 52, 20000 * TOK, "104-1", "", "", ""), 0);
	assert_int_equal(xfer(r, &g, 1, 0, 20000 * TOK, "104-2", "", "Exchange", ""), 0);
	assert_int_equal(xfer(r, &g, 53, 50, 20000 * TOK, "104-3", "", "Exchange", ""), 0);
	assert_int_equal(xfer(r, &g, 99, 98, 20000 * TOK, "104-4", "", "", ""), 0);
	assert_int_equal(g.n, 0);
	/* no id: the block, both keys and the amount make the key (still deduplicated) */
	assert_int_equal(xfer(r, &g, 2, 50, 20000 * TOK, "", "", "Exchange", ""), 1);
	assert_int_equal(xfer(r, &g, 2, 50, 20000 * TOK, "", "", "Exchange", ""), 0);
	rules_free(r);
	/* transfers: tiers of their own; whale_list.top bounds the whales */
	r = mk("exchange_flow: { info: 1, transfers: { info: 5, warning: 6, critical: 7 } }\n"
	    "whale_list: { top: 1 }\n", NULL, "candidate");
	snap(r, NULL, 1, ids, b, 4);
	g.n = 0;
	assert_int_equal(xfer(r, &g, 1, 50, 6 * TOK, "1-1", "", "Exchange", ""), 1);
	assert_int_equal(g.a[0].severity, ROLLOUT_SEV_WARNING);
	assert_string_equal(g.a[0].system, "candidate");
	assert_int_equal(xfer(r, &g, 2, 50, 6 * TOK, "1-2", "", "Exchange", ""), 0); /* rank 2 > top */
	rules_free(r);
}

/* ---- the top list across restarts ---------------------------------------------------------------- */

static char logged[2048];

static void
log_capture(void *ctx, enum log_level lvl, const char *source, const char *line)
{
	(void)ctx;
	(void)source;
	if (lvl == LOG_LVL_ERROR)
		snprintf(logged, sizeof(logged), "%s", line);
}

static void
top_list__restart__compares_with_the_list_before(void **state)
{
	char dir[] = "/tmp/test_whale_XXXXXX", path[256];
	struct rules *r;
	struct got g = { .n = 0 };
	int ids1[] = { 1, 2, 3, 4 }, ids2[] = { 1, 5, 2, 6 };
	rollout_u128 b1[] = { 5000000 * TOK, 3000000 * TOK, 2000000 * TOK, 1500000 * TOK };
	rollout_u128 b2[] = { 5000000 * TOK, 1000000 * TOK + 1, 3000000 * TOK, 1000000 * TOK };
	struct stat st1, st2;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rules/baseline/top.json", dir);
	r = mk(NULL, dir, "baseline");
	snap(r, &g, 1000, ids1, b1, 4);
	assert_int_equal(g.n, 0);
	assert_int_equal(whale_sync(r), 0);
	assert_int_equal(stat(path, &st1), 0);
	/* the same list again is not rewritten */
	snap(r, &g, 1000, ids1, b1, 4);
	assert_int_equal(whale_sync(r), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino); /* rename() would give a new inode */
	rules_free(r);
	/* restart: the next list is compared with the one before the restart */
	r = mk(NULL, dir, "baseline");
	snap(r, &g, 3000, ids2, b2, 4);
	assert_int_equal(count(&g, "whale_entry"), 2);
	assert_int_equal(count(&g, "whale_exit"), 2);
	assert_non_null(strstr(g.a[2].message, "was rank 3"));
	assert_string_equal(g.a[2].amount_tokens, "2000000"); /* the total saved before */
	rules_free(r);
	/* a restart with the same list: nothing */
	r = mk(NULL, dir, "baseline");
	g.n = 0;
	snap(r, &g, 4000, ids2, b2, 4);
	assert_int_equal(g.n, 0);
	rules_free(r);
	/* each system has its own file */
	snprintf(path, sizeof(path), "%s/rules/candidate/top.json", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	/* damaged: a clear error naming the file and the position, no crash, no list */
	snprintf(path, sizeof(path), "%s/rules/baseline/top.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\":1,\"list\":[\n{\"pubkey\":\"zz\"", f);
	fclose(f);
	logged[0] = '\0';
	log_set_hook(log_capture, NULL);
	r = mk(NULL, dir, "baseline");
	log_set_hook(NULL, NULL);
	assert_non_null(strstr(logged, path));
	assert_non_null(strstr(logged, "damaged top list: line 2, column"));
	g.n = 0;
	snap(r, &g, 5000, ids1, b1, 4);
	assert_int_equal(g.n, 0); /* compared with nothing */
	rules_free(r);
	/* the damaged file was replaced by the new list */
	r = mk(NULL, dir, "baseline");
	snap(r, &g, 6000, ids2, b2, 4);
	assert_int_equal(count(&g, "whale_entry"), 2);
	rules_free(r);
	/* valid JSON, wrong content */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"list\":[{\"pubkey\":\"0100000000000000000000000000000000000000000000000000000000"
	    "00005a\",\"rank\":0,\"total\":\"1\"}]}", f);
	fclose(f);
	logged[0] = '\0';
	log_set_hook(log_capture, NULL);
	r = mk(NULL, dir, "baseline");
	log_set_hook(NULL, NULL);
	assert_non_null(strstr(logged, "list item 0: rank"));
	rules_free(r);
	rm_rf(dir);
}

/* ---- files that cannot be written ------------------------------------------------------------ */

static int errors_logged, infos_logged;

static void
log_count(void *ctx, enum log_level lvl, const char *source, const char *line)
{
	(void)ctx;
	if (strcmp(source, "rules") != 0)
		return;
	if (lvl == LOG_LVL_ERROR && strstr(line, "cannot save the last activity"))
		errors_logged++;
	if (lvl == LOG_LVL_INFO && strstr(line, "writable again after 2500 failed writes"))
		infos_logged++;
}

static void
store__unwritable__one_error_per_thousand_then_writable_again(void **state)
{
	char dir[] = "/tmp/test_whale_XXXXXX", path[256];
	struct rules *r;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* the activity directory is a file: every write fails (also as root) */
	snprintf(path, sizeof(path), "%s/rules", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/rules/candidate", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/rules/candidate/activity", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	r = mk(NULL, dir, "candidate");
	errors_logged = infos_logged = 0;
	log_set_hook(log_count, NULL);
	for (int i = 1; i <= 2500; i++)
		assert_int_equal(seed(r, i, 1, 1000 + i, 0), 0);
	assert_int_equal(whale_sync(r), 0);
	assert_int_equal(errors_logged, 3); /* the 1st, 1001st and 2001st */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(seed(r, 2501, 1, 5000, 0), 0);
	assert_int_equal(whale_sync(r), 0);
	log_set_hook(NULL, NULL);
	assert_int_equal(infos_logged, 1);
	assert_int_equal(errors_logged, 3);
	rules_free(r);
	rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whale_install__bad_config__error_with_position),
		cmocka_unit_test(draining__edges__exact_percent_and_minimum),
		cmocka_unit_test(consolidation__edges__percent_minimum_warning),
		cmocka_unit_test(whale_list__entries_exits__rank_balance_severity),
		cmocka_unit_test(dormant__thresholds_persistence_unknown),
		cmocka_unit_test(dormant__store_within_hour__not_rewritten),
		cmocka_unit_test(coordinated__three_whales_in_window__one_alert_per_cluster),
		cmocka_unit_test(exchange_flow__tag_or_pattern__tiers),
		cmocka_unit_test(unlock__frozen_drop__only_when_seen),
		cmocka_unit_test(seed__found_unknown_old_overwrite__dormant_from_the_seed),
		cmocka_unit_test(transfer__deposit_withdrawal_tiers_repeat_unknown),
		cmocka_unit_test(top_list__restart__compares_with_the_list_before),
		cmocka_unit_test(store__unwritable__one_error_per_thousand_then_writable_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_rules.c — the rules interface and the large-movement rule on u128
 * edge cases (max values, zero, decreasing balances), exact token tiers,
 * stable ids, configuration errors with FILE:LINE:COL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"
#include "ynode.h"

#define U128_MAX (~(rollout_u128)0)
#define DOT ((rollout_u128)10000000000ULL) /* 10 decimals */

static const uint8_t alice[32] = {
	0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9, 0x9f, 0xd6,
	0x82, 0x2c, 0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7, 0xa5, 0x6d, 0xa2, 0x7d,
};

struct got {
	int n;
	struct rules_alert last;
};

static void
collect(void *ctx, const struct rules_alert *a)
{
	struct got *g = ctx;

	g->n++;
	g->last = *a;
}

static struct rollout_balance_change
change(rollout_u128 bf, rollout_u128 br, rollout_u128 af, rollout_u128 ar, uint64_t block)
{
	struct rollout_balance_change bc;

	memset(&bc, 0, sizeof(bc));
	memcpy(bc.pubkey, alice, 32);
	bc.block_from = bc.block_to = block;
	bc.block_time_ms = bc.window_start_ms = bc.window_end_ms = 1700000000000LL + (int64_t)block;
	bc.observed_ms = bc.block_time_ms + 1500;
	bc.has_before = 1;
	bc.known_mask = ROLLOUT_KNOW_ALL;
	bc.before.free = bf;
	bc.before.reserved = br;
	bc.after.free = af;
	bc.after.reserved = ar;
	return bc;
}

static struct rules *
mk(const char *system)
{
	struct rules *r;
	char err[256];

	assert_int_equal(rules_create(&r, system, NULL, 10, "DOT", 0, err, sizeof(err)), 0);
	return r;
}

static void
rules_total_delta__u128_edges(void **state)
{
	struct rollout_account_data a = { 0 }, b = { 0 };
	rollout_u128 m;

	(void)state;
	/* zero */
	assert_int_equal(rules_total_delta(&a, &b, &m), 0);
	assert_true(m == 0);
	/* max down to zero */
	a.free = U128_MAX;
	assert_int_equal(rules_total_delta(&a, &b, &m), 1);
	assert_true(m == U128_MAX);
	/* zero up to max */
	assert_int_equal(rules_total_delta(&b, &a, &m), 0);
	assert_true(m == U128_MAX);
	/* free + reserved beyond 2^128 saturates instead of wrapping */
	a.reserved = U128_MAX;
	assert_int_equal(rules_total_delta(&b, &a, &m), 0);
	assert_true(m == U128_MAX);
	assert_true(rules_total(&a) == U128_MAX);
	/* a move from free to reserved is no movement */
	a.free = 100, a.reserved = 0;
	b.free = 40, b.reserved = 60;
	assert_int_equal(rules_total_delta(&a, &b, &m), 0);
	assert_true(m == 0);
	/* opposite components: -100 free, +30 reserved = -70 */
	b.free = 0, b.reserved = 30;
	assert_int_equal(rules_total_delta(&a, &b, &m), 1);
	assert_true(m == 70);
	/* +100 free, -130 reserved = -30 */
	a.free = 0, a.reserved = 130;
	b.free = 100, b.reserved = 0;
	assert_int_equal(rules_total_delta(&a, &b, &m), 1);
	assert_true(m == 30);
}

static void
rules_format_and_parse__exact(void **state)
{
	char buf[64];
	rollout_u128 v;

	(void)state;
	assert_string_equal(rules_format_u128(U128_MAX, buf, sizeof(buf)),
	    "340282366920938463463374607431768211455");
	assert_string_equal(rules_format_u128(0, buf, sizeof(buf)), "0");
	assert_string_equal(rules_format_tokens(U128_MAX, 10, 1, buf, sizeof(buf)),
	    "-34028236692093846346337460743.1768211455");
	assert_string_equal(rules_format_tokens(0, 10, 1, buf, sizeof(buf)), "0");
	assert_string_equal(rules_format_tokens(1, 10, 0, buf, sizeof(buf)), "0.0000000001");
	assert_string_equal(rules_format_tokens(123450000000ULL, 10, 0, buf, sizeof(buf)), "12.345");
	assert_string_equal(rules_format_tokens(100000 * DOT, 10, 0, buf, sizeof(buf)), "100000");
	assert_int_equal(rules_parse_tokens("10000", 10, &v), 0);
	assert_true(v == 10000 * DOT);
	assert_int_equal(rules_parse_tokens("2.5", 10, &v), 0);
	assert_true(v == 25000000000ULL);
	assert_int_equal(rules_parse_tokens("0.00000000001", 10, &v), -ERANGE);
	assert_int_equal(rules_parse_tokens("340282366920938463463374607431768211455", 0, &v), 0);
	assert_true(v == U128_MAX);
	assert_int_equal(rules_parse_tokens("340282366920938463463374607431768211456", 0, &v), -ERANGE);
	assert_int_equal(rules_parse_tokens("34028236692093846346337460743.1768211456", 10, &v), -ERANGE);
	assert_int_equal(rules_parse_tokens("-5", 10, &v), -EINVAL);
	assert_int_equal(rules_parse_tokens("1e6", 10, &v), -EINVAL);
	assert_int_equal(rules_parse_tokens(".5", 10, &v), -EINVAL);
	assert_int_equal(rules_parse_tokens("5.", 10, &v), -EINVAL);
	assert_int_equal(rules_parse_tokens("", 10, &v), -EINVAL);
}

static void
large_movement__tiers__exact_boundaries(void **state)
{
	struct rules *r = mk("candidate");
	struct got g = { 0 };
	struct rollout_balance_change bc;
	rollout_u128 base = 5000000 * DOT;

	(void)state;
	/* one planck below 10k tokens: nothing */
	bc = change(base, 0, base + 10000 * DOT - 1, 0, 10);
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 0);
	assert_int_equal(g.n, 0);
	/* exactly 10k: info */
	bc = change(base, 0, base + 10000 * DOT, 0, 11);
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 1);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_INFO);
	assert_string_equal(g.last.amount_tokens, "10000");
	assert_int_equal(g.last.negative, 0);
	/* 100k - 1 planck: still info; 100k: warning */
	bc = change(base, 0, base - 100000 * DOT + 1, 0, 12);
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_INFO);
	assert_int_equal(g.last.negative, 1);
	assert_string_equal(g.last.amount_tokens, "-99999.9999999999");
	bc = change(base, 0, base - 100000 * DOT, 0, 13);
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_WARNING);
	/* 1M decreasing: critical, with the whole balance gone */
	bc = change(1000000 * DOT, 0, 0, 0, 14);
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_CRITICAL);
	assert_string_equal(g.last.amount_tokens, "-1000000");
	assert_true(g.last.amount == 1000000 * DOT);
	assert_int_equal(g.n, 4);
	rules_free(r);
}

static void
large_movement__max_values_and_zero(void **state)
{
	struct rules *r = mk("baseline");
	struct got g = { 0 };
	struct rollout_balance_change bc;
	char max[64];

	(void)state;
	bc = change(0, 0, U128_MAX, 0, 0);
	bc.block_from = bc.block_to = 0; /* a baseline window */
	bc.window_start_ms = 1000;
	bc.window_end_ms = 3601000;
	assert_int_equal(rules_balance(r, &bc, 5000, collect, &g), 1);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_CRITICAL);
	assert_true(g.last.amount == U128_MAX);
	assert_string_equal(g.last.amount_tokens, rules_format_tokens(U128_MAX, 10, 0, max, sizeof(max)));
	assert_string_equal(g.last.system, "baseline");
	assert_string_equal(g.last.key, "large_movement:15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5:w3601000");
	assert_int_equal(g.last.window_end_ms, 3601000);
	/* max to max, and both components at max: no change, no alert */
	bc = change(U128_MAX, U128_MAX, U128_MAX, U128_MAX, 0);
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 0);
	/* zero to zero */
	bc = change(0, 0, 0, 0, 0);
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 0);
	assert_int_equal(g.n, 1);
	rules_free(r);
}

static void
rules__first_observation__records_state_without_alert(void **state)
{
	struct rules *r = mk("candidate");
	struct got g = { 0 };
	struct rollout_balance_change bc = change(0, 0, 9000000 * DOT, 5, 100);
	const struct rules_account *a;

	(void)state;
	bc.has_before = 0;
	assert_int_equal(rules_balance(r, &bc, 0, collect, &g), 0);
	assert_int_equal(g.n, 0);
	a = rules_account(r, alice);
	assert_non_null(a);
	assert_true(a->data.free == 9000000 * DOT);
	assert_true(a->data.reserved == 5);
	assert_int_equal(a->block, 100);
	assert_int_equal(rules_account_count(r), 1);
	rules_free(r);
}

static void
rules__alert__stable_id_ss58_label_and_text(void **state)
{
	struct rules *r = mk("candidate"), *r2 = mk("candidate");
	struct got g = { 0 }, g2 = { 0 };
	struct rollout_balance_change bc = change(0, 0, 250000 * DOT, 0, 4242);
	struct rollout_snapshot_entry e;
	struct rollout_snapshot snap = { 1, 1, &e };
	char id[33];

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.pubkey, alice, 32);
	snprintf(e.tag_name, sizeof(e.tag_name), "Binance.com");
	snprintf(e.tag_type, sizeof(e.tag_type), "Exchange");
	rules_snapshot(r, &snap, 0, NULL, NULL);
	rules_balance(r, &bc, 0, collect, &g);
	rules_balance(r2, &bc, 0, collect, &g2);
	assert_string_equal(g.last.account, "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5");
	assert_string_equal(g.last.key, "large_movement:15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5:4242");
	assert_string_equal(g.last.id, g2.last.id); /* stable: a function of the key only */
	rules_alert_id(g.last.key, id);
	assert_string_equal(g.last.id, id);
	assert_int_equal(strlen(id), 32);
	assert_string_equal(g.last.label, "Binance.com");
	assert_string_equal(g2.last.label, "");
	assert_int_equal(g.last.block_to, 4242);
	assert_non_null(strstr(g.last.message, "250000 DOT"));
	assert_non_null(strstr(g.last.details, "\"delta_planck\":\"2500000000000000\""));
	assert_int_equal(rules_account(r, alice)->rank, 0);
	rules_free(r);
	rules_free(r2);
}

static void
rules_create__thresholds_from_yaml(void **state)
{
	const char *y = "large_movement:\n  info: 1.5\n  warning: 2\n  critical: 3\n";
	struct ynode *doc;
	struct rules *r;
	char err[256];
	struct got g = { 0 };
	struct rollout_balance_change bc = change(0, 0, 15000000000ULL, 0, 1);

	(void)state;
	assert_int_equal(ynode_load_buffer("plan.yaml", y, strlen(y), &doc, err, sizeof(err)), 0);
	assert_int_equal(rules_create(&r, "candidate", doc, 10, "DOT", 0, err, sizeof(err)), 0);
	assert_true(rules_thresholds(r)->info == 15000000000ULL);
	rules_balance(r, &bc, 0, collect, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.last.severity, ROLLOUT_SEV_INFO);
	rules_free(r);
	ynode_free(doc);
}

static void
rules_create__bad_amount__file_line_col(void **state)
{
	const char *y = "large_movement:\n  info: 10000\n  warning: lots\n";
	const char *y2 = "large_movement:\n  info: 5\n  warning: 1\n";
	struct ynode *doc;
	struct rules *r;
	char err[256];

	(void)state;
	assert_int_equal(ynode_load_buffer("plan.yaml", y, strlen(y), &doc, err, sizeof(err)), 0);
	assert_int_equal(rules_create(&r, "candidate", doc, 10, "DOT", 0, err, sizeof(err)), -EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "plan.yaml:3:"));
	assert_non_null(strstr(err, "large_movement.warning"));
	ynode_free(doc);
	assert_int_equal(ynode_load_buffer("plan.yaml", y2, strlen(y2), &doc, err, sizeof(err)), 0);
	assert_int_equal(rules_create(&r, "candidate", doc, 10, "DOT", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "info <= warning"));
	ynode_free(doc);
	y2 = "large_movement: { info: 5, critcal: 9 }\n";
	assert_int_equal(ynode_load_buffer("plan.yaml", y2, strlen(y2), &doc, err, sizeof(err)), 0);
	assert_int_equal(rules_create(&r, "candidate", doc, 10, "DOT", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "plan.yaml:1:28: rules: large_movement: unknown key \"critcal\""));
	ynode_free(doc);
}

static void
rules__many_accounts__state_kept_per_account(void **state)
{
	struct rules *r = mk("candidate");
	struct got g = { 0 };

	(void)state;
	for (uint32_t i = 0; i < 5000; i++) {
		struct rollout_balance_change bc = change(0, 0, (rollout_u128)i * DOT, 0, i + 1);

		memcpy(bc.pubkey, &i, sizeof(i));
		bc.has_before = 0;
		rules_balance(r, &bc, 0, collect, &g);
	}
	assert_int_equal(rules_account_count(r), 5000);
	for (uint32_t i = 0; i < 5000; i += 499) {
		uint8_t pk[32];

		memcpy(pk, alice, 32);
		memcpy(pk, &i, sizeof(i));
		assert_non_null(rules_account(r, pk));
		assert_true(rules_account(r, pk)->data.free == (rollout_u128)i * DOT);
	}
	rules_free(r);
}

/* A rule added from outside rules.c: alerts on any nonce change. */
static int
nonce_rule(struct rules *r, const struct rules_account *acct, const struct rollout_balance_change *bc,
    int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	struct rules_alert a;
	int *calls = rules_rule_arg(r, "nonce");

	(*calls)++;
	assert_non_null(acct);
	if (bc->after.nonce == acct->data.nonce) /* ACCT is the state before the change */
		return 0;
	rules_alert_init(r, &a, "nonce", ROLLOUT_SEV_INFO, bc->pubkey, 0, 0, bc, now_ms);
	snprintf(a.key, sizeof(a.key), "nonce:%s:%u", a.account, bc->after.nonce);
	rules_alert_id(a.key, a.id);
	fn(ctx, &a);
	return 1;
}

static void
rules_add__extra_rule__runs_after_builtins_with_prior_state(void **state)
{
	struct rules *r = mk("baseline");
	struct got g = { 0 };
	int calls = 0;
	struct rules_rule rule = { "nonce", nonce_rule, NULL, &calls };
	struct rollout_balance_change bc = change(0, 0, 1, 0, 1);

	(void)state;
	assert_int_equal(rules_add(r, &rule), 0);
	assert_string_equal(rules_system(r), "baseline");
	assert_int_equal(rules_decimals(r), 10);
	assert_string_equal(rules_symbol(r), "DOT");
	bc.has_before = 0;
	bc.after.nonce = 3;
	assert_int_equal(rules_balance(r, &bc, 7, collect, &g), 0); /* first observation: no rules */
	assert_int_equal(calls, 0);
	bc.has_before = 1;
	bc.before = bc.after;
	bc.after.nonce = 4;
	assert_int_equal(rules_balance(r, &bc, 7, collect, &g), 1);
	assert_int_equal(calls, 1);
	assert_string_equal(g.last.type, "nonce");
	assert_string_equal(g.last.system, "baseline");
	assert_string_equal(g.last.amount_tokens, "0");
	assert_string_equal(g.last.key, "nonce:15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5:4");
	assert_int_equal(rules_account(r, alice)->data.nonce, 4);
	rules_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rules_total_delta__u128_edges),
		cmocka_unit_test(rules_format_and_parse__exact),
		cmocka_unit_test(large_movement__tiers__exact_boundaries),
		cmocka_unit_test(large_movement__max_values_and_zero),
		cmocka_unit_test(rules__first_observation__records_state_without_alert),
		cmocka_unit_test(rules__alert__stable_id_ss58_label_and_text),
		cmocka_unit_test(rules_create__thresholds_from_yaml),
		cmocka_unit_test(rules_create__bad_amount__file_line_col),
		cmocka_unit_test(rules__many_accounts__state_kept_per_account),
		cmocka_unit_test(rules_add__extra_rule__runs_after_builtins_with_prior_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

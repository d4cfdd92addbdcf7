/*
 * test_planck.c — exact decimal <-> planck conversion.
 *
 * The property tests check planck.c against big-integer arithmetic done
 * here on decimal digit strings (schoolbook addition and comparison), so
 * the expected values never come from the code under test.
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

#include "planck.h"

static const char U128_MAX_DEC[] = "340282366920938463463374607431768211455";

/* ---- independent digit-string arithmetic ---------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Strip leading zeros in place ("000" -> "0"). */
static char *
dec_norm(char *s)
{
	size_t i = 0, n = strlen(s);

	while (i + 1 < n && s[i] == '0')
		i++;
	memmove(s, s + i, n - i + 1);
	return s;
}

/* Compare two normalized decimal strings. */
static int
dec_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* out = a + b (normalized inputs). */
static void
dec_add(const char *a, const char *b, char *out)
{
	char tmp[64];
	int ia = (int)strlen(a) - 1, ib = (int)strlen(b) - 1, carry = 0, n = 0, i;

	while (ia >= 0 || ib >= 0 || carry) {
		int d = carry + (ia >= 0 ? a[ia--] - '0' : 0) + (ib >= 0 ? b[ib--] - '0' : 0);
		tmp[n++] = (char)('0' + d % 10);
		carry = d / 10;
	}
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	dec_norm(out);
}

/* A random decimal string of 1..maxlen digits (may have leading zeros). */
static void
dec_random(char *out, size_t maxlen)
{
	size_t n = 1 + (size_t)(rng() % maxlen), i;

	/* bias towards both short and full-length values */
	if (rng() % 4 == 0)
		n = maxlen;
	for (i = 0; i < n; i++)
		out[i] = (char)('0' + rng() % 10);
	out[n] = '\0';
}

/* Expected token text for planck digit string P with D decimals. */
static void
dec_tokens(const char *p, unsigned d, int negative, char *out)
{
	char digits[256], frac[64];
	size_t n, o = 0, fl;

	snprintf(digits, sizeof(digits), "%s", p);
	dec_norm(digits);
	n = strlen(digits);
	if (negative && strcmp(digits, "0") != 0)
		out[o++] = '-';
	if (n > d) {
		memcpy(out + o, digits, n - d);
		o += n - d;
		memcpy(frac, digits + n - d, d);
	} else {
		out[o++] = '0';
		memset(frac, '0', d - n);
		memcpy(frac + d - n, digits, n);
	}
	fl = d;
	while (fl > 0 && frac[fl - 1] == '0')
		fl--;
	if (fl > 0) {
		out[o++] = '.';
		memcpy(out + o, frac, fl);
		o += fl;
	}
	out[o] = '\0';
}

/* ---- edge cases -------------------------------------------------------------- */

static void
planck_parse_tokens__edge_cases__exact(void **state)
{
	rollout_u128 v = 7;
	char err[128], buf[64];

	(void)state;
	assert_int_equal(planck_parse_tokens("0", 10, &v, err, sizeof(err)), 0);
	assert_true(v == 0);
	assert_int_equal(planck_parse_tokens("0.0000000001", 10, &v, err, sizeof(err)), 0);
	assert_true(v == 1);
	assert_int_equal(planck_parse_tokens("123.4567", 10, &v, err, sizeof(err)), 0);
	assert_string_equal(planck_format_int(v, buf, sizeof(buf)), "1234567000000");
	assert_int_equal(planck_parse_tokens("1", 0, &v, err, sizeof(err)), 0);
	assert_true(v == 1);
	assert_int_equal(planck_parse_tokens("007.50", 10, &v, err, sizeof(err)), 0);
	assert_true(v == 75000000000ull);
	/* the largest value at 10 decimals, and one planck more */
	assert_int_equal(planck_parse_tokens("34028236692093846346337460743.1768211455", 10,
	    &v, err, sizeof(err)), 0);
	assert_true(v == ~(rollout_u128)0);
	assert_int_equal(planck_parse_tokens("34028236692093846346337460743.1768211456", 10,
	    &v, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "128 bits"));
	assert_int_equal(planck_parse_int(U128_MAX_DEC, &v), 0);
	assert_true(v == ~(rollout_u128)0);
}

static void
planck_parse_tokens__bad_input__rejected_with_reason(void **state)
{
	static const struct {
		const char *s;
		int rc;
		const char *why;
	} cases[] = {
		{ "", -EINVAL, "empty" },
		{ "-1", -EINVAL, "negative" },
		{ "-0.5", -EINVAL, "negative" },
		{ "+1", -EINVAL, "does not start" },
		{ "1e10", -EINVAL, "unexpected 'e'" },
		{ "1.5E3", -EINVAL, "unexpected 'E'" },
		{ "0x10", -EINVAL, "unexpected 'x'" },
		{ " 1", -EINVAL, "does not start" },
		{ "1 ", -EINVAL, "unexpected ' '" },
		{ "1.", -EINVAL, "no digit after" },
		{ ".5", -EINVAL, "does not start" },
		{ "1.2.3", -EINVAL, "unexpected '.'" },
		{ "abc", -EINVAL, "does not start" },
		{ "12a", -EINVAL, "unexpected 'a'" },
		{ "NaN", -EINVAL, "does not start" },
		{ "0.00000000001", -ERANGE, "more than 10 decimals" },
		{ "1.12345678901", -ERANGE, "more than 10 decimals" },
		{ "99999999999999999999999999999999999999999", -ERANGE, "128 bits" },
	};
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rollout_u128 v = 42;

		err[0] = '\0';
		assert_int_equal(planck_parse_tokens(cases[i].s, 10, &v, err, sizeof(err)),
		    cases[i].rc);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", cases[i].s, err, cases[i].why);
		assert_true(v == 42);
	}
	assert_int_equal(planck_parse_tokens(NULL, 10, NULL, NULL, 0), -EINVAL);
	assert_int_equal(planck_parse_tokens("1", 39, NULL, err, sizeof(err)), -EINVAL);
}

static void
planck_parse_int__bad_input__rejected(void **state)
{
	rollout_u128 v = 3;

	(void)state;
	assert_int_equal(planck_parse_int("", &v), -EINVAL);
	assert_int_equal(planck_parse_int("-1", &v), -EINVAL);
	assert_int_equal(planck_parse_int("1.0", &v), -EINVAL);
	assert_int_equal(planck_parse_int("1e3", &v), -EINVAL);
	assert_int_equal(planck_parse_int("340282366920938463463374607431768211456", &v), -ERANGE);
	assert_int_equal(planck_parse_int("1000000000000000000000000000000000000000", &v), -ERANGE);
	assert_true(v == 3);
	assert_int_equal(planck_parse_int("0000000000000000000000000000000000000000000001", &v), 0);
	assert_true(v == 1);
}

static void
planck_format__edge_cases__exact(void **state)
{
	char buf[64], small[4];

	(void)state;
	assert_string_equal(planck_format_int(0, buf, sizeof(buf)), "0");
	assert_string_equal(planck_format_int(~(rollout_u128)0, buf, sizeof(buf)), U128_MAX_DEC);
	assert_null(planck_format_int(12345, small, sizeof(small)));
	assert_string_equal(small, "");
	assert_string_equal(planck_format_tokens(0, 10, 1, buf, sizeof(buf)), "0");
	assert_string_equal(planck_format_tokens(1, 10, 0, buf, sizeof(buf)), "0.0000000001");
	assert_string_equal(planck_format_tokens(1, 10, 1, buf, sizeof(buf)), "-0.0000000001");
	assert_string_equal(planck_format_tokens(12345000000ull, 10, 0, buf, sizeof(buf)), "1.2345");
	assert_string_equal(planck_format_tokens(120000000000ull, 10, 1, buf, sizeof(buf)), "-12");
	assert_string_equal(planck_format_tokens(5, 0, 0, buf, sizeof(buf)), "5");
	assert_string_equal(planck_format_tokens(~(rollout_u128)0, 10, 1, buf, sizeof(buf)),
	    "-34028236692093846346337460743.1768211455");
	assert_string_equal(planck_format_tokens(~(rollout_u128)0, 38, 0, buf, sizeof(buf)),
	    "3.40282366920938463463374607431768211455");
	assert_null(planck_format_tokens(1, 39, 0, buf, sizeof(buf)));
	assert_null(planck_format_tokens(12345000000ull, 10, 0, small, sizeof(small)));
}

/* ---- properties against digit-string arithmetic ------------------------------- */

static void
planck_parse_int__random_39_digit__matches_bigint(void **state)
{
	char s[64], norm[64], buf[64];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		rollout_u128 v;
		int rc;

		dec_random(s, 39 + (i % 3 == 0)); /* sometimes 40 digits */
		snprintf(norm, sizeof(norm), "%s", s);
		dec_norm(norm);
		rc = planck_parse_int(s, &v);
		if (dec_cmp(norm, U128_MAX_DEC) > 0) {
			assert_int_equal(rc, -ERANGE);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(planck_format_int(v, buf, sizeof(buf)), norm);
	}
}

static void
planck_add__random__matches_bigint(void **state)
{
	char a[64], b[64], sum[80], buf[64];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		rollout_u128 va, vb;

		dec_random(a, 39);
		dec_random(b, 1 + (size_t)(rng() % 39));
		dec_norm(a);
		dec_norm(b);
		if (dec_cmp(a, U128_MAX_DEC) > 0 || dec_cmp(b, U128_MAX_DEC) > 0)
			continue;
		assert_int_equal(planck_parse_int(a, &va), 0);
		assert_int_equal(planck_parse_int(b, &vb), 0);
		dec_add(a, b, sum);
		if (dec_cmp(sum, U128_MAX_DEC) > 0)
			continue;
		assert_string_equal(planck_format_int(va + vb, buf, sizeof(buf)), sum);
	}
}

static void
planck_tokens__random__matches_bigint_and_round_trips(void **state)
{
	char ip[64], fp[64], text[160], expect[256], got[80], tokens[80];
	int i;

	(void)state;
	for (i = 0; i < 30000; i++) {
		unsigned d = (unsigned)(rng() % 39);
		size_t fl;
		rollout_u128 v = 0, back = 0;
		char err[128];
		int rc, neg = (int)(rng() % 2);

		dec_random(ip, 1 + (size_t)(rng() % 39));
		fl = (size_t)(rng() % (d + 2)); /* sometimes one decimal too many */
		for (size_t k = 0; k < fl; k++)
			fp[k] = (char)('0' + rng() % 10);
		fp[fl] = '\0';
		if (fl > 0)
			snprintf(text, sizeof(text), "%s.%s", ip, fp);
		else
			snprintf(text, sizeof(text), "%s", ip);
		/* expected planck digits: int digits, fraction, zero padding */
		snprintf(expect, sizeof(expect), "%s%s%.*s", ip, fp, (int)(d > fl ? d - fl : 0),
		    "000000000000000000000000000000000000000000");
		dec_norm(expect);
		rc = planck_parse_tokens(text, d, &v, err, sizeof(err));
		if (fl > d) {
			assert_int_equal(rc, -ERANGE);
			/* an integer part that already overflows is reported first */
			assert_true(strstr(err, "decimals") != NULL || strstr(err, "128 bits") != NULL);
			continue;
		}
		if (dec_cmp(expect, U128_MAX_DEC) > 0) {
			assert_int_equal(rc, -ERANGE);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\" d=%u: %s", text, d, err);
		assert_string_equal(planck_format_int(v, got, sizeof(got)), expect);
		/* formatting back: independent expected text, then exact round trip */
		dec_tokens(expect, d, neg, tokens);
		assert_string_equal(planck_format_tokens(v, d, neg, got, sizeof(got)), tokens);
		assert_int_equal(planck_parse_tokens(tokens + (tokens[0] == '-'), d, &back,
		    err, sizeof(err)), 0);
		assert_true(back == v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(planck_parse_tokens__edge_cases__exact),
		cmocka_unit_test(planck_parse_tokens__bad_input__rejected_with_reason),
		cmocka_unit_test(planck_parse_int__bad_input__rejected),
		cmocka_unit_test(planck_format__edge_cases__exact),
		cmocka_unit_test(planck_parse_int__random_39_digit__matches_bigint),
		cmocka_unit_test(planck_add__random__matches_bigint),
		cmocka_unit_test(planck_tokens__random__matches_bigint_and_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

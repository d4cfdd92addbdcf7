/*
 * test_ss58.c — SS58 decode/encode and hex against every vector of
 * ../shared/fixtures/polkadot-accounts.json (computed with polkadot-js), and
 * every invalid address of ss58-invalid.json with its reason class.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixtures_polkadot.h"
#include "hex.h"
#include "ss58.h"

static json_t *accounts;

static void
check_address(const uint8_t pk[32], uint16_t prefix, const char *addr)
{
	uint8_t got[32];
	uint16_t gotp = 0xffff;
	char enc[SS58_MAX_LEN], err[160] = "";
	int rc;

	rc = ss58_decode(addr, got, &gotp, err, sizeof(err));
	if (rc != 0)
		fail_msg("decode %s: %s", addr, err);
	assert_int_equal(gotp, prefix);
	assert_memory_equal(got, pk, 32);
	assert_int_equal(ss58_encode(pk, prefix, enc, sizeof(enc)), 0);
	assert_string_equal(enc, addr);
}

static void
ss58_decode__every_fixture_address__matches_pubkey_and_reencodes(void **state)
{
	size_t i, n = 0;
	json_t *a;

	(void)state;
	json_array_foreach(json_object_get(accounts, "accounts"), i, a) {
		uint8_t pk[32];
		json_t *other = json_object_get(a, "ss58_other");

		assert_int_equal(fixture_hex(json_string_value(json_object_get(a, "pubkey")), pk, 32), 32);
		check_address(pk, 0, json_string_value(json_object_get(a, "ss58_polkadot")));
		check_address(pk, 2, json_string_value(json_object_get(a, "ss58_kusama")));
		check_address(pk, 42, json_string_value(json_object_get(a, "ss58_generic")));
		check_address(pk, (uint16_t)json_integer_value(json_object_get(other, "prefix")),
		    json_string_value(json_object_get(other, "address")));
		n++;
	}
	assert_int_equal(n, 300);
}

static void
ss58_decode__every_invalid_fixture__rejected_with_reason_class(void **state)
{
	json_t *inv = fixture_load("ss58-invalid.json");
	size_t i, n = 0;
	json_t *e;

	(void)state;
	json_array_foreach(inv, i, e) {
		const char *in = json_string_value(json_object_get(e, "input"));
		const char *why = json_string_value(json_object_get(e, "why"));
		const char *want = NULL;
		uint8_t pk[32];
		char err[160] = "";

		assert_int_equal(ss58_decode(in, pk, NULL, err, sizeof(err)), -EINVAL);
		if (strcmp(why, "checksum") == 0) {
			want = "checksum mismatch";
			/* a mistyped character is not reported as a length problem */
			assert_null(strstr(err, "length"));
		}
		else if (strcmp(why, "length") == 0)
			want = "bad length";
		else if (strncmp(why, "alphabet", 8) == 0)
			want = "bad base58 character";
		else if (strcmp(why, "empty") == 0)
			want = "empty address";
		else
			fail_msg("unknown reason class %s", why);
		if (strstr(err, want) == NULL)
			fail_msg("%s (%s): got \"%s\", want \"%s\"", in, why, err, want);
		if (strncmp(why, "alphabet", 8) == 0) {
			/* "alphabet (0 is not base58)": the reason names the character and its position */
			char c[8];
			size_t pos = strcspn(in, "0IOl");

			snprintf(c, sizeof(c), "'%c'", why[10]);
			assert_non_null(strstr(err, c));
			snprintf(c, sizeof(c), "%zu", pos);
			assert_non_null(strstr(err, c));
		}
		n++;
	}
	assert_int_equal(n, 24);
	json_decref(inv);
}

static void
ss58_decode__other_errors__precise_reasons(void **state)
{
	uint8_t pk[32], zero[32] = { 0 };
	char err[160], addr[SS58_MAX_LEN];
	uint16_t p;

	(void)state;
	assert_int_equal(ss58_decode(NULL, pk, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "empty address");
	assert_int_equal(ss58_decode("1111111111111111111111111111111111111111111111111111111111111111111",
	    pk, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
	/* 'l' at position 3 */
	assert_int_equal(ss58_decode("15olF", pk, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad base58 character 'l' (0x6c) at position 3");
	/* one character too many (Alice with an extra 'x') */
	assert_int_equal(ss58_decode("15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sxp5", pk, NULL,
	    err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "length"));
	/* too short to hold anything */
	assert_int_equal(ss58_decode("1", pk, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad length"));
	assert_int_equal(ss58_decode("15olF", pk, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad base58 character 'l' (0x6c) at position 3");
	/* reserved prefixes cannot be encoded */
	assert_int_equal(ss58_encode(zero, 46, addr, sizeof(addr)), -EINVAL);
	assert_int_equal(ss58_encode(zero, 16384, addr, sizeof(addr)), -EINVAL);
	assert_int_equal(ss58_encode(zero, 0, addr, 10), -ENOSPC);
	/* all-zero key round-trips for both prefix forms, incl. the largest */
	assert_int_equal(ss58_encode(zero, 16383, addr, sizeof(addr)), 0);
	assert_int_equal(ss58_decode(addr, pk, &p, err, sizeof(err)), 0);
	assert_int_equal(p, 16383);
	assert_memory_equal(pk, zero, 32);
	assert_int_equal(ss58_encode(zero, 0, addr, sizeof(addr)), 0);
	assert_int_equal(ss58_decode(addr, pk, &p, err, sizeof(err)), 0);
	assert_int_equal(p, 0);
	/* a NULL error buffer is fine */
	assert_int_equal(ss58_decode("", pk, NULL, NULL, 0), -EINVAL);
}

static void
hex__round_trip_and_errors(void **state)
{
	uint8_t b[4];
	size_t n = 99;
	char s[2 * 4 + 3];

	(void)state;
	assert_int_equal(hex_decode("0xDEadbe", b, sizeof(b), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(b[0], 0xde);
	assert_int_equal(b[2], 0xbe);
	assert_int_equal(hex_decode("", b, sizeof(b), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(hex_decode("0x", b, sizeof(b), &n), 0);
	assert_int_equal(hex_decode("abc", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(hex_decode("0xzz", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(hex_decode("0x0102030405", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(hex_decode(NULL, b, sizeof(b), &n), -EINVAL);
	b[0] = 0x00;
	b[1] = 0xff;
	hex_encode(b, 2, s, 1);
	assert_string_equal(s, "0x00ff");
	hex_encode(b, 2, s, 0);
	assert_string_equal(s, "00ff");
	hex_encode(b, 0, s, 1);
	assert_string_equal(s, "0x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ss58_decode__every_fixture_address__matches_pubkey_and_reencodes),
		cmocka_unit_test(ss58_decode__every_invalid_fixture__rejected_with_reason_class),
		cmocka_unit_test(ss58_decode__other_errors__precise_reasons),
		cmocka_unit_test(hex__round_trip_and_errors),
	};
	int rc;

	accounts = fixture_load("polkadot-accounts.json");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(accounts);
	return rc;
}

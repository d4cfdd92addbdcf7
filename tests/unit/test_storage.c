/*
 * test_storage.c — System.Account / Timestamp.Now storage keys and the
 * hashers against ../shared/fixtures/polkadot-accounts.json.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixtures_polkadot.h"
#include "hash.h"
#include "header.h"
#include "hex.h"
#include "storage.h"

static json_t *accounts;

static void
storage_system_account_key__every_fixture__matches(void **state)
{
	uint8_t pfx[32], want_pfx[32];
	size_t i, n = 0;
	json_t *a;

	(void)state;
	assert_int_equal(fixture_hex(json_string_value(json_object_get(accounts,
	    "system_account_prefix")), want_pfx, 32), 32);
	storage_system_account_prefix(pfx);
	assert_memory_equal(pfx, want_pfx, 32);
	json_array_foreach(json_object_get(accounts, "accounts"), i, a) {
		const char *want_hex = json_string_value(json_object_get(a, "system_account_key"));
		uint8_t pk[32], key[80], want[80], back[32];
		char hex[STORAGE_ACCOUNT_KEY_HEXLEN + 1];

		assert_int_equal(fixture_hex(json_string_value(json_object_get(a, "pubkey")), pk, 32), 32);
		assert_int_equal(fixture_hex(want_hex, want, 80), 80);
		storage_system_account_key(pk, key);
		assert_memory_equal(key, want, 80);
		storage_system_account_key_hex(pk, hex);
		assert_string_equal(hex, want_hex);
		assert_int_equal(storage_account_from_key_hex(want_hex, back), 0);
		assert_memory_equal(back, pk, 32);
		n++;
	}
	assert_int_equal(n, 300);
}

static void
storage_account_from_key__corrupt_keys__rejected(void **state)
{
	const char *k = json_string_value(json_object_get(json_array_get(
	    json_object_get(accounts, "accounts"), 0), "system_account_key"));
	uint8_t key[80], pk[32];

	(void)state;
	assert_int_equal(fixture_hex(k, key, 80), 80);
	key[40] ^= 1; /* blake2_128 part */
	assert_int_equal(storage_account_from_key(key, 80, pk), -EINVAL);
	key[40] ^= 1;
	key[0] ^= 1; /* prefix */
	assert_int_equal(storage_account_from_key(key, 80, pk), -EINVAL);
	key[0] ^= 1;
	assert_int_equal(storage_account_from_key(key, 79, pk), -EINVAL);
	assert_int_equal(storage_account_from_key(key, 80, pk), 0);
	assert_int_equal(storage_account_from_key_hex("0x1234", pk), -EINVAL);
}

static void
storage_timestamp_now_key__known_value(void **state)
{
	char hex[STORAGE_TIMESTAMP_KEY_HEXLEN + 1];
	uint8_t k[32];

	(void)state;
	/* twox128("Timestamp") ++ twox128("Now"), as every Substrate explorer shows it */
	storage_timestamp_now_key_hex(hex);
	assert_string_equal(hex,
	    "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb");
	storage_timestamp_now_key(k);
	assert_int_equal(k[0], 0xf0);
}

static void
hash__known_vectors(void **state)
{
	uint8_t h[16], h8[8];
	char s[40];

	(void)state;
	/* twox128(":code") is the well-known runtime code key prefix */
	twox128((const uint8_t *)"System", 6, h);
	hex_encode(h, 16, s, 0);
	assert_string_equal(s, "26aa394eea5630e07c48ae0c9558cef7");
	twox64((const uint8_t *)"System", 6, h8);
	assert_memory_equal(h8, h, 8);
	/* BLAKE2b-128 of the empty string (RFC 7693 reference implementation) */
	blake2_128((const uint8_t *)"", 0, h);
	hex_encode(h, 16, s, 0);
	assert_string_equal(s, "cae66941d9efbd404e4d88758ea67670");
}

static void
header_hash__polkadot_genesis(void **state)
{
	uint8_t zero[32] = { 0 }, sr[32], er[32], h[32], want[32];

	(void)state;
	/* Polkadot's genesis header and its well-known hash */
	assert_int_equal(fixture_hex("0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17",
	    sr, 32), 32);
	assert_int_equal(fixture_hex("0x03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314",
	    er, 32), 32);
	assert_int_equal(fixture_hex("0x91b171bb158e2d3848fa23a9f1c25182fb8e20313b2c1eb49219da7a70ce90c3",
	    want, 32), 32);
	header_hash(zero, 0, sr, er, 0, NULL, 0, h);
	assert_memory_equal(h, want, 32);
	header_hash(zero, 1, sr, er, 0, NULL, 0, h);
	assert_memory_not_equal(h, want, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(storage_system_account_key__every_fixture__matches),
		cmocka_unit_test(storage_account_from_key__corrupt_keys__rejected),
		cmocka_unit_test(storage_timestamp_now_key__known_value),
		cmocka_unit_test(hash__known_vectors),
		cmocka_unit_test(header_hash__polkadot_genesis),
	};
	int rc;

	accounts = fixture_load("polkadot-accounts.json");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(accounts);
	return rc;
}

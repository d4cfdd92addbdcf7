/*
 * test_scale.c — SCALE AccountInfo, u64 and compact integers; AccountInfo
 * against every vector of ../shared/fixtures/polkadot-accounts.json.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixtures_polkadot.h"
#include "scale.h"

static json_t *accounts;

static rollout_u128
u128_field(json_t *data, const char *name)
{
	rollout_u128 v = 0;

	if (fixture_u128(json_string_value(json_object_get(data, name)), &v) != 0)
		fail_msg("bad decimal in fixture field %s", name);
	return v;
}

static void
scale_account_info__every_fixture__decodes_and_encodes(void **state)
{
	size_t i, n = 0;
	json_t *a;

	(void)state;
	json_array_foreach(json_object_get(accounts, "accounts"), i, a) {
		json_t *info = json_object_get(a, "account_info");
		json_t *data = json_object_get(info, "data");
		struct rollout_account_data d, want;
		uint32_t consumers, providers, sufficients;
		rollout_u128 flags;
		uint8_t buf[80], enc[80];

		assert_int_equal(fixture_hex(json_string_value(json_object_get(a, "account_info_scale")),
		    buf, 80), 80);
		assert_int_equal(scale_decode_account_info(buf, 80, &d, &consumers, &providers,
		    &sufficients, &flags), 0);
		memset(&want, 0, sizeof(want));
		want.nonce = (uint32_t)json_integer_value(json_object_get(info, "nonce"));
		want.free = u128_field(data, "free");
		want.reserved = u128_field(data, "reserved");
		want.frozen = u128_field(data, "frozen");
		assert_int_equal(d.nonce, want.nonce);
		assert_true(d.free == want.free);
		assert_true(d.reserved == want.reserved);
		assert_true(d.frozen == want.frozen);
		assert_true(flags == u128_field(data, "flags"));
		assert_int_equal(consumers, json_integer_value(json_object_get(info, "consumers")));
		assert_int_equal(providers, json_integer_value(json_object_get(info, "providers")));
		assert_int_equal(sufficients, json_integer_value(json_object_get(info, "sufficients")));
		scale_encode_account_info(&want, consumers, providers, sufficients, flags, enc);
		assert_memory_equal(enc, buf, 80);
		/* optional outputs may be NULL */
		assert_int_equal(scale_decode_account_info(buf, 80, &d, NULL, NULL, NULL, NULL), 0);
		n++;
	}
	assert_int_equal(n, 300);
}

static void
scale_decode_account_info__wrong_length__emsgsize(void **state)
{
	uint8_t buf[81] = { 0 };
	struct rollout_account_data d;

	(void)state;
	assert_int_equal(scale_decode_account_info(buf, 79, &d, NULL, NULL, NULL, NULL), -EMSGSIZE);
	assert_int_equal(scale_decode_account_info(buf, 81, &d, NULL, NULL, NULL, NULL), -EMSGSIZE);
	assert_int_equal(scale_decode_account_info(buf, 0, &d, NULL, NULL, NULL, NULL), -EMSGSIZE);
	assert_int_equal(scale_decode_account_info(NULL, 80, &d, NULL, NULL, NULL, NULL), -EINVAL);
}

static void
scale_u64__timestamp(void **state)
{
	/* 1700000000000 ms = 0x18bcfe56800 */
	const uint8_t le[8] = { 0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00 };
	uint8_t enc[8];
	uint64_t v = 0;

	(void)state;
	assert_int_equal(scale_decode_u64(le, 8, &v), 0);
	assert_true(v == 1700000000000ull);
	scale_encode_u64(v, enc);
	assert_memory_equal(enc, le, 8);
	assert_int_equal(scale_decode_u64(le, 7, &v), -EMSGSIZE);
}

static void
scale_compact__spec_vectors(void **state)
{
	/* From the SCALE codec documentation. */
	static const struct { uint64_t v; uint8_t b[9]; size_t n; } vec[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x04 }, 1 },
		{ 42, { 0xa8 }, 1 },
		{ 69, { 0x15, 0x01 }, 2 },
		{ 65535, { 0xfe, 0xff, 0x03, 0x00 }, 4 },
		{ 100000000000000ull, { 0x0b, 0x00, 0x40, 0x7a, 0x10, 0xf3, 0x5a }, 7 },
		{ 1073741824ull, { 0x03, 0x00, 0x00, 0x00, 0x40 }, 5 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint8_t enc[9];
		uint64_t v = 0;
		size_t used = 0, n = scale_encode_compact(vec[i].v, enc);

		assert_int_equal(n, vec[i].n);
		assert_memory_equal(enc, vec[i].b, n);
		assert_int_equal(scale_decode_compact(vec[i].b, vec[i].n, &v, &used), 0);
		assert_true(v == vec[i].v);
		assert_int_equal(used, vec[i].n);
		if (vec[i].n > 1) {
			assert_int_equal(scale_decode_compact(vec[i].b, vec[i].n - 1, &v, &used), -EMSGSIZE);
		}
	}
	{
		/* non-canonical: 1 encoded in two-byte mode */
		const uint8_t bad[2] = { 0x05, 0x00 };
		uint64_t v;
		size_t used;

		assert_int_equal(scale_decode_compact(bad, 2, &v, &used), -EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scale_account_info__every_fixture__decodes_and_encodes),
		cmocka_unit_test(scale_decode_account_info__wrong_length__emsgsize),
		cmocka_unit_test(scale_u64__timestamp),
		cmocka_unit_test(scale_compact__spec_vectors),
	};
	int rc;

	accounts = fixture_load("polkadot-accounts.json");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(accounts);
	return rc;
}

/* hash.c — see hash.h. */
#include "hash.h"

#include <sodium.h>
#include <xxhash.h>

static void
hash_put_le64(uint8_t *out, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

void
blake2_128(const uint8_t *in, size_t n, uint8_t out[16])
{
	crypto_generichash(out, 16, in, n, NULL, 0);
}

void
blake2_256(const uint8_t *in, size_t n, uint8_t out[32])
{
	crypto_generichash(out, 32, in, n, NULL, 0);
}

void
blake2_512(const uint8_t *in, size_t n, uint8_t out[64])
{
	crypto_generichash(out, 64, in, n, NULL, 0);
}

void
twox64(const uint8_t *in, size_t n, uint8_t out[8])
{
	hash_put_le64(out, XXH64(in, n, 0));
}

void
twox128(const uint8_t *in, size_t n, uint8_t out[16])
{
	hash_put_le64(out, XXH64(in, n, 0));
	hash_put_le64(out + 8, XXH64(in, n, 1));
}

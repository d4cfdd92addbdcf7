/* header.c — see header.h. */
#include "header.h"

#include <sodium.h>

#include "scale.h"

void
header_hash(const uint8_t parent[32], uint64_t number, const uint8_t state_root[32],
    const uint8_t extrinsics_root[32], size_t nlogs, const uint8_t *logs, size_t logs_len,
    uint8_t out[32])
{
	crypto_generichash_state st;
	uint8_t compact[9];
	size_t n;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, parent, 32);
	n = scale_encode_compact(number, compact);
	crypto_generichash_update(&st, compact, n);
	crypto_generichash_update(&st, state_root, 32);
	crypto_generichash_update(&st, extrinsics_root, 32);
	n = scale_encode_compact(nlogs, compact);
	crypto_generichash_update(&st, compact, n);
	if (logs_len > 0)
		crypto_generichash_update(&st, logs, logs_len);
	crypto_generichash_final(&st, out, 32);
}

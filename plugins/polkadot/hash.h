/*
 * hash.h — the hashers Substrate storage keys use.  Owned by the
 * rpc_watcher engineer (issue 6).  All functions are pure and thread-safe;
 * the caller owns every buffer.
 */
#ifndef ROLLOUT_HASH_H
#define ROLLOUT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* BLAKE2b with a 16-byte output over IN (libsodium crypto_generichash). */
void blake2_128(const uint8_t *in, size_t n, uint8_t out[16]);
/* BLAKE2b with a 32-byte output (block hashes in the fake node). */
void blake2_256(const uint8_t *in, size_t n, uint8_t out[32]);
/* BLAKE2b-512 (the SS58 checksum). */
void blake2_512(const uint8_t *in, size_t n, uint8_t out[64]);
/* xxh64(IN, seed 0) as 8 little-endian bytes. */
void twox64(const uint8_t *in, size_t n, uint8_t out[8]);
/* xxh64(IN, seed 0) ++ xxh64(IN, seed 1), each little-endian: Substrate's Twox128. */
void twox128(const uint8_t *in, size_t n, uint8_t out[16]);

#endif

/*
 * scale.h — the few SCALE (Substrate's codec) encodings the rpc_watcher
 * needs: AccountInfo of System.Account, u64 (Timestamp.Now) and compact
 * integers.  All little-endian.  Owned by the rpc_watcher engineer (issue 6).
 * The caller owns every buffer; functions are pure and thread-safe.
 */
#ifndef ROLLOUT_SCALE_H
#define ROLLOUT_SCALE_H

#include <stddef.h>
#include <stdint.h>

#include <rollout/plugin.h>

/* nonce, consumers, providers, sufficients (u32) + free, reserved, frozen, flags (u128). */
#define SCALE_ACCOUNT_INFO_LEN 80

/*
 * Decode an AccountInfo (exactly 80 bytes) into OUT (nonce, free, reserved,
 * frozen) and the optional CONSUMERS, PROVIDERS, SUFFICIENTS, FLAGS (each
 * may be NULL).  Returns 0, -EINVAL for NULL BUF/OUT, or -EMSGSIZE when LEN
 * is not 80 (the caller says "AccountInfo: expected 80 bytes, got LEN").
 */
int scale_decode_account_info(const uint8_t *buf, size_t len, struct rollout_account_data *out,
    uint32_t *consumers, uint32_t *providers, uint32_t *sufficients, rollout_u128 *flags);

/* Encode an AccountInfo into OUT (80 bytes). */
void scale_encode_account_info(const struct rollout_account_data *in, uint32_t consumers,
    uint32_t providers, uint32_t sufficients, rollout_u128 flags, uint8_t out[80]);

/* Decode a u64 (exactly 8 bytes, e.g. Timestamp.Now in ms).  0, -EINVAL, -EMSGSIZE. */
int scale_decode_u64(const uint8_t *buf, size_t len, uint64_t *out);
/* Encode V as 8 bytes. */
void scale_encode_u64(uint64_t v, uint8_t out[8]);

/* Little-endian helpers. */
uint32_t scale_get_u32(const uint8_t *p);
rollout_u128 scale_get_u128(const uint8_t *p);
void scale_put_u32(uint8_t *p, uint32_t v);
void scale_put_u128(uint8_t *p, rollout_u128 v);

/*
 * Decode a compact integer at BUF (LEN bytes available) into *OUT and the
 * number of bytes it used into *USED.  Values above 2^64-1 and
 * non-canonical encodings are rejected.  0, -EINVAL, -EMSGSIZE (truncated).
 */
int scale_decode_compact(const uint8_t *buf, size_t len, uint64_t *out, size_t *used);
/* Encode V as a compact integer into OUT (at most 9 bytes); returns the length. */
size_t scale_encode_compact(uint64_t v, uint8_t out[9]);

#endif

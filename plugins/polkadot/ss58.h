/*
 * ss58.h — SS58 addresses of 32-byte accounts (Substrate's address format:
 * base58(prefix ++ pubkey ++ checksum), checksum = the first two bytes of
 * BLAKE2b-512("SS58PRE" ++ prefix ++ pubkey)).  Prefixes 0..63 use one byte,
 * 64..16383 the two-byte form.  Owned by the rpc_watcher engineer (issue 6).
 */
#ifndef ROLLOUT_SS58_H
#define ROLLOUT_SS58_H

#include <stddef.h>
#include <stdint.h>

/* Longest SS58 address of a 32-byte key is 50 characters; with NUL: */
#define SS58_MAX_LEN 56

/*
 * Decode ADDR into PUBKEY (32 bytes, caller's) and *PREFIX (may be NULL).
 * Returns 0, or -EINVAL and writes a precise reason into ERR (ERRLEN bytes,
 * may be NULL/0), one of:
 *   "empty address"
 *   "bad base58 character 'I' (0x49) at position 0"
 *   "bad length: decodes to 34 bytes, expected 35 (one-byte prefix) or 36 (two-byte prefix)"
 *   "checksum mismatch"
 *   "reserved prefix byte 0x80" / "reserved prefix 46"
 *   "address too long (N characters)"
 * ADDR must be NUL-terminated.  Thread-safe.
 */
int ss58_decode(const char *addr, uint8_t pubkey[32], uint16_t *prefix, char *err, size_t errlen);

/*
 * Encode PUBKEY with network PREFIX (0..16383, except the reserved 46 and
 * 47) into OUT (OUTLEN bytes, SS58_MAX_LEN is always enough).  Returns 0,
 * -EINVAL for a bad prefix, -ENOSPC when OUT is too small.
 */
int ss58_encode(const uint8_t pubkey[32], uint16_t prefix, char *out, size_t outlen);

#endif

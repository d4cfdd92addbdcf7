/*
 * storage.h — storage keys of the two items the rpc_watcher reads:
 *   System.Account(AccountId32) = twox128("System") ++ twox128("Account")
 *                                 ++ blake2_128(pubkey) ++ pubkey   (80 bytes)
 *   Timestamp.Now               = twox128("Timestamp") ++ twox128("Now") (32 bytes)
 * Owned by the rpc_watcher engineer (issue 6).  Caller owns all buffers.
 */
#ifndef ROLLOUT_STORAGE_H
#define ROLLOUT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#define STORAGE_ACCOUNT_KEY_LEN 80
#define STORAGE_ACCOUNT_KEY_HEXLEN (2 + 2 * STORAGE_ACCOUNT_KEY_LEN) /* without NUL */
#define STORAGE_TIMESTAMP_KEY_LEN 32
#define STORAGE_TIMESTAMP_KEY_HEXLEN (2 + 2 * STORAGE_TIMESTAMP_KEY_LEN)

/* The 80-byte System.Account key of PUBKEY. */
void storage_system_account_key(const uint8_t pubkey[32], uint8_t key[80]);
/* The same as "0x" + 160 lower-case hex digits, NUL-terminated (163 bytes). */
void storage_system_account_key_hex(const uint8_t pubkey[32], char out[STORAGE_ACCOUNT_KEY_HEXLEN + 1]);
/* The 32-byte common prefix twox128("System") ++ twox128("Account"). */
void storage_system_account_prefix(uint8_t prefix[32]);
/* The 32-byte Timestamp.Now key. */
void storage_timestamp_now_key(uint8_t key[32]);
/* The same as "0x" + 64 hex digits, NUL-terminated (67 bytes). */
void storage_timestamp_now_key_hex(char out[STORAGE_TIMESTAMP_KEY_HEXLEN + 1]);

/*
 * If KEY (LEN bytes) is a System.Account key with a correct blake2_128
 * part, copy its account into PUBKEY and return 0; else -EINVAL.
 */
int storage_account_from_key(const uint8_t *key, size_t len, uint8_t pubkey[32]);
/* The same for a hex string ("0x" optional). */
int storage_account_from_key_hex(const char *hex, uint8_t pubkey[32]);

#endif

/* storage.c — see storage.h. */
#include "storage.h"

#include "hash.h"
#include "hex.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t storage_once = PTHREAD_ONCE_INIT;
static uint8_t storage_account_prefix[32];
static uint8_t storage_now_key[32];

static void
storage_init(void)
{
	twox128((const uint8_t *)"System", 6, storage_account_prefix);
	twox128((const uint8_t *)"Account", 7, storage_account_prefix + 16);
	twox128((const uint8_t *)"Timestamp", 9, storage_now_key);
	twox128((const uint8_t *)"Now", 3, storage_now_key + 16);
}

void
storage_system_account_prefix(uint8_t prefix[32])
{
	pthread_once(&storage_once, storage_init);
	memcpy(prefix, storage_account_prefix, 32);
}

void
storage_system_account_key(const uint8_t pubkey[32], uint8_t key[80])
{
	pthread_once(&storage_once, storage_init);
	memcpy(key, storage_account_prefix, 32);
	blake2_128(pubkey, 32, key + 32);
	memcpy(key + 48, pubkey, 32);
}

void
storage_system_account_key_hex(const uint8_t pubkey[32], char out[STORAGE_ACCOUNT_KEY_HEXLEN + 1])
{
	uint8_t key[80];

	storage_system_account_key(pubkey, key);
	hex_encode(key, sizeof(key), out, 1);
}

void
storage_timestamp_now_key(uint8_t key[32])
{
	pthread_once(&storage_once, storage_init);
	memcpy(key, storage_now_key, 32);
}

void
storage_timestamp_now_key_hex(char out[STORAGE_TIMESTAMP_KEY_HEXLEN + 1])
{
	uint8_t key[32];

	storage_timestamp_now_key(key);
	hex_encode(key, sizeof(key), out, 1);
}

int
storage_account_from_key(const uint8_t *key, size_t len, uint8_t pubkey[32])
{
	uint8_t h[16];

	pthread_once(&storage_once, storage_init);
	if (key == NULL || len != STORAGE_ACCOUNT_KEY_LEN)
		return -EINVAL;
	if (memcmp(key, storage_account_prefix, 32) != 0)
		return -EINVAL;
	blake2_128(key + 48, 32, h);
	if (memcmp(h, key + 32, 16) != 0)
		return -EINVAL;
	memcpy(pubkey, key + 48, 32);
	return 0;
}

int
storage_account_from_key_hex(const char *hex, uint8_t pubkey[32])
{
	uint8_t key[STORAGE_ACCOUNT_KEY_LEN];
	size_t n;

	if (hex_decode(hex, key, sizeof(key), &n) < 0)
		return -EINVAL;
	return storage_account_from_key(key, n, pubkey);
}

/* ss58.c — see ss58.h. */
#include "ss58.h"
#include "log.h"

#include "hash.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char ss58_alphabet[] =
	"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Longest input we look at; a 36-byte payload is at most 50 characters. */
#define SS58_MAX_CHARS 64
#define SS58_MAX_BYTES 64

static int
ss58_digit(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(ss58_alphabet, c);
	return p == NULL ? -1 : (int)(p - ss58_alphabet);
}

/* Base58 to bytes; *N gets the length.  BAD gets the index of a bad char. */
static int
ss58_b58decode(const char *s, size_t len, uint8_t *out, size_t *n, size_t *bad)
{
	uint8_t buf[SS58_MAX_BYTES];
	size_t zeros = 0, used = 0, i, j;

	memset(buf, 0, sizeof(buf));
	while (zeros < len && s[zeros] == '1')
		zeros++;
	for (i = zeros; i < len; i++) {
		int d = ss58_digit(s[i]);
		unsigned carry;

		if (d < 0) {
			*bad = i;
			return -EINVAL;
		}
		carry = (unsigned)d;
		/* buf holds the number big-endian in its last USED bytes. */
		for (j = 0; j < used || carry != 0; j++) {
			size_t k = SS58_MAX_BYTES - 1 - j;

			if (j >= SS58_MAX_BYTES)
				return -E2BIG;
			carry += 58u * buf[k];
			buf[k] = (uint8_t)carry;
			carry >>= 8;
		}
		used = j;
	}
	if (zeros + used > SS58_MAX_BYTES)
		return -E2BIG;
	memset(out, 0, zeros);
	memcpy(out + zeros, buf + SS58_MAX_BYTES - used, used);
	*n = zeros + used;
	return 0;
}

/* Prefix bytes of PREFIX into OUT; returns 1 or 2. */
static size_t
ss58_prefix_bytes(uint16_t prefix, uint8_t out[2])
{
	if (prefix < 64) {
		out[0] = (uint8_t)prefix;
		return 1;
	}
	out[0] = (uint8_t)(((prefix & 0xfc) >> 2) | 0x40);
	out[1] = (uint8_t)((prefix >> 8) | ((prefix & 0x03) << 6));
	return 2;
}

static void
ss58_checksum(const uint8_t *payload, size_t n, uint8_t sum[2])
{
	uint8_t in[7 + SS58_MAX_BYTES], h[64];

	memcpy(in, "SS58PRE", 7);
	memcpy(in + 7, payload, n);
	blake2_512(in, 7 + n, h);
	sum[0] = h[0];
	sum[1] = h[1];
}

enum ss58_why {
	SS58_OK = 0,
	SS58_BAD_CHAR,
	SS58_TOO_BIG,
	SS58_RESERVED_BYTE,
	SS58_BAD_LENGTH,
	SS58_BAD_CHECKSUM,
	SS58_RESERVED_PREFIX,
};

/* Decode S (LEN characters) without producing messages. */
static enum ss58_why
ss58_parse(const char *s, size_t len, uint8_t raw[SS58_MAX_BYTES], size_t *n, size_t *plen,
    uint16_t *pfx, size_t *bad)
{
	uint8_t sum[2];
	int rc;

	rc = ss58_b58decode(s, len, raw, n, bad);
	if (rc == -EINVAL)
		return SS58_BAD_CHAR;
	if (rc < 0)
		return SS58_TOO_BIG;
	if (*n == 0)
		return SS58_BAD_LENGTH;
	if (raw[0] & 0x80)
		return SS58_RESERVED_BYTE;
	if (raw[0] < 64) {
		*plen = 1;
		*pfx = raw[0];
	} else {
		*plen = 2;
		if (*n < 2)
			return SS58_BAD_LENGTH;
		*pfx = (uint16_t)((((raw[0] << 2) | (raw[1] >> 6)) & 0xff) | ((raw[1] & 0x3f) << 8));
	}
	if (*n != *plen + 34)
		return SS58_BAD_LENGTH;
	ss58_checksum(raw, *plen + 32, sum);
	if (sum[0] != raw[*plen + 32] || sum[1] != raw[*plen + 33])
		return SS58_BAD_CHECKSUM;
	if (*pfx == 46 || *pfx == 47)
		return SS58_RESERVED_PREFIX;
	return SS58_OK;
}

static int
ss58_valid(const char *s, size_t len)
{
	uint8_t raw[SS58_MAX_BYTES];
	size_t n, plen, bad;
	uint16_t pfx;

	return ss58_parse(s, len, raw, &n, &plen, &pfx, &bad) == SS58_OK;
}

/*
 * After a checksum mismatch: is ADDR one character short or long of a valid
 * address?  Returns +1 (a character is missing), -1 (one too many), 0.
 * Only runs on the error path (about 3,000 checksum computations).
 */
static int
ss58_off_by_one(const char *addr, size_t len)
{
	char cand[SS58_MAX_CHARS + 2];
	size_t i, j;

	if (len + 1 > SS58_MAX_CHARS)
		return 0;
	for (i = 0; i < len; i++) {
		memcpy(cand, addr, i);
		memcpy(cand + i, addr + i + 1, len - i - 1);
		if (ss58_valid(cand, len - 1))
			return -1;
	}
	for (i = 0; i <= len; i++) {
		memcpy(cand, addr, i);
		memcpy(cand + i + 1, addr + i, len - i);
		for (j = 0; j < 58; j++) {
			cand[i] = ss58_alphabet[j];
			if (ss58_valid(cand, len + 1))
				return 1;
		}
	}
	return 0;
}

int
ss58_decode(const char *addr, uint8_t pubkey[32], uint16_t *prefix, char *err, size_t errlen)
{
	uint8_t raw[SS58_MAX_BYTES];
	size_t len, n = 0, bad = 0, plen = 1;
	uint16_t pfx = 0;
	unsigned char c;
	int off;

	if (addr == NULL || addr[0] == '\0') {
		errbuf_printf(err, errlen, "empty address");
		return -EINVAL;
	}
	len = strlen(addr);
	if (len > SS58_MAX_CHARS) {
		errbuf_printf(err, errlen, "address too long (%zu characters)", len);
		return -EINVAL;
	}
	switch (ss58_parse(addr, len, raw, &n, &plen, &pfx, &bad)) {
	case SS58_OK:
		break;
	case SS58_BAD_CHAR:
		c = (unsigned char)addr[bad];
		if (c >= 0x20 && c < 0x7f)
			errbuf_printf(err, errlen, "bad base58 character '%c' (0x%02x) at position %zu",
			    c, c, bad);
		else
			errbuf_printf(err, errlen, "bad base58 character 0x%02x at position %zu", c, bad);
		return -EINVAL;
	case SS58_TOO_BIG:
		errbuf_printf(err, errlen, "bad length: decodes to more than %d bytes", SS58_MAX_BYTES);
		return -EINVAL;
	case SS58_RESERVED_BYTE:
		errbuf_printf(err, errlen, "reserved prefix byte 0x%02x", raw[0]);
		return -EINVAL;
	case SS58_BAD_LENGTH:
		errbuf_printf(err, errlen, "bad length: decodes to %zu bytes, expected %zu "
		    "(%s prefix, 32-byte account, 2-byte checksum)", n, plen + 34,
		    plen == 1 ? "one-byte" : "two-byte");
		return -EINVAL;
	case SS58_BAD_CHECKSUM:
		off = ss58_off_by_one(addr, len);
		if (off != 0)
			errbuf_printf(err, errlen, "bad length: %zu characters, one character %s "
			    "(checksum mismatch as it is)", len, off > 0 ? "missing" : "too many");
		else
			errbuf_printf(err, errlen, "checksum mismatch");
		return -EINVAL;
	case SS58_RESERVED_PREFIX:
		errbuf_printf(err, errlen, "reserved prefix %u", (unsigned)pfx);
		return -EINVAL;
	}
	memcpy(pubkey, raw + plen, 32);
	if (prefix != NULL)
		*prefix = pfx;
	return 0;
}

int
ss58_encode(const uint8_t pubkey[32], uint16_t prefix, char *out, size_t outlen)
{
	uint8_t raw[36], num[36];
	char digits[SS58_MAX_LEN];
	size_t plen, n, zeros = 0, nd = 0, i, start;

	if (prefix > 16383 || prefix == 46 || prefix == 47)
		return -EINVAL;
	plen = ss58_prefix_bytes(prefix, raw);
	memcpy(raw + plen, pubkey, 32);
	ss58_checksum(raw, plen + 32, raw + plen + 32);
	n = plen + 34;
	while (zeros < n && raw[zeros] == 0)
		zeros++;
	memcpy(num, raw, n);
	/* Repeated division of the big-endian number by 58. */
	start = zeros;
	while (start < n) {
		unsigned rem = 0;

		for (i = start; i < n; i++) {
			unsigned cur = rem * 256u + num[i];

			num[i] = (uint8_t)(cur / 58u);
			rem = cur % 58u;
		}
		digits[nd++] = ss58_alphabet[rem];
		while (start < n && num[start] == 0)
			start++;
	}
	if (zeros + nd + 1 > outlen)
		return -ENOSPC;
	for (i = 0; i < zeros; i++)
		out[i] = '1';
	for (i = 0; i < nd; i++)
		out[zeros + i] = digits[nd - 1 - i];
	out[zeros + nd] = '\0';
	return 0;
}

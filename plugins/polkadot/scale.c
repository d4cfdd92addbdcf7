/* scale.c — see scale.h. */
#include "scale.h"

#include <errno.h>
#include <string.h>

uint32_t
scale_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

rollout_u128
scale_get_u128(const uint8_t *p)
{
	rollout_u128 v = 0;
	int i;

	for (i = 15; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void
scale_put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void
scale_put_u128(uint8_t *p, rollout_u128 v)
{
	int i;

	for (i = 0; i < 16; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int
scale_decode_account_info(const uint8_t *buf, size_t len, struct rollout_account_data *out,
    uint32_t *consumers, uint32_t *providers, uint32_t *sufficients, rollout_u128 *flags)
{
	if (buf == NULL || out == NULL)
		return -EINVAL;
	if (len != SCALE_ACCOUNT_INFO_LEN)
		return -EMSGSIZE;
	out->nonce = scale_get_u32(buf);
	if (consumers != NULL)
		*consumers = scale_get_u32(buf + 4);
	if (providers != NULL)
		*providers = scale_get_u32(buf + 8);
	if (sufficients != NULL)
		*sufficients = scale_get_u32(buf + 12);
	out->free = scale_get_u128(buf + 16);
	out->reserved = scale_get_u128(buf + 32);
	out->frozen = scale_get_u128(buf + 48);
	if (flags != NULL)
		*flags = scale_get_u128(buf + 64);
	return 0;
}

void
scale_encode_account_info(const struct rollout_account_data *in, uint32_t consumers,
    uint32_t providers, uint32_t sufficients, rollout_u128 flags, uint8_t out[80])
{
	scale_put_u32(out, in->nonce);
	scale_put_u32(out + 4, consumers);
	scale_put_u32(out + 8, providers);
	scale_put_u32(out + 12, sufficients);
	scale_put_u128(out + 16, in->free);
	scale_put_u128(out + 32, in->reserved);
	scale_put_u128(out + 48, in->frozen);
	scale_put_u128(out + 64, flags);
}

int
scale_decode_u64(const uint8_t *buf, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	int i;

	if (buf == NULL || out == NULL)
		return -EINVAL;
	if (len != 8)
		return -EMSGSIZE;
	for (i = 7; i >= 0; i--)
		v = v << 8 | buf[i];
	*out = v;
	return 0;
}

void
scale_encode_u64(uint64_t v, uint8_t out[8])
{
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

int
scale_decode_compact(const uint8_t *buf, size_t len, uint64_t *out, size_t *used)
{
	uint64_t v = 0;
	size_t n, i;

	if (buf == NULL || out == NULL || used == NULL)
		return -EINVAL;
	if (len < 1)
		return -EMSGSIZE;
	switch (buf[0] & 3) {
	case 0:
		*out = buf[0] >> 2;
		*used = 1;
		return 0;
	case 1:
		if (len < 2)
			return -EMSGSIZE;
		v = (uint64_t)(buf[0] | buf[1] << 8) >> 2;
		if (v < 64)
			return -EINVAL;
		*out = v;
		*used = 2;
		return 0;
	case 2:
		if (len < 4)
			return -EMSGSIZE;
		v = scale_get_u32(buf) >> 2;
		if (v < (1u << 14))
			return -EINVAL;
		*out = v;
		*used = 4;
		return 0;
	default:
		n = (size_t)(buf[0] >> 2) + 4;
		if (n > 8)
			return -EINVAL; /* larger than u64 */
		if (len < 1 + n)
			return -EMSGSIZE;
		for (i = n; i > 0; i--)
			v = v << 8 | buf[i];
		if (v < (1u << 30) || buf[n] == 0)
			return -EINVAL; /* non-canonical */
		*out = v;
		*used = 1 + n;
		return 0;
	}
}

size_t
scale_encode_compact(uint64_t v, uint8_t out[9])
{
	size_t n = 0, i;
	uint64_t t;

	if (v < 64) {
		out[0] = (uint8_t)(v << 2);
		return 1;
	}
	if (v < (1u << 14)) {
		out[0] = (uint8_t)(v << 2 | 1);
		out[1] = (uint8_t)(v >> 6);
		return 2;
	}
	if (v < (1u << 30)) {
		scale_put_u32(out, (uint32_t)(v << 2 | 2));
		return 4;
	}
	for (t = v; t != 0; t >>= 8)
		n++;
	out[0] = (uint8_t)((n - 4) << 2 | 3);
	for (i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

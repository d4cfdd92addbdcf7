/* hex.c — see hex.h. */
#include "hex.h"

#include <errno.h>
#include <string.h>

/* -1 for a non-hex character; a table because decoding is the hot path of the watcher */
static const signed char hex_value[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int
hex_nibble(char c)
{
	return hex_value[(unsigned char)c] - 1;
}

int
hex_decode_n(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t i, n;

	if (outlen != NULL)
		*outlen = 0;
	if (s == NULL)
		return -EINVAL;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		len -= 2;
	}
	if (len % 2 != 0)
		return -EINVAL;
	n = len / 2;
	if (n > cap)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	if (outlen != NULL)
		*outlen = n;
	return 0;
}

int
hex_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
	if (s == NULL) {
		if (outlen != NULL)
			*outlen = 0;
		return -EINVAL;
	}
	return hex_decode_n(s, strlen(s), out, cap, outlen);
}

void
hex_encode(const uint8_t *in, size_t n, char *out, int prefix0x)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	if (prefix0x) {
		*out++ = '0';
		*out++ = 'x';
	}
	for (i = 0; i < n; i++) {
		*out++ = digits[in[i] >> 4];
		*out++ = digits[in[i] & 0xf];
	}
	*out = '\0';
}

/*
 * planck.c — exact decimal <-> u128 planck conversion (see planck.h).
 */
#include "planck.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define U128_MAX (~(rollout_u128)0)

/* v = v * 10 + d, or -ERANGE on overflow (v unchanged). */
static int
planck_mul10_add(rollout_u128 *v, unsigned d)
{
	if (*v > (U128_MAX - d) / 10)
		return -ERANGE;
	*v = *v * 10 + d;
	return 0;
}

int
planck_parse_int(const char *s, rollout_u128 *out)
{
	rollout_u128 v = 0;
	const char *p;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (planck_mul10_add(&v, (unsigned)(*p - '0')) < 0)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

int
planck_parse_tokens(const char *s, unsigned decimals, rollout_u128 *out,
    char *err, size_t errlen)
{
	rollout_u128 v = 0;
	const char *p;
	unsigned frac = 0;
	size_t intdigits = 0;

	if (decimals > 38) {
		errbuf_printf(err, errlen, "chain decimals %u out of range", decimals);
		return -EINVAL;
	}
	if (s == NULL || *s == '\0') {
		errbuf_printf(err, errlen, "empty amount");
		return -EINVAL;
	}
	if (*s == '-') {
		errbuf_printf(err, errlen, "negative amount \"%.40s\"", s);
		return -EINVAL;
	}
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		intdigits++;
		if (planck_mul10_add(&v, (unsigned)(*p - '0')) < 0)
			goto overflow;
	}
	if (intdigits == 0) {
		errbuf_printf(err, errlen, "amount \"%.40s\" does not start with a digit", s);
		return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9') {
			errbuf_printf(err, errlen, "amount \"%.40s\" has no digit after the point", s);
			return -EINVAL;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			if (++frac > decimals) {
				errbuf_printf(err, errlen,
				    "amount \"%.40s\" has more than %u decimals", s, decimals);
				return -ERANGE;
			}
			if (planck_mul10_add(&v, (unsigned)(*p - '0')) < 0)
				goto overflow;
		}
	}
	if (*p != '\0') {
		errbuf_printf(err, errlen, "amount \"%.40s\": unexpected '%c' at offset %zu",
		    s, *p, (size_t)(p - s));
		return -EINVAL;
	}
	for (; frac < decimals; frac++)
		if (planck_mul10_add(&v, 0) < 0)
			goto overflow;
	*out = v;
	return 0;
overflow:
	errbuf_printf(err, errlen, "amount \"%.40s\" does not fit in 128 bits of planck", s);
	return -ERANGE;
}

char *
planck_format_int(rollout_u128 v, char *buf, size_t len)
{
	char tmp[PLANCK_INT_MAX];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v != 0);
	if (len < n + 1) {
		if (len > 0)
			buf[0] = '\0';
		return NULL;
	}
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

char *
planck_format_tokens(rollout_u128 v, unsigned decimals, int negative,
    char *buf, size_t len)
{
	char digits[PLANCK_INT_MAX];
	char frac[40];
	char tmp[PLANCK_TOKENS_MAX + 8];
	size_t nd, o = 0, intlen, fraclen, i;

	if (len > 0)
		buf[0] = '\0';
	if (decimals > 38)
		return NULL;
	planck_format_int(v, digits, sizeof(digits));
	nd = strlen(digits);
	if (negative && v != 0)
		tmp[o++] = '-';
	/* split into integer digits and exactly DECIMALS fraction digits */
	if (nd > decimals) {
		intlen = nd - decimals;
		memcpy(tmp + o, digits, intlen);
		o += intlen;
		memcpy(frac, digits + intlen, decimals);
	} else {
		tmp[o++] = '0';
		memset(frac, '0', decimals - nd);
		memcpy(frac + (decimals - nd), digits, nd);
	}
	fraclen = decimals;
	while (fraclen > 0 && frac[fraclen - 1] == '0')
		fraclen--;
	if (fraclen > 0) {
		tmp[o++] = '.';
		for (i = 0; i < fraclen; i++)
			tmp[o++] = frac[i];
	}
	tmp[o] = '\0';
	if (len < o + 1)
		return NULL;
	memcpy(buf, tmp, o + 1);
	return buf;
}

/*
 * duration.c — "500ms" "30s" "10m" "24h" "7d" "1h30m".  See duration.h.
 *
 * Components are an unsigned integer and a unit; units must appear from the
 * largest to the smallest, each at most once ("1h30m", not "30m1h").  The
 * unit is never guessed: a bare number is an error.
 */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{ "d", 86400000LL }, { "h", 3600000LL }, { "m", 60000LL }, { "s", 1000LL }, { "ms", 1LL },
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Duration limit: 100 years, far beyond any plan, far from int64 overflow. */
#define DURATION_MAX_MS (100LL * 365 * 86400000LL)

int
duration_parse(const char *s, int64_t *ms, char *err, size_t errlen)
{
	const char *p = s;
	int64_t total = 0;
	size_t last = 0;        /* index of the next allowed unit */
	int any = 0;

	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty duration (write e.g. 30s, 10m, 24h or 7d)");
		return -EINVAL;
	}
	while (*p != '\0') {
		int64_t n = 0;
		const char *digits = p;
		size_t u, ulen;

		if (*p == '-') {
			snprintf(err, errlen, "'%s': a duration cannot be negative", s);
			return -EINVAL;
		}
		while (*p >= '0' && *p <= '9') {
			if (n > DURATION_MAX_MS) {
				snprintf(err, errlen, "'%s': duration too large", s);
				return -ERANGE;
			}
			n = n * 10 + (*p - '0');
			p++;
		}
		if (p == digits) {
			snprintf(err, errlen, "'%s': expected a number at '%s' (write e.g. 30s, 10m, 24h or 7d)",
			    s, p);
			return -EINVAL;
		}
		if (*p == '.') {
			snprintf(err, errlen, "'%s': fractions are not allowed (write 1h30m, not 1.5h)", s);
			return -EINVAL;
		}
		if (*p == '\0') {
			snprintf(err, errlen, "'%s': missing unit (ms, s, m, h or d)", s);
			return -EINVAL;
		}
		if (*p == ' ' || *p == '\t') {
			snprintf(err, errlen, "'%s': no spaces in a duration (write e.g. 7d, 30s or 1h30m)",
			    s);
			return -EINVAL;
		}
		ulen = 0;
		while (p[ulen] >= 'a' && p[ulen] <= 'z')
			ulen++;
		for (u = 0; u < NUNITS; u++)
			if (strlen(units[u].name) == ulen && strncmp(p, units[u].name, ulen) == 0)
				break;
		if (u == NUNITS || ulen == 0) {
			int l = ulen ? (int)ulen : 1;

			snprintf(err, errlen, "'%s': unknown unit '%.*s' (use ms, s, m, h or d)", s, l, p);
			return -EINVAL;
		}
		if (u < last) {
			snprintf(err, errlen, "'%s': units must go from the largest to the smallest, each once",
			    s);
			return -EINVAL;
		}
		last = u + 1;
		if (n > DURATION_MAX_MS / units[u].ms || total + n * units[u].ms > DURATION_MAX_MS) {
			snprintf(err, errlen, "'%s': duration too large", s);
			return -ERANGE;
		}
		total += n * units[u].ms;
		p += ulen;
		any = 1;
	}
	if (!any) {
		snprintf(err, errlen, "empty duration");
		return -EINVAL;
	}
	*ms = total;
	return 0;
}

char *
duration_format(int64_t ms, char *buf, size_t len)
{
	size_t off = 0, u;
	int neg = ms < 0;
	uint64_t v;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	v = neg ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	if (neg) {
		snprintf(buf, len, "-");
		off = 1;
	}
	for (u = 0; u < NUNITS && off < len; u++) {
		uint64_t q = v / (uint64_t)units[u].ms;
		int w;

		if (q == 0)
			continue;
		v -= q * (uint64_t)units[u].ms;
		w = snprintf(buf + off, len - off, "%llu%s", (unsigned long long)q, units[u].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

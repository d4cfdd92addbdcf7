/* test_duration.c — duration_parse / duration_format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "duration.h"

static int64_t
parse_ok(const char *s)
{
	char err[256];
	int64_t ms = -1;

	assert_int_equal(duration_parse(s, &ms, err, sizeof(err)), 0);
	return ms;
}

static void
parse_bad(const char *s, int rc, const char *msg)
{
	char err[256] = "";
	int64_t ms = 0;

	assert_int_equal(duration_parse(s, &ms, err, sizeof(err)), rc);
	assert_string_equal(err, msg);
}

static void
duration_parse__units__milliseconds(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("500ms"), 500);
	assert_int_equal(parse_ok("30s"), 30000);
	assert_int_equal(parse_ok("10m"), 600000);
	assert_int_equal(parse_ok("24h"), 86400000);
	assert_int_equal(parse_ok("7d"), 7LL * 86400000);
	assert_int_equal(parse_ok("1h30m"), 5400000);
	assert_int_equal(parse_ok("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
	assert_int_equal(parse_ok("0s"), 0);
}

static void
duration_parse__bad_input__clear_error(void **state)
{
	(void)state;
	parse_bad("", -EINVAL, "empty duration (write e.g. 30s, 10m, 24h or 7d)");
	parse_bad("30", -EINVAL, "'30': missing unit (ms, s, m, h or d)");
	parse_bad("5x", -EINVAL, "'5x': unknown unit 'x' (use ms, s, m, h or d)");
	parse_bad("5min", -EINVAL, "'5min': unknown unit 'min' (use ms, s, m, h or d)");
	parse_bad("-5s", -EINVAL, "'-5s': a duration cannot be negative");
	parse_bad("1.5h", -EINVAL, "'1.5h': fractions are not allowed (write 1h30m, not 1.5h)");
	parse_bad("30m1h", -EINVAL, "'30m1h': units must go from the largest to the smallest, each once");
	parse_bad("1h1h", -EINVAL, "'1h1h': units must go from the largest to the smallest, each once");
	parse_bad("s", -EINVAL, "'s': expected a number at 's' (write e.g. 30s, 10m, 24h or 7d)");
	parse_bad("5 m", -EINVAL, "'5 m': no spaces in a duration (write e.g. 7d, 30s or 1h30m)");
	parse_bad("5m ", -EINVAL, "'5m ': expected a number at ' ' (write e.g. 30s, 10m, 24h or 7d)");
	parse_bad("99999999999999999999d", -ERANGE, "'99999999999999999999d': duration too large");
	parse_bad("999999d", -ERANGE, "'999999d': duration too large");
}

static void
duration_format__values__shortest_exact(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(duration_format(0, buf, sizeof(buf)), "0s");
	assert_string_equal(duration_format(7LL * 86400000, buf, sizeof(buf)), "7d");
	assert_string_equal(duration_format(5400000, buf, sizeof(buf)), "1h30m");
	assert_string_equal(duration_format(250, buf, sizeof(buf)), "250ms");
	assert_string_equal(duration_format(1500, buf, sizeof(buf)), "1s500ms");
	assert_string_equal(duration_format(-60000, buf, sizeof(buf)), "-1m");
	assert_string_equal(duration_format(5400000, buf, 3), "1h");
}

static void
duration_format__roundtrip__parse_gives_same(void **state)
{
	static const int64_t v[] = { 1, 999, 1000, 61000, 3600000 + 1, 86400000LL * 40 + 12345 };
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(parse_ok(duration_format(v[i], buf, sizeof(buf))), v[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duration_parse__units__milliseconds),
		cmocka_unit_test(duration_parse__bad_input__clear_error),
		cmocka_unit_test(duration_format__values__shortest_exact),
		cmocka_unit_test(duration_format__roundtrip__parse_gives_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

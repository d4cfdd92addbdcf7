/* test_clock.c — real and virtual clocks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"

static void
clock_virtual__set__moves_forward_only(void **state)
{
	struct clock *c = clock_virtual(1000);

	(void)state;
	assert_non_null(c);
	assert_true(clock_is_virtual(c));
	assert_int_equal(clock_now_ms(c), 1000);
	assert_int_equal(clock_mono_ms(c), 1000);
	assert_int_equal(clock_set(c, 5000), 0);
	assert_int_equal(clock_now_ms(c), 5000);
	assert_int_equal(clock_set(c, 4999), -EINVAL);
	assert_int_equal(clock_now_ms(c), 5000);
	assert_int_equal(clock_set(c, 5000), 0);
	clock_free(c);
}

static void
clock_real__now__is_wall_time_and_not_settable(void **state)
{
	struct clock *c = clock_real();
	int64_t a, b;

	(void)state;
	assert_non_null(c);
	assert_false(clock_is_virtual(c));
	a = clock_now_ms(c);
	assert_true(a > 1700000000000LL);       /* after 2023 */
	assert_int_equal(clock_set(c, a + 1000), -EINVAL);
	a = clock_mono_ms(c);
	b = clock_mono_ms(c);
	assert_true(b >= a);
	clock_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clock_virtual__set__moves_forward_only),
		cmocka_unit_test(clock_real__now__is_wall_time_and_not_settable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

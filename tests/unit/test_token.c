/* test_token.c — API token: created 0600 with 64 hex chars, reused, checked in constant time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "token.h"

static void
token_load_or_create__absent__creates_0600_and_reuses(void **state)
{
	char dir[] = "/tmp/test_token.XXXXXX", path[512], t1[128], t2[128], t3[128], err[256];
	struct stat st;
	int created, i;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state/api.token", dir);
	assert_int_equal(token_load_or_create(path, t1, sizeof t1, &created, err, sizeof err), 0);
	assert_int_equal(created, 1);
	assert_int_equal(strlen(t1), TOKEN_HEX_LEN);
	for (i = 0; i < TOKEN_HEX_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", t1[i]));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(token_load_or_create(path, t2, sizeof t2, &created, err, sizeof err), 0);
	assert_int_equal(created, 0);
	assert_string_equal(t1, t2);

	/* a second data directory gets a different token */
	snprintf(path, sizeof path, "%s/other.token", dir);
	assert_int_equal(token_load_or_create(path, t3, sizeof t3, &created, err, sizeof err), 0);
	assert_string_not_equal(t1, t3);

	/* a world-readable file is tightened */
	chmod(path, 0644);
	assert_int_equal(token_load_or_create(path, t3, sizeof t3, &created, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(path);

	/* garbage is refused with the file named */
	f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	assert_int_equal(token_load_or_create(path, t3, sizeof t3, &created, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, path));
	unlink(path);
	snprintf(path, sizeof path, "%s/state/api.token", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/state", dir);
	rmdir(path);
	rmdir(dir);
}

static void
token_check__variants(void **state)
{
	const char *t = "0123456789abcdef0123456789abcdef";

	(void)state;
	assert_true(token_check(t, "Bearer 0123456789abcdef0123456789abcdef"));
	assert_true(token_check(t, "bearer 0123456789abcdef0123456789abcdef"));
	assert_true(token_check(t, "Bearer  0123456789abcdef0123456789abcdef "));
	assert_false(token_check(t, "Bearer 0123456789abcdef0123456789abcdee"));
	assert_false(token_check(t, "Bearer 0123456789abcdef0123456789abcde"));
	assert_false(token_check(t, "Bearer "));
	assert_false(token_check(t, "Basic 0123456789abcdef0123456789abcdef"));
	assert_false(token_check(t, "0123456789abcdef0123456789abcdef"));
	assert_false(token_check(t, NULL));
	assert_false(token_check(NULL, "Bearer x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(token_load_or_create__absent__creates_0600_and_reuses),
		cmocka_unit_test(token_check__variants),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_ynode.c — the YAML tree: marks, kinds, and every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ynode.h"

static struct ynode *
load_ok(const char *text)
{
	struct ynode *n = NULL;
	char err[512];

	if (ynode_load_buffer("t.yaml", text, strlen(text), &n, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return n;
}

static void
load_bad(const char *text, size_t len, int rc, const char *msg)
{
	struct ynode *n = (struct ynode *)1;
	char err[512] = "";

	assert_int_equal(ynode_load_buffer("t.yaml", text, len, &n, err, sizeof(err)), rc);
	assert_null(n);
	assert_string_equal(err, msg);
}

static void
ynode_load__map_seq_scalar__tree_with_marks(void **state)
{
	struct ynode *r = load_ok("a: 1\nb:\n  - x\n  - \"true\"\nc: { d: e }\n");
	const struct ynode *b, *c;

	(void)state;
	assert_int_equal(r->kind, YNODE_MAP);
	assert_int_equal(r->len, 3);
	assert_string_equal(r->file, "t.yaml");
	assert_string_equal(ynode_get(r, "a")->scalar, "1");
	assert_int_equal(ynode_get(r, "a")->line, 1);
	assert_int_equal(ynode_get(r, "a")->col, 4);
	b = ynode_get(r, "b");
	assert_int_equal(b->kind, YNODE_SEQ);
	assert_int_equal(b->len, 2);
	assert_int_equal(b->items[1]->line, 4);
	assert_int_equal(b->items[1]->col, 5);
	assert_true(b->items[1]->quoted);
	assert_false(b->items[0]->quoted);
	c = ynode_get(r, "c");
	assert_int_equal(c->kind, YNODE_MAP);
	assert_string_equal(ynode_get(c, "d")->scalar, "e");
	assert_int_equal(r->keys[2]->line, 5);
	assert_int_equal(r->keys[2]->col, 1);
	assert_null(ynode_get(r, "zz"));
	assert_null(ynode_get(b, "x"));
	ynode_free(r);
}

static void
ynode_load__duplicate_key__error_names_first(void **state)
{
	static const char t[] = "a: 1\nb: 2\na: 3\n";

	(void)state;
	load_bad(t, strlen(t), -EINVAL, "t.yaml:3:1: duplicate key 'a' (first at line 1, column 1)");
}

static void
ynode_load__aliases_and_anchors__refused(void **state)
{
	static const char a[] = "a: &x 1\n";
	static const char b[] = "a: [1]\nb: *x\n";

	(void)state;
	load_bad(a, strlen(a), -EINVAL, "t.yaml:1:4: anchors (&x) are not allowed in plans");
	load_bad(b, strlen(b), -EINVAL, "t.yaml:2:4: aliases (*x) are not allowed in plans");
}

static void
ynode_load__empty__enodata(void **state)
{
	(void)state;
	load_bad("", 0, -ENODATA, "t.yaml: empty document");
	load_bad("# only a comment\n", 17, -ENODATA, "t.yaml: empty document");
	load_bad("---\n", 4, -ENODATA, "t.yaml: empty document");
}

static void
ynode_load__deep_nesting__refused(void **state)
{
	char *t = malloc(200001);
	char msg[128];

	(void)state;
	memset(t, '[', 100000);
	memset(t + 100000, ']', 100000);
	t[200000] = '\0';
	snprintf(msg, sizeof(msg), "t.yaml:1:%d: nesting too deep (more than %d levels)",
	    YNODE_MAX_DEPTH + 1, YNODE_MAX_DEPTH);
	load_bad(t, 200000, -EINVAL, msg);
	free(t);
}

static void
ynode_load__depth_limit__exactly_allowed(void **state)
{
	char t[2 * YNODE_MAX_DEPTH + 1];
	struct ynode *r;

	(void)state;
	memset(t, '[', YNODE_MAX_DEPTH);
	memset(t + YNODE_MAX_DEPTH, ']', YNODE_MAX_DEPTH);
	t[2 * YNODE_MAX_DEPTH] = '\0';
	r = load_ok(t);
	ynode_free(r);
}

static void
ynode_load__binary_garbage__utf8_error(void **state)
{
	static const char g[] = "a: b\nc: \xff\xfe\x01";
	static const char z[] = "a: b\x00z";
	static const char bom16[] = "\xff\xfe" "a\0:\0";

	(void)state;
	load_bad(g, sizeof(g) - 1, -EINVAL,
	    "t.yaml:2:4: invalid leading UTF-8 octet 0xFF (the file is not UTF-8 text)");
	load_bad(z, sizeof(z) - 1, -EINVAL,
	    "t.yaml:1:5: control characters are not allowed 0x00 (the file is not UTF-8 text)");
	load_bad(bom16, sizeof(bom16) - 1, -EINVAL,
	    "t.yaml:1:1: invalid leading UTF-8 octet 0xFF (the file is not UTF-8 text)");
}

static void
ynode_load__syntax_error__libyaml_message(void **state)
{
	static const char t[] = "a: [1, 2\nb: 3\n";
	static const char u[] = "a: b: c\n";
	struct ynode *n = NULL;
	char err[512];

	(void)state;
	assert_int_equal(ynode_load_buffer("t.yaml", t, strlen(t), &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:"));
	assert_non_null(strstr(err, "flow sequence"));
	load_bad(u, strlen(u), -EINVAL, "t.yaml:1:5: mapping values are not allowed in this context");
}

static void
ynode_load__complex_key__refused(void **state)
{
	static const char t[] = "? [a]\n: 1\n";

	(void)state;
	load_bad(t, strlen(t), -EINVAL, "t.yaml:1:3: mapping keys must be scalars, not a list");
}

static void
ynode_load__two_documents__refused(void **state)
{
	static const char t[] = "a: 1\n---\nb: 2\n";

	(void)state;
	load_bad(t, strlen(t), -EINVAL, "t.yaml:2:1: only one YAML document per file is allowed");
}

static void
ynode_load_file__too_large_and_missing(void **state)
{
	char path[] = "/tmp/test_ynode.XXXXXX";
	struct ynode *n = NULL;
	char err[512], want[512];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 12345678\n", 12), 12);
	close(fd);
	assert_int_equal(ynode_load_file(path, 10, &n, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: file too large (12 bytes; the limit is 10)", path);
	assert_string_equal(err, want);
	assert_int_equal(ynode_load_file(path, 100, &n, err, sizeof(err)), 0);
	assert_string_equal(ynode_get(n, "a")->scalar, "12345678");
	assert_string_equal(n->file, path);
	ynode_free(n);
	unlink(path);
	assert_int_equal(ynode_load_file(path, 100, &n, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ynode_load__map_seq_scalar__tree_with_marks),
		cmocka_unit_test(ynode_load__duplicate_key__error_names_first),
		cmocka_unit_test(ynode_load__aliases_and_anchors__refused),
		cmocka_unit_test(ynode_load__empty__enodata),
		cmocka_unit_test(ynode_load__deep_nesting__refused),
		cmocka_unit_test(ynode_load__depth_limit__exactly_allowed),
		cmocka_unit_test(ynode_load__binary_garbage__utf8_error),
		cmocka_unit_test(ynode_load__syntax_error__libyaml_message),
		cmocka_unit_test(ynode_load__complex_key__refused),
		cmocka_unit_test(ynode_load__two_documents__refused),
		cmocka_unit_test(ynode_load_file__too_large_and_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_expr.c — libFuzzer harness for the gate expression parser and the
 * evaluator.  The input is the expression text; metrics answer with values
 * derived from the name so every branch (no data, few samples, NaN, zero)
 * is reachable.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

static unsigned
name_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int
value_of(const char *name, double *out, size_t *ns)
{
	unsigned h = name_hash(name);

	switch (h % 6) {
	case 0: return -ENOENT;
	case 1: *out = NAN; *ns = 5; return 0;
	case 2: *out = 0; *ns = 1; return 0;
	case 3: *out = INFINITY; *ns = 3; return 0;
	default: *out = (double)(h % 1000) / 7.0; *ns = h % 50; return 0;
	}
}

static int
fz_latest(void *ctx, const char *name, double *out, size_t *ns)
{
	(void)ctx;
	return value_of(name, out, ns);
}

static int
fz_window(void *ctx, const char *name, enum expr_fn fn, int64_t w, double *out, size_t *ns)
{
	(void)ctx;
	if (w <= 0 || (int)fn < 0 || fn > EXPR_FN_P99)
		abort();
	return value_of(name, out, ns);
}

static void
seen(void *ctx, const char *name)
{
	if (name == NULL || strchr(name, '.') == NULL)
		abort();
	(*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct expr_metrics m = { NULL, fz_latest, fz_window };
	struct expr_result r;
	struct expr *e = NULL;
	char *text, err[256];
	int col = 0, n = 0;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (expr_parse(text, &e, &col, err, sizeof(err)) == 0) {
		expr_eval(e, &m, 1 + size % 10, &r);
		if (r.verdict != VERDICT_PASS && r.verdict != VERDICT_FAIL &&
		    r.verdict != VERDICT_INCONCLUSIVE)
			abort();
		if (memchr(r.detail, '\0', sizeof(r.detail)) == NULL)
			abort();
		/* without a metrics interface every metric operand is unknown */
		expr_eval(e, NULL, 1, &r);
		if (r.verdict != VERDICT_PASS && r.verdict != VERDICT_FAIL &&
		    r.verdict != VERDICT_INCONCLUSIVE)
			abort();
		expr_foreach_metric(e, seen, &n);
		expr_free(e);
	} else if (col < 1 || (size_t)col > strlen(text) + 1 || err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}

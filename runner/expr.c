/*
 * expr.c — the gate expression language: parser and three-valued evaluator.
 * See expr.h and rolloutd.plan(5), EXPRESSIONS.
 *
 * Grammar (lowest precedence first):
 *   or      := and { "||" and }
 *   and     := cmp { "&&" cmp }
 *   cmp     := sum [ ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum ]
 *   sum     := term { ( "+" | "-" ) term }
 *   term    := unary { ( "*" | "/" ) unary }
 *   unary   := ( "!" | "-" ) unary | primary
 *   primary := NUMBER [ "%" ] | DURATION | METRIC | FN "(" METRIC "," DURATION ")" | "(" or ")"
 * Every node is typed (number or condition) at parse time, so "a.b && 3" or
 * "!a.b" are parse errors with a column, and the top level must be a
 * condition.  Recursion is bounded twice: while parsing (EXPR_MAX_DEPTH
 * nested constructs) and by the height of the tree (left-deep chains such as
 * "1+1+1+..." are as high as they are long), so evaluation cannot overflow
 * the stack.
 */
#include "expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

#define EXPR_MAX_DEPTH 48       /* parser recursion */
#define EXPR_MAX_HEIGHT 128     /* tree height */
#define EXPR_MAX_LEN 4096

enum node_kind {
	N_NUM = 1, N_METRIC, N_NEG, N_ADD, N_SUB, N_MUL, N_DIV,
	N_LT, N_LE, N_GT, N_GE, N_EQ, N_NE, N_AND, N_OR, N_NOT,
};

struct enode {
	enum node_kind kind;
	double num;                 /* N_NUM */
	char *metric;               /* N_METRIC */
	enum expr_fn fn;            /* N_METRIC */
	int64_t window_ms;          /* N_METRIC with a window function */
	struct enode *l, *r;
	size_t start, end;          /* source span in expr->text */
	int height;
};

struct expr {
	char *text;
	struct enode *root;
};

struct parser {
	const char *s;
	size_t pos;
	int depth;
	int errcol;
	char *err;
	size_t errlen;
	int failed;
};

static const struct {
	const char *name;
	enum expr_fn fn;
} fns[] = {
	{ "rate", EXPR_FN_RATE }, { "avg", EXPR_FN_AVG }, { "min", EXPR_FN_MIN },
	{ "max", EXPR_FN_MAX }, { "sum", EXPR_FN_SUM }, { "count", EXPR_FN_COUNT },
	{ "p50", EXPR_FN_P50 }, { "p95", EXPR_FN_P95 }, { "p99", EXPR_FN_P99 },
};
#define NFNS (sizeof(fns) / sizeof(fns[0]))

/* ---- parser ------------------------------------------------------------- */

static void
perr(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	p->errcol = (int)at + 1;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static int
is_bool(const struct enode *n)
{
	return n->kind >= N_LT;
}

static void
node_free(struct enode *n)
{
	if (n == NULL)
		return;
	node_free(n->l);
	node_free(n->r);
	free(n->metric);
	free(n);
}

static struct enode *
node_new(struct parser *p, enum node_kind k, size_t start, struct enode *l, struct enode *r)
{
	struct enode *n;
	int h = 0;

	if (l != NULL && l->height > h)
		h = l->height;
	if (r != NULL && r->height > h)
		h = r->height;
	if (h + 1 > EXPR_MAX_HEIGHT) {
		perr(p, start, "expression too long or nested too deeply");
		node_free(l);
		node_free(r);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		perr(p, start, "out of memory");
		node_free(l);
		node_free(r);
		return NULL;
	}
	n->kind = k;
	n->l = l;
	n->r = r;
	n->start = start;
	n->end = r != NULL ? r->end : l != NULL ? l->end : p->pos;
	n->height = h + 1;
	return n;
}

static void
skip_ws(struct parser *p)
{
	while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
	    p->s[p->pos] == '\r')
		p->pos++;
}

/* Does the input at the cursor start with TOK?  Consumes it if so. */
static int
accept(struct parser *p, const char *tok)
{
	size_t n = strlen(tok);

	skip_ws(p);
	if (strncmp(p->s + p->pos, tok, n) != 0)
		return 0;
	/* "<" must not eat the start of "<=", "!" not the start of "!=" */
	if (n == 1 && (tok[0] == '<' || tok[0] == '>' || tok[0] == '!' || tok[0] == '=') &&
	    p->s[p->pos + 1] == '=')
		return 0;
	p->pos += n;
	return 1;
}

static const char *
describe_here(const struct parser *p)
{
	return p->s[p->pos] == '\0' ? "end of expression" : NULL;
}

static void
unexpected(struct parser *p, const char *wanted)
{
	const char *d = describe_here(p);
	unsigned char c = (unsigned char)p->s[p->pos];

	int n = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1, i;

	/* a whole UTF-8 character is shown as itself */
	for (i = 1; i < n && n > 1; i++)
		if (((unsigned char)p->s[p->pos + i] & 0xC0) != 0x80)
			n = 1;
	if (d != NULL)
		perr(p, p->pos, "expected %s, found %s", wanted, d);
	else if (n > 1)
		perr(p, p->pos, "expected %s, found '%.*s'", wanted, n, p->s + p->pos);
	else if (isprint(c))
		perr(p, p->pos, "expected %s, found '%c'", wanted, c);
	else
		perr(p, p->pos, "expected %s, found byte 0x%02X", wanted, c);
}

static int
ident_char(int c, int first)
{
	return isalpha(c) || c == '_' || (!first && (isdigit(c) || c == '.'));
}

static struct enode *parse_or(struct parser *p);

static struct enode *
parse_metric_name(struct parser *p, size_t start, size_t end)
{
	struct enode *n;
	size_t len = end - start;
	const char *name = p->s + start;

	if (memchr(name, '.', len) == NULL) {
		perr(p, start, "unknown name '%.*s' (a metric is written INSTANCE.NAME, "
		    "e.g. candidate.errors)", (int)len, name);
		return NULL;
	}
	if (name[len - 1] == '.' || memmem(name, len, "..", 2) != NULL) {
		perr(p, start, "malformed metric name '%.*s'", (int)len, name);
		return NULL;
	}
	n = node_new(p, N_METRIC, start, NULL, NULL);
	if (n == NULL)
		return NULL;
	n->metric = strndup(name, len);
	if (n->metric == NULL) {
		perr(p, start, "out of memory");
		node_free(n);
		return NULL;
	}
	n->fn = EXPR_FN_LATEST;
	n->end = end;
	return n;
}

static struct enode *
parse_number(struct parser *p)
{
	size_t start = p->pos, i = p->pos, end;
	char buf[64];
	double v;
	struct enode *n;

	while (isdigit((unsigned char)p->s[i]) || p->s[i] == '.')
		i++;
	if (isalpha((unsigned char)p->s[i])) {
		/* a duration: the whole alphanumeric run, e.g. 1h30m */
		int64_t ms;
		char derr[160];

		while (isalnum((unsigned char)p->s[i]) || p->s[i] == '.')
			i++;
		if (i - start >= sizeof(buf)) {
			perr(p, start, "number too long");
			return NULL;
		}
		memcpy(buf, p->s + start, i - start);
		buf[i - start] = '\0';
		if (duration_parse(buf, &ms, derr, sizeof(derr)) != 0) {
			perr(p, start, "bad duration %s", derr);
			return NULL;
		}
		v = (double)ms / 1000.0;
		end = i;
	} else {
		char *e;

		if (i - start >= sizeof(buf)) {
			perr(p, start, "number too long");
			return NULL;
		}
		memcpy(buf, p->s + start, i - start);
		buf[i - start] = '\0';
		v = strtod(buf, &e);
		if (e == buf || *e != '\0' || !isfinite(v)) {
			perr(p, start, "bad number '%s'", buf);
			return NULL;
		}
		end = i;
		if (p->s[i] == '%') {
			v /= 100.0;
			end = i + 1;
		}
	}
	p->pos = end;
	n = node_new(p, N_NUM, start, NULL, NULL);
	if (n == NULL)
		return NULL;
	n->num = v;
	n->end = end;
	return n;
}

static struct enode *
parse_primary(struct parser *p)
{
	size_t start;
	unsigned char c;

	skip_ws(p);
	start = p->pos;
	c = (unsigned char)p->s[p->pos];
	if (isdigit(c) || (c == '.' && isdigit((unsigned char)p->s[p->pos + 1])))
		return parse_number(p);
	if (c == '(') {
		struct enode *n;

		p->pos++;
		n = parse_or(p);
		if (n == NULL)
			return NULL;
		if (!accept(p, ")")) {
			unexpected(p, "')'");
			node_free(n);
			return NULL;
		}
		n->start = start;
		n->end = p->pos;
		return n;
	}
	if (ident_char(c, 1)) {
		size_t i = p->pos, end, f;

		while (ident_char((unsigned char)p->s[i], 0))
			i++;
		end = i;
		p->pos = end;
		skip_ws(p);
		if (p->s[p->pos] != '(')
			return parse_metric_name(p, start, end);
		/* a window function */
		for (f = 0; f < NFNS; f++)
			if (strlen(fns[f].name) == end - start &&
			    strncmp(fns[f].name, p->s + start, end - start) == 0)
				break;
		if (f == NFNS) {
			perr(p, start, "unknown function '%.*s' (known: rate, avg, min, max, sum, "
			    "count, p50, p95, p99)", (int)(end - start), p->s + start);
			return NULL;
		}
		p->pos++;
		skip_ws(p);
		{
			size_t mstart = p->pos, mend;
			struct enode *m, *w;

			if (!ident_char((unsigned char)p->s[p->pos], 1)) {
				unexpected(p, "a metric name");
				return NULL;
			}
			while (ident_char((unsigned char)p->s[p->pos], 0))
				p->pos++;
			mend = p->pos;
			m = parse_metric_name(p, mstart, mend);
			if (m == NULL)
				return NULL;
			if (!accept(p, ",")) {
				unexpected(p, "',' and a window (e.g. 10m)");
				node_free(m);
				return NULL;
			}
			skip_ws(p);
			if (!isdigit((unsigned char)p->s[p->pos])) {
				unexpected(p, "a window duration (e.g. 10m)");
				node_free(m);
				return NULL;
			}
			{
				size_t wstart = p->pos;

				w = parse_number(p);
				if (w == NULL) {
					node_free(m);
					return NULL;
				}
				if (!isalpha((unsigned char)p->s[wstart + strspn(p->s + wstart, "0123456789.")])) {
					perr(p, wstart, "the window must be a duration with a unit (e.g. 10m)");
					node_free(m);
					node_free(w);
					return NULL;
				}
				if (w->num <= 0) {
					perr(p, wstart, "the window must be longer than 0");
					node_free(m);
					node_free(w);
					return NULL;
				}
				m->window_ms = (int64_t)llround(w->num * 1000.0);
				node_free(w);
			}
			if (!accept(p, ")")) {
				unexpected(p, "')'");
				node_free(m);
				return NULL;
			}
			m->fn = fns[f].fn;
			m->start = start;
			m->end = p->pos;
			return m;
		}
	}
	unexpected(p, "a number, a metric, a function or '('");
	return NULL;
}

static struct enode *
parse_unary(struct parser *p)
{
	size_t start;
	struct enode *n;

	skip_ws(p);
	start = p->pos;
	if (++p->depth > EXPR_MAX_DEPTH) {
		perr(p, start, "expression nested too deeply");
		return NULL;
	}
	if (accept(p, "!")) {
		n = parse_unary(p);
		if (n != NULL && !is_bool(n)) {
			perr(p, n->start, "'!' needs a condition, not a number "
			    "(write !(a < b) with parentheses)");
			node_free(n);
			n = NULL;
		}
		n = n ? node_new(p, N_NOT, start, n, NULL) : NULL;
	} else if (accept(p, "-")) {
		n = parse_unary(p);
		if (n != NULL && is_bool(n)) {
			perr(p, n->start, "'-' needs a number, not a condition");
			node_free(n);
			n = NULL;
		}
		n = n ? node_new(p, N_NEG, start, n, NULL) : NULL;
	} else {
		n = parse_primary(p);
	}
	if (n != NULL)
		n->start = start;
	p->depth--;
	return n;
}

/* Binary left-associative level.  OPS/KINDS list the operators of this level. */
static struct enode *
parse_binary(struct parser *p, struct enode *(*sub)(struct parser *), const char *const *ops,
    const enum node_kind *kinds, int operands_bool)
{
	struct enode *l = sub(p);

	while (l != NULL) {
		size_t i, at;
		struct enode *r;

		skip_ws(p);
		at = p->pos;
		for (i = 0; ops[i] != NULL; i++)
			if (accept(p, ops[i]))
				break;
		if (ops[i] == NULL)
			break;
		if (is_bool(l) != operands_bool) {
			perr(p, at, "'%s' needs %s on its left", ops[i],
			    operands_bool ? "a condition, not a number" : "a number, not a condition");
			node_free(l);
			return NULL;
		}
		r = sub(p);
		if (r == NULL) {
			node_free(l);
			return NULL;
		}
		if (is_bool(r) != operands_bool) {
			perr(p, r->start, "'%s' needs %s on its right", ops[i],
			    operands_bool ? "a condition, not a number" : "a number, not a condition");
			node_free(l);
			node_free(r);
			return NULL;
		}
		{
			size_t start = l->start;

			l = node_new(p, kinds[i], start, l, r);
		}
	}
	return l;
}

static struct enode *
parse_term(struct parser *p)
{
	static const char *const ops[] = { "*", "/", NULL };
	static const enum node_kind kinds[] = { N_MUL, N_DIV };

	return parse_binary(p, parse_unary, ops, kinds, 0);
}

static struct enode *
parse_sum(struct parser *p)
{
	static const char *const ops[] = { "+", "-", NULL };
	static const enum node_kind kinds[] = { N_ADD, N_SUB };

	return parse_binary(p, parse_term, ops, kinds, 0);
}

static struct enode *
parse_cmp(struct parser *p)
{
	static const char *const ops[] = { "<=", ">=", "==", "!=", "<", ">", NULL };
	static const enum node_kind kinds[] = { N_LE, N_GE, N_EQ, N_NE, N_LT, N_GT };
	struct enode *l = parse_sum(p), *r;
	size_t i, at;

	if (l == NULL)
		return NULL;
	skip_ws(p);
	at = p->pos;
	for (i = 0; ops[i] != NULL; i++)
		if (accept(p, ops[i]))
			break;
	if (ops[i] == NULL)
		return l;
	if (is_bool(l)) {
		perr(p, at, "'%s' compares numbers, not conditions", ops[i]);
		node_free(l);
		return NULL;
	}
	r = parse_sum(p);
	if (r == NULL) {
		node_free(l);
		return NULL;
	}
	if (is_bool(r)) {
		perr(p, r->start, "'%s' compares numbers, not conditions", ops[i]);
		node_free(l);
		node_free(r);
		return NULL;
	}
	skip_ws(p);
	for (size_t j = 0; ops[j] != NULL; j++) {
		if (strncmp(p->s + p->pos, ops[j], strlen(ops[j])) == 0) {
			perr(p, p->pos, "comparisons cannot be chained; use && between them");
			node_free(l);
			node_free(r);
			return NULL;
		}
	}
	return node_new(p, kinds[i], l->start, l, r);
}

static struct enode *
parse_and(struct parser *p)
{
	static const char *const ops[] = { "&&", NULL };
	static const enum node_kind kinds[] = { N_AND };

	return parse_binary(p, parse_cmp, ops, kinds, 1);
}

static struct enode *
parse_or(struct parser *p)
{
	static const char *const ops[] = { "||", NULL };
	static const enum node_kind kinds[] = { N_OR };
	struct enode *n;

	if (++p->depth > EXPR_MAX_DEPTH) {
		perr(p, p->pos, "expression nested too deeply");
		return NULL;
	}
	n = parse_binary(p, parse_and, ops, kinds, 1);
	p->depth--;
	return n;
}

int
expr_parse(const char *text, struct expr **out, int *errcol, char *err, size_t errlen)
{
	struct parser p = { 0 };
	struct expr *e;
	struct enode *root;

	*out = NULL;
	*errcol = 0;
	if (errlen > 0)
		err[0] = '\0';
	p.s = text;
	p.err = err;
	p.errlen = errlen;
	if (strlen(text) > EXPR_MAX_LEN) {
		*errcol = 1;
		snprintf(err, errlen, "expression too long (more than %d characters)", EXPR_MAX_LEN);
		return -EINVAL;
	}
	skip_ws(&p);
	if (text[p.pos] == '\0') {
		*errcol = 1;
		snprintf(err, errlen, "empty expression");
		return -EINVAL;
	}
	root = parse_or(&p);
	if (root != NULL) {
		skip_ws(&p);
		if (text[p.pos] != '\0') {
			unexpected(&p, "an operator or the end of the expression");
			node_free(root);
			root = NULL;
		} else if (!is_bool(root)) {
			perr(&p, root->start, "the expression is a number, not a condition "
			    "(compare it: ... < 0.005)");
			node_free(root);
			root = NULL;
		}
	}
	if (root == NULL) {
		*errcol = p.errcol > 0 ? p.errcol : 1;
		if (!p.failed)
			snprintf(err, errlen, "syntax error");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->text = strdup(text)) == NULL) {
		free(e);
		node_free(root);
		*errcol = 1;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->root = root;
	*out = e;
	return 0;
}

void
expr_free(struct expr *e)
{
	if (e == NULL)
		return;
	node_free(e->root);
	free(e->text);
	free(e);
}

/* ---- evaluator ---------------------------------------------------------- */

struct num {
	double v;
	int known;
	const char *why;     /* when unknown */
	int sampled;         /* a metric operand that returned data */
	size_t ns;           /* its sample count */
};

struct evalctx {
	const struct expr *e;
	const struct expr_metrics *m;
	size_t min_samples;
	size_t samples;      /* fewest samples of a sampled operand; SIZE_MAX if none */
	char *detail;
	size_t dlen, doff;
	int have_cmp;
	double lhs, rhs;
};

static void
dappend(struct evalctx *c, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (c->doff >= c->dlen)
		return;
	va_start(ap, fmt);
	w = vsnprintf(c->detail + c->doff, c->dlen - c->doff, fmt, ap);
	va_end(ap);
	if (w > 0)
		c->doff += (size_t)w;
	if (c->doff >= c->dlen)
		c->doff = c->dlen;
}

static int
is_counter_fn(enum expr_fn fn)
{
	return fn == EXPR_FN_RATE || fn == EXPR_FN_COUNT || fn == EXPR_FN_SUM;
}

static struct num
eval_metric(struct evalctx *c, const struct enode *n)
{
	struct num r = { NAN, 0, NULL, 0, 0 };
	size_t ns = 0;
	double v = NAN;
	int rc;

	if (c->m == NULL) {
		r.why = "no metrics";
		return r;
	}
	if (n->fn == EXPR_FN_LATEST)
		rc = c->m->latest ? c->m->latest(c->m->ctx, n->metric, &v, &ns) : -ENOENT;
	else
		rc = c->m->window ? c->m->window(c->m->ctx, n->metric, n->fn, n->window_ms, &v, &ns) :
		    -ENOENT;

	if (is_counter_fn(n->fn)) {
		/* An empty window of a counter is zero events, not missing data. */
		if (rc == -ENOENT || (rc == 0 && ns == 0)) {
			r.v = 0;
			r.known = 1;
			return r;
		}
	}
	if (rc != 0) {
		r.why = "no data";
		return r;
	}
	r.sampled = 1;
	r.ns = ns;
	if (ns < c->samples)
		c->samples = ns;
	/* min_samples guards estimates (latest, avg, min, max, pNN), not event counts */
	if (!is_counter_fn(n->fn) && (ns < c->min_samples || ns == 0)) {
		r.why = "too few samples";
		return r;
	}
	if (!isfinite(v)) {
		r.why = isnan(v) ? "NaN" : "infinite";
		return r;
	}
	r.v = v;
	r.known = 1;
	return r;
}

static struct num
eval_num(struct evalctx *c, const struct enode *n)
{
	struct num a, b, r = { NAN, 0, NULL, 0, 0 };

	switch (n->kind) {
	case N_NUM:
		r.v = n->num;
		r.known = 1;
		return r;
	case N_METRIC:
		return eval_metric(c, n);
	case N_NEG:
		a = eval_num(c, n->l);
		if (a.known)
			a.v = -a.v;
		return a;
	case N_ADD: case N_SUB: case N_MUL: case N_DIV:
		a = eval_num(c, n->l);
		b = eval_num(c, n->r);
		if (!a.known)
			return a;
		if (!b.known)
			return b;
		r.sampled = 0;
		if (n->kind == N_DIV && b.v == 0) {
			r.why = "division by zero";
			return r;
		}
		r.v = n->kind == N_ADD ? a.v + b.v : n->kind == N_SUB ? a.v - b.v :
		    n->kind == N_MUL ? a.v * b.v : a.v / b.v;
		if (!isfinite(r.v)) {
			r.why = "not a finite number";
			r.v = NAN;
			return r;
		}
		r.known = 1;
		return r;
	default:
		r.why = "not a number";
		return r;
	}
}

static void
describe_side(struct evalctx *c, const struct enode *n, const struct num *v)
{
	int len = (int)(n->end - n->start);
	const char *src = c->e->text + n->start;

	if (n->kind == N_NUM) {
		dappend(c, "%.*s", len, src);
		return;
	}
	if (v->known)
		dappend(c, "%.*s = %.6g", len, src, v->v);
	else
		dappend(c, "%.*s = ? (%s)", len, src, v->why ? v->why : "unknown");
	if (n->kind == N_METRIC && v->sampled)
		dappend(c, " (%zu sample%s)", v->ns, v->ns == 1 ? "" : "s");
}

static const char *
cmp_op(enum node_kind k)
{
	switch (k) {
	case N_LT: return "<";
	case N_LE: return "<=";
	case N_GT: return ">";
	case N_GE: return ">=";
	case N_EQ: return "==";
	case N_NE: return "!=";
	default: return "?";
	}
}

static enum verdict
eval_bool(struct evalctx *c, const struct enode *n)
{
	struct num a, b;
	enum verdict x, y;
	int t;

	switch (n->kind) {
	case N_LT: case N_LE: case N_GT: case N_GE: case N_EQ: case N_NE:
		a = eval_num(c, n->l);
		b = eval_num(c, n->r);
		if (!c->have_cmp) {
			c->have_cmp = 1;
			c->lhs = a.known ? a.v : NAN;
			c->rhs = b.known ? b.v : NAN;
		}
		describe_side(c, n->l, &a);
		dappend(c, " %s ", cmp_op(n->kind));
		describe_side(c, n->r, &b);
		if (!a.known || !b.known)
			return VERDICT_INCONCLUSIVE;
		switch (n->kind) {
		case N_LT: t = a.v < b.v; break;
		case N_LE: t = a.v <= b.v; break;
		case N_GT: t = a.v > b.v; break;
		case N_GE: t = a.v >= b.v; break;
		case N_EQ: t = a.v == b.v; break;
		default: t = a.v != b.v; break;
		}
		return t ? VERDICT_PASS : VERDICT_FAIL;
	case N_NOT:
		dappend(c, "!(");
		x = eval_bool(c, n->l);
		dappend(c, ")");
		return x == VERDICT_PASS ? VERDICT_FAIL : x == VERDICT_FAIL ? VERDICT_PASS :
		    VERDICT_INCONCLUSIVE;
	case N_AND: case N_OR:
		/* Both sides are always evaluated so the detail shows every value seen. */
		dappend(c, "(");
		x = eval_bool(c, n->l);
		dappend(c, n->kind == N_AND ? ") && (" : ") || (");
		y = eval_bool(c, n->r);
		dappend(c, ")");
		if (n->kind == N_AND) {
			if (x == VERDICT_FAIL || y == VERDICT_FAIL)
				return VERDICT_FAIL;
			if (x == VERDICT_INCONCLUSIVE || y == VERDICT_INCONCLUSIVE)
				return VERDICT_INCONCLUSIVE;
			return VERDICT_PASS;
		}
		if (x == VERDICT_PASS || y == VERDICT_PASS)
			return VERDICT_PASS;
		if (x == VERDICT_INCONCLUSIVE || y == VERDICT_INCONCLUSIVE)
			return VERDICT_INCONCLUSIVE;
		return VERDICT_FAIL;
	default:
		return VERDICT_INCONCLUSIVE;
	}
}

static void
expr_run(const struct expr *e, const struct expr_metrics *m, size_t min_samples,
    struct expr_result *res, int detail)
{
	struct evalctx c = { 0 };

	memset(res, 0, sizeof(*res));
	res->lhs = NAN;
	res->rhs = NAN;
	if (e == NULL || e->root == NULL) {
		res->verdict = VERDICT_INCONCLUSIVE;
		snprintf(res->detail, sizeof(res->detail), "no expression");
		return;
	}
	c.e = e;
	c.m = m;
	c.min_samples = min_samples;
	c.samples = SIZE_MAX;
	c.detail = res->detail;
	c.dlen = detail ? sizeof(res->detail) : 0;     /* 0: dappend() writes nothing */
	res->verdict = eval_bool(&c, e->root);
	if (c.have_cmp) {
		res->lhs = c.lhs;
		res->rhs = c.rhs;
	}
	res->samples = c.samples == SIZE_MAX ? 0 : c.samples;
}

void
expr_eval(const struct expr *e, const struct expr_metrics *m, size_t min_samples,
    struct expr_result *res)
{
	expr_run(e, m, min_samples, res, 1);
}

void
expr_verdict(const struct expr *e, const struct expr_metrics *m, size_t min_samples,
    struct expr_result *res)
{
	expr_run(e, m, min_samples, res, 0);
}

static void
foreach_node(const struct enode *n, void (*fn)(void *ctx, const char *name), void *ctx)
{
	if (n == NULL)
		return;
	if (n->kind == N_METRIC)
		fn(ctx, n->metric);
	foreach_node(n->l, fn, ctx);
	foreach_node(n->r, fn, ctx);
}

void
expr_foreach_metric(const struct expr *e, void (*fn)(void *ctx, const char *name), void *ctx)
{
	if (e != NULL)
		foreach_node(e->root, fn, ctx);
}

const char *
verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_PASS: return "pass";
	case VERDICT_FAIL: return "fail";
	case VERDICT_INCONCLUSIVE: return "inconclusive";
	}
	return "unknown";
}

/*
 * plan.c — load and check a rollout plan (rolloutd.plan(5)).  See plan.h.
 *
 * Two stages.  Stage one reads the top file and, depth first in the order
 * the keys are written, every file it includes; it records each file's
 * `flags`, `triggers` and `phases` blocks as sections in merge order.
 * Stage two checks the top-level keys, then all flag declarations (so a
 * phase may set a flag an include declares later), then the phases, then
 * the triggers (which name phases), then the cross-phase rules (monotone
 * traffic).  Errors are collected with their position and reported sorted
 * by file (in load order), line and column, so the output reads top down.
 */
#include "plan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sodium.h>

#include "chain.h"
#include "duration.h"

#define PLAN_MAX_BYTES (1024 * 1024)
#define PLAN_MAX_INCLUDE_DEPTH 16
#define PLAN_MAX_ERRORS 200

/* ---- private types ------------------------------------------------------ */

struct plan_priv {
	struct ynode **docs;          /* every loaded file, in load order */
	size_t ndocs;
};

struct plan_err {
	size_t doc;                   /* load order of the file (SIZE_MAX: none) */
	int line, col;
	size_t seq;
	char *msg;                    /* complete "FILE:LINE:COLUMN: message" */
};

enum section_kind { SEC_FLAGS = 1, SEC_TRIGGERS, SEC_PHASES };

struct section {
	enum section_kind kind;
	const struct ynode *node;
};

struct loader {
	struct plan *p;
	struct plan_priv *pv;
	struct plan_err *errs;
	size_t nerrs, caperrs;
	struct section *secs;
	size_t nsecs, capsecs;
	char *stack[PLAN_MAX_INCLUDE_DEPTH + 1];   /* real paths of the files being read */
	char *shown[PLAN_MAX_INCLUDE_DEPTH + 1];   /* the same, as shown to the user */
	int depth;
	crypto_hash_sha256_state sha;
	int oom;
};

/* The built-in flags (flags/flags.h). */
static const struct {
	const char *name;
	enum plan_value_type type;
	long long min, max;
} builtin_flags[] = {
	{ "enableHybridSystem", PLAN_VAL_BOOL, 0, 1 },
	{ "enableParallelMode", PLAN_VAL_BOOL, 0, 1 },
	{ "hybridTrafficPercent", PLAN_VAL_INT, 0, 100 },
	{ "emergencyRollback", PLAN_VAL_BOOL, 0, 1 },
	{ "rolloutPhase", PLAN_VAL_STRING, 0, 0 },
};
#define NBUILTIN (sizeof(builtin_flags) / sizeof(builtin_flags[0]))

static const char *const top_keys[] = { "version", "name", "chain", "salt", "tick", "systems",
	"alerting", "rules", "flags", "triggers", "phases", "include", NULL };
static const char *const include_keys[] = { "include", "flags", "triggers", "phases", NULL };
static const char *const systems_keys[] = { "baseline", "candidate", NULL };
static const char *const system_keys[] = { "plugin", "with", NULL };
static const char *const flag_keys[] = { "type", "default", "min", "max", NULL };
static const char *const trigger_keys[] = { "name", "when", "for", "match", "count", "source",
	"from", "on_fail", NULL };
static const char *const phase_keys[] = { "name", "set", "hold", "steps", "gates", "on_fail", NULL };
static const char *const step_keys[] = { "traffic", "hold", "approve", "drill", "call", "set", NULL };
static const char *const call_keys[] = { "system", "command", "arg", NULL };
static const char *const gate_keys[] = { "expr", "min_samples", "failure_limit",
	"consecutive_errors", NULL };

/* ---- errors ------------------------------------------------------------- */

static size_t
doc_index(const struct loader *l, const char *file)
{
	size_t i;

	for (i = 0; i < l->pv->ndocs; i++)
		if (l->pv->docs[i]->file == file)
			return i;
	return SIZE_MAX;
}

static void
add_err(struct loader *l, size_t doc, int line, int col, char *msg)
{
	if (msg == NULL) {
		l->oom = 1;
		return;
	}
	if (l->nerrs == l->caperrs) {
		size_t ncap = l->caperrs ? l->caperrs * 2 : 16;
		struct plan_err *e = realloc(l->errs, ncap * sizeof(*e));

		if (e == NULL) {
			free(msg);
			l->oom = 1;
			return;
		}
		l->errs = e;
		l->caperrs = ncap;
	}
	l->errs[l->nerrs].doc = doc;
	l->errs[l->nerrs].line = line;
	l->errs[l->nerrs].col = col;
	l->errs[l->nerrs].seq = l->nerrs;
	l->errs[l->nerrs].msg = msg;
	l->nerrs++;
}

/* An error at FILE:LINE:COL (FILE as interned by ynode, or any string when LINE is 0). */
static void __attribute__((format(printf, 5, 6)))
err_at(struct loader *l, const char *file, int line, int col, const char *fmt, ...)
{
	char body[768], *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (line > 0) {
		if (asprintf(&msg, "%s:%d:%d: %s", file, line, col, body) < 0)
			msg = NULL;
	} else if (asprintf(&msg, "%s: %s", file, body) < 0) {
		msg = NULL;
	}
	add_err(l, doc_index(l, file), line, col, msg);
}

#define err_node(l, n, ...) err_at((l), (n)->file, (n)->line, (n)->col, __VA_ARGS__)

/* A message (from ynode) that already has its position; DOC, LINE, COL sort it. */
static void
err_raw(struct loader *l, size_t doc, int line, int col, const char *text)
{
	add_err(l, doc, line, col, strdup(text));
}

static int
err_cmp(const void *a, const void *b)
{
	const struct plan_err *x = a, *y = b;

	if (x->doc != y->doc)
		return x->doc < y->doc ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "line 3, column 5" in the same file, else "FILE:3:5". */
static const char *
where(const struct ynode *here, const char *file, int line, int col, char *buf, size_t len)
{
	if (here != NULL && here->file == file)
		snprintf(buf, len, "line %d, column %d", line, col);
	else
		snprintf(buf, len, "%s:%d:%d", file, line, col);
	return buf;
}

/* ---- small helpers ------------------------------------------------------ */

/* Optimal string alignment distance (transpositions count 1), capped inputs. */
static int
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[33][33];

	if (la > 32 || lb > 32)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			int v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The closest of CANDIDATES to WORD when close enough, else NULL. */
static const char *
closest(const char *word, const char *const *cand, size_t n)
{
	const char *best = NULL;
	int bestd = 3;
	size_t i;

	for (i = 0; i < n && cand[i] != NULL; i++) {
		int d = edit_distance(word, cand[i]);
		int limit = strlen(cand[i]) <= 4 ? 1 : 2;

		if (d <= limit && d < bestd) {
			bestd = d;
			best = cand[i];
		}
	}
	return best;
}

static void
suggest(char *buf, size_t len, const char *word, const char *const *cand, size_t n)
{
	const char *c = closest(word, cand, n);

	if (c != NULL)
		snprintf(buf, len, " (did you mean '%s'?)", c);
	else
		buf[0] = '\0';
}

static size_t
count_list(const char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

/* Report every key of map N that is not in ALLOWED.  WHAT names the map. */
static void
check_keys(struct loader *l, const struct ynode *n, const char *const *allowed, const char *what)
{
	size_t i, j;
	char hint[96];

	for (i = 0; i < n->len; i++) {
		const char *k = n->keys[i]->scalar;

		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], k) == 0)
				break;
		if (allowed[j] != NULL)
			continue;
		suggest(hint, sizeof(hint), k, allowed, count_list(allowed));
		err_node(l, n->keys[i], "unknown key '%s' in %s%s", k, what, hint);
	}
}

static const struct ynode *
key_of(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; map != NULL && map->kind == YNODE_MAP && i < map->len; i++)
		if (strcmp(map->keys[i]->scalar, key) == 0)
			return map->keys[i];
	return NULL;
}

static int
want_kind(struct loader *l, const struct ynode *n, enum ynode_kind k, const char *what)
{
	if (n->kind == k)
		return 1;
	err_node(l, n, "%s must be a %s, not a %s", what, ynode_kind_name(k), ynode_kind_name(n->kind));
	return 0;
}

static char *
xstrdup(struct loader *l, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		l->oom = 1;
	return d;
}

/* A non-empty scalar string. */
static char *
get_string(struct loader *l, const struct ynode *n, const char *what)
{
	if (!want_kind(l, n, YNODE_SCALAR, what))
		return NULL;
	if (n->scalar[0] == '\0') {
		err_node(l, n, "%s must not be empty", what);
		return NULL;
	}
	return xstrdup(l, n->scalar);
}

/* A name: letters, digits, '-', '_', '.'; starting with a letter or digit. */
static char *
get_name(struct loader *l, const struct ynode *n, const char *what)
{
	const char *s;

	if (!want_kind(l, n, YNODE_SCALAR, what))
		return NULL;
	s = n->scalar;
	if (*s == '\0' || strlen(s) > 64 || !isalnum((unsigned char)*s) ||
	    s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")] != '\0') {
		err_node(l, n, "%s '%s' is not a valid name (letters, digits, '-', '_' and '.', "
		    "at most 64 characters)", what, s);
		return NULL;
	}
	return xstrdup(l, s);
}

static int
parse_ll(const char *s, long long *v)
{
	char *e;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoll(s, &e, 10);
	if (*e != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	return 0;
}

/* An unquoted integer in [MIN, MAX].  0 or -EINVAL (reported). */
static int
get_int(struct loader *l, const struct ynode *n, const char *what, long long min, long long max,
    long long *out)
{
	long long v;
	int rc;

	if (!want_kind(l, n, YNODE_SCALAR, what))
		return -EINVAL;
	rc = n->quoted ? -EINVAL : parse_ll(n->scalar, &v);
	if (rc != 0) {
		err_node(l, n, "%s must be an integer%s, got '%s'", what, n->quoted ? " (unquoted)" : "",
		    n->scalar);
		return -EINVAL;
	}
	if (v < min || v > max) {
		err_node(l, n, "%s must be between %lld and %lld, got %lld", what, min, max, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
get_bool(struct loader *l, const struct ynode *n, const char *what, int *out)
{
	if (!want_kind(l, n, YNODE_SCALAR, what))
		return -EINVAL;
	if (!n->quoted && strcmp(n->scalar, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (!n->quoted && strcmp(n->scalar, "false") == 0) {
		*out = 0;
		return 0;
	}
	err_node(l, n, "%s must be true or false, got %s'%s'", what, n->quoted ? "the string " : "",
	    n->scalar);
	return -EINVAL;
}

static int
get_duration(struct loader *l, const struct ynode *n, const char *what, int64_t *ms)
{
	char derr[200];

	if (!want_kind(l, n, YNODE_SCALAR, what))
		return -EINVAL;
	if (duration_parse(n->scalar, ms, derr, sizeof(derr)) != 0) {
		err_node(l, n, "%s: bad duration %s", what, derr);
		return -EINVAL;
	}
	return 0;
}

static int
get_on_fail(struct loader *l, const struct ynode *n, enum plan_on_fail *out)
{
	static const char *const names[] = { "rollback", "pause", "abort", NULL };
	char hint[96];

	if (!want_kind(l, n, YNODE_SCALAR, "on_fail"))
		return -EINVAL;
	if (strcmp(n->scalar, "rollback") == 0)
		*out = ON_FAIL_ROLLBACK;
	else if (strcmp(n->scalar, "pause") == 0)
		*out = ON_FAIL_PAUSE;
	else if (strcmp(n->scalar, "abort") == 0)
		*out = ON_FAIL_ABORT;
	else {
		suggest(hint, sizeof(hint), n->scalar, names, 3);
		err_node(l, n, "on_fail must be rollback, pause or abort, got '%s'%s", n->scalar, hint);
		return -EINVAL;
	}
	return 0;
}

/*
 * Column in the file of byte OFFSET of scalar N's text (plain or quoted, one
 * line).  libyaml counts columns in characters, so UTF-8 continuation bytes
 * before OFFSET do not count.
 */
static int
scalar_col(const struct ynode *n, int offset)
{
	int i, chars = 0;

	for (i = 0; i < offset && n->scalar[i] != '\0'; i++)
		if (((unsigned char)n->scalar[i] & 0xC0) != 0x80)
			chars++;
	return n->col + (n->quoted ? 1 : 0) + chars;
}

static struct expr *
get_expr(struct loader *l, const struct ynode *n, const char *what, char **text)
{
	struct expr *e = NULL;
	char msg[256];
	int col;

	if (!want_kind(l, n, YNODE_SCALAR, what))
		return NULL;
	if (expr_parse(n->scalar, &e, &col, msg, sizeof(msg)) != 0) {
		err_at(l, n->file, n->line, scalar_col(n, col - 1), "%s: %s", what, msg);
		return NULL;
	}
	*text = xstrdup(l, n->scalar);
	return e;
}

/* ---- files and includes ------------------------------------------------- */

static int
add_section(struct loader *l, enum section_kind k, const struct ynode *n)
{
	if (l->nsecs == l->capsecs) {
		size_t ncap = l->capsecs ? l->capsecs * 2 : 8;
		struct section *s = realloc(l->secs, ncap * sizeof(*s));

		if (s == NULL) {
			l->oom = 1;
			return -ENOMEM;
		}
		l->secs = s;
		l->capsecs = ncap;
	}
	l->secs[l->nsecs].kind = k;
	l->secs[l->nsecs].node = n;
	l->nsecs++;
	return 0;
}

static int
add_doc(struct loader *l, struct ynode *doc)
{
	struct ynode **d = realloc(l->pv->docs, (l->pv->ndocs + 1) * sizeof(*d));

	if (d == NULL) {
		l->oom = 1;
		return -ENOMEM;
	}
	l->pv->docs = d;
	d[l->pv->ndocs++] = doc;
	return 0;
}

/*
 * Read SHOWN (the path as the user sees it) into a buffer.  Errors are
 * reported at AT (the include: entry) or, for the top file, without a
 * position.  Returns 0 or -errno.
 */
static int
read_plan_file(struct loader *l, const char *shown, const struct ynode *at, char **buf, size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t n = 0;
	int fd, rc;

	fd = open(shown, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EISDIR;
		if (at != NULL)
			err_node(l, at, "cannot include '%s': not a regular file", at->scalar);
		else
			err_at(l, shown, 0, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > PLAN_MAX_BYTES) {
		rc = -EFBIG;
		if (at != NULL)
			err_node(l, at, "cannot include '%s': file too large (%lld bytes; the limit is %d)",
			    at->scalar, (long long)st.st_size, PLAN_MAX_BYTES);
		else
			err_at(l, shown, 1, 1, "file too large (%lld bytes; the limit is %d)",
			    (long long)st.st_size, PLAN_MAX_BYTES);
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > (size_t)st.st_size) {
			rc = -EAGAIN;
			if (at != NULL)
				err_node(l, at, "cannot include '%s': the file changed while being read",
				    at->scalar);
			else
				err_at(l, shown, 0, 0, "the file changed while being read");
			goto out;
		}
	}
	b[n] = '\0';
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	if (at != NULL)
		err_node(l, at, "cannot include '%s': %s", at->scalar, strerror(-rc));
	else
		err_at(l, shown, 0, 0, "%s", strerror(-rc));
out:
	free(b);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int load_file(struct loader *l, const char *shown, const char *buf, size_t len,
    const struct ynode *at);

/* Resolve and load every entry of an include: node of the file SHOWN_FROM. */
static void
load_includes(struct loader *l, const struct ynode *inc, const char *shown_from)
{
	const struct ynode *const *items;
	const struct ynode *one[1];
	size_t n, i;

	if (inc->kind == YNODE_SCALAR) {
		one[0] = inc;
		items = one;
		n = 1;
	} else if (inc->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)inc->items;
		n = inc->len;
	} else {
		err_node(l, inc, "include must be a file name or a list of file names, not a map");
		return;
	}
	for (i = 0; i < n; i++) {
		const struct ynode *it = items[i];
		const char *slash;
		char *shown = NULL, *buf = NULL;
		size_t len = 0;

		if (!want_kind(l, it, YNODE_SCALAR, "an include entry"))
			continue;
		if (it->scalar[0] == '\0') {
			err_node(l, it, "an include entry must not be empty");
			continue;
		}
		slash = strrchr(shown_from, '/');
		if (it->scalar[0] == '/' || slash == NULL) {
			shown = xstrdup(l, it->scalar);
		} else if (asprintf(&shown, "%.*s/%s", (int)(slash - shown_from), shown_from,
		    it->scalar) < 0) {
			shown = NULL;
			l->oom = 1;
		}
		if (shown == NULL)
			return;
		if (l->depth >= PLAN_MAX_INCLUDE_DEPTH) {
			err_node(l, it, "cannot include '%s': includes nested deeper than %d files",
			    it->scalar, PLAN_MAX_INCLUDE_DEPTH);
			free(shown);
			continue;
		}
		if (read_plan_file(l, shown, it, &buf, &len) == 0)
			load_file(l, shown, buf, len, it);
		free(buf);
		free(shown);
	}
}

/*
 * Parse one file (SHOWN, contents BUF) and record its sections; AT is the
 * include: entry that named it (NULL for the top file).
 */
static int
load_file(struct loader *l, const char *shown, const char *buf, size_t len, const struct ynode *at)
{
	struct ynode *doc = NULL;
	char err[768], *real;
	size_t i;
	int d, rc;

	real = realpath(shown, NULL);
	if (real == NULL)
		real = xstrdup(l, shown);
	if (real == NULL)
		return -ENOMEM;
	for (d = 0; d < l->depth; d++) {
		if (strcmp(l->stack[d], real) == 0) {
			char chain[1024];
			size_t off = 0;
			int k;

			for (k = d; k < l->depth && off < sizeof(chain); k++)
				off += (size_t)snprintf(chain + off, sizeof(chain) - off, "%s -> ",
				    l->shown[k]);
			if (off < sizeof(chain))
				snprintf(chain + off, sizeof(chain) - off, "%s", shown);
			err_node(l, at, "include cycle: %s", chain);
			free(real);
			return -ELOOP;
		}
	}
	crypto_hash_sha256_update(&l->sha, (const unsigned char *)buf, len);
	rc = ynode_load_buffer(shown, buf, len, &doc, err, sizeof(err));
	if (rc != 0) {
		/* An error inside an included file sorts where the include: is. */
		size_t docidx = at ? doc_index(l, at->file) : l->pv->ndocs;
		size_t sl = strlen(shown);
		int line = 0, col = 0;

		if (rc == -ENODATA || (strncmp(err, shown, sl) == 0 && strncmp(err + sl, ": ", 2) == 0)) {
			/* no position: place it at 1:1 so every report has one */
			const char *msg = rc == -ENODATA ? (at ? "the file is empty" :
			    "the file is empty (a plan needs at least version, name and phases)") :
			    err + sl + 2;
			char *full = NULL;

			if (asprintf(&full, "%s:1:1: %s", shown, msg) < 0)
				full = NULL;
			add_err(l, docidx, at ? at->line : 1, at ? at->col : 1, full);
		} else {
			if (strncmp(err, shown, sl) == 0)
				sscanf(err + sl, ":%d:%d", &line, &col);
			err_raw(l, docidx, at ? at->line : line, at ? at->col : col, err);
		}
		free(real);
		return rc;
	}
	if (add_doc(l, doc) != 0) {
		ynode_free(doc);
		free(real);
		return -ENOMEM;
	}
	if (doc->kind != YNODE_MAP) {
		err_node(l, doc, "%s must be a map of keys, not a %s",
		    at ? "an included file" : "a plan", ynode_kind_name(doc->kind));
		free(real);
		return -EINVAL;
	}
	l->stack[l->depth] = real;
	l->shown[l->depth] = (char *)doc->file;
	l->depth++;
	if (at != NULL) {
		for (i = 0; i < doc->len; i++) {
			const char *k = doc->keys[i]->scalar;
			size_t j;

			for (j = 0; include_keys[j] != NULL; j++)
				if (strcmp(k, include_keys[j]) == 0)
					break;
			if (include_keys[j] != NULL)
				continue;
			for (j = 0; top_keys[j] != NULL; j++)
				if (strcmp(k, top_keys[j]) == 0)
					break;
			if (top_keys[j] != NULL)
				err_node(l, doc->keys[i], "'%s' belongs in the top plan file; an included "
				    "file may hold only include, flags, triggers and phases", k);
			else {
				char hint[96];

				suggest(hint, sizeof(hint), k, include_keys, count_list(include_keys));
				err_node(l, doc->keys[i], "unknown key '%s' in an included file%s", k, hint);
			}
		}
	} else {
		check_keys(l, doc, top_keys, "the plan");
	}
	for (i = 0; i < doc->len; i++) {
		const char *k = doc->keys[i]->scalar;

		if (strcmp(k, "include") == 0)
			load_includes(l, doc->items[i], doc->file);
		else if (strcmp(k, "flags") == 0)
			add_section(l, SEC_FLAGS, doc->items[i]);
		else if (strcmp(k, "triggers") == 0)
			add_section(l, SEC_TRIGGERS, doc->items[i]);
		else if (strcmp(k, "phases") == 0)
			add_section(l, SEC_PHASES, doc->items[i]);
	}
	l->depth--;
	free(l->stack[l->depth]);
	l->stack[l->depth] = NULL;
	return 0;
}

/* ---- top-level keys ----------------------------------------------------- */

static void
check_system(struct loader *l, const struct ynode *n, const char *role, struct plan_system *s)
{
	const struct ynode *v;
	char what[64];

	s->pos.file = n->file;
	s->pos.line = n->line;
	s->pos.col = n->col;
	s->role = xstrdup(l, role);
	snprintf(what, sizeof(what), "%s", role);
	if (!want_kind(l, n, YNODE_MAP, what))
		return;
	check_keys(l, n, system_keys, what);
	v = ynode_get(n, "plugin");
	if (v == NULL)
		err_node(l, n, "%s needs a plugin: (the plugin's file name without .so)", role);
	else
		s->plugin = get_name(l, v, "plugin");
	v = ynode_get(n, "with");
	if (v != NULL && want_kind(l, v, YNODE_MAP, "with"))
		s->with = v;
}

/* A file with only the keys an included file may have (and at least one of them). */
static int
is_fragment(const struct ynode *doc)
{
	size_t i, j;

	if (doc->len == 0)
		return 0;
	for (i = 0; i < doc->len; i++) {
		for (j = 0; include_keys[j] != NULL; j++)
			if (strcmp(doc->keys[i]->scalar, include_keys[j]) == 0)
				break;
		if (include_keys[j] == NULL)
			return 0;
	}
	return 1;
}

static void
check_top(struct loader *l, const struct ynode *doc)
{
	struct plan *p = l->p;
	const struct ynode *v;
	long long ll;

	if (is_fragment(doc)) {
		err_at(l, doc->file, doc->line, doc->col, "this is a plan fragment (no version:, name: "
		    "or systems:); check the plan that includes it");
		return;
	}
	v = ynode_get(doc, "version");
	if (v == NULL)
		err_at(l, doc->file, doc->line, doc->col, "missing required key 'version' (write version: 1)");
	else if (get_int(l, v, "version", LLONG_MIN, LLONG_MAX, &ll) == 0) {
		if (ll != 1)
			err_node(l, v, "unsupported plan version %lld (this rolloutd reads version 1)", ll);
		else
			p->version = 1;
	}

	v = ynode_get(doc, "name");
	if (v == NULL)
		err_at(l, doc->file, doc->line, doc->col, "missing required key 'name'");
	else
		p->name = get_string(l, v, "name");

	v = ynode_get(doc, "chain");
	if (v == NULL) {
		p->chain = xstrdup(l, CHAIN_DEFAULT);
	} else if (want_kind(l, v, YNODE_SCALAR, "chain")) {
		if (chain_find(v->scalar) != NULL) {
			p->chain = xstrdup(l, v->scalar);
		} else {
			const struct chain_preset *c;
			char list[256] = "";
			size_t off = 0;

			for (c = chain_presets(); c->name != NULL && off < sizeof(list); c++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
				    off ? ", " : "", c->name);
			err_node(l, v, "unknown chain '%s' (presets: %s)", v->scalar, list);
		}
	}

	v = ynode_get(doc, "salt");
	if (v != NULL)
		p->salt = get_string(l, v, "salt");

	p->tick_ms = 10000;
	v = ynode_get(doc, "tick");
	if (v != NULL && get_duration(l, v, "tick", &p->tick_ms) == 0 && p->tick_ms < 100) {
		err_node(l, v, "tick must be at least 100ms");
		p->tick_ms = 10000;
	}

	v = ynode_get(doc, "systems");
	if (v == NULL) {
		err_at(l, doc->file, doc->line, doc->col,
		    "missing required key 'systems' (baseline and candidate)");
	} else if (want_kind(l, v, YNODE_MAP, "systems")) {
		const struct ynode *s;

		check_keys(l, v, systems_keys, "systems");
		s = ynode_get(v, "baseline");
		if (s == NULL)
			err_node(l, v, "systems needs a baseline: system");
		else
			check_system(l, s, "baseline", &p->baseline);
		s = ynode_get(v, "candidate");
		if (s == NULL)
			err_node(l, v, "systems needs a candidate: system");
		else
			check_system(l, s, "candidate", &p->candidate);
	}

	v = ynode_get(doc, "alerting");
	if (v != NULL)
		check_system(l, v, "alerting", &p->alerting);

	v = ynode_get(doc, "rules");
	if (v != NULL && want_kind(l, v, YNODE_MAP, "rules"))
		p->rules = v;
}

/* ---- flags -------------------------------------------------------------- */

static int
builtin_index(const char *name)
{
	size_t i;

	for (i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin_flags[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const char *
type_name(enum plan_value_type t)
{
	return t == PLAN_VAL_BOOL ? "bool" : t == PLAN_VAL_INT ? "int" : "string";
}

static void
check_flag_decl(struct loader *l, const struct ynode *key, const struct ynode *n)
{
	struct plan *p = l->p;
	struct plan_flag_decl *d, *nd;
	const struct ynode *v;
	const char *name = key->scalar;
	size_t i;
	long long ll;

	if (builtin_index(name) >= 0) {
		err_node(l, key, "flag '%s' is built in and cannot be declared again", name);
		return;
	}
	if (!isalpha((unsigned char)name[0]) || strlen(name) > 63 ||
	    name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")] != '\0') {
		err_node(l, key, "flag name '%s' is not valid (a letter, then letters, digits or '_'; "
		    "at most 63)", name);
		return;
	}
	for (i = 0; i < p->nflags; i++) {
		if (strcmp(p->flags[i].name, name) == 0) {
			char w[300];

			err_node(l, key, "flag '%s' is declared twice (first at %s)", name,
			    where(key, p->flags[i].pos.file, p->flags[i].pos.line, p->flags[i].pos.col,
			    w, sizeof(w)));
			return;
		}
	}
	if (!want_kind(l, n, YNODE_MAP, "a flag declaration"))
		return;
	check_keys(l, n, flag_keys, "a flag declaration");
	nd = realloc(p->flags, (p->nflags + 1) * sizeof(*nd));
	if (nd == NULL) {
		l->oom = 1;
		return;
	}
	p->flags = nd;
	d = &p->flags[p->nflags++];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(l, name);
	d->pos.file = key->file;
	d->pos.line = key->line;
	d->pos.col = key->col;
	d->min = LLONG_MIN;
	d->max = LLONG_MAX;

	v = ynode_get(n, "type");
	if (v == NULL) {
		err_node(l, n, "flag '%s' needs a type: (bool, int or string)", name);
		d->type = PLAN_VAL_STRING;
	} else if (want_kind(l, v, YNODE_SCALAR, "type")) {
		if (strcmp(v->scalar, "bool") == 0)
			d->type = PLAN_VAL_BOOL;
		else if (strcmp(v->scalar, "int") == 0)
			d->type = PLAN_VAL_INT;
		else if (strcmp(v->scalar, "string") == 0)
			d->type = PLAN_VAL_STRING;
		else {
			static const char *const types[] = { "bool", "int", "string", NULL };
			char hint[96];

			suggest(hint, sizeof(hint), v->scalar, types, 3);
			err_node(l, v, "flag type must be bool, int or string, got '%s'%s", v->scalar, hint);
			d->type = PLAN_VAL_STRING;
		}
	}
	if (d->type != PLAN_VAL_INT) {
		if ((v = key_of(n, "min")) != NULL)
			err_node(l, v, "min applies only to int flags");
		if ((v = key_of(n, "max")) != NULL)
			err_node(l, v, "max applies only to int flags");
	} else {
		if ((v = ynode_get(n, "min")) != NULL && get_int(l, v, "min", LLONG_MIN, LLONG_MAX, &ll) == 0)
			d->min = ll;
		if ((v = ynode_get(n, "max")) != NULL && get_int(l, v, "max", LLONG_MIN, LLONG_MAX, &ll) == 0)
			d->max = ll;
		if (d->min > d->max) {
			err_node(l, ynode_get(n, "max"), "max %lld is below min %lld", d->max, d->min);
			d->max = d->min;
		}
	}
	v = ynode_get(n, "default");
	if (v == NULL) {
		if (d->type == PLAN_VAL_INT && d->min > 0)
			d->def_i = d->min;
		if (d->type == PLAN_VAL_INT && d->max < 0)
			d->def_i = d->max;
		if (d->type == PLAN_VAL_STRING)
			d->def_s = xstrdup(l, "");
		return;
	}
	switch (d->type) {
	case PLAN_VAL_BOOL:
		get_bool(l, v, "default", &d->def_b);
		break;
	case PLAN_VAL_INT:
		if (get_int(l, v, "default", d->min, d->max, &ll) == 0)
			d->def_i = ll;
		break;
	case PLAN_VAL_STRING:
		if (want_kind(l, v, YNODE_SCALAR, "default")) {
			if (strlen(v->scalar) > 127)
				err_node(l, v, "default is longer than 127 characters");
			else
				d->def_s = xstrdup(l, v->scalar);
		}
		break;
	}
}

/* ---- set: blocks -------------------------------------------------------- */

static void
check_sets(struct loader *l, const struct ynode *n, struct plan_set **out, size_t *nout)
{
	struct plan *p = l->p;
	size_t i, j;

	if (!want_kind(l, n, YNODE_MAP, "set"))
		return;
	if (n->len == 0)
		return;
	*out = calloc(n->len, sizeof(**out));
	if (*out == NULL) {
		l->oom = 1;
		return;
	}
	for (i = 0; i < n->len; i++) {
		const struct ynode *k = n->keys[i], *v = n->items[i];
		struct plan_set *s = &(*out)[*nout];
		enum plan_value_type type = 0;
		long long min = LLONG_MIN, max = LLONG_MAX;
		int b = builtin_index(k->scalar);
		char what[96];

		if (b >= 0) {
			type = builtin_flags[b].type;
			min = builtin_flags[b].min;
			max = builtin_flags[b].max;
		} else {
			for (j = 0; j < p->nflags; j++) {
				if (strcmp(p->flags[j].name, k->scalar) == 0) {
					type = p->flags[j].type;
					min = p->flags[j].min;
					max = p->flags[j].max;
					break;
				}
			}
		}
		if (type == 0) {
			const char **names = calloc(NBUILTIN + p->nflags + 1, sizeof(*names));
			char hint[96] = "";

			if (names != NULL) {
				for (j = 0; j < NBUILTIN; j++)
					names[j] = builtin_flags[j].name;
				for (j = 0; j < p->nflags; j++)
					names[NBUILTIN + j] = p->flags[j].name;
				suggest(hint, sizeof(hint), k->scalar, names, NBUILTIN + p->nflags);
				free(names);
			}
			err_node(l, k, "unknown flag '%s'%s (declare it under flags:)", k->scalar, hint);
			continue;
		}
		snprintf(what, sizeof(what), "%s (a%s %s flag)", k->scalar,
		    type == PLAN_VAL_INT ? "n" : "", type_name(type));
		s->type = type;
		switch (type) {
		case PLAN_VAL_BOOL:
			if (get_bool(l, v, what, &s->b) != 0)
				continue;
			break;
		case PLAN_VAL_INT:
			if (get_int(l, v, what, min, max, &s->i) != 0)
				continue;
			break;
		case PLAN_VAL_STRING:
			if (!want_kind(l, v, YNODE_SCALAR, what))
				continue;
			if (strlen(v->scalar) > 127) {
				err_node(l, v, "%s: value longer than 127 characters", k->scalar);
				continue;
			}
			s->s = xstrdup(l, v->scalar);
			break;
		}
		s->flag = xstrdup(l, k->scalar);
		s->pos.file = k->file;
		s->pos.line = k->line;
		s->pos.col = k->col;
		(*nout)++;
	}
}

/* ---- phases ------------------------------------------------------------- */

static void
check_gate(struct loader *l, const struct ynode *n, struct plan_gate *g)
{
	const struct ynode *v;
	long long ll;

	g->min_samples = 1;
	g->failure_limit = 0;
	g->consecutive_errors = 4;
	g->pos.file = n->file;
	g->pos.line = n->line;
	g->pos.col = n->col;
	if (n->kind == YNODE_SCALAR) {
		g->expr = get_expr(l, n, "gate", &g->text);
		return;
	}
	if (n->kind != YNODE_MAP) {
		err_node(l, n, "a gate must be an expression or a map with expr:, not a %s",
		    ynode_kind_name(n->kind));
		return;
	}
	check_keys(l, n, gate_keys, "a gate");
	v = ynode_get(n, "expr");
	if (v == NULL)
		err_node(l, n, "a gate needs expr:");
	else
		g->expr = get_expr(l, v, "gate", &g->text);
	if ((v = ynode_get(n, "min_samples")) != NULL && get_int(l, v, "min_samples", 1, 1000000000, &ll) == 0)
		g->min_samples = (size_t)ll;
	if ((v = ynode_get(n, "failure_limit")) != NULL && get_int(l, v, "failure_limit", 0, 1000000, &ll) == 0)
		g->failure_limit = (int)ll;
	if ((v = ynode_get(n, "consecutive_errors")) != NULL &&
	    get_int(l, v, "consecutive_errors", 1, 1000000, &ll) == 0)
		g->consecutive_errors = (int)ll;
}

static void
check_step(struct loader *l, const struct ynode *n, struct plan_step *s)
{
	static const char *const kinds[] = { "traffic", "hold", "approve", "drill", "call", "set" };
	const struct ynode *v, *which = NULL;
	size_t i, nkinds = 0;
	long long ll;

	s->pos.file = n->file;
	s->pos.line = n->line;
	s->pos.col = n->col;
	if (!want_kind(l, n, YNODE_MAP, "a step"))
		return;
	check_keys(l, n, step_keys, "a step");
	/* hold: is the step itself only when nothing else is there */
	for (i = 0; i < 6; i++) {
		if ((v = key_of(n, kinds[i])) == NULL || i == 1)
			continue;
		if (nkinds++ == 0)
			which = v;
		else
			err_node(l, v, "a step does one thing: '%s' and '%s' must be separate steps",
			    which->scalar, kinds[i]);
	}
	if (nkinds == 0 && key_of(n, "hold") != NULL) {
		s->kind = STEP_HOLD;
		get_duration(l, ynode_get(n, "hold"), "hold", &s->hold_ms);
		return;
	}
	if (nkinds == 0) {
		err_node(l, n, "a step needs one of traffic, hold, approve, drill, call or set");
		return;
	}
	if ((v = key_of(n, "hold")) != NULL && strcmp(which->scalar, "traffic") != 0)
		err_node(l, v, "hold: goes with traffic: or alone in its own step, not with %s:",
		    which->scalar);
	v = ynode_get(n, which->scalar);
	if (strcmp(which->scalar, "traffic") == 0) {
		s->kind = STEP_TRAFFIC;
		if (get_int(l, v, "traffic", 0, 100, &ll) == 0)
			s->traffic = (int)ll;
		else
			s->traffic = -1;
		if ((v = ynode_get(n, "hold")) != NULL)
			get_duration(l, v, "hold", &s->hold_ms);
	} else if (strcmp(which->scalar, "approve") == 0) {
		s->kind = STEP_APPROVE;
		if (want_kind(l, v, YNODE_SCALAR, "approve") && strcmp(v->scalar, "manual") != 0)
			err_node(l, v, "approve must be 'manual', got '%s'", v->scalar);
	} else if (strcmp(which->scalar, "drill") == 0) {
		s->kind = STEP_DRILL;
		if (want_kind(l, v, YNODE_SCALAR, "drill")) {
			if (strcmp(v->scalar, "rollback") != 0)
				err_node(l, v, "drill must be 'rollback', got '%s'", v->scalar);
			else
				s->drill = xstrdup(l, v->scalar);
		}
	} else if (strcmp(which->scalar, "call") == 0) {
		const struct ynode *c;

		s->kind = STEP_CALL;
		if (!want_kind(l, v, YNODE_MAP, "call"))
			return;
		check_keys(l, v, call_keys, "call");
		c = ynode_get(v, "system");
		if (c == NULL)
			err_node(l, v, "call needs system: (baseline, candidate or alerting)");
		else if (want_kind(l, c, YNODE_SCALAR, "system")) {
			if (strcmp(c->scalar, "baseline") != 0 && strcmp(c->scalar, "candidate") != 0 &&
			    strcmp(c->scalar, "alerting") != 0)
				err_node(l, c, "system must be baseline, candidate or alerting, got '%s'",
				    c->scalar);
			else if (strcmp(c->scalar, "alerting") == 0 &&
			    ynode_get(l->pv->docs[0], "alerting") == NULL)
				err_node(l, c, "call to alerting, but the plan has no alerting: block");
			else
				s->call_system = xstrdup(l, c->scalar);
		}
		c = ynode_get(v, "command");
		if (c == NULL)
			err_node(l, v, "call needs command: (e.g. watch.extra)");
		else
			s->call_command = get_string(l, c, "command");
		c = ynode_get(v, "arg");
		if (c != NULL && want_kind(l, c, YNODE_SCALAR, "arg"))
			s->call_arg = xstrdup(l, c->scalar);
	} else if (strcmp(which->scalar, "set") == 0) {
		s->kind = STEP_SET;
		check_sets(l, v, &s->sets, &s->nsets);
	}
}

static void
check_phase(struct loader *l, const struct ynode *n)
{
	struct plan *p = l->p;
	struct plan_phase *ph, *np;
	const struct ynode *v;
	size_t i;

	if (!want_kind(l, n, YNODE_MAP, "a phase"))
		return;
	np = realloc(p->phases, (p->nphases + 1) * sizeof(*np));
	if (np == NULL) {
		l->oom = 1;
		return;
	}
	p->phases = np;
	ph = &p->phases[p->nphases++];
	memset(ph, 0, sizeof(*ph));
	ph->pos.file = n->file;
	ph->pos.line = n->line;
	ph->pos.col = n->col;
	ph->on_fail = ON_FAIL_ROLLBACK;
	check_keys(l, n, phase_keys, "a phase");

	v = ynode_get(n, "name");
	if (v == NULL) {
		err_node(l, n, "a phase needs a name:");
	} else if ((ph->name = get_name(l, v, "phase name")) != NULL) {
		for (i = 0; i + 1 < p->nphases; i++) {
			if (p->phases[i].name != NULL && strcmp(p->phases[i].name, ph->name) == 0) {
				char w[300];

				err_node(l, v, "duplicate phase name '%s' (first at %s)", ph->name,
				    where(v, p->phases[i].pos.file, p->phases[i].pos.line,
				    p->phases[i].pos.col, w, sizeof(w)));
				break;
			}
		}
	}
	if ((v = ynode_get(n, "set")) != NULL)
		check_sets(l, v, &ph->sets, &ph->nsets);
	if ((v = ynode_get(n, "hold")) != NULL)
		get_duration(l, v, "hold", &ph->hold_ms);
	if ((v = ynode_get(n, "on_fail")) != NULL)
		get_on_fail(l, v, &ph->on_fail);
	if ((v = ynode_get(n, "steps")) != NULL && want_kind(l, v, YNODE_SEQ, "steps") && v->len > 0) {
		ph->steps = calloc(v->len, sizeof(*ph->steps));
		if (ph->steps == NULL) {
			l->oom = 1;
			return;
		}
		ph->nsteps = v->len;
		for (i = 0; i < v->len; i++)
			check_step(l, v->items[i], &ph->steps[i]);
	}
	if ((v = ynode_get(n, "gates")) != NULL) {
		if (v->kind == YNODE_SCALAR) {
			err_node(l, v, "gates must be a list (write gates: [ \"%s\" ])", v->scalar);
		} else if (want_kind(l, v, YNODE_SEQ, "gates") && v->len > 0) {
			ph->gates = calloc(v->len, sizeof(*ph->gates));
			if (ph->gates == NULL) {
				l->oom = 1;
				return;
			}
			ph->ngates = v->len;
			for (i = 0; i < v->len; i++)
				check_gate(l, v->items[i], &ph->gates[i]);
		}
	}
}

/* ---- triggers ----------------------------------------------------------- */

static int
parse_for(const char *s, int *n)
{
	long long v;
	char num[32], word[16], extra;
	int k = sscanf(s, "%31s %15s %c", num, word, &extra);

	if (k == 1 && parse_ll(num, &v) == 0)
		goto ok;
	if (k == 2 && parse_ll(num, &v) == 0 &&
	    (strcmp(word, "checks") == 0 || strcmp(word, "check") == 0))
		goto ok;
	return -EINVAL;
ok:
	if (v < 1 || v > 1000000)
		return -ERANGE;
	*n = (int)v;
	return 0;
}

static void
check_trigger(struct loader *l, const struct ynode *n)
{
	struct plan *p = l->p;
	struct plan_trigger *t, *nt;
	const struct ynode *v, *when, *match;
	size_t i;

	if (!want_kind(l, n, YNODE_MAP, "a trigger"))
		return;
	nt = realloc(p->triggers, (p->ntriggers + 1) * sizeof(*nt));
	if (nt == NULL) {
		l->oom = 1;
		return;
	}
	p->triggers = nt;
	t = &p->triggers[p->ntriggers++];
	memset(t, 0, sizeof(*t));
	t->pos.file = n->file;
	t->pos.line = n->line;
	t->pos.col = n->col;
	t->on_fail = ON_FAIL_ROLLBACK;
	t->for_checks = 1;
	check_keys(l, n, trigger_keys, "a trigger");

	v = ynode_get(n, "name");
	if (v == NULL) {
		err_node(l, n, "a trigger needs a name:");
	} else if ((t->name = get_name(l, v, "trigger name")) != NULL) {
		for (i = 0; i + 1 < p->ntriggers; i++) {
			if (p->triggers[i].name != NULL && strcmp(p->triggers[i].name, t->name) == 0) {
				char w[300];

				err_node(l, v, "duplicate trigger name '%s' (first at %s)", t->name,
				    where(v, p->triggers[i].pos.file, p->triggers[i].pos.line,
				    p->triggers[i].pos.col, w, sizeof(w)));
				break;
			}
		}
	}
	when = ynode_get(n, "when");
	match = ynode_get(n, "match");
	if (when != NULL && match != NULL) {
		err_node(l, key_of(n, "match"), "a trigger has either when: or match:, not both");
	} else if (when == NULL && match == NULL) {
		err_node(l, n, "a trigger needs when: (an expression) or match: (a regular expression)");
	} else if (when != NULL) {
		t->kind = TRIGGER_EXPR;
		t->when = get_expr(l, when, "when", &t->when_text);
		if ((v = ynode_get(n, "for")) != NULL && want_kind(l, v, YNODE_SCALAR, "for")) {
			int rc = v->quoted && parse_ll(v->scalar, &(long long){ 0 }) == 0 ? -EINVAL :
			    parse_for(v->scalar, &t->for_checks);

			if (rc == -ERANGE)
				err_node(l, v, "for must be between 1 and 1000000 checks, got '%s'", v->scalar);
			else if (rc != 0)
				err_node(l, v, "for must be N checks (e.g. 3 checks), got '%s'", v->scalar);
		}
		if ((v = key_of(n, "count")) != NULL)
			err_node(l, v, "count: goes with match:; a when: trigger uses for: N checks");
		if ((v = key_of(n, "source")) != NULL)
			err_node(l, v, "source: goes with match:; a when: trigger reads metrics");
	} else {
		int ecode;
		PCRE2_SIZE eoff;

		t->kind = TRIGGER_MATCH;
		if (want_kind(l, match, YNODE_SCALAR, "match")) {
			if (match->scalar[0] == '\0') {
				err_node(l, match, "match must not be empty");
			} else {
				t->re = (struct pcre2_real_code_8 *)pcre2_compile((PCRE2_SPTR)match->scalar,
				    PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode,
				    &eoff, NULL);
				if (t->re == NULL) {
					PCRE2_UCHAR msg[256];

					pcre2_get_error_message(ecode, msg, sizeof(msg));
					err_at(l, match->file, match->line, scalar_col(match, (int)eoff),
					    "bad regular expression: %s (at offset %zu)", (char *)msg,
					    (size_t)eoff);
				} else {
					t->match = xstrdup(l, match->scalar);
				}
			}
		}
		v = ynode_get(n, "count");
		if (v == NULL) {
			err_node(l, n, "a match: trigger needs count: N in DURATION (e.g. 1 in 5m)");
		} else if (want_kind(l, v, YNODE_SCALAR, "count")) {
			char num[32], in[8], dur[64], extra;
			long long c;
			char derr[200];

			if (sscanf(v->scalar, "%31s %7s %63s %c", num, in, dur, &extra) != 3 ||
			    strcmp(in, "in") != 0 || parse_ll(num, &c) != 0) {
				err_node(l, v, "count must be N in DURATION (e.g. 1 in 5m), got '%s'", v->scalar);
			} else if (c < 1 || c > 1000000) {
				err_node(l, v, "count must be between 1 and 1000000, got %lld", c);
			} else if (duration_parse(dur, &t->window_ms, derr, sizeof(derr)) != 0) {
				err_node(l, v, "count: bad duration %s", derr);
			} else if (t->window_ms <= 0) {
				err_node(l, v, "count: the window must be longer than 0");
			} else {
				t->count = (int)c;
			}
		}
		v = ynode_get(n, "source");
		if (v == NULL) {
			t->source = xstrdup(l, "candidate");
		} else if (want_kind(l, v, YNODE_SCALAR, "source")) {
			if (strcmp(v->scalar, "candidate") != 0 && strcmp(v->scalar, "baseline") != 0 &&
			    strcmp(v->scalar, "any") != 0)
				err_node(l, v, "source must be candidate, baseline or any, got '%s'", v->scalar);
			else
				t->source = xstrdup(l, v->scalar);
		}
		if ((v = key_of(n, "for")) != NULL)
			err_node(l, v, "for: goes with when:; a match: trigger uses count: N in DURATION");
	}
	if ((v = ynode_get(n, "on_fail")) != NULL)
		get_on_fail(l, v, &t->on_fail);
	if ((v = ynode_get(n, "from")) != NULL && want_kind(l, v, YNODE_SCALAR, "from")) {
		if (plan_phase_index(p, v->scalar) < 0) {
			const char **names = calloc(p->nphases + 1, sizeof(*names));
			char hint[96] = "";

			if (names != NULL) {
				for (i = 0; i < p->nphases; i++)
					names[i] = p->phases[i].name ? p->phases[i].name : "";
				suggest(hint, sizeof(hint), v->scalar, names, p->nphases);
				free(names);
			}
			err_node(l, v, "from names no phase: '%s'%s", v->scalar, hint);
		} else {
			t->from_phase = xstrdup(l, v->scalar);
		}
	}
}

/* ---- cross-phase rules -------------------------------------------------- */

struct traffic_seen {
	int value;
	struct plan_pos pos;
};

static void
traffic_check(struct loader *l, struct traffic_seen *prev, int value, const struct plan_pos *pos,
    const char *what)
{
	if (value < 0)
		return;
	if (value < prev->value) {
		char w[300];

		if (prev->pos.file == pos->file)
			snprintf(w, sizeof(w), "line %d, column %d", prev->pos.line, prev->pos.col);
		else
			snprintf(w, sizeof(w), "%s:%d:%d", prev->pos.file, prev->pos.line, prev->pos.col);
		err_at(l, pos->file, pos->line, pos->col,
		    "%s %d is lower than the previous %d (at %s): traffic only grows during a "
		    "rollout (rollback is what lowers it)", what, value, prev->value, w);
		return;
	}
	prev->value = value;
	prev->pos = *pos;
}

static void
traffic_sets(struct loader *l, struct traffic_seen *prev, const struct plan_set *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i].flag != NULL && strcmp(s[i].flag, "hybridTrafficPercent") == 0)
			traffic_check(l, prev, (int)s[i].i, &s[i].pos, "hybridTrafficPercent");
}

static void
check_traffic(struct loader *l)
{
	struct plan *p = l->p;
	struct traffic_seen prev = { 0, { NULL, 0, 0 } };
	size_t i, j;

	for (i = 0; i < p->nphases; i++) {
		const struct plan_phase *ph = &p->phases[i];

		traffic_sets(l, &prev, ph->sets, ph->nsets);
		for (j = 0; j < ph->nsteps; j++) {
			const struct plan_step *s = &ph->steps[j];

			if (s->kind == STEP_TRAFFIC)
				traffic_check(l, &prev, s->traffic, &s->pos, "traffic");
			else if (s->kind == STEP_SET)
				traffic_sets(l, &prev, s->sets, s->nsets);
		}
	}
}

/* ---- public ------------------------------------------------------------- */

static void
report_default(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static int
plan_load_common(const char *file, const char *buf, size_t len, struct plan **out,
    plan_report_fn report, void *ctx)
{
	struct loader l = { 0 };
	struct plan *p;
	char *own = NULL;
	size_t own_len = 0, i, j;
	int rc = 0, io_rc = 0;

	*out = NULL;
	if (report == NULL)
		report = report_default;
	if (sodium_init() < 0)
		return -EIO;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	l.p = p;
	l.pv = calloc(1, sizeof(*l.pv));
	p->priv = l.pv;
	p->file = strdup(file);
	if (l.pv == NULL || p->file == NULL) {
		plan_free(p);
		return -ENOMEM;
	}
	crypto_hash_sha256_init(&l.sha);

	if (buf == NULL) {
		io_rc = read_plan_file(&l, file, NULL, &own, &own_len);
		buf = own;
		len = own_len;
	} else if (len > PLAN_MAX_BYTES) {
		err_at(&l, file, 1, 1, "file too large (%zu bytes; the limit is %d)", len, PLAN_MAX_BYTES);
		buf = NULL;
	}
	if (buf != NULL && load_file(&l, file, buf, len, NULL) == 0 && !l.oom) {
		const struct ynode *top = l.pv->docs[0];

		check_top(&l, top);
		for (i = 0; i < l.nsecs; i++) {
			const struct ynode *n = l.secs[i].node;

			if (l.secs[i].kind != SEC_FLAGS)
				continue;
			if (want_kind(&l, n, YNODE_MAP, "flags"))
				for (j = 0; j < n->len; j++)
					check_flag_decl(&l, n->keys[j], n->items[j]);
		}
		for (i = 0; i < l.nsecs; i++) {
			const struct ynode *n = l.secs[i].node;

			if (l.secs[i].kind != SEC_PHASES)
				continue;
			if (want_kind(&l, n, YNODE_SEQ, "phases"))
				for (j = 0; j < n->len; j++)
					check_phase(&l, n->items[j]);
		}
		for (i = 0; i < l.nsecs; i++) {
			const struct ynode *n = l.secs[i].node;

			if (l.secs[i].kind != SEC_TRIGGERS)
				continue;
			if (want_kind(&l, n, YNODE_SEQ, "triggers"))
				for (j = 0; j < n->len; j++)
					check_trigger(&l, n->items[j]);
		}
		if (p->nphases == 0 && l.nerrs == 0)
			err_at(&l, top->file, top->line, top->col,
			    "the plan has no phases (add phases: or include: files that have them)");
		check_traffic(&l);
		if (p->salt == NULL && p->name != NULL)
			p->salt = xstrdup(&l, p->name);
	}
	if (l.oom && l.nerrs == 0)
		err_at(&l, file, 0, 0, "out of memory while loading the plan");

	if (l.nerrs > 0) {
		qsort(l.errs, l.nerrs, sizeof(*l.errs), err_cmp);
		for (i = 0; i < l.nerrs && i < PLAN_MAX_ERRORS; i++)
			report(ctx, l.errs[i].msg);
		if (l.nerrs > PLAN_MAX_ERRORS) {
			char more[512];

			snprintf(more, sizeof(more), "%s: %zu more errors not shown", file,
			    l.nerrs - PLAN_MAX_ERRORS);
			report(ctx, more);
		}
		rc = io_rc != 0 ? io_rc : -EINVAL;
	} else {
		crypto_hash_sha256_final(&l.sha, p->sha256);
	}
	for (i = 0; i < l.nerrs; i++)
		free(l.errs[i].msg);
	free(l.errs);
	free(l.secs);
	for (i = 0; i < PLAN_MAX_INCLUDE_DEPTH + 1; i++)
		free(l.stack[i]);
	free(own);
	if (rc != 0) {
		plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int
plan_load(const char *file, struct plan **out, plan_report_fn report, void *ctx)
{
	return plan_load_common(file, NULL, 0, out, report, ctx);
}

int
plan_load_buffer(const char *name, const char *buf, size_t len, struct plan **out,
    plan_report_fn report, void *ctx)
{
	return plan_load_common(name, buf, len, out, report, ctx);
}

static void
free_sets(struct plan_set *s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++) {
		free(s[i].flag);
		free(s[i].s);
	}
	free(s);
}

void
plan_free(struct plan *p)
{
	struct plan_priv *pv;
	size_t i, j;

	if (p == NULL)
		return;
	free(p->name);
	free(p->chain);
	free(p->salt);
	free(p->baseline.role);
	free(p->baseline.plugin);
	free(p->candidate.role);
	free(p->candidate.plugin);
	free(p->alerting.role);
	free(p->alerting.plugin);
	for (i = 0; i < p->nflags; i++) {
		free(p->flags[i].name);
		free(p->flags[i].def_s);
	}
	free(p->flags);
	for (i = 0; i < p->ntriggers; i++) {
		struct plan_trigger *t = &p->triggers[i];

		free(t->name);
		free(t->when_text);
		expr_free(t->when);
		free(t->match);
		pcre2_code_free((pcre2_code *)t->re);
		free(t->source);
		free(t->from_phase);
	}
	free(p->triggers);
	for (i = 0; i < p->nphases; i++) {
		struct plan_phase *ph = &p->phases[i];

		free(ph->name);
		free_sets(ph->sets, ph->nsets);
		for (j = 0; j < ph->nsteps; j++) {
			struct plan_step *s = &ph->steps[j];

			free(s->drill);
			free(s->call_system);
			free(s->call_command);
			free(s->call_arg);
			free_sets(s->sets, s->nsets);
		}
		free(ph->steps);
		for (j = 0; j < ph->ngates; j++) {
			free(ph->gates[j].text);
			expr_free(ph->gates[j].expr);
		}
		free(ph->gates);
	}
	free(p->phases);
	free(p->file);
	pv = p->priv;
	if (pv != NULL) {
		for (i = 0; i < pv->ndocs; i++)
			ynode_free(pv->docs[i]);
		free(pv->docs);
		free(pv);
	}
	free(p);
}

int
plan_phase_index(const struct plan *p, const char *name)
{
	size_t i;

	for (i = 0; p != NULL && name != NULL && i < p->nphases; i++)
		if (p->phases[i].name != NULL && strcmp(p->phases[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *
plan_on_fail_name(enum plan_on_fail f)
{
	switch (f) {
	case ON_FAIL_ROLLBACK: return "rollback";
	case ON_FAIL_PAUSE: return "pause";
	case ON_FAIL_ABORT: return "abort";
	}
	return "unknown";
}

const char *
plan_step_kind_name(enum plan_step_kind k)
{
	switch (k) {
	case STEP_TRAFFIC: return "traffic";
	case STEP_HOLD: return "hold";
	case STEP_APPROVE: return "approve";
	case STEP_DRILL: return "drill";
	case STEP_CALL: return "call";
	case STEP_SET: return "set";
	}
	return "unknown";
}

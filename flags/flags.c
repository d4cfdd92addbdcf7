/*
 * flags.c — the feature-flag store (see flags.h and rolloutd.flags(5)).
 *
 * The file is libconfig; this module both parses it (libconfig) and writes
 * it (its own serialiser, so the layout and the comments stay stable).
 * Every write is: flock(PATH.lock, LOCK_EX), re-read PATH, apply, bump
 * `generation`, fs_write_atomic(PATH), one audit line per flag written
 * (fs_append_sync), unlock.  The audit lines are appended while the lock is
 * held so the journal lists writes in generation order.
 *
 * Flags found in the file that nobody declared (a plan's flags, seen by
 * rolloutctl which does not load the plan) are kept, typed by what
 * libconfig says they are, and written back unchanged.
 */
#include "flags.h"
#include "log.h"

#include "fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLAGS_MAX_FILE   (1024 * 1024)
#define FLAGS_NAME_MAX   64
#define FLAGS_LOCK_WAIT_MS        10000  /* ordinary writes give up after this */
#define FLAGS_EMERGENCY_WAIT_MS   2000   /* the rollback writes anyway after this */

enum flag_origin { ORIGIN_BUILTIN, ORIGIN_DECLARED, ORIGIN_FILE };

struct flag_entry {
	char name[FLAGS_NAME_MAX];
	enum flag_type type;
	enum flag_origin origin;
	long long min, max;          /* FLAG_INT only */
	struct flag_value deflt;
	struct flag_value value;     /* valid when isset */
	int isset;                   /* present in the file */
	int line;                    /* line in the file, for messages */
};

struct flags {
	char *path;
	char *lock_path;
	char *audit_path;
	struct flag_entry *e;
	size_t n, cap;
	const char **names;          /* flags_names() view, rebuilt on change */
	uint64_t generation;
	int broken;
	char error[512];
	int64_t (*now_ms)(void *ctx);  /* flags_set_clock(); NULL: the real clock */
	void *now_ctx;
};

/* A parsed file: values by name, generation, or the error. */
struct flags_snapshot {
	struct flag_entry *e;
	size_t n;
	uint64_t generation;
	int broken;
	char error[512];
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int
name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= FLAGS_NAME_MAX || !isalpha((unsigned char)name[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
			return 0;
	return strcmp(name, "generation") != 0;
}

/* Strings we write must survive a libconfig round trip without escapes. */
static int
string_valid(const char *s)
{
	size_t n = strlen(s);

	if (n >= sizeof(((struct flag_value *)0)->s))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == 0x7f)
			return 0;
	return 1;
}

static const char *
type_name(enum flag_type t)
{
	switch (t) {
	case FLAG_BOOL: return "boolean";
	case FLAG_INT: return "integer";
	case FLAG_STRING: return "string";
	}
	return "?";
}

static int
value_eq(const struct flag_value *a, const struct flag_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case FLAG_BOOL: return !a->b == !b->b;
	case FLAG_INT: return a->i == b->i;
	case FLAG_STRING: return strcmp(a->s, b->s) == 0;
	}
	return 0;
}

const char *
flag_value_str(const struct flag_value *v, char *buf, size_t len)
{
	switch (v->type) {
	case FLAG_BOOL:
		snprintf(buf, len, "%s", v->b ? "true" : "false");
		break;
	case FLAG_INT:
		snprintf(buf, len, "%lld", v->i);
		break;
	case FLAG_STRING:
		snprintf(buf, len, "%s", v->s);
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

static struct flag_entry *
find_in(struct flag_entry *e, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

static struct flag_entry *
find(const struct flags *f, const char *name)
{
	return find_in(f->e, f->n, name);
}

static int
rebuild_names(struct flags *f)
{
	const char **nn = realloc(f->names, (f->n + 1) * sizeof(*nn));
	size_t i;

	if (nn == NULL)
		return -ENOMEM;
	for (i = 0; i < f->n; i++)
		nn[i] = f->e[i].name;
	nn[f->n] = NULL;
	f->names = nn;
	return 0;
}

static int
add_entry(struct flags *f, const struct flag_entry *src)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct flag_entry *ne = realloc(f->e, ncap * sizeof(*ne));

		if (ne == NULL)
			return -ENOMEM;
		f->e = ne;
		f->cap = ncap;
	}
	f->e[f->n++] = *src;
	return rebuild_names(f);
}

/* Check V against entry E's declaration.  0 or -EINVAL/-ERANGE with a message. */
static int
check_value(const struct flag_entry *e, const struct flag_value *v, char *err, size_t errlen)
{
	if (v->type != e->type) {
		errbuf_printf(err, errlen, "%s: expected %s, got %s", e->name, type_name(e->type),
		    type_name(v->type));
		return -EINVAL;
	}
	if (e->type == FLAG_INT && e->origin != ORIGIN_FILE && (v->i < e->min || v->i > e->max)) {
		errbuf_printf(err, errlen, "%s: %lld is out of range %lld..%lld", e->name, v->i, e->min,
		    e->max);
		return -ERANGE;
	}
	if (e->type == FLAG_STRING && !string_valid(v->s)) {
		errbuf_printf(err, errlen, "%s: string must be under 128 bytes without quotes, "
		    "backslashes or control characters", e->name);
		return -EINVAL;
	}
	return 0;
}

/* Parse textual VALUE as E's type. */
static int
parse_value(const struct flag_entry *e, const char *text, struct flag_value *out, char *err,
    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->type = e->type;
	switch (e->type) {
	case FLAG_BOOL:
		if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes") ||
		    !strcasecmp(text, "on"))
			out->b = 1;
		else if (!strcasecmp(text, "false") || !strcmp(text, "0") ||
		    !strcasecmp(text, "no") || !strcasecmp(text, "off"))
			out->b = 0;
		else {
			errbuf_printf(err, errlen, "%s: \"%s\" is not a boolean (true or false)", e->name,
			    text);
			return -EINVAL;
		}
		break;
	case FLAG_INT: {
		char *end;

		errno = 0;
		out->i = strtoll(text, &end, 10);
		if (end == text || *end != '\0') {
			errbuf_printf(err, errlen, "%s: \"%s\" is not an integer", e->name, text);
			return -EINVAL;
		}
		if (errno == ERANGE) {
			errbuf_printf(err, errlen, "%s: \"%s\" is out of range", e->name, text);
			return -ERANGE;
		}
		break;
	}
	case FLAG_STRING:
		if (strlen(text) >= sizeof(out->s)) {
			errbuf_printf(err, errlen, "%s: string longer than %zu bytes", e->name,
			    sizeof(out->s) - 1);
			return -EINVAL;
		}
		snprintf(out->s, sizeof(out->s), "%s", text);
		break;
	}
	return check_value(e, out, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Parsing the file                                                     */

static void
snapshot_free(struct flags_snapshot *s)
{
	free(s->e);
	s->e = NULL;
	s->n = 0;
}

/* Best effort for a broken file: find "generation = N" so it stays monotone. */
static uint64_t
scan_generation(const char *text)
{
	const char *p = text;
	uint64_t best = 0;

	while (p && (p = strstr(p, "generation")) != NULL) {
		const char *q = p + strlen("generation");

		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '=' || *q == ':') {
			unsigned long long v;

			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if (isdigit((unsigned char)*q)) {
				v = strtoull(q, NULL, 10);
				if (v > best)
					best = v;
			}
		}
		p = q;
	}
	return best;
}

/*
 * Parse TEXT (the contents of PATH) against the declarations in F.  The
 * snapshot holds every scalar found; declared flags are type/range checked.
 */
static void
parse_text(const struct flags *f, const char *text, struct flags_snapshot *s)
{
	config_t cfg;
	config_setting_t *root;
	int i, count;

	memset(s, 0, sizeof(*s));
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		snprintf(s->error, sizeof(s->error), "%s:%d: %s", f->path, config_error_line(&cfg),
		    config_error_text(&cfg) ? config_error_text(&cfg) : "parse error");
		s->broken = 1;
		s->generation = scan_generation(text);
		goto out;
	}
	root = config_root_setting(&cfg);
	count = config_setting_length(root);
	s->e = calloc((size_t)count + 1, sizeof(*s->e));
	if (s->e == NULL) {
		snprintf(s->error, sizeof(s->error), "%s: out of memory", f->path);
		s->broken = 1;
		goto out;
	}
	for (i = 0; i < count; i++) {
		config_setting_t *st = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(st);
		int line = config_setting_source_line(st);
		int t = config_setting_type(st);
		const struct flag_entry *decl;
		struct flag_entry *e;
		char msg[256];

		if (name == NULL)
			continue;
		if (strcmp(name, "generation") == 0) {
			long long g;

			if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
				snprintf(s->error, sizeof(s->error),
				    "%s:%d: generation must be an integer", f->path, line);
				s->broken = 1;
				goto out;
			}
			g = config_setting_get_int64(st);
			if (g < 0) {
				snprintf(s->error, sizeof(s->error),
				    "%s:%d: generation must not be negative", f->path, line);
				s->broken = 1;
				goto out;
			}
			s->generation = (uint64_t)g;
			continue;
		}
		if (!name_valid(name)) {
			snprintf(s->error, sizeof(s->error), "%s:%d: %s: not a valid flag name",
			    f->path, line, name);
			s->broken = 1;
			goto out;
		}
		e = &s->e[s->n];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->line = line;
		e->isset = 1;
		switch (t) {
		case CONFIG_TYPE_BOOL:
			e->value.type = FLAG_BOOL;
			e->value.b = config_setting_get_bool(st) ? 1 : 0;
			break;
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			e->value.type = FLAG_INT;
			e->value.i = config_setting_get_int64(st);
			break;
		case CONFIG_TYPE_STRING: {
			const char *sv = config_setting_get_string(st);

			e->value.type = FLAG_STRING;
			if (strlen(sv) >= sizeof(e->value.s)) {
				snprintf(s->error, sizeof(s->error),
				    "%s:%d: %s: string longer than %zu bytes", f->path, line, name,
				    sizeof(e->value.s) - 1);
				s->broken = 1;
				goto out;
			}
			snprintf(e->value.s, sizeof(e->value.s), "%s", sv);
			break;
		}
		default:
			snprintf(s->error, sizeof(s->error),
			    "%s:%d: %s: unsupported value (flags are booleans, integers or strings)",
			    f->path, line, name);
			s->broken = 1;
			goto out;
		}
		decl = find(f, name);
		if (decl != NULL && decl->origin != ORIGIN_FILE) {
			e->type = decl->type;
			e->origin = decl->origin;
			e->min = decl->min;
			e->max = decl->max;
			e->deflt = decl->deflt;
			if (check_value(e, &e->value, msg, sizeof(msg)) != 0) {
				snprintf(s->error, sizeof(s->error), "%s:%d: %s", f->path, line, msg);
				s->broken = 1;
				goto out;
			}
		} else {
			e->type = e->value.type;
			e->origin = ORIGIN_FILE;
			e->deflt = e->value;
		}
		s->n++;
	}
out:
	config_destroy(&cfg);
	if (s->broken)
		snapshot_free(s);
}

/* Read PATH into a snapshot.  An absent file is an empty, valid snapshot. */
static int
read_snapshot(const struct flags *f, struct flags_snapshot *s, char **textp)
{
	char *text = NULL;
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if (textp)
		*textp = NULL;
	rc = fs_read_all(f->path, FLAGS_MAX_FILE, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0) {
		snprintf(s->error, sizeof(s->error), "%s: %s", f->path, strerror(-rc));
		return rc;
	}
	if (strlen(text) != len) {
		snprintf(s->error, sizeof(s->error), "%s: contains a NUL byte", f->path);
		s->broken = 1;
		s->generation = 0;
	} else if (len == 0) {
		/* a truncated file is an accident (a crashed non-atomic writer, a full disk),
		 * not an operator asking for the defaults: a file of comments does that */
		snprintf(s->error, sizeof(s->error), "%s:1: empty file (a file with only comments "
		    "means \"all defaults\")", f->path);
		s->broken = 1;
		s->generation = 0;
	} else {
		parse_text(f, text, s);
	}
	if (textp)
		*textp = text;
	else
		free(text);
	return 0;
}

/*
 * Install snapshot S as F's state: declared flags take the file's values
 * (or their defaults), undeclared flags from the file become ORIGIN_FILE
 * entries, and ORIGIN_FILE entries no longer in the file disappear.
 */
static int
apply_snapshot(struct flags *f, const struct flags_snapshot *s)
{
	size_t i, j;
	int rc;

	f->generation = s->generation;
	f->broken = s->broken;
	snprintf(f->error, sizeof(f->error), "%s", s->broken ? s->error : "");
	for (i = 0, j = 0; i < f->n; i++) {
		if (f->e[i].origin == ORIGIN_FILE && !find_in(s->e, s->n, f->e[i].name))
			continue;
		f->e[j++] = f->e[i];
	}
	f->n = j;
	for (i = 0; i < f->n; i++) {
		struct flag_entry *fe = &f->e[i];
		const struct flag_entry *se = find_in(s->e, s->n, fe->name);

		if (se != NULL) {
			if (fe->origin == ORIGIN_FILE)
				*fe = *se;
			fe->value = se->value;
			fe->isset = 1;
			fe->line = se->line;
		} else {
			fe->value = fe->deflt;
			fe->isset = 0;
		}
	}
	for (i = 0; i < s->n; i++)
		if (find(f, s->e[i].name) == NULL && (rc = add_entry(f, &s->e[i])) != 0)
			return rc;
	return rebuild_names(f);
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap : 1024);

		while (ncap <= b->len + (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);

		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* One time for a whole write: the file's "Written" line and its audit records agree. */
struct stamp {
	char when[96];
	long long t_ms;
};

static void
stamp_from_ms(struct stamp *st, long long ms)
{
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;

	st->t_ms = ms;
	gmtime_r(&sec, &tm);
	snprintf(st->when, sizeof(st->when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)(ms - (long long)sec * 1000));
}

static void
stamp_now(const struct flags *f, struct stamp *st)
{
	struct timespec ts;

	if (f != NULL && f->now_ms != NULL) {
		stamp_from_ms(st, (long long)f->now_ms(f->now_ctx));
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	stamp_from_ms(st, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
serialise(const struct flag_entry *e, size_t n, uint64_t gen, const char *who,
    const struct stamp *st, struct buf *b)
{
	size_t i;
	int pass;

	bprintf(b, "# rolloutd feature flags -- see rolloutd.flags(5).\n");
	bprintf(b, "# Written %s by %s.  Edit with care: rolloutd re-reads this file\n", st->when,
	    who ? who : "?");
	bprintf(b, "# on change; prefer `rolloutctl flag set NAME VALUE`, which locks and audits.\n");
	bprintf(b, "generation = %" PRIu64 "%s;\n\n", gen, gen > INT32_MAX ? "L" : "");
	/* built-ins first, then the plan's, then unknown ones, as in flags_names() */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < n; i++) {
			const struct flag_entry *x = &e[i];

			if ((int)x->origin != pass)
				continue;
			if (pass == ORIGIN_FILE && !x->isset)
				continue;
			switch (x->type) {
			case FLAG_BOOL:
				bprintf(b, "%s = %s;\n", x->name, x->value.b ? "true" : "false");
				break;
			case FLAG_INT:
				bprintf(b, "%s = %lld%s;\n", x->name, x->value.i,
				    (x->value.i > INT32_MAX || x->value.i < INT32_MIN) ? "L" : "");
				break;
			case FLAG_STRING:
				bprintf(b, "%s = \"%s\";\n", x->name, x->value.s);
				break;
			}
		}
	}
	return b->oom ? -ENOMEM : 0;
}

static json_t *
value_json(const struct flag_value *v)
{
	switch (v->type) {
	case FLAG_BOOL: return json_boolean(v->b);
	case FLAG_INT: return json_integer(v->i);
	case FLAG_STRING: return json_string(v->s);
	}
	return json_null();
}

/*
 * Append one audit line (with its newline) for NAME to B.  NAME NULL is a
 * note about a whole generation (who="recovery": what was reconciled).
 */
static void
audit_line(struct buf *b, const struct stamp *st, const char *who, const char *name,
    const struct flag_value *old, const struct flag_value *new, const char *reason, uint64_t gen)
{
	json_t *o;
	char *line;

	o = json_object();
	if (o == NULL) {
		b->oom = 1;
		return;
	}
	json_object_set_new(o, "time", json_string(st->when));
	json_object_set_new(o, "t_ms", json_integer(st->t_ms));
	json_object_set_new(o, "kind", json_string("flag"));
	json_object_set_new(o, "who", json_string(who ? who : "unknown"));
	json_object_set_new(o, "flag", name ? json_string(name) : json_null());
	json_object_set_new(o, "old", old ? value_json(old) : json_null());
	json_object_set_new(o, "new", new ? value_json(new) : json_null());
	json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
	json_object_set_new(o, "generation", json_integer((json_int_t)gen));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line == NULL) {
		b->oom = 1;
		return;
	}
	bprintf(b, "%s\n", line);
	free(line);
}

/* Append the lines in B to the journal in one write and one fdatasync.  0 or -errno. */
static int
audit_flush(const struct flags *f, struct buf *b)
{
	int rc;

	if (f->audit_path == NULL || b->len == 0)
		rc = 0;
	else if (b->oom)
		rc = -ENOMEM;
	else
		rc = fs_append_sync(f->audit_path, b->p, b->len, 0644);
	free(b->p);
	memset(b, 0, sizeof(*b));
	return rc;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take the exclusive lock; returns the fd, -ETIMEDOUT after WAIT_MS, or -errno. */
static int
lock_take(const struct flags *f, long long wait_ms)
{
	long long deadline = mono_ms() + wait_ms;
	int fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 && errno == ENOENT) {
		/* the directory went away under us: recreate it */
		char dir[4096], *slash;

		snprintf(dir, sizeof(dir), "%s", f->lock_path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			fs_mkdir_p(dir, 0755);
		}
		fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return -errno;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int rc = -errno;

			close(fd);
			return rc;
		}
		if (mono_ms() >= deadline) {
			close(fd);
			return -ETIMEDOUT;
		}
		/* blocking flock would be simpler, but an emergency must not wait forever */
		struct timespec ts = { 0, 500000 };

		nanosleep(&ts, NULL);
	}
}

static void
lock_release(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* Copy of F's entries, for computing a write without touching F until it is durable. */
static struct flag_entry *
entries_dup(const struct flags *f)
{
	struct flag_entry *e = malloc((f->n + 1) * sizeof(*e));

	if (e != NULL && f->n)
		memcpy(e, f->e, f->n * sizeof(*e));
	return e;
}

/*
 * After F adopted a re-read file: compare with BEFORE (NBEFORE entries,
 * generation GENBEFORE) and audit what changed as who="external" when the
 * generation did not advance (a writer through this store advanced it and
 * audited already; a same-generation change is a hand edit; while the file
 * was broken the values in force were the defaults).  Returns 1 if
 * anything changed, else 0.
 */
static int
note_changes(struct flags *f, const struct flag_entry *before, size_t nbefore,
    uint64_t genbefore, int wasbroken)
{
	const char *why = wasbroken ? "broken file repaired outside rolloutd" :
	    "file edited outside rolloutd";
	int external = f->generation <= genbefore, changed = wasbroken ||
	    f->generation != genbefore;
	struct buf lines = { 0 };
	struct stamp st;
	size_t i;

	stamp_now(f, &st);
	for (i = 0; i < f->n; i++) {
		const struct flag_entry *b = find_in((struct flag_entry *)before, nbefore,
		    f->e[i].name);
		const struct flag_value *old = b ? &b->value : NULL;

		if (old != NULL && value_eq(old, &f->e[i].value))
			continue;
		changed = 1;
		if (external)
			audit_line(&lines, &st, "external", f->e[i].name, old, &f->e[i].value, why,
			    f->generation);
	}
	for (i = 0; i < nbefore; i++) {
		if (find(f, before[i].name) != NULL)
			continue;
		changed = 1;
		if (external)
			audit_line(&lines, &st, "external", before[i].name, &before[i].value, NULL, why,
			    f->generation);
	}
	audit_flush(f, &lines);
	return changed;
}

/* ------------------------------------------------------------------ */
/* Write-ahead audit and reconciliation                                 */

static void (*crash_hook)(const char *point);

void
flags_test_hook(void (*hook)(const char *point))
{
	crash_hook = hook;
}

static void
hook_at(const char *point)
{
	if (crash_hook != NULL)
		crash_hook(point);
}

/*
 * What the journal says about the store: the generation of its last
 * "kind":"flag" record and that generation's records.  Known is 0 when
 * there is no journal path or no flag record within FLAGS_AUDIT_SCAN_MAX
 * bytes of its end (then nothing is reconciled).
 */
struct audit_tail {
	int known;
	uint64_t gen;          /* 0: no flag record at all */
	json_t *recs;          /* records of GEN that name a flag, oldest first */
	char who[128];         /* their writer and time (the latest one's) */
	long long t_ms;
};

#define FLAGS_AUDIT_SCAN_MAX (64 * 1024 * 1024)

static void
audit_tail_free(struct audit_tail *t)
{
	json_decref(t->recs);
	t->recs = NULL;
}

/*
 * Scan BUF (LEN bytes; the file's start when AT_START) backwards for the
 * last flag generation and the records of its last write (one append, so
 * contiguous; later notes of the same generation are skipped over).
 * Returns 2 when that write's records are complete (a line before them, or
 * the start of the file, was reached), 1 when found but they may continue
 * before BUF, 0 when no flag record is in BUF.
 */
static int
audit_scan_buf(const char *buf, size_t len, int at_start, struct audit_tail *t)
{
	size_t end = len;
	int found = 0;

	/* a last line without its newline is a torn append: not a record */
	while (end > 0 && buf[end - 1] != '\n')
		end--;
	while (end > 0) {
		const char *nl = end >= 2 ? memrchr(buf, '\n', end - 1) : NULL;
		size_t start = nl ? (size_t)(nl - buf) + 1 : 0;
		const char *line = buf + start;
		size_t n = end - start;
		json_t *rec, *g, *name, *who, *tms;

		end = start;
		if (start == 0 && !at_start)
			break;          /* may be the tail of a line that began before BUF */
		if (memmem(line, n, "\"kind\":\"flag\"", 13) == NULL) {
			/* one write's records are one append: a line between ends them */
			if (t->recs != NULL)
				return 2;
			continue;
		}
		rec = json_loadb(line, n, 0, NULL);
		g = rec ? json_object_get(rec, "generation") : NULL;
		if (g == NULL || !json_is_integer(g) || json_integer_value(g) < 0) {
			json_decref(rec);
			if (t->recs != NULL)
				return 2;
			continue;
		}
		if (found && ((uint64_t)json_integer_value(g) != t->gen ||
		    (t->recs != NULL && !json_is_string(json_object_get(rec, "flag"))))) {
			/* another generation, or the note that opens this write's append */
			json_decref(rec);
			return 2;
		}
		if (!found) {
			found = 1;
			t->gen = (uint64_t)json_integer_value(g);
		}
		name = json_object_get(rec, "flag");
		who = json_object_get(rec, "who");
		tms = json_object_get(rec, "t_ms");
		if (json_is_string(name)) {
			if (t->recs == NULL)
				t->recs = json_array();
			json_array_insert(t->recs, 0, rec);
			if (t->who[0] == '\0' && json_is_string(who)) {
				snprintf(t->who, sizeof(t->who), "%s", json_string_value(who));
				t->t_ms = json_is_integer(tms) ? json_integer_value(tms) : 0;
			}
		}
		json_decref(rec);
	}
	return found ? (at_start ? 2 : 1) : 0;
}

/* Read the end of the journal into T.  0 or -errno. */
static int
audit_scan(const struct flags *f, struct audit_tail *t)
{
	struct stat st;
	size_t win = 64 * 1024;
	int fd, rc = 0;

	memset(t, 0, sizeof(*t));
	if (f->audit_path == NULL)
		return 0;
	fd = open(f->audit_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		t->known = 1;
		return 0;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		size_t size = (size_t)st.st_size, off = size > win ? size - win : 0, got = 0;
		char *buf = malloc(size - off + 1);
		int r;

		if (buf == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		while (got < size - off) {
			ssize_t k = pread(fd, buf + got, size - off - got, (off_t)(off + got));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		audit_tail_free(t);
		memset(t, 0, sizeof(*t));
		r = audit_scan_buf(buf, got, off == 0, t);
		free(buf);
		if (r == 2 || (r == 0 && off == 0)) {
			t->known = 1;
			break;
		}
		if (win >= FLAGS_AUDIT_SCAN_MAX) {
			log_msg(LOG_LVL_WARN, "flags", "%s: no complete flag audit record in its last "
			    "%zu bytes: the flags file is not checked against it", f->audit_path, win);
			audit_tail_free(t);
			memset(t, 0, sizeof(*t));
			break;
		}
		win *= 4;
	}
out:
	close(fd);
	return rc;
}

/* A JSON audit value as a flag value of TYPE.  0 or -EINVAL. */
static int
value_from_json(json_t *j, enum flag_type type, struct flag_value *v)
{
	memset(v, 0, sizeof(*v));
	v->type = type;
	if (type == FLAG_BOOL && json_is_boolean(j))
		v->b = json_is_true(j);
	else if (type == FLAG_INT && json_is_integer(j))
		v->i = json_integer_value(j);
	else if (type == FLAG_STRING && json_is_string(j) &&
	    strlen(json_string_value(j)) < sizeof(v->s))
		snprintf(v->s, sizeof(v->s), "%s", json_string_value(j));
	else
		return -EINVAL;
	return 0;
}

/* One audit line per flag of F with its current value (old unknown). */
static void
audit_values(const struct flags *f, struct buf *b, const struct stamp *st, const char *reason,
    uint64_t gen)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		audit_line(b, st, "recovery", f->e[i].name, NULL, &f->e[i].value, reason, gen);
}

/*
 * True when T's last write is the file's creation with the defaults (who
 * "rolloutd (defaults)", every flag of F once, old null): a file that is
 * absent under it never got past that write's rename.
 */
static int
audited_creation(const struct flags *f, const struct audit_tail *t)
{
	size_t i, n = t->recs ? json_array_size(t->recs) : 0;

	if (!t->known || t->gen == 0 || n != f->n || strcmp(t->who, "rolloutd (defaults)") != 0)
		return 0;
	for (i = 0; i < n; i++) {
		json_t *r = json_array_get(t->recs, i);
		const char *name = json_string_value(json_object_get(r, "flag"));
		const char *who = json_string_value(json_object_get(r, "who"));

		if (!json_is_null(json_object_get(r, "old")) || name == NULL || find(f, name) == NULL
		    || who == NULL || strcmp(who, "rolloutd (defaults)") != 0)
			return 0;
	}
	return 1;
}

/*
 * Under the lock, with F holding the file just read (generation FILEGEN,
 * parsed, present): make the file and the journal T agree.
 *   - journal == file: nothing;
 *   - journal one ahead with change records (a writer stopped between its
 *     audit and its rename): a note, then the file written as that writer
 *     would have written it (its generation, who and time);
 *   - journal further ahead (a restored or reset file): the file's values
 *     audited and written as generation journal + 1;
 *   - file ahead (a generation with no audit record): its values audited
 *     under its generation.
 * Every case journals who="recovery" records and logs a warning.  0 or -errno.
 */
static int
reconcile_locked(struct flags *f, uint64_t filegen, const struct audit_tail *t, char *err,
    size_t errlen)
{
	struct buf lines = { 0 }, out = { 0 };
	struct flag_entry *work = NULL;
	struct stamp st;
	char reason[700];
	size_t i, n, nrec = t->recs ? json_array_size(t->recs) : 0;
	uint64_t gen;
	int rc = 0;

	if (!t->known || t->gen == filegen)
		return 0;
	stamp_now(f, &st);
	if (t->gen == filegen + 1 && nrec > 0) {
		struct stamp wst;

		work = malloc((f->n + nrec + 1) * sizeof(*work));
		if (work == NULL)
			return -ENOMEM;
		memcpy(work, f->e, f->n * sizeof(*work));
		n = f->n;
		for (i = 0; i < nrec; i++) {
			json_t *r = json_array_get(t->recs, i), *nv = json_object_get(r, "new");
			const char *name = json_string_value(json_object_get(r, "flag"));
			struct flag_entry *e = find_in(work, n, name);
			struct flag_value v;

			if (e == NULL) {
				enum flag_type ty = json_is_boolean(nv) ? FLAG_BOOL :
				    json_is_integer(nv) ? FLAG_INT : json_is_string(nv) ? FLAG_STRING : 0;

				if (ty == 0 || !name_valid(name))
					continue;
				e = &work[n++];
				memset(e, 0, sizeof(*e));
				snprintf(e->name, sizeof(e->name), "%s", name);
				e->type = ty;
				e->origin = ORIGIN_FILE;
				e->deflt.type = ty;
			}
			if (json_is_null(nv) && e->origin == ORIGIN_FILE) {
				e->isset = 0;
				continue;
			}
			if (value_from_json(nv, e->type, &v) != 0)
				continue;
			e->value = v;
			e->isset = 1;
		}
		snprintf(reason, sizeof(reason), "generation %" PRIu64 " (%s) was audited but had not "
		    "reached %s: the writer stopped before its rename; completed from its audit "
		    "records", t->gen, t->who, f->path);
		audit_line(&lines, &st, "recovery", NULL, NULL, NULL, reason, t->gen);
		stamp_from_ms(&wst, t->t_ms);
		if ((rc = audit_flush(f, &lines)) != 0)
			goto fail;
		if ((rc = serialise(work, n, t->gen, t->who, &wst, &out)) != 0 ||
		    (rc = fs_write_atomic(f->path, out.p, out.len, 0644)) != 0)
			goto fail;
		if (n > f->n) {
			struct flag_entry *ne = realloc(f->e, (n + 1) * sizeof(*ne));

			if (ne == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			f->e = ne;
			f->cap = n + 1;
		}
		memcpy(f->e, work, n * sizeof(*work));
		f->n = n;
		f->generation = t->gen;
		rebuild_names(f);
	} else if (t->gen > filegen) {
		gen = t->gen + 1;
		snprintf(reason, sizeof(reason), "%s is at generation %" PRIu64 " but the journal has "
		    "audited generation %" PRIu64 " (a restored or hand-reset file): its values are "
		    "kept as generation %" PRIu64, f->path, filegen, t->gen, gen);
		audit_line(&lines, &st, "recovery", NULL, NULL, NULL, reason, gen);
		audit_values(f, &lines, &st, "the file's value, kept: see the recovery note", gen);
		if ((rc = audit_flush(f, &lines)) != 0)
			goto fail;
		if ((rc = serialise(f->e, f->n, gen, "recovery", &st, &out)) != 0 ||
		    (rc = fs_write_atomic(f->path, out.p, out.len, 0644)) != 0)
			goto fail;
		f->generation = gen;
	} else {
		snprintf(reason, sizeof(reason), "generation %" PRIu64 " of %s has no audit record "
		    "(the journal's last is %" PRIu64 "): written before its audit by an older "
		    "rolloutd, by hand, or the journal was replaced; its values recorded", filegen,
		    f->path, t->gen);
		audit_line(&lines, &st, "recovery", NULL, NULL, NULL, reason, filegen);
		audit_values(f, &lines, &st, "the file's value, recorded: see the recovery note",
		    filegen);
		if ((rc = audit_flush(f, &lines)) != 0)
			goto fail;
	}
	log_msg(LOG_LVL_WARN, "flags", "recovery: %s", reason);
	free(work);
	free(out.p);
	return 0;
fail:
	errbuf_printf(err, errlen, "%s: recovery failed: %s", f->path, strerror(-rc));
	free(lines.p);
	free(work);
	free(out.p);
	return rc;
}

struct change {
	const char *name;
	struct flag_value old, new;
};

/*
 * The common write path, write-ahead: under the lock, re-read the file and
 * the journal's end, reconcile them, resolve NAMES/VALUES, append the audit
 * records of generation+1 (fsynced), then write the file (temp, fsync,
 * rename, fsync dir) and adopt the result in F.  A stop anywhere leaves
 * either nothing, or audit records whose generation the next writer or
 * opener completes (reconcile_locked).
 */
static int
write_locked(struct flags *f, size_t n, const char *const *names, const char *const *values,
    const struct flag_value *typed, const char *who, const char *reason, int emergency,
    char *err, size_t errlen)
{
	struct flags_snapshot s;
	struct audit_tail t;
	struct change *ch = NULL;
	struct flag_entry *work = NULL;
	char *text = NULL, broken_msg[512] = "";
	struct flag_entry *before = NULL;
	struct buf out = { 0 }, lines = { 0 };
	struct stamp st;
	uint64_t gen, prevgen, filegen;
	size_t i, nbefore;
	int lockfd, rc, arc = 0, wasbroken, replace_broken = 0, absent;

	memset(&t, 0, sizeof(t));
	lockfd = lock_take(f, emergency ? FLAGS_EMERGENCY_WAIT_MS : FLAGS_LOCK_WAIT_MS);
	/* the emergency rollback writes even when the lock cannot be had */
	if (lockfd < 0 && !emergency) {
		errbuf_printf(err, errlen, "%s: cannot lock: %s", f->lock_path, strerror(-lockfd));
		return lockfd;
	}
	absent = access(f->path, F_OK) != 0 && errno == ENOENT;
	rc = read_snapshot(f, &s, emergency ? &text : NULL);
	if (rc != 0 && emergency) {
		/* unreadable (too large, I/O error, a directory): replace it like a broken one */
		snprintf(broken_msg, sizeof(broken_msg), "%s", s.error);
		s.broken = 1;
		rc = 0;
	}
	if (rc != 0) {
		errbuf_printf(err, errlen, "%s", s.error);
		goto fail;
	}
	if (s.broken && !emergency) {
		/* adopt what we saw so readers fall back to defaults, then refuse */
		apply_snapshot(f, &s);
		errbuf_printf(err, errlen, "%s (fix the file, or run an emergency rollback)", s.error);
		rc = -EBADMSG;
		goto fail;
	}
	if ((rc = audit_scan(f, &t)) != 0) {
		if (!emergency) {
			errbuf_printf(err, errlen, "%s: cannot read: %s", f->audit_path, strerror(-rc));
			goto fail;
		}
		rc = 0;
	}
	if (s.broken) {
		if (broken_msg[0] == '\0')
			snprintf(broken_msg, sizeof(broken_msg), "%s", s.error);
		if (s.generation < f->generation)
			s.generation = f->generation;
		s.broken = 0;
		s.error[0] = '\0';
		replace_broken = 1;
	}
	filegen = s.generation;
	prevgen = f->generation;
	wasbroken = f->broken;
	before = entries_dup(f);
	nbefore = f->n;
	if (before == NULL || (rc = apply_snapshot(f, &s)) != 0) {
		rc = -ENOMEM;
		errbuf_printf(err, errlen, "out of memory");
		goto fail;
	}
	/* never go back, even if the file was deleted or reset by hand */
	if (f->generation < prevgen)
		f->generation = prevgen;
	if (!replace_broken && !absent) {
		/* a hand edit not yet re-read (inotify is asynchronous) is audited before we build on it */
		note_changes(f, before, nbefore, prevgen, wasbroken);
		if ((rc = reconcile_locked(f, filegen, &t, err, errlen)) != 0) {
			if (!emergency)
				goto fail;
			rc = 0;
		}
	}
	work = entries_dup(f);
	ch = calloc(n ? n : 1, sizeof(*ch));
	if (work == NULL || ch == NULL) {
		rc = -ENOMEM;
		errbuf_printf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct flag_entry *e = find_in(work, f->n, names[i]);
		struct flag_value v;

		if (e == NULL) {
			errbuf_printf(err, errlen, "%s: unknown flag", names[i]);
			rc = -ENOENT;
			goto fail;
		}
		if (typed != NULL) {
			v = typed[i];
			if ((rc = check_value(e, &v, err, errlen)) != 0)
				goto fail;
		} else if ((rc = parse_value(e, values[i], &v, err, errlen)) != 0) {
			goto fail;
		}
		ch[i].name = e->name;
		ch[i].old = e->value;
		ch[i].new = v;
		e->value = v;
		e->isset = 1;
	}
	/* a generation is never used twice, even one that never reached the file */
	gen = (t.known && t.gen > f->generation ? t.gen : f->generation) + 1;
	stamp_now(f, &st);
	if (replace_broken || absent) {
		char note[900];

		if (replace_broken)
			snprintf(note, sizeof(note), "%s was broken (%s): kept as %s.corrupt, the other "
			    "flags are back to their defaults", f->path, broken_msg, f->path);
		else
			snprintf(note, sizeof(note), "%s was missing: the other flags are back to "
			    "their defaults", f->path);
		audit_line(&lines, &st, "recovery", NULL, NULL, NULL, note, gen);
	}
	for (i = 0; i < n; i++)
		audit_line(&lines, &st, who, ch[i].name, &ch[i].old, &ch[i].new, reason, gen);
	if ((rc = serialise(work, f->n, gen, who, &st, &out)) != 0 || lines.oom) {
		rc = -ENOMEM;
		errbuf_printf(err, errlen, "out of memory");
		goto fail;
	}
	/* write-ahead: the audit records are durable before the file changes */
	if ((arc = audit_flush(f, &lines)) != 0) {
		if (!emergency) {
			rc = arc;
			errbuf_printf(err, errlen, "%s: audit append failed, flags not written: %s",
			    f->audit_path, strerror(-arc));
			goto fail;
		}
		/* the rollback goes on; the next opener audits the unaudited generation */
	}
	hook_at("audited");
	if (replace_broken) {
		char corrupt[4200], older[4300];
		struct stat sb;

		snprintf(corrupt, sizeof(corrupt), "%s.corrupt", f->path);
		if (stat(corrupt, &sb) == 0) {
			snprintf(older, sizeof(older), "%s.%lld", corrupt, (long long)time(NULL));
			rename(corrupt, older);
		}
		/* a hard link keeps the broken file without a moment where PATH is missing */
		if (link(f->path, corrupt) != 0 && rename(f->path, corrupt) != 0) {
			rc = -errno;
			errbuf_printf(err, errlen, "%s: cannot keep the broken file as %s: %s", f->path,
			    corrupt, strerror(errno));
			goto fail;
		}
	}
	if ((rc = fs_write_atomic(f->path, out.p, out.len, 0644)) != 0) {
		errbuf_printf(err, errlen, "%s: write failed: %s", f->path, strerror(-rc));
		goto fail;
	}
	hook_at("written");
	memcpy(f->e, work, f->n * sizeof(*work));
	f->generation = gen;
	f->broken = 0;
	f->error[0] = '\0';
	if (arc != 0) {
		/* the flags are written; say the journal is not */
		errbuf_printf(err, errlen, "%s: audit append failed: %s", f->audit_path,
		    strerror(-arc));
		rc = arc;
	}
fail:
	lock_release(lockfd);
	audit_tail_free(&t);
	snapshot_free(&s);
	free(lines.p);
	free(text);
	free(out.p);
	free(work);
	free(before);
	free(ch);
	return rc;
}

/*
 * Under the lock: remove PATH.tmp.PID files left by writers killed before
 * their rename (fs_write_atomic's temporary files) whose process is gone.
 */
static void
remove_stale_temps(const struct flags *f)
{
	char dir[4096], prefix[4200], full[8400];
	const char *base, *slash = strrchr(f->path, '/');
	struct dirent *de;
	size_t plen;
	DIR *d;

	if (slash != NULL) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - f->path), f->path);
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = f->path;
	}
	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "/");
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.tmp.", base);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		pid = strtol(de->d_name + plen, &end, 10);
		if (end == de->d_name + plen || *end != '\0' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;       /* alive (or not ours to ask): it may still rename it */
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		if (unlink(full) == 0)
			log_msg(LOG_LVL_INFO, "flags", "removed %s, left by a writer that stopped "
			    "before its rename", full);
	}
	closedir(d);
}

/*
 * At open, under the lock: create an absent file with the safe defaults
 * (audited first, as generation journal + 1), or reconcile an existing one
 * with the journal.  Only a failed creation is an error; a reconciliation
 * that cannot be done now (no lock, a read-only journal) is logged and left
 * to the next writer.
 */
static int
open_locked(struct flags *f, char *err, size_t errlen)
{
	struct flags_snapshot s;
	struct audit_tail t;
	struct buf lines = { 0 }, b = { 0 };
	struct stamp st;
	char note[600], msg[600] = "";
	uint64_t gen;
	size_t i;
	int lockfd, rc = 0, absent = access(f->path, F_OK) != 0 && errno == ENOENT;

	if (!absent && f->audit_path == NULL)
		return 0;
	lockfd = lock_take(f, FLAGS_LOCK_WAIT_MS);
	if (lockfd < 0) {
		if (!absent) {
			log_msg(LOG_LVL_WARN, "flags", "%s: cannot lock (%s): not checked against the "
			    "journal now", f->lock_path, strerror(-lockfd));
			return 0;
		}
		errbuf_printf(err, errlen, "%s: cannot lock: %s", f->lock_path, strerror(-lockfd));
		return lockfd;
	}
	memset(&t, 0, sizeof(t));
	remove_stale_temps(f);
	if (audit_scan(f, &t) != 0)
		t.known = 0;
	absent = access(f->path, F_OK) != 0 && errno == ENOENT;
	if (absent && audited_creation(f, &t)) {
		/* the creation was audited, its writer stopped before the rename: complete it */
		for (i = 0; i < f->n; i++)
			f->e[i].isset = 1;
		rc = reconcile_locked(f, t.gen - 1, &t, err, errlen);
	} else if (absent) {
		gen = (t.known ? t.gen : 0) + 1;
		stamp_now(f, &st);
		if (gen > 1)
			snprintf(note, sizeof(note), "%s was missing (the journal's last generation is "
			    "%" PRIu64 "): created with the safe defaults", f->path, gen - 1);
		else
			snprintf(note, sizeof(note), "created with the safe defaults");
		for (i = 0; i < f->n; i++) {
			f->e[i].isset = 1;
			audit_line(&lines, &st, "rolloutd (defaults)", f->e[i].name, NULL,
			    &f->e[i].value, note, gen);
		}
		rc = serialise(f->e, f->n, gen, "rolloutd (defaults)", &st, &b);
		if (rc == 0 && (rc = audit_flush(f, &lines)) != 0) {
			/* a journal we cannot write does not stop the store: the next opener audits it */
			log_msg(LOG_LVL_WARN, "flags", "%s: audit append failed (%s): %s is created "
			    "without its audit record", f->audit_path, strerror(-rc), f->path);
			rc = 0;
		}
		if (rc == 0)
			hook_at("audited");
		if (rc == 0)
			rc = fs_write_atomic(f->path, b.p, b.len, 0644);
		if (rc != 0)
			errbuf_printf(err, errlen, "%s: cannot create: %s", f->path, strerror(-rc));
	} else if (t.known && read_snapshot(f, &s, NULL) == 0) {
		if (!s.broken && apply_snapshot(f, &s) == 0 &&
		    reconcile_locked(f, s.generation, &t, msg, sizeof(msg)) != 0)
			log_msg(LOG_LVL_WARN, "flags", "%s", msg);
		snapshot_free(&s);
	}
	lock_release(lockfd);
	audit_tail_free(&t);
	free(lines.p);
	free(b.p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public                                                               */

static const struct {
	const char *name;
	enum flag_type type;
	long long min, max;
	int b;
	long long i;
	const char *s;
} builtins[] = {
	{ "enableHybridSystem", FLAG_BOOL, 0, 1, 0, 0, NULL },
	{ "enableParallelMode", FLAG_BOOL, 0, 1, 0, 0, NULL },
	{ "hybridTrafficPercent", FLAG_INT, 0, 100, 0, 0, NULL },
	{ "emergencyRollback", FLAG_BOOL, 0, 1, 0, 0, NULL },
	{ "rolloutPhase", FLAG_STRING, 0, 0, 0, 0, "disabled" },
};

int
flags_open(struct flags **out, const char *path, const char *audit_path, char *err,
    size_t errlen)
{
	struct flags *f;
	struct flags_snapshot s;
	char *dir = NULL, *slash;
	size_t i;
	int rc;

	*out = NULL;
	if (path == NULL || *path == '\0') {
		errbuf_printf(err, errlen, "flags: no file name");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto oom;
	f->path = strdup(path);
	f->audit_path = audit_path ? strdup(audit_path) : NULL;
	if (f->path == NULL || (audit_path && f->audit_path == NULL) ||
	    asprintf(&f->lock_path, "%s.lock", path) < 0) {
		f->lock_path = NULL;
		goto oom;
	}
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		struct flag_entry e;

		memset(&e, 0, sizeof(e));
		snprintf(e.name, sizeof(e.name), "%s", builtins[i].name);
		e.type = builtins[i].type;
		e.origin = ORIGIN_BUILTIN;
		e.min = builtins[i].min;
		e.max = builtins[i].max;
		e.deflt.type = e.type;
		e.deflt.b = builtins[i].b;
		e.deflt.i = builtins[i].i;
		if (builtins[i].s)
			snprintf(e.deflt.s, sizeof(e.deflt.s), "%s", builtins[i].s);
		e.value = e.deflt;
		if (add_entry(f, &e) != 0)
			goto oom;
	}
	if ((dir = strdup(path)) == NULL)
		goto oom;
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rc = fs_mkdir_p(dir, 0755)) != 0) {
			errbuf_printf(err, errlen, "%s: cannot create directory: %s", dir, strerror(-rc));
			goto fail;
		}
	}
	if (audit_path != NULL) {
		free(dir);
		if ((dir = strdup(audit_path)) == NULL)
			goto oom;
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if ((rc = fs_mkdir_p(dir, 0755)) != 0) {
				errbuf_printf(err, errlen, "%s: cannot create directory: %s", dir,
				    strerror(-rc));
				goto fail;
			}
		}
	}
	free(dir);
	dir = NULL;
	if ((rc = open_locked(f, err, errlen)) != 0)
		goto fail;
	rc = read_snapshot(f, &s, NULL);
	if (rc != 0) {
		errbuf_printf(err, errlen, "%s", s.error);
		goto fail;
	}
	if (apply_snapshot(f, &s) != 0) {
		snapshot_free(&s);
		goto oom;
	}
	snapshot_free(&s);
	*out = f;
	if (f->broken) {
		errbuf_printf(err, errlen, "%s", f->error);
		return -EBADMSG;
	}
	return 0;
oom:
	rc = -ENOMEM;
	errbuf_printf(err, errlen, "out of memory");
fail:
	free(dir);
	flags_close(f);
	return rc;
}

void
flags_close(struct flags *f)
{
	if (f == NULL)
		return;
	free(f->path);
	free(f->lock_path);
	free(f->audit_path);
	free(f->e);
	free(f->names);
	free(f);
}

void
flags_set_clock(struct flags *f, int64_t (*now_ms)(void *ctx), void *ctx)
{
	f->now_ms = now_ms;
	f->now_ctx = ctx;
}

int
flags_declare(struct flags *f, const char *name, enum flag_type type, long long min,
    long long max, const struct flag_value *deflt)
{
	struct flag_entry *old = find(f, name), e;
	char msg[256];

	if (!name_valid(name) || (type != FLAG_BOOL && type != FLAG_INT && type != FLAG_STRING))
		return -EINVAL;
	if (old != NULL && old->origin != ORIGIN_FILE)
		return -EEXIST;
	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.type = type;
	e.origin = ORIGIN_DECLARED;
	e.min = type == FLAG_INT ? min : 0;
	e.max = type == FLAG_INT ? max : 1;
	if (type == FLAG_INT && min > max)
		return -EINVAL;
	if (deflt != NULL) {
		e.deflt = *deflt;
		e.deflt.type = type;
	} else {
		e.deflt.type = type;
		e.deflt.i = type == FLAG_INT ? (min > 0 ? min : (max < 0 ? max : 0)) : 0;
	}
	if (check_value(&e, &e.deflt, msg, sizeof(msg)) != 0)
		return -EINVAL;
	e.value = e.deflt;
	if (old != NULL) {
		/* the file already has it: the declaration now checks that value */
		e.isset = old->isset;
		e.line = old->line;
		if (old->isset) {
			if (check_value(&e, &old->value, msg, sizeof(msg)) != 0) {
				f->broken = 1;
				snprintf(f->error, sizeof(f->error), "%s:%d: %s", f->path, old->line,
				    msg);
			} else {
				e.value = old->value;
			}
		}
		*old = e;
		return 0;
	}
	return add_entry(f, &e);
}

int
flags_reload(struct flags *f, char *err, size_t errlen)
{
	struct flags_snapshot s;
	struct audit_tail t;
	struct flag_entry *before = NULL;
	char msg[600];
	size_t nbefore;
	uint64_t genbefore = f->generation, filegen;
	int wasbroken = f->broken, rc, lockfd = -1;

	memset(&t, 0, sizeof(t));

	rc = read_snapshot(f, &s, NULL);
	/* (a deleted file is left to the next write, which recreates it) */
	if (rc == 0 && !s.broken && s.generation != genbefore && f->audit_path != NULL &&
	    access(f->path, F_OK) == 0 && (lockfd = lock_take(f, 200)) >= 0) {
		/* another generation: check it against the journal, under the lock */
		snapshot_free(&s);
		rc = read_snapshot(f, &s, NULL);
		if (audit_scan(f, &t) != 0)
			t.known = 0;
	}
	if (rc != 0) {
		errbuf_printf(err, errlen, "%s", s.error);
		goto out;
	}
	before = entries_dup(f);
	nbefore = f->n;
	if (before == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	filegen = s.generation;
	if ((rc = apply_snapshot(f, &s)) != 0)
		goto out;
	if (f->broken) {
		errbuf_printf(err, errlen, "%s", f->error);
		rc = -EBADMSG;
		goto out;
	}
	/* the generation never goes back in memory, even if the file was reset by hand */
	if (f->generation < genbefore)
		f->generation = genbefore;
	if (lockfd >= 0 && reconcile_locked(f, filegen, &t, msg, sizeof(msg)) != 0)
		log_msg(LOG_LVL_WARN, "flags", "%s", msg);
	rc = note_changes(f, before, nbefore, genbefore, wasbroken);
out:
	lock_release(lockfd);
	audit_tail_free(&t);
	snapshot_free(&s);
	free(before);
	return rc;
}

int
flags_broken(const struct flags *f)
{
	return f->broken;
}

uint64_t
flags_generation(const struct flags *f)
{
	return f->generation;
}

const char *
flags_path(const struct flags *f)
{
	return f->path;
}

const char *
flags_error(const struct flags *f)
{
	return f->broken ? f->error : "";
}

int
flags_get(const struct flags *f, const char *name, struct flag_value *out)
{
	const struct flag_entry *e = find(f, name);

	if (e == NULL)
		return -ENOENT;
	*out = f->broken ? e->deflt : e->value;
	return 0;
}

int
flags_get_bool(const struct flags *f, const char *name)
{
	struct flag_value v;

	if (flags_get(f, name, &v) != 0)
		return 0;
	return v.type == FLAG_BOOL ? v.b : v.type == FLAG_INT ? v.i != 0 : 0;
}

long long
flags_get_int(const struct flags *f, const char *name)
{
	struct flag_value v;

	if (flags_get(f, name, &v) != 0)
		return 0;
	return v.type == FLAG_INT ? v.i : v.type == FLAG_BOOL ? v.b : 0;
}

int
flags_traffic(const struct flags *f)
{
	long long t;

	if (flags_get_bool(f, "emergencyRollback"))
		return 0;
	t = flags_get_int(f, "hybridTrafficPercent");
	return t < 0 ? 0 : t > 100 ? 100 : (int)t;
}

int
flags_set(struct flags *f, const char *name, const char *value, const char *who,
    const char *reason, char *err, size_t errlen)
{
	return flags_set_many(f, 1, &name, &value, who, reason, err, errlen);
}

int
flags_set_many(struct flags *f, size_t n, const char *const *names, const char *const *values,
    const char *who, const char *reason, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] == NULL || values[i] == NULL) {
			errbuf_printf(err, errlen, "flags: missing name or value");
			return -EINVAL;
		}
	return write_locked(f, n, names, values, NULL, who, reason, 0, err, errlen);
}

int
flags_emergency_rollback(struct flags *f, const char *who, const char *reason, char *err,
    size_t errlen)
{
	static const char *const names[] = { "hybridTrafficPercent", "enableHybridSystem",
		"emergencyRollback" };
	struct flag_value v[3];

	memset(v, 0, sizeof(v));
	v[0].type = FLAG_INT;
	v[0].i = 0;
	v[1].type = FLAG_BOOL;
	v[1].b = 0;
	v[2].type = FLAG_BOOL;
	v[2].b = 1;
	return write_locked(f, 3, names, NULL, v, who, reason ? reason : "emergency rollback", 1,
	    err, errlen);
}

const char *const *
flags_names(const struct flags *f, size_t *n)
{
	*n = f->n;
	return f->names;
}

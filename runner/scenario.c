/*
 * scenario.c — load a simulation scenario and compute its metric values (scenario.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "scenario.h"
#include "ynode.h"

#define SCENARIO_MAX_BYTES (4u << 20)
#define SCENARIO_T0 1767225600000LL       /* 2026-01-01T00:00:00Z */

static int
serr(char *err, size_t errlen, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
serr(char *err, size_t errlen, const struct ynode *n, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	snprintf(err, errlen, "%s:%d:%d: ", n->file, n->line, n->col);
	off = strlen(err);
	va_start(ap, fmt);
	vsnprintf(err + off, errlen > off ? errlen - off : 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
get_duration(const struct ynode *n, int64_t *ms, char *err, size_t errlen)
{
	char e[160];

	if (n->kind != YNODE_SCALAR)
		return serr(err, errlen, n, "expected a duration like 10s or 3d");
	if (strcmp(n->scalar, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (duration_parse(n->scalar, ms, e, sizeof(e)) != 0)
		return serr(err, errlen, n, "%s", e);
	return 0;
}

static int
get_number(const struct ynode *n, double *v, char *err, size_t errlen)
{
	char *end;

	if (n->kind != YNODE_SCALAR || n->scalar[0] == '\0')
		return serr(err, errlen, n, "expected a number");
	*v = strtod(n->scalar, &end);
	if (*end != '\0')
		return serr(err, errlen, n, "expected a number, got \"%s\"", n->scalar);
	return 0;
}

static int
get_string(const struct ynode *n, char **s, char *err, size_t errlen)
{
	if (n->kind != YNODE_SCALAR)
		return serr(err, errlen, n, "expected a string");
	*s = strdup(n->scalar);
	return *s ? 0 : -ENOMEM;
}

/* Reject keys of map N not in ALLOWED (NULL-terminated). */
static int
check_keys(const struct ynode *n, const char *const *allowed, char *err, size_t errlen)
{
	size_t i, k;

	if (n->kind != YNODE_MAP)
		return serr(err, errlen, n, "expected a map");
	for (i = 0; i < n->len; i++) {
		for (k = 0; allowed[k]; k++)
			if (strcmp(n->keys[i]->scalar, allowed[k]) == 0)
				break;
		if (allowed[k] == NULL)
			return serr(err, errlen, n->keys[i], "unknown key \"%s\"", n->keys[i]->scalar);
	}
	return 0;
}

static int
parse_time(const struct ynode *n, int64_t *ms, char *err, size_t errlen)
{
	struct tm tm = { 0 };
	char *end;

	if (n->kind != YNODE_SCALAR || (end = strptime(n->scalar, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL
	    || *end != '\0')
		return serr(err, errlen, n, "expected a UTC time like 2026-01-01T00:00:00Z");
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

static uint64_t
fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
parse_metric(struct scenario *sc, struct scenario_metric *m, const struct ynode *key,
    const struct ynode *v, char *err, size_t errlen)
{
	static const char *const keys[] = { "value", "noise", "every", "points", "outages", NULL };
	static const char *const pkeys[] = { "at", "value", "ramp", NULL };
	static const char *const okeys[] = { "from", "to", NULL };
	const struct ynode *x;
	size_t i;
	int rc;

	if ((m->name = strdup(key->scalar)) == NULL)
		return -ENOMEM;
	m->salt = fnv(m->name);
	m->every_ms = sc->sample_ms;
	if (v->kind == YNODE_SCALAR)
		return get_number(v, &m->value, err, errlen);
	if ((rc = check_keys(v, keys, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(v, "value")) && (rc = get_number(x, &m->value, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(v, "noise")) && (rc = get_number(x, &m->noise, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(v, "every")) && (rc = get_duration(x, &m->every_ms, err, errlen)) != 0)
		return rc;
	if (m->every_ms <= 0)
		return serr(err, errlen, x ? x : v, "the sample period must be positive");
	if ((x = ynode_get(v, "points")) != NULL) {
		if (x->kind != YNODE_SEQ)
			return serr(err, errlen, x, "expected a list of { at, value, ramp }");
		m->points = calloc(x->len + 1, sizeof(*m->points));
		if (m->points == NULL)
			return -ENOMEM;
		for (i = 0; i < x->len; i++) {
			const struct ynode *p = x->items[i], *a, *r;

			if ((rc = check_keys(p, pkeys, err, errlen)) != 0)
				return rc;
			if ((a = ynode_get(p, "at")) == NULL || ynode_get(p, "value") == NULL)
				return serr(err, errlen, p, "a point needs at: and value:");
			if ((rc = get_duration(a, &m->points[i].at_ms, err, errlen)) != 0
			    || (rc = get_number(ynode_get(p, "value"), &m->points[i].value, err, errlen)) != 0)
				return rc;
			if (i > 0 && m->points[i].at_ms <= m->points[i - 1].at_ms)
				return serr(err, errlen, a, "points must be in increasing time order");
			r = ynode_get(p, "ramp");
			if (r != NULL) {
				if (r->kind != YNODE_SCALAR || (strcmp(r->scalar, "true") && strcmp(r->scalar, "false")))
					return serr(err, errlen, r, "expected true or false");
				m->points[i].ramp = strcmp(r->scalar, "true") == 0;
			}
			m->npoints++;
		}
	}
	if ((x = ynode_get(v, "outages")) != NULL) {
		if (x->kind != YNODE_SEQ)
			return serr(err, errlen, x, "expected a list of { from, to }");
		m->outages = calloc(x->len + 1, sizeof(*m->outages));
		if (m->outages == NULL)
			return -ENOMEM;
		for (i = 0; i < x->len; i++) {
			const struct ynode *o = x->items[i];

			if ((rc = check_keys(o, okeys, err, errlen)) != 0)
				return rc;
			if (!ynode_get(o, "from") || !ynode_get(o, "to"))
				return serr(err, errlen, o, "an outage needs from: and to:");
			if ((rc = get_duration(ynode_get(o, "from"), &m->outages[i].from_ms, err, errlen)) != 0
			    || (rc = get_duration(ynode_get(o, "to"), &m->outages[i].to_ms, err, errlen)) != 0)
				return rc;
			if (m->outages[i].to_ms <= m->outages[i].from_ms)
				return serr(err, errlen, o, "an outage must end after it starts");
			m->noutages++;
		}
	}
	return 0;
}

static int
parse_event(struct scenario_event *ev, const struct ynode *n, char *err, size_t errlen)
{
	static const char *const keys[] = { "at", "action", "arg", "who", "reason", "log", "source", NULL };
	const struct ynode *x;
	int rc;

	if ((rc = check_keys(n, keys, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(n, "at")) == NULL)
		return serr(err, errlen, n, "an event needs at:");
	if ((rc = get_duration(x, &ev->at_ms, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(n, "action")) != NULL) {
		if (x->kind != YNODE_SCALAR || (ev->action = engine_action_parse(x->scalar)) == 0)
			return serr(err, errlen, x, "unknown action (pause, resume, promote, promote-full, "
			    "abort, retry, rollback, phase)");
		if (ynode_get(n, "log"))
			return serr(err, errlen, n, "an event is either action: or log:, not both");
		if (ev->action == ACT_SKIP_TO_PHASE && ynode_get(n, "arg") == NULL)
			return serr(err, errlen, x, "phase needs arg: PHASE");
	} else if ((x = ynode_get(n, "log")) != NULL) {
		if ((rc = get_string(x, &ev->log, err, errlen)) != 0)
			return rc;
	} else {
		return serr(err, errlen, n, "an event needs action: or log:");
	}
	if ((x = ynode_get(n, "arg")) && (rc = get_string(x, &ev->arg, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(n, "who")) && (rc = get_string(x, &ev->who, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(n, "reason")) && (rc = get_string(x, &ev->reason, err, errlen)) != 0)
		return rc;
	if ((x = ynode_get(n, "source")) && (rc = get_string(x, &ev->source, err, errlen)) != 0)
		return rc;
	return 0;
}

static int
cmp_event(const void *a, const void *b)
{
	const struct scenario_event *x = a, *y = b;

	return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

int
scenario_load(const char *file, struct scenario **out, char *err, size_t errlen)
{
	static const char *const keys[] = { "start", "sample", "duration", "seed", "metrics",
		"events", "description", NULL };
	struct ynode *root = NULL;
	struct scenario *sc;
	const struct ynode *x;
	size_t i;
	int rc;

	*out = NULL;
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return -ENOMEM;
	sc->start_ms = SCENARIO_T0;
	sc->sample_ms = 10000;
	sc->duration_ms = 90LL * 86400000;
	sc->seed = 1;
	if ((sc->file = strdup(file)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = ynode_load_file(file, SCENARIO_MAX_BYTES, &root, err, errlen);
	if (rc != 0)
		goto fail;
	if ((rc = check_keys(root, keys, err, errlen)) != 0)
		goto fail;
	if ((x = ynode_get(root, "start")) && (rc = parse_time(x, &sc->start_ms, err, errlen)) != 0)
		goto fail;
	if ((x = ynode_get(root, "sample")) && (rc = get_duration(x, &sc->sample_ms, err, errlen)) != 0)
		goto fail;
	if (sc->sample_ms <= 0) {
		rc = serr(err, errlen, x, "the sample period must be positive");
		goto fail;
	}
	if ((x = ynode_get(root, "duration")) && (rc = get_duration(x, &sc->duration_ms, err, errlen)) != 0)
		goto fail;
	if ((x = ynode_get(root, "seed")) != NULL) {
		double d;

		if ((rc = get_number(x, &d, err, errlen)) != 0)
			goto fail;
		sc->seed = (uint64_t)d;
	}
	if ((x = ynode_get(root, "metrics")) != NULL) {
		if (x->kind != YNODE_MAP) {
			rc = serr(err, errlen, x, "expected a map of metric name to values");
			goto fail;
		}
		sc->metrics = calloc(x->len + 1, sizeof(*sc->metrics));
		if (sc->metrics == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < x->len; i++) {
			sc->nmetrics++;
			rc = parse_metric(sc, &sc->metrics[i], x->keys[i], x->items[i], err, errlen);
			if (rc != 0)
				goto fail;
		}
	}
	if ((x = ynode_get(root, "events")) != NULL) {
		if (x->kind != YNODE_SEQ) {
			rc = serr(err, errlen, x, "expected a list of events");
			goto fail;
		}
		sc->events = calloc(x->len + 1, sizeof(*sc->events));
		if (sc->events == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < x->len; i++) {
			sc->nevents++;
			rc = parse_event(&sc->events[i], x->items[i], err, errlen);
			if (rc != 0)
				goto fail;
		}
		/* stable: qsort is not, so break ties by file order first */
		for (i = 0; i < sc->nevents; i++)
			sc->events[i].at_ms = sc->events[i].at_ms * 4096 + (int64_t)i;
		qsort(sc->events, sc->nevents, sizeof(*sc->events), cmp_event);
		for (i = 0; i < sc->nevents; i++)
			sc->events[i].at_ms /= 4096;
	}
	ynode_free(root);
	*out = sc;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", file);
	ynode_free(root);
	scenario_free(sc);
	return rc;
}

void
scenario_free(struct scenario *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nmetrics; i++) {
		free(s->metrics[i].name);
		free(s->metrics[i].points);
		free(s->metrics[i].outages);
	}
	for (i = 0; i < s->nevents; i++) {
		free(s->events[i].arg);
		free(s->events[i].who);
		free(s->events[i].reason);
		free(s->events[i].log);
		free(s->events[i].source);
	}
	free(s->metrics);
	free(s->events);
	free(s->file);
	free(s);
}

static uint64_t
splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

int
scenario_value(const struct scenario *s, const struct scenario_metric *m, int64_t t, double *out)
{
	double v = m->value;
	size_t i;

	if (m->noutages == 0 && m->npoints == 0 && m->noise == 0) {
		*out = v;
		return 0;
	}
	for (i = 0; i < m->noutages; i++)
		if (t >= m->outages[i].from_ms && t < m->outages[i].to_ms)
			return -ENODATA;
	for (i = 0; i < m->npoints && m->points[i].at_ms <= t; i++)
		v = m->points[i].value;
	/* inside a ramp towards point i */
	if (i < m->npoints && m->points[i].ramp) {
		int64_t t0 = i > 0 ? m->points[i - 1].at_ms : 0;
		double v0 = i > 0 ? m->points[i - 1].value : m->value;

		v = v0 + (m->points[i].value - v0) * (double)(t - t0) / (double)(m->points[i].at_ms - t0);
	}
	if (m->noise != 0) {
		uint64_t r = splitmix(s->seed ^ m->salt ^ splitmix((uint64_t)t));

		v += m->noise * (2.0 * ((double)(r >> 11) / 9007199254740992.0) - 1.0);
	}
	*out = v;
	return 0;
}

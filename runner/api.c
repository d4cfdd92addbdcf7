/*
 * api.c — the routes of rolloutd's HTTP API (rolloutd-api(7)): JSON in and
 * out, bearer token on every POST, strict body validation naming the field,
 * Prometheus at /metrics, the dashboard's files at /rollout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "duration.h"
#include "engine.h"
#include "flags.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
#include "promexp.h"
#include "rollout/plugin.h"
#include "token.h"

#define API_MAX_LIMIT 1000
#define API_CHART_POINTS 120

const char *const api_state_names[] = { "pending", "running", "holding", "gating", "paused",
	"rolling_back", "rolled_back", "aborted", "completed", NULL };

/* Series the dashboard charts (baseline vs candidate). */
static const char *const chart_series[] = {
	"candidate.alert_latency", "baseline.alert_latency",
	"candidate.errors", "baseline.errors",
	"candidate.requests", "baseline.requests",
	"shadow.accuracy", "router.traffic", NULL,
};

struct api {
	struct api_opts o;
	int64_t started_mono_ms;
	json_t *last_rollback;          /* the last emergency rollback, or NULL */
};

/* ---- plumbing ------------------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_ms(struct api *a)
{
	struct timespec ts;

	if (a->o.clock != NULL)
		return clock_now_ms(a->o.clock);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
reply(struct http_response *rs, int status, json_t *o)
{
	http_reply_json(rs, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
	json_decref(o);
}

static void
changed(struct api *a)
{
	if (a->o.changed != NULL)
		a->o.changed(a->o.ctx);
}

int
api_create(struct api **out, const struct api_opts *o)
{
	struct api *a = calloc(1, sizeof *a);

	if (a == NULL)
		return -ENOMEM;
	a->o = *o;
	a->started_mono_ms = mono_ms();
	*out = a;
	return 0;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	json_decref(a->last_rollback);
	free(a);
}

void
api_set_engine(struct api *a, struct engine *e)
{
	a->o.engine = e;
}

/* Journal a mutating call with the caller's address (kind "api"). */
static void
journal_call(struct api *a, const struct http_request *rq, const char *who, const char *reason,
    int status, const char *detail)
{
	char t[40];
	json_t *rec;
	int64_t now = now_ms(a);

	if (a->o.journal == NULL)
		return;
	rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:i}", "time", journal_time(now, t, sizeof t),
	    "t_ms", (json_int_t)now, "kind", "api", "who", who ? who : "api", "addr", rq->peer,
	    "route", rq->path, "status", status);
	if (rec == NULL)
		return;
	if (reason != NULL)
		json_object_set_new(rec, "reason", json_string(reason));
	if (detail != NULL && *detail != '\0')
		json_object_set_new(rec, "detail", json_string(detail));
	if (journal_append(a->o.journal, rec) != 0)
		log_warn("journal: could not record API call %s from %s", rq->path, rq->peer);
	json_decref(rec);
}

/* ---- body validation ------------------------------------------------------ */

enum ftype { F_STRING = 1, F_BOOL, F_INT, F_ANY };

struct field {
	const char *name;
	enum ftype type;
	int required;
};

static const char *
jtype_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/*
 * Parse the body as a JSON object with only FIELDS (plus "who" and "reason",
 * optional strings).  An empty body is {}.  On error fills RS (400) and
 * returns NULL.
 */
static json_t *
body_parse(const struct http_request *rq, const struct field *fields, struct http_response *rs)
{
	static const struct field common[] = { { "who", F_STRING, 0 }, { "reason", F_STRING, 0 } };
	json_error_t je;
	json_t *o, *v;
	const char *key, *want;
	size_t i;
	int ok;

	for (i = 0; i < rq->body_len && (rq->body[i] == ' ' || rq->body[i] == '\n' ||
	    rq->body[i] == '\r' || rq->body[i] == '\t'); i++)
		;
	if (i == rq->body_len) {
		o = json_object();
	} else {
		o = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		if (o == NULL) {
			http_reply_error(rs, 400, "request body: invalid JSON at line %d, column %d: %s",
			    je.line, je.column, je.text);
			return NULL;
		}
		if (!json_is_object(o)) {
			http_reply_error(rs, 400, "request body: expected a JSON object, got %s",
			    jtype_name(o));
			json_decref(o);
			return NULL;
		}
	}
	json_object_foreach(o, key, v) {
		const struct field *f = NULL;

		for (i = 0; fields != NULL && fields[i].name != NULL; i++)
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		for (i = 0; f == NULL && i < 2; i++)
			if (strcmp(common[i].name, key) == 0)
				f = &common[i];
		if (f == NULL) {
			char known[256] = "who, reason";

			for (i = 0; fields != NULL && fields[i].name != NULL; i++) {
				strncat(known, ", ", sizeof known - strlen(known) - 1);
				strncat(known, fields[i].name, sizeof known - strlen(known) - 1);
			}
			http_reply_error(rs, 400, "field \"%s\": unknown field (known: %s)", key, known);
			json_decref(o);
			return NULL;
		}
		switch (f->type) {
		case F_STRING: ok = json_is_string(v); want = "a string"; break;
		case F_BOOL: ok = json_is_boolean(v); want = "a boolean"; break;
		case F_INT: ok = json_is_integer(v); want = "an integer"; break;
		default: ok = 1; want = "a value"; break;
		}
		if (!ok) {
			http_reply_error(rs, 400, "field \"%s\": expected %s, got %s", key, want,
			    jtype_name(v));
			json_decref(o);
			return NULL;
		}
	}
	for (i = 0; fields != NULL && fields[i].name != NULL; i++) {
		if (fields[i].required && json_object_get(o, fields[i].name) == NULL) {
			http_reply_error(rs, 400, "field \"%s\": required", fields[i].name);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Query parameter NAME as an integer in [MIN, MAX]; DFLT when absent.  -1 with RS filled on error. */
static int
query_int(const struct http_request *rq, const char *name, long dflt, long min, long max, long *out,
    struct http_response *rs)
{
	char buf[64], *end;
	long v;

	if (!http_query_get(rq, name, buf, sizeof buf)) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	v = strtol(buf, &end, 10);
	if (buf[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		http_reply_error(rs, 400, "query \"%s\": expected an integer from %ld to %ld, got \"%s\"",
		    name, min, max, buf);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- views ---------------------------------------------------------------- */

static json_t *
flag_json(const struct flag_value *v)
{
	switch (v->type) {
	case FLAG_BOOL: return json_boolean(v->b);
	case FLAG_INT: return json_integer(v->i);
	default: return json_string(v->s);
	}
}

static const char *
flag_type_name(enum flag_type t)
{
	return t == FLAG_BOOL ? "bool" : t == FLAG_INT ? "int" : "string";
}

static json_t *
flags_view(struct api *a)
{
	struct flag_value v;
	const char *const *names;
	json_t *o, *vals, *types;
	size_t n, i;

	if (a->o.flags == NULL)
		return json_pack("{s:b, s:s}", "available", 0, "error", "the flag store is not open");
	vals = json_object();
	types = json_object();
	names = flags_names(a->o.flags, &n);
	for (i = 0; i < n; i++) {
		if (flags_get(a->o.flags, names[i], &v) != 0)
			continue;
		json_object_set_new(vals, names[i], flag_json(&v));
		json_object_set_new(types, names[i], json_string(flag_type_name(v.type)));
	}
	o = json_pack("{s:s, s:I, s:b, s:i, s:o, s:o}", "path", flags_path(a->o.flags),
	    "generation", (json_int_t)flags_generation(a->o.flags), "broken", flags_broken(a->o.flags),
	    "effective_traffic", flags_traffic(a->o.flags), "flags", vals, "types", types);
	if (flags_broken(a->o.flags))
		json_object_set_new(o, "error", json_string(flags_error(a->o.flags)));
	return o;
}

static json_t *
plan_view(const struct plan *p)
{
	json_t *phases = json_array(), *ph, *steps, *gates, *st;
	size_t i, j;

	for (i = 0; i < p->nphases; i++) {
		const struct plan_phase *x = &p->phases[i];

		steps = json_array();
		for (j = 0; j < x->nsteps; j++) {
			const struct plan_step *s = &x->steps[j];

			st = json_pack("{s:s, s:I}", "kind", plan_step_kind_name(s->kind), "hold_ms",
			    (json_int_t)s->hold_ms);
			if (s->kind == STEP_TRAFFIC)
				json_object_set_new(st, "traffic", json_integer(s->traffic));
			if (s->kind == STEP_CALL && s->call_command != NULL)
				json_object_set_new(st, "command", json_string(s->call_command));
			json_array_append_new(steps, st);
		}
		gates = json_array();
		for (j = 0; j < x->ngates; j++)
			json_array_append_new(gates, json_string(x->gates[j].text));
		ph = json_pack("{s:s, s:I, s:o, s:o, s:s}", "name", x->name, "hold_ms",
		    (json_int_t)x->hold_ms, "steps", steps, "gates", gates, "on_fail",
		    plan_on_fail_name(x->on_fail));
		json_array_append_new(phases, ph);
	}
	return phases;
}

json_t *
api_status_json(struct api *a)
{
	json_t *o;

	if (a->o.engine != NULL)
		o = engine_status(a->o.engine);
	else
		o = json_pack("{s:s}", "state", "not running");
	if (o == NULL)
		o = json_object();
	if (a->o.plan != NULL) {
		if (json_object_get(o, "plan") == NULL)
			json_object_set_new(o, "plan", json_string(a->o.plan->name));
		json_object_set_new(o, "plan_file", json_string(a->o.plan->file));
		json_object_set_new(o, "phases", plan_view(a->o.plan));
	}
	if (a->o.engine != NULL) {
		json_object_set_new(o, "state", json_string(engine_state_name(engine_state(a->o.engine))));
		json_object_set_new(o, "traffic", json_integer(engine_traffic(a->o.engine)));
	}
	json_object_set_new(o, "time_ms", json_integer(now_ms(a)));
	json_object_set_new(o, "speed", json_real(a->o.speed > 0 ? a->o.speed : 1));
	json_object_set_new(o, "read_only", json_boolean(a->o.read_only));
	json_object_set_new(o, "uptime_ms", json_integer(mono_ms() - a->started_mono_ms));
	json_object_set_new(o, "version", json_string(a->o.version ? a->o.version : "unknown"));
	if (a->o.flags != NULL) {
		json_object_set_new(o, "flags", flags_view(a));
		json_object_set_new(o, "effective_traffic", json_integer(flags_traffic(a->o.flags)));
	}
	json_object_set(o, "last_emergency_rollback", a->last_rollback ? a->last_rollback : json_null());
	return o;
}

static json_t *
metrics_view_json(struct api *a, int64_t window_ms, size_t points)
{
	json_t *o = json_object(), *series = json_object(), *derived = json_object(), *sys;
	const char *systems[2] = { "candidate", "baseline" };
	char name[96];
	double v, r1, r2;
	size_t i, n;

	json_object_set_new(o, "time_ms", json_integer(now_ms(a)));
	json_object_set_new(o, "window_ms", json_integer(window_ms));
	if (a->o.metrics == NULL) {
		json_object_set_new(o, "series", series);
		json_object_set_new(o, "derived", derived);
		return o;
	}
	for (i = 0; chart_series[i] != NULL; i++)
		json_object_set_new(series, chart_series[i],
		    metrics_series_json(a->o.metrics, chart_series[i], window_ms, points));
	for (i = 0; i < 2; i++) {
		sys = json_object();
		snprintf(name, sizeof name, "%s.alert_latency", systems[i]);
		if (metrics_window(a->o.metrics, name, EXPR_FN_P95, window_ms, &v, &n) == 0)
			json_object_set_new(sys, "p95_alert_latency_s", json_real(v));
		if (metrics_window(a->o.metrics, name, EXPR_FN_AVG, window_ms, &v, &n) == 0)
			json_object_set_new(sys, "avg_alert_latency_s", json_real(v));
		snprintf(name, sizeof name, "%s.errors", systems[i]);
		if (metrics_window(a->o.metrics, name, EXPR_FN_RATE, window_ms, &r1, &n) != 0)
			r1 = 0;
		snprintf(name, sizeof name, "%s.requests", systems[i]);
		if (metrics_window(a->o.metrics, name, EXPR_FN_RATE, window_ms, &r2, &n) == 0 && r2 > 0)
			json_object_set_new(sys, "error_rate", json_real(r1 / r2));
		json_object_set_new(sys, "requests_per_s", json_real(r2 > 0 ? r2 : 0));
		json_object_set_new(derived, systems[i], sys);
	}
	if (metrics_latest(a->o.metrics, "shadow.accuracy", &v) == 0)
		json_object_set_new(derived, "shadow_accuracy", json_real(v));
	json_object_set_new(o, "series", series);
	json_object_set_new(o, "derived", derived);
	return o;
}

struct values_ctx {
	json_t *values;
};

static void
values_one(void *ctx, const char *name, enum metric_type type, const char *help, double latest,
    uint64_t total)
{
	struct values_ctx *c = ctx;

	(void)help;
	json_object_set_new(c->values, name, json_pack("{s:s, s:f, s:I}", "type",
	    type == METRIC_COUNTER ? "counter" : "gauge", "latest", latest, "samples",
	    (json_int_t)total));
}

/* ---- routes --------------------------------------------------------------- */

static void
r_status(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	(void)rq;
	reply(rs, 200, api_status_json(a));
}

static void
r_history(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	long offset, limit;
	json_t *tail, *entries, *o;
	size_t n, i;

	if (query_int(rq, "offset", 0, 0, 1000000, &offset, rs) != 0 ||
	    query_int(rq, "limit", 50, 1, API_MAX_LIMIT, &limit, rs) != 0)
		return;
	if (a->o.journal_path == NULL || access(a->o.journal_path, F_OK) != 0) {
		reply(rs, 200, json_pack("{s:i, s:i, s:[], s:b}", "offset", (int)offset, "limit",
		    (int)limit, "entries", "more", 0));
		return;
	}
	tail = journal_read_tail(a->o.journal_path, (size_t)(offset + limit + 1));
	if (tail == NULL) {
		http_reply_error(rs, 500, "%s: cannot read the journal", a->o.journal_path);
		return;
	}
	n = json_array_size(tail);
	entries = json_array();
	/* newest first */
	for (i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
		json_array_append(entries, json_array_get(tail, n - 1 - i));
	o = json_pack("{s:i, s:i, s:o, s:b}", "offset", (int)offset, "limit", (int)limit, "entries",
	    entries, "more", n > (size_t)(offset + limit));
	json_decref(tail);
	reply(rs, 200, o);
}

static void
r_metrics(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	struct values_ctx vc;
	char wbuf[64], err[128];
	int64_t window = 3600 * 1000;
	long points;
	json_t *o;

	if (http_query_get(rq, "window", wbuf, sizeof wbuf) &&
	    (duration_parse(wbuf, &window, err, sizeof err) != 0 || window <= 0)) {
		http_reply_error(rs, 400, "query \"window\": expected a duration like 10m or 1h, got \"%s\"",
		    wbuf);
		return;
	}
	if (query_int(rq, "points", API_CHART_POINTS, 2, 2000, &points, rs) != 0)
		return;
	o = metrics_view_json(a, window, (size_t)points);
	vc.values = json_object();
	if (a->o.metrics != NULL)
		metrics_foreach(a->o.metrics, values_one, &vc);
	json_object_set_new(o, "values", vc.values);
	reply(rs, 200, o);
}

static void
r_safety(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	json_t *st = api_status_json(a), *o, *breakers = json_object(), *h, *pl, *x;
	const char *inst;
	double v;

	(void)rq;
	o = json_object();
	x = json_object_get(st, "triggers");
	json_object_set(o, "triggers", x ? x : json_array());
	if (a->o.metrics != NULL && metrics_latest(a->o.metrics, "safety.last_drill_ms", &v) == 0)
		json_object_set_new(o, "last_drill_ms", json_real(v));
	else if ((x = json_object_get(st, "last_drill_ms")) != NULL)
		json_object_set(o, "last_drill_ms", x);
	else
		json_object_set_new(o, "last_drill_ms", json_null());
	if ((x = json_object_get(st, "rollbacks")) != NULL)
		json_object_set(o, "rollbacks", x);
	else if (a->o.metrics != NULL && metrics_window(a->o.metrics, "safety.rollbacks", EXPR_FN_SUM,
	    INT64_C(1) << 50, &v, &(size_t){ 0 }) == 0)
		json_object_set_new(o, "rollbacks", json_real(v));
	if (a->o.metrics != NULL) {
		if (metrics_latest(a->o.metrics, "baseline.breaker_state", &v) == 0)
			json_object_set_new(breakers, "baseline", json_real(v));
		if (metrics_latest(a->o.metrics, "candidate.breaker_state", &v) == 0)
			json_object_set_new(breakers, "candidate", json_real(v));
	}
	if (a->o.pipeline != NULL) {
		h = pipeline_health_json(a->o.pipeline);
		json_object_foreach(json_object_get(h, "plugins"), inst, pl)
			if ((x = json_object_get(pl, "breakers")) != NULL)
				json_object_set(breakers, inst, x);
		json_object_set(o, "plugins", json_object_get(h, "plugins") ?
		    json_object_get(h, "plugins") : json_object());
		json_decref(h);
	}
	json_object_set_new(o, "breakers", breakers);
	if (a->o.flags != NULL) {
		json_object_set_new(o, "emergency_rollback",
		    json_boolean(flags_get_bool(a->o.flags, "emergencyRollback")));
		json_object_set_new(o, "flags_broken", json_boolean(flags_broken(a->o.flags)));
		if (flags_broken(a->o.flags))
			json_object_set_new(o, "flags_error", json_string(flags_error(a->o.flags)));
	}
	json_object_set(o, "last_emergency_rollback", a->last_rollback ? a->last_rollback : json_null());
	json_decref(st);
	reply(rs, 200, o);
}

static void
r_flags_get(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	(void)rq;
	if (a->o.flags == NULL) {
		http_reply_error(rs, 503, "the flag store is not open");
		return;
	}
	reply(rs, 200, flags_view(a));
}

static void
r_health(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	json_t *o = json_object(), *problems = json_array();
	int journal_ok;

	(void)rq;
	journal_ok = a->o.journal != NULL && a->o.journal_path != NULL &&
	    access(a->o.journal_path, W_OK) == 0;
	if (a->o.plan == NULL || a->o.engine == NULL)
		json_array_append_new(problems, json_string("no plan is loaded"));
	if (!journal_ok)
		json_array_append_new(problems, json_pack("s+", "journal not writable: ",
		    a->o.journal_path ? a->o.journal_path : "(none)"));
	json_object_set_new(o, "plan_loaded", json_boolean(a->o.plan != NULL && a->o.engine != NULL));
	json_object_set_new(o, "journal_writable", json_boolean(journal_ok));
	if (a->o.flags != NULL) {
		json_object_set_new(o, "flags_ok", json_boolean(!flags_broken(a->o.flags)));
		if (flags_broken(a->o.flags))
			json_object_set_new(o, "flags_error", json_string(flags_error(a->o.flags)));
	}
	if (a->o.engine != NULL)
		json_object_set_new(o, "state", json_string(engine_state_name(engine_state(a->o.engine))));
	if (a->o.pipeline != NULL)
		json_object_set_new(o, "pipeline", pipeline_health_json(a->o.pipeline));
	json_object_set_new(o, "uptime_ms", json_integer(mono_ms() - a->started_mono_ms));
	json_object_set_new(o, "status", json_string(json_array_size(problems) ? "unavailable" : "ok"));
	json_object_set_new(o, "problems", problems);
	reply(rs, json_array_size(problems) ? 503 : 200, o);
}

static void
r_alerts(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	long offset, limit;

	if (query_int(rq, "offset", 0, 0, 1000000, &offset, rs) != 0 ||
	    query_int(rq, "limit", 50, 1, API_MAX_LIMIT, &limit, rs) != 0)
		return;
	if (a->o.pipeline == NULL) {
		reply(rs, 200, json_pack("{s:i, s:[]}", "total", 0, "alerts"));
		return;
	}
	reply(rs, 200, pipeline_alerts_json(a->o.pipeline, (size_t)offset, (size_t)limit));
}

static void
r_shadow(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	(void)rq;
	if (a->o.pipeline == NULL) {
		reply(rs, 200, json_pack("{s:[]}", "mismatches"));
		return;
	}
	reply(rs, 200, pipeline_shadow_json(a->o.pipeline));
}

static void
r_prometheus(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	struct promexp_input in = { 0 };
	struct http_stats hs;
	size_t len = 0;
	char *text;

	(void)rq;
	if (a->o.prom == NULL) {
		http_reply_error(rs, 503, "metrics exporter not available");
		return;
	}
	if (a->o.metrics != NULL)
		promexp_collect(a->o.prom, a->o.metrics, now_ms(a));
	in.metrics = a->o.metrics;
	in.status = api_status_json(a);
	in.state_names = api_state_names;
	if (a->o.pipeline != NULL) {
		in.health = pipeline_health_json(a->o.pipeline);
		in.alerts = pipeline_alerts_json(a->o.pipeline, 0, API_MAX_LIMIT);
	}
	if (a->o.http != NULL) {
		http_server_stats(a->o.http, &hs);
		in.http = &hs;
		in.ws_clients = http_ws_clients(a->o.http);
	}
	if (a->o.flags != NULL) {
		in.flags_traffic = flags_traffic(a->o.flags);
		in.emergency_rollback = flags_get_bool(a->o.flags, "emergencyRollback");
		in.flags_broken = flags_broken(a->o.flags);
		in.flags_generation = flags_generation(a->o.flags);
	}
	in.uptime_seconds = (double)(mono_ms() - a->started_mono_ms) / 1000.0;
	in.version = a->o.version;
	text = promexp_render(a->o.prom, &in, &len);
	json_decref(in.status);
	json_decref(in.health);
	json_decref(in.alerts);
	if (text == NULL) {
		http_reply_error(rs, 500, "out of memory");
		return;
	}
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	rs->body = text;
	rs->len = len;
}

static void
r_dashboard(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	const char *rel;

	if (a->o.web_dir == NULL) {
		http_reply_error(rs, 404, "the dashboard is not installed (no --web-dir)");
		return;
	}
	if (strcmp(rq->path, "/") == 0) {
		rs->status = 302;
		rs->location = "/rollout/";
		rs->content_type = "text/plain; charset=utf-8";
		rs->body = strdup("see /rollout/\n");
		rs->len = rs->body ? strlen(rs->body) : 0;
		return;
	}
	rel = rq->path + strlen("/rollout");
	if (*rel == '\0')
		rel = "/";
	http_serve_file(a->o.web_dir, rel, rs);
}

/* ---- mutating routes ------------------------------------------------------ */

struct call {
	struct api *a;
	const struct http_request *rq;
	struct http_response *rs;
	json_t *body;
	char who[160];
	struct engine_actor actor;
};

static void
call_setup(struct call *c)
{
	const char *w = jstr(c->body, "who");

	snprintf(c->who, sizeof c->who, "%s@%s", w ? w : "api", c->rq->peer);
	c->actor.who = w ? w : "api";
	c->actor.addr = c->rq->peer;
	c->actor.reason = jstr(c->body, "reason");
}

static int
errno_status(int rc)
{
	/* the engine refuses an action with -EINVAL when the state does not allow it */
	return rc == -ENOENT ? 404 : 409;
}

static void
act(struct call *c, enum engine_action action, const char *arg, const char *what)
{
	struct api *a = c->a;
	char err[512] = "";
	int rc;

	if (a->o.engine == NULL) {
		http_reply_error(c->rs, 503, "%s: the rollout engine is not running", what);
		return;
	}
	rc = engine_act(a->o.engine, action, arg, &c->actor, err, sizeof err);
	if (rc != 0) {
		http_reply_error(c->rs, errno_status(rc), "%s: %s", what, err[0] ? err : strerror(-rc));
		changed(a);
		return;
	}
	reply(c->rs, 200, json_pack("{s:b, s:s, s:s, s:i}", "ok", 1, "action", what, "state",
	    engine_state_name(engine_state(a->o.engine)), "traffic", engine_traffic(a->o.engine)));
	changed(a);
}

static void
r_pause(struct call *c)
{
	act(c, ACT_PAUSE, NULL, "pause");
}

static void
r_resume(struct call *c)
{
	act(c, ACT_RESUME, NULL, "resume");
}

static void
r_abort(struct call *c)
{
	act(c, ACT_ABORT, NULL, "abort");
}

static void
r_retry(struct call *c)
{
	act(c, ACT_RETRY, NULL, "retry");
}

static void
r_promote(struct call *c)
{
	int full = json_is_true(json_object_get(c->body, "full"));

	act(c, full ? ACT_PROMOTE_FULL : ACT_PROMOTE, NULL, full ? "promote (full)" : "promote");
}

static void
r_phase(struct call *c)
{
	const char *name = jstr(c->body, "name");

	if (c->a->o.plan != NULL && plan_phase_index(c->a->o.plan, name) < 0) {
		http_reply_error(c->rs, 404, "field \"name\": the plan has no phase \"%s\"", name);
		return;
	}
	act(c, ACT_SKIP_TO_PHASE, name, "phase");
}

static void
r_rollback(struct call *c)
{
	struct api *a = c->a;
	char err[512] = "";
	int rc;

	if (c->actor.reason == NULL)
		c->actor.reason = "emergency rollback (API)";
	rc = api_emergency_rollback(a, &c->actor, err, sizeof err);
	if (rc != 0) {
		http_reply_error(c->rs, 500, "emergency rollback: %s", err);
		return;
	}
	reply(c->rs, 200, json_pack("{s:b, s:i, s:O}", "ok", 1, "traffic",
	    a->o.flags ? flags_traffic(a->o.flags) : 0, "rollback", a->last_rollback));
}

static void
r_flag_set(struct call *c)
{
	struct api *a = c->a;
	const char *name = c->rq->path + strlen("/api/flags/");
	struct flag_value cur;
	json_t *v = json_object_get(c->body, "value");
	char text[160], err[512] = "";
	int rc;

	if (a->o.flags == NULL) {
		http_reply_error(c->rs, 503, "the flag store is not open");
		return;
	}
	if (*name == '\0' || strchr(name, '/') != NULL || flags_get(a->o.flags, name, &cur) != 0) {
		http_reply_error(c->rs, 404, "unknown flag \"%s\"", name);
		return;
	}
	switch (cur.type) {
	case FLAG_BOOL:
		if (!json_is_boolean(v)) {
			http_reply_error(c->rs, 400, "field \"value\": flag %s is a boolean, got %s", name,
			    jtype_name(v));
			return;
		}
		snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
		break;
	case FLAG_INT:
		if (!json_is_integer(v)) {
			http_reply_error(c->rs, 400, "field \"value\": flag %s is an integer, got %s", name,
			    jtype_name(v));
			return;
		}
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
		break;
	default:
		if (!json_is_string(v)) {
			http_reply_error(c->rs, 400, "field \"value\": flag %s is a string, got %s", name,
			    jtype_name(v));
			return;
		}
		if (strlen(json_string_value(v)) >= sizeof cur.s) {
			http_reply_error(c->rs, 400, "field \"value\": longer than %zu bytes",
			    sizeof cur.s - 1);
			return;
		}
		snprintf(text, sizeof text, "%s", json_string_value(v));
		break;
	}
	rc = flags_set(a->o.flags, name, text, c->who, c->actor.reason ? c->actor.reason : "API",
	    err, sizeof err);
	if (rc != 0) {
		http_reply_error(c->rs, rc == -EINVAL || rc == -ERANGE ? 400 : rc == -ENOENT ? 404 :
		    rc == -EBADMSG ? 409 : 500, "field \"value\": %s", err[0] ? err : strerror(-rc));
		return;
	}
	reply(c->rs, 200, json_pack("{s:b, s:s, s:O, s:I, s:i}", "ok", 1, "flag", name, "value", v,
	    "generation", (json_int_t)flags_generation(a->o.flags), "effective_traffic",
	    flags_traffic(a->o.flags)));
	changed(a);
}

static void
r_plugin(struct call *c)
{
	struct api *a = c->a;
	const char *rest = c->rq->path + strlen("/api/plugins/"), *slash = strchr(rest, '/');
	char inst[64], reply_buf[8192] = "";
	const char *cmd, *arg = jstr(c->body, "arg");
	json_t *parsed;
	int rc;

	if (slash == NULL || slash == rest || (size_t)(slash - rest) >= sizeof inst ||
	    slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
		http_reply_error(c->rs, 404, "expected /api/plugins/INSTANCE/COMMAND");
		return;
	}
	snprintf(inst, sizeof inst, "%.*s", (int)(slash - rest), rest);
	cmd = slash + 1;
	if (a->o.pipeline == NULL) {
		http_reply_error(c->rs, 503, "no plugins are loaded");
		return;
	}
	rc = pipeline_command(a->o.pipeline, inst, cmd, arg ? arg : "", reply_buf, sizeof reply_buf);
	if (rc == -ENOENT) {
		http_reply_error(c->rs, 404, "no plugin instance \"%s\" (baseline, candidate, alerting)",
		    inst);
		return;
	}
	if (rc == -ENOTSUP) {
		http_reply_error(c->rs, 404, "plugin %s has no command \"%s\"", inst, cmd);
		return;
	}
	if (rc != 0) {
		http_reply_error(c->rs, 502, "plugin %s: %s: %s", inst, cmd,
		    reply_buf[0] ? reply_buf : strerror(-rc));
		return;
	}
	parsed = json_loads(reply_buf, JSON_DECODE_ANY, NULL);
	reply(c->rs, 200, json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "instance", inst, "command", cmd,
	    "reply", parsed ? parsed : json_string(reply_buf)));
	changed(a);
}

/* True when the flags say: rolled back (emergencyRollback, traffic 0, hybrid delivery off). */
static int
flags_rolled_back(struct flags *f)
{
	return !flags_broken(f) && flags_get_bool(f, "emergencyRollback") && flags_traffic(f) == 0 &&
	    !flags_get_bool(f, "enableHybridSystem");
}

int
api_emergency_rollback(struct api *a, const struct engine_actor *who, char *err, size_t errlen)
{
	int64_t t0 = mono_ms(), now = now_ms(a);
	char whobuf[160], msg[512], t[40];
	const char *reason = who->reason ? who->reason : "emergency rollback";
	int rc = 0, by_engine = 0, nrc = -ENOENT;

	err[0] = '\0';
	snprintf(whobuf, sizeof whobuf, "%s%s%s", who->who ? who->who : "unknown",
	    who->addr ? "@" : "", who->addr ? who->addr : "");
	/*
	 * 1. The engine's rollback: flags (traffic 0, hybrid off, emergencyRollback),
	 *    its journal record and its critical alert.  It consults no gate.
	 */
	if (a->o.engine != NULL && engine_act(a->o.engine, ACT_ROLLBACK, NULL, who, msg, sizeof msg) == 0)
		by_engine = 1;
	/* 2. Whatever happened there, the flags must say "rolled back": write them ourselves if not. */
	if (a->o.flags == NULL) {
		snprintf(err, errlen, "the flag store is not open");
		rc = -ENODEV;
	} else if (!by_engine || !flags_rolled_back(a->o.flags)) {
		rc = flags_emergency_rollback(a->o.flags, whobuf, reason, err, errlen);
	}
	/* 3. Tell the humans when the engine did not; failure to deliver does not undo anything. */
	if (!by_engine && a->o.pipeline != NULL) {
		snprintf(msg, sizeof msg, "Emergency rollback by %s: %s. Candidate traffic is 0%%, "
		    "hybrid delivery is off.%s%s", whobuf, reason, rc ? " Flags write FAILED: " : "",
		    rc ? err : "");
		nrc = pipeline_notify(a->o.pipeline, ROLLOUT_SEV_CRITICAL, "emergency_rollback",
		    "Emergency rollback", msg);
	}
	json_decref(a->last_rollback);
	a->last_rollback = json_pack("{s:s, s:I, s:s, s:s?, s:s, s:b, s:b, s:b, s:I}",
	    "time", journal_time(now, t, sizeof t), "t_ms", (json_int_t)now, "who",
	    who->who ? who->who : "unknown", "addr", who->addr, "reason", reason, "flags_written",
	    rc == 0, "by_engine", by_engine, "alert_sent", by_engine || nrc == 0, "duration_ms",
	    (json_int_t)(mono_ms() - t0));
	if (rc == 0)
		log_warn("EMERGENCY ROLLBACK by %s (%s): traffic 0%%, hybrid delivery off, in %lld ms",
		    whobuf, reason, (long long)(mono_ms() - t0));
	else
		log_error("EMERGENCY ROLLBACK by %s: flags write failed: %s", whobuf, err);
	changed(a);
	return rc;
}

/* ---- the router ----------------------------------------------------------- */

typedef void (*get_fn)(struct api *a, const struct http_request *rq, struct http_response *rs);
typedef void (*post_fn)(struct call *c);

struct route {
	const char *path;
	int prefix;                     /* path is a prefix (ends with '/') */
	get_fn get;
	post_fn post;
	const struct field *fields;
};

static const struct field f_promote[] = { { "full", F_BOOL, 0 }, { NULL, 0, 0 } };
static const struct field f_phase[] = { { "name", F_STRING, 1 }, { NULL, 0, 0 } };
static const struct field f_flag[] = { { "value", F_ANY, 1 }, { NULL, 0, 0 } };
static const struct field f_plugin[] = { { "arg", F_STRING, 0 }, { NULL, 0, 0 } };

static const struct route routes[] = {
	{ "/api/status", 0, r_status, NULL, NULL },
	{ "/api/history", 0, r_history, NULL, NULL },
	{ "/api/metrics", 0, r_metrics, NULL, NULL },
	{ "/api/safety", 0, r_safety, NULL, NULL },
	{ "/api/flags", 0, r_flags_get, NULL, NULL },
	{ "/api/health", 0, r_health, NULL, NULL },
	{ "/api/alerts", 0, r_alerts, NULL, NULL },
	{ "/api/shadow", 0, r_shadow, NULL, NULL },
	{ "/api/flags/", 1, NULL, r_flag_set, f_flag },
	{ "/api/emergency/rollback", 0, NULL, r_rollback, NULL },
	{ "/api/emergency/pause", 0, NULL, r_pause, NULL },
	{ "/api/rollout/promote", 0, NULL, r_promote, f_promote },
	{ "/api/rollout/resume", 0, NULL, r_resume, NULL },
	{ "/api/rollout/abort", 0, NULL, r_abort, NULL },
	{ "/api/rollout/retry", 0, NULL, r_retry, NULL },
	{ "/api/rollout/phase", 0, NULL, r_phase, f_phase },
	{ "/api/plugins/", 1, NULL, r_plugin, f_plugin },
	{ "/metrics", 0, r_prometheus, NULL, NULL },
	{ "/", 0, r_dashboard, NULL, NULL },
	{ "/rollout", 0, r_dashboard, NULL, NULL },
	{ "/rollout/", 1, r_dashboard, NULL, NULL },
	{ NULL, 0, NULL, NULL, NULL },
};

static const struct route *
route_find(const char *path)
{
	size_t i;

	for (i = 0; routes[i].path != NULL; i++) {
		if (routes[i].prefix ? strncmp(path, routes[i].path, strlen(routes[i].path)) == 0 :
		    strcmp(path, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

void
api_handle(void *ctx, const struct http_request *rq, struct http_response *rs)
{
	struct api *a = ctx;
	const struct route *r = route_find(rq->path);
	struct call c;

	if (r == NULL) {
		http_reply_error(rs, 404, "no such route: %s", rq->path);
		return;
	}
	if (rq->method == HTTP_GET && r->get != NULL) {
		r->get(a, rq, rs);
		return;
	}
	if (rq->method != HTTP_POST || r->post == NULL) {
		http_reply_error(rs, 405, "%s does not accept this method (allowed: %s)", rq->path,
		    r->get ? "GET, HEAD" : "POST");
		rs->allow = r->get ? "GET, HEAD" : "POST";
		return;
	}
	/* every POST mutates: read-only mode, then the token */
	if (a->o.read_only) {
		http_reply_error(rs, 403, "rolloutd runs with --read-only: %s is refused", rq->path);
		return;
	}
	if (a->o.token == NULL || !token_check(a->o.token, rq->authorization)) {
		http_reply_error(rs, 401, "%s needs \"Authorization: Bearer TOKEN\" (the token is in "
		    "DATA/state/api.token)", rq->authorization ? "wrong token:" : rq->path);
		rs->www_authenticate = 1;
		log_warn("api: %s from %s refused: %s", rq->path, rq->peer,
		    rq->authorization ? "wrong token" : "no token");
		return;
	}
	memset(&c, 0, sizeof c);
	c.a = a;
	c.rq = rq;
	c.rs = rs;
	c.body = body_parse(rq, r->fields, rs);
	if (c.body == NULL) {
		journal_call(a, rq, "api", NULL, rs->status, "rejected: bad request body");
		return;
	}
	call_setup(&c);
	r->post(&c);
	{
		/* the error text (when any) goes with the record */
		json_t *resp = rs->status >= 400 && rs->body ? json_loads(rs->body, 0, NULL) : NULL;

		journal_call(a, rq, c.actor.who, c.actor.reason, rs->status, jstr(resp, "error"));
		json_decref(resp);
	}
	json_decref(c.body);
}

char *
api_ws_snapshot(void *ctx, size_t *len)
{
	struct api *a = ctx;
	json_t *o, *shadow, *mm;
	char *s;

	o = json_pack("{s:s, s:o}", "type", "snapshot", "status", api_status_json(a));
	if (o == NULL)
		return NULL;
	if (a->o.pipeline != NULL) {
		json_object_set_new(o, "alerts", pipeline_alerts_json(a->o.pipeline, 0, 30));
		shadow = pipeline_shadow_json(a->o.pipeline);
		mm = json_object_get(shadow, "mismatches");
		while (json_array_size(mm) > 30)
			json_array_remove(mm, json_array_size(mm) - 1);
		json_object_set_new(o, "shadow", shadow);
	}
	json_object_set_new(o, "metrics", metrics_view_json(a, 3600 * 1000, 60));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s != NULL)
		*len = strlen(s);
	return s;
}

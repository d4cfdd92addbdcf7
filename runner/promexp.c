/* promexp.c — the Prometheus text exposition of rolloutd's state (promexp.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"
#include "promexp.h"

#define NBUCKETS 16
static const double lat_bounds[NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
};

/* Increments recorded as one sample per event (shared conventions), when not described. */
static const char *const counter_names[] = { "requests", "errors", "reconnects", "delivered", NULL };

enum kind { K_GAUGE = 0, K_COUNTER, K_HIST };

struct tracked {
	char *series;
	int64_t last_t;
	double sum;                     /* counter: sum of increments; histogram: sum of values */
	uint64_t count;
	uint64_t buckets[NBUCKETS];
};

struct promexp {
	struct tracked *t;
	size_t n, cap;
};

struct entry {
	char name[160];
	char system[64];
	char help[256];
	enum kind kind;
	double value;
	const struct tracked *tr;
};

struct gather {
	struct promexp *p;
	struct entry *e;
	size_t n, cap;
};

int
promexp_create(struct promexp **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : -ENOMEM;
}

void
promexp_free(struct promexp *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->t[i].series);
	free(p->t);
	free(p);
}

static const char *
base_of(const char *series)
{
	const char *dot = strchr(series, '.');

	return dot ? dot + 1 : series;
}

int
promexp_is_latency(const char *series)
{
	const char *b = base_of(series);
	size_t n = strlen(b);

	return strstr(b, "latency") != NULL || (n >= 4 && strcmp(b + n - 4, "_lag") == 0) ||
	    strstr(b, "lead_time") != NULL;
}

static enum kind
kind_of(const char *series, enum metric_type type)
{
	const char *b = base_of(series);
	size_t i;

	if (promexp_is_latency(series))
		return K_HIST;
	if (type == METRIC_COUNTER)
		return K_COUNTER;
	if (strncmp(series, "candidate.", 10) == 0 || strncmp(series, "baseline.", 9) == 0 ||
	    strncmp(series, "alerts.", 7) == 0)
		for (i = 0; counter_names[i] != NULL; i++)
			if (strcmp(b, counter_names[i]) == 0)
				return K_COUNTER;
	return K_GAUGE;
}

static void
sanitize(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; *src != '\0' && i + 1 < len; src++)
		dst[i++] = (isalnum((unsigned char)*src) || *src == '_') ? *src : '_';
	dst[i] = '\0';
}

void
promexp_name(const char *series, char *name, size_t namelen, char *system, size_t syslen)
{
	const char *dot = strchr(series, '.');
	char inst[64], base[128];

	system[0] = '\0';
	if (dot == NULL) {
		sanitize(base, sizeof base, series);
		snprintf(name, namelen, "rolloutd_%s", base);
		return;
	}
	snprintf(inst, sizeof inst, "%.*s", (int)(dot - series), series);
	sanitize(base, sizeof base, dot + 1);
	if (strcmp(inst, "candidate") == 0 || strcmp(inst, "baseline") == 0) {
		snprintf(system, syslen, "%s", inst);
		snprintf(name, namelen, "rolloutd_system_%s", base);
	} else {
		sanitize(inst, sizeof inst, inst);
		snprintf(name, namelen, "rolloutd_%s_%s", inst, base);
	}
}

static struct tracked *
track(struct promexp *p, const char *series)
{
	struct tracked *nt;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->t[i].series, series) == 0)
			return &p->t[i];
	if (p->n == p->cap) {
		nt = realloc(p->t, (p->cap ? p->cap * 2 : 32) * sizeof *nt);
		if (nt == NULL)
			return NULL;
		p->t = nt;
		p->cap = p->cap ? p->cap * 2 : 32;
	}
	nt = &p->t[p->n];
	memset(nt, 0, sizeof *nt);
	nt->series = strdup(series);
	if (nt->series == NULL)
		return NULL;
	nt->last_t = INT64_MIN;
	p->n++;
	return nt;
}

struct collect_ctx {
	struct promexp *p;
	struct metrics *m;
	int64_t now;
};

static void
collect_one(void *ctx, const char *name, enum metric_type type, const char *help, double latest,
    uint64_t total)
{
	struct collect_ctx *c = ctx;
	enum kind k = kind_of(name, type);
	struct tracked *t;
	json_t *arr, *pt;
	int64_t window, ts;
	size_t i;
	double v;
	int b;

	(void)help;
	(void)latest;
	(void)total;
	if (k == K_GAUGE)
		return;
	t = track(c->p, name);
	if (t == NULL)
		return;
	/* first sight: everything the store still holds */
	window = t->last_t == INT64_MIN ? c->now + 1 : c->now - t->last_t;
	if (window < 0)
		return;
	arr = metrics_series_json(c->m, name, window, 1000000);
	if (arr == NULL)
		return;
	json_array_foreach(arr, i, pt) {
		ts = (int64_t)json_integer_value(json_array_get(pt, 0));
		v = json_number_value(json_array_get(pt, 1));
		if (ts <= t->last_t || ts > c->now)
			continue;
		t->sum += v;
		t->count++;
		if (k == K_HIST)
			for (b = 0; b < NBUCKETS; b++)
				if (v <= lat_bounds[b])
					t->buckets[b]++;
	}
	/* everything up to NOW is counted (a sample recorded later in the same ms is missed, never doubled) */
	t->last_t = c->now;
	json_decref(arr);
}

void
promexp_collect(struct promexp *p, struct metrics *m, int64_t now_ms)
{
	struct collect_ctx c = { p, m, now_ms };

	if (m != NULL)
		metrics_foreach(m, collect_one, &c);
}

static void
gather_one(void *ctx, const char *name, enum metric_type type, const char *help, double latest,
    uint64_t total)
{
	struct gather *g = ctx;
	struct entry *e, *ne;
	size_t i;

	(void)total;
	if (g->n == g->cap) {
		ne = realloc(g->e, (g->cap ? g->cap * 2 : 64) * sizeof *ne);
		if (ne == NULL)
			return;
		g->e = ne;
		g->cap = g->cap ? g->cap * 2 : 64;
	}
	e = &g->e[g->n];
	memset(e, 0, sizeof *e);
	e->kind = kind_of(name, type);
	promexp_name(name, e->name, sizeof e->name - 16, e->system, sizeof e->system);
	if (e->kind == K_COUNTER)
		strcat(e->name, "_total");
	else if (e->kind == K_HIST && strstr(e->name, "_seconds") == NULL)
		strcat(e->name, "_seconds");
	if (help != NULL && *help != '\0')
		snprintf(e->help, sizeof e->help, "%s", help);
	else
		snprintf(e->help, sizeof e->help, "rolloutd series %s%s", name,
		    e->kind == K_HIST ? " (seconds)" : e->kind == K_COUNTER ? " (sum of increments)" : " (latest value)");
	for (i = 0; e->help[i] != '\0'; i++)
		if (e->help[i] == '\n' || e->help[i] == '\\')
			e->help[i] = ' ';
	e->value = latest;
	if (e->kind != K_GAUGE) {
		for (i = 0; i < g->p->n; i++)
			if (strcmp(g->p->t[i].series, name) == 0)
				e->tr = &g->p->t[i];
		if (e->tr == NULL)
			return;                /* never collected: skip rather than report 0 */
	}
	g->n++;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->system, y->system);
}

static void
put_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.9g", v);
}

/* Label value escaping: backslash, double quote, newline. */
static void
put_label(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample1(FILE *f, const char *name, const char *lname, const char *lval, double v)
{
	fputs(name, f);
	if (lname != NULL) {
		fprintf(f, "{%s=\"", lname);
		put_label(f, lval);
		fputs("\"}", f);
	}
	fputc(' ', f);
	put_num(f, v);
	fputc('\n', f);
}

static void
emit_series(FILE *f, struct gather *g)
{
	size_t i, b;
	const char *prev = "";
	char sys[96];

	qsort(g->e, g->n, sizeof *g->e, cmp_entry);
	for (i = 0; i < g->n; i++) {
		struct entry *e = &g->e[i];

		if (strcmp(prev, e->name) != 0)
			head(f, e->name, e->kind == K_HIST ? "histogram" :
			    e->kind == K_COUNTER ? "counter" : "gauge", e->help);
		prev = e->name;
		sys[0] = '\0';
		if (e->system[0] != '\0')
			snprintf(sys, sizeof sys, "system=\"%s\"", e->system);
		switch (e->kind) {
		case K_GAUGE:
			fprintf(f, "%s%s%s%s ", e->name, sys[0] ? "{" : "", sys, sys[0] ? "}" : "");
			put_num(f, e->value);
			fputc('\n', f);
			break;
		case K_COUNTER:
			fprintf(f, "%s%s%s%s ", e->name, sys[0] ? "{" : "", sys, sys[0] ? "}" : "");
			put_num(f, e->tr->sum);
			fputc('\n', f);
			break;
		case K_HIST:
			for (b = 0; b < NBUCKETS; b++) {
				fprintf(f, "%s_bucket{%s%sle=\"", e->name, sys, sys[0] ? "," : "");
				put_num(f, lat_bounds[b]);
				fprintf(f, "\"} %llu\n", (unsigned long long)e->tr->buckets[b]);
			}
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", e->name, sys, sys[0] ? "," : "",
			    (unsigned long long)e->tr->count);
			fprintf(f, "%s_sum%s%s%s ", e->name, sys[0] ? "{" : "", sys, sys[0] ? "}" : "");
			put_num(f, e->tr->sum);
			fprintf(f, "\n%s_count%s%s%s %llu\n", e->name, sys[0] ? "{" : "", sys,
			    sys[0] ? "}" : "", (unsigned long long)e->tr->count);
			break;
		}
	}
}

static double
num(json_t *o, const char *key, double dflt)
{
	json_t *v = json_object_get(o, key);

	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	return dflt;
}

static const char *
str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The phase name: "phase" may be a string or an object with "name". */
static const char *
phase_name(json_t *status)
{
	json_t *ph = json_object_get(status, "phase");

	if (json_is_string(ph))
		return json_string_value(ph);
	if (json_is_object(ph))
		return str(ph, "name");
	return NULL;
}

static void
emit_status(FILE *f, const struct promexp_input *in)
{
	json_t *st = in->status, *gates, *g, *ph;
	const char *state = str(st, "state"), *phase = phase_name(st), *text, *verdict;
	size_t i;

	head(f, "rolloutd_state", "gauge", "1 for the engine's current state");
	for (i = 0; in->state_names != NULL && in->state_names[i] != NULL; i++)
		sample1(f, "rolloutd_state", "state", in->state_names[i],
		    state != NULL && strcmp(state, in->state_names[i]) == 0);
	head(f, "rolloutd_phase_info", "gauge", "the current phase (value 1)");
	sample1(f, "rolloutd_phase_info", "phase", phase ? phase : "none", 1);
	ph = json_object_get(st, "phase");
	head(f, "rolloutd_phase_index", "gauge", "index of the current phase in the plan (0-based)");
	sample1(f, "rolloutd_phase_index", NULL, NULL,
	    json_is_object(ph) ? num(ph, "index", -1) : num(st, "phase_index", -1));
	head(f, "rolloutd_step_index", "gauge", "index of the current step in the phase (0-based)");
	sample1(f, "rolloutd_step_index", NULL, NULL,
	    json_is_object(json_object_get(st, "step")) ?
	    num(json_object_get(st, "step"), "index", -1) : num(st, "step", -1));
	head(f, "rolloutd_traffic_percent", "gauge", "candidate traffic percent set by the engine");
	sample1(f, "rolloutd_traffic_percent", NULL, NULL, num(st, "traffic", 0));

	gates = json_object_get(st, "gates");
	if (json_array_size(gates) > 0) {
		head(f, "rolloutd_gate_value", "gauge", "last value a gate's expression evaluated to");
		json_array_foreach(gates, i, g) {
			text = str(g, "text") ? str(g, "text") : str(g, "expr") ? str(g, "expr") : "?";
			if (json_is_number(json_object_get(g, "value")))
				sample1(f, "rolloutd_gate_value", "gate", text, num(g, "value", 0));
		}
		head(f, "rolloutd_gate_passing", "gauge",
		    "1 when the gate's last verdict was pass, 0 fail, -1 inconclusive or not evaluated");
		json_array_foreach(gates, i, g) {
			text = str(g, "text") ? str(g, "text") : str(g, "expr") ? str(g, "expr") : "?";
			verdict = str(g, "verdict");
			sample1(f, "rolloutd_gate_passing", "gate", text,
			    verdict == NULL ? -1 : strcmp(verdict, "pass") == 0 ? 1 :
			    strcmp(verdict, "fail") == 0 ? 0 : -1);
		}
	}
}

static void
emit_pipeline(FILE *f, const struct promexp_input *in)
{
	json_t *bus = json_object_get(in->health, "bus"), *plugins = json_object_get(in->health, "plugins");
	json_t *pl, *a, *list;
	const char *inst, *sys, *sev;
	struct { char sys[32], sev[16]; int delivered; unsigned n; } cnt[32];
	size_t ncnt = 0, i, j;
	char lab[128];

	if (json_is_object(bus)) {
		head(f, "rolloutd_queue_depth", "gauge", "events waiting in the queue");
		sample1(f, "rolloutd_queue_depth", "queue", "bus", num(bus, "depth", 0));
		head(f, "rolloutd_queue_capacity", "gauge", "queue capacity in events");
		sample1(f, "rolloutd_queue_capacity", "queue", "bus", num(bus, "capacity", 0));
		head(f, "rolloutd_queue_dropped_total", "counter", "events dropped because the queue was full");
		sample1(f, "rolloutd_queue_dropped_total", "queue", "bus", num(bus, "dropped", 0));
	}
	if (json_object_size(plugins) > 0) {
		head(f, "rolloutd_plugin_healthy", "gauge", "1 when the plugin reports itself healthy");
		json_object_foreach(plugins, inst, pl) {
			snprintf(lab, sizeof lab, "%s", inst);
			sample1(f, "rolloutd_plugin_healthy", "instance", lab, num(pl, "healthy", 0));
		}
		head(f, "rolloutd_plugin_errors_total", "counter", "errors the plugin reported");
		json_object_foreach(plugins, inst, pl)
			sample1(f, "rolloutd_plugin_errors_total", "instance", inst, num(pl, "errors", 0));
		head(f, "rolloutd_plugin_events_total", "counter", "events the plugin emitted");
		json_object_foreach(plugins, inst, pl)
			sample1(f, "rolloutd_plugin_events_total", "instance", inst, num(pl, "events", 0));
	}
	if (json_is_object(in->alerts)) {
		head(f, "rolloutd_alerts_total", "counter", "alerts raised since start (both systems)");
		sample1(f, "rolloutd_alerts_total", NULL, NULL, num(in->alerts, "total", 0));
		list = json_object_get(in->alerts, "alerts");
		json_array_foreach(list, i, a) {
			sys = str(a, "system") ? str(a, "system") : "unknown";
			sev = str(a, "severity") ? str(a, "severity") : "unknown";
			for (j = 0; j < ncnt; j++)
				if (strcmp(cnt[j].sys, sys) == 0 && strcmp(cnt[j].sev, sev) == 0 &&
				    cnt[j].delivered == json_is_true(json_object_get(a, "delivered")))
					break;
			if (j == ncnt) {
				if (ncnt == sizeof cnt / sizeof cnt[0])
					continue;
				snprintf(cnt[j].sys, sizeof cnt[j].sys, "%s", sys);
				snprintf(cnt[j].sev, sizeof cnt[j].sev, "%s", sev);
				cnt[j].delivered = json_is_true(json_object_get(a, "delivered"));
				cnt[j].n = 0;
				ncnt++;
			}
			cnt[j].n++;
		}
		head(f, "rolloutd_alerts_recent", "gauge",
		    "alerts in the recent ring (last 1000) by system, severity and whether delivered");
		for (j = 0; j < ncnt; j++) {
			fputs("rolloutd_alerts_recent{system=\"", f);
			put_label(f, cnt[j].sys);
			fputs("\",severity=\"", f);
			put_label(f, cnt[j].sev);
			fprintf(f, "\",delivered=\"%s\"} %u\n", cnt[j].delivered ? "true" : "false", cnt[j].n);
		}
	}
}

double
promexp_rss_bytes(void)
{
	/*
	 * Sampled every 100 ms: keep /proc/self/statm open and pread it (one
	 * syscall instead of fopen + read + close and a stdio buffer each time).
	 */
	static int fd = -1;
	static long page;
	char buf[128];
	long pages = 0, rss = 0;
	ssize_t n;

	if (fd < 0) {
		fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
		page = sysconf(_SC_PAGESIZE);
		if (fd < 0)
			return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	return (double)rss * (double)page;
}

char *
promexp_render(struct promexp *p, const struct promexp_input *in, size_t *len)
{
	struct gather g = { p, NULL, 0, 0 };
	char *buf = NULL;
	size_t i, n = 0;
	FILE *f;
	static const char *const classes[6] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };

	f = open_memstream(&buf, &n);
	if (f == NULL)
		return NULL;
	head(f, "rolloutd_info", "gauge", "build and plan information (value 1)");
	fputs("rolloutd_info{version=\"", f);
	put_label(f, in->version ? in->version : "unknown");
	fputs("\",plan=\"", f);
	put_label(f, in->status && str(in->status, "plan") ? str(in->status, "plan") : "");
	fputs("\"} 1\n", f);
	head(f, "rolloutd_uptime_seconds", "gauge", "seconds since rolloutd started");
	sample1(f, "rolloutd_uptime_seconds", NULL, NULL, in->uptime_seconds);
	if (in->status != NULL)
		emit_status(f, in);
	head(f, "rolloutd_flags_traffic_percent", "gauge",
	    "hybridTrafficPercent as the router applies it (0 during an emergency rollback)");
	sample1(f, "rolloutd_flags_traffic_percent", NULL, NULL, in->flags_traffic);
	head(f, "rolloutd_emergency_rollback", "gauge", "1 while the emergencyRollback flag is set");
	sample1(f, "rolloutd_emergency_rollback", NULL, NULL, in->emergency_rollback);
	head(f, "rolloutd_flags_broken", "gauge", "1 while the flags file cannot be parsed");
	sample1(f, "rolloutd_flags_broken", NULL, NULL, in->flags_broken);
	head(f, "rolloutd_flags_generation", "gauge", "generation counter of the flags file");
	sample1(f, "rolloutd_flags_generation", NULL, NULL, (double)in->flags_generation);
	emit_pipeline(f, in);
	if (in->http != NULL) {
		head(f, "rolloutd_http_requests_total", "counter", "HTTP requests answered, by status class");
		for (i = 1; i <= 5; i++)
			sample1(f, "rolloutd_http_requests_total", "code", classes[i],
			    (double)in->http->by_class[i]);
		head(f, "rolloutd_http_request_duration_seconds", "histogram",
		    "time from a request's headers to its last byte written");
		for (i = 0; i < 10; i++) {
			fputs("rolloutd_http_request_duration_seconds_bucket{le=\"", f);
			put_num(f, http_lat_bounds[i]);
			fprintf(f, "\"} %llu\n", (unsigned long long)in->http->lat_buckets[i]);
		}
		fprintf(f, "rolloutd_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		    (unsigned long long)in->http->requests);
		fputs("rolloutd_http_request_duration_seconds_sum ", f);
		put_num(f, in->http->lat_sum);
		fprintf(f, "\nrolloutd_http_request_duration_seconds_count %llu\n",
		    (unsigned long long)in->http->requests);
		head(f, "rolloutd_websocket_messages_total", "counter", "status snapshots pushed over WebSockets");
		sample1(f, "rolloutd_websocket_messages_total", NULL, NULL, (double)in->http->ws_messages);
	}
	head(f, "rolloutd_websocket_clients", "gauge", "dashboard WebSocket clients connected");
	sample1(f, "rolloutd_websocket_clients", NULL, NULL, (double)in->ws_clients);
	head(f, "process_resident_memory_bytes", "gauge", "resident set size of rolloutd");
	sample1(f, "process_resident_memory_bytes", NULL, NULL, promexp_rss_bytes());
	if (in->metrics != NULL) {
		metrics_foreach(in->metrics, gather_one, &g);
		emit_series(f, &g);
	}
	free(g.e);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

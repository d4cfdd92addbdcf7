/*
 * pipeline.c — plugins -> bus -> rules -> shadow/router -> sink (pipeline.h).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "chain.h"
#include "clock.h"
#include "flags.h"
#include "fsutil.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
#include "router.h"
#include "rules.h"
#include "shadow.h"
#include "whale.h"

enum { SYS_BASELINE = 0, SYS_CANDIDATE = 1, SYS_ALERTING = 2, SYS_N = 3 };
static const char *const pipeline_roles[SYS_N] = { "baseline", "candidate", "alerting" };

#define PIPELINE_RECENT 1000
#define PIPELINE_BATCH 256
#define PIPELINE_BUDGET 8192            /* items per drain before yielding to the loop */
#define PIPELINE_BALANCE_WAIT_MS 2000

struct pipe_plugin {
	const char *role;
	int present;                    /* plan names a plugin for this role */
	int inited, started;
	struct loader_plugin lp;
	struct host host;
	void *self;
	int healthy;                    /* -1 unknown */
	char detail[256];
	uint64_t events, errors, logs;
	char last_error[256];
};

struct recent_alert {
	struct rules_alert a;
	int rollout;
	enum router_verdict verdict;
	int sink_rc;
};

struct pipeline {
	struct pipeline_opts o;
	char plugin_dir[PATH_MAX];
	const struct chain_preset *chain;
	struct loader_set set;
	struct pipe_plugin pl[SYS_N];
	struct bus *bus;
	struct rules *rules[2];
	struct router *router;
	struct shadow *shadow;
	void (*log_fn)(void *ctx, const char *instance, const char *line);
	void *log_ctx;
	struct recent_alert *recent;
	size_t recent_next, recent_count;
	uint64_t raised[2], delivered, shadowed, covered, sink_errors;
	enum router_mode mode;
	int traffic;
	int64_t last_publish_ms;
	uint64_t dropped_published;
	int dirty;
	/* the ticker: wakes the runner once a second so time-based work (the
	 * comparator's deferred decisions, bus metrics) happens without events */
	pthread_t ticker;
	int ticker_running, ticker_stop;
	pthread_mutex_t ticker_lock;
	pthread_cond_t ticker_cond;
};

/* ---- plugin directory -------------------------------------------------------------- */

void
pipeline_sync(struct pipeline *p)
{
	whale_sync(p->rules[0]);
	whale_sync(p->rules[1]);
}

const char *
pipeline_default_plugin_dir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;

	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(dir, sizeof(dir), "%s/plugins", exe) < sizeof(dir) &&
			    stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
				return dir;
		}
	}
	snprintf(dir, sizeof(dir), "%s", PLUGINDIR);
	return dir;
}

/* ---- helpers ------------------------------------------------------------------------- */

static int
pipeline_has(const struct pipe_plugin *pp, size_t off, size_t sz)
{
	return pp->inited && pp->lp.desc && pp->lp.desc->size >= off + sz;
}
#define PLUGIN_HAS(pp, field) pipeline_has((pp), offsetof(struct rollout_plugin, field), \
	sizeof(((struct rollout_plugin *)0)->field))

static int
pipeline_role(const char *instance)
{
	for (int i = 0; i < SYS_N; i++)
		if (instance && strcmp(instance, pipeline_roles[i]) == 0)
			return i;
	return -1;
}

static void
pipeline_metric(void *ctx, const char *name, double v)
{
	struct pipeline *p = ctx;

	metrics_record(p->o.metrics, name, v);
}

static struct recent_alert *
pipeline_remember(struct pipeline *p)
{
	struct recent_alert *r = &p->recent[p->recent_next];

	p->recent_next = (p->recent_next + 1) % PIPELINE_RECENT;
	if (p->recent_count < PIPELINE_RECENT)
		p->recent_count++;
	memset(r, 0, sizeof(*r));
	return r;
}

/* The sink's view of A (pointers into A). */
static void
pipeline_to_rollout_alert(const struct pipeline *p, const struct rules_alert *a, int rollout,
    struct rollout_alert *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	memcpy(out->id, a->id, sizeof(out->id));
	out->key = a->key;
	out->type = a->type;
	out->severity = a->severity;
	out->rollout = rollout;
	out->title = a->title;
	out->message = a->message;
	out->time_ms = a->time_ms;
	out->account = a->account;
	out->label = a->label;
	out->amount_negative = a->negative;
	out->amount_planck = a->amount;
	out->amount_tokens = a->amount_tokens;
	out->symbol = p->chain && p->chain->symbol ? p->chain->symbol : "";
	out->block_from = a->block_from;
	out->block_to = a->block_to;
	out->system = a->system;
	out->details_json = a->details[0] ? a->details : "{}";
}

static int
pipeline_sink(struct pipeline *p, const struct rules_alert *a, int rollout)
{
	struct pipe_plugin *pp = &p->pl[SYS_ALERTING];
	struct rollout_alert ra;
	int rc;

	if (!PLUGIN_HAS(pp, on_alert) || pp->lp.desc->on_alert == NULL)
		return -ENOENT;
	pipeline_to_rollout_alert(p, a, rollout, &ra);
	rc = pp->lp.desc->on_alert(pp->self, &ra);
	if (rc != 0) {
		p->sink_errors++;
		log_msg(LOG_LVL_ERROR, "pipeline", "alerting sink refused alert %s (%s): %s", a->id,
		    a->key, strerror(rc < 0 ? -rc : rc));
	}
	return rc;
}

/*
 * An alert from a fact both rule sets got at once from the baseline (a
 * transfer, a top list): the copy of the system that serves the account is delivered,
 * the other is shadowed.  Both copies are raised in the same drain under
 * the same mode and traffic, so exactly one is delivered; the router's
 * window coverage (meant for two observations at different times) is not
 * applied.  No alert_latency: the delay is the baseline's polling.
 */
static void
pipeline_fact_alert(struct pipeline *p, const struct rules_alert *a)
{
	struct recent_alert *r = pipeline_remember(p);
	int is_cand = strcmp(a->system, "candidate") == 0;

	r->a = *a;
	r->verdict = is_cand == router_candidate_serves(p->router, p->mode, p->traffic, a->pubkey) ?
	    ROUTE_DELIVER : ROUTE_SHADOW;
	if (r->verdict == ROUTE_DELIVER) {
		r->sink_rc = pipeline_sink(p, a, 0);
		p->delivered++;
		metrics_record(p->o.metrics, "alerts.delivered", 1);
	} else {
		p->shadowed++;
	}
	p->dirty = 1;
}

/* A rule fired on one system's observations: compare, route, deliver. */
static void
pipeline_on_alert(void *ctx, const struct rules_alert *a)
{
	struct pipeline *p = ctx;
	struct recent_alert *r;
	int sys = strcmp(a->system, "candidate") == 0 ? SYS_CANDIDATE : SYS_BASELINE;
	int64_t at = a->window_end_ms; /* candidate: block time; baseline: snapshot time */
	char name[64];

	p->raised[sys]++;
	if (whale_fact_alert(a)) {
		pipeline_fact_alert(p, a);
		return;
	}
	/*
	 * Latency from the chain event (block time, or the baseline's window end)
	 * to the alert.  It measures processing, which an accelerated clock
	 * (--speed) does not speed up, so the clock difference is divided by
	 * opts.time_scale: wall-clock seconds.  shadow.lead_time is not scaled:
	 * it compares the two systems' alert times, both on the same (possibly
	 * simulated) clock, and is dominated by the baseline's polling period,
	 * which runs on that clock too.
	 */
	if (at > 0) {
		int64_t now = clock_now_ms(p->o.clock);
		double scale = p->o.time_scale > 0 ? p->o.time_scale : 1.0;

		snprintf(name, sizeof(name), "%s.alert_latency", pipeline_roles[sys]);
		metrics_record(p->o.metrics, name,
		    (double)(now > at ? now - at : 0) / 1000.0 / scale);
	}
	/* only what both systems can see is compared: never missed nor extra (whale.h) */
	if (whale_compared(a))
		shadow_alert(p->shadow, a);
	r = pipeline_remember(p);
	r->a = *a;
	r->verdict = router_route(p->router, p->mode, p->traffic, a);
	switch (r->verdict) {
	case ROUTE_DELIVER:
		r->sink_rc = pipeline_sink(p, a, 0);
		p->delivered++;
		metrics_record(p->o.metrics, "alerts.delivered", 1);
		break;
	case ROUTE_SHADOW:
		p->shadowed++;
		break;
	case ROUTE_COVERED:
		p->covered++;
		break;
	}
	p->dirty = 1;
}

/* ---- open / start / stop / close -------------------------------------------------------- */

static void
pipeline_describe(struct metrics *m)
{
	static const struct { const char *name; enum metric_type type; const char *help; } d[] = {
		{ "bus.depth", METRIC_GAUGE, "events waiting for the runner thread" },
		{ "bus.dropped", METRIC_COUNTER, "events and samples refused because the bus was full" },
		{ "router.traffic", METRIC_GAUGE, "candidate traffic percent the router applies" },
		{ "alerts.delivered", METRIC_COUNTER, "whale alerts handed to the alerting plugin" },
		{ "baseline.alert_latency", METRIC_GAUGE, "seconds from the window end to the baseline's alert" },
		{ "candidate.alert_latency", METRIC_GAUGE, "seconds from the block time to the candidate's alert" },
		{ "shadow.accuracy", METRIC_GAUGE, "(matched alerts + agreeing balances) / all decided" },
		{ "shadow.balance_agreement", METRIC_GAUGE, "baseline snapshot balances the candidate matched to the planck" },
		{ "shadow.matched", METRIC_COUNTER, "baseline alerts the candidate's changes matched" },
		{ "shadow.missed", METRIC_COUNTER, "baseline alerts the candidate's changes did not match" },
		{ "shadow.extra", METRIC_COUNTER, "candidate-only alerts (coverage gain)" },
		{ "shadow.skipped", METRIC_COUNTER, "baseline alerts not compared: the candidate was not yet watching the account" },
		{ "shadow.lead_time", METRIC_GAUGE, "seconds the candidate alerted before the baseline" },
	};

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		metrics_describe(m, d[i].name, d[i].type, d[i].help);
}

static int
pipeline_load_role(struct pipeline *p, int i, const struct plan_system *sys, char *err,
    size_t errlen)
{
	struct pipe_plugin *pp = &p->pl[i];
	char why[600], dir[PATH_MAX];
	int rc;

	pp->present = 1;
	rc = loader_open(&p->set, p->plugin_dir, sys->plugin, &pp->lp, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "plugin %s (%s): %s", pp->role, sys->plugin, why);
		return rc;
	}
	host_init(&pp->host, pp->role, p->o.data_dir, p->chain, sys->with, p->bus, i, p->o.clock);
	if (p->o.data_dir &&
	    (size_t)snprintf(dir, sizeof(dir), "%s/plugins/%s", p->o.data_dir, pp->role) < sizeof(dir))
		(void)fs_mkdir_p(dir, 0700);
	rc = pp->lp.desc->init(&pp->host.api, &pp->self);
	if (rc != 0) {
		snprintf(err, errlen, "plugin %s (%s): %s: init failed: %s", pp->role, sys->plugin,
		    pp->lp.path, pp->host.first_error[0] ? pp->host.first_error :
		    strerror(rc < 0 ? -rc : rc));
		loader_close(&p->set, &pp->lp);
		pp->self = NULL;
		return rc < 0 ? rc : -EINVAL;
	}
	pp->inited = 1;
	return 0;
}

int
pipeline_open(struct pipeline **out, const struct pipeline_opts *o, char *err, size_t errlen)
{
	struct pipeline *p;
	const struct plan *plan = o->plan;
	const char *chain = plan && plan->chain ? plan->chain : CHAIN_DEFAULT;
	struct shadow_opts so;
	int rc;

	*out = NULL;
	if (o->clock == NULL || o->metrics == NULL) {
		snprintf(err, errlen, "pipeline: clock and metrics are required");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "pipeline: out of memory");
		return -ENOMEM;
	}
	p->o = *o;
	pthread_mutex_init(&p->ticker_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->ticker_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	for (int i = 0; i < SYS_N; i++) {
		p->pl[i].role = pipeline_roles[i];
		p->pl[i].healthy = -1;
	}
	snprintf(p->plugin_dir, sizeof(p->plugin_dir), "%s",
	    o->plugin_dir ? o->plugin_dir : pipeline_default_plugin_dir());
	p->chain = chain_find(chain);
	if (p->chain == NULL) {
		snprintf(err, errlen, "pipeline: unknown chain preset \"%s\"", chain);
		rc = -EINVAL;
		goto fail;
	}
	p->recent = calloc(PIPELINE_RECENT, sizeof(*p->recent));
	if (p->recent == NULL) {
		snprintf(err, errlen, "pipeline: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = bus_create(&p->bus, o->queue_capacity ? o->queue_capacity : 65536,
	    PIPELINE_BALANCE_WAIT_MS, o->wake, o->wake_ctx);
	if (rc != 0) {
		snprintf(err, errlen, "pipeline: event bus: %s", strerror(-rc));
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		rc = rules_create(&p->rules[i], pipeline_roles[i], plan ? plan->rules : NULL,
		    p->chain->decimals, p->chain->symbol, p->chain->ss58_prefix, err, errlen);
		if (rc != 0)
			goto fail;
		/* the same whale rules for both systems, each on its own observations */
		rc = whale_install(p->rules[i], plan ? plan->rules : NULL, o->data_dir, err, errlen);
		if (rc != 0)
			goto fail;
	}
	rc = router_create(&p->router, plan && plan->salt ? plan->salt : plan && plan->name ?
	    plan->name : "");
	if (rc != 0) {
		snprintf(err, errlen, "pipeline: out of memory");
		goto fail;
	}
	memset(&so, 0, sizeof(so));
	so.decimals = p->chain->decimals;
	so.ss58_prefix = p->chain->ss58_prefix;
	so.metric = pipeline_metric;
	so.metric_ctx = p;
	rc = shadow_create(&p->shadow, &so);
	if (rc != 0) {
		snprintf(err, errlen, "pipeline: out of memory");
		goto fail;
	}
	pipeline_describe(o->metrics);
	p->mode = router_mode_from_flags(o->flags, &p->traffic);
	if (!o->no_plugins && plan) {
		/* The sink first, so that sources never run without it. */
		static const int order[SYS_N] = { SYS_ALERTING, SYS_BASELINE, SYS_CANDIDATE };

		for (int k = 0; k < SYS_N; k++) {
			int i = order[k];
			const struct plan_system *sys = i == SYS_BASELINE ? &plan->baseline :
			    i == SYS_CANDIDATE ? &plan->candidate : &plan->alerting;

			if (sys->plugin == NULL)
				continue;
			rc = pipeline_load_role(p, i, sys, err, errlen);
			if (rc != 0)
				goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	pipeline_close(p);
	return rc;
}

static void *
pipeline_ticker(void *arg)
{
	struct pipeline *p = arg;
	struct timespec ts;

	pthread_mutex_lock(&p->ticker_lock);
	while (!p->ticker_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&p->ticker_cond, &p->ticker_lock, &ts);
		if (p->ticker_stop)
			break;
		pthread_mutex_unlock(&p->ticker_lock);
		p->o.wake(p->o.wake_ctx);
		pthread_mutex_lock(&p->ticker_lock);
	}
	pthread_mutex_unlock(&p->ticker_lock);
	return NULL;
}

int
pipeline_start(struct pipeline *p)
{
	static const int order[SYS_N] = { SYS_ALERTING, SYS_BASELINE, SYS_CANDIDATE };

	for (int k = 0; k < SYS_N; k++) {
		struct pipe_plugin *pp = &p->pl[order[k]];
		int rc;

		if (!pp->inited || pp->started)
			continue;
		rc = pp->lp.desc->start(pp->self);
		if (rc != 0) {
			log_msg(LOG_LVL_ERROR, "pipeline", "plugin %s (%s): start failed: %s", pp->role,
			    pp->lp.desc->name, strerror(rc < 0 ? -rc : rc));
			pipeline_stop(p);
			return rc < 0 ? rc : -EIO;
		}
		pp->started = 1;
	}
	if (p->o.wake && !p->ticker_running) {
		p->ticker_stop = 0;
		if (pthread_create(&p->ticker, NULL, pipeline_ticker, p) == 0)
			p->ticker_running = 1;
	}
	return 0;
}

void
pipeline_stop(struct pipeline *p)
{
	static const int order[SYS_N] = { SYS_CANDIDATE, SYS_BASELINE, SYS_ALERTING };

	if (p == NULL)
		return;
	if (p->ticker_running) {
		pthread_mutex_lock(&p->ticker_lock);
		p->ticker_stop = 1;
		pthread_cond_signal(&p->ticker_cond);
		pthread_mutex_unlock(&p->ticker_lock);
		pthread_join(p->ticker, NULL);
		p->ticker_running = 0;
	}
	for (int k = 0; k < SYS_N; k++) {
		struct pipe_plugin *pp = &p->pl[order[k]];

		if (pp->started) {
			pp->lp.desc->stop(pp->self);
			pp->started = 0;
		}
	}
}

void
pipeline_close(struct pipeline *p)
{
	static const int order[SYS_N] = { SYS_CANDIDATE, SYS_BASELINE, SYS_ALERTING };

	if (p == NULL)
		return;
	pipeline_stop(p);
	if (p->bus)
		bus_close(p->bus);
	for (int k = 0; k < SYS_N; k++) {
		struct pipe_plugin *pp = &p->pl[order[k]];

		if (pp->inited) {
			pp->lp.desc->destroy(pp->self);
			pp->inited = 0;
		}
		if (pp->lp.handle)
			loader_close(&p->set, &pp->lp);
	}
	bus_free(p->bus);
	rules_free(p->rules[0]);
	rules_free(p->rules[1]);
	router_free(p->router);
	shadow_free(p->shadow);
	free(p->recent);
	pthread_cond_destroy(&p->ticker_cond);
	pthread_mutex_destroy(&p->ticker_lock);
	free(p);
}

/* ---- the runner side ------------------------------------------------------------------------ */

int
pipeline_emit(struct pipeline *p, const char *instance, const struct rollout_event *ev)
{
	int i = pipeline_role(instance);

	if (i < 0)
		return -ENOENT;
	return bus_push_event(p->bus, i, clock_now_ms(p->o.clock), ev);
}

static void
pipeline_forward(struct pipeline *p, int from, const struct rollout_event *ev)
{
	for (int i = 0; i < SYS_N; i++) {
		struct pipe_plugin *pp = &p->pl[i];

		if (i == from || !PLUGIN_HAS(pp, on_event) || pp->lp.desc->on_event == NULL)
			continue;
		pp->lp.desc->on_event(pp->self, pipeline_roles[from], ev);
	}
}

static void
pipeline_event(struct pipeline *p, struct bus_item *it, int64_t now)
{
	int src = it->source;
	struct pipe_plugin *pp = src >= 0 && src < SYS_N ? &p->pl[src] : NULL;
	const struct rollout_event *ev = &it->ev;

	if (pp == NULL)
		return;
	pp->events++;
	switch (ev->kind) {
	case ROLLOUT_EV_BALANCE:
		if (src == SYS_ALERTING)
			break;
		if (src == SYS_CANDIDATE)
			shadow_candidate_change(p->shadow, &ev->u.balance);
		else
			shadow_baseline_change(p->shadow, &ev->u.balance);
		rules_balance(p->rules[src], &ev->u.balance, now, pipeline_on_alert, p);
		break;
	case ROLLOUT_EV_SNAPSHOT:
		/* Labels and ranks come from the baseline's list for both systems (equal
		 * terms); both raise its whale_entry/whale_exit, and the system serving
		 * the account delivers them (whale_fact_alert), also at 100 % traffic. */
		if (src == SYS_BASELINE) {
			rules_snapshot(p->rules[SYS_BASELINE], &ev->u.snapshot, now, pipeline_on_alert, p);
			rules_snapshot(p->rules[SYS_CANDIDATE], &ev->u.snapshot, now, pipeline_on_alert, p);
			shadow_baseline_snapshot(p->shadow, &ev->u.snapshot);
		}
		pipeline_forward(p, src, ev);
		p->dirty = 1;
		break;
	case ROLLOUT_EV_HEALTH:
		pp->healthy = ev->u.health.healthy ? 1 : 0;
		snprintf(pp->detail, sizeof(pp->detail), "%s", ev->u.health.detail);
		pipeline_forward(p, src, ev);
		p->dirty = 1;
		break;
	case ROLLOUT_EV_ERROR:
		pp->errors++;
		snprintf(pp->last_error, sizeof(pp->last_error), "%s: %s", ev->u.error.kind,
		    ev->u.error.message);
		p->dirty = 1;
		break;
	case ROLLOUT_EV_LOG:
		pp->logs++;
		if (p->log_fn)
			p->log_fn(p->log_ctx, pp->role, ev->u.log.line);
		break;
	case ROLLOUT_EV_ACTIVITY:
		/* the baseline's seed of a first-seen account's last activity, for both
		 * rule sets (equal terms); own history wins, found == 0 stays unknown */
		if (src == SYS_BASELINE)
			for (int i = 0; i < 2; i++) {
				int rc = whale_seed(p->rules[i], &ev->u.activity);

				if (rc != 0 && rc != -EEXIST && rc != -ENODATA && rc != -ENOENT)
					log_msg(LOG_LVL_WARN, "pipeline", "%s: last activity seed from %s refused: %s",
					    pipeline_roles[i], pp->role, strerror(-rc));
			}
		break;
	case ROLLOUT_EV_TRANSFER:
		/* the baseline's transfers reach both rule sets; the router keeps the
		 * alert of the system that serves the whale's account (whale.h) */
		if (src == SYS_BASELINE)
			for (int i = 0; i < 2; i++)
				whale_transfer(p->rules[i], &ev->u.transfer, now, pipeline_on_alert, p);
		break;
	}
}

static void
pipeline_publish(struct pipeline *p, int64_t now)
{
	struct bus_stats st;

	if (p->last_publish_ms && now - p->last_publish_ms < 1000 && now >= p->last_publish_ms)
		return;
	p->last_publish_ms = now;
	bus_get_stats(p->bus, &st);
	metrics_record(p->o.metrics, "bus.depth", (double)st.depth);
	/* a counter: one sample per publication with the increment */
	metrics_record(p->o.metrics, "bus.dropped",
	    (double)(st.dropped + st.dropped_balance - p->dropped_published));
	p->dropped_published = st.dropped + st.dropped_balance;
	metrics_record(p->o.metrics, "router.traffic", (double)p->traffic);
}

void
pipeline_drain(struct pipeline *p)
{
	struct bus_item *items[PIPELINE_BATCH];
	size_t n, total = 0;
	int64_t now = clock_now_ms(p->o.clock);
	enum router_mode mode;
	int traffic;

	mode = router_mode_from_flags(p->o.flags, &traffic);
	if (mode != p->mode || traffic != p->traffic) {
		log_msg(LOG_LVL_INFO, "pipeline", "router: %s %d%% -> %s %d%%",
		    router_mode_name(p->mode), p->traffic, router_mode_name(mode), traffic);
		p->mode = mode;
		p->traffic = traffic;
		p->dirty = 1;
	}
	while (total < PIPELINE_BUDGET && (n = bus_pop(p->bus, items, PIPELINE_BATCH)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct bus_item *it = items[i];

			if (it->kind == BUS_ITEM_METRIC)
				metrics_record_at(p->o.metrics, it->name, it->t_ms, it->value);
			else
				pipeline_event(p, it, now);
			bus_item_free(it);
		}
		total += n;
	}
	if (shadow_tick(p->shadow, now))
		p->dirty = 1;
	pipeline_publish(p, now);
	if (total >= PIPELINE_BUDGET && p->o.wake)
		p->o.wake(p->o.wake_ctx); /* more to do: come back after the loop's other work */
	if (p->dirty && p->o.changed) {
		p->dirty = 0;
		p->o.changed(p->o.changed_ctx);
	}
}

int
pipeline_command(struct pipeline *p, const char *instance, const char *cmd, const char *arg,
    char *reply, size_t len)
{
	int i = pipeline_role(instance);
	struct pipe_plugin *pp;
	int rc;

	if (len)
		reply[0] = '\0';
	if (i < 0 || !p->pl[i].inited) {
		snprintf(reply, len, "no plugin instance \"%s\"", instance ? instance : "");
		return -ENOENT;
	}
	pp = &p->pl[i];
	if (!PLUGIN_HAS(pp, command) || pp->lp.desc->command == NULL) {
		snprintf(reply, len, "%s (%s) has no commands", pp->role, pp->lp.desc->name);
		return -ENOTSUP;
	}
	rc = pp->lp.desc->command(pp->self, cmd, arg, reply, len);
	if (rc == -ENOTSUP && len && reply[0] == '\0')
		snprintf(reply, len, "%s (%s): unknown command \"%s\"", pp->role, pp->lp.desc->name,
		    cmd);
	return rc;
}

int
pipeline_notify(struct pipeline *p, int severity, const char *type, const char *title,
    const char *message)
{
	struct recent_alert *r = pipeline_remember(p);
	struct rules_alert *a = &r->a;

	r->rollout = 1;
	r->verdict = ROUTE_DELIVER;
	a->severity = severity < ROLLOUT_SEV_INFO ? ROLLOUT_SEV_INFO :
	    severity > ROLLOUT_SEV_CRITICAL ? ROLLOUT_SEV_CRITICAL : (enum rollout_severity)severity;
	a->time_ms = clock_now_ms(p->o.clock);
	snprintf(a->type, sizeof(a->type), "%s", type ? type : "rollout");
	snprintf(a->system, sizeof(a->system), "rollout");
	snprintf(a->title, sizeof(a->title), "%s", title ? title : "");
	snprintf(a->message, sizeof(a->message), "%s", message ? message : "");
	snprintf(a->key, sizeof(a->key), "rollout:%s:%lld", a->type, (long long)a->time_ms);
	rules_alert_id(a->key, a->id);
	r->sink_rc = pipeline_sink(p, a, 1);
	p->dirty = 1;
	return r->sink_rc;
}

void
pipeline_set_log_hook(struct pipeline *p,
    void (*fn)(void *ctx, const char *instance, const char *line), void *ctx)
{
	p->log_fn = fn;
	p->log_ctx = ctx;
}

json_t *
pipeline_shadow_json(struct pipeline *p)
{
	return shadow_json(p->shadow);
}

static const char *
pipeline_sev_name(enum rollout_severity s)
{
	return s == ROLLOUT_SEV_CRITICAL ? "critical" : s == ROLLOUT_SEV_WARNING ? "warning" : "info";
}

json_t *
pipeline_alerts_json(struct pipeline *p, size_t offset, size_t limit)
{
	json_t *o = json_object(), *arr = json_array();

	for (size_t i = offset; i < p->recent_count && json_array_size(arr) < limit; i++) {
		const struct recent_alert *r =
		    &p->recent[(p->recent_next + PIPELINE_RECENT - 1 - i) % PIPELINE_RECENT];
		const struct rules_alert *a = &r->a;
		char planck[48];
		json_t *j;

		rules_format_u128(a->amount, planck, sizeof(planck));
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I,"
		    " s:I, s:I, s:I, s:s, s:s, s:i}",
		    "id", a->id, "key", a->key, "type", a->type,
		    "severity", pipeline_sev_name(a->severity), "system", a->system,
		    "delivered", r->verdict == ROUTE_DELIVER, "route", r->rollout ? "rollout" :
		    router_verdict_name(r->verdict), "account", a->account, "label", a->label,
		    "amount_planck", planck, "amount_tokens", a->amount_tokens,
		    "block_from", (json_int_t)a->block_from, "block_to", (json_int_t)a->block_to,
		    "window_start_ms", (json_int_t)a->window_start_ms,
		    "window_end_ms", (json_int_t)a->window_end_ms, "time_ms", (json_int_t)a->time_ms,
		    "title", a->title, "message", a->message, "sink_rc", r->sink_rc);
		if (j)
			json_array_append_new(arr, j);
	}
	json_object_set_new(o, "total", json_integer((json_int_t)p->recent_count));
	json_object_set_new(o, "offset", json_integer((json_int_t)offset));
	json_object_set_new(o, "alerts", arr);
	return o;
}

json_t *
pipeline_health_json(struct pipeline *p)
{
	json_t *o = json_object(), *plugins = json_object();
	struct bus_stats st;

	bus_get_stats(p->bus, &st);
	json_object_set_new(o, "bus", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "depth", (json_int_t)st.depth, "capacity", (json_int_t)st.capacity,
	    "high_water", (json_int_t)st.high_water, "pushed", (json_int_t)st.pushed,
	    "dropped", (json_int_t)st.dropped, "dropped_balance", (json_int_t)st.dropped_balance,
	    "waited", (json_int_t)st.waited));
	for (int i = 0; i < SYS_N; i++) {
		const struct pipe_plugin *pp = &p->pl[i];

		if (!pp->inited)
			continue;
		json_object_set_new(plugins, pp->role, json_pack(
		    "{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:s, s:b}",
		    "plugin", pp->lp.desc->name, "version", pp->lp.desc->version ?
		    pp->lp.desc->version : "", "path", pp->lp.path,
		    "healthy", pp->healthy < 0 ? json_null() : json_boolean(pp->healthy),
		    "detail", pp->detail, "events", (json_int_t)pp->events,
		    "errors", (json_int_t)pp->errors, "last_error", pp->last_error,
		    "started", pp->started));
	}
	json_object_set_new(o, "plugins", plugins);
	json_object_set_new(o, "router", json_pack("{s:s, s:i, s:I, s:I, s:I}",
	    "mode", router_mode_name(p->mode), "traffic", p->traffic,
	    "delivered", (json_int_t)p->delivered, "shadow", (json_int_t)p->shadowed,
	    "covered", (json_int_t)p->covered));
	json_object_set_new(o, "alerts", json_pack("{s:I, s:I, s:I}",
	    "baseline", (json_int_t)p->raised[SYS_BASELINE],
	    "candidate", (json_int_t)p->raised[SYS_CANDIDATE],
	    "sink_errors", (json_int_t)p->sink_errors));
	return o;
}

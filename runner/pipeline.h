/*
 * pipeline.h — the runner's side of the plugins: it loads the plan's three
 * plugins (baseline, candidate, alerting), carries their events over the
 * bus to the runner thread, runs both systems' observations through the
 * same whale rules, compares them (shadow comparator), routes each alert
 * (router: flags + sticky bucket) and hands the delivered ones to the
 * alerting sink.  See rolloutd-plugin(3).
 *
 * Threads: pipeline_open/start/stop/close/drain/command/notify and the
 * *_json functions are called on the runner thread (the one that owns the
 * metrics and flags).  Plugins emit from their own threads; the bus calls
 * opts.wake (from any thread) when there is work, and the runner then calls
 * pipeline_drain().  pipeline_emit() is thread-safe.
 */
#ifndef ROLLOUT_PIPELINE_H
#define ROLLOUT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout/plugin.h"

struct plan;
struct clock;
struct metrics;
struct flags;
struct pipeline;

struct pipeline_opts {
	const struct plan *plan;        /* systems, chain, salt, rules: block; must outlive the pipeline */
	const char *data_dir;           /* DATA (plugins get DATA/plugins/<instance>/ by convention) */
	const char *plugin_dir;         /* --plugin-dir; NULL: <dir of the executable>/plugins when it
	                                   exists (the build tree), else PLUGINDIR */
	struct clock *clock;            /* required */
	struct metrics *metrics;        /* required; written only on the runner thread (in drain) */
	struct flags *flags;            /* router reads enableParallelMode, hybridTrafficPercent,
	                                   emergencyRollback, enableHybridSystem; may be NULL (legacy only) */
	void (*wake)(void *ctx);        /* any thread: the bus has work (also once a second while
	                                   started, for time-based work); call pipeline_drain() soon */
	void *wake_ctx;
	void (*changed)(void *ctx);     /* runner thread: alerts/shadow/health changed (dashboard push) */
	void *changed_ctx;
	size_t queue_capacity;          /* bus capacity in events; 0: default (65536) */
	int no_plugins;                 /* 1: load nothing (simulator, tests); feed with pipeline_emit() */
	double time_scale;              /* how many times faster than real time CLOCK runs (rolloutd
	                                   --speed); processing latencies (*.alert_latency) measured on
	                                   CLOCK are divided by it so they stay wall-clock seconds.
	                                   <= 0 or 1: CLOCK is real time (no scaling) */
};

/*
 * Load and init() the plan's plugins (baseline, candidate, alerting when
 * present), checking magic/ABI/size/name.  On failure returns -errno, writes
 * one clear line into ERR ("plugin candidate (rpc_watcher): FILE: reason"),
 * and leaves nothing loaded.  *OUT is owned by the caller (pipeline_close).
 */
int pipeline_open(struct pipeline **out, const struct pipeline_opts *o, char *err, size_t errlen);
/* Start the plugins (alerting first, then baseline, candidate).  0 or -errno (logged, named). */
int pipeline_start(struct pipeline *p);
/* Stop the plugins (sources first, sink last); after it returns no plugin thread emits. */
void pipeline_stop(struct pipeline *p);
/* Destroy the plugins, close their handles, free everything.  Calls stop if needed.  NULL ok. */
void pipeline_close(struct pipeline *p);

/*
 * Runner thread: take every queued event and process it: metric samples ->
 * metrics; balance changes -> rules (per system) -> shadow comparator and
 * router -> alerting sink (on_alert); snapshots -> rules, comparator and the
 * other plugins' on_event; the baseline's activity seeds (whale_seed) and
 * transfers (whale_transfer) -> both systems' rules, their alerts (and the
 * list's entries/exits) delivered by the system serving the account;
 * log lines -> the log hook (PCRE2 triggers);
 * health/errors -> health state and metrics.  Also publishes bus.depth,
 * bus.dropped, router.traffic and the shadow.* metrics.
 */
void pipeline_drain(struct pipeline *p);

/*
 * Inject an event as if INSTANCE ("baseline", "candidate") had emitted it.
 * Thread-safe; copies EV deeply.  0 or -EAGAIN (bus full, drop counted; a
 * balance change waits a bounded time first).
 */
int pipeline_emit(struct pipeline *p, const char *instance, const struct rollout_event *ev);

/*
 * Run a plugin command on INSTANCE (baseline|candidate|alerting).  0,
 * -ENOENT (no such instance), -ENOTSUP (unknown command), or the plugin's
 * -errno.  REPLY gets the plugin's reply or an error text.
 */
int pipeline_command(struct pipeline *p, const char *instance, const char *cmd, const char *arg,
    char *reply, size_t len);

/*
 * A rollout notification (phase change, rollback, gate failure) to the
 * alerting sink, never routed (system "rollout").  SEVERITY is an
 * enum rollout_severity.  0, -ENOENT (no alerting plugin) or the sink's -errno.
 */
int pipeline_notify(struct pipeline *p, int severity, const char *type, const char *title,
    const char *message);

/* Called on the runner thread for every plugin log line (INSTANCE is "baseline"...). */
void pipeline_set_log_hook(struct pipeline *p,
    void (*fn)(void *ctx, const char *instance, const char *line), void *ctx);

/*
 * JSON views (new references; the caller decrefs):
 *  shadow:  {"accuracy","balance_agreement","matched","missed","extra","skipped","lead_time_ms",
 *            "balance_checked","balance_agreed","mismatches":[{...both sides...}]}  (last 100)
 *  alerts:  {"total":N,"alerts":[{id,key,type,severity,system,delivered,account,label,
 *            amount_planck,amount_tokens,block_from,block_to,time_ms,title,message}]}
 *           newest first, OFFSET/LIMIT paging over the recent ring (last 1000)
 *  health:  {"bus":{"depth","capacity","dropped","waited"},"plugins":{"candidate":{"plugin",
 *            "version","healthy","detail","errors","events"},...},"router":{"mode","traffic"}}
 */
json_t *pipeline_shadow_json(struct pipeline *p);
json_t *pipeline_alerts_json(struct pipeline *p, size_t offset, size_t limit);
json_t *pipeline_health_json(struct pipeline *p);

/* Wait until both rule sets' state files (DATA/rules/...) are written (whale_sync). */
void pipeline_sync(struct pipeline *p);

/* The plugin directory pipeline_open() would use when opts.plugin_dir is NULL (static buffer). */
const char *pipeline_default_plugin_dir(void);

#endif

/*
 * api.h — rolloutd's HTTP API, Prometheus endpoint, dashboard files and
 * WebSocket snapshot (rolloutd-api(7)).  The routes are served by one
 * handler given to the listener (http.h); everything runs on the runner
 * thread, which owns the engine, the flags, the metrics and the pipeline.
 *
 * Mutating routes (every POST) need "Authorization: Bearer TOKEN" and are
 * refused with 403 in read-only mode.  Each one is journaled with the
 * caller's address (kind "api"), besides the engine's and the flag store's
 * own records.
 */
#ifndef ROLLOUT_API_H
#define ROLLOUT_API_H

#include <stddef.h>

#include <jansson.h>

#include "engine.h"
#include "http.h"

struct plan;
struct flags;
struct metrics;
struct clock;
struct pipeline;
struct journal;
struct promexp;
struct api;

/* Everything is borrowed and must outlive the api; any pointer may be NULL (routes then say so). */
struct api_opts {
	const struct plan *plan;
	struct engine *engine;
	struct flags *flags;
	struct metrics *metrics;
	struct clock *clock;
	struct pipeline *pipeline;
	struct journal *journal;
	struct http_server *http;       /* for /metrics statistics and the WebSocket push */
	struct promexp *prom;
	const char *journal_path;       /* DATA/state/journal.jsonl (history, health) */
	const char *web_dir;            /* dashboard files; NULL: no dashboard */
	const char *token;              /* bearer token (required for POST) */
	int read_only;
	double speed;                   /* clock acceleration, shown in the status */
	const char *version;
	/* Runner state changed through the API: push to the dashboards. */
	void (*changed)(void *ctx);
	void *ctx;
};

int api_create(struct api **out, const struct api_opts *o);
void api_free(struct api *a);
/* Replace the engine (e.g. once it could be opened).  NULL allowed. */
void api_set_engine(struct api *a, struct engine *e);

/* The http_handler_fn: CTX is the struct api. */
void api_handle(void *ctx, const struct http_request *rq, struct http_response *rs);
/* The http_ws_snapshot_fn: {"type":"snapshot","status","alerts","shadow","metrics"}. */
char *api_ws_snapshot(void *ctx, size_t *len);

/* GET /api/status as JSON (new reference). */
json_t *api_status_json(struct api *a);

/*
 * The one emergency rollback, shared by POST /api/emergency/rollback, the
 * dashboard button and SIGUSR1: flags_emergency_rollback() (traffic 0,
 * hybrid delivery off, emergencyRollback set, durable, audited), then the
 * engine's ACT_ROLLBACK, then a critical alert through the pipeline.  No
 * gate, plugin or network is consulted for it to succeed: only the flags
 * write decides the result.  0 or -errno (ERR says why).
 */
int api_emergency_rollback(struct api *a, const struct engine_actor *who, char *err, size_t errlen);

/* The engine state names, NULL-terminated (for /metrics). */
extern const char *const api_state_names[];

#endif

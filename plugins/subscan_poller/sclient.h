/*
 * sclient.h — the Subscan HTTP client of subscan_poller: libcurl POSTs of
 * JSON with X-API-Key, the {code,message,generated_at,data} envelope, a
 * rate limiter that is never exceeded (retries included), honouring of 429
 * / Retry-After / RateLimit-* headers, exponential backoff with jitter on
 * 5xx, timeouts and transport errors, and a circuit breaker.
 *
 * Thread-safe: several threads may call sclient_post() (each with its own
 * struct sclient_conn); they share the limiter and the breaker.
 */
#ifndef SUBSCAN_SCLIENT_H
#define SUBSCAN_SCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum sclient_breaker {
	SCLIENT_CLOSED = 0,
	SCLIENT_HALF_OPEN = 1,
	SCLIENT_OPEN = 2,
};

struct sclient_config {
	const char *base_url;         /* "https://assethub-polkadot.api.subscan.io" */
	const char *api_key;          /* may be NULL or "" (no header) */
	double rate;                  /* requests per second; 0 = unlimited */
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	int retries;                  /* extra attempts after the first */
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;
	int64_t max_pause_ms;         /* cap on Retry-After / RateLimit-Reset */
	int breaker_failures;         /* consecutive failures that open the breaker */
	int64_t breaker_cooldown_ms;  /* open -> half-open after this long */
};

/* What the client reports to its owner (metrics, logs); called without locks held. */
struct sclient_hooks {
	void *ctx;
	void (*metric)(void *ctx, const char *name, double value);
	void (*breaker_changed)(void *ctx, enum sclient_breaker from, enum sclient_breaker to,
	    const char *why);
	/*
	 * Optional: the clock (ms) of the backoff delays and of the breaker's
	 * cooldown, e.g. the daemon's, which runs faster under --speed so that
	 * they keep their meaning against an accelerated chain.  The rate limit,
	 * Retry-After and RateLimit-Reset stay in real time (they are the
	 * server's).  NULL: monotonic real time.
	 */
	int64_t (*now_ms)(void *ctx);
};

struct sclient;
struct sclient_conn;

/* A client (copies CFG's strings).  NULL on allocation failure. */
struct sclient *sclient_new(const struct sclient_config *cfg, const struct sclient_hooks *hooks);
/* Wake every sleeper and abort transfers in flight; later calls fail with -ECANCELED. */
void sclient_cancel(struct sclient *c);
/* Allow use again after sclient_cancel(). */
void sclient_resume(struct sclient *c);
void sclient_free(struct sclient *c);

/* A connection (one reused curl handle); use it from one thread at a time. */
struct sclient_conn *sclient_conn_new(struct sclient *c);
void sclient_conn_free(struct sclient_conn *conn);
/*
 * Extra attempts after the first for requests on CONN (-1: the client's
 * `retries`).  The poller's per-account lookups use 0: a failed lookup is
 * simply asked again next cycle.
 */
void sclient_conn_set_retries(struct sclient_conn *conn, int retries);

/*
 * POST BODY (JSON text) to base_url + PATH.  On success returns 0, sets
 * *DATA to the envelope's `data` (new reference, may be JSON null) and
 * *GENERATED_AT to generated_at (0 if absent).  On failure returns
 * -errno, sets *KIND to a static metric-safe name ("timeout", "transport",
 * "truncated", "http_429", "http_5xx", "http_4xx", "auth", "invalid_json",
 * "envelope", "api_code", "breaker_open", "cancelled") and writes the
 * message into ERR.  Every attempt counts "requests"; every failed attempt
 * counts "errors" and "errors.<kind>".
 */
int sclient_post(struct sclient_conn *conn, const char *path, const char *body,
    json_t **data, int64_t *generated_at, const char **kind, char *err, size_t errlen);

/* Sleep MS (monotonic) unless cancelled first; returns -ECANCELED then. */
int sclient_sleep(struct sclient *c, int64_t ms);
/* Sleep MS on the hooks' clock (real time without one); -ECANCELED when cancelled. */
int sclient_sleep_clock(struct sclient *c, int64_t ms);

struct sclient_stats {
	uint64_t requests;
	uint64_t failures;
	uint64_t throttled;           /* 429 answers */
	enum sclient_breaker breaker;
	int64_t pause_ms;             /* remaining server-imposed pause */
};
void sclient_get_stats(struct sclient *c, struct sclient_stats *out);

const char *sclient_breaker_name(enum sclient_breaker b);

#endif

/*
 * sclient.c — Subscan HTTP client: limiter, retries, breaker (sclient.h).
 *
 * The limiter is a token bucket of B = max(1, floor(rate)) tokens in which
 * a spent token comes back B/rate seconds (plus a 50 ms guard) after the
 * request that spent it *ended*.  A request reaches the server before its
 * response ends, so however late the network delivers a request, the
 * server never sees more than B requests in any B/rate seconds: at 5/s,
 * never more than 5 in any second, retries included, because every
 * attempt takes a token.
 */
#include "sclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SCLIENT_GUARD_S 0.05
#define SCLIENT_MAX_BODY (32u * 1024 * 1024)

struct sclient {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sclient_config cfg;
	char *base_url;
	char *api_key;
	struct sclient_hooks hooks;
	int cancelled;
	/* limiter */
	double *slot_free_at;         /* monotonic s at which each token is back */
	size_t nslots;
	size_t head;                  /* oldest token */
	double slot_period;
	double pause_until;           /* server-imposed pause (429, RateLimit-*) */
	/* breaker */
	enum sclient_breaker breaker;
	int consecutive;
	double open_until;
	int probe_in_flight;
	/* stats */
	uint64_t requests, failures, throttled;
	unsigned rng;
};

struct sclient_conn {
	struct sclient *c;
	CURL *curl;
	struct curl_slist *headers;
	char *buf;
	size_t len, cap;
	int overflow;
	/* response headers of the current attempt */
	double retry_after;           /* -1 when absent */
	long rl_remaining;            /* -1 when absent */
	double rl_reset;              /* -1 when absent */
	int retries;                  /* extra attempts; -1: the client's */
};

static pthread_once_t sclient_curl_once = PTHREAD_ONCE_INIT;

static void
sclient_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double
sclient_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *
sclient_breaker_name(enum sclient_breaker b)
{
	switch (b) {
	case SCLIENT_CLOSED: return "closed";
	case SCLIENT_HALF_OPEN: return "half-open";
	case SCLIENT_OPEN: return "open";
	}
	return "?";
}

struct sclient *
sclient_new(const struct sclient_config *cfg, const struct sclient_hooks *hooks)
{
	struct sclient *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_once(&sclient_curl_once, sclient_curl_init);
	c->cfg = *cfg;
	c->base_url = strdup(cfg->base_url ? cfg->base_url : "");
	c->api_key = strdup(cfg->api_key ? cfg->api_key : "");
	if (hooks != NULL)
		c->hooks = *hooks;
	if (cfg->rate > 0) {
		c->nslots = cfg->rate >= 1 ? (size_t)floor(cfg->rate) : 1;
		c->slot_period = (double)c->nslots / cfg->rate + SCLIENT_GUARD_S;
		c->slot_free_at = calloc(c->nslots, sizeof(double));
	}
	if (c->base_url == NULL || c->api_key == NULL || (cfg->rate > 0 && c->slot_free_at == NULL)) {
		sclient_free(c);
		return NULL;
	}
	c->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
	return c;
}

void
sclient_cancel(struct sclient *c)
{
	pthread_mutex_lock(&c->lock);
	c->cancelled = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
sclient_resume(struct sclient *c)
{
	pthread_mutex_lock(&c->lock);
	c->cancelled = 0;
	pthread_mutex_unlock(&c->lock);
}

void
sclient_free(struct sclient *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->slot_free_at);
	free(c->base_url);
	free(c->api_key);
	free(c);
}

/* Wait on the condition until monotonic time UNTIL; lock held.  -ECANCELED when cancelled. */
static int
sclient_wait_until(struct sclient *c, double until)
{
	struct timespec ts;

	if (c->cancelled)
		return -ECANCELED;
	ts.tv_sec = (time_t)until;
	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	return c->cancelled ? -ECANCELED : 0;
}

int
sclient_sleep(struct sclient *c, int64_t ms)
{
	double until = sclient_mono() + (double)ms / 1000.0;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	while (rc == 0 && sclient_mono() < until)
		rc = sclient_wait_until(c, until);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Seconds on the hooks' clock (backoff, breaker), else monotonic. */
static double
sclient_clock(struct sclient *c)
{
	if (c->hooks.now_ms != NULL)
		return (double)c->hooks.now_ms(c->hooks.ctx) / 1000.0;
	return sclient_mono();
}

int
sclient_sleep_clock(struct sclient *c, int64_t ms)
{
	double until;
	int rc = 0;

	if (c->hooks.now_ms == NULL)
		return sclient_sleep(c, ms);
	/* the clock may run faster than real time: look at it every 10 ms */
	until = sclient_clock(c) + (double)ms / 1000.0;
	while (rc == 0) {
		double left = until - sclient_clock(c);

		if (left <= 0)
			break;
		rc = sclient_sleep(c, left < 0.010 ? (int64_t)(left * 1000.0) + 1 : 10);
	}
	return rc;
}

/*
 * Take one token (waiting for it and for any server pause).  Lock not held.
 * *SLOT gets the token's index (-1 when unlimited) for sclient_release().
 */
static int
sclient_acquire(struct sclient *c, int *slot)
{
	int rc = 0;

	*slot = -1;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		double now = sclient_mono(), at = c->pause_until;

		if (c->cancelled) {
			rc = -ECANCELED;
			break;
		}
		if (c->nslots > 0 && c->slot_free_at[c->head] > at)
			at = c->slot_free_at[c->head];
		if (at <= now) {
			if (c->nslots > 0) {
				/* provisional: moved to the request's end by sclient_release() */
				c->slot_free_at[c->head] = now + c->slot_period;
				*slot = (int)c->head;
				c->head = (c->head + 1) % c->nslots;
			}
			c->requests++;
			break;
		}
		if ((rc = sclient_wait_until(c, at)) < 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* The request that took token SLOT has ended: the token returns a period from now. */
static void
sclient_release(struct sclient *c, int slot)
{
	double back;

	if (slot < 0)
		return;
	pthread_mutex_lock(&c->lock);
	back = sclient_mono() + c->slot_period;
	if (back > c->slot_free_at[slot])
		c->slot_free_at[slot] = back;
	pthread_mutex_unlock(&c->lock);
}

/* ---- breaker --------------------------------------------------------------------- */

/* Lock held.  Records the transition (FROM, TO) for the caller to report. */
static void
sclient_breaker_set(struct sclient *c, enum sclient_breaker to, int *changed,
    enum sclient_breaker *from)
{
	if (c->breaker == to)
		return;
	if (!*changed)
		*from = c->breaker;
	*changed = 1;
	c->breaker = to;
}

static void
sclient_breaker_report(struct sclient *c, int changed, enum sclient_breaker from,
    enum sclient_breaker to, const char *why)
{
	if (!changed || from == to)
		return;
	if (c->hooks.metric != NULL)
		c->hooks.metric(c->hooks.ctx, "breaker_state", (double)to);
	if (c->hooks.breaker_changed != NULL)
		c->hooks.breaker_changed(c->hooks.ctx, from, to, why);
}

/* May this attempt go out?  0 or -EAGAIN (breaker open; *FAILURES = the streak). */
static int
sclient_breaker_admit(struct sclient *c, int *failures)
{
	enum sclient_breaker from = SCLIENT_CLOSED, to;
	int changed = 0, rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->breaker == SCLIENT_OPEN && sclient_clock(c) >= c->open_until)
		sclient_breaker_set(c, SCLIENT_HALF_OPEN, &changed, &from);
	if (c->breaker == SCLIENT_OPEN)
		rc = -EAGAIN;
	else if (c->breaker == SCLIENT_HALF_OPEN) {
		if (c->probe_in_flight)
			rc = -EAGAIN;
		else
			c->probe_in_flight = 1;
	}
	to = c->breaker;
	*failures = c->consecutive;
	pthread_mutex_unlock(&c->lock);
	sclient_breaker_report(c, changed, from, to, "cooldown over, probing");
	return rc;
}

/* OUTCOME: 1 success, -1 failure that counts, 0 neutral (e.g. 429, auth). */
static void
sclient_breaker_record(struct sclient *c, int outcome, const char *why)
{
	enum sclient_breaker from = SCLIENT_CLOSED, to;
	int changed = 0;

	pthread_mutex_lock(&c->lock);
	c->probe_in_flight = 0;
	if (outcome > 0) {
		c->consecutive = 0;
		sclient_breaker_set(c, SCLIENT_CLOSED, &changed, &from);
	} else if (outcome < 0) {
		c->consecutive++;
		if (c->breaker == SCLIENT_HALF_OPEN ||
		    (c->cfg.breaker_failures > 0 && c->consecutive >= c->cfg.breaker_failures)) {
			c->open_until = sclient_clock(c) + (double)c->cfg.breaker_cooldown_ms / 1000.0;
			sclient_breaker_set(c, SCLIENT_OPEN, &changed, &from);
		}
	}
	to = c->breaker;
	pthread_mutex_unlock(&c->lock);
	sclient_breaker_report(c, changed, from, to, why);
}

/* ---- curl ----------------------------------------------------------------------- */

static size_t
sclient_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sclient_conn *conn = arg;
	size_t len = size * n;

	if (conn->len + len + 1 > SCLIENT_MAX_BODY) {
		conn->overflow = 1;
		return 0;
	}
	if (conn->len + len + 1 > conn->cap) {
		size_t cap = conn->cap ? conn->cap : 65536;
		char *nb;

		while (cap < conn->len + len + 1)
			cap *= 2;
		nb = realloc(conn->buf, cap);
		if (nb == NULL)
			return 0;
		conn->buf = nb;
		conn->cap = cap;
	}
	memcpy(conn->buf + conn->len, p, len);
	conn->len += len;
	conn->buf[conn->len] = '\0';
	return len;
}

static size_t
sclient_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sclient_conn *conn = arg;
	size_t len = size * n;
	char line[256], *colon, *v;

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		conn->retry_after = -1;
		conn->rl_remaining = -1;
		conn->rl_reset = -1;
		return len;
	}
	colon = strchr(line, ':');
	if (colon == NULL)
		return len;
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	v[strcspn(v, "\r\n")] = '\0';
	if (strcasecmp(line, "retry-after") == 0) {
		char *end;
		double s = strtod(v, &end);

		if (end != v && *end == '\0' && s >= 0) {
			conn->retry_after = s;
		} else {
			time_t t = curl_getdate(v, NULL); /* HTTP-date form */

			if (t > 0)
				conn->retry_after = difftime(t, time(NULL)) > 0 ? difftime(t, time(NULL)) : 0;
		}
	} else if (strcasecmp(line, "ratelimit-remaining") == 0 ||
	    strcasecmp(line, "x-ratelimit-remaining") == 0) {
		conn->rl_remaining = strtol(v, NULL, 10);
	} else if (strcasecmp(line, "ratelimit-reset") == 0 ||
	    strcasecmp(line, "x-ratelimit-reset") == 0) {
		conn->rl_reset = strtod(v, NULL);
	}
	return len;
}

static int
sclient_on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
	struct sclient_conn *conn = arg;
	int cancelled;

	(void)a; (void)b; (void)c2; (void)d;
	pthread_mutex_lock(&conn->c->lock);
	cancelled = conn->c->cancelled;
	pthread_mutex_unlock(&conn->c->lock);
	return cancelled;
}

struct sclient_conn *
sclient_conn_new(struct sclient *c)
{
	struct sclient_conn *conn = calloc(1, sizeof(*conn));
	char hdr[512];

	if (conn == NULL)
		return NULL;
	conn->c = c;
	conn->retries = -1;
	conn->curl = curl_easy_init();
	if (conn->curl == NULL)
		goto fail;
	conn->headers = curl_slist_append(NULL, "Content-Type: application/json");
	conn->headers = curl_slist_append(conn->headers, "Accept: application/json");
	conn->headers = curl_slist_append(conn->headers, "Expect:");
	if (c->api_key[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "X-API-Key: %s", c->api_key);
		conn->headers = curl_slist_append(conn->headers, hdr);
	}
	if (conn->headers == NULL)
		goto fail;
	curl_easy_setopt(conn->curl, CURLOPT_HTTPHEADER, conn->headers);
	curl_easy_setopt(conn->curl, CURLOPT_USERAGENT, "rolloutd-subscan_poller/1");
	curl_easy_setopt(conn->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(conn->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)conn->c->cfg.connect_timeout_ms);
	curl_easy_setopt(conn->curl, CURLOPT_TIMEOUT_MS, (long)conn->c->cfg.timeout_ms);
	curl_easy_setopt(conn->curl, CURLOPT_WRITEFUNCTION, sclient_on_body);
	curl_easy_setopt(conn->curl, CURLOPT_WRITEDATA, conn);
	curl_easy_setopt(conn->curl, CURLOPT_HEADERFUNCTION, sclient_on_header);
	curl_easy_setopt(conn->curl, CURLOPT_HEADERDATA, conn);
	curl_easy_setopt(conn->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(conn->curl, CURLOPT_XFERINFOFUNCTION, sclient_on_progress);
	curl_easy_setopt(conn->curl, CURLOPT_XFERINFODATA, conn);
	curl_easy_setopt(conn->curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(conn->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* HTTPS verification stays on (system CA store, libcurl's default). */
	curl_easy_setopt(conn->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(conn->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(conn->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	return conn;
fail:
	sclient_conn_free(conn);
	return NULL;
}

void
sclient_conn_free(struct sclient_conn *conn)
{
	if (conn == NULL)
		return;
	if (conn->curl != NULL)
		curl_easy_cleanup(conn->curl);
	curl_slist_free_all(conn->headers);
	free(conn->buf);
	free(conn);
}

static void
sclient_metric(struct sclient *c, const char *name, double v)
{
	if (c->hooks.metric != NULL)
		c->hooks.metric(c->hooks.ctx, name, v);
}

/* Extend the server-imposed pause to at least SECONDS from now. */
static void
sclient_pause(struct sclient *c, double seconds)
{
	double cap = (double)c->cfg.max_pause_ms / 1000.0, until;

	if (seconds > cap)
		seconds = cap;
	until = sclient_mono() + seconds;
	pthread_mutex_lock(&c->lock);
	if (until > c->pause_until)
		c->pause_until = until;
	pthread_mutex_unlock(&c->lock);
}

enum sclient_verdict {
	SCLIENT_OK = 0,
	SCLIENT_RETRY = 1,            /* transient: back off and retry */
	SCLIENT_RETRY_PAUSED = 2,     /* throttled: retry after the pause, no backoff */
	SCLIENT_FATAL = 3,            /* not worth retrying */
};

/* One attempt.  Returns a verdict; on failure sets *KIND and ERR. */
static enum sclient_verdict
sclient_attempt(struct sclient_conn *conn, const char *url, const char *body,
    json_t **data, int64_t *generated_at, const char **kind, char *err, size_t errlen)
{
	struct sclient *c = conn->c;
	CURLcode cc;
	long status = 0;
	json_t *root = NULL, *code, *msg, *gen;
	json_error_t je;
	int breaker = 0;
	enum sclient_verdict v;
	double t0 = sclient_mono();

	conn->len = 0;
	conn->overflow = 0;
	conn->retry_after = -1;
	conn->rl_remaining = -1;
	conn->rl_reset = -1;
	curl_easy_setopt(conn->curl, CURLOPT_URL, url);
	curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	sclient_metric(c, "requests", 1);
	cc = curl_easy_perform(conn->curl);
	sclient_metric(c, "request_latency", sclient_mono() - t0);
	curl_easy_getinfo(conn->curl, CURLINFO_RESPONSE_CODE, &status);
	if (conn->rl_remaining == 0 && conn->rl_reset > 0)
		sclient_pause(c, conn->rl_reset);
	if (cc != CURLE_OK) {
		switch (cc) {
		case CURLE_OPERATION_TIMEDOUT:
			*kind = "timeout";
			break;
		case CURLE_PARTIAL_FILE:
		case CURLE_RECV_ERROR:
			*kind = "truncated";
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			*kind = "cancelled";
			snprintf(err, errlen, "%s: cancelled", url);
			return SCLIENT_FATAL;
		default:
			*kind = conn->overflow ? "envelope" : "transport";
			break;
		}
		snprintf(err, errlen, "POST %s: %s (curl %d)", url, curl_easy_strerror(cc), (int)cc);
		breaker = -1;
		v = SCLIENT_RETRY;
		goto out;
	}
	if (status == 429) {
		/* throttled: the pause below, no backoff, no breaker failure */
		double wait = conn->retry_after >= 0 ? conn->retry_after :
		    conn->rl_reset >= 0 ? conn->rl_reset : 1.0;

		*kind = "http_429";
		snprintf(err, errlen, "POST %s: HTTP 429 Too Many Requests (retry-after %.3gs)", url, wait);
		sclient_pause(c, wait);
		pthread_mutex_lock(&c->lock);
		c->throttled++;
		pthread_mutex_unlock(&c->lock);
		v = SCLIENT_RETRY_PAUSED;
		goto out;
	}
	if (status >= 500) {
		*kind = "http_5xx";
		snprintf(err, errlen, "POST %s: HTTP %ld", url, status);
		if (conn->retry_after > 0)
			sclient_pause(c, conn->retry_after);
		breaker = -1;
		v = SCLIENT_RETRY;
		goto out;
	}
	if (status == 401 || status == 403) {
		*kind = "auth";
		snprintf(err, errlen, "POST %s: HTTP %ld: API key refused (set SUBSCAN_API_KEY or api_key_file)",
		    url, status);
		v = SCLIENT_FATAL;
		goto out;
	}
	if (status != 200) {
		*kind = "http_4xx";
		snprintf(err, errlen, "POST %s: HTTP %ld", url, status);
		v = SCLIENT_FATAL;
		goto out;
	}
	root = json_loadb(conn->buf ? conn->buf : "", conn->len, 0, &je);
	if (root == NULL) {
		*kind = "invalid_json";
		snprintf(err, errlen, "POST %s: invalid JSON at line %d column %d: %s",
		    url, je.line, je.column, je.text);
		breaker = -1;
		v = SCLIENT_RETRY;
		goto out;
	}
	code = json_object_get(root, "code");
	msg = json_object_get(root, "message");
	gen = json_object_get(root, "generated_at");
	if (!json_is_object(root) || !json_is_integer(code)) {
		*kind = "envelope";
		snprintf(err, errlen, "POST %s: envelope: \"code\" %s", url,
		    code == NULL ? "missing" : "is not an integer");
		v = SCLIENT_FATAL;
		goto out;
	}
	if (json_integer_value(code) != 0) {
		long long k = (long long)json_integer_value(code);

		*kind = "api_code";
		snprintf(err, errlen, "POST %s: Subscan code %lld: %s", url, k,
		    json_is_string(msg) ? json_string_value(msg) : "(no message)");
		/* 10001 params, 10004 key: our fault, not Subscan's */
		if (k == 10001 || k == 10004) {
			v = SCLIENT_FATAL;
		} else {
			breaker = -1;
			v = SCLIENT_RETRY;
		}
		goto out;
	}
	if (!json_object_get(root, "data")) {
		*kind = "envelope";
		snprintf(err, errlen, "POST %s: envelope: \"data\" missing", url);
		v = SCLIENT_FATAL;
		goto out;
	}
	*data = json_incref(json_object_get(root, "data"));
	*generated_at = json_is_integer(gen) ? (int64_t)json_integer_value(gen) : 0;
	breaker = 1;
	v = SCLIENT_OK;
out:
	json_decref(root);
	sclient_breaker_record(c, breaker, err);
	return v;
}

int
sclient_post(struct sclient_conn *conn, const char *path, const char *body,
    json_t **data, int64_t *generated_at, const char **kind, char *err, size_t errlen)
{
	struct sclient *c = conn->c;
	char url[1024], metric[64];
	int attempt, rc;

	*data = NULL;
	*generated_at = 0;
	snprintf(url, sizeof(url), "%s%s", c->base_url, path);
	for (attempt = 0;; attempt++) {
		enum sclient_verdict v;
		int failures = 0, slot;

		if (sclient_breaker_admit(c, &failures) < 0) {
			*kind = "breaker_open";
			snprintf(err, errlen, "POST %s: circuit breaker open after %d consecutive failures",
			    url, failures);
			rc = -EAGAIN;
			break;
		}
		if ((rc = sclient_acquire(c, &slot)) < 0) {
			sclient_breaker_record(c, 0, "cancelled");
			*kind = "cancelled";
			snprintf(err, errlen, "POST %s: cancelled", url);
			break;
		}
		v = sclient_attempt(conn, url, body, data, generated_at, kind, err, errlen);
		sclient_release(c, slot);
		if (v == SCLIENT_OK)
			return 0;
		pthread_mutex_lock(&c->lock);
		c->failures++;
		pthread_mutex_unlock(&c->lock);
		sclient_metric(c, "errors", 1);
		snprintf(metric, sizeof(metric), "errors.%s", *kind);
		sclient_metric(c, metric, 1);
		rc = strcmp(*kind, "timeout") == 0 ? -ETIMEDOUT : -EIO;
		if (v == SCLIENT_FATAL || attempt >= (conn->retries >= 0 ? conn->retries : c->cfg.retries))
			break;
		if (v == SCLIENT_RETRY) {
			int64_t d = c->cfg.backoff_base_ms;
			int i;
			unsigned r;

			for (i = 0; i < attempt && d < c->cfg.backoff_max_ms; i++)
				d *= 2;
			if (d > c->cfg.backoff_max_ms)
				d = c->cfg.backoff_max_ms;
			pthread_mutex_lock(&c->lock);
			r = rand_r(&c->rng);
			pthread_mutex_unlock(&c->lock);
			/* "equal jitter": half fixed, half random */
			d = d / 2 + (d > 1 ? (int64_t)(r % (unsigned)(d / 2 + 1)) : 0);
			if (sclient_sleep_clock(c, d) < 0) {
				*kind = "cancelled";
				rc = -ECANCELED;
				break;
			}
		}
	}
	return rc;
}

void
sclient_conn_set_retries(struct sclient_conn *conn, int retries)
{
	conn->retries = retries;
}

void
sclient_get_stats(struct sclient *c, struct sclient_stats *out)
{
	double now = sclient_mono();

	pthread_mutex_lock(&c->lock);
	out->requests = c->requests;
	out->failures = c->failures;
	out->throttled = c->throttled;
	out->breaker = c->breaker;
	out->pause_ms = c->pause_until > now ? (int64_t)((c->pause_until - now) * 1000) : 0;
	pthread_mutex_unlock(&c->lock);
}

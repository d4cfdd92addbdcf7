/*
 * http.h — rolloutd's one listener: a libwebsockets server that serves
 * HTTP/1.1 requests (routed by a handler the caller supplies) and a
 * WebSocket at one path (protocol "rollout") that pushes a snapshot the
 * caller renders whenever http_ws_changed() is called (rolloutd-api(7)).
 *
 * The server runs on the thread that calls http_service(); nothing here is
 * thread-safe except http_wake().  Request bodies are collected up to
 * max_body bytes (larger ones are read and discarded and answered 413).
 */
#ifndef ROLLOUT_HTTP_H
#define ROLLOUT_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct lws_context;
struct http_server;

enum http_method {
	HTTP_GET = 1,
	HTTP_POST,
	HTTP_HEAD,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_OTHER,
};

/* One request; everything is owned by the server and valid during the handler call. */
struct http_request {
	enum http_method method;
	const char *path;              /* URL-decoded path, without the query */
	const char *query;             /* "a=1&b=2" (decoded fragments joined), "" when none */
	const char *body;              /* NUL-terminated; "" when none */
	size_t body_len;
	const char *authorization;     /* Authorization header, NULL when absent */
	const char *content_type;      /* Content-Type header, NULL when absent */
	const char *peer;              /* caller's address, e.g. "127.0.0.1" */
};

/*
 * The handler's answer.  BODY is heap memory the server takes over (free()d
 * after sending); CONTENT_TYPE and ALLOW are static strings.
 */
struct http_response {
	int status;
	const char *content_type;
	char *body;
	size_t len;
	const char *allow;             /* "Allow" header for 405, or NULL */
	int www_authenticate;          /* add WWW-Authenticate: Bearer (401) */
	const char *cache_control;     /* NULL: "no-store" */
	const char *location;          /* "Location" header (redirects), or NULL */
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *rq,
    struct http_response *rs);
/* The WebSocket snapshot: a heap string the server frees, or NULL (nothing to send). */
typedef char *(*http_ws_snapshot_fn)(void *ctx, size_t *len);
/* Called on the service thread after http_wake() (lws_cancel_service). */
typedef void (*http_wake_fn)(void *ctx);

struct http_server_opts {
	const char *listen;            /* "ADDR:PORT" or "[V6]:PORT"; port 0 picks a free one */
	int allow_remote;              /* required for a non-loopback address */
	size_t max_body;               /* bytes; 0 = 64 KiB */
	http_handler_fn handler;
	void *ctx;                     /* passed to every callback */
	const char *ws_path;           /* WebSocket path, default "/ws" */
	http_ws_snapshot_fn ws_snapshot;
	http_wake_fn on_wake;
};

/*
 * Parse "ADDR:PORT" / "[V6]:PORT" into HOST (without brackets) and *PORT.
 * 0 or -EINVAL with ERR naming what is wrong.
 */
int http_parse_listen(const char *listen, char *host, size_t hostlen, int *port,
    char *err, size_t errlen);
/* 1 when HOST is a loopback address (127.0.0.0/8, ::1, "localhost"). */
int http_is_loopback(const char *host);

/*
 * Create the lws context and listen.  A non-loopback address without
 * allow_remote is refused (-EPERM); with it a warning is logged.  0 or
 * -errno with ERR set.
 */
int http_server_open(struct http_server **out, const struct http_server_opts *o,
    char *err, size_t errlen);
void http_server_close(struct http_server *s);

/* The port actually listened on (useful with port 0). */
int http_server_port(const struct http_server *s);
/* The lws context, for timers (lws_sul) owned by the caller. */
struct lws_context *http_server_context(struct http_server *s);

/* Run the event loop once (lws_service).  <0 when the context is dead. */
int http_service(struct http_server *s);
/* Thread-safe: wake the service thread; on_wake runs there. */
void http_wake(struct http_server *s);
/* Every WebSocket client gets a fresh snapshot as soon as it can be written. */
void http_ws_changed(struct http_server *s);
/* Number of WebSocket clients connected. */
size_t http_ws_clients(const struct http_server *s);

/* Statistics for /metrics: requests answered by status class and total service time. */
struct http_stats {
	uint64_t requests;
	uint64_t by_class[6];          /* [1]=1xx .. [5]=5xx */
	uint64_t ws_messages;
	/* request latency histogram (seconds): cumulative counts per bound */
	double lat_sum;
	uint64_t lat_buckets[10];
};
extern const double http_lat_bounds[10];
void http_server_stats(const struct http_server *s, struct http_stats *out);

/* Helpers for handlers. */
/* Copy query parameter NAME into BUF.  1 found, 0 absent. */
int http_query_get(const struct http_request *rq, const char *name, char *buf, size_t len);
/* Content type for a file name by extension ("text/html; charset=utf-8", ...). */
const char *http_mime_type(const char *path);
/*
 * Serve a file under ROOT for URL path REL (no "..", no hidden files):
 * fills RS with 200 and the content, or 404.  Returns the status.
 */
int http_serve_file(const char *root, const char *rel, struct http_response *rs);
/* Fill RS with a JSON body (takes over TEXT, a heap string). */
void http_reply_json(struct http_response *rs, int status, char *text);
/* Fill RS with {"error": MSG} (and status). */
void http_reply_error(struct http_response *rs, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

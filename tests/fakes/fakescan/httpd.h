/*
 * httpd.h — a small blocking HTTP/1.1 server for the test fakes.
 *
 * One thread per connection, keep-alive, Content-Length request bodies
 * (no chunked uploads), "Expect: 100-continue" answered.  The handler
 * fills a response; the server can delay it, truncate it (send half the
 * body, then close) or close the connection after it.  Reusable by other
 * fakes (the simulated chain of issue 11): compile httpd.c in.
 */
#ifndef FAKE_HTTPD_H
#define FAKE_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#define HTTPD_MAX_HEADERS 32

struct httpd_req {
	char method[16];
	char path[512];               /* without the query string */
	char query[512];              /* after '?', "" if none */
	size_t nheaders;
	char *hname[HTTPD_MAX_HEADERS];
	char *hvalue[HTTPD_MAX_HEADERS];
	char *body;                   /* NUL-terminated; body_len bytes */
	size_t body_len;
	double arrived;               /* CLOCK_MONOTONIC seconds when the request line arrived */
	double arrived_wall;          /* CLOCK_REALTIME seconds */
};

struct httpd_resp {
	int status;
	char headers[1024];           /* extra header lines, each ending in \r\n */
	const char *content_type;     /* default application/json */
	char *body;                   /* malloc'd by the handler, freed by the server */
	size_t body_len;
	int delay_ms;                 /* sleep before answering */
	int truncate;                 /* send the headers and half the body, then close */
	int close;                    /* close the connection after this response */
	int drop;                     /* close the connection without answering */
};

typedef void (*httpd_handler_fn)(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);

/* Value of header NAME (case-insensitive) or NULL. */
const char *httpd_header(const struct httpd_req *req, const char *name);
/* Append a header line "NAME: VALUE\r\n" to RESP. */
void httpd_add_header(struct httpd_resp *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Set RESP's body to a copy of TEXT (or BODY/LEN). */
void httpd_set_body(struct httpd_resp *resp, int status, const char *text);

/*
 * Listen on HOST:PORT (PORT 0 picks a free port); *BOUND gets the port.
 * Returns the listening fd or -errno.
 */
int httpd_listen(const char *host, uint16_t port, uint16_t *bound);
/*
 * Accept connections on FD forever (until httpd_stop()), one detached
 * thread per connection calling HANDLER(CTX, ...).  HANDLER must be
 * thread-safe.  After httpd_stop() it shuts the open connections down and
 * waits up to 3 s for their threads: 0 when all ended (the handler's
 * context may be freed), -EBUSY when some did not, -errno on accept failure.
 */
int httpd_serve(int fd, httpd_handler_fn handler, void *ctx);
/* Make httpd_serve() return (async-signal-safe). */
void httpd_stop(void);

/* Monotonic seconds. */
double httpd_now(void);

#endif

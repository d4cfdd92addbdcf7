/*
 * http.c — the libwebsockets listener: HTTP requests routed to one handler,
 * bodies collected under a size limit, and a WebSocket that pushes a
 * snapshot on change (rolloutd-api(7)).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "fsutil.h"
#include "http.h"
#include "log.h"

#define HTTP_DEFAULT_MAX_BODY (64 * 1024)
#define HTTP_CHUNK 16384
#define HTTP_MAX_FILE (8 * 1024 * 1024)

const double http_lat_bounds[10] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0 };

/* Per HTTP connection (lws allocates it zeroed; reused across keep-alive requests). */
struct http_session {
	enum http_method method;
	int head;
	char *path;
	char *query;
	char *auth;
	char *ctype;
	char peer[64];
	char *body;
	size_t body_len, body_cap;
	int too_large;
	int chunked;                   /* body of unknown length: refused (411), then closed */
	int have_response;
	int headers_sent;
	struct http_response rs;
	size_t sent;
	int64_t started_us;
};

/* Per WebSocket client. */
struct ws_session {
	struct ws_session *next;
	struct lws *wsi;
	int dirty;
};

struct http_server {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws_protocols protocols[3];
	char *ws_path;
	size_t max_body;
	http_handler_fn handler;
	http_ws_snapshot_fn ws_snapshot;
	http_wake_fn on_wake;
	void *cbctx;
	int port;
	struct ws_session *clients;
	size_t nclients;
	char *snap;                    /* the current snapshot, shared by every client */
	size_t snap_len;
	int64_t snap_built_us;
	struct http_stats stats;
};

/* ---- small helpers -------------------------------------------------------- */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *
hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
	int n = lws_hdr_total_length(wsi, t);
	char *s;

	if (n <= 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	if (lws_hdr_copy(wsi, s, n + 1, t) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static char *
query_dup(struct lws *wsi)
{
	char frag[1024];
	size_t cap = 1, len = 0;
	char *q = calloc(1, 1), *nq;
	int i, n;

	if (q == NULL)
		return NULL;
	for (i = 0; (n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i)) > 0; i++) {
		nq = realloc(q, cap + (size_t)n + 1);
		if (nq == NULL)
			break;
		q = nq;
		cap += (size_t)n + 1;
		if (len > 0)
			q[len++] = '&';
		memcpy(q + len, frag, (size_t)n);
		len += (size_t)n;
		q[len] = '\0';
	}
	return q;
}

static void
session_reset(struct http_session *ss)
{
	free(ss->path);
	free(ss->query);
	free(ss->auth);
	free(ss->ctype);
	free(ss->body);
	free(ss->rs.body);
	memset(ss, 0, sizeof *ss);
}

static enum http_method
method_of(int lwsm)
{
	switch (lwsm) {
	case LWSHUMETH_GET: return HTTP_GET;
	case LWSHUMETH_POST: return HTTP_POST;
	case LWSHUMETH_HEAD: return HTTP_HEAD;
	case LWSHUMETH_PUT: return HTTP_PUT;
	case LWSHUMETH_PATCH: return HTTP_PATCH;
	case LWSHUMETH_DELETE: return HTTP_DELETE;
	case LWSHUMETH_OPTIONS: return HTTP_OPTIONS;
	default: return HTTP_OTHER;
	}
}

void
http_reply_json(struct http_response *rs, int status, char *text)
{
	free(rs->body);
	rs->status = status;
	rs->content_type = "application/json";
	rs->body = text;
	rs->len = text ? strlen(text) : 0;
}

void
http_reply_error(struct http_response *rs, int status, const char *fmt, ...)
{
	char msg[512];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:i}", "error", msg, "status", status);
	http_reply_json(rs, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
	json_decref(o);
}

/* Run the handler for the collected request and ask to write the answer. */
static void
session_dispatch(struct http_server *s, struct lws *wsi, struct http_session *ss)
{
	struct http_request rq;

	if (ss->have_response)
		return;                        /* lws reports an explicit empty body once more */
	memset(&ss->rs, 0, sizeof ss->rs);
	if (ss->chunked) {
		http_reply_error(&ss->rs, 411, "send the request body with a Content-Length "
		    "(chunked transfer encoding is not accepted)");
	} else if (ss->too_large) {
		http_reply_error(&ss->rs, 413, "request body larger than %zu bytes", s->max_body);
	} else {
		rq.method = ss->method;
		rq.path = ss->path ? ss->path : "/";
		rq.query = ss->query ? ss->query : "";
		rq.body = ss->body ? ss->body : "";
		rq.body_len = ss->body_len;
		rq.authorization = ss->auth;
		rq.content_type = ss->ctype;
		rq.peer = ss->peer;
		s->handler(s->cbctx, &rq, &ss->rs);
		if (ss->rs.status == 0)
			http_reply_error(&ss->rs, 500, "no response");
	}
	if (ss->rs.content_type == NULL)
		ss->rs.content_type = "text/plain; charset=utf-8";
	ss->have_response = 1;
	lws_callback_on_writable(wsi);
}

static void
stats_done(struct http_server *s, struct http_session *ss)
{
	double secs = (double)(mono_us() - ss->started_us) / 1e6;
	int cls = ss->rs.status / 100, i;

	s->stats.requests++;
	if (cls >= 1 && cls <= 5)
		s->stats.by_class[cls]++;
	s->stats.lat_sum += secs;
	for (i = 0; i < 10; i++)
		if (secs <= http_lat_bounds[i])
			s->stats.lat_buckets[i]++;
}

/* Write headers, then the body in chunks.  <0 closes the connection. */
static int
session_write(struct http_server *s, struct lws *wsi, struct http_session *ss)
{
	unsigned char buf[LWS_PRE + HTTP_CHUNK];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
	size_t n;
	int final;

	if (!ss->have_response)
		return 0;
	if (!ss->headers_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned)ss->rs.status, ss->rs.content_type,
		    (lws_filepos_t)ss->rs.len, &p, end))
			return -1;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
		    (const unsigned char *)(ss->rs.cache_control ? ss->rs.cache_control : "no-store"),
		    (int)strlen(ss->rs.cache_control ? ss->rs.cache_control : "no-store"), &p, end))
			return -1;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
		    (const unsigned char *)"nosniff", 7, &p, end))
			return -1;
		if (ss->rs.allow != NULL && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"allow:", (const unsigned char *)ss->rs.allow,
		    (int)strlen(ss->rs.allow), &p, end))
			return -1;
		if (ss->rs.location != NULL && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"location:", (const unsigned char *)ss->rs.location,
		    (int)strlen(ss->rs.location), &p, end))
			return -1;
		if (ss->rs.www_authenticate && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"www-authenticate:",
		    (const unsigned char *)"Bearer realm=\"rolloutd\"", 23, &p, end))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		ss->headers_sent = 1;
		if (ss->rs.len > 0 && !ss->head) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else {
		n = ss->rs.len - ss->sent;
		if (n > HTTP_CHUNK)
			n = HTTP_CHUNK;
		final = ss->sent + n >= ss->rs.len;
		memcpy(start, ss->rs.body + ss->sent, n);
		if (lws_write(wsi, start, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
			return -1;
		ss->sent += n;
		if (!final) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	stats_done(s, ss);
	free(ss->rs.body);
	memset(&ss->rs, 0, sizeof ss->rs);
	ss->have_response = 0;
	if (ss->chunked)
		return -1;                     /* the unread body makes the connection unusable */
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int
cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct http_server *s = lws_context_user(lws_get_context(wsi));
	struct http_session *ss = user;
	char cl[32], *uri;
	int urilen, m;
	long long clen;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		session_reset(ss);
		ss->started_us = mono_us();
		m = lws_http_get_uri_and_method(wsi, &uri, &urilen);
		ss->method = method_of(m);
		if (ss->method == HTTP_HEAD) {
			ss->head = 1;
			ss->method = HTTP_GET;
		}
		ss->path = strndup(in ? (const char *)in : "/", in ? len : 1);
		ss->query = query_dup(wsi);
		ss->auth = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
		ss->ctype = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
		if (lws_get_peer_simple(wsi, ss->peer, sizeof ss->peer) == NULL)
			snprintf(ss->peer, sizeof ss->peer, "unknown");
		clen = 0;
		if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
			clen = atoll(cl);
		else if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
		    strcasestr(cl, "chunked") != NULL)
			ss->chunked = 1;
		if (ss->path == NULL || ss->query == NULL) {
			ss->too_large = 1;     /* out of memory: answer without the body */
		}
		if (clen > 0) {
			/* "Expect: 100-continue": say so, or the client waits a second before the body */
			if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_EXPECT) > 0 &&
			    strcasecmp(cl, "100-continue") == 0) {
				unsigned char cont[LWS_PRE + 32];
				static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";

				memcpy(cont + LWS_PRE, msg, sizeof msg - 1);
				if (lws_write(wsi, cont + LWS_PRE, sizeof msg - 1, LWS_WRITE_HTTP_HEADERS) < 0)
					return -1;
			}
			if ((unsigned long long)clen > s->max_body) {
				ss->too_large = 1;
			} else {
				ss->body_cap = (size_t)clen + 1;
				ss->body = malloc(ss->body_cap);
				if (ss->body == NULL)
					ss->too_large = 1;
			}
			return 0;              /* wait for the body */
		}
		session_dispatch(s, wsi, ss);
		return 0;

	case LWS_CALLBACK_HTTP_BODY:
		if (ss->too_large || ss->body == NULL)
			return 0;
		if (ss->body_len + len + 1 > ss->body_cap) {
			ss->too_large = 1;
			return 0;
		}
		memcpy(ss->body + ss->body_len, in, len);
		ss->body_len += len;
		ss->body[ss->body_len] = '\0';
		return 0;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (ss->body != NULL)
			ss->body[ss->body_len] = '\0';
		session_dispatch(s, wsi, ss);
		return 0;

	case LWS_CALLBACK_HTTP_WRITEABLE:
		return session_write(s, wsi, ss);

	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (ss != NULL)
			session_reset(ss);
		return 0;

	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return 1;                      /* WebSocket without (our) protocol: refuse */

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (s != NULL && s->on_wake != NULL)
			s->on_wake(s->cbctx);
		return 0;

	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int
cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct http_server *s = lws_context_user(lws_get_context(wsi));
	struct ws_session *ws = user, **pp;
	char uri[256];
	unsigned char *buf;
	char *snap;
	size_t n = 0;
	int rc;

	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
		    strcmp(uri, s->ws_path) != 0)
			return 1;
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		ws->wsi = wsi;
		ws->dirty = 1;
		ws->next = s->clients;
		s->clients = ws;
		s->nclients++;
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!ws->dirty || s->ws_snapshot == NULL)
			return 0;
		ws->dirty = 0;
		/* one rendering per change for all clients; never older than a second */
		if (s->snap != NULL && mono_us() - s->snap_built_us > 1000000) {
			free(s->snap);
			s->snap = NULL;
		}
		if (s->snap == NULL) {
			s->snap = s->ws_snapshot(s->cbctx, &s->snap_len);
			s->snap_built_us = mono_us();
		}
		snap = s->snap;
		n = s->snap_len;
		if (snap == NULL)
			return 0;
		buf = malloc(LWS_PRE + n);
		if (buf == NULL)
			return 0;
		memcpy(buf + LWS_PRE, snap, n);
		rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		if (rc < (int)n)
			return -1;
		s->stats.ws_messages++;
		if (ws->dirty)                 /* changed while we were writing */
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return 0;                      /* clients only listen */
	case LWS_CALLBACK_CLOSED:
		for (pp = &s->clients; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == ws) {
				*pp = ws->next;
				s->nclients--;
				break;
			}
		}
		return 0;
	default:
		return 0;
	}
}

static void
lws_log_emit(int level, const char *line)
{
	char buf[512];
	size_t n;

	snprintf(buf, sizeof buf, "%s", line);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_msg(level == LLL_ERR ? LOG_LVL_ERROR : LOG_LVL_WARN, "http", "lws: %s", buf);
}

/* ---- public --------------------------------------------------------------- */

int
http_parse_listen(const char *listen, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
	const char *colon, *h = listen;
	size_t hl;
	char *end;
	long p;

	if (listen == NULL || *listen == '\0') {
		snprintf(err, errlen, "--listen: empty address");
		return -EINVAL;
	}
	if (*listen == '[') {
		colon = strchr(listen, ']');
		if (colon == NULL || colon[1] != ':') {
			snprintf(err, errlen, "--listen \"%s\": expected [ADDRESS]:PORT", listen);
			return -EINVAL;
		}
		h = listen + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || colon == listen) {
			snprintf(err, errlen, "--listen \"%s\": expected ADDRESS:PORT", listen);
			return -EINVAL;
		}
		hl = (size_t)(colon - listen);
		if (memchr(listen, ':', hl) != NULL) {
			snprintf(err, errlen, "--listen \"%s\": write an IPv6 address as [ADDRESS]:PORT", listen);
			return -EINVAL;
		}
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535) {
		snprintf(err, errlen, "--listen \"%s\": port must be a number from 0 to 65535", listen);
		return -EINVAL;
	}
	if (hl == 0 || hl >= hostlen) {
		snprintf(err, errlen, "--listen \"%s\": bad address", listen);
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, hostlen, "127.0.0.1");
	{
		struct in_addr a4;
		struct in6_addr a6;

		if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(err, errlen, "--listen \"%s\": \"%s\" is not an IP address", listen, host);
			return -EINVAL;
		}
	}
	*port = (int)p;
	return 0;
}

int
http_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* Bind once ourselves so a busy port is reported with its errno. */
static int
probe_bind(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, rc = 0;

	memset(&ss, 0, sizeof ss);
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &a->sin6_addr);
		sl = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &a->sin_addr);
		sl = sizeof *a;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
http_server_open(struct http_server **out, const struct http_server_opts *o, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct http_server *s = NULL;
	char host[64];
	int port, rc;

	*out = NULL;
	rc = http_parse_listen(o->listen ? o->listen : "127.0.0.1:3002", host, sizeof host, &port,
	    err, errlen);
	if (rc != 0)
		return rc;
	if (!http_is_loopback(host)) {
		if (!o->allow_remote) {
			snprintf(err, errlen, "--listen %s: not a loopback address; "
			    "add --allow-remote to listen on it", o->listen);
			return -EPERM;
		}
		log_warn("listening on non-loopback address %s: the API is reachable from the network "
		    "(mutating routes still need the bearer token)", o->listen);
	}
	if (port != 0 && (rc = probe_bind(host, port)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->listen, strerror(-rc));
		return rc;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto nomem;
	s->ws_path = strdup(o->ws_path ? o->ws_path : "/ws");
	if (s->ws_path == NULL)
		goto nomem;
	s->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	s->handler = o->handler;
	s->ws_snapshot = o->ws_snapshot;
	s->on_wake = o->on_wake;
	s->cbctx = o->ctx;
	s->protocols[0].name = "http";
	s->protocols[0].callback = cb_http;
	s->protocols[0].per_session_data_size = sizeof(struct http_session);
	s->protocols[1].name = "rollout";
	s->protocols[1].callback = cb_ws;
	s->protocols[1].per_session_data_size = sizeof(struct ws_session);
	s->protocols[1].rx_buffer_size = 4096;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = s->protocols;
	info.user = s;
	info.server_string = "rolloutd";
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (strchr(host, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = 30;
	s->ctx = lws_create_context(&info);
	if (s->ctx == NULL) {
		snprintf(err, errlen, "cannot listen on %s (libwebsockets could not create the server)",
		    o->listen);
		free(s->ws_path);
		free(s);
		return -EADDRNOTAVAIL;
	}
	s->vh = lws_get_vhost_by_name(s->ctx, "default");
	s->port = s->vh ? lws_get_vhost_listen_port(s->vh) : port;
	*out = s;
	return 0;
nomem:
	if (s != NULL)
		free(s->ws_path);
	free(s);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void
http_server_close(struct http_server *s)
{
	if (s == NULL)
		return;
	lws_context_destroy(s->ctx);
	free(s->snap);
	free(s->ws_path);
	free(s);
}

int
http_server_port(const struct http_server *s)
{
	return s->port;
}

struct lws_context *
http_server_context(struct http_server *s)
{
	return s->ctx;
}

int
http_service(struct http_server *s)
{
	return lws_service(s->ctx, 0);
}

void
http_wake(struct http_server *s)
{
	lws_cancel_service(s->ctx);
}

void
http_ws_changed(struct http_server *s)
{
	struct ws_session *w;

	free(s->snap);
	s->snap = NULL;
	if (s->clients == NULL)
		return;
	for (w = s->clients; w != NULL; w = w->next)
		w->dirty = 1;
	lws_callback_on_writable_all_protocol(s->ctx, &s->protocols[1]);
}

size_t
http_ws_clients(const struct http_server *s)
{
	return s->nclients;
}

void
http_server_stats(const struct http_server *s, struct http_stats *out)
{
	*out = s->stats;
}

int
http_query_get(const struct http_request *rq, const char *name, char *buf, size_t len)
{
	const char *p = rq->query, *amp, *eq;
	size_t nl = strlen(name), vl;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		eq = strchr(p, '=');
		if (eq != NULL && (amp == NULL || eq < amp) && (size_t)(eq - p) == nl &&
		    strncmp(p, name, nl) == 0) {
			vl = amp ? (size_t)(amp - eq - 1) : strlen(eq + 1);
			if (vl >= len)
				vl = len - 1;
			memcpy(buf, eq + 1, vl);
			buf[vl] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

const char *
http_mime_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".webmanifest", "application/manifest+json" },
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof types / sizeof types[0]; i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

int
http_serve_file(const char *root, const char *rel, struct http_response *rs)
{
	char path[4096];
	const char *p;
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int rc;

	/* No "..", no hidden files, no backslashes: only plain names under ROOT. */
	if (rel[0] != '/' || strchr(rel, '\\') != NULL)
		goto notfound;
	for (p = rel; *p != '\0'; p++)
		if (p[0] == '/' && p[1] == '.')
			goto notfound;
	rc = snprintf(path, sizeof path, "%s%s", root, rel);
	if (rc < 0 || (size_t)rc >= sizeof path)
		goto notfound;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = snprintf(path, sizeof path, "%s%s%sindex.html", root, rel,
		    rel[strlen(rel) - 1] == '/' ? "" : "/");
		if (rc < 0 || (size_t)rc >= sizeof path)
			goto notfound;
	}
	if (fs_read_all(path, HTTP_MAX_FILE, &data, &len) != 0)
		goto notfound;
	free(rs->body);
	rs->status = 200;
	rs->content_type = http_mime_type(path);
	rs->body = data;
	rs->len = len;
	rs->cache_control = "no-cache";
	return 200;
notfound:
	http_reply_error(rs, 404, "not found: %s", rel);
	return 404;
}

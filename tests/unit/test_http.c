/*
 * test_http.c — the listener: real HTTP/1.1 and WebSocket over loopback
 * against a server running on its own thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"

struct srv {
	struct http_server *s;
	pthread_t th;
	volatile int stop;
	volatile int push;
	int port;
	int snap_no;
};

static void
handler(void *ctx, const struct http_request *rq, struct http_response *rs)
{
	char buf[256], v[64];

	(void)ctx;
	if (strcmp(rq->path, "/hello") == 0) {
		if (rq->method != HTTP_GET) {
			http_reply_error(rs, 405, "method not allowed");
			rs->allow = "GET";
			return;
		}
		http_reply_json(rs, 200, strdup("{\"hello\":\"world\"}"));
		return;
	}
	if (strcmp(rq->path, "/echo") == 0 && rq->method == HTTP_POST) {
		snprintf(buf, sizeof buf, "len=%zu body=%s auth=%s peer=%s", rq->body_len, rq->body,
		    rq->authorization ? rq->authorization : "-", rq->peer);
		rs->status = 200;
		rs->body = strdup(buf);
		rs->len = strlen(buf);
		return;
	}
	if (strcmp(rq->path, "/query") == 0) {
		if (!http_query_get(rq, "limit", v, sizeof v))
			snprintf(v, sizeof v, "none");
		rs->status = 200;
		rs->body = strdup(v);
		rs->len = strlen(v);
		return;
	}
	if (strcmp(rq->path, "/big") == 0) {
		rs->status = 200;
		rs->len = 100000;
		rs->body = malloc(rs->len);
		memset(rs->body, 'x', rs->len);
		return;
	}
	http_reply_error(rs, 404, "not found: %s", rq->path);
}

static char *
snapshot(void *ctx, size_t *len)
{
	struct srv *sv = ctx;
	char buf[64];

	snprintf(buf, sizeof buf, "{\"snap\":%d}", sv->snap_no++);
	*len = strlen(buf);
	return strdup(buf);
}

static void
on_wake(void *ctx)
{
	struct srv *sv = ctx;

	if (sv->push) {
		sv->push = 0;
		http_ws_changed(sv->s);
	}
}

static void *
serve(void *arg)
{
	struct srv *sv = arg;

	while (!sv->stop)
		if (http_service(sv->s) < 0)
			break;
	return NULL;
}

static int
srv_start(struct srv *sv, size_t max_body)
{
	struct http_server_opts o = { 0 };
	char err[256];
	int rc;

	memset(sv, 0, sizeof *sv);
	o.listen = "127.0.0.1:0";
	o.max_body = max_body;
	o.handler = handler;
	o.ctx = sv;
	o.ws_snapshot = snapshot;
	o.on_wake = on_wake;
	rc = http_server_open(&sv->s, &o, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "http_server_open: %s\n", err);
		return rc;
	}
	sv->port = http_server_port(sv->s);
	pthread_create(&sv->th, NULL, serve, sv);
	return 0;
}

static void
srv_stop(struct srv *sv)
{
	sv->stop = 1;
	http_wake(sv->s);
	pthread_join(sv->th, NULL);
	http_server_close(sv->s);
}

static int
connect_to(int port)
{
	struct sockaddr_in a = { 0 };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void
send_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;        /* the server may close early (413) */
		data += n;
		len -= (size_t)n;
	}
}

/* Read one response with a Content-Length body; returns the status, BODY gets the body. */
static int
read_response(int fd, char *hdrs, size_t hlen, char *body, size_t blen)
{
	static char buf[200000];
	size_t got = 0, need = 0;
	char *eoh, *cl;
	ssize_t n;
	int status = -1;

	for (;;) {
		n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		eoh = strstr(buf, "\r\n\r\n");
		if (eoh == NULL)
			continue;
		cl = strcasestr(buf, "content-length:");
		need = (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (got >= need)
			break;
	}
	buf[got] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &status);
	eoh = strstr(buf, "\r\n\r\n");
	if (eoh != NULL) {
		snprintf(hdrs, hlen, "%.*s", (int)(eoh - buf), buf);
		snprintf(body, blen, "%s", eoh + 4);
	}
	return status;
}

static int
request(int port, const char *req, size_t reqlen, char *hdrs, size_t hlen, char *body, size_t blen)
{
	int fd = connect_to(port), st;

	send_all(fd, req, reqlen);
	st = read_response(fd, hdrs, hlen, body, blen);
	close(fd);
	return st;
}

static void
http_server__get_post_404_405__answers(void **state)
{
	struct srv sv;
	char h[2048], b[4096], req[512];
	int fd;

	(void)state;
	assert_int_equal(srv_start(&sv, 1024), 0);
	assert_true(sv.port > 0);

	assert_int_equal(request(sv.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32, h, sizeof h,
	    b, sizeof b), 200);
	assert_string_equal(b, "{\"hello\":\"world\"}");
	assert_non_null(strcasestr(h, "content-type: application/json"));
	assert_non_null(strcasestr(h, "cache-control: no-store"));

	assert_int_equal(request(sv.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 31, h, sizeof h,
	    b, sizeof b), 404);
	assert_non_null(strstr(b, "\"error\""));

	snprintf(req, sizeof req, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(request(sv.port, req, strlen(req), h, sizeof h, b, sizeof b), 405);
	assert_non_null(strcasestr(h, "allow: GET"));

	snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\n"
	    "Content-Length: 11\r\n\r\n{\"a\":12345}");
	assert_int_equal(request(sv.port, req, strlen(req), h, sizeof h, b, sizeof b), 200);
	assert_string_equal(b, "len=11 body={\"a\":12345} auth=Bearer abc peer=127.0.0.1");

	snprintf(req, sizeof req, "GET /query?x=1&limit=25 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(request(sv.port, req, strlen(req), h, sizeof h, b, sizeof b), 200);
	assert_string_equal(b, "25");

	/* Expect: 100-continue is answered before the body is sent */
	fd = connect_to(sv.port);
	snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
	    "Expect: 100-continue\r\n\r\n");
	send_all(fd, req, strlen(req));
	{
		char cont[64];
		ssize_t got = recv(fd, cont, 25, MSG_WAITALL);

		assert_int_equal(got, 25);
		cont[got] = '\0';
		assert_string_equal(cont, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	send_all(fd, "abcd", 4);
	assert_int_equal(read_response(fd, h, sizeof h, b, sizeof b), 200);
	assert_non_null(strstr(b, "len=4 body=abcd"));
	close(fd);

	/* keep-alive: two requests on one connection */
	fd = connect_to(sv.port);
	send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	assert_int_equal(read_response(fd, h, sizeof h, b, sizeof b), 200);
	send_all(fd, "GET /query HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	assert_int_equal(read_response(fd, h, sizeof h, b, sizeof b), 200);
	assert_string_equal(b, "none");
	close(fd);
	srv_stop(&sv);
}

static void
http_server__large_response_and_oversized_body__chunks_and_413(void **state)
{
	struct srv sv;
	static char h[2048], b[200000], req[8192];
	struct http_stats st;
	size_t n;

	(void)state;
	assert_int_equal(srv_start(&sv, 1024), 0);
	assert_int_equal(request(sv.port, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 30, h, sizeof h,
	    b, sizeof b), 200);
	assert_int_equal(strlen(b), 100000);

	n = (size_t)snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 4000\r\n\r\n");
	memset(req + n, 'y', 4000);
	assert_int_equal(request(sv.port, req, n + 4000, h, sizeof h, b, sizeof b), 413);
	assert_non_null(strstr(b, "larger than 1024 bytes"));

	/* a body of unknown length is refused, not silently dropped */
	n = (size_t)snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(request(sv.port, req, n, h, sizeof h, b, sizeof b), 411);
	assert_non_null(strstr(b, "Content-Length"));

	/* exactly at the limit is fine */
	n = (size_t)snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1024\r\n\r\n");
	memset(req + n, 'z', 1024);
	assert_int_equal(request(sv.port, req, n + 1024, h, sizeof h, b, sizeof b), 200);
	assert_non_null(strstr(b, "len=1024 "));

	/* statistics are the service thread's: read them once it has stopped */
	sv.stop = 1;
	http_wake(sv.s);
	pthread_join(sv.th, NULL);
	http_server_stats(sv.s, &st);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.by_class[4], 2);
	assert_int_equal(st.by_class[2], 2);
	assert_int_equal(st.lat_buckets[9], 4);
	http_server_close(sv.s);
}

/* Read one unmasked server text frame; returns its payload length. */
static size_t
ws_read_frame(int fd, char *out, size_t outlen)
{
	unsigned char hdr[4];
	size_t len, got = 0;
	ssize_t n;

	assert_int_equal(recv(fd, hdr, 2, MSG_WAITALL), 2);
	assert_int_equal(hdr[0], 0x81);          /* FIN + text */
	len = hdr[1] & 0x7f;
	if (len == 126) {
		assert_int_equal(recv(fd, hdr + 2, 2, MSG_WAITALL), 2);
		len = ((size_t)hdr[2] << 8) | hdr[3];
	}
	assert_true(len < outlen);
	while (got < len) {
		n = recv(fd, out + got, len - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	out[len] = '\0';
	return len;
}

static void
http_server__websocket__pushes_snapshot_on_change(void **state)
{
	struct srv sv;
	char buf[4096], frame[256];
	const char *up =
	    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: rollout\r\n\r\n";
	const char *bad =
	    "GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: rollout\r\n\r\n";
	ssize_t n;
	size_t got = 0;
	int fd, i;

	(void)state;
	assert_int_equal(srv_start(&sv, 0), 0);
	fd = connect_to(sv.port);
	send_all(fd, up, strlen(up));
	/* read the 101 headers byte by byte so no frame byte is consumed */
	while (got < sizeof buf - 1) {
		n = recv(fd, buf + got, 1, 0);
		assert_true(n == 1);
		got++;
		buf[got] = '\0';
		if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	assert_non_null(strstr(buf, "101"));
	assert_non_null(strcasestr(buf, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	ws_read_frame(fd, frame, sizeof frame);
	assert_string_equal(frame, "{\"snap\":0}");
	for (i = 1; i <= 3; i++) {
		sv.push = 1;
		http_wake(sv.s);
		ws_read_frame(fd, frame, sizeof frame);
		snprintf(buf, sizeof buf, "{\"snap\":%d}", i);
		assert_string_equal(frame, buf);
	}
	assert_int_equal(http_ws_clients(sv.s), 1);
	close(fd);

	/* an upgrade on another path is refused */
	fd = connect_to(sv.port);
	send_all(fd, bad, strlen(bad));
	n = recv(fd, buf, sizeof buf - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		assert_null(strstr(buf, " 101 "));
	}
	close(fd);
	srv_stop(&sv);
}

static void
http_parse_listen__forms__parsed_or_named_error(void **state)
{
	char host[64], err[256];
	int port;

	(void)state;
	assert_int_equal(http_parse_listen("127.0.0.1:3002", host, sizeof host, &port, err, sizeof err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 3002);
	assert_int_equal(http_parse_listen("[::1]:80", host, sizeof host, &port, err, sizeof err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(http_parse_listen("localhost:1", host, sizeof host, &port, err, sizeof err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(http_parse_listen("127.0.0.1", host, sizeof host, &port, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "ADDRESS:PORT"));
	assert_int_equal(http_parse_listen("1.2.3.4:99999", host, sizeof host, &port, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(http_parse_listen("example.com:80", host, sizeof host, &port, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not an IP address"));
	assert_int_equal(http_parse_listen("::1:80", host, sizeof host, &port, err, sizeof err), -EINVAL);

	assert_true(http_is_loopback("127.0.0.1"));
	assert_true(http_is_loopback("127.1.2.3"));
	assert_true(http_is_loopback("::1"));
	assert_false(http_is_loopback("0.0.0.0"));
	assert_false(http_is_loopback("10.0.0.1"));
	assert_false(http_is_loopback("::"));
}

static void
http_server_open__non_loopback_without_allow_remote__refused(void **state)
{
	struct http_server_opts o = { 0 };
	struct http_server *s = NULL;
	char err[256];

	(void)state;
	o.listen = "0.0.0.0:0";
	o.handler = handler;
	assert_int_equal(http_server_open(&s, &o, err, sizeof err), -EPERM);
	assert_null(s);
	assert_non_null(strstr(err, "--allow-remote"));
}

static void
http_serve_file__traversal_and_types(void **state)
{
	char dir[] = "/tmp/test_http.XXXXXX", path[512];
	struct http_response rs = { 0 };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/index.html", dir);
	f = fopen(path, "w");
	fputs("<!doctype html>", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/.secret", dir);
	f = fopen(path, "w");
	fputs("x", f);
	fclose(f);

	assert_int_equal(http_serve_file(dir, "/", &rs), 200);
	assert_string_equal(rs.content_type, "text/html; charset=utf-8");
	assert_int_equal(rs.len, 15);
	assert_int_equal(http_serve_file(dir, "/index.html", &rs), 200);
	assert_int_equal(http_serve_file(dir, "/../etc/passwd", &rs), 404);
	assert_int_equal(http_serve_file(dir, "/.secret", &rs), 404);
	assert_int_equal(http_serve_file(dir, "/missing.js", &rs), 404);
	free(rs.body);
	assert_string_equal(http_mime_type("a/app.js"), "text/javascript; charset=utf-8");
	assert_string_equal(http_mime_type("style.css"), "text/css; charset=utf-8");
	assert_string_equal(http_mime_type("x.svg"), "image/svg+xml");
	assert_string_equal(http_mime_type("noext"), "application/octet-stream");
	unlink(path);
	snprintf(path, sizeof path, "%s/index.html", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_server__get_post_404_405__answers),
		cmocka_unit_test(http_server__large_response_and_oversized_body__chunks_and_413),
		cmocka_unit_test(http_server__websocket__pushes_snapshot_on_change),
		cmocka_unit_test(http_parse_listen__forms__parsed_or_named_error),
		cmocka_unit_test(http_server_open__non_loopback_without_allow_remote__refused),
		cmocka_unit_test(http_serve_file__traversal_and_types),
	};

	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

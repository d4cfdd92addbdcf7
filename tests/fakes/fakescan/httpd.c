/*
 * httpd.c — a small blocking HTTP/1.1 server for the test fakes (httpd.h).
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTPD_MAX_HEAD 16384
#define HTTPD_MAX_BODY (4 * 1024 * 1024)

static volatile sig_atomic_t httpd_stopping;

/* Open connections, so httpd_serve() can end them and wait for their threads. */
#define HTTPD_MAX_CONNS 256
static pthread_mutex_t httpd_conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t httpd_conns_cond = PTHREAD_COND_INITIALIZER;
static int httpd_conn_fds[HTTPD_MAX_CONNS];
static size_t httpd_nconns;

static void
httpd_conn_track(int fd, int add)
{
	size_t i;

	pthread_mutex_lock(&httpd_conns_lock);
	if (add) {
		if (httpd_nconns < HTTPD_MAX_CONNS)
			httpd_conn_fds[httpd_nconns++] = fd;
	} else {
		for (i = 0; i < httpd_nconns; i++) {
			if (httpd_conn_fds[i] == fd) {
				httpd_conn_fds[i] = httpd_conn_fds[--httpd_nconns];
				break;
			}
		}
		pthread_cond_broadcast(&httpd_conns_cond);
	}
	pthread_mutex_unlock(&httpd_conns_lock);
}

struct httpd_conn {
	int fd;
	httpd_handler_fn handler;
	void *ctx;
};

double
httpd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
httpd_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *
httpd_header(const struct httpd_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->hname[i], name) == 0)
			return req->hvalue[i];
	return NULL;
}

void
httpd_add_header(struct httpd_resp *resp, const char *name, const char *fmt, ...)
{
	size_t used = strlen(resp->headers);
	va_list ap;
	int n;

	n = snprintf(resp->headers + used, sizeof(resp->headers) - used, "%s: ", name);
	if (n < 0 || (size_t)n >= sizeof(resp->headers) - used)
		return;
	used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(resp->headers + used, sizeof(resp->headers) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(resp->headers) - used)
		return;
	used += (size_t)n;
	snprintf(resp->headers + used, sizeof(resp->headers) - used, "\r\n");
}

void
httpd_set_body(struct httpd_resp *resp, int status, const char *text)
{
	free(resp->body);
	resp->status = status;
	resp->body = strdup(text);
	resp->body_len = resp->body ? strlen(text) : 0;
}

static int
httpd_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *
httpd_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* Parse the head in BUF (NUL-terminated, ends with CRLFCRLF) into REQ. */
static int
httpd_parse_head(char *buf, struct httpd_req *req)
{
	char *line, *save = NULL, *sp, *sp2, *q;

	line = strtok_r(buf, "\r\n", &save);
	if (line == NULL)
		return -EINVAL;
	sp = strchr(line, ' ');
	if (sp == NULL)
		return -EINVAL;
	*sp++ = '\0';
	sp2 = strchr(sp, ' ');
	if (sp2 == NULL)
		return -EINVAL;
	*sp2 = '\0';
	snprintf(req->method, sizeof(req->method), "%s", line);
	q = strchr(sp, '?');
	if (q != NULL) {
		*q++ = '\0';
		snprintf(req->query, sizeof(req->query), "%s", q);
	}
	snprintf(req->path, sizeof(req->path), "%s", sp);
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':');

		if (colon == NULL || req->nheaders == HTTPD_MAX_HEADERS)
			continue;
		*colon++ = '\0';
		while (*colon == ' ' || *colon == '\t')
			colon++;
		req->hname[req->nheaders] = line;
		req->hvalue[req->nheaders] = colon;
		req->nheaders++;
	}
	return 0;
}

static void *
httpd_conn_main(void *arg)
{
	struct httpd_conn conn = *(struct httpd_conn *)arg;
	char *buf = malloc(HTTPD_MAX_HEAD + 1);
	size_t have = 0;

	free(arg);
	if (buf == NULL)
		goto out;
	for (;;) {
		struct httpd_req req;
		struct httpd_resp resp;
		char head[512], *end, *body = NULL;
		size_t headlen, clen = 0;
		const char *v;
		double arrived = 0, arrived_wall = 0;
		int keep = 1, n;

		/* read until the end of the head */
		while ((end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL) == NULL) {
			ssize_t r;

			if (have == HTTPD_MAX_HEAD)
				goto out;
			r = recv(conn.fd, buf + have, HTTPD_MAX_HEAD - have, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto out;
			if (have == 0) {
				arrived = httpd_now();
				arrived_wall = httpd_wall();
			}
			have += (size_t)r;
		}
		if (arrived == 0) {
			/* pipelined: the request was already buffered */
			arrived = httpd_now();
			arrived_wall = httpd_wall();
		}
		headlen = (size_t)(end - buf) + 4;
		memset(&req, 0, sizeof(req));
		memset(&resp, 0, sizeof(resp));
		req.arrived = arrived;
		req.arrived_wall = arrived_wall;
		{
			char *copy = malloc(headlen + 1);

			if (copy == NULL)
				goto out;
			memcpy(copy, buf, headlen);
			copy[headlen] = '\0';
			if (httpd_parse_head(copy, &req) < 0) {
				free(copy);
				goto out;
			}
			v = httpd_header(&req, "content-length");
			if (v != NULL)
				clen = strtoul(v, NULL, 10);
			if (clen > HTTPD_MAX_BODY) {
				free(copy);
				goto out;
			}
			v = httpd_header(&req, "expect");
			if (v != NULL && strcasecmp(v, "100-continue") == 0 &&
			    have - headlen < clen) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				httpd_write_all(conn.fd, cont, sizeof(cont) - 1);
			}
			v = httpd_header(&req, "connection");
			if (v != NULL && strcasecmp(v, "close") == 0)
				keep = 0;
			body = malloc(clen + 1);
			if (body == NULL) {
				free(copy);
				goto out;
			}
			/* body bytes already in buf */
			{
				size_t inbuf = have - headlen, take = inbuf < clen ? inbuf : clen, got;

				memcpy(body, buf + headlen, take);
				got = take;
				memmove(buf, buf + headlen + take, have - headlen - take);
				have -= headlen + take;
				while (got < clen) {
					ssize_t r = recv(conn.fd, body + got, clen - got, 0);

					if (r < 0 && errno == EINTR)
						continue;
					if (r <= 0) {
						free(body);
						free(copy);
						goto out;
					}
					got += (size_t)r;
				}
			}
			body[clen] = '\0';
			req.body = body;
			req.body_len = clen;
			conn.handler(conn.ctx, &req, &resp);
			free(copy);
			free(body);
		}
		if (resp.drop) {
			free(resp.body);
			goto out;
		}
		if (resp.status == 0)
			resp.status = 500;
		if (resp.delay_ms > 0) {
			struct timespec ts = { resp.delay_ms / 1000, (long)(resp.delay_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (resp.close || resp.truncate)
			keep = 0;
		n = snprintf(head, sizeof(head),
		    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		    "Connection: %s\r\n",
		    resp.status, httpd_reason(resp.status),
		    resp.content_type ? resp.content_type : "application/json",
		    resp.body_len, keep ? "keep-alive" : "close");
		if (httpd_write_all(conn.fd, head, (size_t)n) < 0 ||
		    httpd_write_all(conn.fd, resp.headers, strlen(resp.headers)) < 0 ||
		    httpd_write_all(conn.fd, "\r\n", 2) < 0 ||
		    httpd_write_all(conn.fd, resp.body ? resp.body : "",
		        resp.truncate ? resp.body_len / 2 : resp.body_len) < 0) {
			free(resp.body);
			goto out;
		}
		free(resp.body);
		if (!keep)
			goto out;
	}
out:
	free(buf);
	httpd_conn_track(conn.fd, 0);
	close(conn.fd);
	return NULL;
}

int
httpd_listen(const char *host, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		close(fd);
		return -EINVAL;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 && bound != NULL)
		*bound = ntohs(sa.sin_port);
	return fd;
}

int
httpd_serve(int fd, httpd_handler_fn handler, void *ctx)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!httpd_stopping) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		struct httpd_conn *conn;
		pthread_t th;
		int cfd, one = 1;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			pthread_attr_destroy(&attr);
			return -errno;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn = malloc(sizeof(*conn));
		if (conn == NULL) {
			close(cfd);
			continue;
		}
		conn->fd = cfd;
		conn->handler = handler;
		conn->ctx = ctx;
		httpd_conn_track(cfd, 1);
		if (pthread_create(&th, &attr, httpd_conn_main, conn) != 0) {
			httpd_conn_track(cfd, 0);
			close(cfd);
			free(conn);
		}
	}
	pthread_attr_destroy(&attr);
	/* end the open connections and wait (a bounded time) for their threads */
	{
		struct timespec until;
		size_t i;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3;
		pthread_mutex_lock(&httpd_conns_lock);
		for (i = 0; i < httpd_nconns; i++)
			shutdown(httpd_conn_fds[i], SHUT_RDWR);
		while (httpd_nconns > 0 &&
		    pthread_cond_timedwait(&httpd_conns_cond, &httpd_conns_lock, &until) == 0)
			;
		i = httpd_nconns;
		pthread_mutex_unlock(&httpd_conns_lock);
		if (i > 0)
			return -EBUSY;
	}
	return 0;
}

void
httpd_stop(void)
{
	httpd_stopping = 1;
}

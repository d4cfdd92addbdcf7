/*
 * rolloutctl.c — the control tool for rolloutd (rolloutctl(8)).
 *
 * Talks to the daemon's HTTP API (its own small HTTP/1.1 client, bearer token from
 * DATA/state/api.token).  When the daemon is not running, the commands that
 * only change flags act on the flags file directly, under the same lock and
 * with the same audit records as the daemon (flags/flags.h), and say so.
 * `journal` and `address` never need the daemon.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "flags.h"
#include "fsutil.h"
#include "hex.h"
#include "ss58.h"
#include "storage.h"

#define ROLLOUTCTL_VERSION "0.1.0"

/* Exit codes (rolloutctl(8) EXIT STATUS). */
enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,
	EXIT_REFUSED = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_USAGE = 64,
};

struct ctl {
	const char *data_dir;
	const char *url;
	const char *token_file;
	char token[256];
	char who[128];
	int json;
	/* command options */
	int force, full, follow;
	const char *reason;
	const char *instance;
	/* derived paths */
	char flags_path[4096];
	char journal_path[4096];
	char state_path[4096];
};

/* The result of one API call. */
struct reply {
	int transport;   /* 0 ok, else -errno of what failed */
	int unreachable; /* connection refused / no such host: the daemon is not there */
	long status;     /* HTTP status */
	char *raw;
	size_t len;
	json_t *body;    /* parsed JSON or NULL */
	char neterr[600];
};

/* ------------------------------------------------------------------ */
/* Output                                                               */

static void
die_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rolloutctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (s != NULL) {
		puts(s);
		free(s);
	}
}

static void
print_scalar(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), stdout); break;
	case JSON_INTEGER: printf("%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: printf("%g", json_real_value(v)); break;
	case JSON_TRUE: fputs("true", stdout); break;
	case JSON_FALSE: fputs("false", stdout); break;
	case JSON_NULL: fputs("-", stdout); break;
	default: break;
	}
}

static int
is_scalar(json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

/* A JSON document as indented "key: value" lines for people. */
static void
print_human(json_t *v, int indent)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		json_object_foreach(v, k, x) {
			printf("%*s%s:", indent, "", k);
			if (is_scalar(x)) {
				putchar(' ');
				print_scalar(x);
				putchar('\n');
			} else if (json_is_array(x) && json_array_size(x) == 0) {
				puts(" (none)");
			} else if (json_is_object(x) && json_object_size(x) == 0) {
				puts(" {}");
			} else {
				putchar('\n');
				print_human(x, indent + 2);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		int all_scalar = 1;

		json_array_foreach(v, i, x)
			if (!is_scalar(x))
				all_scalar = 0;
		if (all_scalar) {
			printf("%*s", indent, "");
			json_array_foreach(v, i, x) {
				if (i)
					fputs(", ", stdout);
				print_scalar(x);
			}
			putchar('\n');
			return;
		}
		json_array_foreach(v, i, x) {
			printf("%*s-", indent, "");
			if (is_scalar(x)) {
				putchar(' ');
				print_scalar(x);
				putchar('\n');
			} else {
				putchar('\n');
				print_human(x, indent + 2);
			}
		}
	} else {
		printf("%*s", indent, "");
		print_scalar(v);
		putchar('\n');
	}
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                 */
/*
 * A small HTTP/1.1 client of its own (one request per connection,
 * Connection: close): rolloutctl only talks to rolloutd's API over plain
 * HTTP, and libcurl with its ~30 shared libraries (TLS, LDAP, SSH, IDN,
 * Kerberos...) was most of rolloutctl's start-up, which is most of the
 * emergency rollback's latency (bench/rollback/RESULTS.md).
 */

#define REPLY_MAX (16 * 1024 * 1024)

static void
reply_free(struct reply *r)
{
	free(r->raw);
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

static void
load_token(struct ctl *c)
{
	char path[4200], *text = NULL;
	size_t n;

	if (c->token_file)
		snprintf(path, sizeof(path), "%s", c->token_file);
	else
		snprintf(path, sizeof(path), "%s/state/api.token", c->data_dir);
	c->token[0] = '\0';
	if (fs_read_all(path, 4096, &text, &n) != 0)
		return;
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		text[--n] = '\0';
	if (n < sizeof(c->token))
		snprintf(c->token, sizeof(c->token), "%s", text);
	free(text);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Split "http://HOST[:PORT]" (HOST may be "[v6]").  0 or -EINVAL with ERR. */
static int
url_split(const char *url, char *host, size_t hostlen, char *port, size_t portlen, char *err,
    size_t errlen)
{
	const char *h, *e, *colon;

	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "%s: only http:// URLs are supported (rolloutd serves its API "
		    "over plain HTTP on loopback)", url);
		return -EINVAL;
	}
	h = url + 7;
	e = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));

		if (rb == NULL)
			goto bad;
		snprintf(host, hostlen, "%.*s", (int)(rb - h - 1), h + 1);
		colon = rb + 1 < e && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(e - h));
		snprintf(host, hostlen, "%.*s", (int)((colon ? colon : e) - h), h);
	}
	if (colon != NULL)
		snprintf(port, portlen, "%.*s", (int)(e - colon - 1), colon + 1);
	else
		snprintf(port, portlen, "80");
	if (host[0] == '\0' || port[0] == '\0' || strspn(port, "0123456789") != strlen(port))
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "%s: malformed URL", url);
	return -EINVAL;
}

/* Wait for EVENTS on FD until DEADLINE (monotonic ms).  1 ready, 0 timed out, -errno. */
static int
wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Connect to HOST:PORT within CONNECT_MS.  The fd, or -1 with R's error set. */
static int
http_connect(const char *host, const char *port, long connect_ms, struct reply *r)
{
	struct addrinfo hints, *ai = NULL, *a;
	long long deadline = now_ms() + connect_ms;
	int fd = -1, rc, last = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	/* a numeric address needs no resolver (nor its libraries); a name does */
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		rc = getaddrinfo(host, port, &hints, &ai);
	}
	if (rc != 0) {
		snprintf(r->neterr, sizeof(r->neterr), "could not resolve host %s: %s", host,
		    gai_strerror(rc));
		r->transport = -ENOENT;
		r->unreachable = 1;
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		int one = 1, soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			last = rc == 0 ? ETIMEDOUT : rc < 0 ? -rc : soerr;
		} else {
			last = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(r->neterr, sizeof(r->neterr), "failed to connect to %s port %s: %s", host,
		    port, last == ETIMEDOUT ? "connection timed out" : strerror(last));
		r->transport = -last;
		/* refused, or nothing routes there: the daemon is not running */
		r->unreachable = last == ECONNREFUSED || last == ENETUNREACH ||
		    last == EHOSTUNREACH || last == EADDRNOTAVAIL;
	}
	return fd;
}

/*
 * A chunked body: its decoded length, or -1 while incomplete or malformed.
 * Decodes in place when APPLY, else only measures.
 */
static long
unchunk(char *b, size_t len, int apply)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long n;
		char *nl = memchr(b + in, '\n', len - in);

		if (nl == NULL)
			return -1;
		n = strtoul(b + in, &end, 16);
		if (end == b + in)
			return -1;
		in = (size_t)(nl - b) + 1;
		if (n == 0)
			return (long)out;
		if (n > len || len - in < n + 2)
			return -1;
		if (apply)
			memmove(b + out, b + in, n);
		out += n;
		in += n + 2;
	}
}

/*
 * One request.  BODY (may be NULL) is sent as JSON with a POST; TIMEOUT_MS
 * bounds the whole exchange.  Fills R; returns 0 when an HTTP answer came.
 */
static int
api_call(struct ctl *c, const char *method, const char *path, json_t *body, long timeout_ms,
    struct reply *r)
{
	char host[256], port[16], clh[96] = "", *payload = NULL, *req = NULL, *hend;
	long long deadline = now_ms() + timeout_ms;
	size_t cap = 0, got = 0, reqlen, sent = 0, hlen = 0;
	long clen = -1;
	int fd = -1, chunked = 0, post = strcmp(method, "POST") == 0, n, v6;

	memset(r, 0, sizeof(*r));
	if (url_split(c->url, host, sizeof(host), port, sizeof(port), r->neterr,
	    sizeof(r->neterr)) != 0) {
		r->transport = -EINVAL;
		return -1;
	}
	if (post) {
		payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
		snprintf(clh, sizeof(clh), "Content-Type: application/json\r\nContent-Length: %zu\r\n",
		    strlen(payload ? payload : "{}"));
	}
	v6 = strchr(host, ':') != NULL;
	n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: rolloutctl/"
	    ROLLOUTCTL_VERSION "\r\nAccept: application/json\r\nConnection: close\r\n"
	    "%s%s%s%s\r\n%s", method, path, v6 ? "[" : "", host, v6 ? "]" : "", port,
	    c->token[0] ? "Authorization: Bearer " : "", c->token, c->token[0] ? "\r\n" : "",
	    clh, post ? (payload ? payload : "{}") : "");
	free(payload);
	if (n < 0) {
		req = NULL;
		snprintf(r->neterr, sizeof(r->neterr), "out of memory");
		r->transport = -ENOMEM;
		return -1;
	}
	reqlen = strlen(req);
	fd = http_connect(host, port, timeout_ms < 2000 ? timeout_ms : 2000, r);
	if (fd < 0)
		goto out;
	/* the whole request in one write: no Nagle/delayed-ACK stall between headers and body */
	while (sent < reqlen) {
		ssize_t k = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);

		if (k > 0) {
			sent += (size_t)k;
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) > 0)
				continue;
			errno = ETIMEDOUT;
		}
		snprintf(r->neterr, sizeof(r->neterr), "send failed: %s", strerror(errno));
		r->transport = -errno;
		goto out;
	}
	for (;;) {
		ssize_t k;

		if (got + 4096 + 1 > cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				snprintf(r->neterr, sizeof(r->neterr), "answer larger than %d bytes",
				    REPLY_MAX);
				r->transport = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(r->raw, cap)) == NULL) {
				r->transport = -ENOMEM;
				snprintf(r->neterr, sizeof(r->neterr), "out of memory");
				goto out;
			}
			r->raw = nb;
		}
		k = recv(fd, r->raw + got, cap - got - 1, 0);
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			int w = wait_fd(fd, POLLIN, deadline);

			if (w > 0)
				continue;
			if (w == 0)
				snprintf(r->neterr, sizeof(r->neterr), "operation timed out after %ld "
				    "milliseconds", timeout_ms);
			else
				snprintf(r->neterr, sizeof(r->neterr), "poll: %s", strerror(-w));
			r->transport = w == 0 ? -ETIMEDOUT : w;
			goto out;
		}
		if (k < 0) {
			snprintf(r->neterr, sizeof(r->neterr), "recv failed: %s", strerror(errno));
			r->transport = -errno;
			goto out;
		}
		got += (size_t)k;
		r->raw[got] = '\0';
		if (hlen == 0 && (hend = strstr(r->raw, "\r\n\r\n")) != NULL) {
			char *h;

			hlen = (size_t)(hend - r->raw) + 4;
			if (sscanf(r->raw, "HTTP/%*d.%*d %ld", &r->status) != 1) {
				snprintf(r->neterr, sizeof(r->neterr), "not an HTTP answer");
				r->transport = -EPROTO;
				goto out;
			}
			for (h = strstr(r->raw, "\r\n"); h != NULL && h < hend;
			    h = strstr(h + 2, "\r\n")) {
				if (!strncasecmp(h + 2, "content-length:", 15))
					clen = strtol(h + 17, NULL, 10);
				else if (!strncasecmp(h + 2, "transfer-encoding:", 18) &&
				    strcasestr(h + 20, "chunked") != NULL &&
				    strcasestr(h + 20, "chunked") < strstr(h + 2, "\r\n") + 2)
					chunked = 1;
			}
		}
		if (hlen != 0 && !chunked && clen >= 0 && got - hlen >= (size_t)clen)
			break;
		if (hlen != 0 && chunked && unchunk(r->raw + hlen, got - hlen, 0) >= 0)
			break;
		if (k == 0) {
			if (hlen != 0 && !chunked && clen < 0)
				break;          /* the body ends with the connection */
			snprintf(r->neterr, sizeof(r->neterr), "connection closed before the whole "
			    "answer (%zu bytes)", got);
			r->transport = -ECONNRESET;
			goto out;
		}
	}
	/* keep only the body in raw */
	if (chunked)
		r->len = (size_t)unchunk(r->raw + hlen, got - hlen, 1);
	else
		r->len = clen >= 0 ? (size_t)clen : got - hlen;
	memmove(r->raw, r->raw + hlen, r->len);
	r->raw[r->len] = '\0';
	if (r->len == 0) {
		free(r->raw);
		r->raw = NULL;
	} else {
		r->body = json_loadb(r->raw, r->len, 0, NULL);
	}
out:
	if (fd >= 0)
		close(fd);
	free(req);
	if (r->transport != 0) {
		free(r->raw);
		r->raw = NULL;
		r->len = 0;
	}
	return r->transport == 0 ? 0 : -1;
}

static const char *
reply_error(const struct reply *r)
{
	json_t *e;

	if (r->body && (e = json_object_get(r->body, "error")) && json_is_string(e))
		return json_string_value(e);
	if (r->raw && r->len && r->len < 300)
		return r->raw;
	return "";
}

/* Map a non-2xx answer to a message and an exit code. */
static int
report_http_error(const struct ctl *c, const char *what, const struct reply *r)
{
	const char *hint = "";

	if (r->status == 401 || r->status == 403)
		hint = c->token[0] ? " (is the token in --token-file or DATA/state/api.token current?)"
				   : " (no API token found: pass --token-file or --data-dir)";
	die_msg("%s: daemon answered HTTP %ld: %s%s", what, r->status, reply_error(r), hint);
	if (c->json && r->body)
		print_json(r->body);
	return r->status == 409 ? EXIT_REFUSED : EXIT_ERR;
}

static int
report_unreachable(const struct ctl *c, const char *what, const struct reply *r)
{
	if (r->unreachable) {
		die_msg("%s: daemon not running at %s (%s)", what, c->url, r->neterr);
		return EXIT_UNREACHABLE;
	}
	die_msg("%s: cannot talk to the daemon at %s: %s", what, c->url, r->neterr);
	return EXIT_ERR;
}

/* Print a successful reply. */
static void
print_reply(const struct ctl *c, const struct reply *r, const char *okmsg)
{
	if (c->json) {
		if (r->body)
			print_json(r->body);
		else
			printf("%s\n", r->raw ? r->raw : "");
		return;
	}
	if (okmsg)
		printf("%s\n", okmsg);
	if (r->body)
		print_human(r->body, okmsg ? 2 : 0);
	else if (r->raw && r->len)
		printf("%s%s", r->raw, r->raw[r->len - 1] == '\n' ? "" : "\n");
}

/* GET/POST that requires the daemon. */
static int
daemon_only(struct ctl *c, const char *what, const char *method, const char *path, json_t *body,
    const char *okmsg)
{
	struct reply r;
	int rc;

	api_call(c, method, path, body, 15000, &r);
	if (r.transport != 0)
		rc = report_unreachable(c, what, &r);
	else if (r.status < 200 || r.status > 299)
		rc = report_http_error(c, what, &r);
	else {
		print_reply(c, &r, okmsg);
		rc = EXIT_OK;
	}
	reply_free(&r);
	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The flags file, when the daemon is down                               */

static int
open_flags(struct ctl *c, struct flags **f, int allow_broken)
{
	char err[600];
	int rc = flags_open(f, c->flags_path, c->journal_path, err, sizeof(err));

	if (rc == -EBADMSG && allow_broken)
		return 0;
	if (rc == -EBADMSG) {
		die_msg("%s", err);
		die_msg("the flags file is broken: fix it by hand, or run `rolloutctl rollback --force` "
		    "(keeps it as %s.corrupt)", c->flags_path);
		flags_close(*f);
		*f = NULL;
		return EXIT_ERR;
	}
	if (rc != 0) {
		die_msg("%s", err);
		return EXIT_ERR;
	}
	return 0;
}

static json_t *
flag_json(const struct flag_value *v)
{
	switch (v->type) {
	case FLAG_BOOL: return json_boolean(v->b);
	case FLAG_INT: return json_integer(v->i);
	case FLAG_STRING: return json_string(v->s);
	}
	return json_null();
}

static json_t *
flags_object(const struct flags *f)
{
	json_t *o = json_object();
	const char *const *names;
	size_t n, i;

	names = flags_names(f, &n);
	for (i = 0; i < n; i++) {
		struct flag_value v;

		if (flags_get(f, names[i], &v) == 0)
			json_object_set_new(o, names[i], flag_json(&v));
	}
	return o;
}

/* The "daemon not running" line and the resulting flags. */
static void
report_offline_write(const struct ctl *c, const struct flags *f, const char *why, const char *extra)
{
	if (c->json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:I, s:o}", "ok", 1, "via", "file",
		    "reason", why, "path", c->flags_path, "generation",
		    (json_int_t)flags_generation(f), "flags", flags_object(f));

		if (extra)
			json_object_set_new(o, "note", json_string(extra));
		print_json(o);
		json_decref(o);
		return;
	}
	printf("%s: wrote %s directly (generation %llu)\n", why, c->flags_path,
	    (unsigned long long)flags_generation(f));
	if (extra)
		printf("%s\n", extra);
}

/* The built-in flags' types; a plan's flags are typed by GET /api/flags. */
static const char *
builtin_type(const char *name)
{
	if (!strcmp(name, "enableHybridSystem") || !strcmp(name, "enableParallelMode") ||
	    !strcmp(name, "emergencyRollback"))
		return "bool";
	if (!strcmp(name, "hybridTrafficPercent"))
		return "int";
	if (!strcmp(name, "rolloutPhase"))
		return "string";
	return NULL;
}

/*
 * VALUE as the JSON the API expects for flag NAME.  A value that does not
 * fit the type is sent as a string: the daemon then names the problem.
 */
static json_t *
api_value(struct ctl *c, const char *name, const char *value, json_t **types)
{
	const char *t = builtin_type(name);
	char *end;
	long long iv;

	if (t == NULL) {
		if (*types == NULL) {
			struct reply r;

			api_call(c, "GET", "/api/flags", NULL, 5000, &r);
			if (r.transport == 0 && r.status == 200 && r.body &&
			    json_is_object(json_object_get(r.body, "types")))
				*types = json_incref(json_object_get(r.body, "types"));
			else
				*types = json_object();
			reply_free(&r);
		}
		t = json_string_value(json_object_get(*types, name));
	}
	if (t == NULL) {
		/* unknown to us and to the daemon: guess, the daemon will refuse it anyway */
		if (!strcmp(value, "true") || !strcmp(value, "false"))
			return json_boolean(!strcmp(value, "true"));
		iv = strtoll(value, &end, 10);
		if (*value && *end == '\0')
			return json_integer(iv);
		return json_string(value);
	}
	if (!strcmp(t, "bool")) {
		if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
		    !strcasecmp(value, "on"))
			return json_true();
		if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
		    !strcasecmp(value, "off"))
			return json_false();
	} else if (!strcmp(t, "int")) {
		errno = 0;
		iv = strtoll(value, &end, 10);
		if (*value && *end == '\0' && errno == 0)
			return json_integer(iv);
	}
	return json_string(value);
}

/*
 * Set flags: through the daemon (one POST /api/flags/NAME per flag) or,
 * when it is not running, on the file under the lock.
 */
static int
set_flags(struct ctl *c, const char *what, size_t n, const char *const *names,
    const char *const *values, const char *okmsg)
{
	struct flags *f = NULL;
	struct reply r;
	json_t *types = NULL;
	char err[600];
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		char path[256];
		json_t *body, *val;

		val = api_value(c, names[i], values[i], &types);
		body = json_pack("{s:o, s:s, s:s}", "value", val, "who", c->who, "reason",
		    c->reason ? c->reason : what);
		snprintf(path, sizeof(path), "/api/flags/%s", names[i]);
		api_call(c, "POST", path, body, 15000, &r);
		json_decref(body);
		if (r.transport != 0 && r.unreachable && i == 0) {
			reply_free(&r);
			json_decref(types);
			goto offline;
		}
		if (r.transport != 0) {
			rc = report_unreachable(c, what, &r);
			reply_free(&r);
			json_decref(types);
			return rc;
		}
		if (r.status < 200 || r.status > 299) {
			rc = report_http_error(c, what, &r);
			/* an unknown flag or a bad value, as offline */
			if (r.status == 400 || r.status == 404)
				rc = EXIT_USAGE;
			reply_free(&r);
			json_decref(types);
			return rc;
		}
		if (c->json)
			print_reply(c, &r, NULL);
		reply_free(&r);
	}
	json_decref(types);
	if (!c->json)
		printf("%s (through the daemon at %s)\n", okmsg, c->url);
	return EXIT_OK;

offline:
	if ((rc = open_flags(c, &f, 0)) != 0)
		return rc;
	rc = flags_set_many(f, n, names, values, c->who, c->reason ? c->reason : what, err,
	    sizeof(err));
	if (rc != 0) {
		die_msg("%s", err);
		flags_close(f);
		return rc == -ENOENT || rc == -EINVAL || rc == -ERANGE ? EXIT_USAGE : EXIT_ERR;
	}
	report_offline_write(c, f, "daemon not running", okmsg);
	if (flags_get_bool(f, "emergencyRollback") && !c->json && flags_get_int(f,
	    "hybridTrafficPercent") > 0)
		printf("note: emergencyRollback is set, so the effective traffic stays 0%% until "
		    "`rolloutctl flag set emergencyRollback false --force`\n");
	flags_close(f);
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static int
refuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rolloutctl: refused: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_REFUSED;
}

static int
cmd_rollback(struct ctl *c)
{
	struct flags *f = NULL;
	struct reply r;
	char err[600], why[700], broken[600] = "";
	const char *reason = c->reason ? c->reason : "manual emergency rollback (rolloutctl)";
	json_t *body;
	int rc;

	if (!c->force)
		return refuse("rollback sets traffic to 0%%, disables hybrid delivery and latches "
		    "emergencyRollback at once, consulting no gate; run `rolloutctl rollback --force "
		    "[--reason TEXT]` if you mean it");
	body = json_pack("{s:s, s:s}", "reason", reason, "who", c->who);
	api_call(c, "POST", "/api/emergency/rollback", body, 3000, &r);
	json_decref(body);
	if (r.transport == 0 && r.status >= 200 && r.status <= 299) {
		if (c->json)
			print_reply(c, &r, NULL);
		else
			printf("emergency rollback done through the daemon at %s: traffic 0%%, hybrid "
			    "delivery off\n", c->url);
		reply_free(&r);
		return EXIT_OK;
	}
	/* the rollback must work whatever state the daemon is in: write the file */
	if (r.transport != 0 && r.unreachable)
		snprintf(why, sizeof(why), "daemon not running");
	else if (r.transport != 0)
		snprintf(why, sizeof(why), "daemon did not answer (%s)", r.neterr);
	else
		snprintf(why, sizeof(why), "daemon refused the rollback (HTTP %ld: %.200s)", r.status,
		    reply_error(&r));
	reply_free(&r);
	rc = flags_open(&f, c->flags_path, c->journal_path, err, sizeof(err));
	if (rc == -EBADMSG)
		snprintf(broken, sizeof(broken), "%s", err);
	else if (rc != 0) {
		die_msg("%s: %s", why, err);
		return EXIT_ERR;
	}
	rc = flags_emergency_rollback(f, c->who, reason, err, sizeof(err));
	if (rc != 0) {
		die_msg("%s: emergency rollback failed: %s", why, err);
		flags_close(f);
		return EXIT_ERR;
	}
	if (broken[0]) {
		char note[5200];

		snprintf(note, sizeof(note), "the flags file was broken (%s); kept it as %s.corrupt "
		    "and wrote a known-good file: traffic 0%%, hybrid delivery off", broken,
		    c->flags_path);
		report_offline_write(c, f, why, note);
	} else {
		report_offline_write(c, f, why, "emergency rollback: traffic 0%, hybrid delivery off");
	}
	flags_close(f);
	return EXIT_OK;
}

/* The daemon's GET /api/flags answer, in the same shape as the offline listing. */
static void
print_flags_view(const struct ctl *c, json_t *v)
{
	json_t *fl = json_object_get(v, "flags"), *x;
	const char *k;

	if (!json_is_object(fl)) {
		print_human(v, 0);
		return;
	}
	printf("flags (daemon at %s: %s, generation %" JSON_INTEGER_FORMAT "%s)\n", c->url,
	    json_string_value(json_object_get(v, "path")) ? json_string_value(json_object_get(v,
	    "path")) : "?", json_integer_value(json_object_get(v, "generation")),
	    json_is_true(json_object_get(v, "broken")) ? ", BROKEN" : "");
	if (json_is_string(json_object_get(v, "error")))
		printf("BROKEN: %s\n", json_string_value(json_object_get(v, "error")));
	json_object_foreach(fl, k, x) {
		printf("  %-22s ", k);
		print_scalar(x);
		putchar('\n');
	}
	if (json_is_integer(json_object_get(v, "effective_traffic")))
		printf("  %-22s %" JSON_INTEGER_FORMAT "%%\n", "(effective traffic)",
		    json_integer_value(json_object_get(v, "effective_traffic")));
}

static int
cmd_flags(struct ctl *c)
{
	struct flags *f = NULL;
	struct reply r;
	const char *const *names;
	size_t n, i;
	int rc;

	api_call(c, "GET", "/api/flags", NULL, 15000, &r);
	if (r.transport == 0 && r.status >= 200 && r.status <= 299) {
		if (c->json || r.body == NULL)
			print_reply(c, &r, NULL);
		else
			print_flags_view(c, r.body);
		rc = r.body && json_is_true(json_object_get(r.body, "broken")) ? EXIT_ERR : EXIT_OK;
		reply_free(&r);
		return rc;
	}
	if (r.transport == 0) {
		rc = report_http_error(c, "flags", &r);
		reply_free(&r);
		return rc;
	}
	if (!r.unreachable) {
		rc = report_unreachable(c, "flags", &r);
		reply_free(&r);
		return rc;
	}
	reply_free(&r);
	if (access(c->flags_path, F_OK) != 0) {
		die_msg("daemon not running and %s does not exist", c->flags_path);
		return EXIT_ERR;
	}
	if ((rc = open_flags(c, &f, 1)) != 0)
		return rc;
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:o}", "via", "file", "path",
		    c->flags_path, "generation", (json_int_t)flags_generation(f), "broken",
		    flags_broken(f), "flags", flags_object(f));

		if (flags_broken(f))
			json_object_set_new(o, "error", json_string(flags_error(f)));
		print_json(o);
		json_decref(o);
	} else {
		printf("daemon not running: read %s (generation %llu)\n", c->flags_path,
		    (unsigned long long)flags_generation(f));
		if (flags_broken(f))
			printf("BROKEN: %s\nshowing the safe defaults rolloutd would use\n",
			    flags_error(f));
		names = flags_names(f, &n);
		for (i = 0; i < n; i++) {
			struct flag_value v;
			char buf[160];

			if (flags_get(f, names[i], &v) == 0)
				printf("  %-22s %s\n", names[i], flag_value_str(&v, buf, sizeof(buf)));
		}
		printf("  %-22s %d%%\n", "(effective traffic)", flags_traffic(f));
	}
	rc = flags_broken(f) ? EXIT_ERR : EXIT_OK;
	flags_close(f);
	return rc;
}

static const char *
js(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The daemon's GET /api/status as a short summary (everything with --json). */
static void
print_status(json_t *d)
{
	json_t *v, *x;
	const char *k;
	size_t i;

	if (js(d, "plan") == NULL || js(d, "state") == NULL) {
		print_human(d, 0);
		return;
	}
	printf("plan:        %s (%s)\n", js(d, "plan"), js(d, "plan_file") ? js(d, "plan_file") : "?");
	printf("state:       %s", js(d, "state"));
	if (js(d, "pause_reason") && strcmp(js(d, "pause_reason"), "none") != 0)
		printf(" (%s)", js(d, "pause_reason"));
	putchar('\n');
	if (js(d, "phase")) {
		v = json_object_get(d, "phases");
		printf("phase:       %s (%" JSON_INTEGER_FORMAT " of %zu)", js(d, "phase"),
		    json_integer_value(json_object_get(d, "phase_index")) + 1,
		    json_is_array(v) ? json_array_size(v) : (size_t)0);
		if (js(d, "step_desc"))
			printf(", %s of %" JSON_INTEGER_FORMAT, js(d, "step_desc"),
			    json_integer_value(json_object_get(d, "steps")));
		putchar('\n');
	}
	printf("traffic:     %" JSON_INTEGER_FORMAT "%% (effective %" JSON_INTEGER_FORMAT "%%)\n",
	    json_integer_value(json_object_get(d, "traffic")),
	    json_integer_value(json_object_get(d, "effective_traffic")));
	if (js(d, "hold_until"))
		printf("hold until:  %s\n", js(d, "hold_until"));
	if (js(d, "started_at"))
		printf("started:     %s\n", js(d, "started_at"));
	v = json_object_get(d, "gates");
	if (json_is_array(v) && json_array_size(v)) {
		puts("gates:");
		print_human(v, 2);
	}
	v = json_object_get(d, "triggers");
	if (json_is_array(v) && json_array_size(v)) {
		puts("triggers:");
		print_human(v, 2);
	}
	v = json_object_get(json_object_get(d, "flags"), "flags");
	if (json_is_object(v)) {
		printf("flags:       generation %" JSON_INTEGER_FORMAT "%s:",
		    json_integer_value(json_object_get(json_object_get(d, "flags"), "generation")),
		    json_is_true(json_object_get(json_object_get(d, "flags"), "broken")) ? " BROKEN" : "");
		i = 0;
		json_object_foreach(v, k, x) {
			printf("%s %s=", i++ ? "," : "", k);
			print_scalar(x);
		}
		putchar('\n');
	}
	v = json_object_get(d, "safety");
	if (json_is_object(v)) {
		printf("safety:      last drill ");
		print_scalar(json_object_get(v, "last_drill_ms") ? json_object_get(v, "last_drill_ms")
								 : json_null());
		printf(" ms, rollbacks ");
		print_scalar(json_object_get(v, "rollbacks") ? json_object_get(v, "rollbacks")
							     : json_null());
		putchar('\n');
	}
	v = json_object_get(d, "last_emergency_rollback");
	if (json_is_object(v))
		printf("last emergency rollback: %s by %s (%s)\n", js(v, "time") ? js(v, "time") : "?",
		    js(v, "who") ? js(v, "who") : "?", js(v, "reason") ? js(v, "reason") : "");
}

static int
cmd_status(struct ctl *c)
{
	struct reply r;
	int rc;

	api_call(c, "GET", "/api/status", NULL, 15000, &r);
	if (r.transport == 0 && r.status >= 200 && r.status <= 299) {
		if (c->json || r.body == NULL)
			print_reply(c, &r, NULL);
		else
			print_status(r.body);
		reply_free(&r);
		return EXIT_OK;
	}
	if (r.transport == 0 || !r.unreachable) {
		rc = r.transport == 0 ? report_http_error(c, "status", &r)
				      : report_unreachable(c, "status", &r);
		reply_free(&r);
		return rc;
	}
	reply_free(&r);
	/* daemon down: show what is on disk, exit 3 */
	{
		struct flags *f = NULL;
		char err[600], *state = NULL;
		size_t len;
		json_t *st = NULL, *o;
		int frc;

		frc = access(c->flags_path, F_OK) == 0 ?
		    flags_open(&f, c->flags_path, NULL, err, sizeof(err)) : -ENOENT;
		if (fs_read_all(c->state_path, 8 << 20, &state, &len) == 0)
			st = json_loadb(state, len, 0, NULL);
		free(state);
		if (c->json) {
			o = json_pack("{s:b, s:s}", "daemon", 0, "url", c->url);
			if (f)
				json_object_set_new(o, "flags", flags_object(f));
			if (frc == -EBADMSG)
				json_object_set_new(o, "flags_error", json_string(err));
			if (st)
				json_object_set(o, "state", st);
			print_json(o);
			json_decref(o);
		} else {
			printf("daemon: not running at %s\n", c->url);
			if (f) {
				printf("flags (%s, generation %llu%s):\n", c->flags_path,
				    (unsigned long long)flags_generation(f),
				    flags_broken(f) ? ", BROKEN" : "");
				json_t *fo = flags_object(f);

				print_human(fo, 2);
				json_decref(fo);
				if (frc == -EBADMSG)
					printf("  error: %s\n", err);
			} else {
				printf("flags: %s absent\n", c->flags_path);
			}
			if (st) {
				printf("last saved state (%s):\n", c->state_path);
				print_human(st, 2);
			}
		}
		json_decref(st);
		flags_close(f);
	}
	return EXIT_UNREACHABLE;
}

static int
cmd_health(struct ctl *c)
{
	struct reply r;
	int rc;

	api_call(c, "GET", "/api/health", NULL, 15000, &r);
	if (r.transport != 0) {
		rc = report_unreachable(c, "health", &r);
	} else if (r.status == 200) {
		print_reply(c, &r, NULL);
		rc = EXIT_OK;
	} else if (r.status == 503) {
		/* the daemon answered "unhealthy": show why */
		print_reply(c, &r, "unhealthy");
		rc = EXIT_ERR;
	} else {
		rc = report_http_error(c, "health", &r);
	}
	reply_free(&r);
	return rc;
}

/* Human output of one journal line. */
static void
journal_print(const struct ctl *c, const char *line)
{
	json_t *o, *v;
	json_error_t je;
	const char *k;

	if (c->json) {
		puts(line);
		return;
	}
	o = json_loads(line, 0, &je);
	if (o == NULL || !json_is_object(o)) {
		printf("(unreadable line: %s)\n", line);
		json_decref(o);
		return;
	}
	v = json_object_get(o, "time");
	printf("%s ", json_is_string(v) ? json_string_value(v) : "-");
	v = json_object_get(o, "kind");
	printf("%-8s ", json_is_string(v) ? json_string_value(v) : "-");
	if (json_is_string(v) && strcmp(json_string_value(v), "flag") == 0 &&
	    json_is_null(json_object_get(o, "flag"))) {
		/* a note about a whole generation (rolloutd.flags(5) RECOVERY) */
		printf("note by %s: %s [generation %" JSON_INTEGER_FORMAT "]\n",
		    json_string_value(json_object_get(o, "who")) ?
		    json_string_value(json_object_get(o, "who")) : "?",
		    json_string_value(json_object_get(o, "reason")) ?
		    json_string_value(json_object_get(o, "reason")) : "",
		    json_integer_value(json_object_get(o, "generation")));
	} else if (json_is_string(v) && strcmp(json_string_value(v), "flag") == 0) {
		printf("%s: ", json_string_value(json_object_get(o, "flag")) ?
		    json_string_value(json_object_get(o, "flag")) : "?");
		print_scalar(json_object_get(o, "old") ? json_object_get(o, "old") : json_null());
		fputs(" -> ", stdout);
		print_scalar(json_object_get(o, "new") ? json_object_get(o, "new") : json_null());
		printf(" by %s", json_string_value(json_object_get(o, "who")) ?
		    json_string_value(json_object_get(o, "who")) : "?");
		if (json_is_string(json_object_get(o, "reason")))
			printf(" (%s)", json_string_value(json_object_get(o, "reason")));
		printf(" [generation %" JSON_INTEGER_FORMAT "]\n",
		    json_integer_value(json_object_get(o, "generation")));
	} else if (json_is_string(json_object_get(o, "line"))) {
		/* engine records carry their own one-line summary */
		printf("%s\n", json_string_value(json_object_get(o, "line")));
	} else {
		int first = 1;

		json_object_foreach(o, k, v) {
			if (!strcmp(k, "time") || !strcmp(k, "kind") || !strcmp(k, "t_ms"))
				continue;
			printf("%s%s=", first ? "" : " ", k);
			first = 0;
			if (is_scalar(v)) {
				print_scalar(v);
			} else {
				char *s = json_dumps(v, JSON_COMPACT);

				fputs(s ? s : "?", stdout);
				free(s);
			}
		}
		putchar('\n');
	}
	json_decref(o);
}

static volatile sig_atomic_t stop_follow;

static void
on_stop(int sig)
{
	(void)sig;
	stop_follow = 1;
}

static int
cmd_journal(struct ctl *c)
{
	FILE *fp = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct stat st;
	ino_t ino = 0;
	off_t pos = 0;

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		if (fp == NULL) {
			fp = fopen(c->journal_path, "r");
			if (fp == NULL && !c->follow) {
				if (errno == ENOENT) {
					if (!c->json)
						printf("no journal yet (%s)\n", c->journal_path);
					return EXIT_OK;
				}
				die_msg("%s: %s", c->journal_path, strerror(errno));
				return EXIT_ERR;
			}
			if (fp != NULL && fstat(fileno(fp), &st) == 0)
				ino = st.st_ino;
			pos = 0;
		}
		while (fp != NULL && (n = getline(&line, &cap, fp)) > 0) {
			if (line[n - 1] != '\n') {
				/* a line still being written: read it again when it is whole */
				fseeko(fp, pos, SEEK_SET);
				break;
			}
			line[n - 1] = '\0';
			pos = ftello(fp);
			if (line[0])
				journal_print(c, line);
		}
		if (!c->follow || stop_follow)
			break;
		if (fp != NULL)
			clearerr(fp);
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
		if (stop_follow)
			break;
		/* replaced or truncated: start over */
		if (stat(c->journal_path, &st) == 0 && fp != NULL &&
		    (st.st_ino != ino || st.st_size < pos)) {
			fclose(fp);
			fp = NULL;
		}
	}
	free(line);
	if (fp)
		fclose(fp);
	return EXIT_OK;
}

static const char *
network_names(uint16_t prefix, char *buf, size_t len)
{
	const struct chain_preset *p;
	size_t used = 0;

	buf[0] = '\0';
	for (p = chain_presets(); p && p->name; p++) {
		if (p->ss58_prefix != prefix)
			continue;
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
		    used ? ", " : "", p->name);
		if (used >= len)
			break;
	}
	if (buf[0] == '\0') {
		if (prefix == 42)
			snprintf(buf, len, "generic substrate");
		else
			snprintf(buf, len, "unknown network");
	}
	return buf;
}

/*
 * Decode one address and print it.  BATCH: one line (JSON or text) per
 * address, errors on stdout too, so a script can pair inputs and outputs.
 */
static int
address_one(const struct ctl *c, const char *addr, int batch)
{
	uint8_t pub[32];
	uint16_t prefix = 0;
	char err[256], pubhex[2 * 32 + 3], key[STORAGE_ACCOUNT_KEY_HEXLEN + 1], net[256];
	size_t jflags = batch ? JSON_COMPACT : JSON_INDENT(2);
	json_t *o;
	char *s;

	if (ss58_decode(addr, pub, &prefix, err, sizeof(err)) != 0) {
		if (c->json) {
			o = json_pack("{s:s, s:b, s:s}", "address", addr, "valid", 0, "error", err);
			s = json_dumps(o, jflags | JSON_PRESERVE_ORDER);
			puts(s ? s : "{}");
			free(s);
			json_decref(o);
		} else if (batch) {
			printf("%s invalid: %s\n", addr, err);
		}
		if (!batch)
			die_msg("\"%s\": invalid SS58 address: %s", addr, err);
		return EXIT_ERR;
	}
	hex_encode(pub, 32, pubhex, 1);
	storage_system_account_key_hex(pub, key);
	network_names(prefix, net, sizeof(net));
	if (c->json) {
		o = json_pack("{s:s, s:b, s:i, s:s, s:s, s:s}", "address", addr, "valid", 1,
		    "prefix", (int)prefix, "network", net, "pubkey", pubhex, "system_account_key",
		    key);
		s = json_dumps(o, jflags | JSON_PRESERVE_ORDER);
		puts(s ? s : "{}");
		free(s);
		json_decref(o);
	} else if (batch) {
		printf("%s %u %s %s\n", addr, prefix, pubhex, key);
	} else {
		printf("address:            %s\n", addr);
		printf("network prefix:     %u (%s)\n", prefix, net);
		printf("public key:         %s\n", pubhex);
		printf("System.Account key: %s\n", key);
	}
	return EXIT_OK;
}

/* `address ADDRESS`, or `address -`: one address per line on stdin. */
static int
cmd_address(const struct ctl *c, const char *addr)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = EXIT_OK;

	if (strcmp(addr, "-") != 0)
		return address_one(c, addr, 0);
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (address_one(c, line, 1) != EXIT_OK)
			rc = EXIT_ERR;
	}
	free(line);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: rolloutctl [--data-dir DIR] [--url URL] [--token-file FILE] [--json]\n"
	    "                  [--who NAME] COMMAND [ARGS]\n"
	    "commands:\n"
	    "  status | health | stats | flags\n"
	    "  flag set NAME VALUE [--force] [--reason TEXT]\n"
	    "  set-traffic PCT [--force] [--reason TEXT]\n"
	    "  enable-parallel | switch-legacy | switch-hybrid [--force]\n"
	    "  rollback --force [--reason TEXT]\n"
	    "  pause | resume | promote [--full] | abort | retry | phase NAME\n"
	    "  journal [--follow]\n"
	    "  alerts test|stats|critical [--instance NAME]\n"
	    "  address ADDRESS|-\n"
	    "exit status: 0 ok, 1 error, 2 refused (needs --force), 3 daemon unreachable,\n"
	    "64 usage.  See rolloutctl(8).\n");
}

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rolloutctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

static int
parse_pct(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno || v < 0 || v > 100)
		return -1;
	*out = v;
	return 0;
}

/* Does setting NAME to VALUE raise candidate exposure outside the plan? */
static int
flag_needs_force(const char *name, const char *value)
{
	if (!strcmp(name, "hybridTrafficPercent"))
		return strcmp(value, "0") != 0;
	if (!strcmp(name, "enableHybridSystem"))
		return !strcmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
		    !strcasecmp(value, "on");
	if (!strcmp(name, "emergencyRollback"))
		return !strcmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
		    !strcasecmp(value, "off");
	return 0;
}

static void
default_who(struct ctl *c)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u == NULL || *u == '\0') {
		pw = getpwuid(getuid());
		u = pw ? pw->pw_name : "unknown";
	}
	snprintf(c->who, sizeof(c->who), "rolloutctl:%s", u);
}

/* Operator actions that only need the daemon, a route and a reason. */
struct operator_action {
	const char *cmd;
	const char *route;
	const char *done;           /* what to print on success */
};

static const struct operator_action operator_actions[] = {
	{ "pause", "/api/emergency/pause", "paused" },
	{ "resume", "/api/rollout/resume", "resumed" },
	{ "abort", "/api/rollout/abort", "aborted: traffic 0%, the step can be retried" },
	{ "retry", "/api/rollout/retry", "retrying the aborted step" },
};

static const struct operator_action *
operator_action(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(operator_actions) / sizeof(operator_actions[0]); i++)
		if (strcmp(operator_actions[i].cmd, cmd) == 0)
			return &operator_actions[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct ctl c;
	const char *pos[8];
	int npos = 0, i, rc;
	unsigned used = 0;   /* command options seen, checked per command */
	enum { U_FORCE = 1, U_REASON = 2, U_FULL = 4, U_FOLLOW = 8, U_INSTANCE = 16 };
	const struct operator_action *act;
	const char *cmd;

	memset(&c, 0, sizeof(c));
	c.data_dir = getenv("DATA_PATH") && *getenv("DATA_PATH") ? getenv("DATA_PATH") : "./data";
	c.url = "http://127.0.0.1:3002";
	c.instance = "alerting";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char opt[64];
		const char *eq;

		if (a[0] != '-' || a[1] == '\0' || !strcmp(a, "--")) {
			if (!strcmp(a, "--")) {
				for (i++; i < argc; i++)
					if (npos < 8)
						pos[npos++] = argv[i];
					else
						return usage_error("too many arguments");
				break;
			}
			if (npos == 8)
				return usage_error("too many arguments");
			pos[npos++] = a;
			continue;
		}
		snprintf(opt, sizeof(opt), "%s", a);
		if ((eq = strchr(a, '=')) != NULL && !strncmp(a, "--", 2)) {
			opt[eq - a < (long)sizeof(opt) ? eq - a : (long)sizeof(opt) - 1] = '\0';
			val = eq + 1;
		}
#define NEED_VAL()                                                                   \
	do {                                                                         \
		if (val == NULL) {                                                   \
			if (i + 1 >= argc)                                           \
				return usage_error("%s needs a value", opt);         \
			val = argv[++i];                                             \
		}                                                                    \
	} while (0)
		if (!strcmp(opt, "--data-dir")) {
			NEED_VAL();
			c.data_dir = val;
		} else if (!strcmp(opt, "--url")) {
			NEED_VAL();
			c.url = val;
		} else if (!strcmp(opt, "--token-file")) {
			NEED_VAL();
			c.token_file = val;
		} else if (!strcmp(opt, "--who")) {
			NEED_VAL();
			snprintf(c.who, sizeof(c.who), "%s", val);
		} else if (!strcmp(opt, "--reason")) {
			NEED_VAL();
			c.reason = val;
			used |= U_REASON;
		} else if (!strcmp(opt, "--instance")) {
			NEED_VAL();
			c.instance = val;
			used |= U_INSTANCE;
		} else if (val != NULL) {
			return usage_error("%s takes no value", opt);
		} else if (!strcmp(opt, "--json")) {
			c.json = 1;
		} else if (!strcmp(opt, "--force") || !strcmp(opt, "-f")) {
			c.force = 1;
			used |= U_FORCE;
		} else if (!strcmp(opt, "--full")) {
			c.full = 1;
			used |= U_FULL;
		} else if (!strcmp(opt, "--follow") || !strcmp(opt, "-F")) {
			c.follow = 1;
			used |= U_FOLLOW;
		} else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(opt, "--version")) {
			printf("rolloutctl %s\n", ROLLOUTCTL_VERSION);
			return EXIT_OK;
		} else {
			return usage_error("unknown option %s", opt);
		}
#undef NEED_VAL
	}
	if (npos == 0)
		return usage_error("no command");
	if (c.who[0] == '\0')
		default_who(&c);     /* only now: getpwuid() may ask NSS, which --who spares */
	cmd = pos[0];
	if (strlen(c.data_dir) > 3000)
		return usage_error("--data-dir is too long");
	snprintf(c.flags_path, sizeof(c.flags_path), "%s/config/feature-flags.conf", c.data_dir);
	snprintf(c.journal_path, sizeof(c.journal_path), "%s/state/journal.jsonl", c.data_dir);
	snprintf(c.state_path, sizeof(c.state_path), "%s/state/state.json", c.data_dir);
	while (strlen(c.url) > 1 && c.url[strlen(c.url) - 1] == '/') {
		static char url[2048];

		snprintf(url, sizeof(url), "%s", c.url);
		url[strlen(url) - 1] = '\0';
		c.url = url;
	}

#define ALLOW(mask, nargs)                                                             \
	do {                                                                           \
		if (used & ~(unsigned)(mask))                                          \
			return usage_error("%s: option not accepted here", cmd);       \
		if (npos - 1 != (nargs))                                               \
			return usage_error("%s: expected %d argument%s", cmd, (nargs), \
			    (nargs) == 1 ? "" : "s");                                  \
	} while (0)

	/* commands that never need the network */
	if (!strcmp(cmd, "address")) {
		ALLOW(0, 1);
		return cmd_address(&c, pos[1]);
	}
	if (!strcmp(cmd, "journal")) {
		ALLOW(U_FOLLOW, 0);
		return cmd_journal(&c);
	}
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}

	load_token(&c);
	rc = EXIT_USAGE;
	if (!strcmp(cmd, "status")) {
		ALLOW(0, 0);
		rc = cmd_status(&c);
	} else if (!strcmp(cmd, "health")) {
		ALLOW(0, 0);
		rc = cmd_health(&c);
	} else if (!strcmp(cmd, "stats")) {
		ALLOW(0, 0);
		rc = daemon_only(&c, "stats", "GET", "/api/metrics", NULL, NULL);
	} else if (!strcmp(cmd, "flags")) {
		ALLOW(0, 0);
		rc = cmd_flags(&c);
	} else if (!strcmp(cmd, "flag")) {
		ALLOW(U_FORCE | U_REASON, 3);
		if (strcmp(pos[1], "set") != 0)
			return usage_error("flag: only `flag set NAME VALUE` exists");
		if (flag_needs_force(pos[2], pos[3]) && !c.force)
			rc = refuse("%s=%s raises the candidate's exposure outside the plan's gates; "
			    "add --force if you mean it (or let the plan do it)", pos[2], pos[3]);
		else {
			const char *n[1] = { pos[2] }, *v[1] = { pos[3] };
			char msg[300];

			snprintf(msg, sizeof(msg), "%s = %s", pos[2], pos[3]);
			rc = set_flags(&c, "flag set", 1, n, v, msg);
		}
	} else if (!strcmp(cmd, "set-traffic")) {
		long pct;

		ALLOW(U_FORCE | U_REASON, 1);
		if (parse_pct(pos[1], &pct) != 0)
			return usage_error("set-traffic: \"%s\" is not a percentage 0..100", pos[1]);
		if (pct > 0 && !c.force) {
			rc = refuse("set-traffic %ld would route %ld%% of accounts to the hybrid "
			    "system outside the plan's gates and steps; add --force if you mean it",
			    pct, pct);
		} else {
			char v[16], msg[96];
			const char *n[2] = { "hybridTrafficPercent", "enableHybridSystem" };
			const char *vv[2] = { v, "true" };

			snprintf(v, sizeof(v), "%ld", pct);
			snprintf(msg, sizeof(msg), "hybrid traffic set to %ld%%", pct);
			rc = set_flags(&c, "set-traffic", pct > 0 ? 2 : 1, n, vv, msg);
		}
	} else if (!strcmp(cmd, "enable-parallel")) {
		const char *n[1] = { "enableParallelMode" }, *v[1] = { "true" };

		ALLOW(U_REASON, 0);
		rc = set_flags(&c, "enable-parallel", 1, n, v,
		    "parallel mode on: the hybrid system runs in shadow, legacy delivers");
	} else if (!strcmp(cmd, "switch-legacy")) {
		const char *n[2] = { "hybridTrafficPercent", "enableHybridSystem" };
		const char *v[2] = { "0", "false" };

		ALLOW(U_REASON, 0);
		rc = set_flags(&c, "switch-legacy", 2, n, v,
		    "switched to legacy: hybrid delivery off, traffic 0%");
	} else if (!strcmp(cmd, "switch-hybrid")) {
		const char *n[3] = { "emergencyRollback", "hybridTrafficPercent", "enableHybridSystem" };
		const char *v[3] = { "false", "100", "true" };

		ALLOW(U_FORCE | U_REASON, 0);
		if (!c.force)
			rc = refuse("switch-hybrid sends 100%% of alerts through the hybrid system "
			    "and clears emergencyRollback, skipping every remaining gate; add --force "
			    "if you mean it");
		else
			rc = set_flags(&c, "switch-hybrid", 3, n, v,
			    "switched to hybrid: traffic 100%, emergencyRollback cleared");
	} else if (!strcmp(cmd, "rollback")) {
		ALLOW(U_FORCE | U_REASON, 0);
		rc = cmd_rollback(&c);
	} else if ((act = operator_action(cmd)) != NULL) {
		ALLOW(U_REASON, 0);
		rc = daemon_only(&c, act->cmd, "POST", act->route,
		    json_pack("{s:s, s:s}", "who", c.who, "reason", c.reason ? c.reason : act->cmd),
		    act->done);
	} else if (!strcmp(cmd, "promote")) {
		ALLOW(U_FULL | U_REASON, 0);
		rc = daemon_only(&c, "promote", "POST", "/api/rollout/promote",
		    json_pack("{s:b, s:s, s:s}", "full", c.full, "who", c.who, "reason",
		    c.reason ? c.reason : "promote"), c.full ? "promoted (full)" : "promoted");
	} else if (!strcmp(cmd, "phase")) {
		char msg[200];

		ALLOW(U_REASON, 1);
		snprintf(msg, sizeof(msg), "phase %s entered", pos[1]);
		rc = daemon_only(&c, "phase", "POST", "/api/rollout/phase",
		    json_pack("{s:s, s:s, s:s}", "name", pos[1], "who", c.who, "reason",
		    c.reason ? c.reason : "phase"), msg);
	} else if (!strcmp(cmd, "alerts")) {
		char path[300], what[64];

		ALLOW(U_INSTANCE, 1);
		if (strcmp(pos[1], "test") && strcmp(pos[1], "stats") && strcmp(pos[1], "critical"))
			return usage_error("alerts: expected test, stats or critical");
		snprintf(path, sizeof(path), "/api/plugins/%s/%s", c.instance, pos[1]);
		snprintf(what, sizeof(what), "alerts %s", pos[1]);
		rc = daemon_only(&c, what, "POST", path,
		    json_pack("{s:s, s:s}", "arg", "", "who", c.who), NULL);
	} else {
		rc = usage_error("unknown command \"%s\"", cmd);
	}
#undef ALLOW
	return rc;
}

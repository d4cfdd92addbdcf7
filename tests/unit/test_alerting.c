/*
 * test_alerting.c — the alerting plugin through its ABI: the built .so is
 * dlopen()ed (ALERTING_SO, else <dir of argv[0]>/../plugins/alerting.so)
 * with a small host whose config accessors run over a ynode tree
 * (tests/fakes/alertdrv/testhost.h).  Peers are real: an HTTP receiver
 * on a loopback socket in a thread of this program.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <stdatomic.h>
#include <jansson.h>
#include <sodium.h>

#include "../fakes/alertdrv/testhost.h"
#include "fsutil.h"

static char so_path[4096];
static const struct rollout_plugin *P;

/* ---- helpers ---------------------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct fixture {
	char dir[64];
	char yaml[4096];
	struct testhost t;
	void *self;
	int started;
};

/* Build the host over YAML (printf format) in a fresh data dir; init the plugin. */
static int __attribute__((format(printf, 2, 3)))
fx_init(struct fixture *f, const char *fmt, ...)
{
	va_list ap;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_alerting.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	va_start(ap, fmt);
	vsnprintf(f->yaml, sizeof(f->yaml), fmt, ap);
	va_end(ap);
	assert_int_equal(testhost_init(&f->t, "alerting", f->dir, "alerting.yaml", f->yaml), 0);
	f->t.quiet = 1;
	return P->init(&f->t.host, &f->self);
}

static void
fx_start(struct fixture *f)
{
	assert_int_equal(P->start(f->self), 0);
	f->started = 1;
}

/* Stop and destroy the plugin but keep the data directory. */
static void
fx_close(struct fixture *f)
{
	if (f->self != NULL) {
		if (f->started)
			P->stop(f->self);
		P->destroy(f->self);
	}
	f->self = NULL;
	f->started = 0;
	testhost_free(&f->t);
}

static void
fx_free(struct fixture *f)
{
	fx_close(f);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static json_t *
stats(struct fixture *f)
{
	char reply[16384];

	assert_int_equal(P->command(f->self, "stats", NULL, reply, sizeof(reply)), 0);
	return json_loads(reply, 0, NULL);
}

static long long
stat_of(struct fixture *f, const char *chan, const char *field)
{
	json_t *j = stats(f);
	json_t *v = json_object_get(json_object_get(json_object_get(j, "channels"), chan), field);
	long long x;

	assert_non_null(v);
	x = json_integer_value(v);
	json_decref(j);
	return x;
}

static int
wait_idle(struct fixture *f, int ms)
{
	int64_t deadline = mono_ms() + ms;

	while (mono_ms() < deadline) {
		json_t *j = stats(f);
		long long q = json_integer_value(json_object_get(json_object_get(j, "totals"),
		    "queued"));

		json_decref(j);
		if (q == 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static int
wait_idle_channel(struct fixture *f, const char *chan, int ms)
{
	int64_t deadline = mono_ms() + ms;

	while (mono_ms() < deadline) {
		if (stat_of(f, chan, "queued") == 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static int
send_alert(struct fixture *f, const char *id, const char *key, const char *type,
    enum rollout_severity sev, int rollout)
{
	struct rollout_alert al;

	memset(&al, 0, sizeof(al));
	al.size = sizeof(al);
	snprintf(al.id, sizeof(al.id), "%s", id);
	al.key = key;
	al.type = type;
	al.severity = sev;
	al.rollout = rollout;
	al.title = "title";
	al.message = "message";
	al.time_ms = th_now_ms(NULL);
	al.account = al.label = al.amount_tokens = "";
	al.symbol = "DOT";
	al.system = "candidate";
	al.details_json = "{}";
	return P->on_alert(f->self, &al);
}

/* The ids in a JSON-lines history file, space separated, in order. */
static void
history_ids(const char *path, char *out, size_t len)
{
	char line[8192];
	FILE *fp = fopen(path, "r");

	out[0] = '\0';
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		json_t *j = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));

		if (id != NULL && strlen(out) + strlen(id) + 2 < len) {
			if (out[0])
				strcat(out, " ");
			strcat(out, id);
		}
		json_decref(j);
	}
	fclose(fp);
}

static json_t *
history_last(const char *path)
{
	char line[8192], last[8192] = "";
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return NULL;
	while (fgets(line, sizeof(line), fp) != NULL)
		memcpy(last, line, sizeof(last));
	fclose(fp);
	return json_loads(last, 0, NULL);
}

static size_t
count_dir(const char *dir, const char *suffix)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), s = strlen(suffix);

		if (de->d_name[0] != '.' && l >= s && strcmp(de->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---- a loopback HTTP receiver ------------------------------------------------ */

struct receiver {
	int fd;
	int port;
	int hang;               /* accept and read, never answer */
	int delay_ms;           /* answer each request this late */
	pthread_t thread;
	pthread_mutex_t mu;
	int requests;
	char headers[4096];
	char body[8192];
	char ids[4096];         /* X-Rollout-Alert-Id of every request, in order */
	atomic_int quit;
};

static void *
receiver_main(void *arg)
{
	struct receiver *r = arg;

	while (!atomic_load(&r->quit)) {
		char buf[16384];
		size_t len = 0;
		char *end = NULL, *cl;
		long clen = 0;
		int c = accept(r->fd, NULL, NULL);

		if (c < 0)
			continue;
		while (len < sizeof(buf) - 1) {
			ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);

			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
				cl = strcasestr(buf, "content-length:");
				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
			}
			if (end != NULL && len >= (size_t)(end + 4 - buf) + (size_t)clen)
				break;
		}
		if (end != NULL) {
			pthread_mutex_lock(&r->mu);
			r->requests++;
			snprintf(r->headers, sizeof(r->headers), "%.*s", (int)(end - buf), buf);
			snprintf(r->body, sizeof(r->body), "%s", end + 4);
			{
				char *h = strcasestr(r->headers, "\r\nX-Rollout-Alert-Id: ");
				size_t n = h ? strcspn(h + 22, "\r\n") : 0, l = strlen(r->ids);

				if (h != NULL && l + n + 2 < sizeof(r->ids)) {
					if (l > 0)
						r->ids[l++] = ' ';
					memcpy(r->ids + l, h + 22, n);
					r->ids[l + n] = '\0';
				}
			}
			pthread_mutex_unlock(&r->mu);
		}
		if (r->hang) {
			while (!atomic_load(&r->quit))
				sleep_ms(20);
		} else {
			if (r->delay_ms > 0)
				sleep_ms(r->delay_ms);
			const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

			if (send(c, ok, strlen(ok), MSG_NOSIGNAL) < 0)
				break;
		}
		close(c);
	}
	return NULL;
}

static void
receiver_start(struct receiver *r, int hang)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct timeval tv = { 0, 100000 };

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->hang = hang;
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->fd, 16), 0);
	getsockname(r->fd, (struct sockaddr *)&sa, &sl);
	r->port = ntohs(sa.sin_port);
	/* accept() wakes up now and then to see `quit` */
	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(pthread_create(&r->thread, NULL, receiver_main, r), 0);
}

static void
receiver_stop(struct receiver *r)
{
	atomic_store(&r->quit, 1);
	pthread_join(r->thread, NULL);
	close(r->fd);
	pthread_mutex_destroy(&r->mu);
}

/*
 * A loopback port where a connection is refused for sure: a socket bound
 * to it but not listening holds the port, so nothing else can take it.
 */
static int dead_fd = -1, dead_port;

static void
dead_port_open(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	dead_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(dead_fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(dead_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(dead_fd, (struct sockaddr *)&sa, &sl);
	dead_port = ntohs(sa.sin_port);
}

/* ---- tests: configuration ---------------------------------------------------- */

static void
expect_config_error(const char *yaml, const char *want)
{
	struct fixture f;
	int rc = fx_init(&f, "%s", yaml);

	if (rc != -EINVAL || strstr(f.t.last_error, want) == NULL)
		fail_msg("rc %d, error [%s], wanted [%s]", rc, f.t.last_error, want);
	assert_null(f.self);
	fx_free(&f);
}

static void
init__bad_config__error_names_file_line_column(void **state)
{
	(void)state;
	unsetenv("WEBHOOK_URL");
	unsetenv("SMTP_HOST");
	unsetenv("ALERT_EMAIL");
	expect_config_error("channels:\n  - webhook:\n      urll: http://x/\n",
	    "alerting.yaml:3:13: alerting: webhook: unknown key \"urll\"");
	expect_config_error("channels:\n  - webhook: {}\n",
	    "alerting.yaml:2:14: alerting: webhook: no url: set `url:` or the WEBHOOK_URL");
	expect_config_error("channels:\n  - file: { min_severity: loud }\n",
	    "alerting.yaml:2:27: alerting: file: min_severity: expected info, warning or critical,"
	    " got \"loud\"");
	expect_config_error("channels:\n  - stdout: { route: whales }\n",
	    "alerting.yaml:2:22: alerting: stdout: route: expected all, whale or rollout");
	expect_config_error("channels:\n  - email: { url: \"smtp://h\", to: a@b, pass: x }\n",
	    "alerting.yaml:2:46: alerting: email: \"pass\": secrets come only from the environment");
	expect_config_error("channels:\n  - email: { url: \"smtp://h\" }\n",
	    "email: no recipient: set `to:` or the ALERT_EMAIL environment variable");
	expect_config_error("channels:\n  - email: { url: \"smtp://h\", to: \"nobody\" }\n",
	    "email: to: \"nobody\" is not an address");
	expect_config_error("throttle: ten in 5m\nchannels: [ file ]\n",
	    "alerting.yaml:1:11: alerting: throttle: expected \"N in DURATION\"");
	expect_config_error("channels: [ pager ]\n",
	    "alerting.yaml:1:13: alerting: channels[0]: unknown channel \"pager\"");
	expect_config_error("channels:\n  - webhook: { url: \"http://h/\", secret_env: NO_SUCH_VAR_X }\n",
	    "webhook: secret_env: environment variable NO_SUCH_VAR_X is not set");
	expect_config_error("channels: [ file, { file: { name: file } } ]\n",
	    "channel name \"file\" is used twice");
	expect_config_error("retry: { initial: 5s, max: 1s }\nchannels: [ file ]\n",
	    "retry: need 0 < initial <= max");
	expect_config_error("dedup_window: 10\nchannels: [ file ]\n", "alerting.yaml:1:15:");
}

static void
init__no_channels_key__history_file_and_env_channels(void **state)
{
	struct fixture f;
	json_t *j, *ch;

	(void)state;
	setenv("WEBHOOK_URL", "http://127.0.0.1:9/hook", 1);
	setenv("SMTP_HOST", "127.0.0.1:9", 1);
	setenv("ALERT_EMAIL", "a@example.com,b@example.com", 1);
	assert_int_equal(fx_init(&f, "dedup_window: 1m\n"), 0);
	j = stats(&f);
	ch = json_object_get(j, "channels");
	assert_int_equal(json_object_size(ch), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "file"), "type")),
	    "file");
	assert_non_null(json_object_get(ch, "webhook"));
	assert_non_null(json_object_get(ch, "email"));
	json_decref(j);
	fx_free(&f);
	unsetenv("WEBHOOK_URL");
	unsetenv("SMTP_HOST");
	unsetenv("ALERT_EMAIL");
}

/* ---- tests: routing, dedup, throttle ------------------------------------------ */

static void
on_alert__filters__severity_route_and_critical_bypass(void **state)
{
	struct fixture f;
	char path[256], ids[4096];

	(void)state;
	assert_int_equal(fx_init(&f,
	    "throttle: off\n"
	    "channels:\n"
	    "  - file: { name: all, path: all.jsonl }\n"
	    "  - file: { name: crit, path: crit.jsonl, min_severity: critical }\n"
	    "  - file: { name: whale, path: whale.jsonl, route: whale, min_severity: warning }\n"
	    "  - file: { name: rollout, path: rollout.jsonl, route: rollout }\n"), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "a1", "k1", "large_movement", ROLLOUT_SEV_INFO, 0), 0);
	assert_int_equal(send_alert(&f, "a2", "k2", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "a3", "k3", "rollout.phase", ROLLOUT_SEV_INFO, 1), 0);
	assert_int_equal(send_alert(&f, "a4", "k4", "large_movement", ROLLOUT_SEV_CRITICAL, 0), 0);
	/* a critical rollout event reaches every channel, whatever the filters */
	assert_int_equal(send_alert(&f, "a5", "k5", "rollout.rollback", ROLLOUT_SEV_INFO, 1), 0);
	/* the runner's own notification name for it (rollout = 1), but not a whale alert's */
	assert_int_equal(send_alert(&f, "a6", "k6", "emergency_rollback", ROLLOUT_SEV_INFO, 1), 0);
	assert_int_equal(send_alert(&f, "a7", "k7", "rollback", ROLLOUT_SEV_INFO, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	snprintf(path, sizeof(path), "%s/all.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "a1 a2 a3 a4 a5 a6 a7");
	snprintf(path, sizeof(path), "%s/crit.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "a4 a5 a6");
	snprintf(path, sizeof(path), "%s/whale.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "a2 a4 a5 a6");
	snprintf(path, sizeof(path), "%s/rollout.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "a3 a5 a6");
	assert_int_equal(stat_of(&f, "all", "sent"), 7);
	assert_int_equal(th_metric_get(&f.t, "alerting.delivered").count, 17);
	assert_int_equal(th_metric_get(&f.t, "alerting.all.delivered").count, 7);
	fx_free(&f);
}

static void
on_alert__same_key__deduped_within_window_only(void **state)
{
	struct fixture f;
	char path[256], ids[4096];

	(void)state;
	assert_int_equal(fx_init(&f, "dedup_window: 300ms\nchannels: [ file ]\n"), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "d1", "same", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "d2", "same", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	/* no key: the id is the key, so a re-delivery of the same alert is dropped */
	assert_int_equal(send_alert(&f, "d3", "", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "d3", "", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	sleep_ms(400);
	assert_int_equal(send_alert(&f, "d4", "same", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	snprintf(path, sizeof(path), "%s/alerts/history.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "d1 d3 d4");
	assert_int_equal(stat_of(&f, "file", "deduped"), 2);
	fx_free(&f);
}

static void
on_alert__over_limit__throttled_then_summary(void **state)
{
	struct fixture f;
	char path[256], ids[4096];
	json_t *last, *details;
	int64_t deadline;

	(void)state;
	assert_int_equal(fx_init(&f, "throttle: \"3 in 2s\"\nchannels: [ file ]\n"), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "t1", "1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "t2", "2", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "t3", "3", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "t4", "4", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "t5", "5", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	/* another severity is another bucket; critical rollout events are never throttled */
	assert_int_equal(send_alert(&f, "t6", "6", "large_movement", ROLLOUT_SEV_CRITICAL, 0), 0);
	assert_int_equal(send_alert(&f, "r1", "r1", "rollout.trigger", ROLLOUT_SEV_WARNING, 1), 0);
	assert_int_equal(send_alert(&f, "r2", "r2", "rollout.trigger", ROLLOUT_SEV_WARNING, 1), 0);
	assert_int_equal(send_alert(&f, "r3", "r3", "rollout.trigger", ROLLOUT_SEV_WARNING, 1), 0);
	assert_int_equal(send_alert(&f, "r4", "r4", "rollout.trigger", ROLLOUT_SEV_WARNING, 1), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	assert_int_equal(stat_of(&f, "file", "throttled"), 2);
	snprintf(path, sizeof(path), "%s/alerts/history.jsonl", f.dir);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "t1 t2 t3 t6 r1 r2 r3 r4");
	/* once the window has passed, one summary says what was held back */
	deadline = mono_ms() + 5000;
	while (stat_of(&f, "file", "sent") < 9 && mono_ms() < deadline)
		sleep_ms(50);
	assert_int_equal(stat_of(&f, "file", "sent"), 9);
	last = history_last(path);
	assert_non_null(last);
	assert_string_equal(json_string_value(json_object_get(last, "type")), "alerting.throttled");
	assert_string_equal(json_string_value(json_object_get(last, "severity")), "warning");
	assert_string_equal(json_string_value(json_object_get(last, "title")),
	    "2 large_movement alert(s) throttled");
	details = json_object_get(last, "details");
	assert_int_equal(json_integer_value(json_object_get(details, "throttled")), 2);
	assert_string_equal(json_string_value(json_object_get(details, "type")), "large_movement");
	assert_int_equal(json_integer_value(json_object_get(details, "limit")), 3);
	json_decref(last);
	/* the bucket accepts again */
	assert_int_equal(send_alert(&f, "t7", "7", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	assert_int_equal(stat_of(&f, "file", "throttled"), 2);
	assert_int_equal(stat_of(&f, "file", "sent"), 10);
	fx_free(&f);
}

static void
stdout_channel__text_and_json__one_line_each(void **state)
{
	struct fixture f;
	char path[256], *text = NULL;
	int fd, saved;

	(void)state;
	assert_int_equal(fx_init(&f, "channels:\n  - stdout: {}\n"
	    "  - stdout: { name: json, format: json, min_severity: critical }\n"), 0);
	snprintf(path, sizeof(path), "%s/stdout.txt", f.dir);
	fflush(stdout);
	saved = dup(1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "s1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "s2", "k2", "large_movement", ROLLOUT_SEV_CRITICAL, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	assert_int_equal(fs_read_all(path, 1 << 20, &text, NULL), 0);
	/* text lines for both, one JSON line for the critical one */
	assert_non_null(strstr(text, " ALERT warning large_movement: title — message [id s1]\n"));
	assert_non_null(strstr(text, " ALERT critical large_movement: title — message [id s2]\n"));
	assert_non_null(strstr(text, "{\"id\":\"s2\",\"key\":\"k2\",\"type\":\"large_movement\""));
	assert_null(strstr(text, "{\"id\":\"s1\""));
	free(text);
	fx_free(&f);
}

/* ---- tests: outbox ----------------------------------------------------------- */

static void
on_alert__peer_down__entry_on_disk_before_return(void **state)
{
	struct fixture f;
	char dir[256], path[512], *text = NULL;
	json_t *doc;
	struct dirent *de;
	DIR *d;

	(void)state;
	/* nothing listens: every attempt fails */
	assert_int_equal(fx_init(&f, "retry: { initial: 10s, max: 1m }\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/x\" } } ]\n", dead_port), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "0123456789abcdef0123456789abcdef", "k", "large_movement",
	    ROLLOUT_SEV_WARNING, 0), 0);
	snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", f.dir);
	assert_int_equal(count_dir(dir, ".json"), 1);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	closedir(d);
	assert_non_null(strstr(path, "-0123456789abcdef0123456789abcdef.json"));
	assert_int_equal(fs_read_all(path, 1 << 20, &text, NULL), 0);
	doc = json_loads(text, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "alert"), "id")),
	    "0123456789abcdef0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(doc, "channel")), "webhook");
	json_decref(doc);
	free(text);
	/* the first attempt fails and the entry stays */
	while (stat_of(&f, "webhook", "failed") < 1)
		sleep_ms(10);
	assert_int_equal(stat_of(&f, "webhook", "queued"), 1);
	assert_int_equal(count_dir(dir, ".json"), 1);
	fx_free(&f);
}

static void
on_alert__hostile_id_no_time__safe_file_name_and_now(void **state)
{
	struct fixture f;
	struct rollout_alert al;
	char dir[256], path[256];
	json_t *last;
	int64_t before = th_now_ms(NULL);

	(void)state;
	assert_int_equal(fx_init(&f, "retry: { initial: 10s, max: 1m }\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/x\" } }, file ]\n", dead_port), 0);
	memset(&al, 0, sizeof(al));
	al.size = sizeof(al);
	snprintf(al.id, sizeof(al.id), "../../../etc/x y");
	al.key = al.type = al.title = al.message = al.account = al.label = "";
	al.amount_tokens = al.symbol = al.system = "";
	al.details_json = "not json";
	assert_int_equal(P->on_alert(f.self, &al), 0);
	snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", f.dir);
	assert_int_equal(count_dir(dir, "-_________etc_x_y.json"), 1);
	fx_start(&f);
	assert_int_equal(wait_idle_channel(&f, "file", 5000), 0);
	snprintf(path, sizeof(path), "%s/alerts/history.jsonl", f.dir);
	last = history_last(path);
	assert_non_null(last);
	/* the id is kept as given in the payload; only the file name is cleaned */
	assert_string_equal(json_string_value(json_object_get(last, "id")), "../../../etc/x y");
	assert_true(json_integer_value(json_object_get(last, "time_ms")) >= before);
	assert_string_equal(json_string_value(json_object_get(json_object_get(last, "details"),
	    "raw")), "not json");
	json_decref(last);
	fx_free(&f);
}

static void
init__outbox_left_behind__replayed_in_order(void **state)
{
	struct fixture f;
	char dir[256], path[512], ids[4096], keep[sizeof(f.dir)];

	(void)state;
	/* first life: the peer is down, three alerts stay in the outbox */
	assert_int_equal(fx_init(&f, "retry: { initial: 10s, max: 1m }\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/x\" } } ]\n", dead_port), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "r1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "r2", "k2", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "r3", "k3", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	snprintf(keep, sizeof(keep), "%s", f.dir);
	fx_close(&f);
	snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", keep);
	assert_int_equal(count_dir(dir, ".json"), 3);
	/* debris: an unfinished write and a corrupt entry */
	snprintf(path, sizeof(path), "%s/9999999999999-0000000009-x.json.tmp.123", dir);
	assert_int_equal(fs_write_atomic(path, "{", 1, 0600), 0);
	snprintf(path, sizeof(path), "%s/9999999999999-0000000010-y.json", dir);
	assert_int_equal(fs_write_atomic(path, "{not json", 9, 0600), 0);

	/* second life: the channel is now a file under the same name */
	memset(&f.t, 0, sizeof(f.t));
	assert_int_equal(testhost_init(&f.t, "alerting", keep, "alerting.yaml",
	    "channels: [ { file: { name: webhook, path: out.jsonl } } ]\n"), 0);
	f.t.quiet = 1;
	assert_int_equal(P->init(&f.t.host, &f.self), 0);
	assert_non_null(strstr(f.t.log_text, "webhook: replaying 3 alert(s)"));
	assert_non_null(strstr(f.t.log_text, "not an outbox entry"));
	assert_int_equal(count_dir(dir, ".tmp.123"), 0);
	assert_int_equal(count_dir(dir, ".bad"), 1);
	assert_int_equal(stat_of(&f, "webhook", "queued"), 3);
	/* the runner sending one of them again after the restart: a duplicate */
	assert_int_equal(send_alert(&f, "r2-again", "k2", "large_movement", ROLLOUT_SEV_WARNING, 0),
	    0);
	assert_int_equal(stat_of(&f, "webhook", "deduped"), 1);
	fx_start(&f);
	assert_int_equal(wait_idle(&f, 5000), 0);
	snprintf(path, sizeof(path), "%s/out.jsonl", keep);
	history_ids(path, ids, sizeof(ids));
	assert_string_equal(ids, "r1 r2 r3");
	assert_int_equal(count_dir(dir, ".json"), 0);
	fx_free(&f);
}

/* ---- tests: webhook over a real socket ------------------------------------------ */

static void
webhook__secret__signed_body_and_id_header(void **state)
{
	struct fixture f;
	struct receiver r;
	crypto_auth_hmacsha256_state st;
	unsigned char mac[32];
	char hex[65], want[128], *sig;
	json_t *body;

	(void)state;
	receiver_start(&r, 0);
	setenv("TEST_HOOK_SECRET", "Jefe", 1);
	assert_int_equal(fx_init(&f, "channels:\n  - webhook: { url: \"http://127.0.0.1:%d/in\","
	    " format: json, secret_env: TEST_HOOK_SECRET }\n", r.port), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "feedfacefeedfacefeedfacefeedface", "k", "large_movement",
	    ROLLOUT_SEV_CRITICAL, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	pthread_mutex_lock(&r.mu);
	assert_int_equal(r.requests, 1);
	assert_non_null(strstr(r.headers, "POST /in HTTP/1.1\r\n"));
	assert_non_null(strstr(r.headers, "\r\nX-Rollout-Alert-Id: feedfacefeedfacefeedfacefeedface\r\n"));
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)"Jefe", 4);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)r.body, strlen(r.body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(want, sizeof(want), "X-Rollout-Signature: sha256=%s\r\n", hex);
	sig = strstr(r.headers, "X-Rollout-Signature: ");
	assert_non_null(sig);
	assert_memory_equal(sig, want, strlen(want) - 2);
	body = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(body, "id")),
	    "feedfacefeedfacefeedfacefeedface");
	json_decref(body);
	pthread_mutex_unlock(&r.mu);
	fx_free(&f);
	receiver_stop(&r);
	unsetenv("TEST_HOOK_SECRET");
}

static void
stop__peer_hangs__returns_promptly(void **state)
{
	struct fixture f;
	struct receiver r;
	int64_t t0;

	(void)state;
	receiver_start(&r, 1);
	assert_int_equal(fx_init(&f, "stop_drain: 500ms\nchannels:\n  - webhook: { url: \"http://127.0.0.1:%d/in\","
	    " timeout: 60s }\n", r.port), 0);
	fx_start(&f);
	assert_int_equal(send_alert(&f, "h1", "k", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	while (1) {
		int n;

		pthread_mutex_lock(&r.mu);
		n = r.requests;
		pthread_mutex_unlock(&r.mu);
		if (n > 0)
			break;
		sleep_ms(10);
	}
	t0 = mono_ms();
	P->stop(f.self);
	f.started = 0;
	assert_true(mono_ms() - t0 < 3000);
	fx_free(&f);
	receiver_stop(&r);
}

/*
 * stop_drain: alerts due at the stop are delivered before it (the peer
 * answers each after 150 ms); with stop_drain 0 the stop leaves them in the
 * outbox for the next start.
 */
static void
stop__drain__due_alerts_delivered_first(void **state)
{
	static const int drains[] = { 3000, 0 };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct fixture f;
		struct receiver r;
		char dir[4200];
		int n;

		receiver_start(&r, 0);
		r.delay_ms = 150;
		assert_int_equal(fx_init(&f, "stop_drain: %dms\nchannels:\n  - webhook: { url:"
		    " \"http://127.0.0.1:%d/in\", timeout: 10s }\n", drains[k], r.port), 0);
		fx_start(&f);
		for (int i = 0; i < 4; i++) {
			char id[16], key[16];

			snprintf(id, sizeof(id), "d%d", i);
			snprintf(key, sizeof(key), "k%d", i);
			assert_int_equal(send_alert(&f, id, key, "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
		}
		P->stop(f.self);
		f.started = 0;
		pthread_mutex_lock(&r.mu);
		n = r.requests;
		pthread_mutex_unlock(&r.mu);
		snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", f.dir);
		if (drains[k] > 0) {
			assert_int_equal(n, 4);
			assert_int_equal(count_dir(dir, ".json"), 0);
		} else {
			assert_true(n < 4);
			assert_true(count_dir(dir, ".json") >= 1);
			assert_non_null(strstr(f.t.log_text, "delivered at the next start"));
		}
		fx_free(&f);
		receiver_stop(&r);
	}
}

/* ---- tests: the disk refuses the outbox ------------------------------------------ */

/* Make DIR unusable as a directory even for root: an empty directory becomes a file (ENOTDIR). */
static void
dir_to_file(const char *dir)
{
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(fs_write_atomic(dir, "x", 1, 0600), 0);
}

static long long
total_of(struct fixture *f, const char *field)
{
	json_t *j = stats(f);
	long long x = json_integer_value(json_object_get(json_object_get(j, "totals"), field));

	json_decref(j);
	return x;
}

/* Poll until stats' CHAN.FIELD == WANT; 0, or -1 after MS. */
static int
wait_stat(struct fixture *f, const char *chan, const char *field, long long want, int ms)
{
	int64_t deadline = mono_ms() + ms;

	while (mono_ms() < deadline) {
		if (stat_of(f, chan, field) == want)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static void
receiver_ids(struct receiver *r, char *out, size_t len)
{
	pthread_mutex_lock(&r->mu);
	snprintf(out, len, "%s", r->ids);
	pthread_mutex_unlock(&r->mu);
}

static int
wait_receiver_ids(struct receiver *r, const char *want, int ms)
{
	int64_t deadline = mono_ms() + ms;
	char ids[4096];

	while (mono_ms() < deadline) {
		receiver_ids(r, ids, sizeof(ids));
		if (strcmp(ids, want) == 0)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

/*
 * The outboxes become files (ENOTDIR) and history.jsonl a directory
 * (EISDIR): alerts are still accepted, the webhook gets them at once from
 * memory, the file channel keeps its lines without spinning; the outbox
 * comes back first (the memory-only entries become files in it, durable),
 * then history.jsonl (the lines are appended in order, once each).
 */
static void
outbox_unwritable__delivered_from_memory_then_durable_in_order(void **state)
{
	struct fixture f;
	struct receiver r;
	char hook_dir[256], file_dir[256], hist[256], keep[256], ids[4096];
	struct th_metric m;
	long long failed;

	(void)state;
	receiver_start(&r, 0);
	assert_int_equal(fx_init(&f, "retry: { initial: 100ms, max: 1m, jitter: false }\n"
	    "channels:\n  - webhook: { url: \"http://127.0.0.1:%d/in\", format: json }\n"
	    "  - file\n", r.port), 0);
	fx_start(&f);
	snprintf(hook_dir, sizeof(hook_dir), "%s/alerts/outbox/webhook", f.dir);
	snprintf(file_dir, sizeof(file_dir), "%s/alerts/outbox/file", f.dir);
	snprintf(hist, sizeof(hist), "%s/alerts/history.jsonl", f.dir);
	snprintf(keep, sizeof(keep), "%s/alerts/history.keep", f.dir);
	assert_int_equal(send_alert(&f, "d0", "k0", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);

	/* the disk refuses: outboxes are files, the history is a directory */
	dir_to_file(hook_dir);
	dir_to_file(file_dir);
	assert_int_equal(rename(hist, keep), 0);
	assert_int_equal(mkdir(hist, 0700), 0);
	assert_int_equal(send_alert(&f, "d1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "d2", "k2", "large_movement", ROLLOUT_SEV_CRITICAL, 0), 0);
	assert_int_equal(send_alert(&f, "d3", "k3", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_non_null(strstr(f.t.log_text, "not writable (Not a directory): alert d1 kept in"
	    " memory only"));
	assert_null(strstr(f.t.log_text, "alert d2 kept in memory only and delivered anyway"));
	assert_non_null(strstr(f.t.log_text, "Not a directory"));
	/* the webhook delivers from memory, same ids, nothing left to persist there */
	assert_int_equal(wait_receiver_ids(&r, "d0 d1 d2 d3", 5000), 0);
	assert_int_equal(wait_stat(&f, "webhook", "queued", 0, 5000), 0);
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 0);
	/* the file channel holds its three lines in memory and retries calmly */
	sleep_ms(1500);
	assert_int_equal(stat_of(&f, "file", "queued"), 3);
	assert_int_equal(stat_of(&f, "file", "unpersisted"), 3);
	assert_int_equal(total_of(&f, "unpersisted"), 3);
	{
		json_t *j = stats(&f);

		assert_string_equal(json_string_value(json_object_get(json_object_get(
		    json_object_get(j, "channels"), "file"), "outbox_error")), "Not a directory");
		json_decref(j);
	}
	failed = stat_of(&f, "file", "failed");
	assert_true(failed >= 1 && failed <= 8);
	m = th_metric_get(&f.t, "alerting.unpersisted");
	assert_true(m.count >= 1);
	assert_true(m.last == 3.0);
	m = th_metric_get(&f.t, "alerting.file.unpersisted");
	assert_true(m.last == 3.0);

	/* the outbox comes back (even without its directory): the three become files */
	assert_int_equal(unlink(file_dir), 0);
	assert_int_equal(wait_stat(&f, "file", "unpersisted", 0, 3000), 0);
	assert_int_equal(count_dir(file_dir, ".json"), 3);
	assert_non_null(strstr(f.t.log_text, "writable again"));
	m = th_metric_get(&f.t, "alerting.unpersisted");
	assert_true(m.last == 0.0);
	assert_int_equal(stat_of(&f, "file", "queued"), 3);

	/* the history comes back: appended in order, once each, the outbox drains */
	assert_int_equal(rmdir(hist), 0);
	assert_int_equal(rename(keep, hist), 0);
	assert_int_equal(wait_stat(&f, "file", "queued", 0, 3000), 0);
	history_ids(hist, ids, sizeof(ids));
	assert_string_equal(ids, "d0 d1 d2 d3");
	assert_int_equal(count_dir(file_dir, ".json"), 0);
	receiver_ids(&r, ids, sizeof(ids));
	assert_string_equal(ids, "d0 d1 d2 d3");
	/* the webhook's outbox is still a file: nothing was ever written there */
	assert_int_equal(unlink(hook_dir), 0);
	fx_free(&f);
	receiver_stop(&r);
}

/*
 * Beyond max_unpersisted an alert is refused with a clear error; entries
 * written once the disk is back survive a restart; an entry still memory-only
 * at stop is written then if it can be, else logged by id.
 */
static void
outbox_unwritable__bound_stop_and_restart(void **state)
{
	struct fixture f;
	struct receiver r;
	char dir[256], away[256], keep[sizeof(f.dir)];
	int rc;

	(void)state;
	assert_int_equal(fx_init(&f, "retry: { initial: 10s, max: 1m }\nmax_unpersisted: 2\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/x\" } } ]\n", dead_port), 0);
	fx_start(&f);
	snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", f.dir);
	snprintf(away, sizeof(away), "%s/alerts/outbox/webhook.away", f.dir);
	dir_to_file(dir);
	assert_int_equal(send_alert(&f, "e1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(send_alert(&f, "e2", "k2", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	rc = send_alert(&f, "e3", "k3", "large_movement", ROLLOUT_SEV_WARNING, 0);
	assert_int_equal(rc, -ENOTDIR);
	assert_non_null(strstr(f.t.last_error, "2 alerts held in memory only (max_unpersisted)"));
	assert_non_null(strstr(f.t.last_error, "refusing alert e3"));
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 2);
	assert_int_equal(stat_of(&f, "webhook", "queued"), 2);

	/* back: both become files while the peer is still down */
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(wait_stat(&f, "webhook", "unpersisted", 0, 3000), 0);
	assert_int_equal(count_dir(dir, ".json"), 2);
	/* gone again (the directory moved away), one more alert, then stop */
	assert_int_equal(rename(dir, away), 0);
	assert_int_equal(fs_write_atomic(dir, "x", 1, 0600), 0);
	assert_int_equal(send_alert(&f, "e4", "k4", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 1);
	snprintf(keep, sizeof(keep), "%s", f.dir);
	P->stop(f.self);
	f.started = 0;
	assert_non_null(strstr(f.t.log_text, "alert e4 (large_movement, title) not delivered and"
	    " not in the outbox"));
	assert_non_null(strstr(f.t.log_text, "1 undelivered alert(s) could not be written"));
	fx_close(&f);
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(rename(away, dir), 0);

	/* second life: the two written ones are delivered, e4 was lost (and said so) */
	receiver_start(&r, 0);
	memset(&f.t, 0, sizeof(f.t));
	snprintf(f.dir, sizeof(f.dir), "%s", keep);
	{
		char yaml[256];

		snprintf(yaml, sizeof(yaml), "channels: [ { webhook: { url: "
		    "\"http://127.0.0.1:%d/in\" } } ]\n", r.port);
		assert_int_equal(testhost_init(&f.t, "alerting", keep, "alerting.yaml", yaml), 0);
		f.t.quiet = 1;
	}
	assert_int_equal(P->init(&f.t.host, &f.self), 0);
	fx_start(&f);
	assert_int_equal(wait_receiver_ids(&r, "e1 e2", 5000), 0);
	assert_int_equal(wait_idle(&f, 5000), 0);
	assert_int_equal(count_dir(dir, ".json"), 0);
	fx_free(&f);
	receiver_stop(&r);
}

/*
 * An entry still memory-only at stop is logged by id and stays queued in
 * memory; started again once the disk is back, it is written to the outbox.
 */
static void
stop_start__outbox_back__memory_only_written(void **state)
{
	struct fixture f;
	char dir[256];

	(void)state;
	assert_int_equal(fx_init(&f, "retry: { initial: 10s, max: 1m }\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/x\" } } ]\n", dead_port), 0);
	snprintf(dir, sizeof(dir), "%s/alerts/outbox/webhook", f.dir);
	dir_to_file(dir);
	/* accepted before start: no thread retries it yet */
	assert_int_equal(send_alert(&f, "s1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 1);
	fx_start(&f);
	P->stop(f.self);
	f.started = 0;
	assert_non_null(strstr(f.t.log_text, "alert s1 (large_movement, title) not delivered"));
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	fx_start(&f);
	P->stop(f.self);
	f.started = 0;
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 0);
	assert_int_equal(count_dir(dir, ".json"), 1);
	fx_free(&f);
}

/* Started on a disk where the outbox cannot even be created: alerts still go out. */
static void
init__outbox_cannot_be_created__starts_and_delivers_from_memory(void **state)
{
	struct fixture f;
	struct receiver r;
	char blocker[] = "/tmp/test_alerting_blocker.XXXXXX", dir[128];
	int fd;

	(void)state;
	fd = mkstemp(blocker);
	assert_true(fd >= 0);
	close(fd);
	receiver_start(&r, 0);
	assert_int_equal(fx_init(&f, "outbox_dir: \"%s/outbox\"\n"
	    "channels: [ { webhook: { url: \"http://127.0.0.1:%d/in\" } } ]\n", blocker, r.port), 0);
	assert_non_null(strstr(f.t.log_text, "cannot be created: Not a directory"));
	fx_start(&f);
	assert_int_equal(send_alert(&f, "g1", "k1", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	assert_int_equal(wait_receiver_ids(&r, "g1", 5000), 0);
	assert_int_equal(wait_stat(&f, "webhook", "queued", 0, 5000), 0);
	assert_int_equal(stat_of(&f, "webhook", "unpersisted"), 0);
	/* the disk is fine again: the next alert is on disk before on_alert returns */
	assert_int_equal(unlink(blocker), 0);
	assert_int_equal(mkdir(blocker, 0700), 0);
	P->stop(f.self);
	f.started = 0;
	assert_int_equal(send_alert(&f, "g2", "k2", "large_movement", ROLLOUT_SEV_WARNING, 0), 0);
	snprintf(dir, sizeof(dir), "%s/outbox/webhook", blocker);
	assert_int_equal(count_dir(dir, "-g2.json"), 1);
	assert_non_null(strstr(f.t.log_text, "writable again"));
	fx_free(&f);
	nftw(blocker, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	receiver_stop(&r);
}

/* ---- tests: commands ------------------------------------------------------------ */

static void
command__test_stats_unknown(void **state)
{
	struct fixture f;
	char reply[8192], small[8], small_url[64];
	json_t *j, *ch;

	(void)state;
	assert_int_equal(fx_init(&f, "channels:\n"
	    "  - file: { min_severity: critical, route: whale }\n"
	    "  - webhook: { name: down, url: \"http://127.0.0.1:%d/x\", timeout: 1s }\n"
	    "retry: { initial: 10s, max: 1m }\ntest_timeout: 1s\n", dead_port), 0);
	fx_start(&f);
	/* test goes through every channel, filters or not, and reports each */
	assert_int_equal(P->command(f.self, "test", "hello from the test", reply, sizeof(reply)), 0);
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	assert_false(json_is_true(json_object_get(j, "ok")));
	ch = json_object_get(j, "channels");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "file"), "result")),
	    "sent");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "down"), "result")),
	    "failed");
	snprintf(small_url, sizeof(small_url), "127.0.0.1:%d", dead_port);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(ch, "down"),
	    "error")), small_url));
	json_decref(j);
	assert_int_equal(P->command(f.self, "critical", NULL, reply, sizeof(reply)), 0);
	j = json_loads(reply, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "test.critical");
	ch = json_object_get(j, "channels");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "file"), "result")),
	    "sent");
	/* behind the first test alert, which waits 10s for its retry */
	assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "down"), "result")),
	    "queued");
	json_decref(j);
	j = stats(&f);
	ch = json_object_get(json_object_get(j, "channels"), "down");
	assert_int_equal(json_integer_value(json_object_get(ch, "queued")), 2);
	assert_true(json_integer_value(json_object_get(ch, "failed")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "sent")), 2);
	json_decref(j);
	assert_int_equal(P->command(f.self, "frobnicate", NULL, reply, sizeof(reply)), -ENOTSUP);
	assert_int_equal(P->command(f.self, "stats", NULL, small, sizeof(small)), -ENOSPC);
	fx_free(&f);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init__bad_config__error_names_file_line_column),
		cmocka_unit_test(init__no_channels_key__history_file_and_env_channels),
		cmocka_unit_test(on_alert__filters__severity_route_and_critical_bypass),
		cmocka_unit_test(on_alert__same_key__deduped_within_window_only),
		cmocka_unit_test(on_alert__over_limit__throttled_then_summary),
		cmocka_unit_test(stdout_channel__text_and_json__one_line_each),
		cmocka_unit_test(on_alert__peer_down__entry_on_disk_before_return),
		cmocka_unit_test(on_alert__hostile_id_no_time__safe_file_name_and_now),
		cmocka_unit_test(init__outbox_left_behind__replayed_in_order),
		cmocka_unit_test(webhook__secret__signed_body_and_id_header),
		cmocka_unit_test(stop__peer_hangs__returns_promptly),
		cmocka_unit_test(stop__drain__due_alerts_delivered_first),
		cmocka_unit_test(command__test_stats_unknown),
		cmocka_unit_test(outbox_unwritable__delivered_from_memory_then_durable_in_order),
		cmocka_unit_test(outbox_unwritable__bound_stop_and_restart),
		cmocka_unit_test(stop_start__outbox_back__memory_only_written),
		cmocka_unit_test(init__outbox_cannot_be_created__starts_and_delivers_from_memory),
	};
	rollout_plugin_entry_fn entry;
	void *dl;
	int rc;

	(void)argc;
	if (getenv("ALERTING_SO") != NULL) {
		snprintf(so_path, sizeof(so_path), "%s", getenv("ALERTING_SO"));
	} else {
		char self[4096];

		snprintf(self, sizeof(self), "%s", argv[0]);
		snprintf(so_path, sizeof(so_path), "%s/../plugins/alerting.so", dirname(self));
	}
	if ((dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "test_alerting: %s\n", dlerror());
		return 1;
	}
	entry = (rollout_plugin_entry_fn)(uintptr_t)dlsym(dl, ROLLOUT_PLUGIN_ENTRY);
	if (entry == NULL || (P = entry()) == NULL || P->magic != ROLLOUT_PLUGIN_MAGIC ||
	    P->abi != ROLLOUT_PLUGIN_ABI || strcmp(P->name, "alerting") != 0 ||
	    P->on_alert == NULL || P->command == NULL) {
		fprintf(stderr, "test_alerting: %s is not the alerting plugin\n", so_path);
		return 1;
	}
	if (sodium_init() < 0)
		return 1;
	dead_port_open();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	close(dead_fd);
	dlclose(dl);
	return rc;
}

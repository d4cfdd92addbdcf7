/*
 * daemon.c — rolloutd --plan FILE: the running daemon (rolloutd(8)).
 *
 * One runner thread owns everything: it runs the libwebsockets event loop
 * (HTTP API, dashboard, WebSocket push), ticks the engine on a lws_sul
 * timer at the time engine_tick() asks for, drains the plugin bus when a
 * plugin wakes it (lws_cancel_service -> LWS_CALLBACK_EVENT_WAIT_CANCELLED),
 * and acts on signals and flag-file edits that a small watcher thread
 * reports through the same wake-up:
 *   SIGUSR1        emergency rollback (api_emergency_rollback, as the API)
 *   SIGHUP         re-read the flags file
 *   SIGTERM/SIGINT stop: plugins stopped, state persisted, exit 0
 *   inotify        the flags file was replaced or written: re-read it
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "api.h"
#include "clock.h"
#include "engine.h"
#include "flags.h"
#include "fsutil.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "plan.h"
#include "promexp.h"
#include "rolloutd.h"
#include "token.h"

#define DAEMON_VERSION "0.1.0"
#define EX_CONFIG 1
#define EX_SOFTWARE 70

enum { PEND_ROLLBACK = 1, PEND_RELOAD = 2, PEND_STOP = 4, PEND_FLAGS_EDIT = 8 };

struct daemon {
	const struct rolloutd_opts *o;
	char state_dir[4096], flags_path[4096], journal_path[4096], token_path[4096];
	char flags_dir[4096], flags_base[256], web_dir[4096];
	char token[TOKEN_HEX_LEN + 8];
	struct plan *plan;
	struct clock *clk;
	int virt;                       /* accelerated clock (--speed > 1) */
	int64_t t0_wall, t0_mono;
	struct metrics *metrics;
	struct flags *flags;
	struct journal *journal;
	struct pipeline *pipeline;
	struct engine *engine;
	struct promexp *prom;
	struct api *api;
	struct http_server *http;
	lws_sorted_usec_list_t sul_tick;
	int stop;
	int exit_code;
	/* watcher thread */
	pthread_t watcher;
	int watcher_running;
	int sigfd, inofd, stopfd;
	atomic_int pending;
	int64_t last_collect_mono;
	int64_t last_rss_mono;           /* last process.rss_bytes sample */
	int64_t last_push_mono;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --speed N: the virtual clock runs N times real time from the start. */
static void
clock_sync(struct daemon *d)
{
	if (d->virt)
		clock_set(d->clk, d->t0_wall + (int64_t)((double)(mono_ms() - d->t0_mono) * d->o->speed));
}

/*
 * Where the accelerated clock starts: the wall clock, or just after the
 * journal's last record when a previous accelerated run got further ahead
 * (a restart must not move the rollout's time back by hours).
 */
static int64_t
speed_start_ms(const char *journal_path, int64_t wall)
{
	json_t *tail = journal_read_tail(journal_path, 64);
	int64_t last = 0;
	size_t i;
	json_t *rec;

	json_array_foreach(tail, i, rec) {
		json_t *t = json_object_get(rec, "t_ms");

		if (json_is_integer(t) && json_integer_value(t) > last)
			last = json_integer_value(t);
	}
	json_decref(tail);
	if (last >= wall) {
		log_info("--speed: the journal's last record is at %lld ms, %lld ms ahead of the wall "
		    "clock: the accelerated clock goes on from there", (long long)last,
		    (long long)(last - wall));
		return last + 1;
	}
	return wall;
}

/* The flags' audit records under --speed: the same time line as the engine's. */
static int64_t
daemon_flags_now(void *ctx)
{
	return clock_now_ms(((struct daemon *)ctx)->clk);
}

static void
report_plan(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

/* ---- hooks ---------------------------------------------------------------- */

static void
on_changed(void *ctx)
{
	struct daemon *d = ctx;

	if (d->http != NULL)
		http_ws_changed(d->http);
}

static void tick_cb(lws_sorted_usec_list_t *sul);

/* The API changed something (an action, a flag): push, and let the engine look at once. */
static void
on_api_changed(void *ctx)
{
	struct daemon *d = ctx;

	on_changed(d);
	if (d->http != NULL)
		lws_sul_schedule(http_server_context(d->http), 0, &d->sul_tick, tick_cb, 1);
}

static void
on_bus_wake(void *ctx)
{
	struct daemon *d = ctx;

	if (d->http != NULL)
		http_wake(d->http);
}

static void
eng_notify(void *ctx, int severity, const char *type, const char *title, const char *message)
{
	struct daemon *d = ctx;

	if (d->pipeline != NULL && pipeline_notify(d->pipeline, severity, type, title, message) != 0)
		log_info("notification not delivered (no alerting sink): %s: %s", title, message);
}

static int
eng_call(void *ctx, const char *system, const char *command, const char *arg, char *reply,
    size_t replylen)
{
	struct daemon *d = ctx;

	if (d->pipeline == NULL)
		return -ENOENT;
	return pipeline_command(d->pipeline, system, command, arg, reply, replylen);
}

/* Plugin log lines feed the engine's PCRE2 triggers. */
static void
on_plugin_log(void *ctx, const char *instance, const char *line)
{
	struct daemon *d = ctx;

	if (d->engine != NULL)
		engine_log_line(d->engine, instance, line);
}

static void
http_handle(void *ctx, const struct http_request *rq, struct http_response *rs)
{
	struct daemon *d = ctx;

	clock_sync(d);
	api_handle(d->api, rq, rs);
}

static char *
ws_snapshot(void *ctx, size_t *len)
{
	struct daemon *d = ctx;

	clock_sync(d);
	return api_ws_snapshot(d->api, len);
}

/* ---- the tick ------------------------------------------------------------- */

static int
done_state(enum engine_state s)
{
	return s == ENG_COMPLETED || s == ENG_ROLLED_BACK;
}

static void
tick(struct daemon *d)
{
	int64_t next, now, delay_ms;

	clock_sync(d);
	next = engine_tick(d->engine);
	now = clock_now_ms(d->clk);
	/*
	 * process.rss_bytes feeds the performance phase's memory gate; sampled
	 * every 100 ms of real time so a window of one simulated hour holds
	 * samples even at --speed 3600.
	 */
	if (mono_ms() - d->last_rss_mono >= 100) {
		metrics_record(d->metrics, "process.rss_bytes", promexp_rss_bytes());
		d->last_rss_mono = mono_ms();
	}
	if (mono_ms() - d->last_collect_mono >= 1000) {
		promexp_collect(d->prom, d->metrics, now);
		d->last_collect_mono = mono_ms();
	}
	/* charts move with the metrics even when nothing else changes: a push every 5 s */
	if (mono_ms() - d->last_push_mono >= 5000) {
		if (http_ws_clients(d->http) > 0)
			http_ws_changed(d->http);
		d->last_push_mono = mono_ms();
	}
	if (d->o->exit_when_done && done_state(engine_state(d->engine))) {
		log_info("plan %s: %s; --exit-when-done: stopping", d->plan->name,
		    engine_state_name(engine_state(d->engine)));
		d->stop = 1;
		return;
	}
	delay_ms = next - now;
	if (d->virt)
		delay_ms = (int64_t)((double)delay_ms / d->o->speed);
	/*
	 * At least once a second (the Prometheus counters fold new samples); with
	 * --speed every 100 ms, since the virtual clock the plugins read only
	 * moves when this thread syncs it.
	 */
	if (delay_ms > (d->virt ? 100 : 1000))
		delay_ms = d->virt ? 100 : 1000;
	if (delay_ms < 1)
		delay_ms = 1;
	lws_sul_schedule(http_server_context(d->http), 0, &d->sul_tick, tick_cb,
	    (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static struct daemon *the_daemon;      /* lws_sul callbacks carry no context */

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	tick(the_daemon);
}

static void
flags_reread(struct daemon *d, const char *why)
{
	char err[1024] = "";
	int rc = flags_reload(d->flags, err, sizeof err);

	if (rc < 0)
		log_error("flags: %s: re-read failed: %s", why, err[0] ? err : strerror(-rc));
	else if (rc > 0)
		log_info("flags: %s: %s changed (generation %llu)", why, flags_path(d->flags),
		    (unsigned long long)flags_generation(d->flags));
	if (rc != 0)
		on_changed(d);
}

/* Runner thread, after any wake-up: signals, flag edits, then the bus. */
static void
on_wake(void *ctx)
{
	struct daemon *d = ctx;
	int pend = atomic_exchange(&d->pending, 0);
	struct engine_actor who = { "signal", NULL, "SIGUSR1" };
	char err[512];

	clock_sync(d);
	if (pend & PEND_ROLLBACK) {
		log_warn("SIGUSR1: emergency rollback");
		if (api_emergency_rollback(d->api, &who, err, sizeof err) != 0)
			log_error("emergency rollback (SIGUSR1): %s", err);
	}
	if (pend & PEND_RELOAD)
		flags_reread(d, "SIGHUP");
	if (pend & PEND_FLAGS_EDIT)
		flags_reread(d, "file changed");
	if (pend & PEND_STOP) {
		log_info("stopping (signal)");
		d->stop = 1;
	}
	if (d->pipeline != NULL)
		pipeline_drain(d->pipeline);
	if (pend & (PEND_ROLLBACK | PEND_RELOAD | PEND_FLAGS_EDIT)) {
		/* the engine sees the new flags at once */
		lws_sul_schedule(http_server_context(d->http), 0, &d->sul_tick, tick_cb, 1);
	}
}

/* ---- the watcher thread: signals and inotify, reported by a wake-up -------- */

static void *
watcher_main(void *arg)
{
	struct daemon *d = arg;
	struct pollfd pf[3];
	struct signalfd_siginfo si;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;
	int add;

	pf[0].fd = d->sigfd;
	pf[1].fd = d->inofd;
	pf[2].fd = d->stopfd;
	pf[0].events = pf[1].events = pf[2].events = POLLIN;
	for (;;) {
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[2].revents)
			break;
		add = 0;
		if (pf[0].revents && read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			switch (si.ssi_signo) {
			case SIGUSR1: add = PEND_ROLLBACK; break;
			case SIGHUP: add = PEND_RELOAD; break;
			default: add = PEND_STOP; break;
			}
		}
		if (d->inofd >= 0 && pf[1].revents) {
			n = read(d->inofd, buf, sizeof buf);
			for (p = buf; n > 0 && p < buf + n; p += sizeof *ev + ev->len) {
				ev = (const struct inotify_event *)p;
				if (ev->len > 0 && strcmp(ev->name, d->flags_base) == 0)
					add |= PEND_FLAGS_EDIT;
			}
		}
		if (add) {
			atomic_fetch_or(&d->pending, add);
			http_wake(d->http);
		}
	}
	return NULL;
}

static int
watcher_start(struct daemon *d, const sigset_t *mask)
{
	d->sigfd = signalfd(-1, mask, SFD_CLOEXEC);
	d->stopfd = eventfd(0, EFD_CLOEXEC);
	d->inofd = inotify_init1(IN_CLOEXEC);
	if (d->sigfd < 0 || d->stopfd < 0) {
		log_error("signalfd/eventfd: %s", strerror(errno));
		return -errno;
	}
	if (d->inofd >= 0 && inotify_add_watch(d->inofd, d->flags_dir,
	    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
		log_warn("inotify on %s: %s (flag edits need SIGHUP)", d->flags_dir, strerror(errno));
		close(d->inofd);
		d->inofd = -1;
	}
	if (pthread_create(&d->watcher, NULL, watcher_main, d) != 0) {
		log_error("cannot start the signal watcher thread");
		return -EAGAIN;
	}
	d->watcher_running = 1;
	return 0;
}

static void
watcher_stop(struct daemon *d)
{
	uint64_t one = 1;

	if (d->watcher_running) {
		if (write(d->stopfd, &one, sizeof one) < 0)
			log_warn("watcher stop: %s", strerror(errno));
		pthread_join(d->watcher, NULL);
	}
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->inofd >= 0)
		close(d->inofd);
	if (d->stopfd >= 0)
		close(d->stopfd);
}

/* ---- start-up ------------------------------------------------------------- */

static int
path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* --web-dir, else ./web when it holds the dashboard (the build tree), else SHAREDIR/web. */
static void
pick_web_dir(struct daemon *d)
{
	struct stat st;

	if (d->o->web_dir != NULL) {
		snprintf(d->web_dir, sizeof d->web_dir, "%s", d->o->web_dir);
		return;
	}
	if (stat("web/index.html", &st) == 0) {
		snprintf(d->web_dir, sizeof d->web_dir, "web");
		return;
	}
	snprintf(d->web_dir, sizeof d->web_dir, "%s/web", SHAREDIR);
}

static int
declare_plan_flags(struct daemon *d)
{
	struct flag_value v;
	size_t i;
	int rc;

	for (i = 0; i < d->plan->nflags; i++) {
		const struct plan_flag_decl *fd = &d->plan->flags[i];

		memset(&v, 0, sizeof v);
		v.type = (enum flag_type)fd->type;
		v.b = fd->def_b;
		v.i = fd->def_i;
		if (fd->def_s != NULL)
			snprintf(v.s, sizeof v.s, "%s", fd->def_s);
		rc = flags_declare(d->flags, fd->name, (enum flag_type)fd->type, fd->min, fd->max, &v);
		if (rc != 0 && rc != -EEXIST) {
			fprintf(stderr, "rolloutd: %s:%d:%d: flag %s: cannot declare it: %s\n",
			    fd->pos.file, fd->pos.line, fd->pos.col, fd->name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int
daemon_open(struct daemon *d)
{
	struct pipeline_opts po;
	struct engine_opts eo;
	struct api_opts ao;
	struct http_server_opts ho;
	char err[2048] = "", logdir[4096], *slash;
	int rc, created = 0;

	if (path_join(d->state_dir, sizeof d->state_dir, d->o->data_dir, "state") ||
	    path_join(d->flags_path, sizeof d->flags_path, d->o->data_dir, "config/feature-flags.conf") ||
	    path_join(d->journal_path, sizeof d->journal_path, d->state_dir, "journal.jsonl") ||
	    path_join(d->token_path, sizeof d->token_path, d->state_dir, "api.token") ||
	    path_join(logdir, sizeof logdir, d->o->data_dir, "logs")) {
		fprintf(stderr, "rolloutd: %s: data directory path too long\n", d->o->data_dir);
		return EX_CONFIG;
	}
	snprintf(d->flags_dir, sizeof d->flags_dir, "%s", d->flags_path);
	slash = strrchr(d->flags_dir, '/');
	*slash = '\0';
	snprintf(d->flags_base, sizeof d->flags_base, "%s", slash + 1);

	rc = plan_load(d->o->plan, &d->plan, report_plan, NULL);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s: the plan has errors; nothing started\n", d->o->plan);
		return EX_CONFIG;
	}
	if ((rc = fs_mkdir_p(d->state_dir, 0700)) != 0 || (rc = fs_mkdir_p(d->flags_dir, 0755)) != 0) {
		fprintf(stderr, "rolloutd: %s: %s\n", d->o->data_dir, strerror(-rc));
		return EX_CONFIG;
	}
	if (log_set_dir(logdir) != 0)
		log_warn("%s: cannot write daily logs there", logdir);

	if (d->o->speed > 1.0) {
		d->virt = 1;
		d->t0_wall = speed_start_ms(d->journal_path, wall_ms());
		d->t0_mono = mono_ms();
		d->clk = clock_virtual(d->t0_wall);
	} else {
		d->clk = clock_real();
	}
	if (d->clk == NULL || metrics_create(&d->metrics, d->clk) != 0 || promexp_create(&d->prom) != 0) {
		fprintf(stderr, "rolloutd: out of memory\n");
		return EX_SOFTWARE;
	}
	metrics_describe(d->metrics, "process.rss_bytes", METRIC_GAUGE,
	    "resident set size of rolloutd in bytes, sampled every 100 ms");

	rc = journal_open(&d->journal, d->journal_path, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		return EX_CONFIG;
	}
	rc = flags_open(&d->flags, d->flags_path, d->journal_path, err, sizeof err);
	if (rc == -EBADMSG) {
		log_error("%s (the rollout will not advance until it is fixed; an emergency rollback "
		    "still works)", err);
	} else if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		return EX_CONFIG;
	}
	if (d->virt && d->flags != NULL)
		flags_set_clock(d->flags, daemon_flags_now, d);
	if (declare_plan_flags(d) != 0)
		return EX_CONFIG;

	rc = token_load_or_create(d->token_path, d->token, sizeof d->token, &created, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		return EX_CONFIG;
	}
	if (created) {
		/* printed once, at creation; rolloutctl reads the file */
		printf("rolloutd: new API token (stored in %s, mode 0600): %s\n", d->token_path, d->token);
		fflush(stdout);
	}

	memset(&po, 0, sizeof po);
	po.plan = d->plan;
	po.data_dir = d->o->data_dir;
	po.plugin_dir = d->o->plugin_dir;
	po.clock = d->clk;
	po.metrics = d->metrics;
	po.flags = d->flags;
	po.wake = on_bus_wake;
	po.wake_ctx = d;
	po.changed = on_changed;
	po.changed_ctx = d;
	po.time_scale = d->virt ? d->o->speed : 1.0;
	rc = pipeline_open(&d->pipeline, &po, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		return EX_CONFIG;
	}

	memset(&eo, 0, sizeof eo);
	eo.plan = d->plan;
	eo.state_dir = d->state_dir;
	eo.clock = d->clk;
	eo.metrics = d->metrics;
	eo.flags = d->flags;
	eo.journal = d->journal;
	eo.hooks.ctx = d;
	eo.hooks.notify = eng_notify;
	eo.hooks.changed = on_changed;
	eo.hooks.call = eng_call;
	eo.accept_plan_change = d->o->accept_plan_change;
	eo.start_phase = d->o->phase;
	err[0] = '\0';
	rc = engine_open(&d->engine, &eo, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err[0] ? err : strerror(-rc));
		return EX_CONFIG;
	}

	memset(&ho, 0, sizeof ho);
	ho.listen = d->o->listen ? d->o->listen : "127.0.0.1:3002";
	ho.allow_remote = d->o->allow_remote;
	ho.max_body = 64 * 1024;
	ho.handler = http_handle;
	ho.ctx = d;
	ho.ws_path = "/ws";
	ho.ws_snapshot = ws_snapshot;
	ho.on_wake = on_wake;
	rc = http_server_open(&d->http, &ho, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		return EX_CONFIG;
	}
	pipeline_set_log_hook(d->pipeline, on_plugin_log, d);
	pick_web_dir(d);
	memset(&ao, 0, sizeof ao);
	ao.plan = d->plan;
	ao.engine = d->engine;
	ao.flags = d->flags;
	ao.metrics = d->metrics;
	ao.clock = d->clk;
	ao.pipeline = d->pipeline;
	ao.journal = d->journal;
	ao.prom = d->prom;
	ao.http = d->http;
	ao.journal_path = d->journal_path;
	ao.web_dir = d->web_dir;
	ao.token = d->token;
	ao.read_only = d->o->read_only;
	ao.speed = d->o->speed;
	ao.version = DAEMON_VERSION;
	ao.changed = on_api_changed;
	ao.ctx = d;
	if (api_create(&d->api, &ao) != 0) {
		fprintf(stderr, "rolloutd: out of memory\n");
		return EX_SOFTWARE;
	}

	return 0;
}

static void
daemon_close(struct daemon *d)
{
	if (d->pipeline != NULL)
		pipeline_stop(d->pipeline);
	if (d->engine != NULL)
		engine_close(d->engine);
	if (d->http != NULL)
		http_server_close(d->http);
	api_free(d->api);
	pipeline_close(d->pipeline);
	promexp_free(d->prom);
	flags_close(d->flags);
	journal_close(d->journal);
	metrics_free(d->metrics);
	if (d->clk != NULL)
		clock_free(d->clk);
	plan_free(d->plan);
}

int
daemon_main(const struct rolloutd_opts *o)
{
	struct daemon d;
	sigset_t mask;
	int rc;

	memset(&d, 0, sizeof d);
	d.o = o;
	d.sigfd = d.inofd = d.stopfd = -1;
	the_daemon = &d;
	/* block the signals in every thread (plugins start later and inherit the mask) */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = daemon_open(&d);
	if (rc != 0) {
		daemon_close(&d);
		return rc;
	}
	if (watcher_start(&d, &mask) != 0) {
		watcher_stop(&d);
		daemon_close(&d);
		return EX_SOFTWARE;
	}
	rc = pipeline_start(d.pipeline);
	if (rc != 0) {
		log_error("plugins failed to start; stopping");
		watcher_stop(&d);
		daemon_close(&d);
		return EX_CONFIG;
	}
	log_info("rolloutd %s: plan \"%s\" (%s); listening on %s (port %d): dashboard /rollout/, "
	    "API /api/, Prometheus /metrics%s%s", DAEMON_VERSION, d.plan->name, d.plan->file,
	    o->listen ? o->listen : "127.0.0.1:3002", http_server_port(d.http),
	    o->read_only ? ", read-only" : "", d.virt ? ", accelerated clock" : "");
	printf("rolloutd: listening on port %d\n", http_server_port(d.http));
	fflush(stdout);

	tick(&d);
	while (!d.stop)
		if (http_service(d.http) < 0)
			break;

	log_info("rolloutd: shutting down: plugins stopped, state saved");
	watcher_stop(&d);
	daemon_close(&d);
	return d.exit_code;
}

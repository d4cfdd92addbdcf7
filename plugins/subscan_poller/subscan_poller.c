/*
 * subscan_poller.c — the baseline ("legacy") detector and the source of
 * the top-N list and account labels: every `interval` it reads the top
 * `top` accounts by balance from Subscan's /api/v2/scan/accounts (100 a
 * page, exactly ceil(top/100) requests when nothing fails), publishes the
 * snapshot, and reports the accounts whose balances differ from the
 * previous snapshot (kept on disk across restarts).  After each good
 * cycle, within per-cycle budgets, it asks Subscan for the latest
 * transfer of accounts it has not asked about yet (ROLLOUT_EV_ACTIVITY) and
 * follows the transfers of the top list's exchanges (ROLLOUT_EV_TRANSFER):
 * lookups.c.  The `transfers` command pages /api/v2/scan/transfers for the
 * runner.
 * See rolloutd-subscan_poller(5).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fsutil.h"
#include "lookups.h"
#include "planck.h"
#include "rollout/plugin.h"
#include "sclient.h"
#include "snapshot.h"
#include "ss58.h"

#define POLLER_PAGE_ROWS 100
#define POLLER_SUBSCAN_WINDOW 10000   /* page*row limit of Subscan's offset paging */
#define POLLER_TRANSFERS_MAX 100000

struct poller {
	const struct rollout_host *host;
	/* configuration */
	char *base_url;
	char *api_key;
	char *state_path;             /* DATA/plugins/<instance>/snapshot.json or NULL */
	long long top;
	int64_t interval_ms;
	int poll_on_start;
	struct sclient_config ccfg;
	/* runtime */
	struct sclient *client;
	struct sclient_conn *conn;    /* the poll thread's */
	struct sclient_conn *cmd_conn;
	struct sclient_conn *lookup_conn; /* the poll thread's, for lookups: no retries */
	struct lookups lk;
	pthread_mutex_t cmd_lock;     /* serializes commands' use of cmd_conn */
	pthread_t thread;
	int running;
	pthread_mutex_t lock;         /* guards everything below */
	pthread_cond_t cond;
	int stopping;
	int poll_requested;
	struct snapshot prev;         /* last good snapshot (also on disk) */
	int have_prev;
	int healthy;                  /* -1 unknown */
	uint64_t cycles_ok, cycles_failed;
	int64_t last_cycle_ms;        /* host time the last cycle ended */
	double last_cycle_seconds;
	uint64_t last_cycle_requests;
	size_t last_changes, last_new;
	char last_error_kind[32];
	char last_error[1024];
};

/* ---- small helpers --------------------------------------------------------------- */

static void
poller_metric(void *ctx, const char *name, double v)
{
	struct poller *p = ctx;

	p->host->metric(p->host->ctx, name, v);
}

static void
poller_breaker_changed(void *ctx, enum sclient_breaker from, enum sclient_breaker to,
    const char *why)
{
	struct poller *p = ctx;

	p->host->log(p->host->ctx, to == SCLIENT_OPEN ? ROLLOUT_LOG_WARN : ROLLOUT_LOG_INFO,
	    "subscan breaker %s -> %s: %s", sclient_breaker_name(from), sclient_breaker_name(to),
	    why && *why ? why : "-");
}

static int64_t
poller_now_ms(void *ctx)
{
	struct poller *p = ctx;

	return p->host->now_ms(p->host->ctx);
}

static double
poller_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Emit EV, retrying briefly while the bus is full.  0 or the last error. */
static int
poller_emit(struct poller *p, const struct rollout_event *ev)
{
	int rc, i;

	for (i = 0; i < 100; i++) {
		rc = p->host->emit(p->host->ctx, ev);
		if (rc != -EAGAIN)
			return rc;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return rc;
}

static void
poller_health(struct poller *p, int healthy, const char *fmt, ...)
{
	struct rollout_event ev;
	char detail[600];
	va_list ap;
	int changed;

	pthread_mutex_lock(&p->lock);
	changed = p->healthy != healthy;
	p->healthy = healthy;
	pthread_mutex_unlock(&p->lock);
	if (!changed)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.healthy = healthy;
	ev.u.health.detail = detail;
	poller_emit(p, &ev);
}

static void
poller_error(struct poller *p, const char *kind, const char *message)
{
	struct rollout_event ev;

	pthread_mutex_lock(&p->lock);
	snprintf(p->last_error_kind, sizeof(p->last_error_kind), "%s", kind);
	snprintf(p->last_error, sizeof(p->last_error), "%s", message);
	pthread_mutex_unlock(&p->lock);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_ERROR;
	ev.u.error.kind = kind;
	ev.u.error.message = message;
	poller_emit(p, &ev);
}

static int
poller_sink_emit(void *ctx, const struct rollout_event *ev)
{
	return poller_emit(ctx, ev);
}

static void
poller_sink_error(void *ctx, const char *kind, const char *message)
{
	poller_error(ctx, kind, message);
}

/* ---- one cycle -------------------------------------------------------------------- */

struct poller_diff_ctx {
	struct poller *p;
	size_t emitted, failed, new_accounts;
};

static int
poller_on_change(void *arg, const struct rollout_balance_change *ch, size_t index)
{
	struct poller_diff_ctx *dc = arg;
	struct rollout_event ev;

	(void)index;
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_BALANCE;
	ev.u.balance = *ch;
	if (poller_emit(dc->p, &ev) < 0)
		dc->failed++;
	else if (ch->has_before)
		dc->emitted++;
	else
		dc->new_accounts++;
	return 0;
}

/*
 * Fetch the top list into CUR.  0, or -errno with *KIND and ERR set (the
 * page and row are named in ERR).
 */
static int
poller_fetch(struct poller *p, struct snapshot *cur, const char **kind, char *err, size_t errlen)
{
	long long pages = (p->top + POLLER_PAGE_ROWS - 1) / POLLER_PAGE_ROWS, page;
	int64_t gen_first = 0;
	char why[400];
	int rc;

	for (page = 0; page < pages; page++) {
		long long row = POLLER_PAGE_ROWS;
		char body[160];
		json_t *data = NULL, *list;
		int64_t gen = 0;
		size_t i;

		snprintf(body, sizeof(body),
		    "{\"order_field\":\"balance\",\"order\":\"desc\",\"row\":%lld,\"page\":%lld}",
		    row, page);
		rc = sclient_post(p->conn, "/api/v2/scan/accounts", body, &data, &gen, kind,
		    why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "accounts page %lld: %s", page, why);
			return rc;
		}
		if (page == 0)
			gen_first = gen;
		list = json_object_get(data, "list");
		if (!json_is_array(list)) {
			*kind = "envelope";
			snprintf(err, errlen, "accounts page %lld: data.list %s", page,
			    list ? "is not an array" : "missing");
			json_decref(data);
			return -EINVAL;
		}
		for (i = 0; i < json_array_size(list) && (long long)cur->count < p->top; i++) {
			rc = snapshot_add_row(cur, json_array_get(list, i), p->host->decimals,
			    p->host->ss58_prefix, why, sizeof(why));
			if (rc < 0) {
				*kind = "decode";
				snprintf(err, errlen, "accounts page %lld row %zu: %s", page, i, why);
				json_decref(data);
				return rc;
			}
		}
		if ((long long)json_array_size(list) < row) {
			json_decref(data);
			break; /* fewer accounts than asked for */
		}
		json_decref(data);
	}
	cur->taken_ms = gen_first > 0 ? gen_first * 1000 : p->host->now_ms(p->host->ctx);
	return 0;
}

static void
poller_cycle(struct poller *p)
{
	struct snapshot cur;
	struct sclient_stats st0, st1;
	struct poller_diff_ctx dc = { p, 0, 0, 0 };
	const char *kind = "unknown";
	char err[600];
	double t0 = poller_mono(), secs;
	int64_t start_ms = p->host->now_ms(p->host->ctx);
	int rc, have_prev;

	memset(&cur, 0, sizeof(cur));
	sclient_get_stats(p->client, &st0);
	rc = poller_fetch(p, &cur, &kind, err, sizeof(err));
	sclient_get_stats(p->client, &st1);
	secs = poller_mono() - t0;
	if (rc < 0) {
		if (strcmp(kind, "cancelled") == 0) {
			snapshot_clear(&cur);
			return;
		}
		pthread_mutex_lock(&p->lock);
		p->cycles_failed++;
		p->last_cycle_ms = p->host->now_ms(p->host->ctx);
		p->last_cycle_seconds = secs;
		p->last_cycle_requests = st1.requests - st0.requests;
		pthread_mutex_unlock(&p->lock);
		p->host->metric(p->host->ctx, "cycle_failures", 1);
		p->host->log(p->host->ctx, ROLLOUT_LOG_WARN, "subscan cycle failed (%s): %s", kind, err);
		/* health first: whoever sees the error sees the health it caused */
		poller_health(p, 0, "subscan %s: %s", p->base_url, err);
		poller_error(p, kind, err);
		snapshot_clear(&cur);
		return;
	}
	poller_health(p, 1, "top %lld from %s", p->top, p->base_url);
	/* the snapshot: the candidate's watchlist and everyone's labels */
	{
		struct rollout_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.size = sizeof(ev);
		ev.kind = ROLLOUT_EV_SNAPSHOT;
		ev.u.snapshot.taken_ms = cur.taken_ms;
		ev.u.snapshot.count = cur.count;
		ev.u.snapshot.entries = cur.entries;
		if (poller_emit(p, &ev) < 0)
			p->host->log(p->host->ctx, ROLLOUT_LOG_WARN, "snapshot event dropped: bus full");
	}
	pthread_mutex_lock(&p->lock);
	have_prev = p->have_prev;
	pthread_mutex_unlock(&p->lock);
	/* prev is only written by this thread: reading it unlocked is safe */
	if (have_prev)
		snapshot_diff(&p->prev, &cur, p->host->now_ms(p->host->ctx), 1, poller_on_change, &dc);
	if (p->state_path != NULL) {
		int src = snapshot_save(&cur, p->state_path, p->host->chain, p->host->decimals);

		if (src < 0)
			p->host->log(p->host->ctx, ROLLOUT_LOG_ERROR, "%s: cannot save the snapshot: %s",
			    p->state_path, strerror(-src));
	}
	p->host->metric(p->host->ctx, "cycles", 1);
	p->host->metric(p->host->ctx, "cycle_seconds", secs);
	p->host->metric(p->host->ctx, "snapshot_accounts", (double)cur.count);
	p->host->metric(p->host->ctx, "changes", (double)dc.emitted);
	p->host->log(p->host->ctx, ROLLOUT_LOG_INFO,
	    "subscan snapshot: %zu accounts in %.2fs (%llu requests), %zu changes, %zu new",
	    cur.count, secs, (unsigned long long)(st1.requests - st0.requests), dc.emitted,
	    dc.new_accounts);
	pthread_mutex_lock(&p->lock);
	snapshot_clear(&p->prev);
	p->prev = cur;
	p->have_prev = 1;
	p->cycles_ok++;
	p->last_cycle_ms = p->host->now_ms(p->host->ctx);
	p->last_cycle_seconds = secs;
	p->last_cycle_requests = st1.requests - st0.requests;
	p->last_changes = dc.emitted;
	p->last_new = dc.new_accounts;
	pthread_mutex_unlock(&p->lock);
	/* lookups after the snapshot, and only until the next cycle is half due */
	if (p->lk.activity_max > 0 || p->lk.exchange_max > 0) {
		struct lookups_sink sink = { p, poller_sink_emit, poller_sink_error };

		lookups_cycle(&p->lk, p->lookup_conn, p->host, &p->prev, start_ms + p->interval_ms / 2,
		    &sink);
	}
}

static void *
poller_main(void *arg)
{
	struct poller *p = arg;
	int first = 1;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		int64_t due, started = p->host->now_ms(p->host->ctx), floor;

		if (!first || p->poll_on_start || p->poll_requested) {
			p->poll_requested = 0;
			pthread_mutex_unlock(&p->lock);
			poller_cycle(p);
			pthread_mutex_lock(&p->lock);
		}
		first = 0;
		/*
		 * Cycles start `interval` apart (the lookups after a snapshot do not
		 * push the next one back), but at least a tenth of it after the end of
		 * a long one.  Host time (virtual under --simulate, faster under
		 * --speed), checked at least every 200 ms.
		 */
		due = started + p->interval_ms;
		floor = p->host->now_ms(p->host->ctx) + p->interval_ms / 10;
		if (due < floor)
			due = floor;
		while (!p->stopping && !p->poll_requested) {
			int64_t left = due - p->host->now_ms(p->host->ctx);
			struct timespec ts;

			if (left <= 0)
				break;
			if (left > 200)
				left = 200;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(left % 1000) * 1000000L;
			ts.tv_sec += (time_t)(left / 1000) + ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- configuration ----------------------------------------------------------------- */

/* Read an integer environment variable; -EINVAL (logged) when it is not one. */
static int
poller_env_int(struct poller *p, const char *name, long long min, long long max,
    long long deflt, long long *out)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	*out = deflt;
	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max) {
		p->host->log(p->host->ctx, ROLLOUT_LOG_ERROR,
		    "environment %s=\"%s\": expected an integer %lld..%lld", name, v, min, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static char *
poller_read_key_file(struct poller *p, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fs_read_all(path, 4096, &text, &len);

	if (rc < 0) {
		p->host->log(p->host->ctx, ROLLOUT_LOG_ERROR, "api_key_file %s: %s", path, strerror(-rc));
		return NULL;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		text[--len] = '\0';
	return text;
}

static int
poller_configure(struct poller *p)
{
	const struct rollout_host *h = p->host;
	const char *s = NULL;
	long long env_top, env_minutes, n;
	int64_t d;
	int rc = 0, b;

#define CFG_OK(call) do { int r_ = (call); if (r_ < 0 && r_ != -ENOENT) rc = -EINVAL; } while (0)
	if (poller_env_int(p, "TOP_ACCOUNTS_LIMIT", 1, POLLER_SUBSCAN_WINDOW, 1000, &env_top) < 0 ||
	    poller_env_int(p, "CHECK_INTERVAL_MINUTES", 1, 7 * 24 * 60, 60, &env_minutes) < 0)
		rc = -EINVAL;
	CFG_OK(h->cfg_int(h->ctx, NULL, "top", 1, POLLER_SUBSCAN_WINDOW, env_top, &p->top));
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "interval", env_minutes * 60000, &p->interval_ms));
	if (p->interval_ms < 1000) {
		h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "interval"), "interval: at least 1s");
		rc = -EINVAL;
	}
	CFG_OK(h->cfg_string(h->ctx, NULL, "base_url", h->default_subscan, &s));
	if (s == NULL || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)) {
		h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "base_url"),
		    "base_url: expected an http:// or https:// URL");
		rc = -EINVAL;
	} else {
		p->base_url = strdup(s);
		if (p->base_url != NULL)
			while (strlen(p->base_url) > 0 && p->base_url[strlen(p->base_url) - 1] == '/')
				p->base_url[strlen(p->base_url) - 1] = '\0';
	}
	s = NULL;
	CFG_OK(h->cfg_string(h->ctx, NULL, "api_key_file", NULL, &s));
	if (s != NULL) {
		p->api_key = poller_read_key_file(p, s);
		if (p->api_key == NULL)
			rc = -EINVAL;
	} else if (getenv("SUBSCAN_API_KEY") != NULL) {
		p->api_key = strdup(getenv("SUBSCAN_API_KEY"));
	}
	if (p->api_key == NULL || p->api_key[0] == '\0')
		h->log(h->ctx, ROLLOUT_LOG_WARN,
		    "no Subscan API key (SUBSCAN_API_KEY or api_key_file): requests go without X-API-Key");
	CFG_OK(h->cfg_int(h->ctx, NULL, "rate", 0, 1000, 5, &n));
	p->ccfg.rate = (double)n;
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "connect_timeout", 10000, &p->ccfg.connect_timeout_ms));
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "timeout", 30000, &p->ccfg.timeout_ms));
	CFG_OK(h->cfg_int(h->ctx, NULL, "retries", 0, 20, 4, &n));
	p->ccfg.retries = (int)n;
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "backoff_base", 500, &p->ccfg.backoff_base_ms));
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "backoff_max", 30000, &p->ccfg.backoff_max_ms));
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "max_pause", 300000, &p->ccfg.max_pause_ms));
	CFG_OK(h->cfg_int(h->ctx, NULL, "breaker_failures", 1, 1000, 5, &n));
	p->ccfg.breaker_failures = (int)n;
	CFG_OK(h->cfg_duration_ms(h->ctx, NULL, "breaker_cooldown", 60000, &p->ccfg.breaker_cooldown_ms));
	CFG_OK(h->cfg_bool(h->ctx, NULL, "poll_on_start", 1, &b));
	p->poll_on_start = b;
	CFG_OK(h->cfg_int(h->ctx, NULL, "activity_lookups", 0, 10000, 50, &p->lk.activity_max));
	CFG_OK(h->cfg_int(h->ctx, NULL, "exchange_lookups", 0, 1000, 50, &p->lk.exchange_max));
	s = NULL;
	CFG_OK(h->cfg_string(h->ctx, NULL, "exchange_follow", "moved", &s));
	if (s != NULL && strcmp(s, "always") == 0) {
		p->lk.follow_always = 1;
	} else if (s != NULL && strcmp(s, "moved") != 0) {
		h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "exchange_follow"),
		    "exchange_follow: expected moved or always, got \"%s\"", s);
		rc = -EINVAL;
	}
	s = NULL;
	CFG_OK(h->cfg_string(h->ctx, NULL, "exchange_pattern", NULL, &s));
	if (s != NULL && s[0] != '\0') {
		char why[200];

		if (lookups_set_pattern(&p->lk, s, why, sizeof(why)) < 0) {
			h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "exchange_pattern"),
			    "exchange_pattern: %s", why);
			rc = -EINVAL;
		}
	}
	d = p->ccfg.timeout_ms;
	if (d <= 0 || p->ccfg.connect_timeout_ms <= 0 || p->ccfg.backoff_base_ms <= 0 ||
	    p->ccfg.backoff_max_ms < p->ccfg.backoff_base_ms) {
		h->log(h->ctx, ROLLOUT_LOG_ERROR,
		    "timeouts must be > 0 and backoff_max >= backoff_base");
		rc = -EINVAL;
	}
	/* unknown keys are mistakes: say which */
	if (h->config != NULL && h->cfg_kind(h->ctx, h->config) == ROLLOUT_CFG_MAP) {
		static const char *const known[] = { "top", "interval", "base_url", "api_key_file",
			"rate", "connect_timeout", "timeout", "retries", "backoff_base", "backoff_max",
			"max_pause", "breaker_failures", "breaker_cooldown", "poll_on_start",
			"activity_lookups", "exchange_lookups", "exchange_pattern", "exchange_follow", NULL };
		size_t i, k;

		for (i = 0; i < h->cfg_len(h->ctx, h->config); i++) {
			const char *key = h->cfg_key_at(h->ctx, h->config, i);

			for (k = 0; known[k] != NULL && strcmp(known[k], key) != 0; k++)
				;
			if (known[k] == NULL) {
				h->cfg_error(h->ctx, h->cfg_at(h->ctx, h->config, i),
				    "unknown key \"%s\" for subscan_poller", key);
				rc = -EINVAL;
			}
		}
	}
#undef CFG_OK
	if (h->data_dir != NULL && h->data_dir[0] != '\0' && rc == 0) {
		size_t len = strlen(h->data_dir) + strlen(h->instance) + 64;

		p->state_path = malloc(len);
		if (p->state_path != NULL)
			snprintf(p->state_path, len, "%s/plugins/%s/snapshot.json", h->data_dir, h->instance);
		p->lk.path = malloc(len);
		if (p->lk.path != NULL)
			snprintf(p->lk.path, len, "%s/plugins/%s/lookups.json", h->data_dir, h->instance);
	}
	return rc;
}

/* ---- plugin entry points ------------------------------------------------------------- */

static void poller_destroy(void *self);

static int
poller_init(const struct rollout_host *host, void **self)
{
	struct poller *p = calloc(1, sizeof(*p));
	struct sclient_hooks hooks;
	int rc;

	if (p == NULL)
		return -ENOMEM;
	p->host = host;
	p->healthy = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->cmd_lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if ((rc = lookups_init(&p->lk, NULL, host->chain, host->ss58_prefix, host->decimals,
	    host->symbol)) < 0)
		goto fail;
	if ((rc = poller_configure(p)) < 0)
		goto fail;
	p->ccfg.base_url = p->base_url;
	p->ccfg.api_key = p->api_key;
	hooks.ctx = p;
	hooks.metric = poller_metric;
	hooks.breaker_changed = poller_breaker_changed;
	hooks.now_ms = poller_now_ms;   /* backoff and breaker follow --speed */
	p->client = sclient_new(&p->ccfg, &hooks);
	if (p->client == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	*self = p;
	return 0;
fail:
	poller_destroy(p);
	return rc;
}

static int
poller_start(void *self)
{
	struct poller *p = self;
	char err[512];
	int rc;

	if (p->state_path != NULL) {
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s", p->state_path);
		*strrchr(dir, '/') = '\0';
		if ((rc = fs_mkdir_p(dir, 0755)) < 0) {
			p->host->log(p->host->ctx, ROLLOUT_LOG_ERROR, "%s: %s", dir, strerror(-rc));
			return rc;
		}
		rc = snapshot_load(&p->prev, p->state_path, p->host->chain, p->host->decimals,
		    p->host->ss58_prefix, err, sizeof(err));
		if (rc == 0) {
			p->have_prev = 1;
			p->host->log(p->host->ctx, ROLLOUT_LOG_INFO,
			    "previous snapshot: %zu accounts from %s", p->prev.count, p->state_path);
		} else if (rc != -ENOENT) {
			p->host->log(p->host->ctx, ROLLOUT_LOG_WARN, "ignoring the saved snapshot: %s", err);
		}
		rc = lookups_load(&p->lk, err, sizeof(err));
		if (rc == 0)
			p->host->log(p->host->ctx, ROLLOUT_LOG_INFO,
			    "lookups: %zu accounts asked, %zu exchanges followed, from %s",
			    p->lk.nasked, p->lk.nex, p->lk.path);
		else if (rc != -ENOENT)
			p->host->log(p->host->ctx, ROLLOUT_LOG_WARN, "ignoring the saved lookups: %s", err);
	}
	if (p->conn == NULL)
		p->conn = sclient_conn_new(p->client);
	if (p->cmd_conn == NULL)
		p->cmd_conn = sclient_conn_new(p->client);
	if (p->lookup_conn == NULL && (p->lookup_conn = sclient_conn_new(p->client)) != NULL)
		sclient_conn_set_retries(p->lookup_conn, 0);
	if (p->conn == NULL || p->cmd_conn == NULL || p->lookup_conn == NULL)
		return -ENOMEM;
	sclient_resume(p->client);
	p->stopping = 0;
	p->host->metric(p->host->ctx, "breaker_state", 0);
	if ((rc = pthread_create(&p->thread, NULL, poller_main, p)) != 0)
		return -rc;
	p->running = 1;
	return 0;
}

static void
poller_stop(void *self)
{
	struct poller *p = self;

	if (!p->running)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	sclient_cancel(p->client);
	pthread_join(p->thread, NULL);
	p->running = 0;
}

static void
poller_destroy(void *self)
{
	struct poller *p = self;

	if (p == NULL)
		return;
	poller_stop(p);
	sclient_conn_free(p->conn);
	sclient_conn_free(p->cmd_conn);
	sclient_conn_free(p->lookup_conn);
	sclient_free(p->client);
	lookups_free(&p->lk);
	snapshot_clear(&p->prev);
	free(p->base_url);
	free(p->api_key);
	free(p->state_path);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->cmd_lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* ---- commands ------------------------------------------------------------------------ */

/* Dump OBJ into REPLY; -ENOSPC when it does not fit. */
static int
poller_reply(json_t *obj, char *reply, size_t replylen)
{
	size_t need = json_dumpb(obj, NULL, 0, JSON_COMPACT);

	if (need == 0 || need + 1 > replylen)
		return -ENOSPC;
	json_dumpb(obj, reply, replylen, JSON_COMPACT);
	reply[need] = '\0';
	return 0;
}

static int
poller_stats(struct poller *p, char *reply, size_t replylen)
{
	struct sclient_stats st;
	json_t *o;
	int rc;

	sclient_get_stats(p->client, &st);
	pthread_mutex_lock(&p->lock);
	o = json_pack("{s:s,s:s,s:I,s:I,s:f,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:{s:s,s:s},s:b}",
	    "instance", p->host->instance, "base_url", p->base_url, "top", (json_int_t)p->top,
	    "interval_ms", (json_int_t)p->interval_ms, "rate", p->ccfg.rate,
	    "cycles_ok", (json_int_t)p->cycles_ok, "cycles_failed", (json_int_t)p->cycles_failed,
	    "last_cycle_ms", (json_int_t)p->last_cycle_ms, "last_cycle_seconds", p->last_cycle_seconds,
	    "last_cycle_requests", (json_int_t)p->last_cycle_requests,
	    "accounts", (json_int_t)(p->have_prev ? p->prev.count : 0),
	    "snapshot_taken_ms", (json_int_t)(p->have_prev ? p->prev.taken_ms : 0),
	    "changes", (json_int_t)p->last_changes, "new_accounts", (json_int_t)p->last_new,
	    "requests", (json_int_t)st.requests, "failures", (json_int_t)st.failures,
	    "throttled", (json_int_t)st.throttled, "breaker", sclient_breaker_name(st.breaker),
	    "pause_ms", (json_int_t)st.pause_ms,
	    "last_error", "kind", p->last_error_kind, "message", p->last_error,
	    "healthy", p->healthy == 1);
	pthread_mutex_unlock(&p->lock);
	if (o == NULL)
		return -ENOMEM;
	lookups_stats(&p->lk, o);
	rc = poller_reply(o, reply, replylen);
	json_decref(o);
	return rc;
}

/* A label for one side of a transfer: Subscan's display, else the snapshot's. */
static void
poller_label(struct poller *p, json_t *display, const char *address, json_t *out, const char *side)
{
	char key[32], label[128] = "", tag_type[64] = "";
	json_t *merkle = json_object_get(display, "merkle");
	const char *d = json_string_value(json_object_get(display, "display"));

	if (d == NULL)
		d = json_string_value(json_object_get(json_object_get(display, "people"), "display"));
	if (json_is_object(merkle)) {
		snprintf(tag_type, sizeof(tag_type), "%s",
		    json_string_value(json_object_get(merkle, "tag_type")) ?: "");
		if (d == NULL)
			d = json_string_value(json_object_get(merkle, "tag_name"));
	}
	if (d != NULL)
		snprintf(label, sizeof(label), "%s", d);
	if (label[0] == '\0' && address != NULL) {
		size_t i;

		pthread_mutex_lock(&p->lock);
		for (i = 0; p->have_prev && i < p->prev.count; i++) {
			if (strcmp(p->prev.addresses[i], address) == 0) {
				const struct rollout_snapshot_entry *e = &p->prev.entries[i];

				snprintf(label, sizeof(label), "%s", e->display[0] ? e->display : e->tag_name);
				if (tag_type[0] == '\0')
					snprintf(tag_type, sizeof(tag_type), "%s", e->tag_type);
				break;
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
	snprintf(key, sizeof(key), "%s_label", side);
	json_object_set_new(out, key, json_string(label));
	snprintf(key, sizeof(key), "%s_tag_type", side);
	json_object_set_new(out, key, json_string(tag_type));
}

/* Copy FROM's KEY into TO when present. */
static void
poller_copy_field(json_t *to, json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);

	if (v != NULL)
		json_object_set_nocheck(to, key, v);
}

static int
poller_transfers(struct poller *p, const char *arg, char *reply, size_t replylen)
{
	json_t *req = NULL, *out = NULL, *list = NULL;
	const char *address, *range, *kind = "";
	long long wanted = 100, row, page = 0, after_id = 0, count = 0;
	uint8_t pk[32];
	char err[600], why[128];
	int rc = 0, use_after = 0;
	json_error_t je;

	req = arg ? json_loads(arg, 0, &je) : NULL;
	if (!json_is_object(req)) {
		snprintf(reply, replylen, "{\"error\":\"transfers: arg must be a JSON object "
		    "{address, block_range, row}\"}");
		json_decref(req);
		return -EINVAL;
	}
	address = json_string_value(json_object_get(req, "address"));
	range = json_string_value(json_object_get(req, "block_range"));
	if (json_is_integer(json_object_get(req, "row")))
		wanted = json_integer_value(json_object_get(req, "row"));
	if (address == NULL || ss58_decode(address, pk, NULL, why, sizeof(why)) < 0) {
		snprintf(reply, replylen, "{\"error\":\"transfers: address: %s\"}",
		    address ? why : "missing");
		json_decref(req);
		return -EINVAL;
	}
	if (wanted < 1 || wanted > POLLER_TRANSFERS_MAX) {
		snprintf(reply, replylen, "{\"error\":\"transfers: row must be 1..%d\"}",
		    POLLER_TRANSFERS_MAX);
		json_decref(req);
		return -EINVAL;
	}
	row = wanted < POLLER_PAGE_ROWS ? wanted : POLLER_PAGE_ROWS;
	list = json_array();
	pthread_mutex_lock(&p->cmd_lock);
	while ((long long)json_array_size(list) < wanted) {
		json_t *body, *data = NULL, *items;
		int64_t gen;
		char *text;
		size_t i, n;

		/* Subscan's offset paging stops at 10,000 rows: go on from the last id */
		if (!use_after && (page + 1) * row > POLLER_SUBSCAN_WINDOW) {
			use_after = 1;
			page = 0;
		}
		body = json_pack("{s:s,s:I,s:I}", "address", address, "row", (json_int_t)row,
		    "page", (json_int_t)page);
		if (range != NULL)
			json_object_set_new(body, "block_range", json_string(range));
		if (use_after)
			json_object_set_new(body, "after_id", json_integer(after_id));
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		rc = text ? sclient_post(p->cmd_conn, "/api/v2/scan/transfers", text, &data, &gen,
		    &kind, err, sizeof(err)) : -ENOMEM;
		free(text);
		if (rc < 0)
			break;
		if (json_is_integer(json_object_get(data, "count")))
			count = json_integer_value(json_object_get(data, "count"));
		items = json_object_get(data, "transfers");
		n = json_array_size(items);
		for (i = 0; i < n && (long long)json_array_size(list) < wanted; i++) {
			json_t *t = json_array_get(items, i), *o;
			const char *amount = json_string_value(json_object_get(t, "amount"));
			rollout_u128 planck;
			char pbuf[PLANCK_INT_MAX];
			char why2[160];

			if (amount == NULL || planck_parse_tokens(amount, p->host->decimals, &planck,
			    why2, sizeof(why2)) < 0) {
				kind = "decode";
				snprintf(err, sizeof(err), "transfers page %lld item %zu: amount: %s", page, i,
				    amount ? why2 : "missing or not a string");
				rc = -EINVAL;
				break;
			}
			/* by hand: json_pack's format parsing dominates at 10,000 rows */
			o = json_object();
			if (o == NULL)
				continue;
			poller_copy_field(o, t, "from");
			poller_copy_field(o, t, "to");
			json_object_set_new_nocheck(o, "amount", json_string(amount));
			json_object_set_new_nocheck(o, "amount_planck",
			    json_string(planck_format_int(planck, pbuf, sizeof(pbuf))));
			poller_copy_field(o, t, "extrinsic_index");
			poller_copy_field(o, t, "block_num");
			poller_copy_field(o, t, "block_timestamp");
			poller_copy_field(o, t, "hash");
			poller_copy_field(o, t, "transfer_id");
			poller_copy_field(o, t, "success");
			if (o == NULL)
				continue;
			poller_label(p, json_object_get(t, "from_account_display"),
			    json_string_value(json_object_get(t, "from")), o, "from");
			poller_label(p, json_object_get(t, "to_account_display"),
			    json_string_value(json_object_get(t, "to")), o, "to");
			json_array_append_new(list, o);
			if (json_is_integer(json_object_get(t, "transfer_id")))
				after_id = json_integer_value(json_object_get(t, "transfer_id"));
		}
		json_decref(data);
		if (rc < 0 || (long long)n < row)
			break;
		if (!use_after)
			page++;
	}
	pthread_mutex_unlock(&p->cmd_lock);
	if (rc < 0) {
		json_t *e = json_pack("{s:s,s:s}", "error", err, "kind", kind);

		if (e == NULL || poller_reply(e, reply, replylen) < 0)
			snprintf(reply, replylen, "{\"error\":\"transfers failed\"}");
		json_decref(e);
		json_decref(list);
		json_decref(req);
		return rc;
	}
	out = json_pack("{s:s,s:I,s:I,s:b,s:o}", "address", address, "count", (json_int_t)count,
	    "returned", (json_int_t)json_array_size(list), "truncated", 0, "transfers", list);
	/* keep the reply within REPLYLEN: drop the oldest rows and say so */
	while ((rc = poller_reply(out, reply, replylen)) == -ENOSPC) {
		size_t n = json_array_size(list);

		if (n == 0)
			break;
		/* transfers come newest first: drop the oldest eighth */
		while (json_array_size(list) > n - (n > 8 ? n / 8 : 1))
			json_array_remove(list, json_array_size(list) - 1);
		json_object_set_new(out, "returned", json_integer((json_int_t)json_array_size(list)));
		json_object_set_new(out, "truncated", json_true());
	}
	json_decref(out);
	json_decref(req);
	return rc;
}

static int
poller_command(void *self, const char *cmd, const char *arg, char *reply, size_t replylen)
{
	struct poller *p = self;

	if (strcmp(cmd, "stats") == 0)
		return poller_stats(p, reply, replylen);
	if (strcmp(cmd, "poll") == 0) {
		pthread_mutex_lock(&p->lock);
		p->poll_requested = 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		snprintf(reply, replylen, "{\"ok\":true,\"queued\":true}");
		return 0;
	}
	if (strcmp(cmd, "transfers") == 0)
		return poller_transfers(p, arg, reply, replylen);
	snprintf(reply, replylen, "{\"error\":\"unknown command %.64s (stats, poll, transfers)\"}", cmd);
	return -ENOTSUP;
}

static const struct rollout_plugin poller_plugin = {
	.magic = ROLLOUT_PLUGIN_MAGIC,
	.abi = ROLLOUT_PLUGIN_ABI,
	.size = sizeof(struct rollout_plugin),
	.name = "subscan_poller",
	.version = "1.0",
	.description = "Subscan top-N poller: the legacy detector, the top-N list and labels",
	.init = poller_init,
	.start = poller_start,
	.stop = poller_stop,
	.destroy = poller_destroy,
	.command = poller_command,
	.on_alert = NULL,
	.on_event = NULL,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &poller_plugin;
}

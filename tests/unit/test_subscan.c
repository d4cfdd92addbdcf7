/*
 * test_subscan.c — the subscan_poller plugin against the real fake Subscan
 * (build/tests/fakes/fakescan, spawned on a loopback port) through a small
 * test host; the plugin is dlopen()ed from the build directory like the
 * daemon does.  Expected values are computed here from the snapshot JSON
 * files, independently of the plugin.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "duration.h"
#include "planck.h"
#include "rollout/plugin.h"
#include "ss58.h"

#define SNAPDIR_REL "/data/polkadot-top1000-2025-07"
#define MAX_CFG 32
#define ADDR_BINANCE "16ZL8yLyXv3V3L3z9ofR1ovFLziyXaN1DPq4yffMAZ9czzBD"
#define ADDR_TREASURY "13UVJyLnbVp9RBZYFwFGyDvVd1y27Tt8tkntv6Q7JVPhFsTB"
#define ADDR_OTHER "14Ns6kKbCoka3MS4Hn6b7oRw9fFejG8RH5rq5j63cWUfpPDJ" /* fakescan's synthetic receiver */

static char build_dir[PATH_MAX];
static char shared_dir[PATH_MAX];
static char snap_dir[PATH_MAX + 64];
static char snap_files[32][PATH_MAX];
static size_t nsnap_files;

/* ---- the test host -------------------------------------------------------------- */

struct tcfg_item {
	char key[64];
	char val[512];
};

struct tchange {
	char address[SS58_MAX_LEN];
	struct rollout_balance_change ch;
};

struct thost {
	struct rollout_host api;
	struct tcfg_item items[MAX_CFG];
	size_t nitems;
	char root_marker;             /* &root_marker is the `with:` map */
	char data_dir[PATH_MAX];
	pthread_mutex_t lock;
	/* what the plugin sent */
	size_t snapshots;
	int64_t snap_taken_ms;
	size_t snap_count;
	struct rollout_snapshot_entry *snap;
	struct tchange *changes;
	size_t nchanges, ncap;
	size_t nerrors;
	struct rollout_activity *acts;
	size_t nacts, capacts;
	struct rollout_transfer *xfers;
	size_t nxfers, capxfers;
	char errors_text[8192];       /* every error message, one a line */
	double speed;                 /* > 0: now_ms runs this much faster than real time */
	int64_t t0_ms;
	char last_error_kind[64];
	char last_error[1024];
	int healthy;
	double breaker_hist[64];
	size_t nbreaker;
	struct { char name[64]; double sum; size_t n; } metrics[64];
	size_t nmetrics;
	/* the plugin */
	void *dl;
	const struct rollout_plugin *pl;
	void *self;
};

static struct thost *
th_of(void *ctx)
{
	return ctx;
}

static int
th_emit(void *ctx, const struct rollout_event *ev)
{
	struct thost *h = th_of(ctx);

	pthread_mutex_lock(&h->lock);
	switch (ev->kind) {
	case ROLLOUT_EV_SNAPSHOT:
		free(h->snap);
		h->snap = calloc(ev->u.snapshot.count + 1, sizeof(*h->snap));
		memcpy(h->snap, ev->u.snapshot.entries, ev->u.snapshot.count * sizeof(*h->snap));
		h->snap_count = ev->u.snapshot.count;
		h->snap_taken_ms = ev->u.snapshot.taken_ms;
		h->snapshots++;
		break;
	case ROLLOUT_EV_BALANCE:
		if (h->nchanges == h->ncap) {
			h->ncap = h->ncap ? h->ncap * 2 : 256;
			h->changes = realloc(h->changes, h->ncap * sizeof(*h->changes));
		}
		h->changes[h->nchanges].ch = ev->u.balance;
		ss58_encode(ev->u.balance.pubkey, 0, h->changes[h->nchanges].address, SS58_MAX_LEN);
		h->nchanges++;
		break;
	case ROLLOUT_EV_ACTIVITY:
		if (h->nacts == h->capacts) {
			h->capacts = h->capacts ? h->capacts * 2 : 64;
			h->acts = realloc(h->acts, h->capacts * sizeof(*h->acts));
		}
		h->acts[h->nacts++] = ev->u.activity;
		break;
	case ROLLOUT_EV_TRANSFER:
		if (h->nxfers == h->capxfers) {
			h->capxfers = h->capxfers ? h->capxfers * 2 : 64;
			h->xfers = realloc(h->xfers, h->capxfers * sizeof(*h->xfers));
		}
		h->xfers[h->nxfers++] = ev->u.transfer;
		break;
	case ROLLOUT_EV_ERROR:
		if (strlen(h->errors_text) + strlen(ev->u.error.message) + 2 < sizeof(h->errors_text)) {
			strcat(h->errors_text, ev->u.error.message);
			strcat(h->errors_text, "\n");
		}
		h->nerrors++;
		snprintf(h->last_error_kind, sizeof(h->last_error_kind), "%s", ev->u.error.kind);
		snprintf(h->last_error, sizeof(h->last_error), "%s", ev->u.error.message);
		break;
	case ROLLOUT_EV_HEALTH:
		h->healthy = ev->u.health.healthy;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void
th_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (getenv("TEST_VERBOSE") == NULL && lvl > ROLLOUT_LOG_ERROR)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  [plugin %d] ", (int)lvl);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
th_metric(void *ctx, const char *name, double v)
{
	struct thost *h = th_of(ctx);
	size_t i;

	pthread_mutex_lock(&h->lock);
	if (strcmp(name, "breaker_state") == 0 && h->nbreaker < 64)
		h->breaker_hist[h->nbreaker++] = v;
	for (i = 0; i < h->nmetrics && strcmp(h->metrics[i].name, name) != 0; i++)
		;
	if (i == h->nmetrics && i < 64) {
		snprintf(h->metrics[i].name, sizeof(h->metrics[i].name), "%s", name);
		h->nmetrics++;
	}
	if (i < 64) {
		h->metrics[i].sum += v;
		h->metrics[i].n++;
	}
	pthread_mutex_unlock(&h->lock);
}

static double
th_metric_sum(struct thost *h, const char *name)
{
	double v = 0;
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nmetrics; i++)
		if (strcmp(h->metrics[i].name, name) == 0)
			v = h->metrics[i].sum;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static int64_t
th_now_ms(void *ctx)
{
	struct thost *h = th_of(ctx);
	struct timespec ts;
	int64_t real;

	clock_gettime(CLOCK_REALTIME, &ts);
	real = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	/* like rolloutd --speed: the host clock runs faster than the wall clock */
	if (h->speed > 0)
		return h->t0_ms + (int64_t)((double)(real - h->t0_ms) * h->speed);
	return real;
}

static const struct tcfg_item *
th_item(struct thost *h, const struct rollout_cfg *node, const char *key)
{
	size_t i;

	if (node != NULL && (const void *)node != (const void *)&h->root_marker)
		return NULL;
	for (i = 0; i < h->nitems; i++)
		if (strcmp(h->items[i].key, key) == 0)
			return &h->items[i];
	return NULL;
}

static enum rollout_cfg_kind
th_cfg_kind(void *ctx, const struct rollout_cfg *node)
{
	struct thost *h = th_of(ctx);

	if (node == NULL || (const void *)node == (const void *)&h->root_marker)
		return ROLLOUT_CFG_MAP;
	return ROLLOUT_CFG_SCALAR;
}

static const struct rollout_cfg *
th_cfg_get(void *ctx, const struct rollout_cfg *node, const char *key)
{
	return (const struct rollout_cfg *)th_item(th_of(ctx), node, key);
}

static size_t
th_cfg_len(void *ctx, const struct rollout_cfg *node)
{
	struct thost *h = th_of(ctx);

	return th_cfg_kind(ctx, node) == ROLLOUT_CFG_MAP ? h->nitems : 0;
}

static const struct rollout_cfg *
th_cfg_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	struct thost *h = th_of(ctx);

	(void)node;
	return i < h->nitems ? (const struct rollout_cfg *)&h->items[i] : NULL;
}

static const char *
th_cfg_key_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	struct thost *h = th_of(ctx);

	(void)node;
	return i < h->nitems ? h->items[i].key : NULL;
}

static const char *
th_cfg_scalar(void *ctx, const struct rollout_cfg *node)
{
	(void)ctx;
	return node ? ((const struct tcfg_item *)(const void *)node)->val : NULL;
}

static int
th_cfg_string(void *ctx, const struct rollout_cfg *node, const char *key, const char *deflt,
    const char **out)
{
	const struct tcfg_item *it = th_item(th_of(ctx), node, key);

	*out = it ? it->val : deflt;
	return it ? 0 : -ENOENT;
}

static int
th_cfg_int(void *ctx, const struct rollout_cfg *node, const char *key, long long min,
    long long max, long long deflt, long long *out)
{
	const struct tcfg_item *it = th_item(th_of(ctx), node, key);
	char *end;
	long long v;

	*out = deflt;
	if (it == NULL)
		return -ENOENT;
	v = strtoll(it->val, &end, 10);
	if (*end != '\0' || v < min || v > max) {
		fprintf(stderr, "  test host: %s: expected an integer %lld..%lld\n", key, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
th_cfg_bool(void *ctx, const struct rollout_cfg *node, const char *key, int deflt, int *out)
{
	const struct tcfg_item *it = th_item(th_of(ctx), node, key);

	*out = deflt;
	if (it == NULL)
		return -ENOENT;
	if (strcmp(it->val, "true") == 0)
		*out = 1;
	else if (strcmp(it->val, "false") == 0)
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int
th_cfg_duration_ms(void *ctx, const struct rollout_cfg *node, const char *key, int64_t deflt,
    int64_t *out)
{
	const struct tcfg_item *it = th_item(th_of(ctx), node, key);
	char err[128];

	*out = deflt;
	if (it == NULL)
		return -ENOENT;
	if (duration_parse(it->val, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "  test host: %s: %s\n", key, err);
		*out = deflt;
		return -EINVAL;
	}
	return 0;
}

static void
th_cfg_error(void *ctx, const struct rollout_cfg *node, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)node;
	va_start(ap, fmt);
	fprintf(stderr, "  test host: config error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
th_set(struct thost *h, const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < h->nitems && strcmp(h->items[i].key, key) != 0; i++)
		;
	assert_true(i < MAX_CFG);
	if (i == h->nitems)
		h->nitems++;
	snprintf(h->items[i].key, sizeof(h->items[i].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(h->items[i].val, sizeof(h->items[i].val), fmt, ap);
	va_end(ap);
}

static struct thost *
th_new(const char *data_dir)
{
	struct thost *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	pthread_mutex_init(&h->lock, NULL);
	h->healthy = -1;
	snprintf(h->data_dir, sizeof(h->data_dir), "%s", data_dir ? data_dir : "");
	h->api.size = sizeof(h->api);
	h->api.abi = ROLLOUT_PLUGIN_ABI;
	h->api.ctx = h;
	h->api.instance = "baseline";
	h->api.data_dir = data_dir ? h->data_dir : NULL;
	h->api.chain = "polkadot";
	h->api.ss58_prefix = 0;
	h->api.decimals = 10;
	h->api.symbol = "DOT";
	h->api.default_rpc = "wss://127.0.0.1:1/";
	h->api.default_subscan = "https://127.0.0.1:1";
	h->api.config = (const struct rollout_cfg *)(const void *)&h->root_marker;
	h->api.emit = th_emit;
	h->api.log = th_log;
	h->api.metric = th_metric;
	h->api.now_ms = th_now_ms;
	h->api.cfg_kind = th_cfg_kind;
	h->api.cfg_get = th_cfg_get;
	h->api.cfg_len = th_cfg_len;
	h->api.cfg_at = th_cfg_at;
	h->api.cfg_key_at = th_cfg_key_at;
	h->api.cfg_scalar = th_cfg_scalar;
	h->api.cfg_string = th_cfg_string;
	h->api.cfg_int = th_cfg_int;
	h->api.cfg_bool = th_cfg_bool;
	h->api.cfg_duration_ms = th_cfg_duration_ms;
	h->api.cfg_error = th_cfg_error;
	/* the per-account lookups are tested on their own; elsewhere they would
	 * add requests to the counts the tests check */
	th_set(h, "activity_lookups", "0");
	th_set(h, "exchange_lookups", "0");
	return h;
}

/* dlopen the plugin, init and start it.  Returns init's/start's result. */
static int
th_start(struct thost *h)
{
	char path[PATH_MAX + 64];
	rollout_plugin_entry_fn entry;
	int rc;

	snprintf(path, sizeof(path), "%s/plugins/subscan_poller.so", build_dir);
	h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h->dl == NULL)
		fail_msg("dlopen %s: %s", path, dlerror());
	*(void **)&entry = dlsym(h->dl, ROLLOUT_PLUGIN_ENTRY);
	assert_non_null(entry);
	h->pl = entry();
	assert_int_equal(h->pl->magic, ROLLOUT_PLUGIN_MAGIC);
	assert_string_equal(h->pl->name, "subscan_poller");
	rc = h->pl->init(&h->api, &h->self);
	if (rc < 0)
		return rc;
	return h->pl->start(h->self);
}

static void
th_free(struct thost *h)
{
	if (h == NULL)
		return;
	if (h->self != NULL) {
		h->pl->stop(h->self);
		h->pl->destroy(h->self);
	}
	if (h->dl != NULL)
		dlclose(h->dl);
	free(h->snap);
	free(h->changes);
	free(h->acts);
	free(h->xfers);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int
th_cmd(struct thost *h, const char *cmd, const char *arg, char *reply, size_t len)
{
	return h->pl->command(h->self, cmd, arg, reply, len);
}

/* Wait until *COUNTER (under the host lock) reaches WANT; fail after SECS. */
static void
th_wait(struct thost *h, size_t *counter, size_t want, double secs, const char *what)
{
	struct timespec ts = { 0, 10 * 1000000L };
	double waited = 0;

	for (;;) {
		size_t v;

		pthread_mutex_lock(&h->lock);
		v = *counter;
		pthread_mutex_unlock(&h->lock);
		if (v >= want)
			return;
		if (waited > secs)
			fail_msg("timed out waiting for %s (%zu of %zu)", what, v, want);
		nanosleep(&ts, NULL);
		waited += 0.01;
	}
}

/* ---- the fake ------------------------------------------------------------------- */

struct fake {
	pid_t pid;
	unsigned port;
	char url[64];
};

/* Every fake started, so a failed assertion (a longjmp) cannot leak one. */
static pid_t fake_pids[64];
static size_t nfake_pids;

static void
fake_kill_all(void)
{
	size_t i;

	for (i = 0; i < nfake_pids; i++) {
		if (fake_pids[i] > 0 && kill(fake_pids[i], SIGTERM) == 0)
			waitpid(fake_pids[i], NULL, 0);
		fake_pids[i] = 0;
	}
	nfake_pids = 0;
}

static int
teardown_fakes(void **state)
{
	(void)state;
	fake_kill_all();
	return 0;
}

static void
fake_start(struct fake *f, const char *const *extra)
{
	char exe[PATH_MAX + 64], line[128];
	const char *argv[32];
	int pfd[2], n = 0, i;
	struct pollfd pp;
	ssize_t got = 0;

	snprintf(exe, sizeof(exe), "%s/tests/fakes/fakescan", build_dir);
	argv[n++] = exe;
	argv[n++] = "--snapshots";
	argv[n++] = snap_dir;
	for (i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	assert_int_equal(pipe(pfd), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	if (nfake_pids < 64)
		fake_pids[nfake_pids++] = f->pid;
	pp.fd = pfd[0];
	pp.events = POLLIN;
	memset(line, 0, sizeof(line));
	while (got < (ssize_t)sizeof(line) - 1 && strchr(line, '\n') == NULL) {
		ssize_t r;

		if (poll(&pp, 1, 10000) <= 0)
			break;
		r = read(pfd[0], line + got, sizeof(line) - 1 - (size_t)got);
		if (r <= 0)
			break;
		got += r;
	}
	close(pfd[0]);
	if (sscanf(line, "fakescan listening on 127.0.0.1:%u", &f->port) != 1)
		fail_msg("fakescan did not start: \"%s\"", line);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->port);
}

static void
fake_stop(struct fake *f)
{
	size_t i;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		for (i = 0; i < nfake_pids; i++)
			if (fake_pids[i] == f->pid)
				fake_pids[i] = 0;
		f->pid = 0;
	}
}

struct buf {
	char *p;
	size_t n;
};

static size_t
buf_write(char *p, size_t s, size_t n, void *arg)
{
	struct buf *b = arg;

	b->p = realloc(b->p, b->n + s * n + 1);
	memcpy(b->p + b->n, p, s * n);
	b->n += s * n;
	b->p[b->n] = '\0';
	return s * n;
}

/* Control request to the fake; returns the parsed JSON answer. */
static json_t *
fake_ctl(struct fake *f, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	struct buf b = { NULL, 0 };
	char url[256];
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", f->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	j = json_loads(b.p ? b.p : "", 0, NULL);
	free(b.p);
	assert_non_null(j);
	return j;
}

/* Control request whose answer is not needed. */
static void
fake_do(struct fake *f, const char *path, const char *body)
{
	json_decref(fake_ctl(f, path, body));
}

static long long
fake_stat(struct fake *f, const char *key)
{
	json_t *s = fake_ctl(f, "/_fake/stats", NULL);
	long long v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* ---- independent expectations from the JSON files ------------------------------- */

/* Decimal token text with up to 10 decimals -> u128 (the test's own parser). */
static rollout_u128
tokens_u128(const char *s)
{
	rollout_u128 v = 0;
	int frac = -1;

	for (; *s; s++) {
		if (*s == '.') {
			frac = 0;
			continue;
		}
		v = v * 10 + (rollout_u128)(*s - '0');
		if (frac >= 0)
			frac++;
	}
	for (frac = frac < 0 ? 0 : frac; frac < 10; frac++)
		v *= 10;
	return v;
}

struct expect_acct {
	const char *address;
	rollout_u128 free, reserved, total, frozen;
	uint32_t nonce;
};

static json_t *
load_snapshot(size_t i, struct expect_acct **out, size_t *n, int64_t *gen)
{
	json_t *root = json_load_file(snap_files[i], 0, NULL), *list;
	size_t k;

	assert_non_null(root);
	list = json_object_get(json_object_get(root, "data"), "list");
	*n = json_array_size(list);
	*out = calloc(*n + 1, sizeof(**out));
	*gen = (int64_t)json_integer_value(json_object_get(root, "generated_at"));
	for (k = 0; k < *n; k++) {
		json_t *r = json_array_get(list, k);
		struct expect_acct *a = &(*out)[k];

		a->address = json_string_value(json_object_get(r, "address"));
		a->total = tokens_u128(json_string_value(json_object_get(r, "balance")));
		a->reserved = tokens_u128(json_string_value(json_object_get(r, "reserved")));
		a->frozen = tokens_u128(json_string_value(json_object_get(r, "balance_lock")));
		a->free = a->total - a->reserved;
		a->nonce = (uint32_t)json_integer_value(json_object_get(r, "nonce"));
	}
	return root;
}

static const struct expect_acct *
find_acct(const struct expect_acct *v, size_t n, const char *address)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].address, address) == 0)
			return &v[i];
	return NULL;
}

/*
 * Check the host's recorded changes against the legacy definition applied
 * to snapshot files A -> B: accounts in both whose free, reserved or nonce
 * differ (has_before = 1), accounts only in B (has_before = 0).
 */
static void
check_changes(struct thost *h, size_t from_change, size_t a, size_t b)
{
	struct expect_acct *ea, *eb;
	size_t na, nb, i, want_changes = 0, want_new = 0, got_changes = 0, got_new = 0;
	int64_t ga, gb;
	json_t *ra = load_snapshot(a, &ea, &na, &ga), *rb = load_snapshot(b, &eb, &nb, &gb);

	for (i = 0; i < nb; i++) {
		const struct expect_acct *p = find_acct(ea, na, eb[i].address);

		if (p == NULL)
			want_new++;
		else if (p->free != eb[i].free || p->reserved != eb[i].reserved || p->nonce != eb[i].nonce)
			want_changes++;
	}
	pthread_mutex_lock(&h->lock);
	for (i = from_change; i < h->nchanges; i++) {
		const struct tchange *c = &h->changes[i];
		const struct expect_acct *p = find_acct(ea, na, c->address);
		const struct expect_acct *q = find_acct(eb, nb, c->address);

		if (q == NULL)
			fail_msg("change for %s which is not in snapshot %zu", c->address, b);
		assert_true(c->ch.after.free == q->free);
		assert_true(c->ch.after.reserved == q->reserved);
		assert_true(c->ch.after.frozen == q->frozen);
		assert_int_equal(c->ch.after.nonce, q->nonce);
		assert_int_equal(c->ch.window_start_ms, ga * 1000);
		assert_int_equal(c->ch.window_end_ms, gb * 1000);
		assert_int_equal(c->ch.known_mask & ROLLOUT_KNOW_FROZEN, 0);
		assert_int_equal(c->ch.block_from, 0);
		if (c->ch.has_before) {
			assert_non_null(p);
			assert_true(c->ch.before.free == p->free);
			assert_true(c->ch.before.reserved == p->reserved);
			assert_int_equal(c->ch.before.nonce, p->nonce);
			assert_true(p->free != q->free || p->reserved != q->reserved || p->nonce != q->nonce);
			got_changes++;
		} else {
			assert_null(p);
			got_new++;
		}
	}
	pthread_mutex_unlock(&h->lock);
	assert_int_equal(got_changes, want_changes);
	assert_int_equal(got_new, want_new);
	assert_true(want_changes > 0);
	free(ea);
	free(eb);
	json_decref(ra);
	json_decref(rb);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
subscan_cycle__top_1000__exactly_ten_pages_labels_and_planck(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	struct expect_acct *ea;
	size_t n, i;
	int64_t gen;
	json_t *root, *st, *log;
	char reply[4096];

	(void)state;
	fake_start(&f, (const char *const[]){ "--api-key", "k-test", NULL });
	setenv("SUBSCAN_API_KEY", "k-test", 1);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "1000");
	th_set(h, "rate", "0");
	th_set(h, "interval", "1h");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "the first snapshot");
	st = fake_ctl(&f, "/_fake/stats", NULL);
	assert_int_equal(json_integer_value(json_object_get(st, "requests")), 10);
	assert_int_equal(json_integer_value(json_object_get(st, "bad_key")), 0);
	log = json_object_get(st, "log");
	for (i = 0; i < json_array_size(log); i++) {
		json_t *e = json_array_get(log, i);

		assert_int_equal(json_integer_value(json_object_get(e, "page")), (json_int_t)i);
		assert_int_equal(json_integer_value(json_object_get(e, "row")), 100);
		assert_int_equal(json_integer_value(json_object_get(e, "status")), 200);
	}
	json_decref(st);
	root = load_snapshot(0, &ea, &n, &gen);
	pthread_mutex_lock(&h->lock);
	assert_int_equal(h->snap_count, n);
	assert_int_equal(h->snap_taken_ms, gen * 1000);
	for (i = 0; i < n; i++) {
		char addr[SS58_MAX_LEN];

		ss58_encode(h->snap[i].pubkey, 0, addr, sizeof(addr));
		assert_string_equal(addr, ea[i].address);
		assert_int_equal(h->snap[i].rank, i + 1);
		assert_true(h->snap[i].total == ea[i].total);
		assert_true(h->snap[i].data.free == ea[i].free);
		assert_true(h->snap[i].data.reserved == ea[i].reserved);
		assert_true(h->snap[i].data.frozen == ea[i].frozen);
		assert_int_equal(h->snap[i].data.nonce, ea[i].nonce);
		if (strcmp(addr, ADDR_BINANCE) == 0) {
			assert_string_equal(h->snap[i].tag_type, "Exchange");
			assert_string_equal(h->snap[i].tag_name, "Binance.com");
		}
		if (strcmp(addr, ADDR_TREASURY) == 0)
			assert_string_equal(h->snap[i].display, "modlpy/trsry");
	}
	assert_int_equal(h->nchanges, 0); /* the first snapshot is a baseline, not changes */
	pthread_mutex_unlock(&h->lock);
	assert_true(th_metric_sum(h, "requests") == 10);
	assert_int_equal(th_cmd(h, "stats", NULL, reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "\"cycles_ok\":1"));
	assert_non_null(strstr(reply, "\"last_cycle_requests\":10"));
	assert_int_equal(th_cmd(h, "nonsense", NULL, reply, sizeof(reply)), -ENOTSUP);
	free(ea);
	json_decref(root);
	th_free(h);
	/* 250 accounts: three requests */
	h = th_new(NULL);
	fake_do(&f, "/_fake/stats/reset", "");
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "250");
	th_set(h, "rate", "0");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "the snapshot of 250");
	assert_int_equal(h->snap_count, 250);
	assert_int_equal(fake_stat(&f, "requests"), 3);
	th_free(h);
	unsetenv("SUBSCAN_API_KEY");
	fake_stop(&f);
}

static void
subscan_legacy__consecutive_snapshots__changes_match_files_and_survive_restart(void **state)
{
	char dir[] = "/tmp/test_subscan.XXXXXX", path[PATH_MAX + 64], reply[4096];
	struct thost *h;
	struct fake f = { 0 };
	size_t mark;
	struct stat sb;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fake_start(&f, NULL);
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "1000");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "snapshot 0");
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->snapshots, 2, 20, "snapshot 1");
	check_changes(h, 0, 0, 1);
	snprintf(path, sizeof(path), "%s/plugins/baseline/snapshot.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	th_free(h);
	/* a restart compares against the saved snapshot 1, not against nothing */
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "1000");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "snapshot 2 after the restart");
	mark = 0;
	check_changes(h, mark, 1, 2);
	/* the fake's control endpoint jumps to snapshot 5: the diff spans the gap */
	json_decref(fake_ctl(&f, "/_fake/advance", "5"));
	pthread_mutex_lock(&h->lock);
	mark = h->nchanges;
	pthread_mutex_unlock(&h->lock);
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->snapshots, 2, 20, "snapshot 5");
	check_changes(h, mark, 2, 5);
	th_free(h);
	/* a damaged saved snapshot is ignored (a warning), not trusted and not fatal */
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs("{\"version\":1,\"chain\":\"polkadot\",\"decimals\":10,\"accounts\":[{\"address\":\"x\"}]}", fp);
		fclose(fp);
	}
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "1000");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "a snapshot after a damaged file");
	assert_int_equal(h->nchanges, 0);
	th_free(h);
	fake_stop(&f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugins/baseline", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/plugins", dir);
	rmdir(path);
	rmdir(dir);
}

static void
subscan_ratelimit__429_storm__never_over_rate_and_retry_after_honoured(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	json_t *st, *log;
	size_t i;

	(void)state;
	/* six 429s that allow an immediate retry, then two that ask for 1 s */
	fake_start(&f, (const char *const[]){ "--fault", "429:6:0", "--fault", "429:2:1", NULL });
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "500");
	th_set(h, "rate", "5");
	th_set(h, "retries", "10");
	th_set(h, "backoff_base", "10ms");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 25, "a snapshot after the storm");
	st = fake_ctl(&f, "/_fake/stats", NULL);
	assert_int_equal(json_integer_value(json_object_get(st, "requests")), 8 + 5);
	if (json_integer_value(json_object_get(st, "max_per_second")) > 5)
		fail_msg("the fake saw %lld requests in one second (rate 5)",
		    (long long)json_integer_value(json_object_get(st, "max_per_second")));
	log = json_object_get(st, "log");
	for (i = 0; i + 1 < json_array_size(log); i++) {
		json_t *e = json_array_get(log, i), *next = json_array_get(log, i + 1);

		if (i >= 6 && i < 8) { /* the 429s with Retry-After: 1 */
			assert_int_equal(json_integer_value(json_object_get(e, "status")), 429);
			assert_true(json_real_value(json_object_get(next, "t")) -
			    json_real_value(json_object_get(e, "t")) >= 0.99);
		}
	}
	json_decref(st);
	assert_true(th_metric_sum(h, "errors.http_429") == 8);
	assert_int_equal(h->nerrors, 0);
	assert_int_equal(h->snap_count, 500);
	th_free(h);
	fake_stop(&f);
}

static void
wait_cycles(struct thost *h, size_t snaps, size_t errors)
{
	th_wait(h, &h->snapshots, snaps, 15, "snapshot");
	th_wait(h, &h->nerrors, errors, 15, "error");
}

static void
subscan_breaker__failures__open_half_open_closed(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	char reply[4096];
	long long before;
	size_t k;

	(void)state;
	fake_start(&f, (const char *const[]){ "--fault", "503:*", NULL });
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	th_set(h, "retries", "0");
	th_set(h, "breaker_failures", "3");
	th_set(h, "breaker_cooldown", "1500ms"); /* long enough that a stalled test cannot outlast it */
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 0, 1);
	for (k = 2; k <= 3; k++) {
		th_cmd(h, "poll", NULL, reply, sizeof(reply));
		wait_cycles(h, 0, k);
	}
	assert_string_equal(h->last_error_kind, "http_5xx");
	assert_int_equal(h->nbreaker, 2); /* 0 at start, then 2 = open */
	assert_true(h->breaker_hist[1] == 2);
	/* open: fail fast without a request */
	before = fake_stat(&f, "requests");
	th_cmd(h, "poll", NULL, reply, sizeof(reply));
	wait_cycles(h, 0, 4);
	assert_string_equal(h->last_error_kind, "breaker_open");
	assert_int_equal(fake_stat(&f, "requests"), before);
	assert_int_equal(h->healthy, 0);
	/* after the cooldown a probe fails: open again */
	usleep(1600 * 1000);
	th_cmd(h, "poll", NULL, reply, sizeof(reply));
	wait_cycles(h, 0, 5);
	assert_int_equal(fake_stat(&f, "requests"), before + 1);
	assert_true(h->breaker_hist[2] == 1 && h->breaker_hist[3] == 2);
	/* the server recovers: the next probe closes the breaker */
	fake_do(&f, "/_fake/fault/clear", "");
	usleep(1600 * 1000);
	th_cmd(h, "poll", NULL, reply, sizeof(reply));
	wait_cycles(h, 1, 5);
	assert_true(h->breaker_hist[4] == 1 && h->breaker_hist[5] == 0);
	assert_int_equal(h->nbreaker, 6);
	assert_int_equal(h->healthy, 1);
	assert_int_equal(th_cmd(h, "stats", NULL, reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "\"breaker\":\"closed\""));
	th_free(h);
	fake_stop(&f);
}

static void
subscan_faults__each_fault__clear_error_then_recovery(void **state)
{
	static const struct {
		const char *fault, *kind, *text;
	} cases[] = {
		{ "500", "http_5xx", "HTTP 500" },
		{ "502", "http_5xx", "HTTP 502" },
		{ "503", "http_5xx", "HTTP 503" },
		{ "truncate", "truncated", "page 0" },
		{ "close:2", "transport", "Server returned nothing" }, /* curl retries a dead reused connection once */
		{ "invalid_json", "invalid_json", "invalid JSON" },
		{ "code:1:10005", "api_code", "Subscan code 10005: Internal error" },
		{ "code:1:10001", "api_code", "Subscan code 10001" },
		{ "wrong_type", "decode", "page 0 row 0: balance: expected a decimal string, got a number" },
		{ "missing_field", "decode", "page 0 row 0: balance: missing" },
		{ "decimals", "decode", "has more than 10 decimals" },
		{ "slow:1:1500", "timeout", "imeout" },
		{ "401", "auth", "HTTP 401" },
	};
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	char reply[4096], metric[64];
	size_t i;

	(void)state;
	fake_start(&f, NULL);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	th_set(h, "retries", "0");
	th_set(h, "timeout", "400ms");
	th_set(h, "breaker_failures", "1000");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 1, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = fake_ctl(&f, "/_fake/fault", cases[i].fault);

		json_decref(r);
		th_cmd(h, "poll", NULL, reply, sizeof(reply));
		wait_cycles(h, 1 + i, 1 + i);
		if (strcmp(h->last_error_kind, cases[i].kind) != 0 ||
		    strstr(h->last_error, cases[i].text) == NULL)
			fail_msg("fault %s: got %s \"%s\", want %s \"%s\"", cases[i].fault,
			    h->last_error_kind, h->last_error, cases[i].kind, cases[i].text);
		if (strcmp(cases[i].kind, "decode") != 0) {
			snprintf(metric, sizeof(metric), "errors.%s", cases[i].kind);
			assert_true(th_metric_sum(h, metric) >= 1);
		}
		assert_int_equal(h->healthy, 0);
		/* the next good cycle recovers */
		th_cmd(h, "poll", NULL, reply, sizeof(reply));
		wait_cycles(h, 2 + i, 1 + i);
		assert_int_equal(h->healthy, 1);
		assert_int_equal(h->snap_count, 100);
	}
	/* a good answer with RateLimit-Remaining: 0 and RateLimit-Reset: 1 holds the next request */
	{
		size_t base = 2 + sizeof(cases) / sizeof(cases[0]);
		json_t *st, *log;
		double gap;

		fake_do(&f, "/_fake/fault", "ratelimit:1:1");
		th_cmd(h, "poll", NULL, reply, sizeof(reply));
		wait_cycles(h, base, sizeof(cases) / sizeof(cases[0]));
		th_cmd(h, "poll", NULL, reply, sizeof(reply));
		wait_cycles(h, base + 1, sizeof(cases) / sizeof(cases[0]));
		st = fake_ctl(&f, "/_fake/stats", NULL);
		log = json_object_get(st, "log");
		gap = json_real_value(json_object_get(json_array_get(log, json_array_size(log) - 1), "t")) -
		    json_real_value(json_object_get(json_array_get(log, json_array_size(log) - 2), "t"));
		assert_string_equal(json_string_value(json_object_get(json_array_get(log,
		    json_array_size(log) - 2), "fault")), "ratelimit");
		if (gap < 0.99)
			fail_msg("request %.3fs after RateLimit-Remaining: 0, RateLimit-Reset: 1", gap);
		json_decref(st);
	}
	th_free(h);
	fake_stop(&f);
}

static void
subscan_backoff__two_503_then_ok__retried_with_growing_jittered_delays(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	json_t *st, *log;
	double t[3];
	size_t i;

	(void)state;
	fake_start(&f, (const char *const[]){ "--fault", "503:2", NULL });
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	th_set(h, "retries", "3");
	th_set(h, "backoff_base", "200ms");
	th_set(h, "backoff_max", "10s");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 1, 0);
	st = fake_ctl(&f, "/_fake/stats", NULL);
	log = json_object_get(st, "log");
	assert_int_equal(json_array_size(log), 3);
	for (i = 0; i < 3; i++)
		t[i] = json_real_value(json_object_get(json_array_get(log, i), "t"));
	/* attempt n waits base * 2^n, half of it fixed and half random */
	if (t[1] - t[0] < 0.099 || t[1] - t[0] > 1.0 || t[2] - t[1] < 0.199 || t[2] - t[1] > 2.0)
		fail_msg("retry delays %.3f s and %.3f s, want [0.1, 0.2] and [0.2, 0.4]",
		    t[1] - t[0], t[2] - t[1]);
	json_decref(st);
	assert_true(th_metric_sum(h, "errors.http_5xx") == 2);
	assert_int_equal(h->nerrors, 0);   /* retried within the cycle: no failed cycle */
	th_free(h);
	fake_stop(&f);
}

static void
subscan_transfers__over_10000_rows__pages_then_after_id(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	size_t len = 8 * 1024 * 1024, i;
	char *reply = malloc(len), arg[256];
	json_t *r, *list, *st, *log;

	(void)state;
	fake_start(&f, (const char *const[]){ "--synth-transfers", ADDR_TREASURY ":10250", NULL });
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 1, 0);
	fake_do(&f, "/_fake/stats/reset", "");
	snprintf(arg, sizeof(arg), "{\"address\":\"%s\",\"row\":10250}", ADDR_TREASURY);
	assert_int_equal(th_cmd(h, "transfers", arg, reply, len), 0);
	r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	list = json_object_get(r, "transfers");
	assert_int_equal(json_array_size(list), 10250);
	assert_int_equal(json_integer_value(json_object_get(r, "returned")), 10250);
	for (i = 0; i < json_array_size(list); i++) {
		json_t *t = json_array_get(list, i);

		assert_int_equal(json_integer_value(json_object_get(t, "transfer_id")), 10250 - i);
	}
	{
		json_t *t = json_array_get(list, 10250 - 7); /* transfer_id 7: "7.5" */

		assert_string_equal(json_string_value(json_object_get(t, "amount_planck")), "75000000000");
		assert_string_equal(json_string_value(json_object_get(t, "from_label")), "synthetic sender");
		assert_string_equal(json_string_value(json_object_get(t, "to_label")), "Synthetic Exchange");
		assert_string_equal(json_string_value(json_object_get(t, "to_tag_type")), "Exchange");
		assert_string_equal(json_string_value(json_object_get(t, "extrinsic_index")), "1007-2");
	}
	json_decref(r);
	st = fake_ctl(&f, "/_fake/stats", NULL);
	log = json_object_get(st, "log");
	assert_int_equal(json_array_size(log), 103);
	for (i = 0; i < 100; i++) {
		json_t *e = json_array_get(log, i);

		assert_int_equal(json_integer_value(json_object_get(e, "page")), (json_int_t)i);
		assert_int_equal(json_integer_value(json_object_get(e, "after_id")), 0);
	}
	for (i = 100; i < 103; i++) {
		json_t *e = json_array_get(log, i);

		assert_int_equal(json_integer_value(json_object_get(e, "page")), 0);
		/* after the 100 * (i - 99) newest: ids 10250 .. 251 were seen on the pages */
		assert_int_equal(json_integer_value(json_object_get(e, "after_id")),
		    10250 - 10000 - (json_int_t)(i - 100) * 100 + 1);
	}
	json_decref(st);
	/* block range filter, and a small reply buffer truncates instead of failing */
	snprintf(arg, sizeof(arg), "{\"address\":\"%s\",\"block_range\":\"1001-1010\",\"row\":100}",
	    ADDR_TREASURY);
	assert_int_equal(th_cmd(h, "transfers", arg, reply, len), 0);
	assert_non_null(strstr(reply, "\"count\":10"));
	assert_non_null(strstr(reply, "\"returned\":10"));
	assert_int_equal(th_cmd(h, "transfers", arg, reply, 1500), 0);
	assert_non_null(strstr(reply, "\"truncated\":true"));
	assert_int_equal(th_cmd(h, "transfers", "{\"address\":\"nope\"}", reply, len), -EINVAL);
	assert_non_null(strstr(reply, "address"));
	assert_int_equal(th_cmd(h, "transfers", "not json", reply, len), -EINVAL);
	free(reply);
	th_free(h);
	fake_stop(&f);
}


/* ---- per-account lookups: activity and exchange transfers ------------------------- */

static size_t
th_count(struct thost *h, size_t *counter)
{
	size_t v;

	pthread_mutex_lock(&h->lock);
	v = *counter;
	pthread_mutex_unlock(&h->lock);
	return v;
}

/* The fake's count of requests to PATH. */
static long long
fake_path_count(struct fake *f, const char *path)
{
	json_t *st = fake_ctl(f, "/_fake/stats", NULL);
	long long v = json_integer_value(json_object_get(json_object_get(st, "by_path"), path));

	json_decref(st);
	return v;
}

/* Wait until the plugin's stats say the cycle's lookups are done (N answers in all). */
static void
wait_lookups(struct thost *h, const char *key, long long want)
{
	char reply[8192];
	int i;

	for (i = 0; i < 1500; i++) {
		json_t *r;
		long long v;

		assert_int_equal(th_cmd(h, "stats", NULL, reply, sizeof(reply)), 0);
		r = json_loads(reply, 0, NULL);
		v = json_integer_value(json_object_get(json_object_get(r, "lookups"), key));
		json_decref(r);
		if (v >= want)
			return;
		usleep(10000);
	}
	fail_msg("lookups.%s did not reach %lld: %s", key, want, reply);
}

static long long
stats_lookup(struct thost *h, const char *key)
{
	char reply[8192];
	json_t *r;
	long long v;

	assert_int_equal(th_cmd(h, "stats", NULL, reply, sizeof(reply)), 0);
	r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	v = json_integer_value(json_object_get(json_object_get(r, "lookups"), key));
	json_decref(r);
	return v;
}

static int
pk_in(uint8_t (*set)[32], size_t n, const uint8_t pk[32])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(set[i], pk, 32) == 0)
			return 1;
	return 0;
}

/*
 * Check that activity events FROM.. are, in order, the first WANT accounts
 * of the last snapshot not in ASKED; add them to ASKED.
 */
static void
check_activity_round(struct thost *h, size_t from, size_t want, uint8_t (*asked)[32],
    size_t *nasked, const uint8_t treasury[32], int64_t treasury_ms)
{
	size_t i, k = from;
	uint8_t other[32];
	char err[128];

	assert_int_equal(ss58_decode(ADDR_OTHER, other, NULL, err, sizeof(err)), 0);

	pthread_mutex_lock(&h->lock);
	assert_int_equal(h->nacts - from, want);
	for (i = 0; i < h->snap_count && k < h->nacts; i++) {
		const struct rollout_activity *a;

		if (pk_in(asked, *nasked, h->snap[i].pubkey))
			continue;
		a = &h->acts[k++];
		if (memcmp(a->pubkey, h->snap[i].pubkey, 32) != 0)
			fail_msg("activity %zu is not for rank %zu, the next account not asked", k - 1, i + 1);
		assert_string_equal(a->source, "subscan.transfers");
		if (memcmp(a->pubkey, treasury, 32) == 0 || memcmp(a->pubkey, other, 32) == 0) {
			/* the synthetic transfers' two sides */
			assert_int_equal(a->found, 1);
			assert_int_equal(a->last_ms, treasury_ms);
			assert_int_equal(a->block, 1030);
		} else {
			/* no transfer known: unknown stays unknown, never "now" */
			assert_int_equal(a->found, 0);
			assert_int_equal(a->last_ms, 0);
		}
		memcpy(asked[(*nasked)++], a->pubkey, 32);
	}
	pthread_mutex_unlock(&h->lock);
	assert_int_equal(k - from, want);
}

static void
subscan_activity__first_seen__bounded_per_cycle_retried_after_500_and_persisted(void **state)
{
	char dir[] = "/tmp/test_subscan_act.XXXXXX", path[PATH_MAX + 64], reply[4096];
	static uint8_t asked[2000][32];
	size_t nasked = 0, mark;
	struct thost *h;
	struct fake f = { 0 };
	uint8_t treasury[32];
	const int64_t treasury_ms = (int64_t)(1752790000 + 30) * 1000;
	json_t *saved;
	char err[128];

	(void)state;
	assert_int_equal(ss58_decode(ADDR_TREASURY, treasury, NULL, err, sizeof(err)), 0);
	assert_non_null(mkdtemp(dir));
	/* the treasury has 30 transfers (newest: block 1030, time 1752790030); nobody else any */
	fake_start(&f, (const char *const[]){ "--synth-transfers", ADDR_TREASURY ":30", NULL });
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "100");
	th_set(h, "activity_lookups", "30");
	assert_int_equal(th_start(h), 0);
	/* cycle 1: exactly 30 lookups, the first 30 accounts by rank */
	th_wait(h, &h->nacts, 30, 20, "30 activities");
	wait_lookups(h, "asked", 30);
	usleep(200000);
	check_activity_round(h, 0, 30, asked, &nasked, treasury, treasury_ms);
	assert_int_equal(fake_path_count(&f, "/api/v2/scan/transfers"), 30);
	{
		long long found = stats_lookup(h, "activity_found");

		/* the treasury (rank 7) at least; its synthetic counterparty too if it ranks */
		assert_true(found >= 1 && found <= 2);
		assert_int_equal(stats_lookup(h, "activity_none"), 30 - found);
	}
	assert_int_equal(stats_lookup(h, "unasked_in_top"), 70);
	/* cycle 2: the next 30 not asked yet */
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->nacts, 60, 20, "60 activities");
	wait_lookups(h, "asked", 60);
	check_activity_round(h, 30, 30, asked, &nasked, treasury, treasury_ms);
	/* cycle 3: the first lookup answers 500: no retry within the cycle, no activity */
	fake_do(&f, "/_fake/stats/reset", "");
	fake_do(&f, "/_fake/fault", "500:1@transfers");
	mark = th_count(h, &h->snapshots);
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->snapshots, mark + 1, 20, "snapshot 3");
	wait_lookups(h, "activity_errors", 1);
	usleep(200000);
	assert_int_equal(th_count(h, &h->nacts), 60);
	assert_int_equal(fake_path_count(&f, "/api/v2/scan/transfers"), 1);
	assert_int_equal(stats_lookup(h, "asked"), 60);
	/* cycle 4: the account that failed is asked first, 30 in all */
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->nacts, 90, 20, "90 activities");
	wait_lookups(h, "asked", 90);
	check_activity_round(h, 60, 30, asked, &nasked, treasury, treasury_ms);
	th_free(h);
	/* the asked-set is on disk, and a restart asks none of them again */
	snprintf(path, sizeof(path), "%s/plugins/baseline/lookups.json", dir);
	saved = json_load_file(path, 0, NULL);
	assert_non_null(saved);
	assert_int_equal(json_array_size(json_object_get(saved, "asked")), 90);
	json_decref(saved);
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "100");
	th_set(h, "activity_lookups", "30");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "a snapshot after the restart");
	wait_lookups(h, "unasked_in_top", 0);
	{
		long long unasked = 0;
		size_t i;

		pthread_mutex_lock(&h->lock);
		for (i = 0; i < h->snap_count; i++)
			unasked += !pk_in(asked, nasked, h->snap[i].pubkey);
		pthread_mutex_unlock(&h->lock);
		th_wait(h, &h->nacts, (size_t)(unasked < 30 ? unasked : 30), 20, "activities after restart");
		usleep(200000);
		check_activity_round(h, 0, (size_t)(unasked < 30 ? unasked : 30), asked, &nasked,
		    treasury, treasury_ms);
	}
	th_free(h);
	fake_stop(&f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugins/baseline/snapshot.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugins/baseline", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/plugins", dir);
	rmdir(path);
	rmdir(dir);
}


/* A Subscan transfer object as JSON text. */
static void
xfer_json(char *buf, size_t len, long id, const char *from, const char *to, const char *amount,
    const char *amount_v2, const char *to_tag, int success)
{
	char v2[96] = "", tag[200] = "";

	if (amount_v2 != NULL)
		snprintf(v2, sizeof(v2), ",\"amount_v2\":\"%s\"", amount_v2);
	if (to_tag != NULL)
		snprintf(tag, sizeof(tag), ",\"to_account_display\":{\"address\":\"%s\",\"merkle\":"
		    "{\"tag_type\":\"Exchange\",\"tag_name\":\"%s\"}}", to, to_tag);
	snprintf(buf, len, "{\"transfer_id\":%ld,\"from\":\"%s\",\"to\":\"%s\",\"amount\":\"%s\"%s,"
	    "\"block_num\":%ld,\"block_timestamp\":%ld,\"extrinsic_index\":\"%ld-1\","
	    "\"success\":%s%s}", id, from, to, amount, v2, 2000 + id, 1752800000 + id, 2000 + id,
	    success ? "true" : "false", tag);
}

static void
check_transfer(const struct rollout_transfer *t, long id, const char *from, const char *to,
    rollout_u128 planck, const char *to_tag_type, const char *to_tag_name)
{
	uint8_t pf[32], pt[32];
	char err[128], want[32];

	assert_int_equal(ss58_decode(from, pf, NULL, err, sizeof(err)), 0);
	assert_int_equal(ss58_decode(to, pt, NULL, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%ld", id);
	assert_string_equal(t->id, want);
	assert_memory_equal(t->from, pf, 32);
	assert_memory_equal(t->to, pt, 32);
	assert_true(t->amount == planck);
	assert_int_equal(t->block, 2000 + id);
	assert_int_equal(t->block_time_ms, (int64_t)(1752800000 + id) * 1000);
	assert_string_equal(t->to_tag_type, to_tag_type);
	assert_string_equal(t->to_tag_name, to_tag_name);
}

static void
subscan_exchanges__new_transfers__emitted_once_oldest_first_malformed_named(void **state)
{
	char dir[] = "/tmp/test_subscan_ex.XXXXXX", path[PATH_MAX + 64], reply[4096];
	char batch[4096], one[700];
	struct thost *h;
	struct fake f = { 0 };
	json_t *saved, *e;
	size_t i, mark;
	rollout_u128 big;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* the treasury (display modlpy/trsry, made an exchange by the pattern) has 5 old transfers */
	fake_start(&f, (const char *const[]){ "--synth-transfers", ADDR_TREASURY ":5", NULL });
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "20");
	th_set(h, "exchange_lookups", "10");
	th_set(h, "exchange_follow", "always");  /* the fake's transfers do not move its snapshots */
	th_set(h, "exchange_pattern", "(?i)TRSRY");
	assert_int_equal(th_start(h), 0);
	/* the first look only remembers the newest id: history raises nothing */
	th_wait(h, &h->snapshots, 1, 20, "snapshot 0");
	wait_lookups(h, "exchanges_followed", 4);
	usleep(200000);
	assert_int_equal(stats_lookup(h, "exchanges_in_top"), 4); /* 3 tagged + the treasury */
	assert_int_equal(th_count(h, &h->nxfers), 0);
	assert_int_equal(fake_path_count(&f, "/api/v2/scan/transfers"), 4);
	snprintf(path, sizeof(path), "%s/plugins/baseline/lookups.json", dir);
	saved = json_load_file(path, 0, NULL);
	assert_non_null(saved);
	json_array_foreach(json_object_get(saved, "exchanges"), i, e) {
		const char *a = json_string_value(json_object_get(e, "address"));

		assert_int_equal(json_integer_value(json_object_get(e, "newest_id")),
		    strcmp(a, ADDR_TREASURY) == 0 ? 5 : 0);
	}
	json_decref(saved);
	/* new: a withdrawal, a deposit of more than 2^64 planck (amount_v2), a
	 * malformed item, a failed transfer and a deposit without tags */
	strcpy(batch, "[");
	xfer_json(one, sizeof(one), 6, ADDR_BINANCE, ADDR_OTHER, "12.5", NULL, NULL, 1);
	strcat(batch, one);
	strcat(batch, ",");
	xfer_json(one, sizeof(one), 7, ADDR_TREASURY, ADDR_BINANCE, "12345678901.2345678901",
	    "123456789012345678901", "Binance.com", 1);
	strcat(batch, one);
	strcat(batch, ",");
	xfer_json(one, sizeof(one), 8, ADDR_BINANCE, "nope", "1", NULL, NULL, 1);
	strcat(batch, one);
	strcat(batch, ",");
	xfer_json(one, sizeof(one), 9, ADDR_OTHER, ADDR_BINANCE, "5", NULL, NULL, 0);
	strcat(batch, one);
	strcat(batch, ",");
	xfer_json(one, sizeof(one), 10, ADDR_OTHER, ADDR_BINANCE, "1", NULL, NULL, 1);
	strcat(batch, one);
	strcat(batch, "]");
	fake_do(&f, "/_fake/transfers", batch);
	mark = th_count(h, &h->nerrors);
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->nxfers, 3, 20, "3 transfers");
	wait_lookups(h, "exchange_requests", 8);
	usleep(200000);
	pthread_mutex_lock(&h->lock);
	assert_int_equal(h->nxfers, 3);  /* 7 is also the treasury's: once */
	check_transfer(&h->xfers[0], 6, ADDR_BINANCE, ADDR_OTHER, (rollout_u128)125000000000ULL, "", "");
	assert_string_equal(h->xfers[0].from_tag_type, "Exchange");   /* from the top list */
	assert_string_equal(h->xfers[0].from_tag_name, "Binance.com");
	big = (rollout_u128)12345678901ULL * 10000000000ULL + 2345678901ULL;
	check_transfer(&h->xfers[1], 7, ADDR_TREASURY, ADDR_BINANCE, big, "Exchange", "Binance.com");
	check_transfer(&h->xfers[2], 10, ADDR_OTHER, ADDR_BINANCE, (rollout_u128)10000000000ULL,
	    "Exchange", "Binance.com");
	assert_int_equal(h->nerrors - mark, 1);
	if (strstr(h->errors_text, "transfers item 2: to: \"nope\"") == NULL)
		fail_msg("the malformed item is not named: %s", h->errors_text);
	pthread_mutex_unlock(&h->lock);
	assert_true(th_metric_sum(h, "transfer_errors") == 1);
	assert_true(th_metric_sum(h, "transfers") == 3);
	/* next cycle: nothing new, nothing again */
	mark = th_count(h, &h->snapshots);
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->snapshots, mark + 1, 20, "snapshot 2");
	wait_lookups(h, "exchange_requests", 12);
	usleep(200000);
	assert_int_equal(th_count(h, &h->nxfers), 3);
	assert_int_equal(th_count(h, &h->nerrors), 1);
	th_free(h);
	/* a restart remembers the newest ids: only a transfer made since is news */
	xfer_json(one, sizeof(one), 11, ADDR_BINANCE, ADDR_OTHER, "2", "20000000000", NULL, 1);
	fake_do(&f, "/_fake/transfers", one);
	/* and one with more decimals than the chain has: named, skipped */
	xfer_json(one, sizeof(one), 12, ADDR_OTHER, ADDR_BINANCE, "1.12345678901", NULL, NULL, 1);
	fake_do(&f, "/_fake/transfers", one);
	h = th_new(dir);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "20");
	th_set(h, "exchange_lookups", "10");
	th_set(h, "exchange_follow", "always");  /* the fake's transfers do not move its snapshots */
	th_set(h, "exchange_pattern", "(?i)TRSRY");
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->nxfers, 1, 20, "the transfer made during the restart");
	wait_lookups(h, "exchange_requests", 4);
	usleep(200000);
	assert_int_equal(th_count(h, &h->nxfers), 1);
	check_transfer(&h->xfers[0], 11, ADDR_BINANCE, ADDR_OTHER, (rollout_u128)20000000000ULL, "", "");
	assert_int_equal(th_count(h, &h->nerrors), 1);
	if (strstr(h->errors_text, "transfers item 0: amount: ") == NULL)
		fail_msg("the item with a bad amount is not named: %s", h->errors_text);
	th_free(h);
	fake_stop(&f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugins/baseline/snapshot.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugins/baseline", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/plugins", dir);
	rmdir(path);
	rmdir(dir);
}

static void
subscan_exchanges__follow_moved__unmoved_exchange_not_asked_moved_one_followed(void **state)
{
	char reply[4096], one[700];
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	long long before;

	(void)state;
	/* manual advance: the snapshot changes only when the test says so */
	fake_start(&f, (const char *const[]){ "--manual-advance", NULL });
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "20");
	th_set(h, "exchange_lookups", "10");   /* exchange_follow: moved, the default */
	assert_int_equal(th_start(h), 0);
	th_wait(h, &h->snapshots, 1, 20, "snapshot 0");
	wait_lookups(h, "exchanges_followed", 3);   /* first looks: Binance x2, Bybit */
	xfer_json(one, sizeof(one), 6, ADDR_BINANCE, ADDR_OTHER, "3", NULL, NULL, 1);
	fake_do(&f, "/_fake/transfers", one);
	/* same snapshot again: no exchange moved, none is asked */
	before = fake_path_count(&f, "/api/v2/scan/transfers");
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->snapshots, 2, 20, "snapshot 0 again");
	usleep(300000);
	assert_int_equal(fake_path_count(&f, "/api/v2/scan/transfers"), before);
	assert_int_equal(stats_lookup(h, "exchanges_moved"), 0);
	assert_int_equal(th_count(h, &h->nxfers), 0);
	/* snapshot 1: Binance's balance moved (128263513.69 -> 130543253.41 DOT): followed */
	fake_do(&f, "/_fake/advance", "1");
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	th_wait(h, &h->nxfers, 1, 20, "the transfer of the exchange that moved");
	usleep(300000);
	assert_int_equal(th_count(h, &h->nxfers), 1);
	check_transfer(&h->xfers[0], 6, ADDR_BINANCE, ADDR_OTHER, (rollout_u128)30000000000ULL, "", "");
	assert_true(stats_lookup(h, "exchanges_moved") >= 1);
	th_free(h);
	fake_stop(&f);
}

static void
subscan_clock__speed_1000__backoff_and_breaker_cooldown_on_host_time(void **state)
{
	struct thost *h = th_new(NULL);
	struct fake f = { 0 };
	char reply[4096];
	json_t *st, *log;
	double t[3];
	size_t i;

	(void)state;
	/* backoff of 10 s and 20 s on the host clock, which runs 1000 times faster */
	fake_start(&f, (const char *const[]){ "--fault", "503:2", NULL });
	h->speed = 1000;
	h->t0_ms = th_now_ms(h);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	th_set(h, "retries", "3");
	th_set(h, "backoff_base", "10s");
	th_set(h, "backoff_max", "60s");
	th_set(h, "interval", "1000h");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 1, 0);
	st = fake_ctl(&f, "/_fake/stats", NULL);
	log = json_object_get(st, "log");
	assert_int_equal(json_array_size(log), 3);
	for (i = 0; i < 3; i++)
		t[i] = json_real_value(json_object_get(json_array_get(log, i), "t"));
	json_decref(st);
	/* [5, 10] s and [10, 20] s of host time: milliseconds of real time, not seconds */
	if (t[1] - t[0] < 0.004 || t[1] - t[0] > 1.0 || t[2] - t[1] < 0.009 || t[2] - t[1] > 1.0)
		fail_msg("retry delays %.3f s and %.3f s of real time at speed 1000", t[1] - t[0],
		    t[2] - t[1]);
	th_free(h);
	fake_stop(&f);
	/* a breaker cooldown of 20 min on the host clock is 1.2 s of real time at 1000x */
	h = th_new(NULL);
	fake_start(&f, (const char *const[]){ "--fault", "500:1", NULL });
	h->speed = 1000;
	h->t0_ms = th_now_ms(h);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "top", "100");
	th_set(h, "rate", "0");
	th_set(h, "retries", "0");
	th_set(h, "breaker_failures", "1");
	th_set(h, "breaker_cooldown", "20m");
	th_set(h, "interval", "1000h");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 0, 1);                      /* the 500: the breaker opens */
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	wait_cycles(h, 0, 2);                      /* at once: still open */
	assert_string_equal(h->last_error_kind, "breaker_open");
	usleep(1300000);
	assert_int_equal(th_cmd(h, "poll", NULL, reply, sizeof(reply)), 0);
	wait_cycles(h, 1, 2);                      /* cooled down: the probe succeeds */
	assert_int_equal(fake_stat(&f, "requests"), 2);
	th_free(h);
	fake_stop(&f);
}

static void
subscan_config__bad_values_and_keys__init_fails(void **state)
{
	struct thost *h = th_new(NULL);
	char keyfile[] = "/tmp/test_subscan_key.XXXXXX";
	struct fake f = { 0 };
	int fd;

	(void)state;
	th_set(h, "colour", "blue");
	assert_int_equal(th_start(h), -EINVAL);
	h->self = NULL;
	th_free(h);
	h = th_new(NULL);
	th_set(h, "base_url", "ftp://x");
	assert_int_equal(th_start(h), -EINVAL);
	h->self = NULL;
	th_free(h);
	h = th_new(NULL);
	th_set(h, "exchange_pattern", "(?i)binance(");
	assert_int_equal(th_start(h), -EINVAL);
	h->self = NULL;
	th_free(h);
	h = th_new(NULL);
	th_set(h, "exchange_follow", "sometimes");
	assert_int_equal(th_start(h), -EINVAL);
	h->self = NULL;
	th_free(h);
	h = th_new(NULL);
	th_set(h, "activity_lookups", "-1");
	assert_int_equal(th_start(h), -EINVAL);
	h->self = NULL;
	th_free(h);
	h = th_new(NULL);
	setenv("TOP_ACCOUNTS_LIMIT", "12x", 1);
	assert_int_equal(th_start(h), -EINVAL);
	unsetenv("TOP_ACCOUNTS_LIMIT");
	h->self = NULL;
	th_free(h);
	/* the key from api_key_file reaches the fake; a wrong key is an "auth" error */
	fake_start(&f, (const char *const[]){ "--api-key", "s3cret", NULL });
	fd = mkstemp(keyfile);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	close(fd);
	h = th_new(NULL);
	th_set(h, "base_url", "%s/", f.url);
	th_set(h, "api_key_file", "%s", keyfile);
	th_set(h, "rate", "0");
	th_set(h, "top", "100");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 1, 0);
	th_free(h);
	h = th_new(NULL);
	setenv("SUBSCAN_API_KEY", "wrong", 1);
	th_set(h, "base_url", "%s", f.url);
	th_set(h, "rate", "0");
	th_set(h, "top", "100");
	assert_int_equal(th_start(h), 0);
	wait_cycles(h, 0, 1);
	assert_string_equal(h->last_error_kind, "auth");
	assert_int_equal(fake_stat(&f, "bad_key"), 1);
	unsetenv("SUBSCAN_API_KEY");
	th_free(h);
	unlink(keyfile);
	fake_stop(&f);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(subscan_cycle__top_1000__exactly_ten_pages_labels_and_planck, teardown_fakes),
		cmocka_unit_test_teardown(subscan_legacy__consecutive_snapshots__changes_match_files_and_survive_restart, teardown_fakes),
		cmocka_unit_test_teardown(subscan_ratelimit__429_storm__never_over_rate_and_retry_after_honoured, teardown_fakes),
		cmocka_unit_test_teardown(subscan_breaker__failures__open_half_open_closed, teardown_fakes),
		cmocka_unit_test_teardown(subscan_faults__each_fault__clear_error_then_recovery, teardown_fakes),
		cmocka_unit_test_teardown(subscan_backoff__two_503_then_ok__retried_with_growing_jittered_delays, teardown_fakes),
		cmocka_unit_test_teardown(subscan_transfers__over_10000_rows__pages_then_after_id, teardown_fakes),
		cmocka_unit_test_teardown(subscan_activity__first_seen__bounded_per_cycle_retried_after_500_and_persisted, teardown_fakes),
		cmocka_unit_test_teardown(subscan_exchanges__new_transfers__emitted_once_oldest_first_malformed_named, teardown_fakes),
		cmocka_unit_test_teardown(subscan_exchanges__follow_moved__unmoved_exchange_not_asked_moved_one_followed, teardown_fakes),
		cmocka_unit_test_teardown(subscan_clock__speed_1000__backoff_and_breaker_cooldown_on_host_time, teardown_fakes),
		cmocka_unit_test_teardown(subscan_config__bad_values_and_keys__init_fails, teardown_fakes),
	};
	char exe[PATH_MAX];
	ssize_t n;
	const char *shared = getenv("SHARED");
	FILE *ls;
	char cmd[PATH_MAX + 128], line[PATH_MAX];

	(void)argc;
	(void)argv;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';                 /* B/tests */
	*strrchr(exe, '/') = '\0';                 /* B */
	snprintf(build_dir, sizeof(build_dir), "%s", exe);
	if (shared != NULL)
		snprintf(shared_dir, sizeof(shared_dir), "%s", shared);
	else
		snprintf(shared_dir, sizeof(shared_dir), "../shared");
	snprintf(snap_dir, sizeof(snap_dir), "%s%s", shared_dir, SNAPDIR_REL);
	snprintf(cmd, sizeof(cmd), "ls %s/*.json", snap_dir);
	ls = popen(cmd, "r");
	while (ls != NULL && nsnap_files < 32 && fgets(line, sizeof(line), ls) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(snap_files[nsnap_files++], PATH_MAX, "%s", line);
	}
	if (ls != NULL)
		pclose(ls);
	qsort(snap_files, nsnap_files, sizeof(snap_files[0]), compare_names);
	if (nsnap_files < 3) {
		fprintf(stderr, "test_subscan: snapshots not found in %s\n", snap_dir);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atexit(fake_kill_all);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

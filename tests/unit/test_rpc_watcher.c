/*
 * test_rpc_watcher.c — the rpc_watcher plugin (build/plugins/rpc_watcher.so,
 * loaded with dlopen) against the real fake node (build/tests/fakes/fakenode)
 * on 127.0.0.1, through a small test host written here.
 *
 * What must hold: subscriptions deliver baselines and then every change with
 * its block; 20 forced disconnects (by the node and by chaos.disconnect)
 * lose and duplicate nothing; 5,000 accounts are split over subscriptions
 * and the node's limits (-32006, -32007, -32009) are handled; malformed
 * input of every kind is counted as an error and nothing crashes; a silent
 * node is detected by the heartbeat; watchlist changes add and remove
 * subscriptions without a reconnect; config errors name the field.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <libwebsockets.h>
#include <rollout/plugin.h>

#include "duration.h"
#include "hash.h"
#include "planck.h"
#include "ss58.h"

static char build_dir[4096];
static int verbose;

/* ---- the test host ---------------------------------------------------------------- */

struct seen {
	uint8_t pubkey[32];
	uint64_t block;
	int has_before, reaped;
	struct rollout_account_data before, after;
	int64_t observed_ms, block_time_ms;
};

struct metric {
	char name[64];
	double sum, last;
	unsigned long count;
};

struct host {
	struct rollout_host api;
	pthread_mutex_t lock;
	json_t *config;                 /* the `with:` tree */
	struct seen *ev;
	size_t nev, capev;
	struct metric metrics[64];
	size_t nmetrics;
	unsigned long errors, health_up, health_down;
	char last_cfg_error[512];
};

static int
h_emit(void *ctx, const struct rollout_event *ev)
{
	struct host *h = ctx;

	assert_true(ev->size >= offsetof(struct rollout_event, u));
	pthread_mutex_lock(&h->lock);
	if (ev->kind == ROLLOUT_EV_BALANCE) {
		const struct rollout_balance_change *b = &ev->u.balance;
		struct seen *s;

		if (h->nev == h->capev) {
			h->capev = h->capev ? h->capev * 2 : 1024;
			h->ev = realloc(h->ev, h->capev * sizeof(*h->ev));
			assert_non_null(h->ev);
		}
		s = &h->ev[h->nev++];
		memcpy(s->pubkey, b->pubkey, 32);
		s->block = b->block_to;
		s->has_before = b->has_before;
		s->reaped = b->reaped;
		s->before = b->before;
		s->after = b->after;
		s->observed_ms = b->observed_ms;
		s->block_time_ms = b->block_time_ms;
	} else if (ev->kind == ROLLOUT_EV_ERROR) {
		h->errors++;
		if (verbose)
			fprintf(stderr, "  error %s: %s\n", ev->u.error.kind, ev->u.error.message);
	} else if (ev->kind == ROLLOUT_EV_HEALTH) {
		if (ev->u.health.healthy)
			h->health_up++;
		else
			h->health_down++;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
h_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (!verbose && lvl > ROLLOUT_LOG_ERROR)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  log%d: ", lvl);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void
h_metric(void *ctx, const char *name, double value)
{
	struct host *h = ctx;
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nmetrics; i++)
		if (strcmp(h->metrics[i].name, name) == 0)
			break;
	if (i == h->nmetrics && h->nmetrics < 64)
		snprintf(h->metrics[h->nmetrics++].name, 64, "%s", name);
	if (i < 64) {
		h->metrics[i].sum += value;
		h->metrics[i].last = value;
		h->metrics[i].count++;
	}
	pthread_mutex_unlock(&h->lock);
}

static double
metric_sum(struct host *h, const char *name)
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

static double
metric_last(struct host *h, const char *name)
{
	double v = -1;
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nmetrics; i++)
		if (strcmp(h->metrics[i].name, name) == 0)
			v = h->metrics[i].last;
	pthread_mutex_unlock(&h->lock);
	return v;
}

static int64_t
h_now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *
node_of(struct host *h, const struct rollout_cfg *node)
{
	return node != NULL ? (json_t *)node : h->config;
}

static enum rollout_cfg_kind
h_cfg_kind(void *ctx, const struct rollout_cfg *node)
{
	json_t *j = node_of(ctx, node);

	if (j == NULL)
		return ROLLOUT_CFG_NONE;
	if (json_is_object(j))
		return ROLLOUT_CFG_MAP;
	if (json_is_array(j))
		return ROLLOUT_CFG_SEQ;
	return ROLLOUT_CFG_SCALAR;
}

static const struct rollout_cfg *
h_cfg_get(void *ctx, const struct rollout_cfg *node, const char *key)
{
	return (const struct rollout_cfg *)json_object_get(node_of(ctx, node), key);
}

static size_t
h_cfg_len(void *ctx, const struct rollout_cfg *node)
{
	json_t *j = node_of(ctx, node);

	return json_is_object(j) ? json_object_size(j) : json_array_size(j);
}

static const struct rollout_cfg *
h_cfg_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	json_t *j = node_of(ctx, node);

	if (json_is_object(j)) {
		void *it = json_object_iter(j);

		while (it != NULL && i-- > 0)
			it = json_object_iter_next(j, it);
		return it != NULL ? (const struct rollout_cfg *)json_object_iter_value(it) : NULL;
	}
	return (const struct rollout_cfg *)json_array_get(j, i);
}

static const char *
h_cfg_key_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	json_t *j = node_of(ctx, node);
	void *it = json_object_iter(j);

	while (it != NULL && i-- > 0)
		it = json_object_iter_next(j, it);
	return it != NULL ? json_object_iter_key(it) : NULL;
}

static const char *
h_cfg_scalar(void *ctx, const struct rollout_cfg *node)
{
	(void)ctx;
	return json_string_value((json_t *)node);
}

static void __attribute__((format(printf, 3, 4)))
h_cfg_error(void *ctx, const struct rollout_cfg *node, const char *fmt, ...)
{
	struct host *h = ctx;
	va_list ap;

	(void)node;
	va_start(ap, fmt);
	vsnprintf(h->last_cfg_error, sizeof(h->last_cfg_error), fmt, ap);
	va_end(ap);
	if (verbose)
		fprintf(stderr, "  cfg error: %s\n", h->last_cfg_error);
}

static int
h_cfg_string(void *ctx, const struct rollout_cfg *node, const char *key, const char *deflt,
    const char **out)
{
	json_t *v = json_object_get(node_of(ctx, node), key);

	*out = deflt;
	if (v == NULL)
		return -ENOENT;
	if (!json_is_string(v)) {
		h_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected a string", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int
h_cfg_int(void *ctx, const struct rollout_cfg *node, const char *key, long long min, long long max,
    long long deflt, long long *out)
{
	json_t *v = json_object_get(node_of(ctx, node), key);

	*out = deflt;
	if (v == NULL)
		return -ENOENT;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		h_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected an integer in %lld..%lld",
		    key, min, max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
h_cfg_bool(void *ctx, const struct rollout_cfg *node, const char *key, int deflt, int *out)
{
	json_t *v = json_object_get(node_of(ctx, node), key);

	*out = deflt;
	if (v == NULL)
		return -ENOENT;
	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

static int
h_cfg_duration_ms(void *ctx, const struct rollout_cfg *node, const char *key, int64_t deflt,
    int64_t *out)
{
	json_t *v = json_object_get(node_of(ctx, node), key);
	char err[128];

	*out = deflt;
	if (v == NULL)
		return -ENOENT;
	if (!json_is_string(v) || duration_parse(json_string_value(v), out, err, sizeof(err)) < 0) {
		h_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected a duration", key);
		return -EINVAL;
	}
	return 0;
}

static void
host_init(struct host *h, json_t *config)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->config = config;
	h->api.size = sizeof(h->api);
	h->api.abi = ROLLOUT_PLUGIN_ABI;
	h->api.ctx = h;
	h->api.instance = "candidate";
	h->api.data_dir = "/tmp";
	h->api.chain = "polkadot-assethub";
	h->api.ss58_prefix = 0;
	h->api.decimals = 10;
	h->api.symbol = "DOT";
	h->api.default_rpc = "wss://polkadot-asset-hub-rpc.polkadot.io";
	h->api.config = (const struct rollout_cfg *)config;
	h->api.emit = h_emit;
	h->api.log = h_log;
	h->api.metric = h_metric;
	h->api.now_ms = h_now_ms;
	h->api.cfg_kind = h_cfg_kind;
	h->api.cfg_get = h_cfg_get;
	h->api.cfg_len = h_cfg_len;
	h->api.cfg_at = h_cfg_at;
	h->api.cfg_key_at = h_cfg_key_at;
	h->api.cfg_scalar = h_cfg_scalar;
	h->api.cfg_string = h_cfg_string;
	h->api.cfg_int = h_cfg_int;
	h->api.cfg_bool = h_cfg_bool;
	h->api.cfg_duration_ms = h_cfg_duration_ms;
	h->api.cfg_error = h_cfg_error;
}

static void
host_fini(struct host *h)
{
	free(h->ev);
	json_decref(h->config);
	pthread_mutex_destroy(&h->lock);
}

/* ---- the plugin -------------------------------------------------------------------- */

static void *plugin_dl;
static const struct rollout_plugin *plugin;

static void
plugin_load(void)
{
	char path[4200];
	rollout_plugin_entry_fn entry;

	snprintf(path, sizeof(path), "%s/plugins/rpc_watcher.so", build_dir);
	plugin_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (plugin_dl == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		exit(1);
	}
	entry = (rollout_plugin_entry_fn)dlsym(plugin_dl, ROLLOUT_PLUGIN_ENTRY);
	if (entry == NULL) {
		fprintf(stderr, "%s: no %s\n", path, ROLLOUT_PLUGIN_ENTRY);
		exit(1);
	}
	plugin = entry();
}

static void
plugin_command(void *self, const char *cmd, const char *arg, json_t **out)
{
	char reply[8192];
	json_error_t jerr;

	assert_int_equal(plugin->command(self, cmd, arg, reply, sizeof(reply)), 0);
	if (out != NULL) {
		*out = json_loads(reply, 0, &jerr);
		if (*out == NULL)
			fail_msg("%s: reply is not JSON: %s", cmd, reply);
	}
}

static long
stat_int(void *self, const char *key)
{
	json_t *st;
	long v;

	plugin_command(self, "stats", NULL, &st);
	v = (long)json_integer_value(json_object_get(st, key));
	if (json_is_boolean(json_object_get(st, key)))
		v = json_is_true(json_object_get(st, key));
	json_decref(st);
	return v;
}

/* ---- the fake node ------------------------------------------------------------------ */

struct node {
	pid_t pid;
	int port;
	char portfile[256];
	const char *cert, *key;         /* set before node_start: serve wss:// and https:// */
};

static void
node_start(struct node *n, unsigned accounts, unsigned seed)
{
	char bin[4200], acc[32], sd[32];
	int i;

	snprintf(bin, sizeof(bin), "%s/tests/fakes/fakenode", build_dir);
	snprintf(n->portfile, sizeof(n->portfile), "/tmp/test_rpc_watcher.%d.%u.port", (int)getpid(), seed);
	unlink(n->portfile);
	snprintf(acc, sizeof(acc), "%u", accounts);
	snprintf(sd, sizeof(sd), "%u", seed);
	n->pid = fork();
	assert_true(n->pid >= 0);
	if (n->pid == 0) {
		/* never outlive the test, even when it is killed */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (n->cert != NULL)
			execl(bin, bin, "--port", "0", "--port-file", n->portfile, "--accounts", acc,
			    "--seed", sd, "--tls-cert", n->cert, "--tls-key", n->key, "--quiet", (char *)NULL);
		else
			execl(bin, bin, "--port", "0", "--port-file", n->portfile, "--accounts", acc,
			    "--seed", sd, "--quiet", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		FILE *f = fopen(n->portfile, "r");

		if (f != NULL) {
			int ok = fscanf(f, "%d", &n->port) == 1;

			fclose(f);
			if (ok)
				return;
		}
		usleep(25000);
	}
	fail_msg("fakenode did not start (%s)", bin);
}

static void
node_stop(struct node *n)
{
	int st;

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		waitpid(n->pid, &st, 0);
		n->pid = 0;
	}
	unlink(n->portfile);
}

struct buf {
	char *p;
	size_t len;
};

static size_t
buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;

	b->p = realloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* POST commands to the node's control channel; returns the reply (free it). */
static char *
node_ctl(struct node *n, const char *fmt, ...)
{
	char url[128], body[4096];
	struct buf b = { NULL, 0 };
	CURL *curl = curl_easy_init();
	long code = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/control", n->cert != NULL ? "https" : "http", n->port);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (n->cert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, n->cert);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(curl) != CURLE_OK)
		fail_msg("control %s: no answer", body);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	if (code != 200)
		fail_msg("control %s: HTTP %ld: %s", body, code, b.p ? b.p : "");
	return b.p != NULL ? b.p : strdup("");
}

static json_t *
node_json(struct node *n, const char *fmt, const char *arg)
{
	char *r = node_ctl(n, fmt, arg);
	json_error_t jerr;
	json_t *j = json_loads(r, 0, &jerr);

	if (j == NULL)
		fail_msg("control reply is not JSON: %s", r);
	free(r);
	return j;
}

static void
node_do(struct node *n, const char *cmd)
{
	free(node_ctl(n, "%s", cmd));
}

static uint64_t
node_block(struct node *n)
{
	json_t *j = node_json(n, "%s", "block");
	uint64_t v = (uint64_t)json_integer_value(json_object_get(j, "number"));

	json_decref(j);
	return v;
}

/* The fake node's I-th generated account (ledger_generate's derivation). */
static void
node_account(unsigned seed, unsigned long i, uint8_t pk[32])
{
	uint8_t in[24];
	int j;

	memcpy(in, "fakenode", 8);
	for (j = 0; j < 8; j++) {
		in[8 + j] = (uint8_t)((uint64_t)seed >> (8 * j));
		in[16 + j] = (uint8_t)((uint64_t)i >> (8 * j));
	}
	blake2_256(in, sizeof(in), pk);
}

static json_t *
accounts_json(unsigned seed, unsigned long from, unsigned long n)
{
	json_t *a = json_array();
	unsigned long i;

	for (i = from; i < from + n; i++) {
		uint8_t pk[32];
		char addr[SS58_MAX_LEN];

		node_account(seed, i, pk);
		assert_int_equal(ss58_encode(pk, 0, addr, sizeof(addr)), 0);
		json_array_append_new(a, json_string(addr));
	}
	return a;
}

static json_t *
config_for(struct node *n, unsigned seed, unsigned long naccounts)
{
	char url[64];

	snprintf(url, sizeof(url), "ws://127.0.0.1:%d", n->port);
	return json_pack("{s:[s],s:o,s:s,s:s,s:s,s:s}", "endpoints", url,
	    "accounts", accounts_json(seed, 0, naccounts),
	    "heartbeat", "1s", "request_timeout", "5s", "backoff_min", "20ms", "backoff_max", "200ms");
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define WAIT_FOR(cond, secs, what) do { \
	int64_t wait_end_ = mono_ms() + (secs) * 1000; \
	while (!(cond)) { \
		if (mono_ms() > wait_end_) \
			fail_msg("timed out after %d s waiting for %s", (int)(secs), what); \
		usleep(10000); \
	} \
} while (0)

/* Count balance events: baselines (has_before == 0) and changes. */
static void
count_events(struct host *h, size_t *baselines, size_t *changes)
{
	size_t i;

	*baselines = *changes = 0;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nev; i++) {
		if (h->ev[i].has_before)
			(*changes)++;
		else
			(*baselines)++;
	}
	pthread_mutex_unlock(&h->lock);
}

static int
data_eq(const struct rollout_account_data *a, const struct rollout_account_data *b)
{
	return a->nonce == b->nonce && a->free == b->free && a->reserved == b->reserved &&
	    a->frozen == b->frozen;
}

/*
 * For account PK: the events chain (each before == the previous after, one
 * baseline first, strictly increasing blocks), the last after equals the
 * node's value and the number of changes equals the node's.
 */
static int
check_account(struct host *h, struct node *n, const uint8_t pk[32], int strict)
{
	char hex[67];
	json_t *truth;
	struct rollout_account_data last;
	size_t i, changes = 0, baselines = 0;
	uint64_t block = 0;
	int have = 0, ok = 1, last_reaped = 0;

	memset(&last, 0, sizeof(last));
	snprintf(hex, sizeof(hex), "0x");
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", pk[i]);
	truth = node_json(n, "get %s", hex);
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nev; i++) {
		const struct seen *s = &h->ev[i];

		if (memcmp(s->pubkey, pk, 32) != 0)
			continue;
		if (!s->has_before) {
			baselines++;
		} else {
			changes++;
			if (!have || !data_eq(&s->before, &last) || s->block <= block) {
				if (strict)
					fprintf(stderr, "  %s: event at #%llu does not chain (prev #%llu)\n",
					    hex, (unsigned long long)s->block, (unsigned long long)block);
				ok = 0;
			}
		}
		have = 1;
		last = s->after;
		last_reaped = s->reaped;
		block = s->block;
	}
	pthread_mutex_unlock(&h->lock);
	{
		rollout_u128 fr = 0;
		int exists = json_is_true(json_object_get(truth, "exists"));

		assert_int_equal(planck_parse_int(json_string_value(json_object_get(truth, "free")), &fr), 0);
		if (baselines != 1 || exists == last_reaped || last.free != fr ||
		    changes != (size_t)json_integer_value(json_object_get(truth, "changes"))) {
			if (strict) {
				char *nb = json_dumps(json_object_get(truth, "blocks"), 0);

				fprintf(stderr, "  %s: baselines %zu, changes %zu (node %lld at %s), exists %d "
				    "reaped %d; events at", hex, baselines, changes,
				    (long long)json_integer_value(json_object_get(truth, "changes")), nb, exists,
				    last_reaped);
				free(nb);
				pthread_mutex_lock(&h->lock);
				for (i = 0; i < h->nev; i++)
					if (memcmp(h->ev[i].pubkey, pk, 32) == 0)
						fprintf(stderr, " %llu", (unsigned long long)h->ev[i].block);
				pthread_mutex_unlock(&h->lock);
				fprintf(stderr, "\n");
			}
			ok = 0;
		}
	}
	json_decref(truth);
	return ok;
}

static int
check_all(struct host *h, struct node *n, unsigned seed, unsigned long count, int strict)
{
	unsigned long i;
	int ok = 1;

	for (i = 0; i < count; i++) {
		uint8_t pk[32];

		node_account(seed, i, pk);
		if (!check_account(h, n, pk, strict))
			ok = 0;
	}
	return ok;
}

struct rig {
	struct node node;
	struct host host;
	void *self;
	unsigned seed;
	unsigned long watched;
	int live;
};

/* The rig of the running test, torn down even when the test fails. */
static struct rig *live_rig;

static void
rig_start(struct rig *r, unsigned node_accounts, unsigned seed, unsigned long watched, json_t *extra)
{
	json_t *cfg;

	memset(r, 0, sizeof(*r));
	r->seed = seed;
	r->watched = watched;
	node_start(&r->node, node_accounts, seed);
	cfg = config_for(&r->node, seed, watched);
	if (extra != NULL) {
		json_object_update(cfg, extra);
		json_decref(extra);
	}
	host_init(&r->host, cfg);
	assert_int_equal(plugin->init(&r->host.api, &r->self), 0);
	r->live = 1;
	live_rig = r;
	assert_int_equal(plugin->start(r->self), 0);
}

static void
rig_stop(struct rig *r)
{
	if (r->live) {
		plugin->stop(r->self);
		plugin->destroy(r->self);
		host_fini(&r->host);
		r->live = 0;
	}
	node_stop(&r->node);
	live_rig = NULL;
}

static int
rig_teardown(void **state)
{
	(void)state;
	if (live_rig != NULL)
		rig_stop(live_rig);
	return 0;
}

static void
wait_baselines(struct rig *r, size_t want, int secs)
{
	size_t b, c;

	WAIT_FOR((count_events(&r->host, &b, &c), b >= want), secs, "baselines");
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
plugin_descriptor__valid(void **state)
{
	(void)state;
	assert_int_equal(plugin->magic, ROLLOUT_PLUGIN_MAGIC);
	assert_int_equal(plugin->abi, ROLLOUT_PLUGIN_ABI);
	assert_int_equal(plugin->size, sizeof(struct rollout_plugin));
	assert_string_equal(plugin->name, "rpc_watcher");
	assert_non_null(plugin->command);
	assert_non_null(plugin->on_event);
}

static void
init__bad_config__names_the_field(void **state)
{
	struct host h;
	void *self = NULL;

	(void)state;
	host_init(&h, json_pack("{s:[s]}", "accounts", "15oF4xVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"));
	assert_int_equal(plugin->init(&h.api, &self), -EINVAL);
	assert_non_null(strstr(h.last_cfg_error, "accounts[0]"));
	assert_non_null(strstr(h.last_cfg_error, "checksum mismatch"));
	host_fini(&h);

	host_init(&h, json_pack("{s:[s]}", "endpoints", "http://example.org"));
	assert_int_equal(plugin->init(&h.api, &self), -EINVAL);
	assert_non_null(strstr(h.last_cfg_error, "not a ws:// or wss:// URL"));
	host_fini(&h);

	host_init(&h, json_pack("{s:i}", "keys_per_subscrption", 5));
	assert_int_equal(plugin->init(&h.api, &self), -EINVAL);
	assert_non_null(strstr(h.last_cfg_error, "unknown key \"keys_per_subscrption\""));
	host_fini(&h);

	host_init(&h, json_pack("{s:i}", "keys_per_subscription", 0));
	assert_int_equal(plugin->init(&h.api, &self), -EINVAL);
	host_fini(&h);

	/* no endpoint configured: POLKADOT_RPC_URL, then the preset */
	host_init(&h, json_object());
	setenv("POLKADOT_RPC_URL", "ws://127.0.0.1:1", 1);
	assert_int_equal(plugin->init(&h.api, &self), 0);
	{
		json_t *st;

		plugin_command(self, "stats", NULL, &st);
		assert_string_equal(json_string_value(json_object_get(st, "endpoint")), "ws://127.0.0.1:1");
		json_decref(st);
	}
	unsetenv("POLKADOT_RPC_URL");
	plugin->destroy(self);
	host_fini(&h);
}

static void
watcher__baselines_then_changes(void **state)
{
	static struct rig r;
	uint8_t pk0[32], pk1[32];
	char a0[SS58_MAX_LEN], a1[SS58_MAX_LEN];
	size_t b, c, i;
	uint64_t blk;
	int found = 0;

	(void)state;
	rig_start(&r, 40, 7, 20, NULL);
	wait_baselines(&r, 20, 10);
	count_events(&r.host, &b, &c);
	assert_int_equal(b, 20);
	assert_int_equal(c, 0);
	node_account(7, 0, pk0);
	node_account(7, 1, pk1);
	ss58_encode(pk0, 0, a0, sizeof(a0));
	ss58_encode(pk1, 0, a1, sizeof(a1));
	free(node_ctl(&r.node, "set %s 123456789012345678901234567 5 6 77\nreap %s", a0, a1));
	blk = node_block(&r.node);
	WAIT_FOR((count_events(&r.host, &b, &c), c >= 2), 10, "2 changes");
	pthread_mutex_lock(&r.host.lock);
	for (i = 0; i < r.host.nev; i++) {
		struct seen *s = &r.host.ev[i];

		if (!s->has_before)
			continue;
		assert_int_equal(s->block, blk);
		assert_true(s->block_time_ms > 0);
		if (memcmp(s->pubkey, pk0, 32) == 0) {
			char dec[PLANCK_INT_MAX];

			planck_format_int(s->after.free, dec, sizeof(dec));
			assert_string_equal(dec, "123456789012345678901234567");
			assert_true(s->after.reserved == 5 && s->after.frozen == 6);
			assert_int_equal(s->after.nonce, 77);
			assert_int_equal(s->reaped, 0);
			found++;
		} else if (memcmp(s->pubkey, pk1, 32) == 0) {
			assert_int_equal(s->reaped, 1);
			assert_true(s->after.free == 0);
			assert_true(s->before.free > 0);
			found++;
		}
	}
	pthread_mutex_unlock(&r.host.lock);
	assert_int_equal(found, 2);
	/* unwatched accounts (20..39) change too: no events for them */
	for (i = 0; i < 5; i++) {
		node_do(&r.node, "random 15");
		node_block(&r.node);
	}
	WAIT_FOR(check_all(&r.host, &r.node, 7, 20, 0), 10, "all changes");
	assert_true(check_all(&r.host, &r.node, 7, 20, 1));
	/* messages are recorded in batches, within a tick (50 ms) */
	WAIT_FOR(metric_sum(&r.host, "requests") >= 5, 10, "requests");
	assert_true(metric_last(&r.host, "connected") == 1);
	assert_true(metric_last(&r.host, "best_block") >= (double)blk);
	assert_true(metric_sum(&r.host, "errors") == 0);
	assert_true(r.host.metrics[0].count > 0);
	{
		/* block hashes come from the new-head notifications (header hash), not from a
		 * chain_getHeader per block: only the one for the best block at connect */
		json_t *st = node_json(&r.node, "%s", "status");

		assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "methods"),
		    "chain_getHeader")), 1);
		json_decref(st);
	}
	assert_int_equal(stat_int(r.self, "subscriptions"), 1);
	rig_stop(&r);
}

/*
 * "requests" counts every JSON-RPC message handled, notifications included:
 * in steady state the watcher makes almost no calls (a heartbeat a second),
 * so errors / requests would otherwise divide by zero.
 */
static void
watcher__requests_count_notifications(void **state)
{
	static struct rig r;
	double r0;
	long n0, heads = 10, i;

	(void)state;
	rig_start(&r, 20, 19, 20, json_pack("{s:i}", "keys_per_subscription", 5));
	wait_baselines(&r, 20, 10);
	WAIT_FOR(stat_int(r.self, "setup_ms") >= 0, 10, "setup");
	r0 = metric_sum(&r.host, "requests");
	n0 = stat_int(r.self, "notifications");
	for (i = 0; i < heads; i++) {
		if (i % 2 == 0)
			node_do(&r.node, "random 8");
		node_block(&r.node);
	}
	WAIT_FOR(stat_int(r.self, "notifications") >= n0 + heads / 2, 10, "storage notifications");
	/* at least one new-head notification per block and every storage notification;
	 * the calls made meanwhile (heartbeats) are far fewer than HEADS */
	WAIT_FOR(metric_sum(&r.host, "requests") - r0 >=
	    (double)(stat_int(r.self, "notifications") - n0 + heads), 10,
	    "requests counting the notifications");
	/* the batched samples add up to the exact count of messages handled */
	WAIT_FOR(metric_sum(&r.host, "requests") == (double)stat_int(r.self, "requests"), 10,
	    "requests metric == messages handled");
	assert_true(metric_sum(&r.host, "errors") == 0);
	rig_stop(&r);
}

static void
watcher__20_disconnects__nothing_lost_or_doubled(void **state)
{
	static struct rig r;
	int i;

	(void)state;
	rig_start(&r, 60, 11, 60, NULL);
	wait_baselines(&r, 60, 10);
	for (i = 0; i < 20; i++) {
		long before = stat_int(r.self, "reconnects");

		node_do(&r.node, "random 12");
		node_block(&r.node);
		if (i % 2 == 0)
			node_do(&r.node, "drop");
		else
			plugin_command(r.self, "chaos.disconnect", NULL, NULL);
		/* blocks while the watcher is away: the gap fill must find them */
		node_do(&r.node, "random 12\nblock\nrandom 12\nblock");
		WAIT_FOR(stat_int(r.self, "reconnects") > before && stat_int(r.self, "connected") == 1 &&
		    stat_int(r.self, "setup_ms") >= 0, 10, "reconnect");
	}
	node_do(&r.node, "random 12\nblock");
	{
		int64_t end = mono_ms() + 15000;

		while (!check_all(&r.host, &r.node, 11, 60, 0) && mono_ms() < end)
			usleep(20000);
	}
	assert_true(check_all(&r.host, &r.node, 11, 60, 1));
	assert_true(stat_int(r.self, "reconnects") >= 20);
	assert_true(stat_int(r.self, "gap_blocks") >= 20);
	assert_true(metric_sum(&r.host, "reconnects") >= 20);
	rig_stop(&r);
}

static void
watcher__5000_accounts__split_subscriptions(void **state)
{
	static struct rig r;
	size_t b, c;
	json_t *st;

	(void)state;
	rig_start(&r, 5000, 5, 5000, NULL);
	wait_baselines(&r, 5000, 20);
	WAIT_FOR(stat_int(r.self, "setup_ms") >= 0, 10, "setup");
	plugin_command(r.self, "stats", NULL, &st);
	assert_int_equal(json_integer_value(json_object_get(st, "subscriptions")), 5);
	assert_int_equal(json_integer_value(json_object_get(st, "watched")), 5000);
	json_decref(st);
	st = node_json(&r.node, "%s", "status");
	assert_int_equal(json_integer_value(json_object_get(st, "storage_subscriptions")), 5);
	assert_int_equal(json_integer_value(json_object_get(st, "keys")), 5000 + 5);
	json_decref(st);
	node_do(&r.node, "random 200\nblock");
	WAIT_FOR((count_events(&r.host, &b, &c), c >= 190), 10, "changes");
	assert_true(check_all(&r.host, &r.node, 5, 300, 1));
	rig_stop(&r);
}

static void
watcher__node_limits__split_repack_backoff(void **state)
{
	static struct rig r;
	json_t *st;

	(void)state;
	/* -32007: requests above 60 kB (about 360 keys); -32006: 6 subscriptions;
	 * -32009: busy twice. */
	memset(&r, 0, sizeof(r));
	r.seed = 9;
	live_rig = &r;
	node_start(&r.node, 1000, 9);
	node_do(&r.node, "limit bytes 60000\nlimit subs 6\nerror -32009 2");
	{
		json_t *cfg = config_for(&r.node, 9, 1000);

		json_object_set_new(cfg, "keys_per_subscription", json_integer(1000));
		host_init(&r.host, cfg);
	}
	assert_int_equal(plugin->init(&r.host.api, &r.self), 0);
	r.live = 1;
	assert_int_equal(plugin->start(r.self), 0);
	wait_baselines(&r, 1000, 20);
	WAIT_FOR(stat_int(r.self, "setup_ms") >= 0, 10, "setup");
	plugin_command(r.self, "stats", NULL, &st);
	assert_true(json_integer_value(json_object_get(st, "subscriptions")) <= 4);
	assert_true(json_integer_value(json_object_get(st, "keys_per_subscription")) <= 362);
	json_decref(st);
	assert_true(metric_sum(&r.host, "errors_busy") >= 2);
	assert_true(metric_sum(&r.host, "errors_request_too_big") >= 1);
	node_do(&r.node, "random 100\nblock");
	WAIT_FOR(check_all(&r.host, &r.node, 9, 300, 0), 10, "changes after the limits");
	rig_stop(&r);

	/* too many subscriptions: 150 keys each would need 7 + 2, the node allows 6 */
	memset(&r, 0, sizeof(r));
	live_rig = &r;
	node_start(&r.node, 1000, 10);
	node_do(&r.node, "limit subs 6");
	{
		json_t *cfg = config_for(&r.node, 10, 1000);

		json_object_set_new(cfg, "keys_per_subscription", json_integer(150));
		host_init(&r.host, cfg);
	}
	assert_int_equal(plugin->init(&r.host.api, &r.self), 0);
	r.live = 1;
	assert_int_equal(plugin->start(r.self), 0);
	wait_baselines(&r, 1000, 20);
	WAIT_FOR(stat_int(r.self, "setup_ms") >= 0, 10, "setup");
	assert_true(stat_int(r.self, "subscriptions") <= 4);
	assert_true(metric_sum(&r.host, "errors_too_many_subscriptions") >= 1);
	node_do(&r.node, "random 100\nblock");
	WAIT_FOR(check_all(&r.host, &r.node, 10, 300, 0), 10, "changes after re-packing");
	rig_stop(&r);
}

static void
watcher__malformed_input__errors_counted_no_crash(void **state)
{
	static struct rig r;
	json_t *extra = json_pack("{s:i}", "max_message_bytes", 1 << 20);
	char *reply;
	int kinds = 0, mutated = 0;

	(void)state;
	rig_start(&r, 30, 13, 30, extra);
	wait_baselines(&r, 30, 10);
	reply = node_ctl(&r.node, "malformed");
	assert_int_equal(sscanf(reply, "sent %d", &kinds), 1);
	free(reply);
	node_do(&r.node, "unknown\noversized 2000000");
	/*
	 * 2,000 random mutations of a real notification (fast path and full parser alike).
	 * They carry the block the watcher already processed, so the few that still parse
	 * as valid (a hex digit of a value replaced) are old news, not changes.
	 */
	reply = node_ctl(&r.node, "mutate 2000 12345");
	assert_int_equal(sscanf(reply, "sent %d", &mutated), 1);
	free(reply);
	WAIT_FOR(stat_int(r.self, "connected") == 1, 10, "still connected after the mutations");
	/* every malformed message is one error; the unknown method and the oversized frame too */
	WAIT_FOR(metric_sum(&r.host, "errors") >= kinds + 2, 10, "error metrics");
	assert_true(metric_sum(&r.host, "errors_parse") >= 1);
	assert_true(metric_sum(&r.host, "errors_decode") >= 3);
	assert_true(metric_sum(&r.host, "errors_unknown_method") >= 1);
	assert_true(metric_sum(&r.host, "errors_oversized") >= 1);
	assert_true(metric_sum(&r.host, "errors_unknown_id") >= 1);
	/* each of those messages, good or bad, is one of "requests": errors per message */
	WAIT_FOR(metric_sum(&r.host, "requests") >= kinds + mutated + 2, 10, "messages counted");
	assert_true(metric_sum(&r.host, "requests") >= metric_sum(&r.host, "errors"));
	/* still working, with odd encodings: zero-padded numbers, integer ids, blocks out of order,
	 * no new-head notifications */
	node_do(&r.node, "hexpad on\nsubid int\nnohead on");
	plugin_command(r.self, "chaos.disconnect", NULL, NULL);
	WAIT_FOR(stat_int(r.self, "reconnects") >= 1 && stat_int(r.self, "setup_ms") >= 0 &&
	    stat_int(r.self, "connected") == 1, 10, "reconnect");
	node_do(&r.node, "ooo\nrandom 10\nblock\nrandom 10\nblock\nrandom 10\nblock");
	WAIT_FOR(check_all(&r.host, &r.node, 13, 30, 0), 10, "changes despite odd encodings");
	assert_true(check_all(&r.host, &r.node, 13, 30, 1));
	rig_stop(&r);
}

static void
watcher__silent_node__heartbeat_reconnects(void **state)
{
	static struct rig r;
	size_t b, c;

	(void)state;
	rig_start(&r, 10, 17, 10, json_pack("{s:s,s:s}", "heartbeat", "300ms", "request_timeout", "1s"));
	wait_baselines(&r, 10, 10);
	node_do(&r.node, "stall -1");
	WAIT_FOR(metric_sum(&r.host, "errors_heartbeat") >= 1, 10, "heartbeat error");
	node_do(&r.node, "stall 0");
	WAIT_FOR(stat_int(r.self, "reconnects") >= 1 && stat_int(r.self, "connected") == 1 &&
	    stat_int(r.self, "setup_ms") >= 0, 10, "recovery");
	node_do(&r.node, "random 5\nblock");
	WAIT_FOR((count_events(&r.host, &b, &c), c >= 5), 10, "changes after recovery");
	assert_true(check_all(&r.host, &r.node, 17, 10, 1));
	rig_stop(&r);
}

static void
watcher__watchlist_from_snapshots_and_extra(void **state)
{
	static struct rig r;
	struct rollout_snapshot_entry ent[12];
	struct rollout_event ev;
	json_t *st;
	size_t i, b, c;
	long reconnects;

	(void)state;
	rig_start(&r, 40, 19, 0, NULL);
	WAIT_FOR(stat_int(r.self, "connected") == 1, 10, "connect");
	memset(&ev, 0, sizeof(ev));
	memset(ent, 0, sizeof(ent));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	for (i = 0; i < 12; i++) {
		node_account(19, i, ent[i].pubkey);
		ent[i].rank = (uint32_t)i + 1;
	}
	ev.u.snapshot.count = 12;
	ev.u.snapshot.entries = ent;
	plugin->on_event(r.self, "shadow", &ev);  /* not the configured source: ignored */
	plugin->on_event(r.self, "baseline", &ev);
	wait_baselines(&r, 12, 10);
	reconnects = stat_int(r.self, "reconnects");
	/* the next snapshot keeps 0..5 and adds 20..25 */
	for (i = 6; i < 12; i++)
		node_account(19, 14 + i, ent[i].pubkey);
	plugin->on_event(r.self, "baseline", &ev);
	wait_baselines(&r, 18, 10);
	WAIT_FOR(stat_int(r.self, "watched") == 12 && stat_int(r.self, "setup_ms") >= 0, 10, "watchlist");
	/* removed accounts (6..11) change: no events; kept ones do */
	for (i = 0; i < 4; i++) {
		node_do(&r.node, "random 30");
		node_block(&r.node);
	}
	WAIT_FOR(check_all(&r.host, &r.node, 19, 6, 0), 10, "kept accounts' changes");
	pthread_mutex_lock(&r.host.lock);
	for (i = 0; i < r.host.nev; i++) {
		uint8_t pk[32];
		unsigned k;

		for (k = 6; k < 12; k++) {
			node_account(19, k, pk);
			if (r.host.ev[i].has_before && memcmp(pk, r.host.ev[i].pubkey, 32) == 0)
				fail_msg("event for removed account %u", k);
		}
	}
	pthread_mutex_unlock(&r.host.lock);
	assert_int_equal(stat_int(r.self, "reconnects"), reconnects);
	/* watch.extra: synthetic accounts with null storage, baselines only */
	plugin_command(r.self, "watch.extra", "100", &st);
	json_decref(st);
	WAIT_FOR(stat_int(r.self, "watched") == 112 && stat_int(r.self, "setup_ms") >= 0, 10, "extra");
	count_events(&r.host, &b, &c);
	WAIT_FOR((count_events(&r.host, &b, &c), b >= 118), 10, "extra baselines");
	{
		char reply[256];

		assert_int_equal(plugin->command(r.self, "watch.extra", "x", reply, sizeof(reply)), -EINVAL);
		assert_int_equal(plugin->command(r.self, "nope", NULL, reply, sizeof(reply)), -ENOTSUP);
	}
	assert_int_equal(stat_int(r.self, "reconnects"), reconnects);
	rig_stop(&r);
}

/* A loopback port where nothing listens. */
static int
dead_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
watcher__dead_endpoint__breaker_opens_and_fails_over(void **state)
{
	static struct rig r;
	char dead[64], live[64];
	json_t *st, *br;
	size_t b, c;

	(void)state;
	memset(&r, 0, sizeof(r));
	live_rig = &r;
	node_start(&r.node, 10, 23);
	snprintf(dead, sizeof(dead), "ws://127.0.0.1:%d", dead_port());
	snprintf(live, sizeof(live), "ws://127.0.0.1:%d", r.node.port);
	host_init(&r.host, json_pack("{s:[s,s],s:o,s:s,s:s,s:i,s:s}", "endpoints", dead, live,
	    "accounts", accounts_json(23, 0, 10), "backoff_min", "20ms", "backoff_max", "100ms",
	    "breaker_min_calls", 1, "breaker_wait", "60s"));
	assert_int_equal(plugin->init(&r.host.api, &r.self), 0);
	r.live = 1;
	assert_int_equal(plugin->start(r.self), 0);
	wait_baselines(&r, 10, 10);
	WAIT_FOR(stat_int(r.self, "connected") == 1, 10, "connect");
	plugin_command(r.self, "stats", NULL, &st);
	assert_string_equal(json_string_value(json_object_get(st, "endpoint")), live);
	br = json_object_get(st, "breakers");
	assert_string_equal(json_string_value(json_object_get(br, dead)), "open");
	assert_string_equal(json_string_value(json_object_get(br, live)), "closed");
	json_decref(st);
	assert_true(metric_sum(&r.host, "errors_connect") >= 1);
	/* the node closing a good connection is not the endpoint's failure: same endpoint again */
	node_do(&r.node, "drop\nrandom 5\nblock");
	WAIT_FOR(stat_int(r.self, "reconnects") >= 2 && stat_int(r.self, "connected") == 1 &&
	    stat_int(r.self, "setup_ms") >= 0, 10, "reconnect");
	WAIT_FOR((count_events(&r.host, &b, &c), c >= 5), 10, "changes after the drop");
	plugin_command(r.self, "stats", NULL, &st);
	assert_string_equal(json_string_value(json_object_get(st, "endpoint")), live);
	json_decref(st);
	assert_true(check_all(&r.host, &r.node, 23, 10, 1));
	rig_stop(&r);
}

/* A self-signed certificate for 127.0.0.1 (openssl(1)); 0 or -1 when openssl is missing. */
static int
make_cert(char *cert, char *key, size_t len)
{
	char cmd[1024];

	snprintf(cert, len, "/tmp/test_rpc_watcher.%d.crt", (int)getpid());
	snprintf(key, len, "/tmp/test_rpc_watcher.%d.key", (int)getpid());
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s "
	    "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key, cert);
	return system(cmd) == 0 ? 0 : -1;
}

static void
watcher__wss__verified_with_ca_file(void **state)
{
	static struct rig r;
	static char cert[128], key[128];
	char url[64];
	size_t b, c;

	(void)state;
	if (make_cert(cert, key, sizeof(cert)) < 0)
		fail_msg("openssl(1) could not make a test certificate");
	/* without the CA (system CAs only) the self-signed node is refused */
	memset(&r, 0, sizeof(r));
	live_rig = &r;
	r.node.cert = cert;
	r.node.key = key;
	node_start(&r.node, 10, 29);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d", r.node.port);
	host_init(&r.host, json_pack("{s:[s],s:o,s:s,s:s}", "endpoints", url,
	    "accounts", accounts_json(29, 0, 10), "backoff_min", "20ms", "backoff_max", "100ms"));
	assert_int_equal(plugin->init(&r.host.api, &r.self), 0);
	r.live = 1;
	assert_int_equal(plugin->start(r.self), 0);
	WAIT_FOR(metric_sum(&r.host, "errors_connect") >= 1, 10, "TLS refusal");
	assert_int_equal(stat_int(r.self, "connected"), 0);
	count_events(&r.host, &b, &c);
	assert_int_equal(b, 0);
	plugin->stop(r.self);
	plugin->destroy(r.self);
	host_fini(&r.host);
	r.live = 0;
	/* with ca_file: connected, verified, working */
	host_init(&r.host, json_pack("{s:[s],s:o,s:s,s:s,s:s}", "endpoints", url,
	    "accounts", accounts_json(29, 0, 10), "backoff_min", "20ms", "backoff_max", "100ms",
	    "ca_file", cert));
	assert_int_equal(plugin->init(&r.host.api, &r.self), 0);
	r.live = 1;
	assert_int_equal(plugin->start(r.self), 0);
	wait_baselines(&r, 10, 10);
	node_do(&r.node, "random 5\nblock");
	WAIT_FOR((count_events(&r.host, &b, &c), c >= 5), 10, "changes over wss");
	assert_true(check_all(&r.host, &r.node, 29, 10, 1));
	rig_stop(&r);
	unlink(cert);
	unlink(key);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plugin_descriptor__valid),
		cmocka_unit_test(init__bad_config__names_the_field),
		cmocka_unit_test_teardown(watcher__baselines_then_changes, rig_teardown),
		cmocka_unit_test_teardown(watcher__requests_count_notifications, rig_teardown),
		cmocka_unit_test_teardown(watcher__20_disconnects__nothing_lost_or_doubled, rig_teardown),
		cmocka_unit_test_teardown(watcher__5000_accounts__split_subscriptions, rig_teardown),
		cmocka_unit_test_teardown(watcher__node_limits__split_repack_backoff, rig_teardown),
		cmocka_unit_test_teardown(watcher__malformed_input__errors_counted_no_crash, rig_teardown),
		cmocka_unit_test_teardown(watcher__silent_node__heartbeat_reconnects, rig_teardown),
		cmocka_unit_test_teardown(watcher__watchlist_from_snapshots_and_extra, rig_teardown),
		cmocka_unit_test_teardown(watcher__dead_endpoint__breaker_opens_and_fails_over, rig_teardown),
		cmocka_unit_test_teardown(watcher__wss__verified_with_ca_file, rig_teardown),
	};
	char self[4096];
	int rc;

	(void)argc;
	verbose = getenv("TEST_VERBOSE") != NULL;
	snprintf(self, sizeof(self), "%s", argv[0]);
	/* build/tests/test_rpc_watcher -> build */
	snprintf(build_dir, sizeof(build_dir), "%s/..", dirname(self));
	signal(SIGPIPE, SIG_IGN);
	if (!verbose)
		lws_set_log_level(LLL_ERR, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	plugin_load();
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dlclose(plugin_dl);
	curl_global_cleanup();
	return rc;
}

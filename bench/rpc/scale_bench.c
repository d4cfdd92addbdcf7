/*
 * scale_bench.c — the rpc_watcher plugin (build/plugins/rpc_watcher.so,
 * dlopen) against the fake node on loopback:
 *   1. set-up: N accounts (the node's own, fed as a snapshot event) from
 *      start() until every account's baseline was emitted; peak RSS of this
 *      process (plugin + a host that keeps nothing);
 *   2. latency: B blocks of C random changes each; per change, the time from
 *      the block's production on the node (its Timestamp.Now is the wall
 *      clock) to the plugin's emit() of the change; p50 / p99.
 *
 *   scale_bench BUILD_DIR [--accounts N] [--blocks B] [--changes C]
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rollout/plugin.h>

#include "hash.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long baselines, changes;
static double *lat_ms;
static size_t nlat, caplat;
static char url[64];
static int cfg_map_marker, cfg_ep_marker;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
now_exact_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int
h_emit(void *ctx, const struct rollout_event *ev)
{
	(void)ctx;
	if (ev->kind != ROLLOUT_EV_BALANCE)
		return 0;
	pthread_mutex_lock(&lock);
	if (!ev->u.balance.has_before) {
		baselines++;
	} else {
		changes++;
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 4096;
			lat_ms = realloc(lat_ms, caplat * sizeof(*lat_ms));
		}
		lat_ms[nlat++] = now_exact_ms() - (double)ev->u.balance.block_time_ms;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

static void
h_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (lvl > ROLLOUT_LOG_INFO)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void h_metric(void *ctx, const char *n, double v) { (void)ctx; (void)n; (void)v; }
static int64_t h_now(void *ctx) { (void)ctx; return now_ms(); }

static enum rollout_cfg_kind
h_kind(void *ctx, const struct rollout_cfg *n)
{
	(void)ctx;
	return (const void *)n == &cfg_ep_marker ? ROLLOUT_CFG_SCALAR : ROLLOUT_CFG_MAP;
}

static const struct rollout_cfg *
h_get(void *ctx, const struct rollout_cfg *n, const char *key)
{
	(void)ctx;
	(void)n;
	return strcmp(key, "endpoints") == 0 ? (const void *)&cfg_ep_marker : NULL;
}

static size_t h_len(void *ctx, const struct rollout_cfg *n) { (void)ctx; (void)n; return 0; }
static const struct rollout_cfg *h_at(void *ctx, const struct rollout_cfg *n, size_t i) { (void)ctx; (void)n; (void)i; return NULL; }
static const char *h_key_at(void *ctx, const struct rollout_cfg *n, size_t i) { (void)ctx; (void)n; (void)i; return NULL; }
static const char *h_scalar(void *ctx, const struct rollout_cfg *n) { (void)ctx; return (const void *)n == &cfg_ep_marker ? url : NULL; }
static int h_string(void *ctx, const struct rollout_cfg *n, const char *k, const char *d, const char **o) { (void)ctx; (void)n; (void)k; *o = d; return -ENOENT; }
static int h_int(void *ctx, const struct rollout_cfg *n, const char *k, long long mn, long long mx, long long d, long long *o) { (void)ctx; (void)n; (void)k; (void)mn; (void)mx; *o = d; return -ENOENT; }
static int h_bool(void *ctx, const struct rollout_cfg *n, const char *k, int d, int *o) { (void)ctx; (void)n; (void)k; *o = d; return -ENOENT; }
static int h_dur(void *ctx, const struct rollout_cfg *n, const char *k, int64_t d, int64_t *o) { (void)ctx; (void)n; (void)k; *o = d; return -ENOENT; }
static void h_cfg_error(void *ctx, const struct rollout_cfg *n, const char *fmt, ...) { (void)ctx; (void)n; (void)fmt; }

static size_t
sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static void
ctl(int port, const char *body)
{
	char u[96];
	CURL *c = curl_easy_init();

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/control", port);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	if (curl_easy_perform(c) != CURLE_OK) {
		fprintf(stderr, "control %s failed\n", body);
		exit(1);
	}
	curl_easy_cleanup(c);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static unsigned long
get(unsigned long *v)
{
	unsigned long r;

	pthread_mutex_lock(&lock);
	r = *v;
	pthread_mutex_unlock(&lock);
	return r;
}

int
main(int argc, char **argv)
{
	unsigned long accounts = 100000, blocks = 100, per_block = 100, i;
	char path[4200], portfile[128], acc[32];
	const struct rollout_plugin *pl;
	struct rollout_host h;
	struct rollout_snapshot_entry *ent;
	struct rollout_event ev;
	struct rusage ru;
	void *dl, *self;
	pid_t node;
	int port = 0, k;
	double t0, t_base;
	long rss0;

	if (argc < 2) {
		fprintf(stderr, "usage: scale_bench BUILD_DIR [--accounts N] [--blocks B] [--changes C]\n");
		return 2;
	}
	for (k = 2; k + 1 < argc; k += 2) {
		if (strcmp(argv[k], "--accounts") == 0)
			accounts = strtoul(argv[k + 1], NULL, 10);
		else if (strcmp(argv[k], "--blocks") == 0)
			blocks = strtoul(argv[k + 1], NULL, 10);
		else if (strcmp(argv[k], "--changes") == 0)
			per_block = strtoul(argv[k + 1], NULL, 10);
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(portfile, sizeof(portfile), "/tmp/scale_bench.%d.port", (int)getpid());
	snprintf(acc, sizeof(acc), "%lu", accounts);
	snprintf(path, sizeof(path), "%s/tests/fakes/fakenode", argv[1]);
	node = fork();
	if (node == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(path, path, "--port", "0", "--port-file", portfile, "--accounts", acc, "--seed", "1",
		    "--quiet", (char *)NULL);
		_exit(127);
	}
	for (k = 0; k < 400 && port == 0; k++) {
		FILE *f = fopen(portfile, "r");

		if (f != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port == 0)
			usleep(25000);
	}
	unlink(portfile);
	if (port == 0) {
		fprintf(stderr, "fakenode did not start\n");
		return 1;
	}
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d", port);
	snprintf(path, sizeof(path), "%s/plugins/rpc_watcher.so", argv[1]);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	pl = ((rollout_plugin_entry_fn)dlsym(dl, ROLLOUT_PLUGIN_ENTRY))();
	memset(&h, 0, sizeof(h));
	h.size = sizeof(h);
	h.abi = ROLLOUT_PLUGIN_ABI;
	h.instance = "candidate";
	h.chain = "polkadot";
	h.decimals = 10;
	h.symbol = "DOT";
	h.config = (const void *)&cfg_map_marker;
	h.emit = h_emit;
	h.log = h_log;
	h.metric = h_metric;
	h.now_ms = h_now;
	h.cfg_kind = h_kind;
	h.cfg_get = h_get;
	h.cfg_len = h_len;
	h.cfg_at = h_at;
	h.cfg_key_at = h_key_at;
	h.cfg_scalar = h_scalar;
	h.cfg_string = h_string;
	h.cfg_int = h_int;
	h.cfg_bool = h_bool;
	h.cfg_duration_ms = h_dur;
	h.cfg_error = h_cfg_error;
	if (pl->init(&h, &self) != 0)
		return 1;
	/* the node's accounts (ledger_generate's derivation), as a top-N snapshot */
	ent = calloc(accounts, sizeof(*ent));
	for (i = 0; i < accounts; i++) {
		uint8_t in[24];

		memcpy(in, "fakenode", 8);
		for (k = 0; k < 8; k++) {
			in[8 + k] = (uint8_t)((uint64_t)1 >> (8 * k));
			in[16 + k] = (uint8_t)((uint64_t)i >> (8 * k));
		}
		blake2_256(in, sizeof(in), ent[i].pubkey);
		ent[i].rank = (uint32_t)i + 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	rss0 = ru.ru_maxrss;
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	ev.u.snapshot.count = accounts;
	ev.u.snapshot.entries = ent;
	t0 = now_exact_ms();
	if (pl->start(self) != 0)
		return 1;
	pl->on_event(self, "baseline", &ev);
	free(ent);
	while (get(&baselines) < accounts) {
		if (now_exact_ms() - t0 > 120000) {
			fprintf(stderr, "only %lu baselines after 120 s\n", get(&baselines));
			return 1;
		}
		usleep(2000);
	}
	t_base = now_exact_ms() - t0;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"accounts\":%lu,\"setup_ms\":%.0f,\"peak_rss_kib\":%ld,\"rss_before_start_kib\":%ld",
	    accounts, t_base, ru.ru_maxrss, rss0);
	fflush(stdout);
	for (i = 0; i < blocks; i++) {
		char cmd[64];
		unsigned long want = get(&changes) + 1;

		snprintf(cmd, sizeof(cmd), "random %lu\nblock", per_block);
		ctl(port, cmd);
		/* pace: next block once this one's changes are in (or 200 ms) */
		for (k = 0; k < 100 && get(&changes) < want + per_block * 9 / 10 - 1; k++)
			usleep(2000);
	}
	usleep(300000);
	pthread_mutex_lock(&lock);
	qsort(lat_ms, nlat, sizeof(*lat_ms), dcmp);
	printf(",\"changes\":%zu,\"latency_p50_ms\":%.2f,\"latency_p99_ms\":%.2f,\"latency_max_ms\":%.2f}\n",
	    nlat, nlat ? lat_ms[nlat / 2] : -1.0, nlat ? lat_ms[nlat * 99 / 100] : -1.0,
	    nlat ? lat_ms[nlat - 1] : -1.0);
	pthread_mutex_unlock(&lock);
	pl->stop(self);
	pl->destroy(self);
	kill(node, SIGTERM);
	waitpid(node, NULL, 0);
	free(lat_ms);
	curl_global_cleanup();
	return 0;
}

/*
 * bench_cycle.c — time full top-N cycles of the subscan_poller plugin
 * against a running fakescan, at an unlimited rate.
 *
 * usage: bench_cycle PLUGIN.so BASE_URL TOP CYCLES [RATE]
 * Loads the plugin through a minimal host (as rolloutd does), runs CYCLES
 * cycles back to back (the first at start, the others with the `poll`
 * command) and prints, per cycle and in total, wall time and this
 * process's CPU time, then the peak RSS.  The fake's own CPU is not
 * included.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rollout/plugin.h"

struct item { const char *key, *val; };

static struct item items[8];
static size_t nitems;
static char root;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static size_t snapshots, errors, accounts;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const struct item *
find(const struct rollout_cfg *node, const char *key)
{
	size_t i;

	if (node != NULL && (const void *)node != (const void *)&root)
		return NULL;
	for (i = 0; i < nitems; i++)
		if (strcmp(items[i].key, key) == 0)
			return &items[i];
	return NULL;
}

static int
h_emit(void *ctx, const struct rollout_event *ev)
{
	(void)ctx;
	pthread_mutex_lock(&lock);
	if (ev->kind == ROLLOUT_EV_SNAPSHOT) {
		snapshots++;
		accounts = ev->u.snapshot.count;
	} else if (ev->kind == ROLLOUT_EV_ERROR) {
		errors++;
		fprintf(stderr, "error: %s: %s\n", ev->u.error.kind, ev->u.error.message);
	}
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void
h_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	if (lvl > ROLLOUT_LOG_WARN)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void h_metric(void *ctx, const char *n, double v) { (void)ctx; (void)n; (void)v; }

static int64_t
h_now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum rollout_cfg_kind
h_kind(void *ctx, const struct rollout_cfg *n)
{
	(void)ctx;
	return n == NULL || (const void *)n == (const void *)&root ? ROLLOUT_CFG_MAP : ROLLOUT_CFG_SCALAR;
}

static const struct rollout_cfg *
h_get(void *ctx, const struct rollout_cfg *n, const char *k)
{
	(void)ctx;
	return (const struct rollout_cfg *)(const void *)find(n, k);
}

static size_t h_len(void *ctx, const struct rollout_cfg *n) { (void)ctx; (void)n; return nitems; }

static const struct rollout_cfg *
h_at(void *ctx, const struct rollout_cfg *n, size_t i)
{
	(void)ctx;
	(void)n;
	return (const struct rollout_cfg *)(const void *)&items[i];
}

static const char *
h_key_at(void *ctx, const struct rollout_cfg *n, size_t i)
{
	(void)ctx;
	(void)n;
	return items[i].key;
}

static const char *
h_scalar(void *ctx, const struct rollout_cfg *n)
{
	(void)ctx;
	return n ? ((const struct item *)(const void *)n)->val : NULL;
}

static int
h_string(void *ctx, const struct rollout_cfg *n, const char *k, const char *d, const char **out)
{
	const struct item *it = find(n, k);

	(void)ctx;
	*out = it ? it->val : d;
	return it ? 0 : -ENOENT;
}

static int
h_int(void *ctx, const struct rollout_cfg *n, const char *k, long long min, long long max,
    long long d, long long *out)
{
	const struct item *it = find(n, k);

	(void)ctx;
	*out = it ? atoll(it->val) : d;
	return it ? (*out < min || *out > max ? -EINVAL : 0) : -ENOENT;
}

static int
h_bool(void *ctx, const struct rollout_cfg *n, const char *k, int d, int *out)
{
	(void)ctx;
	(void)n;
	(void)k;
	*out = d;
	return -ENOENT;
}

static int
h_duration(void *ctx, const struct rollout_cfg *n, const char *k, int64_t d, int64_t *out)
{
	(void)ctx;
	(void)n;
	(void)k;
	*out = d;
	return -ENOENT;
}

static void
h_cfg_error(void *ctx, const struct rollout_cfg *n, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)n;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int
wait_snapshots(size_t want)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&lock);
	while (snapshots < want && errors == 0)
		if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&lock);
	return snapshots >= want ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct rollout_host host;
	const struct rollout_plugin *pl;
	rollout_plugin_entry_fn entry;
	void *dl, *self;
	char reply[4096];
	double w0, c0, w, c, wsum = 0, csum = 0, wmin = 1e9, wmax = 0;
	int cycles, i;
	struct rusage ru;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: bench_cycle PLUGIN.so BASE_URL TOP CYCLES [RATE]\n");
		return 2;
	}
	cycles = atoi(argv[4]);
	items[nitems++] = (struct item){ "base_url", argv[2] };
	items[nitems++] = (struct item){ "top", argv[3] };
	items[nitems++] = (struct item){ "rate", argc == 6 ? argv[5] : "0" };
	memset(&host, 0, sizeof(host));
	host.size = sizeof(host);
	host.abi = ROLLOUT_PLUGIN_ABI;
	host.instance = "baseline";
	host.data_dir = NULL;
	host.chain = "polkadot";
	host.ss58_prefix = 0;
	host.decimals = 10;
	host.symbol = "DOT";
	host.default_subscan = argv[2];
	host.default_rpc = "";
	host.config = (const struct rollout_cfg *)(const void *)&root;
	host.emit = h_emit;
	host.log = h_log;
	host.metric = h_metric;
	host.now_ms = h_now_ms;
	host.cfg_kind = h_kind;
	host.cfg_get = h_get;
	host.cfg_len = h_len;
	host.cfg_at = h_at;
	host.cfg_key_at = h_key_at;
	host.cfg_scalar = h_scalar;
	host.cfg_string = h_string;
	host.cfg_int = h_int;
	host.cfg_bool = h_bool;
	host.cfg_duration_ms = h_duration;
	host.cfg_error = h_cfg_error;
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	*(void **)&entry = dlsym(dl, ROLLOUT_PLUGIN_ENTRY);
	pl = entry();
	if (pl->init(&host, &self) < 0)
		return 1;
	printf("cycle wall_s cpu_s accounts\n");
	for (i = 1; i <= cycles; i++) {
		w0 = now_s();
		c0 = cpu_s();
		if (i == 1) {
			if (pl->start(self) < 0)
				return 1;
		} else {
			pl->command(self, "poll", NULL, reply, sizeof(reply));
		}
		if (wait_snapshots((size_t)i) < 0) {
			fprintf(stderr, "cycle %d did not complete\n", i);
			return 1;
		}
		w = now_s() - w0;
		c = cpu_s() - c0;
		printf("%d %.4f %.4f %zu\n", i, w, c, accounts);
		wsum += w;
		csum += c;
		if (w < wmin)
			wmin = w;
		if (w > wmax)
			wmax = w;
	}
	pl->stop(self);
	pl->destroy(self);
	getrusage(RUSAGE_SELF, &ru);
	printf("cycles %d  wall mean %.4f s (min %.4f, max %.4f)  cpu mean %.4f s  peak_rss %ld KiB\n",
	    cycles, wsum / cycles, wmin, wmax, csum / cycles, ru.ru_maxrss);
	dlclose(dl);
	return 0;
}

/*
 * bench_pipeline.c — throughput and per-event latency of the runner's
 * event path: 4 producer threads (as plugin threads) push balance changes
 * through the bus; the consumer (the runner thread) runs each through the
 * rules, the shadow comparator and the router, as pipeline_drain() does.
 * Latency = push (producer's clock) -> routed (consumer's clock), ns.
 * A second run measures the real pipeline (pipeline_emit/pipeline_drain,
 * metrics included) for throughput.
 *
 * usage: bench_pipeline [EVENTS_PER_PRODUCER]   (default 250000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "clock.h"
#include "metrics.h"
#include "pipeline.h"
#include "router.h"
#include "rules.h"
#include "shadow.h"

#define PRODUCERS 4
#define ACCOUNTS 1000
#define DOT ((rollout_u128)10000000000ULL)

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static long per_producer = 250000;
static int producers_done;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int wake_pending;

/* The bus's wake callback: what the daemon's loop gets (an eventfd there). */
static void
wake(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&wake_lock);
	wake_pending = 1;
	pthread_cond_signal(&wake_cond);
	pthread_mutex_unlock(&wake_lock);
}

/* Sleep until woken (or 10 ms). */
static void
wait_wake(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 10000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wake_lock);
	if (!wake_pending)
		pthread_cond_timedwait(&wake_cond, &wake_lock, &ts);
	wake_pending = 0;
	pthread_mutex_unlock(&wake_lock);
}
static long pace_ns; /* >0: each producer waits this long between events */

struct prod {
	struct bus *bus;
	struct pipeline *pipe;
	int id;
};

/* Balance changes over ACCOUNTS accounts; one in ten moves >= 10k tokens. */
static void
make_event(struct rollout_event *ev, int id, long i, rollout_u128 *bal)
{
	uint32_t acct = (uint32_t)((i * PRODUCERS + id) % ACCOUNTS);
	rollout_u128 delta = (i % 10 == 0) ? (rollout_u128)(20000 + i % 7) * DOT : (rollout_u128)(i % 1000) * DOT;
	uint64_t t = now_ns();

	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->kind = ROLLOUT_EV_BALANCE;
	memcpy(ev->u.balance.pubkey, &acct, sizeof(acct));
	ev->u.balance.pubkey[31] = (uint8_t)id;
	ev->u.balance.block_from = ev->u.balance.block_to = (uint64_t)i + 1;
	ev->u.balance.block_time_ms = ev->u.balance.window_start_ms = ev->u.balance.window_end_ms =
	    1700000000000LL + i * 6000;
	ev->u.balance.observed_ms = ev->u.balance.block_time_ms;
	ev->u.balance.has_before = 1;
	ev->u.balance.known_mask = ROLLOUT_KNOW_ALL;
	ev->u.balance.before.free = bal[acct];
	bal[acct] += delta;
	ev->u.balance.after.free = bal[acct];
	memcpy(ev->u.balance.block_hash, &t, sizeof(t)); /* the push time rides along */
}

static void *
produce(void *arg)
{
	struct prod *p = arg;
	struct rollout_event ev;
	rollout_u128 *bal = calloc(ACCOUNTS, sizeof(*bal));

	uint64_t next = now_ns();

	for (long i = 0; i < per_producer; i++) {
		if (pace_ns) {
			struct timespec ts = { (time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL) };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			next += (uint64_t)pace_ns;
		}
		make_event(&ev, p->id, i, bal);
		if (p->bus)
			while (bus_push_event(p->bus, p->id, 0, &ev) == -EAGAIN)
				;
		else
			while (pipeline_emit(p->pipe, "candidate", &ev) == -EAGAIN)
				;
	}
	free(bal);
	__atomic_add_fetch(&producers_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct sink {
	struct router *router;
	struct shadow *shadow;
	long alerts, delivered;
};

static void
on_alert(void *ctx, const struct rules_alert *a)
{
	struct sink *s = ctx;

	s->alerts++;
	shadow_alert(s->shadow, a);
	if (router_route(s->router, ROUTER_GRADUAL, 35, a) == ROUTE_DELIVER)
		s->delivered++;
}

/* Bus + rules + comparator + router; prints one line.  RATE 0: saturated. */
static int
run_components(long rate)
{
	struct bus *bus;
	struct rules *rules;
	struct shadow *shadow;
	struct shadow_opts so = { 0 };
	struct sink sink = { 0 };
	struct prod pr[PRODUCERS];
	pthread_t th[PRODUCERS];
	struct bus_item *items[256];
	uint64_t *lat, *svc, t0, t1;
	long total = per_producer * PRODUCERS, got = 0;
	char err[256];
	struct bus_stats st;

	pace_ns = rate ? 1000000000L / (rate / PRODUCERS) : 0;
	lat = malloc((size_t)total * sizeof(*lat));
	svc = malloc((size_t)total * sizeof(*svc));
	producers_done = 0;
	if (bus_create(&bus, 65536, 2000, wake, NULL) != 0 ||
	    rules_create(&rules, "candidate", NULL, 10, "DOT", 0, err, sizeof(err)) != 0 ||
	    router_create(&sink.router, "bench") != 0 || shadow_create(&shadow, &so) != 0)
		return 1;
	sink.shadow = shadow;
	t0 = now_ns();
	for (int i = 0; i < PRODUCERS; i++) {
		pr[i] = (struct prod){ bus, NULL, i };
		pthread_create(&th[i], NULL, produce, &pr[i]);
	}
	while (got < total) {
		size_t n = bus_pop(bus, items, 256);

		if (n == 0)
			wait_wake();
		for (size_t i = 0; i < n; i++) {
			struct bus_item *it = items[i];
			uint64_t pushed, s0 = now_ns(), s1;

			shadow_candidate_change(shadow, &it->ev.u.balance);
			rules_balance(rules, &it->ev.u.balance, 0, on_alert, &sink);
			memcpy(&pushed, it->ev.u.balance.block_hash, sizeof(pushed));
			s1 = now_ns();
			svc[got] = s1 - s0;
			lat[got++] = s1 - pushed;
			bus_item_free(it);
		}
		if (got % 65536 < 256)
			shadow_tick(shadow, 1700000000000LL + (int64_t)got * 6000 / PRODUCERS);
	}
	t1 = now_ns();
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	producers_done = 0;
	bus_get_stats(bus, &st);
	qsort(lat, (size_t)total, sizeof(*lat), cmp_u64);
	qsort(svc, (size_t)total, sizeof(*svc), cmp_u64);
	if (rate)
		printf("components, paced at %ld events/s: ", rate);
	else
		printf("components, saturated: ");
	printf("%ld events from %d producers in %.3f s = %.0f events/s; "
	    "processing per event p50 %.2f us p99 %.2f us; push->routed latency p50 %.1f us "
	    "p99 %.1f us max %.1f us; %ld alerts (%ld delivered at 35%%); "
	    "bus high water %zu/%zu, dropped %llu\n",
	    total, PRODUCERS, (double)(t1 - t0) / 1e9, (double)total / ((double)(t1 - t0) / 1e9),
	    (double)svc[total / 2] / 1e3, (double)svc[total * 99 / 100] / 1e3,
	    (double)lat[total / 2] / 1e3, (double)lat[total * 99 / 100] / 1e3,
	    (double)lat[total - 1] / 1e3, sink.alerts, sink.delivered, st.high_water, st.capacity,
	    (unsigned long long)(st.dropped + st.dropped_balance));
	free(svc);
	free(lat);
	bus_free(bus);
	rules_free(rules);
	router_free(sink.router);
	shadow_free(shadow);

	return 0;
}

int
main(int argc, char **argv)
{
	struct prod pr[PRODUCERS];
	pthread_t th[PRODUCERS];
	uint64_t t0, t1;
	long total, rate = argc > 2 ? atol(argv[2]) : 20000, saved;
	char err[256];

	if (argc > 1)
		per_producer = atol(argv[1]);
	total = per_producer * PRODUCERS;
	if (run_components(0) != 0)
		return 1;
	/* paced: 2 seconds' worth at RATE */
	saved = per_producer;
	per_producer = rate * 2 / PRODUCERS;
	if (run_components(rate) != 0)
		return 1;
	per_producer = saved;
	pace_ns = 0;

	/* the real pipeline: emit from 4 threads, drain on this one (metrics, alerts ring) */
	{
		struct clock *clk = clock_real();
		struct metrics *m;
		struct pipeline *p;
		struct pipeline_opts o = { 0 };
		producers_done = 0;
		metrics_create(&m, clk);
		o.clock = clk;
		o.metrics = m;
		o.no_plugins = 1;
		if (pipeline_open(&p, &o, err, sizeof(err)) != 0) {
			fprintf(stderr, "pipeline_open: %s\n", err);
			return 1;
		}
		t0 = now_ns();
		for (int i = 0; i < PRODUCERS; i++) {
			pr[i] = (struct prod){ NULL, p, i };
			pthread_create(&th[i], NULL, produce, &pr[i]);
		}
		/* drain on this thread while they run, until all is produced and consumed */
		for (;;) {
			int done = __atomic_load_n(&producers_done, __ATOMIC_SEQ_CST) == PRODUCERS;
			json_t *h;
			json_int_t depth;

			pipeline_drain(p);
			if (!done)
				continue;
			h = pipeline_health_json(p);
			depth = json_integer_value(json_object_get(json_object_get(h, "bus"), "depth"));
			json_decref(h);
			if (depth == 0)
				break;
		}
		for (int i = 0; i < PRODUCERS; i++)
			pthread_join(th[i], NULL);
		t1 = now_ns();
		printf("pipeline (emit -> drain, metrics, legacy routing): %ld events in %.3f s: %.0f events/s\n",
		    total, (double)(t1 - t0) / 1e9, (double)total / ((double)(t1 - t0) / 1e9));
		pipeline_close(p);
		metrics_free(m);
		clock_free(clk);
	}
	return 0;
}

/*
 * decode_bench.c — decode throughput of the rpc_watcher's notification path
 * (parse JSON -> find the subscription -> decode keys and SCALE AccountInfo
 * -> compare with the known value -> build and emit the balance event), on
 * one core, without the network: the plugin's own client.c is compiled into
 * this program and its on_message() is fed recorded notifications of 1,000
 * changes each.
 *
 *   decode_bench [--messages M] [--runs R] [--dump FILE]
 *
 * --dump writes the notifications (one JSON text per line) for decode.js,
 * which runs the same input through @polkadot/types.
 */
#include "../../plugins/rpc_watcher/client.c"
#include "../../plugins/rpc_watcher/breaker.c"

#define CHANGES 1000

static unsigned long bench_events;

int64_t
watcher_now_ms(const struct watcher *w)
{
	struct timespec ts;

	(void)w;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
b_emit(void *ctx, const struct rollout_event *ev)
{
	(void)ctx;
	if (ev->kind == ROLLOUT_EV_BALANCE)
		bench_events++;
	return 0;
}

static void
b_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	(void)ctx;
	(void)lvl;
	(void)fmt;
}

static void
b_metric(void *ctx, const char *name, double v)
{
	(void)ctx;
	(void)name;
	(void)v;
}

static int64_t
b_now(void *ctx)
{
	return watcher_now_ms(ctx);
}

static void
bench_pubkey(unsigned i, uint8_t pk[32])
{
	uint8_t in[8];
	int k;

	for (k = 0; k < 8; k++)
		in[k] = (uint8_t)((uint64_t)i >> (8 * k));
	blake2_256(in, sizeof(in), pk);
}

static void
bench_hash(unsigned m, uint8_t h[32])
{
	uint8_t in[9] = { 'B' };
	int k;

	for (k = 0; k < 8; k++)
		in[1 + k] = (uint8_t)((uint64_t)m >> (8 * k));
	blake2_256(in, sizeof(in), h);
}

/* Notification M: every account's AccountInfo with free = base + M. */
static char *
bench_message(unsigned m, size_t *len)
{
	struct sbuf s = { 0 };
	char key[STORAGE_ACCOUNT_KEY_HEXLEN + 1], hex[2 * 80 + 3], ts[STORAGE_TIMESTAMP_KEY_HEXLEN + 1], blk[67];
	uint8_t h[32], info[80], t8[8];
	unsigned i;

	bench_hash(m, h);
	hex_encode(h, 32, blk, 1);
	storage_timestamp_now_key_hex(ts);
	sb_str(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":"
	    "\"bench\",\"result\":{\"block\":\"");
	sb_str(&s, blk);
	sb_str(&s, "\",\"changes\":[[\"");
	sb_str(&s, ts);
	sb_str(&s, "\",\"");
	scale_encode_u64(1700000000000ull + 6000ull * m, t8);
	hex_encode(t8, 8, hex, 1);
	sb_str(&s, hex);
	sb_str(&s, "\"]");
	for (i = 0; i < CHANGES; i++) {
		struct rollout_account_data d;
		uint8_t pk[32];

		bench_pubkey(i, pk);
		storage_system_account_key_hex(pk, key);
		memset(&d, 0, sizeof(d));
		d.nonce = m;
		d.free = (rollout_u128)1000000000000ull * (i + 1) + m;
		d.reserved = 12345;
		d.frozen = d.free / 3;
		scale_encode_account_info(&d, 0, 1, 0, (rollout_u128)1 << 127, info);
		hex_encode(info, 80, hex, 1);
		sb_str(&s, ",[\"");
		sb_str(&s, key);
		sb_str(&s, "\",\"");
		sb_str(&s, hex);
		sb_str(&s, "\"]");
	}
	sb_str(&s, "]}}}");
	*len = s.len;
	{
		/* detach from the LWS_PRE headroom */
		char *out = malloc(s.len + 1);

		memcpy(out, s.p, s.len + 1);
		sb_free(&s);
		return out;
	}
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	unsigned messages = 200, runs = 5, m, r, i;
	const char *dump = NULL;
	char **msg;
	size_t *len;
	double rate[64];

	for (i = 1; i + 1 < (unsigned)argc; i += 2) {
		if (strcmp(argv[i], "--messages") == 0)
			messages = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--runs") == 0)
			runs = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dump") == 0)
			dump = argv[i + 1];
	}
	if (messages < 2 || messages > BLOCK_RING - 8 || runs < 1 || runs > 64) {
		fprintf(stderr, "usage: decode_bench [--messages 2..2000] [--runs 1..64] [--dump FILE]\n");
		return 2;
	}
	msg = calloc(messages, sizeof(*msg));
	len = calloc(messages, sizeof(*len));
	for (m = 0; m < messages; m++)
		msg[m] = bench_message(m + 1, &len[m]);
	if (dump != NULL) {
		FILE *f = fopen(dump, "w");

		for (m = 0; m < messages && f != NULL; m++)
			fprintf(f, "%s\n", msg[m]);
		if (f == NULL || fclose(f) != 0) {
			perror(dump);
			return 1;
		}
	}
	for (r = 0; r < runs; r++) {
		struct rollout_host host;
		struct watcher w;
		char *eps[1] = { "ws://127.0.0.1:1" };
		struct client *c;
		struct timespec t0, t1;
		size_t k;
		double secs;
		unsigned long before;

		memset(&host, 0, sizeof(host));
		host.size = sizeof(host);
		host.emit = b_emit;
		host.log = b_log;
		host.metric = b_metric;
		host.now_ms = b_now;
		memset(&w, 0, sizeof(w));
		w.host = &host;
		pthread_mutex_init(&w.lock, NULL);
		w.conf.endpoints = eps;
		w.conf.nendpoints = 1;
		w.conf.keys_per_subscription = CHANGES;
		w.conf.max_subscriptions = 1024;
		w.conf.max_request_bytes = 15u << 20;
		w.conf.max_message_bytes = 16u << 20;
		w.conf.request_timeout_ms = 10000;
		w.conf.heartbeat_ms = 15000;
		w.conf.max_inflight = 32;
		if (client_create(&w) < 0)
			return 1;
		c = w.client;
		for (i = 0; i < CHANGES; i++) {
			uint8_t pk[32];

			bench_pubkey(i, pk);
			acc_watch(c, pk, SRC_CONFIG);
		}
		k = chunk_alloc(c);
		c->chunks[k].state = CH_ACTIVE;
		snprintf(c->chunks[k].subid, sizeof(c->chunks[k].subid), "bench");
		c->chunks[k].last_block = -1;
		c->pool_dirty = 0;
		for (m = 0; m < messages; m++) {
			uint8_t h[32];
			struct blockinfo *b;

			bench_hash(m + 1, h);
			b = ring_get(c, h);
			b->number = m + 1;
			b->known = 1;
		}
		/* the first notification is the baseline */
		on_message(c, msg[0], len[0]);
		before = bench_events;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (m = 1; m < messages; m++)
			on_message(c, msg[m], len[m]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (bench_events - before != (unsigned long)(messages - 1) * CHANGES) {
			fprintf(stderr, "expected %u change events, got %lu\n", (messages - 1) * CHANGES,
			    bench_events - before);
			return 1;
		}
		rate[r] = (double)(bench_events - before) / secs;
		fprintf(stderr, "run %u: %lu changes in %.3f s = %.0f changes/s\n", r + 1,
		    bench_events - before, secs, rate[r]);
		client_destroy(&w);
		pthread_mutex_destroy(&w.lock);
	}
	qsort(rate, runs, sizeof(rate[0]), dbl_cmp);
	printf("{\"impl\":\"rolloutd rpc_watcher (C)\",\"changes_per_notification\":%d,"
	    "\"notifications\":%u,\"runs\":%u,\"median_changes_per_s\":%.0f}\n",
	    CHANGES, messages - 1, runs, rate[runs / 2]);
	for (m = 0; m < messages; m++)
		free(msg[m]);
	free(msg);
	free(len);
	return 0;
}

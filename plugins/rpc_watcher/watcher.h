/*
 * watcher.h — internals of the rpc_watcher plugin (not a public header).
 *
 * plugin.c   the ABI face: config, commands, on_event (runner thread)
 * client.c   the service thread: libwebsockets client, JSON-RPC, watchlist,
 *            storage subscriptions, gap fill, events and metrics
 * breaker.c  a circuit breaker per endpoint
 *
 * Threads: the runner thread only touches `inbox` and `stats` under `lock`
 * and wakes the service thread with lws_cancel_service(); everything else
 * belongs to the service thread.
 */
#ifndef RPC_WATCHER_H
#define RPC_WATCHER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rollout/plugin.h>

struct lws_context;
struct lws;

/* ---- circuit breaker (breaker.c) ------------------------------------------ */

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_HALF_OPEN = 1, BREAKER_OPEN = 2 };

struct breaker_conf {
	unsigned window;                /* outcomes remembered (default 10) */
	unsigned min_calls;             /* before the rate counts (default 3) */
	unsigned failure_rate;          /* percent that opens it (default 50) */
	int64_t wait_ms;                /* open -> half-open after (default 30 s) */
};

struct breaker {
	enum breaker_state state;
	int64_t open_until_ms;
	uint8_t outcomes[64];           /* ring of 1 = failure */
	unsigned n, next;
};

/* May an attempt be made at NOW_MS?  (Moves open -> half-open when due.) */
int breaker_allow(struct breaker *b, const struct breaker_conf *c, int64_t now_ms);
/* Record an attempt's outcome; returns 1 when the state changed. */
int breaker_record(struct breaker *b, const struct breaker_conf *c, int failed, int64_t now_ms);
const char *breaker_state_name(enum breaker_state s);

/* ---- configuration (plugin.c) ----------------------------------------------- */

struct watcher_conf {
	char **endpoints;
	size_t nendpoints;
	uint8_t (*accounts)[32];        /* from `accounts:` */
	size_t naccounts;
	char watch_from[64];            /* instance whose snapshots feed the watchlist */
	unsigned keys_per_subscription; /* 1000 */
	unsigned max_subscriptions;     /* 1024 per connection */
	size_t max_request_bytes;       /* 15 MiB */
	size_t max_message_bytes;       /* 16 MiB */
	int64_t request_timeout_ms;     /* 10 s */
	int64_t heartbeat_ms;           /* 15 s */
	int64_t backoff_min_ms;         /* 250 ms */
	int64_t backoff_max_ms;         /* 30 s */
	unsigned max_gap_blocks;        /* 300 */
	unsigned max_inflight;          /* 32 subscribe/query requests at once */
	char *ca_file;                  /* PEM CA bundle for wss://; NULL: the system's */
	struct breaker_conf breaker;
};

/* ---- cross-thread mailbox ----------------------------------------------------- */

struct watcher_inbox {
	int disconnect;                 /* chaos.disconnect */
	unsigned long extra;            /* watch.extra: accounts to add */
	uint8_t (*snapshot)[32];        /* latest snapshot watchlist, owned */
	size_t nsnapshot;
	int snapshot_new;
	uint8_t (*add)[32];             /* watch.add */
	size_t nadd;
	uint8_t (*remove)[32];          /* watch.remove */
	size_t nremove;
};

struct watcher_stats {
	int connected;
	char endpoint[256];
	uint64_t best, finalized, synced;
	unsigned long watched, subscriptions, pending_subscriptions;
	unsigned long requests, errors, reconnects, notifications, changes, baselines, stale;
	unsigned long late_notifications;   /* for subscriptions just given up: dropped, not errors */
	unsigned long gap_blocks, keys_per_subscription, subscription_limit;
	unsigned long extra;
	int64_t setup_ms;               /* connect -> every watched key subscribed */
	char breakers[512];             /* "url=closed,..." */
};

struct watcher {
	const struct rollout_host *host;
	struct watcher_conf conf;

	pthread_mutex_t lock;           /* guards inbox and stats */
	struct watcher_inbox inbox;
	struct watcher_stats stats;

	pthread_t thread;
	int started;
	volatile int stopping;
	struct lws_context *ctx;
	struct client *client;          /* service-thread state (client.c) */
};

/* client.c */
int client_create(struct watcher *w);   /* allocate, no thread yet */
int client_start(struct watcher *w);    /* lws context + thread */
void client_stop(struct watcher *w);    /* join the thread, destroy the context */
void client_destroy(struct watcher *w);
void client_wake(struct watcher *w);    /* any thread: look at the inbox */

/* Small helpers used by both sides. */
int64_t watcher_now_ms(const struct watcher *w);

#endif

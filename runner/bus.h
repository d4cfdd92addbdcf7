/*
 * bus.h — the event bus between plugin threads and the runner thread.
 *
 * A bounded ring of heap items protected by one mutex.  Producers (plugin
 * threads, through the host API) push deep copies of their events and
 * metric samples; the runner thread pops them.  When the ring goes from
 * empty to non-empty the bus calls WAKE (from the producer's thread) so the
 * runner's loop drains it.
 *
 * Overflow policy (explicit, see rolloutd-plugin(3)):
 *   - a balance change never gets dropped silently: the producer waits for
 *     room up to BALANCE_WAIT_MS; only if the runner is stuck that long is
 *     it refused with -EAGAIN, counted in dropped_balance and logged;
 *   - every other item (snapshot, health, error, log line, metric sample)
 *     is refused at once with -EAGAIN when the ring is full and counted in
 *     dropped.
 * Memory is bounded by CAPACITY items (plus the copy being made).
 */
#ifndef ROLLOUT_BUS_H
#define ROLLOUT_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "rollout/plugin.h"

enum bus_item_kind { BUS_ITEM_EVENT = 1, BUS_ITEM_METRIC = 2 };

/* Limits of what one event may carry (longer strings are truncated). */
#define BUS_MAX_SNAPSHOT 100000
#define BUS_MAX_STRING 4096

/*
 * One queued item.  For an event, every pointer inside EV points into the
 * item's own allocation: the item is self-contained and freed with
 * bus_item_free().
 */
struct bus_item {
	enum bus_item_kind kind;
	int source;                   /* the producer's index (pipeline: instance number) */
	int64_t t_ms;                 /* when pushed (the caller's clock) */
	struct rollout_event ev;      /* EVENT: the deep copy (ev.size = host's sizeof) */
	double value;                 /* METRIC */
	char *name;                   /* METRIC: points into the item */
};

struct bus_stats {
	size_t depth, capacity, high_water;
	uint64_t pushed, popped;
	uint64_t dropped;             /* non-balance items refused (ring full) */
	uint64_t dropped_balance;     /* balance changes refused after the bounded wait */
	uint64_t waited;              /* balance changes that had to wait for room */
};

struct bus;

/*
 * Create a bus of CAPACITY items.  WAKE (may be NULL) is called with CTX,
 * from the pushing thread and without the bus lock held, when the ring
 * becomes non-empty.  0 or -ENOMEM / -EINVAL.
 */
int bus_create(struct bus **out, size_t capacity, int64_t balance_wait_ms,
    void (*wake)(void *ctx), void *ctx);
/* Free the bus and every item still queued.  No producer may be running.  NULL ok. */
void bus_free(struct bus *b);

/*
 * Thread-safe.  Deep-copy EV (only the first min(ev->size, sizeof) bytes of
 * the sender's struct are read) and queue it.  0, -EINVAL (malformed
 * event: bad size or kind, too many snapshot entries), -ENOMEM (counted as
 * a drop), -EAGAIN (full, see the overflow policy), -ESHUTDOWN after
 * bus_close().
 */
int bus_push_event(struct bus *b, int source, int64_t t_ms, const struct rollout_event *ev);
/* Thread-safe.  Queue one metric sample NAME=VALUE.  0, -EAGAIN, -ENOMEM, -ESHUTDOWN. */
int bus_push_metric(struct bus *b, int source, int64_t t_ms, const char *name, double value);

/*
 * Take up to MAX items in FIFO order into ITEMS; the caller owns them
 * (bus_item_free each).  Returns how many were taken.  Never blocks.
 */
size_t bus_pop(struct bus *b, struct bus_item **items, size_t max);
void bus_item_free(struct bus_item *it);

/* Refuse further pushes (-ESHUTDOWN) and release waiting producers. */
void bus_close(struct bus *b);
void bus_get_stats(struct bus *b, struct bus_stats *out);

/* Deep copy of an event into one allocation (also used by tests). NULL on error. */
struct bus_item *bus_item_copy(const struct rollout_event *ev, int *err);

#endif

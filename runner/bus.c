/*
 * bus.c — bounded, lock-protected queue from plugin threads to the runner
 * thread (bus.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

struct bus {
	pthread_mutex_t lock;
	pthread_cond_t room;          /* signalled when items are popped or the bus closes */
	struct bus_item **ring;
	size_t cap, head, len;
	int closed;
	int64_t balance_wait_ms;
	void (*wake)(void *ctx);
	void *wake_ctx;
	struct bus_stats st;
};

/* ---- deep copies ------------------------------------------------------------ */

static size_t
bounded_len(const char *s)
{
	return s ? strnlen(s, BUS_MAX_STRING) : 0;
}

/* Copy S (bounded) to *CURSOR, advance it, return the copy. */
static char *
put_string(char **cursor, const char *s)
{
	size_t n = bounded_len(s);
	char *d = *cursor;

	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	*cursor += n + 1;
	return d;
}

struct bus_item *
bus_item_copy(const struct rollout_event *ev, int *err)
{
	struct bus_item *it;
	size_t extra = 0, n;
	char *cur;
	struct rollout_event e;

	*err = -EINVAL;
	if (ev == NULL || ev->size < offsetof(struct rollout_event, u) + sizeof(int))
		return NULL;
	/* Read only what the sender has; zero what it lacks. */
	memset(&e, 0, sizeof(e));
	n = ev->size < sizeof(e) ? ev->size : sizeof(e);
	memcpy(&e, ev, n);
	e.size = sizeof(e);
	switch (e.kind) {
	case ROLLOUT_EV_BALANCE:
		break;
	case ROLLOUT_EV_ACTIVITY:
		e.u.activity.source[sizeof(e.u.activity.source) - 1] = '\0';
		break;
	case ROLLOUT_EV_TRANSFER:
		e.u.transfer.id[sizeof(e.u.transfer.id) - 1] = '\0';
		e.u.transfer.from_tag_type[sizeof(e.u.transfer.from_tag_type) - 1] = '\0';
		e.u.transfer.from_tag_name[sizeof(e.u.transfer.from_tag_name) - 1] = '\0';
		e.u.transfer.to_tag_type[sizeof(e.u.transfer.to_tag_type) - 1] = '\0';
		e.u.transfer.to_tag_name[sizeof(e.u.transfer.to_tag_name) - 1] = '\0';
		break;
	case ROLLOUT_EV_SNAPSHOT:
		if (e.u.snapshot.count > BUS_MAX_SNAPSHOT ||
		    (e.u.snapshot.count > 0 && e.u.snapshot.entries == NULL))
			return NULL;
		extra = e.u.snapshot.count * sizeof(struct rollout_snapshot_entry);
		break;
	case ROLLOUT_EV_HEALTH:
		extra = bounded_len(e.u.health.detail) + 1;
		break;
	case ROLLOUT_EV_ERROR:
		extra = bounded_len(e.u.error.kind) + 1 + bounded_len(e.u.error.message) + 1;
		break;
	case ROLLOUT_EV_LOG:
		extra = bounded_len(e.u.log.line) + 1;
		break;
	default:
		return NULL;
	}
	it = malloc(sizeof(*it) + extra);
	if (it == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(it, 0, sizeof(*it));
	it->kind = BUS_ITEM_EVENT;
	it->ev = e;
	cur = (char *)(it + 1);
	switch (e.kind) {
	case ROLLOUT_EV_SNAPSHOT:
		if (extra) {
			struct rollout_snapshot_entry *dst = (struct rollout_snapshot_entry *)(void *)cur;

			memcpy(dst, e.u.snapshot.entries, extra);
			/* Labels must be terminated whatever the sender did. */
			for (size_t i = 0; i < e.u.snapshot.count; i++) {
				dst[i].display[sizeof(dst[i].display) - 1] = '\0';
				dst[i].tag_type[sizeof(dst[i].tag_type) - 1] = '\0';
				dst[i].tag_name[sizeof(dst[i].tag_name) - 1] = '\0';
			}
			it->ev.u.snapshot.entries = dst;
		} else {
			it->ev.u.snapshot.entries = NULL;
		}
		break;
	case ROLLOUT_EV_HEALTH:
		it->ev.u.health.detail = put_string(&cur, e.u.health.detail);
		break;
	case ROLLOUT_EV_ERROR:
		it->ev.u.error.kind = put_string(&cur, e.u.error.kind);
		it->ev.u.error.message = put_string(&cur, e.u.error.message);
		break;
	case ROLLOUT_EV_LOG:
		it->ev.u.log.line = put_string(&cur, e.u.log.line);
		break;
	default:
		break;
	}
	*err = 0;
	return it;
}

void
bus_item_free(struct bus_item *it)
{
	free(it);
}

/* ---- the queue ------------------------------------------------------------- */

int
bus_create(struct bus **out, size_t capacity, int64_t balance_wait_ms,
    void (*wake)(void *ctx), void *ctx)
{
	struct bus *b;

	*out = NULL;
	if (capacity == 0 || balance_wait_ms < 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->ring = calloc(capacity, sizeof(*b->ring));
	if (b->ring == NULL) {
		free(b);
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->room, &ca);
	pthread_condattr_destroy(&ca);
	b->cap = capacity;
	b->balance_wait_ms = balance_wait_ms;
	b->wake = wake;
	b->wake_ctx = ctx;
	b->st.capacity = capacity;
	*out = b;
	return 0;
}

void
bus_free(struct bus *b)
{
	if (b == NULL)
		return;
	while (b->len) {
		bus_item_free(b->ring[b->head]);
		b->head = (b->head + 1) % b->cap;
		b->len--;
	}
	pthread_cond_destroy(&b->room);
	pthread_mutex_destroy(&b->lock);
	free(b->ring);
	free(b);
}

/* Queue IT (owned by the bus from here on, freed on refusal). */
static int
bus_enqueue(struct bus *b, struct bus_item *it, int is_balance)
{
	int was_empty, rc = 0;

	pthread_mutex_lock(&b->lock);
	if (!b->closed && b->len == b->cap && is_balance) {
		struct timespec deadline;

		b->st.waited++;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += b->balance_wait_ms / 1000;
		deadline.tv_nsec += (b->balance_wait_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!b->closed && b->len == b->cap) {
			if (pthread_cond_timedwait(&b->room, &b->lock, &deadline) == ETIMEDOUT)
				break;
		}
	}
	if (b->closed) {
		rc = -ESHUTDOWN;
	} else if (b->len == b->cap) {
		rc = -EAGAIN;
		if (is_balance)
			b->st.dropped_balance++;
		else
			b->st.dropped++;
	}
	if (rc != 0) {
		pthread_mutex_unlock(&b->lock);
		bus_item_free(it);
		return rc;
	}
	was_empty = b->len == 0;
	b->ring[(b->head + b->len) % b->cap] = it;
	b->len++;
	b->st.pushed++;
	if (b->len > b->st.high_water)
		b->st.high_water = b->len;
	pthread_mutex_unlock(&b->lock);
	if (was_empty && b->wake)
		b->wake(b->wake_ctx);
	return 0;
}

int
bus_push_event(struct bus *b, int source, int64_t t_ms, const struct rollout_event *ev)
{
	struct bus_item *it;
	int err;

	it = bus_item_copy(ev, &err);
	if (it == NULL) {
		if (err == -ENOMEM) {
			pthread_mutex_lock(&b->lock);
			b->st.dropped++;
			pthread_mutex_unlock(&b->lock);
		}
		return err;
	}
	it->source = source;
	it->t_ms = t_ms;
	return bus_enqueue(b, it, it->ev.kind == ROLLOUT_EV_BALANCE);
}

int
bus_push_metric(struct bus *b, int source, int64_t t_ms, const char *name, double value)
{
	struct bus_item *it;
	size_t n = bounded_len(name);

	if (n == 0)
		return -EINVAL;
	it = malloc(sizeof(*it) + n + 1);
	if (it == NULL) {
		pthread_mutex_lock(&b->lock);
		b->st.dropped++;
		pthread_mutex_unlock(&b->lock);
		return -ENOMEM;
	}
	memset(it, 0, sizeof(*it));
	it->kind = BUS_ITEM_METRIC;
	it->source = source;
	it->t_ms = t_ms;
	it->value = value;
	it->name = (char *)(it + 1);
	memcpy(it->name, name, n);
	it->name[n] = '\0';
	return bus_enqueue(b, it, 0);
}

size_t
bus_pop(struct bus *b, struct bus_item **items, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&b->lock);
	while (n < max && b->len) {
		items[n++] = b->ring[b->head];
		b->ring[b->head] = NULL;
		b->head = (b->head + 1) % b->cap;
		b->len--;
	}
	b->st.popped += n;
	if (n)
		pthread_cond_broadcast(&b->room);
	pthread_mutex_unlock(&b->lock);
	return n;
}

void
bus_close(struct bus *b)
{
	pthread_mutex_lock(&b->lock);
	b->closed = 1;
	pthread_cond_broadcast(&b->room);
	pthread_mutex_unlock(&b->lock);
}

void
bus_get_stats(struct bus *b, struct bus_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	out->depth = b->len;
	pthread_mutex_unlock(&b->lock);
}

/*
 * test_bus.c — the event bus: no loss under 4 producers, bounded memory,
 * explicit overflow policy, deep copies.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bus.h"

#define PRODUCERS 4
#define PER_PRODUCER 50000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
balance_event(struct rollout_event *ev, uint8_t who, uint64_t seq)
{
	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->kind = ROLLOUT_EV_BALANCE;
	memset(ev->u.balance.pubkey, who, 32);
	ev->u.balance.block_from = ev->u.balance.block_to = seq;
	ev->u.balance.has_before = 1;
	ev->u.balance.after.free = (rollout_u128)seq << 70;
}

struct producer {
	struct bus *bus;
	uint8_t id;
	int failures;
};

static void *
produce(void *arg)
{
	struct producer *pr = arg;
	struct rollout_event ev;

	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		balance_event(&ev, pr->id, i);
		if (bus_push_event(pr->bus, pr->id, 0, &ev) != 0)
			pr->failures++;
		if (i % 1000 == 0) /* some non-balance traffic too; may be dropped, never blocks */
			(void)bus_push_metric(pr->bus, pr->id, 0, "candidate.requests", 1);
	}
	return NULL;
}

static void
bus__four_producers_full_speed__no_balance_lost_in_order(void **state)
{
	struct bus *b;
	struct producer pr[PRODUCERS];
	pthread_t th[PRODUCERS];
	uint64_t next[PRODUCERS] = { 0 }, got = 0, metrics = 0;
	struct bus_item *items[512];
	struct bus_stats st;
	int64_t deadline = mono_ms() + 20000;

	(void)state;
	assert_int_equal(bus_create(&b, 1024, 10000, NULL, NULL), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		pr[i] = (struct producer){ b, (uint8_t)i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
	}
	while (got < (uint64_t)PRODUCERS * PER_PRODUCER && mono_ms() < deadline) {
		size_t n = bus_pop(b, items, 512);

		for (size_t i = 0; i < n; i++) {
			if (items[i]->kind == BUS_ITEM_METRIC) {
				metrics++;
			} else {
				const struct rollout_balance_change *bc = &items[i]->ev.u.balance;
				int who = items[i]->source;

				assert_int_equal(bc->pubkey[31], who);
				assert_int_equal(bc->block_to, next[who]);
				assert_true(bc->after.free == (rollout_u128)next[who] << 70);
				next[who]++;
				got++;
			}
			bus_item_free(items[i]);
		}
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pr[i].failures, 0);
		assert_int_equal(next[i], PER_PRODUCER);
	}
	bus_get_stats(b, &st);
	assert_int_equal(got, (uint64_t)PRODUCERS * PER_PRODUCER);
	assert_true(st.high_water <= 1024);               /* bounded memory */
	assert_int_equal(st.dropped_balance, 0);
	assert_int_equal(metrics + st.dropped + st.depth, PRODUCERS * (PER_PRODUCER / 1000));
	bus_free(b);
}

static void
bus__full__non_balance_refused_and_counted(void **state)
{
	struct bus *b;
	struct rollout_event ev;
	struct bus_stats st;

	(void)state;
	assert_int_equal(bus_create(&b, 4, 10000, NULL, NULL), 0);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.healthy = 1;
	ev.u.health.detail = "ok";
	for (int i = 0; i < 4; i++)
		assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	int64_t t0 = mono_ms();
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EAGAIN);
	assert_int_equal(bus_push_metric(b, 0, 0, "x.y", 1), -EAGAIN);
	assert_true(mono_ms() - t0 < 5000); /* never waits (a balance change would wait 10 s) */
	bus_get_stats(b, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.depth, 4);
	bus_free(b); /* frees the queued items */
}

static void
bus__full_balance__waits_bounded_then_refuses_counted(void **state)
{
	struct bus *b;
	struct rollout_event ev;
	struct bus_stats st;
	int64_t t0;

	(void)state;
	assert_int_equal(bus_create(&b, 1, 100, NULL, NULL), 0);
	balance_event(&ev, 1, 1);
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	t0 = mono_ms();
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EAGAIN);
	assert_true(mono_ms() - t0 >= 90);
	bus_get_stats(b, &st);
	assert_int_equal(st.waited, 1);
	assert_int_equal(st.dropped_balance, 1);
	assert_int_equal(st.dropped, 0);
	bus_free(b);
}

static void *
pop_later(void *arg)
{
	struct bus *b = arg;
	struct bus_item *it;
	struct timespec ts = { 0, 100 * 1000000L };

	nanosleep(&ts, NULL);
	if (bus_pop(b, &it, 1) == 1)
		bus_item_free(it);
	return NULL;
}

static void
bus__full_balance__waits_for_room(void **state)
{
	struct bus *b;
	struct rollout_event ev;
	pthread_t th;
	struct bus_stats st;

	(void)state;
	assert_int_equal(bus_create(&b, 1, 10000, NULL, NULL), 0);
	balance_event(&ev, 1, 1);
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	pthread_create(&th, NULL, pop_later, b);
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	pthread_join(th, NULL);
	bus_get_stats(b, &st);
	assert_int_equal(st.waited, 1);
	assert_int_equal(st.dropped_balance, 0);
	assert_int_equal(st.depth, 1);
	bus_free(b);
}

static void
bus__snapshot_and_strings__copied_deeply(void **state)
{
	struct bus *b;
	struct rollout_event ev;
	struct rollout_snapshot_entry ent[3];
	struct bus_item *it[4];
	char detail[32] = "connected", kind[16] = "timeout", msg[32] = "no answer", line[32] = "PANIC now";

	(void)state;
	assert_int_equal(bus_create(&b, 16, 0, NULL, NULL), 0);
	memset(ent, 0, sizeof(ent));
	for (int i = 0; i < 3; i++) {
		memset(ent[i].pubkey, i + 1, 32);
		ent[i].total = (rollout_u128)(i + 1) * 1000;
		memset(ent[i].display, 'x', sizeof(ent[i].display)); /* unterminated on purpose */
	}
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	ev.u.snapshot.taken_ms = 42;
	ev.u.snapshot.count = 3;
	ev.u.snapshot.entries = ent;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.healthy = 1;
	ev.u.health.detail = detail;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	ev.kind = ROLLOUT_EV_ERROR;
	ev.u.error.kind = kind;
	ev.u.error.message = msg;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	memset(&ev.u, 0, sizeof(ev.u));
	ev.kind = ROLLOUT_EV_LOG;
	ev.u.log.line = line;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	/* the sender reuses its buffers */
	memset(ent, 0, sizeof(ent));
	strcpy(detail, "gone");
	strcpy(kind, "zzz");
	strcpy(msg, "zzz");
	strcpy(line, "zzz");
	assert_int_equal(bus_pop(b, it, 4), 4);
	assert_int_equal(it[0]->ev.u.snapshot.count, 3);
	assert_true(it[0]->ev.u.snapshot.entries[2].total == 3000);
	assert_int_equal(it[0]->ev.u.snapshot.entries[1].pubkey[0], 2);
	assert_int_equal(strlen(it[0]->ev.u.snapshot.entries[0].display), 63);
	assert_string_equal(it[1]->ev.u.health.detail, "connected");
	assert_string_equal(it[2]->ev.u.error.kind, "timeout");
	assert_string_equal(it[2]->ev.u.error.message, "no answer");
	assert_string_equal(it[3]->ev.u.log.line, "PANIC now");
	for (int i = 0; i < 4; i++)
		bus_item_free(it[i]);
	bus_free(b);
}

static void
bus__malformed_events__rejected(void **state)
{
	struct bus *b;
	struct rollout_event ev;

	(void)state;
	assert_int_equal(bus_create(&b, 16, 0, NULL, NULL), 0);
	memset(&ev, 0, sizeof(ev));
	ev.size = 4;
	ev.kind = ROLLOUT_EV_HEALTH;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EINVAL);
	ev.size = sizeof(ev);
	ev.kind = 99;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EINVAL);
	ev.kind = ROLLOUT_EV_SNAPSHOT;
	ev.u.snapshot.count = 2;
	ev.u.snapshot.entries = NULL;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EINVAL);
	ev.u.snapshot.count = BUS_MAX_SNAPSHOT + 1;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -EINVAL);
	assert_int_equal(bus_push_event(b, 0, 0, NULL), -EINVAL);
	assert_int_equal(bus_push_metric(b, 0, 0, "", 1), -EINVAL);
	bus_close(b);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.detail = "x";
	assert_int_equal(bus_push_event(b, 0, 0, &ev), -ESHUTDOWN);
	bus_free(b);
}

static void
bus__older_sender_smaller_struct__tail_zeroed(void **state)
{
	struct bus *b;
	struct rollout_event ev;
	struct bus_item *it;
	size_t cut = offsetof(struct rollout_event, u) + offsetof(struct rollout_balance_change, has_before);

	(void)state;
	assert_int_equal(bus_create(&b, 4, 0, NULL, NULL), 0);
	balance_event(&ev, 9, 77);
	ev.u.balance.after.free = 5;
	ev.size = (uint32_t)cut;
	assert_int_equal(bus_push_event(b, 0, 0, &ev), 0);
	assert_int_equal(bus_pop(b, &it, 1), 1);
	assert_int_equal(it->ev.size, sizeof(struct rollout_event));
	assert_int_equal(it->ev.u.balance.block_to, 77);
	assert_int_equal(it->ev.u.balance.has_before, 0);  /* beyond the sender's size */
	assert_true(it->ev.u.balance.after.free == 0);
	bus_item_free(it);
	bus_free(b);
}

static int wakes;
static void
count_wake(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&wakes, 1, __ATOMIC_SEQ_CST);
}

static void
bus__wake__called_when_queue_becomes_non_empty(void **state)
{
	struct bus *b;
	struct bus_item *it[8];

	(void)state;
	wakes = 0;
	assert_int_equal(bus_create(&b, 8, 0, count_wake, NULL), 0);
	assert_int_equal(bus_push_metric(b, 0, 0, "a.b", 1), 0);
	assert_int_equal(bus_push_metric(b, 0, 0, "a.b", 2), 0);
	assert_int_equal(wakes, 1);
	assert_int_equal(bus_pop(b, it, 8), 2);
	assert_string_equal(it[0]->name, "a.b");
	assert_true(it[1]->value == 2.0);
	bus_item_free(it[0]);
	bus_item_free(it[1]);
	assert_int_equal(bus_push_metric(b, 0, 0, "a.b", 3), 0);
	assert_int_equal(wakes, 2);
	bus_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bus__four_producers_full_speed__no_balance_lost_in_order),
		cmocka_unit_test(bus__full__non_balance_refused_and_counted),
		cmocka_unit_test(bus__full_balance__waits_bounded_then_refuses_counted),
		cmocka_unit_test(bus__full_balance__waits_for_room),
		cmocka_unit_test(bus__snapshot_and_strings__copied_deeply),
		cmocka_unit_test(bus__malformed_events__rejected),
		cmocka_unit_test(bus__older_sender_smaller_struct__tail_zeroed),
		cmocka_unit_test(bus__wake__called_when_queue_becomes_non_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * clock.c — real and virtual clocks (clock.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

struct clock {
	int is_virtual;
	_Atomic int64_t now_ms;         /* virtual only */
};

static int64_t
clock_read(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A real clock: CLOCK_REALTIME for now, CLOCK_MONOTONIC for durations.  NULL on ENOMEM. */
struct clock *
clock_real(void)
{
	struct clock *c = calloc(1, sizeof(*c));

	return c;
}

/* A virtual clock starting at START_MS.  NULL on ENOMEM. */
struct clock *
clock_virtual(int64_t start_ms)
{
	struct clock *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->is_virtual = 1;
	atomic_store(&c->now_ms, start_ms);
	return c;
}

void
clock_free(struct clock *c)
{
	free(c);
}

int64_t
clock_now_ms(struct clock *c)
{
	if (c->is_virtual)
		return atomic_load(&c->now_ms);
	return clock_read(CLOCK_REALTIME);
}

int64_t
clock_mono_ms(struct clock *c)
{
	if (c->is_virtual)
		return atomic_load(&c->now_ms);
	return clock_read(CLOCK_MONOTONIC);
}

/* Virtual only; time never goes backwards.  0 or -EINVAL. */
int
clock_set(struct clock *c, int64_t t_ms)
{
	int64_t cur;

	if (!c->is_virtual)
		return -EINVAL;
	cur = atomic_load(&c->now_ms);
	if (t_ms < cur)
		return -EINVAL;
	atomic_store(&c->now_ms, t_ms);
	return 0;
}

int
clock_is_virtual(const struct clock *c)
{
	return c->is_virtual;
}

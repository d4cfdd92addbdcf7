/* breaker.c — a count-based circuit breaker (closed / open / half-open). */
#include "watcher.h"

#include <string.h>

static void
breaker_reset(struct breaker *b)
{
	b->n = 0;
	b->next = 0;
	memset(b->outcomes, 0, sizeof(b->outcomes));
}

int
breaker_allow(struct breaker *b, const struct breaker_conf *c, int64_t now_ms)
{
	(void)c;
	switch (b->state) {
	case BREAKER_CLOSED:
	case BREAKER_HALF_OPEN:
		return 1;
	case BREAKER_OPEN:
		if (now_ms >= b->open_until_ms) {
			b->state = BREAKER_HALF_OPEN;
			return 1;
		}
		return 0;
	}
	return 0;
}

int
breaker_record(struct breaker *b, const struct breaker_conf *c, int failed, int64_t now_ms)
{
	enum breaker_state before = b->state;
	unsigned window = c->window == 0 ? 10 : c->window > 64 ? 64 : c->window;
	unsigned i, fails = 0;

	if (b->state == BREAKER_HALF_OPEN) {
		breaker_reset(b);
		if (failed) {
			b->state = BREAKER_OPEN;
			b->open_until_ms = now_ms + c->wait_ms;
		} else {
			b->state = BREAKER_CLOSED;
		}
		return b->state != before;
	}
	b->outcomes[b->next] = failed ? 1 : 0;
	b->next = (b->next + 1) % window;
	if (b->n < window)
		b->n++;
	for (i = 0; i < b->n; i++)
		fails += b->outcomes[i];
	if (b->state == BREAKER_CLOSED && b->n >= c->min_calls &&
	    fails * 100 >= c->failure_rate * b->n) {
		b->state = BREAKER_OPEN;
		b->open_until_ms = now_ms + c->wait_ms;
		breaker_reset(b);
	}
	return b->state != before;
}

const char *
breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_HALF_OPEN:
		return "half-open";
	case BREAKER_OPEN:
		return "open";
	}
	return "?";
}

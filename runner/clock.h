/*
 * clock.h — the one source of time.  Real time in production; a virtual
 * clock for tests and --simulate, so a six-week plan runs in a second.
 * Deadlines are absolute wall-clock milliseconds (stored in the state file),
 * so a restart neither shortens nor restarts a hold.
 */
#ifndef ROLLOUT_CLOCK_H
#define ROLLOUT_CLOCK_H

#include <stdint.h>

struct clock;

/* A real clock (CLOCK_REALTIME for now_ms, CLOCK_MONOTONIC for mono_ms). */
struct clock *clock_real(void);
/* A virtual clock starting at START_MS; only clock_advance() moves it. */
struct clock *clock_virtual(int64_t start_ms);
void clock_free(struct clock *c);

/* Wall time, ms since the epoch (virtual: the simulated time).  Thread-safe. */
int64_t clock_now_ms(struct clock *c);
/* Monotonic ms for measuring durations (virtual: same as now). Thread-safe. */
int64_t clock_mono_ms(struct clock *c);
/* Virtual only: move time forward to T (never backwards).  0 or -EINVAL. */
int clock_set(struct clock *c, int64_t t_ms);
int clock_is_virtual(const struct clock *c);

#endif

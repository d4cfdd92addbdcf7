/*
 * state.h — the engine's persistent state: DATA/state/state.json
 * (rolloutd(8), STATE FILE).  Written whole with fs_write_atomic() on every
 * transition and every counter change, so a reader (or a restart after
 * kill -9) sees the previous state or the next one, never a mix.
 *
 * "pending" is a copy of the last journal record written for the
 * transition that produced this state: the state is written first, the
 * journal line second, and a restart appends "pending" when the journal's
 * last seq is behind the state's seq.  So no record is lost or duplicated.
 */
#ifndef ROLLOUT_STATE_H
#define ROLLOUT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine.h"

struct state_gate {
	int fails;                 /* failed evaluations at this check point */
	int inconclusive;          /* inconclusive evaluations in a row */
};

struct state_trigger {
	int consecutive;           /* EXPR: checks in a row the condition held */
	int nmatches;              /* MATCH: times of the last matches, oldest first */
	int64_t *matches;          /* capacity: the trigger's count */
};

struct rollout_state {
	char plan_name[128];
	char plan_sha256[65];      /* hex */
	uint64_t seq;              /* seq of the last journal record */
	enum engine_state state;
	enum engine_pause_reason pause_reason;
	enum engine_state paused_from;
	int phase;                 /* index into plan->phases */
	int step;                  /* index into the phase's steps; nsteps = the phase's end */
	int64_t started_at_ms;     /* first start (0: not started) */
	int64_t entered_at_ms;     /* when the current state was entered */
	int64_t hold_until_ms;     /* HOLDING: absolute deadline */
	int64_t paused_at_ms;      /* PAUSED: since when */
	int64_t gate_next_ms;      /* GATING: next evaluation */
	int64_t next_check_ms;     /* next trigger check */
	int64_t now_ms;            /* clock when written */
	int traffic;               /* candidate traffic percent the engine has set */
	int64_t last_drill_ms;     /* -1: never drilled */
	uint64_t rollbacks;
	uint64_t drills;           /* drills performed (samples of safety.last_drill_ms) */
	int64_t host_cursor;       /* opaque to the engine (the simulator's event index) */
	size_t ngates;
	struct state_gate *gates;
	size_t ntriggers;
	struct state_trigger *triggers;
	json_t *pending;           /* owned reference, may be NULL */
	/*
	 * Records before "pending" that are not in the journal yet (the journal
	 * could not be written), oldest first: owned array, may be NULL.  A
	 * restart appends them, then "pending", where the journal is behind.
	 */
	json_t *unjournaled;
};

/* Serialize ST to JSON (new reference) and back.  Parse errors name the field. */
json_t *state_to_json(const struct rollout_state *st);
int state_from_json(json_t *j, struct rollout_state *st, char *err, size_t errlen);

/* Write ST to PATH atomically.  0 or -errno. */
int state_save(const char *path, const struct rollout_state *st);
/* Load PATH into ST (zeroed first).  0, -ENOENT, or -EBADMSG/-errno with ERR ("PATH: field ..."). */
int state_load(const char *path, struct rollout_state *st, char *err, size_t errlen);
/* Free what ST owns (arrays, pending) and zero it. */
void state_clear(struct rollout_state *st);

const char *state_pause_reason_name(enum engine_pause_reason r);

#endif

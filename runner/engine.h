/*
 * engine.h — the rollout state machine (the interpreter of a plan).
 *
 * One engine executes one plan.  It is owned by the runner thread: no
 * function here is thread-safe.  Time comes only from the clock given at
 * open, so the same code runs in real time and under --simulate.
 *
 * States (rolloutd(8), STATES):
 *   pending -> running -> holding -> gating -> running ... -> completed
 *   any -> paused (manual approval | inconclusive gate | operator | flags file broken |
 *                  storage: state.json, the journal or the flags file cannot be written)
 *   any -> rolling_back -> rolled_back
 *   any -> aborted  (abort: stop where we are, traffic 0)
 */
#ifndef ROLLOUT_ENGINE_H
#define ROLLOUT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "plan.h"

struct engine;
struct clock;
struct metrics;
struct journal;
struct flags;

enum engine_state {
	ENG_PENDING = 0,
	ENG_RUNNING,
	ENG_HOLDING,
	ENG_GATING,
	ENG_PAUSED,
	ENG_ROLLING_BACK,
	ENG_ROLLED_BACK,
	ENG_ABORTED,
	ENG_COMPLETED,
};

enum engine_pause_reason {
	PAUSE_NONE = 0,
	PAUSE_MANUAL_APPROVAL,
	PAUSE_INCONCLUSIVE,
	PAUSE_OPERATOR,
	PAUSE_FLAGS_BROKEN,
	PAUSE_GATE_FAILED,        /* on_fail: pause */
	PAUSE_CALL_FAILED,        /* a call: step's plugin command failed */
	PAUSE_STORAGE,            /* state.json, the journal or the flags file cannot be written;
	                             resumes by itself when writes succeed again */
};

enum engine_action {
	ACT_PAUSE = 1,
	ACT_RESUME,
	ACT_PROMOTE,              /* pass the current manual gate / inconclusive pause */
	ACT_PROMOTE_FULL,         /* skip the rest: traffic 100, completed */
	ACT_ABORT,                /* stop where we are, traffic 0 */
	ACT_RETRY,                /* re-enter the aborted (or rolled back) step */
	ACT_ROLLBACK,             /* emergency: traffic 0 at once, no gates, no network */
	ACT_SKIP_TO_PHASE,        /* arg: phase name */
};

/* Who asked: journaled with every action. */
struct engine_actor {
	const char *who;          /* "cli", "api", "auto", "signal", "dashboard" */
	const char *addr;         /* caller address for the API, else NULL */
	const char *reason;       /* free text, may be NULL */
};

/*
 * Callbacks from the engine to its host (the daemon or the simulator).
 * All optional.
 */
struct engine_hooks {
	void *ctx;
	/* A rollout notification (phase change, rollback, gate failure): an alert to send. */
	void (*notify)(void *ctx, int severity, const char *type, const char *title,
	    const char *message);
	/* Any state change (the dashboard pushes on it). */
	void (*changed)(void *ctx);
	/* A call: step. 0 or -errno; REPLY receives the plugin's answer. */
	int (*call)(void *ctx, const char *system, const char *command, const char *arg,
	    char *reply, size_t replylen);
	/* A transition line, already formatted (the simulator prints the timeline). */
	void (*transition)(void *ctx, int64_t at_ms, const char *line);
};

struct engine_opts {
	const struct plan *plan;
	const char *state_dir;    /* DATA/state: state.json and journal.jsonl live here */
	struct clock *clock;
	struct metrics *metrics;
	struct flags *flags;
	struct journal *journal;
	struct engine_hooks hooks;
	int accept_plan_change;   /* --accept-plan-change */
	const char *start_phase;  /* --phase NAME, or NULL */
	/*
	 * Journal records kept in memory while they cannot be written (0: 256).
	 * Past the bound only rollbacks and the storage pause are still accepted
	 * (rolloutd(8), STORAGE FAILURES).
	 */
	size_t queue_max;
};

/* Create the engine and resume from STATE_DIR when a state file exists.  0 or -errno (ERR says why). */
int engine_open(struct engine **out, const struct engine_opts *o, char *err, size_t errlen);
void engine_close(struct engine *e);

/*
 * Advance as far as the clock allows: holds, gates, triggers.  Returns the
 * absolute time (ms, clock's wall time) at which it next needs to run.
 */
int64_t engine_tick(struct engine *e);

/* Perform an operator action.  0, or -errno with ERR explaining (e.g. "nothing to promote"). */
int engine_act(struct engine *e, enum engine_action a, const char *arg,
    const struct engine_actor *who, char *err, size_t errlen);

enum engine_state engine_state(const struct engine *e);
const char *engine_state_name(enum engine_state s);
/* Current candidate traffic percent (0..100) as the router must apply it. */
int engine_traffic(const struct engine *e);

/*
 * Status as JSON (new reference, caller decrefs): plan, phase, step,
 * state, pause reason, deadlines, traffic, gates with last values and
 * verdicts, triggers.  The shape is documented in rolloutd(8), API.
 */
json_t *engine_status(const struct engine *e);

/* Name of a pause reason: "none", "manual_approval", "inconclusive", "operator", ... */
const char *engine_pause_reason_name(enum engine_pause_reason r);
/* Action names as used by rolloutctl and the API ("pause", "promote_full", "skip_to_phase"...). */
const char *engine_action_name(enum engine_action a);
/* The action named NAME (also "promote-full", "phase"), or 0. */
enum engine_action engine_action_parse(const char *name);

/*
 * A log line from INSTANCE ("candidate", "baseline", "alerting", "runner")
 * for the PCRE2 match: triggers (the pipeline's log hook calls this on the
 * runner thread).  A trigger that reaches its count fires at once.
 */
void engine_log_line(struct engine *e, const char *instance, const char *line);

/*
 * An opaque counter the host keeps in the state file with the engine's
 * state (the simulator stores how many scenario events it has consumed, so
 * a resumed simulation neither repeats nor skips one).  Written with the
 * next persisted change.
 */
int64_t engine_host_cursor(const struct engine *e);
void engine_set_host_cursor(struct engine *e, int64_t cursor);

/*
 * Storage health: 0 when everything the engine wrote reached the disk, else
 * the -errno of the last failed write (state.json, journal or flags file);
 * *QUEUED (may be NULL) receives how many journal records wait in memory.
 */
int engine_storage(const struct engine *e, size_t *queued);

/* Index of the current phase and step (nsteps: the phase's end hold/gates). */
void engine_position(const struct engine *e, int *phase, int *step);

#endif

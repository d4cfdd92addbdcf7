/*
 * plan.h — a rollout plan, loaded and fully checked (rolloutd.plan(5)).
 *
 * plan_load() reads a YAML file (and its include:s), validates everything
 * (keys, kinds, durations, percentages, monotone traffic, expressions,
 * PCRE2 patterns, names) and returns an immutable tree.  The engine
 * executes it; nothing is validated later.
 */
#ifndef ROLLOUT_PLAN_H
#define ROLLOUT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "ynode.h"

struct pcre2_real_code_8;

/* Where something was written: for errors and the journal. */
struct plan_pos {
	const char *file;                 /* owned by the plan */
	int line, col;
};

enum plan_on_fail { ON_FAIL_ROLLBACK = 0, ON_FAIL_PAUSE = 1, ON_FAIL_ABORT = 2 };

/* A flag assignment in a phase's set: block.  Value is checked against the flag's type. */
enum plan_value_type { PLAN_VAL_BOOL = 1, PLAN_VAL_INT = 2, PLAN_VAL_STRING = 3 };
struct plan_set {
	char *flag;
	enum plan_value_type type;
	int b;
	long long i;
	char *s;
	struct plan_pos pos;
};

/* A flag the plan declares (beyond the five built-in ones). */
struct plan_flag_decl {
	char *name;
	enum plan_value_type type;
	long long min, max;               /* INT only */
	int def_b;
	long long def_i;
	char *def_s;
	struct plan_pos pos;
};

struct plan_gate {
	char *text;                       /* the expression as written */
	struct expr *expr;
	size_t min_samples;               /* default 1 */
	int failure_limit;                /* failed evaluations tolerated before failing (default 0) */
	int consecutive_errors;           /* inconclusive evaluations in a row before pausing (default 4) */
	struct plan_pos pos;
};

enum plan_step_kind {
	STEP_TRAFFIC = 1,                 /* traffic: PCT [hold: D] */
	STEP_HOLD = 2,                    /* hold: D */
	STEP_APPROVE = 3,                 /* approve: manual */
	STEP_DRILL = 4,                   /* drill: rollback */
	STEP_CALL = 5,                    /* call: { system: candidate, command: chaos.disconnect, arg: "..." } */
	STEP_SET = 6,                     /* set: { flag: value, ... } */
};

struct plan_step {
	enum plan_step_kind kind;
	int traffic;                      /* STEP_TRAFFIC: 0..100 */
	int64_t hold_ms;                  /* TRAFFIC/HOLD: 0 when none */
	char *drill;                      /* STEP_DRILL: "rollback" */
	char *call_system;                /* STEP_CALL: role (baseline|candidate|alerting) */
	char *call_command;
	char *call_arg;                   /* may be NULL */
	struct plan_set *sets;            /* STEP_SET */
	size_t nsets;
	struct plan_pos pos;
};

struct plan_phase {
	char *name;
	struct plan_set *sets;            /* applied on entry */
	size_t nsets;
	struct plan_step *steps;
	size_t nsteps;
	int64_t hold_ms;                  /* phase hold after the steps (0: none) */
	struct plan_gate *gates;          /* checked at the end of each hold and of the phase */
	size_t ngates;
	enum plan_on_fail on_fail;        /* what a failed gate does (default rollback) */
	struct plan_pos pos;
};

enum plan_trigger_kind { TRIGGER_EXPR = 1, TRIGGER_MATCH = 2 };

struct plan_trigger {
	char *name;
	enum plan_trigger_kind kind;
	char *when_text;                  /* EXPR */
	struct expr *when;                /* fires when it evaluates to PASS `for` checks in a row */
	int for_checks;                   /* default 1 */
	char *match;                      /* MATCH: PCRE2 pattern over log lines */
	struct pcre2_real_code_8 *re;
	char *source;                     /* MATCH: whose log lines: "candidate" (default), "baseline", "any" */
	int count;                        /* MATCH: fires at COUNT matches within WINDOW */
	int64_t window_ms;
	char *from_phase;                 /* armed from this phase on (default: the first phase) */
	enum plan_on_fail on_fail;        /* default rollback */
	struct plan_pos pos;
};

struct plan_system {
	char *role;                       /* "baseline", "candidate" or "alerting" */
	char *plugin;                     /* plugin name (file base name) */
	const struct ynode *with;         /* passed through untouched; may be NULL */
	struct plan_pos pos;
};

struct plan {
	int version;                      /* 1 */
	char *name;
	char *chain;                      /* preset name */
	char *salt;                       /* traffic bucketing salt (default: name) */
	int64_t tick_ms;                  /* gate/trigger evaluation period (default 10s) */
	struct plan_system baseline;
	struct plan_system candidate;
	struct plan_system alerting;      /* plugin NULL when the plan has no alerting: block */
	const struct ynode *rules;        /* rules: block, may be NULL (defaults) */
	struct plan_flag_decl *flags;
	size_t nflags;
	struct plan_trigger *triggers;
	size_t ntriggers;
	struct plan_phase *phases;
	size_t nphases;
	char *file;                       /* the top file as given */
	uint8_t sha256[32];               /* hash of the top file and all includes, in load order */
	/* private: owned YAML documents and interned strings */
	void *priv;
};

/*
 * Load and check FILE.  On success returns 0 and *OUT.  On failure
 * returns -EINVAL (or -errno for I/O) and calls REPORT once per error
 * with "FILE:LINE:COLUMN: message" (or "FILE: message" when no position
 * applies); every error found is reported, not only the first.
 * REPORT may be NULL (errors go to stderr).
 */
typedef void (*plan_report_fn)(void *ctx, const char *msg);
int plan_load(const char *file, struct plan **out, plan_report_fn report, void *ctx);
/*
 * Same from a buffer of LEN bytes (the fuzzer's entry point); NAME is used in
 * marks and include: entries are resolved relative to it.
 */
int plan_load_buffer(const char *name, const char *buf, size_t len, struct plan **out,
    plan_report_fn report, void *ctx);
void plan_free(struct plan *p);

/* Index of the phase named NAME, or -1. */
int plan_phase_index(const struct plan *p, const char *name);
const char *plan_on_fail_name(enum plan_on_fail f);
const char *plan_step_kind_name(enum plan_step_kind k);

#endif

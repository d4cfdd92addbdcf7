/*
 * engine.c — the rollout state machine (engine.h, rolloutd(8) STATES).
 *
 * Everything that changes the rollout goes through eng_transition(): it
 * updates the state, writes state.json (with the journal record as
 * "pending"), appends that record to the journal, logs one line and tells
 * the host.  Side effects on the flags come after and are idempotent, so a
 * crash at any point is repaired on restart by re-applying what the
 * persisted position wants and appending the pending record if the journal
 * is behind.
 *
 * When state.json or the journal cannot be written (rolloutd(8), STORAGE
 * FAILURES) the records stay in memory, in order, in e->queue (bounded for
 * operator actions by e->queue_max), state.json keeps the ones the journal
 * lacks ("unjournaled") whenever it can be written, and every tick retries.
 * While a write is failing the engine does not move forward: it pauses
 * with reason "storage" and resumes by itself, with a journaled record,
 * once everything is written.  Rollbacks take effect in memory and on the
 * flags at once and reach the journal with the rest.
 *
 * Gates are evaluated at the end of every hold and at the end of each
 * phase, then every tick until they decide; triggers every tick while
 * armed.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "engine.h"
#include "flags.h"
#include "fsutil.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "state.h"

#define ENG_SRC "engine"
#define ENG_MAX_STEPS_PER_TICK 10000
#define ENG_QUEUE_MAX 256

/*
 * What an expression's metric operands answered at its last evaluation, in
 * the order the evaluator asked (the order is fixed by the expression), so
 * the detail string can be formatted later, only when something reads it,
 * by evaluating again over these answers: the same text as at the time.
 */
#define ENG_MAX_ANSWERS 16

struct eng_answers {
	int n;                    /* -1: more operands than recorded */
	struct { int rc; double v; size_t ns; } a[ENG_MAX_ANSWERS];
};

struct gate_view {
	int evaluated;
	enum verdict verdict;
	double value;
	size_t samples;
	const struct expr *expr;  /* what was evaluated, and with which minimum */
	size_t min_samples;
	int no_metrics;           /* evaluated without a metrics view */
	int formatted;            /* DETAIL is up to date */
	struct eng_answers ans;
	char detail[256];         /* read through eng_detail() */
};

struct engine {
	const struct plan *plan;
	char *state_dir;
	char *state_path;
	struct clock *clk;
	struct metrics *metrics;
	struct flags *flags;
	struct journal *journal;
	int own_journal;
	struct engine_hooks hooks;
	char *start_phase;
	struct rollout_state st;
	struct gate_view *gview;          /* per gate of the current phase (memory only) */
	size_t ngview;
	struct gate_view *tview;          /* per trigger */
	pcre2_match_data *md;
	int lock_fd;                      /* flock on STATE_DIR/lock: one engine per state */
	/* storage failures (rolloutd(8), STORAGE FAILURES) */
	json_t *queue;                    /* records not in the journal yet, oldest first */
	size_t queue_max;                 /* bound for operator actions */
	int state_dirty;                  /* state.json is behind memory */
	int flags_dirty;                  /* the flags could not be written: re-applied every tick */
	int io_rc;                        /* -errno of the failing write, 0 when all is written */
	char io_err[640];                 /* which file and why */
};

/* What a transition changes and why. */
struct eng_change {
	enum engine_state to;
	int phase, step;                  /* target position */
	enum engine_pause_reason reason;  /* when TO is PAUSED */
	const char *kind;                 /* "transition", "action", "trigger", "plan_change" */
	const struct engine_actor *who;   /* NULL: auto */
	const char *action;               /* operator action name, or NULL */
	json_t *inputs;                   /* stolen, may be NULL */
	char why[768];
};

static const struct engine_actor eng_auto = { "auto", NULL, NULL };

/* ---- names ------------------------------------------------------------ */

const char *
engine_state_name(enum engine_state s)
{
	static const char *const n[] = {
		[ENG_PENDING] = "pending", [ENG_RUNNING] = "running", [ENG_HOLDING] = "holding",
		[ENG_GATING] = "gating", [ENG_PAUSED] = "paused",
		[ENG_ROLLING_BACK] = "rolling_back", [ENG_ROLLED_BACK] = "rolled_back",
		[ENG_ABORTED] = "aborted", [ENG_COMPLETED] = "completed",
	};

	return (size_t)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

const char *
engine_pause_reason_name(enum engine_pause_reason r)
{
	return state_pause_reason_name(r);
}

static const char *const action_names[] = {
	[ACT_PAUSE] = "pause", [ACT_RESUME] = "resume", [ACT_PROMOTE] = "promote",
	[ACT_PROMOTE_FULL] = "promote_full", [ACT_ABORT] = "abort", [ACT_RETRY] = "retry",
	[ACT_ROLLBACK] = "rollback", [ACT_SKIP_TO_PHASE] = "skip_to_phase",
};

const char *
engine_action_name(enum engine_action a)
{
	if ((size_t)a < sizeof(action_names) / sizeof(action_names[0]) && action_names[a])
		return action_names[a];
	return "?";
}

enum engine_action
engine_action_parse(const char *name)
{
	size_t i;

	if (strcmp(name, "promote-full") == 0)
		return ACT_PROMOTE_FULL;
	if (strcmp(name, "phase") == 0 || strcmp(name, "skip-to-phase") == 0)
		return ACT_SKIP_TO_PHASE;
	for (i = 1; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (action_names[i] && strcmp(action_names[i], name) == 0)
			return (enum engine_action)i;
	return 0;
}

static int
eng_terminal(enum engine_state s)
{
	return s == ENG_ROLLED_BACK || s == ENG_ABORTED || s == ENG_COMPLETED;
}

/* ---- descriptions ----------------------------------------------------- */

static const struct plan_phase *
eng_phase(const struct engine *e)
{
	return &e->plan->phases[e->st.phase];
}

static char *
step_summary(const struct plan_step *s, char *buf, size_t len)
{
	char d[32];

	switch (s->kind) {
	case STEP_TRAFFIC:
		snprintf(buf, len, "traffic %d%%", s->traffic);
		break;
	case STEP_HOLD:
		snprintf(buf, len, "hold %s", duration_format(s->hold_ms, d, sizeof(d)));
		break;
	case STEP_APPROVE:
		snprintf(buf, len, "approve manual");
		break;
	case STEP_DRILL:
		snprintf(buf, len, "drill %s", s->drill ? s->drill : "rollback");
		break;
	case STEP_CALL:
		snprintf(buf, len, "call %s %s", s->call_system, s->call_command);
		break;
	case STEP_SET:
		snprintf(buf, len, "set");
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

/* "step 3 (traffic 15%)" or "end" / "end (hold 7d)". */
static char *
pos_desc(const struct plan *p, int phase, int step, char *buf, size_t len)
{
	const struct plan_phase *ph = &p->phases[phase];
	char s[160], d[32];

	if ((size_t)step < ph->nsteps)
		snprintf(buf, len, "step %d (%s)", step + 1, step_summary(&ph->steps[step], s, sizeof(s)));
	else if (ph->hold_ms > 0)
		snprintf(buf, len, "end (hold %s)", duration_format(ph->hold_ms, d, sizeof(d)));
	else
		snprintf(buf, len, "end");
	return buf;
}

static json_t *
pos_json(const struct engine *e, enum engine_state s, int phase, int step)
{
	char d[200];

	return json_pack("{s:s, s:s, s:i, s:s}", "state", engine_state_name(s), "phase",
	    e->plan->phases[phase].name, "step", step + 1,
	    "desc", pos_desc(e->plan, phase, step, d, sizeof(d)));
}

/* ---- persistence -------------------------------------------------------- */

static void
sha_hex(const uint8_t *sha, char *out)
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", sha[i]);
}

/* An errno that says the disk refuses the write (as opposed to a bug or a broken file). */
static int
eng_storage_errno(int rc)
{
	switch (-rc) {
	case EROFS: case EACCES: case EPERM: case ENOSPC: case EDQUOT: case EIO: case ENOTDIR: case EISDIR:
	case ENOENT: case EFBIG: case EMFILE: case ENFILE:
		return 1;
	}
	return 0;
}

static void eng_io_fail(struct engine *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A write failed: remember it (the first failure of an episode is logged as an error). */
static void
eng_io_fail(struct engine *e, int rc, const char *fmt, ...)
{
	char msg[sizeof(e->io_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->io_rc == 0 || strcmp(msg, e->io_err) != 0)
		log_msg(LOG_LVL_ERROR, ENG_SRC, "%s (%zu journal record%s kept in memory, retried every tick)",
		    msg, json_array_size(e->queue), json_array_size(e->queue) == 1 ? "" : "s");
	snprintf(e->io_err, sizeof(e->io_err), "%s", msg);
	e->io_rc = rc < 0 ? rc : -EIO;
}

/*
 * Write what is behind: state.json (when dirty, with the records the
 * journal lacks), then the queued records in order.  0 when state and
 * journal are up to date, else -errno (e->io_rc and e->io_err set).
 * e->io_rc is cleared only when the flags are written too.
 */
static int
eng_flush(struct engine *e)
{
	size_t n = json_array_size(e->queue), i;
	int rc;

	e->st.now_ms = clock_now_ms(e->clk);
	if (e->state_path == NULL)
		e->state_dirty = 0;                     /* in memory (a simulation) */
	if (e->state_dirty) {
		json_t *earlier = NULL;

		/* the last queued record is "pending"; keep the ones before it in the state */
		if (n > 1 && (earlier = json_array()) != NULL)
			for (i = 0; i + 1 < n; i++)
				json_array_append(earlier, json_array_get(e->queue, i));
		json_decref(e->st.unjournaled);
		e->st.unjournaled = earlier;
		rc = state_save(e->state_path, &e->st);
		if (rc != 0) {
			eng_io_fail(e, rc, "%s: cannot write the state: %s", e->state_path, strerror(-rc));
			return rc;
		}
		e->state_dirty = 0;
	}
	while (json_array_size(e->queue) > 0) {
		json_t *rec = json_array_get(e->queue, 0);
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));

		if (e->journal == NULL || seq <= journal_last_seq(e->journal)) {
			json_array_remove(e->queue, 0);         /* no journal, or already there */
			continue;
		}
		rc = journal_append(e->journal, rec);
		if (rc == -EINVAL) {
			/* a gap: records before this one are missing; it cannot be placed */
			log_msg(LOG_LVL_ERROR, ENG_SRC, "%s: record %" PRIu64 " cannot follow %" PRIu64
			    " (records are missing): not appended", journal_path(e->journal), seq,
			    journal_last_seq(e->journal));
			json_array_remove(e->queue, 0);
			continue;
		}
		if (rc != 0) {
			eng_io_fail(e, rc, "%s: cannot append to the journal: %s",
			    journal_path(e->journal), strerror(-rc));
			return rc;
		}
		json_array_remove(e->queue, 0);
	}
	if (e->st.unjournaled != NULL) {
		json_decref(e->st.unjournaled);
		e->st.unjournaled = NULL;
	}
	if (!e->flags_dirty)
		e->io_rc = 0;
	return 0;
}

/* A counter changed: write the state (and whatever is still queued). */
static int
eng_persist(struct engine *e)
{
	e->state_dirty = 1;
	return eng_flush(e);
}

/* Size the gate counters (and views) for the current phase, zeroed. */
static int
eng_reset_gates(struct engine *e)
{
	size_t n = eng_phase(e)->ngates;
	struct state_gate *g = calloc(n + 1, sizeof(*g));
	struct gate_view *v = calloc(n + 1, sizeof(*v));

	if (g == NULL || v == NULL) {
		free(g);
		free(v);
		return -ENOMEM;
	}
	free(e->st.gates);
	free(e->gview);
	e->st.gates = g;
	e->st.ngates = n;
	e->gview = v;
	e->ngview = n;
	return 0;
}

static void
eng_reset_triggers(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->st.ntriggers; i++) {
		e->st.triggers[i].consecutive = 0;
		e->st.triggers[i].nmatches = 0;
	}
}

/* ---- flags ---------------------------------------------------------------- */

static const char *
set_value_text(const struct plan_set *s, char *buf, size_t len)
{
	switch (s->type) {
	case PLAN_VAL_BOOL: return s->b ? "true" : "false";
	case PLAN_VAL_INT: snprintf(buf, len, "%lld", s->i); return buf;
	default: return s->s ? s->s : "";
	}
}

#define ENG_MAX_WRITES 64

struct flag_write {
	size_t n;
	const char *names[ENG_MAX_WRITES];
	const char *values[ENG_MAX_WRITES];
	char bufs[ENG_MAX_WRITES][32];    /* text of numbers; values[] may point here */
	size_t nbufs;
};

/* Add NAME=VALUE (a later value for the same name replaces the earlier one). */
static void
fw_add(struct flag_write *w, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->names[i], name) == 0) {
			w->values[i] = value;
			return;
		}
	if (w->n < ENG_MAX_WRITES) {
		w->names[w->n] = name;
		w->values[w->n] = value;
		w->n++;
	}
}

static void
fw_remove(struct flag_write *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->names[i], name) == 0) {
			memmove(&w->names[i], &w->names[i + 1], (w->n - i - 1) * sizeof(w->names[0]));
			memmove(&w->values[i], &w->values[i + 1], (w->n - i - 1) * sizeof(w->values[0]));
			w->n--;
			return;
		}
}

static void
fw_add_sets(struct flag_write *w, const struct plan_set *sets, size_t n)
{
	size_t i;

	for (i = 0; i < n && w->n < ENG_MAX_WRITES && w->nbufs < ENG_MAX_WRITES; i++) {
		fw_add(w, sets[i].flag, set_value_text(&sets[i], w->bufs[w->nbufs], sizeof(w->bufs[0])));
		w->nbufs++;
	}
}

static void
fw_add_int(struct flag_write *w, const char *name, long long v)
{
	if (w->n >= ENG_MAX_WRITES || w->nbufs >= ENG_MAX_WRITES)
		return;
	snprintf(w->bufs[w->nbufs], sizeof(w->bufs[0]), "%lld", v);
	fw_add(w, name, w->bufs[w->nbufs++]);
}

/*
 * Write W in one flags_set_many(), leaving out what already has the wanted
 * value (so a repeated application after a crash writes nothing).
 * 0 or -errno (ERR set).
 */
static int
eng_flags_apply(struct engine *e, struct flag_write *w, const char *who, const char *reason,
    char *err, size_t errlen)
{
	const char *names[ENG_MAX_WRITES], *values[ENG_MAX_WRITES];
	size_t i, n = 0;

	if (e->flags == NULL || w->n == 0)
		return 0;
	for (i = 0; i < w->n; i++) {
		struct flag_value cur;
		char buf[160];

		if (flags_get(e->flags, w->names[i], &cur) == 0
		    && strcmp(flag_value_str(&cur, buf, sizeof(buf)), w->values[i]) == 0)
			continue;
		names[n] = w->names[i];
		values[n] = w->values[i];
		n++;
	}
	if (n == 0)
		return 0;
	return flags_set_many(e->flags, n, names, values, who, reason, err, errlen);
}

/* The traffic the plan has set before reaching (PHASE, STEP): the last traffic step before it. */
static int
plan_traffic_before(const struct plan *p, int phase, int step)
{
	int ph, s;

	for (ph = phase; ph >= 0; ph--) {
		const struct plan_phase *x = &p->phases[ph];

		for (s = (ph == phase ? step : (int)x->nsteps) - 1; s >= 0; s--)
			if (x->steps[s].kind == STEP_TRAFFIC)
				return x->steps[s].traffic;
	}
	return 0;
}

/* The flags the current position wants: phase sets, earlier set: steps, phase name, traffic. */
static void
eng_desired_flags(struct engine *e, struct flag_write *w)
{
	const struct plan_phase *ph = eng_phase(e);
	int s;

	fw_add(w, "rolloutPhase", ph->name);
	fw_add_sets(w, ph->sets, ph->nsets);
	for (s = 0; s < e->st.step && (size_t)s < ph->nsteps; s++)
		if (ph->steps[s].kind == STEP_SET)
			fw_add_sets(w, ph->steps[s].sets, ph->steps[s].nsets);
	fw_add_int(w, "hybridTrafficPercent", e->st.traffic);
}

/*
 * What the phases before PHASE left in the flags (their set: blocks and set:
 * steps, in plan order): a rollback turned some of them off
 * (enableHybridSystem), so re-entering a phase puts them back first.
 */
static void
eng_earlier_flags(struct engine *e, struct flag_write *w, int phase)
{
	for (int i = 0; i < phase && (size_t)i < e->plan->nphases; i++) {
		const struct plan_phase *x = &e->plan->phases[i];

		fw_add_sets(w, x->sets, x->nsets);
		for (size_t s = 0; s < x->nsteps; s++)
			if (x->steps[s].kind == STEP_SET)
				fw_add_sets(w, x->steps[s].sets, x->steps[s].nsets);
	}
}

/* ---- the transition ------------------------------------------------------------ */

static void
eng_format_line(const struct engine *e, enum engine_state from, int fphase, int fstep,
    const struct eng_change *c, char *line, size_t len)
{
	const struct plan *p = e->plan;
	char a[200], b[200], to[96];

	if (c->to == ENG_PAUSED)
		snprintf(to, sizeof(to), "paused (%s)", state_pause_reason_name(c->reason));
	else
		snprintf(to, sizeof(to), "%s", engine_state_name(c->to));
	if (fphase != c->phase)
		snprintf(line, len, "phase %s -> phase %s: %s", p->phases[fphase].name,
		    p->phases[c->phase].name, c->why);
	else if (fstep != c->step)
		snprintf(line, len, "phase %s: %s -> %s%s%s: %s", p->phases[c->phase].name,
		    pos_desc(p, fphase, fstep, a, sizeof(a)), pos_desc(p, c->phase, c->step, b, sizeof(b)),
		    c->to == ENG_RUNNING ? "" : ", ", c->to == ENG_RUNNING ? "" : to, c->why);
	else
		snprintf(line, len, "phase %s: %s: %s -> %s: %s", p->phases[c->phase].name,
		    pos_desc(p, c->phase, c->step, a, sizeof(a)), engine_state_name(from), to, c->why);
}

/*
 * The one transition function: state, persistence, journal, log, host.
 * Consumes C->inputs.  The change always takes effect in memory (a
 * rollback never waits for a disk); a record that cannot be written is
 * queued (e->queue) and e->io_rc says so.  Returns 0.
 */
static int
eng_transition(struct engine *e, struct eng_change *c)
{
	const struct engine_actor *who = c->who ? c->who : &eng_auto;
	enum engine_state from = e->st.state;
	int fphase = e->st.phase, fstep = e->st.step, phase_changed = c->phase != e->st.phase;
	int64_t now = clock_now_ms(e->clk);
	char line[1400], when[40];
	json_t *rec;

	eng_format_line(e, from, fphase, fstep, c, line, sizeof(line));
	rec = json_object();
	json_object_set_new(rec, "seq", json_integer((json_int_t)(e->st.seq + 1)));
	json_object_set_new(rec, "time", json_string(journal_time(now, when, sizeof(when))));
	json_object_set_new(rec, "t_ms", json_integer(now));
	json_object_set_new(rec, "kind", json_string(c->kind ? c->kind : "transition"));
	json_object_set_new(rec, "who", json_string(who->who ? who->who : "auto"));
	if (who->addr)
		json_object_set_new(rec, "addr", json_string(who->addr));
	if (c->action)
		json_object_set_new(rec, "action", json_string(c->action));
	json_object_set_new(rec, "why", json_string(who->reason && c->action ?
	    who->reason : c->why));
	json_object_set_new(rec, "from", pos_json(e, from, fphase, fstep));
	json_object_set_new(rec, "to", pos_json(e, c->to, c->phase, c->step));
	if (c->to == ENG_PAUSED)
		json_object_set_new(rec, "pause_reason", json_string(state_pause_reason_name(c->reason)));
	json_object_set_new(rec, "inputs", c->inputs ? c->inputs : json_array());
	c->inputs = NULL;
	json_object_set_new(rec, "line", json_string(line));

	if (c->to == ENG_PAUSED && from != ENG_PAUSED) {
		e->st.paused_from = from;
		e->st.paused_at_ms = now;
	}
	e->st.state = c->to;
	e->st.pause_reason = c->to == ENG_PAUSED ? c->reason : PAUSE_NONE;
	e->st.phase = c->phase;
	e->st.step = c->step;
	e->st.entered_at_ms = now;
	if (e->st.started_at_ms == 0)
		e->st.started_at_ms = now;
	if (phase_changed)
		eng_reset_gates(e);
	e->st.seq++;
	json_decref(e->st.pending);
	e->st.pending = rec;
	json_object_set_new(rec, "traffic", json_integer(e->st.traffic));
	if (e->journal != NULL || e->state_path != NULL)
		json_array_append(e->queue, rec);
	if (json_array_size(e->queue) > e->queue_max)
		log_msg(LOG_LVL_ERROR, ENG_SRC, "journal queue over its bound: %zu records wait for the disk"
		    " (bound %zu; only rollbacks and the storage pause are accepted past it)",
		    json_array_size(e->queue), e->queue_max);
	e->state_dirty = 1;
	eng_flush(e);
	log_msg(LOG_LVL_INFO, ENG_SRC, "%s", line);
	if (e->hooks.transition)
		e->hooks.transition(e->hooks.ctx, now, line);
	if (e->hooks.changed)
		e->hooks.changed(e->hooks.ctx);
	return 0;
}

static void
chg_init(struct eng_change *c, const struct engine *e, enum engine_state to)
{
	memset(c, 0, sizeof(*c));
	c->to = to;
	c->phase = e->st.phase;
	c->step = e->st.step;
}

static void notify(struct engine *e, int severity, const char *type, const char *title,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
notify(struct engine *e, int severity, const char *type, const char *title, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (e->hooks.notify == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->hooks.notify(e->hooks.ctx, severity, type, title, msg);
}

static int
eng_movable(enum engine_state s)
{
	return s == ENG_RUNNING || s == ENG_HOLDING || s == ENG_GATING;
}

/* A write is failing: do not move forward; pause (reason storage) until writes succeed. */
static void
eng_storage_pause(struct engine *e)
{
	size_t n = json_array_size(e->queue);
	struct eng_change c;

	chg_init(&c, e, ENG_PAUSED);
	c.reason = PAUSE_STORAGE;
	c.inputs = json_pack("[{s:s, s:s, s:I}]", "storage", e->io_err, "errno",
	    strerror(-e->io_rc), "queued", (json_int_t)n);
	snprintf(c.why, sizeof(c.why), "storage: %s; not moving on until it can be written "
	    "(%zu journal record%s kept in memory, retried every tick)", e->io_err, n,
	    n == 1 ? "" : "s");
	eng_transition(e, &c);
	notify(e, 2, "storage", "rollout paused: storage not writable", "%s", c.why);
}

/*
 * A flags write failed.  The disk refusing it (read-only, full, no
 * permission) is a storage failure: pause with reason storage, retried
 * every tick.  Anything else (the file is broken): pause until an operator
 * fixes the file and resumes.
 */
static void
eng_flags_failed(struct engine *e, const char *what, int rc, const char *err)
{
	struct eng_change c;

	if (eng_storage_errno(rc)) {
		e->flags_dirty = 1;
		eng_io_fail(e, rc, "%s: flags not written: %s", what, err);
		if (e->st.state != ENG_PAUSED || e->st.pause_reason != PAUSE_STORAGE)
			eng_storage_pause(e);
		return;
	}
	chg_init(&c, e, ENG_PAUSED);
	c.reason = PAUSE_FLAGS_BROKEN;
	snprintf(c.why, sizeof(c.why), "%s: flags not written: %s", what, err);
	eng_transition(e, &c);
	notify(e, 2, "flags", "rollout paused: flags not written", "%s", c.why);
}

/* ---- rollback / abort ---------------------------------------------------------- */

static void
eng_rollback(struct engine *e, const char *kind, const struct engine_actor *who,
    const char *action, const char *why, json_t *inputs)
{
	struct eng_change c;
	char err[512] = "";
	int64_t t0;
	int rc = 0;

	chg_init(&c, e, ENG_ROLLING_BACK);
	c.kind = kind;
	c.who = who;
	c.action = action;
	c.inputs = inputs;
	snprintf(c.why, sizeof(c.why), "%s", why);
	eng_transition(e, &c);

	t0 = clock_mono_ms(e->clk);
	if (e->flags != NULL)
		rc = flags_emergency_rollback(e->flags, who && who->who ? who->who : "auto", why,
		    err, sizeof(err));
	e->st.traffic = 0;
	e->st.rollbacks++;
	if (e->metrics)
		metrics_record(e->metrics, "safety.rollbacks", (double)e->st.rollbacks);
	chg_init(&c, e, ENG_ROLLED_BACK);
	if (rc != 0 && flags_traffic(e->flags) == 0 && flags_get_bool(e->flags, "emergencyRollback")) {
		/* the flags file is written, only its audit line is not (the journal is read-only) */
		snprintf(c.why, sizeof(c.why), "emergency rollback done in %" PRId64 " ms: traffic 0"
		    " (the flags' audit record was not journaled: %s)", clock_mono_ms(e->clk) - t0, err);
		eng_io_fail(e, rc, "emergency rollback: %s", err);
	} else if (rc != 0) {
		snprintf(c.why, sizeof(c.why), "emergency rollback FAILED to write the flags: %s", err);
		if (eng_storage_errno(rc)) {
			e->flags_dirty = 1;         /* retried every tick */
			eng_io_fail(e, rc, "emergency rollback: flags not written: %s", err);
		}
	} else
		snprintf(c.why, sizeof(c.why), "emergency rollback done in %" PRId64 " ms: traffic 0",
		    clock_mono_ms(e->clk) - t0);
	eng_transition(e, &c);
	notify(e, 2, "rollback", "rollout rolled back", "%s", why);
}

/* A failed gate or a fired trigger: do what the plan says. */
static void
eng_on_fail(struct engine *e, enum plan_on_fail f, const char *kind, const char *why,
    json_t *inputs)
{
	struct eng_change c;

	switch (f) {
	case ON_FAIL_PAUSE:
		chg_init(&c, e, ENG_PAUSED);
		c.reason = PAUSE_GATE_FAILED;
		c.kind = kind;
		c.inputs = inputs;
		snprintf(c.why, sizeof(c.why), "%s", why);
		eng_transition(e, &c);
		notify(e, 1, "gate", "rollout paused", "%s", why);
		return;
	case ON_FAIL_ABORT: {
		struct flag_write w = { 0 };
		char err[512];

		e->st.traffic = 0;
		chg_init(&c, e, ENG_ABORTED);
		c.kind = kind;
		c.inputs = inputs;
		snprintf(c.why, sizeof(c.why), "%s", why);
		eng_transition(e, &c);
		fw_add_int(&w, "hybridTrafficPercent", 0);
		if (eng_flags_apply(e, &w, "auto", why, err, sizeof(err)) != 0)
			log_msg(LOG_LVL_ERROR, ENG_SRC, "abort: flags not written: %s", err);
		notify(e, 2, "abort", "rollout aborted", "%s", why);
		return;
	}
	default:
		eng_rollback(e, kind, NULL, NULL, why, inputs);
	}
}

/* ---- moving along the plan ---------------------------------------------------------- */

/* Enter the next step, the next phase, or completed. */
static void
eng_advance(struct engine *e, struct eng_change *c)
{
	const struct plan_phase *ph = eng_phase(e);
	int entering = 0;

	c->phase = e->st.phase;
	if ((size_t)e->st.step < ph->nsteps) {
		c->step = e->st.step + 1;
		c->to = ENG_RUNNING;
	} else if ((size_t)e->st.phase + 1 < e->plan->nphases) {
		c->phase = e->st.phase + 1;
		c->step = 0;
		c->to = ENG_RUNNING;
		entering = 1;
	} else {
		c->to = ENG_COMPLETED;
	}
	eng_transition(e, c);
	if (entering) {
		struct flag_write w = { 0 };
		char err[512];
		int rc;

		eng_desired_flags(e, &w);
		if (e->io_rc != 0 && eng_movable(e->st.state)) {
			/* not written: stop here; the phase's flags are applied on the resume */
			eng_storage_pause(e);
			return;
		}
		if ((rc = eng_flags_apply(e, &w, "auto", c->why, err, sizeof(err))) != 0)
			eng_flags_failed(e, "phase entry", rc, err);
		notify(e, 0, "phase", "rollout phase", "phase %s started", eng_phase(e)->name);
	} else if (c->to == ENG_COMPLETED) {
		notify(e, 0, "completed", "rollout completed", "plan %s completed", e->plan->name);
	}
}

static void
eng_goto_gates_or_advance(struct engine *e, const char *why)
{
	struct eng_change c;

	if (eng_phase(e)->ngates > 0) {
		chg_init(&c, e, ENG_GATING);
		snprintf(c.why, sizeof(c.why), "%s", why);
		e->st.gate_next_ms = clock_now_ms(e->clk);
		memset(e->st.gates, 0, e->st.ngates * sizeof(*e->st.gates));
		eng_transition(e, &c);
		return;
	}
	chg_init(&c, e, ENG_RUNNING);
	snprintf(c.why, sizeof(c.why), "%s", why);
	eng_advance(e, &c);
}

static void
eng_hold(struct engine *e, int64_t hold_ms, const char *what)
{
	struct eng_change c;
	char d[32], when[40];

	e->st.hold_until_ms = clock_now_ms(e->clk) + hold_ms;
	chg_init(&c, e, ENG_HOLDING);
	snprintf(c.why, sizeof(c.why), "%shold %s until %s", what, duration_format(hold_ms, d, sizeof(d)),
	    journal_time(e->st.hold_until_ms, when, sizeof(when)));
	eng_transition(e, &c);
}

/* Rehearse the emergency path on a scratch copy of the flags; 0 or -errno. */
static int
eng_drill(struct engine *e, int64_t *elapsed, char *err, size_t errlen)
{
	int64_t t0 = clock_mono_ms(e->clk);
	int rc = 0;

	if (e->state_dir != NULL && e->flags != NULL) {
		char dir[4096], path[4200], spath[4200];
		struct flags *f = NULL;

		snprintf(dir, sizeof(dir), "%s/drill", e->state_dir);
		snprintf(path, sizeof(path), "%s/feature-flags.conf", dir);
		snprintf(spath, sizeof(spath), "%s/state.json", dir);
		rc = fs_mkdir_p(dir, 0755);
		if (rc == 0)
			rc = flags_open(&f, path, NULL, err, errlen);
		if (rc == 0)
			rc = flags_emergency_rollback(f, "drill", "rollback drill", err, errlen);
		if (rc == 0 && flags_traffic(f) != 0) {
			snprintf(err, errlen, "traffic still %d after the rollback", flags_traffic(f));
			rc = -EIO;
		}
		if (rc == 0)
			rc = state_save(spath, &e->st);
		flags_close(f);
		unlink(path);
		snprintf(path, sizeof(path), "%s/feature-flags.conf.lock", dir);
		unlink(path);
		unlink(spath);
		rmdir(dir);
		if (rc != 0 && err[0] == '\0')
			snprintf(err, errlen, "%s", strerror(-rc));
	}
	*elapsed = clock_mono_ms(e->clk) - t0;
	return rc;
}

/* RUNNING: perform the current step (or the phase's end). */
static void
eng_run_position(struct engine *e)
{
	const struct plan_phase *ph = eng_phase(e);
	struct eng_change c;
	char err[512] = "", buf[160];
	int frc;

	chg_init(&c, e, ENG_RUNNING);
	if ((size_t)e->st.step >= ph->nsteps) {
		if (ph->hold_ms > 0)
			eng_hold(e, ph->hold_ms, "phase ");
		else
			eng_goto_gates_or_advance(e, "phase steps done");
		return;
	}
	const struct plan_step *s = &ph->steps[e->st.step];

	switch (s->kind) {
	case STEP_TRAFFIC: {
		struct flag_write w = { 0 };

		e->st.traffic = s->traffic;
		fw_add_int(&w, "hybridTrafficPercent", s->traffic);
		snprintf(buf, sizeof(buf), "traffic %d%%", s->traffic);
		if ((frc = eng_flags_apply(e, &w, "auto", buf, err, sizeof(err))) != 0) {
			eng_flags_failed(e, buf, frc, err);
			return;
		}
		if (s->hold_ms > 0) {
			snprintf(buf, sizeof(buf), "traffic %d%% set, ", s->traffic);
			eng_hold(e, s->hold_ms, buf);
		} else {
			snprintf(c.why, sizeof(c.why), "traffic %d%% set", s->traffic);
			eng_advance(e, &c);
		}
		return;
	}
	case STEP_HOLD:
		eng_hold(e, s->hold_ms, "");
		return;
	case STEP_APPROVE:
		chg_init(&c, e, ENG_PAUSED);
		c.reason = PAUSE_MANUAL_APPROVAL;
		snprintf(c.why, sizeof(c.why), "waiting for a manual approval (promote)");
		eng_transition(e, &c);
		notify(e, 1, "approval", "rollout waiting for approval", "phase %s: %s",
		    ph->name, c.why);
		return;
	case STEP_DRILL: {
		int64_t ms = 0;
		int rc = eng_drill(e, &ms, err, sizeof(err));

		if (rc != 0) {
			chg_init(&c, e, ENG_PAUSED);
			c.reason = PAUSE_CALL_FAILED;
			snprintf(c.why, sizeof(c.why), "rollback drill failed: %s", err);
			eng_transition(e, &c);
			return;
		}
		e->st.last_drill_ms = ms;
		e->st.drills++;
		if (e->metrics)
			metrics_record(e->metrics, "safety.last_drill_ms", (double)ms);
		c.inputs = json_pack("[{s:s, s:I}]", "metric", "safety.last_drill_ms", "value",
		    (json_int_t)ms);
		snprintf(c.why, sizeof(c.why), "rollback drill: emergency path took %" PRId64 " ms", ms);
		eng_advance(e, &c);
		return;
	}
	case STEP_CALL: {
		char reply[512] = "";
		int rc = e->hooks.call ? e->hooks.call(e->hooks.ctx, s->call_system, s->call_command,
		    s->call_arg, reply, sizeof(reply)) : -ENOSYS;

		if (rc != 0) {
			chg_init(&c, e, ENG_PAUSED);
			c.reason = PAUSE_CALL_FAILED;
			snprintf(c.why, sizeof(c.why), "call %s %s failed: %s%s%s", s->call_system,
			    s->call_command, strerror(-rc), reply[0] ? ": " : "", reply);
			eng_transition(e, &c);
			return;
		}
		c.inputs = json_pack("[{s:s, s:s, s:s}]", "system", s->call_system, "command",
		    s->call_command, "reply", reply);
		snprintf(c.why, sizeof(c.why), "call %s %s: ok%s%s", s->call_system, s->call_command,
		    reply[0] ? ": " : "", reply);
		eng_advance(e, &c);
		return;
	}
	case STEP_SET: {
		struct flag_write w = { 0 };

		fw_add_sets(&w, s->sets, s->nsets);
		if ((frc = eng_flags_apply(e, &w, "auto", "set: step", err, sizeof(err))) != 0) {
			eng_flags_failed(e, "set: step", frc, err);
			return;
		}
		snprintf(c.why, sizeof(c.why), "%zu flag%s set", s->nsets, s->nsets == 1 ? "" : "s");
		eng_advance(e, &c);
		return;
	}
	}
}

/* ---- evaluation, detail formatted on demand ---------------------------------- */

struct eng_recorder {
	const struct expr_metrics *m;
	struct eng_answers *ans;
	int replay;               /* 0: ask M and record; 1: answer from ANS */
	int next;
};

static int
eng_answer(struct eng_recorder *r, int rc, double *out, size_t *ns)
{
	struct eng_answers *a = r->ans;

	if (r->replay) {
		if (r->next >= a->n)
			return -ENOENT;
		rc = a->a[r->next].rc;
		*out = a->a[r->next].v;
		*ns = a->a[r->next].ns;
		r->next++;
		return rc;
	}
	if (a->n >= 0 && a->n < ENG_MAX_ANSWERS) {
		a->a[a->n].rc = rc;
		a->a[a->n].v = *out;
		a->a[a->n].ns = *ns;
		a->n++;
	} else {
		a->n = -1;
	}
	return rc;
}

static int
eng_rec_latest(void *ctx, const char *name, double *out, size_t *ns)
{
	struct eng_recorder *r = ctx;
	int rc = -ENOENT;

	if (!r->replay && r->m->latest != NULL)
		rc = r->m->latest(r->m->ctx, name, out, ns);
	return eng_answer(r, rc, out, ns);
}

static int
eng_rec_window(void *ctx, const char *name, enum expr_fn fn, int64_t window_ms, double *out,
    size_t *ns)
{
	struct eng_recorder *r = ctx;
	int rc = -ENOENT;

	if (!r->replay && r->m->window != NULL)
		rc = r->m->window(r->m->ctx, name, fn, window_ms, out, ns);
	return eng_answer(r, rc, out, ns);
}

/* Evaluate X into V (verdict, value, samples) and *R; the detail is formatted when read. */
static void
eng_eval(const struct engine *e, const struct expr *x, size_t min_samples, struct gate_view *v,
    struct expr_result *r)
{
	const struct expr_metrics *view = e->metrics ? metrics_view(e->metrics) : NULL;
	struct eng_recorder rec = { view, &v->ans, 0, 0 };
	struct expr_metrics m = { &rec, eng_rec_latest, eng_rec_window };

	v->ans.n = 0;
	v->expr = x;
	v->min_samples = min_samples;
	v->no_metrics = view == NULL;
	expr_verdict(x, view ? &m : NULL, min_samples, r);
	v->formatted = 0;
	if (v->ans.n < 0) {
		/* too many operands to replay: format now */
		expr_eval(x, view, min_samples, r);
		memcpy(v->detail, r->detail, sizeof(v->detail));
		v->formatted = 1;
	}
	v->evaluated = 1;
	v->verdict = r->verdict;
	v->value = r->lhs;
	v->samples = r->samples;
}

/* The detail of V's last evaluation ("" before the first), formatted now if it was not. */
static const char *
eng_detail(struct gate_view *v)
{
	if (!v->formatted && v->evaluated) {
		struct eng_recorder rec = { NULL, &v->ans, 1, 0 };
		struct expr_metrics m = { &rec, eng_rec_latest, eng_rec_window };
		struct expr_result r;

		expr_eval(v->expr, v->no_metrics ? NULL : &m, v->min_samples, &r);
		memcpy(v->detail, r.detail, sizeof(v->detail));
		v->formatted = 1;
	}
	return v->detail;
}

/* The gates' last evaluations as journal inputs (new reference). */
static json_t *
eng_gate_inputs(struct engine *e)
{
	const struct plan_phase *ph = eng_phase(e);
	json_t *inputs = json_array();
	size_t i;

	for (i = 0; i < ph->ngates && i < e->ngview; i++) {
		struct gate_view *v = &e->gview[i];

		json_array_append_new(inputs, json_pack("{s:s, s:s, s:o, s:I, s:s}", "gate",
		    ph->gates[i].text, "verdict", verdict_name(v->verdict), "value", isfinite(v->value) ?
		    json_real(v->value) : json_null(), "samples", (json_int_t)v->samples, "detail",
		    eng_detail(v)));
	}
	return inputs;
}

/* GATING: evaluate every gate once. */
static void
eng_eval_gates(struct engine *e)
{
	const struct plan_phase *ph = eng_phase(e);
	char passed[700] = "", bad[700] = "";
	int failed = -1, inconc = -1, changed = 0, npass = 0;
	size_t i, off = 0;

	e->st.gate_next_ms = clock_now_ms(e->clk) + e->plan->tick_ms;
	for (i = 0; i < ph->ngates; i++) {
		const struct plan_gate *g = &ph->gates[i];
		struct state_gate *sg = &e->st.gates[i];
		struct expr_result r;

		eng_eval(e, g->expr, g->min_samples, &e->gview[i], &r);
		if (r.verdict == VERDICT_PASS) {
			npass++;
			if (sg->inconclusive != 0)
				changed = 1;
			sg->inconclusive = 0;
			if (off < sizeof(passed))
				off += (size_t)snprintf(passed + off, sizeof(passed) - off, "%s\"%s\" (%.6g, %zu samples)",
				    off ? "; " : "", g->text, r.lhs, r.samples);
		} else if (r.verdict == VERDICT_FAIL) {
			sg->fails++;
			changed = 1;
			if (sg->fails > g->failure_limit && failed < 0) {
				failed = (int)i;
				snprintf(bad, sizeof(bad), "gate \"%s\" failed (%s; %d failure%s, limit %d)",
				    g->text, eng_detail(&e->gview[i]), sg->fails, sg->fails == 1 ? "" : "s",
				    g->failure_limit);
			}
		} else {
			sg->inconclusive++;
			changed = 1;
			if (sg->inconclusive > g->consecutive_errors && inconc < 0 && failed < 0) {
				inconc = (int)i;
				snprintf(bad, sizeof(bad), "gate \"%s\" inconclusive %d times in a row (%s)",
				    g->text, sg->inconclusive, eng_detail(&e->gview[i]));
			}
		}
	}
	if (failed >= 0) {
		eng_on_fail(e, ph->on_fail, "transition", bad, eng_gate_inputs(e));
		return;
	}
	if ((size_t)npass == ph->ngates) {
		struct eng_change c;

		chg_init(&c, e, ENG_RUNNING);
		if (ph->ngates == 1)
			snprintf(c.why, sizeof(c.why), "gate %s passed", passed);
		else
			snprintf(c.why, sizeof(c.why), "%zu gates passed: %s", ph->ngates, passed);
		/* "gate "x" passed (v, n samples)": move the quote-wrapped text before "passed" */
		if (ph->ngates == 1) {
			const struct plan_gate *g = &ph->gates[0];

			snprintf(c.why, sizeof(c.why), "gate \"%s\" passed (%.6g, %zu samples)", g->text,
			    e->gview[0].value, e->gview[0].samples);
		}
		c.inputs = eng_gate_inputs(e);
		eng_advance(e, &c);
		return;
	}
	if (inconc >= 0) {
		struct eng_change c;

		chg_init(&c, e, ENG_PAUSED);
		c.reason = PAUSE_INCONCLUSIVE;
		c.inputs = eng_gate_inputs(e);
		snprintf(c.why, sizeof(c.why), "%s", bad);
		eng_transition(e, &c);
		notify(e, 1, "gate", "rollout paused: gate inconclusive", "%s", bad);
		return;
	}
	if (changed)
		eng_persist(e);
}

/* ---- triggers ------------------------------------------------------------------------ */

static int
eng_trigger_armed(const struct engine *e, const struct plan_trigger *t)
{
	enum engine_state s = e->st.state;
	int from = t->from_phase ? plan_phase_index(e->plan, t->from_phase) : 0;

	if (s == ENG_PENDING || eng_terminal(s) || s == ENG_ROLLING_BACK)
		return 0;
	return e->st.phase >= (from < 0 ? 0 : from);
}

static void
eng_fire(struct engine *e, size_t i, const char *detail, json_t *inputs)
{
	const struct plan_trigger *t = &e->plan->triggers[i];
	char why[700];

	snprintf(why, sizeof(why), "trigger \"%s\" fired: %s", t->name, detail);
	eng_reset_triggers(e);
	eng_on_fail(e, t->on_fail, "trigger", why, inputs);
}

static void
eng_check_triggers(struct engine *e)
{
	int changed = 0;
	size_t i;

	for (i = 0; i < e->plan->ntriggers; i++) {
		const struct plan_trigger *t = &e->plan->triggers[i];
		struct state_trigger *st = &e->st.triggers[i];
		struct expr_result r;
		int before = st->consecutive;

		if (t->kind != TRIGGER_EXPR || !eng_trigger_armed(e, t))
			continue;
		eng_eval(e, t->when, 1, &e->tview[i], &r);
		if (r.verdict == VERDICT_PASS)
			st->consecutive++;
		else if (r.verdict == VERDICT_FAIL)
			st->consecutive = 0;
		/* inconclusive: neither counts nor resets */
		if (st->consecutive >= (t->for_checks > 0 ? t->for_checks : 1)) {
			const char *detail = eng_detail(&e->tview[i]);
			char d[600];
			json_t *in = json_pack("[{s:s, s:s, s:s, s:o, s:I, s:i}]", "trigger", t->name,
			    "when", t->when_text, "detail", detail, "value", isfinite(r.lhs) ?
			    json_real(r.lhs) : json_null(), "samples", (json_int_t)r.samples,
			    "checks", st->consecutive);

			snprintf(d, sizeof(d), "%s for %d check%s", detail, st->consecutive,
			    st->consecutive == 1 ? "" : "s");
			eng_fire(e, i, d, in);
			return;
		}
		if (st->consecutive != before)
			changed = 1;
	}
	if (changed)
		eng_persist(e);
}

void
engine_log_line(struct engine *e, const char *instance, const char *line)
{
	int64_t now;
	size_t i;

	if (e == NULL || line == NULL)
		return;
	now = clock_now_ms(e->clk);
	for (i = 0; i < e->plan->ntriggers; i++) {
		const struct plan_trigger *t = &e->plan->triggers[i];
		struct state_trigger *st = &e->st.triggers[i];
		const char *src = t->source ? t->source : "candidate";
		int k, j, count = t->count > 0 ? t->count : 1;

		if (t->kind != TRIGGER_MATCH || t->re == NULL || !eng_trigger_armed(e, t))
			continue;
		if (strcmp(src, "any") != 0 && (instance == NULL || strcmp(src, instance) != 0))
			continue;
		if (pcre2_match((pcre2_code *)t->re, (PCRE2_SPTR)line, PCRE2_ZERO_TERMINATED, 0, 0,
		    e->md, NULL) < 0)
			continue;
		/* keep the matches inside the window, at most COUNT */
		for (k = 0, j = 0; k < st->nmatches; k++)
			if (st->matches[k] > now - t->window_ms)
				st->matches[j++] = st->matches[k];
		st->nmatches = j;
		if (st->nmatches == count) {
			memmove(st->matches, st->matches + 1, (size_t)(count - 1) * sizeof(int64_t));
			st->nmatches--;
		}
		st->matches[st->nmatches++] = now;
		if (st->nmatches >= count) {
			char d[700], w[32];
			json_t *in = json_pack("[{s:s, s:s, s:s, s:s, s:i}]", "trigger", t->name, "match",
			    t->match, "source", instance ? instance : "", "line", line, "count",
			    st->nmatches);

			snprintf(d, sizeof(d), "%d match%s of /%s/ in %s from %s, last: %.300s",
			    st->nmatches, st->nmatches == 1 ? "" : "es", t->match,
			    duration_format(t->window_ms, w, sizeof(w)), instance ? instance : "?", line);
			eng_fire(e, i, d, in);
			return;
		}
		eng_persist(e);
	}
}

/* ---- tick ------------------------------------------------------------------------------ */

static void
eng_start(struct engine *e)
{
	struct eng_change c;
	struct flag_write w = { 0 };
	char err[512];
	int p = 0, rc;

	if (e->start_phase != NULL && (p = plan_phase_index(e->plan, e->start_phase)) < 0)
		p = 0;
	chg_init(&c, e, ENG_RUNNING);
	c.phase = p;
	c.step = 0;
	e->st.traffic = plan_traffic_before(e->plan, p, 0);
	snprintf(c.why, sizeof(c.why), "rollout started%s%s", p ? " at phase " : "",
	    p ? e->plan->phases[p].name : "");
	eng_transition(e, &c);
	eng_desired_flags(e, &w);
	if ((rc = eng_flags_apply(e, &w, "auto", c.why, err, sizeof(err))) != 0)
		eng_flags_failed(e, "start", rc, err);
}

/* Move along the plan as far as the clock allows (no trigger check). */
static void
eng_run(struct engine *e, int64_t now)
{
	int i;

	for (i = 0; i < ENG_MAX_STEPS_PER_TICK; i++) {
		enum engine_state s = e->st.state;
		int phase = e->st.phase, step = e->st.step;
		uint64_t seq = e->st.seq;

		if (e->io_rc != 0 && eng_movable(s))
			break;          /* not written: do not move on (paused below) */
		if (s == ENG_RUNNING)
			eng_run_position(e);
		else if (s == ENG_HOLDING && now >= e->st.hold_until_ms)
			eng_goto_gates_or_advance(e, "hold elapsed");
		else if (s == ENG_GATING && now >= e->st.gate_next_ms)
			eng_eval_gates(e);
		else
			break;
		if (e->st.seq == seq && e->st.state == s && e->st.phase == phase && e->st.step == step)
			break;          /* gates evaluated, still undecided */
	}
	if (e->io_rc != 0 && eng_movable(e->st.state))
		eng_storage_pause(e);
}

/* Re-apply the flags the current state wants (after they could not be written).  0 or -errno. */
static int
eng_flags_retry(struct engine *e, char *err, size_t errlen)
{
	struct flag_write w = { 0 };

	if (e->flags == NULL)
		return 0;
	if (e->st.state == ENG_ROLLING_BACK || e->st.state == ENG_ROLLED_BACK) {
		if (flags_traffic(e->flags) == 0 && flags_get_bool(e->flags, "emergencyRollback"))
			return 0;
		return flags_emergency_rollback(e->flags, "auto", "rollback: flags written after a"
		    " storage failure", err, errlen);
	}
	if (e->st.state == ENG_ABORTED) {
		fw_add_int(&w, "hybridTrafficPercent", 0);
		return eng_flags_apply(e, &w, "auto", "abort: flags written after a storage failure",
		    err, errlen);
	}
	eng_desired_flags(e, &w);
	return eng_flags_apply(e, &w, "auto", "flags written after a storage failure", err, errlen);
}

/*
 * Storage was failing: write what is behind (state, queued records,
 * flags).  When everything is written and the rollout was paused for
 * storage, resume with a journaled record saying so.  0 or -errno.
 */
static int
eng_storage_retry(struct engine *e)
{
	size_t queued = json_array_size(e->queue);
	int was = e->io_rc, rc;
	char err[512] = "";

	rc = eng_flush(e);
	if (rc == 0 && e->flags_dirty) {
		rc = eng_flags_retry(e, err, sizeof(err));
		if (rc != 0) {
			eng_io_fail(e, rc, "flags not written: %s", err);
			return rc;
		}
		e->flags_dirty = 0;
		e->io_rc = 0;
	}
	if (rc != 0)
		return rc;
	if (was != 0)
		log_msg(LOG_LVL_INFO, ENG_SRC, "storage writable again: %zu queued journal record%s written",
		    queued, queued == 1 ? "" : "s");
	if (e->st.state == ENG_PAUSED && e->st.pause_reason == PAUSE_STORAGE) {
		struct flag_write w = { 0 };
		int64_t now = clock_now_ms(e->clk);
		struct eng_change c;
		int frc;

		chg_init(&c, e, e->st.paused_from);
		/* paused time does not count toward the hold */
		if (e->st.paused_from == ENG_HOLDING)
			e->st.hold_until_ms += now - e->st.paused_at_ms;
		if (e->st.paused_from == ENG_GATING)
			e->st.gate_next_ms = now;
		if (!eng_movable(c.to))
			c.to = ENG_RUNNING;
		c.inputs = json_pack("[{s:I}]", "written", (json_int_t)queued);
		snprintf(c.why, sizeof(c.why), "storage writable again: %zu queued journal record%s written;"
		    " resuming", queued, queued == 1 ? "" : "s");
		eng_transition(e, &c);
		eng_desired_flags(e, &w);
		if ((frc = eng_flags_apply(e, &w, "auto", c.why, err, sizeof(err))) != 0)
			eng_flags_failed(e, "resume", frc, err);
		else
			notify(e, 0, "storage", "rollout resumed", "%s", c.why);
	}
	return e->io_rc;
}

int64_t
engine_tick(struct engine *e)
{
	int64_t now = clock_now_ms(e->clk), next;

	if (e->io_rc != 0 || e->state_dirty || e->flags_dirty || json_array_size(e->queue) > 0
	    || (e->st.state == ENG_PAUSED && e->st.pause_reason == PAUSE_STORAGE))
		eng_storage_retry(e);
	if (e->st.state == ENG_PENDING && e->st.started_at_ms == 0)
		eng_start(e);
	if (now >= e->st.next_check_ms) {
		e->st.next_check_ms += e->plan->tick_ms;
		if (e->st.next_check_ms <= now)
			e->st.next_check_ms = now + e->plan->tick_ms;
		eng_check_triggers(e);
	}
	eng_run(e, now);
	next = e->st.next_check_ms;
	if (e->st.state == ENG_HOLDING && e->st.hold_until_ms < next)
		next = e->st.hold_until_ms;
	if (e->st.state == ENG_GATING && e->st.gate_next_ms < next)
		next = e->st.gate_next_ms;
	if (next < now)
		next = now;
	return next;
}

/* ---- operator actions -------------------------------------------------------------------- */

static int
act_err(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
act_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void
act_change(struct eng_change *c, const struct engine *e, enum engine_state to, enum engine_action a,
    const struct engine_actor *who)
{
	chg_init(c, e, to);
	c->kind = "action";
	c->who = who;
	c->action = engine_action_name(a);
	snprintf(c->why, sizeof(c->why), "%s by %s%s%s", engine_action_name(a),
	    who && who->who ? who->who : "operator", who && who->reason ? ": " : "",
	    who && who->reason ? who->reason : "");
}

/*
 * The flags a re-entry (retry, skip to phase) of the current position
 * writes: emergencyRollback off, the earlier phases' sets, what the position
 * wants.  At a traffic step the traffic is left to the step, which runs at
 * once: writing the previous step's traffic first would be one more write
 * (a generation) that a restart between the re-entry's record and its flags
 * write does not make.
 */
static void
eng_reenter_flags(struct engine *e, struct flag_write *w)
{
	const struct plan_phase *ph = eng_phase(e);

	fw_add(w, "emergencyRollback", "false");
	eng_earlier_flags(e, w, e->st.phase);
	eng_desired_flags(e, w);
	if ((size_t)e->st.step < ph->nsteps && ph->steps[e->st.step].kind == STEP_TRAFFIC)
		fw_remove(w, "hybridTrafficPercent");
}

/* Re-enter PHASE/STEP as RUNNING (retry, skip to phase): counters reset, flags re-applied. */
static int
act_reenter(struct engine *e, struct eng_change *c, int phase, int step, char *err, size_t errlen)
{
	struct flag_write w = { 0 };
	int rc;

	c->to = ENG_RUNNING;
	c->phase = phase;
	c->step = step;
	e->st.traffic = plan_traffic_before(e->plan, phase, step);
	eng_reset_triggers(e);
	eng_transition(e, c);
	eng_reset_gates(e);
	eng_reenter_flags(e, &w);
	if ((rc = eng_flags_apply(e, &w, c->who && c->who->who ? c->who->who : "operator", c->why,
	    err, errlen)) != 0) {
		eng_flags_failed(e, c->action, rc, err);
		return -EIO;
	}
	return 0;
}

static int
eng_act(struct engine *e, enum engine_action a, const char *arg,
    const struct engine_actor *who, char *err, size_t errlen)
{
	enum engine_state s = e->st.state;
	struct eng_change c;
	int64_t now = clock_now_ms(e->clk);

	if (err && errlen)
		err[0] = '\0';
	if (json_array_size(e->queue) >= e->queue_max && a != ACT_ROLLBACK)
		return act_err(err, errlen, -ENOSPC, "cannot %s: %zu journal records already wait for the "
		    "disk (the bound; %s): only a rollback is accepted until they are written",
		    engine_action_name(a), json_array_size(e->queue), e->io_err);
	if (e->io_rc != 0 && a != ACT_ROLLBACK && a != ACT_ABORT && a != ACT_PAUSE) {
		/* moving on needs the disk: try it now */
		if (eng_storage_retry(e) != 0)
			return act_err(err, errlen, -EIO, "cannot %s: %s (the rollout resumes by itself "
			    "once it can be written)", engine_action_name(a), e->io_err);
		if (a == ACT_RESUME && e->st.state != ENG_PAUSED)
			return 0;       /* the storage pause ended with the retry */
		s = e->st.state;
	}
	switch (a) {
	case ACT_PAUSE:
		if (s != ENG_PENDING && s != ENG_RUNNING && s != ENG_HOLDING && s != ENG_GATING)
			return act_err(err, errlen, -EINVAL, "cannot pause: the rollout is %s",
			    engine_state_name(s));
		if (s == ENG_PENDING && e->st.started_at_ms == 0)
			eng_start(e);
		act_change(&c, e, ENG_PAUSED, a, who);
		c.reason = PAUSE_OPERATOR;
		return eng_transition(e, &c);
	case ACT_RESUME:
		if (s != ENG_PAUSED)
			return act_err(err, errlen, -EINVAL, "nothing to resume: the rollout is %s",
			    engine_state_name(s));
		if (e->st.pause_reason == PAUSE_MANUAL_APPROVAL)
			return act_err(err, errlen, -EINVAL,
			    "waiting for a manual approval: use promote to approve");
		switch (e->st.pause_reason) {
		case PAUSE_INCONCLUSIVE:
		case PAUSE_GATE_FAILED:
			act_change(&c, e, ENG_GATING, a, who);
			e->st.gate_next_ms = now;
			memset(e->st.gates, 0, e->st.ngates * sizeof(*e->st.gates));
			break;
		case PAUSE_CALL_FAILED:
			act_change(&c, e, ENG_RUNNING, a, who);
			break;
		default:
			act_change(&c, e, e->st.paused_from, a, who);
			/* paused time does not count toward the hold */
			if (e->st.paused_from == ENG_HOLDING)
				e->st.hold_until_ms += now - e->st.paused_at_ms;
			if (e->st.paused_from == ENG_GATING)
				e->st.gate_next_ms = now;
			if (e->st.paused_from == ENG_PENDING)
				c.to = ENG_RUNNING;
			break;
		}
		eng_transition(e, &c);
		{
			struct flag_write w = { 0 };

			eng_desired_flags(e, &w);
			int rc = eng_flags_apply(e, &w, who && who->who ? who->who : "operator", c.why,
			    err, errlen);

			if (rc != 0) {
				eng_flags_failed(e, "resume", rc, err);
				return -EIO;
			}
		}
		return 0;
	case ACT_PROMOTE:
		if (!(s == ENG_HOLDING || s == ENG_GATING || (s == ENG_PAUSED
		    && e->st.pause_reason != PAUSE_OPERATOR && e->st.pause_reason != PAUSE_FLAGS_BROKEN
		    && e->st.pause_reason != PAUSE_STORAGE)))
			return act_err(err, errlen, -EINVAL, "nothing to promote: the rollout is %s%s%s",
			    engine_state_name(s), s == ENG_PAUSED ? " by " : "",
			    s == ENG_PAUSED ? state_pause_reason_name(e->st.pause_reason) : "");
		act_change(&c, e, ENG_RUNNING, a, who);
		eng_advance(e, &c);
		return 0;
	case ACT_PROMOTE_FULL: {
		struct flag_write w = { 0 };
		size_t p;

		if (s == ENG_COMPLETED)
			return act_err(err, errlen, -EINVAL, "nothing to promote: already completed");
		for (p = (size_t)e->st.phase; p < e->plan->nphases; p++)
			fw_add_sets(&w, e->plan->phases[p].sets, e->plan->nphases ? e->plan->phases[p].nsets : 0);
		fw_add(&w, "rolloutPhase", e->plan->phases[e->plan->nphases - 1].name);
		fw_add(&w, "emergencyRollback", "false");
		fw_add_int(&w, "hybridTrafficPercent", 100);
		e->st.traffic = 100;
		act_change(&c, e, ENG_COMPLETED, a, who);
		c.phase = (int)e->plan->nphases - 1;
		c.step = (int)e->plan->phases[c.phase].nsteps;
		eng_transition(e, &c);
		if (eng_flags_apply(e, &w, who && who->who ? who->who : "operator", c.why, err,
		    errlen) != 0) {
			log_msg(LOG_LVL_ERROR, ENG_SRC, "promote --full: flags not written: %s", err);
			return -EIO;
		}
		return 0;
	}
	case ACT_ABORT: {
		struct flag_write w = { 0 };

		if (eng_terminal(s))
			return act_err(err, errlen, -EINVAL, "nothing to abort: the rollout is %s",
			    engine_state_name(s));
		e->st.traffic = 0;
		act_change(&c, e, ENG_ABORTED, a, who);
		eng_transition(e, &c);
		fw_add_int(&w, "hybridTrafficPercent", 0);
		if (eng_flags_apply(e, &w, who && who->who ? who->who : "operator", c.why, err,
		    errlen) != 0) {
			log_msg(LOG_LVL_ERROR, ENG_SRC, "abort: flags not written: %s", err);
			return -EIO;
		}
		return 0;
	}
	case ACT_RETRY:
		if (s != ENG_ABORTED && s != ENG_ROLLED_BACK)
			return act_err(err, errlen, -EINVAL,
			    "nothing to retry: the rollout is %s (retry follows abort or rollback)",
			    engine_state_name(s));
		act_change(&c, e, ENG_RUNNING, a, who);
		return act_reenter(e, &c, e->st.phase, e->st.step, err, errlen);
	case ACT_ROLLBACK: {
		char why[sizeof(c.why)];

		act_change(&c, e, ENG_ROLLING_BACK, a, who);
		snprintf(why, sizeof(why), "%s", c.why);
		eng_rollback(e, "action", who, engine_action_name(a), why, NULL);
		return 0;
	}
	case ACT_SKIP_TO_PHASE: {
		int p = arg ? plan_phase_index(e->plan, arg) : -1;

		if (p < 0)
			return act_err(err, errlen, -ENOENT, "no phase named \"%s\" in plan %s",
			    arg ? arg : "", e->plan->name);
		if (s == ENG_PENDING && e->st.started_at_ms == 0)
			eng_start(e);
		act_change(&c, e, ENG_RUNNING, a, who);
		snprintf(c.why + strlen(c.why), sizeof(c.why) - strlen(c.why), " (to phase %s)",
		    e->plan->phases[p].name);
		return act_reenter(e, &c, p, 0, err, errlen);
	}
	}
	return act_err(err, errlen, -EINVAL, "unknown action %d", (int)a);
}

/* Perform the action, then carry on at once (a promoted step starts now, not at the next tick). */
int
engine_act(struct engine *e, enum engine_action a, const char *arg,
    const struct engine_actor *who, char *err, size_t errlen)
{
	int rc = eng_act(e, a, arg, who, err, errlen);

	if (rc == 0)
		eng_run(e, clock_now_ms(e->clk));
	return rc;
}

/* ---- open / close ---------------------------------------------------------------------- */

/* Bring ST's per-plan arrays to the plan's shape. */
static int
eng_shape_state(struct engine *e)
{
	size_t i, n = e->plan->ntriggers;
	struct state_trigger *t = calloc(n + 1, sizeof(*t));
	struct state_gate *g;

	if (t == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		int count = e->plan->triggers[i].count > 0 ? e->plan->triggers[i].count : 1;

		t[i].matches = calloc((size_t)count + 1, sizeof(int64_t));
		if (t[i].matches == NULL)
			goto fail;
		if (i < e->st.ntriggers) {
			int k, m = e->st.triggers[i].nmatches;

			t[i].consecutive = e->st.triggers[i].consecutive;
			if (m > count)
				m = count;
			for (k = 0; k < m; k++)
				t[i].matches[k] = e->st.triggers[i].matches[e->st.triggers[i].nmatches - m + k];
			t[i].nmatches = m;
		}
	}
	for (i = 0; i < e->st.ntriggers; i++)
		free(e->st.triggers[i].matches);
	free(e->st.triggers);
	e->st.triggers = t;
	e->st.ntriggers = n;
	free(e->tview);
	e->tview = calloc(n + 1, sizeof(*e->tview));
	n = eng_phase(e)->ngates;
	g = calloc(n + 1, sizeof(*g));
	free(e->gview);
	e->gview = calloc(n + 1, sizeof(*e->gview));
	e->ngview = n;
	if (g == NULL || e->tview == NULL || e->gview == NULL) {
		free(g);
		return -ENOMEM;
	}
	for (i = 0; i < n && i < e->st.ngates; i++)
		g[i] = e->st.gates[i];
	free(e->st.gates);
	e->st.gates = g;
	e->st.ngates = n;
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(t[i].matches);
	free(t);
	return -ENOMEM;
}

/* Resume from a loaded state: check the plan, repair the journal, re-apply flags. */
static int
eng_resume(struct engine *e, const struct engine_opts *o, char *err, size_t errlen)
{
	char hex[65], fw_err[512];
	struct flag_write w = { 0 };
	const char *phase_name;
	json_t *pl;
	int p;

	sha_hex(e->plan->sha256, hex);
	pl = e->st.pending ? json_object_get(json_object_get(e->st.pending, "to"), "phase") : NULL;
	phase_name = json_string_value(pl);
	if (strcmp(hex, e->st.plan_sha256) != 0 && !o->accept_plan_change) {
		snprintf(err, errlen,
		    "%s: the plan changed since this rollout started (plan sha256 %.12s..., state %s has %.12s...): "
		    "refusing to resume; pass --accept-plan-change to continue with the new plan",
		    e->plan->file, hex, e->state_path, e->st.plan_sha256);
		return -ESTALE;
	}
	/* the position must still exist; follow the phase by name when phases moved */
	if (phase_name != NULL && (p = plan_phase_index(e->plan, phase_name)) >= 0)
		e->st.phase = p;
	if (e->st.phase < 0 || (size_t)e->st.phase >= e->plan->nphases || e->st.step < 0
	    || (size_t)e->st.step > e->plan->phases[e->st.phase].nsteps) {
		snprintf(err, errlen, "%s: position phase %d step %d does not exist in plan %s",
		    e->state_path, e->st.phase, e->st.step + 1, e->plan->file);
		return -ESTALE;
	}
	if (eng_shape_state(e) != 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/*
	 * The journal must have the records of the persisted transitions: the
	 * ones a storage failure kept in the state ("unjournaled"), then the
	 * last one ("pending").
	 */
	if (e->journal != NULL) {
		uint64_t js = journal_last_seq(e->journal), first = js;
		size_t i, n = json_array_size(e->st.unjournaled);
		json_t *rec;
		int rc;

		for (i = 0; i <= n; i++) {
			rec = i < n ? json_array_get(e->st.unjournaled, i) : e->st.pending;
			if (rec == NULL || (uint64_t)json_integer_value(json_object_get(rec, "seq")) != js + 1)
				continue;
			rc = journal_append(e->journal, rec);
			if (rc != 0) {
				snprintf(err, errlen, "%s: cannot append the pending record: %s",
				    journal_path(e->journal), strerror(-rc));
				return rc;
			}
			js++;
		}
		json_decref(e->st.unjournaled);
		e->st.unjournaled = NULL;
		if (js == first + 1)
			log_msg(LOG_LVL_INFO, ENG_SRC, "journal: appended record %" PRIu64
			    " written to the state before a crash", js);
		else if (js > first + 1)
			log_msg(LOG_LVL_INFO, ENG_SRC, "journal: appended records %" PRIu64 "-%" PRIu64
			    " written to the state before a crash", first + 1, js);
		if (js == e->st.seq) {
			/* complete */
		} else if (js < e->st.seq) {
			log_msg(LOG_LVL_WARN, ENG_SRC, "journal %s ends at seq %" PRIu64
			    " but the state is at %" PRIu64 ": records are missing",
			    journal_path(e->journal), js, e->st.seq);
		} else if (js > e->st.seq) {
			log_msg(LOG_LVL_WARN, ENG_SRC, "journal %s is ahead of the state (%" PRIu64
			    " > %" PRIu64 ")", journal_path(e->journal), js, e->st.seq);
		}
	}
	if (strcmp(hex, e->st.plan_sha256) != 0) {
		struct eng_change c;
		struct engine_actor cli = { "cli", NULL, "--accept-plan-change" };

		chg_init(&c, e, e->st.state);
		c.kind = "plan_change";
		c.who = &cli;
		c.inputs = json_pack("[{s:s, s:s}]", "old_sha256", e->st.plan_sha256, "new_sha256", hex);
		snprintf(c.why, sizeof(c.why), "plan changed (sha256 %.12s... -> %.12s...), accepted",
		    e->st.plan_sha256, hex);
		snprintf(e->st.plan_sha256, sizeof(e->st.plan_sha256), "%s", hex);
		eng_transition(e, &c);
	}
	/* what the engine publishes itself lives in the state, not only in memory */
	if (e->metrics != NULL) {
		uint64_t k;

		/* as many samples as a run without the restart recorded (gates count them) */
		for (k = 0; e->st.last_drill_ms >= 0 && k < e->st.drills && k < 1000; k++)
			metrics_record(e->metrics, "safety.last_drill_ms", (double)e->st.last_drill_ms);
		for (k = 1; k <= e->st.rollbacks && k <= 1000; k++)
			metrics_record(e->metrics, "safety.rollbacks", (double)k);
	}
	/* repair side effects a crash may have cut short */
	if (e->st.state == ENG_ROLLING_BACK || e->st.state == ENG_ROLLED_BACK) {
		if (e->flags != NULL && (flags_traffic(e->flags) != 0
		    || !flags_get_bool(e->flags, "emergencyRollback"))
		    && flags_emergency_rollback(e->flags, "auto", "rollback resumed after restart",
		    fw_err, sizeof(fw_err)) != 0)
			log_msg(LOG_LVL_ERROR, ENG_SRC, "rollback: flags not written: %s", fw_err);
		if (e->st.state == ENG_ROLLING_BACK) {
			struct eng_change c;
			char why[512];
			const char *pw = e->st.pending ?
			    json_string_value(json_object_get(e->st.pending, "why")) : NULL;

			/* the pending record is the rolling_back one: the rollback's reason */
			snprintf(why, sizeof(why), "%s", pw ? pw : "rollback");
			e->st.traffic = 0;
			chg_init(&c, e, ENG_ROLLED_BACK);
			snprintf(c.why, sizeof(c.why), "emergency rollback completed after a restart: traffic 0");
			eng_transition(e, &c);
			/* the critical notification the crash cut off (at least once) */
			notify(e, 2, "rollback", "rollout rolled back", "%s (completed after a restart)", why);
		}
	} else if (e->st.state != ENG_PENDING) {
		const struct plan_phase *ph = eng_phase(e);
		const char *act = e->st.pending ?
		    json_string_value(json_object_get(e->st.pending, "action")) : NULL;

		/*
		 * The last record is a re-entry (retry, skip to phase) and nothing
		 * moved since: it may have stopped before its flags write, which
		 * also turns emergencyRollback off and puts back the earlier
		 * phases' sets (after a rollback); write what it writes.
		 */
		if (e->st.state == ENG_RUNNING && act != NULL && (strcmp(act, "retry") == 0
		    || strcmp(act, "skip_to_phase") == 0))
			eng_reenter_flags(e, &w);
		else
			eng_desired_flags(e, &w);
		/*
		 * Interrupted while performing a traffic step: the step runs again
		 * and sets its own traffic; writing the previous value here would
		 * step traffic back for a moment.
		 */
		if (e->st.state == ENG_RUNNING && (size_t)e->st.step < ph->nsteps
		    && ph->steps[e->st.step].kind == STEP_TRAFFIC)
			fw_remove(&w, "hybridTrafficPercent");
		if (eng_flags_apply(e, &w, "auto", "resume after restart", fw_err, sizeof(fw_err)) != 0)
			log_msg(LOG_LVL_ERROR, ENG_SRC, "resume: flags not written: %s", fw_err);
	}
	if (o->start_phase != NULL) {
		int sp = plan_phase_index(e->plan, o->start_phase);
		struct engine_actor cli = { "cli", NULL, "--phase" };

		if (sp < 0) {
			snprintf(err, errlen, "--phase %s: no such phase in %s", o->start_phase,
			    e->plan->file);
			return -ENOENT;
		}
		if (sp != e->st.phase && engine_act(e, ACT_SKIP_TO_PHASE, o->start_phase, &cli, err,
		    errlen) != 0)
			return -EIO;
	}
	return 0;
}

int
engine_open(struct engine **out, const struct engine_opts *o, char *err, size_t errlen)
{
	struct engine *e;
	char path[4200];
	int rc;

	*out = NULL;
	if (o->plan == NULL || o->plan->nphases == 0 || o->clock == NULL) {
		snprintf(err, errlen, "engine: a plan with phases and a clock are required");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->plan = o->plan;
	e->clk = o->clock;
	e->metrics = o->metrics;
	e->flags = o->flags;
	e->journal = o->journal;
	e->hooks = o->hooks;
	e->lock_fd = -1;
	e->queue_max = o->queue_max > 0 ? o->queue_max : ENG_QUEUE_MAX;
	e->queue = json_array();
	e->md = pcre2_match_data_create(8, NULL);
	if (e->md == NULL || e->queue == NULL || (o->start_phase && (e->start_phase = strdup(o->start_phase)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if (o->start_phase != NULL && plan_phase_index(o->plan, o->start_phase) < 0) {
		snprintf(err, errlen, "--phase %s: no such phase in %s", o->start_phase, o->plan->file);
		rc = -ENOENT;
		goto fail;
	}
	if (o->state_dir != NULL) {
		rc = fs_mkdir_p(o->state_dir, 0755);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", o->state_dir, strerror(-rc));
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/lock", o->state_dir);
		e->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (e->lock_fd < 0 || flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, rc == -EWOULDBLOCK ?
			    "another rolloutd is executing a plan from this state directory" : strerror(-rc));
			if (rc == -EWOULDBLOCK)
				rc = -EBUSY;
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/state.json", o->state_dir);
		if ((e->state_dir = strdup(o->state_dir)) == NULL
		    || (e->state_path = strdup(path)) == NULL) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
		if (e->journal == NULL) {
			snprintf(path, sizeof(path), "%s/journal.jsonl", o->state_dir);
			rc = journal_open(&e->journal, path, err, errlen);
			if (rc != 0)
				goto fail;
			e->own_journal = 1;
		}
		rc = state_load(e->state_path, &e->st, err, errlen);
		if (rc == 0) {
			rc = eng_resume(e, o, err, errlen);
			if (rc != 0)
				goto fail;
			log_msg(LOG_LVL_INFO, ENG_SRC, "resumed %s: phase %s, state %s, seq %" PRIu64,
			    e->state_path, eng_phase(e)->name, engine_state_name(e->st.state), e->st.seq);
			*out = e;
			return 0;
		}
		if (rc != -ENOENT)
			goto fail;
		err[0] = '\0';
	}
	/* a fresh rollout */
	memset(&e->st, 0, sizeof(e->st));
	snprintf(e->st.plan_name, sizeof(e->st.plan_name), "%s", o->plan->name);
	sha_hex(o->plan->sha256, e->st.plan_sha256);
	e->st.state = ENG_PENDING;
	e->st.paused_from = ENG_PENDING;
	e->st.last_drill_ms = -1;
	e->st.next_check_ms = clock_now_ms(e->clk);
	if (e->journal != NULL)
		e->st.seq = journal_last_seq(e->journal);
	if (eng_shape_state(e) != 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	*out = e;
	return 0;
fail:
	engine_close(e);
	return rc;
}

void
engine_close(struct engine *e)
{
	if (e == NULL)
		return;
	if (e->queue != NULL && (e->state_dirty || json_array_size(e->queue) > 0)
	    && eng_flush(e) != 0) {
		json_t *rec;
		size_t i;

		/* the last chance: the records go to the log rather than nowhere */
		log_msg(LOG_LVL_ERROR, ENG_SRC, "closing with %zu journal record%s not written: %s",
		    json_array_size(e->queue), json_array_size(e->queue) == 1 ? "" : "s", e->io_err);
		json_array_foreach(e->queue, i, rec) {
			char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);

			log_msg(LOG_LVL_ERROR, ENG_SRC, "unwritten journal record: %s", text ? text : "?");
			free(text);
		}
	}
	json_decref(e->queue);
	if (e->own_journal)
		journal_close(e->journal);
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	state_clear(&e->st);
	pcre2_match_data_free(e->md);
	free(e->gview);
	free(e->tview);
	free(e->state_dir);
	free(e->state_path);
	free(e->start_phase);
	free(e);
}

/* ---- queries ------------------------------------------------------------------------------ */

int
engine_storage(const struct engine *e, size_t *queued)
{
	if (queued != NULL)
		*queued = json_array_size(e->queue);
	return e->io_rc;
}

enum engine_state
engine_state(const struct engine *e)
{
	return e->st.state;
}

int
engine_traffic(const struct engine *e)
{
	return e->st.traffic;
}

int64_t
engine_host_cursor(const struct engine *e)
{
	return e->st.host_cursor;
}

void
engine_set_host_cursor(struct engine *e, int64_t cursor)
{
	e->st.host_cursor = cursor;
}

void
engine_position(const struct engine *e, int *phase, int *step)
{
	if (phase)
		*phase = e->st.phase;
	if (step)
		*step = e->st.step;
}

static json_t *
ms_or_null(int64_t ms)
{
	char buf[40];

	return ms > 0 ? json_string(journal_time(ms, buf, sizeof(buf))) : json_null();
}

json_t *
engine_status(const struct engine *e)
{
	const struct plan_phase *ph = eng_phase(e);
	json_t *o = json_object(), *gates = json_array(), *trig = json_array();
	char hex[65], d[200];
	size_t i;

	sha_hex(e->plan->sha256, hex);
	for (i = 0; i < ph->ngates; i++) {
		const struct plan_gate *g = &ph->gates[i];
		struct gate_view *v = i < e->ngview ? &e->gview[i] : NULL;

		json_array_append_new(gates, json_pack("{s:s, s:s, s:o, s:I, s:s, s:i, s:i, s:I, s:i, s:i}",
		    "expr", g->text,
		    "verdict", v && v->evaluated ? verdict_name(v->verdict) : "not_evaluated",
		    "value", v && v->evaluated && isfinite(v->value) ? json_real(v->value) : json_null(),
		    "samples", (json_int_t)(v ? v->samples : 0),
		    "detail", v ? eng_detail(v) : "",
		    "fails", i < e->st.ngates ? e->st.gates[i].fails : 0,
		    "inconclusive", i < e->st.ngates ? e->st.gates[i].inconclusive : 0,
		    "min_samples", (json_int_t)g->min_samples,
		    "failure_limit", g->failure_limit,
		    "consecutive_errors", g->consecutive_errors));
	}
	for (i = 0; i < e->plan->ntriggers; i++) {
		const struct plan_trigger *t = &e->plan->triggers[i];
		struct gate_view *v = &e->tview[i];

		json_array_append_new(trig, json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:I, s:s, s:s, s:s}",
		    "name", t->name, "kind", t->kind == TRIGGER_EXPR ? "expr" : "match",
		    "text", t->kind == TRIGGER_EXPR ? t->when_text : t->match,
		    "armed", eng_trigger_armed(e, t),
		    "consecutive", e->st.triggers[i].consecutive,
		    "for", t->for_checks,
		    "matches", e->st.triggers[i].nmatches,
		    "window_ms", (json_int_t)t->window_ms,
		    "on_fail", plan_on_fail_name(t->on_fail),
		    "verdict", v->evaluated ? verdict_name(v->verdict) : "not_evaluated",
		    "detail", eng_detail(v)));
	}
	json_object_set_new(o, "plan", json_string(e->plan->name));
	json_object_set_new(o, "plan_file", json_string(e->plan->file ? e->plan->file : ""));
	json_object_set_new(o, "plan_sha256", json_string(hex));
	json_object_set_new(o, "state", json_string(engine_state_name(e->st.state)));
	json_object_set_new(o, "pause_reason", json_string(state_pause_reason_name(e->st.pause_reason)));
	json_object_set_new(o, "phase", json_string(ph->name));
	json_object_set_new(o, "phase_index", json_integer(e->st.phase));
	json_object_set_new(o, "phases", json_integer((json_int_t)e->plan->nphases));
	json_object_set_new(o, "step", json_integer(e->st.step + 1));
	json_object_set_new(o, "steps", json_integer((json_int_t)ph->nsteps));
	json_object_set_new(o, "step_desc", json_string(pos_desc(e->plan, e->st.phase, e->st.step, d, sizeof(d))));
	json_object_set_new(o, "traffic", json_integer(e->st.traffic));
	json_object_set_new(o, "started_at", ms_or_null(e->st.started_at_ms));
	json_object_set_new(o, "entered_at", ms_or_null(e->st.entered_at_ms));
	json_object_set_new(o, "hold_until", e->st.state == ENG_HOLDING ? ms_or_null(e->st.hold_until_ms) : json_null());
	json_object_set_new(o, "paused_at", e->st.state == ENG_PAUSED ? ms_or_null(e->st.paused_at_ms) : json_null());
	json_object_set_new(o, "next_check", ms_or_null(e->st.next_check_ms));
	json_object_set_new(o, "seq", json_integer((json_int_t)e->st.seq));
	json_object_set_new(o, "storage", json_pack("{s:b, s:o, s:I}", "ok", e->io_rc == 0,
	    "error", e->io_rc != 0 ? json_string(e->io_err) : json_null(),
	    "queued", (json_int_t)json_array_size(e->queue)));
	json_object_set_new(o, "gates", gates);
	json_object_set_new(o, "triggers", trig);
	json_object_set_new(o, "safety", json_pack("{s:o, s:I}", "last_drill_ms",
	    e->st.last_drill_ms >= 0 ? json_integer(e->st.last_drill_ms) : json_null(),
	    "rollbacks", (json_int_t)e->st.rollbacks));
	return o;
}

/*
 * simulate.c — rolloutd --simulate SCENARIO and --explain (rolloutd(8)).
 *
 * The simulator runs the real engine on a virtual clock against the
 * scenario's metric streams and events and prints the timeline of
 * transitions.  With --data-dir it keeps state.json, the journal and the
 * flags file there, and a restart resumes the simulation where the state
 * file says (virtual time included): the crash test kills it with SIGKILL
 * and checks the journal against an uninterrupted run.  Without --data-dir
 * it runs in memory and writes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "engine.h"
#include "flags.h"
#include "fsutil.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "rolloutd.h"
#include "scenario.h"
#include "state.h"

struct sim {
	const struct scenario *sc;
	struct clock *clk;
	struct metrics *m;
	struct metrics_series **series;
	int64_t *next;                  /* per metric: next sample offset */
	uint64_t samples;
	int quiet;
};

static void
sim_offset(const struct sim *s, int64_t at, char *buf, size_t len)
{
	int64_t off = (at - s->sc->start_ms) / 1000;

	snprintf(buf, len, "+%" PRId64 "d%02d:%02d:%02d", off / 86400, (int)(off % 86400 / 3600),
	    (int)(off % 3600 / 60), (int)(off % 60));
}

static void
sim_transition(void *ctx, int64_t at, const char *line)
{
	struct sim *s = ctx;
	char off[40];

	if (s->quiet)
		return;
	sim_offset(s, at, off, sizeof(off));
	printf("%-13s %s\n", off, line);
}

static int
sim_call(void *ctx, const char *system, const char *command, const char *arg, char *reply,
    size_t replylen)
{
	(void)ctx;
	snprintf(reply, replylen, "simulated %s %s%s%s", system, command, arg ? " " : "",
	    arg ? arg : "");
	return 0;
}

/* Feed every metric's samples with offset <= UPTO. */
static void
sim_feed(struct sim *s, int64_t upto)
{
	size_t i;

	for (i = 0; i < s->sc->nmetrics; i++) {
		const struct scenario_metric *m = &s->sc->metrics[i];
		int64_t t = s->next[i];
		double v;

		for (; t <= upto; t += m->every_ms) {
			if (scenario_value(s->sc, m, t, &v) == 0) {
				metrics_series_record(s->series[i], s->sc->start_ms + t, v);
				s->samples++;
			}
		}
		s->next[i] = t;
	}
}

static int64_t
sim_now(void *ctx)
{
	return clock_now_ms(ctx);
}

static int
sim_exit_code(enum engine_state st)
{
	switch (st) {
	case ENG_COMPLETED: return 0;
	case ENG_ROLLED_BACK: return 2;
	case ENG_PAUSED: return 3;
	case ENG_ABORTED: return 4;
	default: return 5;
	}
}

static void
report_plan(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static int
declare_flags(struct flags *f, const struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nflags; i++) {
		const struct plan_flag_decl *fd = &p->flags[i];
		struct flag_value v;
		int rc;

		memset(&v, 0, sizeof(v));
		v.type = (enum flag_type)fd->type;
		v.b = fd->def_b;
		v.i = fd->def_i;
		if (fd->def_s != NULL)
			snprintf(v.s, sizeof(v.s), "%s", fd->def_s);
		rc = flags_declare(f, fd->name, (enum flag_type)fd->type, fd->min, fd->max, &v);
		if (rc != 0 && rc != -EEXIST) {
			fprintf(stderr, "rolloutd: %s:%d:%d: flag %s: %s\n", fd->pos.file, fd->pos.line,
			    fd->pos.col, fd->name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int
simulate_main(const struct rolloutd_opts *o)
{
	struct scenario *sc = NULL;
	struct plan *plan = NULL;
	struct flags *flags = NULL;
	struct engine *e = NULL;
	struct engine_opts eo = { 0 };
	struct sim s = { 0 };
	char err[1024], state_dir[4096], path[4200], off[40];
	int64_t now, end, engine_next, start;
	size_t i, cursor = 0;
	int rc, status = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);    /* the timeline survives a kill */
	log_set_plain(1);
	if (o->verbose == 0)
		log_set_level(LOG_LVL_WARN);
	if (plan_load(o->plan, &plan, report_plan, NULL) != 0)
		return 1;
	if ((rc = scenario_load(o->simulate, &sc, err, sizeof(err))) != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		plan_free(plan);
		return 1;
	}
	s.sc = sc;
	start = sc->start_ms;
	/* resuming: the virtual clock continues from the state file's time */
	if (o->data_dir != NULL) {
		struct rollout_state st;

		snprintf(state_dir, sizeof(state_dir), "%s/state", o->data_dir);
		snprintf(path, sizeof(path), "%s/state.json", state_dir);
		rc = state_load(path, &st, err, sizeof(err));
		if (rc == 0) {
			start = st.now_ms > sc->start_ms ? st.now_ms : sc->start_ms;
			state_clear(&st);
		} else if (rc != -ENOENT) {
			fprintf(stderr, "rolloutd: %s\n", err);
			goto out;
		}
	}
	s.clk = clock_virtual(start);
	s.series = calloc(sc->nmetrics + 1, sizeof(*s.series));
	s.next = calloc(sc->nmetrics + 1, sizeof(*s.next));
	if (s.clk == NULL || s.series == NULL || s.next == NULL || metrics_create(&s.m, s.clk) != 0) {
		fprintf(stderr, "rolloutd: out of memory\n");
		goto out;
	}
	for (i = 0; i < sc->nmetrics; i++)
		if ((s.series[i] = metrics_series(s.m, sc->metrics[i].name)) == NULL) {
			fprintf(stderr, "rolloutd: out of memory\n");
			goto out;
		}
	/* what an uninterrupted run had fed by now */
	if (start > sc->start_ms)
		sim_feed(&s, start - sc->start_ms);
	if (o->data_dir != NULL) {
		char fpath[4200], jpath[4200];

		snprintf(fpath, sizeof(fpath), "%s/config/feature-flags.conf", o->data_dir);
		snprintf(jpath, sizeof(jpath), "%s/journal.jsonl", state_dir);
		if ((rc = fs_mkdir_p(state_dir, 0755)) != 0) {
			fprintf(stderr, "rolloutd: %s: %s\n", state_dir, strerror(-rc));
			goto out;
		}
		rc = flags_open(&flags, fpath, jpath, err, sizeof(err));
		if (rc != 0 && flags == NULL) {
			fprintf(stderr, "rolloutd: %s\n", err);
			goto out;
		}
		if (rc != 0)
			fprintf(stderr, "rolloutd: warning: %s\n", err);
		/* flag audit records carry the simulated time, like the engine's */
		flags_set_clock(flags, sim_now, s.clk);
		if (declare_flags(flags, plan) != 0)
			goto out;
		eo.state_dir = state_dir;
	}
	eo.plan = plan;
	eo.clock = s.clk;
	eo.metrics = s.m;
	eo.flags = flags;
	eo.hooks.ctx = &s;
	eo.hooks.transition = sim_transition;
	eo.hooks.call = sim_call;
	eo.accept_plan_change = o->accept_plan_change;
	eo.start_phase = o->phase;
	if (engine_open(&e, &eo, err, sizeof(err)) != 0) {
		fprintf(stderr, "rolloutd: %s\n", err);
		goto out;
	}
	cursor = (size_t)engine_host_cursor(e);
	if (start > sc->start_ms && !s.quiet) {
		sim_offset(&s, start, off, sizeof(off));
		printf("%-13s resumed from %s: %s\n", off, state_dir, engine_state_name(engine_state(e)));
	}
	end = sc->start_ms + sc->duration_ms;
	now = start;
	engine_next = now;
	for (;;) {
		enum engine_state st = engine_state(e);
		int64_t target = engine_next;

		/* stopped, and no scripted operator will ever come to move it on */
		if ((st == ENG_COMPLETED || st == ENG_ROLLED_BACK || st == ENG_ABORTED
		    || st == ENG_PAUSED) && cursor >= sc->nevents)
			break;
		if (cursor < sc->nevents && sc->start_ms + sc->events[cursor].at_ms < target)
			target = sc->start_ms + sc->events[cursor].at_ms;
		if (target > end)
			target = end;
		if (target < now)
			target = now;
		sim_feed(&s, target - sc->start_ms);
		clock_set(s.clk, target);
		now = target;
		while (cursor < sc->nevents && sc->start_ms + sc->events[cursor].at_ms <= now) {
			const struct scenario_event *ev = &sc->events[cursor++];

			engine_set_host_cursor(e, (int64_t)cursor);
			if (ev->action != 0) {
				struct engine_actor who = { ev->who ? ev->who : "cli", NULL, ev->reason };

				if (engine_act(e, ev->action, ev->arg, &who, err, sizeof(err)) != 0 && !s.quiet) {
					sim_offset(&s, now, off, sizeof(off));
					printf("%-13s %s by %s refused: %s\n", off,
					    engine_action_name(ev->action), who.who, err);
				}
			} else {
				engine_log_line(e, ev->source ? ev->source : "candidate", ev->log);
			}
			engine_next = now;
		}
		if (now >= engine_next)
			engine_next = engine_tick(e);
		if (now >= end)
			break;
	}
	status = sim_exit_code(engine_state(e));
	{
		json_t *js = engine_status(e);

		sim_offset(&s, clock_now_ms(s.clk), off, sizeof(off));
		printf("%-13s result: %s%s%s (phase %s, traffic %d%%), exit %d\n", off,
		    engine_state_name(engine_state(e)), engine_state(e) == ENG_PAUSED ? " by " : "",
		    engine_state(e) == ENG_PAUSED ? json_string_value(json_object_get(js, "pause_reason")) : "",
		    json_string_value(json_object_get(js, "phase")), engine_traffic(e), status);
		if (o->verbose)
			fprintf(stderr, "rolloutd: simulated %" PRIu64 " samples of %zu metrics\n",
			    s.samples, sc->nmetrics);
		json_decref(js);
	}
out:
	engine_close(e);
	flags_close(flags);
	metrics_free(s.m);
	clock_free(s.clk);
	free(s.series);
	free(s.next);
	scenario_free(sc);
	plan_free(plan);
	fflush(stdout);
	return status;
}

/* ---- --explain ------------------------------------------------------------------ */

int
explain_main(const struct rolloutd_opts *o)
{
	struct plan *p = NULL;
	int64_t total = 0, worst_gate = 0;
	const char *worst_where = "";
	char d1[32], d2[32], d3[32], where[160] = "";
	int approvals = 0;
	size_t i, k;

	if (plan_load(o->plan, &p, report_plan, NULL) != 0)
		return 1;
	printf("plan %s (%s), tick %s\n\n", p->name, o->plan, duration_format(p->tick_ms, d1, sizeof(d1)));
	printf("%-14s %5s %10s %9s %5s %-9s %12s\n", "phase", "steps", "holds", "approvals", "gates",
	    "on_fail", "cumulative");
	for (i = 0; i < p->nphases; i++) {
		const struct plan_phase *ph = &p->phases[i];
		int64_t holds = ph->hold_ms, longest = ph->hold_ms;
		int appr = 0;

		for (k = 0; k < ph->nsteps; k++) {
			holds += ph->steps[k].hold_ms;
			if (ph->steps[k].hold_ms > longest)
				longest = ph->steps[k].hold_ms;
			if (ph->steps[k].kind == STEP_APPROVE)
				appr++;
		}
		total += holds;
		approvals += appr;
		if (ph->ngates > 0) {
			int fl = 0;
			int64_t t;

			for (k = 0; k < ph->ngates; k++)
				if (ph->gates[k].failure_limit > fl)
					fl = ph->gates[k].failure_limit;
			/* bad right after the longest hold began: seen at its end, then FL more ticks */
			t = longest + (int64_t)fl * p->tick_ms;
			if (t > worst_gate) {
				worst_gate = t;
				snprintf(where, sizeof(where), "phase %s: longest hold %s + failure_limit %d x tick",
				    ph->name, duration_format(longest, d1, sizeof(d1)), fl);
				worst_where = where;
			}
		}
		printf("%-14s %5zu %10s %9d %5zu %-9s %12s\n", ph->name, ph->nsteps,
		    duration_format(holds, d1, sizeof(d1)), appr, ph->ngates,
		    plan_on_fail_name(ph->on_fail), duration_format(total, d2, sizeof(d2)));
	}
	printf("\nminimum duration: %s", duration_format(total, d1, sizeof(d1)));
	if (approvals)
		printf(" + %d manual approval%s", approvals, approvals == 1 ? "" : "s");
	printf(" (every hold served, every gate passing at its first evaluation)\n");
	printf("\nworst-case time to roll back once the candidate goes bad:\n");
	for (i = 0; i < p->ntriggers; i++) {
		const struct plan_trigger *t = &p->triggers[i];

		if (t->kind == TRIGGER_EXPR)
			printf("  trigger %-24s %s (%d check%s x tick %s), from phase %s\n", t->name,
			    duration_format((int64_t)t->for_checks * p->tick_ms, d1, sizeof(d1)),
			    t->for_checks, t->for_checks == 1 ? "" : "s",
			    duration_format(p->tick_ms, d2, sizeof(d2)),
			    t->from_phase ? t->from_phase : p->phases[0].name);
		else
			printf("  trigger %-24s at the %d%s match within %s (no tick wait), from phase %s\n",
			    t->name, t->count, t->count == 1 ? "st" : t->count == 2 ? "nd" :
			    t->count == 3 ? "rd" : "th", duration_format(t->window_ms, d1, sizeof(d1)),
			    t->from_phase ? t->from_phase : p->phases[0].name);
	}
	if (worst_gate > 0)
		printf("  gates only                       %s (%s; gates are checked at the end of each hold)\n",
		    duration_format(worst_gate, d3, sizeof(d3)), worst_where);
	printf("  the rollback itself              traffic 0 in one flags write, no gates, no network "
	    "(drills record it as safety.last_drill_ms)\n");
	plan_free(p);
	return 0;
}

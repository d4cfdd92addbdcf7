/*
 * rolloutd.h — the daemon's command-line options, shared by its modes:
 * check (rolloutd.c), simulate/explain (simulate.c) and run (daemon.c).
 */
#ifndef ROLLOUT_ROLLOUTD_H
#define ROLLOUT_ROLLOUTD_H

#include <stdint.h>

struct rolloutd_opts {
	const char *plan;              /* --plan FILE (required) */
	const char *data_dir;          /* --data-dir DIR, default $DATA_PATH or ./data */
	const char *plugin_dir;        /* --plugin-dir DIR */
	const char *listen;            /* --listen ADDR:PORT, default 127.0.0.1:3002 */
	int allow_remote;              /* --allow-remote: permit a non-loopback --listen */
	int read_only;                 /* --read-only: API refuses every mutating route */
	const char *simulate;          /* --simulate SCENARIO */
	int explain;                   /* --explain */
	const char *phase;             /* --phase NAME: skip to a named phase */
	int accept_plan_change;        /* --accept-plan-change */
	double speed;                  /* --speed N: time acceleration (1 = real time) */
	const char *web_dir;           /* --web-dir DIR (dashboard files) */
	int verbose;                   /* -v (repeatable) */
	int exit_when_done;            /* --exit-when-done: stop once the plan completes/rolls back */
};

/* rolloutd --simulate / --explain.  Returns the process exit status. */
int simulate_main(const struct rolloutd_opts *o);
int explain_main(const struct rolloutd_opts *o);
/* rolloutd --plan FILE: run the daemon.  Returns the process exit status. */
int daemon_main(const struct rolloutd_opts *o);

#endif

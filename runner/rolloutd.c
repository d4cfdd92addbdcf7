/*
 * rolloutd.c — entry point: parse options, then check, simulate, explain or
 * run (rolloutd(8)).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "log.h"
#include "plan.h"
#include "rolloutd.h"
#include "rules.h"
#include "whale.h"

#define ROLLOUTD_VERSION "0.1.0"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rolloutd [-nv] --plan FILE [--data-dir DIR] [--plugin-dir DIR]\n"
	    "                [--listen ADDR:PORT [--allow-remote]] [--read-only]\n"
	    "                [--phase NAME] [--accept-plan-change] [--speed N]\n"
	    "                [--web-dir DIR] [--exit-when-done]\n"
	    "       rolloutd --plan FILE --simulate SCENARIO\n"
	    "       rolloutd --plan FILE --explain\n"
	    "       rolloutd -n|--check --plan FILE\n"
	    "see rolloutd(8)\n");
}

static void
report_stderr(void *ctx, const char *msg)
{
	int *count = ctx;

	fprintf(stderr, "%s\n", msg);
	(*count)++;
}

/*
 * The rules: block is checked by the rules themselves (rules.c, whale.c), so
 * -n reports what the daemon would refuse at start.  0 or -EINVAL (printed).
 */
static int
check_rules(const struct plan *p)
{
	const struct chain_preset *chain = chain_find(p->chain ? p->chain : CHAIN_DEFAULT);
	struct rules *r = NULL;
	char err[512] = "";
	int rc;

	if (chain == NULL)
		return 0;	/* plan_load already reported an unknown chain */
	rc = rules_create(&r, "baseline", p->rules, chain->decimals, chain->symbol,
	    chain->ss58_prefix, err, sizeof(err));
	if (rc == 0 && p->rules != NULL)
		rc = whale_install(r, p->rules, NULL, err, sizeof(err));
	rules_free(r);
	if (rc != 0)
		fprintf(stderr, "%s\n", err[0] ? err : strerror(-rc));
	return rc;
}

/* rolloutd -n: load and check the plan, print every error, exit 0 or 1. */
static int
check_main(const struct rolloutd_opts *o)
{
	struct plan *p = NULL;
	int nerr = 0, rc;

	rc = plan_load(o->plan, &p, report_stderr, &nerr);
	if (rc != 0) {
		if (nerr == 0)
			fprintf(stderr, "%s: %s\n", o->plan, strerror(-rc));
		return 1;
	}
	if (check_rules(p) != 0) {
		plan_free(p);
		return 1;
	}
	if (o->verbose)
		printf("%s: plan \"%s\" OK: %zu phases, %zu triggers\n", o->plan, p->name,
		    p->nphases, p->ntriggers);
	else
		printf("%s: OK\n", o->plan);
	plan_free(p);
	return 0;
}

int
main(int argc, char **argv)
{
	enum { O_DATA = 256, O_PLUGIN, O_LISTEN, O_REMOTE, O_RO, O_SIM, O_EXPLAIN, O_PHASE,
		O_ACCEPT, O_SPEED, O_WEB, O_EXITDONE, O_VERSION };
	static const struct option longopts[] = {
		{ "plan", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'n' },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "plugin-dir", required_argument, NULL, O_PLUGIN },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "allow-remote", no_argument, NULL, O_REMOTE },
		{ "read-only", no_argument, NULL, O_RO },
		{ "simulate", required_argument, NULL, O_SIM },
		{ "explain", no_argument, NULL, O_EXPLAIN },
		{ "phase", required_argument, NULL, O_PHASE },
		{ "accept-plan-change", no_argument, NULL, O_ACCEPT },
		{ "speed", required_argument, NULL, O_SPEED },
		{ "web-dir", required_argument, NULL, O_WEB },
		{ "exit-when-done", no_argument, NULL, O_EXITDONE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rolloutd_opts o = { 0 };
	int check = 0, c;
	char *end;

	o.speed = 1.0;
	while ((c = getopt_long(argc, argv, "np:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': check = 1; break;
		case 'p': o.plan = optarg; break;
		case 'v': o.verbose++; break;
		case 'h': usage(stdout); return 0;
		case O_DATA: o.data_dir = optarg; break;
		case O_PLUGIN: o.plugin_dir = optarg; break;
		case O_LISTEN: o.listen = optarg; break;
		case O_REMOTE: o.allow_remote = 1; break;
		case O_RO: o.read_only = 1; break;
		case O_SIM: o.simulate = optarg; break;
		case O_EXPLAIN: o.explain = 1; break;
		case O_PHASE: o.phase = optarg; break;
		case O_ACCEPT: o.accept_plan_change = 1; break;
		case O_WEB: o.web_dir = optarg; break;
		case O_EXITDONE: o.exit_when_done = 1; break;
		case O_SPEED:
			errno = 0;
			o.speed = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(o.speed >= 1.0 && o.speed <= 1e7)) {
				fprintf(stderr, "rolloutd: --speed: expected a number from 1 to 10000000, got \"%s\"\n", optarg);
				return 64;
			}
			break;
		case O_VERSION: printf("rolloutd %s\n", ROLLOUTD_VERSION); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rolloutd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 64;
	}
	if (o.plan == NULL) {
		fprintf(stderr, "rolloutd: --plan FILE is required\n");
		usage(stderr);
		return 64;
	}
	if (o.verbose > 0)
		log_set_level(o.verbose > 1 ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (check)
		return check_main(&o);
	/* a simulation touches a data directory only when --data-dir names one */
	if (o.simulate != NULL)
		return simulate_main(&o);
	if (o.explain)
		return explain_main(&o);
	if (o.data_dir == NULL)
		o.data_dir = getenv("DATA_PATH") ? getenv("DATA_PATH") : "./data";
	return daemon_main(&o);
}

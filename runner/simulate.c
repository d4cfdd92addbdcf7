/* simulate.c — rolloutd --simulate / --explain (being written; see issue 3). */
#include <stdio.h>

#include "rolloutd.h"

int
simulate_main(const struct rolloutd_opts *o)
{
	fprintf(stderr, "rolloutd: --simulate %s: the simulator is not built yet\n", o->simulate);
	return 70;
}

int
explain_main(const struct rolloutd_opts *o)
{
	fprintf(stderr, "rolloutd: --explain %s: not built yet\n", o->plan);
	return 70;
}

/* daemon.c — rolloutd --plan FILE: the running daemon (being written; see issue 10). */
#include <stdio.h>

#include "rolloutd.h"

int
daemon_main(const struct rolloutd_opts *o)
{
	fprintf(stderr, "rolloutd: %s: the daemon is not built yet\n", o->plan);
	return 70;
}

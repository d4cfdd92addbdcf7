/*
 * inproc.c — the emergency rollback without the process around it:
 * flags_emergency_rollback() on an open store (lock, re-read, write temp +
 * fsync + rename + fsync dir, audit append + fdatasync), N runs, p50/p99.
 * Built and run by bench/rollback/run.sh.  usage: inproc DIR RUNS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "flags.h"

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char path[4096], audit[4096], err[512];
	struct flags *f;
	double *lat;
	int i, n;

	if (argc != 3)
		return 64;
	n = atoi(argv[2]);
	snprintf(path, sizeof(path), "%s/config/feature-flags.conf", argv[1]);
	snprintf(audit, sizeof(audit), "%s/state/journal.jsonl", argv[1]);
	if (flags_open(&f, path, audit, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	for (i = 0; i < n; i++) {
		struct timespec t0, t1;

		if (flags_set(f, "hybridTrafficPercent", "50", "bench", NULL, err, sizeof(err)) != 0)
			return fprintf(stderr, "%s\n", err), 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (flags_emergency_rollback(f, "bench", "inproc", err, sizeof(err)) != 0)
			return fprintf(stderr, "%s\n", err), 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (flags_traffic(f) != 0)
			return 1;
		lat[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	printf("{\"label\": \"in-process flags_emergency_rollback\", \"runs\": %d, \"p50_ms\": %.2f, "
	    "\"p99_ms\": %.2f, \"max_ms\": %.2f}\n", n, lat[n / 2], lat[(n * 99 + 99) / 100 - 1],
	    lat[n - 1]);
	free(lat);
	flags_close(f);
	return 0;
}

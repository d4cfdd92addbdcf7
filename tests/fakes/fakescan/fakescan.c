/*
 * fakescan.c — a fake Subscan API for tests, on 127.0.0.1.
 *
 * usage: fakescan [--port N] [--snapshots DIR] [--api-key KEY]
 *                 [--manual-advance] [--transfers FILE]
 *                 [--synth-transfers ADDRESS:N] [--fault KIND[:COUNT[:PARAM]][@WORD]]...
 * Prints "fakescan listening on 127.0.0.1:PORT" on stdout once ready.
 * Routes and faults: scanapi.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "scanapi.h"

static void
fakescan_on_signal(int sig)
{
	(void)sig;
	httpd_stop();
}

static void
fakescan_usage(void)
{
	fprintf(stderr, "usage: fakescan [--port N] [--snapshots DIR] [--api-key KEY] "
	    "[--manual-advance] [--transfers FILE] [--synth-transfers ADDRESS:N] "
	    "[--fault KIND[:COUNT[:PARAM]][@WORD]]...\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "snapshots", required_argument, NULL, 's' },
		{ "api-key", required_argument, NULL, 'k' },
		{ "manual-advance", no_argument, NULL, 'm' },
		{ "transfers", required_argument, NULL, 't' },
		{ "synth-transfers", required_argument, NULL, 'S' },
		{ "fault", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct scanapi *api = scanapi_new();
	struct sigaction sa;
	char err[512];
	uint16_t port = 0, bound = 0;
	int c, fd, rc = 1;

	if (api == NULL) {
		fprintf(stderr, "fakescan: out of memory\n");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "p:s:k:mt:S:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			if (scanapi_load_snapshots(api, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "fakescan: %s\n", err);
				goto out;
			}
			break;
		case 'k':
			scanapi_set_api_key(api, optarg);
			break;
		case 'm':
			scanapi_set_manual_advance(api, 1);
			break;
		case 't':
			if (scanapi_load_transfers(api, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "fakescan: %s\n", err);
				goto out;
			}
			break;
		case 'S': {
			char *colon = strrchr(optarg, ':');

			if (colon == NULL) {
				fprintf(stderr, "fakescan: --synth-transfers wants ADDRESS:N\n");
				goto out;
			}
			*colon = '\0';
			scanapi_synth_transfers(api, optarg, strtoul(colon + 1, NULL, 10));
			break;
		}
		case 'f':
			if (scanapi_fault_add(api, optarg) < 0) {
				fprintf(stderr, "fakescan: bad --fault \"%s\"\n", optarg);
				goto out;
			}
			break;
		default:
			fakescan_usage();
			goto out;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fakescan_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = httpd_listen("127.0.0.1", port, &bound);
	if (fd < 0) {
		fprintf(stderr, "fakescan: listen on 127.0.0.1:%u: %s\n", port, strerror(-fd));
		goto out;
	}
	printf("fakescan listening on 127.0.0.1:%u\n", bound);
	fflush(stdout);
	rc = httpd_serve(fd, scanapi_handle, api);
	close(fd);
	if (rc == -EBUSY)
		return 0; /* a handler still runs: leave the ledger to the exit */
	rc = rc < 0 ? 1 : 0;
out:
	scanapi_free(api);
	return rc;
}

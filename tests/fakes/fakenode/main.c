/*
 * fakenode — a fake Polkadot node for tests: JSON-RPC 2.0 over WebSocket on
 * 127.0.0.1:PORT serving a generated ledger (see noderpc.h for the methods
 * and the control commands, ledger.h for the chain state).
 *
 *   fakenode [--port N] [--port-file FILE] [--accounts N] [--seed S]
 *            [--block-ms MS] [--changes K] [--finality-lag N]
 *            [--script FILE] [--tls-cert PEM --tls-key PEM] [--addresses FILE]
 *            [--quiet]
 *
 * --script runs control commands (one per line, '#' comments) before
 * serving.  --port 0 picks a free port; --port-file receives it.
 * --addresses writes the generated accounts' SS58 addresses (Polkadot
 * prefix 0), one a line, so a benchmark can watch the same accounts.
 * Control at run time: POST /control (body: commands), GET /status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "noderpc.h"
#include "ss58.h"

static volatile sig_atomic_t fakenode_stop;

static void
fakenode_signal(int sig)
{
	(void)sig;
	fakenode_stop = 1;
}

static void
fakenode_usage(void)
{
	fprintf(stderr, "usage: fakenode [--port N] [--port-file FILE] [--accounts N] [--seed S]\n"
	    "                [--block-ms MS] [--changes K] [--finality-lag N] [--script FILE]\n"
	    "                [--tls-cert PEM --tls-key PEM] [--addresses FILE] [--quiet]\n");
	exit(2);
}

static int
fakenode_script(struct noderpc *n, const char *path)
{
	char line[1024], reply[4096];
	FILE *f = fopen(path, "r");
	int lineno = 0;

	if (f == NULL) {
		fprintf(stderr, "fakenode: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (noderpc_control(n, line, reply, sizeof(reply)) < 0) {
			fprintf(stderr, "fakenode: %s:%d: %s\n", path, lineno, reply);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* Write every account's SS58 address (prefix 0) to PATH, one a line. */
static int
fakenode_addresses(const struct ledger *l, const char *path)
{
	char addr[SS58_MAX_LEN];
	FILE *f = fopen(path, "w");
	size_t i;

	if (f == NULL) {
		fprintf(stderr, "fakenode: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < ledger_naccounts(l); i++) {
		if (ss58_encode(ledger_account(l, i)->pubkey, 0, addr, sizeof(addr)) < 0)
			continue;
		fprintf(f, "%s\n", addr);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "fakenode: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct noderpc_opts o;
	const char *script = NULL, *port_file = NULL, *addresses = NULL;
	unsigned long accounts = 100, seed = 1;
	struct ledger *l;
	struct noderpc *n;
	struct sigaction sa;
	int i;

	memset(&o, 0, sizeof(o));
	o.finality_lag = 2;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quiet") == 0) {
			o.quiet = 1;
			continue;
		}
		if (v == NULL)
			fakenode_usage();
		if (strcmp(a, "--port") == 0)
			o.port = atoi(v);
		else if (strcmp(a, "--port-file") == 0)
			port_file = v;
		else if (strcmp(a, "--accounts") == 0)
			accounts = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			seed = strtoul(v, NULL, 10);
		else if (strcmp(a, "--block-ms") == 0)
			o.block_ms = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--changes") == 0)
			o.changes_per_block = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--finality-lag") == 0)
			o.finality_lag = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--script") == 0)
			script = v;
		else if (strcmp(a, "--tls-cert") == 0)
			o.tls_cert = v;
		else if (strcmp(a, "--tls-key") == 0)
			o.tls_key = v;
		else if (strcmp(a, "--addresses") == 0)
			addresses = v;
		else
			fakenode_usage();
		i++;
	}
	l = ledger_new((int64_t)time(NULL) * 1000, seed);
	if (l == NULL || ledger_generate(l, accounts) < 0) {
		fprintf(stderr, "fakenode: out of memory\n");
		return 1;
	}
	if (addresses != NULL && fakenode_addresses(l, addresses) < 0)
		return 1;
	n = noderpc_new(l, &o);
	if (n == NULL)
		return 1;
	if (script != NULL && fakenode_script(n, script) < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fakenode_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (port_file != NULL) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%d\n", noderpc_port(n)) < 0 || fclose(f) != 0 ||
		    rename(tmp, port_file) != 0) {
			fprintf(stderr, "fakenode: %s: %s\n", port_file, strerror(errno));
			return 1;
		}
	}
	printf("fakenode: listening on 127.0.0.1:%d (%zu accounts)\n", noderpc_port(n),
	    ledger_naccounts(l));
	fflush(stdout);
	while (!fakenode_stop && noderpc_service(n) >= 0)
		;
	noderpc_free(n);
	ledger_free(l);
	return 0;
}

/*
 * host.h — the runner's implementation of struct rollout_host (the API a
 * plugin gets in init()).  One host per plugin instance (baseline,
 * candidate, alerting).  emit/log/metric/now are thread-safe: they go
 * through the bus; the cfg_* accessors read the plugin's own `with:`
 * subtree (struct ynode, owned by the plan) and report errors as
 * "FILE:LINE:COL: <instance>: key: expected ...".
 */
#ifndef ROLLOUT_HOST_H
#define ROLLOUT_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "rollout/plugin.h"

struct bus;
struct clock;
struct ynode;
struct chain_preset;

struct host {
	struct rollout_host api;      /* what the plugin sees; api.ctx points back here */
	char instance[32];
	char data_dir[1024];
	struct bus *bus;
	int source;                   /* index the bus items carry */
	struct clock *clock;
	char first_error[512];        /* first config error reported (for pipeline_open's ERR) */
};

/*
 * Fill H for INSTANCE.  DATA_DIR, CHAIN (may be NULL: no preset fields),
 * WITH (may be NULL), BUS and CLOCK are borrowed and must outlive H.
 */
void host_init(struct host *h, const char *instance, const char *data_dir,
    const struct chain_preset *chain, const struct ynode *with, struct bus *bus, int source,
    struct clock *clock);

#endif

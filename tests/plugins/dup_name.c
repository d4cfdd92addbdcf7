/* dup_name.so — a broken plugin for the loader failure matrix (test_loader): claims the name scripted */
#include <errno.h>
#include <stddef.h>

#include "rollout/plugin.h"

static int bp_init(const struct rollout_host *h, void **self) { (void)h; *self = NULL; return 0; }
static int bp_start(void *self) { (void)self; return 0; }
static void bp_stop(void *self) { (void)self; }
static void bp_destroy(void *self) { (void)self; }

static const struct rollout_plugin bp = {
	.magic = ROLLOUT_PLUGIN_MAGIC, .abi = ROLLOUT_PLUGIN_ABI, .size = sizeof(struct rollout_plugin), .name = "scripted", .version = "0",
	.description = "claims the name scripted",
	.init = bp_init, .start = bp_start, .stop = bp_stop, .destroy = bp_destroy,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &bp;
}

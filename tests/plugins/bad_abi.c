/* bad_abi.so — a broken plugin for the loader failure matrix (test_loader): built for ABI 99 */
#include <errno.h>
#include <stddef.h>

#include "rollout/plugin.h"

static int bp_init(const struct rollout_host *h, void **self) { (void)h; *self = NULL; return 0; }
static int bp_start(void *self) { (void)self; return 0; }
static void bp_stop(void *self) { (void)self; }
static void bp_destroy(void *self) { (void)self; }

static const struct rollout_plugin bp = {
	.magic = ROLLOUT_PLUGIN_MAGIC, .abi = 99u, .size = sizeof(struct rollout_plugin), .name = "bad_abi", .version = "0",
	.description = "built for ABI 99",
	.init = bp_init, .start = bp_start, .stop = bp_stop, .destroy = bp_destroy,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &bp;
}

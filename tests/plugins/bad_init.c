/* bad_init.so — a broken plugin for the loader failure matrix (test_loader): init fails with a config error */
#include <errno.h>
#include <stddef.h>

#include "rollout/plugin.h"

/* Reads `answer` (0..10): a bad value fails with the host's FILE:LINE:COL line; otherwise refuses anyway. */
static int
bp_init(const struct rollout_host *h, void **self)
{
	long long n;

	(void)self;
	if (h->cfg_int(h->ctx, NULL, "answer", 0, 10, 0, &n) == -EINVAL)
		return -EINVAL;
	h->cfg_error(h->ctx, NULL, "refusing to start");
	return -EINVAL;
}
static int bp_start(void *self) { (void)self; return 0; }
static void bp_stop(void *self) { (void)self; }
static void bp_destroy(void *self) { (void)self; }

static const struct rollout_plugin bp = {
	.magic = ROLLOUT_PLUGIN_MAGIC, .abi = ROLLOUT_PLUGIN_ABI, .size = sizeof(struct rollout_plugin), .name = "bad_init", .version = "0",
	.description = "init fails with a config error",
	.init = bp_init, .start = bp_start, .stop = bp_stop, .destroy = bp_destroy,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &bp;
}

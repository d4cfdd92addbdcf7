/*
 * fuzz_plan.c — libFuzzer harness for the YAML tree and the plan checker.
 * Every input must either load (and then free cleanly) or be refused with
 * at least one message; nothing may crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "ynode.h"

static void
count_msg(void *ctx, const char *msg)
{
	(*(size_t *)ctx)++;
	if (msg == NULL || msg[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ynode *root = NULL;
	struct plan *p = NULL;
	size_t nmsg = 0;
	char err[512];
	int rc;

	if (ynode_load_buffer("fuzz.yaml", (const char *)data, size, &root, err, sizeof(err)) == 0)
		ynode_free(root);
	else if (err[0] == '\0')
		abort();
	/* a directory that does not exist: relative include: entries cannot reach real files */
	rc = plan_load_buffer("/nonexistent-fuzz-dir/plan.yaml", (const char *)data, size, &p,
	    count_msg, &nmsg);
	if (rc == 0) {
		if (p == NULL || nmsg != 0)
			abort();
		plan_free(p);
	} else if (p != NULL || nmsg == 0) {
		abort();
	}
	return 0;
}

/* bad_nosym.so — a shared object without the entry symbol (test_loader). */
#include "rollout/plugin.h"

ROLLOUT_EXPORT int rollout_not_the_entry(void);

ROLLOUT_EXPORT int
rollout_not_the_entry(void)
{
	return 42;
}

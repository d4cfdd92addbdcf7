/* chain.c — see chain.h. */
#include "chain.h"

#include <string.h>

static const struct chain_preset presets[] = {
	{ "polkadot-assethub", 0, 10, "DOT", "wss://polkadot-asset-hub-rpc.polkadot.io",
	  "https://assethub-polkadot.api.subscan.io" },
	{ "polkadot", 0, 10, "DOT", "wss://rpc.polkadot.io", "https://polkadot.api.subscan.io" },
	{ "kusama", 2, 12, "KSM", "wss://kusama-rpc.polkadot.io", "https://kusama.api.subscan.io" },
	{ "westend", 42, 12, "WND", "wss://westend-rpc.polkadot.io", "https://westend.api.subscan.io" },
	{ NULL, 0, 0, NULL, NULL, NULL },
};

const struct chain_preset *
chain_find(const char *name)
{
	const struct chain_preset *p;

	for (p = presets; name != NULL && p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

const struct chain_preset *
chain_presets(void)
{
	return presets;
}

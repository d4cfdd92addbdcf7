/*
 * chain.h — chain presets: what `chain:` in a plan selects.
 * Since November 2025 DOT balances live on Polkadot Asset Hub, so that is
 * the default; the relay chains and Westend are available too.
 */
#ifndef ROLLOUT_CHAIN_H
#define ROLLOUT_CHAIN_H

#include <stdint.h>

struct chain_preset {
	const char *name;          /* "polkadot-assethub" */
	uint16_t ss58_prefix;
	uint8_t decimals;
	const char *symbol;
	const char *rpc;           /* default WebSocket endpoint */
	const char *subscan;       /* default Subscan API base URL */
};

#define CHAIN_DEFAULT "polkadot-assethub"

/* The preset named NAME, or NULL. */
const struct chain_preset *chain_find(const char *name);
/* All presets, terminated by an entry whose name is NULL. */
const struct chain_preset *chain_presets(void);

#endif

/*
 * header.h — Substrate block header hashes: BLAKE2b-256 of the SCALE
 * header (parent_hash, Compact<number>, state_root, extrinsics_root,
 * digest = Compact<count> ++ the SCALE DigestItems).  Lets the watcher learn
 * a block's hash from a chain_newHead notification (which carries no hash).
 * Owned by the rpc_watcher engineer (issue 6).  Pure; caller owns buffers.
 */
#ifndef ROLLOUT_HEADER_H
#define ROLLOUT_HEADER_H

#include <stddef.h>
#include <stdint.h>

/* LOGS: NLOGS SCALE-encoded DigestItems, concatenated (LOGS_LEN bytes). */
void header_hash(const uint8_t parent[32], uint64_t number, const uint8_t state_root[32],
    const uint8_t extrinsics_root[32], size_t nlogs, const uint8_t *logs, size_t logs_len,
    uint8_t out[32]);

#endif

/*
 * noderpc.h — the JSON-RPC 2.0 over WebSocket face of the fake Polkadot
 * node: serves a struct ledger on 127.0.0.1:PORT with the legacy Substrate
 * methods (rpc_methods, system_health, chain_getHeader, chain_getBlockHash,
 * chain_getFinalizedHead, chain_subscribeNewHeads/FinalizedHeads,
 * state_subscribeStorage, state_queryStorageAt, state_getStorage and the
 * unsubscribe calls), plus an HTTP control channel on the same port
 * (POST /control with one command per line, GET /status) to produce
 * blocks and inject faults.  See noderpc_control() for the commands.
 *
 * Single-threaded: everything runs inside noderpc_service().  Reused by the
 * simulated chain (issue 11).
 */
#ifndef FAKENODE_NODERPC_H
#define FAKENODE_NODERPC_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

struct noderpc_opts {
	const char *iface;              /* default "127.0.0.1" */
	int port;                       /* 0: let the kernel pick (see noderpc_port) */
	unsigned finality_lag;          /* finalized = best - lag (default 2) */
	unsigned block_ms;              /* > 0: produce a block every BLOCK_MS */
	unsigned changes_per_block;     /* random changes staged before each auto block */
	unsigned max_subscriptions;     /* per connection (default 1024) -> -32006 */
	size_t max_request_bytes;       /* default 15 MiB -> -32007 */
	int quiet;                      /* no per-connection log lines */
	const char *tls_cert;           /* both set: wss:// and https:// (PEM files) */
	const char *tls_key;
};

struct noderpc;

/*
 * Listen on OPTS->iface:port serving LEDGER (borrowed: must outlive the
 * node).  NULL after printing why on stderr.
 */
struct noderpc *noderpc_new(struct ledger *ledger, const struct noderpc_opts *opts);
/* The port actually listened on. */
int noderpc_port(const struct noderpc *n);
/* Run the event loop once (waits for I/O or a timer).  <0 when the context is gone. */
int noderpc_service(struct noderpc *n);
/* Produce a block from the staged changes and notify subscribers.  Returns the block. */
const struct ledger_block *noderpc_block(struct noderpc *n);
/*
 * The same with block time TIME_MS (Timestamp.Now; at least the previous
 * block's + 1 ms): the simulated chain's accelerated time line.
 */
const struct ledger_block *noderpc_block_at(struct noderpc *n, int64_t time_ms);
/*
 * Run one control command (the same as a line POSTed to /control) and write
 * a one-line reply into REPLY.  Returns 0 or -EINVAL (unknown/bad command).
 * Commands:
 *   block [N]                  produce N blocks (default 1) with what is staged
 *   random K                   stage K random balance changes
 *   set PK|SS58 FREE [RESERVED [FROZEN [NONCE]]]   stage a value
 *   reap PK|SS58               stage a null (reaped) value
 *   generate N                 add N accounts (at genesis, or staged)
 *   get PK|SS58                current value and number of value changes (JSON)
 *   drop                       close every WebSocket connection abruptly
 *   stall MS                   hold all output for MS ms (-1: until "stall 0")
 *   malformed                  send every kind of malformed message to every client
 *   mutate N SEED              send N random mutations of a real storage notification
 *   oversized BYTES            send one BYTES-long text message to every client
 *   error CODE COUNT [METHOD]  answer the next COUNT calls of METHOD
 *                              (default state_subscribeStorage) with error CODE
 *   limit subs N | limit bytes N   per-connection subscriptions / request size
 *   subid int|string           subscription id type for new subscriptions
 *   hexpad on|off              zero-padded hex block numbers in headers
 *   ooo                        publish the next two blocks in reverse order
 *   nohead on|off              do not send chain_newHead notifications
 *   unknown                    send a notification with an unknown method
 *   status                     the same JSON as GET /status
 */
int noderpc_control(struct noderpc *n, const char *line, char *reply, size_t replylen);
/* Write the status JSON (best, finalized, connections, subscriptions, keys, requests). */
void noderpc_status(struct noderpc *n, char *out, size_t outlen);
void noderpc_free(struct noderpc *n);

#endif

/*
 * scanapi.h — the fake Subscan's API semantics, separate from its HTTP
 * transport (httpd.h) and its command line (fakescan.c) so the simulated
 * chain (issue 11) can serve the same routes from its own ledger.
 *
 * Routes (POST, JSON bodies, X-API-Key checked when a key is set):
 *   /api/v2/scan/accounts   {order_field:"balance", order:"desc", row<=100, page>=0}
 *                           pages of the current snapshot; a page-0 request
 *                           after a successfully served page starts a new
 *                           cycle and moves to the next snapshot (the last
 *                           one repeats), unless advancing is manual.
 *   /api/v2/scan/transfers  {address, block_range:"A-B", row<=100, page, after_id}
 *                           scripted transfers, newest first; page*row > 10000
 *                           is refused (code 10001) as Subscan does: use after_id.
 * Control (no key):
 *   GET  /_fake/stats          requests, per-second counts, request log
 *   POST /_fake/stats/reset
 *   POST /_fake/fault          body "KIND[:COUNT[:PARAM]]" (COUNT * = until cleared)
 *   POST /_fake/fault/clear
 *   POST /_fake/advance        body "" (next) or an index
 *   POST /_fake/transfers      body: a Subscan transfer object or an array of
 *                              them, added to the scripted transfers (any
 *                              content: tests push malformed items too)
 * A fault spec may end in "@WORD": it then hits only requests whose path
 * contains WORD (e.g. "500:1@transfers"), and requests of other routes pass.
 * Fault kinds: 429 (PARAM retry-after s), 500, 502, 503, slow (PARAM ms),
 * truncate, invalid_json, code (PARAM the code), wrong_type, missing_field,
 * decimals, ratelimit (200 with ratelimit-remaining 0, reset PARAM s),
 * close (drop the connection), 401.
 */
#ifndef FAKE_SCANAPI_H
#define FAKE_SCANAPI_H

#include <stddef.h>

#include <jansson.h>

#include "httpd.h"

struct scanapi;

/* A new, empty fake (no snapshots, no key, automatic advancing). */
struct scanapi *scanapi_new(void);
void scanapi_free(struct scanapi *api);

/* Require X-API-Key: KEY on /api routes (NULL: no check). */
void scanapi_set_api_key(struct scanapi *api, const char *key);
/* 1: advance only on POST /_fake/advance. */
void scanapi_set_manual_advance(struct scanapi *api, int manual);
/*
 * Load every *.json in DIR (sorted by name) as a Subscan accounts envelope.
 * 0 or -errno with a message in ERR.
 */
int scanapi_load_snapshots(struct scanapi *api, const char *dir, char *err, size_t errlen);
/* Append one snapshot envelope (the fake takes the reference). */
int scanapi_push_snapshot(struct scanapi *api, json_t *envelope);
/* Load scripted transfers: a JSON array of Subscan transfer objects. */
int scanapi_load_transfers(struct scanapi *api, const char *file, char *err, size_t errlen);
/* Add N synthetic transfers from ADDRESS (ids 1..N, block 1000+id). */
int scanapi_synth_transfers(struct scanapi *api, const char *address, size_t n);
/* Add one transfer object (the fake takes the reference).  0, -EINVAL or -ENOMEM. */
int scanapi_push_transfer(struct scanapi *api, json_t *transfer);
/* Keep about the KEEP newest-added transfers (drops the oldest when 20% over). */
void scanapi_trim_transfers(struct scanapi *api, size_t keep);
/*
 * Serve only transfers whose block_num is <= BLOCK (-1: all).  The
 * simulated chain sets it before each transfers request (its lag fault).
 */
void scanapi_set_transfer_horizon(struct scanapi *api, long long block);
/* Queue a fault, "KIND[:COUNT[:PARAM]][@WORD]".  0 or -EINVAL. */
int scanapi_fault_add(struct scanapi *api, const char *spec);

/*
 * Drop every held snapshot and hold only ENVELOPE as the current one (the
 * fake takes the reference; bounded memory).  0, -EINVAL (NULL) or -ENOMEM
 * (the reference is then still the caller's).
 */
int scanapi_replace_snapshot(struct scanapi *api, json_t *envelope);

/* The httpd handler; CTX is the struct scanapi. */
void scanapi_handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);

#endif

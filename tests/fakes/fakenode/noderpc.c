/* noderpc.c — see noderpc.h. */
#include "noderpc.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "planck.h"
#include "scale.h"
#include "ss58.h"
#include "storage.h"

#define KEYHEX_MAX 163  /* "0x" + 160 + NUL: the longest key we keep */

/* ---- a growable string ---------------------------------------------------- */

struct sbuf {
	char *p;                        /* LWS_PRE bytes of headroom, then text */
	size_t len, cap;
	int oom;
};

static void
sb_reserve(struct sbuf *s, size_t more)
{
	size_t cap;
	char *p;

	if (s->oom || s->len + more + 1 <= s->cap)
		return;
	cap = s->cap ? s->cap : 256;
	while (cap < s->len + more + 1)
		cap *= 2;
	p = realloc(s->p == NULL ? NULL : s->p - LWS_PRE, LWS_PRE + cap);
	if (p == NULL) {
		s->oom = 1;
		return;
	}
	s->p = p + LWS_PRE;
	s->cap = cap;
}

static void
sb_add(struct sbuf *s, const char *t, size_t n)
{
	sb_reserve(s, n);
	if (s->oom)
		return;
	memcpy(s->p + s->len, t, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
sb_str(struct sbuf *s, const char *t)
{
	sb_add(s, t, strlen(t));
}

static void __attribute__((format(printf, 2, 3)))
sb_fmt(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(s, (size_t)n);
	if (s->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

static void
sb_hex(struct sbuf *s, const uint8_t *b, size_t n)
{
	sb_reserve(s, 2 * n + 4);
	if (s->oom)
		return;
	s->p[s->len++] = '"';
	hex_encode(b, n, s->p + s->len, 1);
	s->len += 2 * n + 2;
	s->p[s->len++] = '"';
	s->p[s->len] = '\0';
}

static void
sb_free(struct sbuf *s)
{
	if (s->p != NULL)
		free(s->p - LWS_PRE);
	memset(s, 0, sizeof(*s));
}

/* ---- state ------------------------------------------------------------------ */

enum sub_kind { SUB_HEADS, SUB_FINALIZED, SUB_STORAGE };

struct sub {
	char id[24];
	int id_int;                     /* send the id as a JSON number */
	enum sub_kind kind;
	char (*keys)[KEYHEX_MAX];       /* sorted, lower case */
	size_t nkeys;
	int has_ts;                     /* Timestamp.Now is one of the keys */
	uint8_t *bits;                  /* ledger accounts [0, nbits) watched: a bit each */
	size_t nbits;
};

struct outmsg {
	struct outmsg *next;
	size_t len;
	char *text;                     /* LWS_PRE headroom before it */
};

struct conn {
	struct noderpc *n;
	struct lws *wsi;
	struct conn *next;
	int is_ws;
	int kill;
	char *rx;
	size_t rxlen, rxcap;
	struct outmsg *head, *tail;
	size_t nout;
	struct sub *subs;
	size_t nsubs, capsubs;
	/* HTTP control */
	char uri[64];
	char *body;
	size_t bodylen;
};

struct method_count {
	const char *name;
	unsigned long n;
};

struct noderpc {
	struct ledger *ledger;
	struct noderpc_opts o;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int port;
	struct conn *conns;
	lws_sorted_usec_list_t tick;
	int64_t next_block_ms;
	uint64_t next_subid;
	/* faults */
	int64_t stall_until_ms;         /* 0 none, -1 forever */
	int err_code;
	unsigned err_count;
	char err_method[64];
	int subid_int;
	int hexpad;
	int ooo_pending;                /* 1: hold the next block */
	const struct ledger_block *held;
	int nohead;
	/* counters */
	unsigned long connections_total, requests_total, notifications_total;
	struct method_count methods[16];
	char ts_key[STORAGE_TIMESTAMP_KEY_HEXLEN + 1];
};

static const char *const node_methods[] = {
	"rpc_methods", "system_health", "chain_getHeader", "chain_getBlockHash",
	"chain_getFinalizedHead", "chain_subscribeNewHeads", "chain_unsubscribeNewHeads",
	"chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads",
	"state_subscribeStorage", "state_unsubscribeStorage", "state_queryStorageAt",
	"state_getStorage", NULL,
};

static int64_t
node_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
node_stalled(const struct noderpc *n)
{
	return n->stall_until_ms == -1 || (n->stall_until_ms > 0 && node_now_ms() < n->stall_until_ms);
}

static void
node_count(struct noderpc *n, const char *method)
{
	size_t i;

	n->requests_total++;
	for (i = 0; i < sizeof(n->methods) / sizeof(n->methods[0]); i++) {
		if (n->methods[i].name == NULL) {
			n->methods[i].name = method;
			n->methods[i].n = 1;
			return;
		}
		if (strcmp(n->methods[i].name, method) == 0) {
			n->methods[i].n++;
			return;
		}
	}
}

/* Queue S (taken over) on C. */
static void
conn_send(struct conn *c, struct sbuf *s)
{
	struct outmsg *m;

	if (s->oom || s->p == NULL || c->kill) {
		sb_free(s);
		return;
	}
	m = malloc(sizeof(*m));
	if (m == NULL) {
		sb_free(s);
		return;
	}
	m->next = NULL;
	m->len = s->len;
	m->text = s->p;
	memset(s, 0, sizeof(*s));
	if (c->tail != NULL)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->nout++;
	if (!node_stalled(c->n))
		lws_callback_on_writable(c->wsi);
}

static void
conn_free_out(struct conn *c)
{
	struct outmsg *m, *next;
	size_t i;

	for (m = c->head; m != NULL; m = next) {
		next = m->next;
		free(m->text - LWS_PRE);
		free(m);
	}
	c->head = c->tail = NULL;
	c->nout = 0;
	for (i = 0; i < c->nsubs; i++) {
		free(c->subs[i].keys);
		free(c->subs[i].bits);
	}
	free(c->subs);
	c->subs = NULL;
	c->nsubs = c->capsubs = 0;
	free(c->rx);
	c->rx = NULL;
	c->rxlen = c->rxcap = 0;
}

/* ---- encodings ---------------------------------------------------------- */

static void
sb_number(struct noderpc *n, struct sbuf *s, uint64_t v)
{
	if (n->hexpad)
		sb_fmt(s, "\"0x%08" PRIx64 "\"", v);
	else
		sb_fmt(s, "\"0x%" PRIx64 "\"", v);
}

static void
sb_header(struct noderpc *n, struct sbuf *s, const struct ledger_block *b)
{
	sb_str(s, "{\"parentHash\":");
	sb_hex(s, b->parent, 32);
	sb_str(s, ",\"number\":");
	sb_number(n, s, b->number);
	sb_str(s, ",\"stateRoot\":");
	sb_hex(s, b->state_root, 32);
	sb_str(s, ",\"extrinsicsRoot\":");
	sb_hex(s, b->extrinsics_root, 32);
	sb_str(s, ",\"digest\":{\"logs\":[]}}");
}

static void
sb_subid(struct sbuf *s, const struct sub *sub)
{
	if (sub->id_int)
		sb_str(s, sub->id);
	else
		sb_fmt(s, "\"%s\"", sub->id);
}

/* The value of storage KEY (lower-case hex) at block B, into S ("null" or hex). */
static void
sb_value(struct noderpc *n, struct sbuf *s, const char *key, const struct ledger_block *b)
{
	uint8_t pk[32];

	if (strcmp(key, n->ts_key) == 0) {
		uint8_t v[8];

		scale_encode_u64((uint64_t)b->time_ms, v);
		sb_hex(s, v, 8);
		return;
	}
	if (storage_account_from_key_hex(key, pk) == 0) {
		long i = ledger_find(n->ledger, pk);
		const struct ledger_value *v = i < 0 ? NULL :
		    ledger_value_at(n->ledger, (size_t)i, b->number);

		if (v != NULL && v->exists) {
			sb_hex(s, v->info, 80);
			return;
		}
	}
	sb_str(s, "null");
}

static void
sb_response_head(struct sbuf *s, const char *idtext)
{
	sb_fmt(s, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":", idtext);
}

static void
conn_error(struct conn *c, const char *idtext, int code, const char *msg)
{
	struct sbuf s = { 0 };

	sb_fmt(&s, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":\"%s\"}}",
	    idtext, code, msg);
	conn_send(c, &s);
}

/* ---- subscriptions ---------------------------------------------------------- */

static int
key_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static struct sub *
conn_add_sub(struct conn *c, enum sub_kind kind)
{
	struct noderpc *n = c->n;
	struct sub *sub;

	if (c->nsubs == c->capsubs) {
		size_t cap = c->capsubs ? c->capsubs * 2 : 8;
		struct sub *ns = realloc(c->subs, cap * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		c->subs = ns;
		c->capsubs = cap;
	}
	sub = &c->subs[c->nsubs++];
	memset(sub, 0, sizeof(*sub));
	sub->kind = kind;
	sub->id_int = n->subid_int;
	n->next_subid++;
	if (sub->id_int) {
		snprintf(sub->id, sizeof(sub->id), "%" PRIu64, n->next_subid);
	} else {
		static const char b62[] =
		    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
		uint64_t v = n->next_subid * 0x9e3779b97f4a7c15ull;
		int i;

		for (i = 0; i < 16; i++) {
			sub->id[i] = b62[v % 62];
			v = v / 62 + (uint64_t)i * 7919;
		}
		sub->id[16] = '\0';
	}
	return sub;
}

static const char *
json_id_string(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return NULL;
}

static int
conn_remove_sub(struct conn *c, enum sub_kind kind, json_t *idv)
{
	char buf[32];
	const char *id = json_id_string(idv, buf, sizeof(buf));
	size_t i;

	if (id == NULL)
		return 0;
	for (i = 0; i < c->nsubs; i++) {
		if (c->subs[i].kind == kind && strcmp(c->subs[i].id, id) == 0) {
			free(c->subs[i].keys);
			free(c->subs[i].bits);
			c->subs[i] = c->subs[--c->nsubs];
			return 1;
		}
	}
	return 0;
}

static void
conn_notify_storage(struct conn *c, const struct sub *sub, const struct ledger_block *b, int initial)
{
	struct noderpc *n = c->n;
	struct sbuf s = { 0 };
	size_t i, count = 0;

	sb_str(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":");
	sb_subid(&s, sub);
	sb_str(&s, ",\"result\":{\"block\":");
	sb_hex(&s, b->hash, 32);
	sb_str(&s, ",\"changes\":[");
	if (initial) {
		for (i = 0; i < sub->nkeys; i++) {
			sb_str(&s, count++ ? ",[\"" : "[\"");
			sb_str(&s, sub->keys[i]);
			sb_str(&s, "\",");
			sb_value(n, &s, sub->keys[i], b);
			sb_str(&s, "]");
		}
	} else {
		if (sub->has_ts) {
			sb_str(&s, "[\"");
			sb_str(&s, n->ts_key);
			sb_str(&s, "\",");
			sb_value(n, &s, n->ts_key, b);
			sb_str(&s, "]");
			count++;
		}
		for (i = 0; i < b->nchanged; i++) {
			size_t ai = b->changed[i];
			const struct ledger_account *a = ledger_account(n->ledger, ai);

			if (ai < sub->nbits ? !(sub->bits[ai / 8] & (1u << (ai % 8))) :
			    bsearch(a->key_hex, sub->keys, sub->nkeys, KEYHEX_MAX, key_cmp) == NULL)
				continue;
			sb_str(&s, count++ ? ",[\"" : "[\"");
			sb_str(&s, a->key_hex);
			sb_str(&s, "\",");
			sb_value(n, &s, a->key_hex, b);
			sb_str(&s, "]");
		}
	}
	sb_str(&s, "]}}}");
	if (count == 0 && !initial) {
		sb_free(&s);
		return;
	}
	n->notifications_total++;
	conn_send(c, &s);
}

static void
conn_notify_head(struct conn *c, const struct sub *sub, const struct ledger_block *b)
{
	struct sbuf s = { 0 };

	sb_fmt(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":{\"subscription\":",
	    sub->kind == SUB_HEADS ? "chain_newHead" : "chain_finalizedHead");
	sb_subid(&s, sub);
	sb_str(&s, ",\"result\":");
	sb_header(c->n, &s, b);
	sb_str(&s, "}}");
	c->n->notifications_total++;
	conn_send(c, &s);
}

static const struct ledger_block *
node_finalized(struct noderpc *n)
{
	const struct ledger_block *best = ledger_best(n->ledger);

	return ledger_block(n->ledger, best->number > n->o.finality_lag ?
	    best->number - n->o.finality_lag : 0);
}

static void
node_publish_one(struct noderpc *n, const struct ledger_block *b)
{
	const struct ledger_block *fin = ledger_block(n->ledger,
	    b->number > n->o.finality_lag ? b->number - n->o.finality_lag : 0);
	struct conn *c;
	size_t i;

	for (c = n->conns; c != NULL; c = c->next) {
		if (!c->is_ws || c->kill)
			continue;
		for (i = 0; i < c->nsubs; i++) {
			const struct sub *sub = &c->subs[i];

			if (sub->kind == SUB_HEADS && !n->nohead)
				conn_notify_head(c, sub, b);
			else if (sub->kind == SUB_FINALIZED)
				conn_notify_head(c, sub, fin);
			else if (sub->kind == SUB_STORAGE)
				conn_notify_storage(c, sub, b, 0);
		}
	}
}

const struct ledger_block *
noderpc_block(struct noderpc *n)
{
	struct timespec ts;

	/* block time = wall clock now (at least the previous + 1 ms): notification lag is real */
	clock_gettime(CLOCK_REALTIME, &ts);
	return noderpc_block_at(n, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

const struct ledger_block *
noderpc_block_at(struct noderpc *n, int64_t time_ms)
{
	const struct ledger_block *b = ledger_produce(n->ledger, time_ms);

	if (b == NULL)
		return NULL;
	if (n->ooo_pending) {
		n->ooo_pending = 0;
		n->held = b;
		return b;
	}
	node_publish_one(n, b);
	if (n->held != NULL) {
		/* the held block goes out after its successor */
		node_publish_one(n, n->held);
		n->held = NULL;
	}
	return b;
}

/* ---- requests ----------------------------------------------------------------- */

static const struct ledger_block *
param_block(struct noderpc *n, json_t *v)
{
	uint8_t h[32];
	size_t len;

	if (v == NULL || json_is_null(v))
		return ledger_best(n->ledger);
	if (!json_is_string(v) || hex_decode(json_string_value(v), h, sizeof(h), &len) < 0 || len != 32)
		return NULL;
	return ledger_block_by_hash(n->ledger, h);
}

/* Lower-case copy of a storage key string; -1 if it is not hex or too long. */
static int
norm_key(const char *in, char out[KEYHEX_MAX])
{
	size_t i, len = strlen(in);

	if (len < 2 || in[0] != '0' || (in[1] != 'x' && in[1] != 'X') || len >= KEYHEX_MAX || len % 2)
		return -1;
	out[0] = '0';
	out[1] = 'x';
	for (i = 2; i < len; i++) {
		char ch = in[i];

		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -1;
		out[i] = ch;
	}
	out[len] = '\0';
	return 0;
}

static void
handle_storage_subscribe(struct conn *c, const char *idtext, json_t *params, size_t reqlen)
{
	struct noderpc *n = c->n;
	json_t *keys = json_array_get(params, 0), *k;
	size_t i, nstorage = 0;
	struct sub *sub;
	struct sbuf s = { 0 };

	if (!json_is_array(keys)) {
		conn_error(c, idtext, -32602, "Invalid params: expected an array of storage keys");
		return;
	}
	if (reqlen > n->o.max_request_bytes) {
		conn_error(c, idtext, -32007, "Request is too big");
		return;
	}
	for (i = 0; i < c->nsubs; i++)
		nstorage++;
	if (nstorage >= n->o.max_subscriptions) {
		conn_error(c, idtext, -32006, "Too many subscriptions on the connection");
		return;
	}
	sub = conn_add_sub(c, SUB_STORAGE);
	if (sub == NULL) {
		conn_error(c, idtext, -32603, "Internal error");
		return;
	}
	sub->keys = malloc((json_array_size(keys) + 1) * KEYHEX_MAX);
	if (sub->keys == NULL) {
		c->nsubs--;
		conn_error(c, idtext, -32603, "Internal error");
		return;
	}
	json_array_foreach(keys, i, k) {
		if (!json_is_string(k) || norm_key(json_string_value(k), sub->keys[sub->nkeys]) < 0) {
			free(sub->keys);
			c->nsubs--;
			conn_error(c, idtext, -32602, "Invalid params: bad storage key");
			return;
		}
		sub->nkeys++;
	}
	qsort(sub->keys, sub->nkeys, KEYHEX_MAX, key_cmp);
	/* which ledger accounts: a bit test per changed account instead of a search */
	sub->nbits = ledger_naccounts(n->ledger);
	sub->bits = calloc(sub->nbits / 8 + 1, 1);
	if (sub->bits == NULL)
		sub->nbits = 0;
	for (i = 0; i < sub->nkeys; i++) {
		uint8_t pk[32];
		long ai;

		if (strcmp(sub->keys[i], n->ts_key) == 0)
			sub->has_ts = 1;
		else if (sub->bits != NULL && storage_account_from_key_hex(sub->keys[i], pk) == 0 &&
		    (ai = ledger_find(n->ledger, pk)) >= 0 && (size_t)ai < sub->nbits)
			sub->bits[ai / 8] |= (uint8_t)(1u << (ai % 8));
	}
	sb_response_head(&s, idtext);
	sb_subid(&s, sub);
	sb_str(&s, "}");
	conn_send(c, &s);
	/* a storage subscription first reports the current value of every key */
	conn_notify_storage(c, sub, ledger_best(n->ledger), 1);
}

static void
handle_query_storage(struct conn *c, const char *idtext, json_t *params, int single)
{
	struct noderpc *n = c->n;
	json_t *keys = json_array_get(params, 0), *k;
	const struct ledger_block *b = param_block(n, json_array_get(params, 1));
	struct sbuf s = { 0 };
	char key[KEYHEX_MAX];
	size_t i;

	if (b == NULL) {
		conn_error(c, idtext, 4003, "Client error: UnknownBlock: header not found");
		return;
	}
	if (single) {
		if (!json_is_string(keys) || norm_key(json_string_value(keys), key) < 0) {
			conn_error(c, idtext, -32602, "Invalid params: bad storage key");
			return;
		}
		sb_response_head(&s, idtext);
		sb_value(n, &s, key, b);
		sb_str(&s, "}");
		conn_send(c, &s);
		return;
	}
	if (!json_is_array(keys)) {
		conn_error(c, idtext, -32602, "Invalid params: expected an array of storage keys");
		return;
	}
	sb_response_head(&s, idtext);
	sb_str(&s, "[{\"block\":");
	sb_hex(&s, b->hash, 32);
	sb_str(&s, ",\"changes\":[");
	json_array_foreach(keys, i, k) {
		if (!json_is_string(k) || norm_key(json_string_value(k), key) < 0) {
			sb_free(&s);
			conn_error(c, idtext, -32602, "Invalid params: bad storage key");
			return;
		}
		sb_str(&s, i ? ",[\"" : "[\"");
		sb_str(&s, key);
		sb_str(&s, "\",");
		sb_value(n, &s, key, b);
		sb_str(&s, "]");
	}
	sb_str(&s, "]}]}");
	conn_send(c, &s);
}

static void
handle_request(struct conn *c, json_t *req, size_t reqlen)
{
	struct noderpc *n = c->n;
	json_t *idv = json_object_get(req, "id"), *params = json_object_get(req, "params");
	const char *method = json_string_value(json_object_get(req, "method"));
	char *idtext = NULL;
	struct sbuf s = { 0 };
	size_t i;

	if (idv == NULL || (!json_is_integer(idv) && !json_is_string(idv) && !json_is_null(idv))) {
		conn_error(c, "null", -32600, "Invalid request");
		return;
	}
	idtext = json_dumps(idv, JSON_ENCODE_ANY);
	if (idtext == NULL)
		return;
	if (method == NULL) {
		conn_error(c, idtext, -32600, "Invalid request: no method");
		goto out;
	}
	if (params != NULL && !json_is_array(params)) {
		conn_error(c, idtext, -32602, "Invalid params");
		goto out;
	}
	for (i = 0; node_methods[i] != NULL; i++)
		if (strcmp(node_methods[i], method) == 0)
			break;
	if (node_methods[i] == NULL) {
		node_count(n, "unknown");
		conn_error(c, idtext, -32601, "Method not found");
		goto out;
	}
	node_count(n, node_methods[i]);
	if (n->err_count > 0 && strcmp(method, n->err_method) == 0) {
		n->err_count--;
		conn_error(c, idtext, n->err_code,
		    n->err_code == -32006 ? "Too many subscriptions on the connection" :
		    n->err_code == -32007 ? "Request is too big" :
		    n->err_code == -32009 ? "Server is busy, try again later" : "Injected error");
		goto out;
	}
	if (strcmp(method, "rpc_methods") == 0) {
		sb_response_head(&s, idtext);
		sb_str(&s, "{\"version\":1,\"methods\":[");
		for (i = 0; node_methods[i] != NULL; i++)
			sb_fmt(&s, "%s\"%s\"", i ? "," : "", node_methods[i]);
		sb_str(&s, "]}}");
		conn_send(c, &s);
	} else if (strcmp(method, "system_health") == 0) {
		sb_response_head(&s, idtext);
		sb_str(&s, "{\"peers\":8,\"isSyncing\":false,\"shouldHavePeers\":true}}");
		conn_send(c, &s);
	} else if (strcmp(method, "chain_getHeader") == 0) {
		const struct ledger_block *b = param_block(n, json_array_get(params, 0));

		sb_response_head(&s, idtext);
		if (b == NULL)
			sb_str(&s, "null");
		else
			sb_header(n, &s, b);
		sb_str(&s, "}");
		conn_send(c, &s);
	} else if (strcmp(method, "chain_getBlockHash") == 0) {
		json_t *p = json_array_get(params, 0), *e;
		const struct ledger_block *b;

		sb_response_head(&s, idtext);
		if (p == NULL || json_is_null(p)) {
			sb_hex(&s, ledger_best(n->ledger)->hash, 32);
		} else if (json_is_array(p)) {
			sb_str(&s, "[");
			json_array_foreach(p, i, e) {
				b = json_is_integer(e) ? ledger_block(n->ledger,
				    (uint64_t)json_integer_value(e)) : NULL;
				if (i)
					sb_str(&s, ",");
				if (b != NULL)
					sb_hex(&s, b->hash, 32);
				else
					sb_str(&s, "null");
			}
			sb_str(&s, "]");
		} else {
			uint64_t num = 0;

			if (json_is_integer(p))
				num = (uint64_t)json_integer_value(p);
			else if (json_is_string(p))
				num = strtoull(json_string_value(p), NULL, 0);
			b = ledger_block(n->ledger, num);
			if (b != NULL)
				sb_hex(&s, b->hash, 32);
			else
				sb_str(&s, "null");
		}
		sb_str(&s, "}");
		conn_send(c, &s);
	} else if (strcmp(method, "chain_getFinalizedHead") == 0) {
		sb_response_head(&s, idtext);
		sb_hex(&s, node_finalized(n)->hash, 32);
		sb_str(&s, "}");
		conn_send(c, &s);
	} else if (strcmp(method, "chain_subscribeNewHeads") == 0 ||
	    strcmp(method, "chain_subscribeFinalizedHeads") == 0) {
		int heads = strcmp(method, "chain_subscribeNewHeads") == 0;
		struct sub *sub;

		if (c->nsubs >= n->o.max_subscriptions) {
			conn_error(c, idtext, -32006, "Too many subscriptions on the connection");
			goto out;
		}
		sub = conn_add_sub(c, heads ? SUB_HEADS : SUB_FINALIZED);
		if (sub == NULL) {
			conn_error(c, idtext, -32603, "Internal error");
			goto out;
		}
		sb_response_head(&s, idtext);
		sb_subid(&s, sub);
		sb_str(&s, "}");
		conn_send(c, &s);
		/* like Substrate: the current head right away */
		if (heads && !n->nohead)
			conn_notify_head(c, sub, ledger_best(n->ledger));
		else if (!heads)
			conn_notify_head(c, sub, node_finalized(n));
	} else if (strcmp(method, "chain_unsubscribeNewHeads") == 0 ||
	    strcmp(method, "chain_unsubscribeFinalizedHeads") == 0 ||
	    strcmp(method, "state_unsubscribeStorage") == 0) {
		enum sub_kind kind = strcmp(method, "state_unsubscribeStorage") == 0 ? SUB_STORAGE :
		    strcmp(method, "chain_unsubscribeNewHeads") == 0 ? SUB_HEADS : SUB_FINALIZED;
		int ok = conn_remove_sub(c, kind, json_array_get(params, 0));

		sb_response_head(&s, idtext);
		sb_str(&s, ok ? "true}" : "false}");
		conn_send(c, &s);
	} else if (strcmp(method, "state_subscribeStorage") == 0) {
		handle_storage_subscribe(c, idtext, params, reqlen);
	} else if (strcmp(method, "state_queryStorageAt") == 0) {
		handle_query_storage(c, idtext, params, 0);
	} else if (strcmp(method, "state_getStorage") == 0) {
		handle_query_storage(c, idtext, params, 1);
	}
out:
	free(idtext);
}

static void
conn_message(struct conn *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(text, len, 0, &jerr);

	if (req == NULL || !json_is_object(req)) {
		conn_error(c, "null", -32700, "Parse error");
		json_decref(req);
		return;
	}
	handle_request(c, req, len);
	json_decref(req);
}

/* ---- faults ------------------------------------------------------------------- */

static void
node_send_all(struct noderpc *n, const char *text)
{
	struct conn *c;

	for (c = n->conns; c != NULL; c = c->next) {
		struct sbuf s = { 0 };

		if (!c->is_ws)
			continue;
		sb_str(&s, text);
		conn_send(c, &s);
	}
}

static int
node_malformed(struct noderpc *n)
{
	char buf[1024];
	const struct ledger_block *b = ledger_best(n->ledger);
	char hash[67], key[STORAGE_ACCOUNT_KEY_HEXLEN + 1];
	uint8_t zero[32] = { 0 };
	struct conn *c;
	int kinds = 0;

	hex_encode(b->hash, 32, hash, 1);
	storage_system_account_key_hex(zero, key);
	/* each line is one kind of malformed input */
	const char *cases[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{",  /* truncated */
		"this is not json",
		"[1,2,3]",
		"{\"jsonrpc\":\"2.0\",\"id\":999999,\"result\":true}",            /* unknown id */
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":\"nope\",\"result\":{\"block\":\"%s\",\"changes\":[]}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":%s,\"result\":{\"block\":\"0xzz\",\"changes\":[]}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":%s,\"result\":{\"block\":\"%s\",\"changes\":[[\"%s\",\"0x0102\"]]}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":%s,\"result\":{\"block\":\"%s\",\"changes\":[[\"0xnothex\",null]]}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":%s,\"result\":{\"block\":\"%s\",\"changes\":\"oops\"}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"chain_newHead\",\"params\":{\"subscription\":%s,\"result\":{\"number\":\"0xnope\"}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"chain_newHead\",\"params\":{\"subscription\":%s,\"result\":{\"number\":\"0x10000000000000000\"}}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":%s,\"result\":{\"block\":\"%s\",\"changes\":[[\"%s\",\"0x%0160d\",\"extra\"]]}}}",
		"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":\"not an object\"}",
		"\"a string\"",
		"{\"jsonrpc\":\"2.0\"}",
	};
	size_t i;

	for (c = n->conns; c != NULL; c = c->next) {
		const char *subid = "\"none\"";
		char subbuf[32];
		size_t k;

		if (!c->is_ws)
			continue;
		for (k = 0; k < c->nsubs; k++) {
			if (c->subs[k].kind == SUB_STORAGE) {
				size_t j;

				snprintf(subbuf, sizeof(subbuf), c->subs[k].id_int ? "%s" : "\"%s\"",
				    c->subs[k].id);
				subid = subbuf;
				/* bad values for a key the client really watches */
				for (j = 0; j < c->subs[k].nkeys; j++)
					if (strlen(c->subs[k].keys[j]) == STORAGE_ACCOUNT_KEY_HEXLEN)
						snprintf(key, sizeof(key), "%s", c->subs[k].keys[j]);
				break;
			}
		}
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct sbuf s = { 0 };

			switch (i) {
			case 4:
				snprintf(buf, sizeof(buf), cases[i], hash);
				break;
			case 5: case 9: case 10:
				snprintf(buf, sizeof(buf), cases[i], subid);
				break;
			case 6: case 11:
				snprintf(buf, sizeof(buf), cases[i], subid, hash, key, 0);
				break;
			case 7: case 8:
				snprintf(buf, sizeof(buf), cases[i], subid, hash);
				break;
			default:
				snprintf(buf, sizeof(buf), "%s", cases[i]);
			}
			sb_str(&s, buf);
			conn_send(c, &s);
		}
		kinds = (int)(sizeof(cases) / sizeof(cases[0]));
	}
	return kinds;
}

/*
 * Send N random mutations (truncation, a byte replaced, inserted or
 * deleted) of a real storage notification to every client: a fuzzer over
 * the wire.  Returns how many messages were sent.
 */
static int
node_mutate(struct noderpc *n, unsigned count, uint64_t seed)
{
	static const char alphabet[] = "0123456789abcdefx\"[]{},:null \\\x01\xff";
	const struct ledger_block *b = ledger_best(n->ledger);
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
	struct conn *c;
	int sent = 0;

	for (c = n->conns; c != NULL; c = c->next) {
		struct sbuf base = { 0 };
		const struct sub *sub = NULL;
		size_t k, i;
		unsigned m;

		if (!c->is_ws)
			continue;
		for (k = 0; k < c->nsubs && sub == NULL; k++)
			if (c->subs[k].kind == SUB_STORAGE)
				sub = &c->subs[k];
		if (sub == NULL)
			continue;
		sb_str(&base, "{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":");
		sb_subid(&base, sub);
		sb_str(&base, ",\"result\":{\"block\":");
		sb_hex(&base, b->hash, 32);
		sb_str(&base, ",\"changes\":[");
		for (i = 0; i < sub->nkeys && i < 3; i++) {
			sb_str(&base, i ? ",[\"" : "[\"");
			sb_str(&base, sub->keys[i]);
			sb_str(&base, "\",");
			sb_value(n, &base, sub->keys[i], b);
			sb_str(&base, "]");
		}
		sb_str(&base, "]}}}");
		if (base.oom) {
			sb_free(&base);
			continue;
		}
		for (m = 0; m < count; m++) {
			struct sbuf s = { 0 };
			size_t pos;

			rng ^= rng >> 12;
			rng ^= rng << 25;
			rng ^= rng >> 27;
			pos = (size_t)((rng * 2685821657736338717ull) >> 33) % base.len;
			switch (m % 4) {
			case 0: /* truncated */
				sb_add(&s, base.p, pos);
				break;
			case 1: /* one byte replaced */
				sb_add(&s, base.p, base.len);
				if (!s.oom)
					s.p[pos] = alphabet[(rng >> 7) % (sizeof(alphabet) - 1)];
				break;
			case 2: /* one byte inserted */
				sb_add(&s, base.p, pos);
				sb_add(&s, &alphabet[(rng >> 7) % (sizeof(alphabet) - 1)], 1);
				sb_add(&s, base.p + pos, base.len - pos);
				break;
			default: /* one byte deleted */
				sb_add(&s, base.p, pos);
				sb_add(&s, base.p + pos + 1, base.len - pos - 1);
				break;
			}
			if (s.p == NULL)
				sb_str(&s, "");
			conn_send(c, &s);
			sent++;
		}
		sb_free(&base);
	}
	return sent;
}

static int
parse_account(const char *s, uint8_t pk[32])
{
	size_t len;
	char err[128];

	if (strncmp(s, "0x", 2) == 0)
		return hex_decode(s, pk, 32, &len) == 0 && len == 32 ? 0 : -EINVAL;
	return ss58_decode(s, pk, NULL, err, sizeof(err));
}

int
noderpc_control(struct noderpc *n, const char *line, char *reply, size_t replylen)
{
	char cmd[32] = "", a1[128] = "", a2[64] = "", a3[64] = "", a4[64] = "", a5[64] = "";
	int nf = sscanf(line, "%31s %127s %63s %63s %63s %63s", cmd, a1, a2, a3, a4, a5);
	const struct ledger_block *b = NULL;

	if (nf < 1) {
		snprintf(reply, replylen, "error: empty command");
		return -EINVAL;
	}
	if (strcmp(cmd, "block") == 0) {
		long count = nf > 1 ? strtol(a1, NULL, 10) : 1, i;

		for (i = 0; i < count; i++)
			b = noderpc_block(n);
		if (b == NULL) {
			snprintf(reply, replylen, "error: no block produced");
			return -EINVAL;
		}
		{
			char h[67];

			hex_encode(b->hash, 32, h, 1);
			snprintf(reply, replylen, "{\"number\":%" PRIu64 ",\"hash\":\"%s\",\"changes\":%zu}",
			    b->number, h, b->nchanged);
		}
		return 0;
	}
	if (strcmp(cmd, "random") == 0 && nf == 2) {
		snprintf(reply, replylen, "staged %zu",
		    ledger_stage_random(n->ledger, (size_t)strtoul(a1, NULL, 10)));
		return 0;
	}
	if ((strcmp(cmd, "set") == 0 && nf >= 3) || (strcmp(cmd, "reap") == 0 && nf == 2)) {
		uint8_t pk[32];
		struct rollout_account_data d;

		memset(&d, 0, sizeof(d));
		if (parse_account(a1, pk) < 0) {
			snprintf(reply, replylen, "error: bad account %s", a1);
			return -EINVAL;
		}
		if (cmd[0] == 's' && (planck_parse_int(a2, &d.free) < 0 ||
		    (nf > 3 && planck_parse_int(a3, &d.reserved) < 0) ||
		    (nf > 4 && planck_parse_int(a4, &d.frozen) < 0))) {
			snprintf(reply, replylen, "error: bad amount");
			return -EINVAL;
		}
		if (nf > 5)
			d.nonce = (uint32_t)strtoul(a5, NULL, 10);
		if (ledger_stage(n->ledger, pk, cmd[0] == 's' ? &d : NULL) < 0) {
			snprintf(reply, replylen, "error: out of memory");
			return -ENOMEM;
		}
		snprintf(reply, replylen, "staged");
		return 0;
	}
	if (strcmp(cmd, "get") == 0 && nf == 2) {
		uint8_t pk[32];
		long i;
		const struct ledger_account *a;
		const struct ledger_value *v;
		size_t k, changes = 0;
		char fr[PLANCK_INT_MAX], re[PLANCK_INT_MAX], fz[PLANCK_INT_MAX], blocks[2048];
		struct rollout_account_data d;

		if (parse_account(a1, pk) < 0 || (i = ledger_find(n->ledger, pk)) < 0) {
			snprintf(reply, replylen, "error: unknown account %s", a1);
			return -EINVAL;
		}
		a = ledger_account(n->ledger, (size_t)i);
		{
			size_t off = 0;

			blocks[0] = '\0';
			for (k = 1; k < a->nhist; k++) {
				if (a->hist[k].exists != a->hist[k - 1].exists ||
				    memcmp(a->hist[k].info, a->hist[k - 1].info, 80) != 0) {
					changes++;
					if (off + 24 < sizeof(blocks))
						off += (size_t)snprintf(blocks + off, sizeof(blocks) - off,
						    "%s%" PRIu64, off ? "," : "", a->hist[k].block);
				}
			}
		}
		v = ledger_value_at(n->ledger, (size_t)i, ledger_best(n->ledger)->number);
		memset(&d, 0, sizeof(d));
		if (v != NULL && v->exists)
			scale_decode_account_info(v->info, 80, &d, NULL, NULL, NULL, NULL);
		snprintf(reply, replylen, "{\"exists\":%s,\"free\":\"%s\",\"reserved\":\"%s\","
		    "\"frozen\":\"%s\",\"nonce\":%u,\"changes\":%zu,\"blocks\":[%s]}",
		    v != NULL && v->exists ? "true" : "false",
		    planck_format_int(d.free, fr, sizeof(fr)), planck_format_int(d.reserved, re, sizeof(re)),
		    planck_format_int(d.frozen, fz, sizeof(fz)), d.nonce, changes, blocks);
		return 0;
	}
	if (strcmp(cmd, "generate") == 0 && nf == 2) {
		if (ledger_generate(n->ledger, (size_t)strtoul(a1, NULL, 10)) < 0) {
			snprintf(reply, replylen, "error: out of memory");
			return -ENOMEM;
		}
		snprintf(reply, replylen, "accounts %zu", ledger_naccounts(n->ledger));
		return 0;
	}
	if (strcmp(cmd, "drop") == 0) {
		struct conn *c;
		int k = 0;

		for (c = n->conns; c != NULL; c = c->next) {
			if (!c->is_ws)
				continue;
			c->kill = 1;
			k++;
			lws_callback_on_writable(c->wsi);
		}
		snprintf(reply, replylen, "dropped %d", k);
		return 0;
	}
	if (strcmp(cmd, "stall") == 0 && nf == 2) {
		long ms = strtol(a1, NULL, 10);

		n->stall_until_ms = ms < 0 ? -1 : ms == 0 ? 0 : node_now_ms() + ms;
		if (ms == 0) {
			struct conn *c;

			for (c = n->conns; c != NULL; c = c->next)
				if (c->head != NULL)
					lws_callback_on_writable(c->wsi);
		}
		snprintf(reply, replylen, "stall %ld", ms);
		return 0;
	}
	if (strcmp(cmd, "mutate") == 0 && nf == 3) {
		snprintf(reply, replylen, "sent %d", node_mutate(n, (unsigned)strtoul(a1, NULL, 10),
		    strtoull(a2, NULL, 10)));
		return 0;
	}
	if (strcmp(cmd, "malformed") == 0) {
		snprintf(reply, replylen, "sent %d", node_malformed(n));
		return 0;
	}
	if (strcmp(cmd, "oversized") == 0 && nf == 2) {
		size_t size = (size_t)strtoul(a1, NULL, 10), i;
		struct conn *c;

		for (c = n->conns; c != NULL; c = c->next) {
			struct sbuf s = { 0 };

			if (!c->is_ws)
				continue;
			sb_str(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":\"");
			sb_reserve(&s, size);
			for (i = 0; !s.oom && s.len + 3 < size; i++)
				s.p[s.len++] = 'a';
			sb_str(&s, "\"}");
			conn_send(c, &s);
		}
		snprintf(reply, replylen, "oversized %zu", size);
		return 0;
	}
	if (strcmp(cmd, "error") == 0 && nf >= 3) {
		n->err_code = (int)strtol(a1, NULL, 10);
		n->err_count = (unsigned)strtoul(a2, NULL, 10);
		snprintf(n->err_method, sizeof(n->err_method), "%s",
		    nf > 3 ? a3 : "state_subscribeStorage");
		snprintf(reply, replylen, "error %d x%u on %s", n->err_code, n->err_count, n->err_method);
		return 0;
	}
	if (strcmp(cmd, "limit") == 0 && nf == 3) {
		if (strcmp(a1, "subs") == 0)
			n->o.max_subscriptions = (unsigned)strtoul(a2, NULL, 10);
		else if (strcmp(a1, "bytes") == 0)
			n->o.max_request_bytes = (size_t)strtoull(a2, NULL, 10);
		else
			goto bad;
		snprintf(reply, replylen, "limit %s %s", a1, a2);
		return 0;
	}
	if (strcmp(cmd, "subid") == 0 && nf == 2) {
		n->subid_int = strcmp(a1, "int") == 0;
		snprintf(reply, replylen, "subid %s", n->subid_int ? "int" : "string");
		return 0;
	}
	if ((strcmp(cmd, "hexpad") == 0 || strcmp(cmd, "nohead") == 0) && nf == 2) {
		int on = strcmp(a1, "on") == 0;

		if (cmd[0] == 'h')
			n->hexpad = on;
		else
			n->nohead = on;
		snprintf(reply, replylen, "%s %s", cmd, on ? "on" : "off");
		return 0;
	}
	if (strcmp(cmd, "ooo") == 0) {
		n->ooo_pending = 1;
		snprintf(reply, replylen, "ooo: holding the next block");
		return 0;
	}
	if (strcmp(cmd, "unknown") == 0) {
		node_send_all(n, "{\"jsonrpc\":\"2.0\",\"method\":\"author_extrinsicUpdate\","
		    "\"params\":{\"subscription\":\"zz\",\"result\":\"ready\"}}");
		snprintf(reply, replylen, "sent");
		return 0;
	}
	if (strcmp(cmd, "status") == 0) {
		noderpc_status(n, reply, replylen);
		return 0;
	}
bad:
	snprintf(reply, replylen, "error: unknown or malformed command: %s", line);
	return -EINVAL;
}

void
noderpc_status(struct noderpc *n, char *out, size_t outlen)
{
	struct sbuf s = { 0 };
	unsigned long conns = 0, storage = 0, heads = 0, keys = 0, queued = 0;
	struct conn *c;
	size_t i;

	for (c = n->conns; c != NULL; c = c->next) {
		if (!c->is_ws)
			continue;
		conns++;
		queued += c->nout;
		for (i = 0; i < c->nsubs; i++) {
			if (c->subs[i].kind == SUB_STORAGE) {
				storage++;
				keys += c->subs[i].nkeys;
			} else {
				heads++;
			}
		}
	}
	sb_fmt(&s, "{\"best\":%" PRIu64 ",\"finalized\":%" PRIu64 ",\"accounts\":%zu,"
	    "\"connections\":%lu,\"connections_total\":%lu,\"storage_subscriptions\":%lu,"
	    "\"head_subscriptions\":%lu,\"keys\":%lu,\"queued\":%lu,\"requests\":%lu,"
	    "\"notifications\":%lu,\"methods\":{",
	    ledger_best(n->ledger)->number, node_finalized(n)->number, ledger_naccounts(n->ledger),
	    conns, n->connections_total, storage, heads, keys, queued, n->requests_total,
	    n->notifications_total);
	for (i = 0; i < sizeof(n->methods) / sizeof(n->methods[0]) && n->methods[i].name; i++)
		sb_fmt(&s, "%s\"%s\":%lu", i ? "," : "", n->methods[i].name, n->methods[i].n);
	sb_str(&s, "}}");
	snprintf(out, outlen, "%s", s.oom || s.p == NULL ? "{}" : s.p);
	sb_free(&s);
}

/* ---- lws glue ------------------------------------------------------------------ */

static void
conn_unlink(struct conn *c)
{
	struct conn **pp;

	for (pp = &c->n->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
}

static int
http_reply(struct lws *wsi, unsigned status, const char *body)
{
	uint8_t buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	size_t len = strlen(body);
	uint8_t *out;

	if (lws_add_http_common_headers(wsi, status, "application/json", len, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	out = malloc(LWS_PRE + len + 1);
	if (out == NULL)
		return -1;
	memcpy(out + LWS_PRE, body, len);
	if (lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) != (int)len) {
		free(out);
		return -1;
	}
	free(out);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_control(struct conn *c)
{
	struct sbuf all = { 0 };
	char reply[8192];
	char *line, *save = NULL;
	int rc, bad = 0;

	char *body = c->body;
	struct lws *wsi = c->wsi;

	/* answering may complete the transaction and free C: take what we need first */
	c->body = NULL;
	c->bodylen = 0;
	if (body == NULL)
		return http_reply(wsi, 400, "{\"error\":\"empty body\"}");
	for (line = strtok_r(body, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '\0' || line[0] == '#' || line[0] == '\r')
			continue;
		if (noderpc_control(c->n, line, reply, sizeof(reply)) < 0)
			bad = 1;
		sb_str(&all, reply);
		sb_str(&all, "\n");
	}
	free(body);
	rc = http_reply(wsi, bad ? 400 : 200, all.p != NULL ? all.p : "");
	sb_free(&all);
	return rc;
}

static int
node_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = user;
	struct noderpc *n = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		memset(c, 0, sizeof(*c));
		c->n = n;
		c->wsi = wsi;
		snprintf(c->uri, sizeof(c->uri), "%s", (const char *)in);
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
			return 0; /* wait for the body */
		if (strcmp(c->uri, "/status") == 0) {
			char st[8192];

			noderpc_status(n, st, sizeof(st));
			return http_reply(wsi, 200, st);
		}
		return http_reply(wsi, 404, "{\"error\":\"not found\"}");
	case LWS_CALLBACK_HTTP_BODY: {
		char *nb = realloc(c->body, c->bodylen + len + 1);

		if (nb == NULL)
			return -1;
		memcpy(nb + c->bodylen, in, len);
		c->body = nb;
		c->bodylen += len;
		c->body[c->bodylen] = '\0';
		return 0;
	}
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (strcmp(c->uri, "/control") == 0)
			return http_control(c);
		free(c->body);
		c->body = NULL;
		c->bodylen = 0;
		return http_reply(wsi, 404, "{\"error\":\"not found\"}");
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c != NULL) {
			free(c->body);
			c->body = NULL;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		c->n = n;
		c->wsi = wsi;
		c->is_ws = 1;
		c->next = n->conns;
		n->conns = c;
		n->connections_total++;
		if (!n->o.quiet)
			fprintf(stderr, "fakenode: client connected\n");
		return 0;
	case LWS_CALLBACK_RECEIVE: {
		size_t need = c->rxlen + len + 1;

		if (need > n->o.max_request_bytes + 1024 * 1024 && need > 64u * 1024 * 1024)
			return -1;
		if (need > c->rxcap) {
			size_t cap = c->rxcap ? c->rxcap : 4096;
			char *nb;

			while (cap < need)
				cap *= 2;
			nb = realloc(c->rx, cap);
			if (nb == NULL)
				return -1;
			c->rx = nb;
			c->rxcap = cap;
		}
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			conn_message(c, c->rx, c->rxlen);
			c->rxlen = 0;
		}
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct outmsg *m;

		if (c->kill)
			return -1;
		if (node_stalled(n) || c->head == NULL)
			return 0;
		/* as many messages as the socket takes now (one per callback adds a loop turn each) */
		do {
			m = c->head;
			if (lws_write(wsi, (unsigned char *)m->text, m->len, LWS_WRITE_TEXT) < (int)m->len)
				return -1;
			c->head = m->next;
			if (c->head == NULL)
				c->tail = NULL;
			c->nout--;
			free(m->text - LWS_PRE);
			free(m);
		} while (c->head != NULL && !lws_send_pipe_choked(wsi));
		if (c->head != NULL)
			lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_CLOSED:
		if (c != NULL && c->is_ws) {
			conn_unlink(c);
			conn_free_out(c);
			c->is_ws = 0;
			if (!n->o.quiet)
				fprintf(stderr, "fakenode: client disconnected\n");
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols node_protocols[] = {
	{ "polkadot-rpc", node_callback, sizeof(struct conn), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void
node_tick(lws_sorted_usec_list_t *sul)
{
	struct noderpc *n = lws_container_of(sul, struct noderpc, tick);
	int64_t now = node_now_ms();

	if (n->o.block_ms > 0 && now >= n->next_block_ms) {
		if (n->o.changes_per_block > 0)
			ledger_stage_random(n->ledger, n->o.changes_per_block);
		noderpc_block(n);
		n->next_block_ms = now + n->o.block_ms;
	}
	if (n->stall_until_ms > 0 && now >= n->stall_until_ms) {
		struct conn *c;

		n->stall_until_ms = 0;
		for (c = n->conns; c != NULL; c = c->next)
			if (c->head != NULL)
				lws_callback_on_writable(c->wsi);
	}
	lws_sul_schedule(n->ctx, 0, &n->tick, node_tick, 20 * LWS_US_PER_MS);
}

struct noderpc *
noderpc_new(struct ledger *ledger, const struct noderpc_opts *opts)
{
	struct lws_context_creation_info info;
	struct noderpc *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->ledger = ledger;
	n->o = *opts;
	if (n->o.iface == NULL)
		n->o.iface = "127.0.0.1";
	if (n->o.max_subscriptions == 0)
		n->o.max_subscriptions = 1024;
	if (n->o.max_request_bytes == 0)
		n->o.max_request_bytes = 15u * 1024 * 1024;
	storage_timestamp_now_key_hex(n->ts_key);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = opts->port;
	info.iface = n->o.iface;
	info.protocols = node_protocols;
	info.user = n;
	info.options = 0;
	if (opts->tls_cert != NULL && opts->tls_key != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = opts->tls_cert;
		info.ssl_private_key_filepath = opts->tls_key;
	}
	info.pt_serv_buf_size = 256 * 1024;
	n->ctx = lws_create_context(&info);
	if (n->ctx == NULL) {
		fprintf(stderr, "fakenode: cannot listen on %s:%d\n", n->o.iface, opts->port);
		free(n);
		return NULL;
	}
	n->vh = lws_get_vhost_by_name(n->ctx, "default");
	n->port = n->vh != NULL ? lws_get_vhost_listen_port(n->vh) : opts->port;
	n->next_block_ms = node_now_ms() + n->o.block_ms;
	lws_sul_schedule(n->ctx, 0, &n->tick, node_tick, 20 * LWS_US_PER_MS);
	return n;
}

int
noderpc_port(const struct noderpc *n)
{
	return n->port;
}

int
noderpc_service(struct noderpc *n)
{
	return lws_service(n->ctx, 0);
}

void
noderpc_free(struct noderpc *n)
{
	if (n == NULL)
		return;
	lws_context_destroy(n->ctx);
	free(n);
}

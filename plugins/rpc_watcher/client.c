/*
 * client.c — the rpc_watcher's service thread: one libwebsockets client
 * connection at a time to one of the configured endpoints, JSON-RPC 2.0
 * requests with ids and timeouts, the watchlist and its storage
 * subscriptions (split into chunks), gap fill after reconnects, and the
 * balance-change events.  See watcher.h for the threading rules and
 * rolloutd-rpc_watcher(5) for the behaviour.
 *
 * No change lost or counted twice: every account remembers the block of
 * the value it last saw; a value at a block at or below that is old news
 * (a duplicate from an overlapping subscription, a replay after a
 * reconnect, a block that arrived out of order) and is skipped; a newer
 * value that differs is a change.  After a reconnect the blocks between the
 * last fully processed block and the new best block are read with
 * state_queryStorageAt before the new subscriptions' notifications are let
 * through, so each change is reported at the block where it happened.
 */
#include "watcher.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "header.h"
#include "hex.h"
#include "scale.h"
#include "storage.h"

#define BLOCK_RING 2048
#define SUBID_MAX 48
#define GONE_MAX 64

enum acc_state { ACC_UNKNOWN = 0, ACC_PRESENT = 1, ACC_NULL = 2 };

#define SRC_CONFIG 0x1u
#define SRC_SNAPSHOT 0x2u
#define SRC_EXTRA 0x4u
#define SRC_ADDED 0x8u

struct account {
	uint8_t pubkey[32];
	uint8_t value[80];
	uint8_t state;                  /* enum acc_state */
	uint8_t sources;                /* SRC_*; 0 = not watched any more */
	uint32_t snap_gen;
	int32_t chunk;                  /* -1: not subscribed */
	uint64_t block;                 /* block of the value we know */
};

enum chunk_state { CH_FREE = 0, CH_NEW, CH_PENDING, CH_ACTIVE };

struct chunk {
	enum chunk_state state;
	uint32_t *acc;
	size_t n;
	char subid[SUBID_MAX];
	int subid_int;
	int64_t last_block;             /* -1 until a notification was processed */
};

enum req_kind {
	RQ_METHODS, RQ_HEALTH, RQ_SUB_HEADS, RQ_SUB_FINAL, RQ_SUB_STORAGE, RQ_UNSUB,
	RQ_HEADER, RQ_BEST, RQ_GAP_HASH, RQ_GAP_QUERY,
};

struct request {
	uint64_t id;
	enum req_kind kind;
	int64_t sent_ms;
	int32_t chunk;
	int late;                       /* timed out, kept to undo a late subscription */
	uint8_t hash[32];               /* RQ_HEADER: the block asked about */
};

struct blockinfo {
	uint8_t hash[32];
	uint64_t number;
	int64_t time_ms;
	int used, known, requested;
};

struct note_entry {
	uint32_t acc;
	uint8_t state;
	uint8_t value[80];
};

struct note {
	struct note *next;
	uint8_t hash[32];
	int64_t time_ms;
	int64_t observed_ms;
	int64_t arrived_mono_ms;
	int gap;
	int32_t chunk;
	size_t n, cap;
	struct note_entry *e;
};

struct outmsg {
	struct outmsg *next;
	size_t len;
	char *text;                     /* LWS_PRE bytes before */
};

enum conn_state { CS_IDLE = 0, CS_CONNECTING, CS_OPEN };

struct client {
	struct watcher *w;
	/* watchlist */
	struct account *acc;
	size_t nacc, capacc;
	int32_t *index;
	size_t indexcap;
	size_t nlive;
	uint32_t snap_gen;
	unsigned long extra_made;
	/* subscriptions */
	struct chunk *chunks;
	size_t nchunks;
	/* ids of subscriptions just given up (re-pack): notifications the node
	 * had already sent for them are expected, not errors */
	char gone[GONE_MAX][SUBID_MAX];
	unsigned gone_next;
	unsigned long late_notifications;
	unsigned kps, sub_limit;
	int pool_dirty;
	int64_t retry_at_ms, busy_backoff_ms;
	unsigned inflight;
	/* connection */
	struct lws *wsi;
	enum conn_state state;
	size_t ep;
	struct breaker *breakers;
	int64_t next_connect_ms, connected_ms, last_rx_ms, last_health_ms;
	unsigned attempt;
	int ever_connected, probe_ok, close_requested, chaos;
	char *rx;
	size_t rxlen, rxcap;
	int rx_discard;
	struct outmsg *head, *tail;
	/* rpc */
	uint64_t next_id;
	struct request *reqs;
	size_t nreqs, capreqs;
	/* blocks */
	struct blockinfo ring[BLOCK_RING];
	size_t ringpos;
	uint64_t best, finalized;
	int64_t synced;                 /* every chunk processed up to here; -1 never */
	/* notifications waiting for their block number or the gap fill */
	struct note *fifo_head, *fifo_tail;
	/* gap fill */
	int gap_wanted, gap_active;
	uint64_t gap_cur, gap_to;
	unsigned gap_outstanding;
	struct note *gap_note;
	/* counters (mirrored into watcher_stats) */
	unsigned long requests, errors, reconnects, notifications, changes, baselines, stale, gap_blocks;
	/* messages handled but not yet recorded in the "requests" metric (see msg_count) */
	unsigned long msgs_unrecorded;
	int64_t msgs_recorded_ms;
	int64_t setup_start_ms, setup_ms;
	int setup_done;
	char ts_key[STORAGE_TIMESTAMP_KEY_HEXLEN + 1];
	lws_sorted_usec_list_t tick_sul;   /* client_tick() every TICK_MS (service thread) */
	int64_t last_tick_ms;
	uint64_t rng;
	int last_connected_metric;
};

/* ---- host wrappers (silent once stopping) ------------------------------------ */

static void __attribute__((format(printf, 3, 4)))
c_log(struct client *c, enum rollout_log_level lvl, const char *fmt, ...)
{
	const struct rollout_host *h = c->w->host;
	char buf[1024];
	va_list ap;

	if (c->w->stopping)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h->log(h->ctx, lvl, "rpc_watcher: %s", buf);
}

static void
c_metric(struct client *c, const char *name, double v)
{
	if (!c->w->stopping)
		c->w->host->metric(c->w->host->ctx, name, v);
}

static void
c_emit(struct client *c, const struct rollout_event *ev)
{
	if (!c->w->stopping)
		c->w->host->emit(c->w->host->ctx, ev);
}

static int64_t
c_now(struct client *c)
{
	return watcher_now_ms(c->w);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The "requests" metric counts the JSON-RPC messages handled (call
 * responses and subscription notifications alike), so that
 * errors / requests is errors per message.  On the hot path a message only
 * bumps a counter: the count since the last record goes out as one sample
 * (value = the count, which rate() sums exactly) at most every
 * MSG_RECORD_MS, from the tick otherwise, and always before an error is
 * recorded, so "errors" never runs ahead of the messages that caused them.
 */
#define MSG_RECORD_MS 20

static void
msgs_record(struct client *c, int64_t now)
{
	if (c->msgs_unrecorded == 0)
		return;
	c_metric(c, "requests", (double)c->msgs_unrecorded);
	c->msgs_unrecorded = 0;
	c->msgs_recorded_ms = now;
}

/* Count one JSON-RPC message received (well-formed or not) at NOW (mono_ms). */
static void
msg_count(struct client *c, int64_t now)
{
	c->requests++;
	c->msgs_unrecorded++;
	if (now - c->msgs_recorded_ms >= MSG_RECORD_MS)
		msgs_record(c, now);
}

/* Count an error of KIND: metric "errors", "errors_KIND" and an EV_ERROR. */
static void __attribute__((format(printf, 3, 4)))
c_error(struct client *c, const char *kind, const char *fmt, ...)
{
	struct rollout_event ev;
	char msg[512], name[64];
	va_list ap;

	c->errors++;
	if (c->w->stopping)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msgs_record(c, mono_ms());
	c_metric(c, "errors", 1);
	snprintf(name, sizeof(name), "errors_%s", kind);
	c_metric(c, name, 1);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_ERROR;
	ev.u.error.kind = kind;
	ev.u.error.message = msg;
	c_emit(c, &ev);
}

static void
c_health(struct client *c, int healthy, const char *detail)
{
	struct rollout_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.healthy = healthy;
	ev.u.health.detail = detail;
	c_emit(c, &ev);
	if (c->last_connected_metric != healthy) {
		c->last_connected_metric = healthy;
		c_metric(c, "connected", healthy);
	}
}

static uint64_t
c_rand(struct client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 2685821657736338717ull;
}

/* ---- watchlist --------------------------------------------------------------- */

static size_t
acc_hash(const uint8_t pk[32])
{
	uint64_t h;

	memcpy(&h, pk + 8, 8);
	return (size_t)(h ^ (h >> 31));
}

static int
acc_index_grow(struct client *c)
{
	size_t cap = c->indexcap ? c->indexcap * 2 : 1024, i;
	int32_t *idx = malloc(cap * sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	for (i = 0; i < cap; i++)
		idx[i] = -1;
	for (i = 0; i < c->nacc; i++) {
		size_t h = acc_hash(c->acc[i].pubkey) & (cap - 1);

		while (idx[h] >= 0)
			h = (h + 1) & (cap - 1);
		idx[h] = (int32_t)i;
	}
	free(c->index);
	c->index = idx;
	c->indexcap = cap;
	return 0;
}

static long
acc_find(const struct client *c, const uint8_t pk[32])
{
	size_t h;

	if (c->indexcap == 0)
		return -1;
	for (h = acc_hash(pk) & (c->indexcap - 1); c->index[h] >= 0; h = (h + 1) & (c->indexcap - 1))
		if (memcmp(c->acc[c->index[h]].pubkey, pk, 32) == 0)
			return c->index[h];
	return -1;
}

/* Watch PK because of SRC.  Returns the index or -ENOMEM. */
static long
acc_watch(struct client *c, const uint8_t pk[32], unsigned src)
{
	long i = acc_find(c, pk);
	struct account *a;

	if (i >= 0) {
		a = &c->acc[i];
		if (a->sources == 0) {
			c->nlive++;
			if (a->chunk < 0)
				c->pool_dirty = 1;
		}
		a->sources |= (uint8_t)src;
		return i;
	}
	if ((c->nacc + 1) * 2 > c->indexcap && acc_index_grow(c) < 0)
		return -ENOMEM;
	if (c->nacc == c->capacc) {
		size_t cap = c->capacc ? c->capacc * 2 : 256;
		struct account *n = realloc(c->acc, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		c->acc = n;
		c->capacc = cap;
	}
	a = &c->acc[c->nacc];
	memset(a, 0, sizeof(*a));
	memcpy(a->pubkey, pk, 32);
	a->sources = (uint8_t)src;
	a->chunk = -1;
	{
		size_t h = acc_hash(pk) & (c->indexcap - 1);

		while (c->index[h] >= 0)
			h = (h + 1) & (c->indexcap - 1);
		c->index[h] = (int32_t)c->nacc;
	}
	c->nlive++;
	c->pool_dirty = 1;
	return (long)c->nacc++;
}

static void chunk_dissolve(struct client *c, size_t k, int unsubscribe);

/* Stop watching I for SRC; when no source is left the account is dropped. */
static void
acc_unwatch(struct client *c, size_t i, unsigned src)
{
	struct account *a = &c->acc[i];

	if (a->sources == 0 || (a->sources & src) == 0)
		return;
	a->sources &= (uint8_t)~src;
	if (a->sources != 0)
		return;
	c->nlive--;
	/* forget the value: if it is watched again it starts from a new baseline */
	a->state = ACC_UNKNOWN;
	a->block = 0;
	if (a->chunk >= 0) {
		struct chunk *ch = &c->chunks[a->chunk];
		size_t k, live = 0;

		for (k = 0; k < ch->n; k++)
			if (c->acc[ch->acc[k]].sources != 0)
				live++;
		if (live == 0)
			chunk_dissolve(c, (size_t)a->chunk, 1);
	}
}

static void
extra_pubkey(unsigned long i, uint8_t pk[32])
{
	uint8_t in[26];
	int k;

	memcpy(in, "rpc_watcher/extra", 17);
	for (k = 0; k < 8; k++)
		in[17 + k] = (uint8_t)(i >> (8 * k));
	in[25] = 0;
	blake2_256(in, sizeof(in), pk);
}

/* ---- output ---------------------------------------------------------------------- */

struct sbuf {
	char *p;
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

static void
sb_free(struct sbuf *s)
{
	if (s->p != NULL)
		free(s->p - LWS_PRE);
	memset(s, 0, sizeof(*s));
}

static void
out_queue(struct client *c, struct sbuf *s)
{
	struct outmsg *m = malloc(sizeof(*m));

	if (m == NULL || s->oom || s->p == NULL) {
		free(m);
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
	if (c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

static void
out_clear(struct client *c)
{
	struct outmsg *m, *next;

	for (m = c->head; m != NULL; m = next) {
		next = m->next;
		free(m->text - LWS_PRE);
		free(m);
	}
	c->head = c->tail = NULL;
}

/* Start a request; returns its id.  The caller adds params and calls req_send. */
static struct request *
req_new(struct client *c, enum req_kind kind, struct sbuf *s, const char *method)
{
	struct request *r;
	char head[160];

	if (c->nreqs == c->capreqs) {
		size_t cap = c->capreqs ? c->capreqs * 2 : 64;
		struct request *n = realloc(c->reqs, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		c->reqs = n;
		c->capreqs = cap;
	}
	r = &c->reqs[c->nreqs++];
	memset(r, 0, sizeof(*r));
	r->id = ++c->next_id;
	r->kind = kind;
	r->sent_ms = mono_ms();
	r->chunk = -1;
	snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"%s\",\"params\":",
	    r->id, method);
	sb_str(s, head);
	return r;
}

static void
req_send(struct client *c, struct sbuf *s)
{
	sb_str(s, "}");
	out_queue(c, s);
}

static void
req_simple(struct client *c, enum req_kind kind, const char *method, const char *params)
{
	struct sbuf s = { 0 };

	if (req_new(c, kind, &s, method) == NULL) {
		sb_free(&s);
		return;
	}
	sb_str(&s, params);
	req_send(c, &s);
}

/* ---- blocks ------------------------------------------------------------------------ */

static struct blockinfo *
ring_find(struct client *c, const uint8_t hash[32])
{
	size_t i;

	for (i = 0; i < BLOCK_RING; i++) {
		struct blockinfo *b = &c->ring[(c->ringpos + BLOCK_RING - 1 - i) % BLOCK_RING];

		if (!b->used)
			break;
		if (memcmp(b->hash, hash, 32) == 0)
			return b;
	}
	return NULL;
}

static struct blockinfo *
ring_get(struct client *c, const uint8_t hash[32])
{
	struct blockinfo *b = ring_find(c, hash);

	if (b != NULL)
		return b;
	b = &c->ring[c->ringpos];
	c->ringpos = (c->ringpos + 1) % BLOCK_RING;
	memset(b, 0, sizeof(*b));
	memcpy(b->hash, hash, 32);
	b->used = 1;
	return b;
}

/* "0x1a", "0x0000001a" or a JSON integer -> number; -1 when malformed. */
static int
parse_number(json_t *v, uint64_t *out)
{
	const char *s;
	uint64_t n = 0;
	size_t i, digits = 0;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s[2] == '\0')
		return -1;
	for (i = 2; s[i] != '\0'; i++) {
		int d;
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return -1;
		if (n == 0 && d == 0)
			continue; /* zero padding */
		if (++digits > 16)
			return -1;
		n = n << 4 | (uint64_t)d;
	}
	*out = n;
	return 0;
}

static int
parse_hash(json_t *v, uint8_t hash[32])
{
	size_t n;

	if (!json_is_string(v) || hex_decode(json_string_value(v), hash, 32, &n) < 0 || n != 32)
		return -1;
	return 0;
}

/* ---- events ------------------------------------------------------------------------- */

static void
acc_data(const struct account *a, struct rollout_account_data *d)
{
	memset(d, 0, sizeof(*d));
	if (a->state == ACC_PRESENT)
		scale_decode_account_info(a->value, 80, d, NULL, NULL, NULL, NULL);
}

/* Apply one observed value of account E->acc at block NUMBER. */
static void
apply_entry(struct client *c, const struct note *nt, const struct note_entry *e, uint64_t number,
    int64_t time_ms)
{
	struct account *a = &c->acc[e->acc];
	struct rollout_event ev;
	struct rollout_balance_change *bc = &ev.u.balance;
	int first;

	if (a->sources == 0)
		return;
	if (a->state != ACC_UNKNOWN && number <= a->block) {
		c->stale++;
		return;
	}
	first = a->state == ACC_UNKNOWN;
	if (!first && a->state == e->state &&
	    (e->state == ACC_NULL || memcmp(a->value, e->value, 80) == 0)) {
		a->block = number;
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_BALANCE;
	memcpy(bc->pubkey, a->pubkey, 32);
	bc->block_from = bc->block_to = number;
	memcpy(bc->block_hash, nt->hash, 32);
	bc->block_time_ms = time_ms;
	bc->window_start_ms = bc->window_end_ms = time_ms;
	bc->observed_ms = nt->observed_ms;
	bc->has_before = !first;
	bc->known_mask = ROLLOUT_KNOW_ALL;
	if (!first)
		acc_data(a, &bc->before);
	a->state = e->state;
	if (e->state == ACC_PRESENT)
		memcpy(a->value, e->value, 80);
	a->block = number;
	acc_data(a, &bc->after);
	bc->reaped = e->state == ACC_NULL;
	if (first)
		c->baselines++;
	else
		c->changes++;
	c_emit(c, &ev);
}

static void
note_free(struct note *n)
{
	if (n == NULL)
		return;
	free(n->e);
	free(n);
}

static void
note_process(struct client *c, struct note *nt, uint64_t number, int64_t time_ms)
{
	size_t i;

	if (time_ms == 0)
		time_ms = nt->time_ms;
	for (i = 0; i < nt->n; i++)
		apply_entry(c, nt, &nt->e[i], number, time_ms);
	if (nt->chunk >= 0 && (size_t)nt->chunk < c->nchunks &&
	    c->chunks[nt->chunk].state == CH_ACTIVE && (int64_t)number > c->chunks[nt->chunk].last_block)
		c->chunks[nt->chunk].last_block = (int64_t)number;
	if (!nt->gap && time_ms > 0 && nt->observed_ms >= time_ms)
		c_metric(c, "notification_lag", (double)(nt->observed_ms - time_ms) / 1000.0);
}

/* Ask the node for the number of block HASH (once). */
static void
block_request(struct client *c, struct blockinfo *b)
{
	struct sbuf s = { 0 };
	struct request *r;
	char h[67];

	if (b->requested || c->state != CS_OPEN)
		return;
	r = req_new(c, RQ_HEADER, &s, "chain_getHeader");
	if (r == NULL) {
		sb_free(&s);
		return;
	}
	memcpy(r->hash, b->hash, 32);
	hex_encode(b->hash, 32, h, 1);
	sb_str(&s, "[\"");
	sb_str(&s, h);
	sb_str(&s, "\"]");
	req_send(c, &s);
	b->requested = 1;
}

static void
fifo_unlink(struct client *c, struct note *prev, struct note *nt)
{
	if (prev == NULL)
		c->fifo_head = nt->next;
	else
		prev->next = nt->next;
	if (c->fifo_tail == nt)
		c->fifo_tail = prev;
}

/*
 * Process what can be processed, in order.  A subscription that includes
 * Timestamp.Now hears about every block, so a note more than one block ahead
 * of its chunk means a block is still on its way (out of order): wait for it
 * up to REORDER_WAIT_MS, then go on (the missed block's changes merge into
 * the later one, counted as stale).
 */
#define REORDER_WAIT_MS 1000

static void
fifo_drain(struct client *c)
{
	struct note *nt;

	while ((nt = c->fifo_head) != NULL && !c->gap_active) {
		struct blockinfo *b = ring_get(c, nt->hash);
		struct chunk *ch = nt->chunk >= 0 && (size_t)nt->chunk < c->nchunks ?
		    &c->chunks[nt->chunk] : NULL;
		struct note *pick = nt, *pick_prev = NULL;
		uint64_t number;
		int64_t time_ms;

		if (!b->known) {
			block_request(c, b);
			return;
		}
		/*
		 * Copy what is needed of B: the ring_get() calls below may reuse
		 * its slot for another block (the ring is a fixed size).
		 */
		number = b->number;
		time_ms = b->time_ms;
		if (ch != NULL && ch->state == CH_ACTIVE && ch->last_block >= 0 &&
		    number > (uint64_t)ch->last_block + 1) {
			/* an older block of the same chunk already queued behind? */
			struct note *p, *prev = nt;
			uint64_t best = number;
			int64_t best_time = 0;

			pick = NULL;
			for (p = nt->next; p != NULL; prev = p, p = p->next) {
				struct blockinfo *pb;

				if (p->chunk != nt->chunk)
					continue;
				pb = ring_get(c, p->hash);
				if (!pb->known) {
					block_request(c, pb);
					continue;
				}
				if (pb->number < best) {
					best = pb->number;
					best_time = pb->time_ms;
					pick = p;
					pick_prev = prev;
				}
			}
			if (pick == NULL) {
				if (mono_ms() - nt->arrived_mono_ms < REORDER_WAIT_MS)
					return;
				c_log(c, ROLLOUT_LOG_WARN, "block #%" PRIu64 " never came for a subscription "
				    "(now at #%" PRIu64 "): its changes merge into the later block",
				    (uint64_t)ch->last_block + 1, number);
				pick = nt;
				pick_prev = NULL;
			} else {
				number = best;
				time_ms = best_time;
			}
		}
		if (pick->time_ms != 0 && time_ms == 0) {
			struct blockinfo *pb = ring_find(c, pick->hash);

			time_ms = pick->time_ms;
			if (pb != NULL && pb->time_ms == 0)
				pb->time_ms = time_ms;
		}
		fifo_unlink(c, pick_prev, pick);
		note_process(c, pick, number, time_ms);
		note_free(pick);
	}
}

static void
fifo_push(struct client *c, struct note *nt)
{
	struct blockinfo *b;

	if (nt->time_ms != 0) {
		b = ring_get(c, nt->hash);
		if (b->time_ms == 0)
			b->time_ms = nt->time_ms;
	}
	nt->next = NULL;
	if (c->fifo_tail != NULL)
		c->fifo_tail->next = nt;
	else
		c->fifo_head = nt;
	c->fifo_tail = nt;
	fifo_drain(c);
}

static void
fifo_clear(struct client *c)
{
	struct note *nt, *next;

	for (nt = c->fifo_head; nt != NULL; nt = next) {
		next = nt->next;
		note_free(nt);
	}
	c->fifo_head = c->fifo_tail = NULL;
}

static int
note_reserve(struct note *nt, size_t more)
{
	size_t cap;
	struct note_entry *e;

	if (nt->n + more <= nt->cap)
		return 0;
	cap = nt->cap ? nt->cap * 2 : 64;
	while (cap < nt->n + more)
		cap *= 2;
	e = realloc(nt->e, cap * sizeof(*e));
	if (e == NULL)
		return -1;
	nt->e = e;
	nt->cap = cap;
	return 0;
}

/*
 * One change of a notification: KEY (KLEN characters of hex) and VALUE
 * (VLEN characters of hex, or NULL for a JSON null).  A bad change is
 * counted as a decode error and skipped.
 */
static void
note_add_change(struct client *c, struct note *nt, size_t i, const char *ks, size_t klen,
    const char *vs, size_t vlen)
{
	uint8_t key[80], pk[32];
	struct note_entry *e;
	size_t n;
	long idx;

	if (klen == STORAGE_TIMESTAMP_KEY_HEXLEN && strncasecmp(ks, c->ts_key, klen) == 0) {
		uint8_t t[8];
		uint64_t ms;

		if (vs != NULL && hex_decode_n(vs, vlen, t, 8, &n) == 0 && scale_decode_u64(t, n, &ms) == 0)
			nt->time_ms = (int64_t)ms;
		else
			c_error(c, "decode", "Timestamp.Now: expected 8 bytes of SCALE u64");
		return;
	}
	if (hex_decode_n(ks, klen, key, sizeof(key), &n) < 0 ||
	    storage_account_from_key(key, n, pk) < 0) {
		c_error(c, "decode", "storage change %zu: key %.40s... is not a System.Account key", i, ks);
		return;
	}
	idx = acc_find(c, pk);
	if (idx < 0 || c->acc[idx].sources == 0)
		return; /* no longer watched */
	if (note_reserve(nt, 1) < 0) {
		c_error(c, "memory", "out of memory decoding a notification");
		return;
	}
	e = &nt->e[nt->n];
	e->acc = (uint32_t)idx;
	if (vs == NULL) {
		e->state = ACC_NULL;
	} else {
		struct rollout_account_data d;

		if (hex_decode_n(vs, vlen, e->value, 80, &n) < 0 ||
		    scale_decode_account_info(e->value, n, &d, NULL, NULL, NULL, NULL) < 0) {
			c_error(c, "decode", "AccountInfo of key %.20s...: expected 80 bytes of SCALE (nonce, "
			    "consumers, providers, sufficients, free, reserved, frozen, flags)", ks);
			return;
		}
		e->state = ACC_PRESENT;
	}
	nt->n++;
}

/*
 * Parse CHANGES ([[key, value|null], ...]) into NT.  Bad elements are
 * counted as decode errors and skipped.  Returns -1 when CHANGES is not an
 * array at all.
 */
static int
note_parse_changes(struct client *c, struct note *nt, json_t *changes)
{
	size_t i;
	json_t *pair;

	if (!json_is_array(changes))
		return -1;
	if (note_reserve(nt, json_array_size(changes)) < 0)
		return -1;
	json_array_foreach(changes, i, pair) {
		json_t *k = json_array_get(pair, 0), *v = json_array_get(pair, 1);
		const char *ks = json_string_value(k);

		if (!json_is_array(pair) || json_array_size(pair) != 2 || ks == NULL ||
		    (v == NULL || (!json_is_null(v) && !json_is_string(v)))) {
			c_error(c, "decode", "storage change %zu: expected [key, value|null]", i);
			continue;
		}
		note_add_change(c, nt, i, ks, json_string_length(k), json_string_value(v),
		    json_is_null(v) ? 0 : json_string_length(v));
	}
	return 0;
}

/* ---- subscriptions --------------------------------------------------------------- */

static unsigned
kps_effective(struct client *c)
{
	/* each key is "0x" + 160 hex digits, quoted, comma: 165 bytes */
	size_t by_bytes = (c->w->conf.max_request_bytes - 256) / 165;
	unsigned k = c->kps;

	if (k > by_bytes)
		k = (unsigned)(by_bytes ? by_bytes : 1);
	return k ? k : 1;
}

static void
gone_add(struct client *c, const char *subid)
{
	snprintf(c->gone[c->gone_next++ % GONE_MAX], SUBID_MAX, "%s", subid);
}

/* 1 when SUBID is a subscription given up lately: its late notification is dropped. */
static int
gone_late(struct client *c, const char *subid)
{
	for (size_t i = 0; i < GONE_MAX; i++)
		if (c->gone[i][0] != '\0' && strcmp(c->gone[i], subid) == 0) {
			c->late_notifications++;
			return 1;
		}
	return 0;
}

static void
chunk_dissolve(struct client *c, size_t k, int unsubscribe)
{
	struct chunk *ch = &c->chunks[k];
	size_t i;

	if (ch->state == CH_ACTIVE && ch->subid[0] != '\0')
		gone_add(c, ch->subid);

	if (unsubscribe && ch->state == CH_ACTIVE && c->state == CS_OPEN) {
		struct sbuf s = { 0 };

		if (req_new(c, RQ_UNSUB, &s, "state_unsubscribeStorage") != NULL) {
			sb_str(&s, "[");
			if (ch->subid_int) {
				sb_str(&s, ch->subid);
			} else {
				sb_str(&s, "\"");
				sb_str(&s, ch->subid);
				sb_str(&s, "\"");
			}
			sb_str(&s, "]");
			req_send(c, &s);
		} else {
			sb_free(&s);
		}
	}
	for (i = 0; i < ch->n; i++) {
		struct account *a = &c->acc[ch->acc[i]];

		if (a->chunk == (int32_t)k) {
			a->chunk = -1;
			if (a->sources != 0)
				c->pool_dirty = 1;
		}
	}
	free(ch->acc);
	memset(ch, 0, sizeof(*ch));
}

static size_t
chunk_alloc(struct client *c)
{
	size_t k;

	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state == CH_FREE)
			return k;
	{
		size_t cap = c->nchunks ? c->nchunks * 2 : 16;
		struct chunk *n = realloc(c->chunks, cap * sizeof(*n));

		if (n == NULL)
			return (size_t)-1;
		memset(n + c->nchunks, 0, (cap - c->nchunks) * sizeof(*n));
		c->chunks = n;
		c->nchunks = cap;
	}
	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state == CH_FREE)
			return k;
	return (size_t)-1;
}

static void
chunk_counts(struct client *c, size_t *nnew, size_t *npending, size_t *nactive)
{
	size_t k;

	*nnew = *npending = *nactive = 0;
	for (k = 0; k < c->nchunks; k++) {
		switch (c->chunks[k].state) {
		case CH_NEW:
			(*nnew)++;
			break;
		case CH_PENDING:
			(*npending)++;
			break;
		case CH_ACTIVE:
			(*nactive)++;
			break;
		default:
			break;
		}
	}
}

/* Put every watched, unsubscribed account into new chunks. */
static int
chunks_build(struct client *c)
{
	unsigned kps = kps_effective(c);
	size_t i, k = (size_t)-1;

	for (i = 0; i < c->nacc; i++) {
		struct account *a = &c->acc[i];
		struct chunk *ch;

		if (a->sources == 0 || a->chunk >= 0)
			continue;
		if (k == (size_t)-1 || c->chunks[k].n >= kps) {
			k = chunk_alloc(c);
			if (k == (size_t)-1)
				return -ENOMEM;
			ch = &c->chunks[k];
			ch->acc = malloc(kps * sizeof(*ch->acc));
			if (ch->acc == NULL)
				return -ENOMEM;
			ch->state = CH_NEW;
		}
		ch = &c->chunks[k];
		ch->acc[ch->n++] = (uint32_t)i;
		a->chunk = (int32_t)k;
	}
	c->pool_dirty = 0;
	return 0;
}

static void
chunk_subscribe(struct client *c, size_t k)
{
	struct chunk *ch = &c->chunks[k];
	struct sbuf s = { 0 };
	struct request *r = req_new(c, RQ_SUB_STORAGE, &s, "state_subscribeStorage");
	char key[STORAGE_ACCOUNT_KEY_HEXLEN + 1];
	size_t i;

	if (r == NULL) {
		sb_free(&s);
		return;
	}
	r->chunk = (int32_t)k;
	sb_reserve(&s, 170 * (ch->n + 1) + 64);
	sb_str(&s, "[[\"");
	sb_str(&s, c->ts_key);
	sb_str(&s, "\"");
	for (i = 0; i < ch->n; i++) {
		storage_system_account_key_hex(c->acc[ch->acc[i]].pubkey, key);
		sb_add(&s, ",\"", 2);
		sb_add(&s, key, STORAGE_ACCOUNT_KEY_HEXLEN);
		sb_add(&s, "\"", 1);
	}
	sb_str(&s, "]]");
	ch->state = CH_PENDING;
	ch->last_block = -1;
	c->inflight++;
	req_send(c, &s);
}

static void
setup_check(struct client *c)
{
	size_t nnew, npending, nactive;

	if (c->setup_done || c->pool_dirty)
		return;
	chunk_counts(c, &nnew, &npending, &nactive);
	if (nnew == 0 && npending == 0) {
		c->setup_done = 1;
		c->setup_ms = mono_ms() - c->setup_start_ms;
		c->attempt = 0;
		c_metric(c, "watched", (double)c->nlive);
		c_metric(c, "subscriptions", (double)nactive);
		c_log(c, ROLLOUT_LOG_INFO, "watching %zu accounts in %zu storage subscriptions "
		    "(%u keys each at most), set up in %lld ms", c->nlive, nactive, kps_effective(c),
		    (long long)c->setup_ms);
	}
}

static void
chunks_pump(struct client *c)
{
	size_t k, nnew, npending, nactive;

	if (c->state != CS_OPEN || mono_ms() < c->retry_at_ms)
		return;
	if (c->pool_dirty && chunks_build(c) < 0) {
		c_error(c, "memory", "out of memory building subscriptions");
		return;
	}
	chunk_counts(c, &nnew, &npending, &nactive);
	if (nnew > 0 && npending == 0 && nactive + 2 + nnew > c->sub_limit) {
		/*
		 * Not enough subscriptions left on this connection: make the
		 * chunks bigger and re-pack what is not subscribed yet together
		 * with the smallest active chunk.
		 */
		size_t smallest = (size_t)-1;

		c->kps *= 2;
		for (k = 0; k < c->nchunks; k++) {
			if (c->chunks[k].state == CH_NEW)
				chunk_dissolve(c, k, 0);
			else if (c->chunks[k].state == CH_ACTIVE &&
			    (smallest == (size_t)-1 || c->chunks[k].n < c->chunks[smallest].n))
				smallest = k;
		}
		if (smallest != (size_t)-1 && nactive + 2 >= c->sub_limit)
			chunk_dissolve(c, smallest, 1);
		c_log(c, ROLLOUT_LOG_WARN, "subscription limit %u reached: %u keys per subscription now",
		    c->sub_limit, kps_effective(c));
		if (chunks_build(c) < 0)
			return;
		chunk_counts(c, &nnew, &npending, &nactive);
	}
	for (k = 0; k < c->nchunks && c->inflight < c->w->conf.max_inflight; k++) {
		if (c->chunks[k].state != CH_NEW)
			continue;
		if (nactive + npending + 2 >= c->sub_limit)
			break;
		chunk_subscribe(c, k);
		npending++;
	}
	setup_check(c);
}

/* ---- gap fill ------------------------------------------------------------------------ */

static void gap_next(struct client *c);

static void
gap_finish(struct client *c)
{
	c->gap_active = 0;
	c->gap_wanted = 0;
	note_free(c->gap_note);
	c->gap_note = NULL;
	fifo_drain(c);
}

static void
gap_start(struct client *c)
{
	uint64_t from = (uint64_t)(c->synced + 1), to = c->best;

	if (!c->gap_wanted || c->gap_active || c->best == 0 || c->state != CS_OPEN)
		return;
	if (to < from) {
		gap_finish(c);
		return;
	}
	if (to - from + 1 > c->w->conf.max_gap_blocks) {
		c_log(c, ROLLOUT_LOG_WARN, "gap of %" PRIu64 " blocks (#%" PRIu64 "..#%" PRIu64 ") exceeds "
		    "max_gap_blocks %u: reading the latest values only, changes in between are merged",
		    to - from + 1, from, to, c->w->conf.max_gap_blocks);
		from = to;
	}
	c_log(c, ROLLOUT_LOG_INFO, "gap fill #%" PRIu64 "..#%" PRIu64, from, to);
	c->gap_active = 1;
	c->gap_cur = from;
	c->gap_to = to;
	gap_next(c);
}

static void
gap_next(struct client *c)
{
	struct sbuf s = { 0 };
	char num[32];

	if (c->gap_cur > c->gap_to) {
		gap_finish(c);
		return;
	}
	if (req_new(c, RQ_GAP_HASH, &s, "chain_getBlockHash") == NULL) {
		sb_free(&s);
		return;
	}
	snprintf(num, sizeof(num), "[%" PRIu64 "]", c->gap_cur);
	sb_str(&s, num);
	req_send(c, &s);
}

static void
gap_query(struct client *c, const uint8_t hash[32])
{
	unsigned kps = kps_effective(c);
	char h[67], key[STORAGE_ACCOUNT_KEY_HEXLEN + 1];
	size_t i = 0;

	c->gap_note = calloc(1, sizeof(*c->gap_note));
	if (c->gap_note == NULL) {
		gap_finish(c);
		return;
	}
	memcpy(c->gap_note->hash, hash, 32);
	c->gap_note->gap = 1;
	c->gap_note->chunk = -1;
	hex_encode(hash, 32, h, 1);
	c->gap_outstanding = 0;
	while (i < c->nacc) {
		struct sbuf s = { 0 };
		unsigned n = 0;

		if (req_new(c, RQ_GAP_QUERY, &s, "state_queryStorageAt") == NULL) {
			sb_free(&s);
			break;
		}
		sb_str(&s, "[[\"");
		sb_str(&s, c->ts_key);
		sb_str(&s, "\"");
		for (; i < c->nacc && n < kps; i++) {
			if (c->acc[i].sources == 0)
				continue;
			storage_system_account_key_hex(c->acc[i].pubkey, key);
			sb_add(&s, ",\"", 2);
			sb_add(&s, key, STORAGE_ACCOUNT_KEY_HEXLEN);
			sb_add(&s, "\"", 1);
			n++;
		}
		sb_str(&s, "],\"");
		sb_str(&s, h);
		sb_str(&s, "\"]");
		req_send(c, &s);
		c->gap_outstanding++;
	}
	if (c->gap_outstanding == 0)
		gap_finish(c);
}

static void
gap_query_done(struct client *c)
{
	struct note *nt = c->gap_note;

	if (nt == NULL || --c->gap_outstanding > 0)
		return;
	nt->observed_ms = c_now(c);
	{
		struct blockinfo *b = ring_get(c, nt->hash);

		b->number = c->gap_cur;
		b->known = 1;
		if (nt->time_ms)
			b->time_ms = nt->time_ms;
	}
	note_process(c, nt, c->gap_cur, 0);
	c->gap_blocks++;
	note_free(nt);
	c->gap_note = NULL;
	c->gap_cur++;
	gap_next(c);
}

/* ---- incoming messages ------------------------------------------------------------------ */

static int
subid_text(json_t *v, char *out, size_t len, int *is_int)
{
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) >= len)
			return -1;
		snprintf(out, len, "%s", json_string_value(v));
		*is_int = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*is_int = 1;
		return 0;
	}
	return -1;
}

/* ---- the fast path for storage notifications ------------------------------------------ */

/*
 * Substrate sends storage notifications as compact JSON of one fixed shape:
 *   {"jsonrpc":"2.0","method":"state_storage","params":{"subscription":ID,
 *    "result":{"block":"0x..","changes":[["0x..","0x.."|null],...]}}}
 * This scanner handles exactly that shape without building a JSON tree (the
 * tree costs more than everything else together).  Anything else, including
 * every malformed input, returns 0 and goes through jansson, which
 * validates it and reports the errors.
 */
static const char *
fast_lit(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* 1 for the bytes of [0-9a-fA-F] (one load per character instead of six compares) */
static const uint8_t fast_is_hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
};

/* A JSON string of hex digits after "0x": returns the char after the closing quote. */
static const char *
fast_hexstr(const char *p, const char *end, const char **s, size_t *len)
{
	const char *q;

	if (p == NULL || end - p < 4 || p[0] != '"' || p[1] != '0' || p[2] != 'x')
		return NULL;
	for (q = p + 3; q < end && fast_is_hex[(uint8_t)*q]; q++)
		;
	if (q >= end || *q != '"')
		return NULL;
	*s = p + 1;
	*len = (size_t)(q - p - 1);
	return q + 1;
}

/* One ["0x..","0x.."|null] pair; returns what follows it, NULL if it is not one. */
static const char *
fast_pair(const char *p, const char *end, const char **ks, size_t *kl, const char **vs, size_t *vl)
{
	p = fast_lit(p, end, "[");
	p = fast_hexstr(p, end, ks, kl);
	if (p == NULL || (p = fast_lit(p, end, ",")) == NULL)
		return NULL;
	if (fast_lit(p, end, "null") != NULL) {
		*vs = NULL;
		*vl = 0;
		p += 4;
	} else if ((p = fast_hexstr(p, end, vs, vl)) == NULL) {
		return NULL;
	}
	return fast_lit(p, end, "]");
}

static int
fast_storage(struct client *c, const char *text, size_t len, int64_t observed)
{
	const char *p = text, *end = text + len, *q, *hs, *ks, *vs, *changes;
	char subid[SUBID_MAX];
	size_t k, n, hl, kl, vl, i;
	struct note *nt;

	p = fast_lit(p, end, "{\"jsonrpc\":\"2.0\",\"method\":\"state_storage\",\"params\":{\"subscription\":");
	if (p == NULL)
		return 0;
	if (p < end && *p == '"') {
		for (q = p + 1; q < end && *q != '"' && *q != '\\'; q++)
			;
		if (q >= end || *q != '"' || (size_t)(q - p - 1) >= sizeof(subid))
			return 0;
		memcpy(subid, p + 1, (size_t)(q - p - 1));
		subid[q - p - 1] = '\0';
		p = q + 1;
	} else {
		for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q == p || (size_t)(q - p) >= sizeof(subid))
			return 0;
		memcpy(subid, p, (size_t)(q - p));
		subid[q - p] = '\0';
		p = q;
	}
	p = fast_lit(p, end, ",\"result\":{\"block\":");
	p = fast_hexstr(p, end, &hs, &hl);
	if (p == NULL || hl != 66)
		return 0;
	if ((p = fast_lit(p, end, ",\"changes\":[")) == NULL)
		return 0;
	/* first pass: the whole message must have the shape, to the last byte */
	changes = p;
	for (n = 0; p < end && *p != ']'; n++) {
		if (n > 0 && (p = fast_lit(p, end, ",")) == NULL)
			return 0;
		if ((p = fast_pair(p, end, &ks, &kl, &vs, &vl)) == NULL)
			return 0;
	}
	if (fast_lit(p, end, "]}}}") == NULL || p + 4 != end)
		return 0;
	/* second pass: the same as on_storage() */
	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state == CH_ACTIVE && strcmp(c->chunks[k].subid, subid) == 0)
			break;
	if (k == c->nchunks) {
		if (!gone_late(c, subid))
			c_error(c, "unknown_subscription", "state_storage for unknown subscription %s",
			    subid);
		return 1;
	}
	nt = calloc(1, sizeof(*nt));
	if (nt == NULL || note_reserve(nt, n) < 0 || hex_decode_n(hs, hl, nt->hash, 32, &hl) < 0) {
		note_free(nt);
		return 1;
	}
	nt->chunk = (int32_t)k;
	nt->observed_ms = observed;
	nt->arrived_mono_ms = mono_ms();
	for (p = changes, i = 0; i < n; i++) {
		if (i > 0)
			p++;
		p = fast_pair(p, end, &ks, &kl, &vs, &vl);
		note_add_change(c, nt, i, ks, kl, vs, vl);
	}
	c->notifications++;
	fifo_push(c, nt);
	return 1;
}

static void
on_storage(struct client *c, json_t *params, int64_t observed)
{
	json_t *result = json_object_get(params, "result");
	char subid[SUBID_MAX];
	struct note *nt;
	size_t k;
	int is_int;

	if (subid_text(json_object_get(params, "subscription"), subid, sizeof(subid), &is_int) < 0 ||
	    !json_is_object(result)) {
		c_error(c, "protocol", "state_storage: no subscription id or result");
		return;
	}
	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state == CH_ACTIVE && strcmp(c->chunks[k].subid, subid) == 0)
			break;
	if (k == c->nchunks) {
		if (!gone_late(c, subid))
			c_error(c, "unknown_subscription", "state_storage for unknown subscription %s",
			    subid);
		return;
	}
	nt = calloc(1, sizeof(*nt));
	if (nt == NULL)
		return;
	nt->chunk = (int32_t)k;
	nt->observed_ms = observed;
	nt->arrived_mono_ms = mono_ms();
	if (parse_hash(json_object_get(result, "block"), nt->hash) < 0 ||
	    note_parse_changes(c, nt, json_object_get(result, "changes")) < 0) {
		c_error(c, "protocol", "state_storage: expected {block: 0x<32 bytes>, changes: [...]}");
		note_free(nt);
		return;
	}
	c->notifications++;
	fifo_push(c, nt);
}

/*
 * Learn the hash of header RESULT (number N): the hash is not in the
 * notification, but it is BLAKE2b-256 of the SCALE header.  Saves a
 * chain_getHeader round trip per block; when a field is missing or odd the
 * block is simply looked up later.
 */
static void
head_learn(struct client *c, json_t *result, uint64_t n)
{
	uint8_t parent[32], sr[32], er[32], h[32], logs[4096];
	json_t *arr = json_object_get(json_object_get(result, "digest"), "logs"), *l;
	size_t i, off = 0, len;
	struct blockinfo *b;

	if (parse_hash(json_object_get(result, "parentHash"), parent) < 0 ||
	    parse_hash(json_object_get(result, "stateRoot"), sr) < 0 ||
	    parse_hash(json_object_get(result, "extrinsicsRoot"), er) < 0 || !json_is_array(arr))
		return;
	json_array_foreach(arr, i, l) {
		if (!json_is_string(l) ||
		    hex_decode(json_string_value(l), logs + off, sizeof(logs) - off, &len) < 0)
			return;
		off += len;
	}
	header_hash(parent, n, sr, er, json_array_size(arr), logs, off, h);
	b = ring_get(c, h);
	if (!b->known) {
		b->number = n;
		b->known = 1;
	}
}

static void
on_head(struct client *c, json_t *params, int finalized)
{
	json_t *result = json_object_get(params, "result");
	uint64_t n;

	if (parse_number(json_object_get(result, "number"), &n) < 0) {
		c_error(c, "protocol", "%s: header without a valid number",
		    finalized ? "chain_finalizedHead" : "chain_newHead");
		return;
	}
	head_learn(c, result, n);
	if (finalized) {
		if (n > c->finalized) {
			c->finalized = n;
			c_metric(c, "finalized_block", (double)n);
		}
		return;
	}
	if (n > c->best) {
		c->best = n;
		c_metric(c, "best_block", (double)n);
	}
	gap_start(c);
	fifo_drain(c);
}

static struct request *
req_take(struct client *c, uint64_t id, struct request *out)
{
	size_t i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].id == id) {
			*out = c->reqs[i];
			c->reqs[i] = c->reqs[--c->nreqs];
			return out;
		}
	}
	return NULL;
}

static void
on_sub_storage_reply(struct client *c, const struct request *r, json_t *result, json_t *error)
{
	struct chunk *ch;

	if (c->inflight > 0)
		c->inflight--;
	if (r->chunk < 0 || (size_t)r->chunk >= c->nchunks)
		return;
	ch = &c->chunks[r->chunk];
	if (ch->state != CH_PENDING)
		return;
	if (error == NULL) {
		if (subid_text(result, ch->subid, sizeof(ch->subid), &ch->subid_int) < 0) {
			c_error(c, "protocol", "state_subscribeStorage: result is not a subscription id");
			chunk_dissolve(c, (size_t)r->chunk, 0);
			c->retry_at_ms = mono_ms() + c->w->conf.backoff_min_ms;
			return;
		}
		ch->state = CH_ACTIVE;
		c->busy_backoff_ms = 0;
		return;
	}
	{
		json_int_t code = json_integer_value(json_object_get(error, "code"));
		const char *msg = json_string_value(json_object_get(error, "message"));
		size_t nnew, npending, nactive, n = ch->n;

		chunk_dissolve(c, (size_t)r->chunk, 0);
		chunk_counts(c, &nnew, &npending, &nactive);
		if (code == -32007) {
			c_error(c, "request_too_big", "state_subscribeStorage with %zu keys: %s (%lld); "
			    "splitting", n + 1, msg ? msg : "", (long long)code);
			c->kps = n > 1 ? (unsigned)(n / 2) : 1;
		} else if (code == -32006) {
			c_error(c, "too_many_subscriptions", "state_subscribeStorage: %s (%lld) with %zu "
			    "subscriptions open", msg ? msg : "", (long long)code, nactive + 2);
			c->sub_limit = (unsigned)(nactive + npending + 2);
			if (c->sub_limit < 3)
				c->sub_limit = 3;
		} else {
			c->busy_backoff_ms = c->busy_backoff_ms ? c->busy_backoff_ms * 2 : 100;
			if (c->busy_backoff_ms > 5000)
				c->busy_backoff_ms = 5000;
			c_error(c, code == -32009 ? "busy" : "rpc_error",
			    "state_subscribeStorage: %s (%lld); retrying in %lld ms", msg ? msg : "",
			    (long long)code, (long long)c->busy_backoff_ms);
			c->retry_at_ms = mono_ms() + c->busy_backoff_ms;
		}
	}
}

static void
on_response(struct client *c, json_t *msg)
{
	json_t *idv = json_object_get(msg, "id"), *result = json_object_get(msg, "result");
	json_t *error = json_object_get(msg, "error");
	struct request r;

	if (!json_is_integer(idv) || req_take(c, (uint64_t)json_integer_value(idv), &r) == NULL) {
		c_error(c, "unknown_id", "response to an unknown request id");
		return;
	}
	if (r.late) {
		char subid[SUBID_MAX];
		int is_int;

		if (result != NULL && subid_text(result, subid, sizeof(subid), &is_int) == 0) {
			struct sbuf s = { 0 };

			if (req_new(c, RQ_UNSUB, &s, "state_unsubscribeStorage") != NULL) {
				sb_str(&s, is_int ? "[" : "[\"");
				sb_str(&s, subid);
				sb_str(&s, is_int ? "]" : "\"]");
				req_send(c, &s);
			} else {
				sb_free(&s);
			}
		}
		return;
	}
	if (error != NULL && !json_is_object(error)) {
		c_error(c, "protocol", "response error is not an object");
		error = NULL;
		result = NULL;
	}
	if (error == NULL && result == NULL) {
		c_error(c, "protocol", "response with neither result nor error");
		if (r.kind == RQ_SUB_STORAGE) {
			json_t *e = json_pack("{s:i,s:s}", "code", -32603, "message", "malformed response");

			on_sub_storage_reply(c, &r, NULL, e);
			json_decref(e);
		}
		return;
	}
	if (error != NULL && r.kind != RQ_SUB_STORAGE)
		c_error(c, "rpc_error", "request %" PRIu64 " failed: %s (%lld)", r.id,
		    json_string_value(json_object_get(error, "message")) ?
		    json_string_value(json_object_get(error, "message")) : "?",
		    (long long)json_integer_value(json_object_get(error, "code")));
	switch (r.kind) {
	case RQ_METHODS:
		if (error == NULL) {
			json_t *m = json_object_get(result, "methods"), *e;
			size_t i;
			int found = 0;

			json_array_foreach(m, i, e)
				if (json_is_string(e) && strcmp(json_string_value(e), "state_subscribeStorage") == 0)
					found = 1;
			if (!found)
				c_log(c, ROLLOUT_LOG_WARN, "endpoint does not list state_subscribeStorage in rpc_methods");
			if (!c->probe_ok) {
				c->probe_ok = 1;
				breaker_record(&c->breakers[c->ep], &c->w->conf.breaker, 0, mono_ms());
			}
		}
		break;
	case RQ_HEALTH:
		if (error == NULL && json_is_true(json_object_get(result, "isSyncing")))
			c_log(c, ROLLOUT_LOG_WARN, "node is syncing");
		break;
	case RQ_SUB_HEADS:
	case RQ_SUB_FINAL:
		break;
	case RQ_SUB_STORAGE:
		on_sub_storage_reply(c, &r, result, error);
		break;
	case RQ_UNSUB:
		break;
	case RQ_BEST:
		if (error == NULL) {
			uint64_t n;

			if (parse_number(json_object_get(result, "number"), &n) == 0 && n > c->best) {
				c->best = n;
				c_metric(c, "best_block", (double)n);
			}
			gap_start(c);
		}
		break;
	case RQ_HEADER: {
		struct blockinfo *b = ring_get(c, r.hash);
		uint64_t n;

		if (error == NULL && json_is_object(result) &&
		    parse_number(json_object_get(result, "number"), &n) == 0) {
			b->number = n;
		} else {
			/* an unknown block: place it right after what we saw last */
			c_error(c, "protocol", "chain_getHeader gave no number for a notified block");
			b->number = c->best;
		}
		b->known = 1;
		fifo_drain(c);
		break;
	}
	case RQ_GAP_HASH:
		if (error == NULL) {
			uint8_t h[32];
			json_t *v = json_is_array(result) ? json_array_get(result, 0) : result;

			if (parse_hash(v, h) == 0) {
				gap_query(c, h);
				return;
			}
		}
		c_error(c, "gap", "no hash for block #%" PRIu64 "; skipping it", c->gap_cur);
		c->gap_cur++;
		gap_next(c);
		break;
	case RQ_GAP_QUERY:
		if (error == NULL && c->gap_note != NULL) {
			json_t *set = json_array_get(result, 0);

			if (note_parse_changes(c, c->gap_note, json_object_get(set, "changes")) < 0)
				c_error(c, "protocol", "state_queryStorageAt: expected [{block, changes}]");
		}
		gap_query_done(c);
		break;
	}
}

static void stats_publish(struct client *c);

static void
on_message(struct client *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg;
	int64_t observed = c_now(c);
	const char *method;

	c->last_rx_ms = mono_ms();
	if (fast_storage(c, text, len, observed)) {
		chunks_pump(c);
		stats_publish(c);
		return;
	}
	msg = json_loadb(text, len, 0, &jerr);
	if (msg == NULL) {
		c_error(c, "parse", "malformed JSON from the node at byte %d: %s", jerr.position, jerr.text);
		return;
	}
	if (!json_is_object(msg)) {
		c_error(c, "protocol", "JSON-RPC message is not an object");
		json_decref(msg);
		return;
	}
	method = json_string_value(json_object_get(msg, "method"));
	if (method != NULL) {
		json_t *params = json_object_get(msg, "params");

		if (!json_is_object(params))
			c_error(c, "protocol", "%s: params is not an object", method);
		else if (strcmp(method, "state_storage") == 0)
			on_storage(c, params, observed);
		else if (strcmp(method, "chain_newHead") == 0)
			on_head(c, params, 0);
		else if (strcmp(method, "chain_finalizedHead") == 0)
			on_head(c, params, 1);
		else
			c_error(c, "unknown_method", "notification with unknown method %.64s", method);
	} else if (json_object_get(msg, "id") != NULL) {
		on_response(c, msg);
	} else {
		c_error(c, "protocol", "JSON-RPC message with neither method nor id");
	}
	json_decref(msg);
	chunks_pump(c);
	stats_publish(c);
}

/* ---- connection -------------------------------------------------------------------------- */

static void
conn_opened(struct client *c)
{
	size_t k;
	char detail[300];

	c->state = CS_OPEN;
	c->connected_ms = c->last_rx_ms = c->last_health_ms = mono_ms();
	c->probe_ok = 0;
	c->inflight = 0;
	c->setup_done = 0;
	c->setup_start_ms = mono_ms();
	c->retry_at_ms = 0;
	c->sub_limit = c->w->conf.max_subscriptions;
	c->kps = c->w->conf.keys_per_subscription;
	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state != CH_FREE)
			chunk_dissolve(c, k, 0);
	c->pool_dirty = 1;
	c->gap_wanted = c->synced >= 0;
	req_simple(c, RQ_METHODS, "rpc_methods", "[]");
	req_simple(c, RQ_HEALTH, "system_health", "[]");
	req_simple(c, RQ_SUB_HEADS, "chain_subscribeNewHeads", "[]");
	req_simple(c, RQ_SUB_FINAL, "chain_subscribeFinalizedHeads", "[]");
	req_simple(c, RQ_BEST, "chain_getHeader", "[]");
	chunks_pump(c);
	snprintf(detail, sizeof(detail), "connected to %s", c->w->conf.endpoints[c->ep]);
	c_log(c, ROLLOUT_LOG_INFO, "%s", detail);
	c_health(c, 1, detail);
	c->ever_connected = 1;
}

static void
conn_closed(struct client *c, const char *why, int endpoint_failed)
{
	int64_t now = mono_ms(), delay, synced = -1;
	size_t k;
	int have = 0;
	char detail[700];

	if (c->state == CS_OPEN) {
		for (k = 0; k < c->nchunks; k++) {
			if (c->chunks[k].state != CH_ACTIVE || c->chunks[k].last_block < 0)
				continue;
			if (!have || c->chunks[k].last_block < synced)
				synced = c->chunks[k].last_block;
			have = 1;
		}
		if (have && synced > c->synced)
			c->synced = synced;
	}
	if (endpoint_failed)
		breaker_record(&c->breakers[c->ep], &c->w->conf.breaker, 1, now);
	c->wsi = NULL;
	c->state = CS_IDLE;
	out_clear(c);
	c->nreqs = 0;
	c->inflight = 0;
	fifo_clear(c);
	note_free(c->gap_note);
	c->gap_note = NULL;
	c->gap_active = 0;
	c->rxlen = 0;
	c->rx_discard = 0;
	for (k = 0; k < c->nchunks; k++)
		if (c->chunks[k].state != CH_FREE)
			chunk_dissolve(c, k, 0);
	if (c->chaos) {
		delay = c->w->conf.backoff_min_ms;
		c->chaos = 0;
	} else {
		int shift = c->attempt > 16 ? 16 : (int)c->attempt;

		delay = c->w->conf.backoff_min_ms << shift;
		if (delay > c->w->conf.backoff_max_ms)
			delay = c->w->conf.backoff_max_ms;
		c->attempt++;
	}
	/* full jitter in [delay/2, delay) */
	delay = delay / 2 + (int64_t)(c_rand(c) % (uint64_t)(delay / 2 + 1));
	c->next_connect_ms = now + delay;
	snprintf(detail, sizeof(detail), "disconnected from %s: %s; reconnecting in %lld ms%s%s",
	    c->w->conf.endpoints[c->ep], why, (long long)delay,
	    endpoint_failed && c->w->conf.nendpoints > 1 ? " to " : "",
	    endpoint_failed && c->w->conf.nendpoints > 1 ?
	    c->w->conf.endpoints[(c->ep + 1) % c->w->conf.nendpoints] : "");
	if (endpoint_failed && c->w->conf.nendpoints > 1)
		c->ep = (c->ep + 1) % c->w->conf.nendpoints;
	if (!c->w->stopping) {
		c_log(c, ROLLOUT_LOG_WARN, "%s", detail);
		c_health(c, 0, detail);
	}
}

static void
conn_start(struct client *c)
{
	struct lws_client_connect_info i;
	const struct watcher_conf *cf = &c->w->conf;
	int64_t now = mono_ms(), earliest = 0;
	const char *prot, *addr, *path;
	char url[1024], pathbuf[1024];
	size_t k;
	int port;

	for (k = 0; k < cf->nendpoints; k++) {
		size_t e = (c->ep + k) % cf->nendpoints;

		if (breaker_allow(&c->breakers[e], &cf->breaker, now)) {
			c->ep = e;
			break;
		}
		if (earliest == 0 || c->breakers[e].open_until_ms < earliest)
			earliest = c->breakers[e].open_until_ms;
	}
	if (k == cf->nendpoints) {
		c->next_connect_ms = earliest;
		return;
	}
	snprintf(url, sizeof(url), "%s", cf->endpoints[c->ep]);
	if (lws_parse_uri(url, &prot, &addr, &port, &path) != 0) {
		c_error(c, "connect", "cannot parse endpoint URL %s", cf->endpoints[c->ep]);
		breaker_record(&c->breakers[c->ep], &cf->breaker, 1, now);
		c->ep = (c->ep + 1) % cf->nendpoints;
		c->next_connect_ms = now + cf->backoff_max_ms;
		return;
	}
	snprintf(pathbuf, sizeof(pathbuf), "/%s", path);
	memset(&i, 0, sizeof(i));
	i.context = c->w->ctx;
	i.address = addr;
	i.port = port;
	i.path = pathbuf;
	i.host = addr;
	i.origin = addr;
	i.ssl_connection = strcmp(prot, "wss") == 0 || strcmp(prot, "https") == 0 ? LCCSCF_USE_SSL : 0;
	i.local_protocol_name = "rpc-watcher";
	i.pwsi = &c->wsi;
	if (c->ever_connected || c->attempt > 0) {
		c->reconnects++;
		c_metric(c, "reconnects", 1);
	}
	c->state = CS_CONNECTING;
	c->connected_ms = now;
	memset(c->gone, 0, sizeof(c->gone));   /* ids of the old connection mean nothing now */
	if (lws_client_connect_via_info(&i) == NULL && c->state == CS_CONNECTING) {
		c_error(c, "connect", "cannot connect to %s", cf->endpoints[c->ep]);
		conn_closed(c, "connect failed", 1);
	}
}

static void
conn_drop(struct client *c, const char *why)
{
	if (c->wsi != NULL) {
		c->close_requested = 1;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		(void)why;
	}
}

/* ---- inbox and timers ---------------------------------------------------------------------- */

static void
inbox_process(struct client *c)
{
	struct watcher *w = c->w;
	struct watcher_inbox in;
	size_t i;

	pthread_mutex_lock(&w->lock);
	in = w->inbox;
	memset(&w->inbox, 0, sizeof(w->inbox));
	pthread_mutex_unlock(&w->lock);

	if (in.disconnect && c->wsi != NULL) {
		c_log(c, ROLLOUT_LOG_INFO, "chaos.disconnect: dropping the connection to %s",
		    w->conf.endpoints[c->ep]);
		c->chaos = 1;
		conn_drop(c, "chaos.disconnect");
	}
	for (i = 0; i < in.nadd; i++)
		if (acc_watch(c, in.add[i], SRC_ADDED) < 0)
			c_error(c, "memory", "out of memory adding an account");
	for (i = 0; i < in.nremove; i++) {
		long k = acc_find(c, in.remove[i]);

		if (k >= 0)
			acc_unwatch(c, (size_t)k, SRC_ADDED | SRC_CONFIG | SRC_SNAPSHOT | SRC_EXTRA);
	}
	if (in.snapshot_new) {
		c->snap_gen++;
		for (i = 0; i < in.nsnapshot; i++) {
			long k = acc_watch(c, in.snapshot[i], SRC_SNAPSHOT);

			if (k >= 0)
				c->acc[k].snap_gen = c->snap_gen;
		}
		for (i = 0; i < c->nacc; i++)
			if ((c->acc[i].sources & SRC_SNAPSHOT) && c->acc[i].snap_gen != c->snap_gen)
				acc_unwatch(c, i, SRC_SNAPSHOT);
		c_log(c, ROLLOUT_LOG_INFO, "watchlist from the %s snapshot: %zu accounts, %zu watched in all",
		    w->conf.watch_from, in.nsnapshot, c->nlive);
	}
	if (in.extra > 0) {
		unsigned long k;

		for (k = 0; k < in.extra; k++) {
			uint8_t pk[32];

			extra_pubkey(c->extra_made++, pk);
			if (acc_watch(c, pk, SRC_EXTRA) < 0) {
				c_error(c, "memory", "out of memory adding extra accounts");
				break;
			}
		}
		c_log(c, ROLLOUT_LOG_INFO, "watch.extra %lu: %zu accounts watched", in.extra, c->nlive);
	}
	if (in.nadd || in.nremove || in.snapshot_new || in.extra) {
		c->setup_done = 0;
		c->setup_start_ms = mono_ms();
		c_metric(c, "watched", (double)c->nlive);
	}
	free(in.add);
	free(in.remove);
	free(in.snapshot);
	chunks_pump(c);
}

static void
stats_publish(struct client *c)
{
	struct watcher *w = c->w;
	struct watcher_stats *s = &w->stats;
	size_t nnew, npending, nactive, k;
	int off = 0;

	chunk_counts(c, &nnew, &npending, &nactive);
	pthread_mutex_lock(&w->lock);
	s->connected = c->state == CS_OPEN;
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", w->conf.endpoints[c->ep]);
	s->best = c->best;
	s->finalized = c->finalized;
	s->synced = c->synced < 0 ? 0 : (uint64_t)c->synced;
	s->watched = c->nlive;
	s->subscriptions = nactive;
	s->pending_subscriptions = nnew + npending;
	s->requests = c->requests;
	s->errors = c->errors;
	s->reconnects = c->reconnects;
	s->notifications = c->notifications;
	s->late_notifications = c->late_notifications;
	s->changes = c->changes;
	s->baselines = c->baselines;
	s->stale = c->stale;
	s->gap_blocks = c->gap_blocks;
	s->keys_per_subscription = kps_effective(c);
	s->subscription_limit = c->sub_limit;
	s->extra = c->extra_made;
	s->setup_ms = c->setup_done ? c->setup_ms : -1;
	s->breakers[0] = '\0';
	for (k = 0; k < w->conf.nendpoints && off < (int)sizeof(s->breakers) - 1; k++) {
		int n = snprintf(s->breakers + off, sizeof(s->breakers) - (size_t)off, "%s\"%s\":\"%s\"",
		    k ? "," : "", w->conf.endpoints[k], breaker_state_name(c->breakers[k].state));

		if (n < 0)
			break;
		off += n;
	}
	if (off >= (int)sizeof(s->breakers))
		s->breakers[sizeof(s->breakers) - 1] = '\0';
	pthread_mutex_unlock(&w->lock);
}

static void
requests_check(struct client *c, int64_t now)
{
	size_t i = 0;

	while (i < c->nreqs) {
		struct request r = c->reqs[i];

		if (r.late) {
			if (now - r.sent_ms > 10 * c->w->conf.request_timeout_ms)
				c->reqs[i] = c->reqs[--c->nreqs];
			else
				i++;
			continue;
		}
		if (now - r.sent_ms < c->w->conf.request_timeout_ms) {
			i++;
			continue;
		}
		c_error(c, "timeout", "request %" PRIu64 " timed out after %lld ms", r.id,
		    (long long)(now - r.sent_ms));
		if (r.kind == RQ_SUB_STORAGE) {
			json_t *e = json_pack("{s:i,s:s}", "code", -32009, "message", "timed out");

			/* keep it: a late success must be unsubscribed, not leaked */
			c->reqs[i].late = 1;
			i++;
			on_sub_storage_reply(c, &r, NULL, e);
			json_decref(e);
			continue;
		}
		c->reqs[i] = c->reqs[--c->nreqs];
		if (r.kind == RQ_GAP_QUERY) {
			gap_query_done(c);
		} else if (r.kind == RQ_GAP_HASH) {
			c->gap_cur++;
			gap_next(c);
		} else if (r.kind == RQ_HEALTH || r.kind == RQ_METHODS) {
			c_error(c, "heartbeat", "no answer from %s", c->w->conf.endpoints[c->ep]);
			conn_drop(c, "heartbeat timeout");
			c->close_requested = 2;
			return;
		}
	}
}

/*
 * Timers: heartbeats, request timeouts, reconnects, re-subscriptions.  Run
 * on the service thread by a lws_sul timer every TICK_MS (was a ticker
 * thread poking lws_cancel_service(): two thread wake-ups and an eventfd
 * write per tick, the largest cost of an idle watcher in bench/system).
 */
#define TICK_MS 50

static void
client_tick(struct client *c)
{
	const struct watcher_conf *cf = &c->w->conf;
	int64_t now = mono_ms();

	if (c->w->stopping || now - c->last_tick_ms < TICK_MS / 2)
		return;
	c->last_tick_ms = now;
	inbox_process(c);
	if (c->state == CS_IDLE && now >= c->next_connect_ms)
		conn_start(c);
	if (c->state == CS_OPEN) {
		if (now - c->last_health_ms >= cf->heartbeat_ms) {
			c->last_health_ms = now;
			req_simple(c, RQ_HEALTH, "system_health", "[]");
			c_metric(c, "connected", 1);
			c_metric(c, "watched", (double)c->nlive);
		}
		if (now - c->last_rx_ms > cf->heartbeat_ms + cf->request_timeout_ms) {
			c_error(c, "heartbeat", "nothing received from %s for %lld ms",
			    cf->endpoints[c->ep], (long long)(now - c->last_rx_ms));
			conn_drop(c, "silent connection");
			c->close_requested = 2;
		}
		requests_check(c, now);
		fifo_drain(c);
		chunks_pump(c);
	} else if (c->state == CS_CONNECTING && now - c->connected_ms > cf->request_timeout_ms &&
	    c->wsi != NULL) {
		c_error(c, "connect", "connecting to %s timed out", cf->endpoints[c->ep]);
		c->close_requested = 2;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	msgs_record(c, now);
	stats_publish(c);
}

/* ---- lws callback ------------------------------------------------------------------------- */

static int
client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct watcher *w = ctx != NULL ? lws_context_user(ctx) : NULL;
	struct client *c = w != NULL ? w->client : NULL;

	(void)user;
	if (c == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		c->close_requested = 0;
		conn_opened(c);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[256];

		snprintf(why, sizeof(why), "connection error: %s", in != NULL ? (const char *)in : "?");
		if (c->state != CS_IDLE) {
			c_error(c, "connect", "%s: %s", w->conf.endpoints[c->ep], why);
			conn_closed(c, why, 1);
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

		c->last_rx_ms = mono_ms();
		if (!c->rx_discard && c->rxlen + len > w->conf.max_message_bytes) {
			c_error(c, "oversized", "message larger than max_message_bytes (%zu): dropped",
			    w->conf.max_message_bytes);
			c->rx_discard = 1;
			c->rxlen = 0;
		}
		if (!c->rx_discard) {
			if (c->rxlen + len + 1 > c->rxcap) {
				size_t cap = c->rxcap ? c->rxcap : 65536;
				char *n;

				while (cap < c->rxlen + len + 1)
					cap *= 2;
				n = realloc(c->rx, cap);
				if (n == NULL) {
					c_error(c, "memory", "out of memory receiving a message");
					c->rx_discard = 1;
					c->rxlen = 0;
				} else {
					c->rx = n;
					c->rxcap = cap;
				}
			}
			if (!c->rx_discard) {
				memcpy(c->rx + c->rxlen, in, len);
				c->rxlen += len;
			}
		}
		if (final) {
			msg_count(c, c->last_rx_ms);
			if (!c->rx_discard)
				on_message(c, c->rx, c->rxlen);
			c->rxlen = 0;
			c->rx_discard = 0;
			if (c->rxcap > 4 * 1024 * 1024) {
				free(c->rx);
				c->rx = NULL;
				c->rxcap = 0;
			}
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct outmsg *m = c->head;

		if (c->close_requested)
			return -1;
		while (m != NULL) {
			if (lws_write(wsi, (unsigned char *)m->text, m->len, LWS_WRITE_TEXT) < (int)m->len)
				return -1;
			c->head = m->next;
			if (c->head == NULL)
				c->tail = NULL;
			free(m->text - LWS_PRE);
			free(m);
			m = c->head;
			if (lws_send_pipe_choked(wsi))
				break;
		}
		if (c->head != NULL)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c->state != CS_IDLE) {
			int failed = c->close_requested == 2 || (!c->probe_ok && !c->chaos);

			conn_closed(c, c->chaos ? "chaos.disconnect" : c->close_requested == 2 ?
			    "dead connection" : "closed by the node", failed);
		}
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (c->wsi == wsi) {
			if (c->state != CS_IDLE)
				conn_closed(c, "connection gone", 1);
			c->wsi = NULL;
		}
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (!w->stopping) {
			inbox_process(c);
			client_tick(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {
	{ "rpc-watcher", client_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- lifecycle --------------------------------------------------------------------------- */

static void
client_tick_sul(lws_sorted_usec_list_t *sul)
{
	struct client *c = lws_container_of(sul, struct client, tick_sul);

	client_tick(c);
	if (!c->w->stopping)
		lws_sul_schedule(c->w->ctx, 0, &c->tick_sul, client_tick_sul,
		    (lws_usec_t)TICK_MS * LWS_US_PER_MS);
}

static void *
client_thread(void *arg)
{
	struct watcher *w = arg;

	lws_sul_schedule(w->ctx, 0, &w->client->tick_sul, client_tick_sul,
	    (lws_usec_t)TICK_MS * LWS_US_PER_MS);
	while (!w->stopping)
		if (lws_service(w->ctx, 0) < 0)
			break;
	lws_sul_cancel(&w->client->tick_sul);
	return NULL;
}

int
client_create(struct watcher *w)
{
	struct client *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return -ENOMEM;
	c->w = w;
	c->breakers = calloc(w->conf.nendpoints, sizeof(*c->breakers));
	if (c->breakers == NULL || acc_index_grow(c) < 0) {
		free(c->breakers);
		free(c->index);
		free(c);
		return -ENOMEM;
	}
	c->kps = w->conf.keys_per_subscription;
	c->sub_limit = w->conf.max_subscriptions;
	c->rng = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	if (c->rng == 0)
		c->rng = 1;
	c->last_connected_metric = -1;
	c->synced = -1;
	storage_timestamp_now_key_hex(c->ts_key);
	for (i = 0; i < w->conf.naccounts; i++) {
		if (acc_watch(c, w->conf.accounts[i], SRC_CONFIG) < 0) {
			w->client = c;
			client_destroy(w);
			return -ENOMEM;
		}
	}
	w->client = c;
	return 0;
}

static const char *
client_ca_file(void)
{
	static const char *const paths[] = {
		"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/cert.pem", NULL,
	};
	size_t i;

	for (i = 0; paths[i] != NULL; i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

int
client_start(struct watcher *w)
{
	struct lws_context_creation_info info;
	int rc, tls = 0;

	if (w->started)
		return 0;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.user = w;
	/*
	 * TLS only when an endpoint needs it: OpenSSL's initialisation and the
	 * system CA bundle cost ~5 MiB of resident memory (bench/system), a third
	 * of a ws:// watcher's.
	 */
	for (size_t k = 0; k < w->conf.nendpoints; k++)
		if (strncmp(w->conf.endpoints[k], "wss://", 6) == 0)
			tls = 1;
	if (tls) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = w->conf.ca_file != NULL ? w->conf.ca_file :
		    client_ca_file();
	}
	info.timeout_secs = (unsigned)((w->conf.request_timeout_ms + 999) / 1000);
	info.pt_serv_buf_size = 256 * 1024;
	w->stopping = 0;
	w->ctx = lws_create_context(&info);
	if (w->ctx == NULL) {
		w->host->log(w->host->ctx, ROLLOUT_LOG_ERROR, "rpc_watcher: cannot create the libwebsockets context");
		return -ENOMEM;
	}
	w->client->next_connect_ms = 0;
	rc = pthread_create(&w->thread, NULL, client_thread, w);
	if (rc != 0) {
		lws_context_destroy(w->ctx);
		w->ctx = NULL;
		return -rc;
	}
	lws_cancel_service(w->ctx);
	w->started = 1;
	return 0;
}

void
client_wake(struct watcher *w)
{
	if (w->started && w->ctx != NULL)
		lws_cancel_service(w->ctx);
}

void
client_stop(struct watcher *w)
{
	if (!w->started)
		return;
	w->stopping = 1;
	lws_cancel_service(w->ctx);
	pthread_join(w->thread, NULL);
	lws_context_destroy(w->ctx);
	w->ctx = NULL;
	w->started = 0;
	/* leave the client ready for another start(): nothing is connected now */
	w->client->wsi = NULL;
	w->client->state = CS_IDLE;
	out_clear(w->client);
	fifo_clear(w->client);
	w->client->nreqs = 0;
}

void
client_destroy(struct watcher *w)
{
	struct client *c = w->client;
	size_t k;

	if (c == NULL)
		return;
	out_clear(c);
	fifo_clear(c);
	note_free(c->gap_note);
	for (k = 0; k < c->nchunks; k++)
		free(c->chunks[k].acc);
	free(c->chunks);
	free(c->acc);
	free(c->index);
	free(c->reqs);
	free(c->rx);
	free(c->breakers);
	free(c);
	w->client = NULL;
}

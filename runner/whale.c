/*
 * whale.c — whale detection rules on top of rules.c (whale.h).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <pcre2.h>

#include "duration.h"
#include "fsutil.h"
#include "log.h"
#include "whale.h"
#include "ynode.h"

#define U128_MAX (~(rollout_u128)0)
#define WHALE_PATTERNS_MAX 16
#define DAY_MS (24LL * 3600 * 1000)
/*
 * The activity file is rewritten (fsync) only when it is this much behind:
 * dormancy is measured in days, and a durable write per balance change
 * costs more than the rest of the event path.  After a crash the stored
 * activity is at most this old, which can only make an account look idle
 * this much longer.
 */
#define WHALE_STORE_EVERY_MS (3600LL * 1000)
/* transfer ids remembered for dedup (a repeated transfer raises nothing) */
#define WHALE_SEEN_MAX 8192
/* the largest top-list file read back at start */
#define WHALE_TOP_FILE_MAX (64u << 20)

struct whale_acct {
	uint8_t pk[32];
	int used;
	int loaded;              /* the activity file was read (or there is no data dir) */
	int activity_known;
	int64_t activity_ms;
	int64_t stored_ms;       /* activity_ms as last written to (or read from) disk, 0 none */
	uint64_t activity_block; /* block of the last activity, 0 unknown */
	char source[24];         /* "history" or the seed's source, e.g. "subscan.transfers" */
	int exchange;            /* merkle.tag_type "Exchange" in the last list */
};

/* A file to write atomically, queued for the writer thread. */
struct whale_job {
	struct whale_job *next;
	char *path;
	char *data;
	size_t len;
	const char *what;        /* "the last activity", "the top list" (for the error) */
	int sync;                /* 1: fsync (fs_write_atomic); 0: rename only (fs_write_replace) */
};

struct whale_entry {
	uint8_t pk[32];
	uint32_t rank;
	rollout_u128 total;
};

struct whale_move {
	uint8_t pk[32];
	int64_t t;
	rollout_u128 amount;
};

struct whale_dir {           /* one direction of the coordinated rule */
	struct whale_move *v;
	size_t n, cap;
	int active;              /* a cluster is open (its alert was raised) */
	int64_t max_t;
};

struct whale {
	struct rules *r;
	char dir[4096];          /* activity files; "" = memory only */
	char topfile[4200];      /* DATA/rules/<system>/top.json; "" = memory only */
	/* configuration, planck / ms */
	uint32_t top;
	rollout_u128 entry_critical;
	int64_t dormant_warning, dormant_critical;
	unsigned coord_accounts;
	rollout_u128 coord_min;
	int64_t coord_window;
	unsigned drain_pct, drain_warning_pct;
	rollout_u128 drain_min;
	unsigned gain_pct;
	rollout_u128 gain_min, gain_warning;
	rollout_u128 ex_tier[3], unlock_tier[3], xfer_tier[3];
	int xfer_set;            /* exchange_flow.transfers given (else exchange_flow's tiers) */
	pcre2_code *re[WHALE_PATTERNS_MAX];
	size_t nre;
	pcre2_match_data *md;
	/* state */
	struct whale_acct *slots;
	size_t nslots, count;
	struct whale_entry *list;     /* the last top list, sorted by public key */
	size_t nlist;
	int have_list;
	struct whale_dir coord[2];    /* [0] inflow, [1] outflow */
	uint64_t seen[WHALE_SEEN_MAX];  /* hashes of the last transfer ids, a ring */
	size_t nseen, seen_next;
	/* the writer thread: fsynced writes off the runner thread */
	pthread_t writer;
	int writer_on, writer_stop, writer_busy;
	pthread_mutex_t wlock;
	pthread_cond_t wcond, widle;
	struct whale_job *head, *tail;
	unsigned long long write_failures; /* in a row; the writing thread's only */
};

/* ---- accounts ----------------------------------------------------------------------- */

static size_t
whale_hash(const uint8_t pk[32])
{
	uint64_t x;

	memcpy(&x, pk + 8, 8);
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ULL;
	x ^= x >> 29;
	return (size_t)x;
}

static struct whale_acct *
whale_find(const struct whale *w, const uint8_t pk[32])
{
	size_t i = whale_hash(pk) & (w->nslots - 1);

	while (w->slots[i].used) {
		if (memcmp(w->slots[i].pk, pk, 32) == 0)
			return &w->slots[i];
		i = (i + 1) & (w->nslots - 1);
	}
	return NULL;
}

static struct whale_acct *
whale_get(struct whale *w, const uint8_t pk[32])
{
	struct whale_acct *a = whale_find(w, pk);
	size_t i;

	if (a)
		return a;
	if ((w->count + 1) * 4 > w->nslots * 3) {
		size_t n = w->nslots * 2;
		struct whale_acct *s = calloc(n, sizeof(*s));

		if (s == NULL)
			return NULL;
		for (size_t k = 0; k < w->nslots; k++) {
			if (!w->slots[k].used)
				continue;
			i = whale_hash(w->slots[k].pk) & (n - 1);
			while (s[i].used)
				i = (i + 1) & (n - 1);
			s[i] = w->slots[k];
		}
		free(w->slots);
		w->slots = s;
		w->nslots = n;
	}
	i = whale_hash(pk) & (w->nslots - 1);
	while (w->slots[i].used)
		i = (i + 1) & (w->nslots - 1);
	a = &w->slots[i];
	memset(a, 0, sizeof(*a));
	memcpy(a->pk, pk, 32);
	a->used = 1;
	w->count++;
	return a;
}

static void
whale_hex(const uint8_t pk[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[pk[i] >> 4];
		out[2 * i + 1] = hx[pk[i] & 15];
	}
	out[64] = '\0';
}

static int
whale_activity_path(const struct whale *w, const uint8_t pk[32], char *buf, size_t len)
{
	char hex[65];

	whale_hex(pk, hex);
	if ((size_t)snprintf(buf, len, "%s/%s.json", w->dir, hex) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Set A's activity source: [A-Za-z0-9._-] only (it goes into JSON and messages). */
static void
whale_source(struct whale_acct *a, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < sizeof(a->source); i++) {
		char c = src[i];

		a->source[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ? c : '_';
	}
	a->source[i] = '\0';
	if (i == 0)
		snprintf(a->source, sizeof(a->source), "seed");
}

/* Read the account's activity file once. */
static void
whale_load(struct whale *w, struct whale_acct *a)
{
	char path[4200], *text = NULL;
	size_t len;
	json_t *j, *v;

	if (a->loaded)
		return;
	a->loaded = 1;
	if (w->dir[0] == '\0' || whale_activity_path(w, a->pk, path, sizeof(path)) != 0)
		return;
	if (fs_read_all(path, 4096, &text, &len) != 0)
		return;
	j = json_loadb(text, len, 0, NULL);
	free(text);
	v = json_object_get(j, "last_activity_ms");
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		if (!a->activity_known) {
			json_t *b = json_object_get(j, "block"), *src = json_object_get(j, "source");

			a->activity_known = 1;
			a->activity_ms = (int64_t)json_integer_value(v);
			a->activity_block = json_is_integer(b) && json_integer_value(b) > 0 ?
			    (uint64_t)json_integer_value(b) : 0;
			whale_source(a, json_is_string(src) ? json_string_value(src) : "history");
		}
		a->stored_ms = (int64_t)json_integer_value(v);
	} else {
		log_msg(LOG_LVL_WARN, "rules", "%s: no positive last_activity_ms: ignored (activity unknown)",
		    path);
	}
	json_decref(j);
}

/* ---- the writer thread ------------------------------------------------------------------ */

/*
 * Files are written by a thread of their own, so that a burst of them (an
 * activity file per account first seen or seeded; thousands at start) or
 * a top list per snapshot does not stall the runner thread.  The top list
 * is written atomically with fsync (fs_write_atomic), and a queued write
 * of it is replaced by a newer one; activity files are renamed into place
 * without fsync (fs_write_replace): they survive a restart or a kill -9 of
 * rolloutd, and a power loss can take the last of them back (older or
 * unknown activity: an account can look idler, never more recently active),
 * while an fsync per account made the start-up of 10,000 accounts mostly
 * disk flushes (bench/system).  whale_sync() and rules_free() wait until
 * every queued file is written; a crash loses at most the writes queued.
 */
static int
whale_write_file(const struct whale_job *j)
{
	return j->sync ? fs_write_atomic(j->path, j->data, j->len, 0644) :
	    fs_write_replace(j->path, j->data, j->len, 0644);
}

/*
 * Write J; W counts the failures (written by whichever thread writes: the
 * writer, or the caller when there is none).  A data directory that turns
 * read-only must not produce a line per account: the first failure of a
 * spell is an error, then every 1000th, and the end of the spell is said.
 */
static void
whale_write_now(struct whale *w, const struct whale_job *j)
{
	int rc = whale_write_file(j);

	if (rc == -ENOENT) {
		char dir[4200], *slash;

		snprintf(dir, sizeof(dir), "%s", j->path);
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		if (fs_mkdir_p(dir, 0755) == 0)
			rc = whale_write_file(j);
	}
	if (rc != 0) {
		if (w->write_failures++ % 1000 == 0)
			log_msg(LOG_LVL_ERROR, "rules", "%s: cannot save %s: %s (%llu failed writes "
			    "in a row)", j->path, j->what, strerror(-rc),
			    (unsigned long long)w->write_failures);
	} else if (w->write_failures) {
		log_msg(LOG_LVL_INFO, "rules", "%s: writable again after %llu failed writes", j->path,
		    (unsigned long long)w->write_failures);
		w->write_failures = 0;
	}
}

static void
whale_job_free(struct whale_job *j)
{
	if (j == NULL)
		return;
	free(j->path);
	free(j->data);
	free(j);
}

static void *
whale_writer(void *arg)
{
	struct whale *w = arg;
	struct whale_job *j;

	pthread_mutex_lock(&w->wlock);
	for (;;) {
		while (w->head == NULL && !w->writer_stop)
			pthread_cond_wait(&w->wcond, &w->wlock);
		if (w->head == NULL) /* stopping, and nothing left to write */
			break;
		j = w->head;
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->writer_busy = 1;
		pthread_mutex_unlock(&w->wlock);
		whale_write_now(w, j);
		whale_job_free(j);
		pthread_mutex_lock(&w->wlock);
		w->writer_busy = 0;
		if (w->head == NULL)
			pthread_cond_broadcast(&w->widle);
	}
	pthread_mutex_unlock(&w->wlock);
	return NULL;
}

/*
 * Write DATA (LEN bytes, copied) to PATH: on the writer thread when there
 * is one.  SYNC: fsynced, and a queued write of the same file is replaced
 * (the top list, rewritten per snapshot); else renamed into place without
 * fsync and never searched for (activity files: one per account, at most
 * hourly each, thousands at start).
 */
static void
whale_write(struct whale *w, const char *path, const char *data, size_t len, const char *what,
    int sync)
{
	struct whale_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->path = strdup(path)) == NULL || (j->data = malloc(len)) == NULL) {
		log_msg(LOG_LVL_ERROR, "rules", "%s: out of memory: %s not saved", path, what);
		whale_job_free(j);
		return;
	}
	memcpy(j->data, data, len);
	j->len = len;
	j->what = what;
	j->sync = sync;
	if (!w->writer_on) {
		whale_write_now(w, j);
		whale_job_free(j);
		return;
	}
	pthread_mutex_lock(&w->wlock);
	for (struct whale_job *q = sync ? w->head : NULL; q; q = q->next)
		if (strcmp(q->path, path) == 0) { /* not written yet: the newest content wins */
			char *old = q->data;

			q->data = j->data;
			q->len = len;
			j->data = old;
			pthread_mutex_unlock(&w->wlock);
			whale_job_free(j);
			return;
		}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->wcond);
	pthread_mutex_unlock(&w->wlock);
}

/* Write the account's activity file (activity_ms, activity_block, source). */
static void
whale_store(struct whale *w, struct whale_acct *a)
{
	char path[4200], acct[64], buf[512];
	int n;

	if (w->dir[0] == '\0' || whale_activity_path(w, a->pk, path, sizeof(path)) != 0)
		return;
	rules_account_string(a->pk, rules_ss58_prefix(w->r), acct, sizeof(acct));
	n = snprintf(buf, sizeof(buf),
	    "{\"account\":\"%s\",\"last_activity_ms\":%lld,\"block\":%llu,\"source\":\"%s\"}\n",
	    acct, (long long)a->activity_ms, (unsigned long long)a->activity_block, a->source);
	whale_write(w, path, buf, (size_t)n, "the last activity", 0);
	a->stored_ms = a->activity_ms;
}

/* ---- list -------------------------------------------------------------------------------- */

static int
whale_cmp_entry(const void *a, const void *b)
{
	return memcmp(((const struct whale_entry *)a)->pk, ((const struct whale_entry *)b)->pk, 32);
}

static const struct whale_entry *
whale_in(const struct whale_entry *list, size_t n, const uint8_t pk[32])
{
	struct whale_entry key;

	memcpy(key.pk, pk, 32);
	return bsearch(&key, list, n, sizeof(*list), whale_cmp_entry);
}

static rollout_u128
whale_entry_total(const struct rollout_snapshot_entry *e)
{
	return e->total ? e->total : rules_total(&e->data);
}

/* A whale for the coordinated rule: in the last list (everyone before the first list). */
static int
whale_is_whale(const struct whale *w, const uint8_t pk[32])
{
	return !w->have_list || whale_in(w->list, w->nlist, pk) != NULL;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *
whale_sev(enum rollout_severity s)
{
	return s == ROLLOUT_SEV_CRITICAL ? "critical" : s == ROLLOUT_SEV_WARNING ? "warning" : "info";
}

/* "<type>:<account>:<block>" or ":w<window end>" */
static void
whale_key(struct rules_alert *a, const char *type, const struct rollout_balance_change *bc)
{
	if (bc->block_to)
		snprintf(a->key, sizeof(a->key), "%s:%s:%llu", type, a->account,
		    (unsigned long long)bc->block_to);
	else
		snprintf(a->key, sizeof(a->key), "%s:%s:w%lld", type, a->account,
		    (long long)bc->window_end_ms);
	rules_alert_id(a->key, a->id);
}

static void
whale_when(const struct rollout_balance_change *bc, char *buf, size_t len)
{
	if (bc->block_to)
		snprintf(buf, len, "at block #%llu", (unsigned long long)bc->block_to);
	else
		snprintf(buf, len, "in the window ending %lld", (long long)bc->window_end_ms);
}

/* MS as "2026-01-02T03:04:05Z" */
static void
whale_iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld ms", (long long)ms);
}

static const char *
whale_who(const struct rules_alert *a)
{
	return a->label[0] ? a->label : a->account;
}

/* floor(B * PCT / 100) < L, exactly (L * 100 > B * PCT) */
static int
whale_pct_gt(rollout_u128 l, rollout_u128 b, unsigned pct)
{
	rollout_u128 q = b / 100, rem = b % 100, t;

	if (pct && q > U128_MAX / pct)
		return 0;
	t = q * pct;
	if (t + rem * pct / 100 < t)
		return 0;
	t += rem * pct / 100;
	return l > t;
}

static char *
whale_tok(const struct whale *w, rollout_u128 v, int neg, char *buf)
{
	return rules_format_tokens(v, rules_decimals(w->r), neg, buf, 64);
}

static enum rollout_severity
whale_tier(const rollout_u128 tier[3], rollout_u128 v)
{
	return v >= tier[2] ? ROLLOUT_SEV_CRITICAL : v >= tier[1] ? ROLLOUT_SEV_WARNING : ROLLOUT_SEV_INFO;
}

static int
whale_label_matches(struct whale *w, const char *label)
{
	if (label == NULL || label[0] == '\0')
		return 0;
	for (size_t i = 0; i < w->nre; i++)
		if (pcre2_match(w->re[i], (PCRE2_SPTR)label, PCRE2_ZERO_TERMINATED, 0, 0, w->md,
		    NULL) >= 0)
			return 1;
	return 0;
}

/* ---- rules on balance changes ------------------------------------------------------------ */

static int
whale_dormant(struct whale *w, const struct rollout_balance_change *bc, rollout_u128 mag, int neg,
    int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	struct whale_acct *wa = whale_get(w, bc->pubkey);
	int64_t t_start = bc->block_time_ms ? bc->block_time_ms : bc->window_start_ms;
	int64_t t_end = bc->block_time_ms ? bc->block_time_ms : bc->window_end_ms;
	int n = 0;

	if (wa == NULL)
		return 0;
	/* activity: the balance (free, reserved) or the nonce changed */
	if (bc->before.free == bc->after.free && bc->before.reserved == bc->after.reserved &&
	    bc->before.nonce == bc->after.nonce)
		return 0;
	whale_load(w, wa);
	if (wa->activity_known && t_start > 0 && t_start - wa->activity_ms >= w->dormant_warning) {
		int64_t idle = t_start - wa->activity_ms;
		enum rollout_severity sev = idle >= w->dormant_critical ? ROLLOUT_SEV_CRITICAL :
		    ROLLOUT_SEV_WARNING;
		struct rules_alert a;
		char when[64], idle_s[32], thr_s[32], at[32], from[64];

		rules_alert_init(w->r, &a, "dormant_awakening", sev, bc->pubkey, neg, mag, bc,
		    bc->observed_ms ? bc->observed_ms : now_ms);
		whale_key(&a, "dormant_awakening", bc);
		whale_when(bc, when, sizeof(when));
		duration_format(idle - idle % 1000, idle_s, sizeof(idle_s));
		duration_format(sev == ROLLOUT_SEV_CRITICAL ? w->dormant_critical : w->dormant_warning,
		    thr_s, sizeof(thr_s));
		whale_iso(wa->activity_ms, at, sizeof(at));
		if (strcmp(wa->source, "history") == 0 || wa->source[0] == '\0')
			snprintf(from, sizeof(from), "own history");
		else if (wa->activity_block)
			snprintf(from, sizeof(from), "%s, block #%llu", wa->source,
			    (unsigned long long)wa->activity_block);
		else
			snprintf(from, sizeof(from), "%s", wa->source);
		snprintf(a.title, sizeof(a.title), "Dormant account awakens after %lld days: %s",
		    (long long)(idle / DAY_MS), whale_who(&a));
		snprintf(a.message, sizeof(a.message),
		    "%s%s%s moved %s %s %s after %s without a balance or nonce change "
		    "(last activity %s = %lld ms, from %s; %s: idle >= %s), seen by %s",
		    a.account, a.label[0] ? " " : "", a.label, a.amount_tokens, rules_symbol(w->r), when,
		    idle_s, at, (long long)wa->activity_ms, from, whale_sev(sev), thr_s,
		    rules_system(w->r));
		snprintf(a.details, sizeof(a.details),
		    "{\"rule\":\"dormant_awakening\",\"last_activity_ms\":%lld,\"idle_ms\":%lld,"
		    "\"threshold\":\"%s\",\"activity_source\":\"%s\"}",
		    (long long)wa->activity_ms, (long long)idle, thr_s,
		    wa->source[0] ? wa->source : "history");
		fn(ctx, &a);
		n = 1;
	}
	if (t_end > 0 && (!wa->activity_known || t_end > wa->activity_ms)) {
		wa->activity_known = 1;
		wa->activity_ms = t_end;
		wa->activity_block = bc->block_to;
		whale_source(wa, "history");
		if (wa->stored_ms == 0 || wa->activity_ms - wa->stored_ms >= WHALE_STORE_EVERY_MS)
			whale_store(w, wa);
	}
	return n;
}

static void
whale_dir_prune(struct whale_dir *d, int64_t window)
{
	size_t k = 0;

	for (size_t i = 0; i < d->n; i++)
		if (d->max_t - d->v[i].t <= window)
			d->v[k++] = d->v[i];
	d->n = k;
}

/* The number of distinct accounts among D's moves, counting no further than MAX. */
static unsigned
whale_distinct(const struct whale_dir *d, unsigned max)
{
	const uint8_t *seen[64];
	unsigned n = 0;

	if (max > 64)
		max = 64; /* more than 64 distinct: counted exactly by the caller's pass */
	for (size_t i = 0; i < d->n && n < max; i++) {
		unsigned j;

		for (j = 0; j < n; j++)
			if (memcmp(seen[j], d->v[i].pk, 32) == 0)
				break;
		if (j == n)
			seen[n++] = d->v[i].pk;
	}
	return n;
}

static int
whale_coordinated(struct whale *w, const struct rollout_balance_change *bc, rollout_u128 mag,
    int neg, int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	struct whale_dir *d = &w->coord[neg ? 1 : 0];
	int64_t t = bc->block_time_ms ? bc->block_time_ms : bc->window_end_ms;
	size_t distinct = 0;
	rollout_u128 sum = 0;
	int64_t first = t;
	struct rules_alert a;
	char list[640], dl[300], tok[64], win[32];
	const uint8_t **firsts;
	int k;
	size_t lo = 0, dlo = 0;

	if (mag < w->coord_min || !whale_is_whale(w, bc->pubkey) || t <= 0)
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct whale_move *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return 0;
		d->v = v;
		d->cap = cap;
	}
	if (t > d->max_t)
		d->max_t = t;
	whale_dir_prune(d, w->coord_window);
	if (d->n == 0) /* a gap longer than the window: a new cluster may start */
		d->active = 0;
	memcpy(d->v[d->n].pk, bc->pubkey, 32);
	d->v[d->n].t = t;
	d->v[d->n].amount = mag;
	d->n++;
	/* the open cluster was reported; else count distinct accounts up to the
	 * threshold (the alert fires when the count reaches it) */
	if (d->active || (w->coord_accounts <= 64 &&
	    whale_distinct(d, w->coord_accounts) < w->coord_accounts))
		return 0;
	if ((firsts = malloc(d->n * sizeof(*firsts))) == NULL)
		return 0;
	list[0] = dl[0] = '\0';
	for (size_t i = 0; i < d->n; i++) {
		size_t j;

		/* a repeat of an account seen earlier in the window? (compared with the
		 * distinct ones only) */
		for (j = 0; j < distinct; j++)
			if (memcmp(firsts[j], d->v[i].pk, 32) == 0)
				break;
		if (d->v[i].t < first)
			first = d->v[i].t;
		sum = sum + d->v[i].amount < sum ? U128_MAX : sum + d->v[i].amount;
		if (j < distinct)
			continue;
		firsts[distinct++] = d->v[i].pk;
		{
			char acct[64];

			rules_account_string(d->v[i].pk, rules_ss58_prefix(w->r), acct, sizeof(acct));
			if (lo < sizeof(list))
				lo += (size_t)snprintf(list + lo, sizeof(list) - lo, "%s%s",
				    distinct > 1 ? ", " : "", acct);
			if (dlo < sizeof(dl))
				dlo += (size_t)snprintf(dl + dlo, sizeof(dl) - dlo, "%s\"%s\"",
				    distinct > 1 ? "," : "", acct);
		}
	}
	free(firsts);
	if (distinct < w->coord_accounts)
		return 0;
	d->active = 1;
	rules_alert_init(w->r, &a, "coordinated_movement", ROLLOUT_SEV_WARNING, bc->pubkey, neg, sum,
	    bc, bc->observed_ms ? bc->observed_ms : now_ms);
	snprintf(a.key, sizeof(a.key), "coordinated_movement:%s:%lld", neg ? "out" : "in",
	    (long long)first);
	rules_alert_id(a.key, a.id);
	duration_format(w->coord_window, win, sizeof(win));
	snprintf(a.title, sizeof(a.title), "Coordinated %s: %zu whales moved %s %s within %s",
	    neg ? "outflow" : "inflow", distinct, whale_tok(w, sum, 0, tok), rules_symbol(w->r), win);
	k = snprintf(a.message, sizeof(a.message),
	    "%zu distinct whales (>= %u) each moved >= %s %s %s within %s of block time "
	    "(from %lld to %lld ms, total %s %s), seen by %s: %s",
	    distinct, w->coord_accounts, whale_tok(w, w->coord_min, 0, tok), rules_symbol(w->r),
	    neg ? "out" : "in", win, (long long)first, (long long)t, a.amount_tokens,
	    rules_symbol(w->r), rules_system(w->r), list);
	if (k >= (int)sizeof(a.message)) /* cut the account list short, visibly */
		memcpy(a.message + sizeof(a.message) - 5, "...", 4);
	k = snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"coordinated_movement\",\"direction\":\"%s\",\"count\":%zu,\"first_ms\":%lld,"
	    "\"last_ms\":%lld,\"accounts\":[%s]}",
	    neg ? "out" : "in", distinct, (long long)first, (long long)t,
	    dlo < sizeof(dl) ? dl : "");
	if (k >= (int)sizeof(a.details))
		snprintf(a.details, sizeof(a.details), "{\"rule\":\"coordinated_movement\"}");
	fn(ctx, &a);
	return 1;
}

static int
whale_drain(struct whale *w, const struct rollout_balance_change *bc, rollout_u128 mag, int neg,
    int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	rollout_u128 before = rules_total(&bc->before);
	enum rollout_severity sev;
	struct rules_alert a;
	const char *type;
	char when[64], b_s[64], af_s[64], thr[64];
	unsigned pct;

	if (mag == 0)
		return 0;
	if (neg) {
		if (mag < w->drain_min || !whale_pct_gt(mag, before, w->drain_pct))
			return 0;
		type = "rapid_draining";
		sev = whale_pct_gt(mag, before, w->drain_warning_pct) ? ROLLOUT_SEV_WARNING :
		    ROLLOUT_SEV_INFO;
		pct = sev == ROLLOUT_SEV_WARNING ? w->drain_warning_pct : w->drain_pct;
	} else {
		if (mag < w->gain_min || !whale_pct_gt(mag, before, w->gain_pct))
			return 0;
		type = "consolidation";
		sev = mag > w->gain_warning ? ROLLOUT_SEV_WARNING : ROLLOUT_SEV_INFO;
		pct = w->gain_pct;
	}
	rules_alert_init(w->r, &a, type, sev, bc->pubkey, neg, mag, bc,
	    bc->observed_ms ? bc->observed_ms : now_ms);
	whale_key(&a, type, bc);
	whale_when(bc, when, sizeof(when));
	whale_tok(w, before, 0, b_s);
	whale_tok(w, rules_total(&bc->after), 0, af_s);
	if (neg) {
		snprintf(a.title, sizeof(a.title), "Rapid draining: %s lost %s %s", whale_who(&a),
		    a.amount_tokens, rules_symbol(w->r));
		snprintf(a.message, sizeof(a.message),
		    "%s%s%s went from %s to %s %s %s: a loss of %s %s, more than %u%% "
		    "(%s: > %u%% and >= %s %s), seen by %s",
		    a.account, a.label[0] ? " " : "", a.label, b_s, af_s, rules_symbol(w->r), when,
		    a.amount_tokens, rules_symbol(w->r), pct, whale_sev(sev), pct,
		    whale_tok(w, w->drain_min, 0, thr), rules_symbol(w->r), rules_system(w->r));
	} else {
		snprintf(a.title, sizeof(a.title), "Consolidation: %s gained %s %s", whale_who(&a),
		    a.amount_tokens, rules_symbol(w->r));
		snprintf(a.message, sizeof(a.message),
		    "%s%s%s went from %s to %s %s %s: a gain of %s %s, more than %u%% "
		    "(%s: > %u%% and >= %s %s%s), seen by %s",
		    a.account, a.label[0] ? " " : "", a.label, b_s, af_s, rules_symbol(w->r), when,
		    a.amount_tokens, rules_symbol(w->r), pct, whale_sev(sev), pct,
		    whale_tok(w, w->gain_min, 0, thr), rules_symbol(w->r),
		    sev == ROLLOUT_SEV_WARNING ? "; warning above the gain threshold" : "",
		    rules_system(w->r));
	}
	snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"%s\",\"before_tokens\":\"%s\",\"after_tokens\":\"%s\",\"delta_tokens\":\"%s\","
	    "\"percent_threshold\":%u}",
	    type, b_s, af_s, a.amount_tokens, pct);
	fn(ctx, &a);
	return 1;
}

static int
whale_exchange(struct whale *w, const struct rules_account *acct,
    const struct rollout_balance_change *bc, rollout_u128 mag, int neg, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	struct whale_acct *wa = whale_find(w, bc->pubkey);
	struct rules_alert a;
	char when[64], thr[64];
	enum rollout_severity sev;
	int tagged = wa && wa->exchange;

	if (mag < w->ex_tier[0])
		return 0;
	if (!tagged && !(acct && whale_label_matches(w, acct->label)))
		return 0;
	sev = whale_tier(w->ex_tier, mag);
	rules_alert_init(w->r, &a, "exchange_flow", sev, bc->pubkey, neg, mag, bc,
	    bc->observed_ms ? bc->observed_ms : now_ms);
	whale_key(&a, "exchange_flow", bc);
	whale_when(bc, when, sizeof(when));
	whale_tok(w, w->ex_tier[sev == ROLLOUT_SEV_CRITICAL ? 2 : sev == ROLLOUT_SEV_WARNING ? 1 : 0],
	    0, thr);
	snprintf(a.title, sizeof(a.title), "Exchange %s: %s %s %s",
	    neg ? "outflow (withdrawals)" : "inflow (deposits)", a.amount_tokens, rules_symbol(w->r),
	    whale_who(&a));
	snprintf(a.message, sizeof(a.message),
	    "exchange %s%s%s (%s) %s %s %s %s (%s: |delta| >= %s %s), seen by %s",
	    a.account, a.label[0] ? " " : "", a.label,
	    tagged ? "tag_type Exchange" : "label matches an exchange pattern",
	    neg ? "paid out" : "took in", a.amount_tokens, rules_symbol(w->r), when, whale_sev(sev),
	    thr, rules_symbol(w->r), rules_system(w->r));
	snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"exchange_flow\",\"direction\":\"%s\",\"by\":\"%s\",\"threshold_tokens\":\"%s\"}",
	    neg ? "outflow" : "inflow", tagged ? "tag_type" : "pattern", thr);
	fn(ctx, &a);
	return 1;
}

static int
whale_unlock(struct whale *w, const struct rollout_balance_change *bc, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	rollout_u128 drop;
	struct rules_alert a;
	enum rollout_severity sev;
	char when[64], thr[64], b_s[64], af_s[64], d_s[64];

	if (!(bc->known_mask & ROLLOUT_KNOW_FROZEN) || bc->after.frozen >= bc->before.frozen)
		return 0;
	drop = bc->before.frozen - bc->after.frozen;
	if (drop < w->unlock_tier[0])
		return 0;
	sev = whale_tier(w->unlock_tier, drop);
	rules_alert_init(w->r, &a, "unlock", sev, bc->pubkey, 1, drop, bc,
	    bc->observed_ms ? bc->observed_ms : now_ms);
	whale_key(&a, "unlock", bc);
	whale_when(bc, when, sizeof(when));
	whale_tok(w, w->unlock_tier[sev == ROLLOUT_SEV_CRITICAL ? 2 : sev == ROLLOUT_SEV_WARNING ? 1 :
	    0], 0, thr);
	whale_tok(w, bc->before.frozen, 0, b_s);
	whale_tok(w, bc->after.frozen, 0, af_s);
	snprintf(a.title, sizeof(a.title), "Unlock: %s %s of %s no longer frozen", whale_tok(w, drop, 0, d_s),
	    rules_symbol(w->r), whale_who(&a));
	snprintf(a.message, sizeof(a.message),
	    "frozen balance of %s%s%s fell from %s to %s %s %s (%s: drop >= %s %s), seen by %s",
	    a.account, a.label[0] ? " " : "", a.label, b_s, af_s, rules_symbol(w->r), when,
	    whale_sev(sev), thr, rules_symbol(w->r), rules_system(w->r));
	snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"unlock\",\"frozen_before_tokens\":\"%s\",\"frozen_after_tokens\":\"%s\","
	    "\"threshold_tokens\":\"%s\"}", b_s, af_s, thr);
	fn(ctx, &a);
	return 1;
}

static int
whale_balance(struct rules *r, const struct rules_account *acct,
    const struct rollout_balance_change *bc, int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	struct whale *w = rules_rule_arg(r, "whale");
	rollout_u128 mag;
	int neg, n = 0;

	if (w == NULL)
		return 0;
	neg = rules_total_delta(&bc->before, &bc->after, &mag);
	n += whale_dormant(w, bc, mag, neg, now_ms, fn, ctx);
	if (mag) {
		n += whale_coordinated(w, bc, mag, neg, now_ms, fn, ctx);
		n += whale_drain(w, bc, mag, neg, now_ms, fn, ctx);
		n += whale_exchange(w, acct, bc, mag, neg, now_ms, fn, ctx);
	}
	n += whale_unlock(w, bc, now_ms, fn, ctx);
	return n;
}

/* ---- transfers: deposits to and withdrawals from exchanges -------------------------------- */

/* A whale for the transfer rules: in the last list, within whale_list.top when set. */
static int
whale_listed(const struct whale *w, const uint8_t pk[32], uint32_t *rank)
{
	const struct whale_entry *e = w->have_list ? whale_in(w->list, w->nlist, pk) : NULL;

	if (e == NULL || (w->top && e->rank > w->top))
		return 0;
	*rank = e->rank;
	return 1;
}

/*
 * Is PK (with the transfer's TAG_TYPE / TAG_NAME for it) an exchange?
 * Sets *BY to how that was decided.
 */
static int
whale_side_exchange(struct whale *w, const uint8_t pk[32], const char *tag_type,
    const char *tag_name, const char **by)
{
	const struct whale_acct *wa = whale_find(w, pk);
	const struct rules_account *acct = rules_account(w->r, pk);

	if (strcasecmp(tag_type, "Exchange") == 0)
		*by = "tag_type Exchange on the transfer";
	else if (wa && wa->exchange)
		*by = "tag_type Exchange in the top list";
	else if (whale_label_matches(w, tag_name) || (acct && whale_label_matches(w, acct->label)))
		*by = "label matches an exchange pattern";
	else
		return 0;
	return 1;
}

static int
whale_zero(const uint8_t pk[32])
{
	for (int i = 0; i < 32; i++)
		if (pk[i])
			return 0;
	return 1;
}

/* FNV-1a 64 of S */
static uint64_t
whale_fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

/* 1 when ID was seen before; else remember it and return 0. */
static int
whale_seen(struct whale *w, const char *id)
{
	uint64_t h = whale_fnv(id);

	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == h)
			return 1;
	w->seen[w->seen_next] = h;
	w->seen_next = (w->seen_next + 1) % WHALE_SEEN_MAX;
	if (w->nseen < WHALE_SEEN_MAX)
		w->nseen++;
	return 0;
}

/* S as the inside of a JSON string (quotes, backslashes and controls escaped) into OUT. */
static char *
whale_json_inner(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

int
whale_transfer(struct rules *r, const struct rollout_transfer *t, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	struct whale *w = rules_rule_arg(r, "whale");
	const char *from_by = NULL, *to_by = NULL, *by, *type, *other_label;
	const uint8_t *whale_pk, *other_pk;
	int from_ex, to_ex, neg;
	uint32_t rank = 0, other_rank = 0;
	char id[128], hexf[65], hext[65], other[64], thr[64], when[64], lbl_j[200], id_j[100];
	char other_j[80];
	enum rollout_severity sev;
	struct rules_alert a;
	const struct rules_account *oacct;

	if (w == NULL || t->amount < w->xfer_tier[0] || whale_zero(t->from) || whale_zero(t->to) ||
	    memcmp(t->from, t->to, 32) == 0)
		return 0;
	from_ex = whale_side_exchange(w, t->from, t->from_tag_type, t->from_tag_name, &from_by);
	to_ex = whale_side_exchange(w, t->to, t->to_tag_type, t->to_tag_name, &to_by);
	if (!from_ex && to_ex && whale_listed(w, t->from, &rank)) {
		type = "exchange_deposit";
		whale_pk = t->from;
		other_pk = t->to;
		by = to_by;
		other_label = t->to_tag_name;
		neg = 1;
	} else if (from_ex && !to_ex && whale_listed(w, t->to, &rank)) {
		type = "exchange_withdrawal";
		whale_pk = t->to;
		other_pk = t->from;
		by = from_by;
		other_label = t->from_tag_name;
		neg = 0;
	} else {
		return 0; /* no whale, no exchange, or exchange to exchange */
	}
	/* the dedup key: the source's transfer id, else what identifies the transfer */
	if (memchr(t->id, '\0', sizeof(t->id)) != NULL && t->id[0]) {
		snprintf(id, sizeof(id), "%s", t->id);
	} else {
		char amt[48];

		whale_hex(t->from, hexf);
		whale_hex(t->to, hext);
		snprintf(id, sizeof(id), "b%llu-%.16s-%.16s-%s", (unsigned long long)t->block, hexf,
		    hext, rules_format_u128(t->amount, amt, sizeof(amt)));
	}
	if (whale_seen(w, id) || fn == NULL)
		return 0;
	oacct = rules_account(r, other_pk);
	if (other_label[0] == '\0' && oacct)
		other_label = oacct->label;
	(void)whale_listed(w, other_pk, &other_rank);
	rules_account_string(other_pk, rules_ss58_prefix(r), other, sizeof(other));
	sev = whale_tier(w->xfer_tier, t->amount);
	rules_alert_init(r, &a, type, sev, whale_pk, neg, t->amount, NULL, now_ms);
	a.block_from = a.block_to = t->block;
	a.window_start_ms = a.window_end_ms = t->block_time_ms;
	snprintf(a.key, sizeof(a.key), "%s:%s:%.100s", type, a.account, id);
	rules_alert_id(a.key, a.id);
	whale_tok(w, w->xfer_tier[sev == ROLLOUT_SEV_CRITICAL ? 2 : sev == ROLLOUT_SEV_WARNING ? 1 : 0],
	    0, thr);
	if (t->block)
		snprintf(when, sizeof(when), "at block #%llu", (unsigned long long)t->block);
	else
		snprintf(when, sizeof(when), "at %lld ms", (long long)t->block_time_ms);
	/* a long label is cut, not an error */
	if (snprintf(a.title, sizeof(a.title), "Exchange %s: %.100s %s %s %s %s %.64s",
	    neg ? "deposit" : "withdrawal", whale_who(&a), neg ? "sent" : "received",
	    neg ? a.amount_tokens + 1 : a.amount_tokens, rules_symbol(r), neg ? "to" : "from",
	    other_label[0] ? other_label : other) >= (int)sizeof(a.title))
		a.title[sizeof(a.title) - 1] = '\0';
	if (snprintf(a.message, sizeof(a.message),
	    "whale %s%s%s (rank %u) %s %s %s %s exchange %s%s%s (%s) %s, transfer %s "
	    "(%s: >= %s %s), seen by %s from the baseline's transfers",
	    a.account, a.label[0] ? " " : "", a.label, rank, neg ? "sent" : "received",
	    neg ? a.amount_tokens + 1 : a.amount_tokens, rules_symbol(r), neg ? "to" : "from", other,
	    other_label[0] ? " " : "", other_label, by, when, id, whale_sev(sev), thr,
	    rules_symbol(r), rules_system(r)) >= (int)sizeof(a.message))
		memcpy(a.message + sizeof(a.message) - 4, "...", 4); /* cut short, visibly */
	if (snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"%s\",\"transfer_id\":\"%s\",\"counterparty\":\"%s\","
	    "\"counterparty_label\":\"%s\",\"counterparty_rank\":%u,\"by\":\"%s\",\"rank\":%u,"
	    "\"block_time_ms\":%lld,\"threshold_tokens\":\"%s\"}",
	    type, whale_json_inner(id, id_j, sizeof(id_j)), whale_json_inner(other, other_j,
	    sizeof(other_j)), whale_json_inner(other_label, lbl_j, sizeof(lbl_j)), other_rank,
	    strstr(by, "pattern") ? "pattern" : "tag_type", rank, (long long)t->block_time_ms, thr) >=
	    (int)sizeof(a.details))
		snprintf(a.details, sizeof(a.details), "{\"rule\":\"%s\"}", type);
	fn(ctx, &a);
	return 1;
}

/* ---- the list ------------------------------------------------------------------------------ */

static int
whale_list_alert(struct whale *w, int entry, const uint8_t pk[32], uint32_t rank, uint32_t other,
    rollout_u128 total, uint32_t top, int64_t taken_ms, int64_t now_ms, rules_alert_fn fn, void *ctx)
{
	const char *type = entry ? "whale_entry" : "whale_exit";
	enum rollout_severity sev = entry && total > w->entry_critical ? ROLLOUT_SEV_CRITICAL :
	    ROLLOUT_SEV_INFO;
	struct rules_alert a;
	char tok[64], other_s[48];

	rules_alert_init(w->r, &a, type, sev, pk, !entry, total, NULL, now_ms);
	a.window_end_ms = taken_ms;
	snprintf(a.amount_tokens, sizeof(a.amount_tokens), "%s",
	    whale_tok(w, total, 0, tok)); /* a balance, not a flow: unsigned */
	snprintf(a.key, sizeof(a.key), "%s:%s:%lld", type, a.account, (long long)taken_ms);
	rules_alert_id(a.key, a.id);
	if (other)
		snprintf(other_s, sizeof(other_s), "rank %u", other);
	else
		snprintf(other_s, sizeof(other_s), "not listed");
	if (entry) {
		snprintf(a.title, sizeof(a.title), "New whale: %s enters the top %u at rank %u with %s %s",
		    whale_who(&a), top, rank, a.amount_tokens, rules_symbol(w->r));
		snprintf(a.message, sizeof(a.message),
		    "%s%s%s entered the top %u at rank %u (before: %s) with %s %s in the list of %lld ms"
		    "%s, seen by %s",
		    a.account, a.label[0] ? " " : "", a.label, top, rank, other_s, a.amount_tokens,
		    rules_symbol(w->r), (long long)taken_ms,
		    sev == ROLLOUT_SEV_CRITICAL ? " (critical: above the entry threshold)" : "",
		    rules_system(w->r));
	} else {
		snprintf(a.title, sizeof(a.title), "Whale exit: %s leaves the top %u (was rank %u, %s %s)",
		    whale_who(&a), top, rank, a.amount_tokens, rules_symbol(w->r));
		snprintf(a.message, sizeof(a.message),
		    "%s%s%s left the top %u (was rank %u; now %s; balance %s %s) in the list of %lld ms, "
		    "seen by %s",
		    a.account, a.label[0] ? " " : "", a.label, top, rank, other_s, a.amount_tokens,
		    rules_symbol(w->r), (long long)taken_ms, rules_system(w->r));
	}
	snprintf(a.details, sizeof(a.details),
	    "{\"rule\":\"%s\",\"rank\":%u,\"other_rank\":%u,\"top\":%u,\"balance_tokens\":\"%s\"}",
	    type, rank, other, top, a.amount_tokens);
	fn(ctx, &a);
	return 1;
}

/* ---- the list across restarts ---------------------------------------------------------------- */

static int
whale_list_same(const struct whale_entry *a, size_t na, const struct whale_entry *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (memcmp(a[i].pk, b[i].pk, 32) != 0 || a[i].rank != b[i].rank ||
		    a[i].total != b[i].total)
			return 0;
	return 1;
}

/* Write LIST (sorted by public key) to DATA/rules/<system>/top.json: temp, fsync, rename. */
static void
whale_list_save(struct whale *w, const struct whale_entry *list, size_t n, int64_t taken_ms)
{
	size_t cap = 256 + n * 128, o;
	char *buf, hex[65], tot[48];

	if (w->topfile[0] == '\0')
		return;
	if ((buf = malloc(cap)) == NULL) {
		log_msg(LOG_LVL_ERROR, "rules", "%s: out of memory: the top list is not saved",
		    w->topfile);
		return;
	}
	o = (size_t)snprintf(buf, cap, "{\"version\":1,\"system\":\"%s\",\"taken_ms\":%lld,"
	    "\"count\":%zu,\"list\":[", rules_system(w->r), (long long)taken_ms, n);
	for (size_t i = 0; i < n; i++) {
		whale_hex(list[i].pk, hex);
		o += (size_t)snprintf(buf + o, cap - o, "%s\n{\"pubkey\":\"%s\",\"rank\":%u,"
		    "\"total\":\"%s\"}", i ? "," : "", hex, list[i].rank,
		    rules_format_u128(list[i].total, tot, sizeof(tot)));
	}
	o += (size_t)snprintf(buf + o, cap - o, "]}\n");
	whale_write(w, w->topfile, buf, o, "the top list", 1);
	free(buf);
}

static int
whale_unhex(const char *s, uint8_t pk[32])
{
	if (strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 64; i++) {
		int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
		    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (v < 0)
			return -EINVAL;
		if (i % 2 == 0)
			pk[i / 2] = (uint8_t)(v << 4);
		else
			pk[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/*
 * Read the list saved before a restart.  A missing file is a first start
 * (no list); a damaged one is reported (file, line, column, item, field)
 * and ignored: the next list is then compared with nothing.
 */
static void
whale_list_load(struct whale *w)
{
	char *text = NULL, why[320];
	size_t len, n;
	json_t *j = NULL, *arr;
	json_error_t je;
	struct whale_entry *list = NULL;
	int rc;

	if (w->topfile[0] == '\0')
		return;
	rc = fs_read_all(w->topfile, WHALE_TOP_FILE_MAX, &text, &len);
	if (rc == -ENOENT)
		return;
	if (rc != 0) {
		snprintf(why, sizeof(why), "cannot read: %s", strerror(-rc));
		goto fail;
	}
	j = json_loadb(text, len, 0, &je);
	if (j == NULL) {
		snprintf(why, sizeof(why), "line %d, column %d: %s", je.line, je.column, je.text);
		goto fail;
	}
	arr = json_object_get(j, "list");
	if (!json_is_array(arr)) {
		snprintf(why, sizeof(why), "no \"list\" array");
		goto fail;
	}
	n = json_array_size(arr);
	if (n == 0) {
		snprintf(why, sizeof(why), "\"list\" is empty");
		goto fail;
	}
	if ((list = calloc(n, sizeof(*list))) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		json_t *pk = json_object_get(e, "pubkey"), *rank = json_object_get(e, "rank");
		json_t *tot = json_object_get(e, "total");

		if (!json_is_string(pk) || whale_unhex(json_string_value(pk), list[i].pk) != 0) {
			snprintf(why, sizeof(why), "list item %zu: pubkey: expected 64 hex digits", i);
			goto fail;
		}
		if (!json_is_integer(rank) || json_integer_value(rank) < 1 ||
		    json_integer_value(rank) > UINT32_MAX) {
			snprintf(why, sizeof(why), "list item %zu: rank: expected an integer >= 1", i);
			goto fail;
		}
		list[i].rank = (uint32_t)json_integer_value(rank);
		if (!json_is_string(tot) ||
		    rules_parse_tokens(json_string_value(tot), 0, &list[i].total) != 0) {
			snprintf(why, sizeof(why), "list item %zu: total: expected planck as a decimal string",
			    i);
			goto fail;
		}
	}
	qsort(list, n, sizeof(*list), whale_cmp_entry);
	free(w->list);
	w->list = list;
	w->nlist = n;
	w->have_list = 1;
	json_decref(j);
	free(text);
	log_msg(LOG_LVL_INFO, "rules", "%s: the top list before the restart (%zu accounts)",
	    w->topfile, n);
	return;
fail:
	log_msg(LOG_LVL_ERROR, "rules", "%s: damaged top list: %s; ignored: the next list raises no "
	    "whale_entry/whale_exit (it is compared with nothing)", w->topfile, why);
	free(list);
	json_decref(j);
	free(text);
}

static int
whale_snapshot(struct rules *r, const struct rollout_snapshot *s, int64_t now_ms,
    rules_alert_fn fn, void *ctx)
{
	struct whale *w = rules_rule_arg(r, "whale");
	struct whale_entry *cur;
	uint32_t top, prev_max = 0, cur_max = 0;
	int n = 0;

	if (w == NULL || s->count == 0) /* an empty list is a failed fetch, not N exits */
		return 0;
	cur = calloc(s->count + 1, sizeof(*cur));
	if (cur == NULL)
		return 0;
	for (size_t i = 0; i < s->count; i++) {
		const struct rollout_snapshot_entry *e = &s->entries[i];
		struct whale_acct *wa = whale_get(w, e->pubkey);

		memcpy(cur[i].pk, e->pubkey, 32);
		cur[i].rank = e->rank;
		cur[i].total = whale_entry_total(e);
		if (e->rank > cur_max)
			cur_max = e->rank;
		if (wa)
			wa->exchange = strcmp(e->tag_type, "Exchange") == 0;
	}
	qsort(cur, s->count, sizeof(*cur), whale_cmp_entry);
	for (size_t i = 0; i < w->nlist; i++)
		if (w->list[i].rank > prev_max)
			prev_max = w->list[i].rank;
	/* compare the two lists down to the rank both reach (a short page is no exit) */
	top = prev_max < cur_max ? prev_max : cur_max;
	if (w->top && w->top < top)
		top = w->top;
	if (fn && w->have_list && top > 0) {
		for (size_t i = 0; i < s->count; i++) {
			const struct rollout_snapshot_entry *e = &s->entries[i];
			const struct whale_entry *p = whale_in(w->list, w->nlist, e->pubkey);

			if (e->rank > top || (p && p->rank <= top))
				continue;
			n += whale_list_alert(w, 1, e->pubkey, e->rank, p ? p->rank : 0,
			    whale_entry_total(e), top, s->taken_ms, now_ms, fn, ctx);
		}
		for (size_t i = 0; i < w->nlist; i++) {
			const struct whale_entry *p = &w->list[i];
			const struct whale_entry *c = whale_in(cur, s->count, p->pk);

			if (p->rank > top || (c && c->rank <= top))
				continue;
			n += whale_list_alert(w, 0, p->pk, p->rank, c ? c->rank : 0,
			    c ? c->total : p->total, top, s->taken_ms, now_ms, fn, ctx);
		}
	}
	if (!w->have_list || !whale_list_same(w->list, w->nlist, cur, s->count))
		whale_list_save(w, cur, s->count, s->taken_ms);
	free(w->list);
	w->list = cur;
	w->nlist = s->count;
	w->have_list = 1;
	return n;
}

/* ---- configuration ------------------------------------------------------------------------- */

struct whale_cfg {
	struct whale *w;
	unsigned decimals;
	char *err;
	size_t errlen;
};

static int
whale_bad(struct whale_cfg *c, const struct ynode *n, const char *fmt, const char *a, const char *b)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, a, b);
	snprintf(c->err, c->errlen, "%s:%d:%d: rules: %s", n->file, n->line, n->col, msg);
	return -EINVAL;
}

static int
whale_cfg_amount(struct whale_cfg *c, const char *rule, const struct ynode *v, rollout_u128 *out)
{
	int rc;

	if (v->kind != YNODE_SCALAR)
		return whale_bad(c, v, "%s: expected an amount in tokens, got a %s", rule,
		    ynode_kind_name(v->kind));
	rc = rules_parse_tokens(v->scalar, c->decimals, out);
	if (rc == -ERANGE)
		return whale_bad(c, v, "%s: \"%s\" is not representable in planck (too many decimals or too large)",
		    rule, v->scalar);
	if (rc != 0)
		return whale_bad(c, v, "%s: \"%s\" is not a decimal token amount like 10000 or 2.5", rule,
		    v->scalar);
	return 0;
}

static int
whale_cfg_uint(struct whale_cfg *c, const char *rule, const struct ynode *v, unsigned lo,
    unsigned hi, unsigned *out)
{
	char *end;
	unsigned long x;

	if (v->kind != YNODE_SCALAR || v->quoted || v->scalar[0] < '0' || v->scalar[0] > '9')
		return whale_bad(c, v, "%s: expected a whole number, got \"%s\"", rule,
		    v->kind == YNODE_SCALAR ? v->scalar : ynode_kind_name(v->kind));
	errno = 0;
	x = strtoul(v->scalar, &end, 10);
	if (*end || errno || x < lo || x > hi) {
		char range[64];

		snprintf(range, sizeof(range), "%s (%u..%u)", v->scalar, lo, hi);
		return whale_bad(c, v, "%s: %s out of range or not a number", rule, range);
	}
	*out = (unsigned)x;
	return 0;
}

static int
whale_cfg_duration(struct whale_cfg *c, const char *rule, const struct ynode *v, int64_t *out)
{
	char why[160];

	if (v->kind != YNODE_SCALAR || duration_parse(v->scalar, out, why, sizeof(why)) != 0 ||
	    *out <= 0)
		return whale_bad(c, v, "%s: expected a positive duration like 30d or 60m, got \"%s\"",
		    rule, v->kind == YNODE_SCALAR ? v->scalar : ynode_kind_name(v->kind));
	return 0;
}

static int
whale_cfg_pattern(struct whale_cfg *c, const struct ynode *v)
{
	struct whale *w = c->w;
	int code;
	PCRE2_SIZE off;

	if (v->kind != YNODE_SCALAR)
		return whale_bad(c, v, "%s: expected a PCRE2 pattern, got a %s", "exchange_flow.patterns",
		    ynode_kind_name(v->kind));
	if (w->nre >= WHALE_PATTERNS_MAX)
		return whale_bad(c, v, "%s: more than %s patterns", "exchange_flow.patterns", "16");
	w->re[w->nre] = pcre2_compile((PCRE2_SPTR)v->scalar, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code,
	    &off, NULL);
	if (w->re[w->nre] == NULL) {
		char why[200], msg[300];

		pcre2_get_error_message(code, (PCRE2_UCHAR *)why, sizeof(why));
		snprintf(msg, sizeof(msg), "%s at offset %zu", why, (size_t)off);
		return whale_bad(c, v, "exchange_flow.patterns: \"%s\": %s", v->scalar, msg);
	}
	w->nre++;
	return 0;
}

/* Check that every key of the map V is one of NAMES ("a b c"). */
static int
whale_cfg_keys(struct whale_cfg *c, const char *rule, const struct ynode *v, const char *names)
{
	if (v->kind != YNODE_MAP)
		return whale_bad(c, v, "%s: expected a map with %s", rule ? rule : "rules", names);
	for (size_t i = 0; i < v->len; i++) {
		const char *k = v->keys[i]->scalar;
		const char *p = strstr(names, k);
		size_t kl = strlen(k);

		while (p && !((p == names || p[-1] == ' ') && (p[kl] == '\0' || p[kl] == ' ')))
			p = strstr(p + 1, k);
		if (p == NULL || kl == 0) {
			char msg[256];

			if (rule)
				snprintf(msg, sizeof(msg), "%s: unknown key \"%s\"", rule, k);
			else
				snprintf(msg, sizeof(msg), "unknown key \"%s\"", k);
			return whale_bad(c, v->keys[i], "%s (%s)", msg, names);
		}
	}
	return 0;
}

static int
whale_cfg_tiers(struct whale_cfg *c, const char *rule, const struct ynode *v, rollout_u128 t[3])
{
	static const char *names[3] = { "info", "warning", "critical" };
	const struct ynode *x;
	int rc;

	if ((rc = whale_cfg_keys(c, rule, v, "info warning critical")) != 0)
		return rc;
	for (int i = 0; i < 3; i++)
		if ((x = ynode_get(v, names[i])) != NULL && (rc = whale_cfg_amount(c, rule, x, &t[i])) != 0)
			return rc;
	if (t[0] == 0 || t[0] > t[1] || t[1] > t[2])
		return whale_bad(c, v, "%s: need 0 < info <= warning <= critical%s", rule, "");
	return 0;
}

static int
whale_configure(struct whale_cfg *c, const struct ynode *cfg)
{
	struct whale *w = c->w;
	const struct ynode *v, *x;
	unsigned u;
	int rc;

	if (cfg == NULL)
		return 0;
	if (cfg->kind != YNODE_MAP)
		return whale_bad(c, cfg, "expected a map of rules, got a %s%s", ynode_kind_name(cfg->kind), "");
	rc = whale_cfg_keys(c, NULL, cfg,
	    "large_movement whale_list dormant coordinated draining consolidation exchange_flow unlock");
	if (rc != 0)
		return rc;
	if ((v = ynode_get(cfg, "whale_list")) != NULL) {
		if ((rc = whale_cfg_keys(c, "whale_list", v, "top critical")) != 0)
			return rc;
		if ((x = ynode_get(v, "top")) != NULL) {
			if ((rc = whale_cfg_uint(c, "whale_list.top", x, 0, 1000000, &u)) != 0)
				return rc;
			w->top = u;
		}
		if ((x = ynode_get(v, "critical")) != NULL &&
		    (rc = whale_cfg_amount(c, "whale_list.critical", x, &w->entry_critical)) != 0)
			return rc;
	}
	if ((v = ynode_get(cfg, "dormant")) != NULL) {
		if ((rc = whale_cfg_keys(c, "dormant", v, "warning critical")) != 0)
			return rc;
		if ((x = ynode_get(v, "warning")) != NULL &&
		    (rc = whale_cfg_duration(c, "dormant.warning", x, &w->dormant_warning)) != 0)
			return rc;
		if ((x = ynode_get(v, "critical")) != NULL &&
		    (rc = whale_cfg_duration(c, "dormant.critical", x, &w->dormant_critical)) != 0)
			return rc;
		if (w->dormant_warning > w->dormant_critical)
			return whale_bad(c, v, "dormant: need warning <= critical%s%s", "", "");
	}
	if ((v = ynode_get(cfg, "coordinated")) != NULL) {
		if ((rc = whale_cfg_keys(c, "coordinated", v, "accounts min window")) != 0)
			return rc;
		if ((x = ynode_get(v, "accounts")) != NULL &&
		    (rc = whale_cfg_uint(c, "coordinated.accounts", x, 2, 1000, &w->coord_accounts)) != 0)
			return rc;
		if ((x = ynode_get(v, "min")) != NULL &&
		    (rc = whale_cfg_amount(c, "coordinated.min", x, &w->coord_min)) != 0)
			return rc;
		if ((x = ynode_get(v, "window")) != NULL &&
		    (rc = whale_cfg_duration(c, "coordinated.window", x, &w->coord_window)) != 0)
			return rc;
		if (w->coord_min == 0)
			return whale_bad(c, v, "coordinated: min must be more than 0%s%s", "", "");
	}
	if ((v = ynode_get(cfg, "draining")) != NULL) {
		if ((rc = whale_cfg_keys(c, "draining", v, "percent warning_percent min")) != 0)
			return rc;
		if ((x = ynode_get(v, "percent")) != NULL &&
		    (rc = whale_cfg_uint(c, "draining.percent", x, 0, 99, &w->drain_pct)) != 0)
			return rc;
		if ((x = ynode_get(v, "warning_percent")) != NULL &&
		    (rc = whale_cfg_uint(c, "draining.warning_percent", x, 0, 99, &w->drain_warning_pct)) != 0)
			return rc;
		if ((x = ynode_get(v, "min")) != NULL &&
		    (rc = whale_cfg_amount(c, "draining.min", x, &w->drain_min)) != 0)
			return rc;
		if (w->drain_pct > w->drain_warning_pct)
			return whale_bad(c, v, "draining: need percent <= warning_percent%s%s", "", "");
	}
	if ((v = ynode_get(cfg, "consolidation")) != NULL) {
		if ((rc = whale_cfg_keys(c, "consolidation", v, "percent min warning")) != 0)
			return rc;
		if ((x = ynode_get(v, "percent")) != NULL &&
		    (rc = whale_cfg_uint(c, "consolidation.percent", x, 0, 100000, &w->gain_pct)) != 0)
			return rc;
		if ((x = ynode_get(v, "min")) != NULL &&
		    (rc = whale_cfg_amount(c, "consolidation.min", x, &w->gain_min)) != 0)
			return rc;
		if ((x = ynode_get(v, "warning")) != NULL &&
		    (rc = whale_cfg_amount(c, "consolidation.warning", x, &w->gain_warning)) != 0)
			return rc;
	}
	if ((v = ynode_get(cfg, "exchange_flow")) != NULL) {
		if ((rc = whale_cfg_keys(c, "exchange_flow", v,
		    "patterns info warning critical transfers")) != 0)
			return rc;
		if ((x = ynode_get(v, "patterns")) != NULL) {
			if (x->kind == YNODE_SEQ) {
				for (size_t i = 0; i < x->len; i++)
					if ((rc = whale_cfg_pattern(c, x->items[i])) != 0)
						return rc;
			} else if ((rc = whale_cfg_pattern(c, x)) != 0) {
				return rc;
			}
		}
		{
			/* the tiers without the patterns and transfers keys */
			struct ynode sub = *v;
			const struct ynode *keys[4], *vals[4];
			size_t k = 0;

			for (size_t i = 0; i < v->len && k < 4; i++)
				if (strcmp(v->keys[i]->scalar, "patterns") != 0 &&
				    strcmp(v->keys[i]->scalar, "transfers") != 0) {
					keys[k] = v->keys[i];
					vals[k++] = v->items[i];
				}
			sub.keys = (struct ynode **)keys;
			sub.items = (struct ynode **)vals;
			sub.len = k;
			if ((rc = whale_cfg_tiers(c, "exchange_flow", &sub, w->ex_tier)) != 0)
				return rc;
		}
		/* deposits / withdrawals: exchange_flow's tiers unless transfers: sets them */
		if ((x = ynode_get(v, "transfers")) != NULL) {
			memcpy(w->xfer_tier, w->ex_tier, sizeof(w->xfer_tier));
			if ((rc = whale_cfg_tiers(c, "exchange_flow.transfers", x, w->xfer_tier)) != 0)
				return rc;
			w->xfer_set = 1;
		}
	}
	if ((v = ynode_get(cfg, "unlock")) != NULL &&
	    (rc = whale_cfg_tiers(c, "unlock", v, w->unlock_tier)) != 0)
		return rc;
	return 0;
}

static void
whale_free(void *arg)
{
	struct whale *w = arg;

	if (w == NULL)
		return;
	if (w->writer_on) { /* the writer writes what is queued, then ends */
		pthread_mutex_lock(&w->wlock);
		w->writer_stop = 1;
		pthread_cond_signal(&w->wcond);
		pthread_mutex_unlock(&w->wlock);
		pthread_join(w->writer, NULL);
	}
	pthread_mutex_destroy(&w->wlock);
	pthread_cond_destroy(&w->wcond);
	pthread_cond_destroy(&w->widle);
	for (size_t i = 0; i < w->nre; i++)
		pcre2_code_free(w->re[i]);
	pcre2_match_data_free(w->md);
	free(w->slots);
	free(w->list);
	free(w->coord[0].v);
	free(w->coord[1].v);
	free(w);
}

int
whale_install(struct rules *r, const struct ynode *cfg, const char *data_dir, char *err,
    size_t errlen)
{
	struct whale *w;
	struct whale_cfg c;
	struct rules_rule rule;
	unsigned dec = rules_decimals(r);
	int rc;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "rules: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&w->wlock, NULL);
	pthread_cond_init(&w->wcond, NULL);
	pthread_cond_init(&w->widle, NULL);
	w->r = r;
	rules_parse_tokens("1000000", dec, &w->entry_critical);
	w->dormant_warning = 30 * DAY_MS;
	w->dormant_critical = 180 * DAY_MS;
	w->coord_accounts = 3;
	rules_parse_tokens("10000", dec, &w->coord_min);
	w->coord_window = 60LL * 60 * 1000;
	w->drain_pct = 10;
	w->drain_warning_pct = 50;
	rules_parse_tokens("1000", dec, &w->drain_min);
	w->gain_pct = 20;
	rules_parse_tokens("50000", dec, &w->gain_min);
	rules_parse_tokens("500000", dec, &w->gain_warning);
	rules_parse_tokens("10000", dec, &w->ex_tier[0]);
	rules_parse_tokens("100000", dec, &w->ex_tier[1]);
	rules_parse_tokens("1000000", dec, &w->ex_tier[2]);
	memcpy(w->unlock_tier, w->ex_tier, sizeof(w->unlock_tier));
	w->nslots = 1024;
	w->slots = calloc(w->nslots, sizeof(*w->slots));
	w->md = pcre2_match_data_create(4, NULL);
	if (w->slots == NULL || w->md == NULL)
		goto nomem;
	if (data_dir && *data_dir &&
	    (size_t)snprintf(w->dir, sizeof(w->dir), "%s/rules/%s/activity", data_dir,
	    rules_system(r)) >= sizeof(w->dir)) {
		snprintf(err, errlen, "rules: data directory path too long");
		whale_free(w);
		return -ENAMETOOLONG;
	}
	c.w = w;
	c.decimals = dec;
	c.err = err;
	c.errlen = errlen;
	if (data_dir && *data_dir &&
	    (size_t)snprintf(w->topfile, sizeof(w->topfile), "%s/rules/%s/top.json", data_dir,
	    rules_system(r)) >= sizeof(w->topfile)) {
		snprintf(err, errlen, "rules: data directory path too long");
		whale_free(w);
		return -ENAMETOOLONG;
	}
	rc = whale_configure(&c, cfg);
	if (rc != 0) {
		whale_free(w);
		return rc;
	}
	/* deposits and withdrawals take exchange_flow's tiers unless exchange_flow.transfers sets them */
	if (!w->xfer_set)
		memcpy(w->xfer_tier, w->ex_tier, sizeof(w->xfer_tier));
	whale_list_load(w);
	/* without the thread, files are written on the caller's thread */
	if (w->dir[0] && pthread_create(&w->writer, NULL, whale_writer, w) == 0)
		w->writer_on = 1;
	if (rules_on_free(r, whale_free, w) != 0) {
		snprintf(err, errlen, "rules: too many rules");
		whale_free(w);
		return -E2BIG;
	}
	/* from here on rules_free() frees W */
	memset(&rule, 0, sizeof(rule));
	rule.name = "whale";
	rule.balance = whale_balance;
	rule.snapshot = whale_snapshot;
	rule.arg = w;
	if (rules_add(r, &rule) != 0) {
		snprintf(err, errlen, "rules: too many rules");
		return -E2BIG;
	}
	return 0;
nomem:
	whale_free(w);
	snprintf(err, errlen, "rules: out of memory");
	return -ENOMEM;
}

int
whale_seed(struct rules *r, const struct rollout_activity *act)
{
	struct whale *w = rules_rule_arg(r, "whale");
	struct whale_acct *a;

	if (w == NULL)
		return -ENOENT;
	if (!act->found)
		return -ENODATA; /* the source knows no activity: it stays unknown, never "now" */
	if (act->last_ms <= 0)
		return -EINVAL;
	if ((a = whale_get(w, act->pubkey)) == NULL)
		return -ENOMEM;
	whale_load(w, a);
	if (a->activity_known)
		return -EEXIST;
	a->activity_known = 1;
	a->activity_ms = act->last_ms;
	a->activity_block = act->block;
	whale_source(a, act->source[0] && memchr(act->source, '\0', sizeof(act->source)) ?
	    act->source : "seed");
	whale_store(w, a);
	return 0;
}

int
whale_seed_activity(struct rules *r, const uint8_t pubkey[32], int64_t ms)
{
	struct rollout_activity act;

	memset(&act, 0, sizeof(act));
	memcpy(act.pubkey, pubkey, 32);
	act.found = 1;
	act.last_ms = ms;
	snprintf(act.source, sizeof(act.source), "seed");
	return whale_seed(r, &act);
}

int
whale_fact_alert(const struct rules_alert *a)
{
	return strcmp(a->type, "exchange_deposit") == 0 ||
	    strcmp(a->type, "exchange_withdrawal") == 0 || strcmp(a->type, "whale_entry") == 0 ||
	    strcmp(a->type, "whale_exit") == 0;
}

int
whale_sync(struct rules *r)
{
	struct whale *w = rules_rule_arg(r, "whale");

	if (w == NULL)
		return -ENOENT;
	if (!w->writer_on)
		return 0;
	pthread_mutex_lock(&w->wlock);
	while (w->head != NULL || w->writer_busy)
		pthread_cond_wait(&w->widle, &w->wlock);
	pthread_mutex_unlock(&w->wlock);
	return 0;
}

int
whale_last_activity(struct rules *r, const uint8_t pubkey[32], int64_t *ms)
{
	struct whale *w = rules_rule_arg(r, "whale");
	struct whale_acct *a;

	if (w == NULL || (a = whale_get(w, pubkey)) == NULL)
		return -ENOENT;
	whale_load(w, a);
	if (!a->activity_known)
		return -ENOENT;
	*ms = a->activity_ms;
	return 0;
}

int
whale_compared(const struct rules_alert *a)
{
	return strcmp(a->type, "large_movement") == 0 || strcmp(a->type, "rapid_draining") == 0 ||
	    strcmp(a->type, "consolidation") == 0 || strcmp(a->type, "exchange_flow") == 0;
}

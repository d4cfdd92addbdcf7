/*
 * lookups.c — the poller's per-account lookups: latest activity of
 * accounts first seen, and the transfers of exchanges (lookups.h).
 */
#include "lookups.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fsutil.h"
#include "planck.h"
#include "ss58.h"

#define LOOKUPS_MAX_FILE (16u * 1024 * 1024)
#define LOOKUPS_MAX_PAGES 10           /* pages of one exchange in one cycle */
#define LOOKUPS_PATH "/api/v2/scan/transfers"

static void lookups_copy(char *dst, size_t len, const char *src);

int
lookups_init(struct lookups *l, const char *path, const char *chain, uint16_t prefix,
    unsigned decimals, const char *symbol)
{
	pthread_mutex_init(&l->lock, NULL);
	l->prefix = prefix;
	l->decimals = decimals;
	l->page_rows = 100;
	snprintf(l->chain, sizeof(l->chain), "%s", chain ? chain : "");
	snprintf(l->symbol, sizeof(l->symbol), "%s", symbol ? symbol : "");
	if (path != NULL && (l->path = strdup(path)) == NULL)
		return -ENOMEM;
	return 0;
}

void
lookups_free(struct lookups *l)
{
	if (l->exchange_re != NULL)
		pcre2_code_free(l->exchange_re);
	if (l->exchange_md != NULL)
		pcre2_match_data_free(l->exchange_md);
	free(l->asked);
	free(l->ex);
	free(l->path);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

int
lookups_set_pattern(struct lookups *l, const char *pattern, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off = 0;
	pcre2_code *re;
	int code = 0;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "offset %zu: %s", (size_t)off, (const char *)msg);
		return -EINVAL;
	}
	if (l->exchange_re != NULL)
		pcre2_code_free(l->exchange_re);
	if (l->exchange_md == NULL)
		l->exchange_md = pcre2_match_data_create(4, NULL);
	l->exchange_re = re;
	return l->exchange_md != NULL ? 0 : -ENOMEM;
}

static int
lookups_match(struct lookups *l, const char *label)
{
	if (l->exchange_re == NULL || label[0] == '\0')
		return 0;
	return pcre2_match(l->exchange_re, (PCRE2_SPTR)label, PCRE2_ZERO_TERMINATED, 0, 0,
	    l->exchange_md, NULL) >= 0;
}

int
lookups_is_exchange(struct lookups *l, const struct rollout_snapshot_entry *e)
{
	return strcasecmp(e->tag_type, "Exchange") == 0 || lookups_match(l, e->tag_name) ||
	    lookups_match(l, e->display);
}

/* ---- the asked-set and the exchanges (sorted arrays) ------------------------------ */

static int
lookups_cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Index of PK in the asked-set, or -(insertion point) - 1. */
static long
lookups_asked_find(const struct lookups *l, const uint8_t pk[32])
{
	size_t lo = 0, hi = l->nasked;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(l->asked[mid], pk, 32);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int
lookups_asked_add(struct lookups *l, const uint8_t pk[32])
{
	long at = lookups_asked_find(l, pk);
	size_t pos;

	if (at >= 0)
		return 0;
	pos = (size_t)(-at - 1);
	if (l->nasked == l->capasked) {
		size_t cap = l->capasked ? l->capasked * 2 : 256;
		void *n = realloc(l->asked, cap * sizeof(*l->asked));

		if (n == NULL)
			return -ENOMEM;
		l->asked = n;
		l->capasked = cap;
	}
	pthread_mutex_lock(&l->lock);          /* lookups_stats() reads the size */
	memmove(l->asked + pos + 1, l->asked + pos, (l->nasked - pos) * sizeof(*l->asked));
	memcpy(l->asked[pos], pk, 32);
	l->nasked++;
	pthread_mutex_unlock(&l->lock);
	l->dirty = 1;
	return 0;
}

static struct lookups_exchange *
lookups_ex_find(const struct lookups *l, const uint8_t pk[32])
{
	if (l->nex == 0)
		return NULL;
	return bsearch(pk, l->ex, l->nex, sizeof(*l->ex), lookups_cmp_key);
}

static int
lookups_ex_set(struct lookups *l, const uint8_t pk[32], long long newest)
{
	struct lookups_exchange *e = lookups_ex_find(l, pk);

	if (e != NULL) {
		if (e->newest_id != newest)
			l->dirty = 1;
		e->newest_id = newest;
		return 0;
	}
	if (l->nex == l->capex) {
		size_t cap = l->capex ? l->capex * 2 : 32;
		void *n = realloc(l->ex, cap * sizeof(*l->ex));

		if (n == NULL)
			return -ENOMEM;
		l->ex = n;
		l->capex = cap;
	}
	pthread_mutex_lock(&l->lock);
	memset(&l->ex[l->nex], 0, sizeof(l->ex[l->nex]));
	memcpy(l->ex[l->nex].pubkey, pk, 32);
	l->ex[l->nex].newest_id = newest;
	l->nex++;
	qsort(l->ex, l->nex, sizeof(*l->ex), lookups_cmp_key);
	pthread_mutex_unlock(&l->lock);
	l->dirty = 1;
	return 0;
}

/* ---- the state file ------------------------------------------------------------------ */

int
lookups_save(const struct lookups *l)
{
	json_t *root, *asked, *ex;
	char addr[SS58_MAX_LEN], *text;
	size_t i;
	int rc;

	if (l->path == NULL)
		return 0;
	asked = json_array();
	ex = json_array();
	root = json_pack("{s:i,s:s,s:o,s:o,s:I}", "version", 1, "chain", l->chain, "asked", asked,
	    "exchanges", ex, "cursor", (json_int_t)l->cursor);
	if (root == NULL)
		return -ENOMEM;
	for (i = 0; i < l->nasked; i++) {
		ss58_encode(l->asked[i], l->prefix, addr, sizeof(addr));
		json_array_append_new(asked, json_string(addr));
	}
	for (i = 0; i < l->nex; i++) {
		ss58_encode(l->ex[i].pubkey, l->prefix, addr, sizeof(addr));
		json_array_append_new(ex, json_pack("{s:s,s:I}", "address", addr,
		    "newest_id", (json_int_t)l->ex[i].newest_id));
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		return -ENOMEM;
	rc = fs_write_atomic(l->path, text, strlen(text), 0644);
	free(text);
	return rc;
}

/* Decode ADDR of this network into PK; -EINVAL with the reason in ERR. */
static int
lookups_address(const struct lookups *l, const char *addr, uint8_t pk[32], char *err, size_t errlen)
{
	uint16_t prefix = 0;
	char why[128];

	if (ss58_decode(addr, pk, &prefix, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "\"%.56s\": %s", addr, why);
		return -EINVAL;
	}
	if (prefix != l->prefix) {
		snprintf(err, errlen, "\"%.56s\": network prefix %u, expected %u", addr, prefix, l->prefix);
		return -EINVAL;
	}
	return 0;
}

int
lookups_load(struct lookups *l, char *err, size_t errlen)
{
	json_t *root = NULL, *asked, *ex, *v;
	json_error_t je;
	char *text = NULL, why[200];
	size_t len = 0, i;
	uint8_t pk[32];
	int rc;

	if (l->path == NULL)
		return -ENOENT;
	if ((rc = fs_read_all(l->path, LOOKUPS_MAX_FILE, &text, &len)) < 0) {
		if (rc != -ENOENT)
			snprintf(err, errlen, "%s: %s", l->path, strerror(-rc));
		return rc;
	}
	root = json_loadb(text, len, 0, &je);
	free(text);
	rc = -EINVAL;
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", l->path, je.line, je.column, je.text);
		goto fail;
	}
	if (json_integer_value(json_object_get(root, "version")) != 1) {
		snprintf(err, errlen, "%s: version: expected 1", l->path);
		goto fail;
	}
	if (strcmp(json_string_value(json_object_get(root, "chain")) ?: "", l->chain) != 0) {
		snprintf(err, errlen, "%s: chain: written for \"%s\", this is \"%s\"", l->path,
		    json_string_value(json_object_get(root, "chain")) ?: "", l->chain);
		goto fail;
	}
	asked = json_object_get(root, "asked");
	ex = json_object_get(root, "exchanges");
	if (!json_is_array(asked) || !json_is_array(ex)) {
		snprintf(err, errlen, "%s: %s: expected an array", l->path,
		    json_is_array(asked) ? "exchanges" : "asked");
		goto fail;
	}
	json_array_foreach(asked, i, v) {
		if (!json_is_string(v) || lookups_address(l, json_string_value(v), pk, why,
		    sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: asked[%zu]: %s", l->path, i,
			    json_is_string(v) ? why : "expected a string");
			goto fail;
		}
		if (lookups_asked_add(l, pk) < 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	json_array_foreach(ex, i, v) {
		const char *a = json_string_value(json_object_get(v, "address"));
		json_t *id = json_object_get(v, "newest_id");

		if (a == NULL || lookups_address(l, a, pk, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: exchanges[%zu].address: %s", l->path, i,
			    a ? why : "missing");
			goto fail;
		}
		if (!json_is_integer(id) || json_integer_value(id) < 0) {
			snprintf(err, errlen, "%s: exchanges[%zu].newest_id: expected an integer >= 0",
			    l->path, i);
			goto fail;
		}
		if (lookups_ex_set(l, pk, (long long)json_integer_value(id)) < 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	l->cursor = (size_t)json_integer_value(json_object_get(root, "cursor"));
	l->dirty = 0;
	json_decref(root);
	return 0;
fail:
	/* all or nothing: a half-read file does not count */
	pthread_mutex_lock(&l->lock);
	l->nasked = 0;
	l->nex = 0;
	pthread_mutex_unlock(&l->lock);
	json_decref(root);
	return rc;
}

/* ---- one transfer item ------------------------------------------------------------- */

/* A side's labels: merkle tag_type / tag_name of DISPLAY. */
static void
lookups_tags(json_t *display, char *type, size_t typelen, char *name, size_t namelen)
{
	json_t *merkle = json_object_get(display, "merkle");

	type[0] = name[0] = '\0';
	if (!json_is_object(merkle))
		return;
	lookups_copy(type, typelen, json_string_value(json_object_get(merkle, "tag_type")) ?: "");
	lookups_copy(name, namelen, json_string_value(json_object_get(merkle, "tag_name")) ?: "");
}

static int
lookups_side(const struct lookups *l, json_t *item, const char *key, uint8_t pk[32], char *err,
    size_t errlen)
{
	json_t *v = json_object_get(item, key);
	char why[200];

	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: %s", key, v ? "expected a string" : "missing");
		return -EINVAL;
	}
	if (lookups_address(l, json_string_value(v), pk, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -EINVAL;
	}
	return 0;
}

/* An integer field >= 0 (Subscan sends numbers; digit strings are accepted too). */
static int
lookups_uint(json_t *item, const char *key, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(item, key);
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (long long)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_value(v)[0] != '\0') {
		errno = 0;
		*out = strtoll(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0' && *out >= 0)
			return 0;
	}
	snprintf(err, errlen, "%s: %s", key, v ? "expected an integer >= 0" : "missing");
	return -EINVAL;
}

int
lookups_decode_transfer(const struct lookups *l, json_t *item, struct rollout_transfer *out,
    long long *id, char *err, size_t errlen)
{
	json_t *v2, *amount, *success, *asset;
	long long block, ts;
	char why[160];

	*id = -1;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(item)) {
		snprintf(err, errlen, "expected an object");
		return -EINVAL;
	}
	if (lookups_uint(item, "transfer_id", id, err, errlen) < 0) {
		*id = -1;
		return -EINVAL;
	}
	snprintf(out->id, sizeof(out->id), "%lld", *id);
	success = json_object_get(item, "success");
	asset = json_object_get(item, "asset_symbol");
	if (json_is_false(success))
		return 1;
	if (json_is_string(asset) && json_string_value(asset)[0] != '\0' && l->symbol[0] != '\0' &&
	    strcmp(json_string_value(asset), l->symbol) != 0)
		return 1;
	if (lookups_side(l, item, "from", out->from, err, errlen) < 0 ||
	    lookups_side(l, item, "to", out->to, err, errlen) < 0)
		return -EINVAL;
	/* amount_v2: planck as an integer string; else amount in tokens */
	v2 = json_object_get(item, "amount_v2");
	amount = json_object_get(item, "amount");
	if (v2 != NULL && !json_is_null(v2)) {
		if (!json_is_string(v2) || planck_parse_int(json_string_value(v2), &out->amount) < 0) {
			snprintf(err, errlen, "amount_v2: expected a decimal integer string of planck");
			return -EINVAL;
		}
	} else if (!json_is_string(amount)) {
		snprintf(err, errlen, "amount: %s", amount ? "expected a decimal string" : "missing");
		return -EINVAL;
	} else if (planck_parse_tokens(json_string_value(amount), l->decimals, &out->amount, why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "amount: %s", why);
		return -EINVAL;
	}
	if (lookups_uint(item, "block_num", &block, err, errlen) < 0 ||
	    lookups_uint(item, "block_timestamp", &ts, err, errlen) < 0)
		return -EINVAL;
	out->block = (uint64_t)block;
	out->block_time_ms = (int64_t)ts * 1000;
	lookups_tags(json_object_get(item, "from_account_display"), out->from_tag_type,
	    sizeof(out->from_tag_type), out->from_tag_name, sizeof(out->from_tag_name));
	lookups_tags(json_object_get(item, "to_account_display"), out->to_tag_type,
	    sizeof(out->to_tag_type), out->to_tag_name, sizeof(out->to_tag_name));
	return 0;
}

/* ---- requests ----------------------------------------------------------------------- */

/*
 * POST transfers of ADDRESS (ROW rows of page PAGE).  0 with *LIST (new
 * reference to data.transfers; Subscan's null becomes []), or -errno with
 * *KIND and ERR set.
 */
static int
lookups_fetch(struct sclient_conn *conn, const char *address, long long row, long long page,
    json_t **list, const char **kind, char *err, size_t errlen)
{
	char body[200];
	json_t *data = NULL, *t;
	int64_t gen = 0;
	int rc;

	*list = NULL;
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"row\":%lld,\"page\":%lld}", address,
	    row, page);
	rc = sclient_post(conn, LOOKUPS_PATH, body, &data, &gen, kind, err, errlen);
	if (rc < 0)
		return rc;
	t = json_object_get(data, "transfers");
	if (t == NULL || !(json_is_array(t) || json_is_null(t))) {
		*kind = "envelope";
		snprintf(err, errlen, "data.transfers %s", t ? "is not an array" : "missing");
		json_decref(data);
		return -EINVAL;
	}
	*list = json_is_array(t) ? json_incref(t) : json_array();
	json_decref(data);
	return *list != NULL ? 0 : -ENOMEM;
}

static void
lookups_count(struct lookups *l, uint64_t *counter, uint64_t n)
{
	pthread_mutex_lock(&l->lock);
	*counter += n;
	pthread_mutex_unlock(&l->lock);
}

static void
lookups_fail(struct lookups *l, const struct rollout_host *host, const struct lookups_sink *sink,
    const char *kind, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
lookups_fail(struct lookups *l, const struct rollout_host *host, const struct lookups_sink *sink,
    const char *kind, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	(void)l;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	host->log(host->ctx, ROLLOUT_LOG_WARN, "%s", msg);
	if (strcmp(kind, "cancelled") != 0)
		sink->error(sink->ctx, kind, msg);
}

static int
lookups_recent(const struct lookups *l, long long id)
{
	size_t i;

	for (i = 0; i < l->nrecent; i++)
		if (l->recent[i] == id)
			return 1;
	return 0;
}

static void
lookups_remember(struct lookups *l, long long id)
{
	size_t cap = sizeof(l->recent) / sizeof(l->recent[0]);

	l->recent[l->recent_pos] = id;
	l->recent_pos = (l->recent_pos + 1) % cap;
	if (l->nrecent < cap)
		l->nrecent++;
}

/* Copy SRC into DST (LEN bytes), cut at a UTF-8 character boundary. */
static void
lookups_copy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len) {
		n = len - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Labels of a side the item did not tag: the top list's. */
static void
lookups_label_from(const struct snapshot *cur, const uint8_t pk[32], char *type, size_t typelen,
    char *name, size_t namelen)
{
	size_t i;

	if (type[0] != '\0' || name[0] != '\0')
		return;
	for (i = 0; i < cur->count; i++) {
		const struct rollout_snapshot_entry *e = &cur->entries[i];

		if (memcmp(e->pubkey, pk, 32) == 0) {
			lookups_copy(type, typelen, e->tag_type);
			lookups_copy(name, namelen, e->tag_name[0] ? e->tag_name : e->display);
			return;
		}
	}
}

/*
 * Follow exchange X (address ADDR): its transfers newer than the newest id
 * seen, emitted oldest first.  *USED counts requests.  0, or -errno when a
 * request failed (nothing changed for X then).
 */
static int
lookups_follow(struct lookups *l, struct sclient_conn *conn, const struct rollout_host *host,
    const struct snapshot *cur, const uint8_t pk[32], const char *addr, long long budget,
    long long *used, const struct lookups_sink *sink)
{
	struct lookups_exchange *st = lookups_ex_find(l, pk);
	long long seen = st ? st->newest_id : -1, newest = seen, lowest = -1, page;
	struct rollout_transfer *fresh = NULL;
	size_t nfresh = 0, capfresh = 0, k;
	const char *kind = "unknown";
	char err[600], why[300];
	int reached = 0, rc = 0;

	for (page = 0; page < LOOKUPS_MAX_PAGES && *used < budget && !reached; page++) {
		long long row = seen < 0 ? 1 : l->page_rows;
		json_t *list = NULL, *item;
		size_t i;

		(*used)++;
		lookups_count(l, &l->exchange_requests, 1);
		host->metric(host->ctx, "transfer_lookups", 1);
		rc = lookups_fetch(conn, addr, row, page, &list, &kind, err, sizeof(err));
		if (rc < 0) {
			lookups_fail(l, host, sink, kind, "exchange %s: transfers page %lld: %s", addr,
			    page, err);
			free(fresh);
			return rc;
		}
		json_array_foreach(list, i, item) {
			struct rollout_transfer t;
			long long id = -1;
			int d = lookups_decode_transfer(l, item, &t, &id, why, sizeof(why));

			if (id >= 0 && id <= seen) {
				reached = 1;
				break;
			}
			/* pages shift when transfers arrive meanwhile: each id once */
			if (id >= 0 && lowest >= 0 && id >= lowest)
				continue;
			if (id >= 0)
				lowest = id;
			if (id > newest)
				newest = id;
			if (seen < 0)
				continue;           /* first look: history is not news */
			if (d < 0) {
				lookups_count(l, &l->transfer_errors, 1);
				host->metric(host->ctx, "transfer_errors", 1);
				lookups_fail(l, host, sink, "decode",
				    "exchange %s: transfers item %zu: %s", addr, (size_t)page *
				    (size_t)row + i, why);
				continue;
			}
			if (d > 0 || lookups_recent(l, id))
				continue;           /* not ours, or already emitted for the other side */
			if (nfresh == capfresh) {
				size_t cap = capfresh ? capfresh * 2 : 16;
				void *n = realloc(fresh, cap * sizeof(*fresh));

				if (n == NULL) {
					/* out of memory: this one is lost; say so */
					lookups_count(l, &l->gaps, 1);
					host->metric(host->ctx, "transfer_gaps", 1);
					continue;
				}
				fresh = n;
				capfresh = cap;
			}
			lookups_label_from(cur, t.from, t.from_tag_type, sizeof(t.from_tag_type),
			    t.from_tag_name, sizeof(t.from_tag_name));
			lookups_label_from(cur, t.to, t.to_tag_type, sizeof(t.to_tag_type),
			    t.to_tag_name, sizeof(t.to_tag_name));
			fresh[nfresh++] = t;
		}
		if (seen < 0 || (long long)json_array_size(list) < row)
			reached = 1;
		json_decref(list);
	}
	if (!reached) {
		lookups_count(l, &l->gaps, 1);
		host->metric(host->ctx, "transfer_gaps", 1);
		host->log(host->ctx, ROLLOUT_LOG_WARN,
		    "exchange %s: more new transfers than %lld requests reach; older ones skipped",
		    addr, *used);
	}
	if (seen < 0 && newest < 0)
		newest = 0;
	/* newest first on the wire: emit oldest first */
	for (k = nfresh; k-- > 0;) {
		struct rollout_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.size = sizeof(ev);
		ev.kind = ROLLOUT_EV_TRANSFER;
		ev.u.transfer = fresh[k];
		if (sink->emit(sink->ctx, &ev) == 0) {
			lookups_remember(l, strtoll(fresh[k].id, NULL, 10));
			lookups_count(l, &l->transfers_emitted, 1);
			host->metric(host->ctx, "transfers", 1);
		}
	}
	free(fresh);
	if (newest >= 0)
		lookups_ex_set(l, pk, newest);
	return 0;
}

/* Ask for the latest transfer of ADDR; emit the activity.  0 or -errno. */
static int
lookups_activity(struct lookups *l, struct sclient_conn *conn, const struct rollout_host *host,
    const uint8_t pk[32], const char *addr, const struct lookups_sink *sink)
{
	struct rollout_event ev;
	const char *kind = "unknown";
	char err[600];
	json_t *list = NULL, *item;
	long long block = 0, ts = 0;
	int rc;

	host->metric(host->ctx, "activity_lookups", 1);
	rc = lookups_fetch(conn, addr, 1, 0, &list, &kind, err, sizeof(err));
	if (rc < 0) {
		lookups_count(l, &l->activity_errors, 1);
		lookups_fail(l, host, sink, kind, "activity of %s: %s", addr, err);
		return rc;
	}
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_ACTIVITY;
	memcpy(ev.u.activity.pubkey, pk, 32);
	snprintf(ev.u.activity.source, sizeof(ev.u.activity.source), "subscan.transfers");
	item = json_array_get(list, 0);
	if (item != NULL) {
		if (lookups_uint(item, "block_timestamp", &ts, err, sizeof(err)) < 0 ||
		    (json_object_get(item, "block_num") != NULL &&
		    lookups_uint(item, "block_num", &block, err, sizeof(err)) < 0)) {
			json_decref(list);
			lookups_count(l, &l->activity_errors, 1);
			host->metric(host->ctx, "transfer_errors", 1);
			lookups_fail(l, host, sink, "decode", "activity of %s: transfers item 0: %s",
			    addr, err);
			return -EINVAL;
		}
		ev.u.activity.found = 1;
		ev.u.activity.last_ms = (int64_t)ts * 1000;
		ev.u.activity.block = (uint64_t)block;
	}
	json_decref(list);
	if ((rc = sink->emit(sink->ctx, &ev)) < 0)
		return rc;                  /* not delivered: ask again next cycle */
	lookups_count(l, item ? &l->activity_found : &l->activity_none, 1);
	return lookups_asked_add(l, pk);
}

/* E (an exchange of the top list) moved since its last look, or was never looked at. */
static int
lookups_moved(const struct lookups *l, const struct rollout_snapshot_entry *e)
{
	const struct lookups_exchange *st = lookups_ex_find(l, e->pubkey);

	return st == NULL || !st->have_values || st->free != e->data.free ||
	    st->reserved != e->data.reserved || st->nonce != e->data.nonce;
}

void
lookups_cycle(struct lookups *l, struct sclient_conn *conn, const struct rollout_host *host,
    const struct snapshot *cur, int64_t deadline_ms, const struct lookups_sink *sink)
{
	size_t *exch = NULL, nexch = 0, i, unasked = 0;
	long long used = 0, asked = 0;
	int stop = 0;

	/* the exchanges of this top list, in rank order */
	exch = calloc(cur->count + 1, sizeof(*exch));
	if (exch == NULL)
		return;
	for (i = 0; i < cur->count; i++) {
		if (lookups_is_exchange(l, &cur->entries[i]))
			exch[nexch++] = i;
		if (lookups_asked_find(l, cur->entries[i].pubkey) < 0)
			unasked++;
	}
	pthread_mutex_lock(&l->lock);
	l->exchanges_in_top = nexch;
	l->unasked_in_top = unasked;
	pthread_mutex_unlock(&l->lock);
	/* exchanges first: their transfers are news, and the budget is small */
	if (nexch > 0 && l->exchange_max > 0) {
		size_t start = l->cursor % nexch, k, moved = 0;

		/* any transfer moves free (in) or the nonce (out): an exchange that
		 * did not move since its last look has nothing new to show */
		for (k = 0; k < nexch; k++)
			moved += lookups_moved(l, &cur->entries[exch[k]]);
		pthread_mutex_lock(&l->lock);
		l->exchanges_moved = moved;
		pthread_mutex_unlock(&l->lock);
		for (k = 0; k < nexch && used < l->exchange_max; k++) {
			size_t idx = exch[(start + k) % nexch];
			const struct rollout_snapshot_entry *e = &cur->entries[idx];
			struct lookups_exchange *st;

			if (!l->follow_always && !lookups_moved(l, e))
				continue;
			if (host->now_ms(host->ctx) >= deadline_ms) {
				stop = 1;
				break;
			}
			if (lookups_follow(l, conn, host, cur, e->pubkey, cur->addresses[idx],
			    l->exchange_max, &used, sink) < 0) {
				stop = 1;
				break;
			}
			if ((st = lookups_ex_find(l, e->pubkey)) != NULL) {
				st->have_values = 1;
				st->free = e->data.free;
				st->reserved = e->data.reserved;
				st->nonce = e->data.nonce;
			}
			l->cursor = (start + k + 1) % nexch;
			l->dirty = 1;
		}
	}
	for (i = 0; !stop && l->activity_max > 0 && i < cur->count && asked < l->activity_max; i++) {
		const struct rollout_snapshot_entry *e = &cur->entries[i];
		int rc;

		if (lookups_asked_find(l, e->pubkey) >= 0)
			continue;
		if (host->now_ms(host->ctx) >= deadline_ms)
			break;
		asked++;
		rc = lookups_activity(l, conn, host, e->pubkey, cur->addresses[i], sink);
		if (rc == 0)
			unasked--;
		else if (rc != -EINVAL)
			break;                  /* Subscan is failing: leave the rest to the next cycle */
	}
	pthread_mutex_lock(&l->lock);
	l->unasked_in_top = unasked;
	pthread_mutex_unlock(&l->lock);
	free(exch);
	if (l->dirty) {
		int rc = lookups_save(l);

		if (rc < 0)
			host->log(host->ctx, ROLLOUT_LOG_ERROR, "%s: cannot save the lookups: %s",
			    l->path, strerror(-rc));
		else
			l->dirty = 0;
	}
}

void
lookups_stats(struct lookups *l, json_t *obj)
{
	json_t *o;

	pthread_mutex_lock(&l->lock);
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "activity_max", (json_int_t)l->activity_max, "exchange_max", (json_int_t)l->exchange_max,
	    "asked", (json_int_t)l->nasked, "unasked_in_top", (json_int_t)l->unasked_in_top,
	    "activity_found", (json_int_t)l->activity_found,
	    "activity_none", (json_int_t)l->activity_none,
	    "activity_errors", (json_int_t)l->activity_errors,
	    "exchanges_in_top", (json_int_t)l->exchanges_in_top,
	    "exchanges_followed", (json_int_t)l->nex,
	    "exchange_requests", (json_int_t)l->exchange_requests,
	    "transfers", (json_int_t)l->transfers_emitted,
	    "transfer_errors", (json_int_t)l->transfer_errors);
	json_object_set_new(o, "gaps", json_integer((json_int_t)l->gaps));
	json_object_set_new(o, "exchanges_moved", json_integer((json_int_t)l->exchanges_moved));
	json_object_set_new(o, "exchange_follow", json_string(l->follow_always ? "always" : "moved"));
	pthread_mutex_unlock(&l->lock);
	json_object_set_new(obj, "lookups", o);
}

/*
 * scanapi.c — the fake Subscan's routes, ledger and fault injection
 * (scanapi.h).
 */
#include "scanapi.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SCANAPI_MAX_FAULTS 64
#define SCANAPI_LOG_MAX 20000
#define SCANAPI_PAGE_LIMIT 10000

enum scanapi_fault_kind {
	FAULT_429, FAULT_500, FAULT_502, FAULT_503, FAULT_SLOW, FAULT_TRUNCATE,
	FAULT_INVALID_JSON, FAULT_CODE, FAULT_WRONG_TYPE, FAULT_MISSING_FIELD,
	FAULT_DECIMALS, FAULT_RATELIMIT, FAULT_CLOSE, FAULT_401,
};

static const char *const scanapi_fault_names[] = {
	"429", "500", "502", "503", "slow", "truncate", "invalid_json", "code",
	"wrong_type", "missing_field", "decimals", "ratelimit", "close", "401",
};

struct scanapi_fault {
	enum scanapi_fault_kind kind;
	long remaining;               /* -1: until cleared */
	long param;
	char only[24];                /* "": every route; else routes whose path contains it */
};

struct scanapi_logent {
	double t;                     /* monotonic arrival */
	long wall_sec;
	char path[64];
	long page, row, after_id;
	int status;
	char fault[16];
};

/* A transfer with the fields the filters use pulled out of the JSON. */
struct scanapi_xfer {
	long long id;
	long block;
	const char *from, *to;
	json_t *obj;
};

struct scanapi {
	pthread_mutex_t lock;
	char *api_key;
	int manual;
	json_t **snaps;               /* NULL until first served (parsed lazily) */
	char **snap_paths;            /* file of each snapshot, NULL when pushed */
	size_t nsnaps;
	size_t current;
	int served_current;           /* a good page of `current` was served */
	int started;
	json_t *transfers;            /* array */
	struct scanapi_xfer *xfers;   /* index of transfers, newest first */
	size_t nxfers;
	int xfers_dirty;              /* 1: rebuild the index; 2: only appended since */
	long long horizon;            /* transfers above this block are not served yet (-1: all) */
	struct scanapi_fault faults[SCANAPI_MAX_FAULTS];
	size_t nfaults;
	struct scanapi_logent *log;
	size_t nlog;
	size_t bad_key;
	size_t cycles;
};

struct scanapi *
scanapi_new(void)
{
	struct scanapi *api = calloc(1, sizeof(*api));

	if (api == NULL)
		return NULL;
	pthread_mutex_init(&api->lock, NULL);
	api->transfers = json_array();
	api->horizon = -1;
	api->log = calloc(SCANAPI_LOG_MAX, sizeof(*api->log));
	if (api->transfers == NULL || api->log == NULL) {
		scanapi_free(api);
		return NULL;
	}
	return api;
}

void
scanapi_free(struct scanapi *api)
{
	size_t i;

	if (api == NULL)
		return;
	for (i = 0; i < api->nsnaps; i++) {
		json_decref(api->snaps[i]);
		free(api->snap_paths ? api->snap_paths[i] : NULL);
	}
	free(api->snaps);
	free(api->snap_paths);
	json_decref(api->transfers);
	free(api->xfers);
	free(api->log);
	free(api->api_key);
	pthread_mutex_destroy(&api->lock);
	free(api);
}

void
scanapi_set_api_key(struct scanapi *api, const char *key)
{
	free(api->api_key);
	api->api_key = key ? strdup(key) : NULL;
}

void
scanapi_set_manual_advance(struct scanapi *api, int manual)
{
	api->manual = manual;
}

/* Append a snapshot: ENVELOPE (taken) or the file PATH (copied, parsed when first served). */
static int
scanapi_add_snapshot(struct scanapi *api, json_t *envelope, const char *path)
{
	json_t **n;
	char **p;

	pthread_mutex_lock(&api->lock);
	n = realloc(api->snaps, (api->nsnaps + 1) * sizeof(*n));
	if (n != NULL)
		api->snaps = n;
	p = realloc(api->snap_paths, (api->nsnaps + 1) * sizeof(*p));
	if (p != NULL)
		api->snap_paths = p;
	if (n == NULL || p == NULL) {
		pthread_mutex_unlock(&api->lock);
		return -ENOMEM;
	}
	api->snaps[api->nsnaps] = envelope;
	api->snap_paths[api->nsnaps] = path ? strdup(path) : NULL;
	api->nsnaps++;
	pthread_mutex_unlock(&api->lock);
	return 0;
}

int
scanapi_push_snapshot(struct scanapi *api, json_t *envelope)
{
	return scanapi_add_snapshot(api, envelope, NULL);
}

/* Parse a snapshot file: the whole file at once (json_load_file reads by getc). */
static json_t *
scanapi_parse_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long len;
	json_error_t je;
	json_t *env = NULL;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (text = malloc((size_t)len + 1)) != NULL && fread(text, 1, (size_t)len, f) == (size_t)len) {
		env = json_loadb(text, (size_t)len, 0, &je);
		if (env == NULL)
			snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		else if (!json_is_array(json_object_get(json_object_get(env, "data"), "list"))) {
			snprintf(err, errlen, "%s: no data.list array", path);
			json_decref(env);
			env = NULL;
		}
	} else {
		snprintf(err, errlen, "%s: cannot read", path);
	}
	free(text);
	fclose(f);
	return env;
}

/* Snapshot I, parsed on first use; lock held.  NULL (logged) when the file is bad. */
static json_t *
scanapi_snapshot(struct scanapi *api, size_t i)
{
	char err[512];

	if (api->snaps[i] == NULL && api->snap_paths[i] != NULL) {
		api->snaps[i] = scanapi_parse_file(api->snap_paths[i], err, sizeof(err));
		if (api->snaps[i] == NULL)
			fprintf(stderr, "fakescan: %s\n", err);
	}
	return api->snaps[i];
}

static int
scanapi_cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
scanapi_load_snapshots(struct scanapi *api, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char **nn;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		nn = realloc(names, (n + 1) * sizeof(*nn));
		if (nn == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		names = nn;
		names[n++] = strdup(de->d_name);
	}
	qsort(names, n, sizeof(*names), scanapi_cmpstr);
	for (i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((rc = scanapi_add_snapshot(api, NULL, path)) < 0)
			goto out;
	}
	/* the first one now, so a broken data set is reported at start */
	if (n > 0) {
		char path[4096];
		json_t *env;

		snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
		env = scanapi_parse_file(path, err, errlen);
		if (env == NULL) {
			rc = -EINVAL;
			goto out;
		}
		pthread_mutex_lock(&api->lock);
		api->snaps[api->nsnaps - n] = env;
		pthread_mutex_unlock(&api->lock);
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no *.json snapshots", dir);
		rc = -ENOENT;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int
scanapi_load_transfers(struct scanapi *api, const char *file, char *err, size_t errlen)
{
	json_error_t je;
	json_t *arr = json_load_file(file, 0, &je);

	if (arr == NULL || !json_is_array(arr)) {
		snprintf(err, errlen, "%s:%d:%d: %s", file, je.line, je.column,
		    arr ? "expected an array of transfers" : je.text);
		json_decref(arr);
		return -EINVAL;
	}
	pthread_mutex_lock(&api->lock);
	json_array_extend(api->transfers, arr);
	api->xfers_dirty = 1;
	pthread_mutex_unlock(&api->lock);
	json_decref(arr);
	return 0;
}

int
scanapi_synth_transfers(struct scanapi *api, const char *address, size_t n)
{
	const char *to = "14Ns6kKbCoka3MS4Hn6b7oRw9fFejG8RH5rq5j63cWUfpPDJ";
	size_t i;

	pthread_mutex_lock(&api->lock);
	for (i = 1; i <= n; i++) {
		char ext[32], hash[67], amount[32];
		json_t *t = json_object(), *fd = json_object(), *td = json_object(), *mk = json_object();

		/* built by hand: json_pack's format parsing is slow at 10,000+ rows */
		snprintf(ext, sizeof(ext), "%zu-2", 1000 + i);
		snprintf(hash, sizeof(hash), "0x%064zx", i);
		snprintf(amount, sizeof(amount), "%zu.5", i);
		json_object_set_new_nocheck(t, "transfer_id", json_integer((json_int_t)i));
		json_object_set_new_nocheck(t, "from", json_string(address));
		json_object_set_new_nocheck(t, "to", json_string(to));
		json_object_set_new_nocheck(t, "amount", json_string(amount));
		json_object_set_new_nocheck(t, "block_num", json_integer((json_int_t)(1000 + i)));
		json_object_set_new_nocheck(t, "block_timestamp", json_integer((json_int_t)(1752790000 + i)));
		json_object_set_new_nocheck(t, "extrinsic_index", json_string(ext));
		json_object_set_new_nocheck(t, "hash", json_string(hash));
		json_object_set_new_nocheck(t, "success", json_true());
		json_object_set_new_nocheck(fd, "address", json_string(address));
		json_object_set_new_nocheck(fd, "display", json_string("synthetic sender"));
		json_object_set_new_nocheck(mk, "tag_type", json_string("Exchange"));
		json_object_set_new_nocheck(mk, "tag_name", json_string("Synthetic Exchange"));
		json_object_set_new_nocheck(td, "address", json_string(to));
		json_object_set_new_nocheck(td, "merkle", mk);
		json_object_set_new_nocheck(t, "from_account_display", fd);
		json_object_set_new_nocheck(t, "to_account_display", td);
		json_array_append_new(api->transfers, t);
	}
	api->xfers_dirty = 1;
	pthread_mutex_unlock(&api->lock);
	return 0;
}

int
scanapi_push_transfer(struct scanapi *api, json_t *transfer)
{
	int rc;

	if (!json_is_object(transfer))
		return -EINVAL;
	pthread_mutex_lock(&api->lock);
	rc = json_array_append_new(api->transfers, transfer) == 0 ? 0 : -ENOMEM;
	if (api->xfers_dirty == 0)
		api->xfers_dirty = 2;
	pthread_mutex_unlock(&api->lock);
	return rc;
}

void
scanapi_trim_transfers(struct scanapi *api, size_t keep)
{
	size_t n;

	pthread_mutex_lock(&api->lock);
	n = json_array_size(api->transfers);
	/* in chunks: each trim moves the whole array */
	if (n > keep + keep / 5) {
		json_t *kept = json_array();
		size_t i;

		for (i = n - keep; kept != NULL && i < n; i++)
			json_array_append(kept, json_array_get(api->transfers, i));
		if (kept != NULL) {
			json_decref(api->transfers);
			api->transfers = kept;
			api->xfers_dirty = 1;
		}
	}
	pthread_mutex_unlock(&api->lock);
}

void
scanapi_set_transfer_horizon(struct scanapi *api, long long block)
{
	pthread_mutex_lock(&api->lock);
	api->horizon = block;
	pthread_mutex_unlock(&api->lock);
}

int
scanapi_fault_add(struct scanapi *api, const char *spec)
{
	char kind[32] = "", count[32] = "1", text[96];
	const char *at = strchr(spec, '@');
	long param = -1;
	struct scanapi_fault f;
	size_t i;

	memset(&f, 0, sizeof(f));
	if (at != NULL) {
		if (strlen(at + 1) == 0 || strlen(at + 1) >= sizeof(f.only))
			return -EINVAL;
		snprintf(f.only, sizeof(f.only), "%s", at + 1);
	}
	snprintf(text, sizeof(text), "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
	if (sscanf(text, "%31[^:]:%31[^:]:%ld", kind, count, &param) < 1)
		return -EINVAL;
	for (i = 0; i < sizeof(scanapi_fault_names) / sizeof(scanapi_fault_names[0]); i++)
		if (strcmp(kind, scanapi_fault_names[i]) == 0)
			break;
	if (i == sizeof(scanapi_fault_names) / sizeof(scanapi_fault_names[0]))
		return -EINVAL;
	f.kind = (enum scanapi_fault_kind)i;
	f.remaining = strcmp(count, "*") == 0 ? -1 : strtol(count, NULL, 10);
	if (f.remaining == 0)
		return -EINVAL;
	f.param = param;
	pthread_mutex_lock(&api->lock);
	if (api->nfaults == SCANAPI_MAX_FAULTS) {
		pthread_mutex_unlock(&api->lock);
		return -ENOSPC;
	}
	api->faults[api->nfaults++] = f;
	pthread_mutex_unlock(&api->lock);
	return 0;
}

/* Take the next fault for PATH (under the lock); 0 when none. */
static int
scanapi_fault_take(struct scanapi *api, const char *path, struct scanapi_fault *out)
{
	size_t i;

	for (i = 0; i < api->nfaults; i++)
		if (api->faults[i].only[0] == '\0' || strstr(path, api->faults[i].only) != NULL)
			break;
	if (i == api->nfaults)
		return 0;
	*out = api->faults[i];
	if (api->faults[i].remaining > 0 && --api->faults[i].remaining == 0) {
		memmove(api->faults + i, api->faults + i + 1,
		    (api->nfaults - i - 1) * sizeof(api->faults[0]));
		api->nfaults--;
	}
	return 1;
}

static void
scanapi_json_body(struct httpd_resp *resp, int status, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	free(resp->body);
	resp->status = status;
	resp->body = text;
	resp->body_len = text ? strlen(text) : 0;
	json_decref(obj);
}

static void
scanapi_envelope(struct httpd_resp *resp, int code, const char *message, json_t *data)
{
	scanapi_json_body(resp, 200, json_pack("{s:i,s:s,s:I,s:o}", "code", code,
	    "message", message, "generated_at", (json_int_t)time(NULL),
	    "data", data ? data : json_null()));
}

/* ---- stats -------------------------------------------------------------------- */

static void
scanapi_stats(struct scanapi *api, struct httpd_resp *resp)
{
	json_t *per = json_object(), *logs = json_array(), *paths = json_object();
	size_t i, j, max_cal = 0, max_slide = 0;
	long cur_sec = -1;
	size_t cur = 0;

	for (i = 0; i < api->nlog; i++) {
		struct scanapi_logent *e = &api->log[i];
		char key[32];
		json_t *c;

		if (e->wall_sec != cur_sec) {
			cur_sec = e->wall_sec;
			cur = 0;
		}
		cur++;
		if (cur > max_cal)
			max_cal = cur;
		snprintf(key, sizeof(key), "%ld", e->wall_sec);
		json_object_set_new(per, key, json_integer((json_int_t)cur));
		for (j = i; j < api->nlog && api->log[j].t < e->t + 1.0; j++)
			;
		if (j - i > max_slide)
			max_slide = j - i;
		c = json_object_get(paths, e->path);
		json_object_set_new(paths, e->path, json_integer(c ? json_integer_value(c) + 1 : 1));
		json_array_append_new(logs, json_pack("{s:f,s:s,s:I,s:I,s:I,s:i,s:s}",
		    "t", e->t, "path", e->path, "page", (json_int_t)e->page, "row", (json_int_t)e->row,
		    "after_id", (json_int_t)e->after_id, "status", e->status, "fault", e->fault));
	}
	scanapi_json_body(resp, 200, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:I}",
	    "requests", (json_int_t)api->nlog, "max_per_second", (json_int_t)max_cal,
	    "max_in_any_second", (json_int_t)max_slide, "snapshot_index", (json_int_t)api->current,
	    "snapshots", (json_int_t)api->nsnaps, "bad_key", (json_int_t)api->bad_key,
	    "per_second", per, "by_path", paths, "log", logs,
	    "faults_pending", (json_int_t)api->nfaults));
}

/* ---- /api routes ---------------------------------------------------------------- */

static long
scanapi_int(json_t *req, const char *key, long deflt)
{
	json_t *v = json_object_get(req, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : deflt;
}

/* Apply a body-mangling fault to a copy of DATA's first list entry. */
static void
scanapi_mangle(json_t *list, enum scanapi_fault_kind kind)
{
	json_t *first = json_array_get(list, 0), *copy;

	if (first == NULL)
		return;
	copy = json_deep_copy(first);
	switch (kind) {
	case FAULT_WRONG_TYPE:
		json_object_set_new(copy, "balance", json_real(123.5));
		break;
	case FAULT_MISSING_FIELD:
		json_object_del(copy, "balance");
		break;
	case FAULT_DECIMALS:
		json_object_set_new(copy, "balance", json_string("1.12345678901"));
		break;
	default:
		break;
	}
	json_array_set_new(list, 0, copy);
}

static void
scanapi_accounts(struct scanapi *api, json_t *body, struct scanapi_fault *fault, int faulted,
    struct httpd_resp *resp, struct scanapi_logent *le)
{
	long page = scanapi_int(body, "page", 0), row = scanapi_int(body, "row", 10);
	json_t *snap, *list, *slice, *data;
	const char *field = json_string_value(json_object_get(body, "order_field"));
	const char *order = json_string_value(json_object_get(body, "order"));
	size_t i, n;

	le->page = page;
	le->row = row;
	if (row < 1 || row > 100 || page < 0) {
		scanapi_envelope(resp, 10001, "Params Error: row must be 1..100, page >= 0", NULL);
		return;
	}
	if (field == NULL || strcmp(field, "balance") != 0 || order == NULL ||
	    strcmp(order, "desc") != 0) {
		scanapi_envelope(resp, 10001, "Params Error: fake serves order_field balance, order desc", NULL);
		return;
	}
	if (api->nsnaps == 0) {
		scanapi_envelope(resp, 0, "Success", json_pack("{s:i,s:[]}", "count", 0, "list"));
		return;
	}
	if (page == 0 && !api->manual && api->started && api->served_current) {
		if (api->current + 1 < api->nsnaps)
			api->current++;
		api->served_current = 0;
		api->cycles++;
	}
	api->started = 1;
	snap = scanapi_snapshot(api, api->current);
	if (snap == NULL) {
		scanapi_envelope(resp, 10005, "fake: snapshot file unreadable (see its stderr)", NULL);
		return;
	}
	list = json_object_get(json_object_get(snap, "data"), "list");
	n = json_array_size(list);
	slice = json_array();
	for (i = (size_t)(page * row); i < n && i < (size_t)((page + 1) * row); i++)
		json_array_append(slice, json_array_get(list, i));
	if (faulted)
		scanapi_mangle(slice, fault->kind);
	data = json_pack("{s:I,s:o}", "count", (json_int_t)n, "list", slice);
	if (faulted && fault->kind == FAULT_MISSING_FIELD && json_array_size(slice) == 0)
		json_object_del(data, "list");
	scanapi_json_body(resp, 200, json_pack("{s:i,s:s,s:O,s:o}", "code", 0, "message", "Success",
	    "generated_at", json_object_get(snap, "generated_at"), "data", data));
	if (!faulted)
		api->served_current = 1;
}

static int
scanapi_cmp_xfer(const void *a, const void *b)
{
	const struct scanapi_xfer *x = a, *y = b;

	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0; /* newest (highest id) first */
}

static void
scanapi_xfer_of(struct scanapi_xfer *x, json_t *t)
{
	x->obj = t;
	x->id = (long long)json_integer_value(json_object_get(t, "transfer_id"));
	x->block = (long)json_integer_value(json_object_get(t, "block_num"));
	x->from = json_string_value(json_object_get(t, "from")) ?: "";
	x->to = json_string_value(json_object_get(t, "to")) ?: "";
}

/*
 * (Re)build the transfer index; lock held.  After appends only (the
 * simulated chain's steady state) the new ones are sorted and merged in,
 * instead of sorting everything again for each request.
 */
static int
scanapi_index_transfers(struct scanapi *api)
{
	size_t n = json_array_size(api->transfers), i, k = 0, a = 0, b;
	struct scanapi_xfer *x;

	if (!api->xfers_dirty && api->xfers != NULL)
		return 0;
	x = calloc(n + 1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	if (api->xfers_dirty == 2 && api->xfers != NULL && api->nxfers <= n) {
		size_t old = api->nxfers;

		for (i = old; i < n; i++)
			scanapi_xfer_of(&x[i - old], json_array_get(api->transfers, i));
		qsort(x, n - old, sizeof(*x), scanapi_cmp_xfer);
		/* merge the sorted new ones (moved to the end) with the old index */
		memmove(x + old, x, (n - old) * sizeof(*x));
		b = old;
		while (a < old || b < n) {
			struct scanapi_xfer t;

			if (b >= n || (a < old && scanapi_cmp_xfer(&api->xfers[a], &x[b]) <= 0))
				t = api->xfers[a++];
			else
				t = x[b++];
			x[k++] = t;
		}
	} else {
		for (i = 0; i < n; i++)
			scanapi_xfer_of(&x[i], json_array_get(api->transfers, i));
		qsort(x, n, sizeof(*x), scanapi_cmp_xfer);
	}
	free(api->xfers);
	api->xfers = x;
	api->nxfers = n;
	api->xfers_dirty = 0;
	return 0;
}

static void
scanapi_transfers(struct scanapi *api, json_t *body, struct httpd_resp *resp,
    struct scanapi_logent *le)
{
	long page = scanapi_int(body, "page", 0), row = scanapi_int(body, "row", 10);
	long after_id = scanapi_int(body, "after_id", 0), bfrom = -1, bto = -1;
	const char *address = json_string_value(json_object_get(body, "address"));
	const char *range = json_string_value(json_object_get(body, "block_range"));
	json_t *out;
	size_t n = 0, i;

	le->page = page;
	le->row = row;
	le->after_id = after_id;
	if (row < 1 || row > 100 || page < 0) {
		scanapi_envelope(resp, 10001, "Params Error: row must be 1..100, page >= 0", NULL);
		return;
	}
	if ((page + 1) * row > SCANAPI_PAGE_LIMIT) {
		scanapi_envelope(resp, 10001, "Params Error: page*row over 10000, use after_id", NULL);
		return;
	}
	if (range != NULL && sscanf(range, "%ld-%ld", &bfrom, &bto) != 2) {
		scanapi_envelope(resp, 10001, "Params Error: block_range must be FROM-TO", NULL);
		return;
	}
	if (scanapi_index_transfers(api) < 0) {
		scanapi_envelope(resp, 10005, "fake: out of memory", NULL);
		return;
	}
	out = json_array();
	for (i = 0; i < api->nxfers; i++) {
		const struct scanapi_xfer *x = &api->xfers[i];

		if (address != NULL && address[0] != '\0' && strcmp(address, x->from) != 0 &&
		    strcmp(address, x->to) != 0)
			continue;
		if (bfrom >= 0 && (x->block < bfrom || x->block > bto))
			continue;
		if (after_id > 0 && x->id >= after_id)
			continue;
		if (api->horizon >= 0 && x->block > api->horizon)
			continue;
		if (n >= (size_t)(page * row) && n < (size_t)((page + 1) * row))
			json_array_append(out, x->obj);
		n++;
	}
	scanapi_envelope(resp, 0, "Success", json_pack("{s:I,s:o}", "count", (json_int_t)n,
	    "transfers", out));
}

static void
scanapi_api(struct scanapi *api, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct scanapi_logent *le = NULL, dummy;
	struct scanapi_fault fault = { FAULT_500, 0, -1, "" };
	const char *key = httpd_header(req, "x-api-key");
	int faulted;
	json_t *body;

	if (api->nlog < SCANAPI_LOG_MAX)
		le = &api->log[api->nlog++];
	else
		le = &dummy;
	memset(le, 0, sizeof(*le));
	le->t = req->arrived;
	le->wall_sec = (long)floor(req->arrived_wall);
	snprintf(le->path, sizeof(le->path), "%.63s", req->path);
	if (api->api_key != NULL && (key == NULL || strcmp(key, api->api_key) != 0)) {
		api->bad_key++;
		scanapi_json_body(resp, 401, json_pack("{s:i,s:s}", "code", 10004,
		    "message", "API key is missing or invalid"));
		le->status = 401;
		return;
	}
	faulted = scanapi_fault_take(api, req->path, &fault);
	if (faulted)
		snprintf(le->fault, sizeof(le->fault), "%s", scanapi_fault_names[fault.kind]);
	if (faulted) {
		switch (fault.kind) {
		case FAULT_429:
			scanapi_json_body(resp, 429, json_pack("{s:i,s:s}", "code", 20008,
			    "message", "API rate limit exceeded"));
			httpd_add_header(resp, "Retry-After", "%ld", fault.param >= 0 ? fault.param : 1);
			httpd_add_header(resp, "RateLimit-Limit", "5");
			httpd_add_header(resp, "RateLimit-Remaining", "0");
			httpd_add_header(resp, "RateLimit-Reset", "%ld", fault.param >= 0 ? fault.param : 1);
			le->status = 429;
			return;
		case FAULT_500:
		case FAULT_502:
		case FAULT_503:
			httpd_set_body(resp, fault.kind == FAULT_500 ? 500 : fault.kind == FAULT_502 ? 502 : 503,
			    "<html><body>upstream error</body></html>");
			resp->content_type = "text/html";
			le->status = resp->status;
			return;
		case FAULT_401:
			scanapi_json_body(resp, 401, json_pack("{s:i,s:s}", "code", 10004,
			    "message", "API key is missing or invalid"));
			le->status = 401;
			return;
		case FAULT_CLOSE:
			resp->drop = 1;
			le->status = -1;
			return;
		case FAULT_INVALID_JSON:
			httpd_set_body(resp, 200, "{\"code\":0,\"message\":\"Success\",\"data\":{\"list\":[{\"address\":");
			le->status = 200;
			return;
		case FAULT_CODE:
			scanapi_envelope(resp, fault.param >= 0 ? (int)fault.param : 10005,
			    "Internal error: injected by fakescan", NULL);
			le->status = 200;
			return;
		case FAULT_SLOW:
			resp->delay_ms = fault.param >= 0 ? (int)fault.param : 5000;
			break;
		default:
			break;
		}
	}
	body = json_loadb(req->body, req->body_len, 0, NULL);
	if (strcmp(req->method, "POST") != 0 || !json_is_object(body)) {
		json_decref(body);
		scanapi_envelope(resp, 10001, "Params Error: POST a JSON object", NULL);
		le->status = 200;
		return;
	}
	if (strcmp(req->path, "/api/v2/scan/accounts") == 0)
		scanapi_accounts(api, body, &fault, faulted && fault.kind != FAULT_SLOW &&
		    fault.kind != FAULT_TRUNCATE && fault.kind != FAULT_RATELIMIT, resp, le);
	else if (strcmp(req->path, "/api/v2/scan/transfers") == 0)
		scanapi_transfers(api, body, resp, le);
	else
		scanapi_json_body(resp, 404, json_pack("{s:i,s:s}", "code", 404, "message", "Not Found"));
	json_decref(body);
	le->status = resp->status;
	if (faulted && fault.kind == FAULT_TRUNCATE)
		resp->truncate = 1;
	if (faulted && fault.kind == FAULT_RATELIMIT) {
		httpd_add_header(resp, "RateLimit-Limit", "5");
		httpd_add_header(resp, "RateLimit-Remaining", "0");
		httpd_add_header(resp, "RateLimit-Reset", "%ld", fault.param >= 0 ? fault.param : 1);
	}
	if (faulted && (fault.kind == FAULT_SLOW || fault.kind == FAULT_TRUNCATE) &&
	    strcmp(req->path, "/api/v2/scan/accounts") == 0)
		api->served_current = 0; /* a page the client never got in full */
}

void
scanapi_handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct scanapi *api = ctx;

	pthread_mutex_lock(&api->lock);
	if (strncmp(req->path, "/api/", 5) == 0) {
		scanapi_api(api, req, resp);
	} else if (strcmp(req->path, "/_fake/stats") == 0) {
		scanapi_stats(api, resp);
	} else if (strcmp(req->path, "/_fake/stats/reset") == 0) {
		api->nlog = 0;
		api->bad_key = 0;
		httpd_set_body(resp, 200, "{\"ok\":true}");
	} else if (strcmp(req->path, "/_fake/fault/clear") == 0) {
		api->nfaults = 0;
		httpd_set_body(resp, 200, "{\"ok\":true}");
	} else if (strcmp(req->path, "/_fake/fault") == 0) {
		int rc;

		pthread_mutex_unlock(&api->lock);
		rc = scanapi_fault_add(api, req->body);
		pthread_mutex_lock(&api->lock);
		httpd_set_body(resp, rc == 0 ? 200 : 400, rc == 0 ? "{\"ok\":true}" :
		    "{\"ok\":false,\"error\":\"bad fault spec\"}");
	} else if (strcmp(req->path, "/_fake/transfers") == 0) {
		json_t *t = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL), *e;
		size_t i, n = 0;
		int ok = json_is_array(t) || json_is_object(t);
		char text[64];

		if (json_is_object(t)) {
			json_t *one = json_array();

			json_array_append_new(one, t);
			t = one;
		}
		json_array_foreach(t, i, e)
			if (!json_is_object(e))
				ok = 0;
		if (ok) {
			json_array_foreach(t, i, e)
				json_array_append(api->transfers, e);
			n = json_array_size(t);
			api->xfers_dirty = 1;
		}
		json_decref(t);
		snprintf(text, sizeof(text), "{\"ok\":%s,\"added\":%zu}", ok ? "true" : "false", n);
		httpd_set_body(resp, ok ? 200 : 400, text);
	} else if (strcmp(req->path, "/_fake/advance") == 0) {
		char text[64];

		if (req->body_len > 0)
			api->current = strtoul(req->body, NULL, 10);
		else
			api->current++;
		if (api->nsnaps > 0 && api->current >= api->nsnaps)
			api->current = api->nsnaps - 1;
		api->served_current = 0;
		api->started = 0;
		snprintf(text, sizeof(text), "{\"ok\":true,\"snapshot_index\":%zu}", api->current);
		httpd_set_body(resp, 200, text);
	} else {
		httpd_set_body(resp, 404, "{\"code\":404,\"message\":\"Not Found\"}");
	}
	pthread_mutex_unlock(&api->lock);
}

/*
 * Drop every held snapshot and hold only ENVELOPE as the current one (the
 * fake takes the reference).  Used by the simulated chain, which publishes
 * the chain as it is at the start of each cycle: memory stays bounded.
 */
int
scanapi_replace_snapshot(struct scanapi *api, json_t *envelope)
{
	json_t **n;
	size_t i;

	if (envelope == NULL)
		return -EINVAL;
	pthread_mutex_lock(&api->lock);
	if (api->nsnaps == 0) {
		n = realloc(api->snaps, sizeof(*n));
		if (n == NULL) {
			pthread_mutex_unlock(&api->lock);
			return -ENOMEM;
		}
		api->snaps = n;
	}
	for (i = 0; i < api->nsnaps; i++)
		json_decref(api->snaps[i]);
	api->snaps[0] = envelope;
	api->nsnaps = 1;
	api->current = 0;
	pthread_mutex_unlock(&api->lock);
	return 0;
}

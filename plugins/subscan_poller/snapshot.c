/*
 * snapshot.c — Subscan rows to planck entries, the legacy diff, and the
 * on-disk copy of the last snapshot (snapshot.h).
 */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "planck.h"

#define SNAPSHOT_MAX_FILE (64u * 1024 * 1024)

void
snapshot_clear(struct snapshot *s)
{
	free(s->entries);
	free(s->addresses);
	memset(s, 0, sizeof(*s));
}

static int
snapshot_grow(struct snapshot *s)
{
	struct rollout_snapshot_entry *e;
	char (*a)[SS58_MAX_LEN];
	size_t cap = s->cap ? s->cap * 2 : 128;

	if (s->count < s->cap)
		return 0;
	e = realloc(s->entries, cap * sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	s->entries = e;
	a = realloc(s->addresses, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	s->addresses = a;
	s->cap = cap;
	return 0;
}

/* A decimal token string field of ROW into *OUT. */
static int
snapshot_amount(json_t *row, const char *key, int required, unsigned decimals,
    rollout_u128 *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(row, key);
	char why[160];

	*out = 0;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "%s: missing", key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a decimal string, got %s", key,
		    json_is_number(v) ? "a number" : json_is_boolean(v) ? "a boolean" :
		    json_is_object(v) ? "an object" : "an array");
		return -EINVAL;
	}
	if (planck_parse_tokens(json_string_value(v), decimals, out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -EINVAL;
	}
	return 0;
}

static void
snapshot_copy_str(char *dst, size_t len, json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return;
	snprintf(dst, len, "%s", s);
}

static int
snapshot_find(const struct snapshot *s, const uint8_t pubkey[32])
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (memcmp(s->entries[i].pubkey, pubkey, 32) == 0)
			return (int)i;
	return -1;
}

int
snapshot_add_row(struct snapshot *s, json_t *row, unsigned decimals, uint16_t prefix,
    char *err, size_t errlen)
{
	struct rollout_snapshot_entry e;
	rollout_u128 balance, reserved, lock;
	json_t *addr, *nonce, *disp, *merkle;
	uint16_t got_prefix = 0;
	char why[160];

	memset(&e, 0, sizeof(e));
	if (!json_is_object(row)) {
		snprintf(err, errlen, "row: expected an object");
		return -EINVAL;
	}
	addr = json_object_get(row, "address");
	if (!json_is_string(addr)) {
		snprintf(err, errlen, "address: %s", addr ? "expected a string" : "missing");
		return -EINVAL;
	}
	if (ss58_decode(json_string_value(addr), e.pubkey, &got_prefix, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "address \"%.56s\": %s", json_string_value(addr), why);
		return -EINVAL;
	}
	if (got_prefix != prefix) {
		snprintf(err, errlen, "address \"%.56s\": network prefix %u, expected %u",
		    json_string_value(addr), got_prefix, prefix);
		return -EINVAL;
	}
	if (snapshot_amount(row, "balance", 1, decimals, &balance, err, errlen) < 0 ||
	    snapshot_amount(row, "reserved", 1, decimals, &reserved, err, errlen) < 0 ||
	    snapshot_amount(row, "balance_lock", 0, decimals, &lock, err, errlen) < 0)
		return -EINVAL;
	if (reserved > balance) {
		snprintf(err, errlen, "reserved: exceeds balance");
		return -EINVAL;
	}
	nonce = json_object_get(row, "nonce");
	if (nonce != NULL && !json_is_null(nonce)) {
		if (!json_is_integer(nonce) || json_integer_value(nonce) < 0 ||
		    json_integer_value(nonce) > (json_int_t)UINT32_MAX) {
			snprintf(err, errlen, "nonce: expected an integer 0..4294967295");
			return -EINVAL;
		}
		e.data.nonce = (uint32_t)json_integer_value(nonce);
	}
	e.data.free = balance - reserved;
	e.data.reserved = reserved;
	e.data.frozen = lock;
	e.total = balance;
	disp = json_object_get(row, "account_display");
	if (json_is_object(disp)) {
		json_t *people = json_object_get(disp, "people");

		if (json_is_string(json_object_get(disp, "display")) &&
		    json_string_length(json_object_get(disp, "display")) > 0)
			snapshot_copy_str(e.display, sizeof(e.display), json_object_get(disp, "display"));
		else if (json_is_object(people) && json_is_string(json_object_get(people, "display")))
			snapshot_copy_str(e.display, sizeof(e.display), json_object_get(people, "display"));
		else if (json_is_string(json_object_get(disp, "identity")))
			snapshot_copy_str(e.display, sizeof(e.display), json_object_get(disp, "identity"));
		merkle = json_object_get(disp, "merkle");
		if (json_is_object(merkle)) {
			snapshot_copy_str(e.tag_type, sizeof(e.tag_type), json_object_get(merkle, "tag_type"));
			snapshot_copy_str(e.tag_name, sizeof(e.tag_name), json_object_get(merkle, "tag_name"));
		}
	}
	if (snapshot_find(s, e.pubkey) >= 0)
		return 0; /* seen on an earlier page: the list moved while paging */
	if (snapshot_grow(s) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e.rank = (uint32_t)s->count + 1;
	s->entries[s->count] = e;
	snprintf(s->addresses[s->count], SS58_MAX_LEN, "%s", json_string_value(addr));
	s->count++;
	return 0;
}

/* ---- diff ---------------------------------------------------------------------- */

static int
snapshot_cmp_idx(const void *a, const void *b, void *arg)
{
	const struct snapshot *s = arg;

	return memcmp(s->entries[*(const size_t *)a].pubkey, s->entries[*(const size_t *)b].pubkey, 32);
}

size_t
snapshot_diff(const struct snapshot *prev, const struct snapshot *cur, int64_t observed_ms,
    int report_new, snapshot_change_fn fn, void *ctx)
{
	size_t *idx, i, changes = 0;

	idx = malloc((prev->count + 1) * sizeof(*idx));
	if (idx == NULL)
		return 0;
	for (i = 0; i < prev->count; i++)
		idx[i] = i;
	qsort_r(idx, prev->count, sizeof(*idx), snapshot_cmp_idx, (void *)prev);
	for (i = 0; i < cur->count; i++) {
		const struct rollout_snapshot_entry *c = &cur->entries[i], *p = NULL;
		struct rollout_balance_change ch;
		size_t lo = 0, hi = prev->count;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int r = memcmp(prev->entries[idx[mid]].pubkey, c->pubkey, 32);

			if (r == 0) {
				p = &prev->entries[idx[mid]];
				break;
			}
			if (r < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (p != NULL && p->data.free == c->data.free && p->data.reserved == c->data.reserved &&
		    p->data.nonce == c->data.nonce)
			continue;
		if (p == NULL && !report_new)
			continue;
		memset(&ch, 0, sizeof(ch));
		memcpy(ch.pubkey, c->pubkey, 32);
		ch.window_start_ms = prev->taken_ms;
		ch.window_end_ms = cur->taken_ms;
		ch.observed_ms = observed_ms;
		ch.known_mask = ROLLOUT_KNOW_FREE | ROLLOUT_KNOW_RESERVED | ROLLOUT_KNOW_NONCE;
		ch.after = c->data;
		if (p != NULL) {
			ch.has_before = 1;
			ch.before = p->data;
			changes++;
		}
		if (fn(ctx, &ch, i) != 0)
			break;
	}
	free(idx);
	return changes;
}

/* ---- persistence ----------------------------------------------------------------- */

int
snapshot_save(const struct snapshot *s, const char *path, const char *chain, unsigned decimals)
{
	json_t *root, *arr;
	char *text;
	size_t i;
	int rc;

	arr = json_array();
	root = json_pack("{s:i,s:s,s:i,s:I,s:o}", "version", 1, "chain", chain ? chain : "",
	    "decimals", (int)decimals, "taken_ms", (json_int_t)s->taken_ms, "accounts", arr);
	if (root == NULL)
		return -ENOMEM;
	for (i = 0; i < s->count; i++) {
		const struct rollout_snapshot_entry *e = &s->entries[i];
		char f[PLANCK_INT_MAX], r[PLANCK_INT_MAX], z[PLANCK_INT_MAX], t[PLANCK_INT_MAX];

		json_array_append_new(arr, json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}",
		    "address", s->addresses[i], "rank", (int)e->rank,
		    "free", planck_format_int(e->data.free, f, sizeof(f)),
		    "reserved", planck_format_int(e->data.reserved, r, sizeof(r)),
		    "frozen", planck_format_int(e->data.frozen, z, sizeof(z)),
		    "total", planck_format_int(e->total, t, sizeof(t)),
		    "nonce", (json_int_t)e->data.nonce, "display", e->display,
		    "tag_type", e->tag_type, "tag_name", e->tag_name));
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		return -ENOMEM;
	rc = fs_write_atomic(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

static int
snapshot_load_planck(json_t *o, const char *key, rollout_u128 *out)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? planck_parse_int(v, out) : -EINVAL;
}

int
snapshot_load(struct snapshot *s, const char *path, const char *chain, unsigned decimals,
    uint16_t prefix, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0, i;
	json_t *root = NULL, *arr;
	json_error_t je;
	int rc;

	snapshot_clear(s);
	rc = fs_read_all(path, SNAPSHOT_MAX_FILE, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	root = json_loadb(text, len, 0, &je);
	free(text);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -EINVAL;
	}
	if (json_integer_value(json_object_get(root, "version")) != 1 ||
	    strcmp(json_string_value(json_object_get(root, "chain")) ?: "", chain ? chain : "") != 0 ||
	    json_integer_value(json_object_get(root, "decimals")) != (json_int_t)decimals) {
		snprintf(err, errlen, "%s: written for another version, chain or decimals", path);
		rc = -EINVAL;
		goto fail;
	}
	s->taken_ms = (int64_t)json_integer_value(json_object_get(root, "taken_ms"));
	arr = json_object_get(root, "accounts");
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct rollout_snapshot_entry e;
		const char *addr = json_string_value(json_object_get(o, "address"));
		uint16_t p = 0;
		char why[128];

		memset(&e, 0, sizeof(e));
		if (addr == NULL || ss58_decode(addr, e.pubkey, &p, why, sizeof(why)) < 0 || p != prefix ||
		    snapshot_load_planck(o, "free", &e.data.free) < 0 ||
		    snapshot_load_planck(o, "reserved", &e.data.reserved) < 0 ||
		    snapshot_load_planck(o, "frozen", &e.data.frozen) < 0 ||
		    snapshot_load_planck(o, "total", &e.total) < 0) {
			snprintf(err, errlen, "%s: accounts[%zu]: bad address or amount", path, i);
			rc = -EINVAL;
			goto fail;
		}
		e.data.nonce = (uint32_t)json_integer_value(json_object_get(o, "nonce"));
		snapshot_copy_str(e.display, sizeof(e.display), json_object_get(o, "display"));
		snapshot_copy_str(e.tag_type, sizeof(e.tag_type), json_object_get(o, "tag_type"));
		snapshot_copy_str(e.tag_name, sizeof(e.tag_name), json_object_get(o, "tag_name"));
		if ((rc = snapshot_grow(s)) < 0)
			goto fail;
		e.rank = (uint32_t)s->count + 1;
		s->entries[s->count] = e;
		snprintf(s->addresses[s->count], SS58_MAX_LEN, "%s", addr);
		s->count++;
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	snapshot_clear(s);
	return rc;
}

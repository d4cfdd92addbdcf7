/*
 * state.c — state.json (de)serialization and atomic persistence (state.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "state.h"

#define STATE_VERSION 1
#define STATE_MAX_BYTES (16u << 20)

static const char *const pause_names[] = {
	[PAUSE_NONE] = "none",
	[PAUSE_MANUAL_APPROVAL] = "manual_approval",
	[PAUSE_INCONCLUSIVE] = "inconclusive",
	[PAUSE_OPERATOR] = "operator",
	[PAUSE_FLAGS_BROKEN] = "flags_broken",
	[PAUSE_GATE_FAILED] = "gate_failed",
	[PAUSE_CALL_FAILED] = "call_failed",
	[PAUSE_STORAGE] = "storage",
};

const char *
state_pause_reason_name(enum engine_pause_reason r)
{
	if ((size_t)r < sizeof(pause_names) / sizeof(pause_names[0]) && pause_names[r])
		return pause_names[r];
	return "?";
}

static int
state_by_name(const char *s)
{
	int i;

	for (i = ENG_PENDING; i <= ENG_COMPLETED; i++)
		if (strcmp(engine_state_name((enum engine_state)i), s) == 0)
			return i;
	return -1;
}

static int
pause_by_name(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(pause_names) / sizeof(pause_names[0]); i++)
		if (pause_names[i] && strcmp(pause_names[i], s) == 0)
			return (int)i;
	return -1;
}

json_t *
state_to_json(const struct rollout_state *st)
{
	json_t *o = json_object(), *gates = json_array(), *trig = json_array();
	size_t i;
	int k;

	if (o == NULL || gates == NULL || trig == NULL) {
		json_decref(o);
		json_decref(gates);
		json_decref(trig);
		return NULL;
	}
	for (i = 0; i < st->ngates; i++)
		json_array_append_new(gates, json_pack("{s:i, s:i}", "fails", st->gates[i].fails,
		    "inconclusive", st->gates[i].inconclusive));
	for (i = 0; i < st->ntriggers; i++) {
		json_t *m = json_array();

		for (k = 0; k < st->triggers[i].nmatches; k++)
			json_array_append_new(m, json_integer(st->triggers[i].matches[k]));
		json_array_append_new(trig, json_pack("{s:i, s:o}", "consecutive",
		    st->triggers[i].consecutive, "matches", m));
	}
	json_object_set_new(o, "version", json_integer(STATE_VERSION));
	json_object_set_new(o, "plan", json_pack("{s:s, s:s}", "name", st->plan_name,
	    "sha256", st->plan_sha256));
	json_object_set_new(o, "seq", json_integer((json_int_t)st->seq));
	json_object_set_new(o, "state", json_string(engine_state_name(st->state)));
	json_object_set_new(o, "pause_reason", json_string(state_pause_reason_name(st->pause_reason)));
	json_object_set_new(o, "paused_from", json_string(engine_state_name(st->paused_from)));
	json_object_set_new(o, "phase", json_integer(st->phase));
	json_object_set_new(o, "step", json_integer(st->step));
	json_object_set_new(o, "started_at_ms", json_integer(st->started_at_ms));
	json_object_set_new(o, "entered_at_ms", json_integer(st->entered_at_ms));
	json_object_set_new(o, "hold_until_ms", json_integer(st->hold_until_ms));
	json_object_set_new(o, "paused_at_ms", json_integer(st->paused_at_ms));
	json_object_set_new(o, "gate_next_ms", json_integer(st->gate_next_ms));
	json_object_set_new(o, "next_check_ms", json_integer(st->next_check_ms));
	json_object_set_new(o, "now_ms", json_integer(st->now_ms));
	json_object_set_new(o, "traffic", json_integer(st->traffic));
	json_object_set_new(o, "last_drill_ms", json_integer(st->last_drill_ms));
	json_object_set_new(o, "rollbacks", json_integer((json_int_t)st->rollbacks));
	json_object_set_new(o, "drills", json_integer((json_int_t)st->drills));
	json_object_set_new(o, "host_cursor", json_integer(st->host_cursor));
	json_object_set_new(o, "gates", gates);
	json_object_set_new(o, "triggers", trig);
	json_object_set(o, "pending", st->pending ? st->pending : json_null());
	if (json_array_size(st->unjournaled) > 0)
		json_object_set(o, "unjournaled", st->unjournaled);
	return o;
}

struct field {
	const char *name;
	int64_t *i64;
	int *i;
	uint64_t *u64;
};

int
state_from_json(json_t *j, struct rollout_state *st, char *err, size_t errlen)
{
	const struct field fields[] = {
		{ "seq", NULL, NULL, &st->seq },
		{ "phase", NULL, &st->phase, NULL },
		{ "step", NULL, &st->step, NULL },
		{ "started_at_ms", &st->started_at_ms, NULL, NULL },
		{ "entered_at_ms", &st->entered_at_ms, NULL, NULL },
		{ "hold_until_ms", &st->hold_until_ms, NULL, NULL },
		{ "paused_at_ms", &st->paused_at_ms, NULL, NULL },
		{ "gate_next_ms", &st->gate_next_ms, NULL, NULL },
		{ "next_check_ms", &st->next_check_ms, NULL, NULL },
		{ "now_ms", &st->now_ms, NULL, NULL },
		{ "traffic", NULL, &st->traffic, NULL },
		{ "last_drill_ms", &st->last_drill_ms, NULL, NULL },
		{ "rollbacks", NULL, NULL, &st->rollbacks },
		{ "drills", NULL, NULL, &st->drills },
		{ "host_cursor", &st->host_cursor, NULL, NULL },
	};
	json_t *v, *plan, *arr, *item;
	const char *s;
	size_t i;
	int k;

	memset(st, 0, sizeof(*st));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a JSON object");
		return -EBADMSG;
	}
	v = json_object_get(j, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
		snprintf(err, errlen, "field \"version\": expected %d", STATE_VERSION);
		return -EBADMSG;
	}
	plan = json_object_get(j, "plan");
	if (!json_is_string(json_object_get(plan, "name"))
	    || !json_is_string(json_object_get(plan, "sha256"))) {
		snprintf(err, errlen, "field \"plan\": expected {name, sha256}");
		return -EBADMSG;
	}
	snprintf(st->plan_name, sizeof(st->plan_name), "%s",
	    json_string_value(json_object_get(plan, "name")));
	snprintf(st->plan_sha256, sizeof(st->plan_sha256), "%s",
	    json_string_value(json_object_get(plan, "sha256")));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(j, fields[i].name);
		if (!json_is_integer(v)) {
			snprintf(err, errlen, "field \"%s\": expected an integer", fields[i].name);
			return -EBADMSG;
		}
		if (fields[i].i64)
			*fields[i].i64 = json_integer_value(v);
		else if (fields[i].i)
			*fields[i].i = (int)json_integer_value(v);
		else
			*fields[i].u64 = (uint64_t)json_integer_value(v);
	}
	s = json_string_value(json_object_get(j, "state"));
	if (s == NULL || (k = state_by_name(s)) < 0) {
		snprintf(err, errlen, "field \"state\": unknown state");
		return -EBADMSG;
	}
	st->state = (enum engine_state)k;
	s = json_string_value(json_object_get(j, "paused_from"));
	if (s == NULL || (k = state_by_name(s)) < 0) {
		snprintf(err, errlen, "field \"paused_from\": unknown state");
		return -EBADMSG;
	}
	st->paused_from = (enum engine_state)k;
	s = json_string_value(json_object_get(j, "pause_reason"));
	if (s == NULL || (k = pause_by_name(s)) < 0) {
		snprintf(err, errlen, "field \"pause_reason\": unknown reason");
		return -EBADMSG;
	}
	st->pause_reason = (enum engine_pause_reason)k;
	arr = json_object_get(j, "gates");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "field \"gates\": expected an array");
		return -EBADMSG;
	}
	st->ngates = json_array_size(arr);
	st->gates = calloc(st->ngates + 1, sizeof(*st->gates));
	if (st->gates == NULL)
		return -ENOMEM;
	json_array_foreach(arr, i, item) {
		st->gates[i].fails = (int)json_integer_value(json_object_get(item, "fails"));
		st->gates[i].inconclusive = (int)json_integer_value(json_object_get(item, "inconclusive"));
	}
	arr = json_object_get(j, "triggers");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "field \"triggers\": expected an array");
		state_clear(st);
		return -EBADMSG;
	}
	st->ntriggers = json_array_size(arr);
	st->triggers = calloc(st->ntriggers + 1, sizeof(*st->triggers));
	if (st->triggers == NULL) {
		state_clear(st);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, item) {
		json_t *m = json_object_get(item, "matches");
		size_t n = json_array_size(m), x;

		st->triggers[i].consecutive = (int)json_integer_value(json_object_get(item, "consecutive"));
		st->triggers[i].matches = calloc(n + 1, sizeof(int64_t));
		if (st->triggers[i].matches == NULL) {
			state_clear(st);
			return -ENOMEM;
		}
		for (x = 0; x < n; x++)
			st->triggers[i].matches[x] = json_integer_value(json_array_get(m, x));
		st->triggers[i].nmatches = (int)n;
	}
	v = json_object_get(j, "pending");
	if (json_is_object(v))
		st->pending = json_incref(v);
	v = json_object_get(j, "unjournaled");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_array(v)) {
			snprintf(err, errlen, "field \"unjournaled\": expected an array");
			state_clear(st);
			return -EBADMSG;
		}
		json_array_foreach(v, i, item)
			if (!json_is_object(item) || !json_is_integer(json_object_get(item, "seq"))) {
				snprintf(err, errlen, "field \"unjournaled\"[%zu]: expected a record with a seq", i);
				state_clear(st);
				return -EBADMSG;
			}
		st->unjournaled = json_incref(v);
	}
	return 0;
}

int
state_save(const char *path, const struct rollout_state *st)
{
	json_t *o = state_to_json(st);
	char *text;
	int rc;

	if (o == NULL)
		return -ENOMEM;
	text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return -ENOMEM;
	rc = fs_write_atomic(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

int
state_load(const char *path, struct rollout_state *st, char *err, size_t errlen)
{
	char *buf = NULL, sub[256];
	json_error_t jerr;
	size_t len;
	json_t *j;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = fs_read_all(path, STATE_MAX_BYTES, &buf, &len);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	j = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (j == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return -EBADMSG;
	}
	rc = state_from_json(j, st, sub, sizeof(sub));
	json_decref(j);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", path, sub);
	return rc;
}

void
state_clear(struct rollout_state *st)
{
	size_t i;

	if (st->triggers != NULL)
		for (i = 0; i < st->ntriggers; i++)
			free(st->triggers[i].matches);
	free(st->triggers);
	free(st->gates);
	json_decref(st->pending);
	json_decref(st->unjournaled);
	memset(st, 0, sizeof(*st));
}

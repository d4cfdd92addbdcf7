/*
 * scripted.so — a test plugin that emits scripted events (rolloutd-plugin(3)).
 *
 * Config (`with:`):
 *   events: [ "balance @7 100 0 20000000000000 1700000000000", ... ]  (inline script)
 *   script: FILE          (one event per line; '#'-comments are not allowed mid-line)
 *   delay: 10ms           (between events; default 0)
 *   sink_file: FILE       (as a sink: append each alert as a JSON line)
 *   fail_start: true      (start() fails, for tests)
 * Script lines (PK is 64 hex digits or @N = 32 bytes of value N):
 *   first PK BLOCK TOTAL [BLOCK_TIME_MS]          first observation (no alert)
 *   balance PK BLOCK BEFORE AFTER [BLOCK_TIME_MS] a change of `free` at BLOCK
 *   window PK START_MS END_MS BEFORE AFTER        a baseline-style window diff
 *   snapshot TAKEN_MS PK=TOTAL[:LABEL] ...        a top-N list
 *   health 0|1 DETAIL...
 *   error KIND MESSAGE...
 *   log LEVEL TEXT...      (LEVEL 0..3)
 *   metric NAME VALUE
 *   sleep MS
 * Commands: "emit LINE" (emit one line now), "stats" ({"emitted":N,"alerts":M}),
 *   "fail" (returns -EIO).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollout/plugin.h"

struct scripted {
	const struct rollout_host *host;
	char **lines;
	size_t nlines;
	int64_t delay_ms;
	char sink_file[512];
	int fail_start;
	pthread_t thread;
	int running;
	volatile int stop;
	pthread_mutex_t lock;
	unsigned long emitted, alerts;
};

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
parse_pk(const char *s, uint8_t pk[32])
{
	if (s == NULL)
		return -EINVAL;
	if (s[0] == '@') {
		memset(pk, atoi(s + 1) & 0xff, 32);
		return 0;
	}
	if (strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		pk[i] = (uint8_t)v;
	}
	return 0;
}

static rollout_u128
parse_u128(const char *s)
{
	rollout_u128 v = 0;

	for (; s && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (rollout_u128)(*s - '0');
	return v;
}

/* Emit one script line.  0, 1 for "sleep", or -EINVAL. */
static int
scripted_line(struct scripted *sp, const char *text)
{
	const struct rollout_host *h = sp->host;
	char buf[4096], *save = NULL, *w[8];
	struct rollout_event ev;
	int n = 0, rc;

	snprintf(buf, sizeof(buf), "%s", text);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	for (char *t = strtok_r(buf, " ", &save); t && n < 7; t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	w[n] = save; /* the rest of the line */
	if (n == 0)
		return 0;
	if (strcmp(w[0], "sleep") == 0 && n >= 2) {
		sleep_ms(atoll(w[1]));
		return 1;
	}
	if ((strcmp(w[0], "first") == 0 && n >= 4) || (strcmp(w[0], "balance") == 0 && n >= 5)) {
		struct rollout_balance_change *b = &ev.u.balance;
		int first = w[0][0] == 'f';

		ev.kind = ROLLOUT_EV_BALANCE;
		if (parse_pk(w[1], b->pubkey) != 0)
			return -EINVAL;
		b->block_from = b->block_to = strtoull(w[2], NULL, 10);
		b->block_time_ms = n > (first ? 4 : 5) ? atoll(w[first ? 4 : 5]) : h->now_ms(h->ctx);
		b->window_start_ms = b->window_end_ms = b->block_time_ms;
		b->observed_ms = h->now_ms(h->ctx);
		b->has_before = !first;
		b->known_mask = ROLLOUT_KNOW_ALL;
		b->before.free = first ? 0 : parse_u128(w[3]);
		b->after.free = parse_u128(w[first ? 3 : 4]);
		memset(b->block_hash, 0xab, sizeof(b->block_hash));
	} else if (strcmp(w[0], "window") == 0 && n >= 6) {
		struct rollout_balance_change *b = &ev.u.balance;

		ev.kind = ROLLOUT_EV_BALANCE;
		if (parse_pk(w[1], b->pubkey) != 0)
			return -EINVAL;
		b->window_start_ms = atoll(w[2]);
		b->window_end_ms = atoll(w[3]);
		b->observed_ms = h->now_ms(h->ctx);
		b->has_before = 1;
		b->known_mask = ROLLOUT_KNOW_FREE | ROLLOUT_KNOW_RESERVED;
		b->before.free = parse_u128(w[4]);
		b->after.free = parse_u128(w[5]);
	} else if (strcmp(w[0], "snapshot") == 0 && n >= 2) {
		struct rollout_snapshot_entry ent[64];
		size_t ne = 0;
		char rest[4096], *s2 = NULL;

		/* re-split the whole line: entries may be many */
		snprintf(rest, sizeof(rest), "%s", text);
		strtok_r(rest, " ", &s2);
		strtok_r(NULL, " ", &s2);
		memset(ent, 0, sizeof(ent));
		for (char *t = strtok_r(NULL, " ", &s2); t && ne < 64; t = strtok_r(NULL, " ", &s2)) {
			char *eq = strchr(t, '='), *colon;

			if (eq == NULL)
				return -EINVAL;
			*eq = '\0';
			colon = strchr(eq + 1, ':');
			if (colon) {
				*colon = '\0';
				snprintf(ent[ne].display, sizeof(ent[ne].display), "%s", colon + 1);
			}
			if (parse_pk(t, ent[ne].pubkey) != 0)
				return -EINVAL;
			ent[ne].total = parse_u128(eq + 1);
			ent[ne].data.free = ent[ne].total;
			ent[ne].rank = (uint32_t)ne + 1;
			ne++;
		}
		ev.kind = ROLLOUT_EV_SNAPSHOT;
		ev.u.snapshot.taken_ms = atoll(w[1]);
		ev.u.snapshot.count = ne;
		ev.u.snapshot.entries = ent;
		rc = h->emit(h->ctx, &ev);
		goto done;
	} else if (strcmp(w[0], "health") == 0 && n >= 2) {
		ev.kind = ROLLOUT_EV_HEALTH;
		ev.u.health.healthy = atoi(w[1]);
		ev.u.health.detail = n > 2 ? text + (w[2] - buf) : "";
	} else if (strcmp(w[0], "error") == 0 && n >= 2) {
		ev.kind = ROLLOUT_EV_ERROR;
		ev.u.error.kind = w[1];
		ev.u.error.message = n > 2 ? text + (w[2] - buf) : "";
	} else if (strcmp(w[0], "log") == 0 && n >= 3) {
		h->log(h->ctx, (enum rollout_log_level)atoi(w[1]), "%s", text + (w[2] - buf));
		rc = 0;
		goto done;
	} else if (strcmp(w[0], "metric") == 0 && n >= 3) {
		h->metric(h->ctx, w[1], atof(w[2]));
		rc = 0;
		goto done;
	} else {
		return -EINVAL;
	}
	rc = h->emit(h->ctx, &ev);
done:
	if (rc == 0) {
		pthread_mutex_lock(&sp->lock);
		sp->emitted++;
		pthread_mutex_unlock(&sp->lock);
	}
	return rc;
}

static void *
scripted_run(void *arg)
{
	struct scripted *sp = arg;

	for (size_t i = 0; i < sp->nlines && !sp->stop; i++) {
		if (scripted_line(sp, sp->lines[i]) == -EINVAL)
			sp->host->log(sp->host->ctx, ROLLOUT_LOG_ERROR, "bad script line %zu: %s",
			    i + 1, sp->lines[i]);
		if (sp->delay_ms)
			sleep_ms(sp->delay_ms);
	}
	return NULL;
}

static int
scripted_add(struct scripted *sp, const char *line)
{
	char **nl = realloc(sp->lines, (sp->nlines + 1) * sizeof(*nl));

	if (nl == NULL)
		return -ENOMEM;
	sp->lines = nl;
	if ((sp->lines[sp->nlines] = strdup(line)) == NULL)
		return -ENOMEM;
	sp->nlines++;
	return 0;
}

static void scripted_destroy(void *self);

static int
scripted_init(const struct rollout_host *h, void **self)
{
	struct scripted *sp = calloc(1, sizeof(*sp));
	const struct rollout_cfg *evs;
	const char *file = NULL, *sink = NULL;
	int rc;

	if (sp == NULL)
		return -ENOMEM;
	sp->host = h;
	pthread_mutex_init(&sp->lock, NULL);
	if ((rc = h->cfg_duration_ms(h->ctx, NULL, "delay", 0, &sp->delay_ms)) == -EINVAL ||
	    (rc = h->cfg_string(h->ctx, NULL, "script", NULL, &file)) == -EINVAL ||
	    (rc = h->cfg_string(h->ctx, NULL, "sink_file", NULL, &sink)) == -EINVAL ||
	    (rc = h->cfg_bool(h->ctx, NULL, "fail_start", 0, &sp->fail_start)) == -EINVAL)
		goto fail;
	if (sink)
		snprintf(sp->sink_file, sizeof(sp->sink_file), "%s", sink);
	evs = h->cfg_get(h->ctx, NULL, "events");
	if (evs) {
		if (h->cfg_kind(h->ctx, evs) != ROLLOUT_CFG_SEQ) {
			h->cfg_error(h->ctx, evs, "events: expected a list of strings");
			rc = -EINVAL;
			goto fail;
		}
		for (size_t i = 0; i < h->cfg_len(h->ctx, evs); i++) {
			const char *s = h->cfg_scalar(h->ctx, h->cfg_at(h->ctx, evs, i));

			if (s == NULL) {
				h->cfg_error(h->ctx, h->cfg_at(h->ctx, evs, i), "events: expected a string");
				rc = -EINVAL;
				goto fail;
			}
			if ((rc = scripted_add(sp, s)) != 0)
				goto fail;
		}
	}
	if (file) {
		FILE *f = fopen(file, "r");
		char line[4096];

		if (f == NULL) {
			h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "script"), "script: %s: %s", file,
			    strerror(errno));
			rc = -ENOENT;
			goto fail;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] && line[0] != '#' && (rc = scripted_add(sp, line)) != 0) {
				fclose(f);
				goto fail;
			}
		}
		fclose(f);
	}
	*self = sp;
	return 0;
fail:
	scripted_destroy(sp);
	return rc ? rc : -EINVAL;
}

static int
scripted_start(void *self)
{
	struct scripted *sp = self;

	if (sp->fail_start)
		return -EIO;
	if (sp->nlines == 0)
		return 0;
	if (pthread_create(&sp->thread, NULL, scripted_run, sp) != 0)
		return -EAGAIN;
	sp->running = 1;
	return 0;
}

static void
scripted_stop(void *self)
{
	struct scripted *sp = self;

	sp->stop = 1;
	if (sp->running) {
		pthread_join(sp->thread, NULL);
		sp->running = 0;
	}
}

static void
scripted_destroy(void *self)
{
	struct scripted *sp = self;

	if (sp == NULL)
		return;
	for (size_t i = 0; i < sp->nlines; i++)
		free(sp->lines[i]);
	free(sp->lines);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

static int
scripted_command(void *self, const char *cmd, const char *arg, char *reply, size_t len)
{
	struct scripted *sp = self;
	int rc;

	if (strcmp(cmd, "emit") == 0) {
		rc = scripted_line(sp, arg ? arg : "");
		snprintf(reply, len, "{\"ok\":%s}", rc >= 0 ? "true" : "false");
		return rc < 0 ? rc : 0;
	}
	if (strcmp(cmd, "stats") == 0) {
		pthread_mutex_lock(&sp->lock);
		snprintf(reply, len, "{\"emitted\":%lu,\"alerts\":%lu}", sp->emitted, sp->alerts);
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	if (strcmp(cmd, "fail") == 0) {
		snprintf(reply, len, "failing on purpose");
		return -EIO;
	}
	return -ENOTSUP;
}

static int
scripted_on_alert(void *self, const struct rollout_alert *a)
{
	struct scripted *sp = self;
	FILE *f;

	pthread_mutex_lock(&sp->lock);
	sp->alerts++;
	pthread_mutex_unlock(&sp->lock);
	if (sp->sink_file[0] == '\0')
		return 0;
	f = fopen(sp->sink_file, "a");
	if (f == NULL)
		return -errno;
	fprintf(f, "{\"id\":\"%s\",\"key\":\"%s\",\"type\":\"%s\",\"severity\":%d,\"system\":\"%s\","
	    "\"account\":\"%s\",\"amount_tokens\":\"%s\",\"rollout\":%d}\n", a->id, a->key, a->type,
	    (int)a->severity, a->system, a->account, a->amount_tokens, a->rollout);
	fclose(f);
	return 0;
}

static const struct rollout_plugin scripted_plugin = {
	.magic = ROLLOUT_PLUGIN_MAGIC,
	.abi = ROLLOUT_PLUGIN_ABI,
	.size = sizeof(struct rollout_plugin),
	.name = "scripted",
	.version = "1.0",
	.description = "emits scripted events; also a counting sink (tests)",
	.init = scripted_init,
	.start = scripted_start,
	.stop = scripted_stop,
	.destroy = scripted_destroy,
	.command = scripted_command,
	.on_alert = scripted_on_alert,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &scripted_plugin;
}

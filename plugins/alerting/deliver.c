/*
 * deliver.c — the outbox and the delivery threads.
 *
 * Each channel has a directory OUTBOX_DIR/<channel>/ holding one file per
 * alert still to deliver on that channel, named
 * <accepted ms, 13 digits>-<sequence, 10 digits>-<alert id>.json so that a
 * directory listing sorted by name is the delivery order.  The file is
 * written with fs_write_atomic (fsync of file and directory) before
 * on_alert returns, and removed only after the channel's peer confirmed
 * (HTTP 2xx, SMTP 250, the local write succeeded).  A crash between the
 * confirmation and the unlink re-delivers the alert with the same id: at
 * least once.
 *
 * One thread per channel works through its queue in order; a failure
 * retries the head of the queue with capped exponential backoff and jitter
 * while the other channels go on independently.
 *
 * When the disk refuses the outbox file (read-only file system, EACCES,
 * ENOSPC, ENOTDIR, EIO...), the alert is not dropped: the entry is kept in
 * memory only, with the file's text, and delivered like any other (at least
 * once, same id).  The delivery thread writes such entries, oldest first, to
 * their outbox names at most every PERSIST_RETRY_MS, so they become durable
 * as soon as the disk takes them again; stop tries once more and logs each
 * one that is still only in memory.  The file channel (history.jsonl) keeps
 * its undelivered lines in the queue in order and retries at most every
 * FILE_RETRY_MAX_MS, so they are appended, in order, soon after the disk
 * is back.
 */
#include "alerting.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "fsutil.h"

#define OUTBOX_MAX_FILE (4u << 20)
#define PERSIST_RETRY_MS 500
#define FILE_RETRY_MAX_MS 1000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
deliver_entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	free(e->path);
	free(e->text);
	json_decref(e->alert);
	free(e);
}
#define entry_free deliver_entry_free

/* An entry left memory-only is on disk now, or gone (delivered/freed).  Caller holds ch->mu. */
static void
unpersisted_done_locked(struct channel *ch, struct entry *e)
{
	if (e->text == NULL)
		return;
	free(e->text);
	e->text = NULL;
	ch->unpersisted--;
	atomic_fetch_sub(&ch->a->unpersisted, 1);
}

static void
queue_push_locked(struct channel *ch, struct entry *e)
{
	e->next = NULL;
	if (ch->tail)
		ch->tail->next = e;
	else
		ch->head = e;
	ch->tail = e;
	ch->queued++;
	pthread_cond_signal(&ch->cv);
}

void
deliver_free_queue(struct channel *ch)
{
	struct entry *e, *next;

	for (e = ch->head; e != NULL; e = next) {
		next = e->next;
		unpersisted_done_locked(ch, e);
		entry_free(e);
	}
	ch->head = ch->tail = NULL;
	ch->queued = 0;
}

/* Write TEXT to PATH; recreate a vanished outbox directory once.  0 or -errno. */
static int
persist_one(struct channel *ch, const char *path, const char *text)
{
	int rc = fs_write_atomic(path, text, strlen(text), 0600);

	if (rc == -ENOENT && fs_mkdir_p(ch->outbox, 0700) == 0)
		rc = fs_write_atomic(path, text, strlen(text), 0600);
	return rc;
}

struct entry *
deliver_write(struct channel *ch, json_t *alert, int *rcp)
{
	struct alerting *a = ch->a;
	struct entry *e = NULL;
	json_t *doc = NULL;
	char *text = NULL, safe_id[33], *p;
	int64_t now = wall_ms();
	unsigned long seq = atomic_fetch_add(&a->seq, 1);
	int rc;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	/* the id becomes part of a file name: nothing but [0-9A-Za-z_-] */
	snprintf(safe_id, sizeof(safe_id), "%s", format_str(alert, "id"));
	for (p = safe_id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '-'))
			*p = '_';
	if (asprintf(&e->path, "%s/%013lld-%010lu-%s.json", ch->outbox, (long long)now,
	    seq % 10000000000ul, safe_id) < 0) {
		e->path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	doc = json_pack("{s:I, s:s, s:O}", "accepted_ms", (json_int_t)now, "channel", ch->name,
	    "alert", alert);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	/* each channel thread gets its own copy: json_t is not safe to share */
	if ((e->alert = json_deep_copy(alert)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	e->accepted_ms = now;
	e->next_try = 0;
	if ((rc = persist_one(ch, e->path, text)) != 0) {
		/* the disk refuses: keep it in memory rather than lose the alert */
		e->text = text;
		json_decref(doc);
		*rcp = rc;
		return e;
	}
	json_decref(doc);
	free(text);
	*rcp = 0;
	return e;
fail:
	json_decref(doc);
	free(text);
	entry_free(e);
	*rcp = rc;
	return NULL;
}

void
deliver_push_locked(struct channel *ch, struct entry *e)
{
	if (e->text != NULL) {
		ch->unpersisted++;
		atomic_fetch_add(&ch->a->unpersisted, 1);
	}
	queue_push_locked(ch, e);
	ch->accepted++;
}

int
deliver_enqueue_locked(struct channel *ch, json_t *alert)
{
	struct entry *e;
	int rc;

	if (ch->queued >= ch->a->max_queued)
		return -EAGAIN;
	if ((e = deliver_write(ch, alert, &rc)) == NULL)
		return rc;
	if (e->text != NULL) {
		ch->persist_error = rc;
		if (ch->unpersisted >= ch->a->max_unpersisted) {
			entry_free(e);
			return rc;
		}
	}
	deliver_push_locked(ch, e);
	return 0;
}

/* RC (-errno) says the disk refuses to store, not that the setup is wrong. */
static int
disk_refuses(int rc)
{
	return rc == -EROFS || rc == -EACCES || rc == -EPERM || rc == -ENOSPC || rc == -EDQUOT ||
	    rc == -EIO || rc == -ENOTDIR;
}

static int
name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
deliver_replay(struct channel *ch)
{
	const struct rollout_host *h = ch->a->host;
	char **names = NULL, *path = NULL, *text = NULL;
	size_t n = 0, cap = 0, i, loaded = 0;
	struct dirent *de;
	DIR *d = NULL;
	int rc;

	if ((rc = fs_mkdir_p(ch->outbox, 0700)) != 0) {
		if (disk_refuses(rc)) {
			/* a read-only or broken disk at start: alerts are kept in memory */
			h->log(h->ctx, ROLLOUT_LOG_WARN, "%s: outbox %s cannot be created: %s; alerts"
			    " are kept in memory only until it can", ch->name, ch->outbox,
			    strerror(-rc));
			ch->persist_error = rc;
			return 0;
		}
		h->log(h->ctx, ROLLOUT_LOG_ERROR, "%s: outbox %s: %s", ch->name, ch->outbox,
		    strerror(-rc));
		return rc;
	}
	if ((d = opendir(ch->outbox)) == NULL) {
		rc = -errno;
		h->log(h->ctx, ROLLOUT_LOG_ERROR, "%s: outbox %s: %s", ch->name, ch->outbox,
		    strerror(errno));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strstr(de->d_name, ".json.tmp.") != NULL) {
			/* a write that never reached its rename: never acknowledged */
			char *p;

			if (asprintf(&p, "%s/%s", ch->outbox, de->d_name) >= 0) {
				unlink(p);
				free(p);
			}
			continue;
		}
		if (!ends_with(de->d_name, ".json"))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			names = nn;
			cap = ncap;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *doc, *alert;
		struct entry *e;

		if (asprintf(&path, "%s/%s", ch->outbox, names[i]) < 0) {
			path = NULL;
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = fs_read_all(path, OUTBOX_MAX_FILE, &text, NULL)) != 0) {
			h->log(h->ctx, ROLLOUT_LOG_WARN, "%s: outbox %s: %s (skipped)", ch->name,
			    path, strerror(-rc));
			free(path);
			path = NULL;
			continue;
		}
		doc = json_loads(text, 0, &jerr);
		alert = json_object_get(doc, "alert");
		if (!json_is_object(alert) || format_str(alert, "id")[0] == '\0') {
			char *bad;

			h->log(h->ctx, ROLLOUT_LOG_WARN, "%s:%d:%d: %s: not an outbox entry (%s);"
			    " renamed to .bad", path, jerr.line, jerr.column, ch->name,
			    doc ? "no alert object" : jerr.text);
			if (asprintf(&bad, "%s.bad", path) >= 0) {
				rename(path, bad);
				free(bad);
			}
			json_decref(doc);
		} else if ((e = calloc(1, sizeof(*e))) != NULL) {
			e->path = path;
			path = NULL;
			e->alert = json_incref(alert);
			e->accepted_ms = json_integer_value(json_object_get(doc, "accepted_ms"));
			pthread_mutex_lock(&ch->mu);
			queue_push_locked(ch, e);
			/* a re-sent copy of a replayed alert is a duplicate too */
			if (ch->a->dedup_window_ms > 0)
				alerting_dedup_add(&ch->dedup, format_str(alert, "key")[0] ?
				    format_str(alert, "key") : format_str(alert, "id"), e->accepted_ms);
			pthread_mutex_unlock(&ch->mu);
			loaded++;
			json_decref(doc);
		} else {
			json_decref(doc);
			rc = -ENOMEM;
			goto fail;
		}
		free(path);
		path = NULL;
		free(text);
		text = NULL;
	}
	if (loaded > 0)
		h->log(h->ctx, ROLLOUT_LOG_INFO, "%s: replaying %zu alert(s) from %s", ch->name,
		    loaded, ch->outbox);
	rc = 0;
fail:
	if (d)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(path);
	free(text);
	return rc;
}

/* ---- sending ------------------------------------------------------------ */

struct resp {
	char text[160];
	size_t len;
};

static size_t
resp_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct resp *r = userdata;
	size_t n = size * nmemb, room = sizeof(r->text) - 1 - r->len;

	if (room > 0) {
		size_t k = n < room ? n : room;

		memcpy(r->text + r->len, ptr, k);
		r->len += k;
		r->text[r->len] = '\0';
	}
	return n;
}

static int
progress_cb(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct alerting *a = p;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&a->stopping) ? 1 : 0;
}

static void
curl_common(struct channel *ch, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ch->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(ch->timeout_ms < 10000 ? ch->timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, ch->a);
	if (ch->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ch->ca_file);
}

static int
send_webhook(struct channel *ch, const struct entry *e, char *err, size_t errlen)
{
	CURL *c = ch->curl;
	struct curl_slist *hdrs = NULL;
	struct resp resp = { .len = 0 };
	char *body = NULL, hdr[256], sig[80];
	long code = 0;
	CURLcode cc;
	int rc = -EIO;

	if (c == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -ENOMEM;
	}
	resp.text[0] = '\0';
	if ((body = format_webhook_body(e->alert, ch->format)) == NULL) {
		snprintf(err, errlen, "out of memory formatting the payload");
		return -ENOMEM;
	}
	curl_easy_reset(c);
	curl_common(ch, c);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	snprintf(hdr, sizeof(hdr), "X-Rollout-Alert-Id: %s", format_str(e->alert, "id"));
	hdrs = curl_slist_append(hdrs, hdr);
	if (ch->secret != NULL) {
		format_signature(ch->secret, ch->secretlen, body, strlen(body), sig, sizeof(sig));
		snprintf(hdr, sizeof(hdr), "X-Rollout-Signature: %s", sig);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, ch->url);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rolloutd-alerting/1");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, resp_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK && (code == 429 || code == 503)) {
		curl_off_t ra = 0;

		/* Slack and most APIs say when to come back; do not come earlier */
		if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			ch->retry_after_ms = (int64_t)(ra < 3600 ? ra : 3600) * 1000;
	}
	if (cc != CURLE_OK)
		snprintf(err, errlen, "POST %s: %s", ch->url, curl_easy_strerror(cc));
	else if (code < 200 || code > 299)
		snprintf(err, errlen, "POST %s: HTTP %ld %.*s", ch->url, code, 100, resp.text);
	else
		rc = 0;
	curl_slist_free_all(hdrs);
	free(body);
	return rc;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t
upload_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct upload *u = userdata;
	size_t n = size * nitems;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static int
send_email(struct channel *ch, const struct entry *e, char *err, size_t errlen)
{
	CURL *c = ch->curl;
	struct curl_slist *rcpt = NULL;
	struct upload up;
	char *msg, addr[512];
	long code = 0;
	CURLcode cc;
	size_t i;
	int rc = -EIO;

	if (c == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -ENOMEM;
	}
	if ((msg = format_email(e->alert, ch->from, ch->to)) == NULL) {
		snprintf(err, errlen, "out of memory formatting the message");
		return -ENOMEM;
	}
	curl_easy_reset(c);
	curl_common(ch, c);
	curl_easy_setopt(c, CURLOPT_URL, ch->smtp_url);
	snprintf(addr, sizeof(addr), "<%s>", ch->from);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, addr);
	for (i = 0; ch->to[i] != NULL; i++) {
		snprintf(addr, sizeof(addr), "<%s>", ch->to[i]);
		rcpt = curl_slist_append(rcpt, addr);
	}
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	if (ch->user != NULL) {
		curl_easy_setopt(c, CURLOPT_USERNAME, ch->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, ch->pass ? ch->pass : "");
	}
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)ch->use_ssl);
	up.p = msg;
	up.left = strlen(msg);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE, (long)up.left);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK)
		snprintf(err, errlen, "SMTP %s: %s (last reply %ld)", ch->smtp_url,
		    curl_easy_strerror(cc), code);
	else if (code != 250)
		snprintf(err, errlen, "SMTP %s: reply %ld after DATA", ch->smtp_url, code);
	else
		rc = 0;
	curl_slist_free_all(rcpt);
	free(msg);
	return rc;
}

static int
send_file(struct channel *ch, const struct entry *e, char *err, size_t errlen)
{
	char *line = json_dumps(e->alert, JSON_COMPACT), *dir, *slash;
	size_t n;
	int rc;

	if (line == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = strlen(line);
	line[n] = '\n';
	if ((dir = strdup(ch->path)) != NULL && (slash = strrchr(dir, '/')) != NULL &&
	    slash != dir) {
		*slash = '\0';
		fs_mkdir_p(dir, 0755);
	}
	free(dir);
	rc = fs_append_sync(ch->path, line, n + 1, 0644);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", ch->path, strerror(-rc));
	free(line);
	return rc;
}

static int
send_stdout(struct channel *ch, const struct entry *e, char *err, size_t errlen)
{
	char *line;
	int rc = 0;

	if (ch->format == FORMAT_JSON) {
		char *j = json_dumps(e->alert, JSON_COMPACT);

		line = NULL;
		if (j != NULL && asprintf(&line, "%s\n", j) < 0)
			line = NULL;
		free(j);
	} else {
		line = format_text_line(e->alert);
	}
	if (line == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	flockfile(stdout);
	if (fputs(line, stdout) == EOF || fflush(stdout) != 0) {
		rc = -EIO;
		snprintf(err, errlen, "stdout: %s", strerror(errno));
	}
	funlockfile(stdout);
	free(line);
	return rc;
}

static int
send_one(struct channel *ch, const struct entry *e, char *err, size_t errlen)
{
	switch (ch->kind) {
	case CHAN_WEBHOOK:
		return send_webhook(ch, e, err, errlen);
	case CHAN_EMAIL:
		return send_email(ch, e, err, errlen);
	case CHAN_FILE:
		return send_file(ch, e, err, errlen);
	case CHAN_STDOUT:
		return send_stdout(ch, e, err, errlen);
	}
	return -EINVAL;
}

static int64_t
backoff_ms(const struct alerting *a, unsigned attempts)
{
	int64_t d = a->retry_initial_ms;
	unsigned i;

	for (i = 1; i < attempts && d < a->retry_max_ms; i++)
		d *= 2;
	if (d > a->retry_max_ms)
		d = a->retry_max_ms;
	if (a->retry_jitter && d >= 2) {
		/* "equal jitter": half fixed, half random, so retries of many
		 * sinks after one outage do not arrive in lockstep */
		int64_t half = d / 2;

		d = half + (int64_t)randombytes_uniform((uint32_t)(half < 0xffffffff ? half + 1 :
		    0xffffffff));
	}
	return d;
}

void
deliver_unpersisted_metric(struct channel *ch)
{
	const struct rollout_host *h = ch->a->host;
	char name[96];
	size_t n;

	/* one lock around reading and recording: the last sample is the current value */
	pthread_mutex_lock(&ch->a->metric_mu);
	pthread_mutex_lock(&ch->mu);
	n = ch->unpersisted;
	pthread_mutex_unlock(&ch->mu);
	snprintf(name, sizeof(name), "%s.unpersisted", ch->name);
	h->metric(h->ctx, name, (double)n);
	h->metric(h->ctx, "unpersisted", (double)atomic_load(&ch->a->unpersisted));
	pthread_mutex_unlock(&ch->a->metric_mu);
}

/*
 * Write the memory-only entries to the outbox, oldest first, stopping at
 * the first the disk refuses (the next try is PERSIST_RETRY_MS later).
 * Delivery thread only, with ch->mu held (dropped around each write: only
 * this thread removes entries or their text, so E stays valid).
 */
static void
persist_locked(struct channel *ch)
{
	const struct rollout_host *h = ch->a->host;
	struct entry *e;
	size_t written = 0;
	int rc = 0;

	if (ch->unpersisted == 0 || ch->persist_next_try > mono_ms())
		return;
	for (e = ch->head; e != NULL && ch->unpersisted > 0; e = e->next) {
		const char *text = e->text;

		if (text == NULL)
			continue;
		pthread_mutex_unlock(&ch->mu);
		rc = persist_one(ch, e->path, text);
		pthread_mutex_lock(&ch->mu);
		if (rc != 0)
			break;
		unpersisted_done_locked(ch, e);
		written++;
	}
	ch->persist_next_try = mono_ms() + PERSIST_RETRY_MS;
	if (written > 0) {
		pthread_mutex_unlock(&ch->mu);
		deliver_unpersisted_metric(ch);
		pthread_mutex_lock(&ch->mu);
	}
	if (rc == 0 && ch->persist_error != 0) {
		size_t left = ch->unpersisted;

		ch->persist_error = 0;
		pthread_mutex_unlock(&ch->mu);
		h->log(h->ctx, ROLLOUT_LOG_INFO, "%s: outbox %s writable again: %zu memory-only"
		    " alert(s) written, %zu left", ch->name, ch->outbox, written, left);
		pthread_mutex_lock(&ch->mu);
	} else if (rc != 0) {
		ch->persist_error = rc;
	}
}

void
deliver_flush_unpersisted(struct channel *ch)
{
	const struct rollout_host *h = ch->a->host;
	struct entry *e;
	size_t lost = 0, written = 0;

	pthread_mutex_lock(&ch->mu);
	for (e = ch->head; e != NULL && ch->unpersisted > 0; e = e->next) {
		int rc;

		if (e->text == NULL)
			continue;
		if ((rc = persist_one(ch, e->path, e->text)) == 0) {
			unpersisted_done_locked(ch, e);
			written++;
			continue;
		}
		lost++;
		h->log(h->ctx, ROLLOUT_LOG_ERROR, "%s: alert %s (%s, %s) not delivered and not in the"
		    " outbox: %s: %s; it is lost when rolloutd exits", ch->name,
		    format_str(e->alert, "id"), format_str(e->alert, "type"),
		    format_str(e->alert, "title"), e->path, strerror(-rc));
	}
	pthread_mutex_unlock(&ch->mu);
	if (written > 0) {
		h->log(h->ctx, ROLLOUT_LOG_INFO, "%s: %zu memory-only alert(s) written to %s at stop",
		    ch->name, written, ch->outbox);
		deliver_unpersisted_metric(ch);
	}
	if (lost > 0)
		h->log(h->ctx, ROLLOUT_LOG_ERROR, "%s: %zu undelivered alert(s) could not be written"
		    " to %s", ch->name, lost, ch->outbox);
}

static void *
deliver_thread(void *arg)
{
	struct channel *ch = arg;
	struct alerting *a = ch->a;
	const struct rollout_host *h = a->host;
	char err[ALERTING_ERRLEN];

	if (ch->kind == CHAN_WEBHOOK || ch->kind == CHAN_EMAIL)
		ch->curl = curl_easy_init();
	pthread_mutex_lock(&ch->mu);
	while (!atomic_load(&a->stopping)) {
		int64_t now = mono_ms(), lat_ms;
		struct entry *e;
		int rc, was_error, e_text_was;

		deliver_throttle_summaries_locked(ch, h->now_ms(h->ctx));
		persist_locked(ch);
		if (ch->head == NULL || ch->head->next_try > now) {
			int64_t until = now + 1000;
			struct timespec ts;

			if (ch->head != NULL && ch->head->next_try < until)
				until = ch->head->next_try;
			if (ch->unpersisted > 0 && ch->persist_next_try < until)
				until = ch->persist_next_try;
			ts.tv_sec = (time_t)(until / 1000);
			ts.tv_nsec = (long)(until % 1000) * 1000000L;
			pthread_cond_timedwait(&ch->cv, &ch->mu, &ts);
			continue;
		}
		e = ch->head;
		pthread_mutex_unlock(&ch->mu);

		err[0] = '\0';
		ch->retry_after_ms = 0;
		e_text_was = e->text != NULL;
		rc = send_one(ch, e, err, sizeof(err));
		lat_ms = wall_ms() - e->accepted_ms;   /* accepted -> confirmed by the peer */
		/* a memory-only entry has no file, unless a write failed after its rename
		 * (the directory's fsync): remove quietly (E's text is only freed here) */
		if (rc == 0 && e->text != NULL)
			(void)unlink(e->path);
		else if (rc == 0 && unlink(e->path) != 0 && errno != ENOENT)
			h->log(h->ctx, ROLLOUT_LOG_WARN, "%s: cannot remove %s: %s", ch->name,
			    e->path, strerror(errno));

		pthread_mutex_lock(&ch->mu);
		was_error = ch->last_error[0] != '\0';
		if (rc == 0) {
			ch->head = e->next;
			if (ch->head == NULL)
				ch->tail = NULL;
			ch->queued--;
			ch->sent++;
			unpersisted_done_locked(ch, e);
			if (ch->track == TRACK_PENDING || ch->track == TRACK_FAILED)
				if (strcmp(ch->track_id, format_str(e->alert, "id")) == 0)
					ch->track = TRACK_SENT;
			ch->last_error[0] = '\0';
		} else {
			if (atomic_load(&a->stopping))
				break; /* aborted by stop(): not a failure of the peer */
			int64_t delay = backoff_ms(a, e->attempts + 1);

			/* a local file: retry soon, so the lines follow the disk's recovery */
			if (ch->kind == CHAN_FILE && delay > FILE_RETRY_MAX_MS)
				delay = FILE_RETRY_MAX_MS;
			if (ch->retry_after_ms > delay)
				delay = ch->retry_after_ms;
			ch->retry_after_ms = 0;
			e->attempts++;
			e->next_try = mono_ms() + delay;
			ch->failed++;
			snprintf(ch->last_error, sizeof(ch->last_error), "%s", err);
			if (ch->track == TRACK_PENDING &&
			    strcmp(ch->track_id, format_str(e->alert, "id")) == 0) {
				ch->track = TRACK_FAILED;
				snprintf(ch->track_error, sizeof(ch->track_error), "%s", err);
			}
		}
		{
			size_t depth = ch->queued;
			unsigned attempts = e->attempts;
			int64_t retry_in = e->next_try - mono_ms();

			pthread_mutex_unlock(&ch->mu);
			if (rc == 0) {
				if (was_error)
					h->log(h->ctx, ROLLOUT_LOG_INFO, "%s: delivering again", ch->name);
				alerting_metric(a, ch->name, "delivered", 1);
				alerting_metric(a, ch->name, "delivery_latency", (double)lat_ms / 1000.0);
				entry_free(e);
			} else {
				/* log the first failure and then every 10th, not every retry */
				if (attempts == 1 || attempts % 10 == 0)
					h->log(h->ctx, ROLLOUT_LOG_WARN, "%s: alert %s: %s (attempt %u,"
					    " retry in %lldms)", ch->name, format_str(e->alert, "id"),
					    err, attempts, (long long)retry_in);
				alerting_metric(a, ch->name, "failed", 1);
			}
			alerting_metric(a, ch->name, "queued", (double)depth);
			if (e_text_was)
				deliver_unpersisted_metric(ch);
			pthread_mutex_lock(&ch->mu);
		}
	}
	pthread_mutex_unlock(&ch->mu);
	if (ch->curl != NULL)
		curl_easy_cleanup(ch->curl);
	ch->curl = NULL;
	return NULL;
}

size_t
deliver_drain(struct alerting *a, int64_t ms)
{
	int64_t end = mono_ms() + ms;

	for (;;) {
		size_t queued = 0;
		int due = 0;

		for (size_t i = 0; i < a->nchans; i++) {
			struct channel *ch = a->chans[i];

			if (!ch->thread_started)
				continue;
			pthread_mutex_lock(&ch->mu);
			queued += ch->queued;
			if (ch->head != NULL && ch->head->next_try <= end)
				due = 1;
			pthread_mutex_unlock(&ch->mu);
		}
		if (!due || mono_ms() >= end)
			return queued;
		(void)nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
	}
}

int
deliver_start(struct channel *ch)
{
	int rc = pthread_create(&ch->thread, NULL, deliver_thread, ch);

	if (rc != 0)
		return -rc;
	ch->thread_started = 1;
	return 0;
}

void
deliver_stop(struct channel *ch)
{
	if (!ch->thread_started)
		return;
	pthread_mutex_lock(&ch->mu);
	pthread_cond_broadcast(&ch->cv);
	pthread_mutex_unlock(&ch->mu);
	pthread_join(ch->thread, NULL);
	ch->thread_started = 0;
}

void
deliver_throttle_summaries_locked(struct channel *ch, int64_t now_ms)
{
	struct alerting *a = ch->a;
	struct tbucket *b;

	if (a->throttle_limit <= 0)
		return;
	for (b = ch->buckets; b != NULL; b = b->next) {
		struct rollout_alert al;
		char title[256], msg[512], *details, from[40], to[40], win[64];
		json_t *j, *dj;

		if (b->suppressed == 0)
			continue;
		/* due once the window that caused the throttling has passed */
		if (now_ms - b->first_suppressed_ms < a->throttle_window_ms)
			continue;
		format_iso_time(b->first_suppressed_ms, from, sizeof(from));
		format_iso_time(b->last_suppressed_ms, to, sizeof(to));
		snprintf(win, sizeof(win), "%lld in %llds", a->throttle_limit,
		    (long long)(a->throttle_window_ms / 1000));
		snprintf(title, sizeof(title), "%llu %s alert(s) throttled",
		    (unsigned long long)b->suppressed, b->type);
		snprintf(msg, sizeof(msg), "%llu alert(s) of type %s (severity %s) were not sent on"
		    " channel %s between %s and %s: limit %s.", (unsigned long long)b->suppressed,
		    b->type, format_severity_name(b->severity), ch->name, from, to, win);
		dj = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I}",
		    "throttled", (json_int_t)b->suppressed, "type", b->type,
		    "severity", format_severity_name(b->severity), "from", from, "to", to,
		    "limit", (json_int_t)a->throttle_limit, "window_ms",
		    (json_int_t)a->throttle_window_ms);
		details = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
		json_decref(dj);
		memset(&al, 0, sizeof(al));
		al.size = sizeof(al);
		{
			unsigned char rnd[16];

			randombytes_buf(rnd, sizeof(rnd));
			sodium_bin2hex(al.id, sizeof(al.id), rnd, sizeof(rnd));
		}
		al.key = "";
		al.type = "alerting.throttled";
		al.severity = (enum rollout_severity)b->severity;
		al.title = title;
		al.message = msg;
		al.time_ms = now_ms;
		al.system = "alerting";
		al.details_json = details ? details : "{}";
		j = format_alert_json(&al);
		free(details);
		if (j == NULL)
			continue;
		if (deliver_enqueue_locked(ch, j) == 0) {
			b->suppressed = 0;
		}
		json_decref(j);
	}
}

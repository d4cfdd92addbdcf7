/*
 * alerting.h — internals of the alerting sink plugin (not a public header).
 *
 * alerting.c  the plugin descriptor, the `with:` config, on_alert (filters,
 *             dedup, throttle, outbox write) and the commands test/critical/stats
 * deliver.c   one delivery thread per channel: the in-memory queue over the
 *             outbox directory, retries with backoff, libcurl webhook and SMTP,
 *             file and stdout writers, outbox replay, memory-only
 *             entries when the disk refuses the outbox (written later)
 * format.c    the canonical alert JSON, the Slack and plain JSON payloads, the
 *             RFC 5322 mail message, the HMAC-SHA256 signature
 *
 * The canonical alert is a jansson object (see format_alert_json); it is
 * what the outbox holds, what the file channel appends and what the plain
 * JSON webhook posts.
 */
#ifndef ALERTING_INTERNAL_H
#define ALERTING_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout/plugin.h"

#define ALERTING_NAME "alerting"
#define ALERTING_ERRLEN 256

enum chan_kind { CHAN_WEBHOOK = 0, CHAN_EMAIL = 1, CHAN_FILE = 2, CHAN_STDOUT = 3 };
enum chan_route { ROUTE_ALL = 0, ROUTE_WHALE = 1, ROUTE_ROLLOUT = 2 };
enum chan_format { FORMAT_JSON = 0, FORMAT_SLACK = 1, FORMAT_TEXT = 2 };
enum track_state { TRACK_NONE = 0, TRACK_PENDING = 1, TRACK_SENT = 2, TRACK_FAILED = 3 };

/*
 * One queued delivery: an outbox file of one channel.  When the disk
 * refused the outbox file (read-only, full, not a directory...), the entry
 * is kept in memory only: TEXT holds what the file should contain, and the
 * delivery thread writes it to PATH as soon as the disk takes it again.
 */
struct entry {
	struct entry *next;
	char *path;                 /* outbox file; removed after delivery */
	char *text;                 /* memory-only: the file's contents, NULL once on disk */
	json_t *alert;              /* canonical alert (owned) */
	int64_t accepted_ms;        /* wall clock when on_alert accepted it */
	unsigned attempts;
	int64_t next_try;           /* monotonic ms */
};

/* Keys seen within the dedup window (hash + FIFO by time). */
struct dedup_ent {
	struct dedup_ent *hnext, *fnext;
	int64_t at;
	uint64_t hash;
	char key[];
};

struct dedup {
	struct dedup_ent **tab;
	size_t nbuckets, count;
	struct dedup_ent *fhead, *ftail;
};

/* Accept times of one type+severity within the throttle window. */
struct tbucket {
	struct tbucket *next;
	char *type;
	int severity;
	int64_t *ring;              /* accept times, capacity = throttle limit */
	size_t start, count;
	uint64_t suppressed;        /* throttled since the last summary */
	int64_t first_suppressed_ms, last_suppressed_ms;
};

struct alerting;

struct channel {
	struct alerting *a;
	char name[48];
	enum chan_kind kind;
	int min_severity;
	enum chan_route route;
	enum chan_format format;
	char *outbox;               /* outbox_dir/<name> */

	/* webhook */
	char *url;
	unsigned char *secret;
	size_t secretlen;
	int64_t timeout_ms;
	char *ca_file;              /* CURLOPT_CAINFO, NULL for the system store */
	/* email */
	char *smtp_url;
	char *from;
	char **to;                  /* NULL-terminated */
	char *user, *pass;          /* from SMTP_USER / SMTP_PASS only */
	int use_ssl;                /* CURLUSESSL_* */
	/* file */
	char *path;

	pthread_t thread;
	int thread_started;
	void *curl;                 /* CURL *, owned by the thread */
	int64_t retry_after_ms;     /* the peer's Retry-After (429/503), thread only */

	pthread_mutex_t mu;         /* guards everything below */
	pthread_cond_t cv;
	struct entry *head, *tail;
	size_t queued;
	size_t unpersisted;         /* entries in memory only (e->text != NULL) */
	int64_t persist_next_try;   /* monotonic ms of the next outbox write attempt */
	int persist_error;          /* last outbox write error (-errno), 0 when fine */
	uint64_t sent, failed, throttled, deduped, accepted;
	char last_error[ALERTING_ERRLEN];
	struct dedup dedup;
	struct tbucket *buckets;
	char track_id[33];
	enum track_state track;
	char track_error[ALERTING_ERRLEN];
};

struct alerting {
	const struct rollout_host *host;
	struct channel **chans;
	size_t nchans;
	char *outbox_dir;
	int64_t dedup_window_ms;
	long long throttle_limit;   /* 0 = no throttling */
	int64_t throttle_window_ms;
	int64_t retry_initial_ms, retry_max_ms;
	int retry_jitter;
	int64_t test_timeout_ms;
	int64_t stop_drain_ms;      /* stop(): wait this long for due deliveries (real time) */
	size_t max_queued;
	size_t max_unpersisted;     /* memory-only entries per channel before refusing */
	atomic_long unpersisted;    /* memory-only entries of all channels */
	atomic_int stopping;
	atomic_ulong seq;
	pthread_mutex_t cmd_mu;     /* test/critical wait on channel cvs */
	pthread_mutex_t metric_mu;  /* unpersisted: read and record as one step (before ch->mu) */
};

/* ---- format.c ---- */
const char *format_severity_name(int sev);
int format_severity_parse(const char *s);   /* -1 when unknown */
/* ISO-8601 UTC with milliseconds into BUF (at least 32 bytes). */
void format_iso_time(int64_t ms, char *buf, size_t len);
/* Decimal text of V into BUF (at least 40 bytes). */
char *format_u128(rollout_u128 v, char *buf, size_t len);
/* The canonical alert object (new reference) or NULL on OOM. */
json_t *format_alert_json(const struct rollout_alert *al);
/* Webhook body (malloc'd compact JSON text) in FORMAT for ALERT. */
char *format_webhook_body(const json_t *alert, enum chan_format format);
/* "sha256=<hex>" of HMAC-SHA256(SECRET, BODY) into OUT (at least 72 bytes). */
int format_signature(const unsigned char *secret, size_t secretlen, const char *body,
    size_t len, char *out, size_t outlen);
/* A complete RFC 5322 message with CRLF line ends (malloc'd). */
char *format_email(const json_t *alert, const char *from, char *const *to);
/* One human-readable line (malloc'd, with "\n"). */
char *format_text_line(const json_t *alert);
const char *format_str(const json_t *alert, const char *key); /* "" when absent */

/* ---- deliver.c ---- */
/* Create the channel's outbox directory and load (replay) what it holds. */
int deliver_replay(struct channel *ch);
/* Write ALERT to CH's outbox (fsync): a new entry, or NULL with *RC set.
 * When the disk refuses the file, the entry is still returned, kept in
 * memory only (e->text set) with *RC the disk's -errno: the caller decides
 * whether it may keep it (max_unpersisted) or frees it (deliver_entry_free).
 * Needs no lock, so the delivery thread goes on while the disk syncs. */
struct entry *deliver_write(struct channel *ch, json_t *alert, int *rc);
void deliver_entry_free(struct entry *e);
/* After the thread stopped: write the memory-only entries once more and log
 * each one that still is not on disk (it is lost if the process ends). */
void deliver_flush_unpersisted(struct channel *ch);
/* Record <channel>.unpersisted and unpersisted (all channels); takes a->metric_mu, then
 * ch->mu: call it without holding ch->mu. */
void deliver_unpersisted_metric(struct channel *ch);
/* Queue an entry from deliver_write (counts it when memory-only).  Caller holds ch->mu. */
void deliver_push_locked(struct channel *ch, struct entry *e);
/* Both, with ch->mu held (-EAGAIN when the queue is full). */
int deliver_enqueue_locked(struct channel *ch, json_t *alert);
int deliver_start(struct channel *ch);
void deliver_stop(struct channel *ch);
/*
 * Before a stop: wait up to MS milliseconds (real time) while any channel
 * has an alert due for delivery within that time (not one waiting out a
 * backoff beyond it).  Returns the number of alerts still queued.
 */
size_t deliver_drain(struct alerting *a, int64_t ms);
void deliver_free_queue(struct channel *ch);
/* Throttle summaries that are due (called with ch->mu held). */
void deliver_throttle_summaries_locked(struct channel *ch, int64_t now_ms);

/* ---- alerting.c helpers shared with deliver.c ---- */
void alerting_metric(struct alerting *a, const char *chan, const char *what, double v);
int alerting_throttle_check(struct alerting *a, struct channel *ch, const char *type, int sev,
    int64_t now_ms);
/* Remember KEY as seen at NOW (ms).  Caller holds the channel's lock. */
int alerting_dedup_add(struct dedup *d, const char *key, int64_t now);
void alerting_dedup_free(struct dedup *d);

#endif

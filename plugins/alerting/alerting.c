/*
 * alerting.c — the alerting sink plugin: config, on_alert, commands.
 * See rolloutd-alerting(5) for the configuration and the guarantees.
 *
 * on_alert runs on the runner thread.  For each channel it applies the
 * severity and route filters, the dedup window and the throttle (all
 * skipped for critical rollout events), writes the alert into that
 * channel's outbox with fs_write_atomic and queues it for the channel's
 * delivery thread (deliver.c).  When the disk refuses the outbox file the
 * alert is kept in memory (at most max_unpersisted per channel), delivered
 * anyway and written to the outbox once the disk takes it (deliver.c); it
 * returns an error only for a channel that could not take the alert at all.
 */
#include "alerting.h"

#include <ctype.h>
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

#define DEFAULT_DEDUP_MS (10 * 60 * 1000)
#define DEFAULT_THROTTLE_LIMIT 10
#define DEFAULT_THROTTLE_MS (5 * 60 * 1000)
#define DEFAULT_RETRY_INITIAL_MS 1000
#define DEFAULT_RETRY_MAX_MS (5 * 60 * 1000)
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_TEST_TIMEOUT_MS 5000
#define DEFAULT_STOP_DRAIN_MS 2000
#define DEFAULT_MAX_QUEUED 100000
#define DEFAULT_MAX_UNPERSISTED 10000
#define DEDUP_MAX 65536
#define DEDUP_BUCKETS 4096

#define LOG(a, lvl, ...) (a)->host->log((a)->host->ctx, (lvl), __VA_ARGS__)

/* Types that go out on every channel, unfiltered and unthrottled. */
static const char *const CRITICAL_TYPES[] = { "rollout.rollback", "rollout.trigger",
	"rollout.emergency_rollback", NULL };
/* The same events as the runner's notifications name them (rollout == 1). */
static const char *const CRITICAL_NOTIFY_TYPES[] = { "rollback", "emergency_rollback", "trigger",
	NULL };

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void
curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void
alerting_metric(struct alerting *a, const char *chan, const char *what, double v)
{
	char name[128];

	if (chan != NULL) {
		snprintf(name, sizeof(name), "%s.%s", chan, what);
		a->host->metric(a->host->ctx, name, v);
	}
	if (strcmp(what, "queued") != 0)
		a->host->metric(a->host->ctx, what, v);
}

/* ---- dedup: keys seen within the window --------------------------------- */

static uint64_t
hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void
dedup_unlink_oldest(struct dedup *d)
{
	struct dedup_ent *e = d->fhead, **pp;

	d->fhead = e->fnext;
	if (d->fhead == NULL)
		d->ftail = NULL;
	for (pp = &d->tab[e->hash % d->nbuckets]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	d->count--;
	free(e);
}

static void
dedup_expire(struct dedup *d, int64_t now, int64_t window)
{
	/* entries were added in time order, so the oldest are at the head */
	while (d->fhead != NULL && (d->fhead->at + window <= now || d->fhead->at > now + window))
		dedup_unlink_oldest(d);
}

static int
dedup_contains(struct dedup *d, const char *key)
{
	uint64_t h = hash_key(key);
	struct dedup_ent *e;

	if (d->tab == NULL)
		return 0;
	for (e = d->tab[h % d->nbuckets]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return 1;
	return 0;
}

int
alerting_dedup_add(struct dedup *d, const char *key, int64_t now)
{
	size_t n = strlen(key);
	struct dedup_ent *e;

	if (d->tab == NULL) {
		if ((d->tab = calloc(DEDUP_BUCKETS, sizeof(*d->tab))) == NULL)
			return -ENOMEM;
		d->nbuckets = DEDUP_BUCKETS;
	}
	if (d->count >= DEDUP_MAX)
		dedup_unlink_oldest(d);
	if ((e = malloc(sizeof(*e) + n + 1)) == NULL)
		return -ENOMEM;
	memcpy(e->key, key, n + 1);
	e->hash = hash_key(key);
	e->at = now;
	e->fnext = NULL;
	e->hnext = d->tab[e->hash % d->nbuckets];
	d->tab[e->hash % d->nbuckets] = e;
	if (d->ftail)
		d->ftail->fnext = e;
	else
		d->fhead = e;
	d->ftail = e;
	d->count++;
	return 0;
}

void
alerting_dedup_free(struct dedup *d)
{
	while (d->fhead != NULL)
		dedup_unlink_oldest(d);
	free(d->tab);
	d->tab = NULL;
}

/* ---- throttle: at most LIMIT per type+severity within the window -------- */

int
alerting_throttle_check(struct alerting *a, struct channel *ch, const char *type, int sev,
    int64_t now)
{
	struct tbucket *b;
	size_t cap = (size_t)a->throttle_limit;

	if (a->throttle_limit <= 0)
		return 0;
	for (b = ch->buckets; b != NULL; b = b->next)
		if (b->severity == sev && strcmp(b->type, type) == 0)
			break;
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return 0;
		b->type = strdup(type);
		b->ring = calloc(cap, sizeof(*b->ring));
		if (b->type == NULL || b->ring == NULL) {
			free(b->type);
			free(b->ring);
			free(b);
			return 0; /* fail open: an alert is worth more than a throttle */
		}
		b->severity = sev;
		b->next = ch->buckets;
		ch->buckets = b;
	}
	while (b->count > 0 && b->ring[b->start] + a->throttle_window_ms <= now) {
		b->start = (b->start + 1) % cap;
		b->count--;
	}
	if (b->count < cap) {
		b->ring[(b->start + b->count) % cap] = now;
		b->count++;
		return 0;
	}
	if (b->suppressed == 0)
		b->first_suppressed_ms = now;
	b->last_suppressed_ms = now;
	b->suppressed++;
	return 1;
}

static void
buckets_free(struct tbucket *b)
{
	while (b != NULL) {
		struct tbucket *next = b->next;

		free(b->type);
		free(b->ring);
		free(b);
		b = next;
	}
}

/* ---- config ---------------------------------------------------------------- */

struct parse {
	struct alerting *a;
	const struct rollout_host *h;
};

/* The host getters act on the root when NODE is NULL; an empty channel
 * block (`- stdout:`) has no map, so it must read as "all defaults". */
static int
get_string(struct parse *p, const struct rollout_cfg *node, const char *key, const char *deflt,
    const char **out)
{
	if (node == NULL) {
		*out = deflt;
		return -ENOENT;
	}
	return p->h->cfg_string(p->h->ctx, node, key, deflt, out);
}

static int
get_duration(struct parse *p, const struct rollout_cfg *node, const char *key, int64_t deflt,
    int64_t *out)
{
	if (node == NULL) {
		*out = deflt;
		return -ENOENT;
	}
	return p->h->cfg_duration_ms(p->h->ctx, node, key, deflt, out);
}

static const struct rollout_cfg *
get_node(struct parse *p, const struct rollout_cfg *node, const char *key)
{
	return node ? p->h->cfg_get(p->h->ctx, node, key) : NULL;
}

/* Reject keys not in ALLOWED (a typo must not silently mean "default"). */
static int
check_keys(struct parse *p, const struct rollout_cfg *node, const char *what,
    const char *const *allowed)
{
	size_t i, n;

	if (node == NULL || p->h->cfg_kind(p->h->ctx, node) != ROLLOUT_CFG_MAP)
		return 0;
	n = p->h->cfg_len(p->h->ctx, node);
	for (i = 0; i < n; i++) {
		const char *k = p->h->cfg_key_at(p->h->ctx, node, i);
		char list[256] = "";
		size_t j;

		for (j = 0; allowed[j] != NULL; j++)
			if (k != NULL && strcmp(k, allowed[j]) == 0)
				break;
		if (allowed[j] != NULL)
			continue;
		for (j = 0; allowed[j] != NULL; j++) {
			strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, allowed[j], sizeof(list) - strlen(list) - 1);
		}
		if (k != NULL && (strcmp(k, "user") == 0 || strcmp(k, "pass") == 0 ||
		    strcmp(k, "password") == 0 || strcmp(k, "secret") == 0))
			p->h->cfg_error(p->h->ctx, p->h->cfg_at(p->h->ctx, node, i),
			    "%s: \"%s\": secrets come only from the environment (SMTP_USER,"
			    " SMTP_PASS, secret_env)", what, k);
		else
			p->h->cfg_error(p->h->ctx, p->h->cfg_at(p->h->ctx, node, i),
			    "%s: unknown key \"%s\" (expected one of: %s)", what, k ? k : "?", list);
		return -EINVAL;
	}
	return 0;
}

static int
get_severity(struct parse *p, const struct rollout_cfg *node, const char *what, int *out)
{
	const char *s;
	int rc = get_string(p, node, "min_severity", "info", &s);

	if (rc == -EINVAL)
		return rc;
	if ((*out = format_severity_parse(s)) < 0) {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "min_severity"),
		    "%s: min_severity: expected info, warning or critical, got \"%s\"", what, s);
		return -EINVAL;
	}
	return 0;
}

static int
get_route(struct parse *p, const struct rollout_cfg *node, const char *what,
    enum chan_route *out)
{
	const char *s;
	int rc = get_string(p, node, "route", "all", &s);

	if (rc == -EINVAL)
		return rc;
	if (strcmp(s, "all") == 0)
		*out = ROUTE_ALL;
	else if (strcmp(s, "whale") == 0)
		*out = ROUTE_WHALE;
	else if (strcmp(s, "rollout") == 0)
		*out = ROUTE_ROLLOUT;
	else {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "route"),
		    "%s: route: expected all, whale or rollout, got \"%s\"", what, s);
		return -EINVAL;
	}
	return 0;
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* PATH relative to the data directory unless absolute (malloc'd). */
static char *
data_path(struct alerting *a, const char *path)
{
	char *s;

	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&s, "%s/%s", a->host->data_dir ? a->host->data_dir : ".", path) < 0)
		return NULL;
	return s;
}

/* "a@x, b@y" or a sequence of addresses into a NULL-terminated array. */
static int
add_recipients(char ***to, size_t *n, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;

	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",;", &save); tok != NULL; tok = strtok_r(NULL, ",;", &save)) {
		char **nt, *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if ((nt = realloc(*to, (*n + 2) * sizeof(*nt))) == NULL) {
			free(copy);
			return -ENOMEM;
		}
		*to = nt;
		if (((*to)[*n] = strdup(tok)) == NULL) {
			free(copy);
			return -ENOMEM;
		}
		(*to)[++*n] = NULL;
	}
	free(copy);
	return 0;
}

static int
valid_address(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0')
		return 0;
	for (; *s; s++)
		if (*s == '<' || *s == '>' || *s == '\r' || *s == '\n' || isspace((unsigned char)*s))
			return 0;
	return 1;
}

/* ca_file: a PEM bundle that must be readable now (not at the first alert). */
static int
get_ca_file(struct parse *p, struct channel *ch, const struct rollout_cfg *node, const char *what)
{
	const char *ca;

	if (get_string(p, node, "ca_file", NULL, &ca) == -EINVAL)
		return -EINVAL;
	if (ca == NULL)
		return 0;
	if (access(ca, R_OK) != 0) {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "ca_file"), "%s: ca_file %s: %s", what,
		    ca, strerror(errno));
		return -EINVAL;
	}
	if ((ch->ca_file = strdup(ca)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
parse_webhook(struct parse *p, struct channel *ch, const struct rollout_cfg *node)
{
	static const char *const keys[] = { "name", "url", "url_env", "format", "secret_env",
		"min_severity", "route", "timeout", "ca_file", NULL };
	const char *url, *url_env, *fmt, *secret_env;
	int rc;

	if ((rc = check_keys(p, node, "webhook", keys)) != 0)
		return rc;
	if (get_string(p, node, "url", NULL, &url) == -EINVAL ||
	    get_string(p, node, "url_env", "WEBHOOK_URL", &url_env) == -EINVAL ||
	    get_string(p, node, "secret_env", NULL, &secret_env) == -EINVAL ||
	    get_duration(p, node, "timeout", DEFAULT_TIMEOUT_MS, &ch->timeout_ms) == -EINVAL)
		return -EINVAL;
	if (url == NULL && (url = env_nonempty(url_env)) == NULL) {
		p->h->cfg_error(p->h->ctx, node, "webhook: no url: set `url:` or the %s"
		    " environment variable", url_env);
		return -EINVAL;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "url") ? get_node(p, node, "url") : node,
		    "webhook: url \"%s\" is not http:// or https://", url);
		return -EINVAL;
	}
	if (get_string(p, node, "format", strstr(url, "hooks.slack.com") ? "slack" : "json",
	    &fmt) == -EINVAL)
		return -EINVAL;
	if (strcmp(fmt, "slack") == 0)
		ch->format = FORMAT_SLACK;
	else if (strcmp(fmt, "json") == 0)
		ch->format = FORMAT_JSON;
	else {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "format"),
		    "webhook: format: expected slack or json, got \"%s\"", fmt);
		return -EINVAL;
	}
	if (ch->timeout_ms <= 0) {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "timeout"),
		    "webhook: timeout must be positive");
		return -EINVAL;
	}
	if (secret_env != NULL) {
		const char *secret = env_nonempty(secret_env);

		if (secret == NULL) {
			p->h->cfg_error(p->h->ctx, get_node(p, node, "secret_env"),
			    "webhook: secret_env: environment variable %s is not set", secret_env);
			return -EINVAL;
		}
		ch->secretlen = strlen(secret);
		if ((ch->secret = malloc(ch->secretlen)) == NULL)
			return -ENOMEM;
		memcpy(ch->secret, secret, ch->secretlen);
	}
	if ((ch->url = strdup(url)) == NULL)
		return -ENOMEM;
	if ((rc = get_ca_file(p, ch, node, "webhook")) != 0)
		return rc;
	if ((rc = get_severity(p, node, "webhook", &ch->min_severity)) != 0)
		return rc;
	return get_route(p, node, "webhook", &ch->route);
}

static int
parse_email(struct parse *p, struct channel *ch, const struct rollout_cfg *node)
{
	static const char *const keys[] = { "name", "url", "from", "to", "starttls",
		"min_severity", "route", "timeout", "ca_file", NULL };
	const char *url, *from, *starttls, *user = env_nonempty("SMTP_USER");
	const struct rollout_cfg *to = get_node(p, node, "to");
	size_t nto = 0, i;
	int rc;

	if ((rc = check_keys(p, node, "email", keys)) != 0)
		return rc;
	if (get_string(p, node, "url", NULL, &url) == -EINVAL ||
	    get_string(p, node, "from", NULL, &from) == -EINVAL ||
	    get_string(p, node, "starttls", "auto", &starttls) == -EINVAL ||
	    get_duration(p, node, "timeout", DEFAULT_TIMEOUT_MS, &ch->timeout_ms) == -EINVAL)
		return -EINVAL;
	if (url != NULL) {
		if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
			p->h->cfg_error(p->h->ctx, get_node(p, node, "url"),
			    "email: url \"%s\" is not smtp:// or smtps://", url);
			return -EINVAL;
		}
		ch->smtp_url = strdup(url);
	} else {
		const char *host = env_nonempty("SMTP_HOST"), *port = env_nonempty("SMTP_PORT");

		if (host == NULL) {
			p->h->cfg_error(p->h->ctx, node, "email: no server: set `url:` or the"
			    " SMTP_HOST environment variable");
			return -EINVAL;
		}
		if (strstr(host, "://") != NULL)
			ch->smtp_url = strdup(host);
		else if (asprintf(&ch->smtp_url, "smtp://%s%s%s", host,
		    port && !strchr(host, ':') ? ":" : "", port && !strchr(host, ':') ? port : "") < 0)
			ch->smtp_url = NULL;
	}
	if (ch->smtp_url == NULL)
		return -ENOMEM;
	if (to != NULL && p->h->cfg_kind(p->h->ctx, to) == ROLLOUT_CFG_SEQ) {
		for (i = 0; i < p->h->cfg_len(p->h->ctx, to); i++) {
			const struct rollout_cfg *it = p->h->cfg_at(p->h->ctx, to, i);
			const char *s = p->h->cfg_scalar(p->h->ctx, it);

			if (s == NULL) {
				p->h->cfg_error(p->h->ctx, it, "email: to: expected an address");
				return -EINVAL;
			}
			if ((rc = add_recipients(&ch->to, &nto, s)) != 0)
				return rc;
		}
	} else if (to != NULL) {
		const char *s = p->h->cfg_scalar(p->h->ctx, to);

		if (s == NULL) {
			p->h->cfg_error(p->h->ctx, to, "email: to: expected an address or a list");
			return -EINVAL;
		}
		if ((rc = add_recipients(&ch->to, &nto, s)) != 0)
			return rc;
	} else if (env_nonempty("ALERT_EMAIL") != NULL) {
		if ((rc = add_recipients(&ch->to, &nto, env_nonempty("ALERT_EMAIL"))) != 0)
			return rc;
	}
	if (nto == 0) {
		p->h->cfg_error(p->h->ctx, to ? to : node, "email: no recipient: set `to:` or the"
		    " ALERT_EMAIL environment variable");
		return -EINVAL;
	}
	for (i = 0; i < nto; i++) {
		if (!valid_address(ch->to[i])) {
			p->h->cfg_error(p->h->ctx, to ? to : node, "email: to: \"%s\" is not an"
			    " address", ch->to[i]);
			return -EINVAL;
		}
	}
	if (from == NULL)
		from = env_nonempty("SMTP_FROM");
	if (from == NULL && user != NULL && strchr(user, '@') != NULL)
		from = user;
	if (from == NULL) {
		char host[128] = "localhost";

		gethostname(host, sizeof(host) - 1);
		if (asprintf(&ch->from, "rolloutd@%s", host) < 0)
			ch->from = NULL;
	} else {
		if (!valid_address(from)) {
			p->h->cfg_error(p->h->ctx, get_node(p, node, "from") ?
			    get_node(p, node, "from") : node, "email: from: \"%s\" is not an address",
			    from);
			return -EINVAL;
		}
		ch->from = strdup(from);
	}
	if (ch->from == NULL)
		return -ENOMEM;
	if (strcmp(starttls, "auto") == 0)
		ch->use_ssl = CURLUSESSL_TRY;
	else if (strcmp(starttls, "always") == 0)
		ch->use_ssl = CURLUSESSL_ALL;
	else if (strcmp(starttls, "never") == 0)
		ch->use_ssl = CURLUSESSL_NONE;
	else {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "starttls"),
		    "email: starttls: expected auto, always or never, got \"%s\"", starttls);
		return -EINVAL;
	}
	if (user != NULL) {
		if ((ch->user = strdup(user)) == NULL)
			return -ENOMEM;
		if (env_nonempty("SMTP_PASS") && (ch->pass = strdup(getenv("SMTP_PASS"))) == NULL)
			return -ENOMEM;
	}
	if ((rc = get_ca_file(p, ch, node, "email")) != 0)
		return rc;
	if ((rc = get_severity(p, node, "email", &ch->min_severity)) != 0)
		return rc;
	return get_route(p, node, "email", &ch->route);
}

static int
parse_file(struct parse *p, struct channel *ch, const struct rollout_cfg *node)
{
	static const char *const keys[] = { "name", "path", "min_severity", "route", NULL };
	const char *path;
	int rc;

	if ((rc = check_keys(p, node, "file", keys)) != 0)
		return rc;
	if (get_string(p, node, "path", "alerts/history.jsonl", &path) == -EINVAL)
		return -EINVAL;
	if ((ch->path = data_path(p->a, path)) == NULL)
		return -ENOMEM;
	if ((rc = get_severity(p, node, "file", &ch->min_severity)) != 0)
		return rc;
	return get_route(p, node, "file", &ch->route);
}

static int
parse_stdout(struct parse *p, struct channel *ch, const struct rollout_cfg *node)
{
	static const char *const keys[] = { "name", "format", "min_severity", "route", NULL };
	const char *fmt;
	int rc;

	if ((rc = check_keys(p, node, "stdout", keys)) != 0)
		return rc;
	if (get_string(p, node, "format", "text", &fmt) == -EINVAL)
		return -EINVAL;
	if (strcmp(fmt, "text") == 0)
		ch->format = FORMAT_TEXT;
	else if (strcmp(fmt, "json") == 0)
		ch->format = FORMAT_JSON;
	else {
		p->h->cfg_error(p->h->ctx, get_node(p, node, "format"),
		    "stdout: format: expected text or json, got \"%s\"", fmt);
		return -EINVAL;
	}
	if ((rc = get_severity(p, node, "stdout", &ch->min_severity)) != 0)
		return rc;
	return get_route(p, node, "stdout", &ch->route);
}

static void
channel_free(struct channel *ch)
{
	size_t i;

	if (ch == NULL)
		return;
	deliver_free_queue(ch);
	alerting_dedup_free(&ch->dedup);
	buckets_free(ch->buckets);
	free(ch->outbox);
	free(ch->url);
	if (ch->secret)
		sodium_memzero(ch->secret, ch->secretlen);
	free(ch->secret);
	free(ch->smtp_url);
	free(ch->from);
	for (i = 0; ch->to && ch->to[i]; i++)
		free(ch->to[i]);
	free(ch->to);
	free(ch->user);
	if (ch->pass)
		sodium_memzero(ch->pass, strlen(ch->pass));
	free(ch->pass);
	free(ch->path);
	free(ch->ca_file);
	pthread_mutex_destroy(&ch->mu);
	pthread_cond_destroy(&ch->cv);
	free(ch);
}

static int
valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) >= 40)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static const char *const KIND_NAMES[] = { "webhook", "email", "file", "stdout" };

/* Add a channel of KIND configured by NODE (a map, or NULL for defaults). */
static int
add_channel(struct parse *p, enum chan_kind kind, const struct rollout_cfg *node,
    const struct rollout_cfg *at)
{
	struct alerting *a = p->a;
	struct channel *ch, **nc;
	pthread_condattr_t ca;
	const char *name;
	size_t i;
	int rc;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return -ENOMEM;
	ch->a = a;
	pthread_mutex_init(&ch->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->cv, &ca);
	pthread_condattr_destroy(&ca);
	ch->kind = kind;
	ch->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (get_string(p, node, "name", NULL, &name) == -EINVAL) {
		rc = -EINVAL;
		goto fail;
	}
	if (name != NULL) {
		if (!valid_name(name)) {
			p->h->cfg_error(p->h->ctx, get_node(p, node, "name"), "%s: name \"%s\": use"
			    " letters, digits, _ and - (at most 39)", KIND_NAMES[kind], name);
			rc = -EINVAL;
			goto fail;
		}
		snprintf(ch->name, sizeof(ch->name), "%s", name);
	} else {
		/* webhook, webhook2, webhook3 ... */
		unsigned n = 1;

		for (;;) {
			if (n == 1)
				snprintf(ch->name, sizeof(ch->name), "%s", KIND_NAMES[kind]);
			else
				snprintf(ch->name, sizeof(ch->name), "%s%u", KIND_NAMES[kind], n);
			for (i = 0; i < a->nchans; i++)
				if (strcmp(a->chans[i]->name, ch->name) == 0)
					break;
			if (i == a->nchans)
				break;
			n++;
		}
	}
	for (i = 0; i < a->nchans; i++) {
		if (strcmp(a->chans[i]->name, ch->name) == 0) {
			p->h->cfg_error(p->h->ctx, at, "channel name \"%s\" is used twice", ch->name);
			rc = -EINVAL;
			goto fail;
		}
	}
	switch (kind) {
	case CHAN_WEBHOOK:
		rc = parse_webhook(p, ch, node);
		break;
	case CHAN_EMAIL:
		rc = parse_email(p, ch, node);
		break;
	case CHAN_FILE:
		rc = parse_file(p, ch, node);
		break;
	default:
		rc = parse_stdout(p, ch, node);
		break;
	}
	if (rc != 0)
		goto fail;
	if (asprintf(&ch->outbox, "%s/%s", a->outbox_dir, ch->name) < 0) {
		ch->outbox = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if ((nc = realloc(a->chans, (a->nchans + 1) * sizeof(*nc))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	a->chans = nc;
	a->chans[a->nchans++] = ch;
	return 0;
fail:
	channel_free(ch);
	return rc;
}

static int
parse_channels(struct parse *p, const struct rollout_cfg *list)
{
	size_t i, n;
	int rc;

	if (p->h->cfg_kind(p->h->ctx, list) != ROLLOUT_CFG_SEQ) {
		p->h->cfg_error(p->h->ctx, list, "channels: expected a list of"
		    " { webhook | email | file | stdout: {...} }");
		return -EINVAL;
	}
	n = p->h->cfg_len(p->h->ctx, list);
	for (i = 0; i < n; i++) {
		const struct rollout_cfg *item = p->h->cfg_at(p->h->ctx, list, i), *body = NULL;
		const char *kname;
		int kind;

		if (p->h->cfg_kind(p->h->ctx, item) == ROLLOUT_CFG_SCALAR) {
			kname = p->h->cfg_scalar(p->h->ctx, item);      /* "- stdout" */
		} else if (p->h->cfg_kind(p->h->ctx, item) == ROLLOUT_CFG_MAP &&
		    p->h->cfg_len(p->h->ctx, item) == 1) {
			kname = p->h->cfg_key_at(p->h->ctx, item, 0);
			body = p->h->cfg_at(p->h->ctx, item, 0);
			if (p->h->cfg_kind(p->h->ctx, body) == ROLLOUT_CFG_SCALAR) {
				const char *s = p->h->cfg_scalar(p->h->ctx, body);

				if (s != NULL && s[0] != '\0' && strcmp(s, "~") != 0 &&
				    strcmp(s, "null") != 0) {
					p->h->cfg_error(p->h->ctx, body, "channels[%zu]: %s: expected a"
					    " map of settings", i, kname ? kname : "?");
					return -EINVAL;
				}
				body = NULL;
			} else if (p->h->cfg_kind(p->h->ctx, body) != ROLLOUT_CFG_MAP) {
				p->h->cfg_error(p->h->ctx, body, "channels[%zu]: %s: expected a map of"
				    " settings", i, kname ? kname : "?");
				return -EINVAL;
			}
		} else {
			p->h->cfg_error(p->h->ctx, item, "channels[%zu]: expected one of webhook:,"
			    " email:, file:, stdout: with its settings", i);
			return -EINVAL;
		}
		for (kind = 0; kind < 4; kind++)
			if (kname != NULL && strcmp(kname, KIND_NAMES[kind]) == 0)
				break;
		if (kind == 4) {
			p->h->cfg_error(p->h->ctx, item, "channels[%zu]: unknown channel \"%s\""
			    " (expected webhook, email, file or stdout)", i, kname ? kname : "?");
			return -EINVAL;
		}
		if ((rc = add_channel(p, (enum chan_kind)kind, body, item)) != 0)
			return rc;
	}
	return 0;
}

/* Without `channels:`: the history file, plus the seed's environment. */
static int
default_channels(struct parse *p)
{
	int rc;

	if ((rc = add_channel(p, CHAN_FILE, NULL, NULL)) != 0)
		return rc;
	if (env_nonempty("WEBHOOK_URL") && (rc = add_channel(p, CHAN_WEBHOOK, NULL, NULL)) != 0)
		return rc;
	if (env_nonempty("SMTP_HOST") && env_nonempty("ALERT_EMAIL") &&
	    (rc = add_channel(p, CHAN_EMAIL, NULL, NULL)) != 0)
		return rc;
	return 0;
}

/* "10 in 5m", or "off". */
static int
parse_throttle(struct parse *p, const struct rollout_cfg *root)
{
	struct alerting *a = p->a;
	const char *s, *q;
	char *end;
	long long n;
	int64_t total = 0;

	a->throttle_limit = DEFAULT_THROTTLE_LIMIT;
	a->throttle_window_ms = DEFAULT_THROTTLE_MS;
	if (get_string(p, root, "throttle", NULL, &s) == -EINVAL)
		return -EINVAL;
	if (s == NULL)
		return 0;
	if (strcmp(s, "off") == 0 || strcmp(s, "none") == 0) {
		a->throttle_limit = 0;
		return 0;
	}
	n = strtoll(s, &end, 10);
	if (end == s || n <= 0 || n > 100000 || strncmp(end, " in ", 4) != 0)
		goto bad;
	/* the window: integer+unit groups, as in duration(5) */
	for (q = end + 4; *q != '\0';) {
		long long v = strtoll(q, &end, 10);
		int64_t unit;

		if (end == q || v < 0)
			goto bad;
		if (strncmp(end, "ms", 2) == 0) {
			unit = 1;
			end += 2;
		} else if (*end == 's') {
			unit = 1000;
			end++;
		} else if (*end == 'm') {
			unit = 60000;
			end++;
		} else if (*end == 'h') {
			unit = 3600000;
			end++;
		} else if (*end == 'd') {
			unit = 86400000;
			end++;
		} else {
			goto bad;
		}
		if (v > 1000000000LL)
			goto bad;
		total += v * unit;
		q = end;
	}
	if (total <= 0)
		goto bad;
	a->throttle_limit = n;
	a->throttle_window_ms = total;
	return 0;
bad:
	p->h->cfg_error(p->h->ctx, get_node(p, root, "throttle"),
	    "throttle: expected \"N in DURATION\" (e.g. \"10 in 5m\") or \"off\", got \"%s\"", s);
	return -EINVAL;
}

static int
parse_config(struct parse *p)
{
	static const char *const keys[] = { "channels", "dedup_window", "throttle", "retry",
		"outbox_dir", "test_timeout", "max_queued", "max_unpersisted", "stop_drain", NULL };
	static const char *const retry_keys[] = { "initial", "max", "jitter", NULL };
	struct alerting *a = p->a;
	const struct rollout_cfg *root = p->h->config, *retry, *channels;
	const char *outbox;
	long long maxq = DEFAULT_MAX_QUEUED, maxu = DEFAULT_MAX_UNPERSISTED;
	int rc;

	if (root != NULL && p->h->cfg_kind(p->h->ctx, root) != ROLLOUT_CFG_MAP) {
		const char *s = p->h->cfg_scalar(p->h->ctx, root);

		if (s == NULL || (s[0] != '\0' && strcmp(s, "~") != 0 && strcmp(s, "null") != 0)) {
			p->h->cfg_error(p->h->ctx, root, "with: expected a map");
			return -EINVAL;
		}
		root = NULL;
	}
	if ((rc = check_keys(p, root, "alerting", keys)) != 0)
		return rc;
	if (get_duration(p, root, "dedup_window", DEFAULT_DEDUP_MS, &a->dedup_window_ms) == -EINVAL ||
	    get_duration(p, root, "test_timeout", DEFAULT_TEST_TIMEOUT_MS,
	    &a->test_timeout_ms) == -EINVAL ||
	    get_duration(p, root, "stop_drain", DEFAULT_STOP_DRAIN_MS, &a->stop_drain_ms) == -EINVAL ||
	    get_string(p, root, "outbox_dir", "alerts/outbox", &outbox) == -EINVAL)
		return -EINVAL;
	if (root != NULL && p->h->cfg_int(p->h->ctx, root, "max_queued", 1, 100000000,
	    DEFAULT_MAX_QUEUED, &maxq) == -EINVAL)
		return -EINVAL;
	a->max_queued = (size_t)maxq;
	if (root != NULL && p->h->cfg_int(p->h->ctx, root, "max_unpersisted", 0, 100000000,
	    DEFAULT_MAX_UNPERSISTED, &maxu) == -EINVAL)
		return -EINVAL;
	a->max_unpersisted = (size_t)maxu;
	if ((rc = parse_throttle(p, root)) != 0)
		return rc;
	retry = get_node(p, root, "retry");
	a->retry_initial_ms = DEFAULT_RETRY_INITIAL_MS;
	a->retry_max_ms = DEFAULT_RETRY_MAX_MS;
	a->retry_jitter = 1;
	if (retry != NULL) {
		if (p->h->cfg_kind(p->h->ctx, retry) != ROLLOUT_CFG_MAP) {
			p->h->cfg_error(p->h->ctx, retry, "retry: expected { initial: 1s, max: 5m,"
			    " jitter: true }");
			return -EINVAL;
		}
		if ((rc = check_keys(p, retry, "retry", retry_keys)) != 0)
			return rc;
		if (get_duration(p, retry, "initial", DEFAULT_RETRY_INITIAL_MS,
		    &a->retry_initial_ms) == -EINVAL ||
		    get_duration(p, retry, "max", DEFAULT_RETRY_MAX_MS, &a->retry_max_ms) == -EINVAL ||
		    p->h->cfg_bool(p->h->ctx, retry, "jitter", 1, &a->retry_jitter) == -EINVAL)
			return -EINVAL;
		if (a->retry_initial_ms <= 0 || a->retry_max_ms < a->retry_initial_ms) {
			p->h->cfg_error(p->h->ctx, retry, "retry: need 0 < initial <= max");
			return -EINVAL;
		}
	}
	if (a->dedup_window_ms < 0 || a->test_timeout_ms < 0 || a->stop_drain_ms < 0) {
		p->h->cfg_error(p->h->ctx, root, "durations must not be negative");
		return -EINVAL;
	}
	if ((a->outbox_dir = data_path(a, outbox)) == NULL)
		return -ENOMEM;
	channels = get_node(p, root, "channels");
	if (channels != NULL)
		return parse_channels(p, channels);
	return default_channels(p);
}

/* Outbox subdirectories of channels that are no longer configured. */
static void
warn_orphans(struct alerting *a)
{
	DIR *d = opendir(a->outbox_dir);
	struct dirent *de;
	size_t i;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		for (i = 0; i < a->nchans; i++)
			if (strcmp(a->chans[i]->name, de->d_name) == 0)
				break;
		if (i == a->nchans)
			LOG(a, ROLLOUT_LOG_WARN, "outbox %s/%s belongs to no configured channel;"
			    " its alerts stay there undelivered", a->outbox_dir, de->d_name);
	}
	closedir(d);
}

static void alerting_destroy(void *self);

static int
alerting_init(const struct rollout_host *host, void **self)
{
	struct alerting *a;
	struct parse p;
	size_t i;
	int rc;

	*self = NULL;
	if (host == NULL || !ROLLOUT_HAS_FIELD(host->size, struct rollout_host, cfg_error))
		return -EINVAL;
	if (sodium_init() < 0) {
		host->log(host->ctx, ROLLOUT_LOG_ERROR, "alerting: libsodium failed to initialise");
		return -EIO;
	}
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok) {
		host->log(host->ctx, ROLLOUT_LOG_ERROR, "alerting: curl_global_init failed");
		return -EIO;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->host = host;
	pthread_mutex_init(&a->cmd_mu, NULL);
	pthread_mutex_init(&a->metric_mu, NULL);
	atomic_init(&a->stopping, 0);
	atomic_init(&a->seq, 0);
	atomic_init(&a->unpersisted, 0);
	p.a = a;
	p.h = host;
	if ((rc = parse_config(&p)) != 0)
		goto fail;
	if (a->nchans == 0) {
		host->cfg_error(host->ctx, host->config, "alerting: no channel configured");
		rc = -EINVAL;
		goto fail;
	}
	for (i = 0; i < a->nchans; i++)
		if ((rc = deliver_replay(a->chans[i])) != 0)
			goto fail;
	warn_orphans(a);
	for (i = 0; i < a->nchans; i++) {
		struct channel *ch = a->chans[i];

		LOG(a, ROLLOUT_LOG_INFO, "channel %s: %s%s%s, min_severity %s, route %s", ch->name,
		    KIND_NAMES[ch->kind], ch->kind == CHAN_WEBHOOK ? " " : ch->kind == CHAN_EMAIL ?
		    " " : ch->kind == CHAN_FILE ? " " : "",
		    ch->kind == CHAN_WEBHOOK ? ch->url : ch->kind == CHAN_EMAIL ? ch->smtp_url :
		    ch->kind == CHAN_FILE ? ch->path : "", format_severity_name(ch->min_severity),
		    ch->route == ROUTE_ALL ? "all" : ch->route == ROUTE_WHALE ? "whale" : "rollout");
	}
	*self = a;
	return 0;
fail:
	alerting_destroy(a);
	return rc;
}

static int
alerting_start(void *self)
{
	struct alerting *a = self;
	size_t i;
	int rc;

	atomic_store(&a->stopping, 0);
	for (i = 0; i < a->nchans; i++) {
		if ((rc = deliver_start(a->chans[i])) != 0) {
			LOG(a, ROLLOUT_LOG_ERROR, "channel %s: cannot start its thread: %s",
			    a->chans[i]->name, strerror(-rc));
			atomic_store(&a->stopping, 1);
			while (i-- > 0)
				deliver_stop(a->chans[i]);
			return rc;
		}
	}
	return 0;
}

static void
alerting_stop(void *self)
{
	struct alerting *a = self;
	size_t i, left;

	/* deliveries due now get stop_drain to finish; the rest stay in the outbox */
	if (!atomic_load(&a->stopping) && (left = deliver_drain(a, a->stop_drain_ms)) > 0)
		LOG(a, ROLLOUT_LOG_INFO, "stopping with %zu alert(s) queued: delivered at the next start",
		    left);
	atomic_store(&a->stopping, 1);
	for (i = 0; i < a->nchans; i++) {
		int was_running = a->chans[i]->thread_started;

		deliver_stop(a->chans[i]);
		if (was_running)
			deliver_flush_unpersisted(a->chans[i]);
	}
}

static void
alerting_destroy(void *self)
{
	struct alerting *a = self;
	size_t i;

	if (a == NULL)
		return;
	alerting_stop(a);
	for (i = 0; i < a->nchans; i++)
		channel_free(a->chans[i]);
	free(a->chans);
	free(a->outbox_dir);
	pthread_mutex_destroy(&a->cmd_mu);
	pthread_mutex_destroy(&a->metric_mu);
	free(a);
}

static int
is_critical_event(const char *type, int rollout)
{
	size_t i;

	for (i = 0; CRITICAL_TYPES[i] != NULL; i++)
		if (strcmp(type, CRITICAL_TYPES[i]) == 0)
			return 1;
	for (i = 0; rollout && CRITICAL_NOTIFY_TYPES[i] != NULL; i++)
		if (strcmp(type, CRITICAL_NOTIFY_TYPES[i]) == 0)
			return 1;
	return 0;
}

/*
 * Accept AL on every channel it is for.  FORCE skips filters, dedup and
 * throttle (test alerts); TRACK marks the alert for the test command.
 */
static int
accept_alert(struct alerting *a, const struct rollout_alert *in, int force, int track,
    char *id_out)
{
	struct rollout_alert al;
	const char *type, *key;
	int64_t now = a->host->now_ms(a->host->ctx);
	int critical, rc_all = 0;
	json_t *j;
	size_t i;

	memset(&al, 0, sizeof(al));
	memcpy(&al, in, in->size < sizeof(al) ? in->size : sizeof(al));
	al.size = sizeof(al);
	al.id[sizeof(al.id) - 1] = '\0';
	if (al.id[0] == '\0') {
		unsigned char rnd[16];

		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(al.id, sizeof(al.id), rnd, sizeof(rnd));
	}
	if (al.time_ms <= 0)
		al.time_ms = now;
	type = al.type ? al.type : "";
	key = al.key && al.key[0] ? al.key : al.id;
	if ((int)al.severity < 0 || al.severity > ROLLOUT_SEV_CRITICAL)
		al.severity = ROLLOUT_SEV_CRITICAL;   /* unknown: err on the loud side */
	critical = force || is_critical_event(type, al.rollout);
	if ((j = format_alert_json(&al)) == NULL)
		return -ENOMEM;
	if (id_out)
		memcpy(id_out, al.id, sizeof(al.id));
	for (i = 0; i < a->nchans; i++) {
		struct channel *ch = a->chans[i];
		struct entry *e;
		size_t depth, held = 0;
		int rc, mem_only = 0, first = 0, back = 0;

		pthread_mutex_lock(&ch->mu);
		if (!critical) {
			if ((int)al.severity < ch->min_severity ||
			    (ch->route == ROUTE_WHALE && al.rollout) ||
			    (ch->route == ROUTE_ROLLOUT && !al.rollout)) {
				pthread_mutex_unlock(&ch->mu);
				continue;
			}
		}
		if (!force && a->dedup_window_ms > 0) {
			dedup_expire(&ch->dedup, now, a->dedup_window_ms);
			if (dedup_contains(&ch->dedup, key)) {
				ch->deduped++;
				pthread_mutex_unlock(&ch->mu);
				continue;
			}
		}
		if (!critical && alerting_throttle_check(a, ch, type, (int)al.severity, now)) {
			ch->throttled++;
			pthread_mutex_unlock(&ch->mu);
			continue;
		}
		if (ch->queued >= a->max_queued) {
			pthread_mutex_unlock(&ch->mu);
			LOG(a, ROLLOUT_LOG_ERROR, "channel %s: %zu alerts queued (max_queued):"
			    " refusing alert %s", ch->name, a->max_queued, al.id);
			rc_all = -EAGAIN;
			continue;
		}
		if (track) {
			memcpy(ch->track_id, al.id, sizeof(ch->track_id));
			ch->track = TRACK_PENDING;
			ch->track_error[0] = '\0';
		}
		pthread_mutex_unlock(&ch->mu);
		/* the fsyncs happen without the lock: delivery goes on meanwhile */
		e = deliver_write(ch, j, &rc);
		pthread_mutex_lock(&ch->mu);
		if (e != NULL && e->text == NULL && ch->persist_error != 0 && ch->unpersisted == 0) {
			ch->persist_error = 0;   /* the disk takes files again, nothing was waiting */
			back = 1;
		}
		if (e != NULL && e->text != NULL) {
			/* not on disk: keep it in memory within the bound, else refuse it */
			first = ch->persist_error == 0;
			ch->persist_error = rc;
			held = ch->unpersisted;
			if (held >= a->max_unpersisted) {
				deliver_entry_free(e);
				e = NULL;
			} else {
				mem_only = 1;
			}
		}
		if (e != NULL) {
			deliver_push_locked(ch, e);
			if (!force && a->dedup_window_ms > 0)
				alerting_dedup_add(&ch->dedup, key, now);
		} else if (track) {
			ch->track = TRACK_FAILED;
			snprintf(ch->track_error, sizeof(ch->track_error), "outbox: %s",
			    strerror(-rc));
		}
		depth = ch->queued;
		pthread_mutex_unlock(&ch->mu);
		if (back)
			LOG(a, ROLLOUT_LOG_INFO, "channel %s: outbox %s writable again", ch->name,
			    ch->outbox);
		if (mem_only && (first || (held + 1) % 100 == 0)) {
			/* the first of a spell, then every 100th: each one is at debug level */
			LOG(a, ROLLOUT_LOG_WARN, "channel %s: outbox %s not writable (%s): alert %s"
			    " kept in memory only and delivered anyway; %zu alert(s) held so (at most"
			    " %zu, max_unpersisted), written to the outbox once the disk takes them",
			    ch->name, ch->outbox, strerror(-rc), al.id, held + 1, a->max_unpersisted);
		} else if (mem_only) {
			LOG(a, ROLLOUT_LOG_DEBUG, "channel %s: alert %s kept in memory only (%zu)",
			    ch->name, al.id, held + 1);
		} else if (rc != 0 && held >= a->max_unpersisted && a->max_unpersisted > 0) {
			LOG(a, ROLLOUT_LOG_ERROR, "channel %s: %zu alerts held in memory only"
			    " (max_unpersisted) while outbox %s cannot be written (%s): refusing"
			    " alert %s", ch->name, held, ch->outbox, strerror(-rc), al.id);
			rc_all = rc;
		} else if (rc != 0) {
			LOG(a, ROLLOUT_LOG_ERROR, "channel %s: cannot queue alert %s in %s: %s",
			    ch->name, al.id, ch->outbox, strerror(-rc));
			rc_all = rc;
		}
		alerting_metric(a, ch->name, "queued", (double)depth);
		if (mem_only || rc != 0)
			deliver_unpersisted_metric(ch);
	}
	json_decref(j);
	return rc_all;
}

static int
alerting_on_alert(void *self, const struct rollout_alert *al)
{
	if (self == NULL || al == NULL ||
	    !ROLLOUT_HAS_FIELD(al->size, struct rollout_alert, details_json))
		return -EINVAL;
	return accept_alert(self, al, 0, 0, NULL);
}

static json_t *
stats_json(struct alerting *a)
{
	json_t *root = json_object(), *chans = json_object();
	uint64_t tot[7] = { 0 };
	size_t i;

	for (i = 0; i < a->nchans; i++) {
		struct channel *ch = a->chans[i];
		json_t *c;

		pthread_mutex_lock(&ch->mu);
		c = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
		    "type", KIND_NAMES[ch->kind],
		    "sent", (json_int_t)ch->sent,
		    "failed", (json_int_t)ch->failed,
		    "queued", (json_int_t)ch->queued,
		    "throttled", (json_int_t)ch->throttled,
		    "deduped", (json_int_t)ch->deduped,
		    "accepted", (json_int_t)ch->accepted,
		    "unpersisted", (json_int_t)ch->unpersisted,
		    "last_error", ch->last_error,
		    "outbox_error", ch->persist_error ? strerror(-ch->persist_error) : "");
		tot[0] += ch->sent;
		tot[1] += ch->failed;
		tot[2] += ch->queued;
		tot[3] += ch->throttled;
		tot[4] += ch->deduped;
		tot[5] += ch->accepted;
		tot[6] += ch->unpersisted;
		pthread_mutex_unlock(&ch->mu);
		json_object_set_new(chans, ch->name, c);
	}
	json_object_set_new(root, "channels", chans);
	json_object_set_new(root, "totals", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "sent", (json_int_t)tot[0], "failed", (json_int_t)tot[1], "queued", (json_int_t)tot[2],
	    "throttled", (json_int_t)tot[3], "deduped", (json_int_t)tot[4],
	    "accepted", (json_int_t)tot[5], "unpersisted", (json_int_t)tot[6]));
	return root;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* test / critical: one alert through every channel, wait for each result. */
static json_t *
run_test(struct alerting *a, int critical, const char *arg)
{
	struct rollout_alert al;
	char id[33], title[256], msg[512], host[128] = "localhost";
	int64_t deadline;
	json_t *root, *chans;
	size_t i;
	int all_ok = 1, rc;

	gethostname(host, sizeof(host) - 1);
	memset(&al, 0, sizeof(al));
	al.size = sizeof(al);
	al.key = "";
	al.type = critical ? "test.critical" : "test";
	al.severity = critical ? ROLLOUT_SEV_CRITICAL : ROLLOUT_SEV_INFO;
	al.rollout = 1;
	snprintf(title, sizeof(title), "%s from rolloutd on %s",
	    critical ? "Critical test alert" : "Test alert", host);
	snprintf(msg, sizeof(msg), "%s", arg && arg[0] ? arg : critical ?
	    "This is a critical test alert (rolloutctl alerts critical). No action is needed." :
	    "This is a test alert (rolloutctl alerts test). No action is needed.");
	al.title = title;
	al.message = msg;
	al.time_ms = a->host->now_ms(a->host->ctx);
	al.account = al.label = al.amount_tokens = "";
	al.symbol = a->host->symbol ? a->host->symbol : "";
	al.system = "rollout";
	al.details_json = "{}";
	pthread_mutex_lock(&a->cmd_mu);
	rc = accept_alert(a, &al, 1, 1, id);
	/* the deadline is on the wall clock: under --simulate now_ms is virtual */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + a->test_timeout_ms;
	}
	/* poll: the channels answer on their own threads */
	for (;;) {
		int pending = 0;
		struct timespec ts;

		for (i = 0; i < a->nchans; i++) {
			pthread_mutex_lock(&a->chans[i]->mu);
			pending += a->chans[i]->track == TRACK_PENDING;
			pthread_mutex_unlock(&a->chans[i]->mu);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		if (pending == 0 || (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= deadline)
			break;
		sleep_ms(10);
	}
	root = json_pack("{s:s, s:s, s:s}", "id", id, "type", al.type,
	    "severity", format_severity_name((int)al.severity));
	chans = json_object();
	for (i = 0; i < a->nchans; i++) {
		struct channel *ch = a->chans[i];
		const char *res;

		pthread_mutex_lock(&ch->mu);
		res = ch->track == TRACK_SENT ? "sent" : ch->track == TRACK_FAILED ? "failed" :
		    "queued";
		if (ch->track != TRACK_SENT)
			all_ok = 0;
		json_object_set_new(chans, ch->name, json_pack("{s:s, s:s, s:s}", "type",
		    KIND_NAMES[ch->kind], "result", res, "error",
		    ch->track == TRACK_FAILED ? ch->track_error : ""));
		ch->track = TRACK_NONE;
		pthread_mutex_unlock(&ch->mu);
	}
	pthread_mutex_unlock(&a->cmd_mu);
	json_object_set_new(root, "channels", chans);
	json_object_set_new(root, "ok", json_boolean(all_ok && rc == 0));
	return root;
}

static int
alerting_command(void *self, const char *cmd, const char *arg, char *reply, size_t replylen)
{
	struct alerting *a = self;
	json_t *j = NULL;
	char *text;
	int rc = 0;

	if (reply != NULL && replylen > 0)
		reply[0] = '\0';
	if (strcmp(cmd, "stats") == 0)
		j = stats_json(a);
	else if (strcmp(cmd, "test") == 0)
		j = run_test(a, 0, arg);
	else if (strcmp(cmd, "critical") == 0)
		j = run_test(a, 1, arg);
	else
		return -ENOTSUP;
	if (j == NULL)
		return -ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return -ENOMEM;
	if (reply == NULL || strlen(text) + 1 > replylen)
		rc = -ENOSPC;
	else
		memcpy(reply, text, strlen(text) + 1);
	free(text);
	return rc;
}

static const struct rollout_plugin alerting_plugin = {
	.magic = ROLLOUT_PLUGIN_MAGIC,
	.abi = ROLLOUT_PLUGIN_ABI,
	.size = sizeof(struct rollout_plugin),
	.name = ALERTING_NAME,
	.version = "1.0",
	.description = "alert sink: webhook (Slack/JSON, HMAC), SMTP, file, stdout; durable outbox",
	.init = alerting_init,
	.start = alerting_start,
	.stop = alerting_stop,
	.destroy = alerting_destroy,
	.command = alerting_command,
	.on_alert = alerting_on_alert,
	.on_event = NULL,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &alerting_plugin;
}

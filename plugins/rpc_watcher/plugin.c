/*
 * plugin.c — the rpc_watcher plugin's ABI face: configuration, commands,
 * snapshot events.  The real work happens in client.c on its own thread.
 * See rolloutd-rpc_watcher(5).
 */
#include "watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ss58.h"


int64_t
watcher_now_ms(const struct watcher *w)
{
	return w->host->now_ms(w->host->ctx);
}

static void
conf_free(struct watcher_conf *c)
{
	size_t i;

	for (i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	free(c->accounts);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

static int
conf_add_endpoint(struct watcher_conf *c, const char *url)
{
	char **n = realloc(c->endpoints, (c->nendpoints + 1) * sizeof(*n));

	if (n == NULL)
		return -ENOMEM;
	c->endpoints = n;
	if ((c->endpoints[c->nendpoints] = strdup(url)) == NULL)
		return -ENOMEM;
	c->nendpoints++;
	return 0;
}

static int
conf_check_url(struct watcher *w, const struct rollout_cfg *node, const char *url)
{
	if (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0) {
		w->host->cfg_error(w->host->ctx, node,
		    "endpoints: \"%s\" is not a ws:// or wss:// URL", url);
		return -EINVAL;
	}
	return 0;
}

static int
conf_endpoints(struct watcher *w)
{
	const struct rollout_host *h = w->host;
	const struct rollout_cfg *eps = h->cfg_get(h->ctx, NULL, "endpoints");
	const char *env;
	size_t i;

	if (eps != NULL) {
		enum rollout_cfg_kind k = h->cfg_kind(h->ctx, eps);

		if (k == ROLLOUT_CFG_SCALAR) {
			const char *url = h->cfg_scalar(h->ctx, eps);

			if (conf_check_url(w, eps, url) < 0)
				return -EINVAL;
			return conf_add_endpoint(&w->conf, url);
		}
		if (k != ROLLOUT_CFG_SEQ || h->cfg_len(h->ctx, eps) == 0) {
			h->cfg_error(h->ctx, eps, "endpoints: expected a non-empty list of ws:// or wss:// URLs");
			return -EINVAL;
		}
		for (i = 0; i < h->cfg_len(h->ctx, eps); i++) {
			const struct rollout_cfg *e = h->cfg_at(h->ctx, eps, i);
			const char *url = h->cfg_scalar(h->ctx, e);

			if (url == NULL) {
				h->cfg_error(h->ctx, e, "endpoints[%zu]: expected a URL string", i);
				return -EINVAL;
			}
			if (conf_check_url(w, e, url) < 0)
				return -EINVAL;
			if (conf_add_endpoint(&w->conf, url) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	env = getenv("POLKADOT_RPC_URL");
	if (env != NULL && env[0] != '\0')
		return conf_add_endpoint(&w->conf, env);
	if (h->default_rpc != NULL && h->default_rpc[0] != '\0')
		return conf_add_endpoint(&w->conf, h->default_rpc);
	h->log(h->ctx, ROLLOUT_LOG_ERROR, "rpc_watcher: no endpoint: set with.endpoints, "
	    "POLKADOT_RPC_URL or a chain preset with an RPC URL");
	return -EINVAL;
}

static int
conf_accounts(struct watcher *w)
{
	const struct rollout_host *h = w->host;
	const struct rollout_cfg *accs = h->cfg_get(h->ctx, NULL, "accounts");
	size_t i, n;

	if (accs == NULL)
		return 0;
	if (h->cfg_kind(h->ctx, accs) != ROLLOUT_CFG_SEQ) {
		h->cfg_error(h->ctx, accs, "accounts: expected a list of SS58 addresses");
		return -EINVAL;
	}
	n = h->cfg_len(h->ctx, accs);
	w->conf.accounts = calloc(n ? n : 1, 32);
	if (w->conf.accounts == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct rollout_cfg *e = h->cfg_at(h->ctx, accs, i);
		const char *addr = h->cfg_scalar(h->ctx, e);
		char err[160];
		uint16_t prefix;

		if (addr == NULL) {
			h->cfg_error(h->ctx, e, "accounts[%zu]: expected an SS58 address string", i);
			return -EINVAL;
		}
		if (ss58_decode(addr, w->conf.accounts[w->conf.naccounts], &prefix, err, sizeof(err)) < 0) {
			h->cfg_error(h->ctx, e, "accounts[%zu]: \"%s\": %s", i, addr, err);
			return -EINVAL;
		}
		if (prefix != h->ss58_prefix)
			h->log(h->ctx, ROLLOUT_LOG_WARN, "rpc_watcher: accounts[%zu] %s has SS58 prefix %u, "
			    "chain %s uses %u (watching the same public key)", i, addr, prefix,
			    h->chain != NULL ? h->chain : "?", h->ss58_prefix);
		w->conf.naccounts++;
	}
	return 0;
}

static int
conf_int(struct watcher *w, const char *key, long long min, long long max, long long deflt,
    long long *out)
{
	int rc = w->host->cfg_int(w->host->ctx, NULL, key, min, max, deflt, out);

	return rc == -ENOENT ? 0 : rc;
}

static int
conf_dur(struct watcher *w, const char *key, int64_t deflt, int64_t min, int64_t *out)
{
	int rc = w->host->cfg_duration_ms(w->host->ctx, NULL, key, deflt, out);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (*out < min) {
		w->host->cfg_error(w->host->ctx, w->host->cfg_get(w->host->ctx, NULL, key),
		    "%s: must be at least %lld ms", key, (long long)min);
		return -EINVAL;
	}
	return 0;
}

static const char *const known_keys[] = {
	"endpoints", "accounts", "watch_from", "keys_per_subscription", "max_subscriptions",
	"max_request_bytes", "max_message_bytes", "request_timeout", "heartbeat", "backoff_min",
	"backoff_max", "max_gap_blocks", "max_inflight", "breaker_window", "breaker_min_calls",
	"breaker_failure_rate", "breaker_wait", "ca_file", NULL,
};

static int
conf_parse(struct watcher *w)
{
	const struct rollout_host *h = w->host;
	struct watcher_conf *c = &w->conf;
	const char *from = NULL;
	long long v;
	size_t i, j;
	int rc;

	if (h->config != NULL && h->cfg_kind(h->ctx, h->config) == ROLLOUT_CFG_MAP) {
		for (i = 0; i < h->cfg_len(h->ctx, h->config); i++) {
			const char *k = h->cfg_key_at(h->ctx, h->config, i);

			for (j = 0; known_keys[j] != NULL; j++)
				if (strcmp(known_keys[j], k) == 0)
					break;
			if (known_keys[j] == NULL) {
				h->cfg_error(h->ctx, h->cfg_at(h->ctx, h->config, i),
				    "unknown key \"%s\" for rpc_watcher", k);
				return -EINVAL;
			}
		}
	} else if (h->config != NULL && h->cfg_kind(h->ctx, h->config) != ROLLOUT_CFG_NONE) {
		h->cfg_error(h->ctx, h->config, "with: expected a map");
		return -EINVAL;
	}
	if ((rc = conf_endpoints(w)) < 0 || (rc = conf_accounts(w)) < 0)
		return rc;
	rc = h->cfg_string(h->ctx, NULL, "watch_from", "baseline", &from);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	snprintf(c->watch_from, sizeof(c->watch_from), "%s", from != NULL ? from : "baseline");
	{
		const char *ca = NULL;

		rc = h->cfg_string(h->ctx, NULL, "ca_file", NULL, &ca);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (ca != NULL) {
			if (access(ca, R_OK) != 0) {
				h->cfg_error(h->ctx, h->cfg_get(h->ctx, NULL, "ca_file"),
				    "ca_file: %s: %s", ca, strerror(errno));
				return -EINVAL;
			}
			if ((c->ca_file = strdup(ca)) == NULL)
				return -ENOMEM;
		}
	}

	v = 1000;
	if ((rc = conf_int(w, "keys_per_subscription", 1, 100000, 1000, &v)) < 0)
		return rc;
	c->keys_per_subscription = (unsigned)v;
	v = 1024;
	if ((rc = conf_int(w, "max_subscriptions", 3, 1000000, 1024, &v)) < 0)
		return rc;
	c->max_subscriptions = (unsigned)v;
	v = 15 * 1024 * 1024;
	if ((rc = conf_int(w, "max_request_bytes", 4096, 1LL << 31, 15 * 1024 * 1024, &v)) < 0)
		return rc;
	c->max_request_bytes = (size_t)v;
	v = 16 * 1024 * 1024;
	if ((rc = conf_int(w, "max_message_bytes", 4096, 1LL << 31, 16 * 1024 * 1024, &v)) < 0)
		return rc;
	c->max_message_bytes = (size_t)v;
	v = 300;
	if ((rc = conf_int(w, "max_gap_blocks", 0, 100000, 300, &v)) < 0)
		return rc;
	c->max_gap_blocks = (unsigned)v;
	v = 32;
	if ((rc = conf_int(w, "max_inflight", 1, 4096, 32, &v)) < 0)
		return rc;
	c->max_inflight = (unsigned)v;
	v = 10;
	if ((rc = conf_int(w, "breaker_window", 1, 64, 10, &v)) < 0)
		return rc;
	c->breaker.window = (unsigned)v;
	v = 3;
	if ((rc = conf_int(w, "breaker_min_calls", 1, 64, 3, &v)) < 0)
		return rc;
	c->breaker.min_calls = (unsigned)v;
	v = 50;
	if ((rc = conf_int(w, "breaker_failure_rate", 1, 100, 50, &v)) < 0)
		return rc;
	c->breaker.failure_rate = (unsigned)v;
	c->request_timeout_ms = 10000;
	c->heartbeat_ms = 15000;
	c->backoff_min_ms = 250;
	c->backoff_max_ms = 30000;
	c->breaker.wait_ms = 30000;
	if ((rc = conf_dur(w, "request_timeout", 10000, 10, &c->request_timeout_ms)) < 0 ||
	    (rc = conf_dur(w, "heartbeat", 15000, 10, &c->heartbeat_ms)) < 0 ||
	    (rc = conf_dur(w, "backoff_min", 250, 1, &c->backoff_min_ms)) < 0 ||
	    (rc = conf_dur(w, "backoff_max", 30000, 1, &c->backoff_max_ms)) < 0 ||
	    (rc = conf_dur(w, "breaker_wait", 30000, 1, &c->breaker.wait_ms)) < 0)
		return rc;
	if (c->backoff_max_ms < c->backoff_min_ms)
		c->backoff_max_ms = c->backoff_min_ms;
	return 0;
}

static int
rw_init(const struct rollout_host *host, void **self)
{
	struct watcher *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return -ENOMEM;
	w->host = host;
	pthread_mutex_init(&w->lock, NULL);
	if ((rc = conf_parse(w)) < 0)
		goto fail;
	if ((rc = client_create(w)) < 0)
		goto fail;
	snprintf(w->stats.endpoint, sizeof(w->stats.endpoint), "%s", w->conf.endpoints[0]);
	w->stats.setup_ms = -1;
	*self = w;
	return 0;
fail:
	conf_free(&w->conf);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return rc;
}

static int
rw_start(void *self)
{
	return client_start(self);
}

static void
rw_stop(void *self)
{
	client_stop(self);
}

static void
rw_destroy(void *self)
{
	struct watcher *w = self;

	if (w == NULL)
		return;
	client_stop(w);
	client_destroy(w);
	free(w->inbox.snapshot);
	free(w->inbox.add);
	free(w->inbox.remove);
	conf_free(&w->conf);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int
inbox_push(uint8_t (**arr)[32], size_t *n, const uint8_t pk[32])
{
	uint8_t (*a)[32] = realloc(*arr, (*n + 1) * 32);

	if (a == NULL)
		return -ENOMEM;
	memcpy(a[*n], pk, 32);
	*arr = a;
	(*n)++;
	return 0;
}

static int
rw_stats_json(struct watcher *w, char *reply, size_t replylen)
{
	struct watcher_stats s;
	int n;

	pthread_mutex_lock(&w->lock);
	s = w->stats;
	pthread_mutex_unlock(&w->lock);
	n = snprintf(reply, replylen,
	    "{\"connected\":%s,\"endpoint\":\"%s\",\"best_block\":%llu,\"finalized_block\":%llu,"
	    "\"synced_block\":%llu,\"watched\":%lu,\"extra\":%lu,\"subscriptions\":%lu,"
	    "\"pending_subscriptions\":%lu,\"keys_per_subscription\":%lu,\"subscription_limit\":%lu,"
	    "\"requests\":%lu,\"errors\":%lu,\"reconnects\":%lu,\"notifications\":%lu,"
	    "\"late_notifications\":%lu,"
	    "\"changes\":%lu,\"baselines\":%lu,\"stale\":%lu,\"gap_blocks\":%lu,\"setup_ms\":%lld,"
	    "\"breakers\":{%s}}",
	    s.connected ? "true" : "false", s.endpoint, (unsigned long long)s.best,
	    (unsigned long long)s.finalized, (unsigned long long)s.synced, s.watched, s.extra,
	    s.subscriptions, s.pending_subscriptions, s.keys_per_subscription, s.subscription_limit,
	    s.requests, s.errors, s.reconnects, s.notifications, s.late_notifications, s.changes, s.baselines, s.stale,
	    s.gap_blocks, (long long)s.setup_ms, s.breakers);
	return n >= 0 && (size_t)n < replylen ? 0 : -ENOSPC;
}

static int
rw_command(void *self, const char *cmd, const char *arg, char *reply, size_t replylen)
{
	struct watcher *w = self;

	if (strcmp(cmd, "stats") == 0)
		return rw_stats_json(w, reply, replylen);
	if (strcmp(cmd, "chaos.disconnect") == 0) {
		pthread_mutex_lock(&w->lock);
		w->inbox.disconnect = 1;
		pthread_mutex_unlock(&w->lock);
		client_wake(w);
		snprintf(reply, replylen, "{\"ok\":true,\"action\":\"disconnect\"}");
		return 0;
	}
	if (strcmp(cmd, "watch.extra") == 0) {
		char *end = NULL;
		unsigned long n = arg != NULL ? strtoul(arg, &end, 10) : 0;

		if (arg == NULL || end == arg || *end != '\0' || n == 0 || n > 10000000) {
			snprintf(reply, replylen, "{\"error\":\"watch.extra: expected a count 1..10000000\"}");
			return -EINVAL;
		}
		pthread_mutex_lock(&w->lock);
		w->inbox.extra += n;
		pthread_mutex_unlock(&w->lock);
		client_wake(w);
		snprintf(reply, replylen, "{\"ok\":true,\"extra\":%lu}", n);
		return 0;
	}
	if (strcmp(cmd, "watch.add") == 0 || strcmp(cmd, "watch.remove") == 0) {
		uint8_t pk[32];
		char err[160];
		int rc;

		if (arg == NULL || ss58_decode(arg, pk, NULL, err, sizeof(err)) < 0) {
			snprintf(reply, replylen, "{\"error\":\"%s: %s\"}", cmd,
			    arg == NULL ? "expected an SS58 address" : err);
			return -EINVAL;
		}
		pthread_mutex_lock(&w->lock);
		if (cmd[6] == 'a')
			rc = inbox_push(&w->inbox.add, &w->inbox.nadd, pk);
		else
			rc = inbox_push(&w->inbox.remove, &w->inbox.nremove, pk);
		pthread_mutex_unlock(&w->lock);
		if (rc < 0)
			return rc;
		client_wake(w);
		snprintf(reply, replylen, "{\"ok\":true}");
		return 0;
	}
	snprintf(reply, replylen, "{\"error\":\"unknown command %s; try stats, chaos.disconnect, "
	    "watch.extra N, watch.add ADDR, watch.remove ADDR\"}", cmd);
	return -ENOTSUP;
}

static void
rw_on_event(void *self, const char *from, const struct rollout_event *ev)
{
	struct watcher *w = self;
	uint8_t (*set)[32];
	size_t i;

	if (ev == NULL || from == NULL || ev->kind != ROLLOUT_EV_SNAPSHOT ||
	    w->conf.watch_from[0] == '\0' || strcmp(from, w->conf.watch_from) != 0)
		return;
	set = malloc((ev->u.snapshot.count ? ev->u.snapshot.count : 1) * 32);
	if (set == NULL) {
		w->host->log(w->host->ctx, ROLLOUT_LOG_ERROR,
		    "rpc_watcher: out of memory copying a snapshot of %zu accounts", ev->u.snapshot.count);
		return;
	}
	for (i = 0; i < ev->u.snapshot.count; i++)
		memcpy(set[i], ev->u.snapshot.entries[i].pubkey, 32);
	pthread_mutex_lock(&w->lock);
	free(w->inbox.snapshot);
	w->inbox.snapshot = set;
	w->inbox.nsnapshot = ev->u.snapshot.count;
	w->inbox.snapshot_new = 1;
	pthread_mutex_unlock(&w->lock);
	client_wake(w);
}

static const struct rollout_plugin rpc_watcher_plugin = {
	.magic = ROLLOUT_PLUGIN_MAGIC,
	.abi = ROLLOUT_PLUGIN_ABI,
	.size = sizeof(struct rollout_plugin),
	.name = "rpc_watcher",
	.version = "1.0",
	.description = "real-time balances from a Polkadot node over WebSocket JSON-RPC",
	.init = rw_init,
	.start = rw_start,
	.stop = rw_stop,
	.destroy = rw_destroy,
	.command = rw_command,
	.on_alert = NULL,
	.on_event = rw_on_event,
};

ROLLOUT_EXPORT const struct rollout_plugin *
rollout_plugin_entry(void)
{
	return &rpc_watcher_plugin;
}

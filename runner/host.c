/*
 * host.c — struct rollout_host for one plugin instance (host.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "chain.h"
#include "clock.h"
#include "duration.h"
#include "host.h"
#include "log.h"
#include "ynode.h"

#define HOST(ctx) ((struct host *)(ctx))

static const struct ynode *
host_node(struct host *h, const struct rollout_cfg *node)
{
	return node ? (const struct ynode *)(const void *)node
		    : (const struct ynode *)(const void *)h->api.config;
}

/* Report "FILE:LINE:COL: instance: msg" once for the user; keep the first. */
static void
host_vreport(struct host *h, const struct ynode *n, const char *fmt, va_list ap)
{
	char msg[400], line[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n && n->file)
		snprintf(line, sizeof(line), "%s:%d:%d: %s: %s", n->file, n->line, n->col,
		    h->instance, msg);
	else
		snprintf(line, sizeof(line), "%s: %s", h->instance, msg);
	log_msg(LOG_LVL_ERROR, "config", "%s", line);
	if (h->first_error[0] == '\0')
		snprintf(h->first_error, sizeof(h->first_error), "%s", line);
}

static void
host_report(struct host *h, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vreport(h, n, fmt, ap);
	va_end(ap);
}

/* ---- thread-safe calls -------------------------------------------------------- */

static int
host_emit(void *ctx, const struct rollout_event *ev)
{
	struct host *h = HOST(ctx);

	return bus_push_event(h->bus, h->source, clock_now_ms(h->clock), ev);
}

static void
host_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	struct host *h = HOST(ctx);
	struct rollout_event ev;
	char line[1024];
	va_list ap;

	if ((int)lvl < ROLLOUT_LOG_ERROR || lvl > ROLLOUT_LOG_DEBUG)
		lvl = ROLLOUT_LOG_INFO;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg((enum log_level)lvl, h->instance, "%s", line);
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_LOG;
	ev.u.log.level = lvl;
	ev.u.log.line = line;
	(void)bus_push_event(h->bus, h->source, clock_now_ms(h->clock), &ev);
}

static void
host_metric(void *ctx, const char *name, double value)
{
	struct host *h = HOST(ctx);
	char full[160];

	if (name == NULL || *name == '\0')
		return;
	if ((size_t)snprintf(full, sizeof(full), "%s.%s", h->instance, name) >= sizeof(full))
		return;
	(void)bus_push_metric(h->bus, h->source, clock_now_ms(h->clock), full, value);
}

static int64_t
host_now_ms(void *ctx)
{
	return clock_now_ms(HOST(ctx)->clock);
}

/* ---- config accessors ------------------------------------------------------------ */

static enum rollout_cfg_kind
host_cfg_kind(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	if (n == NULL)
		return ROLLOUT_CFG_NONE;
	switch (n->kind) {
	case YNODE_SCALAR: return ROLLOUT_CFG_SCALAR;
	case YNODE_SEQ: return ROLLOUT_CFG_SEQ;
	case YNODE_MAP: return ROLLOUT_CFG_MAP;
	}
	return ROLLOUT_CFG_NONE;
}

static const struct rollout_cfg *
host_cfg_get(void *ctx, const struct rollout_cfg *node, const char *key)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	if (n == NULL || key == NULL)
		return NULL;
	return (const struct rollout_cfg *)(const void *)ynode_get(n, key);
}

static size_t
host_cfg_len(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	return (n && n->kind != YNODE_SCALAR) ? n->len : 0;
}

static const struct rollout_cfg *
host_cfg_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	if (n == NULL || n->kind == YNODE_SCALAR || i >= n->len)
		return NULL;
	return (const struct rollout_cfg *)(const void *)n->items[i];
}

static const char *
host_cfg_key_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	if (n == NULL || n->kind != YNODE_MAP || i >= n->len)
		return NULL;
	return n->keys[i]->scalar;
}

static const char *
host_cfg_scalar(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = host_node(HOST(ctx), node);

	return (n && n->kind == YNODE_SCALAR) ? n->scalar : NULL;
}

/*
 * Find KEY under NODE.  0 with *V set; -ENOENT when absent (also when the
 * parent is absent); -EINVAL when the parent is not a map or V is not a
 * scalar (reported).
 */
static int
host_lookup(struct host *h, const struct rollout_cfg *node, const char *key,
    const struct ynode **v)
{
	const struct ynode *n = host_node(h, node);

	*v = NULL;
	if (n == NULL)
		return -ENOENT;
	if (n->kind != YNODE_MAP) {
		host_report(h, n, "expected a map with key \"%s\", got a %s", key,
		    ynode_kind_name(n->kind));
		return -EINVAL;
	}
	*v = ynode_get(n, key);
	if (*v == NULL)
		return -ENOENT;
	if ((*v)->kind != YNODE_SCALAR) {
		host_report(h, *v, "%s: expected a scalar, got a %s", key,
		    ynode_kind_name((*v)->kind));
		return -EINVAL;
	}
	return 0;
}

static int
host_cfg_string(void *ctx, const struct rollout_cfg *node, const char *key, const char *deflt,
    const char **out)
{
	const struct ynode *v;
	int rc = host_lookup(HOST(ctx), node, key, &v);

	*out = rc == 0 ? v->scalar : deflt;
	return rc;
}

static int
host_cfg_int(void *ctx, const struct rollout_cfg *node, const char *key, long long min,
    long long max, long long deflt, long long *out)
{
	struct host *h = HOST(ctx);
	const struct ynode *v;
	long long x;
	char *end;
	int rc = host_lookup(h, node, key, &v);

	*out = deflt;
	if (rc != 0)
		return rc;
	errno = 0;
	x = strtoll(v->scalar, &end, 10);
	if (v->quoted || v->scalar[0] == '\0' || isspace((unsigned char)v->scalar[0]) ||
	    *end != '\0' || errno == ERANGE) {
		host_report(h, v, "%s: expected an integer, got \"%s\"", key, v->scalar);
		return -EINVAL;
	}
	if (x < min || x > max) {
		host_report(h, v, "%s: %lld is out of range [%lld, %lld]", key, x, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int
host_cfg_bool(void *ctx, const struct rollout_cfg *node, const char *key, int deflt, int *out)
{
	struct host *h = HOST(ctx);
	const struct ynode *v;
	int rc = host_lookup(h, node, key, &v);

	*out = deflt;
	if (rc != 0)
		return rc;
	if (!v->quoted && strcmp(v->scalar, "true") == 0) {
		*out = 1;
	} else if (!v->quoted && strcmp(v->scalar, "false") == 0) {
		*out = 0;
	} else {
		host_report(h, v, "%s: expected true or false, got \"%s\"", key, v->scalar);
		return -EINVAL;
	}
	return 0;
}

static int
host_cfg_duration_ms(void *ctx, const struct rollout_cfg *node, const char *key, int64_t deflt,
    int64_t *out)
{
	struct host *h = HOST(ctx);
	const struct ynode *v;
	char why[160];
	int64_t ms;
	int rc = host_lookup(h, node, key, &v);

	*out = deflt;
	if (rc != 0)
		return rc;
	why[0] = '\0';
	rc = duration_parse(v->scalar, &ms, why, sizeof(why));
	if (rc != 0) {
		host_report(h, v, "%s: expected a duration like 30s, 10m, 1h, got \"%s\"%s%s", key,
		    v->scalar, why[0] ? ": " : "", why);
		return -EINVAL;
	}
	*out = ms;
	return 0;
}

static void
host_cfg_error(void *ctx, const struct rollout_cfg *node, const char *fmt, ...)
{
	struct host *h = HOST(ctx);
	va_list ap;

	va_start(ap, fmt);
	host_vreport(h, host_node(h, node), fmt, ap);
	va_end(ap);
}

void
host_init(struct host *h, const char *instance, const char *data_dir,
    const struct chain_preset *chain, const struct ynode *with, struct bus *bus, int source,
    struct clock *clock)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	snprintf(h->data_dir, sizeof(h->data_dir), "%s", data_dir ? data_dir : ".");
	h->bus = bus;
	h->source = source;
	h->clock = clock;

	h->api.size = sizeof(h->api);
	h->api.abi = ROLLOUT_PLUGIN_ABI;
	h->api.ctx = h;
	h->api.instance = h->instance;
	h->api.data_dir = h->data_dir;
	if (chain) {
		h->api.chain = chain->name;
		h->api.ss58_prefix = chain->ss58_prefix;
		h->api.decimals = chain->decimals;
		h->api.symbol = chain->symbol;
		h->api.default_rpc = chain->rpc;
		h->api.default_subscan = chain->subscan;
	} else {
		h->api.chain = "";
		h->api.symbol = "";
		h->api.default_rpc = "";
		h->api.default_subscan = "";
	}
	/* SUBSCAN_URL overrides the preset's Subscan base URL (a mirror, the simulated chain) */
	if (getenv("SUBSCAN_URL") != NULL && getenv("SUBSCAN_URL")[0] != '\0')
		h->api.default_subscan = getenv("SUBSCAN_URL");
	h->api.config = (const struct rollout_cfg *)(const void *)with;
	h->api.emit = host_emit;
	h->api.log = host_log;
	h->api.metric = host_metric;
	h->api.now_ms = host_now_ms;
	h->api.cfg_kind = host_cfg_kind;
	h->api.cfg_get = host_cfg_get;
	h->api.cfg_len = host_cfg_len;
	h->api.cfg_at = host_cfg_at;
	h->api.cfg_key_at = host_cfg_key_at;
	h->api.cfg_scalar = host_cfg_scalar;
	h->api.cfg_string = host_cfg_string;
	h->api.cfg_int = host_cfg_int;
	h->api.cfg_bool = host_cfg_bool;
	h->api.cfg_duration_ms = host_cfg_duration_ms;
	h->api.cfg_error = host_cfg_error;
}

/*
 * testhost.h — a small rollout_host for loading plugins outside rolloutd:
 * the config accessors run over a ynode tree (the `with:` block), log lines
 * go to stderr and are kept (the last error is readable), metrics are
 * summed per name.  Used by the alertdrv driver and by
 * tests/unit/test_alerting.c (included, everything static).
 */
#ifndef TESTHOST_H
#define TESTHOST_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "duration.h"
#include "rollout/plugin.h"
#include "ynode.h"

#define TH_MAX_METRICS 128

struct th_metric {
	char name[128];
	unsigned long count;
	double sum, last;
};

struct testhost {
	struct rollout_host host;
	struct ynode *root;
	pthread_mutex_t mu;
	int quiet;                  /* do not echo log lines to stderr */
	unsigned nerrors;           /* lines logged at ERROR */
	char last_error[1024];      /* the last cfg_error / ERROR line */
	char log_text[16384];       /* all lines, truncated */
	struct th_metric metrics[TH_MAX_METRICS];
	size_t nmetrics;
	/* every sample of one series, for percentiles (benchmarks) */
	char keep_name[128];
	double *kept;
	size_t nkept, capkept;
};

#define TH(ctx) ((struct testhost *)(ctx))
#define YN(node) ((const struct ynode *)(node))

static void
th_line(struct testhost *t, enum rollout_log_level lvl, const char *line)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	pthread_mutex_lock(&t->mu);
	if (lvl == ROLLOUT_LOG_ERROR) {
		t->nerrors++;
		snprintf(t->last_error, sizeof(t->last_error), "%s", line);
	}
	if (strlen(t->log_text) + strlen(line) + 2 < sizeof(t->log_text)) {
		strcat(t->log_text, line);
		strcat(t->log_text, "\n");
	}
	if (!t->quiet)
		fprintf(stderr, "[%s] %s: %s\n", names[lvl & 3], t->host.instance, line);
	pthread_mutex_unlock(&t->mu);
}

static void __attribute__((format(printf, 3, 4)))
th_log(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	th_line(TH(ctx), lvl, buf);
}

static int
th_emit(void *ctx, const struct rollout_event *ev)
{
	(void)ctx;
	(void)ev;
	return 0;
}

static void
th_metric(void *ctx, const char *name, double value)
{
	struct testhost *t = TH(ctx);
	char full[128];
	size_t i;

	snprintf(full, sizeof(full), "%s.%s", t->host.instance, name);
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->nmetrics; i++)
		if (strcmp(t->metrics[i].name, full) == 0)
			break;
	if (i == t->nmetrics && t->nmetrics < TH_MAX_METRICS) {
		snprintf(t->metrics[i].name, sizeof(t->metrics[i].name), "%s", full);
		t->nmetrics++;
	}
	if (i < TH_MAX_METRICS) {
		t->metrics[i].count++;
		t->metrics[i].sum += value;
		t->metrics[i].last = value;
	}
	if (t->keep_name[0] != '\0' && strcmp(full, t->keep_name) == 0 && t->nkept < 10000000) {
		if (t->nkept == t->capkept) {
			size_t cap = t->capkept ? t->capkept * 2 : 4096;
			double *nk = realloc(t->kept, cap * sizeof(*nk));

			if (nk != NULL) {
				t->kept = nk;
				t->capkept = cap;
			}
		}
		if (t->nkept < t->capkept)
			t->kept[t->nkept++] = value;
	}
	pthread_mutex_unlock(&t->mu);
}

/* Copy of metric NAME ("alerting.delivered"); zeroes when never recorded. */
static struct th_metric
th_metric_get(struct testhost *t, const char *name)
{
	struct th_metric m;
	size_t i;

	memset(&m, 0, sizeof(m));
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->nmetrics; i++)
		if (strcmp(t->metrics[i].name, name) == 0)
			m = t->metrics[i];
	pthread_mutex_unlock(&t->mu);
	return m;
}

static int64_t
th_now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct ynode *
th_node(void *ctx, const struct rollout_cfg *node)
{
	return node ? YN(node) : YN(TH(ctx)->host.config);
}

static void __attribute__((format(printf, 3, 4)))
th_cfg_error(void *ctx, const struct rollout_cfg *node, const char *fmt, ...)
{
	const struct ynode *n = th_node(ctx, node);
	char msg[768], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n != NULL)
		snprintf(line, sizeof(line), "%s:%d:%d: %s: %s", n->file ? n->file : "?", n->line,
		    n->col, TH(ctx)->host.instance, msg);
	else
		snprintf(line, sizeof(line), "%s: %s", TH(ctx)->host.instance, msg);
	th_line(TH(ctx), ROLLOUT_LOG_ERROR, line);
}

static enum rollout_cfg_kind
th_cfg_kind(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = th_node(ctx, node);

	return n == NULL ? ROLLOUT_CFG_NONE : (enum rollout_cfg_kind)n->kind;
}

static const struct rollout_cfg *
th_cfg_get(void *ctx, const struct rollout_cfg *node, const char *key)
{
	return (const struct rollout_cfg *)ynode_get(th_node(ctx, node), key);
}

static size_t
th_cfg_len(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = th_node(ctx, node);

	return n && n->kind != YNODE_SCALAR ? n->len : 0;
}

static const struct rollout_cfg *
th_cfg_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	const struct ynode *n = th_node(ctx, node);

	if (n == NULL || n->kind == YNODE_SCALAR || i >= n->len)
		return NULL;
	return (const struct rollout_cfg *)n->items[i];
}

static const char *
th_cfg_key_at(void *ctx, const struct rollout_cfg *node, size_t i)
{
	const struct ynode *n = th_node(ctx, node);

	if (n == NULL || n->kind != YNODE_MAP || i >= n->len)
		return NULL;
	return n->keys[i]->scalar;
}

static const char *
th_cfg_scalar(void *ctx, const struct rollout_cfg *node)
{
	const struct ynode *n = th_node(ctx, node);

	return n && n->kind == YNODE_SCALAR ? n->scalar : NULL;
}

/* The scalar at KEY: 0, -ENOENT, or -EINVAL (logged) when not a scalar. */
static int
th_scalar_at(void *ctx, const struct rollout_cfg *node, const char *key, const char *want,
    const struct ynode **out)
{
	const struct ynode *v = ynode_get(th_node(ctx, node), key);

	*out = v;
	if (v == NULL)
		return -ENOENT;
	if (v->kind != YNODE_SCALAR) {
		th_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected %s, got a %s", key,
		    want, ynode_kind_name(v->kind));
		return -EINVAL;
	}
	return 0;
}

static int
th_cfg_string(void *ctx, const struct rollout_cfg *node, const char *key, const char *deflt,
    const char **out)
{
	const struct ynode *v;
	int rc = th_scalar_at(ctx, node, key, "a string", &v);

	*out = rc == 0 ? v->scalar : deflt;
	return rc;
}

static int
th_cfg_int(void *ctx, const struct rollout_cfg *node, const char *key, long long min,
    long long max, long long deflt, long long *out)
{
	const struct ynode *v;
	int rc = th_scalar_at(ctx, node, key, "an integer", &v);
	long long x;
	char *end;

	*out = deflt;
	if (rc != 0)
		return rc;
	errno = 0;
	x = strtoll(v->scalar, &end, 10);
	if (errno != 0 || end == v->scalar || *end != '\0' || x < min || x > max) {
		th_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected an integer in"
		    " [%lld, %lld], got \"%s\"", key, min, max, v->scalar);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int
th_cfg_bool(void *ctx, const struct rollout_cfg *node, const char *key, int deflt, int *out)
{
	const struct ynode *v;
	int rc = th_scalar_at(ctx, node, key, "true or false", &v);

	*out = deflt;
	if (rc != 0)
		return rc;
	if (strcasecmp(v->scalar, "true") == 0 || strcasecmp(v->scalar, "yes") == 0)
		*out = 1;
	else if (strcasecmp(v->scalar, "false") == 0 || strcasecmp(v->scalar, "no") == 0)
		*out = 0;
	else {
		th_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: expected true or false,"
		    " got \"%s\"", key, v->scalar);
		return -EINVAL;
	}
	return 0;
}

static int
th_cfg_duration_ms(void *ctx, const struct rollout_cfg *node, const char *key, int64_t deflt,
    int64_t *out)
{
	const struct ynode *v;
	int rc = th_scalar_at(ctx, node, key, "a duration", &v);
	char err[256];

	*out = deflt;
	if (rc != 0)
		return rc;
	if (duration_parse(v->scalar, out, err, sizeof(err)) != 0) {
		*out = deflt;
		th_cfg_error(ctx, (const struct rollout_cfg *)v, "%s: %s", key, err);
		return -EINVAL;
	}
	return 0;
}

/*
 * Set up T for INSTANCE with DATA_DIR and the `with:` block given as YAML
 * text (NULL for none).  0, or -errno with the parse error in t->last_error.
 */
static int
testhost_init(struct testhost *t, const char *instance, const char *data_dir, const char *name,
    const char *yaml)
{
	int rc;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->host.size = sizeof(t->host);
	t->host.abi = ROLLOUT_PLUGIN_ABI;
	t->host.ctx = t;
	t->host.instance = instance;
	t->host.data_dir = data_dir;
	t->host.chain = "polkadot-assethub";
	t->host.ss58_prefix = 0;
	t->host.decimals = 10;
	t->host.symbol = "DOT";
	t->host.default_rpc = "";
	t->host.default_subscan = "";
	t->host.emit = th_emit;
	t->host.log = th_log;
	t->host.metric = th_metric;
	t->host.now_ms = th_now_ms;
	t->host.cfg_kind = th_cfg_kind;
	t->host.cfg_get = th_cfg_get;
	t->host.cfg_len = th_cfg_len;
	t->host.cfg_at = th_cfg_at;
	t->host.cfg_key_at = th_cfg_key_at;
	t->host.cfg_scalar = th_cfg_scalar;
	t->host.cfg_string = th_cfg_string;
	t->host.cfg_int = th_cfg_int;
	t->host.cfg_bool = th_cfg_bool;
	t->host.cfg_duration_ms = th_cfg_duration_ms;
	t->host.cfg_error = th_cfg_error;
	if (yaml != NULL) {
		rc = ynode_load_buffer(name, yaml, strlen(yaml), &t->root, t->last_error,
		    sizeof(t->last_error));
		if (rc != 0 && rc != -ENODATA)
			return rc;
		t->host.config = (const struct rollout_cfg *)t->root;
	}
	return 0;
}

static void
testhost_free(struct testhost *t)
{
	if (t->root)
		ynode_free(t->root);
	t->root = NULL;
	free(t->kept);
	t->kept = NULL;
	t->nkept = t->capkept = 0;
	pthread_mutex_destroy(&t->mu);
}

#endif

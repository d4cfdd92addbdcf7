/*
 * alertdrv — load a sink plugin the way rolloutd does (dlopen, entry
 * symbol, magic/ABI/size checks, init/start) and drive it from stdin.
 * Used by the alerting e2e tests and the benchmark while they cannot
 * depend on the daemon.
 *
 *   alertdrv PLUGIN.so CONFIG.yaml DATADIR [check]
 *
 * CONFIG.yaml is the plugin's `with:` block.  With "check" the plugin is
 * initialised and destroyed (exit 0, or 2 with the error on stderr).
 * Commands on stdin, one per line; each answer is one line on stdout:
 *   alert {json}           -> "ok ID" | "err -ERRNO"
 *                             (keys: id key type severity rollout title message
 *                              time_ms account label amount_planck amount_tokens
 *                              amount_negative symbol block_from block_to system details)
 *   gen N [TYPE [SEVERITY [RATE]]]
 *                          -> N distinct alerts (at most RATE per second when
 *                             given): "accepted N <ms>"
 *   keep NAME              -> keep every sample of metric NAME from now on: "keeping"
 *   quantiles              -> "quantiles COUNT P50 P90 P99 MAX" of the kept samples
 *   cmd NAME [ARG]         -> "reply RC JSON"
 *   wait-idle SECONDS      -> "idle" once nothing is queued, else "busy JSON"
 *   metric NAME            -> "metric NAME COUNT SUM LAST"
 *   sleep MS               -> "slept"
 *   quit                   -> stop, destroy, exit 0
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "testhost.h"

static const struct rollout_plugin *plugin;
static void *self;

static rollout_u128
parse_u128(const char *s)
{
	rollout_u128 v = 0;

	for (; s && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (unsigned)(*s - '0');
	return v;
}

static const char *
jstr(json_t *o, const char *k, const char *deflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : deflt;
}

static int
severity_of(const char *s)
{
	if (strcmp(s, "critical") == 0)
		return ROLLOUT_SEV_CRITICAL;
	if (strcmp(s, "warning") == 0)
		return ROLLOUT_SEV_WARNING;
	return ROLLOUT_SEV_INFO;
}

static void
cmd_alert(struct testhost *t, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	struct rollout_alert al;
	char *details = NULL;
	int rc;

	if (!json_is_object(o)) {
		printf("err bad json: %s\n", jerr.text);
		json_decref(o);
		return;
	}
	memset(&al, 0, sizeof(al));
	al.size = sizeof(al);
	snprintf(al.id, sizeof(al.id), "%s", jstr(o, "id", ""));
	al.key = jstr(o, "key", "");
	al.type = jstr(o, "type", "large_movement");
	al.severity = (enum rollout_severity)severity_of(jstr(o, "severity", "info"));
	al.rollout = json_is_true(json_object_get(o, "rollout"));
	al.title = jstr(o, "title", "");
	al.message = jstr(o, "message", "");
	al.time_ms = json_object_get(o, "time_ms") ?
	    (int64_t)json_integer_value(json_object_get(o, "time_ms")) : th_now_ms(t);
	al.account = jstr(o, "account", "");
	al.label = jstr(o, "label", "");
	al.amount_negative = json_is_true(json_object_get(o, "amount_negative"));
	al.amount_planck = parse_u128(jstr(o, "amount_planck", "0"));
	al.amount_tokens = jstr(o, "amount_tokens", "");
	al.symbol = jstr(o, "symbol", "DOT");
	al.block_from = (uint64_t)json_integer_value(json_object_get(o, "block_from"));
	al.block_to = (uint64_t)json_integer_value(json_object_get(o, "block_to"));
	al.system = jstr(o, "system", "candidate");
	if (json_object_get(o, "details"))
		details = json_dumps(json_object_get(o, "details"), JSON_COMPACT);
	al.details_json = details ? details : "{}";
	rc = plugin->on_alert(self, &al);
	if (rc == 0)
		printf("ok %s\n", al.id);
	else
		printf("err %d\n", rc);
	free(details);
	json_decref(o);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cmd_gen(struct testhost *t, const char *args)
{
	char type[64] = "large_movement", sev[16] = "warning", title[96], key[96];
	unsigned long n = 0, i;
	unsigned tag = (unsigned)getpid();
	int64_t t0 = mono_ms();
	double rate = 0;

	sscanf(args, "%lu %63s %15s %lf", &n, type, sev, &rate);
	for (i = 0; i < n; i++) {
		struct rollout_alert al;
		int rc;

		if (rate > 0) {
			/* pace against the start, so a slow call does not shift the rest */
			int64_t due = t0 + (int64_t)((double)i * 1000.0 / rate);
			int64_t now = mono_ms();

			if (due > now)
				usleep((useconds_t)(due - now) * 1000);
		}
		memset(&al, 0, sizeof(al));
		al.size = sizeof(al);
		/* 32 hex digits: the driver's pid and the index, so runs never collide */
		snprintf(al.id, sizeof(al.id), "%08x%08x%016lx", tag, (unsigned)time(NULL), i);
		snprintf(key, sizeof(key), "gen:%s", al.id);
		snprintf(title, sizeof(title), "generated alert %lu", i);
		al.key = key;
		al.type = type;
		al.severity = (enum rollout_severity)severity_of(sev);
		al.title = title;
		al.message = "generated by alertdrv";
		al.time_ms = th_now_ms(t);
		al.account = al.label = al.amount_tokens = "";
		al.symbol = "DOT";
		al.system = "candidate";
		al.details_json = "{}";
		if ((rc = plugin->on_alert(self, &al)) != 0) {
			printf("err %d at %lu\n", rc, i);
			return;
		}
	}
	printf("accepted %lu %lld\n", n, (long long)(mono_ms() - t0));
}

static int
dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static void
cmd_quantiles(struct testhost *t)
{
	double *v;
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->nkept;
	v = n ? malloc(n * sizeof(*v)) : NULL;
	if (v != NULL)
		memcpy(v, t->kept, n * sizeof(*v));
	pthread_mutex_unlock(&t->mu);
	if (v == NULL) {
		printf("quantiles 0 0 0 0 0\n");
		return;
	}
	qsort(v, n, sizeof(*v), dbl_cmp);
	/* nearest rank */
	printf("quantiles %zu %.6f %.6f %.6f %.6f\n", n, v[(n * 50 + 99) / 100 - 1],
	    v[(n * 90 + 99) / 100 - 1], v[(n * 99 + 99) / 100 - 1], v[n - 1]);
	free(v);
}

static void
cmd_wait_idle(double secs)
{
	int64_t deadline = mono_ms() + (int64_t)(secs * 1000);
	char reply[65536];

	for (;;) {
		json_t *j, *q;
		int rc = plugin->command(self, "stats", NULL, reply, sizeof(reply));

		j = rc == 0 ? json_loads(reply, 0, NULL) : NULL;
		q = json_object_get(json_object_get(j, "totals"), "queued");
		if (q != NULL && json_integer_value(q) == 0) {
			json_decref(j);
			printf("idle\n");
			return;
		}
		json_decref(j);
		if (mono_ms() >= deadline) {
			printf("busy %s\n", reply);
			return;
		}
		usleep(20000);
	}
}

int
main(int argc, char **argv)
{
	struct testhost t;
	rollout_plugin_entry_fn entry;
	char *yaml = NULL, *line = NULL;
	size_t cap = 0;
	void *dl;
	FILE *f;
	long sz;
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: alertdrv PLUGIN.so CONFIG.yaml DATADIR [check]\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((f = fopen(argv[2], "r")) == NULL) {
		fprintf(stderr, "alertdrv: %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	yaml = calloc(1, (size_t)sz + 1);
	if (yaml == NULL || fread(yaml, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "alertdrv: %s: read error\n", argv[2]);
		return 2;
	}
	fclose(f);
	if ((rc = testhost_init(&t, "alerting", argv[3], argv[2], yaml)) != 0) {
		fprintf(stderr, "%s\n", t.last_error);
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "alertdrv: %s\n", dlerror());
		return 2;
	}
	entry = (rollout_plugin_entry_fn)(uintptr_t)dlsym(dl, ROLLOUT_PLUGIN_ENTRY);
	if (entry == NULL || (plugin = entry()) == NULL || plugin->magic != ROLLOUT_PLUGIN_MAGIC ||
	    plugin->abi != ROLLOUT_PLUGIN_ABI || plugin->size < sizeof(struct rollout_plugin)) {
		fprintf(stderr, "alertdrv: %s: not a rolloutd plugin of ABI %u\n", argv[1],
		    ROLLOUT_PLUGIN_ABI);
		return 2;
	}
	if ((rc = plugin->init(&t.host, &self)) != 0) {
		fprintf(stderr, "alertdrv: init failed: %s\n", strerror(-rc));
		return 2;
	}
	if (argc > 4 && strcmp(argv[4], "check") == 0) {
		plugin->destroy(self);
		testhost_free(&t);
		free(yaml);
		dlclose(dl);
		return 0;
	}
	if ((rc = plugin->start(self)) != 0) {
		fprintf(stderr, "alertdrv: start failed: %s\n", strerror(-rc));
		return 2;
	}
	printf("ready\n");
	while (getline(&line, &cap, stdin) > 0) {
		char *nl = strchr(line, '\n'), *arg;

		if (nl)
			*nl = '\0';
		arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = line + strlen(line);
		if (strcmp(line, "alert") == 0) {
			cmd_alert(&t, arg);
		} else if (strcmp(line, "gen") == 0) {
			cmd_gen(&t, arg);
		} else if (strcmp(line, "cmd") == 0) {
			char reply[65536], *carg = strchr(arg, ' ');

			if (carg)
				*carg++ = '\0';
			rc = plugin->command(self, arg, carg, reply, sizeof(reply));
			printf("reply %d %s\n", rc, rc == 0 ? reply : "{}");
		} else if (strcmp(line, "wait-idle") == 0) {
			cmd_wait_idle(atof(arg));
		} else if (strcmp(line, "metric") == 0) {
			struct th_metric m = th_metric_get(&t, arg);

			printf("metric %s %lu %g %g\n", arg, m.count, m.sum, m.last);
		} else if (strcmp(line, "keep") == 0) {
			pthread_mutex_lock(&t.mu);
			snprintf(t.keep_name, sizeof(t.keep_name), "%s", arg);
			t.nkept = 0;
			pthread_mutex_unlock(&t.mu);
			printf("keeping\n");
		} else if (strcmp(line, "quantiles") == 0) {
			cmd_quantiles(&t);
		} else if (strcmp(line, "sleep") == 0) {
			usleep((useconds_t)atoi(arg) * 1000);
			printf("slept\n");
		} else if (strcmp(line, "quit") == 0) {
			break;
		} else if (line[0] != '\0' && line[0] != '#') {
			printf("err unknown command %s\n", line);
		}
	}
	plugin->stop(self);
	plugin->destroy(self);
	testhost_free(&t);
	free(line);
	free(yaml);
	dlclose(dl);
	return 0;
}

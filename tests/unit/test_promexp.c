/*
 * test_promexp.c — the Prometheus exposition: names, labels, counters as
 * cumulative sums, latency histograms, and the whole output accepted by
 * `promtool check metrics` (the strict parser from Debian's prometheus).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "http.h"
#include "metrics.h"
#include "promexp.h"

static const char *const states[] = { "pending", "running", "holding", "gating", "paused",
	"rolling_back", "rolled_back", "aborted", "completed", NULL };

static void
promexp_name__mapping(void **state)
{
	char n[128], s[32];

	(void)state;
	promexp_name("candidate.alert_latency", n, sizeof n, s, sizeof s);
	assert_string_equal(n, "rolloutd_system_alert_latency");
	assert_string_equal(s, "candidate");
	promexp_name("shadow.accuracy", n, sizeof n, s, sizeof s);
	assert_string_equal(n, "rolloutd_shadow_accuracy");
	assert_string_equal(s, "");
	promexp_name("bus.depth-x", n, sizeof n, s, sizeof s);
	assert_string_equal(n, "rolloutd_bus_depth_x");
	assert_true(promexp_is_latency("candidate.alert_latency"));
	assert_true(promexp_is_latency("candidate.notification_lag"));
	assert_true(promexp_is_latency("shadow.lead_time"));
	assert_false(promexp_is_latency("candidate.requests"));
}

static char *
line_of(const char *text, const char *prefix)
{
	static char buf[512];
	const char *p = text;
	size_t n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0) {
			const char *e = strchr(p, '\n');

			snprintf(buf, sizeof buf, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
			return buf;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void
promexp_render__metrics_and_state__promtool_clean(void **state)
{
	struct clock *clk = clock_virtual(1700000000000LL);
	struct metrics *m = NULL;
	struct promexp *p = NULL;
	struct promexp_input in = { 0 };
	struct http_stats hs = { 0 };
	char path[] = "/tmp/test_promexp.XXXXXX", cmd[256], *text, *l;
	size_t len;
	int fd, i, rc;
	FILE *f;

	(void)state;
	assert_int_equal(metrics_create(&m, clk), 0);
	assert_int_equal(promexp_create(&p), 0);
	for (i = 0; i < 10; i++) {
		clock_set(clk, 1700000000000LL + i * 100);
		metrics_record(m, "candidate.requests", 1);
		metrics_record(m, "baseline.requests", 2);
		metrics_record(m, "candidate.alert_latency", 0.02 * (i + 1));   /* 0.02 .. 0.2 */
		metrics_record(m, "shadow.accuracy", 0.9 + i * 0.01);
	}
	promexp_collect(p, m, clock_now_ms(clk));
	/* a second collect does not count the same samples twice */
	promexp_collect(p, m, clock_now_ms(clk));
	clock_set(clk, 1700000005000LL);
	metrics_record(m, "candidate.requests", 1);
	metrics_record(m, "candidate.alert_latency", 7.5);
	promexp_collect(p, m, clock_now_ms(clk));

	in.metrics = m;
	in.status = json_pack("{s:s, s:{s:s, s:i}, s:s, s:i, s:[{s:s, s:f, s:s}, {s:s, s:s}]}",
	    "plan", "test \"plan\"", "phase", "name", "gradual", "index", 2, "state", "holding",
	    "traffic", 15, "gates", "text", "shadow.accuracy >= 0.95", "value", 0.99, "verdict", "pass",
	    "text", "p95(candidate.alert_latency, 1h) < 5s", "verdict", "inconclusive");
	in.state_names = states;
	in.health = json_pack("{s:{s:i, s:i, s:i}, s:{s:{s:b, s:i, s:i}}}", "bus", "depth", 3,
	    "capacity", 65536, "dropped", 0, "plugins", "candidate", "healthy", 1, "errors", 2,
	    "events", 40);
	in.alerts = json_pack("{s:i, s:[{s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:s, s:b}]}",
	    "total", 3, "alerts", "system", "candidate", "severity", "warning", "delivered", 1,
	    "system", "baseline", "severity", "warning", "delivered", 0,
	    "system", "candidate", "severity", "warning", "delivered", 1);
	hs.requests = 4;
	hs.by_class[2] = 3;
	hs.by_class[4] = 1;
	hs.lat_sum = 0.004;
	for (i = 0; i < 10; i++)
		hs.lat_buckets[i] = i < 2 ? 3 : 4;
	in.http = &hs;
	in.flags_traffic = 15;
	in.flags_generation = 7;
	in.uptime_seconds = 12.5;
	in.version = "0.1.0";
	text = promexp_render(p, &in, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);

	assert_non_null(strstr(text, "# TYPE rolloutd_system_requests_total counter\n"));
	l = line_of(text, "rolloutd_system_requests_total{system=\"candidate\"}");
	assert_non_null(l);
	assert_string_equal(l, "rolloutd_system_requests_total{system=\"candidate\"} 11");
	assert_string_equal(line_of(text, "rolloutd_system_requests_total{system=\"baseline\"}"),
	    "rolloutd_system_requests_total{system=\"baseline\"} 20");
	assert_non_null(strstr(text, "# TYPE rolloutd_system_alert_latency_seconds histogram\n"));
	assert_string_equal(line_of(text, "rolloutd_system_alert_latency_seconds_bucket{system=\"candidate\",le=\"0.1\"}"),
	    "rolloutd_system_alert_latency_seconds_bucket{system=\"candidate\",le=\"0.1\"} 5");
	assert_string_equal(line_of(text, "rolloutd_system_alert_latency_seconds_bucket{system=\"candidate\",le=\"+Inf\"}"),
	    "rolloutd_system_alert_latency_seconds_bucket{system=\"candidate\",le=\"+Inf\"} 11");
	assert_string_equal(line_of(text, "rolloutd_system_alert_latency_seconds_count{system=\"candidate\"}"),
	    "rolloutd_system_alert_latency_seconds_count{system=\"candidate\"} 11");
	assert_string_equal(line_of(text, "rolloutd_shadow_accuracy "), "rolloutd_shadow_accuracy 0.99");
	assert_string_equal(line_of(text, "rolloutd_state{state=\"holding\"}"), "rolloutd_state{state=\"holding\"} 1");
	assert_string_equal(line_of(text, "rolloutd_state{state=\"running\"}"), "rolloutd_state{state=\"running\"} 0");
	assert_string_equal(line_of(text, "rolloutd_phase_info"), "rolloutd_phase_info{phase=\"gradual\"} 1");
	assert_string_equal(line_of(text, "rolloutd_phase_index "), "rolloutd_phase_index 2");
	assert_string_equal(line_of(text, "rolloutd_traffic_percent "), "rolloutd_traffic_percent 15");
	assert_non_null(strstr(text, "rolloutd_gate_passing{gate=\"shadow.accuracy >= 0.95\"} 1\n"));
	assert_non_null(strstr(text, "rolloutd_gate_passing{gate=\"p95(candidate.alert_latency, 1h) < 5s\"} -1\n"));
	assert_non_null(strstr(text, "rolloutd_info{version=\"0.1.0\",plan=\"test \\\"plan\\\"\"} 1\n"));
	assert_non_null(strstr(text, "rolloutd_alerts_recent{system=\"candidate\",severity=\"warning\",delivered=\"true\"} 2\n"));
	assert_non_null(strstr(text, "rolloutd_plugin_healthy{instance=\"candidate\"} 1\n"));
	assert_non_null(strstr(text, "rolloutd_queue_depth{queue=\"bus\"} 3\n"));
	assert_non_null(strstr(text, "rolloutd_http_requests_total{code=\"2xx\"} 3\n"));
	assert_non_null(strstr(text, "process_resident_memory_bytes "));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	if (access("/usr/bin/promtool", X_OK) == 0) {
		snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
		rc = system(cmd);
		if (rc != 0)
			fprintf(stderr, "%s", text);
		assert_int_equal(rc, 0);
	} else {
		fprintf(stderr, "test_promexp: /usr/bin/promtool absent: strict parse skipped\n");
	}
	unlink(path);
	free(text);
	json_decref(in.status);
	json_decref(in.health);
	json_decref(in.alerts);
	promexp_free(p);
	metrics_free(m);
	clock_free(clk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(promexp_name__mapping),
		cmocka_unit_test(promexp_render__metrics_and_state__promtool_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_loader.c — the loader failure matrix (bad plugins built from
 * tests/plugins/ by the Makefile) and the host API's config accessors.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"
#include "chain.h"
#include "clock.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "test_plugins.h"
#include "ynode.h"

static char plugdir[PATH_MAX + 16];

/* The test plugins live next to this program: $(B)/tests/plugins. */
static int
setup(void **state)
{
	(void)state;
	log_set_plain(1);
	return test_plugin_dir(plugdir, sizeof(plugdir));
}

/* Is a file whose path contains NEEDLE mapped into this process? */
static int
mapped(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int found = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			found = 1;
	fclose(f);
	return found;
}

static void
expect_refusal(struct loader_set *set, const char *name, int rc, const char *why)
{
	struct loader_plugin lp;
	char err[512], so[64];

	snprintf(so, sizeof(so), "/%s.so", name);
	assert_int_equal(loader_open(set, plugdir, name, &lp, err, sizeof(err)), rc);
	assert_null(lp.handle);
	/* one line naming the file and the reason */
	assert_non_null(strstr(err, so));
	if (strstr(err, why) == NULL)
		fail_msg("%s: expected \"%s\" in \"%s\"", name, why, err);
	assert_null(strchr(err, '\n'));
	assert_false(mapped(so)); /* the handle was closed */
}

static void
loader__failure_matrix__one_line_each_handle_closed(void **state)
{
	struct loader_set set = { 0 };
	struct loader_plugin good;
	char err[512];

	(void)state;
	expect_refusal(&set, "no_such_plugin", -ENOENT, "No such file");
	expect_refusal(&set, "bad_nosym", -ENOEXEC, "missing symbol rollout_plugin_entry");
	expect_refusal(&set, "bad_magic", -ENOEXEC, "bad magic 0x12345678");
	expect_refusal(&set, "bad_abi", -EPROTO, "built for plugin ABI 99");
	expect_refusal(&set, "bad_size", -EPROTO, "descriptor size");
	expect_refusal(&set, "bad_name", -EINVAL, "calls itself \"other\", expected \"bad_name\"");
	assert_int_equal(loader_open(&set, plugdir, "scripted", &good, err, sizeof(err)), 0);
	expect_refusal(&set, "dup_name", -EEXIST, "duplicate plugin name \"scripted\"");
	loader_close(&set, &good);
	assert_int_equal(loader_open(&set, plugdir, "../scripted", &good, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only letters, digits"));
	assert_int_equal(set.n, 0);
}

static void
loader__not_a_shared_object__refused(void **state)
{
	struct loader_set set = { 0 };
	struct loader_plugin lp;
	char dir[] = "/tmp/test_loader.XXXXXX", path[PATH_MAX], err[512];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/junk.so", dir);
	f = fopen(path, "w");
	fputs("not an ELF file\n", f);
	fclose(f);
	assert_int_equal(loader_open(&set, dir, "junk", &lp, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "junk.so: cannot load"));
	unlink(path);
	rmdir(dir);
}

static void
loader__same_plugin_for_two_roles__shared_then_closed(void **state)
{
	struct loader_set set = { 0 };
	struct loader_plugin a, b;
	char err[512];

	(void)state;
	assert_int_equal(loader_open(&set, plugdir, "scripted", &a, err, sizeof(err)), 0);
	assert_int_equal(loader_open(&set, plugdir, "scripted", &b, err, sizeof(err)), 0);
	assert_ptr_equal(a.desc, b.desc);
	assert_string_equal(a.desc->name, "scripted");
	assert_int_equal(a.desc->abi, ROLLOUT_PLUGIN_ABI);
	assert_non_null(a.desc->on_alert);
	loader_close(&set, &a);
	assert_true(mapped("/scripted.so"));
	assert_string_equal(b.path + strlen(b.path) - 12, "/scripted.so");
	loader_close(&set, &b);
	assert_false(mapped("/scripted.so"));
}

/* ---- host config accessors ---------------------------------------------------- */

static const char *cfg_yaml =
    "endpoints: [ \"ws://127.0.0.1:1\", \"ws://127.0.0.1:2\" ]\n"
    "top: 1000\n"
    "big: 5000\n"
    "word: hello\n"
    "flag: true\n"
    "quoted: \"true\"\n"
    "interval: 60m\n"
    "bare: 60\n"
    "nested: { a: 1 }\n";

struct fixture {
	struct ynode *doc;
	struct bus *bus;
	struct clock *clk;
	struct host h;
};

static void
fixture_open(struct fixture *fx)
{
	char err[256];

	assert_int_equal(ynode_load_buffer("plan.yaml", cfg_yaml, strlen(cfg_yaml), &fx->doc, err,
	    sizeof(err)), 0);
	assert_int_equal(bus_create(&fx->bus, 64, 0, NULL, NULL), 0);
	fx->clk = clock_virtual(1700000000000LL);
	host_init(&fx->h, "candidate", "/tmp/data", chain_find("polkadot"), fx->doc, fx->bus, 1,
	    fx->clk);
}

static void
fixture_close(struct fixture *fx)
{
	bus_free(fx->bus);
	clock_free(fx->clk);
	ynode_free(fx->doc);
}

static void
host__cfg_getters__values_defaults_and_positioned_errors(void **state)
{
	struct fixture fx;
	const struct rollout_host *h;
	const struct rollout_cfg *eps;
	const char *s;
	long long n;
	int b;
	int64_t ms;

	(void)state;
	fixture_open(&fx);
	h = &fx.h.api;
	assert_int_equal(h->size, sizeof(struct rollout_host));
	assert_string_equal(h->instance, "candidate");
	assert_int_equal(h->decimals, 10);
	assert_int_equal(h->ss58_prefix, 0);
	assert_string_equal(h->symbol, "DOT");
	assert_int_equal(h->now_ms(h->ctx), 1700000000000LL);
	assert_int_equal(h->cfg_kind(h->ctx, NULL), ROLLOUT_CFG_MAP);
	eps = h->cfg_get(h->ctx, NULL, "endpoints");
	assert_int_equal(h->cfg_kind(h->ctx, eps), ROLLOUT_CFG_SEQ);
	assert_int_equal(h->cfg_len(h->ctx, eps), 2);
	assert_string_equal(h->cfg_scalar(h->ctx, h->cfg_at(h->ctx, eps, 1)), "ws://127.0.0.1:2");
	assert_null(h->cfg_at(h->ctx, eps, 2));
	assert_string_equal(h->cfg_key_at(h->ctx, NULL, 1), "top");
	assert_int_equal(h->cfg_int(h->ctx, NULL, "top", 1, 10000, 7, &n), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(h->cfg_int(h->ctx, NULL, "absent", 1, 10000, 7, &n), -ENOENT);
	assert_int_equal(n, 7);
	assert_int_equal(h->cfg_string(h->ctx, NULL, "word", "x", &s), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(h->cfg_bool(h->ctx, NULL, "flag", 0, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(h->cfg_duration_ms(h->ctx, NULL, "interval", 0, &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(h->cfg_int(h->ctx, h->cfg_get(h->ctx, NULL, "nested"), "a", 0, 5, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(fx.h.first_error, "");
	/* errors: wrong range, wrong kind, quoted bool, bare duration; the first is kept */
	assert_int_equal(h->cfg_int(h->ctx, NULL, "big", 1, 1000, 7, &n), -EINVAL);
	assert_int_equal(n, 7);
	assert_string_equal(fx.h.first_error,
	    "plan.yaml:3:6: candidate: big: 5000 is out of range [1, 1000]");
	assert_int_equal(h->cfg_int(h->ctx, NULL, "word", 1, 1000, 7, &n), -EINVAL);
	assert_int_equal(h->cfg_bool(h->ctx, NULL, "quoted", 0, &b), -EINVAL);
	assert_int_equal(h->cfg_duration_ms(h->ctx, NULL, "bare", 5, &ms), -EINVAL);
	assert_int_equal(ms, 5);
	assert_int_equal(h->cfg_string(h->ctx, NULL, "endpoints", NULL, &s), -EINVAL);
	assert_int_equal(h->cfg_int(h->ctx, eps, "x", 0, 1, 0, &n), -EINVAL); /* not a map */
	assert_string_equal(fx.h.first_error,
	    "plan.yaml:3:6: candidate: big: 5000 is out of range [1, 1000]");
	fixture_close(&fx);
}

static void
host__emit_log_metric__go_through_the_bus(void **state)
{
	struct fixture fx;
	const struct rollout_host *h;
	struct rollout_event ev;
	struct bus_item *it[8];

	(void)state;
	fixture_open(&fx);
	h = &fx.h.api;
	memset(&ev, 0, sizeof(ev));
	ev.size = sizeof(ev);
	ev.kind = ROLLOUT_EV_HEALTH;
	ev.u.health.healthy = 1;
	ev.u.health.detail = "up";
	assert_int_equal(h->emit(h->ctx, &ev), 0);
	h->metric(h->ctx, "requests", 1);
	h->log(h->ctx, ROLLOUT_LOG_WARN, "fatal: %d", 42);
	assert_int_equal(bus_pop(fx.bus, it, 8), 3);
	assert_int_equal(it[0]->source, 1);
	assert_int_equal(it[0]->ev.kind, ROLLOUT_EV_HEALTH);
	assert_string_equal(it[1]->name, "candidate.requests");
	assert_int_equal(it[1]->t_ms, 1700000000000LL);
	assert_int_equal(it[2]->ev.kind, ROLLOUT_EV_LOG);
	assert_string_equal(it[2]->ev.u.log.line, "fatal: 42");
	for (int i = 0; i < 3; i++)
		bus_item_free(it[i]);
	fixture_close(&fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loader__failure_matrix__one_line_each_handle_closed),
		cmocka_unit_test(loader__not_a_shared_object__refused),
		cmocka_unit_test(loader__same_plugin_for_two_roles__shared_then_closed),
		cmocka_unit_test(host__cfg_getters__values_defaults_and_positioned_errors),
		cmocka_unit_test(host__emit_log_metric__go_through_the_bus),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * fixtures_polkadot.h — helpers shared by test_ss58.c, test_storage.c and
 * test_scale.c: load the JSON files in ../shared/fixtures/ (SHARED overrides the
 * directory) with jansson, and parse the decimal u128 strings in them.
 * Header-only (static functions) because every tests/unit/test_X.c is its
 * own program.  Owned by the rpc_watcher engineer (issue 6).
 */
#ifndef TEST_FIXTURES_POLKADOT_H
#define TEST_FIXTURES_POLKADOT_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rollout/plugin.h>

/* Load FILE from the fixtures directory or abort the test program. */
static __attribute__((unused)) json_t *
fixture_load(const char *file)
{
	const char *shared = getenv("SHARED");
	char path[4096];
	json_error_t jerr;
	json_t *root;

	snprintf(path, sizeof(path), "%s/fixtures/%s", shared != NULL ? shared : "../shared", file);
	root = json_load_file(path, 0, &jerr);
	if (root == NULL) {
		fprintf(stderr, "%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
		exit(2);
	}
	return root;
}

/* Decimal string -> u128; 0 or -1 (non-digit, empty, overflow).  Independent
 * of planck.c on purpose: the test must not share code with what it checks. */
static __attribute__((unused)) int
fixture_u128(const char *s, rollout_u128 *out)
{
	rollout_u128 v = 0, max = ~(rollout_u128)0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Hex -> bytes, independent of hex.c; returns the length or -1. */
static __attribute__((unused)) int
fixture_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n, i;

	if (strncmp(s, "0x", 2) == 0)
		s += 2;
	n = strlen(s);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (uint8_t)b;
	}
	return (int)(n / 2);
}

#endif

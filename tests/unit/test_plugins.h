/*
 * test_plugins.h — where the unit tests find the test plugins that the
 * Makefile builds from tests/plugins/: next to the test program, in
 * $(B)/tests/plugins (normal and sanitizer builds each have their own).
 */
#ifndef TEST_PLUGINS_H
#define TEST_PLUGINS_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Write the test plugin directory into DIR (LEN bytes).  0, or -1 when it is missing. */
static inline int
test_plugin_dir(char *dir, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	if ((size_t)snprintf(dir, len, "%s/plugins", exe) >= len)
		return -1;
	if (access(dir, R_OK) != 0) {
		fprintf(stderr, "test plugins not built: %s (make $(B)/tests/plugins/*.so)\n", dir);
		return -1;
	}
	return 0;
}

#endif

/*
 * loader.h — load plugin shared objects (rolloutd-plugin(3)).
 *
 * dlopen(RTLD_NOW | RTLD_LOCAL) DIR/NAME.so, look up the one entry symbol,
 * and check the descriptor: magic, ABI version, struct size (at least the
 * fields of ABI 1 up to command), the mandatory callbacks, a name not
 * already taken by another file, and a name equal to the file's base name.
 * Every refusal is one line "FILE: reason" and closes the handle.
 */
#ifndef ROLLOUT_LOADER_H
#define ROLLOUT_LOADER_H

#include <stddef.h>

#include "rollout/plugin.h"

#define LOADER_MAX 8

struct loader_plugin {
	void *handle;                         /* dlopen handle (refcounted by libdl) */
	const struct rollout_plugin *desc;    /* owned by the plugin; valid while loaded */
	char *path;                           /* owned */
};

/* The set of loaded plugins, for duplicate-name detection.  Zero-initialise it. */
struct loader_set {
	struct loader_plugin loaded[LOADER_MAX];
	size_t n;
};

/*
 * Load NAME from DIR (NAME must be a bare name: letters, digits, '_' and
 * '-').  Loading the same file twice shares the descriptor (two plan roles
 * may use one plugin).  On success fills *OUT (a reference released with
 * loader_close) and returns 0; on failure returns -errno and writes
 * "FILE: reason" into ERR.
 */
int loader_open(struct loader_set *set, const char *dir, const char *name,
    struct loader_plugin *out, char *err, size_t errlen);
/* Same with an explicit path (tests; --plugin given as a path). */
int loader_open_path(struct loader_set *set, const char *path, struct loader_plugin *out,
    char *err, size_t errlen);
/* Release one reference taken by loader_open*; dlclose()s the handle.  Zeroes *LP. */
void loader_close(struct loader_set *set, struct loader_plugin *lp);

#endif

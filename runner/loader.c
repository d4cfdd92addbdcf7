/*
 * loader.c — dlopen plugins and check their descriptors (loader.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader.h"

/* The smallest descriptor ABI 1 accepts: everything up to and including command. */
#define LOADER_MIN_SIZE (offsetof(struct rollout_plugin, command) + \
	sizeof(((struct rollout_plugin *)0)->command))

static int
loader_name_ok(const char *name)
{
	if (name == NULL || *name == '\0' || strlen(name) > 64)
		return 0;
	for (const char *s = name; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	}
	return 1;
}

/* "dir/name.so" -> "name" into BUF. */
static void
loader_base_name(const char *path, char *buf, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b ? b + 1 : path;
	n = strlen(b);
	if (n > 3 && strcmp(b + n - 3, ".so") == 0)
		n -= 3;
	if (n >= len)
		n = len - 1;
	memcpy(buf, b, n);
	buf[n] = '\0';
}

int
loader_open_path(struct loader_set *set, const char *path, struct loader_plugin *out,
    char *err, size_t errlen)
{
	void *h = NULL;
	rollout_plugin_entry_fn entry;
	const struct rollout_plugin *d;
	char base[80];
	struct stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (stat(path, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (set->n >= LOADER_MAX) {
		snprintf(err, errlen, "%s: too many plugins (max %d)", path, LOADER_MAX);
		return -EMFILE;
	}
	dlerror();
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(err, errlen, "%s: cannot load: %s", path, e ? e : "unknown dlopen error");
		return -ENOEXEC;
	}
	*(void **)&entry = dlsym(h, ROLLOUT_PLUGIN_ENTRY);
	if (entry == NULL) {
		snprintf(err, errlen, "%s: not a rolloutd plugin: missing symbol %s", path,
		    ROLLOUT_PLUGIN_ENTRY);
		rc = -ENOEXEC;
		goto fail;
	}
	d = entry();
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s() returned NULL", path, ROLLOUT_PLUGIN_ENTRY);
		rc = -ENOEXEC;
		goto fail;
	}
	if (d->magic != ROLLOUT_PLUGIN_MAGIC) {
		snprintf(err, errlen, "%s: bad magic 0x%08x (expected 0x%08x)", path, d->magic,
		    ROLLOUT_PLUGIN_MAGIC);
		rc = -ENOEXEC;
		goto fail;
	}
	if (d->abi != ROLLOUT_PLUGIN_ABI) {
		snprintf(err, errlen, "%s: built for plugin ABI %u, this rolloutd speaks ABI %u",
		    path, d->abi, ROLLOUT_PLUGIN_ABI);
		rc = -EPROTO;
		goto fail;
	}
	if (d->size < LOADER_MIN_SIZE) {
		snprintf(err, errlen, "%s: descriptor size %u is smaller than ABI %u's %zu bytes",
		    path, d->size, ROLLOUT_PLUGIN_ABI, (size_t)LOADER_MIN_SIZE);
		rc = -EPROTO;
		goto fail;
	}
	if (!loader_name_ok(d->name)) {
		snprintf(err, errlen, "%s: invalid plugin name", path);
		rc = -EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (set->loaded[i].desc == d)
			continue; /* the same file again: shared */
		if (strcmp(set->loaded[i].desc->name, d->name) == 0) {
			snprintf(err, errlen, "%s: duplicate plugin name \"%s\" (already loaded from %s)",
			    path, d->name, set->loaded[i].path);
			rc = -EEXIST;
			goto fail;
		}
	}
	loader_base_name(path, base, sizeof(base));
	if (strcmp(base, d->name) != 0) {
		snprintf(err, errlen, "%s: plugin calls itself \"%s\", expected \"%s\" (the file name)",
		    path, d->name, base);
		rc = -EINVAL;
		goto fail;
	}
	if (d->init == NULL || d->start == NULL || d->stop == NULL || d->destroy == NULL) {
		snprintf(err, errlen, "%s: descriptor lacks init/start/stop/destroy", path);
		rc = -EINVAL;
		goto fail;
	}
	out->handle = h;
	out->desc = d;
	out->path = strdup(path);
	if (out->path == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
		goto fail;
	}
	set->loaded[set->n++] = *out;
	return 0;
fail:
	dlclose(h);
	memset(out, 0, sizeof(*out));
	return rc;
}

int
loader_open(struct loader_set *set, const char *dir, const char *name,
    struct loader_plugin *out, char *err, size_t errlen)
{
	char path[4096];

	memset(out, 0, sizeof(*out));
	if (!loader_name_ok(name)) {
		snprintf(err, errlen, "plugin name \"%s\": only letters, digits, '_' and '-' allowed",
		    name ? name : "");
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.so", dir, name) >= sizeof(path)) {
		snprintf(err, errlen, "%s/%s.so: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	return loader_open_path(set, path, out, err, errlen);
}

void
loader_close(struct loader_set *set, struct loader_plugin *lp)
{
	if (lp == NULL || lp->handle == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		if (set->loaded[i].path == lp->path) {
			free(set->loaded[i].path);
			set->loaded[i] = set->loaded[--set->n];
			memset(&set->loaded[set->n], 0, sizeof(set->loaded[set->n]));
			break;
		}
	}
	dlclose(lp->handle);
	/* lp->path was shared with the set's copy and is freed above. */
	memset(lp, 0, sizeof(*lp));
}

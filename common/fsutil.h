/*
 * fsutil.h — durable file operations shared by the runner, the flag store
 * and the plugins.  Every state write in rolloutd goes through
 * fs_write_atomic(): temp file in the same directory, write, fsync, rename,
 * fsync of the directory.  A reader sees the old file or the new one, never
 * a mix.
 */
#ifndef ROLLOUT_FSUTIL_H
#define ROLLOUT_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Atomically replace PATH with LEN bytes of DATA (mode MODE).  0 or -errno. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/*
 * Replace PATH with LEN bytes of DATA (mode MODE) through a temp file and
 * rename(2), without fsync: readers see the old file or the new one, but
 * after a crash the new contents may be lost (the old ones, or on some
 * file systems an empty file, remain).  For caches that can be rebuilt or
 * are allowed to be a little stale (the whale rules' activity files); costs
 * no disk flush.  0 or -errno.
 */
int fs_write_replace(const char *path, const void *data, size_t len, mode_t mode);
/* fsync the directory that contains PATH.  0 or -errno. */
int fs_fsync_parent(const char *path);
/* mkdir -p with MODE for each created component.  0 or -errno. */
int fs_mkdir_p(const char *path, mode_t mode);
/* Append LEN bytes and fsync (O_APPEND, one write(2)).  0 or -errno. */
int fs_append_sync(const char *path, const void *data, size_t len, mode_t mode);
/*
 * Read a whole file (at most MAX bytes) into a NUL-terminated heap buffer
 * that the caller frees.  0, -EFBIG when larger than MAX, or -errno.
 */
int fs_read_all(const char *path, size_t max, char **out, size_t *outlen);

#endif

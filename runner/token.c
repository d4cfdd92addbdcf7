/* token.c — the API bearer token: created with a CSPRNG, compared in constant time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "log.h"
#include "token.h"

static int
token_create(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned char raw[TOKEN_HEX_LEN / 2];
	char hex[TOKEN_HEX_LEN + 2], dir[4096], *slash;
	int rc;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium could not initialise its random generator", path);
		return -EIO;
	}
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		rc = fs_mkdir_p(dir, 0700);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
			return rc;
		}
	}
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	hex[TOKEN_HEX_LEN] = '\n';
	hex[TOKEN_HEX_LEN + 1] = '\0';
	rc = fs_write_atomic(path, hex, TOKEN_HEX_LEN + 1, 0600);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot write the API token: %s", path, strerror(-rc));
		return rc;
	}
	hex[TOKEN_HEX_LEN] = '\0';
	snprintf(out, outlen, "%s", hex);
	sodium_memzero(hex, sizeof hex);
	return 0;
}

int
token_load_or_create(const char *path, char *out, size_t outlen, int *created, char *err,
    size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0, i;
	int rc;

	*created = 0;
	if (outlen < TOKEN_HEX_LEN + 1) {
		snprintf(err, errlen, "token buffer too small");
		return -EINVAL;
	}
	if (stat(path, &st) != 0) {
		if (errno != ENOENT) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return rc;
		}
		rc = token_create(path, out, outlen, err, errlen);
		if (rc == 0)
			*created = 1;
		return rc;
	}
	if ((st.st_mode & 077) != 0) {
		log_warn("%s: mode %03o lets others read the API token; setting 0600", path,
		    (unsigned)(st.st_mode & 0777));
		if (chmod(path, 0600) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: chmod 0600: %s", path, strerror(errno));
			return rc;
		}
	}
	rc = fs_read_all(path, 4096, &data, &len);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		data[--len] = '\0';
	rc = 0;
	if (len < 16 || len >= outlen)
		rc = -EINVAL;
	for (i = 0; rc == 0 && i < len; i++)
		if (data[i] <= ' ' || data[i] > '~')
			rc = -EINVAL;
	if (rc != 0) {
		snprintf(err, errlen, "%s: not a token (expected 16 to %zu printable characters on one "
		    "line); delete the file to have a new one generated", path, outlen - 1);
		free(data);
		return rc;
	}
	memcpy(out, data, len + 1);
	sodium_memzero(data, len);
	free(data);
	return 0;
}

int
token_check(const char *token, const char *header)
{
	size_t tl, hl;
	const char *given;

	if (token == NULL || header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return 0;
	given = header + 7;
	while (*given == ' ')
		given++;
	hl = strlen(given);
	while (hl > 0 && given[hl - 1] == ' ')
		hl--;
	tl = strlen(token);
	if (hl != tl) {
		/* spend the same time as a real comparison; the length is not secret */
		volatile int burn = sodium_memcmp(token, token, tl);

		(void)burn;
		return 0;
	}
	return sodium_memcmp(token, given, tl) == 0;
}

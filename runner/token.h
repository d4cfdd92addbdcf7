/*
 * token.h — the API bearer token (rolloutd-api(7), AUTHENTICATION).
 *
 * 32 bytes from libsodium's CSPRNG, hex-encoded, stored in
 * DATA/state/api.token with mode 0600 on first start.  rolloutctl reads the
 * same file.  Comparison is constant-time (sodium_memcmp).
 */
#ifndef ROLLOUT_TOKEN_H
#define ROLLOUT_TOKEN_H

#include <stddef.h>

#define TOKEN_HEX_LEN 64

/*
 * Read the token at PATH, or create it (parent directories too) when PATH
 * does not exist.  OUT receives the token (NUL-terminated, at least
 * TOKEN_HEX_LEN + 1 bytes).  *CREATED is set to 1 when a new token was
 * written.  A file readable by group or others is tightened to 0600 with a
 * warning.  0, or -errno with ERR naming the file and the problem.
 */
int token_load_or_create(const char *path, char *out, size_t outlen, int *created,
    char *err, size_t errlen);

/*
 * 1 when the Authorization header value HEADER is "Bearer TOKEN" for this
 * TOKEN (the scheme is case-insensitive), else 0.  The comparison of the
 * secret takes the same time wherever the first difference is.
 */
int token_check(const char *token, const char *header);

#endif

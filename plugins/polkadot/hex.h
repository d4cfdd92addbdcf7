/*
 * hex.h — hexadecimal strings as Polkadot JSON-RPC uses them ("0x" + lower
 * case hex digits).  Owned by the rpc_watcher engineer (issue 6).
 */
#ifndef ROLLOUT_HEX_H
#define ROLLOUT_HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode the hex string S (an optional "0x"/"0X" prefix, then an even number
 * of hex digits, upper or lower case) into OUT, which holds CAP bytes.
 * Sets *OUTLEN (may be NULL) to the number of bytes written.  Returns 0, or
 * -EINVAL when S is NULL, has an odd length or a non-hex character, or does
 * not fit in CAP bytes (nothing useful is left in OUT then).
 */
int hex_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen);

/* Like hex_decode, over the first LEN characters of S (S need not be NUL-terminated). */
int hex_decode_n(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/*
 * Encode N bytes of IN as lower-case hex into OUT, which must hold 2*N+3
 * bytes ("0x", digits, NUL).  PREFIX0X: 1 to write the "0x" prefix, 0 not to.
 * Always NUL-terminates.
 */
void hex_encode(const uint8_t *in, size_t n, char *out, int prefix0x);

#endif

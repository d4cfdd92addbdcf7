/*
 * planck.h — exact conversion between decimal strings and u128 planck.
 *
 * Subscan reports balances as decimal token strings ("123.4567"); nodes
 * report planck integers.  Nothing here uses floating point: every value
 * is a rollout_u128 and every conversion is exact or fails.
 */
#ifndef ROLLOUT_PLANCK_H
#define ROLLOUT_PLANCK_H

#include <stddef.h>

#include "rollout/plugin.h"

/* Longest decimal text of a u128 (39 digits), plus sign, dot, NUL, with room. */
#define PLANCK_INT_MAX 40
#define PLANCK_TOKENS_MAX 48

/*
 * Parse a non-negative decimal token amount S ("123.4567", "0", ".5" is
 * rejected, "5." is rejected) into planck with DECIMALS fractional digits
 * (DECIMALS <= 38).  Rejects: empty, sign characters, exponents, spaces,
 * any non-digit, more fractional digits than DECIMALS, and values that do
 * not fit in 128 bits.  On failure writes a one-line reason to ERR (if
 * ERRLEN > 0) and returns -EINVAL (syntax), -ERANGE (overflow or too many
 * decimals); *OUT is left untouched.  0 on success.
 */
int planck_parse_tokens(const char *s, unsigned decimals, rollout_u128 *out,
    char *err, size_t errlen);

/*
 * Parse a decimal integer string (digits only, 1..39 digits, leading zeros
 * allowed) that is <= 2^128-1.  0, -EINVAL on syntax, -ERANGE on overflow.
 */
int planck_parse_int(const char *s, rollout_u128 *out);

/*
 * Write V as a decimal integer into BUF (LEN >= PLANCK_INT_MAX is always
 * enough).  Returns BUF, or NULL when LEN is too small (BUF then holds "").
 */
char *planck_format_int(rollout_u128 v, char *buf, size_t len);

/*
 * Write V planck as a token amount with DECIMALS fractional digits, trailing
 * zeros trimmed (and the dot when nothing is left), preceded by '-' when
 * NEGATIVE and V != 0: 12345000000 with 10 decimals -> "1.2345".
 * LEN >= PLANCK_TOKENS_MAX is always enough.  Returns BUF, or NULL when LEN
 * is too small or DECIMALS > 38 (BUF then holds "" if LEN > 0).
 */
char *planck_format_tokens(rollout_u128 v, unsigned decimals, int negative,
    char *buf, size_t len);

#endif

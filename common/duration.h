/*
 * duration.h — durations as written in plans and config: an integer and a
 * unit, "500ms" "30s" "10m" "24h" "7d" (also combined: "1h30m").  A bare
 * number is an error (the unit is never guessed).
 */
#ifndef ROLLOUT_DURATION_H
#define ROLLOUT_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parse S into milliseconds.  0 or -EINVAL (message in ERR) / -ERANGE. */
int duration_parse(const char *s, int64_t *ms, char *err, size_t errlen);
/* Format MS as the shortest exact form ("7d", "1h30m", "250ms") into BUF. */
char *duration_format(int64_t ms, char *buf, size_t len);

#endif

/*
 * log.h — one logging function for the whole tree.
 *
 * Messages go to stderr (foreground) with an ISO-8601 UTC time stamp and
 * the level, and optionally to a daily file logs/YYYY-MM-DD.log under the
 * data directory.  A hook lets the runner see every line (PCRE2 triggers
 * match over log lines).
 */
#ifndef ROLLOUT_LOG_H
#define ROLLOUT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/* Lines below this level are dropped (default LOG_LVL_INFO). */
void log_set_level(enum log_level lvl);
/* Also append every line to DIR/YYYY-MM-DD.log (DIR is created).  NULL stops it. */
int log_set_dir(const char *dir);
/* Called (under the log lock) for every emitted line; source is e.g. "runner". */
typedef void (*log_hook_fn)(void *ctx, enum log_level lvl, const char *source, const char *line);
void log_set_hook(log_hook_fn fn, void *ctx);
/* Write no time stamp (used by tests and --check output). */
void log_set_plain(int plain);

void log_msg(enum log_level lvl, const char *source, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *source, const char *fmt, va_list ap);
const char *log_level_name(enum log_level lvl);

/*
 * Format a message for the user into the caller's buffer ERR (ERRLEN bytes).
 * Does nothing when ERR is NULL or ERRLEN is 0: functions that take an
 * optional error buffer call it unconditionally.
 */
void errbuf_printf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LVL_ERROR, "rolloutd", __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, "rolloutd", __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, "rolloutd", __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, "rolloutd", __VA_ARGS__)

#endif

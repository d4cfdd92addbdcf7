/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Private variables: guarded by log_lock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_LVL_INFO;
static char log_dir[4096];
static log_hook_fn log_hook;
static void *log_hook_ctx;
static int log_plain;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

const char *
log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < 4 ? level_names[lvl] : "?";
}

void
log_set_level(enum log_level lvl)
{
	pthread_mutex_lock(&log_lock);
	log_level = lvl;
	pthread_mutex_unlock(&log_lock);
}

int
log_set_dir(const char *dir)
{
	if (dir != NULL && mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	pthread_mutex_lock(&log_lock);
	if (dir == NULL)
		log_dir[0] = '\0';
	else
		snprintf(log_dir, sizeof(log_dir), "%s", dir);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void
log_set_hook(log_hook_fn fn, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_hook = fn;
	log_hook_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
}

void
log_set_plain(int plain)
{
	pthread_mutex_lock(&log_lock);
	log_plain = plain;
	pthread_mutex_unlock(&log_lock);
}

void
log_vmsg(enum log_level lvl, const char *source, const char *fmt, va_list ap)
{
	char line[2048], stamp[64];
	struct timespec ts;
	struct tm tm;

	vsnprintf(line, sizeof(line), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000);

	pthread_mutex_lock(&log_lock);
	if (lvl <= log_level) {
		if (log_plain)
			fprintf(stderr, "%s: %s\n", source, line);
		else
			fprintf(stderr, "%s %s %s: %s\n", stamp, log_level_name(lvl), source, line);
		if (log_dir[0] != '\0') {
			char path[4200];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%04d-%02d-%02d.log", log_dir,
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
			if ((f = fopen(path, "a")) != NULL) {
				fprintf(f, "%s %s %s: %s\n", stamp, log_level_name(lvl), source, line);
				fclose(f);
			}
		}
	}
	/* The hook sees every line, even filtered ones: triggers match debug output too. */
	if (log_hook != NULL)
		log_hook(log_hook_ctx, lvl, source, line);
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level lvl, const char *source, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, source, fmt, ap);
	va_end(ap);
}

void
errbuf_printf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* log.c: stderr logging with syslog priority prefixes for journald. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_LVL_INFO;
static int log_tty;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "err", [LOG_LVL_WARNING] = "warning",
	[LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void
log_init(int level)
{
	log_level = level;
	log_tty = isatty(STDERR_FILENO);
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *name)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "error") == 0)
		return LOG_LVL_ERR;
	if (strcmp(name, "warn") == 0)
		return LOG_LVL_WARNING;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		return "unknown";
	return level_names[level];
}

static void
log_vwrite(int level, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;
	size_t n;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (with_errno && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	/* A person at a terminal wants a time; journald adds its own. */
	if (log_tty) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s %s: %s\n", ts, level_names[level], msg);
	} else {
		fprintf(stderr, "<%d>%s\n", level, msg);
	}
	errno = saved;
}

#define LOG_FN(name, level, with_errno)				\
	void name(const char *fmt, ...)				\
	{							\
		va_list ap;					\
		va_start(ap, fmt);				\
		log_vwrite(level, with_errno, fmt, ap);		\
		va_end(ap);					\
	}

LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

int
log_seterr(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (prefix)
		snprintf(err, errlen, "%s: %s", prefix, msg);
	else
		snprintf(err, errlen, "%s", msg);
	return -1;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

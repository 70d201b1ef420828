/* log.h: one-line, greppable log messages to stderr with syslog priority prefixes. */
#ifndef P2P_LOG_H
#define P2P_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Levels are syslog priorities so journald reads the "<N>" prefix as is. */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
/* "err", "warning", "notice", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

/* log_warn appends strerror(errno); the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Formats "prefix: message" (or just the message when prefix is NULL) into
 * err, for parsers that report why they refused something. Returns -1, so
 * `return log_seterr(...)` reads as the failure it is.
 */
int log_seterr(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Only at start-up or on a broken invariant. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

/*
 * log.h - one logging vocabulary for every program: log_warn (with errno),
 * log_warnx, log_info, log_debug, fatal, fatalx.  Lines go to stderr,
 * prefixed with the program name and an optional context (a device hash).
 * Never log message content, keys, passwords or tokens.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_init(const char *progname, int level);
void	log_set_context(const char *ctx);	/* e.g. device hash; NULL clears */
void	log_set_level(int level);
int	log_level_from_name(const char *name);	/* "error|warn|info|debug" */
int	log_get_level(void);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif

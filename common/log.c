/*
 * log.c - stderr logging with a program prefix and an optional context.
 * It must never allocate on the fatal path and never print secrets; callers
 * pass only identifiers (device hash, request id, user name).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "gateway";
static char log_ctx[64];
static int log_lvl = LOG_LVL_INFO;

void
log_init(const char *progname, int level)
{
	log_prog = progname;
	log_lvl = level;
}

void
log_set_context(const char *ctx)
{
	if (ctx == NULL)
		log_ctx[0] = '\0';
	else
		snprintf(log_ctx, sizeof(log_ctx), "%s", ctx);
}

void
log_set_level(int level)
{
	log_lvl = level;
}

int
log_get_level(void)
{
	return log_lvl;
}

int
log_level_from_name(const char *name)
{
	static const struct { const char *name; int lvl; } names[] = {
		{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	size_t i;

	if (name == NULL)
		return LOG_LVL_INFO;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(names[i].name, name) == 0)
			return names[i].lvl;
	return LOG_LVL_INFO;
}

static void
log_vwrite(const char *lvl, int err, const char *fmt, va_list ap)
{
	char msg[1024], ts[32];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err)
		fprintf(stderr, "%s.%03ldZ %s%s%s %s: %s: %s\n", ts,
		    now.tv_nsec / 1000000, log_prog, log_ctx[0] ? "/" : "",
		    log_ctx, lvl, msg, strerror(err));
	else
		fprintf(stderr, "%s.%03ldZ %s%s%s %s: %s\n", ts,
		    now.tv_nsec / 1000000, log_prog, log_ctx[0] ? "/" : "",
		    log_ctx, lvl, msg);
}

#define LOG_BODY(level, name, err) do {			\
	va_list ap;					\
	if (log_lvl < (level))				\
		return;					\
	va_start(ap, fmt);				\
	log_vwrite(name, err, fmt, ap);			\
	va_end(ap);					\
} while (0)

void
log_warn(const char *fmt, ...)
{
	int saved = errno;

	LOG_BODY(LOG_LVL_WARN, "warn", saved);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, "warn", 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, "info", 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, "debug", 0);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("fatal", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * config.h - effective configuration: defaults, then an optional config file
 * (KEY=VALUE lines, '#' comments), then environment variables, which win.
 * Keys use the seed's names.  One table lists every key (config.c); a
 * program prints the effective values with -n.  Secret values print as "***".
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdio.h>

int		 config_load(const char *file);	/* NULL: $GATEWAY_CONFIG if set */
const char	*config_get(const char *key);		/* never NULL for known keys */
long		 config_get_int(const char *key);	/* bad number: default */
int		 config_get_bool(const char *key);	/* true|1|yes|on */
int		 config_set(const char *key, const char *value);
void		 config_print(FILE *);
/* Duration like "24h", "15m", "900", "2d" -> seconds; -1 when malformed. */
long		 config_parse_duration(const char *);
/* Path helpers: $VAR_DIR/<rel>, $RUN_DIR/<rel>; returns static-size copy. */
void		 config_path(char *dst, size_t len, const char *dirkey,
		    const char *rel);
/* ZeroMQ endpoint for one of "control", "workers", "events". */
void		 config_endpoint(char *dst, size_t len, const char *which);

#endif

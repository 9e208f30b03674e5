/*
 * config.c - the table of every configuration key and its default, the
 * config-file parser and environment overrides.  No other file reads
 * getenv() for settings, so `-n` always shows the truth.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

struct config_key {
	const char	*name;
	const char	*def;
	int		 secret;
	const char	*help;
	char		*value;		/* NULL: default */
};

static struct config_key config_keys[] = {
	{ "API_PORT", "3000", 0, "HTTP port the web server listens on", NULL },
	{ "API_HOST", "127.0.0.1", 0, "HTTP address the web server binds", NULL },
	{ "VAR_DIR", "./var", 0, "state: registry.db, devices/, secrets", NULL },
	{ "RUN_DIR", "", 0, "sockets (0700); default $VAR_DIR/run", NULL },
	{ "LOG_LEVEL", "info", 0, "error|warn|info|debug", NULL },
	{ "DEFAULT_ADMIN_USER", "admin", 0, "admin created on first start", NULL },
	{ "DEFAULT_ADMIN_PASS", "admin", 1, "its password (change it!)", NULL },
	{ "API_AUTH_ENABLED", "true", 0, "false disables auth (loopback only)", NULL },
	{ "JWT_SECRET", "", 1, "HS256 key; default generated in $VAR_DIR", NULL },
	{ "JWT_EXPIRES_IN", "24h", 0, "token lifetime", NULL },
	{ "JWT_ISSUER", "whatsapp-gateway", 0, "iss claim", NULL },
	{ "API_RATE_LIMIT", "100", 0, "requests per window per user/address (0=off)", NULL },
	{ "API_RATE_WINDOW", "15m", 0, "rate-limit window", NULL },
	{ "API_BODY_MAX", "10485760", 0, "largest JSON body in bytes", NULL },
	{ "API_UPLOAD_MAX", "104857600", 0, "largest multipart body in bytes", NULL },
	{ "TRUSTED_PROXIES", "", 0, "comma list of proxy addresses for X-Forwarded-For", NULL },
	{ "IPC_TIMEOUT_MS", "1500", 0, "deadline of a control call (devmgr down: 503 within 2 s)", NULL },
	{ "DEVICE_CALL_TIMEOUT_MS", "30000", 0, "deadline of a device API call", NULL },
	{ "MAX_PROCESSES", "1000", 0, "most waproc processes at once", NULL },
	{ "WAPROC_PATH", "", 0, "waproc binary; default beside devmgr", NULL },
	{ "HEARTBEAT_INTERVAL_MS", "5000", 0, "waproc heartbeat period", NULL },
	{ "HEARTBEAT_TIMEOUT_MS", "20000", 0, "missed heartbeats -> restart", NULL },
	{ "RESTART_BACKOFF_MIN_MS", "500", 0, "first restart delay", NULL },
	{ "RESTART_BACKOFF_MAX_MS", "300000", 0, "largest restart delay", NULL },
	{ "RESTART_MAX_CRASHES", "5", 0, "crashes in the window -> failed", NULL },
	{ "RESTART_CRASH_WINDOW", "10m", 0, "window for RESTART_MAX_CRASHES", NULL },
	{ "WEBHOOK_TIMEOUT_MS", "10000", 0, "one webhook attempt", NULL },
	{ "WEBHOOK_MAX_ATTEMPTS", "8", 0, "attempts before dead-letter", NULL },
	{ "WSRELAY_PORT", "3001", 0, "wsrelay loopback port", NULL },
	{ "WSRELAY_QUEUE_MAX", "1024", 0, "events queued per client", NULL },
	{ "BOOT_CONCURRENCY", "0", 0, "devmgr: waprocs logging in at once after a restart (0: 2 x CPUs)", NULL },
	{ "WA_SERVER_URL", "wss://web.whatsapp.com/ws/chat", 0, "WhatsApp server", NULL },
	{ "WA_CERT_ROOT", "", 0, "TEST ONLY: hex root key instead of WhatsApp's", NULL },
	{ "WA_APP_VERSION", "2.3000.1027934701", 0, "client version sent in ClientPayload", NULL },
	{ "WA_CA_FILE", "", 0, "TEST ONLY: PEM trust anchors for wss:// and media hosts instead of the system store", NULL },
	{ "WA_KEEPALIVE_MS", "20000", 0, "waproc pings WhatsApp every N..1.5N ms when idle (tests: lower)", NULL },
	{ "WA_KEEPALIVE_TIMEOUT_MS", "10000", 0, "unanswered ping after N ms: connection dead, reconnect", NULL },
	{ "CONFIG_FILE", "", 0, "config file that was read", NULL },
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static struct config_key *
config_find(const char *key)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, key) == 0)
			return &config_keys[i];
	return NULL;
}

int
config_set(const char *key, const char *value)
{
	struct config_key *k;

	if ((k = config_find(key)) == NULL)
		return -1;
	free(k->value);
	k->value = value ? xstrdup(value) : NULL;
	return 0;
}

const char *
config_get(const char *key)
{
	struct config_key *k;

	if ((k = config_find(key)) == NULL)
		fatalx("config_get: unknown key %s", key);
	return k->value ? k->value : k->def;
}

long
config_get_int(const char *key)
{
	const char *s = config_get(key);
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0') {
		log_warnx("config: %s=%s is not a number, using default", key, s);
		v = strtol(config_find(key)->def, NULL, 10);
	}
	return v;
}

int
config_get_bool(const char *key)
{
	const char *s = config_get(key);

	return strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0;
}

long
config_parse_duration(const char *s)
{
	char *end;
	long v, mul = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v < 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > LONG_MAX / mul)
		return -1;
	return v * mul;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_load(const char *file)
{
	char line[4096], *p, *eq, *key, *val;
	FILE *f;
	size_t i;
	int lineno = 0;

	if (file == NULL || *file == '\0')
		file = getenv("GATEWAY_CONFIG");
	if (file != NULL && *file != '\0') {
		if ((f = fopen(file, "r")) == NULL) {
			log_warn("config: %s", file);
			return -1;
		}
		config_set("CONFIG_FILE", file);
		while (fgets(line, sizeof(line), f) != NULL) {
			lineno++;
			p = trim(line);
			if (*p == '#' || *p == '\0')
				continue;
			if ((eq = strchr(p, '=')) == NULL) {
				log_warnx("config: %s:%d: no '='", file, lineno);
				continue;
			}
			*eq = '\0';
			key = trim(p);
			val = trim(eq + 1);
			if (strlen(val) >= 2 && (*val == '"' || *val == '\'') &&
			    val[strlen(val) - 1] == *val) {
				val[strlen(val) - 1] = '\0';
				val++;
			}
			if (config_set(key, val) == -1)
				log_warnx("config: %s:%d: unknown key %s", file,
				    lineno, key);
		}
		fclose(f);
	}
	for (i = 0; i < NKEYS; i++) {
		const char *e = getenv(config_keys[i].name);

		if (e != NULL && strcmp(config_keys[i].name, "CONFIG_FILE"))
			config_set(config_keys[i].name, e);
	}
	log_set_level(log_level_from_name(config_get("LOG_LEVEL")));
	return 0;
}

void
config_print(FILE *out)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const char *v = config_keys[i].value ? config_keys[i].value :
		    config_keys[i].def;

		if (config_keys[i].secret && *v)
			v = "***";
		fprintf(out, "%s=%s\t# %s%s\n", config_keys[i].name, v,
		    config_keys[i].help, config_keys[i].value ? "" :
		    " (default)");
	}
}

void
config_path(char *dst, size_t len, const char *dirkey, const char *rel)
{
	const char *dir = config_get(dirkey);

	if (strcmp(dirkey, "RUN_DIR") == 0 && *dir == '\0') {
		snprintf(dst, len, "%s/run%s%s", config_get("VAR_DIR"),
		    rel ? "/" : "", rel ? rel : "");
		return;
	}
	snprintf(dst, len, "%s%s%s", dir, rel ? "/" : "", rel ? rel : "");
}

void
config_endpoint(char *dst, size_t len, const char *which)
{
	char path[PATH_MAX], name[64];

	snprintf(name, sizeof(name), "%s.sock", which);
	config_path(path, sizeof(path), "RUN_DIR", name);
	snprintf(dst, len, "ipc://%s", path);
}

/*
 * wactl.c - the operator's command line over devmgr's control socket, as
 * Principal operator=true (user "wactl", role admin).  One table of
 * commands; each builds one request, prints the answer as a table or, with
 * --json, as devmgr sent it.  Passwords are read from stdin (or a prompt
 * without echo) and hashed here: only the argon2id hash crosses the socket.
 * Exit status: 0 ok, 1 devmgr refused, 2 usage, 3 devmgr unreachable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#define EX_OK		0
#define EX_REFUSED	1
#define EX_USAGE	2
#define EX_UNREACH	3

static int	 opt_json;
static void	*zctx;
static struct ipc_client *client;

static void
usage_text(FILE *f)
{
	fprintf(f,
	    "usage: wactl [-f config] [--json] command ...\n"
	    "  devices list [--status S] [--limit N] [--offset N]\n"
	    "  devices info|start|stop|restart HASH\n"
	    "  devices delete HASH [--force]\n"
	    "  devices call HASH PATH [--method M] [--body JSON]\n"
	    "  devices logout HASH   (log the account out of WhatsApp)\n"
	    "  devices register [--owner USER] [--name NAME] [--no-start]\n"
	    "      [--webhook URL] [--webhook-secret S]\n"
	    "      [--status-webhook URL] [--secret S]\n"
	    "  users list\n"
	    "  users add NAME [--role admin|user]   (password on stdin)\n"
	    "  users passwd NAME                    (password on stdin)\n"
	    "  users delete NAME\n"
	    "  stats | ping | health [detailed|devices|processes|system]\n");
}

static __attribute__((noreturn)) void
usage(void)
{
	usage_text(stderr);
	exit(EX_USAGE);
}

/* Send one request; returns the exit code, *out the reply (caller frees). */
static int
call(uint16_t type, const char *device, json_object *args, json_object *query,
    Ipc__Reply **out)
{
	Ipc__Request req = IPC__REQUEST__INIT;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	static char ep[4200];
	const char *a = NULL, *q = NULL;
	long timeout = config_get_int("IPC_TIMEOUT_MS");

	*out = NULL;
	if (timeout < 5000)
		timeout = 5000;
	if (client == NULL) {
		config_endpoint(ep, sizeof(ep), "control");
		zctx = zmq_ctx_new();
		client = ipc_client_new(zctx, ep);
	}
	who.user = (char *)"wactl";
	who.role = (char *)"admin";
	who.operator_ = 1;
	req.who = &who;
	req.device = (char *)(device ? device : "");
	if (args != NULL) {
		a = json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN);
		req.json.data = (uint8_t *)a;
		req.json.len = strlen(a);
	}
	if (query != NULL) {
		q = json_object_to_json_string_ext(query,
		    JSON_C_TO_STRING_PLAIN);
		req.query.data = (uint8_t *)q;
		req.query.len = strlen(q);
	}
	req.rate_exempt = 1;
	if (ipc_client_call(client, type, &req, out, (int)timeout) == -1) {
		fprintf(stderr, "wactl: devmgr is not answering on %s (%s)\n",
		    ep[0] ? ep : "control socket", errno == EAGAIN ?
		    "timeout" : strerror(errno));
		return EX_UNREACH;
	}
	return (*out)->status >= 400 ? EX_REFUSED : EX_OK;
}

static json_object *
reply_json(const Ipc__Reply *r)
{
	char *s;
	json_object *o;

	if (r->json.len == 0)
		return NULL;
	s = xstrndup((const char *)r->json.data, r->json.len);
	o = json_tokener_parse(s);
	free(s);
	return o;
}

static const char *
js(json_object *o, const char *k)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

/* Print the raw reply (--json), or the error; 1 when the caller prints. */
static int
print_common(int rc, const Ipc__Reply *r)
{
	if (rc == EX_UNREACH)
		return 0;
	if (opt_json) {
		printf("{\"status\":%d,\"code\":\"%s\",\"message\":", r->status,
		    r->code);
		{
			json_object *m = json_object_new_string(r->message);

			printf("%s", json_object_to_json_string(m));
			json_object_put(m);
		}
		printf(",\"data\":%.*s}\n", r->json.len ? (int)r->json.len : 4,
		    r->json.len ? (const char *)r->json.data : "null");
		return 0;
	}
	if (rc != EX_OK) {
		fprintf(stderr, "wactl: %s (%s, %d)\n", r->message, r->code,
		    r->status);
		return 0;
	}
	return 1;
}

static void
print_device_row(json_object *d)
{
	json_object *p = json_object_object_get(d, "process");

	printf("%-16s  %-12s  %-14s  %-8s  %-8s  %s\n", js(d, "deviceHash"),
	    js(d, "owner"), js(d, "status"), p ? js(p, "pid") : "-",
	    p ? js(p, "restarts") : "-", js(d, "name"));
}

static void
print_device(json_object *d)
{
	json_object *p = json_object_object_get(d, "process");
	json_object *w = json_object_object_get(d, "webhooks");

	printf("device      %s\n", js(d, "deviceHash"));
	printf("name        %s\n", js(d, "name"));
	printf("owner       %s\n", js(d, "owner"));
	printf("status      %s (desired %s)\n", js(d, "status"),
	    js(d, "desiredState"));
	printf("jid         %s\n", js(d, "jid"));
	printf("push name   %s\n", js(d, "pushName"));
	if (p != NULL)
		printf("process     pid %s, started %s, %s restarts\n",
		    js(p, "pid"), js(p, "startedAt"), js(p, "restarts"));
	else
		printf("process     not running\n");
	printf("webhook     %s%s\n", js(w, "messagesUrl"),
	    json_object_get_boolean(json_object_object_get(w,
	    "hasMessagesSecret")) ? " (signed)" : "");
	printf("status hook %s%s\n", js(w, "statusUrl"),
	    json_object_get_boolean(json_object_object_get(w,
	    "hasStatusSecret")) ? " (signed)" : "");
	printf("created     %s\n", js(d, "createdAt"));
	printf("updated     %s\n", js(d, "updatedAt"));
	printf("last seen   %s\n", js(d, "lastSeen"));
}

/* Read a password: stdin when not a tty, else a prompt without echo. */
static char *
read_password(const char *prompt)
{
	struct termios t, save;
	char buf[512];
	int tty = isatty(0);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(0, &t);
		save = t;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &t);
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &save);
		fprintf(stderr, "\n");
	}
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return xstrdup(buf);
}

static int
hash_password(const char *user, char out[AUTH_HASH_MAX])
{
	char *pw = read_password("password: "), *again;
	int ok;

	if (isatty(0)) {
		again = read_password("again: ");
		ok = strcmp(pw, again) == 0;
		sodium_memzero(again, strlen(again));
		free(again);
		if (!ok) {
			fprintf(stderr, "wactl: passwords differ\n");
			goto bad;
		}
	}
	if (!auth_valid_password(pw)) {
		fprintf(stderr, "wactl: a password is 6 to 256 bytes\n");
		goto bad;
	}
	if (auth_hash_password(pw, out) == -1) {
		fprintf(stderr, "wactl: cannot hash the password\n");
		goto bad;
	}
	sodium_memzero(pw, strlen(pw));
	free(pw);
	return 0;
bad:
	sodium_memzero(pw, strlen(pw));
	free(pw);
	return -1;
}

/* ---- commands ---- */

/* Option value after argv[*i]; usage() when missing. */
static const char *
optval(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

/* devices call HASH PATH [--method M] [--body JSON]: the device's answer. */
static int
cmd_device_call(int argc, char **argv, json_object *unused)
{
	Ipc__Request req = IPC__REQUEST__INIT;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	Ipc__Reply *r = NULL;
	const char *method = "GET", *body = NULL;
	static char ep[4200];
	int i, rc;

	json_object_put(unused);
	if (argc < 3)
		usage();
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--method") == 0)
			method = optval(argc, argv, &i);
		else if (strcmp(argv[i], "--body") == 0)
			body = optval(argc, argv, &i);
		else
			usage();
	}
	config_endpoint(ep, sizeof(ep), "control");
	zctx = zmq_ctx_new();
	client = ipc_client_new(zctx, ep);
	who.user = (char *)"wactl";
	who.role = (char *)"admin";
	who.operator_ = 1;
	req.who = &who;
	req.device = argv[1];
	req.method = (char *)method;
	req.path = argv[2];
	req.rate_exempt = 1;
	if (body != NULL) {
		req.json.data = (uint8_t *)body;
		req.json.len = strlen(body);
	}
	if (ipc_client_call(client, IPC_DEVICE_CALL, &req, &r,
	    (int)config_get_int("DEVICE_CALL_TIMEOUT_MS") + 1000) == -1) {
		fprintf(stderr, "wactl: devmgr is not answering on %s\n", ep);
		return EX_UNREACH;
	}
	rc = r->status >= 400 ? EX_REFUSED : EX_OK;
	if (print_common(rc, r))
		printf("%d %.*s\n", r->status, (int)r->json.len,
		    (const char *)r->json.data);
	ipc_reply_free(r);
	return rc;
}

static int
cmd_devices(int argc, char **argv)
{
	static const struct {
		const char	*name;
		uint16_t	 type;
	} simple[] = {
		{ "info", IPC_DEVICE_INFO }, { "start", IPC_DEVICE_START },
		{ "stop", IPC_DEVICE_STOP }, { "restart", IPC_DEVICE_RESTART },
		{ "delete", IPC_DEVICE_DELETE },
	};
	const char *sub = argc > 0 ? argv[0] : "list";
	json_object *args = json_object_new_object(), *q = NULL, *d, *a;
	Ipc__Reply *r = NULL;
	size_t k, n;
	int i, rc;

	if (strcmp(sub, "list") == 0) {
		q = json_object_new_object();
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--status") == 0)
				json_object_object_add(q, "status",
				    json_object_new_string(optval(argc, argv,
				    &i)));
			else if (strcmp(argv[i], "--limit") == 0)
				json_object_object_add(q, "limit",
				    json_object_new_string(optval(argc, argv,
				    &i)));
			else if (strcmp(argv[i], "--offset") == 0)
				json_object_object_add(q, "offset",
				    json_object_new_string(optval(argc, argv,
				    &i)));
			else
				usage();
		}
		rc = call(IPC_DEVICE_LIST, NULL, NULL, q, &r);
		if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
			a = json_object_object_get(d, "devices");
			n = a ? json_object_array_length(a) : 0;
			printf("%-16s  %-12s  %-14s  %-8s  %-8s  %s\n", "DEVICE",
			    "OWNER", "STATUS", "PID", "RESTARTS", "NAME");
			for (k = 0; k < n; k++)
				print_device_row(json_object_array_get_idx(a,
				    k));
			printf("%zu of %s device(s)\n", n, js(
			    json_object_object_get(d, "pagination"), "total"));
			json_object_put(d);
		}
		goto out;
	}
	if (strcmp(sub, "register") == 0) {
		static const struct {
			const char *opt, *key;
		} ro[] = {
			{ "--owner", "owner" }, { "--name", "name" },
			{ "--webhook", "webhookUrl" },
			{ "--webhook-secret", "webhookSecret" },
			{ "--status-webhook", "statusWebhookUrl" },
			{ "--secret", "statusWebhookSecret" },
		};
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--no-start") == 0) {
				json_object_object_add(args, "autoStart",
				    json_object_new_boolean(0));
				continue;
			}
			for (k = 0; k < sizeof(ro) / sizeof(ro[0]); k++)
				if (strcmp(argv[i], ro[k].opt) == 0)
					break;
			if (k == sizeof(ro) / sizeof(ro[0]))
				usage();
			json_object_object_add(args, ro[k].key,
			    json_object_new_string(optval(argc, argv, &i)));
		}
		rc = call(IPC_DEVICE_REGISTER, NULL, args, NULL, &r);
		if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
			printf("%s\n", js(d, "deviceHash"));
			if (json_object_object_get(d, "startError"))
				fprintf(stderr, "wactl: registered but not "
				    "started: %s\n", js(d, "startError"));
			json_object_put(d);
		}
		goto out;
	}
	if (strcmp(sub, "call") == 0)
		return cmd_device_call(argc, argv, args);
	if (strcmp(sub, "logout") == 0 && argc == 2) {
		char *av[] = { argv[0], argv[1], (char *)"/app/logout", NULL };

		return cmd_device_call(3, av, args);
	}
	for (k = 0; k < sizeof(simple) / sizeof(simple[0]); k++)
		if (strcmp(sub, simple[k].name) == 0)
			break;
	if (k == sizeof(simple) / sizeof(simple[0]) || argc < 2)
		usage();
	for (i = 2; i < argc; i++) {
		if (simple[k].type == IPC_DEVICE_DELETE &&
		    strcmp(argv[i], "--force") == 0) {
			q = json_object_new_object();
			json_object_object_add(q, "force",
			    json_object_new_boolean(1));
		} else
			usage();
	}
	rc = call(simple[k].type, argv[1], NULL, q, &r);
	if (print_common(rc, r)) {
		d = reply_json(r);
		if (simple[k].type == IPC_DEVICE_INFO && d != NULL)
			print_device(d);
		else if (simple[k].type == IPC_DEVICE_DELETE)
			printf("%s deleted\n", argv[1]);
		else
			printf("%s %s (pid %s)\n", argv[1], js(d, "status"),
			    js(json_object_object_get(d, "processInfo"),
			    "pid"));
		json_object_put(d);
	}
out:
	json_object_put(args);
	json_object_put(q);
	ipc_reply_free(r);
	return rc;
}

static int
cmd_users(int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	json_object *args = json_object_new_object(), *d, *a, *u;
	Ipc__Reply *r = NULL;
	char hash[AUTH_HASH_MAX];
	const char *role = "user";
	size_t k, n;
	int i, rc = EX_USAGE;

	if (strcmp(sub, "list") == 0 && argc <= 1) {
		rc = call(IPC_USER_LIST, NULL, NULL, NULL, &r);
		if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
			a = json_object_object_get(d, "users");
			n = a ? json_object_array_length(a) : 0;
			printf("%-24s  %-6s  %-24s  %s\n", "USER", "ROLE",
			    "CREATED", "LAST LOGIN");
			for (k = 0; k < n; k++) {
				u = json_object_array_get_idx(a, k);
				printf("%-24s  %-6s  %-24s  %s\n",
				    js(u, "username"), js(u, "role"),
				    js(u, "createdAt"), js(u, "lastLogin"));
			}
			json_object_put(d);
		}
		goto out;
	}
	if (argc < 2)
		usage();
	json_object_object_add(args, "username",
	    json_object_new_string(argv[1]));
	if (strcmp(sub, "add") == 0) {
		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--role") == 0)
				role = optval(argc, argv, &i);
			else
				usage();
		}
		if (strcmp(role, "admin") != 0 && strcmp(role, "user") != 0)
			usage();
		if (!auth_valid_username(argv[1])) {
			fprintf(stderr, "wactl: a user name is 3 to 64 of "
			    "A-Z a-z 0-9 . _ -\n");
			rc = EX_USAGE;
			goto out;
		}
		if (hash_password(argv[1], hash) == -1) {
			rc = EX_USAGE;
			goto out;
		}
		json_object_object_add(args, "role",
		    json_object_new_string(role));
		json_object_object_add(args, "password_hash",
		    json_object_new_string(hash));
		rc = call(IPC_USER_ADD, NULL, args, NULL, &r);
		if (print_common(rc, r))
			printf("user %s added (%s)\n", argv[1], role);
	} else if (strcmp(sub, "passwd") == 0 && argc == 2) {
		if (hash_password(argv[1], hash) == -1) {
			rc = EX_USAGE;
			goto out;
		}
		json_object_object_add(args, "password_hash",
		    json_object_new_string(hash));
		rc = call(IPC_USER_PASSWD, NULL, args, NULL, &r);
		if (print_common(rc, r))
			printf("password of %s changed\n", argv[1]);
	} else if (strcmp(sub, "delete") == 0 && argc == 2) {
		rc = call(IPC_USER_DELETE, NULL, args, NULL, &r);
		if (print_common(rc, r)) {
			printf("user %s deleted\n", argv[1]);
			if ((d = reply_json(r)) != NULL && json_object_get_int(
			    json_object_object_get(d, "devicesReassigned")) > 0)
				printf("%s device(s) now owned by %s\n",
				    js(d, "devicesReassigned"),
				    js(d, "devicesOwner"));
			json_object_put(d);
		}
	} else
		usage();
out:
	sodium_memzero(hash, sizeof(hash));
	json_object_put(args);
	ipc_reply_free(r);
	return rc;
}

static int
cmd_stats(int argc, char **argv)
{
	Ipc__Reply *r = NULL;
	json_object *d, *dev, *p;
	int rc;

	if (argc > 0)
		usage();
	rc = call(IPC_STATS, NULL, NULL, NULL, &r);
	if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
		dev = json_object_object_get(d, "devices");
		p = json_object_object_get(d, "processes");
		printf("uptime     %s s\n", js(d, "uptime"));
		printf("processes  %s running, max %s\n", js(p, "running"),
		    js(p, "max"));
		printf("devices    %s total\n", js(dev, "total"));
		json_object_object_foreach(dev, k, v) {
			if (strcmp(k, "total") != 0)
				printf("  %-14s %s\n", k,
				    json_object_get_string(v));
		}
		p = json_object_object_get(d, "statusWebhooks");
		printf("webhooks   %s pending, %s delivered, %s dead\n",
		    js(p, "pending"), js(p, "delivered"), js(p, "dead"));
		json_object_put(d);
	}
	ipc_reply_free(r);
	return rc;
}

static int
cmd_ping(int argc, char **argv)
{
	Ipc__Reply *r = NULL;
	json_object *d;
	int rc = call(IPC_PING, NULL, NULL, NULL, &r);

	if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
		printf("devmgr %s, up %s s\n", js(d, "version"), js(d, "uptime"));
		json_object_put(d);
	}
	ipc_reply_free(r);
	return rc;
}

static int
cmd_health(int argc, char **argv)
{
	Ipc__Reply *r = NULL;
	json_object *args = json_object_new_object(), *d;
	int rc;

	json_object_object_add(args, "what", json_object_new_string(
	    argc > 0 ? argv[0] : "detailed"));
	rc = call(IPC_HEALTH, NULL, args, NULL, &r);
	/* Degraded health is an answer, not a refusal: print the body. */
	if (rc == EX_REFUSED && r->status == 503)
		rc = EX_OK;
	if (print_common(rc, r) && (d = reply_json(r)) != NULL) {
		printf("%s\n", json_object_to_json_string_ext(d,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(d);
	}
	json_object_put(args);
	ipc_reply_free(r);
	return rc;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "devices", cmd_devices }, { "users", cmd_users },
	{ "stats", cmd_stats }, { "ping", cmd_ping },
	{ "health", cmd_health },
};

int
main(int argc, char *argv[])
{
	const char *file = NULL;
	char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	int i, n = 0, rc;
	size_t k;

	log_init("wactl", LOG_LVL_WARN);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			opt_json = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage_text(stdout);
			return EX_OK;
		} else
			args[n++] = argv[i];
	}
	if (n == 0)
		usage();
	if (config_load(file) == -1 && file != NULL) {
		fprintf(stderr, "wactl: cannot read %s\n", file);
		return EX_USAGE;
	}
	log_set_level(LOG_LVL_WARN);
	if (sodium_init() < 0)
		return EX_REFUSED;
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(args[0], commands[k].name) == 0)
			break;
	if (k == sizeof(commands) / sizeof(commands[0]))
		usage();
	rc = commands[k].fn(n - 1, args + 1);
	ipc_client_free(client);
	if (zctx != NULL)
		zmq_ctx_term(zctx);
	free(args);
	return rc;
}

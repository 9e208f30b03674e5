/*
 * route.c - the one table of every HTTP route the gateway serves: method
 * mask, path pattern (":name" segments are parameters), flags (public,
 * device hash required, admin, QR post-processing), handler and its
 * argument, and the OpenAPI tag/summary.  Matching is a linear scan over
 * decoded path segments; a path that matches with another method gives the
 * Allow set for a 405.  Handlers live in api-<resource>.c.
 */
#include <stdio.h>
#include <string.h>

#include "fcgi.h"

#define GP	(M_GET | M_POST)
#define DEV	R_DEVICE
#define CALL	api_proxy_call

const struct route route_table[] = {
	/* service */
	{ M_GET, "/", R_PUBLIC, api_service_root, NULL, 0, "service",
	    "Service descriptor" },
	{ M_GET, "/api/openapi.json", R_PUBLIC, api_service_openapi, NULL, 0,
	    "service", "OpenAPI 3.1 document of this API" },
	{ M_GET, "/docs", R_PUBLIC, api_service_docs, NULL, 0, "service",
	    "Route list (HTML)" },
	{ M_GET, "/docs/openapi.json", R_PUBLIC, api_service_openapi, NULL, 0,
	    "service", "OpenAPI 3.1 document (alias)" },
	{ M_GET, "/docs/openapi.yaml", R_PUBLIC, api_service_openapi, "yaml",
	    0, "service", "OpenAPI 3.1 document (JSON is valid YAML)" },
	{ M_GET, "/metrics", R_OPTAUTH | R_NORATE, api_service_metrics, NULL, 0,
	    "service", "Prometheus metrics (auth or loopback)" },

	/* health */
	{ M_GET, "/api/health", R_PUBLIC | R_NORATE, api_health, NULL, 0,
	    "health", "Liveness (public)" },
	{ M_GET, "/api/health/detailed", 0, api_health_what, "detailed", 0,
	    "health", "Detailed checks (200 or 503)" },
	{ M_GET, "/api/health/devices", 0, api_health_what, "devices", 0,
	    "health", "Per-device health" },
	{ M_GET, "/api/health/processes", 0, api_health_what, "processes", 0,
	    "health", "Per-process health" },
	{ M_GET, "/api/health/system", 0, api_health_what, "system", 0,
	    "health", "Host metrics" },
	{ M_POST, "/api/health/auto-heal", R_ADMIN, api_health_heal, NULL, 0,
	    "health", "Start devices that should be running (admin)" },

	/* auth and users */
	{ M_POST, "/api/auth/login", R_PUBLIC, api_auth_login, NULL, 0,
	    "auth", "Log in with username/password, get a JWT" },
	{ M_POST, "/api/auth/logout", R_PUBLIC, api_auth_logout, NULL, 0,
	    "auth", "Log out (stateless)" },
	{ M_GET, "/api/auth/status", R_OPTAUTH, api_auth_status, NULL, 0,
	    "auth", "Whether the credentials sent are valid" },
	{ M_GET, "/api/auth/me", 0, api_auth_me, NULL, 0, "auth",
	    "The authenticated user" },
	{ M_GET | M_POST, "/api/auth/users", 0, api_auth_users, NULL, 0,
	    "auth", "List users / create a user (admin)" },
	{ M_DELETE, "/api/auth/users/:username", 0, api_auth_user_delete,
	    NULL, 0, "auth", "Delete a user (admin)" },
	{ M_POST, "/api/auth/change-password", 0, api_auth_passwd, NULL, 0,
	    "auth", "Change a password" },

	/* devices */
	{ M_GET, "/api/devices", 0, api_device_list, NULL, IPC_DEVICE_LIST,
	    "devices", "List devices" },
	{ M_POST, "/api/devices", 0, api_device_register, NULL,
	    IPC_DEVICE_REGISTER, "devices", "Register a device" },
	{ M_PUT, "/api/devices", DEV, api_device_update, NULL,
	    IPC_DEVICE_UPDATE, "devices", "Update a device's webhooks/name" },
	{ M_DELETE, "/api/devices", DEV, api_device_delete, NULL,
	    IPC_DEVICE_DELETE, "devices", "Log out and delete a device" },
	{ M_GET, "/api/devices/info", DEV, api_device_info, NULL,
	    IPC_DEVICE_INFO, "devices", "One device" },
	{ M_POST, "/api/devices/start", DEV, api_device_action,
	    "Process started successfully", IPC_DEVICE_START, "devices",
	    "Start the device process" },
	{ M_POST, "/api/devices/stop", DEV, api_device_action,
	    "Process stopped successfully", IPC_DEVICE_STOP, "devices",
	    "Stop the device process" },
	{ M_POST, "/api/devices/restart", DEV, api_device_action,
	    "Process restarted successfully", IPC_DEVICE_RESTART, "devices",
	    "Restart the device process" },

	/* device API (GOWA v7.8.0), forwarded as DEVICE_CALL */
	{ M_GET, "/api/login", DEV | R_QR, CALL, "/app/login", 0, "app",
	    "QR login (alias of /api/app/login)" },
	{ M_GET, "/api/app/login", DEV | R_QR, CALL, NULL, 0, "app",
	    "QR login" },
	{ M_GET, "/api/app/login-with-code", DEV, CALL, NULL, 0, "app",
	    "Pairing-code login (query phone)" },
	{ M_GET, "/api/app/logout", DEV, CALL, NULL, 0, "app", "Log out" },
	{ M_GET, "/api/app/reconnect", DEV, CALL, NULL, 0, "app",
	    "Reconnect" },
	{ M_GET, "/api/app/devices", DEV, CALL, NULL, 0, "app",
	    "Linked devices" },
	{ M_GET, "/api/app/status", DEV, CALL, NULL, 0, "app",
	    "Connection status" },

	{ M_POST, "/api/send/message", DEV, CALL, NULL, 0, "send",
	    "Send a text message" },
	{ M_POST, "/api/send/image", DEV, CALL, NULL, 0, "send",
	    "Send an image (upload or image_url)" },
	{ M_POST, "/api/send/audio", DEV, CALL, NULL, 0, "send",
	    "Send audio" },
	{ M_POST, "/api/send/file", DEV, CALL, NULL, 0, "send",
	    "Send a document" },
	{ M_POST, "/api/send/video", DEV, CALL, NULL, 0, "send",
	    "Send a video" },
	{ M_POST, "/api/send/sticker", DEV, CALL, NULL, 0, "send",
	    "Send a sticker" },
	{ M_POST, "/api/send/contact", DEV, CALL, NULL, 0, "send",
	    "Send a contact card" },
	{ M_POST, "/api/send/link", DEV, CALL, NULL, 0, "send",
	    "Send a link" },
	{ M_POST, "/api/send/location", DEV, CALL, NULL, 0, "send",
	    "Send a location" },
	{ M_POST, "/api/send/poll", DEV, CALL, NULL, 0, "send",
	    "Send a poll" },
	{ M_POST, "/api/send/presence", DEV, CALL, NULL, 0, "send",
	    "Set presence" },
	{ M_POST, "/api/send/chat-presence", DEV, CALL, NULL, 0, "send",
	    "Typing indicator" },

	{ M_GET, "/api/user/info", DEV, CALL, NULL, 0, "user", "User info" },
	{ M_GET | M_POST, "/api/user/avatar", DEV, CALL, NULL, 0, "user",
	    "Get avatar / change own avatar (multipart avatar)" },
	{ M_POST, "/api/user/pushname", DEV, CALL, NULL, 0, "user",
	    "Change push name" },
	{ M_GET, "/api/user/check", DEV, CALL, NULL, 0, "user",
	    "Is a number on WhatsApp" },
	{ M_GET, "/api/user/business-profile", DEV, CALL, NULL, 0, "user",
	    "Business profile" },
	{ M_GET, "/api/user/my/privacy", DEV, CALL, NULL, 0, "user",
	    "Own privacy settings" },
	{ M_GET, "/api/user/my/groups", DEV, CALL, NULL, 0, "user",
	    "Own groups" },
	{ M_GET, "/api/user/my/newsletters", DEV, CALL, NULL, 0, "user",
	    "Own newsletters" },
	{ M_GET, "/api/user/my/contacts", DEV, CALL, NULL, 0, "user",
	    "Own contacts" },

	{ M_POST, "/api/group", DEV, CALL, NULL, 0, "group",
	    "Create a group" },
	{ M_POST, "/api/group/join-with-link", DEV, CALL, NULL, 0, "group",
	    "Join with an invite link" },
	{ M_GET, "/api/group/info-from-link", DEV, CALL, NULL, 0, "group",
	    "Group info from an invite link" },
	{ M_GET, "/api/group/info", DEV, CALL, NULL, 0, "group",
	    "Group info" },
	{ M_POST, "/api/group/leave", DEV, CALL, NULL, 0, "group",
	    "Leave a group" },
	{ GP, "/api/group/participants", DEV, CALL, NULL, 0, "group",
	    "List participants (GET) / add participants (POST)" },
	{ GP, "/api/group/participants/export", DEV, CALL, NULL, 0, "group",
	    "Participants as CSV" },
	{ M_POST, "/api/group/participants/remove", DEV, CALL, NULL, 0,
	    "group", "Remove participants" },
	{ M_POST, "/api/group/participants/promote", DEV, CALL, NULL, 0,
	    "group", "Promote participants" },
	{ M_POST, "/api/group/participants/demote", DEV, CALL, NULL, 0,
	    "group", "Demote participants" },
	{ M_GET, "/api/group/participant-requests", DEV, CALL, NULL, 0,
	    "group", "Pending join requests" },
	{ M_POST, "/api/group/participant-requests/approve", DEV, CALL, NULL,
	    0, "group", "Approve join requests" },
	{ M_POST, "/api/group/participant-requests/reject", DEV, CALL, NULL,
	    0, "group", "Reject join requests" },
	{ M_POST, "/api/group/photo", DEV, CALL, NULL, 0, "group",
	    "Set or remove the group photo" },
	{ M_POST, "/api/group/name", DEV, CALL, NULL, 0, "group",
	    "Rename a group" },
	{ M_POST, "/api/group/locked", DEV, CALL, NULL, 0, "group",
	    "Lock group info" },
	{ M_POST, "/api/group/announce", DEV, CALL, NULL, 0, "group",
	    "Announcement-only mode" },
	{ M_POST, "/api/group/topic", DEV, CALL, NULL, 0, "group",
	    "Set the group topic" },
	{ GP, "/api/group/invite-link", DEV, CALL, NULL, 0, "group",
	    "Invite link (reset=true for a new one)" },

	{ M_GET, "/api/message/:message_id", DEV, CALL, NULL, 0,
	    "message", "Status of a message (queued, sent, delivered, read, "
	    "failed)" },
	{ M_POST, "/api/message/:message_id/revoke", DEV, CALL, NULL, 0,
	    "message", "Revoke a message" },
	{ M_POST, "/api/message/:message_id/delete", DEV, CALL, NULL, 0,
	    "message", "Delete a message for me" },
	{ M_POST, "/api/message/:message_id/reaction", DEV, CALL, NULL, 0,
	    "message", "React to a message" },
	{ M_POST, "/api/message/:message_id/update", DEV, CALL, NULL, 0,
	    "message", "Edit a message" },
	{ M_POST, "/api/message/:message_id/read", DEV, CALL, NULL, 0,
	    "message", "Mark as read" },
	{ M_POST, "/api/message/:message_id/star", DEV, CALL, NULL, 0,
	    "message", "Star a message" },
	{ M_POST, "/api/message/:message_id/unstar", DEV, CALL, NULL, 0,
	    "message", "Unstar a message" },
	{ M_GET, "/api/message/:message_id/download", DEV, CALL, NULL, 0,
	    "message", "Download a message's media" },

	{ M_GET, "/api/chats", DEV, CALL, NULL, 0, "chat", "List chats" },
	{ M_GET, "/api/chat/:chat_jid/messages", DEV, CALL, NULL, 0, "chat",
	    "Messages of a chat" },
	{ M_POST, "/api/chat/:chat_jid/label", DEV, CALL, NULL, 0, "chat",
	    "Label a chat" },
	{ M_POST, "/api/chat/:chat_jid/pin", DEV, CALL, NULL, 0, "chat",
	    "Pin or unpin a chat" },
	{ M_POST, "/api/newsletter/unfollow", DEV, CALL, NULL, 0,
	    "newsletter", "Unfollow a newsletter" },
};

const size_t route_count = sizeof(route_table) / sizeof(route_table[0]);

/* Does pattern match the request's segments?  Collects :params. */
static int
route_path_eq(const char *pat, struct request *r, const char **params,
    int *np)
{
	const char *p = pat, *e;
	size_t l;
	int i = 0, n = 0;

	while (*p == '/')
		p++;
	while (*p) {
		e = strchr(p, '/');
		l = e ? (size_t)(e - p) : strlen(p);
		if (i >= r->nsegs)
			return 0;
		if (*p == ':') {
			if (n < REQ_PARAMS_MAX)
				params[n++] = r->segs[i];
		} else if (strncmp(r->segs[i], p, l) != 0 ||
		    r->segs[i][l] != '\0')
			return 0;
		i++;
		p += l;
		while (*p == '/')
			p++;
	}
	if (i != r->nsegs)
		return 0;
	*np = n;
	return 1;
}

const struct route *
route_match(struct request *r, int *allowed, int *path_public)
{
	const char *params[REQ_PARAMS_MAX];
	int m = r->method == M_HEAD ? M_GET : r->method, np = 0, i;
	size_t k;

	*allowed = 0;
	*path_public = 1;
	for (k = 0; k < route_count; k++) {
		if (!route_path_eq(route_table[k].pattern, r, params, &np))
			continue;
		if (route_table[k].methods & m) {
			for (i = 0; i < np; i++)
				r->params[i] = params[i];
			r->nparams = np;
			return &route_table[k];
		}
		*allowed |= route_table[k].methods;
		if (!(route_table[k].flags & (R_PUBLIC | R_OPTAUTH)))
			*path_public = 0;
	}
	if (*allowed == 0)
		*path_public = 0;
	return NULL;
}

int
route_allow_header(int methods, char *out, size_t len)
{
	static const struct {
		int		 m;
		const char	*name;
	} names[] = {
		{ M_GET, "GET" }, { M_GET, "HEAD" }, { M_POST, "POST" },
		{ M_PUT, "PUT" }, { M_PATCH, "PATCH" }, { M_DELETE, "DELETE" },
	};
	size_t i, o = 0;

	*out = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(methods & names[i].m))
			continue;
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s",
		    o ? ", " : "", names[i].name);
		if (o >= len)
			return -1;
	}
	return 0;
}

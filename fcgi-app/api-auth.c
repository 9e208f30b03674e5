/*
 * api-auth.c - /api/auth/...: login (JWT issue), logout, status, me, user
 * administration and password changes (SEED_API §2.10).  Passwords are
 * hashed here (argon2id) so devmgr only ever sees hashes; devmgr decides
 * who may do what (roles come from its registry).  Never logs a password or
 * a token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"

void
api_auth_login(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	const char *user, *pw;
	char role[16], when[40];
	char *tok = NULL;
	json_object *o = NULL, *d, *u;
	struct response scratch;
	int rc;

	if (request_json_str(r, resp, "username", &user) == -1 ||
	    request_json_str(r, resp, "password", &pw) == -1)
		return;
	if (user == NULL || pw == NULL || !*user || !*pw) {
		reply_error(resp, 400, "MISSING_CREDENTIALS",
		    "Username and password are required");
		return;
	}
	/* Every attempt counts against the client address. */
	if (app_rate_check(a, r, resp, 0) == -1)
		return;
	rc = authn_password(a, r, resp, user, pw, role, sizeof(role));
	if (rc == -1)
		return;
	if (rc == 1) {
		log_info("login failed for %s from %s", user, r->addr);
		reply_error(resp, 0, "INVALID_CREDENTIALS",
		    "Invalid credentials");
		return;
	}
	if (a->secretlen == 0 || (tok = auth_jwt_issue(a->secret,
	    a->secretlen, user, role, a->jwt_ttl, a->issuer)) == NULL) {
		reply_error(resp, 0, "INTERNAL_ERROR", "Cannot issue a token");
		return;
	}
	/* Record the login (exempt helper call; failure is not fatal). */
	snprintf(r->user, sizeof(r->user), "%s", user);
	snprintf(r->role, sizeof(r->role), "%s", role);
	o = json_object_new_object();
	json_object_object_add(o, "username", json_object_new_string(user));
	app_set_json(&q.json, o);
	reply_init(&scratch);	/* a failure here does not fail the login */
	app_call(a, r, &scratch, IPC_AUTH_LOGIN, &q, &rep, 1);
	reply_free(&scratch);
	ipc_reply_free(rep);
	json_object_put(o);

	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "message",
	    json_object_new_string("Login successful"));
	d = json_object_new_object();
	json_object_object_add(d, "token", json_object_new_string(tok));
	u = json_object_new_object();
	json_object_object_add(u, "username", json_object_new_string(user));
	json_object_object_add(u, "role", json_object_new_string(role));
	json_object_object_add(u, "lastLogin", json_object_new_string(
	    reply_iso8601((long)time(NULL), when, sizeof(when))));
	json_object_object_add(d, "user", u);
	json_object_object_add(d, "expiresIn",
	    json_object_new_string(a->jwt_ttl_str));
	json_object_object_add(o, "data", d);
	reply_json(resp, 200, o);
	json_object_put(o);
	sodium_memzero(tok, strlen(tok));
	free(tok);
}

void
api_auth_logout(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	static const char body[] =
	    "{\"success\":true,\"message\":\"Logout successful\"}";

	reply_raw(resp, 200, NULL, body, sizeof(body) - 1);
}

void
api_auth_status(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	json_object *o, *u;
	char when[40];

	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	if (request_env(r, "HTTP_AUTHORIZATION") == NULL &&
	    (a->auth_enabled || !r->loopback)) {
		json_object_object_add(o, "authenticated",
		    json_object_new_boolean(0));
		json_object_object_add(o, "message", json_object_new_string(
		    "No credentials sent"));
	} else if (authn_request(a, r, resp) == -1) {
		if (resp->status != 401) {
			json_object_put(o);
			return;
		}
		json_object_object_add(o, "authenticated",
		    json_object_new_boolean(0));
		json_object_object_add(o, "message", json_object_new_string(
		    "Invalid or expired credentials"));
	} else {
		json_object_object_add(o, "authenticated",
		    json_object_new_boolean(1));
		u = json_object_new_object();
		json_object_object_add(u, "username",
		    json_object_new_string(r->user));
		json_object_object_add(u, "role",
		    json_object_new_string(r->role));
		json_object_object_add(o, "user", u);
		if (r->auth == AUTHK_BEARER)
			json_object_object_add(o, "expiresAt",
			    json_object_new_string(reply_iso8601(r->exp, when,
			    sizeof(when))));
	}
	reply_json(resp, 200, o);
	json_object_put(o);
}

void
api_auth_me(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o, *d;

	if (app_call(a, r, resp, IPC_USER_GET, &q, &rep, 0) == -1)
		return;
	if (rep->status >= 400) {
		app_reply_error(resp, rep);
		goto out;
	}
	d = app_reply_json(rep);
	if (d == NULL || !json_object_is_type(d, json_type_object)) {
		json_object_put(d);
		d = json_object_new_object();
		json_object_object_add(d, "username",
		    json_object_new_string(r->user));
		json_object_object_add(d, "role",
		    json_object_new_string(r->role));
	}
	if (r->auth == AUTHK_BEARER) {
		json_object_object_add(d, "iat", json_object_new_int64(r->iat));
		json_object_object_add(d, "exp", json_object_new_int64(r->exp));
	}
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "data", d);
	reply_json(resp, 200, o);
	json_object_put(o);
out:
	ipc_reply_free(rep);
}

static void
api_auth_user_add(struct app *a, struct request *r, struct response *resp)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	const char *user, *pw, *role;
	char hash[AUTH_HASH_MAX];
	json_object *o;

	if (request_json_str(r, resp, "username", &user) == -1 ||
	    request_json_str(r, resp, "password", &pw) == -1 ||
	    request_json_str(r, resp, "role", &role) == -1)
		return;
	if (strcmp(r->role, "admin") != 0) {
		reply_error(resp, 0, "INSUFFICIENT_PERMISSIONS",
		    "Admin role required");
		return;
	}
	if (user == NULL || pw == NULL) {
		reply_error(resp, 0, "MISSING_FIELDS",
		    "username and password are required");
		return;
	}
	if (!auth_valid_username(user)) {
		reply_error(resp, 0, "INVALID_USERNAME",
		    "username: 3 to 64 of A-Z a-z 0-9 . _ -");
		return;
	}
	if (!auth_valid_password(pw)) {
		reply_error(resp, 0, "INVALID_PASSWORD",
		    "password: 6 to 256 bytes");
		return;
	}
	if (role == NULL || *role == '\0')
		role = "user";
	if (strcmp(role, "admin") != 0 && strcmp(role, "user") != 0) {
		reply_error(resp, 0, "INVALID_ROLE",
		    "role must be admin or user");
		return;
	}
	if (auth_hash_password(pw, hash) == -1) {
		reply_error(resp, 0, "INTERNAL_ERROR", "Cannot hash password");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "username", json_object_new_string(user));
	json_object_object_add(o, "role", json_object_new_string(role));
	json_object_object_add(o, "password_hash",
	    json_object_new_string(hash));
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_USER_ADD, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "User created successfully");
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_auth_users(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;

	if (r->method == M_POST) {
		api_auth_user_add(a, r, resp);
		return;
	}
	if (app_call(a, r, resp, IPC_USER_LIST, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "Users");
	ipc_reply_free(rep);
}

void
api_auth_user_delete(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o;

	if (r->nparams < 1 || !auth_valid_username(r->params[0])) {
		reply_error(resp, 0, "INVALID_USERNAME", "Invalid username");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "username",
	    json_object_new_string(r->params[0]));
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_USER_DELETE, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "User deleted successfully");
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_auth_passwd(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	const char *cur, *npw, *target;
	char hash[AUTH_HASH_MAX], role[16];
	json_object *o;
	int rc, self;

	if (request_json_str(r, resp, "currentPassword", &cur) == -1 ||
	    request_json_str(r, resp, "newPassword", &npw) == -1 ||
	    request_json_str(r, resp, "username", &target) == -1)
		return;
	if (target == NULL || *target == '\0')
		target = r->user;
	self = strcmp(target, r->user) == 0;
	if (!self && strcmp(r->role, "admin") != 0) {
		reply_error(resp, 0, "INSUFFICIENT_PERMISSIONS",
		    "Admin role required to change another user's password");
		return;
	}
	if (npw == NULL || (self && cur == NULL)) {
		reply_error(resp, 0, "MISSING_PASSWORDS",
		    "currentPassword and newPassword are required");
		return;
	}
	if (!auth_valid_password(npw)) {
		reply_error(resp, 0, "INVALID_NEW_PASSWORD",
		    "newPassword: 6 to 256 bytes");
		return;
	}
	if (!auth_valid_username(target)) {
		reply_error(resp, 0, "INVALID_USERNAME", "Invalid username");
		return;
	}
	if (self && r->auth != AUTHK_OFF) {
		rc = authn_password(a, r, resp, target, cur, role,
		    sizeof(role));
		if (rc == -1)
			return;
		if (rc == 1) {
			reply_error(resp, 0, "INCORRECT_CURRENT_PASSWORD",
			    "Current password is incorrect");
			return;
		}
	}
	if (auth_hash_password(npw, hash) == -1) {
		reply_error(resp, 0, "INTERNAL_ERROR", "Cannot hash password");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "username", json_object_new_string(target));
	json_object_object_add(o, "password_hash",
	    json_object_new_string(hash));
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_USER_PASSWD, &q, &rep, 0) == 0) {
		if (rep->status < 400)
			rep->json.len = 0;
		app_reply_data(resp, rep, "Password changed successfully");
	}
	ipc_reply_free(rep);
	json_object_put(o);
}

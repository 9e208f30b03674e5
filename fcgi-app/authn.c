/*
 * authn.c - who is asking: `Authorization: Bearer <JWT>` verified locally
 * (HS256, issuer pinned, secret loaded once per worker), `Authorization:
 * Basic` verified against the user's argon2id hash fetched from devmgr
 * (AUTH_INFO, rate exempt), or nobody when API_AUTH_ENABLED=false.
 *
 * Successful Basic checks are remembered in a small direct-mapped cache
 * keyed by a keyed BLAKE2b of user, password and the stored hash, so the
 * argon2id cost is paid once per credential and a password change or a
 * deleted user (new/no hash) misses.  The plaintext is never stored, and
 * the key is random per worker.  Unknown users burn the same time as a real
 * check.  With API_AUTH_ENABLED=false a loopback client acts as the
 * default admin; remote clients still authenticate.  Roles are informative only: devmgr takes the role from its
 * registry.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "fcgi.h"
#include "log.h"

int
authn_parse_basic(const char *hdr, char *user, size_t ulen, char *pw,
    size_t pwlen)
{
	unsigned char dec[512];
	size_t declen = 0, ul;
	const char *p, *end;
	unsigned char *colon;

	*user = *pw = '\0';
	if (strncasecmp(hdr, "Basic", 5) != 0 || (hdr[5] != ' ' &&
	    hdr[5] != '\t'))
		return -1;
	for (p = hdr + 5; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == p || sodium_base642bin(dec, sizeof(dec) - 1, p,
	    (size_t)(end - p), NULL, &declen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	dec[declen] = '\0';
	/* The password may contain ':'; the user name may not. */
	if (memchr(dec, '\0', declen) != NULL ||
	    (colon = memchr(dec, ':', declen)) == NULL)
		goto bad;
	ul = (size_t)(colon - dec);
	if (ul == 0 || ul >= ulen || declen - ul - 1 >= pwlen)
		goto bad;
	memcpy(user, dec, ul);
	user[ul] = '\0';
	memcpy(pw, colon + 1, declen - ul - 1);
	pw[declen - ul - 1] = '\0';
	sodium_memzero(dec, sizeof(dec));
	return 0;
bad:
	sodium_memzero(dec, sizeof(dec));
	return -1;
}

void
authn_cache_digest(const struct app *a, const char *user, const char *pw,
    const char *hash, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, a->cache_key, sizeof(a->cache_key), 32);
	crypto_generichash_update(&st, (const uint8_t *)user,
	    strlen(user) + 1);
	crypto_generichash_update(&st, (const uint8_t *)pw, strlen(pw) + 1);
	crypto_generichash_update(&st, (const uint8_t *)hash,
	    strlen(hash) + 1);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}

static struct authn_slot *
authn_slot(struct app *a, const uint8_t key[32])
{
	return &a->cache[(key[0] | key[1] << 8) % AUTHN_CACHE_SIZE];
}

int
authn_cache_lookup(struct app *a, const uint8_t key[32], char *role,
    size_t rolelen, long now)
{
	struct authn_slot *s = authn_slot(a, key);

	if (s->at == 0 || now - s->at > AUTHN_CACHE_TTL || now < s->at ||
	    sodium_memcmp(s->key, key, 32) != 0)
		return 0;
	if (role != NULL)
		snprintf(role, rolelen, "%s", s->role);
	return 1;
}

void
authn_cache_store(struct app *a, const uint8_t key[32], const char *role,
    long now)
{
	struct authn_slot *s = authn_slot(a, key);

	memcpy(s->key, key, 32);
	snprintf(s->role, sizeof(s->role), "%s", role ? role : "");
	s->at = now;
}

int
authn_verify_token(struct app *a, const char *tok, long now,
    struct auth_claims *c)
{
	struct authn_tok *t;
	uint8_t key[16];
	int rc;

	crypto_generichash(key, sizeof(key), (const uint8_t *)tok,
	    strlen(tok), a->cache_key, sizeof(a->cache_key));
	t = &a->tokens[key[0] % AUTHN_TOKENS];
	if (t->claims.exp != 0 && sodium_memcmp(t->key, key, 16) == 0) {
		if (now >= t->claims.exp) {
			memset(c, 0, sizeof(*c));
			return AUTH_EEXPIRED;
		}
		*c = t->claims;
		return AUTH_OK;
	}
	rc = auth_jwt_verify(a->secret, a->secretlen, tok, a->issuer, now, c);
	if (rc == AUTH_OK && c->exp > now) {
		memcpy(t->key, key, sizeof(key));
		t->claims = *c;
	}
	return rc;
}

int
authn_password(struct app *a, struct request *r, struct response *resp,
    const char *user, const char *pw, char *role, size_t rolelen)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = NULL, *v;
	char body[AUTH_USER_MAX * 2 + 32];
	const char *hash;
	uint8_t key[32];
	long now = (long)time(NULL);
	int rc = 1;
	struct buf b;

	*role = '\0';
	if (!auth_valid_username(user) || strlen(pw) > 256) {
		auth_dummy_check(pw);
		return 1;
	}
	buf_init(&b, sizeof(body));
	buf_puts(&b, "{\"username\":");
	reply_json_string(&b, user);
	buf_puts(&b, "}");
	q.json.data = b.data;
	q.json.len = b.len;
	if (app_call(a, r, resp, IPC_AUTH_INFO, &q, &rep, 1) == -1) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	if (rep->status == 404) {
		auth_dummy_check(pw);
		goto out;
	}
	if (rep->status != 200) {
		app_reply_error(resp, rep);
		rc = -1;
		goto out;
	}
	o = app_reply_json(rep);
	if (o == NULL || !json_object_object_get_ex(o, "hash", &v) ||
	    (hash = json_object_get_string(v)) == NULL || *hash == '\0') {
		auth_dummy_check(pw);
		goto out;
	}
	if (json_object_object_get_ex(o, "active", &v) &&
	    !json_object_get_boolean(v)) {
		auth_dummy_check(pw);
		goto out;
	}
	if (json_object_object_get_ex(o, "role", &v))
		snprintf(role, rolelen, "%s", json_object_get_string(v));
	authn_cache_digest(a, user, pw, hash, key);
	if (authn_cache_lookup(a, key, NULL, 0, now)) {
		rc = 0;
		goto out;
	}
	if (auth_check_password(hash, pw) == 1) {
		authn_cache_store(a, key, role, now);
		rc = 0;
	}
out:
	json_object_put(o);
	ipc_reply_free(rep);
	return rc;
}

/* A failed Basic attempt counts against the client address. */
static int
authn_fail_counted(struct app *a, struct request *r, struct response *resp)
{
	r->user[0] = '\0';
	r->role[0] = '\0';
	r->auth = AUTHK_NONE;
	if (app_rate_check(a, r, resp, 1) == -1)
		return -1;
	reply_unauthorized(resp, "INVALID_CREDENTIALS", "Invalid credentials");
	return -1;
}

int
authn_request(struct app *a, struct request *r, struct response *resp)
{
	const char *h, *tok;
	struct auth_claims c;
	char user[AUTH_USER_MAX + 1], pw[260], role[16];
	int rc;

	if (r->auth != AUTHK_NONE)
		return 0;
	/* API_AUTH_ENABLED=false serves loopback clients only (config.c);
	 * anyone else still has to authenticate. */
	if (!a->auth_enabled && r->loopback) {
		r->auth = AUTHK_OFF;
		snprintf(r->user, sizeof(r->user), "%s", a->admin_user);
		snprintf(r->role, sizeof(r->role), "admin");
		return 0;
	}
	h = request_env(r, "HTTP_AUTHORIZATION");
	if (h == NULL || *h == '\0') {
		reply_unauthorized(resp, "MISSING_CREDENTIALS",
		    "Access token or credentials required");
		return -1;
	}
	if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\0')) {
		for (tok = h + 6; *tok == ' '; tok++)
			;
		if (*tok == '\0') {
			reply_unauthorized(resp, "MISSING_TOKEN",
			    "Access token required");
			return -1;
		}
		rc = authn_verify_token(a, tok, (long)time(NULL), &c);
		if (rc != AUTH_OK) {
			reply_unauthorized(resp, "INVALID_TOKEN",
			    rc == AUTH_EEXPIRED ? "Token expired" :
			    "Invalid token");
			return -1;
		}
		r->auth = AUTHK_BEARER;
		snprintf(r->user, sizeof(r->user), "%s", c.user);
		snprintf(r->role, sizeof(r->role), "%s", c.role);
		r->iat = c.iat;
		r->exp = c.exp;
		return 0;
	}
	if (strncasecmp(h, "Basic", 5) == 0) {
		if (authn_parse_basic(h, user, sizeof(user), pw,
		    sizeof(pw)) == -1) {
			sodium_memzero(pw, sizeof(pw));
			return authn_fail_counted(a, r, resp);
		}
		rc = authn_password(a, r, resp, user, pw, role, sizeof(role));
		sodium_memzero(pw, sizeof(pw));
		if (rc == -1)
			return -1;
		if (rc == 1)
			return authn_fail_counted(a, r, resp);
		r->auth = AUTHK_BASIC;
		snprintf(r->user, sizeof(r->user), "%s", user);
		snprintf(r->role, sizeof(r->role), "%s", role);
		return 0;
	}
	reply_unauthorized(resp, "MISSING_CREDENTIALS",
	    "Unsupported authorization scheme (use Bearer or Basic)");
	return -1;
}

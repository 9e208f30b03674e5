/*
 * auth.c - JWT (libjwt, HS256 only), argon2id passwords (libsodium) and the
 * JWT secret file.  The only file that includes <jwt.h>.  Never logs a
 * token, a password or the secret.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"

#define PW_OPS	2
#define PW_MEM	(19u * 1024 * 1024)

static int
auth_read_secret_file(const char *path, uint8_t *out, size_t max,
    size_t *len)
{
	char hex[2 * AUTH_SECRET_MAX + 2];
	ssize_t n;
	size_t bin = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	hex[n] = '\0';
	while (n > 0 && isspace((unsigned char)hex[n - 1]))
		hex[--n] = '\0';
	if (sodium_hex2bin(out, max, hex, (size_t)n, NULL, &bin, NULL) != 0 ||
	    bin < 32)
		return -2;
	*len = bin;
	sodium_memzero(hex, sizeof(hex));
	return 0;
}

int
auth_secret_load(uint8_t *out, size_t max, size_t *len)
{
	const char *env = config_get("JWT_SECRET");
	char path[PATH_MAX], tmp[PATH_MAX + 16], hex[65];
	uint8_t key[32];
	int fd, rc;

	*len = 0;
	if (*env != '\0') {
		if (strlen(env) > max || strlen(env) < 16) {
			log_warnx("JWT_SECRET must be 16..%zu bytes", max);
			return -1;
		}
		memcpy(out, env, strlen(env));
		*len = strlen(env);
		return 0;
	}
	config_path(path, sizeof(path), "VAR_DIR", "jwt.secret");
	if ((rc = auth_read_secret_file(path, out, max, len)) == 0)
		return 0;
	if (rc == -2) {
		log_warnx("%s: malformed secret", path);
		return -1;
	}
	/* Create it once: write a temp file, then link() so racing creators
	 * (devmgr, fcgi-app workers, wsrelay) all end up with one secret. */
	mkdir(config_get("VAR_DIR"), 0700);
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600))
	    == -1) {
		log_warn("%s", tmp);
		return -1;
	}
	if (write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 ||
	    fsync(fd) == -1) {
		log_warn("%s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (link(tmp, path) == -1 && errno != EEXIST) {
		log_warn("%s", path);
		unlink(tmp);
		return -1;
	}
	unlink(tmp);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return auth_read_secret_file(path, out, max, len) == 0 ? 0 : -1;
}

char *
auth_jwt_issue(const uint8_t *key, size_t keylen, const char *user,
    const char *role, long ttl, const char *issuer)
{
	jwt_t *jwt = NULL;
	char *tok = NULL, *ret = NULL;
	long now = (long)time(NULL);

	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_add_grant(jwt, "sub", user) || jwt_add_grant(jwt, "username",
	    user) || jwt_add_grant(jwt, "role", role) ||
	    jwt_add_grant(jwt, "iss", issuer) ||
	    jwt_add_grant_int(jwt, "iat", now) ||
	    jwt_add_grant_int(jwt, "exp", now + ttl) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen))
		goto out;
	if ((tok = jwt_encode_str(jwt)) != NULL)
		ret = xstrdup(tok);
out:
	if (tok != NULL)
		free(tok);
	jwt_free(jwt);
	return ret;
}

/* Decode the header ourselves: only {"alg":"HS256"} is ever accepted. */
static int
auth_jwt_alg_ok(const char *token)
{
	const char *dot = strchr(token, '.');
	char hdr[512];
	unsigned char raw[384];
	size_t rawlen = 0;

	if (dot == NULL || (size_t)(dot - token) >= sizeof(hdr))
		return 0;
	memcpy(hdr, token, (size_t)(dot - token));
	hdr[dot - token] = '\0';
	if (sodium_base642bin(raw, sizeof(raw) - 1, hdr, strlen(hdr), NULL,
	    &rawlen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return 0;
	raw[rawlen] = '\0';
	return strstr((char *)raw, "\"HS256\"") != NULL &&
	    strstr((char *)raw, "\"alg\"") != NULL;
}

int
auth_jwt_verify(const uint8_t *key, size_t keylen, const char *token,
    const char *issuer, long now, struct auth_claims *c)
{
	jwt_t *jwt = NULL;
	const char *user, *role, *iss;
	int rc = AUTH_EMALFORMED, dots = 0;
	const char *p;

	memset(c, 0, sizeof(*c));
	if (token == NULL || strlen(token) > 4096)
		return AUTH_EMALFORMED;
	for (p = token; *p; p++) {
		if (*p == '.')
			dots++;
		else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return AUTH_EMALFORMED;
	}
	if (dots != 2)
		return AUTH_EMALFORMED;
	if (!auth_jwt_alg_ok(token))
		return AUTH_EALG;
	if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || jwt == NULL)
		return AUTH_ESIG;
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		rc = AUTH_EALG;
		goto out;
	}
	user = jwt_get_grant(jwt, "sub");
	role = jwt_get_grant(jwt, "role");
	iss = jwt_get_grant(jwt, "iss");
	c->exp = jwt_get_grant_int(jwt, "exp");
	c->iat = jwt_get_grant_int(jwt, "iat");
	if (user == NULL || role == NULL || c->exp <= 0 ||
	    strlen(user) > AUTH_USER_MAX || strlen(role) >= sizeof(c->role))
		goto out;
	if (iss == NULL || strcmp(iss, issuer) != 0) {
		rc = AUTH_EISSUER;
		goto out;
	}
	if (now >= c->exp) {
		rc = AUTH_EEXPIRED;
		goto out;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->role, sizeof(c->role), "%s", role);
	rc = AUTH_OK;
out:
	jwt_free(jwt);
	if (rc != AUTH_OK)
		memset(c, 0, sizeof(*c));
	return rc;
}

const char *
auth_strerror(int e)
{
	switch (e) {
	case AUTH_OK: return "ok";
	case AUTH_EALG: return "unsupported algorithm";
	case AUTH_ESIG: return "bad signature";
	case AUTH_EEXPIRED: return "token expired";
	case AUTH_EISSUER: return "wrong issuer";
	default: return "malformed token";
	}
}

int
auth_hash_password(const char *pw, char out[AUTH_HASH_MAX])
{
	if (crypto_pwhash_str_alg(out, pw, strlen(pw), PW_OPS, PW_MEM,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		log_warnx("password hashing failed (out of memory?)");
		return -1;
	}
	return 0;
}

int
auth_check_password(const char *hash, const char *pw)
{
	if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0)
		return 0;
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

static char auth_dummy[AUTH_HASH_MAX];
static pthread_once_t auth_dummy_once = PTHREAD_ONCE_INIT;

static void
auth_dummy_init(void)
{
	if (auth_hash_password("dummy-password", auth_dummy) == -1)
		auth_dummy[0] = '\0';
}

void
auth_dummy_check(const char *pw)
{
	/* made once, whichever request thread comes first */
	pthread_once(&auth_dummy_once, auth_dummy_init);
	if (auth_dummy[0] == '\0')
		return;
	if (crypto_pwhash_str_verify(auth_dummy, pw, strlen(pw)) == 0)
		log_debug("dummy check matched");
}

int
auth_streq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, n = la > lb ? la : lb;
	unsigned char d = la != lb;

	for (i = 0; i < n; i++)
		d |= (unsigned char)((i < la ? a[i] : 0) ^ (i < lb ? b[i] : 0));
	return d == 0;
}

int
auth_valid_username(const char *u)
{
	size_t n = strlen(u), i;

	if (n < 3 || n > AUTH_USER_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)u[i]) && u[i] != '.' &&
		    u[i] != '_' && u[i] != '-')
			return 0;
	return 1;
}

int
auth_valid_password(const char *p)
{
	size_t n = strlen(p);

	return n >= 6 && n <= 256;
}

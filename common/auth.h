/*
 * auth.h - credentials shared by fcgi-app, wsrelay and devmgr/wactl:
 * the JWT secret (config JWT_SECRET, else $VAR_DIR/jwt.secret created once,
 * 0600), HS256 tokens (libjwt is included by auth.c only), and argon2id
 * password hashes (libsodium crypto_pwhash_str).  Every comparison of
 * secrets is constant-time.  Nothing here logs a secret.
 */
#ifndef COMMON_AUTH_H
#define COMMON_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_SECRET_MAX		256
#define AUTH_HASH_MAX		128	/* crypto_pwhash_STRBYTES */
#define AUTH_USER_MAX		64

struct auth_claims {
	char	user[AUTH_USER_MAX + 1];
	char	role[16];
	long	iat;
	long	exp;
};

enum auth_err {
	AUTH_OK = 0,
	AUTH_EMALFORMED = -1,	/* not a JWT, bad JSON, missing claims */
	AUTH_EALG = -2,		/* not HS256 (incl. alg:none) */
	AUTH_ESIG = -3,		/* signature mismatch */
	AUTH_EEXPIRED = -4,
	AUTH_EISSUER = -5,
};

/* Load (or create once) the JWT secret; 0 or -1.  len = bytes in out. */
int	 auth_secret_load(uint8_t *out, size_t max, size_t *len);

/* Issue an HS256 token for user/role valid ttl seconds. Caller frees. */
char	*auth_jwt_issue(const uint8_t *key, size_t keylen, const char *user,
	    const char *role, long ttl, const char *issuer);
/* Verify; fills claims.  Returns AUTH_OK or a negative enum auth_err. */
int	 auth_jwt_verify(const uint8_t *key, size_t keylen, const char *token,
	    const char *issuer, long now, struct auth_claims *);
const char *auth_strerror(int);

/* argon2id (libsodium), parameters: t=2, m=19 MiB (OWASP minimum). */
int	 auth_hash_password(const char *pw, char out[AUTH_HASH_MAX]);
int	 auth_check_password(const char *hash, const char *pw); /* 1 match */
/* Burn the same time as a real check, for unknown users. */
void	 auth_dummy_check(const char *pw);

/* Constant-time equality of two NUL-terminated strings. */
int	 auth_streq_ct(const char *a, const char *b);

/* Usernames: 3..64 of [A-Za-z0-9._-]; passwords 6..256 bytes. */
int	 auth_valid_username(const char *);
int	 auth_valid_password(const char *);

#endif

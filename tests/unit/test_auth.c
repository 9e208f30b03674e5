/* test_auth.c - JWT issue/verify incl. tampering and alg:none; argon2id. */
#include <sodium.h>
#include <time.h>

#include "t.h"
#include "auth.h"
#include "log.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KL 32

static char *
b64url(const char *s)
{
	static char out[512];

	sodium_bin2base64(out, sizeof(out), (const unsigned char *)s,
	    strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

static void
test_jwt_roundtrip(void)
{
	struct auth_claims c;
	char *tok = auth_jwt_issue(key, KL, "alice", "user", 60, "gw");

	T_OK(tok != NULL, "issued");
	T_EQ_INT(auth_jwt_verify(key, KL, tok, "gw", time(NULL), &c), AUTH_OK,
	    "verifies");
	T_EQ_STR(c.user, "alice", "sub");
	T_EQ_STR(c.role, "user", "role");
	T_OK(c.exp - c.iat == 60, "exp = iat + ttl");
	T_EQ_INT(auth_jwt_verify(key, KL, tok, "gw", time(NULL) + 61, &c),
	    AUTH_EEXPIRED, "expired rejected");
	T_EQ_INT(auth_jwt_verify(key, KL, tok, "other", time(NULL), &c),
	    AUTH_EISSUER, "wrong issuer rejected");
	T_EQ_INT(auth_jwt_verify((const uint8_t *)"another-key-another-key-000000",
	    30, tok, "gw", time(NULL), &c), AUTH_ESIG, "wrong key rejected");
	T_EQ_STR(c.user, "", "claims cleared on failure");
	free(tok);
}

static void
test_jwt_tampered(void)
{
	struct auth_claims c;
	char *tok = auth_jwt_issue(key, KL, "alice", "user", 60, "gw");
	char forged[2048], *dot1, *dot2;
	char payload[256];

	/* Swap the payload for one claiming admin, keep the signature. */
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	snprintf(payload, sizeof(payload), "{\"sub\":\"alice\",\"role\":\"admin\","
	    "\"iss\":\"gw\",\"iat\":1,\"exp\":%ld}", (long)time(NULL) + 60);
	snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - tok), tok,
	    b64url(payload), dot2);
	T_EQ_INT(auth_jwt_verify(key, KL, forged, "gw", time(NULL), &c),
	    AUTH_ESIG, "payload swap rejected");
	/* alg:none with an empty signature. */
	snprintf(forged, sizeof(forged), "%s.%s.",
	    b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"), b64url(payload));
	T_EQ_INT(auth_jwt_verify(key, KL, forged, "gw", time(NULL), &c),
	    AUTH_EALG, "alg none rejected");
	snprintf(forged, sizeof(forged), "%s.%s.abc",
	    b64url("{\"alg\":\"HS512\",\"typ\":\"JWT\"}"), b64url(payload));
	T_EQ_INT(auth_jwt_verify(key, KL, forged, "gw", time(NULL), &c),
	    AUTH_EALG, "other alg rejected");
	T_EQ_INT(auth_jwt_verify(key, KL, "garbage", "gw", time(NULL), &c),
	    AUTH_EMALFORMED, "garbage rejected");
	T_EQ_INT(auth_jwt_verify(key, KL, "a.b.c.d", "gw", time(NULL), &c),
	    AUTH_EMALFORMED, "four parts rejected");
	T_EQ_INT(auth_jwt_verify(key, KL, "a b.c.d", "gw", time(NULL), &c),
	    AUTH_EMALFORMED, "bad characters rejected");
	tok[strlen(tok) - 2] ^= 1;
	T_OK(auth_jwt_verify(key, KL, tok, "gw", time(NULL), &c) != AUTH_OK,
	    "flipped signature rejected");
	free(tok);
}

static void
test_password(void)
{
	char h[AUTH_HASH_MAX];

	T_EQ_INT(auth_hash_password("s3cret-pass", h), 0, "hashes");
	T_OK(strncmp(h, "$argon2id$", 10) == 0, "argon2id format");
	T_OK(auth_check_password(h, "s3cret-pass") == 1, "right password");
	T_OK(auth_check_password(h, "s3cret-pasS") == 0, "wrong password");
	T_OK(auth_check_password("$2b$12$bcrypt", "x") == 0, "non-argon refused");
	T_OK(auth_check_password(NULL, "x") == 0, "no hash refused");
	T_OK(auth_streq_ct("abc", "abc") && !auth_streq_ct("abc", "abd") &&
	    !auth_streq_ct("abc", "abcd") && !auth_streq_ct("", "a"),
	    "constant-time compare");
	T_OK(auth_valid_username("bob") && !auth_valid_username("bo") &&
	    !auth_valid_username("bob smith") && !auth_valid_username("a:b"),
	    "username rules");
	T_OK(auth_valid_password("123456") && !auth_valid_password("12345"),
	    "password rules");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_jwt_roundtrip);
	T_RUN(test_jwt_tampered);
	T_RUN(test_password);
	return t_done();
}

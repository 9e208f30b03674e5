/*
 * msgid.c - message id generation and validation (PROTOCOL.md §7.3).
 * Pure functions: no state, no logging.
 */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "msgid.h"

int
msgid_generate_with(const char *own_user, uint64_t secs,
    const uint8_t random[16], char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	crypto_hash_sha256_state st;
	uint8_t be[8], h[crypto_hash_sha256_BYTES];
	size_t i;

	if (out == NULL || outsz < MSGID_LEN + 1)
		return -1;
	out[0] = '\0';
	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(secs >> (56 - 8 * i));
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, be, sizeof(be));
	if (own_user != NULL && own_user[0] != '\0') {
		crypto_hash_sha256_update(&st, (const uint8_t *)own_user,
		    strlen(own_user));
		crypto_hash_sha256_update(&st, (const uint8_t *)"@c.us", 5);
	}
	crypto_hash_sha256_update(&st, random, 16);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, MSGID_PREFIX, 4);
	for (i = 0; i < 9; i++) {
		out[4 + 2 * i] = hex[h[i] >> 4];
		out[5 + 2 * i] = hex[h[i] & 15];
	}
	out[MSGID_LEN] = '\0';
	return 0;
}

int
msgid_generate(const char *own_user, uint64_t secs, char *out, size_t outsz)
{
	uint8_t r[16];
	int rc;

	randombytes_buf(r, sizeof(r));
	rc = msgid_generate_with(own_user, secs, r, out, outsz);
	sodium_memzero(r, sizeof(r));
	return rc;
}

int
msgid_valid_new(const char *id)
{
	size_t n, i;

	if (id == NULL)
		return 0;
	n = strlen(id);
	if (n < 16 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return 1;
}

int
msgid_valid_ref(const char *id)
{
	size_t n, i;
	char c;

	if (id == NULL)
		return 0;
	n = strlen(id);
	if (n == 0 || n >= MSGID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '_' || c == '.' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * padding.c - add/remove WhatsApp message padding (PROTOCOL.md §7.2).
 * Pure functions: no state, no logging (content is never logged).
 */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "padding.h"
#include "xmalloc.h"

int
padding_add(const uint8_t *in, size_t len, unsigned n, uint8_t **out,
    size_t *outlen)
{
	uint8_t *p, r;

	*out = NULL;
	*outlen = 0;
	if ((in == NULL && len > 0) || n > PADDING_MAX ||
	    len > SIZE_MAX - PADDING_MAX)
		return -1;
	if (n == 0) {
		randombytes_buf(&r, 1);
		n = r & 0x0f;
		if (n == 0)
			n = 15;
	}
	p = xmalloc(len + n);
	if (len > 0)
		memcpy(p, in, len);
	memset(p + len, (int)n, n);
	*out = p;
	*outlen = len + n;
	return 0;
}

int
padding_remove(const uint8_t *in, size_t len, size_t *outlen)
{
	size_t n, i;

	*outlen = 0;
	if (in == NULL || len == 0)
		return -1;
	n = in[len - 1];
	if (n == 0 || n > len)
		return -1;
	for (i = len - n; i < len; i++)
		if (in[i] != n)
			return -1;
	*outlen = len - n;
	return 0;
}

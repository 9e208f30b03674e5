/*
 * wa_tokens.h - the WhatsApp binary-XML token dictionaries (version 3,
 * PROTOCOL.md 3.5) and lookups in both directions.  The tables live in the
 * generated wa_tokens.c (tests/tools/gen_tokens.py); they hold no state.
 */
#ifndef WAPROC_WA_TOKENS_H
#define WAPROC_WA_TOKENS_H

#include <stddef.h>

#define WA_TOKENS_DICT_VERSION	3	/* byte 3 of the 'W','A',6,3 intro */
#define WA_TOKENS_NSINGLE	236	/* indices 1..235; 0 is a placeholder */
#define WA_TOKENS_NDICT		4	/* double-byte dictionaries 0..3 */
#define WA_TOKENS_NDOUBLE	256	/* entries per double-byte dictionary */

enum wa_token_kind {
	WA_TOKEN_NONE = 0,
	WA_TOKEN_SINGLE,	/* *idx = byte 1..235 */
	WA_TOKEN_DOUBLE		/* bytes 236 + *dict, *idx */
};

/* Token string for a single-byte index (NULL for 0 or out of range). */
const char	*wa_tokens_single(unsigned int idx);
/* Token string for a double-byte (dict, idx) (NULL if out of range). */
const char	*wa_tokens_double(unsigned int dict, unsigned int idx);
/* Find s[0..len) in the dictionaries; returns an enum wa_token_kind. */
int		 wa_tokens_lookup(const char *s, size_t len, unsigned int *dict,
		    unsigned int *idx);

#endif

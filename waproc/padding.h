/*
 * padding.h - WhatsApp's random padding of a serialized Message before
 * Signal encryption (PROTOCOL.md §7.2), pairwise and sender-key alike.
 * We send 1..15 bytes each equal to the count (valid for whatsmeow and
 * Baileys receivers); on receive the last byte n must be 1..len and the
 * last n bytes must all equal n (whatsmeow's check; Baileys' 1..16 padding
 * passes it).  enc v="3" payloads are not padded: do not call these.
 */
#ifndef WAPROC_PADDING_H
#define WAPROC_PADDING_H

#include <stddef.h>
#include <stdint.h>

#define PADDING_MAX	16

/*
 * Copy in[0..len) plus n padding bytes into a new buffer (*out, xmalloc'd).
 * n = 0 picks a random n in 1..15; otherwise n must be 1..PADDING_MAX.
 * Returns 0 or -1 (bad n / overflow).
 */
int	padding_add(const uint8_t *in, size_t len, unsigned n, uint8_t **out,
	    size_t *outlen);
/* Length of the payload without padding in *outlen; 0, or -1 if invalid. */
int	padding_remove(const uint8_t *in, size_t len, size_t *outlen);

#endif

/*
 * msgid.h - WhatsApp message ids (PROTOCOL.md §7.3).
 *
 * New ids follow whatsmeow's current Client.GenerateMessageID:
 *   "3EB0" + UPPERHEX(SHA256(uint64_BE(unix_seconds) || own_user || "@c.us"
 *                            || 16 random bytes)[0:9])            (22 chars)
 * (the user part is left out before login).  The server does not check the
 * hash; the format only has to look like a web client's.
 *
 * Validators: msgid_valid_new() for an id a API client supplies for a send
 * (it becomes the stanza id, so: uppercase hex, 16..64 chars — every id
 * WhatsApp clients generate has that shape); msgid_valid_ref() for an id
 * that names an existing message (/message/:id/... routes, reply_message_id), which
 * may come from any client (Android/iOS/Web/Baileys/newsletter server ids).
 * Pure functions; no logging.
 */
#ifndef WAPROC_MSGID_H
#define WAPROC_MSGID_H

#include <stddef.h>
#include <stdint.h>

#define MSGID_PREFIX	"3EB0"
#define MSGID_LEN	22		/* "3EB0" + 18 hex */
#define MSGID_MAX	128		/* longest id we accept anywhere, incl. NUL */

/* New id into out (outsz >= MSGID_LEN + 1).  own_user: the user part of
 * our JID ("5511987654321"), NULL/"" before login.  Returns 0 or -1. */
int	msgid_generate(const char *own_user, uint64_t unix_seconds, char *out,
	    size_t outsz);
/* Same with caller-given randomness (tests, reproducible ids). */
int	msgid_generate_with(const char *own_user, uint64_t unix_seconds,
	    const uint8_t random[16], char *out, size_t outsz);

/* 1 if id is acceptable as a new stanza id from an API client. */
int	msgid_valid_new(const char *id);
/* 1 if id can name an existing message: 1..MSGID_MAX-1 chars of
 * [A-Za-z0-9_.:-]. */
int	msgid_valid_ref(const char *id);

#endif

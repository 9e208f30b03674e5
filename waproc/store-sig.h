/*
 * store-sig.h - the Signal and addressing side of the device store
 * (store.h): session records per Signal address, remote identities,
 * one-time prekeys by id, sender-key records per (group, sender), which
 * devices already hold our sender key, the LID <-> phone-number map, and
 * the message lookups the send and receive pipelines need.  Part of the
 * store family: store.c opens and migrates, this file only reads and
 * writes rows.  Callers group writes in store_begin/store_commit so a
 * decrypted message and the state that decrypted it commit together.
 * Blobs returned are malloc'd: free with signal_free_secret(p, len).
 */
#ifndef WAPROC_STORE_SIG_H
#define WAPROC_STORE_SIG_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct signal_keypair;
struct json_object;

#define STORE_ADDR_MAX	160	/* "<signal name>.<device>" */

/* get: 0 found (*blob malloc'd), 1 absent, -1 error.  put: 0 or -1. */
int	store_session_get(struct store *, const char *addr, uint8_t **blob,
	    size_t *len);
int	store_session_put(struct store *, const char *addr, const uint8_t *,
	    size_t);
int	store_session_delete(struct store *, const char *addr);
/* Remote identity (trust on first use, a change replaces it).
 * get: 0 found, 1 absent, -1.  put: 0 same as before / new, 2 changed,
 * -1 error. */
int	store_identity_get(struct store *, const char *addr,
	    uint8_t key[32]);
int	store_identity_put(struct store *, const char *addr,
	    const uint8_t key[32]);

/* One-time prekey by id: 0 found, 1 absent, -1. */
int	store_prekey_get(struct store *, uint32_t id, struct signal_keypair *);
int	store_prekey_delete(struct store *, uint32_t id);

/* Sender-key record of (group, sender address). */
int	store_sender_key_get(struct store *, const char *group,
	    const char *sender, uint8_t **blob, size_t *len);
int	store_sender_key_put(struct store *, const char *group,
	    const char *sender, const uint8_t *, size_t);
/* Devices (addresses) that already have our sender key for group. */
int	store_sk_shared_has(struct store *, const char *group,
	    const char *addr);
int	store_sk_shared_add(struct store *, const char *group,
	    const char *addr);
int	store_sk_shared_clear(struct store *, const char *group);

/* LID map: "123@lid" <-> "5511…@s.whatsapp.net" (bare user JIDs).
 * get: 0 found (out filled), 1 absent, -1. */
int	store_lid_put(struct store *, const char *lid, const char *pn);
int	store_lid_to_pn(struct store *, const char *lid, char *pn,
	    size_t pnsz);
int	store_pn_to_lid(struct store *, const char *pn, char *lid,
	    size_t lidsz);

/* A stored message by id (any chat when chat is NULL, newest first).
 * 0 found, 1 absent, -1.  Strings into the caller's buffers; *raw
 * malloc'd when raw is not NULL (free()). */
struct store_msg_ref {
	char	chat[128];
	char	sender[128];
	int	from_me;
	int64_t	ts;
	char	type[24];
	char	status[16];
};
int	store_msg_find(struct store *, const char *chat, const char *id,
	    struct store_msg_ref *, char **body, uint8_t **raw,
	    size_t *rawlen);

/* GET /api/chats: newest activity first.  A JSON array (the caller's to
 * put) or NULL on error. */
struct json_object *store_chats_json(struct store *, int limit, int offset,
	    const char *search);
/* GET /api/chat/:jid/messages: newest first. */
struct json_object *store_chat_messages_json(struct store *, const char *chat,
	    int limit, int offset, const char *search, int64_t *total);
/* Keep the chats row current for a message (insert or bump). */
int	store_chat_touch(struct store *, const char *chat, int64_t ts_s,
	    int incoming, const char *name);

#endif

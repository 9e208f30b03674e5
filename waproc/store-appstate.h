/*
 * store-appstate.h - app state ("syncd") rows of store.db: the sync keys
 * the phone shares, each collection's version, LTHash and index-MAC map,
 * and the local effects of the mutations (star, delete for me, pin,
 * archive, mute, contact names).  Plain row access: syncd.c holds the
 * policy and the transactions.  Never logs key material.
 */
#ifndef WAPROC_STORE_APPSTATE_H
#define WAPROC_STORE_APPSTATE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct appstate_state;

#define STORE_AS_KEYDATA_MAX	64	/* bytes of one keyData */

/* ---- sync keys (protocolMessage type 6) ---- */
/* Insert or replace.  0 or -1. */
int	store_as_key_put(struct store *, const uint8_t *id, size_t idlen,
	    const uint8_t *data, size_t datalen, const uint8_t *fp,
	    size_t fplen, int64_t ts);
/* keyData of id into data[STORE_AS_KEYDATA_MAX]: 0 (*datalen), 1 absent,
 * -1. */
int	store_as_key_get(struct store *, const uint8_t *id, size_t idlen,
	    uint8_t *data, size_t *datalen);
/* The newest key (largest ts): id into id[idmax], data as above.  0, 1
 * none, -1. */
int	store_as_key_latest(struct store *, uint8_t *id, size_t idmax,
	    size_t *idlen, uint8_t *data, size_t *datalen);
int	store_as_key_count(struct store *);

/* ---- collections ---- */
/* Load the stored state of st->name into st (initialized by the caller,
 * empty: a collection never synced is version 0).  0 or -1. */
int	store_as_state_load(struct store *, struct appstate_state *st);
/* Write next over what old (the state loaded or last saved) had: the
 * version row and only the index MACs that changed.  In the caller's
 * transaction.  0 or -1. */
int	store_as_state_save(struct store *, const struct appstate_state *old,
	    const struct appstate_state *next);
/* Forget one collection (a snapshot will rebuild it).  0 or -1. */
int	store_as_state_drop(struct store *, const char *name);

/* ---- local effects ---- */
/* 0 done, 1 no such message, -1. */
int	store_msg_set_starred(struct store *, const char *chat,
	    const char *id, int starred);
int	store_msg_delete(struct store *, const char *chat, const char *id);
/* 1 if starred, 0 not (or absent), -1. */
int	store_msg_starred(struct store *, const char *chat, const char *id);
/* column: "pinned", "archived" or "muted_until"; the chat row is created
 * when missing.  0 or -1. */
int	store_chat_set(struct store *, const char *chat, const char *column,
	    int64_t value);
/* The address-book name of a contact (NULL clears it).  0 or -1. */
int	store_contact_name(struct store *, const char *jid, const char *name);

#endif

/*
 * appstate.h - WhatsApp app state ("syncd", PROTOCOL.md 10.2): the codec
 * for the encrypted, MAC'd mutations that star, delete-for-me, mute, pin
 * and archive travel in, and the per-collection integrity state.
 *
 *   keys     = HKDF-SHA256(keyData, no salt, "WhatsApp Mutation Keys", 160)
 *              -> index | value-enc | value-MAC | snapshot-MAC | patch-MAC
 *   indexMAC = HMAC-SHA256(indexKey, index JSON)
 *   value    = iv(16) || AES-256-CBC(valueEncKey, iv, SyncActionData)
 *              || valueMAC(32)
 *   valueMAC = HMAC-SHA512(valueMacKey, op+1 || keyId || iv||ct ||
 *              uint64_BE(len(keyId)+1))[0:32]
 *   LTHash   = 128 bytes, 64 LE uint16 lanes; SET adds and REMOVE or
 *              overwrite subtracts HKDF(valueMAC, "WhatsApp Patch
 *              Integrity", 128)
 *   snapMAC  = HMAC-SHA256(snapshotMacKey, LTHash || u64BE(ver) || name)
 *   patchMAC = HMAC-SHA256(patchMacKey, snapMAC || valueMACs ||
 *              u64BE(ver) || name)
 *
 * Pure functions over memory: no network, no SQL, no logging (the caller
 * decides what a bad patch means), no clock except where a builder is
 * given a zero timestamp.  Snapshots and external mutation blobs that
 * need a media download are reported (APPSTATE_EEXTERNAL), not fetched.
 * Everything read from the network is bounded by the APPSTATE_MAX_*
 * caps.  Key material is wiped when this module is done with it.
 */
#ifndef WAPROC_APPSTATE_H
#define WAPROC_APPSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "binnode.h"

#define APPSTATE_HASH_LEN	128
#define APPSTATE_MAC_LEN	32
#define APPSTATE_KEYID_MAX	64		/* bytes of a key id */
#define APPSTATE_NAME_MAX	32		/* collection name + NUL */
#define APPSTATE_INDEX_MAX	4096		/* index JSON bytes */
#define APPSTATE_VALUE_MAX	(256u << 10)	/* one encrypted value */
#define APPSTATE_PATCH_MAX	(16u << 20)	/* one patch / snapshot */
#define APPSTATE_MUTATIONS_MAX	50000		/* mutations in one patch */
#define APPSTATE_ENTRIES_MAX	(1u << 20)	/* index MACs per collection */

/* Collections (PROTOCOL.md 10.2). */
#define APPSTATE_CRITICAL_BLOCK		"critical_block"
#define APPSTATE_CRITICAL_UNBLOCK_LOW	"critical_unblock_low"
#define APPSTATE_REGULAR_LOW		"regular_low"
#define APPSTATE_REGULAR_HIGH		"regular_high"
#define APPSTATE_REGULAR		"regular"

/* Error codes (all negative). */
#define APPSTATE_EINVAL		(-1)	/* bad argument, malformed input */
#define APPSTATE_ELIMIT		(-2)	/* an APPSTATE_*_MAX cap */
#define APPSTATE_ENOKEY		(-3)	/* key id unknown to the getter */
#define APPSTATE_EVALUEMAC	(-4)	/* record value MAC mismatch */
#define APPSTATE_EINDEXMAC	(-5)	/* record index MAC mismatch */
#define APPSTATE_EDECRYPT	(-6)	/* AES-CBC padding / SyncActionData */
#define APPSTATE_EPATCHMAC	(-7)	/* patch MAC mismatch */
#define APPSTATE_ESNAPSHOTMAC	(-8)	/* LTHash / snapshot MAC mismatch */
#define APPSTATE_EVERSION	(-9)	/* patch not newer than the state */
#define APPSTATE_EEXTERNAL	(-10)	/* needs a blob download first */
#define APPSTATE_ESERVER	(-11)	/* the answer carries an <error> */

enum appstate_op {
	APPSTATE_SET = 0,		/* SyncdMutation.SET */
	APPSTATE_REMOVE = 1		/* SyncdMutation.REMOVE */
};

/* The five keys expanded from one 32-byte-ish keyData. */
struct appstate_keys {
	uint8_t	index[32];
	uint8_t	value_enc[32];
	uint8_t	value_mac[32];
	uint8_t	snapshot_mac[32];
	uint8_t	patch_mac[32];
};

/*
 * Key lookup for decoding: fill *out with the expanded keys of key id
 * id[0..idlen) (appstate_expand_keys of the stored keyData) and return 0,
 * or return APPSTATE_ENOKEY.  waproc backs it with the keys shared by the
 * phone (protocolMessage type 6).
 */
typedef int (*appstate_getkey_cb)(void *arg, const uint8_t *id,
    size_t idlen, struct appstate_keys *out);

/* One index MAC -> value MAC of the last SET at that index. */
struct appstate_entry {
	uint8_t	index_mac[APPSTATE_MAC_LEN];
	uint8_t	value_mac[APPSTATE_MAC_LEN];
};

/* What a device keeps per collection between syncs. */
struct appstate_state {
	char			 name[APPSTATE_NAME_MAX];
	uint64_t		 version;
	uint8_t			 hash[APPSTATE_HASH_LEN];
	struct appstate_entry	*entries;	/* sorted by index_mac */
	size_t			 nentries;
	size_t			 cap;
};

/*
 * One mutation, to send or as decoded.  index is the JSON array text
 * (["star","<chat>","<id>","1","0"]), value the packed SyncActionValue,
 * version the SyncActionData version (2 for star, 3 for delete-for-me).
 * Decoding also fills index_mac / value_mac.  Owns index and value.
 */
struct appstate_mutation {
	enum appstate_op op;
	char		*index;
	uint8_t		*value;
	size_t		 value_len;
	int32_t		 version;
	uint8_t		 index_mac[APPSTATE_MAC_LEN];
	uint8_t		 value_mac[APPSTATE_MAC_LEN];
};

/* --- keys and LTHash --- */
void	 appstate_expand_keys(const uint8_t *keydata, size_t len,
	    struct appstate_keys *out);
/* hash += / -= HKDF(value_mac, "WhatsApp Patch Integrity", 128). */
void	 appstate_lthash_add(uint8_t hash[APPSTATE_HASH_LEN],
	    const uint8_t value_mac[APPSTATE_MAC_LEN]);
void	 appstate_lthash_sub(uint8_t hash[APPSTATE_HASH_LEN],
	    const uint8_t value_mac[APPSTATE_MAC_LEN]);
void	 appstate_snapshot_mac(const struct appstate_state *,
	    const struct appstate_keys *, uint8_t out[APPSTATE_MAC_LEN]);

/* --- collection state --- */
/* name is one of the APPSTATE_* collections (any <= 31 chars). */
void	 appstate_state_init(struct appstate_state *, const char *name);
void	 appstate_state_free(struct appstate_state *);	/* keeps the name */
void	 appstate_state_copy(struct appstate_state *dst,
	    const struct appstate_state *src);
/* Value MAC stored for an index MAC, or NULL. */
const uint8_t *appstate_state_get(const struct appstate_state *,
	    const uint8_t index_mac[APPSTATE_MAC_LEN]);
/* Insert or replace / delete one entry (loading a stored state); no
 * LTHash change.  0 or APPSTATE_ELIMIT. */
int	 appstate_state_put(struct appstate_state *,
	    const uint8_t index_mac[APPSTATE_MAC_LEN],
	    const uint8_t value_mac[APPSTATE_MAC_LEN]);
void	 appstate_state_del(struct appstate_state *,
	    const uint8_t index_mac[APPSTATE_MAC_LEN]);

/* --- mutations --- */
void	 appstate_mutation_clear(struct appstate_mutation *);
void	 appstate_mutations_free(struct appstate_mutation *, size_t n);
/*
 * Encode one mutation into a packed SyncdRecord's parts: *index_mac,
 * value blob (iv || ct || valueMAC, xmalloc'd) and the valueMAC.  iv
 * NULL: random.  0 or APPSTATE_EINVAL / APPSTATE_ELIMIT.
 */
int	 appstate_encode_value(const struct appstate_keys *,
	    const uint8_t *keyid, size_t keyidlen,
	    const struct appstate_mutation *, const uint8_t iv[16],
	    uint8_t index_mac[APPSTATE_MAC_LEN], uint8_t **blob,
	    size_t *bloblen, uint8_t value_mac[APPSTATE_MAC_LEN]);
/*
 * Verify and decrypt one packed SyncdRecord (keys found by its key id)
 * under operation op: value MAC, AES-CBC, SyncActionData, index MAC.
 * *out is filled (cleared on entry).  0 or APPSTATE_E*.
 */
int	 appstate_decode_record(const uint8_t *rec, size_t len,
	    enum appstate_op op, appstate_getkey_cb, void *arg,
	    struct appstate_mutation *out);

/*
 * The patch that moves *cur to version cur->version + 1 with muts[0..n):
 * packed SyncdPatch into *patch (xmalloc'd), and *next = the state to
 * keep once the server accepted it (initialized here; free it).  The
 * patch carries no version field (whatsmeow and Baileys send none; the
 * <collection version> attribute says the base).  iv: fixed IV for every
 * record (tests), NULL for random.  0 or APPSTATE_E*.
 */
int	 appstate_build_patch(const struct appstate_state *cur,
	    const struct appstate_keys *, const uint8_t *keyid,
	    size_t keyidlen, const struct appstate_mutation *muts, size_t n,
	    const uint8_t iv[16], uint8_t **patch, size_t *patchlen,
	    struct appstate_state *next);
/*
 * Verify and apply one packed SyncdPatch to *st: patch MAC, every
 * record, LTHash update, snapshot MAC.  version 0: take it from the patch
 * (else st->version + 1).  All or nothing: *st changes only on success.
 * *muts / *nmuts (may be NULL) get the decoded mutations in order.
 * A patch at or below st->version: APPSTATE_EVERSION, nothing changes.
 */
int	 appstate_apply_patch(struct appstate_state *st, const uint8_t *patch,
	    size_t len, uint64_t version, appstate_getkey_cb, void *arg,
	    struct appstate_mutation **muts, size_t *nmuts);
/*
 * Replace *st with a packed SyncdSnapshot (downloaded by the caller):
 * every record a SET, snapshot MAC checked.  All or nothing.
 */
int	 appstate_apply_snapshot(struct appstate_state *st,
	    const uint8_t *snap, size_t len, appstate_getkey_cb, void *arg,
	    struct appstate_mutation **muts, size_t *nmuts);

/* --- stanzas --- */
/* <iq to=s.whatsapp.net xmlns=w:sync:app:state type=set><sync><collection
 * name version=<st.version> return_snapshot=false><patch>bytes</patch>
 * </collection></sync></iq>; the caller sets the id. */
struct binnode *appstate_patch_iq(const char *name, uint64_t base_version,
	    const uint8_t *patch, size_t len);
/* Fetch: version > 0 asks for patches after it, version 0 for a
 * snapshot (return_snapshot=true). */
struct binnode *appstate_fetch_iq(const char *name, uint64_t version);
/* The <collection name=name> of an answer (the <iq>, or its <sync>), or
 * NULL. */
const struct binnode *appstate_answer_collection(const struct binnode *answer,
	    const char *name);
/*
 * Apply the answer (the <iq>, or its <sync>) for collection st->name:
 * patches in order, those at or below st->version skipped.  *more = the
 * has_more_patches attribute.  A <snapshot> gives APPSTATE_EEXTERNAL
 * before anything is applied (download it, appstate_apply_snapshot, call
 * again: older patches are skipped); a patch with external mutations
 * gives it with the patches before it applied.  A collection
 * type="error" or <error> child gives APPSTATE_ESERVER.  *muts / *nmuts
 * (may be NULL) collect every applied mutation, also on error.
 */
int	 appstate_apply_answer(struct appstate_state *st,
	    const struct binnode *answer, appstate_getkey_cb, void *arg,
	    int *more, struct appstate_mutation **muts, size_t *nmuts);

/* --- mutation builders (collection in the comment) --- */
/*
 * regular_high: ["star", chat, id, "1"|"0", participant or "0"], version 2,
 * starAction{starred}.  participant NULL/"" -> "0".  whatsmeow (BuildStar)
 * sends regular_high and the sender's JID as participant whenever its user
 * differs from the chat's (group messages, ours included), "0" in 1:1
 * chats; Baileys sends regular_low and always "0".  ts_ms 0 = now.
 * 0 or APPSTATE_EINVAL.
 */
int	 appstate_star(const char *chat, const char *id, int from_me,
	    const char *participant, int starred, int64_t ts_ms,
	    struct appstate_mutation *out);
/*
 * regular_high: ["deleteMessageForMe", chat, id, "1"|"0", participant or
 * "0"], version 3, deleteMessageForMeAction{deleteMedia, messageTimestamp
 * (seconds)} (Baileys chatModificationToAppPatch; whatsmeow only reads it).
 */
int	 appstate_delete_for_me(const char *chat, const char *id,
	    int from_me, const char *participant, int delete_media,
	    int64_t msg_ts, int64_t ts_ms, struct appstate_mutation *out);
/* regular_high: ["mute", chat], version 2, muteAction{muted,
 * muteEndTimestamp (ms, -1 forever; only when muted)}. */
int	 appstate_mute(const char *chat, int muted, int64_t end_ms,
	    int64_t ts_ms, struct appstate_mutation *out);
/* regular_low: ["pin_v1", chat], version 5, pinAction{pinned}. */
int	 appstate_pin(const char *chat, int pinned, int64_t ts_ms,
	    struct appstate_mutation *out);

/* Index JSON for parts[0..n): JSON.stringify of a string array.
 * xmalloc'd, or NULL past APPSTATE_INDEX_MAX. */
char	*appstate_index_json(const char *const *parts, size_t n);
/* Split an index JSON array: *parts (xmalloc'd array of xmalloc'd
 * strings; appstate_index_free).  0 or APPSTATE_EINVAL. */
int	 appstate_index_parse(const char *json, char ***parts, size_t *n);
void	 appstate_index_free(char **parts, size_t n);
const char *appstate_strerror(int);

#endif

/*
 * fakewa.h - the fake WhatsApp server used by the tests (README.md here):
 * one process playing WhatsApp's chat server (WebSocket /ws/chat, Noise XX
 * responder with a certificate chain under its own test root, binary
 * nodes) and the primary phone (QR scan, pair code, logout), driven by a
 * small HTTP/1.1 JSON control API, with its state in a directory.
 *
 * fw-state.c: devices and persistence; fw-proto.c: the chat connections;
 * fw-msg.c: the message relay (bundles, usync, fan-out, receipts, offline
 * queue, groups, media_conn); fw-appstate.c: app state (the phone's key
 * share, the syncd patch store); fw-http.c: the control API and the media
 * host; fakewa.c: main and the loop.
 * Test tool only: never linked into a product program.
 */
#ifndef FAKEWA_H
#define FAKEWA_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "buf.h"
#include "../../waproc/binnode.h"
#include "../../waproc/frame.h"
#include "../../waproc/jid.h"
#include "../../waproc/noise.h"
#include "../../waproc/payload.h"

#define FW_PHONE_MAX	24
#define FW_REFS_MAX	16
#define FW_REF_MAX	48
#define FW_NAME_MAX	64
#define FW_QUEUE_MAX	(32u << 20)	/* bytes queued to one client */

struct fw_prekey {
	uint32_t	 id;
	uint8_t		 pub[32];
};

struct fw_device {
	struct fw_device	*next;
	char			 phone[FW_PHONE_MAX];
	uint32_t		 devid;
	char			 jid[JID_STR_MAX];
	char			 lid[JID_STR_MAX];
	uint8_t			 noise_pub[32];
	uint8_t			 identity_pub[32];
	uint32_t		 regid;
	uint32_t		 prekeys;	/* one-time prekeys held */
	uint32_t		 uploads;	/* prekey upload iqs */
	char			 push_name[FW_NAME_MAX];
	char			 platform[FW_NAME_MAX];
	uint64_t		 paired_at;
	int			 as_key_shared;	/* app-state key sent */
	/* Signal bundle from the prekey upload (fw-msg.c) */
	struct fw_prekey	*pk;		/* one-time prekeys, oldest first */
	size_t			 npk, pkcap;
	int			 has_skey;
	uint32_t		 skey_id;
	uint8_t			 skey_pub[32];
	uint8_t			 skey_sig[64];
	/* runtime only */
	struct fw_conn		*conn;		/* logged-in connection */
	uint32_t		 logins;
	uint32_t		 pings_in;	/* client pings answered */
	uint32_t		 pings_answered; /* server pings answered */
	uint32_t		 acks;		/* <ack> from the client */
	uint32_t		 receipts;	/* <receipt> from the client */
	uint32_t		 retry_keys;	/* retry receipts with <keys> */
};

struct fw_msg {
	struct fw_msg	*next;
	size_t		 len;
	uint8_t		 data[];	/* LWS_PRE bytes, then len */
};

enum fw_conn_state {
	FWC_HELLO = 0,	/* waiting for ClientHello */
	FWC_FINISH,	/* waiting for ClientFinish */
	FWC_OPEN,	/* transport keys ready */
	FWC_DEAD	/* closing */
};

struct fw_conn {
	struct fw_conn		*next;
	struct lws		*wsi;
	unsigned		 id;
	enum fw_conn_state	 state;
	struct frame_reader	 rd;
	struct noise_hs		 hs;
	struct noise_transport	 tr;
	struct fw_msg		*qhead, *qtail;
	size_t			 qbytes;
	int			 close_after;	/* close once queue drained */
	uint64_t		 close_at;	/* ... and the client had time */
	int			 kill;		/* drop now */
	int			 stalled;	/* ignore everything */
	uint64_t		 opened_ms;
	uint64_t		 next_ping_ms;
	struct payload_info	 pi;
	uint8_t			 client_static[32];
	struct fw_device	*dev;		/* logged in as */
	char			 refs[FW_REFS_MAX][FW_REF_MAX];
	int			 nrefs;
	unsigned		 seq;
	/* QR / pair-code pairing in progress (after pair-success sent) */
	int			 pairing;
	char			 pair_id[32];
	char			 pair_phone[FW_PHONE_MAX];
	uint32_t		 pair_devid;
	/* pair code: 1 hello seen, 2 code entered, 3 finished */
	int			 lc_state;
	char			 lc_phone[FW_PHONE_MAX];
	char			 lc_ref[FW_REF_MAX];
	uint8_t			 lc_wrapped[80];
	uint8_t			 lc_comp_eph[32];
	uint8_t			 lc_eph_priv[32];
	char			 lc_code[9];
};

/* App state (syncd) per account, fw-appstate.c. */
#define FW_AS_NCOLL		5
#define FW_AS_PATCH_MAX		(1u << 20)	/* one stored patch */
#define FW_AS_PATCHES_MAX	10000		/* patches per collection */
#define FW_AS_FETCH_MAX		20		/* patches per answer */

struct fw_aspatch {
	uint8_t		*data;		/* SyncdPatch with its version */
	size_t		 len;
};

/* One collection: patch k (1-based) is version k. */
struct fw_ascoll {
	struct fw_aspatch	*p;
	size_t			 n, cap;
	/* the snapshot built for version snap_ver (runtime only): its
	 * packed ExternalBlobReference, the blob is in the media host */
	uint8_t			*snap_ref;
	size_t			 snap_reflen;
	size_t			 snap_ver;
};

struct fw_asacct {
	struct fw_asacct	*next;
	char			 phone[FW_PHONE_MAX];
	struct fw_ascoll	 coll[FW_AS_NCOLL];
};

#define FW_GROUP_PARTS	64
#define FW_SUBJECT_MAX	128

struct fw_group {
	struct fw_group		*next;
	char			 id[32];	/* user part of id@g.us */
	char			 subject[FW_SUBJECT_MAX];
	char			 creator[FW_PHONE_MAX];
	uint64_t		 creation;
	int			 nparts;
	char			 parts[FW_GROUP_PARTS][FW_PHONE_MAX];
};

/* A stanza waiting for a device (offline queue, persisted). */
struct fw_qmsg {
	struct fw_qmsg		*next;
	char			 to[JID_STR_MAX];	/* device PN jid */
	char			 id[80];
	unsigned		 sent_conn;	/* conn id it went out on, 0 */
	size_t			 len;
	uint8_t			*data;		/* binnode_encode() output */
};

struct fw {
	struct lws_context	*ctx;
	struct lws_vhost	*ws_vh;
	struct lws_vhost	*http_vh;
	int			 ws_port;
	int			 http_port;
	int			 media_port;	/* HTTPS media host */
	struct lws_vhost	*media_vh;
	char			 state_dir[PATH_MAX];
	uint8_t			 root_priv[32];
	uint8_t			 root_pub[32];
	uint8_t			 int_priv[32];
	struct noise_keypair	 server_static;
	struct buf		 certchain;
	struct fw_device	*devices;
	struct fw_conn		*conns;
	unsigned		 next_conn_id;
	int			 nrefs;		/* refs per pair-device */
	int			 ping_ms;	/* server ping interval */
	int			 verbose;
	int			 stall_next;	/* next connection stalls */
	uint32_t		 pair_errors;
	char			 last_error[128];
	struct fw_group		*groups;
	struct fw_qmsg		*queue;
	uint32_t		 next_group;
	char			 media_auth[40];
	int			 no_key_share;	/* -K */
	int			 as_snapshots;	/* -S: serve snapshots */
	int			 as_snap_corrupt; /* next one has a bad MAC */
	uint32_t		 as_snap_built;	/* snapshot blobs made */
	uint32_t		 as_snap_served; /* <snapshot> answers */
	uint32_t		 as_snap_downloads; /* md-app-state GETs */
	struct fw_asacct	*appstate;	/* fw-appstate.c */
	volatile int		 stop;
};

extern struct fw fw;

/* fw-state.c */
uint64_t	 fw_now_ms(void);
int		 fw_state_load(void);	/* keys + devices; creates keys */
int		 fw_state_save(void);
void		 fw_account_key(const char *phone, uint8_t priv[32],
		    uint8_t pub[32]);
int		 fw_phone_valid(const char *phone);
struct fw_device *fw_device_find(const char *phone, uint32_t devid);
struct fw_device *fw_device_find_jid(const char *jid);
uint32_t	 fw_device_next_id(const char *phone);
struct fw_device *fw_device_add(const char *phone, uint32_t devid);
void		 fw_device_remove(struct fw_device *);
void		 fw_hex(const uint8_t *p, size_t n, char *out);
int		 fw_unhex(const char *hex, uint8_t *out, size_t n);

/* fw-proto.c */
int		 fw_ws_callback(struct lws *, enum lws_callback_reasons, void *user,
		    void *in, size_t len);
void		 fw_tick(void);
/* Write the offline queue if it changed (force: now, else rate-limited). */
void		 fw_queue_flush(int force);
/* Phone actions; 0 or -1 with err filled. */
int		 fw_scan(const char *qr, const char *phone, char *jid_out,
		    size_t jidlen, char *err, size_t errlen);
int		 fw_code(const char *phone, const char *code, char *err,
		    size_t errlen);
int		 fw_logout(const char *jid, char *err, size_t errlen);
/* Set the prekeys held for jid and tell its connection (notification
 * type="encrypt" <count value=…/>). */
int		 fw_prekeys_low(const char *jid, uint32_t count, char *err,
		    size_t errlen);
/* Deliver a <message> with a dummy <enc> to jid's connection. */
int		 fw_message(const char *jid, const char *from, const char *id,
		    uint32_t count,
		    char *err, size_t errlen);
/* Returns connections affected, or -1. */
int		 fw_fault(const char *jid, const char *kind, char *err,
		    size_t errlen);
void		 fw_close_all(void);

/* Helpers from fw-proto.c for fw-msg.c. */
void		 fw_send_node(struct fw_conn *, const struct binnode *);
void		 fw_iq_reply(struct fw_conn *, const struct binnode *req,
		    struct binnode *child);
void		 fw_iq_error(struct fw_conn *, const struct binnode *req,
		    const char *code, const char *text);

/* fw-msg.c: Signal bundles, usync, message/receipt relay, offline queue,
 * groups, media_conn, the routed-message log. */
void		 fw_prekeys_store(struct fw_device *, const struct binnode *iq);
void		 fw_bundle_iq(struct fw_conn *, const struct binnode *iq);
void		 fw_usync_iq(struct fw_conn *, const struct binnode *iq);
void		 fw_group_iq(struct fw_conn *, const struct binnode *iq);
void		 fw_media_conn_iq(struct fw_conn *, const struct binnode *iq);
void		 fw_privacy_iq(struct fw_conn *, const struct binnode *iq);
void		 fw_message_in(struct fw_conn *, const struct binnode *);
void		 fw_receipt_in(struct fw_conn *, const struct binnode *);
void		 fw_ack_in(struct fw_conn *, const struct binnode *);
void		 fw_login_flush(struct fw_conn *);
struct fw_group	*fw_group_create(const char *subject, const char *owner,
		    const char **parts, int nparts, char *err, size_t errlen);
struct fw_group	*fw_group_find(const char *id);
/* JSON arrays for the control API / state (json-c objects). */
struct json_object;
struct signal_keypair;
struct signal_bundle;
struct json_object *fw_messages_json(const char *jid);
/* Messages other accounts' phones received (GET /stats). */
uint64_t	fw_phone_messages(void);
/* A phone-only account (POST /phones): 0, or -1 (not digits, full). */
int	fw_phone_account_add(const char *phone);
struct json_object *fw_group_json(const struct fw_group *);
void		 fw_groups_save(struct json_object *root);
int		 fw_groups_load(struct json_object *root);
void		 fw_device_bundle_save(const struct fw_device *,
		    struct json_object *o);
int		 fw_device_bundle_load(struct fw_device *,
		    struct json_object *o);
int		 fw_queue_load(void);
/* For fw-appstate.c: queue + send n to d (offline queue), drop d's
 * queued stanzas whose id starts with prefix, the phone's Signal
 * identity and registration id, d's bundle (with onetime: popping one
 * of its one-time prekeys, if any; 0, or -1 without a signed prekey). */
void		 fw_deliver(struct fw_device *d, const char *id,
		    const struct binnode *n);
void		 fw_dequeue_prefix(const struct fw_device *d,
		    const char *prefix);
void		 fw_phone_identity(const char *phone, struct signal_keypair *);
uint32_t	 fw_phone_regid(const char *phone);
int		 fw_device_take_bundle(struct fw_device *d,
		    struct signal_bundle *b, int onetime);

/* fw-appstate.c: app state (syncd) keys, key share, patch store,
 * snapshots (-S: a fetch from scratch gets the phone's SyncdSnapshot as
 * an "app-state" media blob on the media host). */
void		 fw_appstate_iq(struct fw_conn *, const struct binnode *iq);
/* The <sync> answer to dev's w:sync:app:state iq (stores, notifies,
 * saves), or NULL when the iq itself is bad (an iq error 400). */
struct binnode	*fw_appstate_answer(struct fw_device *dev,
		    const struct binnode *iq);
void		 fw_appstate_free(void);
/* Share the account's app-state key with companion d (pkmsg from the
 * phone); 0 or -1 with err.  id_out (may be NULL) gets the message id. */
int		 fw_appstate_share(struct fw_device *d, char *id_out,
		    size_t idlen, char *err, size_t errlen);
/* Share once, unless -K, when fakewa holds d's bundle. */
void		 fw_appstate_autoshare(struct fw_device *d);
int		 fw_appstate_load(void);
/* JSON for GET /appstate and GET /appstate/patches; NULL + err. */
struct json_object *fw_appstate_json(const char *phone, char *err,
		    size_t errlen);
struct json_object *fw_appstate_patches_json(const char *phone,
		    const char *name, uint64_t from, char *err, size_t errlen);
/* GET /appstate/snapshots: the switch and the counters. */
struct json_object *fw_appstate_snapshots_json(void);

/* fw-tls.c: self-signed certificate + key paths (made once). */
int		 fw_tls_files(char *cert, size_t clen, char *key, size_t klen);

/* fw-http.c */
size_t		 fw_http_pss_size(void);
int		 fw_http_callback(struct lws *, enum lws_callback_reasons, void *user,
		    void *in, size_t len);

#endif

/*
 * msg-send.h - GOWA v7.8.0 send requests (SEED_API.md §3.3, §3.7) turned
 * into validated WhatsApp Message protobuf bytes (PROTOCOL.md §7.1).
 *
 * Two steps, so the caller can upload media in between:
 *   1. msg_send_parse(kind, json body, ...) normalizes the phone/JID
 *      exactly as GOWA's SanitizePhone and checks every field with GOWA's
 *      validation texts ("phone: cannot be blank.", ...).  On failure the
 *      error carries GOWA's code ("VALIDATION_ERROR", "INVALID_JID") and
 *      HTTP status.
 *   2. msg_send_build(req, ctx, out) makes the serialized wamsg.Message
 *      (unpadded) plus the stanza attributes it implies (type, mediatype,
 *      edit, decrypt-fail).  Everything that needs I/O is given in ctx: the
 *      media upload result, the quoted message looked up in the store, the
 *      target message's sender, link-preview metadata, the chat's default
 *      disappearing timer, the time.
 * Then msg_send_status()/msg_send_response() give GOWA's response texts
 * ("Message sent to <jid> (server timestamp: <ts>)").
 *
 * No I/O, no logging (message content is never logged).  Strings in a
 * parsed request are owned by it (msg_send_req_free); out->msg is
 * xmalloc'd (msg_send_out_free).
 */
#ifndef WAPROC_MSG_SEND_H
#define WAPROC_MSG_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "jid.h"

struct json_object;
struct Wamsg__Message;

enum msg_send_kind {
	MSG_SEND_TEXT = 0,	/* /send/message */
	MSG_SEND_IMAGE,		/* /send/image */
	MSG_SEND_FILE,		/* /send/file */
	MSG_SEND_VIDEO,		/* /send/video */
	MSG_SEND_AUDIO,		/* /send/audio */
	MSG_SEND_STICKER,	/* /send/sticker */
	MSG_SEND_CONTACT,	/* /send/contact */
	MSG_SEND_LINK,		/* /send/link */
	MSG_SEND_LOCATION,	/* /send/location */
	MSG_SEND_POLL,		/* /send/poll */
	MSG_SEND_REACTION,	/* /message/:id/reaction */
	MSG_SEND_REVOKE,	/* /message/:id/revoke */
	MSG_SEND_EDIT,		/* /message/:id/update */
	MSG_SEND_NKINDS
};

#define MSG_SEND_ERR_VALIDATION	"VALIDATION_ERROR"
#define MSG_SEND_ERR_JID	"INVALID_JID"
#define MSG_SEND_EINVAL		(-1)	/* see the msg_send_error */
#define MSG_SEND_PHONE_MAX	15	/* GOWA's maxPhoneNumberLength */
#define MSG_SEND_TEXT_MAX	(64 * 1024)	/* bytes of any text field */
#define MSG_SEND_POLL_MAX	32	/* poll options */
#define MSG_SEND_MENTIONS_MAX	64
#define MSG_SEND_DURATION_MAX	4294967295ULL

struct msg_send_error {
	char	code[32];	/* "VALIDATION_ERROR", "INVALID_JID", ... */
	char	message[512];	/* GOWA's text */
	int	http_status;	/* 400 */
};

/* A multipart file part the caller received (validation only). */
struct msg_send_file {
	int		 present;
	const char	*content_type;
	uint64_t	 size;
};

/* A parsed, validated request.  Absent strings are NULL. */
struct msg_send_req {
	enum msg_send_kind kind;
	struct jid	 to;			/* normalized, bare */
	char		 to_str[JID_STR_MAX];	/* its string form */
	int		 has_duration;
	uint32_t	 duration;		/* disappearing timer, seconds */
	int		 is_forwarded;
	char		*client_id;		/* optional "id" (validated) */
	char		*message;		/* text / edited text */
	char		*reply_message_id;
	char		*caption;
	char		*media_url;		/* image_url, video_url, ... */
	int		 view_once;
	int		 compress;
	int		 ptt;			/* audio: voice note */
	int		 gif_playback;		/* video */
	char		*contact_name;
	char		*contact_phone;		/* digits, '+' stripped */
	char		*link;
	double		 latitude, longitude;
	char		*location_name;
	char		*location_address;
	char		*question;
	char		**options;
	size_t		 noptions;
	uint32_t	 max_answer;
	char		*message_id;		/* target of reaction/revoke/edit */
	char		*emoji;
};

/* What an upload produced (media-crypto + the /mms POST answer). */
struct msg_media {
	const char	*url;
	const char	*direct_path;
	const char	*mimetype;
	const char	*file_name;		/* documents */
	uint8_t		 media_key[32];
	uint8_t		 file_sha256[32];
	uint8_t		 file_enc_sha256[32];
	uint64_t	 file_length;
	int64_t		 media_key_timestamp;	/* unix seconds, 0 = none */
	uint32_t	 width, height;		/* image/video/sticker, 0 = none */
	uint32_t	 seconds;		/* audio/video length */
	int		 ptt;			/* audio recorded as voice note */
	const uint8_t	*thumbnail;		/* JPEG, NULL = none */
	size_t		 thumbnail_len;
};

/* The message a reply quotes, as the store has it. */
struct msg_quoted {
	const char	*sender;	/* full JID of its author */
	const char	*text;		/* its text ("" for media) */
};

/* Who sent the message a reaction / revoke / edit refers to. */
struct msg_target {
	int		 from_me;
	const char	*sender;	/* author JID when !from_me */
};

struct msg_send_ctx {
	int64_t			 now_ms;	/* 0 = now */
	const struct msg_media	*media;		/* media kinds: required */
	const struct msg_quoted	*quoted;	/* NULL: reply id not found */
	const struct msg_target	*target;	/* NULL: our own message */
	const char		*own_user;	/* our user, to tell admin revoke */
	const char		*link_title;	/* link preview, may be NULL */
	const char		*link_description;
	const uint8_t		*link_thumbnail;
	size_t			 link_thumbnail_len;
	uint32_t		 default_expiration;	/* chat's timer (text) */
	const uint8_t		*message_secret;	/* 32 B; NULL = random */
};

/* Serialized Message plus the stanza attributes it implies (§7.4). */
struct msg_send_out {
	uint8_t	*msg;		/* wamsg.Message, unpadded */
	size_t	 msglen;
	char	 type[12];	/* "text", "media", "reaction", "poll" */
	char	 mediatype[24];	/* enc mediatype, "" for none */
	char	 edit[4];	/* "", "1" edit, "7" revoke, "8" admin revoke */
	int	 hide_fail;	/* enc decrypt-fail="hide" */
};

/* Kind from a route ("/send/image", "send/image", "/message/X/revoke",
 * "reaction", "update", ...); -1 if none. */
int	 msg_send_kind_from_route(const char *route);
const char *msg_send_kind_name(enum msg_send_kind);
/* Does the kind carry a media upload (image, file, video, audio, sticker)? */
int	 msg_send_kind_is_media(enum msg_send_kind);

/*
 * GOWA's SanitizePhone + ParseJID: no '@' -> "@s.whatsapp.net" when at most
 * 15 characters, else "@g.us"; a leading '+' dropped; full JIDs (PN, @lid,
 * @g.us, @newsletter) kept, device part dropped.  0, or MSG_SEND_EINVAL
 * with err filled (INVALID_JID; empty input is a VALIDATION_ERROR).
 */
int	 msg_send_normalize_phone(const char *in, struct jid *out,
	    char *str, size_t strsz, struct msg_send_error *err);

/*
 * Parse and validate a request body.  path_message_id: the :message_id of
 * /message/:id/... routes (NULL otherwise).  file: a multipart part for media
 * kinds (NULL if none).  0, or MSG_SEND_EINVAL with *err set.
 */
int	 msg_send_parse(enum msg_send_kind, struct json_object *body,
	    const char *path_message_id, const struct msg_send_file *file,
	    struct msg_send_req *req, struct msg_send_error *err);
void	 msg_send_req_free(struct msg_send_req *);
/* reply_message_id of a body (for the store lookup before parsing), or
 * NULL; points into body. */
const char *msg_send_reply_id(struct json_object *body);

/* Build the Message.  0, or MSG_SEND_EINVAL (missing media, ...). */
int	 msg_send_build(const struct msg_send_req *, const struct msg_send_ctx *,
	    struct msg_send_out *, struct msg_send_error *);
void	 msg_send_out_free(struct msg_send_out *);

/* Stanza attributes of any serialized Message (for retries, forwarded
 * bytes).  out->msg is left NULL.  0 or -1 if it does not decode. */
int	 msg_send_classify(const uint8_t *msg, size_t len,
	    struct msg_send_out *out);
/* Same on a decoded message. */
void	 msg_send_classify_msg(const struct Wamsg__Message *,
	    struct msg_send_out *out);

/* GOWA's status text, e.g. "Message sent to 62812@s.whatsapp.net (server
 * timestamp: 2025-01-02 03:04:05 +0000 UTC)".  Returns its length or -1. */
int	 msg_send_status(const struct msg_send_req *, int64_t server_ts,
	    char *out, size_t outsz);
/* The whole success body: {"code":"SUCCESS","message":<status>,
 * "results":{"message_id":<id>,"status":<status>}}.  xmalloc'd. */
char	*msg_send_response(const struct msg_send_req *, const char *message_id,
	    int64_t server_ts);
/* GOWA's error body {"code":..,"message":..}.  xmalloc'd. */
char	*msg_send_error_json(const struct msg_send_error *);

#endif

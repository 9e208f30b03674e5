/* test_msg.c - end-to-end messaging building blocks: GOWA send requests ->
 * Message bytes (decoded back with protobuf-c, also with wa.proto), phone
 * normalization and validation texts, message ids, the <message> stanza
 * (participants, DSM, device-identity, phash vector, groups, retries), the
 * incoming parser, receipts/acks, webhook bodies and their event ids. */
#include <json-c/json.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "binnode.h"
#include "buf.h"
#include "hook-payload.h"
#include "jid.h"
#include "msg-node.h"
#include "msg-send.h"
#include "msgid.h"
#include "signal-session.h"
#include "wa.pb-c.h"
#include "wamsg.pb-c.h"

#define NOW_MS	1700000000123LL

/* ------------------------------------------------------------ helpers */

static struct json_object *
js(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	if (o == NULL)
		printf("# bad test JSON: %s\n", text);
	return o;
}

/* parse + build; returns the decoded message (caller frees) or NULL */
static Wamsg__Message *
build(const char *route, const char *body, const struct msg_send_ctx *ctx,
    struct msg_send_req *req, struct msg_send_out *out)
{
	struct msg_send_error err;
	struct json_object *o = js(body);
	struct msg_send_file f = { 1, "image/png", 100 };
	int kind = msg_send_kind_from_route(route);
	Wamsg__Message *m = NULL;

	if (kind == MSG_SEND_VIDEO)
		f.content_type = "video/mp4";
	else if (kind == MSG_SEND_AUDIO)
		f.content_type = "audio/ogg";
	memset(out, 0, sizeof(*out));
	if (msg_send_parse((enum msg_send_kind)kind, o, "3EB0AAAA",
	    &f, req, &err) != 0) {
		printf("# parse %s: %s %s\n", route, err.code, err.message);
		goto done;
	}
	if (msg_send_build(req, ctx, out, &err) != 0) {
		printf("# build %s: %s %s\n", route, err.code, err.message);
		goto done;
	}
	m = wamsg__message__unpack(NULL, out->msglen, out->msg);
done:
	json_object_put(o);
	return m;
}

static int
verr(const char *route, const char *body, const char *code,
    const char *msg)
{
	struct msg_send_error err;
	struct msg_send_req req;
	struct json_object *o = js(body);
	int kind = msg_send_kind_from_route(route), ok;

	memset(&err, 0, sizeof(err));
	ok = msg_send_parse((enum msg_send_kind)kind, o, NULL, NULL, &req,
	    &err) == MSG_SEND_EINVAL && strcmp(err.code, code) == 0 &&
	    strcmp(err.message, msg) == 0 && err.http_status == 400;
	if (!ok)
		printf("#   %s %s -> got %s \"%s\"\n", route, body, err.code,
		    err.message);
	json_object_put(o);
	return ok;
}

static struct msg_media
media_fixture(void)
{
	struct msg_media md;

	memset(&md, 0, sizeof(md));
	md.url = "https://mmg.whatsapp.net/v/t62/abc";
	md.direct_path = "/v/t62/abc?ccb=1";
	md.mimetype = "image/jpeg";
	md.file_name = "report.pdf";
	memset(md.media_key, 0x11, 32);
	memset(md.file_sha256, 0x22, 32);
	memset(md.file_enc_sha256, 0x33, 32);
	md.file_length = 12345;
	md.width = 640;
	md.height = 480;
	md.seconds = 42;
	md.media_key_timestamp = 1700000000;
	return md;
}

static int
bin_is(ProtobufCBinaryData b, int has, uint8_t v, size_t len)
{
	size_t i;

	if (!has || b.len != len)
		return 0;
	for (i = 0; i < len; i++)
		if (b.data[i] != v)
			return 0;
	return 1;
}

/* ------------------------------------------------------------ phone */

static void
test_phone_normalization(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "6281234567890", "6281234567890@s.whatsapp.net" },
		{ "+6281234567890", "6281234567890@s.whatsapp.net" },
		{ "123456789012345", "123456789012345@s.whatsapp.net" },
		{ "+12345678901234", "12345678901234@s.whatsapp.net" },
		/* > 15 chars without '@' is a group id (GOWA) */
		{ "120363012345678901", "120363012345678901@g.us" },
		{ "1234567890123456", "1234567890123456@g.us" },
		{ "6281234567890@s.whatsapp.net",
		    "6281234567890@s.whatsapp.net" },
		{ "6281234567890:7@s.whatsapp.net",
		    "6281234567890@s.whatsapp.net" },
		{ "+6281234567890@s.whatsapp.net",
		    "6281234567890@s.whatsapp.net" },
		{ "123456789012345@lid", "123456789012345@lid" },
		{ "123456789012345:3@lid", "123456789012345@lid" },
		{ "120363012345678901@g.us", "120363012345678901@g.us" },
		{ "6281234567890-1600000000@g.us",
		    "6281234567890-1600000000@g.us" },
		{ "120363000000000000@newsletter",
		    "120363000000000000@newsletter" },
	};
	static const char *const bad[] = { "abc", "62812 345", "62-812@lid",
	    "x@g.us", "6281@broadcast", "@s.whatsapp.net", "62812@unknown",
	    "1-2-3@g.us", "12a@newsletter" };
	struct msg_send_error err;
	struct jid j;
	char s[JID_STR_MAX];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = msg_send_normalize_phone(ok[i].in, &j, s, sizeof(s),
		    &err);

		T_OK(rc == 0 && strcmp(s, ok[i].out) == 0, "%s -> %s",
		    ok[i].in, ok[i].out);
		if (rc != 0 || strcmp(s, ok[i].out) != 0)
			printf("#   got rc %d \"%s\" %s\n", rc, s, err.message);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		T_OK(msg_send_normalize_phone(bad[i], &j, s, sizeof(s),
		    &err) == MSG_SEND_EINVAL &&
		    strcmp(err.code, "INVALID_JID") == 0, "%s rejected",
		    bad[i]);
	}
	T_OK(msg_send_normalize_phone("", &j, s, sizeof(s), &err) ==
	    MSG_SEND_EINVAL && strcmp(err.code, "VALIDATION_ERROR") == 0,
	    "empty is a validation error");
}

static void
test_validation_errors(void)
{
	T_OK(verr("/send/message", "{}", "VALIDATION_ERROR",
	    "message: cannot be blank; phone: cannot be blank."),
	    "text: both blank, sorted like ozzo");
	T_OK(verr("/send/message", "{\"message\":\"hi\"}", "VALIDATION_ERROR",
	    "phone: cannot be blank."), "text: phone blank");
	T_OK(verr("/send/message", "{\"phone\":\"62812\",\"message\":\"\"}",
	    "VALIDATION_ERROR", "message: cannot be blank."),
	    "text: message blank");
	T_OK(verr("/send/message", "{\"phone\":\"08123\",\"message\":\"x\"}",
	    "VALIDATION_ERROR", "phone number must be in international format "
	    "(should not start with 0). For Indonesian numbers, use 62xxx "
	    "format instead of 08xxx"), "leading 0");
	T_OK(verr("/send/message", "{\"phone\":\"+08123\",\"message\":\"x\"}",
	    "VALIDATION_ERROR", "phone number must be in international format "
	    "(should not start with 0). For Indonesian numbers, use 62xxx "
	    "format instead of 08xxx"), "leading +0");
	T_OK(verr("/send/message", "{\"phone\":\"62812\",\"message\":\"x\","
	    "\"duration\":-1}", "VALIDATION_ERROR", "duration must be between "
	    "0 and 4294967295 seconds (0 means no expiry)"), "duration < 0");
	T_OK(verr("/send/message", "{\"phone\":\"62812\",\"message\":\"x\","
	    "\"duration\":4294967296}", "VALIDATION_ERROR", "duration must be "
	    "between 0 and 4294967295 seconds (0 means no expiry)"),
	    "duration too big");
	T_OK(verr("/send/message", "{\"phone\":\"62812\",\"message\":\"x\","
	    "\"duration\":\"soon\"}", "VALIDATION_ERROR",
	    "duration: must be an integer."), "duration type");
	T_OK(verr("/send/message", "{\"phone\":[1],\"message\":\"x\"}",
	    "VALIDATION_ERROR", "phone: must be a string."), "phone type");
	T_OK(verr("/send/message", "{\"phone\":\"abc\",\"message\":\"x\"}",
	    "INVALID_JID", "your JID is invalid"), "bad JID");
	T_OK(verr("/send/message", "{\"phone\":\"62812\",\"message\":\"x\","
	    "\"id\":\"nope\"}", "VALIDATION_ERROR", "id: must be 16 to 64 "
	    "uppercase hexadecimal characters."), "client id");
	T_OK(verr("/send/image", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "either Image or ImageURL must be provided"), "image missing");
	T_OK(verr("/send/image", "{\"phone\":\"62812\",\"image_url\":\"ht tp\"}",
	    "VALIDATION_ERROR", "ImageURL must be a valid URL"), "image url");
	T_OK(verr("/send/video", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "either Video or VideoURL must be provided"), "video missing");
	T_OK(verr("/send/audio", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "either Audio or AudioURL must be provided"), "audio missing");
	T_OK(verr("/send/sticker", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "either Sticker or StickerURL must be provided"), "sticker");
	T_OK(verr("/send/file", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "file: cannot be blank."), "file missing");
	T_OK(verr("/send/contact", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "contact_name: cannot be blank; contact_phone: cannot be blank."),
	    "contact blanks");
	T_OK(verr("/send/contact", "{\"phone\":\"62812\",\"contact_name\":\"A\","
	    "\"contact_phone\":\"0812\"}", "VALIDATION_ERROR", "contact phone "
	    "number must be in international format (should not start with "
	    "0). For Indonesian numbers, use 62xxx format instead of 08xxx"),
	    "contact phone 0");
	T_OK(verr("/send/link", "{\"phone\":\"62812\",\"link\":\"nolink\"}",
	    "VALIDATION_ERROR", "caption: cannot be blank; link: must be a "
	    "valid URL."), "link");
	T_OK(verr("/send/location", "{\"phone\":\"62812\",\"latitude\":\"91\","
	    "\"longitude\":\"x\"}", "VALIDATION_ERROR", "latitude: must be a "
	    "valid latitude; longitude: must be a valid longitude."),
	    "location ranges");
	T_OK(verr("/send/location", "{\"phone\":\"62812\",\"latitude\":1e300,"
	    "\"longitude\":-180.5}", "VALIDATION_ERROR", "latitude: must be a "
	    "valid latitude; longitude: must be a valid longitude."),
	    "location ranges (JSON numbers)");
	T_OK(verr("/send/location", "{\"phone\":\"62812\"}", "VALIDATION_ERROR",
	    "latitude: cannot be blank; longitude: cannot be blank."),
	    "location blanks");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\"}",
	    "VALIDATION_ERROR", "options: cannot be blank."), "poll no options");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"b\"],\"max_answer\":3}", "VALIDATION_ERROR",
	    "max_answer: must be no greater than 2."), "poll max > options");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"b\"]}", "VALIDATION_ERROR",
	    "max_answer: cannot be blank."), "poll max missing");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"b\"],\"max_answer\":-1}", "VALIDATION_ERROR",
	    "max_answer: must be no less than 1."), "poll max < 1");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"a\"],\"max_answer\":1}", "VALIDATION_ERROR",
	    "options should be unique"), "poll duplicate options");
	T_OK(verr("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"\"],\"max_answer\":1}", "VALIDATION_ERROR",
	    "options: (1: cannot be blank.)."), "poll blank option");
	T_OK(verr("/message/3EB0AAAA/reaction", "{\"phone\":\"62812\"}",
	    "VALIDATION_ERROR", "emoji: cannot be blank; message_id: cannot "
	    "be blank."), "reaction blanks (no path id)");
	T_OK(verr("/message/x/update", "{\"phone\":\"62812\"}",
	    "VALIDATION_ERROR", "message: cannot be blank; message_id: cannot "
	    "be blank."), "update blanks");
	T_OK(verr("/send/message", "[1,2]", "VALIDATION_ERROR",
	    "request body must be a JSON object"), "array body");
}

static void
test_kind_routes(void)
{
	T_EQ_INT(msg_send_kind_from_route("/send/message"), MSG_SEND_TEXT,
	    "/send/message");
	T_EQ_INT(msg_send_kind_from_route("/api/send/image/"), MSG_SEND_IMAGE,
	    "/api/send/image/");
	T_EQ_INT(msg_send_kind_from_route("/message/ABC/revoke"),
	    MSG_SEND_REVOKE, "revoke");
	T_EQ_INT(msg_send_kind_from_route("update"), MSG_SEND_EDIT, "update");
	T_EQ_INT(msg_send_kind_from_route("/send/presence"), -1, "presence");
	T_EQ_INT(msg_send_kind_from_route(NULL), -1, "NULL");
}

/* ------------------------------------------------------------ kinds */

static void
test_send_text(void)
{
	struct msg_send_req req;
	struct msg_send_out out;
	struct msg_send_ctx ctx;
	struct msg_quoted q = { "6281111@s.whatsapp.net", "original text" };
	Wamsg__Message *m;
	Wa__Message *w;
	Wamsg__ContextInfo *ci;

	memset(&ctx, 0, sizeof(ctx));
	ctx.now_ms = NOW_MS;
	ctx.default_expiration = 604800;
	m = build("/send/message", "{\"phone\":\"+6281234\",\"message\":"
	    "\"hi @6285555 and @6285555, @12\"}", &ctx, &req, &out);
	T_OK(m != NULL, "text builds");
	if (m == NULL)
		return;
	T_EQ_STR(req.to_str, "6281234@s.whatsapp.net", "recipient");
	T_OK(m->extendedtextmessage != NULL && m->conversation == NULL,
	    "extendedTextMessage (GOWA)");
	T_EQ_STR(m->extendedtextmessage->text, "hi @6285555 and @6285555, @12",
	    "text");
	ci = m->extendedtextmessage->contextinfo;
	T_OK(ci != NULL && ci->has_expiration && ci->expiration == 604800,
	    "chat default expiration");
	T_OK(ci != NULL && ci->n_mentionedjid == 2 &&
	    strcmp(ci->mentionedjid[0], "6285555@s.whatsapp.net") == 0 &&
	    strcmp(ci->mentionedjid[1], "12@s.whatsapp.net") == 0,
	    "mentions, de-duplicated");
	T_OK(ci != NULL && ci->stanzaid == NULL && !ci->isforwarded,
	    "no reply, not forwarded");
	T_EQ_STR(out.type, "text", "stanza type text");
	T_EQ_STR(out.mediatype, "", "no mediatype");
	T_EQ_STR(out.edit, "", "no edit");
	/* the same bytes decode with wa.proto (field numbers agree) */
	w = wa__message__unpack(NULL, out.msglen, out.msg);
	T_OK(w != NULL && w->extendedtextmessage != NULL &&
	    strcmp(w->extendedtextmessage->text, m->extendedtextmessage->text)
	    == 0 && w->extendedtextmessage->contextinfo->n_mentionedjid == 2,
	    "wa.proto decodes it too");
	if (w)
		wa__message__free_unpacked(w, NULL);
	wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	/* reply + forwarded + duration */
	ctx.quoted = &q;
	m = build("/send/message", "{\"phone\":\"6281234\",\"message\":\"re\","
	    "\"reply_message_id\":\"3EB0QUOTED\",\"is_forwarded\":true,"
	    "\"duration\":86400}", &ctx, &req, &out);
	T_OK(m != NULL && m->extendedtextmessage != NULL, "reply builds");
	if (m == NULL)
		return;
	ci = m->extendedtextmessage->contextinfo;
	T_OK(ci != NULL && ci->stanzaid != NULL &&
	    strcmp(ci->stanzaid, "3EB0QUOTED") == 0, "stanzaId");
	T_OK(ci != NULL && ci->participant != NULL &&
	    strcmp(ci->participant, "6281111@s.whatsapp.net") == 0,
	    "participant");
	T_OK(ci != NULL && ci->quotedmessage != NULL &&
	    ci->quotedmessage->conversation != NULL &&
	    strcmp(ci->quotedmessage->conversation, "original text") == 0,
	    "quotedMessage.conversation");
	T_OK(ci != NULL && ci->isforwarded && ci->has_forwardingscore &&
	    ci->forwardingscore == 100, "forwarded, score 100");
	T_OK(ci != NULL && ci->expiration == 86400, "duration wins");
	wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	/* reply id not in the store: no reply context */
	ctx.quoted = NULL;
	m = build("/send/message", "{\"phone\":\"6281234\",\"message\":\"re\","
	    "\"reply_message_id\":\"3EB0QUOTED\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->extendedtextmessage->contextinfo->stanzaid ==
	    NULL, "unknown reply id: no context");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
}

static void
test_send_media(void)
{
	struct msg_send_req req;
	struct msg_send_out out;
	struct msg_send_ctx ctx;
	struct msg_media md = media_fixture();
	struct msg_send_error err;
	Wamsg__Message *m;

	memset(&ctx, 0, sizeof(ctx));
	ctx.media = &md;
	m = build("/send/image", "{\"phone\":\"6281234\",\"caption\":\"cap\","
	    "\"view_once\":true,\"is_forwarded\":true}", &ctx, &req, &out);
	T_OK(m != NULL && m->imagemessage != NULL, "image builds");
	if (m != NULL && m->imagemessage != NULL) {
		Wamsg__ImageMessage *im = m->imagemessage;

		T_EQ_STR(im->url, md.url, "image url");
		T_EQ_STR(im->directpath, md.direct_path, "directPath");
		T_EQ_STR(im->mimetype, "image/jpeg", "mimetype");
		T_EQ_STR(im->caption, "cap", "caption");
		T_OK(bin_is(im->mediakey, im->has_mediakey, 0x11, 32),
		    "mediaKey");
		T_OK(bin_is(im->filesha256, im->has_filesha256, 0x22, 32),
		    "fileSha256");
		T_OK(bin_is(im->fileencsha256, im->has_fileencsha256, 0x33,
		    32), "fileEncSha256");
		T_OK(im->has_filelength && im->filelength == 12345,
		    "fileLength");
		T_OK(im->has_viewonce && im->viewonce, "viewOnce");
		T_OK(im->width == 640 && im->height == 480, "size");
		T_OK(im->contextinfo != NULL && im->contextinfo->isforwarded,
		    "forwarded context");
		T_EQ_STR(out.type, "media", "type media");
		T_EQ_STR(out.mediatype, "image", "mediatype image");
	}
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	md.mimetype = "video/mp4";
	m = build("/send/video", "{\"phone\":\"6281234\",\"caption\":\"v\","
	    "\"duration\":3600}", &ctx, &req, &out);
	T_OK(m != NULL && m->videomessage != NULL &&
	    m->videomessage->seconds == 42 &&
	    strcmp(m->videomessage->caption, "v") == 0 &&
	    m->videomessage->contextinfo != NULL &&
	    m->videomessage->contextinfo->expiration == 3600 &&
	    !m->videomessage->contextinfo->isforwarded, "video");
	T_EQ_STR(out.mediatype, "video", "mediatype video");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	md.mimetype = "audio/ogg; codecs=opus";
	md.ptt = 1;
	m = build("/send/audio", "{\"phone\":\"6281234\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->audiomessage != NULL && m->audiomessage->ptt &&
	    m->audiomessage->seconds == 42 &&
	    m->audiomessage->contextinfo == NULL, "audio ptt, no context");
	T_EQ_STR(out.mediatype, "ptt", "mediatype ptt");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
	md.ptt = 0;

	md.mimetype = "application/pdf";
	m = build("/send/file", "{\"phone\":\"6281234\",\"caption\":\"doc\"}",
	    &ctx, &req, &out);
	T_OK(m != NULL && m->documentmessage != NULL &&
	    strcmp(m->documentmessage->filename, "report.pdf") == 0 &&
	    strcmp(m->documentmessage->title, "report.pdf") == 0 &&
	    strcmp(m->documentmessage->caption, "doc") == 0 &&
	    strcmp(m->documentmessage->mimetype, "application/pdf") == 0,
	    "document");
	T_EQ_STR(out.mediatype, "document", "mediatype document");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	md.mimetype = NULL;
	m = build("/send/sticker", "{\"phone\":\"6281234\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->stickermessage != NULL &&
	    strcmp(m->stickermessage->mimetype, "image/webp") == 0 &&
	    m->stickermessage->has_isanimated &&
	    !m->stickermessage->isanimated, "sticker");
	T_EQ_STR(out.mediatype, "sticker", "mediatype sticker");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	/* media kinds need the upload result */
	{
		struct json_object *o = js("{\"phone\":\"62812\"}");
		struct msg_send_file f = { 1, "image/png", 1 };

		T_OK(msg_send_parse(MSG_SEND_IMAGE, o, NULL, &f, &req,
		    &err) == 0, "parse image with a file part");
		ctx.media = NULL;
		T_OK(msg_send_build(&req, &ctx, &out, &err) ==
		    MSG_SEND_EINVAL && strcmp(err.code,
		    "UPLOAD_MEDIA_ERROR") == 0 && err.http_status == 500,
		    "no media: UPLOAD_MEDIA_ERROR 500");
		msg_send_req_free(&req);
		f.content_type = "image/gif";
		T_OK(msg_send_parse(MSG_SEND_IMAGE, o, NULL, &f, &req,
		    &err) != 0 && strcmp(err.message, "your image is not "
		    "allowed. please use jpg/jpeg/png") == 0, "gif image "
		    "refused");
		json_object_put(o);
	}
}

static void
test_send_other_kinds(void)
{
	struct msg_send_req req;
	struct msg_send_out out;
	struct msg_send_ctx ctx;
	struct msg_target tgt = { 0, "6289999@s.whatsapp.net" };
	uint8_t secret[32];
	Wamsg__Message *m;

	memset(&ctx, 0, sizeof(ctx));
	ctx.now_ms = NOW_MS;
	m = build("/send/contact", "{\"phone\":\"6281234\",\"contact_name\":"
	    "\"Ann\",\"contact_phone\":\"+62 811-22\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->contactmessage != NULL &&
	    strcmp(m->contactmessage->displayname, "Ann") == 0, "contact");
	if (m != NULL && m->contactmessage != NULL)
		T_EQ_STR(m->contactmessage->vcard, "BEGIN:VCARD\nVERSION:3.0\n"
		    "N:;Ann;;;\nFN:Ann\nTEL;type=CELL;waid=6281122:+6281122\n"
		    "END:VCARD", "vcard");
	T_EQ_STR(out.mediatype, "vcard", "mediatype vcard");
	T_EQ_STR(out.type, "media", "contact is media");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	m = build("/send/location", "{\"phone\":\"6281234\",\"latitude\":"
	    "\"-6.2\",\"longitude\":\"106.816666\",\"name\":\"Monas\","
	    "\"address\":\"Jakarta\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->locationmessage != NULL &&
	    m->locationmessage->degreeslatitude == -6.2 &&
	    m->locationmessage->degreeslongitude == 106.816666 &&
	    strcmp(m->locationmessage->name, "Monas") == 0 &&
	    strcmp(m->locationmessage->address, "Jakarta") == 0, "location");
	T_EQ_STR(out.type, "text", "location stanza type text");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	m = build("/send/location", "{\"phone\":\"6281234\",\"latitude\":"
	    "90.0,\"longitude\":-180}", &ctx, &req, &out);
	T_OK(m != NULL && m->locationmessage != NULL &&
	    m->locationmessage->degreeslatitude == 90.0 &&
	    m->locationmessage->degreeslongitude == -180,
	    "location as JSON numbers, on the limits");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	ctx.link_title = "Example";
	ctx.link_description = "An example";
	m = build("/send/link", "{\"phone\":\"6281234\",\"link\":"
	    "\"https://example.com/a?b=c\",\"caption\":\"look\"}", &ctx, &req,
	    &out);
	T_OK(m != NULL && m->extendedtextmessage != NULL &&
	    strcmp(m->extendedtextmessage->text,
	    "look\nhttps://example.com/a?b=c") == 0 &&
	    strcmp(m->extendedtextmessage->matchedtext,
	    "https://example.com/a?b=c") == 0 &&
	    strcmp(m->extendedtextmessage->title, "Example") == 0 &&
	    strcmp(m->extendedtextmessage->description, "An example") == 0,
	    "link");
	T_EQ_STR(out.mediatype, "url", "mediatype url");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	memset(secret, 0x5a, sizeof(secret));
	ctx.message_secret = secret;
	m = build("/send/poll", "{\"phone\":\"120363012345678901@g.us\","
	    "\"question\":\"Lunch?\",\"options\":[\"rice\",\"noodles\","
	    "\"bread\"],\"max_answer\":2,\"duration\":60}", &ctx, &req, &out);
	T_OK(m != NULL && m->pollcreationmessage != NULL, "poll builds");
	if (m != NULL && m->pollcreationmessage != NULL) {
		Wamsg__PollCreationMessage *p = m->pollcreationmessage;

		T_EQ_STR(p->name, "Lunch?", "poll name");
		T_OK(p->n_options == 3 && strcmp(p->options[1]->optionname,
		    "noodles") == 0, "poll options");
		T_OK(p->has_selectableoptionscount &&
		    p->selectableoptionscount == 2, "selectableOptionsCount");
		T_OK(p->contextinfo && p->contextinfo->expiration == 60,
		    "poll timer");
		T_OK(m->messagecontextinfo != NULL && bin_is(
		    m->messagecontextinfo->messagesecret,
		    m->messagecontextinfo->has_messagesecret, 0x5a, 32),
		    "messageSecret");
	}
	T_EQ_STR(out.type, "poll", "type poll");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
	ctx.message_secret = NULL;
	m = build("/send/poll", "{\"phone\":\"62812\",\"question\":\"q\","
	    "\"options\":[\"a\",\"b\"],\"max_answer\":1}", &ctx, &req, &out);
	T_OK(m != NULL && m->messagecontextinfo != NULL &&
	    m->messagecontextinfo->messagesecret.len == 32 &&
	    !bin_is(m->messagecontextinfo->messagesecret, 1, 0, 32),
	    "random messageSecret");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	m = build("/message/3EB0AAAA/reaction", "{\"phone\":\"6281234\","
	    "\"emoji\":\"\\ud83d\\udc4d\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->reactionmessage != NULL &&
	    strcmp(m->reactionmessage->text, "\xf0\x9f\x91\x8d") == 0 &&
	    m->reactionmessage->key != NULL &&
	    strcmp(m->reactionmessage->key->id, "3EB0AAAA") == 0 &&
	    strcmp(m->reactionmessage->key->remotejid,
	    "6281234@s.whatsapp.net") == 0 && m->reactionmessage->key->fromme &&
	    m->reactionmessage->sendertimestampms == NOW_MS, "reaction");
	T_EQ_STR(out.type, "reaction", "type reaction");
	T_OK(out.hide_fail, "reaction: decrypt-fail hide");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	m = build("/message/3EB0AAAA/revoke", "{\"phone\":\"6281234\"}", &ctx,
	    &req, &out);
	T_OK(m != NULL && m->protocolmessage != NULL &&
	    m->protocolmessage->has_type && m->protocolmessage->type == 0 &&
	    m->protocolmessage->key != NULL &&
	    m->protocolmessage->key->fromme &&
	    strcmp(m->protocolmessage->key->id, "3EB0AAAA") == 0, "revoke");
	T_EQ_STR(out.edit, "7", "revoke edit=7");
	T_EQ_STR(out.type, "text", "revoke type text");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);

	/* admin revoke of someone else's message in a group */
	ctx.target = &tgt;
	ctx.own_user = "6281234";
	m = build("/message/3EB0AAAA/revoke", "{\"phone\":"
	    "\"120363012345678901@g.us\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->protocolmessage != NULL &&
	    !m->protocolmessage->key->fromme &&
	    m->protocolmessage->key->participant != NULL &&
	    strcmp(m->protocolmessage->key->participant,
	    "6289999@s.whatsapp.net") == 0, "admin revoke key");
	T_EQ_STR(out.edit, "8", "admin revoke edit=8");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
	ctx.target = NULL;

	m = build("/message/3EB0AAAA/update", "{\"phone\":\"6281234\","
	    "\"message\":\"fixed\"}", &ctx, &req, &out);
	T_OK(m != NULL && m->editedmessage != NULL &&
	    m->editedmessage->message != NULL &&
	    m->editedmessage->message->protocolmessage != NULL, "edit wraps");
	if (m != NULL && m->editedmessage && m->editedmessage->message &&
	    m->editedmessage->message->protocolmessage) {
		Wamsg__ProtocolMessage *p =
		    m->editedmessage->message->protocolmessage;

		T_OK(p->type == 14 && p->key && p->key->fromme &&
		    strcmp(p->key->id, "3EB0AAAA") == 0 &&
		    p->editedmessage != NULL &&
		    strcmp(p->editedmessage->conversation, "fixed") == 0 &&
		    p->timestampms == NOW_MS, "MESSAGE_EDIT content");
	}
	T_EQ_STR(out.edit, "1", "edit=1");
	T_OK(out.hide_fail, "edit: decrypt-fail hide");
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
}

static void
test_status_texts(void)
{
	struct msg_send_req req;
	char s[256], *body;
	struct json_object *o, *v;

	memset(&req, 0, sizeof(req));
	snprintf(req.to_str, sizeof(req.to_str), "6281234@s.whatsapp.net");
	req.kind = MSG_SEND_TEXT;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_EQ_STR(s, "Message sent to 6281234@s.whatsapp.net (server timestamp: "
	    "2023-11-14 22:13:20 +0000 UTC)", "text status");
	req.kind = MSG_SEND_FILE;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_OK(strncmp(s, "Document sent to ", 17) == 0, "file status");
	req.kind = MSG_SEND_LOCATION;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_OK(strncmp(s, "Send location success 6281234@", 30) == 0,
	    "location status");
	req.kind = MSG_SEND_POLL;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_OK(strncmp(s, "Send poll success ", 18) == 0, "poll status");
	req.kind = MSG_SEND_REVOKE;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_OK(strncmp(s, "Revoke success ", 15) == 0, "revoke status");
	req.kind = MSG_SEND_EDIT;
	msg_send_status(&req, 1700000000, s, sizeof(s));
	T_OK(strncmp(s, "Update message success ", 23) == 0, "edit status");
	req.kind = MSG_SEND_TEXT;
	body = msg_send_response(&req, "3EB0ABCDEF", 1700000000);
	o = json_tokener_parse(body);
	T_OK(o != NULL && json_object_object_get_ex(o, "code", &v) &&
	    strcmp(json_object_get_string(v), "SUCCESS") == 0 &&
	    json_object_object_get_ex(o, "results", &v) &&
	    json_object_object_get_ex(v, "message_id", &v) &&
	    strcmp(json_object_get_string(v), "3EB0ABCDEF") == 0,
	    "response body");
	json_object_put(o);
	free(body);
}

/* ------------------------------------------------------------ ids */

static void
test_message_ids(void)
{
	uint8_t r[16];
	char id[MSGID_LEN + 1], id2[MSGID_LEN + 1];
	size_t i;

	for (i = 0; i < 16; i++)
		r[i] = (uint8_t)i;
	T_OK(msgid_generate_with("5511987654321", 1700000000, r, id,
	    sizeof(id)) == 0, "generate_with");
	T_EQ_STR(id, "3EB06832686E91D9ED07CE", "hash vector (with user)");
	msgid_generate_with(NULL, 1700000000, r, id, sizeof(id));
	T_EQ_STR(id, "3EB0548FCCCE1A4485214D", "hash vector (no user)");
	T_OK(msgid_generate_with("x", 1, r, id, MSGID_LEN) == -1,
	    "short buffer");
	msgid_generate("5511", 1700000000, id, sizeof(id));
	msgid_generate("5511", 1700000000, id2, sizeof(id2));
	T_OK(strlen(id) == 22 && strncmp(id, "3EB0", 4) == 0 &&
	    strspn(id, "0123456789ABCDEF") == 22, "format 3EB0 + 18 hex");
	T_OK(strcmp(id, id2) != 0, "random part differs");
	T_OK(msgid_valid_new(id), "own id valid");
	T_OK(msgid_valid_new("3EB0ABCDEF0123456789"), "hex id");
	T_OK(!msgid_valid_new("3eb0abcdef0123456789"), "lowercase refused");
	T_OK(!msgid_valid_new("3EB0"), "too short");
	T_OK(!msgid_valid_new("3EB0ABCDEF012345678G"), "non-hex");
	T_OK(msgid_valid_ref("BAE5F2A1C3D4E5F6"), "ref: Baileys id");
	T_OK(msgid_valid_ref("wamid.HBgL"), "ref: other shapes");
	T_OK(!msgid_valid_ref(""), "ref: empty");
	T_OK(!msgid_valid_ref("a b"), "ref: space");
	T_OK(!msgid_valid_ref("a\"b"), "ref: quote");
}

/* ------------------------------------------------------------ stanzas */

static struct jid
J(const char *s)
{
	struct jid j;

	if (jid_parse(&j, s) != 0)
		printf("# bad jid %s\n", s);
	return j;
}

static void
test_phash_vector(void)
{
	struct jid d[3];
	char ph[16];

	/* shuffled: the hash sorts */
	d[0] = J("5511999999999@s.whatsapp.net");
	d[1] = J("5511987654321:3@s.whatsapp.net");
	d[2] = J("5511987654321@s.whatsapp.net");
	T_OK(msg_node_phash(d, 3, ph, sizeof(ph)) == 0, "phash");
	T_EQ_STR(ph, "2:w9Y1WfS2", "phash_whatsmeow vector");
	T_OK(msg_node_phash(d, 3, ph, 8) == -1, "phash short buffer");
}

static void
test_device_roles(void)
{
	struct jid own_pn = J("5511:2@s.whatsapp.net");
	struct jid own_lid = J("999:2@lid");
	struct jid a = J("5511:2@s.whatsapp.net"), b = J("5511@s.whatsapp.net");
	struct jid c = J("999:5@lid"), d = J("777@s.whatsapp.net");

	T_EQ_INT(msg_node_device_role(&a, &own_pn, &own_lid), MSG_NODE_SKIP,
	    "own exact device skipped");
	T_EQ_INT(msg_node_device_role(&b, &own_pn, &own_lid), MSG_NODE_OWN,
	    "own phone gets DSM");
	T_EQ_INT(msg_node_device_role(&c, &own_pn, &own_lid), MSG_NODE_OWN,
	    "own LID device gets DSM");
	T_EQ_INT(msg_node_device_role(&d, &own_pn, NULL), MSG_NODE_PEER,
	    "peer");
}

static void
test_dsm_and_skdm(void)
{
	Wamsg__Message m, *d;
	Wamsg__MessageContextInfo mci;
	uint8_t buf[256], sec[32], *out;
	size_t len, outlen;

	wamsg__message__init(&m);
	wamsg__message_context_info__init(&mci);
	memset(sec, 7, 32);
	m.conversation = (char *)"hello";
	mci.has_messagesecret = 1;
	mci.messagesecret.data = sec;
	mci.messagesecret.len = 32;
	m.messagecontextinfo = &mci;
	len = wamsg__message__pack(&m, buf);
	T_OK(msg_node_dsm_wrap(buf, len, "5599@s.whatsapp.net", &out,
	    &outlen) == 0, "dsm wrap");
	d = wamsg__message__unpack(NULL, outlen, out);
	T_OK(d != NULL && d->devicesentmessage != NULL &&
	    strcmp(d->devicesentmessage->destinationjid,
	    "5599@s.whatsapp.net") == 0 && d->devicesentmessage->message &&
	    strcmp(d->devicesentmessage->message->conversation, "hello") == 0,
	    "DeviceSentMessage{destinationJID, message}");
	T_OK(d != NULL && d->messagecontextinfo != NULL &&
	    bin_is(d->messagecontextinfo->messagesecret, 1, 7, 32),
	    "messageContextInfo copied to the wrapper");
	T_OK(memmem(out, outlen, buf, len) != NULL,
	    "original bytes carried verbatim");
	if (d)
		wamsg__message__free_unpacked(d, NULL);
	free(out);
	/* a string with a NUL survives (re-serializing would cut it) */
	T_OK(msg_node_dsm_wrap((const uint8_t *)"\x0a\x03h\x00i", 5,
	    "x@s.whatsapp.net", &out, &outlen) == 0 &&
	    memmem(out, outlen, "\x0a\x03h\x00i", 5) != NULL,
	    "embedded NUL kept");
	free(out);
	T_OK(msg_node_dsm_wrap((const uint8_t *)"\xff\xff", 2, "x@s.whatsapp.net",
	    &out, &outlen) == MSG_NODE_EINVAL && out == NULL,
	    "dsm of garbage refused");

	T_OK(msg_node_skdm_message("120363@g.us", (const uint8_t *)"\x33skdm",
	    5, &out, &outlen) == 0, "skdm carrier");
	d = wamsg__message__unpack(NULL, outlen, out);
	T_OK(d != NULL && d->senderkeydistributionmessage != NULL &&
	    strcmp(d->senderkeydistributionmessage->groupid, "120363@g.us")
	    == 0 && d->senderkeydistributionmessage->
	    axolotlsenderkeydistributionmessage.len == 5,
	    "senderKeyDistributionMessage{groupID, axolotl}");
	if (d)
		wamsg__message__free_unpacked(d, NULL);
	free(out);
}

/* encode + decode: what goes over the wire */
static struct binnode *
wire(const struct binnode *n)
{
	struct buf b;
	struct binnode *d = NULL;

	buf_init(&b, 1 << 20);
	if (binnode_encode_node(n, &b) == 0)
		binnode_decode_node(b.data, b.len, &d);
	buf_free(&b);
	return d;
}

static void
test_build_send_1to1(void)
{
	struct msg_node_enc e[3];
	struct msg_node_send s;
	struct jid to = J("5599@s.whatsapp.net");
	struct binnode *n = NULL, *d, *p, *c;
	const uint8_t ident[] = "ADV-IDENTITY";

	memset(&s, 0, sizeof(s));
	memset(e, 0, sizeof(e));
	e[0].jid = J("5599@s.whatsapp.net");
	e[0].ct = (const uint8_t *)"\x33" "ct0";
	e[0].ctlen = 4;
	e[0].type = SIGNAL_MSG_TYPE_MSG;
	e[1].jid = J("5599:4@s.whatsapp.net");
	e[1].ct = (const uint8_t *)"\x33" "ct1";
	e[1].ctlen = 4;
	e[1].type = SIGNAL_MSG_TYPE_MSG;
	s.id = "3EB0ABCDEF0123456789AB";
	s.to = &to;
	s.type = "media";
	s.mediatype = "image";
	s.encs = e;
	s.nencs = 2;
	s.device_identity = ident;
	s.device_identity_len = sizeof(ident) - 1;
	T_OK(msg_node_build_send(&s, &n) == 0 && n != NULL, "msg-only build");
	T_OK(n != NULL && binnode_child(n, "device-identity") == NULL,
	    "no device-identity without pkmsg");
	T_OK(n != NULL && binnode_attr(n, "phash") == NULL, "no phash 1:1");
	binnode_free(n);

	e[1].type = SIGNAL_MSG_TYPE_PKMSG;
	T_OK(msg_node_build_send(&s, &n) == 0, "pkmsg build");
	d = n ? wire(n) : NULL;
	T_OK(d != NULL, "encodes and decodes");
	if (d != NULL) {
		T_EQ_STR(binnode_attr(d, "id"), "3EB0ABCDEF0123456789AB", "id");
		T_EQ_STR(binnode_attr(d, "to"), "5599@s.whatsapp.net", "to");
		T_EQ_STR(binnode_attr(d, "type"), "media", "type");
		p = binnode_child(d, "participants");
		T_OK(p != NULL && binnode_count(p, "to") == 2, "2 <to>");
		c = p ? binnode_child(p->children[1], "enc") : NULL;
		T_OK(p != NULL && strcmp(binnode_attr(p->children[1], "jid"),
		    "5599:4@s.whatsapp.net") == 0, "device JID");
		T_OK(c != NULL && strcmp(binnode_attr(c, "type"), "pkmsg") == 0
		    && strcmp(binnode_attr(c, "v"), "2") == 0 &&
		    strcmp(binnode_attr(c, "mediatype"), "image") == 0 &&
		    c->len == 4 && memcmp(c->data, "\x33" "ct1", 4) == 0,
		    "enc v=2 type=pkmsg mediatype, bytes");
		c = binnode_child(d, "device-identity");
		T_OK(c != NULL && c->len == sizeof(ident) - 1 &&
		    memcmp(c->data, ident, c->len) == 0,
		    "device-identity with pkmsg");
	}
	binnode_free(d);
	binnode_free(n);

	s.device_identity = NULL;
	T_EQ_INT(msg_node_build_send(&s, &n), MSG_NODE_EIDENTITY,
	    "pkmsg without identity refused");
	T_OK(n == NULL, "no node on error");
	s.nencs = 0;
	T_EQ_INT(msg_node_build_send(&s, &n), MSG_NODE_EINVAL,
	    "nothing to send refused");
	s.nencs = 1;
	e[0].type = 7;
	T_EQ_INT(msg_node_build_send(&s, &n), MSG_NODE_EINVAL,
	    "bad enc type refused");

	/* edit attr + hide */
	e[0].type = SIGNAL_MSG_TYPE_MSG;
	s.edit = "1";
	s.hide_fail = 1;
	s.mediatype = NULL;
	T_OK(msg_node_build_send(&s, &n) == 0 && n != NULL &&
	    strcmp(binnode_attr(n, "edit"), "1") == 0 &&
	    strcmp(binnode_attr(binnode_child(binnode_child(binnode_child(n,
	    "participants"), "to"), "enc"), "decrypt-fail"), "hide") == 0,
	    "edit=1, decrypt-fail=hide");
	binnode_free(n);
}

static void
test_build_send_group(void)
{
	struct msg_node_enc e[2];
	struct msg_node_send s;
	struct jid g = J("120363012345678901@g.us");
	struct binnode *n = NULL, *c;
	char ph[16];
	const uint8_t ident[4] = { 1, 2, 3, 4 };

	memset(&s, 0, sizeof(s));
	memset(e, 0, sizeof(e));
	e[0].jid = J("5511987654321:3@s.whatsapp.net");
	e[0].ct = (const uint8_t *)"skdm0";
	e[0].ctlen = 5;
	e[0].type = SIGNAL_MSG_TYPE_PKMSG;
	e[1].jid = J("5511999999999@s.whatsapp.net");
	e[1].ct = (const uint8_t *)"skdm1";
	e[1].ctlen = 5;
	e[1].type = SIGNAL_MSG_TYPE_MSG;
	s.id = "3EB0000000000000000001";
	s.to = &g;
	s.type = "text";
	s.encs = e;
	s.nencs = 2;
	s.skmsg = (const uint8_t *)"\x33sk";
	s.skmsglen = 3;
	s.device_identity = ident;
	s.device_identity_len = 4;
	s.addressing_mode = "lid";
	T_OK(msg_node_build_send(&s, &n) == 0 && n != NULL, "group build");
	if (n == NULL)
		return;
	c = NULL;
	{
		size_t i;

		for (i = 0; i < n->nchildren; i++)
			if (binnode_tag_is(n->children[i], "enc"))
				c = n->children[i];
	}
	T_OK(c != NULL && strcmp(binnode_attr(c, "type"), "skmsg") == 0 &&
	    c->len == 3, "<enc type=skmsg> under <message>");
	T_OK(binnode_count(binnode_child(n, "participants"), "to") == 2,
	    "SKDM fan-out in participants");
	{
		struct jid d[2] = { e[0].jid, e[1].jid };

		msg_node_phash(d, 2, ph, sizeof(ph));
	}
	T_EQ_STR(binnode_attr(n, "phash"), ph, "phash computed from devices");
	T_EQ_STR(binnode_attr(n, "addressing_mode"), "lid", "addressing_mode");
	T_OK(binnode_child(n, "device-identity") != NULL, "identity (pkmsg)");
	binnode_free(n);

	/* only skmsg (everyone has our key) */
	s.nencs = 0;
	s.phash = "2:AAAAAAAA";
	T_OK(msg_node_build_send(&s, &n) == 0 && n != NULL &&
	    binnode_child(n, "participants") == NULL &&
	    binnode_child(n, "device-identity") == NULL &&
	    strcmp(binnode_attr(n, "phash"), "2:AAAAAAAA") == 0,
	    "skmsg only, given phash");
	binnode_free(n);
}

static void
test_build_retry_resend(void)
{
	struct msg_node_enc e;
	struct msg_node_send s;
	struct jid to = J("5599:4@s.whatsapp.net");
	struct binnode *n = NULL, *c;

	memset(&s, 0, sizeof(s));
	memset(&e, 0, sizeof(e));
	e.jid = to;
	e.ct = (const uint8_t *)"ct";
	e.ctlen = 2;
	e.type = SIGNAL_MSG_TYPE_MSG;
	s.id = "3EB0000000000000000002";
	s.to = &to;
	s.type = "text";
	s.encs = &e;
	s.nencs = 1;
	s.retry = 1;
	s.retry_count = 2;
	s.t = 1700000000;
	T_OK(msg_node_build_send(&s, &n) == 0 && n != NULL, "retry build");
	if (n == NULL)
		return;
	c = binnode_child(n, "enc");
	T_OK(c != NULL && strcmp(binnode_attr(c, "count"), "2") == 0,
	    "enc count=2 directly under message");
	T_OK(binnode_child(n, "participants") == NULL, "no participants");
	T_EQ_STR(binnode_attr(n, "device_fanout"), "false", "device_fanout");
	T_EQ_STR(binnode_attr(n, "t"), "1700000000", "original t");
	binnode_free(n);
}

/* ------------------------------------------------------------ incoming */

static struct binnode *
in_msg(const char *from, const char *participant, const char *recipient)
{
	struct binnode *n = binnode_new("message"), *e;
	struct jid j;

	binnode_set_attrs(n, "id", "ABCDEF0123", "type", "text", "t",
	    "1700000000", "notify", "Ann \xf0\x9f\x98\x80", NULL);
	jid_parse(&j, from);
	binnode_set_attr_jid(n, "from", &j);
	if (participant) {
		jid_parse(&j, participant);
		binnode_set_attr_jid(n, "participant", &j);
	}
	if (recipient) {
		jid_parse(&j, recipient);
		binnode_set_attr_jid(n, "recipient", &j);
	}
	e = binnode_add_new(n, "enc");
	binnode_set_attrs(e, "v", "2", "type", "pkmsg", NULL);
	binnode_set_bytes(e, "\x33pk", 3);
	return n;
}

static void
test_parse_incoming(void)
{
	struct jid own_pn = J("5511:2@s.whatsapp.net");
	struct jid own_lid = J("999:2@lid");
	struct binnode *n, *d, *e;
	struct msg_in m;
	char s[JID_STR_MAX];

	n = in_msg("5599:4@s.whatsapp.net", NULL, NULL);
	d = wire(n);
	T_OK(d != NULL && msg_node_parse(d, &own_pn, &own_lid, &m) == 0,
	    "1:1 parses (after the wire)");
	jid_format(&m.chat, s, sizeof(s));
	T_EQ_STR(s, "5599@s.whatsapp.net", "chat = from without device");
	jid_format(&m.sender, s, sizeof(s));
	T_EQ_STR(s, "5599:4@s.whatsapp.net", "sender = from");
	T_OK(!m.is_group && !m.is_from_me, "not group, not from me");
	T_EQ_STR(m.id, "ABCDEF0123", "id");
	T_EQ_INT(m.t, 1700000000, "t");
	T_EQ_STR(m.notify, "Ann \xf0\x9f\x98\x80", "push name");
	T_OK(m.nenc == 1 && strcmp(m.enc[0].type, "pkmsg") == 0 &&
	    m.enc[0].v == 2 && m.enc[0].ctlen == 3 &&
	    memcmp(m.enc[0].ct, "\x33pk", 3) == 0, "enc");
	binnode_free(d);

	/* retry count + extra skmsg */
	e = binnode_add_new(n, "enc");
	binnode_set_attrs(e, "v", "2", "type", "skmsg", "count", "3",
	    "decrypt-fail", "hide", "mediatype", "image", NULL);
	binnode_set_bytes(e, "sk", 2);
	T_OK(msg_node_parse(n, &own_pn, &own_lid, &m) == 0 && m.nenc == 2 &&
	    m.retry_count == 3 && m.enc[1].hide_fail &&
	    strcmp(m.enc[1].mediatype, "image") == 0, "count, hide, mediatype");
	binnode_free(n);

	n = in_msg("120363012345678901@g.us", "5577:1@s.whatsapp.net", NULL);
	binnode_set_attr(n, "participant_lid", "123456@lid");
	T_OK(msg_node_parse(n, &own_pn, &own_lid, &m) == 0 && m.is_group,
	    "group parses");
	jid_format(&m.sender, s, sizeof(s));
	T_EQ_STR(s, "5577:1@s.whatsapp.net", "group sender = participant");
	jid_format(&m.sender_alt, s, sizeof(s));
	T_OK(m.has_sender_alt && strcmp(s, "123456@lid") == 0,
	    "participant_lid kept");
	binnode_free(n);

	n = in_msg("5511@s.whatsapp.net", NULL, "5599@s.whatsapp.net");
	T_OK(msg_node_parse(n, &own_pn, &own_lid, &m) == 0 && m.is_from_me,
	    "from our phone");
	jid_format(&m.chat, s, sizeof(s));
	T_EQ_STR(s, "5599@s.whatsapp.net", "chat = recipient");
	T_EQ_STR(msg_node_delivery_type(&m, 1), "sender", "receipt type sender");
	binnode_free(n);

	n = in_msg("999:7@lid", NULL, NULL);
	T_OK(msg_node_parse(n, &own_pn, &own_lid, &m) == 0 && m.is_from_me,
	    "from our LID device");
	binnode_free(n);

	n = in_msg("5566:99@hosted", NULL, NULL);
	binnode_set_attr(n, "type", "a-type-from-the-future-longer-than-32");
	T_OK(msg_node_parse(n, &own_pn, &own_lid, &m) == 0, "hosted parses");
	jid_format(&m.chat, s, sizeof(s));
	T_EQ_STR(s, "5566@s.whatsapp.net", "hosted device -> PN chat");
	T_EQ_INT(strlen(m.type), 31, "unknown long type cut, not fatal");
	binnode_free(n);

	/* malformed */
	n = in_msg("120363012345678901@g.us", NULL, NULL);
	T_EQ_INT(msg_node_parse(n, &own_pn, &own_lid, &m), MSG_NODE_EINVAL,
	    "group without participant");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	binnode_del_attr(n, "id");
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL, "no id");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	binnode_del_attr(n, "from");
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL, "no from");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	binnode_set_attr(n, "t", "12x");
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL, "bad t");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	binnode_clear_content(binnode_child(n, "enc"));
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL,
	    "enc without bytes");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	binnode_set_attr(binnode_child(n, "enc"), "v", "9");
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL, "bad v");
	binnode_free(n);
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	{
		int i;

		for (i = 0; i < MSG_NODE_MAX_ENC; i++) {
			e = binnode_add_new(n, "enc");
			binnode_set_attrs(e, "type", "msg", NULL);
			binnode_set_bytes(e, "x", 1);
		}
	}
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_ELIMIT,
	    "too many encs");
	binnode_free(n);
	n = binnode_new("receipt");
	T_EQ_INT(msg_node_parse(n, NULL, NULL, &m), MSG_NODE_EINVAL,
	    "wrong tag");
	binnode_free(n);
	T_EQ_INT(msg_node_parse(NULL, NULL, NULL, &m), MSG_NODE_EINVAL, "NULL");

	/* long push name cut on a UTF-8 boundary */
	n = in_msg("5599@s.whatsapp.net", NULL, NULL);
	{
		char big[600];
		size_t i;

		for (i = 0; i + 4 < sizeof(big); i += 4)
			memcpy(big + i, "\xf0\x9f\x98\x80", 4);
		big[i] = '\0';
		binnode_set_attr(n, "notify", big);
	}
	T_OK(msg_node_parse(n, NULL, NULL, &m) == 0 &&
	    strlen(m.notify) == 252, "long push name cut at 252 (UTF-8)");
	binnode_free(n);
}

static void
test_receipts_and_acks(void)
{
	struct binnode *n, *r, *c, *k;
	struct msg_retry_keys keys;
	const char *ids[3] = { "A1", "A2", "A3" };
	struct jid chat = J("5599@s.whatsapp.net"), part = J("5577@lid");
	struct msg_in m;

	n = in_msg("120363012345678901@g.us", "5577:1@s.whatsapp.net", NULL);
	r = msg_node_receipt(n, NULL);
	T_OK(r != NULL && binnode_tag_is(r, "receipt") &&
	    strcmp(binnode_attr(r, "id"), "ABCDEF0123") == 0 &&
	    strcmp(binnode_attr(r, "to"), "120363012345678901@g.us") == 0 &&
	    strcmp(binnode_attr(r, "participant"), "5577:1@s.whatsapp.net")
	    == 0 && binnode_attr(r, "type") == NULL, "delivery receipt");
	binnode_free(r);
	msg_node_parse(n, NULL, NULL, &m);
	T_OK(msg_node_delivery_type(&m, 1) == NULL, "active: no type");
	T_EQ_STR(msg_node_delivery_type(&m, 0), "inactive", "inactive");
	r = msg_node_receipt(n, "inactive");
	T_EQ_STR(binnode_attr(r, "type"), "inactive", "inactive receipt");
	binnode_free(r);

	r = msg_node_ack(n, 0);
	T_OK(r != NULL && strcmp(binnode_attr(r, "class"), "message") == 0 &&
	    strcmp(binnode_attr(r, "to"), "120363012345678901@g.us") == 0 &&
	    strcmp(binnode_attr(r, "participant"), "5577:1@s.whatsapp.net")
	    == 0 && binnode_attr(r, "type") == NULL &&
	    binnode_attr(r, "error") == NULL, "message ack (no type)");
	binnode_free(r);
	r = msg_node_ack(n, 487);
	T_EQ_STR(binnode_attr(r, "error"), "487", "nack error code");
	binnode_free(r);

	memset(&keys, 0, sizeof(keys));
	memset(keys.identity_pub, 1, 32);
	keys.prekey_id = 0x010203;
	keys.signed_prekey_id = 1;
	keys.device_identity = (const uint8_t *)"ADV";
	keys.device_identity_len = 3;
	r = msg_node_retry_receipt(n, 2, 0x01020304, &keys);
	T_OK(r != NULL && strcmp(binnode_attr(r, "type"), "retry") == 0,
	    "retry receipt");
	c = r ? binnode_child(r, "retry") : NULL;
	T_OK(c != NULL && strcmp(binnode_attr(c, "count"), "2") == 0 &&
	    strcmp(binnode_attr(c, "id"), "ABCDEF0123") == 0 &&
	    strcmp(binnode_attr(c, "t"), "1700000000") == 0 &&
	    strcmp(binnode_attr(c, "v"), "1") == 0, "<retry count id t v>");
	c = r ? binnode_child(r, "registration") : NULL;
	T_OK(c != NULL && c->len == 4 && memcmp(c->data, "\x01\x02\x03\x04",
	    4) == 0, "registration BE32");
	k = r ? binnode_child(r, "keys") : NULL;
	T_OK(k != NULL && binnode_child(k, "type")->len == 1 &&
	    binnode_child(k, "type")->data[0] == 5 &&
	    binnode_child(k, "identity")->len == 32 &&
	    memcmp(binnode_child(binnode_child(k, "key"), "id")->data,
	    "\x01\x02\x03", 3) == 0 &&
	    binnode_child(binnode_child(k, "skey"), "signature")->len == 64 &&
	    binnode_child(k, "device-identity")->len == 3, "<keys> shape");
	binnode_free(r);
	r = msg_node_retry_receipt(n, 1, 5, NULL);
	T_OK(r != NULL && binnode_child(r, "keys") == NULL, "count 1: no keys");
	binnode_free(r);
	T_OK(msg_node_retry_receipt(n, 0, 5, NULL) == NULL, "count 0 refused");
	binnode_free(n);

	r = msg_node_read_receipt(&chat, NULL, ids, 3, 1700000001, "read");
	T_OK(r != NULL && strcmp(binnode_attr(r, "id"), "A1") == 0 &&
	    strcmp(binnode_attr(r, "type"), "read") == 0 &&
	    strcmp(binnode_attr(r, "t"), "1700000001") == 0 &&
	    binnode_attr(r, "participant") == NULL &&
	    binnode_count(binnode_child(r, "list"), "item") == 2 &&
	    strcmp(binnode_attr(binnode_child(r, "list")->children[1], "id"),
	    "A3") == 0, "read receipt with list");
	binnode_free(r);
	r = msg_node_read_receipt(&chat, &part, ids, 1, 1, "played");
	T_OK(r != NULL && binnode_child(r, "list") == NULL &&
	    strcmp(binnode_attr(r, "participant"), "5577@lid") == 0,
	    "single id, participant");
	binnode_free(r);
	T_OK(msg_node_read_receipt(&chat, NULL, ids, 0, 1, NULL) == NULL,
	    "no ids refused");

	/* ack of a receipt keeps its type */
	n = binnode_new("receipt");
	binnode_set_attrs(n, "id", "X", "type", "read", NULL);
	binnode_set_attr_jid(n, "from", &chat);
	r = msg_node_ack(n, 0);
	T_OK(r != NULL && strcmp(binnode_attr(r, "class"), "receipt") == 0 &&
	    strcmp(binnode_attr(r, "type"), "read") == 0, "receipt ack type");
	binnode_free(r);
	binnode_free(n);
}

static void
test_parse_receipt(void)
{
	struct msg_receipt_in *r = malloc(sizeof(*r));
	struct binnode *n, *l;
	struct jid j = J("5599:3@s.whatsapp.net");

	n = binnode_new("receipt");
	binnode_set_attrs(n, "id", "ID1", "type", "read", "t", "17", NULL);
	binnode_set_attr_jid(n, "from", &j);
	l = binnode_add_new(n, "list");
	binnode_set_attr(binnode_add_new(l, "item"), "id", "ID2");
	binnode_set_attr(binnode_add_new(l, "item"), "id", "ID3");
	T_OK(msg_node_parse_receipt(n, r) == 0 && r->nids == 3 &&
	    strcmp(r->ids[2], "ID3") == 0 && strcmp(r->type, "read") == 0 &&
	    r->t == 17 && !r->is_group, "receipt with list");
	binnode_set_attr(binnode_add_new(l, "item"), "nope", "x");
	T_EQ_INT(msg_node_parse_receipt(n, r), MSG_NODE_EINVAL,
	    "item without id");
	binnode_free(n);
	free(r);
}

/* ------------------------------------------------------------ webhooks */

static struct json_object *
hook(const struct hook_msg_env *env, const uint8_t *msg, size_t len,
    const char **event, char *eid)
{
	char *json = NULL;
	struct json_object *o = NULL;

	if (hook_message_payload(env, msg, len, &json, event, eid) == 0)
		o = json_tokener_parse(json);
	free(json);
	return o;
}

static const char *
jpath(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b != NULL && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

static uint8_t *
pack(Wamsg__Message *m, size_t *len)
{
	uint8_t *b;

	*len = wamsg__message__get_packed_size(m);
	b = malloc(*len + 1);
	wamsg__message__pack(m, b);
	return b;
}

static int
lid_lookup(void *arg, const struct jid *lid, struct jid *pn)
{
	if (strcmp(lid->user, "123456") != 0)
		return -1;
	return jid_parse(pn, "6281777@s.whatsapp.net");
}

static void
test_webhook_payloads(void)
{
	struct hook_msg_env env;
	Wamsg__Message m, q, inner;
	Wamsg__ExtendedTextMessage et;
	Wamsg__ContextInfo ci;
	Wamsg__ReactionMessage rm;
	Wamsg__ProtocolMessage pm;
	Wamsg__MessageKey key;
	Wamsg__FutureProofMessage fp;
	Wamsg__ImageMessage im;
	struct json_object *o;
	const char *ev;
	char eid[HOOK_EVENT_ID_LEN + 1], eid2[HOOK_EVENT_ID_LEN + 1];
	uint8_t *b;
	size_t len;
	struct jid pn = J("6281777@s.whatsapp.net");

	memset(&env, 0, sizeof(env));
	env.device_hash = "0123456789abcdef";
	env.device_jid = "5511:2@s.whatsapp.net";
	env.id = "3EB0MSG1";
	env.chat = J("5599@s.whatsapp.net");
	env.sender = J("5599@s.whatsapp.net");
	env.push_name = "Bob";
	env.timestamp = 1700000000;

	wamsg__message__init(&m);
	m.conversation = (char *)"hello";
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_OK(o != NULL, "text payload");
	T_EQ_STR(jpath(o, "sender_id", NULL), "5599", "sender_id user part");
	T_EQ_STR(jpath(o, "chat_id", NULL), "5599", "chat_id");
	T_EQ_STR(jpath(o, "from", NULL), "5599@s.whatsapp.net", "from");
	T_EQ_STR(jpath(o, "pushname", NULL), "Bob", "pushname");
	T_EQ_STR(jpath(o, "timestamp", NULL), "2023-11-14T22:13:20Z", "RFC3339");
	T_EQ_STR(jpath(o, "message", "text"), "hello", "message.text");
	T_EQ_STR(jpath(o, "message", "id"), "3EB0MSG1", "message.id");
	T_EQ_STR(jpath(o, "message", "replied_id"), "", "replied_id empty");
	T_EQ_STR(jpath(o, "event", NULL), "message", "event message");
	T_EQ_STR(ev, "message", "event out");
	T_EQ_STR(jpath(o, "device_hash", NULL), "0123456789abcdef",
	    "device_hash");
	T_EQ_STR(jpath(o, "device_jid", NULL), "5511:2@s.whatsapp.net",
	    "device_jid");
	T_EQ_STR(jpath(o, "event_id", NULL), eid, "event_id in body");
	T_OK(strlen(eid) == 32 && strspn(eid, "0123456789abcdef") == 32,
	    "event_id 32 hex");
	json_object_put(o);
	/* same event again (retry / redelivery) -> same id */
	env.timestamp = 1800000000;
	o = hook(&env, b, len, &ev, eid2);
	T_EQ_STR(eid2, eid, "event_id stable across redelivery");
	json_object_put(o);
	env.id = "3EB0MSG2";
	o = hook(&env, b, len, &ev, eid2);
	T_OK(strcmp(eid2, eid) != 0, "another message, another event_id");
	json_object_put(o);
	env.device_hash = "fedcba9876543210";
	env.id = "3EB0MSG1";
	o = hook(&env, b, len, &ev, eid2);
	T_OK(strcmp(eid2, eid) != 0, "another device, another event_id");
	json_object_put(o);
	env.device_hash = "0123456789abcdef";
	free(b);

	/* reply in a group from a @lid sender with a known phone number */
	wamsg__message__init(&m);
	wamsg__message__init(&q);
	wamsg__extended_text_message__init(&et);
	wamsg__context_info__init(&ci);
	q.conversation = (char *)"orig";
	ci.stanzaid = (char *)"3EB0ORIG";
	ci.quotedmessage = &q;
	ci.has_isforwarded = ci.isforwarded = 1;
	et.text = (char *)"yes @123456 ok";
	et.contextinfo = &ci;
	m.extendedtextmessage = &et;
	env.chat = J("120363012345678901@g.us");
	env.sender = J("123456:5@lid");
	env.is_group = 1;
	env.sender_pn = &pn;
	env.lid_lookup = lid_lookup;
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_EQ_STR(jpath(o, "message", "replied_id"), "3EB0ORIG", "replied_id");
	T_EQ_STR(jpath(o, "message", "quoted_message"), "orig",
	    "quoted_message");
	T_EQ_STR(jpath(o, "message", "text"), "yes @6281777 ok",
	    "@lid mention rewritten to the phone");
	T_EQ_STR(jpath(o, "from", NULL),
	    "6281777@s.whatsapp.net in 120363012345678901@g.us",
	    "from: phone in group");
	T_EQ_STR(jpath(o, "from_lid", NULL), "123456:5@lid", "from_lid");
	T_EQ_STR(jpath(o, "chat_id", NULL), "120363012345678901", "group chat");
	T_EQ_STR(jpath(o, "forwarded", NULL), "true", "forwarded");
	json_object_put(o);
	free(b);
	env.is_group = 0;
	env.sender_pn = NULL;
	env.lid_lookup = NULL;
	env.chat = J("5599@s.whatsapp.net");
	env.sender = J("5599:3@s.whatsapp.net");

	/* reaction */
	wamsg__message__init(&m);
	wamsg__reaction_message__init(&rm);
	wamsg__message_key__init(&key);
	key.id = (char *)"3EB0TARGET";
	rm.key = &key;
	rm.text = (char *)"\xf0\x9f\x91\x8d";
	m.reactionmessage = &rm;
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_EQ_STR(ev, "message.reaction", "event message.reaction");
	T_EQ_STR(jpath(o, "reaction", "message"), "\xf0\x9f\x91\x8d",
	    "reaction.message");
	T_EQ_STR(jpath(o, "reaction", "id"), "3EB0TARGET", "reaction.id");
	T_EQ_STR(jpath(o, "from", NULL),
	    "5599:3@s.whatsapp.net in 5599@s.whatsapp.net",
	    "from: companion device (SourceString)");
	json_object_put(o);
	free(b);

	/* revoke */
	wamsg__message__init(&m);
	wamsg__protocol_message__init(&pm);
	wamsg__message_key__init(&key);
	key.id = (char *)"3EB0GONE";
	key.remotejid = (char *)"5599@s.whatsapp.net";
	key.has_fromme = 1;
	key.fromme = 0;
	pm.key = &key;
	pm.has_type = 1;
	pm.type = 0;
	m.protocolmessage = &pm;
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_EQ_STR(ev, "message.revoked", "event message.revoked");
	T_EQ_STR(jpath(o, "action", NULL), "message_revoked", "action");
	T_EQ_STR(jpath(o, "revoked_message_id", NULL), "3EB0GONE",
	    "revoked_message_id");
	T_EQ_STR(jpath(o, "revoked_from_me", NULL), "false", "revoked_from_me");
	T_EQ_STR(jpath(o, "revoked_chat", NULL), "5599@s.whatsapp.net",
	    "revoked_chat");
	json_object_put(o);
	free(b);

	/* edit (as whatsmeow BuildEdit sends it) */
	wamsg__message__init(&m);
	wamsg__message__init(&inner);
	wamsg__message__init(&q);
	wamsg__future_proof_message__init(&fp);
	wamsg__protocol_message__init(&pm);
	q.conversation = (char *)"new text";
	pm.key = &key;
	pm.has_type = 1;
	pm.type = 14;
	pm.editedmessage = &q;
	inner.protocolmessage = &pm;
	fp.message = &inner;
	m.editedmessage = &fp;
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_EQ_STR(ev, "message.edited", "event message.edited");
	T_EQ_STR(jpath(o, "action", NULL), "message_edited", "action edited");
	T_EQ_STR(jpath(o, "edited_text", NULL), "new text", "edited_text");
	json_object_put(o);
	free(b);

	/* image, view-once, with the caller's media path */
	wamsg__message__init(&m);
	wamsg__image_message__init(&im);
	im.mimetype = (char *)"image/jpeg";
	im.caption = (char *)"pic";
	im.has_viewonce = im.viewonce = 1;
	m.imagemessage = &im;
	env.media_path = "statics/media/1700000000-abc.jpg";
	b = pack(&m, &len);
	o = hook(&env, b, len, &ev, eid);
	T_EQ_STR(jpath(o, "image", "media_path"),
	    "statics/media/1700000000-abc.jpg", "image.media_path");
	T_EQ_STR(jpath(o, "image", "mime_type"), "image/jpeg", "mime_type");
	T_EQ_STR(jpath(o, "image", "caption"), "pic", "caption");
	T_EQ_STR(jpath(o, "view_once", NULL), "true", "view_once");
	T_EQ_STR(ev, "message", "image is a message event");
	json_object_put(o);
	free(b);

	/* skipped: SKDM only, history sync, broadcast; garbage refused */
	{
		Wamsg__SenderKeyDistributionMessage sk;
		char *json = NULL;

		wamsg__message__init(&m);
		wamsg__sender_key_distribution_message__init(&sk);
		m.senderkeydistributionmessage = &sk;
		b = pack(&m, &len);
		T_EQ_INT(hook_message_payload(&env, b, len, &json, &ev, eid),
		    HOOK_SKIP, "SKDM only: skipped");
		free(b);
		wamsg__message__init(&m);
		wamsg__protocol_message__init(&pm);
		pm.has_type = 1;
		pm.type = 5;
		m.protocolmessage = &pm;
		b = pack(&m, &len);
		T_EQ_INT(hook_message_payload(&env, b, len, &json, &ev, eid),
		    HOOK_SKIP, "history sync: skipped");
		free(b);
		wamsg__message__init(&m);
		m.conversation = (char *)"status";
		b = pack(&m, &len);
		env.chat = J("status@broadcast");
		T_EQ_INT(hook_message_payload(&env, b, len, &json, &ev, eid),
		    HOOK_SKIP, "status broadcast: skipped");
		free(b);
		env.chat = J("5599@s.whatsapp.net");
		T_EQ_INT(hook_message_payload(&env, (const uint8_t *)"\xff\xff",
		    2, &json, &ev, eid), HOOK_EINVAL, "garbage refused");
		T_OK(json == NULL, "no body on error");
	}
}

static void
test_webhook_receipt_and_group(void)
{
	struct msg_receipt_in *r = calloc(1, sizeof(*r));
	struct json_object *o, *v;
	struct jid jids[2];
	char *json = NULL, eid[HOOK_EVENT_ID_LEN + 1], eid2[sizeof(eid)];

	r->chat = J("5599@s.whatsapp.net");
	r->sender = J("5599@s.whatsapp.net");
	r->nids = 2;
	snprintf(r->ids[0], sizeof(r->ids[0]), "3EB0A");
	snprintf(r->ids[1], sizeof(r->ids[1]), "3EB0B");
	T_OK(hook_receipt_payload("0123456789abcdef", "5511:2@s.whatsapp.net",
	    r, 1700000000, &json, eid) == 0, "delivered receipt payload");
	o = json_tokener_parse(json);
	T_EQ_STR(jpath(o, "event", NULL), "message.ack", "event message.ack");
	T_EQ_STR(jpath(o, "timestamp", NULL), "2023-11-14T22:13:20Z", "ts");
	T_EQ_STR(jpath(o, "payload", "receipt_type"), "delivered",
	    "receipt_type delivered");
	T_EQ_STR(jpath(o, "payload", "chat_id"), "5599@s.whatsapp.net",
	    "chat_id full JID");
	T_EQ_STR(jpath(o, "payload", "from"), "5599@s.whatsapp.net", "from");
	T_OK(json_object_object_get_ex(o, "payload", &v) &&
	    json_object_object_get_ex(v, "ids", &v) &&
	    json_object_array_length(v) == 2, "ids");
	T_EQ_STR(jpath(o, "event_id", NULL), eid, "event_id");
	T_EQ_STR(jpath(o, "device_hash", NULL), "0123456789abcdef", "hash");
	json_object_put(o);
	free(json);
	snprintf(r->type, sizeof(r->type), "read");
	hook_receipt_payload("0123456789abcdef", "x", r, 1700000099, &json,
	    eid2);
	o = json_tokener_parse(json);
	T_EQ_STR(jpath(o, "payload", "receipt_type"), "read", "read");
	T_OK(strcmp(eid, eid2) != 0, "read has another event_id");
	json_object_put(o);
	free(json);
	hook_receipt_payload("0123456789abcdef", "x", r, 1, &json, eid);
	T_EQ_STR(eid, eid2, "read receipt event_id stable");
	free(json);
	snprintf(r->type, sizeof(r->type), "retry");
	T_EQ_INT(hook_receipt_payload("h", "x", r, 1, &json, eid), HOOK_SKIP,
	    "retry receipts not forwarded");
	free(r);

	jids[0] = J("5511@s.whatsapp.net");
	jids[1] = J("123@lid");
	{
		struct jid g = J("120363012345678901@g.us");

		T_OK(hook_group_payload("0123456789abcdef", "x", &g, "join",
		    jids, 2, 1700000000, &json, eid) == 0, "group payload");
		o = json_tokener_parse(json);
		T_EQ_STR(jpath(o, "event", NULL), "group.participants",
		    "group event");
		T_EQ_STR(jpath(o, "payload", "type"), "join", "type");
		T_EQ_STR(jpath(o, "payload", "chat_id"),
		    "120363012345678901@g.us", "group chat_id");
		json_object_put(o);
		free(json);
		T_EQ_INT(hook_group_payload("h", "x", &g, "explode", jids, 2,
		    1, &json, eid), HOOK_EINVAL, "unknown type");
		T_EQ_INT(hook_group_payload("h", "x", &g, "leave", jids, 0,
		    1, &json, eid), HOOK_SKIP, "no jids: nothing");
	}
}

static void
test_webhook_signature(void)
{
	char out[80];

	T_EQ_INT(hook_signature("topsecret", "{\"a\":1}", 7, out, sizeof(out)),
	    1, "signature wanted");
	T_EQ_STR(out, "sha256=bf1e6501b7fa928ec2391fea9dd90af3c9ad1b7b1ef6ff31"
	    "9c25940cec746bf8", "HMAC-SHA256 hex");
	T_EQ_INT(hook_signature("", "{}", 2, out, sizeof(out)), 0,
	    "empty secret: no header");
	T_EQ_STR(out, "", "no value");
	T_EQ_INT(hook_signature(NULL, "{}", 2, out, sizeof(out)), 0,
	    "NULL secret: no header");
	T_EQ_INT(hook_signature("k", "{}", 2, out, 20), -1, "short buffer");
}

/* ------------------------------------------------------------ oracle */

/*
 * With MSG_ORACLE_DIR set, write what our code produces for fixed inputs
 * into that folder, for tests/oracle/baileys_msg.mjs to decode with
 * Baileys' own WAProto and binary decoder (tests/system/test_msg_oracle.
 * mjs runs both).  <name>.bin = Message bytes, <name>.node = an encoded
 * stanza (flag byte + node).  The inputs here and the expectations there
 * must agree.
 */
static void
oracle_write(const char *dir, const char *name, const char *ext,
    const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	f = fopen(path, "wb");
	T_OK(f != NULL && fwrite(p, 1, len, f) == len && fclose(f) == 0,
	    "oracle: wrote %s.%s", name, ext);
}

static void
oracle_msg(const char *dir, const char *name, const char *route,
    const char *body, const struct msg_send_ctx *ctx)
{
	struct msg_send_req req;
	struct msg_send_out out;
	Wamsg__Message *m = build(route, body, ctx, &req, &out);

	if (m != NULL)
		oracle_write(dir, name, "bin", out.msg, out.msglen);
	else
		T_OK(0, "oracle: build %s", name);
	if (m)
		wamsg__message__free_unpacked(m, NULL);
	msg_send_out_free(&out);
	msg_send_req_free(&req);
}

static void
oracle_node(const char *dir, const char *name, struct binnode *n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	T_OK(n != NULL && binnode_encode(n, &b) == 0, "oracle: encode %s",
	    name);
	if (n != NULL)
		oracle_write(dir, name, "node", b.data, b.len);
	buf_free(&b);
	binnode_free(n);
}

static void
test_oracle_dump(void)
{
	const char *dir = getenv("MSG_ORACLE_DIR");
	struct msg_send_ctx ctx;
	struct msg_media md = media_fixture();
	struct msg_quoted q = { "6281111@s.whatsapp.net", "original text" };
	struct msg_node_enc e[2];
	struct msg_node_send s;
	struct jid to = J("5599@s.whatsapp.net");
	struct jid g = J("120363012345678901@g.us");
	uint8_t secret[32], *w;
	size_t wl;
	struct binnode *in;

	if (dir == NULL)
		return;
	memset(&ctx, 0, sizeof(ctx));
	ctx.now_ms = NOW_MS;
	ctx.quoted = &q;
	ctx.default_expiration = 604800;
	oracle_msg(dir, "text", "/send/message", "{\"phone\":\"+6281234\","
	    "\"message\":\"hi @6285555\",\"reply_message_id\":\"3EB0QUOTED\","
	    "\"is_forwarded\":true}", &ctx);
	ctx.quoted = NULL;
	ctx.media = &md;
	oracle_msg(dir, "image", "/send/image", "{\"phone\":\"6281234\","
	    "\"caption\":\"cap\",\"view_once\":true,\"duration\":86400}", &ctx);
	md.mimetype = "video/mp4";
	oracle_msg(dir, "video", "/send/video", "{\"phone\":\"6281234\","
	    "\"caption\":\"vid\"}", &ctx);
	md.mimetype = "audio/ogg; codecs=opus";
	md.ptt = 1;
	oracle_msg(dir, "audio", "/send/audio", "{\"phone\":\"6281234\"}", &ctx);
	md.ptt = 0;
	md.mimetype = "application/pdf";
	oracle_msg(dir, "file", "/send/file", "{\"phone\":\"6281234\","
	    "\"caption\":\"doc\"}", &ctx);
	md.mimetype = NULL;
	oracle_msg(dir, "sticker", "/send/sticker", "{\"phone\":\"6281234\"}",
	    &ctx);
	ctx.media = NULL;
	oracle_msg(dir, "contact", "/send/contact", "{\"phone\":\"6281234\","
	    "\"contact_name\":\"Ann\",\"contact_phone\":\"6281122\"}", &ctx);
	oracle_msg(dir, "location", "/send/location", "{\"phone\":\"6281234\","
	    "\"latitude\":\"-6.2\",\"longitude\":\"106.816666\",\"name\":"
	    "\"Monas\"}", &ctx);
	ctx.link_title = "Example";
	oracle_msg(dir, "link", "/send/link", "{\"phone\":\"6281234\","
	    "\"link\":\"https://example.com/\",\"caption\":\"look\"}", &ctx);
	memset(secret, 0x5a, sizeof(secret));
	ctx.message_secret = secret;
	oracle_msg(dir, "poll", "/send/poll", "{\"phone\":"
	    "\"120363012345678901@g.us\",\"question\":\"Lunch?\",\"options\":"
	    "[\"rice\",\"noodles\"],\"max_answer\":1}", &ctx);
	oracle_msg(dir, "reaction", "/message/3EB0AAAA/reaction",
	    "{\"phone\":\"6281234\",\"emoji\":\"\\ud83d\\udc4d\"}", &ctx);
	oracle_msg(dir, "revoke", "/message/3EB0AAAA/revoke",
	    "{\"phone\":\"6281234\"}", &ctx);
	oracle_msg(dir, "edit", "/message/3EB0AAAA/update",
	    "{\"phone\":\"6281234\",\"message\":\"fixed\"}", &ctx);
	T_OK(msg_node_dsm_wrap((const uint8_t *)"\x0a\x05hello", 7,
	    "5599@s.whatsapp.net", &w, &wl) == 0, "oracle: dsm");
	oracle_write(dir, "dsm", "bin", w, wl);
	free(w);

	memset(&s, 0, sizeof(s));
	memset(e, 0, sizeof(e));
	e[0].jid = J("5599@s.whatsapp.net");
	e[0].ct = (const uint8_t *)"\x33" "ct0";
	e[0].ctlen = 4;
	e[0].type = SIGNAL_MSG_TYPE_MSG;
	e[1].jid = J("5599:4@s.whatsapp.net");
	e[1].ct = (const uint8_t *)"\x33" "ct1";
	e[1].ctlen = 4;
	e[1].type = SIGNAL_MSG_TYPE_PKMSG;
	s.id = "3EB0ABCDEF0123456789AB";
	s.to = &to;
	s.type = "media";
	s.mediatype = "image";
	s.encs = e;
	s.nencs = 2;
	s.device_identity = (const uint8_t *)"ADV";
	s.device_identity_len = 3;
	in = NULL;
	msg_node_build_send(&s, &in);
	oracle_node(dir, "stanza-1to1", in);
	s.to = &g;
	s.type = "text";
	s.mediatype = NULL;
	s.skmsg = (const uint8_t *)"\x33sk";
	s.skmsglen = 3;
	s.addressing_mode = "lid";
	in = NULL;
	msg_node_build_send(&s, &in);
	oracle_node(dir, "stanza-group", in);

	in = in_msg("120363012345678901@g.us", "5577:1@s.whatsapp.net", NULL);
	oracle_node(dir, "receipt", msg_node_receipt(in, NULL));
	oracle_node(dir, "retry", msg_node_retry_receipt(in, 1, 0x01020304,
	    NULL));
	oracle_node(dir, "ack", msg_node_ack(in, 0));
	binnode_free(in);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_phone_normalization);
	T_RUN(test_validation_errors);
	T_RUN(test_kind_routes);
	T_RUN(test_send_text);
	T_RUN(test_send_media);
	T_RUN(test_send_other_kinds);
	T_RUN(test_status_texts);
	T_RUN(test_message_ids);
	T_RUN(test_phash_vector);
	T_RUN(test_device_roles);
	T_RUN(test_dsm_and_skdm);
	T_RUN(test_build_send_1to1);
	T_RUN(test_build_send_group);
	T_RUN(test_build_retry_resend);
	T_RUN(test_parse_incoming);
	T_RUN(test_receipts_and_acks);
	T_RUN(test_parse_receipt);
	T_RUN(test_webhook_payloads);
	T_RUN(test_webhook_receipt_and_group);
	T_RUN(test_webhook_signature);
	T_RUN(test_oracle_dump);
	return t_done();
}

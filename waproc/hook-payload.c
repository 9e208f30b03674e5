/*
 * hook-payload.c - GOWA v7.8.0 message webhook bodies (SEED_API.md §4.1)
 * with the gateway's device_hash / device_jid / event / event_id, and the
 * X-Hub-Signature-256 value.  Pure: decoded Message + envelope in, JSON
 * text out; no I/O, never logs (bodies hold message content).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "wamsg.pb-c.h"

#include "buf.h"
#include "hook-payload.h"
#include "msg-node.h"
#include "xmalloc.h"

#define PROTO_REVOKE			0
#define PROTO_EPHEMERAL_SYNC_RESPONSE	4
#define PROTO_MESSAGE_EDIT		14

void
hook_rfc3339(int64_t secs, char *out, size_t outsz)
{
	struct tm tm;
	time_t t = (time_t)secs;

	if (outsz == 0)
		return;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

void
hook_event_id(char out[HOOK_EVENT_ID_LEN + 1], const char *device_hash,
    const char *kind, ...)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES], z = 0;
	const char *s;
	va_list ap;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"wa-event-v1", 11);
	crypto_hash_sha256_update(&st, &z, 1);
	s = device_hash ? device_hash : "";
	crypto_hash_sha256_update(&st, (const uint8_t *)s, strlen(s));
	crypto_hash_sha256_update(&st, &z, 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)kind, strlen(kind));
	va_start(ap, kind);
	while ((s = va_arg(ap, const char *)) != NULL) {
		crypto_hash_sha256_update(&st, &z, 1);
		crypto_hash_sha256_update(&st, (const uint8_t *)s, strlen(s));
	}
	va_end(ap);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, HOOK_EVENT_ID_LEN + 1, h, HOOK_EVENT_ID_LEN / 2);
}

int
hook_signature(const char *secret, const void *body, size_t len, char *out,
    size_t outsz)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	if (outsz > 0)
		out[0] = '\0';
	if (secret == NULL || secret[0] == '\0')
		return 0;
	if (outsz < 7 + 64 + 1)
		return -1;
	crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret,
	    strlen(secret));
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, outsz - 7, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
	return 1;
}

/* ------------------------------------------------------------ helpers */

static char *
to_json(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

static void
add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void
add_extras(struct json_object *o, const char *device_hash,
    const char *device_jid, const char *event, const char *event_id)
{
	add_str(o, "device_hash", device_hash);
	add_str(o, "device_jid", device_jid);
	add_str(o, "event", event);
	add_str(o, "event_id", event_id);
}

/* whatsmeow UnwrapRaw: DSM, ephemeral, view-once, doc-with-caption,
 * edited wrappers. */
const Wamsg__Message *
hook_unwrap(const Wamsg__Message *m, int *view_once)
{
	int depth, vo;

	if (view_once == NULL)
		view_once = &vo;
	for (depth = 0; m != NULL && depth < 8; depth++) {
		if (m->devicesentmessage != NULL &&
		    m->devicesentmessage->message != NULL)
			m = m->devicesentmessage->message;
		else if (m->ephemeralmessage != NULL &&
		    m->ephemeralmessage->message != NULL)
			m = m->ephemeralmessage->message;
		else if (m->viewoncemessage != NULL &&
		    m->viewoncemessage->message != NULL) {
			m = m->viewoncemessage->message;
			*view_once = 1;
		} else if (m->viewoncemessagev2 != NULL &&
		    m->viewoncemessagev2->message != NULL) {
			m = m->viewoncemessagev2->message;
			*view_once = 1;
		} else if (m->viewoncemessagev2extension != NULL &&
		    m->viewoncemessagev2extension->message != NULL) {
			m = m->viewoncemessagev2extension->message;
			*view_once = 1;
		} else if (m->documentwithcaptionmessage != NULL &&
		    m->documentwithcaptionmessage->message != NULL)
			m = m->documentwithcaptionmessage->message;
		else if (m->editedmessage != NULL &&
		    m->editedmessage->message != NULL)
			m = m->editedmessage->message;
		else
			break;
	}
	return m;
}

static const Wamsg__ContextInfo *
context_of(const Wamsg__Message *m)
{
	if (m->extendedtextmessage != NULL)
		return m->extendedtextmessage->contextinfo;
	if (m->imagemessage != NULL)
		return m->imagemessage->contextinfo;
	if (m->videomessage != NULL)
		return m->videomessage->contextinfo;
	if (m->audiomessage != NULL)
		return m->audiomessage->contextinfo;
	if (m->documentmessage != NULL)
		return m->documentmessage->contextinfo;
	if (m->stickermessage != NULL)
		return m->stickermessage->contextinfo;
	if (m->contactmessage != NULL)
		return m->contactmessage->contextinfo;
	if (m->locationmessage != NULL)
		return m->locationmessage->contextinfo;
	return NULL;
}

static struct json_object *
media_obj(const char *path, const char *mime, const char *caption)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "media_path", path);
	add_str(o, "mime_type", mime);
	add_str(o, "caption", caption);
	return o;
}

/* Rewrite "@<lid user>" mentions to "@<phone>" (GOWA). */
static char *
rewrite_mentions(const struct hook_msg_env *env, const char *text)
{
	struct buf b;
	const char *p = text, *q;
	struct jid lid, pn;
	char user[JID_USER_MAX];
	size_t n;
	char *r;

	if (env->lid_lookup == NULL || strchr(text, '@') == NULL)
		return xstrdup(text);
	buf_init(&b, strlen(text) * 2 + 64);
	while (*p != '\0') {
		/* \B@\w+: '@' not preceded by a word character */
		if (*p == '@' && (p == text || !(isalnum((unsigned char)p[-1]) ||
		    p[-1] == '_'))) {
			q = p + 1;
			while (isalnum((unsigned char)*q) || *q == '_')
				q++;
			n = (size_t)(q - p - 1);
			if (n > 0 && n < sizeof(user)) {
				memcpy(user, p + 1, n);
				user[n] = '\0';
				if (jid_set(&lid, user, JID_SERVER_LID, 0) == 0 &&
				    env->lid_lookup(env->lid_arg, &lid,
				    &pn) == 0 && pn.user[0] != '\0') {
					buf_putc(&b, '@');
					buf_puts(&b, pn.user);
					p = q;
					continue;
				}
			}
			buf_append(&b, p, (size_t)(q - p));
			p = q;
			continue;
		}
		buf_putc(&b, (uint8_t)*p++);
	}
	r = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return r;
}

static void
add_double(struct json_object *o, const char *k, int has, double v)
{
	if (has && v != 0)
		json_object_object_add(o, k, json_object_new_double(v));
}

/* encoding/json of the Go proto structs: omitempty, camelCase tags. */
static struct json_object *
location_obj(const Wamsg__LocationMessage *l)
{
	struct json_object *o = json_object_new_object();

	add_double(o, "degreesLatitude", l->has_degreeslatitude,
	    l->degreeslatitude);
	add_double(o, "degreesLongitude", l->has_degreeslongitude,
	    l->degreeslongitude);
	if (l->name != NULL && *l->name)
		add_str(o, "name", l->name);
	if (l->address != NULL && *l->address)
		add_str(o, "address", l->address);
	if (l->url != NULL && *l->url)
		add_str(o, "URL", l->url);
	if (l->has_islive && l->islive)
		json_object_object_add(o, "isLive",
		    json_object_new_boolean(1));
	if (l->has_accuracyinmeters && l->accuracyinmeters)
		json_object_object_add(o, "accuracyInMeters",
		    json_object_new_int64(l->accuracyinmeters));
	if (l->comment != NULL && *l->comment)
		add_str(o, "comment", l->comment);
	return o;
}

static struct json_object *
live_location_obj(const Wamsg__LiveLocationMessage *l)
{
	struct json_object *o = json_object_new_object();

	add_double(o, "degreesLatitude", l->has_degreeslatitude,
	    l->degreeslatitude);
	add_double(o, "degreesLongitude", l->has_degreeslongitude,
	    l->degreeslongitude);
	if (l->has_accuracyinmeters && l->accuracyinmeters)
		json_object_object_add(o, "accuracyInMeters",
		    json_object_new_int64(l->accuracyinmeters));
	if (l->caption != NULL && *l->caption)
		add_str(o, "caption", l->caption);
	if (l->has_sequencenumber && l->sequencenumber)
		json_object_object_add(o, "sequenceNumber",
		    json_object_new_int64(l->sequencenumber));
	if (l->has_timeoffset && l->timeoffset)
		json_object_object_add(o, "timeOffset",
		    json_object_new_int64(l->timeoffset));
	return o;
}

/* ------------------------------------------------------------ message */

int
hook_message_payload(const struct hook_msg_env *env, const uint8_t *msg,
    size_t len, char **json, const char **event,
    char event_id[HOOK_EVENT_ID_LEN + 1])
{
	Wamsg__Message *raw;
	const Wamsg__Message *m;
	const Wamsg__ProtocolMessage *pm = NULL;
	const Wamsg__ContextInfo *ci;
	struct json_object *o, *jm, *r;
	char from[2 * JID_STR_MAX + 8], sender[JID_STR_MAX], chat[JID_STR_MAX];
	char lid[JID_STR_MAX], ts[40], bare[JID_STR_MAX];
	const char *text = "", *replied = "", *quoted = "", *ev = "message";
	const char *path;
	struct jid sb;
	char *t;
	int view_once = 0, forwarded = 0, rc = HOOK_SKIP;

	*json = NULL;
	*event = NULL;
	event_id[0] = '\0';
	if (env == NULL || env->id == NULL || env->id[0] == '\0')
		return HOOK_EINVAL;
	if (env->is_broadcast || jid_is_broadcast(&env->chat))
		return HOOK_SKIP;
	if ((raw = wamsg__message__unpack(NULL, len, msg)) == NULL)
		return HOOK_EINVAL;
	m = hook_unwrap(raw, &view_once);
	if (m == NULL)
		goto out;
	pm = m->protocolmessage;
	if (pm != NULL && pm->type != PROTO_REVOKE &&
	    pm->type != PROTO_MESSAGE_EDIT)
		goto out;	/* history sync, app-state keys, ephemeral … */
	if (pm == NULL && m->conversation == NULL &&
	    m->extendedtextmessage == NULL && m->imagemessage == NULL &&
	    m->videomessage == NULL && m->audiomessage == NULL &&
	    m->documentmessage == NULL && m->stickermessage == NULL &&
	    m->contactmessage == NULL && m->locationmessage == NULL &&
	    m->livelocationmessage == NULL && m->reactionmessage == NULL &&
	    m->pollcreationmessage == NULL &&
	    m->pollcreationmessagev2 == NULL &&
	    m->pollcreationmessagev3 == NULL && m->ptvmessage == NULL)
		goto out;	/* SKDM only, or kinds we do not report */

	if (jid_format(&env->sender, sender, sizeof(sender)) < 0 ||
	    jid_format(&env->chat, chat, sizeof(chat)) < 0) {
		rc = HOOK_EINVAL;
		goto out;
	}
	o = json_object_new_object();
	add_str(o, "sender_id", env->sender.user);
	add_str(o, "chat_id", env->chat.user);
	/* whatsmeow SourceString, @lid sender shown by its phone number */
	if (jid_equal(&env->sender, &env->chat))
		snprintf(from, sizeof(from), "%s", chat);
	else
		snprintf(from, sizeof(from), "%s in %s", sender, chat);
	if (jid_server_is(&env->sender, JID_SERVER_LID)) {
		add_str(o, "from", from);	/* replaced below if known */
		snprintf(lid, sizeof(lid), "%s", sender);
		add_str(o, "from_lid", lid);
		if (env->sender_pn != NULL && env->sender_pn->user[0]) {
			jid_to_bare(&sb, env->sender_pn);
			jid_format(&sb, bare, sizeof(bare));
			if (env->is_group)
				snprintf(from, sizeof(from), "%s in %s", bare,
				    chat);
			else
				snprintf(from, sizeof(from), "%s", bare);
			add_str(o, "from", from);
		}
	} else
		add_str(o, "from", from);

	/* message {text, id, replied_id, quoted_message} */
	if (m->conversation != NULL)
		text = m->conversation;
	if (m->extendedtextmessage != NULL) {
		const Wamsg__ExtendedTextMessage *et = m->extendedtextmessage;

		text = et->text ? et->text : "";
		if (et->contextinfo != NULL) {
			if (et->contextinfo->stanzaid != NULL)
				replied = et->contextinfo->stanzaid;
			if (et->contextinfo->quotedmessage != NULL &&
			    et->contextinfo->quotedmessage->conversation)
				quoted = et->contextinfo->quotedmessage->
				    conversation;
		}
	} else if (pm != NULL && pm->editedmessage != NULL &&
	    pm->editedmessage->extendedtextmessage != NULL) {
		const Wamsg__ExtendedTextMessage *et =
		    pm->editedmessage->extendedtextmessage;

		text = et->text ? et->text : "";
		if (et->contextinfo != NULL && et->contextinfo->stanzaid)
			replied = et->contextinfo->stanzaid;
	}
	jm = json_object_new_object();
	t = rewrite_mentions(env, text);
	add_str(jm, "text", t);
	free(t);
	add_str(jm, "id", env->id);
	add_str(jm, "replied_id", replied);
	add_str(jm, "quoted_message", quoted);
	json_object_object_add(o, "message", jm);

	if (env->push_name != NULL && env->push_name[0] != '\0')
		add_str(o, "pushname", env->push_name);
	if (m->reactionmessage != NULL) {
		ev = "message.reaction";
		if (m->reactionmessage->text != NULL &&
		    m->reactionmessage->text[0] != '\0') {
			r = json_object_new_object();
			add_str(r, "message", m->reactionmessage->text);
			add_str(r, "id", m->reactionmessage->key ?
			    m->reactionmessage->key->id : "");
			json_object_object_add(o, "reaction", r);
		}
	}
	if ((m->imagemessage && m->imagemessage->viewonce) ||
	    (m->videomessage && m->videomessage->viewonce) ||
	    (m->audiomessage && m->audiomessage->viewonce))
		view_once = 1;
	if (view_once)
		json_object_object_add(o, "view_once",
		    json_object_new_boolean(1));
	if ((ci = context_of(m)) != NULL && ci->isforwarded)
		forwarded = 1;
	if (pm != NULL && pm->editedmessage != NULL &&
	    (ci = context_of(pm->editedmessage)) != NULL && ci->isforwarded)
		forwarded = 1;
	if (forwarded)
		json_object_object_add(o, "forwarded",
		    json_object_new_boolean(1));
	hook_rfc3339(env->timestamp, ts, sizeof(ts));
	add_str(o, "timestamp", ts);

	if (pm != NULL && pm->type == PROTO_REVOKE) {
		ev = "message.revoked";
		add_str(o, "action", "message_revoked");
		if (pm->key != NULL) {
			add_str(o, "revoked_message_id", pm->key->id);
			json_object_object_add(o, "revoked_from_me",
			    json_object_new_boolean(pm->key->fromme));
			if (pm->key->remotejid != NULL &&
			    pm->key->remotejid[0] != '\0')
				add_str(o, "revoked_chat", pm->key->remotejid);
		}
	} else if (pm != NULL && pm->type == PROTO_MESSAGE_EDIT) {
		ev = "message.edited";
		add_str(o, "action", "message_edited");
		if (pm->editedmessage != NULL) {
			if (pm->editedmessage->extendedtextmessage != NULL)
				add_str(o, "edited_text", pm->editedmessage->
				    extendedtextmessage->text);
			else if (pm->editedmessage->conversation != NULL &&
			    pm->editedmessage->conversation[0] != '\0')
				add_str(o, "edited_text",
				    pm->editedmessage->conversation);
		}
		if (pm->key != NULL && pm->key->id != NULL)
			add_str(o, "edited_message_id", pm->key->id);
	}

	path = env->media_path ? env->media_path : "";
	if (m->audiomessage != NULL)
		json_object_object_add(o, "audio", media_obj(path,
		    m->audiomessage->mimetype, ""));
	if (m->contactmessage != NULL) {
		r = json_object_new_object();
		if (m->contactmessage->displayname)
			add_str(r, "displayName",
			    m->contactmessage->displayname);
		if (m->contactmessage->vcard)
			add_str(r, "vcard", m->contactmessage->vcard);
		json_object_object_add(o, "contact", r);
	}
	if (m->documentmessage != NULL)
		json_object_object_add(o, "document", media_obj(path,
		    m->documentmessage->mimetype,
		    m->documentmessage->caption));
	if (m->imagemessage != NULL)
		json_object_object_add(o, "image", media_obj(path,
		    m->imagemessage->mimetype, m->imagemessage->caption));
	if (m->livelocationmessage != NULL)
		json_object_object_add(o, "live_location",
		    live_location_obj(m->livelocationmessage));
	if (m->locationmessage != NULL)
		json_object_object_add(o, "location",
		    location_obj(m->locationmessage));
	if (m->stickermessage != NULL)
		json_object_object_add(o, "sticker", media_obj(path,
		    m->stickermessage->mimetype, ""));
	if (m->videomessage != NULL || m->ptvmessage != NULL) {
		const Wamsg__VideoMessage *v = m->videomessage ?
		    m->videomessage : m->ptvmessage;

		json_object_object_add(o, "video", media_obj(path,
		    v->mimetype, v->caption));
	}

	hook_event_id(event_id, env->device_hash, ev, chat,
	    env->sender.user, env->id, NULL);
	add_extras(o, env->device_hash, env->device_jid, ev, event_id);
	*json = to_json(o);
	*event = ev;
	rc = 0;
out:
	wamsg__message__free_unpacked(raw, NULL);
	return rc;
}

/* ------------------------------------------------------------ receipts */

static const struct {
	const char *type;	/* wire type, "" = delivered */
	const char *name;	/* receipt_type */
	const char *desc;
} receipt_types[] = {
	{ "", "delivered", "means the message was delivered to the device "
	    "(but the user might not have noticed)." },
	{ "read", "read", "the user opened the chat and saw the message." },
	{ "read-self", "read-self", "the current user read a message from a "
	    "different device, and has read receipts disabled in privacy "
	    "settings." },
};

int
hook_receipt_payload(const char *device_hash, const char *device_jid,
    const struct msg_receipt_in *rc, int64_t timestamp, char **json,
    char event_id[HOOK_EVENT_ID_LEN + 1])
{
	struct json_object *o, *p, *ids;
	char chat[JID_STR_MAX], sender[JID_STR_MAX], from[2 * JID_STR_MAX + 8];
	char ts[40];
	struct buf idl;
	size_t i, k;

	*json = NULL;
	event_id[0] = '\0';
	if (rc == NULL || rc->nids == 0)
		return HOOK_EINVAL;
	for (k = 0; k < sizeof(receipt_types) / sizeof(receipt_types[0]); k++)
		if (strcmp(rc->type, receipt_types[k].type) == 0)
			break;
	if (k == sizeof(receipt_types) / sizeof(receipt_types[0]))
		return HOOK_SKIP;
	if (jid_format(&rc->chat, chat, sizeof(chat)) < 0 ||
	    jid_format(&rc->sender, sender, sizeof(sender)) < 0)
		return HOOK_EINVAL;
	if (jid_equal(&rc->sender, &rc->chat))
		snprintf(from, sizeof(from), "%s", chat);
	else
		snprintf(from, sizeof(from), "%s in %s", sender, chat);

	o = json_object_new_object();
	p = json_object_new_object();
	ids = json_object_new_array();
	buf_init(&idl, (size_t)MSG_NODE_MAX_IDS * MSGID_MAX + 16);
	for (i = 0; i < rc->nids; i++) {
		json_object_array_add(ids, json_object_new_string(rc->ids[i]));
		buf_puts(&idl, rc->ids[i]);
		buf_putc(&idl, ',');
	}
	json_object_object_add(p, "ids", ids);
	add_str(p, "chat_id", chat);
	add_str(p, "sender_id", sender);
	add_str(p, "from", from);
	add_str(p, "receipt_type", receipt_types[k].name);
	add_str(p, "receipt_type_description", receipt_types[k].desc);
	json_object_object_add(o, "payload", p);
	add_str(o, "event", "message.ack");
	hook_rfc3339(timestamp, ts, sizeof(ts));
	add_str(o, "timestamp", ts);
	hook_event_id(event_id, device_hash, "message.ack", chat, sender,
	    receipt_types[k].name, buf_cstr(&idl), NULL);
	buf_free(&idl);
	add_str(o, "device_hash", device_hash);
	add_str(o, "device_jid", device_jid);
	add_str(o, "event_id", event_id);
	*json = to_json(o);
	return 0;
}

int
hook_group_payload(const char *device_hash, const char *device_jid,
    const struct jid *group, const char *type, const struct jid *jids,
    size_t n, int64_t timestamp, char **json,
    char event_id[HOOK_EVENT_ID_LEN + 1])
{
	static const char *const types[] = { "join", "leave", "promote",
	    "demote" };
	struct json_object *o, *p, *arr;
	char g[JID_STR_MAX], s[JID_STR_MAX], ts[40], tsn[24];
	struct buf all;
	size_t i;
	int ok = 0;

	*json = NULL;
	event_id[0] = '\0';
	for (i = 0; type != NULL && i < 4; i++)
		if (strcmp(type, types[i]) == 0)
			ok = 1;
	if (!ok || group == NULL || (n > 0 && jids == NULL))
		return HOOK_EINVAL;
	if (n == 0)
		return HOOK_SKIP;
	if (jid_format(group, g, sizeof(g)) < 0)
		return HOOK_EINVAL;
	o = json_object_new_object();
	p = json_object_new_object();
	arr = json_object_new_array();
	buf_init(&all, n * JID_STR_MAX + 16);
	for (i = 0; i < n; i++) {
		if (jid_format(&jids[i], s, sizeof(s)) < 0)
			continue;
		json_object_array_add(arr, json_object_new_string(s));
		buf_puts(&all, s);
		buf_putc(&all, ',');
	}
	add_str(p, "chat_id", g);
	add_str(p, "type", type);
	json_object_object_add(p, "jids", arr);
	json_object_object_add(o, "payload", p);
	add_str(o, "event", "group.participants");
	hook_rfc3339(timestamp, ts, sizeof(ts));
	add_str(o, "timestamp", ts);
	snprintf(tsn, sizeof(tsn), "%" PRId64, timestamp);
	hook_event_id(event_id, device_hash, "group.participants", g, type,
	    buf_cstr(&all), tsn, NULL);
	buf_free(&all);
	add_str(o, "device_hash", device_hash);
	add_str(o, "device_jid", device_jid);
	add_str(o, "event_id", event_id);
	*json = to_json(o);
	return 0;
}

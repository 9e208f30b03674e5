/*
 * msgr.c - the send and receive pipelines of one device (msgr.h).
 *
 * Sending is one job at a time through its network steps (usync, group
 * metadata, prekey bundles), so a job never races another over the same
 * Signal session; a job whose devices and sessions are all known completes
 * without waiting and the next row starts at once.  What was sent waits
 * for the server's <ack> in a small in-flight table; the outbox row's
 * next_at is pushed past the ack timeout, so an unacked send comes due
 * again by itself (and after a crash, by the outbox's own rules).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "wamsg.pb-c.h"

#include "binnode.h"
#include "bundle.h"
#include "conn.h"
#include "creds.h"
#include "hook-payload.h"
#include "jid.h"
#include "log.h"
#include "media.h"
#include "msg-node.h"
#include "msg-send.h"
#include "msghook.h"
#include "msgid.h"
#include "msgr.h"
#include "outbox.h"
#include "padding.h"
#include "signal-group.h"
#include "signal-session.h"
#include "store.h"
#include "store-msg.h"
#include "store-sig.h"
#include "syncd.h"
#include "usync.h"
#include "xmalloc.h"

#define ACK_TIMEOUT_MS		30000	/* server <ack> for a send */
#define INFLIGHT_MAX		512
#define BATCH_MAX		32	/* outbox rows per service round */
#define DEVCACHE_MAX		256	/* users with known device lists */
#define DEVCACHE_TTL_MS		(5 * 60 * 1000)
#define JOB_DEVS_MAX		1024	/* devices one send fans out to */
#define GROUP_MEMBERS_MAX	1024
#define RETRY_MAX		5	/* retry receipts per message */
#define LIST_LIMIT_MAX		1000

struct devcache {
	char		 user[JID_STR_MAX];	/* bare user JID */
	struct jid	*devs;
	size_t		 n;
	uint64_t	 expires;
};

enum job_wait { W_NONE = 0, W_GROUP, W_USYNC, W_BUNDLES, W_FETCH, W_MEDIA };

/* A peer's device could not decrypt what we sent (§7.7): re-send. */
struct retryq {
	char		 id[MSGID_MAX];
	char		 chat[JID_STR_MAX];
	struct jid	 to;		/* the receipt's from */
	struct jid	 dev;		/* the device that asked */
	int		 has_participant, has_recipient;
	struct jid	 participant, recipient;
	uint32_t	 count;
};
#define RETRYQ_MAX	64

struct job {
	struct store_ob_row	 row;
	struct jid		 chat;
	int			 group;
	uint8_t			*msg;		/* Message, unpadded */
	size_t			 msglen;
	struct msg_send_out	 attrs;		/* stanza attributes */
	struct jid		*members;	/* group: bare users */
	size_t			 nmembers;
	char			 addressing[8];	/* group addressing_mode */
	enum job_wait		 wait;
	int			 retry;		/* a re-send for rq */
	struct retryq		 rq;
	int64_t			 orig_ts;
	unsigned		 seq;		/* media callbacks' ticket */
	int			 has_req;	/* media: parsed request */
	struct msg_send_req	 req;
	char			 mime[128];
	char			 file_name[256];
	int			 unstored;	/* msg not in messages yet */
};

struct inflight {
	char		 id[MSGID_MAX];
	uint32_t	 h;		/* fl_hash(id): compared first */
	uint64_t	 deadline;
};

struct msgr {
	struct store		*store;
	struct creds		*creds;
	struct conn		*conn;
	struct media		*media;
	struct syncd		*syncd;		/* app state */
	char			 hash[17];
	struct msgr_out		 out;
	struct job		*job;
	unsigned		 gen;		/* bumps on disconnect */
	struct inflight		 fl[INFLIGHT_MAX];
	size_t			 nfl;
	struct devcache		 dc[DEVCACHE_MAX];
	size_t			 ndc;
	int			 kick;
	uint64_t		 next_due;	/* conn_now_ms() */
	struct retryq		 rq[RETRYQ_MAX];
	size_t			 nrq;
	unsigned		 jobseq;
	struct msgr_stats	 st;
};

static void	job_step(struct msgr *);
static void	job_end(struct msgr *, const char *error, int permanent);
static void	retry_step(struct msgr *, struct job *);

/* ------------------------------------------------------------ helpers */

static int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

static char *
json_take(json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

static void
reply(struct msgr *m, uint32_t reqid, int status, const char *code,
    const char *message, json_object *results)
{
	json_object *o = json_object_new_object();
	char *j;

	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (results != NULL)
		json_object_object_add(o, "results", results);
	j = json_take(o);
	m->out.reply(m->out.arg, reqid, status, code, message, j);
	free(j);
}

static void
event(struct msgr *m, const char *type, const char *json)
{
	if (m->out.event != NULL)
		m->out.event(m->out.arg, type, json);
}

static int
logged_in(const struct msgr *m)
{
	return m->conn != NULL && conn_state(m->conn) == CONN_LOGGED_IN;
}

/* Our device JIDs (PN, and LID when known). */
static int
own_jids(const struct msgr *m, struct jid *pn, struct jid *lid, int *has_lid)
{
	*has_lid = 0;
	if (jid_parse(pn, m->creds->jid) != 0)
		return -1;
	if (m->creds->lid[0] != '\0' && jid_parse(lid, m->creds->lid) == 0)
		*has_lid = 1;
	return 0;
}

/* Signal address of a device: "<signal name>.<device>". */
static int
sig_addr(const struct jid *d, char *out, size_t outsz)
{
	char name[JID_STR_MAX];
	int n;

	if (jid_signal_name(d, name, sizeof(name)) < 0)
		return -1;
	n = snprintf(out, outsz, "%s.%u", name, (unsigned)d->device);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void
bare_str(const struct jid *j, char *out, size_t outsz)
{
	struct jid b;

	jid_to_bare(&b, j);
	if (jid_format(&b, out, outsz) < 0)
		out[0] = '\0';
}

/* ------------------------------------------------------- device cache */

static struct devcache *
dc_find(struct msgr *m, const char *user)
{
	uint64_t now = conn_now_ms();
	size_t i;

	for (i = 0; i < m->ndc; i++)
		if (strcmp(m->dc[i].user, user) == 0)
			return m->dc[i].expires > now ? &m->dc[i] : NULL;
	return NULL;
}

static void
dc_put(struct msgr *m, const char *user, const struct jid *devs, size_t n)
{
	struct devcache *d = NULL;
	size_t i, oldest = 0;

	for (i = 0; i < m->ndc; i++) {
		if (strcmp(m->dc[i].user, user) == 0) {
			d = &m->dc[i];
			break;
		}
		if (m->dc[i].expires < m->dc[oldest].expires)
			oldest = i;
	}
	if (d == NULL) {
		if (m->ndc < DEVCACHE_MAX)
			d = &m->dc[m->ndc++];
		else
			d = &m->dc[oldest];
	}
	free(d->devs);
	snprintf(d->user, sizeof(d->user), "%s", user);
	d->devs = xcalloc(n > 0 ? n : 1, sizeof(*d->devs));
	memcpy(d->devs, devs, n * sizeof(*devs));
	d->n = n;
	d->expires = conn_now_ms() + DEVCACHE_TTL_MS;
}

static void
dc_forget(struct msgr *m, const char *user)
{
	size_t i;

	for (i = 0; i < m->ndc; i++)
		if (strcmp(m->dc[i].user, user) == 0)
			m->dc[i].expires = 0;
}

/* ---------------------------------------------------------- in flight */

/* FNV-1a: the in-flight table is scanned for every due row and ack, and
 * ids share their first characters ("3EB0..."). */
static uint32_t
fl_hash(const char *id)
{
	uint32_t h = 2166136261u;

	while (*id != '\0')
		h = (h ^ (uint8_t)*id++) * 16777619u;
	return h;
}

static int
fl_find(const struct msgr *m, const char *id)
{
	uint32_t h = fl_hash(id);
	size_t i;

	for (i = 0; i < m->nfl; i++)
		if (m->fl[i].h == h && strcmp(m->fl[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void
fl_del(struct msgr *m, size_t i)
{
	m->fl[i] = m->fl[--m->nfl];
}

static void
fl_add(struct msgr *m, const char *id)
{
	int i = fl_find(m, id);

	if (i < 0) {
		if (m->nfl == INFLIGHT_MAX)
			fl_del(m, 0);	/* forgotten: the row comes due */
		i = (int)m->nfl++;
	}
	snprintf(m->fl[i].id, sizeof(m->fl[i].id), "%s", id);
	m->fl[i].h = fl_hash(m->fl[i].id);
	m->fl[i].deadline = conn_now_ms() + ACK_TIMEOUT_MS;
}

/* ------------------------------------------------------------- core */

static void
syncd_event(void *arg, const char *type, const char *json)
{
	event(arg, type, json);
}

/* syncd's answers: results is JSON text (or NULL). */
static void
syncd_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *results)
{
	reply(arg, reqid, status, code, message, results != NULL ?
	    json_tokener_parse(results) : NULL);
}

struct msgr *
msgr_new(struct store *s, struct creds *c, const char *hash,
    const struct msgr_out *out)
{
	struct msgr *m = xcalloc(1, sizeof(*m));

	m->store = s;
	m->creds = c;
	m->out = *out;
	snprintf(m->hash, sizeof(m->hash), "%s", hash != NULL ? hash : "");
	m->kick = 1;
	{
		struct syncd_out so;

		memset(&so, 0, sizeof(so));
		so.arg = m;
		so.reply = syncd_reply;
		so.event = syncd_event;
		m->syncd = syncd_new(s, &so);
	}
	return m;
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	store_ob_row_free(&j->row);
	if (j->has_req)
		msg_send_req_free(&j->req);
	free(j->msg);
	free(j->members);
	free(j);
}

void
msgr_free(struct msgr *m)
{
	size_t i;

	if (m == NULL)
		return;
	job_free(m->job);
	syncd_free(m->syncd);
	for (i = 0; i < m->ndc; i++)
		free(m->dc[i].devs);
	free(m);
}

void
msgr_set_conn(struct msgr *m, struct conn *c)
{
	m->conn = c;
	syncd_set_conn(m->syncd, c);
}

void
msgr_set_media(struct msgr *m, struct media *md)
{
	m->media = md;
	syncd_set_media(m->syncd, md);
}

void
msgr_stats(const struct msgr *m, struct msgr_stats *st)
{
	*st = m->st;
}

void
msgr_logged_in(struct msgr *m)
{
	char user[JID_STR_MAX];
	struct jid pn;

	if (jid_parse(&pn, m->creds->jid) == 0)
		snprintf(user, sizeof(user), "%s", pn.user);
	else
		user[0] = '\0';
	outbox_set_identity(m->hash, m->creds->jid, user[0] ? user : NULL);
	m->kick = 1;
	syncd_logged_in(m->syncd);
}

void
msgr_disconnected(struct msgr *m)
{
	m->gen++;
	m->nfl = 0;		/* their rows come due by next_at */
	if (m->job != NULL) {
		/* an IQ it waited for is gone with the connection */
		job_free(m->job);
		m->job = NULL;
	}
	m->kick = 1;
	syncd_disconnected(m->syncd);
}

/* ================================================================ send */


/* A short text and a type for the messages row of a Message. */
static void
summarize(const uint8_t *msg, size_t len, char *type, size_t typesz,
    char **body)
{
	Wamsg__Message *raw = wamsg__message__unpack(NULL, len, msg);
	const Wamsg__Message *x = raw;
	struct msg_send_out a;
	const char *t = NULL;

	*body = NULL;
	snprintf(type, typesz, "unknown");
	if (raw == NULL)
		return;
	x = hook_unwrap(x, NULL);
	msg_send_classify_msg(x, &a);
	snprintf(type, typesz, "%s", a.mediatype[0] ? a.mediatype : a.type);
	if (x->conversation)
		t = x->conversation;
	else if (x->extendedtextmessage && x->extendedtextmessage->text)
		t = x->extendedtextmessage->text;
	else if (x->imagemessage && x->imagemessage->caption)
		t = x->imagemessage->caption;
	else if (x->videomessage && x->videomessage->caption)
		t = x->videomessage->caption;
	else if (x->documentmessage && x->documentmessage->caption)
		t = x->documentmessage->caption;
	else if (x->reactionmessage && x->reactionmessage->text)
		t = x->reactionmessage->text;
	else if (x->pollcreationmessage && x->pollcreationmessage->name)
		t = x->pollcreationmessage->name;
	else if (x->pollcreationmessagev3 && x->pollcreationmessagev3->name)
		t = x->pollcreationmessagev3->name;
	else if (x->contactmessage && x->contactmessage->displayname)
		t = x->contactmessage->displayname;
	else if (x->locationmessage && x->locationmessage->name)
		t = x->locationmessage->name;
	if (x->protocolmessage != NULL)
		snprintf(type, typesz, "protocol");
	if (t != NULL)
		*body = xstrdup(t);
	wamsg__message__free_unpacked(raw, NULL);
}

/* Build the Message of a parsed request (non-media kinds and media once
 * uploaded).  0, or -1 with err. */
static int
build_message(struct msgr *m, const struct msg_send_req *req,
    const struct msg_media *media, struct msg_send_out *out,
    struct msg_send_error *err)
{
	struct msg_send_ctx ctx;
	struct msg_quoted q;
	struct msg_target t;
	struct store_msg_ref ref;
	char *body = NULL, own[JID_STR_MAX];
	struct jid pn;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.media = media;
	if (jid_parse(&pn, m->creds->jid) == 0) {
		snprintf(own, sizeof(own), "%s", pn.user);
		ctx.own_user = own;
	}
	if (req->reply_message_id != NULL && store_msg_find(m->store, NULL,
	    req->reply_message_id, &ref, &body, NULL, NULL) == 0) {
		q.sender = ref.from_me ? m->creds->jid : ref.sender;
		q.text = body != NULL ? body : "";
		ctx.quoted = &q;
	}
	if (req->message_id != NULL && store_msg_find(m->store,
	    req->to_str, req->message_id, &ref, NULL, NULL, NULL) == 0 &&
	    !ref.from_me) {
		t.from_me = 0;
		t.sender = ref.sender;
		ctx.target = &t;
	}
	rc = msg_send_build(req, &ctx, out, err);
	free(body);
	return rc == 0 ? 0 : -1;
}

/* Store our own message (raw bytes kept for re-sends and retries), in
 * the caller's transaction. */
static int
store_own(struct msgr *m, const struct job *j)
{
	struct store_msg sm;
	char type[24], *body = NULL;
	int rc;

	summarize(j->msg, j->msglen, type, sizeof(type), &body);
	memset(&sm, 0, sizeof(sm));
	sm.chat = j->row.chat;
	sm.id = j->row.id;
	sm.sender = m->creds->jid;
	sm.from_me = 1;
	sm.ts = now_unix();
	sm.type = type;
	sm.body = body;
	sm.status = "queued";
	sm.raw = j->msg;
	sm.rawlen = j->msglen;
	rc = store_msg_put(m->store, &sm);
	if (rc >= 0)
		rc = store_chat_touch(m->store, j->row.chat, sm.ts, 0, NULL);
	free(body);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------- send: media */

/* The uploaded file part of a body ({"filename","mime","size",
 * "data_base64"} from fcgi-app), for validation; NULL if none. */
static struct msg_send_file *
file_of(json_object *body, struct msg_send_file *file)
{
	const char *fields[] = { "image", "video", "audio", "file", "sticker",
	    NULL };
	json_object *f, *v;
	int k;

	memset(file, 0, sizeof(*file));
	for (k = 0; fields[k] != NULL; k++)
		if (json_object_object_get_ex(body, fields[k], &f) &&
		    json_object_is_type(f, json_type_object)) {
			file->present = 1;
			if (json_object_object_get_ex(f, "mime", &v))
				file->content_type = json_object_get_string(v);
			if (json_object_object_get_ex(f, "size", &v))
				file->size = (uint64_t)json_object_get_int64(v);
			return file;
		}
	return NULL;
}

/* A media callback's ticket: the job it was for may be gone by then. */
struct mticket {
	struct msgr	*m;
	unsigned	 seq;
};

static struct mticket *
mticket(struct msgr *m, struct job *j)
{
	struct mticket *t = xcalloc(1, sizeof(*t));

	t->m = m;
	t->seq = j->seq;
	return t;
}

/* The job a ticket names, if it is still the current one and waits. */
static struct job *
mticket_job(struct mticket *t, enum job_wait w)
{
	struct msgr *m = t->m;
	unsigned seq = t->seq;

	free(t);
	if (m->job == NULL || m->job->seq != seq || m->job->wait != w)
		return NULL;
	m->job->wait = W_NONE;
	return m->job;
}

static const char *
media_kind(enum msg_send_kind k, int ptt)
{
	switch (k) {
	case MSG_SEND_IMAGE:	return "image";
	case MSG_SEND_VIDEO:	return "video";
	case MSG_SEND_AUDIO:	return ptt ? "ptt" : "audio";
	case MSG_SEND_STICKER:	return "sticker";
	default:		return "document";
	}
}

static const char *
media_field(enum msg_send_kind k)
{
	switch (k) {
	case MSG_SEND_IMAGE:	return "image";
	case MSG_SEND_VIDEO:	return "video";
	case MSG_SEND_AUDIO:	return "audio";
	case MSG_SEND_STICKER:	return "sticker";
	default:		return "file";
	}
}

static const char *
media_default_mime(enum msg_send_kind k, int ptt)
{
	switch (k) {
	case MSG_SEND_IMAGE:	return "image/jpeg";
	case MSG_SEND_VIDEO:	return "video/mp4";
	case MSG_SEND_AUDIO:	return ptt ? "audio/ogg; codecs=opus" :
				    "audio/mpeg";
	case MSG_SEND_STICKER:	return "image/webp";
	default:		return "application/octet-stream";
	}
}

static void
upload_done(void *arg, int err, const char *errstr,
    const struct media_upload_result *res)
{
	struct mticket *t = arg;
	struct msgr *m = t->m;
	struct job *j = mticket_job(t, W_MEDIA);
	struct msg_send_error serr;
	struct msg_media md;
	char e[256];

	if (j == NULL)
		return;
	if (err != MEDIA_OK || res == NULL) {
		snprintf(e, sizeof(e), "media upload failed: %.200s",
		    errstr != NULL ? errstr : "error");
		job_end(m, e, err == MEDIA_ETOOBIG || err == MEDIA_EINVAL);
		return;
	}
	memset(&md, 0, sizeof(md));
	md.url = res->url;
	md.direct_path = res->direct_path;
	md.mimetype = j->mime;
	md.file_name = j->file_name[0] ? j->file_name : NULL;
	memcpy(md.media_key, res->media_key, 32);
	memcpy(md.file_sha256, res->file_sha256, 32);
	memcpy(md.file_enc_sha256, res->file_enc_sha256, 32);
	md.file_length = res->file_length;
	md.media_key_timestamp = res->media_key_timestamp;
	md.ptt = j->req.ptt;
	if (build_message(m, &j->req, &md, &j->attrs, &serr) != 0) {
		snprintf(e, sizeof(e), "%.200s", serr.message);
		job_end(m, e, 1);
		return;
	}
	j->msg = j->attrs.msg;
	j->msglen = j->attrs.msglen;
	j->attrs.msg = NULL;
	j->unstored = 1;	/* stored with the send */
	job_step(m);
}

/* Upload the job's plaintext; 0 waiting, -1 failed (error set). */
static int
job_upload(struct msgr *m, struct job *j, const uint8_t *p, size_t len,
    char *error, size_t errsz)
{
	struct mticket *t;
	int rc;

	if (!logged_in(m)) {
		snprintf(error, errsz, "not connected");
		return -1;
	}
	t = mticket(m, j);
	j->wait = W_MEDIA;
	rc = media_upload(m->media, m->conn, media_kind(j->req.kind,
	    j->req.ptt), p, len, upload_done, t);
	if (rc != MEDIA_OK) {
		free(t);
		j->wait = W_NONE;
		snprintf(error, errsz, "cannot upload the media (%d)", rc);
		return -1;
	}
	return 0;
}

static void
fetch_done(void *arg, int err, const char *errstr, const uint8_t *data,
    size_t len, const char *content_type)
{
	struct mticket *t = arg;
	struct msgr *m = t->m;
	struct job *j = mticket_job(t, W_FETCH);
	char e[256];

	if (j == NULL)
		return;
	if (err != MEDIA_OK) {
		snprintf(e, sizeof(e), "cannot fetch the media URL: %.200s",
		    errstr != NULL ? errstr : "error");
		job_end(m, e, err == MEDIA_ETOOBIG || err == MEDIA_EHTTP ||
		    err == MEDIA_EINVAL);
		return;
	}
	if (content_type != NULL && *content_type != '\0' &&
	    strncmp(content_type, "text/html", 9) != 0)
		snprintf(j->mime, sizeof(j->mime), "%.*s",
		    (int)strcspn(content_type, ";"), content_type);
	if (job_upload(m, j, data, len, e, sizeof(e)) != 0)
		job_end(m, e, 0);
}

/* A media send not built yet: its bytes (upload or URL), then the
 * upload.  0 waiting, -1 failed (error set). */
static int
job_media(struct msgr *m, struct job *j, json_object *body, char *error,
    size_t errsz)
{
	json_object *f, *v;
	const char *b64, *s;
	uint8_t *bin;
	size_t cap, len, blen;
	struct mticket *t;
	int rc;

	if (m->media == NULL) {
		snprintf(error, errsz, "sending media is not available");
		return -1;
	}
	snprintf(j->mime, sizeof(j->mime), "%s", media_default_mime(
	    j->req.kind, j->req.ptt));
	cap = media_max_size(media_kind(j->req.kind, j->req.ptt));
	if (json_object_object_get_ex(body, media_field(j->req.kind), &f) &&
	    json_object_is_type(f, json_type_object) &&
	    json_object_object_get_ex(f, "data_base64", &v) &&
	    (b64 = json_object_get_string(v)) != NULL) {
		if (json_object_object_get_ex(f, "mime", &v) &&
		    (s = json_object_get_string(v)) != NULL && *s &&
		    strcmp(s, "application/octet-stream") != 0)
			snprintf(j->mime, sizeof(j->mime), "%s", s);
		if (json_object_object_get_ex(f, "filename", &v) &&
		    (s = json_object_get_string(v)) != NULL)
			snprintf(j->file_name, sizeof(j->file_name), "%s", s);
		blen = strlen(b64);
		bin = xmalloc(blen / 4 * 3 + 3);
		if (sodium_base642bin(bin, blen / 4 * 3 + 3, b64, blen, NULL,
		    &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(bin);
			snprintf(error, errsz, "the uploaded file is not "
			    "valid base64");
			return -1;
		}
		if (len > cap) {
			free(bin);
			snprintf(error, errsz, "the file is larger than %zu "
			    "bytes", cap);
			return -1;
		}
		rc = job_upload(m, j, bin, len, error, errsz);
		free(bin);
		return rc;
	}
	if (j->req.media_url == NULL) {
		snprintf(error, errsz, "no file and no URL to send");
		return -1;
	}
	if (j->file_name[0] == '\0' && (s = strrchr(j->req.media_url, '/'))
	    != NULL && s[1] != '\0')
		snprintf(j->file_name, sizeof(j->file_name), "%.*s",
		    (int)strcspn(s + 1, "?#"), s + 1);
	t = mticket(m, j);
	j->wait = W_FETCH;
	rc = media_fetch_url(m->media, j->req.media_url, cap, fetch_done, t);
	if (rc != MEDIA_OK) {
		free(t);
		j->wait = W_NONE;
		snprintf(error, errsz, "cannot fetch the media URL (%d)", rc);
		return -1;
	}
	return 0;
}

/* The row's Message: from messages.raw when built before, else built now
 * (and stored).  0, 1 waiting for the media, -1 failed (error set). */
static int
job_prepare(struct msgr *m, struct job *j, char *error, size_t errsz)
{
	struct store_msg_ref ref;
	struct msg_send_req req;
	struct msg_send_error err;
	json_object *body;
	int kind;
	uint8_t *raw = NULL;
	size_t rawlen = 0;

	if (store_msg_find(m->store, j->row.chat, j->row.id, &ref, NULL, &raw,
	    &rawlen) == 0 && raw != NULL && ref.from_me) {
		j->orig_ts = ref.ts;
		j->msg = raw;
		j->msglen = rawlen;
		if (msg_send_classify(raw, rawlen, &j->attrs) != 0) {
			snprintf(error, errsz, "stored message unreadable");
			return -1;
		}
		return 0;
	}
	free(raw);
	if (j->retry) {
		snprintf(error, errsz, "message to re-send is gone");
		return -1;
	}
	kind = msg_send_kind_from_route(j->row.kind);
	if (kind < 0) {
		snprintf(error, errsz, "unknown kind %s", j->row.kind);
		return -1;
	}
	if ((body = json_tokener_parse(j->row.request)) == NULL) {
		snprintf(error, errsz, "stored request unreadable");
		return -1;
	}
	if (msg_send_kind_is_media(kind)) {
		int rc;

		struct msg_send_file file;

		memset(&j->req, 0, sizeof(j->req));
		if (msg_send_parse(kind, body, NULL, file_of(body, &file),
		    &j->req, &err) != 0) {
			snprintf(error, errsz, "%.200s", err.message);
			json_object_put(body);
			return -1;
		}
		j->has_req = 1;
		rc = job_media(m, j, body, error, errsz);
		json_object_put(body);
		return rc == 0 ? 1 : -1;
	}
	memset(&req, 0, sizeof(req));
	if (msg_send_parse(kind, body, json_object_object_get_ex(body,
	    "_message_id", NULL) ? json_object_get_string(
	    json_object_object_get(body, "_message_id")) : NULL, NULL, &req,
	    &err) != 0 || build_message(m, &req, NULL, &j->attrs, &err) != 0) {
		snprintf(error, errsz, "%.200s", err.message);
		msg_send_req_free(&req);
		json_object_put(body);
		return -1;
	}
	msg_send_req_free(&req);
	json_object_put(body);
	j->msg = j->attrs.msg;
	j->msglen = j->attrs.msglen;
	j->attrs.msg = NULL;
	j->unstored = 1;	/* stored with the send */
	return 0;
}

/* Users whose devices the job needs: peer (or members) and ourselves. */
static size_t
job_users(struct msgr *m, struct job *j, struct jid *users, size_t max)
{
	struct jid pn, lid;
	size_t n = 0, i;
	int has_lid;

	if (own_jids(m, &pn, &lid, &has_lid) != 0)
		return 0;
	if (j->group) {
		for (i = 0; i < j->nmembers && n < max; i++)
			users[n++] = j->members[i];
	} else if (n < max)
		jid_to_bare(&users[n++], &j->chat);
	/* our own user, in the addressing the peer is in */
	if (n < max) {
		if (has_lid && n > 0 && jid_server_is(&users[0],
		    JID_SERVER_LID))
			jid_to_bare(&users[n], &lid);
		else
			jid_to_bare(&users[n], &pn);
		for (i = 0; i < n; i++)
			if (jid_equal(&users[i], &users[n]))
				break;
		if (i == n)
			n++;
	}
	return n;
}

static void
job_iq_failed(struct msgr *m, const char *what, int err)
{
	char e[128];

	snprintf(e, sizeof(e), "%s failed (%d)", what, err);
	job_end(m, e, 0);
}

static void
usync_done(void *arg, const struct binnode *reply, int err)
{
	struct msgr *m = arg;
	struct usync_user *u = NULL;
	struct jid devs[USYNC_MAX_DEVICES];
	char user[JID_STR_MAX], lid[JID_STR_MAX];
	size_t n = 0, i, k;

	if (m->job == NULL || m->job->wait != W_USYNC)
		return;
	m->job->wait = W_NONE;
	if (err != CONN_OK || usync_parse_devices(reply, &u, &n) != 0) {
		free(u);
		job_iq_failed(m, "device list", err);
		return;
	}
	for (i = 0; i < n; i++) {
		bare_str(&u[i].jid, user, sizeof(user));
		k = usync_device_jids(&u[i], 1, m->job->group, devs,
		    USYNC_MAX_DEVICES);
		dc_put(m, user, devs, k);
		if (u[i].has_lid && jid_server_is(&u[i].jid, JID_SERVER_PN)) {
			bare_str(&u[i].lid, lid, sizeof(lid));
			(void)store_lid_put(m->store, lid, user);
		}
	}
	free(u);
	job_step(m);
}

static void
group_done(void *arg, const struct binnode *reply, int err)
{
	struct msgr *m = arg;
	const struct binnode *g;
	const char *am;
	struct jid p;
	size_t i, n = 0;

	if (m->job == NULL || m->job->wait != W_GROUP)
		return;
	m->job->wait = W_NONE;
	if (err != CONN_OK || (g = binnode_child(reply, "group")) == NULL ||
	    g->type != BINNODE_LIST) {
		job_end(m, err == CONN_EERROR ? "group not found or not a "
		    "member" : "group metadata failed", err == CONN_EERROR);
		return;
	}
	am = binnode_attr(g, "addressing_mode");
	snprintf(m->job->addressing, sizeof(m->job->addressing), "%s",
	    am != NULL ? am : "");
	m->job->members = xcalloc(g->nchildren > 0 ? g->nchildren : 1,
	    sizeof(struct jid));
	for (i = 0; i < g->nchildren && n < GROUP_MEMBERS_MAX; i++) {
		if (!binnode_tag_is(g->children[i], "participant") ||
		    binnode_attr_jid(g->children[i], "jid", &p) != 0)
			continue;
		jid_to_bare(&m->job->members[n++], &p);
	}
	m->job->nmembers = n;
	job_step(m);
}

static void
bundles_done(void *arg, const struct binnode *reply, int err)
{
	struct msgr *m = arg;
	struct bundle_user *u = NULL;
	uint8_t *old, *st;
	size_t n = 0, i, oldlen, stlen;
	char addr[STORE_ADDR_MAX];
	int rc;

	if (m->job == NULL || m->job->wait != W_BUNDLES)
		return;
	m->job->wait = W_NONE;
	if (err != CONN_OK || bundle_parse(reply, &u, &n) != 0) {
		free(u);
		job_iq_failed(m, "prekey bundles", err);
		return;
	}
	if (store_begin(m->store) != 0) {
		free(u);
		job_end(m, "store error", 0);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!u[i].ok || sig_addr(&u[i].jid, addr, sizeof(addr)) != 0)
			continue;
		old = NULL;
		oldlen = 0;
		if (store_session_get(m->store, addr, &old, &oldlen) < 0)
			continue;
		rc = signal_session_initiate(&m->creds->identity,
		    m->creds->registration_id, &u[i].bundle, old, oldlen, &st,
		    &stlen);
		signal_free_secret(old, oldlen);
		if (rc != 0) {
			log_warnx("bundle of a device rejected: %s",
			    signal_strerror(rc));
			continue;
		}
		if (store_session_put(m->store, addr, st, stlen) == 0)
			(void)store_identity_put(m->store, addr,
			    u[i].bundle.identity_pub);
		signal_free_secret(st, stlen);
	}
	free(u);
	if (store_commit(m->store) != 0) {
		job_end(m, "store error", 0);
		return;
	}
	job_step(m);
}

/* Send an IQ the job waits for (iq freed): 1, or -1 if it cannot go. */
static int
job_iq(struct msgr *m, struct job *j, struct binnode *iq, enum job_wait w,
    conn_iq_cb cb)
{
	int rc;

	if (iq == NULL)
		return -1;
	j->wait = w;
	rc = conn_send_iq(m->conn, iq, 0, cb, m);
	binnode_free(iq);
	if (rc != CONN_OK) {
		j->wait = W_NONE;
		return -1;
	}
	return 1;
}

/* Collect the job's device list; 1 when an IQ had to be sent. */
static int
job_devices(struct msgr *m, struct job *j, struct jid *devs, size_t *ndevs)
{
	struct jid *users, *miss;
	struct devcache *d;
	char user[JID_STR_MAX];
	struct binnode *iq;
	size_t nu, i, k, nmiss = 0, max;

	/* the peer or the members, and ourselves (a jid is 168 bytes: the
	 * largest group's worth, zeroed, was a memset of 170 KB a send) */
	max = (j->group ? (j->nmembers < GROUP_MEMBERS_MAX ? j->nmembers :
	    GROUP_MEMBERS_MAX) : 1) + 1;
	users = xreallocarray(NULL, max, sizeof(*users));
	nu = job_users(m, j, users, max);
	miss = xcalloc(nu + 1, sizeof(*miss));
	*ndevs = 0;
	for (i = 0; i < nu; i++) {
		bare_str(&users[i], user, sizeof(user));
		if ((d = dc_find(m, user)) == NULL) {
			miss[nmiss++] = users[i];
			continue;
		}
		for (k = 0; k < d->n && *ndevs < JOB_DEVS_MAX; k++)
			devs[(*ndevs)++] = d->devs[k];
	}
	free(users);
	if (nmiss == 0) {
		free(miss);
		return 0;
	}
	iq = usync_devices_query(miss, nmiss, NULL, 1);
	free(miss);
	return job_iq(m, j, iq, W_USYNC, usync_done);
}

/* Fetch bundles for devices without a session; 1 when an IQ was sent. */
static int
job_sessions(struct msgr *m, struct job *j, const struct jid *devs,
    const int *need, size_t n)
{
	struct jid *miss = xcalloc(n + 1, sizeof(*miss));
	char addr[STORE_ADDR_MAX];
	uint8_t *rec;
	size_t len, i, nmiss = 0;
	struct binnode *iq;
	int rc;

	for (i = 0; i < n; i++) {
		if (!need[i] || sig_addr(&devs[i], addr, sizeof(addr)) != 0)
			continue;
		rc = store_session_get(m->store, addr, &rec, &len);
		if (rc == 0)
			signal_free_secret(rec, len);
		else
			miss[nmiss++] = devs[i];
	}
	if (nmiss == 0) {
		free(miss);
		return 0;
	}
	iq = bundle_query(miss, nmiss, 1);
	free(miss);
	return job_iq(m, j, iq, W_BUNDLES, bundles_done);
}

/* Encrypt plain for one device with its stored session (inside the
 * caller's transaction).  0 or -1. */
static int
enc_device(struct msgr *m, const struct jid *dev, const uint8_t *plain,
    size_t len, struct msg_node_enc *e)
{
	char addr[STORE_ADDR_MAX];
	uint8_t *rec, *padded, *ns, *ct;
	size_t reclen, plen, nslen, ctlen;
	int type, rc;

	if (sig_addr(dev, addr, sizeof(addr)) != 0 ||
	    store_session_get(m->store, addr, &rec, &reclen) != 0)
		return -1;
	if (padding_add(plain, len, 0, &padded, &plen) != 0) {
		signal_free_secret(rec, reclen);
		return -1;
	}
	rc = signal_session_encrypt(rec, reclen, padded, plen, &type, &ct,
	    &ctlen, &ns, &nslen);
	signal_free_secret(rec, reclen);
	signal_free_secret(padded, plen);
	if (rc != 0)
		return -1;
	rc = store_session_put(m->store, addr, ns, nslen);
	signal_free_secret(ns, nslen);
	if (rc != 0) {
		free(ct);
		return -1;
	}
	e->jid = *dev;
	e->ct = ct;
	e->ctlen = ctlen;
	e->type = type;
	return 0;
}

static void
encs_free(struct msg_node_enc *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)e[i].ct);
	free(e);
}

/* Everything known: encrypt, commit, send.  0, or -1 with error. */
static int
job_send(struct msgr *m, struct job *j, const struct jid *devs, size_t n,
    char *error, size_t errsz)
{
	struct jid pn, lid;
	struct msg_node_enc *encs = xcalloc(n + 1, sizeof(*encs));
	struct msg_node_send s;
	struct binnode *node = NULL;
	uint8_t *dsm = NULL, *skdm = NULL, *skmsg = NULL, *carrier = NULL;
	uint8_t *sk = NULL, *nsk = NULL, *padded = NULL;
	size_t dsmlen = 0, skdmlen = 0, skmsglen = 0, carrierlen = 0;
	size_t sklen = 0, nsklen = 0, plen = 0, ne = 0, i;
	char own_addr[STORE_ADDR_MAX], addr[STORE_ADDR_MAX], chat[JID_STR_MAX];
	char phash[MSG_NODE_PHASH_LEN + 1];
	int has_lid, any_pk = 0, rc = -1;
	size_t npeer = 0;
	enum msg_node_role role;

	snprintf(error, errsz, "encryption failed");
	if (own_jids(m, &pn, &lid, &has_lid) != 0)
		goto out;
	jid_format(&j->chat, chat, sizeof(chat));
	if (store_begin(m->store) != 0)
		goto out;
	if (j->group) {
		if (sig_addr(has_lid && strcmp(j->addressing, "lid") == 0 ?
		    &lid : &pn, own_addr, sizeof(own_addr)) != 0)
			goto rollback;
		rc = store_sender_key_get(m->store, chat, own_addr, &sk,
		    &sklen);
		if (rc < 0)
			goto rollback;
		if (rc == 1 && signal_group_create(&sk, &sklen) != 0)
			goto rollback;
		rc = -1;
		if (signal_group_skdm(sk, sklen, &skdm, &skdmlen) != 0 ||
		    msg_node_skdm_message(chat, skdm, skdmlen, &carrier,
		    &carrierlen) != 0)
			goto rollback;
		if (padding_add(j->msg, j->msglen, 0, &padded, &plen) != 0 ||
		    signal_group_encrypt(sk, sklen, padded, plen, &skmsg,
		    &skmsglen, &nsk, &nsklen) != 0 ||
		    store_sender_key_put(m->store, chat, own_addr, nsk,
		    nsklen) != 0)
			goto rollback;
	}
	for (i = 0; i < n; i++) {
		role = msg_node_device_role(&devs[i], &pn, has_lid ? &lid :
		    NULL);
		if (role == MSG_NODE_SKIP)
			continue;
		if (role == MSG_NODE_PEER)
			npeer++;
		if (j->group) {
			if (sig_addr(&devs[i], addr, sizeof(addr)) != 0)
				continue;
			if (store_sk_shared_has(m->store, chat, addr) == 1)
				continue;
			if (enc_device(m, &devs[i], carrier, carrierlen,
			    &encs[ne]) != 0)
				continue;	/* no session: skipped */
			(void)store_sk_shared_add(m->store, chat, addr);
		} else if (role == MSG_NODE_OWN) {
			if (dsm == NULL && msg_node_dsm_wrap(j->msg, j->msglen,
			    chat, &dsm, &dsmlen) != 0)
				goto rollback;
			if (enc_device(m, &devs[i], dsm, dsmlen, &encs[ne])
			    != 0)
				continue;
		} else if (enc_device(m, &devs[i], j->msg, j->msglen,
		    &encs[ne]) != 0)
			continue;
		if (encs[ne].type == SIGNAL_MSG_TYPE_PKMSG)
			any_pk = 1;
		ne++;
	}
	if (!j->group && npeer == 0) {
		snprintf(error, errsz, "no device: the recipient is not on "
		    "WhatsApp");
		goto rollback;
	}
	if (!j->group && ne == 0) {
		snprintf(error, errsz, "no device of the recipient could be "
		    "reached");
		goto rollback;
	}
	memset(&s, 0, sizeof(s));
	s.id = j->row.id;
	s.to = &j->chat;
	s.type = j->attrs.type;
	s.mediatype = j->attrs.mediatype;
	s.edit = j->attrs.edit;
	s.hide_fail = j->attrs.hide_fail;
	s.encs = encs;
	s.nencs = ne;
	if (j->group) {
		s.skmsg = skmsg;
		s.skmsglen = skmsglen;
		s.addressing_mode = j->addressing[0] ? j->addressing : NULL;
		if (msg_node_phash(devs, n, phash, sizeof(phash)) == 0)
			s.phash = phash;
	}
	if (any_pk) {
		s.device_identity = m->creds->account;
		s.device_identity_len = m->creds->account_len;
	}
	if (strcmp(j->attrs.type, "poll") == 0)
		s.polltype = "creation";
	if (msg_node_build_send(&s, &node) != 0 || node == NULL) {
		snprintf(error, errsz, "cannot build the stanza");
		goto rollback;
	}
	/*
	 * One commit: the message itself (first time), the ratchets, and the
	 * row due again only if the ack never comes - before anything is
	 * sent.
	 */
	if (j->unstored && store_own(m, j) != 0) {
		snprintf(error, errsz, "store error");
		goto rollback;
	}
	j->row.next_at = (int64_t)time(NULL) * 1000 + ACK_TIMEOUT_MS;
	j->row.attempts++;
	if (store_ob_update(m->store, &j->row, (int64_t)time(NULL) * 1000) <
	    0) {
		snprintf(error, errsz, "store error");
		goto rollback;
	}
	if (store_commit(m->store) != 0) {
		snprintf(error, errsz, "store error");
		goto out;
	}
	if (conn_send_node(m->conn, node) != CONN_OK) {
		snprintf(error, errsz, "not connected");
		goto out;
	}
	m->st.sent++;
	rc = 0;
	goto out;
rollback:
	store_rollback(m->store);
out:
	binnode_free(node);
	encs_free(encs, ne);
	free(dsm);
	free(carrier);
	free(skmsg);
	signal_free_secret(skdm, skdmlen);
	signal_free_secret(sk, sklen);
	signal_free_secret(nsk, nsklen);
	signal_free_secret(padded, plen);
	return rc;
}

/* The job is over: sent (error NULL: wait for the ack), or failed. */
static void
job_end(struct msgr *m, const char *error, int permanent)
{
	struct job *j = m->job;
	char id[MSGID_MAX];
	int rc;

	if (j == NULL)
		return;
	m->job = NULL;
	snprintf(id, sizeof(id), "%s", j->row.id);
	if (j->retry) {
		if (error != NULL)
			log_info("re-send of %s for a retry receipt: %s", id,
			    error);
	} else if (error == NULL) {
		fl_add(m, id);		/* its row is due again at next_at */
	} else if (permanent) {
		log_warnx("send %s failed: %s", id, error);
		rc = outbox_mark(m->store, id, "failed", 0, error);
		if (rc == OUTBOX_NEW)
			(void)store_msg_set_status(m->store, j->row.chat, id,
			    "failed");
	} else {
		log_info("send %s: %s (will retry)", id, error);
		(void)outbox_retry(m->store, id, error);
	}
	job_free(j);
	m->kick = 1;
}

/* The Message a retry re-sends: for groups with our SKDM in it (sent
 * pairwise, no skmsg), for our own devices wrapped.  0 or -1. */
static int
retry_plain(struct msgr *m, struct job *j, uint8_t **out, size_t *outlen)
{
	struct jid pn, lid;
	Wamsg__Message *x;
	Wamsg__SenderKeyDistributionMessage d =
	    WAMSG__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	char own_addr[STORE_ADDR_MAX], chat[JID_STR_MAX];
	uint8_t *sk = NULL, *skdm = NULL;
	size_t sklen = 0, skdmlen = 0;
	int has_lid, rc = -1;

	*out = NULL;
	if (own_jids(m, &pn, &lid, &has_lid) != 0)
		return -1;
	if (!j->group) {
		if (msg_node_device_role(&j->rq.dev, &pn, has_lid ? &lid :
		    NULL) == MSG_NODE_OWN)
			return msg_node_dsm_wrap(j->msg, j->msglen,
			    j->row.chat, out, outlen) == 0 ? 0 : -1;
		*out = xmalloc(j->msglen);
		memcpy(*out, j->msg, j->msglen);
		*outlen = j->msglen;
		return 0;
	}
	snprintf(chat, sizeof(chat), "%s", j->row.chat);
	if ((!has_lid || sig_addr(&lid, own_addr, sizeof(own_addr)) != 0 ||
	    store_sender_key_get(m->store, chat, own_addr, &sk, &sklen) != 0) &&
	    (sig_addr(&pn, own_addr, sizeof(own_addr)) != 0 ||
	    store_sender_key_get(m->store, chat, own_addr, &sk, &sklen) != 0))
		return -1;
	if (signal_group_skdm(sk, sklen, &skdm, &skdmlen) != 0)
		goto out;
	if ((x = wamsg__message__unpack(NULL, j->msglen, j->msg)) == NULL)
		goto out;
	d.groupid = chat;
	d.has_axolotlsenderkeydistributionmessage = 1;
	d.axolotlsenderkeydistributionmessage.data = skdm;
	d.axolotlsenderkeydistributionmessage.len = skdmlen;
	x->senderkeydistributionmessage = &d;
	*outlen = wamsg__message__get_packed_size(x);
	*out = xmalloc(*outlen);
	wamsg__message__pack(x, *out);
	x->senderkeydistributionmessage = NULL;
	wamsg__message__free_unpacked(x, NULL);
	rc = 0;
out:
	signal_free_secret(sk, sklen);
	signal_free_secret(skdm, skdmlen);
	return rc;
}

static void
retry_step(struct msgr *m, struct job *j)
{
	struct msg_node_enc e;
	struct msg_node_send s;
	struct binnode *node = NULL;
	uint8_t *plain = NULL;
	size_t plen = 0;
	int need = 1, rc;

	rc = job_sessions(m, j, &j->rq.dev, &need, 1);
	if (rc != 0) {
		if (rc < 0)
			job_end(m, "cannot ask for the prekey bundle", 0);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (retry_plain(m, j, &plain, &plen) != 0) {
		job_end(m, "cannot rebuild the message", 1);
		return;
	}
	if (store_begin(m->store) != 0) {
		free(plain);
		job_end(m, "store error", 0);
		return;
	}
	rc = enc_device(m, &j->rq.dev, plain, plen, &e);
	free(plain);
	if (rc != 0) {
		store_rollback(m->store);
		job_end(m, "no session with that device", 1);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.id = j->row.id;
	s.to = &j->rq.to;
	s.type = j->attrs.type;
	s.mediatype = j->attrs.mediatype;
	s.edit = j->attrs.edit;
	s.hide_fail = j->attrs.hide_fail;
	s.encs = &e;
	s.nencs = 1;
	s.retry = 1;
	s.retry_count = j->rq.count;
	s.t = j->orig_ts > 0 ? (uint64_t)j->orig_ts : 0;
	s.participant = j->rq.has_participant ? &j->rq.participant : NULL;
	s.recipient = j->rq.has_recipient ? &j->rq.recipient : NULL;
	if (e.type == SIGNAL_MSG_TYPE_PKMSG) {
		s.device_identity = m->creds->account;
		s.device_identity_len = m->creds->account_len;
	}
	if (msg_node_build_send(&s, &node) != 0 || node == NULL) {
		store_rollback(m->store);
		free((void *)e.ct);
		job_end(m, "cannot build the re-send", 1);
		return;
	}
	if (store_commit(m->store) != 0) {
		binnode_free(node);
		free((void *)e.ct);
		job_end(m, "store error", 1);
		return;
	}
	rc = conn_send_node(m->conn, node);
	binnode_free(node);
	free((void *)e.ct);
	if (rc == CONN_OK) {
		m->st.resent++;
		log_info("re-sent %s to a device that could not decrypt it "
		    "(retry %u)", j->row.id, j->rq.count);
	}
	job_end(m, rc == CONN_OK ? NULL : "not connected", 1);
}

/* Advance the current job as far as it goes without waiting. */
static void
job_step(struct msgr *m)
{
	struct job *j = m->job;
	struct jid *devs;
	struct binnode *iq;
	int *need;
	size_t n = 0, i;
	char error[256];
	int rc;

	if (j == NULL || j->wait != W_NONE)
		return;
	if (!logged_in(m)) {
		job_end(m, "not connected", 0);
		return;
	}
	if (j->retry) {
		retry_step(m, j);
		return;
	}
	if (j->group && j->members == NULL) {
		iq = binnode_new("iq");
		binnode_set_attrs(iq, "xmlns", "w:g2", "type", "get", NULL);
		binnode_set_attr_jid(iq, "to", &j->chat);
		binnode_set_attr(binnode_add_new(iq, "query"), "request",
		    "interactive");
		if (job_iq(m, j, iq, W_GROUP, group_done) < 0)
			job_end(m, "not connected", 0);
		return;
	}
	/* filled up to n (not zeroed: 170 KB) */
	devs = xreallocarray(NULL, JOB_DEVS_MAX, sizeof(*devs));
	rc = job_devices(m, j, devs, &n);
	if (rc != 0) {
		free(devs);
		if (rc < 0)
			job_end(m, "cannot ask for the device list", 0);
		return;
	}
	need = xcalloc(n + 1, sizeof(*need));
	for (i = 0; i < n; i++)
		need[i] = 1;
	rc = job_sessions(m, j, devs, need, n);
	free(need);
	if (rc != 0) {
		free(devs);
		if (rc < 0)
			job_end(m, "cannot ask for prekey bundles", 0);
		return;
	}
	rc = job_send(m, j, devs, n, error, sizeof(error));
	free(devs);
	if (rc == 0)
		job_end(m, NULL, 0);
	else
		job_end(m, error, strstr(error, "no device") != NULL);
}

/* Start the next due outbox row; 1 if one was started. */
static int
job_start(struct msgr *m)
{
	struct store_ob_row rows[BATCH_MAX];
	struct job *j;
	char error[256];
	int n, i, rc, started = 0;

	if (m->nrq > 0) {
		j = xcalloc(1, sizeof(*j));
		j->retry = 1;
		j->rq = m->rq[0];
		memmove(&m->rq[0], &m->rq[1], (m->nrq - 1) * sizeof(m->rq[0]));
		m->nrq--;
		j->row.id = xstrdup(j->rq.id);
		j->row.chat = xstrdup(j->rq.chat);
		m->job = j;
		if (jid_parse(&j->chat, j->row.chat) != 0) {
			job_end(m, "bad chat JID", 1);
			return 1;
		}
		j->group = jid_is_group(&j->chat);
		if (job_prepare(m, j, error, sizeof(error)) != 0) {
			job_end(m, error, 1);
			return 1;
		}
		job_step(m);
		return 1;
	}
	/* the due rows in order, as long as each completes without a
	 * round trip (one that waits for an IQ holds the rest back) */
	n = outbox_next_due(m->store, rows, BATCH_MAX);
	for (i = 0; i < n; i++) {
		if (m->job != NULL || fl_find(m, rows[i].id) >= 0) {
			store_ob_row_free(&rows[i]);
			continue;
		}
		j = xcalloc(1, sizeof(*j));
		j->row = rows[i];
		started++;
		m->job = j;
		if (jid_parse(&j->chat, j->row.chat) != 0) {
			job_end(m, "bad chat JID", 1);
			continue;
		}
		j->group = jid_is_group(&j->chat);
		j->seq = ++m->jobseq;
		rc = job_prepare(m, j, error, sizeof(error));
		if (rc < 0) {
			job_end(m, error, 1);
			continue;
		}
		if (rc == 0)
			job_step(m);
	}
	return started;
}

/* ------------------------------------------------------ send: routes */

static int
send_call(struct msgr *m, uint32_t reqid, enum msg_send_kind kind,
    const char *path_id, json_object *body, const char *idem)
{
	struct msg_send_req req;
	struct msg_send_error err;
	struct msg_send_file file, *fp;
	json_object *res;
	char id[MSGID_MAX], *first = NULL, msg[JID_STR_MAX + 64];
	int rc;

	fp = file_of(body, &file);
	memset(&req, 0, sizeof(req));
	if (msg_send_parse(kind, body, path_id, fp, &req, &err) != 0) {
		reply(m, reqid, err.http_status ? err.http_status : 400,
		    err.code, err.message, NULL);
		return 1;
	}
	if (msg_send_kind_is_media(kind) && m->media == NULL) {
		msg_send_req_free(&req);
		reply(m, reqid, 503, "MEDIA_UNAVAILABLE", "media transfers are "
		    "not available in this process", NULL);
		return 1;
	}
	if (path_id != NULL)	/* kept for the build after a restart */
		json_object_object_add(body, "_message_id",
		    json_object_new_string(path_id));
	rc = outbox_accept(m->store, req.client_id, idem,
	    msg_send_kind_name(kind), req.to_str,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), id,
	    &first);
	if (rc == OUTBOX_EINVAL) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "id: must be 16 to 64 "
		    "uppercase hex characters; Idempotency-Key: 1 to 256 "
		    "printable characters", NULL);
	} else if (rc < 0) {
		reply(m, reqid, 500, "INTERNAL_ERROR", "cannot queue the "
		    "message", NULL);
	} else {
		res = first != NULL ? json_tokener_parse(first) : NULL;
		if (res == NULL)
			res = json_object_new_object();
		snprintf(msg, sizeof(msg), "%s %s", rc == OUTBOX_REPLAY ?
		    "Message already accepted for" : "Message queued for",
		    req.to_str);
		reply(m, reqid, 200, "SUCCESS", msg, res);
		m->kick = 1;
	}
	free(first);
	msg_send_req_free(&req);
	return 1;
}

/* ============================================================= receive */

struct rx {
	struct msg_in	 in;
	uint8_t		*content;	/* the Message to report */
	size_t		 contentlen;
	int		 decrypted;
	int		 err;		/* first SIGNAL_ERR_* */
	int		 dup;
	int		 keys;		/* an app state key share */
};

/* Decrypt one pairwise enc; plaintext unpadded in *plain.  Writes the
 * new state inside the caller's transaction. */
static int
rx_pairwise(struct msgr *m, const struct msg_in *in,
    const struct msg_in_enc *e, uint8_t **plain, size_t *plainlen)
{
	struct signal_pkmsg_info info;
	struct signal_keypair pk, *pkp = NULL;
	char addr[STORE_ADDR_MAX];
	uint8_t *rec = NULL, *ns = NULL, *pt = NULL;
	size_t reclen = 0, nslen = 0, ptlen = 0, ulen;
	int rc, used = 0;

	*plain = NULL;
	if (sig_addr(&in->sender, addr, sizeof(addr)) != 0)
		return SIGNAL_ERR_INVALID;
	if (store_session_get(m->store, addr, &rec, &reclen) < 0)
		return SIGNAL_ERR_STATE;
	if (strcmp(e->type, "pkmsg") == 0) {
		if ((rc = signal_pkmsg_parse(e->ct, e->ctlen, &info)) != 0)
			goto out;
		if (info.signed_prekey_id != m->creds->spk.id) {
			rc = SIGNAL_ERR_NO_PREKEY;
			goto out;
		}
		if (info.has_prekey_id && store_prekey_get(m->store,
		    info.prekey_id, &pk) == 0)
			pkp = &pk;
		rc = signal_session_decrypt_pkmsg(&m->creds->identity,
		    m->creds->registration_id, &m->creds->spk.kp, pkp, rec,
		    reclen, e->ct, e->ctlen, &pt, &ptlen, &ns, &nslen, &used);
		if (rc == 0) {
			(void)store_identity_put(m->store, addr,
			    info.identity_pub);
			if (used)
				(void)store_prekey_delete(m->store,
				    info.prekey_id);
		}
		signal_keypair_clear(&pk);
	} else
		rc = signal_session_decrypt_msg(rec, reclen, e->ct, e->ctlen,
		    &pt, &ptlen, &ns, &nslen);
	if (rc != 0)
		goto out;
	if (store_session_put(m->store, addr, ns, nslen) != 0) {
		rc = SIGNAL_ERR_STATE;
		goto out;
	}
	if (padding_remove(pt, ptlen, &ulen) != 0) {
		rc = SIGNAL_ERR_INVALID;
		goto out;
	}
	*plain = pt;
	*plainlen = ulen;
	pt = NULL;
out:
	signal_free_secret(rec, reclen);
	signal_free_secret(ns, nslen);
	signal_free_secret(pt, ptlen);
	return rc;
}

/* An SKDM inside a decrypted Message: add it to the sender's record. */
static void
rx_skdm(struct msgr *m, const struct msg_in *in, const uint8_t *plain,
    size_t len)
{
	Wamsg__Message *x = wamsg__message__unpack(NULL, len, plain);
	Wamsg__SenderKeyDistributionMessage *d;
	char addr[STORE_ADDR_MAX], group[JID_STR_MAX];
	uint8_t *rec = NULL, *ns = NULL;
	size_t reclen = 0, nslen = 0;

	if (x == NULL)
		return;
	d = x->senderkeydistributionmessage != NULL ?
	    x->senderkeydistributionmessage :
	    x->fastratchetkeysenderkeydistributionmessage;
	if (d == NULL || !d->has_axolotlsenderkeydistributionmessage ||
	    d->groupid == NULL || sig_addr(&in->sender, addr,
	    sizeof(addr)) != 0)
		goto out;
	snprintf(group, sizeof(group), "%s", d->groupid);
	if (store_sender_key_get(m->store, group, addr, &rec, &reclen) < 0)
		goto out;
	if (signal_group_process_skdm(rec, reclen,
	    d->axolotlsenderkeydistributionmessage.data,
	    d->axolotlsenderkeydistributionmessage.len, &ns, &nslen) == 0)
		(void)store_sender_key_put(m->store, group, addr, ns, nslen);
out:
	signal_free_secret(rec, reclen);
	signal_free_secret(ns, nslen);
	wamsg__message__free_unpacked(x, NULL);
}

static int
rx_group(struct msgr *m, const struct msg_in *in, const struct msg_in_enc *e,
    uint8_t **plain, size_t *plainlen)
{
	char addr[STORE_ADDR_MAX], group[JID_STR_MAX];
	uint8_t *rec = NULL, *ns = NULL, *pt = NULL;
	size_t reclen = 0, nslen = 0, ptlen = 0, ulen;
	int rc;

	*plain = NULL;
	if (sig_addr(&in->sender, addr, sizeof(addr)) != 0 ||
	    jid_format(&in->chat, group, sizeof(group)) < 0)
		return SIGNAL_ERR_INVALID;
	rc = store_sender_key_get(m->store, group, addr, &rec, &reclen);
	if (rc != 0)
		return rc < 0 ? SIGNAL_ERR_STATE : SIGNAL_ERR_NO_SESSION;
	rc = signal_group_decrypt(rec, reclen, e->ct, e->ctlen, &pt, &ptlen,
	    &ns, &nslen);
	if (rc == 0 && store_sender_key_put(m->store, group, addr, ns,
	    nslen) != 0)
		rc = SIGNAL_ERR_STATE;
	if (rc == 0 && padding_remove(pt, ptlen, &ulen) != 0)
		rc = SIGNAL_ERR_INVALID;
	if (rc == 0) {
		*plain = pt;
		*plainlen = ulen;
		pt = NULL;
	}
	signal_free_secret(rec, reclen);
	signal_free_secret(ns, nslen);
	signal_free_secret(pt, ptlen);
	return rc;
}

static int
lid_lookup(void *arg, const struct jid *lid, struct jid *pn)
{
	struct msgr *m = arg;
	char l[JID_STR_MAX], p[JID_STR_MAX];

	bare_str(lid, l, sizeof(l));
	if (store_lid_to_pn(m->store, l, p, sizeof(p)) != 0)
		return -1;
	return jid_parse(pn, p);
}

/* Store the decrypted message and queue its webhook (in the open
 * transaction).  The event for wsrelay into *ev_json. */
static int
rx_store(struct msgr *m, struct rx *r, char **ev_json, const char **ev_type)
{
	struct hook_msg_env env;
	struct store_msg sm;
	struct jid spn;
	char chat[JID_STR_MAX], sender[JID_STR_MAX], type[24];
	char eid[HOOK_EVENT_ID_LEN + 1], *json = NULL, *body = NULL;
	const char *evname = NULL;
	int rc;

	*ev_json = NULL;
	/* the phone shares app state keys only with its own devices */
	if (r->in.is_from_me && !r->in.is_group) {
		if ((rc = syncd_take_keys(m->store, r->content,
		    r->contentlen)) < 0)
			return -1;
		if (rc > 0) {
			r->keys = 1;
			return 0;
		}
	}
	bare_str(&r->in.chat, chat, sizeof(chat));
	jid_format(&r->in.sender, sender, sizeof(sender));
	memset(&env, 0, sizeof(env));
	env.device_hash = m->hash;
	env.device_jid = m->creds->jid;
	env.id = r->in.id;
	jid_to_bare(&env.chat, &r->in.chat);
	env.sender = r->in.sender;
	env.is_group = r->in.is_group;
	env.is_from_me = r->in.is_from_me;
	env.is_broadcast = jid_is_broadcast(&r->in.chat);
	env.push_name = r->in.notify[0] ? r->in.notify : NULL;
	env.timestamp = r->in.t ? (int64_t)r->in.t : now_unix();
	if (r->in.has_sender_alt && jid_server_is(&r->in.sender_alt,
	    JID_SERVER_PN)) {
		jid_to_bare(&spn, &r->in.sender_alt);
		env.sender_pn = &spn;
		{
			char l[JID_STR_MAX], p[JID_STR_MAX];

			bare_str(&r->in.sender, l, sizeof(l));
			bare_str(&spn, p, sizeof(p));
			if (jid_server_is(&r->in.sender, JID_SERVER_LID))
				(void)store_lid_put(m->store, l, p);
		}
	}
	env.lid_lookup = lid_lookup;
	env.lid_arg = m;
	rc = hook_message_payload(&env, r->content, r->contentlen, &json,
	    &evname, eid);
	if (rc == HOOK_EINVAL) {
		log_warnx("message %s: content does not decode: acked, not "
		    "stored", r->in.id);
		return 0;
	}
	summarize(r->content, r->contentlen, type, sizeof(type), &body);
	memset(&sm, 0, sizeof(sm));
	sm.chat = chat;
	sm.id = r->in.id;
	sm.sender = sender;
	sm.from_me = r->in.is_from_me;
	sm.ts = env.timestamp;
	sm.type = type;
	sm.body = body;
	sm.raw = r->content;
	sm.rawlen = r->contentlen;
	if (rc == HOOK_SKIP) {
		free(body);
		return 0;	/* SKDM only, protocol chores ... */
	}
	rc = store_msg_put(m->store, &sm);
	free(body);
	if (rc < 0) {
		free(json);
		return -1;
	}
	if (rc == 1) {		/* a redelivery: reported before */
		r->dup = 1;
		free(json);
		return 0;
	}
	if (store_chat_touch(m->store, chat, sm.ts, !r->in.is_from_me,
	    r->in.is_group ? NULL : env.push_name) != 0 ||
	    msghook_enqueue(m->store, evname, eid, json) < 0) {
		free(json);
		return -1;
	}
	*ev_json = json;
	*ev_type = evname;
	return 0;
}

static void
send_retry_receipt(struct msgr *m, const struct binnode *n,
    const struct msg_in *in)
{
	struct binnode *r;
	uint32_t count = in->retry_count + 1;

	if (count > RETRY_MAX) {
		log_warnx("message %s undecryptable after %u retries", in->id,
		    in->retry_count);
		return;
	}
	/*
	 * count 1: the sender re-encrypts with the session it has.  Later
	 * retries carry our keys (identity, a fresh one-time prekey, the
	 * signed prekey, our device identity) so the sender can start a new
	 * session without a bundle fetch; the prekey is stored (and the id
	 * counter persisted) before it leaves.
	 */
	if (count > 1) {
		struct msg_retry_keys k;
		struct signal_prekey pk;

		memset(&k, 0, sizeof(k));
		m->creds->next_prekey_id = signal_prekeys_generate(&pk, 1,
		    m->creds->next_prekey_id);
		if (m->out.creds_changed != NULL)
			m->out.creds_changed(m->out.arg);
		if (store_prekeys_put(m->store, &pk, 1) == 0) {
			memcpy(k.identity_pub, m->creds->identity.pub, 32);
			k.prekey_id = pk.id;
			memcpy(k.prekey_pub, pk.kp.pub, 32);
			k.signed_prekey_id = m->creds->spk.id;
			memcpy(k.signed_prekey_pub, m->creds->spk.kp.pub, 32);
			memcpy(k.signed_prekey_sig, m->creds->spk.sig, 64);
			k.device_identity = m->creds->account;
			k.device_identity_len = m->creds->account_len;
			r = msg_node_retry_receipt(n, count,
			    m->creds->registration_id, &k);
		} else
			r = msg_node_retry_receipt(n, count,
			    m->creds->registration_id, NULL);
		signal_keypair_clear(&pk.kp);
	} else
		r = msg_node_retry_receipt(n, count, m->creds->registration_id,
		    NULL);
	if (r != NULL) {
		(void)conn_send_node(m->conn, r);
		binnode_free(r);
	}
	m->st.retries++;
}

static void
rx_message(struct msgr *m, const struct binnode *n)
{
	struct rx r;
	struct jid pn, lid;
	struct binnode *rcpt;
	uint8_t *pt;
	size_t ptlen, i;
	char *ev = NULL;
	const char *evtype = NULL;
	int has_lid, rc, ok = 0, any_dup = 0;

	memset(&r, 0, sizeof(r));
	if (own_jids(m, &pn, &lid, &has_lid) != 0 ||
	    msg_node_parse(n, &pn, has_lid ? &lid : NULL, &r.in) != 0) {
		log_warnx("malformed message stanza: acked, dropped");
		(void)conn_ack(m->conn, n);
		return;
	}
	if (r.in.unavailable || r.in.nenc == 0) {
		(void)conn_ack(m->conn, n);
		return;
	}
	if (store_begin(m->store) != 0)
		return;		/* not acked: the server sends it again */
	for (i = 0; i < r.in.nenc; i++) {
		const struct msg_in_enc *e = &r.in.enc[i];

		pt = NULL;
		ptlen = 0;
		if (strcmp(e->type, "pkmsg") == 0 || strcmp(e->type, "msg") ==
		    0)
			rc = rx_pairwise(m, &r.in, e, &pt, &ptlen);
		else if (strcmp(e->type, "skmsg") == 0)
			rc = rx_group(m, &r.in, e, &pt, &ptlen);
		else
			continue;	/* msmsg ...: not handled */
		if (rc == SIGNAL_ERR_DUPLICATE) {
			any_dup = 1;
			continue;
		}
		if (rc != 0) {
			if (r.err == 0)
				r.err = rc;
			continue;
		}
		ok = 1;
		rx_skdm(m, &r.in, pt, ptlen);
		/* groups: the skmsg carries the content; 1:1: the pairwise */
		if (r.content == NULL || strcmp(e->type, "skmsg") == 0) {
			free(r.content);
			r.content = pt;
			r.contentlen = ptlen;
		} else
			signal_free_secret(pt, ptlen);
	}
	if (r.err != 0) {
		/* something did not decrypt: keep nothing, ask again */
		store_rollback(m->store);
		log_warnx("message %s from %s: %s", r.in.id, r.in.sender.user,
		    signal_strerror(r.err));
		m->st.undecryptable++;
		send_retry_receipt(m, n, &r.in);
		(void)conn_ack(m->conn, n);
		free(r.content);
		return;
	}
	if (r.content != NULL && rx_store(m, &r, &ev, &evtype) != 0) {
		store_rollback(m->store);
		free(r.content);
		return;		/* not acked: redelivered */
	}
	if (store_commit(m->store) != 0) {
		free(r.content);
		free(ev);
		return;
	}
	if (r.keys)
		syncd_keys_arrived(m->syncd);
	if (r.dup || (any_dup && !ok))
		m->st.dup++;
	else
		m->st.received++;
	if (ev != NULL) {
		event(m, evtype, ev);
		free(ev);
	}
	rcpt = msg_node_receipt(n, msg_node_delivery_type(&r.in, 1));
	if (rcpt != NULL) {
		(void)conn_send_node(m->conn, rcpt);
		binnode_free(rcpt);
	}
	(void)conn_ack(m->conn, n);
	free(r.content);
}

/* A retry receipt for messages we sent: queue one re-send per id. */
static void
rx_retry(struct msgr *m, const struct msg_receipt_in *r)
{
	struct store_msg_ref ref;
	struct retryq *q;
	const struct jid *dev = r->has_participant ? &r->participant :
	    &r->from;
	char addr[STORE_ADDR_MAX];
	size_t i;

	for (i = 0; i < r->nids; i++) {
		if (store_msg_find(m->store, NULL, r->ids[i], &ref, NULL, NULL,
		    NULL) != 0 || !ref.from_me)
			continue;	/* not ours, or forgotten */
		if (r->retry_count > RETRY_MAX * 2 || m->nrq == RETRYQ_MAX) {
			log_warnx("retry receipt for %s ignored (count %u)",
			    r->ids[i], r->retry_count);
			continue;
		}
		q = &m->rq[m->nrq++];
		memset(q, 0, sizeof(*q));
		snprintf(q->id, sizeof(q->id), "%s", r->ids[i]);
		snprintf(q->chat, sizeof(q->chat), "%s", ref.chat);
		q->to = r->from;
		q->dev = *dev;
		q->has_participant = r->has_participant;
		q->participant = r->participant;
		q->has_recipient = r->has_recipient;
		q->recipient = r->recipient;
		q->count = r->retry_count > 0 ? r->retry_count : 1;
		/* a fresh session from a new bundle: the old one is what the
		 * peer could not use */
		if (sig_addr(dev, addr, sizeof(addr)) == 0)
			(void)store_session_delete(m->store, addr);
		/* and the device list again next time */
		bare_str(dev, addr, sizeof(addr));
		dc_forget(m, addr);
		m->kick = 1;
	}
}

static void
rx_receipt(struct msgr *m, const struct binnode *n)
{
	struct msg_receipt_in *r = xcalloc(1, sizeof(*r));
	const char *status = NULL;
	char *json = NULL, eid[HOOK_EVENT_ID_LEN + 1];
	size_t i;
	int rc;

	if (msg_node_parse_receipt(n, r) != 0)
		goto ack;
	/* "inactive": delivered to a client that is not in the foreground
	 * (whatsmeow, Baileys and we ourselves send it so) */
	if (r->type[0] == '\0' || strcmp(r->type, "inactive") == 0)
		status = "delivered";
	else if (strcmp(r->type, "read") == 0 || strcmp(r->type, "played") ==
	    0)
		status = "read";
	else if (strcmp(r->type, "retry") == 0) {
		rx_retry(m, r);
		goto ack;
	}
	if (status != NULL) {
		if (hook_receipt_payload(m->hash, m->creds->jid, r, now_unix(),
		    &json, eid) != 0)
			json = NULL;
		for (i = 0; i < r->nids; i++) {
			rc = outbox_mark_receipt(m->store, r->ids[i], status,
			    (int64_t)r->t, NULL, json);
			if (rc == OUTBOX_NEW && json != NULL && i == 0)
				event(m, "message.ack", json);
		}
		free(json);
	}
ack:
	(void)conn_ack(m->conn, n);
	free(r);
}

static void
rx_ack(struct msgr *m, const struct binnode *n)
{
	const char *id = binnode_attr(n, "id"), *cls = binnode_attr(n,
	    "class"), *error = binnode_attr(n, "error");
	uint64_t t = 0;
	char e[64];
	int i;

	if (id == NULL || cls == NULL || strcmp(cls, "message") != 0)
		return;
	if ((i = fl_find(m, id)) < 0)
		return;
	fl_del(m, (size_t)i);
	(void)binnode_attr_u64(n, "t", &t);
	if (error != NULL) {
		snprintf(e, sizeof(e), "server refused the message (error %s)",
		    error);
		(void)outbox_mark(m->store, id, "failed", (int64_t)t, e);
		return;
	}
	m->st.acked++;
	if (outbox_mark(m->store, id, "sent", (int64_t)t, NULL) == OUTBOX_NEW) {
		char *j;
		json_object *o = json_object_new_object();

		json_object_object_add(o, "message_id",
		    json_object_new_string(id));
		json_object_object_add(o, "status",
		    json_object_new_string("sent"));
		json_object_object_add(o, "server_timestamp",
		    json_object_new_int64((int64_t)t));
		j = json_take(o);
		event(m, "message.status", j);
		free(j);
	}
}

/* A user's device list changed (§6.3): ask again before the next send. */
static void
rx_devices(struct msgr *m, const struct binnode *n)
{
	struct jid from;
	char user[JID_STR_MAX], other[JID_STR_MAX];

	if (binnode_attr_jid(n, "from", &from) != 0)
		return;
	bare_str(&from, user, sizeof(user));
	dc_forget(m, user);
	if (store_pn_to_lid(m->store, user, other, sizeof(other)) == 0 ||
	    store_lid_to_pn(m->store, user, other, sizeof(other)) == 0)
		dc_forget(m, other);
}

int
msgr_node(struct msgr *m, const struct binnode *n)
{
	if (m->conn == NULL)
		return 0;
	if (binnode_tag_is(n, "message")) {
		rx_message(m, n);
		return 1;
	}
	if (binnode_tag_is(n, "receipt")) {
		rx_receipt(m, n);
		return 1;
	}
	if (binnode_tag_is(n, "ack")) {
		rx_ack(m, n);
		return 1;
	}
	if (binnode_tag_is(n, "notification") && binnode_attr(n, "type") !=
	    NULL && strcmp(binnode_attr(n, "type"), "devices") == 0) {
		rx_devices(m, n);
		return 0;	/* conn acks notifications */
	}
	if (binnode_tag_is(n, "notification")) {
		(void)syncd_node(m->syncd, n);
		return 0;	/* conn acks notifications */
	}
	return 0;
}

/* ============================================================ routes */

static void
query_str(const char *query, size_t qlen, const char *name, char *out,
    size_t outsz)
{
	json_object *o, *v;
	char *t;

	out[0] = '\0';
	if (query == NULL || qlen == 0)
		return;
	t = xstrndup(query, qlen);
	o = json_tokener_parse(t);
	free(t);
	if (o != NULL && json_object_object_get_ex(o, name, &v)) {
		if (json_object_is_type(v, json_type_array))
			v = json_object_array_get_idx(v, 0);
		if (v != NULL)
			snprintf(out, outsz, "%s", json_object_get_string(v));
	}
	json_object_put(o);
}

static int
query_int(const char *query, size_t qlen, const char *name, int def)
{
	char v[32];
	long n;

	query_str(query, qlen, name, v, sizeof(v));
	if (v[0] == '\0')
		return def;
	n = strtol(v, NULL, 10);	/* not a number: 0, refused */
	return n < INT_MIN ? INT_MIN : n > INT_MAX ? INT_MAX : (int)n;
}

/* A list answer: results {"data": a (taken), "pagination": {limit,
 * offset[, total]}} (total < 0: not given). */
static void
list_reply(struct msgr *m, uint32_t reqid, const char *message,
    json_object *a, int limit, int offset, int64_t total)
{
	json_object *res, *pg;

	if (a == NULL) {
		reply(m, reqid, 500, "INTERNAL_ERROR", "store error", NULL);
		return;
	}
	res = json_object_new_object();
	json_object_object_add(res, "data", a);
	pg = json_object_new_object();
	json_object_object_add(pg, "limit", json_object_new_int(limit));
	json_object_object_add(pg, "offset", json_object_new_int(offset));
	if (total >= 0)
		json_object_object_add(pg, "total",
		    json_object_new_int64(total));
	json_object_object_add(res, "pagination", pg);
	reply(m, reqid, 200, "SUCCESS", message, res);
}

static void
call_chats(struct msgr *m, uint32_t reqid, const char *query, size_t qlen)
{
	int limit = query_int(query, qlen, "limit", 25);
	int offset = query_int(query, qlen, "offset", 0);
	char search[128];

	if (limit < 1 || limit > LIST_LIMIT_MAX || offset < 0) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "limit: must be 1 to "
		    "1000; offset: must not be negative", NULL);
		return;
	}
	query_str(query, qlen, "search", search, sizeof(search));
	list_reply(m, reqid, "Success get chat list", store_chats_json(
	    m->store, limit, offset, search), limit, offset, -1);
}

static void
call_chat_messages(struct msgr *m, uint32_t reqid, const char *jidstr,
    const char *query, size_t qlen)
{
	int limit = query_int(query, qlen, "limit", 50);
	int offset = query_int(query, qlen, "offset", 0);
	char search[128], chat[JID_STR_MAX];
	json_object *a;
	struct msg_send_error err;
	struct jid j;
	int64_t total;

	if (limit < 1 || limit > LIST_LIMIT_MAX || offset < 0) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "limit: must be 1 to "
		    "1000; offset: must not be negative", NULL);
		return;
	}
	if (msg_send_normalize_phone(jidstr, &j, chat, sizeof(chat), &err) !=
	    0) {
		reply(m, reqid, 400, err.code, err.message, NULL);
		return;
	}
	query_str(query, qlen, "search", search, sizeof(search));
	a = store_chat_messages_json(m->store, chat, limit, offset, search,
	    &total);
	list_reply(m, reqid, "Success get chat messages", a, limit, offset,
	    total);
}

static void
call_message_status(struct msgr *m, uint32_t reqid, const char *id)
{
	char *s = outbox_get(m->store, id);
	struct store_msg_ref ref;
	json_object *o;

	if (s != NULL) {
		o = json_tokener_parse(s);
		free(s);
		reply(m, reqid, 200, "SUCCESS", "Message status", o);
		return;
	}
	if (store_msg_find(m->store, NULL, id, &ref, NULL, NULL, NULL) == 0) {
		o = json_object_new_object();
		json_object_object_add(o, "message_id",
		    json_object_new_string(id));
		json_object_object_add(o, "chat_id",
		    json_object_new_string(ref.chat));
		json_object_object_add(o, "status",
		    json_object_new_string(ref.status));
		json_object_object_add(o, "is_from_me",
		    json_object_new_boolean(ref.from_me));
		reply(m, reqid, 200, "SUCCESS", "Message status", o);
		return;
	}
	reply(m, reqid, 404, "NOT_FOUND", "no such message", NULL);
}

static void
call_read(struct msgr *m, uint32_t reqid, const char *id)
{
	struct store_msg_ref ref;
	struct jid chat, sender;
	struct binnode *n;
	const char *ids[1];

	if (store_msg_find(m->store, NULL, id, &ref, NULL, NULL, NULL) != 0 ||
	    ref.from_me) {
		reply(m, reqid, 404, "NOT_FOUND", "no such received message",
		    NULL);
		return;
	}
	if (!logged_in(m)) {
		reply(m, reqid, 503, "NOT_CONNECTED", "the device is not "
		    "connected to WhatsApp", NULL);
		return;
	}
	if (jid_parse(&chat, ref.chat) != 0 || jid_parse(&sender,
	    ref.sender) != 0) {
		reply(m, reqid, 500, "INTERNAL_ERROR", "stored JID unusable",
		    NULL);
		return;
	}
	ids[0] = id;
	n = msg_node_read_receipt(&chat, jid_is_group(&chat) ? &sender : NULL,
	    ids, 1, (uint64_t)now_unix(), "read");
	if (n == NULL || conn_send_node(m->conn, n) != CONN_OK) {
		binnode_free(n);
		reply(m, reqid, 503, "NOT_CONNECTED", "cannot send the read "
		    "receipt", NULL);
		return;
	}
	binnode_free(n);
	(void)store_msg_set_status(m->store, ref.chat, id, "read");
	reply(m, reqid, 200, "SUCCESS", "Mark as read success", NULL);
}

static void
call_presence(struct msgr *m, uint32_t reqid, json_object *body)
{
	json_object *v;
	const char *type = "available";
	struct binnode *n;

	if (json_object_object_get_ex(body, "type", &v))
		type = json_object_get_string(v);
	if (type == NULL || (strcmp(type, "available") != 0 &&
	    strcmp(type, "unavailable") != 0)) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "type: must be "
		    "available or unavailable", NULL);
		return;
	}
	if (!logged_in(m)) {
		reply(m, reqid, 503, "NOT_CONNECTED", "the device is not "
		    "connected to WhatsApp", NULL);
		return;
	}
	n = binnode_new("presence");
	binnode_set_attr(n, "type", type);
	if (m->creds->push_name[0] != '\0')
		binnode_set_attr(n, "name", m->creds->push_name);
	(void)conn_send_node(m->conn, n);
	binnode_free(n);
	reply(m, reqid, 200, "SUCCESS", "Success send presence", NULL);
}

static void
call_chat_presence(struct msgr *m, uint32_t reqid, json_object *body)
{
	json_object *v;
	const char *phone = NULL, *action = NULL;
	struct msg_send_error err;
	char to[JID_STR_MAX];
	struct binnode *n, *c;
	struct jid j;

	if (json_object_object_get_ex(body, "phone", &v))
		phone = json_object_get_string(v);
	if (json_object_object_get_ex(body, "action", &v))
		action = json_object_get_string(v);
	if (msg_send_normalize_phone(phone != NULL ? phone : "", &j, to,
	    sizeof(to), &err) != 0) {
		reply(m, reqid, 400, err.code, err.message, NULL);
		return;
	}
	if (action == NULL || (strcmp(action, "start") != 0 &&
	    strcmp(action, "stop") != 0)) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "action: must be start "
		    "or stop", NULL);
		return;
	}
	if (!logged_in(m)) {
		reply(m, reqid, 503, "NOT_CONNECTED", "the device is not "
		    "connected to WhatsApp", NULL);
		return;
	}
	n = binnode_new("chatstate");
	binnode_set_attr_jid(n, "to", &j);
	c = binnode_new(strcmp(action, "start") == 0 ? "composing" : "paused");
	binnode_add_child(n, &c);
	(void)conn_send_node(m->conn, n);
	binnode_free(n);
	reply(m, reqid, 200, "SUCCESS", "Success send chat presence", NULL);
}

/* ----------------------------------------------------- media download */

#define DOWNLOAD_MAX	(20u << 20)	/* what one IPC reply carries */

struct dlreq {
	struct msgr	*m;
	uint32_t	 reqid;
	char		 id[MSGID_MAX];
	char		 kind[16];
	char		 mime[128];
	char		 file_name[256];
	char		*direct_path;
	uint8_t		 key[32];
	uint8_t		 enc_sha[32];
	int		 has_sha;
};

static void
dl_free(struct dlreq *d)
{
	sodium_memzero(d->key, sizeof(d->key));
	free(d->direct_path);
	free(d);
}

static void
dl_done(void *arg, int err, const char *errstr, const uint8_t *data,
    size_t len, const char *content_type)
{
	struct dlreq *d = arg;
	json_object *o;
	size_t b64len;
	char *b64, e[256];

	(void)content_type;
	if (err != MEDIA_OK) {
		snprintf(e, sizeof(e), "cannot download the media: %.200s",
		    errstr != NULL ? errstr : "error");
		reply(d->m, d->reqid, err == MEDIA_EEXPIRED ? 410 :
		    err == MEDIA_ETOOBIG ? 413 : 502, err == MEDIA_EEXPIRED ?
		    "MEDIA_EXPIRED" : err == MEDIA_ETOOBIG ? "MEDIA_TOO_LARGE" :
		    "MEDIA_DOWNLOAD_FAILED", e, NULL);
		dl_free(d);
		return;
	}
	b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64len);
	sodium_bin2base64(b64, b64len, data, len,
	    sodium_base64_VARIANT_ORIGINAL);
	o = json_object_new_object();
	json_object_object_add(o, "message_id", json_object_new_string(d->id));
	json_object_object_add(o, "status",
	    json_object_new_string("downloaded"));
	json_object_object_add(o, "media_type",
	    json_object_new_string(d->kind));
	json_object_object_add(o, "mime_type", json_object_new_string(d->mime));
	json_object_object_add(o, "filename",
	    json_object_new_string(d->file_name));
	json_object_object_add(o, "file_size",
	    json_object_new_int64((int64_t)len));
	json_object_object_add(o, "data_base64",
	    json_object_new_string_len(b64, (int)(b64len - 1)));
	free(b64);
	reply(d->m, d->reqid, 200, "SUCCESS", "Media downloaded", o);
	dl_free(d);
}

static void
dl_start(struct dlreq *d)
{
	if (media_download(d->m->media, d->direct_path, d->kind, d->key,
	    d->has_sha ? d->enc_sha : NULL, DOWNLOAD_MAX, dl_done, d) !=
	    MEDIA_OK) {
		reply(d->m, d->reqid, 503, "BUSY", "too many media transfers; "
		    "retry in a moment", NULL);
		dl_free(d);
	}
}

static void
dl_conn_done(void *arg, const struct binnode *reply_node, int err)
{
	struct dlreq *d = arg;
	struct media_conn_info ci;

	if (err != CONN_OK || media_conn_parse(reply_node, (int64_t)
	    conn_now_ms(), &ci) != 0) {
		reply(d->m, d->reqid, 502, "MEDIA_DOWNLOAD_FAILED", "no media "
		    "host from WhatsApp", NULL);
		dl_free(d);
		return;
	}
	media_set_conn_info(d->m->media, &ci);
	dl_start(d);
}

#define MEDIA_FIELDS(x)	do {						\
	if ((x) != NULL && (x)->directpath != NULL &&			\
	    (x)->has_mediakey && (x)->mediakey.len == 32) {		\
		dp = (x)->directpath;					\
		memcpy(d->key, (x)->mediakey.data, 32);			\
		if ((x)->has_fileencsha256 &&				\
		    (x)->fileencsha256.len == 32) {			\
			memcpy(d->enc_sha, (x)->fileencsha256.data, 32);\
			d->has_sha = 1;					\
		}							\
		if ((x)->mimetype != NULL)				\
			snprintf(d->mime, sizeof(d->mime), "%s",	\
			    (x)->mimetype);				\
	}								\
} while (0)

static void
call_download(struct msgr *m, uint32_t reqid, const char *id)
{
	struct store_msg_ref ref;
	struct dlreq *d;
	struct binnode *iq;
	Wamsg__Message *raw;
	const Wamsg__Message *x;
	uint8_t *blob = NULL;
	size_t len = 0;
	const char *dp = NULL;

	if (m->media == NULL) {
		reply(m, reqid, 503, "MEDIA_UNAVAILABLE", "media transfers are "
		    "not available in this process", NULL);
		return;
	}
	if (store_msg_find(m->store, NULL, id, &ref, NULL, &blob, &len) != 0 ||
	    blob == NULL) {
		free(blob);
		reply(m, reqid, 404, "NOT_FOUND", "no such message", NULL);
		return;
	}
	raw = wamsg__message__unpack(NULL, len, blob);
	free(blob);
	d = xcalloc(1, sizeof(*d));
	d->m = m;
	d->reqid = reqid;
	snprintf(d->id, sizeof(d->id), "%.*s", (int)sizeof(d->id) - 1, id);
	x = raw != NULL ? hook_unwrap(raw, NULL) : NULL;
	if (x != NULL && x->imagemessage != NULL) {
		snprintf(d->kind, sizeof(d->kind), "image");
		MEDIA_FIELDS(x->imagemessage);
	} else if (x != NULL && x->videomessage != NULL) {
		snprintf(d->kind, sizeof(d->kind), "video");
		MEDIA_FIELDS(x->videomessage);
	} else if (x != NULL && x->audiomessage != NULL) {
		snprintf(d->kind, sizeof(d->kind), "audio");
		MEDIA_FIELDS(x->audiomessage);
	} else if (x != NULL && x->documentmessage != NULL) {
		snprintf(d->kind, sizeof(d->kind), "document");
		MEDIA_FIELDS(x->documentmessage);
		if (x->documentmessage->filename != NULL)
			snprintf(d->file_name, sizeof(d->file_name), "%s",
			    x->documentmessage->filename);
	} else if (x != NULL && x->stickermessage != NULL) {
		snprintf(d->kind, sizeof(d->kind), "sticker");
		MEDIA_FIELDS(x->stickermessage);
	}
	if (dp != NULL)
		d->direct_path = xstrdup(dp);
	wamsg__message__free_unpacked(raw, NULL);
	if (d->direct_path == NULL) {
		reply(m, reqid, 400, "NOT_MEDIA", "the message has no media to "
		    "download", NULL);
		dl_free(d);
		return;
	}
	if (media_conn_cached(m->media) != NULL) {
		dl_start(d);
		return;
	}
	/* the media hosts come from a media_conn IQ, once */
	if (!logged_in(m) || (iq = media_conn_iq()) == NULL) {
		reply(m, reqid, 503, "NOT_CONNECTED", "the device is not "
		    "connected to WhatsApp", NULL);
		dl_free(d);
		return;
	}
	if (conn_send_iq(m->conn, iq, 0, dl_conn_done, d) != CONN_OK) {
		reply(m, reqid, 503, "NOT_CONNECTED", "the device is not "
		    "connected to WhatsApp", NULL);
		dl_free(d);
	}
	binnode_free(iq);
}

/* "/message/<id>/<verb>" -> id, verb. */
/* A call's body as a JSON object (none, or not JSON: an empty one; fcgi-app
 * refused bad JSON already), or NULL when it is JSON but not an object. */
static json_object *
body_json(const char *body, size_t blen)
{
	json_object *b = NULL;
	char *t;

	if (body != NULL && blen > 0) {
		t = xstrndup(body, blen);
		b = json_tokener_parse(t);
		free(t);
	}
	if (b == NULL)
		b = json_object_new_object();
	if (!json_object_is_type(b, json_type_object)) {
		json_object_put(b);
		b = NULL;
	}
	return b;
}

/* ============================================================ app state */

/*
 * POST /message/:id/{star,unstar,delete} (GOWA: body "phone" = the chat):
 * an app state patch (syncd.h) answered once WhatsApp took it.  The
 * message is looked up in the store for from_me and its sender; one not
 * stored needs "phone" and takes "is_from_me" from the body.
 */
static void
call_msg_appstate(struct msgr *m, uint32_t reqid, const char *id,
    const char *verb, json_object *body)
{
	struct appstate_mutation mu;
	struct store_msg_ref ref;
	struct msg_send_error err;
	struct jid cj, sj;
	json_object *v, *o;
	char chat[JID_STR_MAX], participant[JID_STR_MAX];
	const char *phone = NULL, *coll, *okmsg;
	int found, from_me = 0, rc;

	if (json_object_object_get_ex(body, "phone", &v) &&
	    json_object_is_type(v, json_type_string))
		phone = json_object_get_string(v);
	chat[0] = '\0';
	if (phone != NULL && *phone != '\0' && msg_send_normalize_phone(phone,
	    &cj, chat, sizeof(chat), &err) != 0) {
		reply(m, reqid, 400, err.code, err.message, NULL);
		return;
	}
	found = store_msg_find(m->store, chat[0] ? chat : NULL, id, &ref, NULL,
	    NULL, NULL) == 0;
	if (!found && chat[0] == '\0') {
		reply(m, reqid, 404, "NOT_FOUND", "no such message; give the "
		    "chat in \"phone\" for one this device has not stored",
		    NULL);
		return;
	}
	participant[0] = '\0';
	if (found) {
		snprintf(chat, sizeof(chat), "%s", ref.chat);
		from_me = ref.from_me;
		if (jid_parse(&cj, chat) != 0) {
			reply(m, reqid, 500, "INTERNAL_ERROR", "stored JID "
			    "unusable", NULL);
			return;
		}
		/* whatsmeow BuildStar: the sender when not the chat's user */
		if (jid_is_group(&cj)) {
			if (from_me && jid_parse(&sj, m->creds->jid) == 0)
				bare_str(&sj, participant, sizeof(participant));
			else if (jid_parse(&sj, ref.sender) == 0)
				bare_str(&sj, participant, sizeof(participant));
		}
	} else {
		if (json_object_object_get_ex(body, "is_from_me", &v))
			from_me = json_object_get_boolean(v);
		if (jid_is_group(&cj) && from_me && jid_parse(&sj,
		    m->creds->jid) == 0)
			bare_str(&sj, participant, sizeof(participant));
		ref.ts = now_unix();
	}
	memset(&mu, 0, sizeof(mu));
	if (strcmp(verb, "delete") == 0) {
		rc = appstate_delete_for_me(chat, id, from_me, participant, 1,
		    ref.ts, 0, &mu);
		coll = APPSTATE_REGULAR_HIGH;
		okmsg = "Message deleted for me";
	} else {
		rc = appstate_star(chat, id, from_me, participant,
		    strcmp(verb, "star") == 0, 0, &mu);
		coll = APPSTATE_REGULAR_HIGH;
		okmsg = strcmp(verb, "star") == 0 ? "Message starred" :
		    "Message unstarred";
	}
	if (rc != 0) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "message_id or phone "
		    "unusable for an app state change", NULL);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "message_id", json_object_new_string(id));
	json_object_object_add(o, "chat_jid", json_object_new_string(chat));
	if (strcmp(verb, "delete") != 0)
		json_object_object_add(o, "starred",
		    json_object_new_boolean(strcmp(verb, "star") == 0));
	syncd_send(m->syncd, reqid, coll, &mu, okmsg,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* POST /chat/:chat_jid/pin {"pinned": bool} (GOWA's answer shape). */
static void
call_pin(struct msgr *m, uint32_t reqid, const char *jidstr,
    const char *body, size_t blen)
{
	struct appstate_mutation mu;
	struct msg_send_error err;
	struct jid j;
	json_object *b, *v, *o;
	char chat[JID_STR_MAX];
	int pinned;

	if (msg_send_normalize_phone(jidstr, &j, chat, sizeof(chat), &err) !=
	    0) {
		reply(m, reqid, 400, err.code, err.message, NULL);
		return;
	}
	b = body_json(body, blen);
	if (b == NULL || !json_object_object_get_ex(b, "pinned", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		json_object_put(b);
		reply(m, reqid, 400, "VALIDATION_ERROR", "pinned: must be a "
		    "boolean", NULL);
		return;
	}
	pinned = json_object_get_boolean(v);
	json_object_put(b);
	memset(&mu, 0, sizeof(mu));
	if (appstate_pin(chat, pinned, 0, &mu) != 0) {
		reply(m, reqid, 400, "INVALID_JID", "chat_jid: unusable", NULL);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("success"));
	json_object_object_add(o, "message", json_object_new_string(pinned ?
	    "Chat pinned successfully" : "Chat unpinned successfully"));
	json_object_object_add(o, "chat_jid", json_object_new_string(chat));
	json_object_object_add(o, "pinned", json_object_new_boolean(pinned));
	syncd_send(m->syncd, reqid, APPSTATE_REGULAR_LOW, &mu, pinned ?
	    "Chat pinned successfully" : "Chat unpinned successfully",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static int
split_message_route(const char *route, char *id, size_t idsz, char *verb,
    size_t verbsz)
{
	const char *p = route + strlen("/message/"), *s;

	if ((s = strchr(p, '/')) == NULL) {
		snprintf(id, idsz, "%s", p);
		verb[0] = '\0';
	} else {
		if ((size_t)(s - p) >= idsz)
			return -1;
		memcpy(id, p, (size_t)(s - p));
		id[s - p] = '\0';
		snprintf(verb, verbsz, "%s", s + 1);
	}
	return id[0] != '\0' ? 0 : -1;
}

int
msgr_call(struct msgr *m, uint32_t reqid, const char *method,
    const char *route, const char *query, size_t qlen, const char *body,
    size_t blen, const char *idem)
{
	json_object *b = NULL;
	char id[MSGID_MAX + 64], verb[32];
	int kind, rc = 1, get = method != NULL && strcmp(method, "GET") == 0;

	if (strncmp(route, "/send/", 6) != 0 && strncmp(route, "/message/",
	    9) != 0 && strcmp(route, "/chats") != 0 && strncmp(route,
	    "/chat/", 6) != 0)
		return 0;
	if (strcmp(route, "/chats") == 0) {
		call_chats(m, reqid, query, qlen);
		return 1;
	}
	if (strncmp(route, "/chat/", 6) == 0) {
		const char *p = route + 6, *s = strchr(p, '/');
		char jid[JID_STR_MAX];

		if (s == NULL || (size_t)(s - p) >= sizeof(jid))
			return 0;
		memcpy(jid, p, (size_t)(s - p));
		jid[s - p] = '\0';
		if (strcmp(s, "/messages") == 0 && get)
			call_chat_messages(m, reqid, jid, query, qlen);
		else if (strcmp(s, "/pin") == 0 && !get)
			call_pin(m, reqid, jid, body, blen);
		else
			return 0;
		return 1;
	}
	if ((b = body_json(body, blen)) == NULL) {
		reply(m, reqid, 400, "VALIDATION_ERROR", "the body must be a "
		    "JSON object", NULL);
		goto out;
	}
	if (strncmp(route, "/message/", 9) == 0) {
		if (split_message_route(route, id, sizeof(id), verb,
		    sizeof(verb)) != 0 || !msgid_valid_ref(id)) {
			reply(m, reqid, 400, "VALIDATION_ERROR", "message_id: "
			    "not a message id", NULL);
			goto out;
		}
		if (verb[0] == '\0' && get)
			call_message_status(m, reqid, id);
		else if (strcmp(verb, "read") == 0)
			call_read(m, reqid, id);
		else if (strcmp(verb, "download") == 0 && get)
			call_download(m, reqid, id);
		else if ((strcmp(verb, "star") == 0 || strcmp(verb, "unstar") ==
		    0 || strcmp(verb, "delete") == 0) && !get)
			call_msg_appstate(m, reqid, id, verb, b);
		else if ((kind = msg_send_kind_from_route(route)) >= 0)
			send_call(m, reqid, (enum msg_send_kind)kind, id, b,
			    idem);
		else
			rc = 0;
		goto out;
	}
	if (strcmp(route, "/send/presence") == 0)
		call_presence(m, reqid, b);
	else if (strcmp(route, "/send/chat-presence") == 0)
		call_chat_presence(m, reqid, b);
	else if ((kind = msg_send_kind_from_route(route)) >= 0)
		send_call(m, reqid, (enum msg_send_kind)kind, NULL, b, idem);
	else
		rc = 0;
out:
	json_object_put(b);
	return rc;
}

/* ============================================================ timers */

int
msgr_timeout_ms(struct msgr *m)
{
	uint64_t now = conn_now_ms(), dl = 0;
	long ob;
	size_t i;
	int t = -1;

	if (!logged_in(m))
		return -1;
	if (m->kick && m->job == NULL)
		return 0;
	for (i = 0; i < m->nfl; i++)
		if (dl == 0 || m->fl[i].deadline < dl)
			dl = m->fl[i].deadline;
	if (dl != 0)
		t = dl > now ? (int)(dl - now) : 0;
	if (m->job == NULL) {
		if (m->next_due > now) {
			int d = (int)(m->next_due - now);

			if (t < 0 || d < t)
				t = d;
		} else {
			/* nothing queued: look again in a minute at the
			 * latest (a new send kicks us before that) */
			ob = outbox_timeout_ms(m->store);
			if (ob < 0 || ob > 60000)
				ob = 60000;
			m->next_due = now + (uint64_t)ob;
			if (t < 0 || ob < t)
				t = (int)ob;
		}
	}
	return t;
}

void
msgr_service(struct msgr *m)
{
	uint64_t now = conn_now_ms();
	size_t i;
	int rounds;

	if (!logged_in(m))
		return;
	for (i = 0; i < m->nfl;) {
		if (m->fl[i].deadline <= now) {
			log_info("send %s: no ack from the server in time",
			    m->fl[i].id);
			fl_del(m, i);	/* its row is due again */
			m->kick = 1;
		} else
			i++;
	}
	if (m->job != NULL)
		return;
	if (!m->kick && m->next_due > now)
		return;
	m->kick = 0;
	m->next_due = 0;
	/* a few batches per turn, then incoming stanzas get their turn
	 * (job_end kicked us: the rest follows at once) */
	for (rounds = 0; rounds < 4 && m->job == NULL; rounds++)
		if (!job_start(m))
			break;
}

/*
 * syncd.c - app state sync of one device (syncd.h).
 *
 * One task runs at a time, so two syncs never race over a collection's
 * state.  A task holds two copies of its collection: `saved` (what the
 * store has) and `st` (the working copy the answers are applied to); a
 * save writes the difference and makes them equal again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "syncd.pb-c.h"
#include "wa.pb-c.h"

#include "appstate.h"
#include "binnode.h"
#include "conn.h"
#include "log.h"
#include "media.h"
#include "store.h"
#include "store-appstate.h"
#include "syncd.h"
#include "xmalloc.h"

static const char *const collections[] = {
	APPSTATE_CRITICAL_BLOCK, APPSTATE_CRITICAL_UNBLOCK_LOW,
	APPSTATE_REGULAR_HIGH, APPSTATE_REGULAR_LOW, APPSTATE_REGULAR
};
#define NCOLLECTIONS	(sizeof(collections) / sizeof(collections[0]))

#define PENDING_MAX	64	/* patches held while a snapshot downloads */

enum t_kind { T_SYNC, T_SEND };
enum t_wait { W_NONE, W_FETCH, W_MEDIA_CONN, W_BLOB, W_PATCH };

struct task {
	struct task			*next;
	enum t_kind			 kind;
	char				 name[APPSTATE_NAME_MAX];
	struct appstate_mutation	 mut;		/* T_SEND */
	uint32_t			 reqid;
	char				*message;
	char				*json;
	int				 conflicts;
	int				 pages;
	int				 reset;		/* dropped once */
};

/* A snapshot download's ticket: outlives syncd_free if it must. */
struct blob_ticket {
	struct syncd	*s;
};

struct syncd {
	struct store		*store;
	struct conn		*conn;
	struct media		*media;
	struct syncd_out	 out;
	int			 online;
	struct task		*head;
	struct task		**tailp;
	size_t			 ntasks;
	struct task		*cur;
	enum t_wait		 wait;
	struct appstate_state	 saved, st, next;
	uint8_t			*pend[PENDING_MAX];	/* after a snapshot */
	size_t			 pendlen[PENDING_MAX];
	size_t			 npend;
	int			 pend_more;
	struct blob_ticket	*ticket;
	char			 blob_path[512];	/* the snapshot's */
	uint8_t			 blob_key[MEDIA_KEY_LEN];
	uint8_t			 blob_sha[MEDIA_SHA256_LEN];
	int			 blob_has_sha;
	struct syncd_stats	 stats;
};

static void	kick(struct syncd *);
static void	fetch(struct syncd *);

/* ------------------------------------------------------------ setup */

struct syncd *
syncd_new(struct store *store, const struct syncd_out *out)
{
	struct syncd *s = xcalloc(1, sizeof(*s));

	s->store = store;
	s->out = *out;
	s->tailp = &s->head;
	return s;
}

static void
task_free(struct task *t)
{
	if (t == NULL)
		return;
	appstate_mutation_clear(&t->mut);
	free(t->message);
	free(t->json);
	free(t);
}

static void
pend_clear(struct syncd *s)
{
	size_t i;

	for (i = 0; i < s->npend; i++)
		free(s->pend[i]);
	s->npend = 0;
	s->pend_more = 0;
}

static void
states_free(struct syncd *s)
{
	appstate_state_free(&s->saved);
	appstate_state_free(&s->st);
	appstate_state_free(&s->next);
}

void
syncd_free(struct syncd *s)
{
	struct task *t;

	if (s == NULL)
		return;
	if (s->ticket != NULL)
		s->ticket->s = NULL;	/* media may still call back */
	while ((t = s->head) != NULL) {
		s->head = t->next;
		task_free(t);
	}
	task_free(s->cur);
	pend_clear(s);
	states_free(s);
	free(s);
}

void
syncd_set_conn(struct syncd *s, struct conn *c)
{
	s->conn = c;
}

void
syncd_set_media(struct syncd *s, struct media *m)
{
	s->media = m;
}

void
syncd_stats(const struct syncd *s, struct syncd_stats *st)
{
	*st = s->stats;
}

/* ------------------------------------------------------------ keys */

int
syncd_take_keys(struct store *store, const uint8_t *msg, size_t len)
{
	Wa__Message *m;
	Wa__ProtocolMessage *pm;
	Wa__AppStateSyncKeyShare *ks;
	uint8_t fp[256];
	size_t i, fplen;
	int n = 0, rc = 0;

	if ((m = wa__message__unpack(NULL, len, msg)) == NULL)
		return 0;
	pm = m->protocolmessage;
	if (pm == NULL || !pm->has_type ||
	    pm->type != WA__PROTOCOL_MESSAGE__TYPE__APP_STATE_SYNC_KEY_SHARE ||
	    (ks = pm->appstatesynckeyshare) == NULL) {
		wa__message__free_unpacked(m, NULL);
		return 0;
	}
	for (i = 0; i < ks->n_keys && i < 64; i++) {
		Wa__AppStateSyncKey *k = ks->keys[i];

		if (k == NULL || k->keyid == NULL || !k->keyid->has_keyid ||
		    k->keydata == NULL || !k->keydata->has_keydata)
			continue;
		fplen = 0;
		if (k->keydata->fingerprint != NULL &&
		    wa__app_state_sync_key_fingerprint__get_packed_size(
		    k->keydata->fingerprint) <= sizeof(fp))
			fplen = wa__app_state_sync_key_fingerprint__pack(
			    k->keydata->fingerprint, fp);
		if (store_as_key_put(store, k->keyid->keyid.data,
		    k->keyid->keyid.len, k->keydata->keydata.data,
		    k->keydata->keydata.len, fp, fplen,
		    k->keydata->has_timestamp ? k->keydata->timestamp : 0) != 0) {
			/* a bad size is the sender's problem, a store error ours */
			if (k->keyid->keyid.len == 0 || k->keyid->keyid.len >
			    APPSTATE_KEYID_MAX || k->keydata->keydata.len == 0 ||
			    k->keydata->keydata.len > STORE_AS_KEYDATA_MAX)
				continue;
			rc = -1;
			break;
		}
		n++;
	}
	wa__message__free_unpacked(m, NULL);
	if (rc < 0)
		return -1;
	if (n > 0)
		log_info("app state: %d sync key%s from the phone", n,
		    n == 1 ? "" : "s");
	return n > 0;
}

static int
getkey(void *arg, const uint8_t *id, size_t idlen, struct appstate_keys *out)
{
	struct syncd *s = arg;
	uint8_t data[STORE_AS_KEYDATA_MAX];
	size_t len;

	if (idlen == 0 || idlen > APPSTATE_KEYID_MAX ||
	    store_as_key_get(s->store, id, idlen, data, &len) != 0)
		return APPSTATE_ENOKEY;
	appstate_expand_keys(data, len, out);
	sodium_memzero(data, sizeof(data));
	return 0;
}

/* ------------------------------------------------------------ effects */

/* The local effect of one mutation (in the open transaction). */
static int
apply_one(struct syncd *s, const struct appstate_mutation *mu, int emit)
{
	Syncd__SyncActionValue *v = NULL;
	json_object *ev = NULL;
	char **p = NULL;
	size_t n = 0;
	int rc = 0, set = mu->op == APPSTATE_SET, on;

	if (appstate_index_parse(mu->index, &p, &n) != 0 || n < 2)
		goto out;
	if (set && (v = syncd__sync_action_value__unpack(NULL,
	    mu->value_len, mu->value)) == NULL)
		goto out;	/* not ours to judge: keep the sync going */
	if (emit) {
		ev = json_object_new_object();
		json_object_object_add(ev, "collection",
		    json_object_new_string(s->st.name));
		json_object_object_add(ev, "action",
		    json_object_new_string(p[0]));
		json_object_object_add(ev, "chat_jid",
		    json_object_new_string(p[1]));
		json_object_object_add(ev, "operation",
		    json_object_new_string(set ? "set" : "remove"));
	}
	if (strcmp(p[0], "star") == 0 && n >= 3) {
		on = set && v->staraction != NULL && v->staraction->starred;
		if (store_msg_set_starred(s->store, p[1], p[2], on) < 0)
			rc = -1;
		if (ev != NULL) {
			json_object_object_add(ev, "message_id",
			    json_object_new_string(p[2]));
			json_object_object_add(ev, "starred",
			    json_object_new_boolean(on));
		}
	} else if (strcmp(p[0], "deleteMessageForMe") == 0 && n >= 3) {
		if (set && store_msg_delete(s->store, p[1], p[2]) < 0)
			rc = -1;
		if (ev != NULL)
			json_object_object_add(ev, "message_id",
			    json_object_new_string(p[2]));
	} else if (strcmp(p[0], "pin_v1") == 0) {
		on = set && v->pinaction != NULL && v->pinaction->pinned;
		rc = store_chat_set(s->store, p[1], "pinned", on);
		if (ev != NULL)
			json_object_object_add(ev, "pinned",
			    json_object_new_boolean(on));
	} else if (strcmp(p[0], "archive") == 0) {
		on = set && v->archivechataction != NULL &&
		    v->archivechataction->archived;
		rc = store_chat_set(s->store, p[1], "archived", on);
		if (ev != NULL)
			json_object_object_add(ev, "archived",
			    json_object_new_boolean(on));
	} else if (strcmp(p[0], "mute") == 0) {
		int64_t until = 0;

		if (set && v->muteaction != NULL && v->muteaction->muted)
			until = !v->muteaction->has_muteendtimestamp ||
			    v->muteaction->muteendtimestamp < 0 ? -1 :
			    v->muteaction->muteendtimestamp / 1000;
		rc = store_chat_set(s->store, p[1], "muted_until", until);
		if (ev != NULL)
			json_object_object_add(ev, "muted_until",
			    json_object_new_int64(until));
	} else if (strcmp(p[0], "contact") == 0) {
		const char *name = set && v->contactaction != NULL ?
		    v->contactaction->fullname : NULL;

		rc = store_contact_name(s->store, p[1], name);
		if (ev != NULL)
			json_object_object_add(ev, "name", name != NULL ?
			    json_object_new_string(name) : NULL);
	}
	if (rc == 0 && ev != NULL && s->out.event != NULL)
		s->out.event(s->out.arg, "app_state.change",
		    json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	if (rc == 0)
		s->stats.mutations_applied++;
out:
	json_object_put(ev);
	if (v != NULL)
		syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_index_free(p, n);
	return rc;
}

/*
 * Store `next` over `saved` with the mutations' effects, in one
 * transaction; then saved = next.  The first `quiet` mutations (a
 * snapshot's, our own patch) make no live event.  0 or -1 (nothing
 * stored).
 */
static int
persist(struct syncd *s, const struct appstate_state *next,
    const struct appstate_mutation *muts, size_t n, size_t quiet)
{
	size_t i;

	if (store_begin(s->store) != 0)
		return -1;
	if (store_as_state_save(s->store, &s->saved, next) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (apply_one(s, &muts[i], i >= quiet) != 0)
			goto fail;
	if (store_commit(s->store) != 0)
		return -1;
	if (next != &s->saved) {
		appstate_state_free(&s->saved);
		appstate_state_copy(&s->saved, next);
	}
	return 0;
fail:
	store_rollback(s->store);
	return -1;
}

/* ------------------------------------------------------------ tasks */

static void
answer(struct syncd *s, struct task *t, int status, const char *code,
    const char *msg)
{
	if (t->kind != T_SEND || s->out.reply == NULL)
		return;
	s->out.reply(s->out.arg, t->reqid, status, code, msg,
	    status == 200 ? t->json : NULL);
}

/* The current task is over (status: its answer when it is a send). */
static void
task_end(struct syncd *s, int status, const char *code, const char *msg)
{
	struct task *t = s->cur;

	s->cur = NULL;
	s->wait = W_NONE;
	pend_clear(s);
	states_free(s);
	if (t != NULL) {
		if (status != 200)
			s->stats.failures++;
		answer(s, t, status, code, msg);
		task_free(t);
	}
	kick(s);
}

static void
task_fail_appstate(struct syncd *s, int rc, const char *what)
{
	char msg[160];

	log_warnx("app state %s: %s: %s", s->st.name, what,
	    appstate_strerror(rc));
	if (rc == APPSTATE_ENOKEY) {
		task_end(s, 503, "APP_STATE_KEYS_MISSING", "the phone has not "
		    "shared the app state key of this collection yet");
		return;
	}
	snprintf(msg, sizeof(msg), "app state %s: %s", what,
	    appstate_strerror(rc));
	task_end(s, 502, "APP_STATE_ERROR", msg);
}

static int
queued_sync(const struct syncd *s, const char *name)
{
	const struct task *t;

	for (t = s->head; t != NULL; t = t->next)
		if (t->kind == T_SYNC && strcmp(t->name, name) == 0)
			return 1;
	return 0;
}

static void
enqueue(struct syncd *s, struct task *t)
{
	t->next = NULL;
	*s->tailp = t;
	s->tailp = &t->next;
	s->ntasks++;
}

static void
queue_sync(struct syncd *s, const char *name)
{
	struct task *t;

	if (queued_sync(s, name))
		return;
	t = xcalloc(1, sizeof(*t));
	t->kind = T_SYNC;
	snprintf(t->name, sizeof(t->name), "%s", name);
	enqueue(s, t);
}

static void
sync_all(struct syncd *s)
{
	size_t i;

	if (store_as_key_count(s->store) <= 0)
		return;
	for (i = 0; i < NCOLLECTIONS; i++)
		queue_sync(s, collections[i]);
	kick(s);
}

/* Start the next task when none runs. */
static void
kick(struct syncd *s)
{
	struct task *t;

	if (s->cur != NULL || s->head == NULL || !s->online || s->conn == NULL)
		return;
	t = s->head;
	if ((s->head = t->next) == NULL)
		s->tailp = &s->head;
	s->ntasks--;
	t->next = NULL;
	s->cur = t;
	states_free(s);
	appstate_state_init(&s->saved, t->name);
	appstate_state_init(&s->st, t->name);
	appstate_state_init(&s->next, t->name);
	if (store_as_state_load(s->store, &s->saved) != 0) {
		task_end(s, 500, "INTERNAL_ERROR", "app state store error");
		return;
	}
	appstate_state_copy(&s->st, &s->saved);
	fetch(s);
}

/* Send an IQ the current task waits for (iq freed); a connection that
 * cannot take it ends the task with 503.  0 sent, -1 ended. */
static int
task_iq(struct syncd *s, struct binnode *iq, conn_iq_cb cb, enum t_wait w)
{
	if (iq == NULL || s->conn == NULL || conn_send_iq(s->conn, iq, 0, cb,
	    s) != CONN_OK) {
		binnode_free(iq);
		task_end(s, 503, "NOT_CONNECTED", "the device is not connected "
		    "to WhatsApp");
		return -1;
	}
	binnode_free(iq);
	s->wait = w;
	return 0;
}

/* ------------------------------------------------------------ sending */

static void
patch_done(void *arg, const struct binnode *reply, int err)
{
	struct syncd *s = arg;
	const struct binnode *coll, *e;
	const char *type, *code;

	if (s->cur == NULL || s->wait != W_PATCH)
		return;
	s->wait = W_NONE;
	if (reply == NULL) {
		log_warnx("app state %s: patch: no answer (%d)", s->st.name,
		    err);
		task_end(s, 503, "NOT_CONNECTED", "no answer from WhatsApp "
		    "to the app state patch");
		return;
	}
	coll = appstate_answer_collection(reply, s->st.name);
	type = binnode_attr(reply, "type");
	e = coll != NULL ? binnode_child(coll, "error") : binnode_child(reply,
	    "error");
	if ((type != NULL && strcmp(type, "error") == 0) || e != NULL ||
	    (coll != NULL && binnode_attr(coll, "type") != NULL &&
	    strcmp(binnode_attr(coll, "type"), "error") == 0)) {
		code = e != NULL ? binnode_attr(e, "code") : NULL;
		if (code != NULL && strcmp(code, "409") == 0 &&
		    ++s->cur->conflicts <= SYNCD_CONFLICTS_MAX) {
			/* someone patched first: sync again and rebuild */
			s->stats.conflicts++;
			log_info("app state %s: version conflict, syncing "
			    "again", s->st.name);
			appstate_state_free(&s->next);
			appstate_state_init(&s->next, s->st.name);
			fetch(s);
			return;
		}
		log_warnx("app state %s: patch refused (%s)", s->st.name,
		    code != NULL ? code : "no code");
		task_end(s, 502, "APP_STATE_REJECTED", "WhatsApp refused the "
		    "app state patch");
		return;
	}
	if (coll == NULL) {
		task_end(s, 502, "APP_STATE_ERROR", "malformed answer to the "
		    "app state patch");
		return;
	}
	if (persist(s, &s->next, &s->cur->mut, 1, 1) != 0) {
		task_end(s, 500, "INTERNAL_ERROR", "app state store error");
		return;
	}
	s->stats.patches_sent++;
	task_end(s, 200, "SUCCESS", s->cur->message != NULL ?
	    s->cur->message : "Success");
}

static void
send_patch(struct syncd *s)
{
	struct appstate_keys k;
	struct binnode *iq;
	uint8_t id[APPSTATE_KEYID_MAX], data[STORE_AS_KEYDATA_MAX];
	uint8_t *patch = NULL;
	size_t idlen, datalen, plen = 0;
	int rc;

	rc = store_as_key_latest(s->store, id, sizeof(id), &idlen, data,
	    &datalen);
	if (rc != 0) {
		task_fail_appstate(s, rc == 1 ? APPSTATE_ENOKEY :
		    APPSTATE_EINVAL, "patch");
		return;
	}
	appstate_expand_keys(data, datalen, &k);
	sodium_memzero(data, sizeof(data));
	appstate_state_free(&s->next);
	rc = appstate_build_patch(&s->st, &k, id, idlen, &s->cur->mut, 1, NULL,
	    &patch, &plen, &s->next);
	sodium_memzero(&k, sizeof(k));
	if (rc != 0) {
		task_fail_appstate(s, rc, "building the patch");
		return;
	}
	iq = appstate_patch_iq(s->st.name, s->st.version, patch, plen);
	free(patch);
	(void)task_iq(s, iq, patch_done, W_PATCH);
}

/* ------------------------------------------------------------ fetching */

/* The sync of the current task is up to date. */
static void
synced(struct syncd *s)
{
	s->stats.synced++;
	if (s->cur->kind == T_SEND)
		send_patch(s);
	else
		task_end(s, 200, NULL, NULL);
}

/* Integrity failed: forget the collection and fetch it whole, once. */
static int
reset_collection(struct syncd *s, int rc)
{
	if (s->cur->reset || (rc != APPSTATE_EPATCHMAC &&
	    rc != APPSTATE_ESNAPSHOTMAC && rc != APPSTATE_EVALUEMAC &&
	    rc != APPSTATE_EINDEXMAC))
		return 0;
	s->cur->reset = 1;
	s->stats.resets++;
	log_warnx("app state %s: %s: fetching it again from scratch",
	    s->st.name, appstate_strerror(rc));
	if (store_begin(s->store) != 0)
		return 0;
	if (store_as_state_drop(s->store, s->st.name) != 0) {
		store_rollback(s->store);
		return 0;
	}
	if (store_commit(s->store) != 0)
		return 0;
	appstate_state_free(&s->saved);
	appstate_state_free(&s->st);
	appstate_state_init(&s->saved, s->cur->name);
	appstate_state_init(&s->st, s->cur->name);
	fetch(s);
	return 1;
}

/* Apply the patches held while the snapshot downloaded. */
static int
apply_pending(struct syncd *s, struct appstate_mutation **all, size_t *nall)
{
	struct appstate_mutation *m;
	size_t i, n;
	int rc;

	for (i = 0; i < s->npend; i++) {
		m = NULL;
		n = 0;
		rc = appstate_apply_patch(&s->st, s->pend[i], s->pendlen[i], 0,
		    getkey, s, &m, &n);
		if (rc == APPSTATE_EVERSION)
			continue;
		if (rc != 0)
			return rc;
		*all = xreallocarray(*all, *nall + n, sizeof(**all));
		memcpy(*all + *nall, m, n * sizeof(*m));
		*nall += n;
		free(m);
	}
	return 0;
}

/* After an answer (or snapshot) was applied to st: keep it, go on. */
static void
applied(struct syncd *s, int rc, struct appstate_mutation *muts,
    size_t nmuts, size_t quiet, int more)
{
	int prc;

	/* what verified is kept even when a later patch failed */
	prc = persist(s, &s->st, muts, nmuts, quiet);
	appstate_mutations_free(muts, nmuts);
	if (prc != 0) {
		task_end(s, 500, "INTERNAL_ERROR", "app state store error");
		return;
	}
	if (rc != 0) {
		if (reset_collection(s, rc))
			return;
		task_fail_appstate(s, rc, "sync");
		return;
	}
	if (more && ++s->cur->pages < SYNCD_PAGES_MAX) {
		fetch(s);
		return;
	}
	synced(s);
}

static void
blob_done(void *arg, int err, const char *errstr, const uint8_t *data,
    size_t len, const char *ctype)
{
	struct blob_ticket *tk = arg;
	struct syncd *s = tk->s;
	struct appstate_mutation *muts = NULL;
	size_t nmuts = 0, nsnap;
	int rc;

	free(tk);
	if (s == NULL)
		return;		/* syncd_free'd meanwhile */
	s->ticket = NULL;
	if (s->cur == NULL || s->wait != W_BLOB)
		return;
	s->wait = W_NONE;
	if (err != MEDIA_OK) {
		log_warnx("app state %s: snapshot download: %s", s->st.name,
		    errstr != NULL ? errstr : media_strerror(err));
		task_end(s, 502, "APP_STATE_ERROR", "the app state snapshot "
		    "could not be downloaded");
		return;
	}
	rc = appstate_apply_snapshot(&s->st, data, len, getkey, s, &muts,
	    &nmuts);
	nsnap = nmuts;		/* a whole snapshot is not news */
	if (rc == 0)
		rc = apply_pending(s, &muts, &nmuts);
	applied(s, rc, muts, nmuts, nsnap, s->pend_more);
}

static void
blob_start(struct syncd *s)
{
	struct blob_ticket *tk = xcalloc(1, sizeof(*tk));

	tk->s = s;
	if (media_download(s->media, s->blob_path, "app-state", s->blob_key,
	    s->blob_has_sha ? s->blob_sha : NULL, APPSTATE_PATCH_MAX,
	    blob_done, tk) != 0) {
		free(tk);
		task_end(s, 502, "APP_STATE_ERROR", "the app state snapshot "
		    "could not be downloaded");
		return;
	}
	s->ticket = tk;
	s->wait = W_BLOB;
}

/* The media host for the snapshot's direct path (as for any download). */
static void
blob_conn_done(void *arg, const struct binnode *reply, int err)
{
	struct syncd *s = arg;
	struct media_conn_info ci;

	if (s->cur == NULL || s->wait != W_MEDIA_CONN)
		return;
	s->wait = W_NONE;
	if (err != CONN_OK || media_conn_parse(reply, (int64_t)conn_now_ms(),
	    &ci) != 0) {
		task_end(s, 502, "APP_STATE_ERROR", "no media host from "
		    "WhatsApp for the app state snapshot");
		return;
	}
	media_set_conn_info(s->media, &ci);
	blob_start(s);
}

/* The answer carries a snapshot: download it, hold the patches. */
static void
get_snapshot(struct syncd *s, const struct binnode *coll, int more)
{
	Syncd__ExternalBlobReference *ref;
	const struct binnode *sn, *pp, *p;
	size_t i;
	int ok;

	sn = binnode_child(coll, "snapshot");
	if (s->media == NULL || sn == NULL || (sn->type != BINNODE_BYTES &&
	    sn->type != BINNODE_STRING) || (ref =
	    syncd__external_blob_reference__unpack(NULL, sn->len, sn->data)) ==
	    NULL) {
		task_end(s, 502, "APP_STATE_ERROR", "unusable app state "
		    "snapshot");
		return;
	}
	ok = ref->directpath != NULL && ref->directpath[0] == '/' &&
	    strlen(ref->directpath) < sizeof(s->blob_path) &&
	    ref->has_mediakey && ref->mediakey.len == MEDIA_KEY_LEN;
	if (ok) {
		snprintf(s->blob_path, sizeof(s->blob_path), "%s",
		    ref->directpath);
		memcpy(s->blob_key, ref->mediakey.data, MEDIA_KEY_LEN);
		s->blob_has_sha = ref->has_fileencsha256 &&
		    ref->fileencsha256.len == MEDIA_SHA256_LEN;
		if (s->blob_has_sha)
			memcpy(s->blob_sha, ref->fileencsha256.data,
			    MEDIA_SHA256_LEN);
	}
	syncd__external_blob_reference__free_unpacked(ref, NULL);
	if (!ok) {
		task_end(s, 502, "APP_STATE_ERROR", "unusable app state "
		    "snapshot reference");
		return;
	}
	pend_clear(s);
	pp = binnode_child(coll, "patches");
	for (i = 0; pp != NULL && pp->type == BINNODE_LIST &&
	    i < pp->nchildren && s->npend < PENDING_MAX; i++) {
		p = pp->children[i];
		if (!binnode_tag_is(p, "patch") || (p->type != BINNODE_BYTES &&
		    p->type != BINNODE_STRING))
			continue;
		s->pend[s->npend] = xmalloc(p->len ? p->len : 1);
		memcpy(s->pend[s->npend], p->data, p->len);
		s->pendlen[s->npend++] = p->len;
	}
	s->pend_more = more;
	if (media_conn_cached(s->media) != NULL) {
		blob_start(s);
		return;
	}
	(void)task_iq(s, media_conn_iq(), blob_conn_done, W_MEDIA_CONN);
}

static void
fetch_done(void *arg, const struct binnode *reply, int err)
{
	struct syncd *s = arg;
	struct appstate_mutation *muts = NULL;
	const struct binnode *coll, *e;
	size_t nmuts = 0;
	int rc, more = 0;

	if (s->cur == NULL || s->wait != W_FETCH)
		return;
	s->wait = W_NONE;
	if (reply == NULL) {
		task_end(s, 503, "NOT_CONNECTED", "no answer from WhatsApp to "
		    "the app state sync");
		return;
	}
	coll = appstate_answer_collection(reply, s->st.name);
	if (coll != NULL && (e = binnode_child(coll, "error")) != NULL &&
	    binnode_attr(e, "code") != NULL &&
	    strcmp(binnode_attr(e, "code"), "404") == 0) {
		synced(s);	/* the server has no such collection yet */
		return;
	}
	rc = appstate_apply_answer(&s->st, reply, getkey, s, &more, &muts,
	    &nmuts);
	if (rc == APPSTATE_EEXTERNAL && coll != NULL &&
	    binnode_child(coll, "snapshot") != NULL) {
		appstate_mutations_free(muts, nmuts);
		get_snapshot(s, coll, more);
		return;
	}
	if (rc == APPSTATE_ESERVER) {
		appstate_mutations_free(muts, nmuts);
		task_end(s, 502, "APP_STATE_ERROR", "WhatsApp answered the app "
		    "state sync with an error");
		return;
	}
	applied(s, rc, muts, nmuts, 0, more);
}

static void
fetch(struct syncd *s)
{
	(void)task_iq(s, appstate_fetch_iq(s->st.name, s->st.version),
	    fetch_done, W_FETCH);
}

/* ------------------------------------------------------------ events */

void
syncd_logged_in(struct syncd *s)
{
	s->online = 1;
	sync_all(s);
	kick(s);
}

void
syncd_disconnected(struct syncd *s)
{
	struct task *t, **tp;

	s->online = 0;
	/* sends waiting answer now; syncs wait for the next login */
	for (tp = &s->head; (t = *tp) != NULL; ) {
		if (t->kind == T_SEND) {
			*tp = t->next;
			s->ntasks--;
			answer(s, t, 503, "NOT_CONNECTED", "the device lost its "
			    "connection to WhatsApp");
			task_free(t);
		} else
			tp = &t->next;
	}
	s->tailp = &s->head;
	while (*s->tailp != NULL)
		s->tailp = &(*s->tailp)->next;
	/* a task waiting on an IQ hears CONN_EDISCONNECTED from conn */
}

void
syncd_keys_arrived(struct syncd *s)
{
	sync_all(s);
}

int
syncd_node(struct syncd *s, const struct binnode *n)
{
	const struct binnode *c;
	const char *type = binnode_attr(n, "type"), *name;
	size_t i, k;

	if (!binnode_tag_is(n, "notification") || type == NULL ||
	    strcmp(type, "server_sync") != 0)
		return 0;
	for (i = 0; n->type == BINNODE_LIST && i < n->nchildren; i++) {
		c = n->children[i];
		if (!binnode_tag_is(c, "collection") ||
		    (name = binnode_attr(c, "name")) == NULL)
			continue;
		for (k = 0; k < NCOLLECTIONS; k++)
			if (strcmp(name, collections[k]) == 0)
				queue_sync(s, collections[k]);
	}
	kick(s);
	return 1;
}

void
syncd_send(struct syncd *s, uint32_t reqid, const char *collection,
    struct appstate_mutation *mut, const char *message, const char *json)
{
	struct task *t;

	if (!s->online || s->conn == NULL) {
		appstate_mutation_clear(mut);
		s->out.reply(s->out.arg, reqid, 503, "NOT_CONNECTED", "the "
		    "device is not connected to WhatsApp", NULL);
		return;
	}
	if (store_as_key_count(s->store) <= 0) {
		appstate_mutation_clear(mut);
		s->out.reply(s->out.arg, reqid, 503, "APP_STATE_KEYS_MISSING",
		    "the phone has not shared its app state keys yet; try "
		    "again shortly", NULL);
		return;
	}
	if (s->ntasks >= SYNCD_TASKS_MAX) {
		appstate_mutation_clear(mut);
		s->out.reply(s->out.arg, reqid, 503, "BUSY", "too many app "
		    "state changes waiting; retry", NULL);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->kind = T_SEND;
	snprintf(t->name, sizeof(t->name), "%s", collection);
	t->mut = *mut;
	memset(mut, 0, sizeof(*mut));
	t->reqid = reqid;
	t->message = message != NULL ? xstrdup(message) : NULL;
	t->json = json != NULL ? xstrdup(json) : NULL;
	enqueue(s, t);
	kick(s);
}

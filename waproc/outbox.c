/*
 * outbox.c - accepted sends, their retries and their status (outbox.h).
 * Rows through store-msg.c, webhooks through msghook_enqueue in the same
 * transaction.  Never logs request bodies or message text.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "hook-payload.h"
#include "log.h"
#include "msghook.h"
#include "msgid.h"
#include "outbox.h"
#include "store.h"
#include "store-msg.h"
#include "xmalloc.h"

static char	*ob_hash;
static char	*ob_jid;
static char	*ob_user;
static long	 ob_base_ms = 2000;
static long	 ob_max_ms = 300000;
static int	 ob_max_attempts = 10;

/* Forward order; failed is apart. */
static const struct {
	const char	*name;
	int		 rank;
	const char	*desc;
} ob_states[] = {
	{ "queued",	0, "the message is in the outbox, not sent yet." },
	{ "sent",	1, "the server accepted the message." },
	{ "delivered",	2, "means the message was delivered to the device "
	    "(but the user might not have noticed)." },
	{ "read",	3, "the user opened the chat and saw the message." },
	{ "failed",	-1, "the message could not be sent." },
};
#define OB_NSTATES (sizeof(ob_states) / sizeof(ob_states[0]))

static int
ob_state(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < OB_NSTATES; i++)
		if (strcmp(ob_states[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int64_t
ob_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ob_setstr(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL ? xstrdup(v) : NULL;
}

void
outbox_set_identity(const char *device_hash, const char *device_jid,
    const char *own_user)
{
	ob_setstr(&ob_hash, device_hash);
	ob_setstr(&ob_jid, device_jid);
	ob_setstr(&ob_user, own_user);
}

void
outbox_set_retry(long base_ms, long max_ms, int max_attempts)
{
	ob_base_ms = base_ms > 0 ? base_ms : 2000;
	ob_max_ms = max_ms >= ob_base_ms ? max_ms : ob_base_ms;
	ob_max_attempts = max_attempts > 0 ? max_attempts : 10;
}

static char *
ob_answer(const char *id, const char *status)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "message_id", json_object_new_string(id));
	json_object_object_add(o, "status", json_object_new_string(status));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static int
ob_key_ok(const char *key)
{
	size_t i, n;

	if (key == NULL)
		return 1;
	n = strlen(key);
	if (n == 0 || n > OUTBOX_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return 0;
	return 1;
}

int
outbox_accept(struct store *s, const char *client_id, const char *key,
    const char *kind, const char *chat, const char *request_json,
    char msg_id[MSGID_MAX], char **first_answer)
{
	struct store_ob_row r;
	char id[MSGID_MAX];
	char *answer = NULL;
	int rc, ret = OUTBOX_ERR;

	msg_id[0] = '\0';
	*first_answer = NULL;
	if (kind == NULL || chat == NULL || request_json == NULL ||
	    !ob_key_ok(key))
		return OUTBOX_EINVAL;
	if (client_id != NULL && *client_id != '\0') {
		if (!msgid_valid_new(client_id) ||
		    strlen(client_id) >= MSGID_MAX)
			return OUTBOX_EINVAL;
		snprintf(id, sizeof(id), "%s", client_id);
	} else if (msgid_generate(ob_user, (uint64_t)(ob_now() / 1000), id,
	    sizeof(id)) == -1)
		return OUTBOX_ERR;
	if (store_begin(s) == -1)
		return OUTBOX_ERR;
	/* A repeated request: the key first, then the client's id. */
	rc = key != NULL ? store_ob_find(s, NULL, key, &r) : 1;
	if (rc == 1 && client_id != NULL && *client_id != '\0')
		rc = store_ob_find(s, id, NULL, &r);
	if (rc == -1)
		goto out;
	if (rc == 0) {
		snprintf(msg_id, MSGID_MAX, "%s", r.id);
		*first_answer = r.result != NULL ? xstrdup(r.result) :
		    ob_answer(r.id, r.state);
		store_ob_row_free(&r);
		ret = OUTBOX_REPLAY;
		goto out;
	}
	answer = ob_answer(id, "queued");
	if (store_ob_insert(s, id, chat, key, kind, request_json, answer,
	    ob_now()) != 0)
		goto out;
	if (store_commit(s) == -1)
		goto out;
	snprintf(msg_id, MSGID_MAX, "%s", id);
	*first_answer = answer;
	return OUTBOX_NEW;
out:
	free(answer);
	if (ret == OUTBOX_REPLAY) {
		if (store_commit(s) == 0)
			return ret;
		free(*first_answer);
		*first_answer = NULL;
		msg_id[0] = '\0';
		ret = OUTBOX_ERR;
	}
	store_rollback(s);
	return ret;
}

int
outbox_next_due(struct store *s, struct store_ob_row *out, size_t max)
{
	return store_ob_due(s, ob_now(), out, max);
}

long
outbox_timeout_ms(struct store *s)
{
	int64_t at, now;

	if (store_ob_next_at(s, &at) != 0)
		return -1;
	now = ob_now();
	return at <= now ? 0 : (long)(at - now);
}

/* The message.ack body for a status change, and its event id. */
static char *
ob_hook_body(const struct store_ob_row *r, int st, const char *receipt,
    char event_id[HOOK_EVENT_ID_LEN + 1])
{
	struct json_object *o = NULL, *p = NULL, *ids, *eid = NULL;
	char ts[40];
	char *s;
	int64_t t;

	event_id[0] = '\0';
	if (receipt != NULL && (o = json_tokener_parse(receipt)) != NULL &&
	    (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "payload", &p) ||
	    !json_object_is_type(p, json_type_object) ||
	    !json_object_object_get_ex(o, "event_id", &eid) ||
	    json_object_get_string_len(eid) != HOOK_EVENT_ID_LEN)) {
		json_object_put(o);
		o = NULL;
	}
	if (o != NULL) {
		snprintf(event_id, HOOK_EVENT_ID_LEN + 1, "%s",
		    json_object_get_string(eid));
	} else {
		o = json_object_new_object();
		p = json_object_new_object();
		ids = json_object_new_array();
		json_object_array_add(ids, json_object_new_string(r->id));
		json_object_object_add(p, "ids", ids);
		json_object_object_add(p, "chat_id",
		    json_object_new_string(r->chat));
		json_object_object_add(p, "receipt_type",
		    json_object_new_string(ob_states[st].name));
		json_object_object_add(p, "receipt_type_description",
		    json_object_new_string(ob_states[st].desc));
		json_object_object_add(o, "payload", p);
		json_object_object_add(o, "event",
		    json_object_new_string("message.ack"));
		t = r->server_ts > 0 ? r->server_ts : ob_now() / 1000;
		hook_rfc3339(t, ts, sizeof(ts));
		json_object_object_add(o, "timestamp",
		    json_object_new_string(ts));
		hook_event_id(event_id, ob_hash != NULL ? ob_hash : "",
		    "message.ack", r->chat, r->id, ob_states[st].name, NULL);
		json_object_object_add(o, "device_hash",
		    json_object_new_string(ob_hash != NULL ? ob_hash : ""));
		json_object_object_add(o, "device_jid",
		    json_object_new_string(ob_jid != NULL ? ob_jid : ""));
		json_object_object_add(o, "event_id",
		    json_object_new_string(event_id));
	}
	json_object_object_add(p, "status",
	    json_object_new_string(ob_states[st].name));
	if (r->last_error != NULL && ob_states[st].rank < 0)
		json_object_object_add(p, "error",
		    json_object_new_string(r->last_error));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Inside a transaction: write the row (new state st) + webhook. */
static int
ob_apply(struct store *s, struct store_ob_row *r, int st, const char *receipt)
{
	char eid[HOOK_EVENT_ID_LEN + 1];
	char *body;
	int rc;

	ob_setstr(&r->state, ob_states[st].name);
	if (store_ob_update(s, r, ob_now()) != 0)
		return -1;
	if (store_msg_set_status(s, r->chat, r->id, ob_states[st].name) == -1)
		return -1;
	if (!msghook_wanted())
		return 0;
	body = ob_hook_body(r, st, receipt, eid);
	rc = msghook_enqueue(s, "message.ack", eid, body);
	free(body);
	return rc == -1 ? -1 : 0;
}

int
outbox_mark_receipt(struct store *s, const char *id, const char *status,
    int64_t server_ts, const char *error, const char *receipt_json)
{
	struct store_ob_row r;
	int st, cur, rc, ret = OUTBOX_ERR;

	if (id == NULL || (st = ob_state(status)) <= 0)
		return OUTBOX_EINVAL;
	if (store_begin(s) == -1)
		return OUTBOX_ERR;
	if ((rc = store_ob_find(s, id, NULL, &r)) != 0) {
		store_rollback(s);
		return rc == 1 ? OUTBOX_ENOENT : OUTBOX_ERR;
	}
	cur = ob_state(r.state);
	/* failed is final; otherwise only forward, failed not after
	 * delivered/read */
	if (cur < 0 || ob_states[cur].rank < 0 ||
	    (ob_states[st].rank < 0 ? ob_states[cur].rank > 1 :
	    ob_states[st].rank <= ob_states[cur].rank)) {
		ret = OUTBOX_UNCHANGED;
		goto out;
	}
	if (server_ts > 0)
		r.server_ts = server_ts;
	if (ob_states[st].rank < 0)
		ob_setstr(&r.last_error, error != NULL ? error : "failed");
	if (ob_apply(s, &r, st, receipt_json) == -1)
		goto out;
	if (store_commit(s) == -1)
		goto out;
	store_ob_row_free(&r);
	return OUTBOX_NEW;
out:
	store_rollback(s);
	store_ob_row_free(&r);
	return ret;
}

int
outbox_mark(struct store *s, const char *id, const char *status,
    int64_t server_ts, const char *error)
{
	return outbox_mark_receipt(s, id, status, server_ts, error, NULL);
}

int
outbox_retry(struct store *s, const char *id, const char *error)
{
	struct store_ob_row r;
	uint32_t rnd;
	long d;
	int i, rc, ret = OUTBOX_ERR;

	if (id == NULL)
		return OUTBOX_EINVAL;
	if (store_begin(s) == -1)
		return OUTBOX_ERR;
	if ((rc = store_ob_find(s, id, NULL, &r)) != 0) {
		store_rollback(s);
		return rc == 1 ? OUTBOX_ENOENT : OUTBOX_ERR;
	}
	if (strcmp(r.state, "queued") != 0) {
		ret = OUTBOX_UNCHANGED;
		goto out;
	}
	r.attempts++;
	ob_setstr(&r.last_error, error != NULL ? error : "send failed");
	if (r.attempts >= ob_max_attempts) {
		if (ob_apply(s, &r, ob_state("failed"), NULL) == -1)
			goto out;
		ret = OUTBOX_FAILED;
	} else {
		for (d = ob_base_ms, i = 1; i < r.attempts && d < ob_max_ms;
		    i++)
			d *= 2;
		if (d > ob_max_ms)
			d = ob_max_ms;
		randombytes_buf(&rnd, sizeof(rnd));
		r.next_at = ob_now() + d / 2 + (long)(rnd % (uint32_t)(d / 2 +
		    1));
		if (store_ob_update(s, &r, ob_now()) != 0)
			goto out;
		ret = 0;
	}
	if (store_commit(s) == -1) {
		ret = OUTBOX_ERR;
		goto out;
	}
	store_ob_row_free(&r);
	return ret;
out:
	store_rollback(s);
	store_ob_row_free(&r);
	return ret;
}

char *
outbox_get(struct store *s, const char *id)
{
	struct store_ob_row r;
	struct json_object *o;
	char *out;

	if (id == NULL || store_ob_find(s, id, NULL, &r) != 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "message_id", json_object_new_string(r.id));
	json_object_object_add(o, "chat_id", json_object_new_string(r.chat));
	json_object_object_add(o, "kind", json_object_new_string(r.kind));
	json_object_object_add(o, "status", json_object_new_string(r.state));
	json_object_object_add(o, "attempts", json_object_new_int(r.attempts));
	json_object_object_add(o, "server_timestamp", r.server_ts > 0 ?
	    json_object_new_int64(r.server_ts) : NULL);
	json_object_object_add(o, "error", r.last_error != NULL ?
	    json_object_new_string(r.last_error) : NULL);
	json_object_object_add(o, "created_at",
	    json_object_new_int64(r.created_at));
	json_object_object_add(o, "updated_at",
	    json_object_new_int64(r.updated_at));
	out = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	store_ob_row_free(&r);
	return out;
}

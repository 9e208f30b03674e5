/*
 * store-sig.c - Signal state, LID map and message lookups in store.db
 * (store-sig.h).  Plain row access; the pipelines hold the policy.
 * Never logs keys or message content.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "ipc.h"
#include "log.h"
#include "signal-keys.h"
#include "store.h"
#include "store-sig.h"
#include "xmalloc.h"

/* One blob column of the single row sql selects (binds a, b). */
static int
ss_blob_get(struct store *s, const char *sql, const char *a, const char *b,
    uint8_t **blob, size_t *len)
{
	sqlite3_stmt *st;
	const void *p;
	int rc, n;

	*blob = NULL;
	*len = 0;
	if ((st = store_prepare(s, sql)) == NULL)
		return -1;
	store_bind_text(st, 1, a);
	if (b != NULL)
		store_bind_text(st, 2, b);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p = sqlite3_column_blob(st, 0);
		n = sqlite3_column_bytes(st, 0);
		*blob = xmalloc(n > 0 ? (size_t)n : 1);
		if (n > 0)
			memcpy(*blob, p, (size_t)n);
		*len = (size_t)n;
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = 1;
	else {
		log_warnx("store: %s", sqlite3_errmsg(store_db(s)));
		rc = -1;
	}
	store_finish(s, st);
	return rc;
}

int
store_session_get(struct store *s, const char *addr, uint8_t **blob,
    size_t *len)
{
	return ss_blob_get(s, "SELECT record FROM sessions WHERE address = ?",
	    addr, NULL, blob, len);
}

int
store_session_put(struct store *s, const char *addr, const uint8_t *p,
    size_t len)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO sessions (address, record, "
	    "updated_at) VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE "
	    "SET record = excluded.record, updated_at = excluded.updated_at"))
	    == NULL)
		return -1;
	store_bind_text(st, 1, addr);
	sqlite3_bind_blob(st, 2, p, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (int64_t)ipc_now_ms());
	return store_step_done(s, st);
}

int
store_session_delete(struct store *s, const char *addr)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM sessions WHERE address = ?")) ==
	    NULL)
		return -1;
	store_bind_text(st, 1, addr);
	return store_step_done(s, st);
}

int
store_identity_get(struct store *s, const char *addr, uint8_t key[32])
{
	uint8_t *b;
	size_t n;
	int rc;

	rc = ss_blob_get(s, "SELECT key FROM identity_keys WHERE address = ?",
	    addr, NULL, &b, &n);
	if (rc == 0) {
		if (n != 32)
			rc = -1;
		else
			memcpy(key, b, 32);
		free(b);
	}
	return rc;
}

int
store_identity_put(struct store *s, const char *addr, const uint8_t key[32])
{
	sqlite3_stmt *st;
	uint8_t old[32];
	int rc;

	if ((rc = store_identity_get(s, addr, old)) == 0 &&
	    memcmp(old, key, 32) == 0)
		return 0;
	if ((st = store_prepare(s, "INSERT INTO identity_keys (address, key, "
	    "updated_at) VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE "
	    "SET key = excluded.key, updated_at = excluded.updated_at")) ==
	    NULL)
		return -1;
	store_bind_text(st, 1, addr);
	sqlite3_bind_blob(st, 2, key, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (int64_t)ipc_now_ms());
	if (store_step_done(s, st) != 0)
		return -1;
	return rc == 0 ? 2 : 0;
}

int
store_prekey_get(struct store *s, uint32_t id, struct signal_keypair *kp)
{
	sqlite3_stmt *st;
	const uint8_t *p;
	int rc;

	if ((st = store_prepare(s, "SELECT record FROM prekeys WHERE id = ?")) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p = sqlite3_column_blob(st, 0);
		if (sqlite3_column_bytes(st, 0) != 64 || p == NULL)
			rc = -1;
		else {
			memcpy(kp->priv, p, 32);
			memcpy(kp->pub, p + 32, 32);
			rc = 0;
		}
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	store_finish(s, st);
	return rc;
}

int
store_prekey_delete(struct store *s, uint32_t id)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM prekeys WHERE id = ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(s, st);
}

int
store_sender_key_get(struct store *s, const char *group, const char *sender,
    uint8_t **blob, size_t *len)
{
	return ss_blob_get(s, "SELECT record FROM sender_keys WHERE group_id "
	    "= ? AND sender = ?", group, sender, blob, len);
}

int
store_sender_key_put(struct store *s, const char *group, const char *sender,
    const uint8_t *p, size_t len)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO sender_keys (group_id, sender, "
	    "record, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (group_id, "
	    "sender) DO UPDATE SET record = excluded.record, updated_at = "
	    "excluded.updated_at")) == NULL)
		return -1;
	store_bind_text(st, 1, group);
	store_bind_text(st, 2, sender);
	sqlite3_bind_blob(st, 3, p, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (int64_t)ipc_now_ms());
	return store_step_done(s, st);
}

int
store_sk_shared_has(struct store *s, const char *group, const char *addr)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "SELECT 1 FROM sender_key_shared WHERE "
	    "group_id = ? AND address = ?")) == NULL)
		return -1;
	store_bind_text(st, 1, group);
	store_bind_text(st, 2, addr);
	rc = sqlite3_step(st);
	store_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_sk_shared_add(struct store *s, const char *group, const char *addr)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT OR IGNORE INTO sender_key_shared "
	    "(group_id, address) VALUES (?, ?)")) == NULL)
		return -1;
	store_bind_text(st, 1, group);
	store_bind_text(st, 2, addr);
	return store_step_done(s, st);
}

int
store_sk_shared_clear(struct store *s, const char *group)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM sender_key_shared WHERE "
	    "group_id = ?")) == NULL)
		return -1;
	store_bind_text(st, 1, group);
	return store_step_done(s, st);
}

int
store_lid_put(struct store *s, const char *lid, const char *pn)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO lid_map (lid, pn, updated_at) "
	    "VALUES (?, ?, ?) ON CONFLICT (lid) DO UPDATE SET pn = "
	    "excluded.pn, updated_at = excluded.updated_at WHERE pn != "
	    "excluded.pn")) == NULL)
		return -1;
	store_bind_text(st, 1, lid);
	store_bind_text(st, 2, pn);
	sqlite3_bind_int64(st, 3, (int64_t)ipc_now_ms());
	return store_step_done(s, st);
}

static int
ss_text_get(struct store *s, const char *sql, const char *key, char *out,
    size_t outsz)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	if ((st = store_prepare(s, sql)) == NULL)
		return -1;
	store_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL) {
		snprintf(out, outsz, "%s", (const char *)t);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	store_finish(s, st);
	return rc;
}

int
store_lid_to_pn(struct store *s, const char *lid, char *pn, size_t pnsz)
{
	return ss_text_get(s, "SELECT pn FROM lid_map WHERE lid = ?", lid, pn,
	    pnsz);
}

int
store_pn_to_lid(struct store *s, const char *pn, char *lid, size_t lidsz)
{
	return ss_text_get(s, "SELECT lid FROM lid_map WHERE pn = ? ORDER BY "
	    "updated_at DESC LIMIT 1", pn, lid, lidsz);
}

static void
ss_copy_col(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outsz, "%s", t != NULL ? (const char *)t : "");
}

int
store_msg_find(struct store *s, const char *chat, const char *id,
    struct store_msg_ref *r, char **body, uint8_t **raw, size_t *rawlen)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc, n;

	if (body != NULL)
		*body = NULL;
	if (raw != NULL) {
		*raw = NULL;
		*rawlen = 0;
	}
	st = store_prepare(s, chat != NULL ? "SELECT chat, sender, from_me, ts, "
	    "type, status, body, raw FROM messages WHERE id = ?1 AND chat = ?2"
	    : "SELECT chat, sender, from_me, ts, type, status, body, raw FROM "
	    "messages WHERE id = ?1 ORDER BY ts DESC LIMIT 1");
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	if (chat != NULL)
		store_bind_text(st, 2, chat);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ss_copy_col(st, 0, r->chat, sizeof(r->chat));
		ss_copy_col(st, 1, r->sender, sizeof(r->sender));
		r->from_me = sqlite3_column_int(st, 2);
		r->ts = sqlite3_column_int64(st, 3);
		ss_copy_col(st, 4, r->type, sizeof(r->type));
		ss_copy_col(st, 5, r->status, sizeof(r->status));
		if (body != NULL && (t = sqlite3_column_text(st, 6)) != NULL)
			*body = xstrdup((const char *)t);
		if (raw != NULL && (n = sqlite3_column_bytes(st, 7)) > 0) {
			*raw = xmalloc((size_t)n);
			memcpy(*raw, sqlite3_column_blob(st, 7), (size_t)n);
			*rawlen = (size_t)n;
		}
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	store_finish(s, st);
	return rc;
}

int
store_chat_touch(struct store *s, const char *chat, int64_t ts_s,
    int incoming, const char *name)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO chats (jid, name, "
	    "last_message_ts, unread, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (jid) DO UPDATE SET last_message_ts = max(coalesce("
	    "last_message_ts, 0), excluded.last_message_ts), unread = unread "
	    "+ excluded.unread, name = coalesce(excluded.name, name), "
	    "updated_at = excluded.updated_at")) == NULL)
		return -1;
	store_bind_text(st, 1, chat);
	store_bind_text(st, 2, name != NULL && *name ? name : NULL);
	sqlite3_bind_int64(st, 3, ts_s);
	sqlite3_bind_int(st, 4, incoming ? 1 : 0);
	sqlite3_bind_int64(st, 5, (int64_t)ipc_now_ms());
	return store_step_done(s, st);
}

static void
ss_add_text(json_object *o, const char *k, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	json_object_object_add(o, k, t != NULL ?
	    json_object_new_string((const char *)t) : NULL);
}

json_object *
store_chats_json(struct store *s, int limit, int offset, const char *search)
{
	sqlite3_stmt *st;
	json_object *a, *o;
	int rc;

	/* a chat without a name of its own shows the address-book name
	 * (app state) or the push name of the contact */
	if ((st = store_prepare(s, "SELECT c.jid, COALESCE(c.name, k.name, "
	    "k.push_name) AS n, c.last_message_ts, c.unread, c.archived, "
	    "c.pinned, c.muted_until, c.ephemeral FROM chats c LEFT JOIN "
	    "contacts k ON k.jid = c.jid WHERE (?3 IS NULL OR c.jid LIKE '%' || "
	    "?3 || '%' OR n LIKE '%' || ?3 || '%') ORDER BY c.pinned DESC, "
	    "c.last_message_ts DESC LIMIT ?1 OFFSET ?2")) == NULL)
		return NULL;
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	store_bind_text(st, 3, search != NULL && *search ? search : NULL);
	a = json_object_new_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = json_object_new_object();
		ss_add_text(o, "jid", st, 0);
		ss_add_text(o, "name", st, 1);
		json_object_object_add(o, "last_message_time",
		    json_object_new_int64(sqlite3_column_int64(st, 2)));
		json_object_object_add(o, "unread_count",
		    json_object_new_int(sqlite3_column_int(st, 3)));
		json_object_object_add(o, "archived",
		    json_object_new_boolean(sqlite3_column_int(st, 4)));
		json_object_object_add(o, "pinned",
		    json_object_new_boolean(sqlite3_column_int(st, 5)));
		json_object_object_add(o, "muted_until",
		    json_object_new_int64(sqlite3_column_int64(st, 6)));
		json_object_object_add(o, "ephemeral_expiration",
		    json_object_new_int(sqlite3_column_int(st, 7)));
		json_object_array_add(a, o);
	}
	store_finish(s, st);
	if (rc != SQLITE_DONE) {
		json_object_put(a);
		return NULL;
	}
	return a;
}

json_object *
store_chat_messages_json(struct store *s, const char *chat, int limit,
    int offset, const char *search, int64_t *total)
{
	sqlite3_stmt *st;
	json_object *a, *o;
	const unsigned char *t;
	int rc;

	*total = 0;
	if ((st = store_prepare(s, "SELECT count(*) FROM messages WHERE chat = ?"))
	    == NULL)
		return NULL;
	store_bind_text(st, 1, chat);
	if (sqlite3_step(st) == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	store_finish(s, st);
	if ((st = store_prepare(s, "SELECT id, sender, from_me, ts, type, body, "
	    "media, quoted_id, status, starred FROM messages WHERE chat = ?1 AND "
	    "(?4 IS NULL OR body LIKE '%' || ?4 || '%') ORDER BY ts DESC, "
	    "rowid DESC LIMIT ?2 OFFSET ?3")) == NULL)
		return NULL;
	store_bind_text(st, 1, chat);
	sqlite3_bind_int(st, 2, limit);
	sqlite3_bind_int(st, 3, offset);
	store_bind_text(st, 4, search != NULL && *search ? search : NULL);
	a = json_object_new_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = json_object_new_object();
		ss_add_text(o, "id", st, 0);
		json_object_object_add(o, "chat_jid",
		    json_object_new_string(chat));
		ss_add_text(o, "sender_jid", st, 1);
		json_object_object_add(o, "is_from_me",
		    json_object_new_boolean(sqlite3_column_int(st, 2)));
		json_object_object_add(o, "timestamp",
		    json_object_new_int64(sqlite3_column_int64(st, 3)));
		ss_add_text(o, "type", st, 4);
		ss_add_text(o, "content", st, 5);
		if ((t = sqlite3_column_text(st, 6)) != NULL)
			json_object_object_add(o, "media",
			    json_tokener_parse((const char *)t));
		ss_add_text(o, "quoted_message_id", st, 7);
		ss_add_text(o, "status", st, 8);
		json_object_object_add(o, "is_starred",
		    json_object_new_boolean(sqlite3_column_int(st, 9)));
		json_object_array_add(a, o);
	}
	store_finish(s, st);
	if (rc != SQLITE_DONE) {
		json_object_put(a);
		return NULL;
	}
	return a;
}

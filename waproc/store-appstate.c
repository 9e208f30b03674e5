/*
 * store-appstate.c - app state rows of store.db (store-appstate.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "appstate.h"
#include "log.h"
#include "store.h"
#include "store-appstate.h"

/* Copy a blob column into out[max]; 0 or -1 (too long). */
static int
sa_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t max, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);

	if (n < 0 || (size_t)n > max)
		return -1;
	if (n > 0)
		memcpy(out, sqlite3_column_blob(st, col), (size_t)n);
	*len = (size_t)n;
	return 0;
}

int
store_as_key_put(struct store *s, const uint8_t *id, size_t idlen,
    const uint8_t *data, size_t datalen, const uint8_t *fp, size_t fplen,
    int64_t ts)
{
	sqlite3_stmt *st;

	if (idlen == 0 || idlen > APPSTATE_KEYID_MAX || datalen == 0 ||
	    datalen > STORE_AS_KEYDATA_MAX)
		return -1;
	if ((st = store_prepare(s, "INSERT INTO app_state_keys (key_id, "
	    "key_data, fingerprint, ts) VALUES (?1, ?2, ?3, ?4) ON CONFLICT "
	    "(key_id) DO UPDATE SET key_data = ?2, fingerprint = ?3, ts = ?4"))
	    == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, id, (int)idlen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, data, (int)datalen, SQLITE_STATIC);
	if (fp != NULL && fplen > 0)
		sqlite3_bind_blob(st, 3, fp, (int)fplen, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, ts);
	return store_step_done(s, st);
}

int
store_as_key_get(struct store *s, const uint8_t *id, size_t idlen,
    uint8_t *data, size_t *datalen)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "SELECT key_data FROM app_state_keys "
	    "WHERE key_id = ?1")) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, id, (int)idlen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sa_blob(st, 0, data, STORE_AS_KEYDATA_MAX, datalen);
	else
		rc = rc == SQLITE_DONE ? 1 : -1;
	store_finish(s, st);
	return rc;
}

int
store_as_key_latest(struct store *s, uint8_t *id, size_t idmax,
    size_t *idlen, uint8_t *data, size_t *datalen)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "SELECT key_id, key_data FROM "
	    "app_state_keys ORDER BY ts DESC, rowid DESC LIMIT 1")) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sa_blob(st, 0, id, idmax, idlen) == 0 &&
		    sa_blob(st, 1, data, STORE_AS_KEYDATA_MAX, datalen) == 0 ?
		    0 : -1;
	else
		rc = rc == SQLITE_DONE ? 1 : -1;
	store_finish(s, st);
	return rc;
}

int
store_as_key_count(struct store *s)
{
	sqlite3_stmt *st;
	int n = -1;

	if ((st = store_prepare(s, "SELECT count(*) FROM app_state_keys")) ==
	    NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	store_finish(s, st);
	return n;
}

int
store_as_state_load(struct store *s, struct appstate_state *stt)
{
	sqlite3_stmt *st;
	size_t len;
	int rc;

	if ((st = store_prepare(s, "SELECT version, hash FROM "
	    "app_state_versions WHERE name = ?1")) == NULL)
		return -1;
	store_bind_text(st, 1, stt->name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		stt->version = (uint64_t)sqlite3_column_int64(st, 0);
		if (sa_blob(st, 1, stt->hash, sizeof(stt->hash), &len) != 0 ||
		    len != sizeof(stt->hash))
			rc = SQLITE_CORRUPT;
	}
	store_finish(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	if (rc == SQLITE_DONE)
		return 0;
	/* in index MAC order, so every put appends */
	if ((st = store_prepare(s, "SELECT index_mac, value_mac FROM "
	    "app_state_macs WHERE name = ?1 ORDER BY index_mac")) == NULL)
		return -1;
	store_bind_text(st, 1, stt->name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != APPSTATE_MAC_LEN ||
		    sqlite3_column_bytes(st, 1) != APPSTATE_MAC_LEN ||
		    appstate_state_put(stt, sqlite3_column_blob(st, 0),
		    sqlite3_column_blob(st, 1)) != 0) {
			rc = SQLITE_CORRUPT;
			break;
		}
	}
	store_finish(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
mac_put(struct store *s, const char *name, const struct appstate_entry *e)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO app_state_macs (name, "
	    "index_mac, value_mac) VALUES (?1, ?2, ?3) ON CONFLICT (name, "
	    "index_mac) DO UPDATE SET value_mac = ?3")) == NULL)
		return -1;
	store_bind_text(st, 1, name);
	sqlite3_bind_blob(st, 2, e->index_mac, APPSTATE_MAC_LEN,
	    SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, e->value_mac, APPSTATE_MAC_LEN,
	    SQLITE_STATIC);
	return store_step_done(s, st);
}

static int
mac_del(struct store *s, const char *name, const struct appstate_entry *e)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM app_state_macs WHERE name = "
	    "?1 AND index_mac = ?2")) == NULL)
		return -1;
	store_bind_text(st, 1, name);
	sqlite3_bind_blob(st, 2, e->index_mac, APPSTATE_MAC_LEN,
	    SQLITE_STATIC);
	return store_step_done(s, st);
}

int
store_as_state_save(struct store *s, const struct appstate_state *old,
    const struct appstate_state *next)
{
	sqlite3_stmt *st;
	size_t i = 0, j = 0;
	int c;

	if ((st = store_prepare(s, "INSERT INTO app_state_versions (name, "
	    "version, hash) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE "
	    "SET version = ?2, hash = ?3")) == NULL)
		return -1;
	store_bind_text(st, 1, next->name);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)next->version);
	sqlite3_bind_blob(st, 3, next->hash, sizeof(next->hash),
	    SQLITE_STATIC);
	if (store_step_done(s, st) != 0)
		return -1;
	/* both sorted by index MAC: one merge walk writes the difference */
	while (i < old->nentries || j < next->nentries) {
		if (i == old->nentries)
			c = 1;
		else if (j == next->nentries)
			c = -1;
		else
			c = memcmp(old->entries[i].index_mac,
			    next->entries[j].index_mac, APPSTATE_MAC_LEN);
		if (c < 0) {
			if (mac_del(s, next->name, &old->entries[i++]) != 0)
				return -1;
		} else if (c > 0) {
			if (mac_put(s, next->name, &next->entries[j++]) != 0)
				return -1;
		} else {
			if (memcmp(old->entries[i].value_mac,
			    next->entries[j].value_mac, APPSTATE_MAC_LEN) != 0 &&
			    mac_put(s, next->name, &next->entries[j]) != 0)
				return -1;
			i++;
			j++;
		}
	}
	return 0;
}

int
store_as_state_drop(struct store *s, const char *name)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM app_state_macs WHERE name = "
	    "?1")) == NULL)
		return -1;
	store_bind_text(st, 1, name);
	if (store_step_done(s, st) != 0)
		return -1;
	if ((st = store_prepare(s, "DELETE FROM app_state_versions WHERE "
	    "name = ?1")) == NULL)
		return -1;
	store_bind_text(st, 1, name);
	return store_step_done(s, st);
}

/* Run a one-row statement on (chat, id); the id alone when chat matches
 * nothing (an index may name the chat by LID, the store by phone number,
 * or the other way round).  0, 1 no row, -1. */
static int
msg_exec(struct store *s, const char *sql_chat, const char *sql_id,
    const char *chat, const char *id, int v)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, sql_chat)) == NULL)
		return -1;
	store_bind_text(st, 1, chat);
	store_bind_text(st, 2, id);
	sqlite3_bind_int(st, 3, v);
	if (store_step_done(s, st) != 0)
		return -1;
	if (sqlite3_changes(store_db(s)) > 0)
		return 0;
	if ((st = store_prepare(s, sql_id)) == NULL)
		return -1;
	store_bind_text(st, 2, id);
	sqlite3_bind_int(st, 3, v);
	if (store_step_done(s, st) != 0)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 0 : 1;
}

int
store_msg_set_starred(struct store *s, const char *chat, const char *id,
    int starred)
{
	return msg_exec(s, "UPDATE messages SET starred = ?3 WHERE chat = ?1 "
	    "AND id = ?2", "UPDATE messages SET starred = ?3 WHERE id = ?2",
	    chat, id, starred != 0);
}

int
store_msg_delete(struct store *s, const char *chat, const char *id)
{
	/* no ?3: its bind is a harmless SQLITE_RANGE */
	return msg_exec(s, "DELETE FROM messages WHERE chat = ?1 AND id = ?2",
	    "DELETE FROM messages WHERE id = ?2", chat, id, 0);
}

int
store_msg_starred(struct store *s, const char *chat, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "SELECT starred FROM messages WHERE chat = "
	    "?1 AND id = ?2")) == NULL)
		return -1;
	store_bind_text(st, 1, chat);
	store_bind_text(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0) != 0;
	else
		rc = rc == SQLITE_DONE ? 0 : -1;
	store_finish(s, st);
	return rc;
}

int
store_chat_set(struct store *s, const char *chat, const char *column,
    int64_t value)
{
	sqlite3_stmt *st;
	const char *sql;

	if (strcmp(column, "pinned") == 0)
		sql = "INSERT INTO chats (jid, pinned, updated_at) VALUES (?1, "
		    "?2, ?3) ON CONFLICT (jid) DO UPDATE SET pinned = ?2, "
		    "updated_at = ?3";
	else if (strcmp(column, "archived") == 0)
		sql = "INSERT INTO chats (jid, archived, updated_at) VALUES (?1, "
		    "?2, ?3) ON CONFLICT (jid) DO UPDATE SET archived = ?2, "
		    "updated_at = ?3";
	else if (strcmp(column, "muted_until") == 0)
		sql = "INSERT INTO chats (jid, muted_until, updated_at) VALUES "
		    "(?1, ?2, ?3) ON CONFLICT (jid) DO UPDATE SET muted_until = "
		    "?2, updated_at = ?3";
	else
		return -1;
	if ((st = store_prepare(s, sql)) == NULL)
		return -1;
	store_bind_text(st, 1, chat);
	sqlite3_bind_int64(st, 2, value);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	return store_step_done(s, st);
}

int
store_contact_name(struct store *s, const char *jid, const char *name)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO contacts (jid, name, "
	    "updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (jid) DO UPDATE SET "
	    "name = ?2, updated_at = ?3")) == NULL)
		return -1;
	store_bind_text(st, 1, jid);
	store_bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	return store_step_done(s, st);
}

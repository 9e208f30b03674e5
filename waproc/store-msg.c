/*
 * store-msg.c - outbox, message-webhook queue and message rows of the
 * device store (store-msg.h).  Only row reads and writes: opening,
 * migrations and transactions are store.c's; policy (backoff, monotonic
 * states, payloads) is webhook.c's and outbox.c's.  Never logs content.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "store-msg.h"
#include "xmalloc.h"

static char *
sm_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t == NULL ? NULL : xstrdup((const char *)t);
}

/* Step a write statement to completion: 0, 1 duplicate key, -1. */
static int
sm_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st), ext;

	ext = sqlite3_extended_errcode(store_db(s));
	if (rc != SQLITE_DONE && ext != SQLITE_CONSTRAINT_UNIQUE &&
	    ext != SQLITE_CONSTRAINT_PRIMARYKEY)
		log_warnx("store: %s", sqlite3_errmsg(store_db(s)));
	store_finish(s, st);
	if (rc == SQLITE_DONE)
		return 0;
	/* only a duplicate key is "already there"; any other constraint
	 * (CHECK, NOT NULL, a trigger) is an error */
	if (ext == SQLITE_CONSTRAINT_UNIQUE ||
	    ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return 1;
	return -1;
}

/* ---- webhook queue ---- */

int
store_wh_insert(struct store *s, const char *event, const char *event_id,
    const char *payload, const char *const *urls, size_t nurls, int64_t now)
{
	sqlite3_stmt *st;
	int64_t row;
	size_t i, len = 1;
	char *all;
	int rc;

	for (i = 0; i < nurls; i++)
		len += strlen(urls[i]) + 1;
	all = xcalloc(1, len);
	for (i = 0; i < nurls; i++) {
		if (i > 0)
			strncat(all, ",", len - strlen(all) - 1);
		strncat(all, urls[i], len - strlen(all) - 1);
	}
	if ((st = store_prepare(s, "INSERT INTO webhook_queue (event_id, event, "
	    "url, payload, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)"))
	    == NULL) {
		free(all);
		return -1;
	}
	store_bind_text(st, 1, event_id);
	store_bind_text(st, 2, event);
	store_bind_text(st, 3, all);
	store_bind_text(st, 4, payload);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	free(all);
	if ((rc = sm_done(s, st)) != 0)
		return rc;
	row = sqlite3_last_insert_rowid(store_db(s));
	for (i = 0; i < nurls; i++) {
		if ((st = store_prepare(s, "INSERT OR IGNORE INTO webhook_delivery "
		    "(event_row, url, next_at, updated_at) VALUES (?, ?, ?, ?)"))
		    == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, row);
		store_bind_text(st, 2, urls[i]);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, now);
		if (sm_done(s, st) != 0)
			return -1;
	}
	if (nurls == 0 && (st = store_prepare(s, "UPDATE webhook_queue SET "
	    "state = 'delivered' WHERE id = ?")) != NULL) {
		sqlite3_bind_int64(st, 1, row);
		return sm_done(s, st) == 0 ? 0 : -1;
	}
	return 0;
}

int
store_wh_due(struct store *s, int64_t now, struct store_wh_due *out,
    size_t max, store_wh_skip_fn skip, void *arg)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((st = store_prepare(s, "SELECT d.event_row, d.url, q.event, "
	    "q.event_id, q.payload, d.attempts FROM webhook_delivery d "
	    "JOIN webhook_queue q ON q.id = d.event_row WHERE d.state = "
	    "'pending' AND d.next_at <= ? ORDER BY d.next_at, d.event_row "
	    "LIMIT ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max + 64);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t row = sqlite3_column_int64(st, 0);
		const char *url = (const char *)sqlite3_column_text(st, 1);

		if (url == NULL || (skip != NULL && skip(arg, row, url)))
			continue;
		out[n].row = row;
		out[n].url = xstrdup(url);
		out[n].event = sm_col(st, 2);
		out[n].event_id = sm_col(st, 3);
		out[n].payload = sm_col(st, 4);
		out[n].attempts = sqlite3_column_int(st, 5);
		n++;
	}
	store_finish(s, st);
	return (int)n;
}

void
store_wh_due_free(struct store_wh_due *d)
{
	if (d == NULL)
		return;
	free(d->url);
	free(d->event);
	free(d->event_id);
	free(d->payload);
	memset(d, 0, sizeof(*d));
}

static int
sm_next_at(struct store *s, const char *sql, int64_t *at)
{
	sqlite3_stmt *st;
	int rc, ret = -1;

	*at = 0;
	if ((st = store_prepare(s, sql)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			ret = 1;
		else {
			*at = sqlite3_column_int64(st, 0);
			ret = 0;
		}
	}
	store_finish(s, st);
	return ret;
}

int
store_wh_next_at(struct store *s, int64_t *at)
{
	return sm_next_at(s, "SELECT MIN(next_at) FROM webhook_delivery "
	    "WHERE state = 'pending'", at);
}

/* Close the events that have nothing pending any more: event row alone
 * (found by rowid), or every pending event when row is 0 (retarget).  The
 * subqueries reach webhook_delivery by its primary key (event_row, url):
 * "+d.state" keeps the planner off the (state, next_at) index, which would
 * scan every pending delivery for each event closed. */
#define SM_WH_CLOSE "UPDATE webhook_queue SET state = CASE WHEN EXISTS " \
	"(SELECT 1 FROM webhook_delivery d WHERE d.event_row = " \
	"webhook_queue.id AND +d.state = 'dead') THEN 'dead' ELSE " \
	"'delivered' END, attempts = (SELECT COALESCE(MAX(attempts), 0) " \
	"FROM webhook_delivery d WHERE d.event_row = webhook_queue.id) " \
	"WHERE state = 'pending' AND NOT EXISTS (SELECT 1 FROM " \
	"webhook_delivery d WHERE d.event_row = webhook_queue.id AND " \
	"+d.state = 'pending')"

static int
sm_wh_close(struct store *s, int64_t row)
{
	sqlite3_stmt *st;

	if (row == 0)
		st = store_prepare(s, SM_WH_CLOSE);
	else if ((st = store_prepare(s, SM_WH_CLOSE " AND id = ?")) != NULL)
		sqlite3_bind_int64(st, 1, row);
	if (st == NULL)
		return -1;
	return sm_done(s, st) == 0 ? 0 : -1;
}

int
store_wh_result(struct store *s, int64_t row, const char *url,
    const char *state, int attempts, int64_t next_at, int http_status,
    const char *error, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "UPDATE webhook_delivery SET state = ?, "
	    "attempts = ?, next_at = ?, last_status = ?, last_error = ?, "
	    "updated_at = ? WHERE event_row = ? AND url = ?")) == NULL)
		return -1;
	store_bind_text(st, 1, state);
	sqlite3_bind_int(st, 2, attempts);
	sqlite3_bind_int64(st, 3, next_at);
	if (http_status > 0)
		sqlite3_bind_int(st, 4, http_status);
	else
		sqlite3_bind_null(st, 4);
	store_bind_text(st, 5, error);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, row);
	store_bind_text(st, 8, url);
	if (sm_done(s, st) != 0)
		return -1;
	if ((st = store_prepare(s, "UPDATE webhook_queue SET attempts = MAX("
	    "attempts, ?), last_error = ? WHERE id = ?")) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, attempts);
	store_bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, row);
	if (sm_done(s, st) != 0)
		return -1;
	return sm_wh_close(s, row);
}

int
store_wh_retarget(struct store *s, const char *const *urls, size_t nurls,
    int64_t now)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	/* Drop pending deliveries to URLs that are gone. */
	if ((st = store_prepare(s, "SELECT event_row, url FROM webhook_delivery "
	    "WHERE state = 'pending'")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(st, 1);
		sqlite3_stmt *del;

		for (i = 0; i < nurls; i++)
			if (u != NULL && strcmp(u, urls[i]) == 0)
				break;
		if (i < nurls)
			continue;
		if ((del = store_prepare(s, "DELETE FROM webhook_delivery WHERE "
		    "event_row = ? AND url = ?")) == NULL)
			break;
		sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
		store_bind_text(del, 2, u);
		if (sm_done(s, del) != 0)
			break;
	}
	store_finish(s, st);
	if (rc != SQLITE_DONE)
		return -1;
	/* Every listed URL gets the events still pending. */
	for (i = 0; i < nurls; i++) {
		if ((st = store_prepare(s, "INSERT OR IGNORE INTO webhook_delivery "
		    "(event_row, url, next_at, updated_at) SELECT id, ?, ?, ? "
		    "FROM webhook_queue WHERE state = 'pending'")) == NULL)
			return -1;
		store_bind_text(st, 1, urls[i]);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, now);
		if (sm_done(s, st) != 0)
			return -1;
	}
	return sm_wh_close(s, 0);
}

int
store_wh_prune(struct store *s, int64_t before)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "DELETE FROM webhook_delivery WHERE event_row "
	    "IN (SELECT id FROM webhook_queue WHERE state != 'pending' AND "
	    "created_at < ?)")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if (sm_done(s, st) != 0)
		return -1;
	if ((st = store_prepare(s, "DELETE FROM webhook_queue WHERE state != "
	    "'pending' AND created_at < ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if (sm_done(s, st) != 0)
		return -1;
	return sqlite3_changes(store_db(s));
}

/* ---- outbox ---- */

#define OB_COLS "id, chat, kind, request, state, result, last_error, " \
	"attempts, next_at, COALESCE(server_ts, 0), created_at, updated_at"

static void
sm_ob_read(sqlite3_stmt *st, struct store_ob_row *r)
{
	r->id = sm_col(st, 0);
	r->chat = sm_col(st, 1);
	r->kind = sm_col(st, 2);
	r->request = sm_col(st, 3);
	r->state = sm_col(st, 4);
	r->result = sm_col(st, 5);
	r->last_error = sm_col(st, 6);
	r->attempts = sqlite3_column_int(st, 7);
	r->next_at = sqlite3_column_int64(st, 8);
	r->server_ts = sqlite3_column_int64(st, 9);
	r->created_at = sqlite3_column_int64(st, 10);
	r->updated_at = sqlite3_column_int64(st, 11);
}

void
store_ob_row_free(struct store_ob_row *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->chat);
	free(r->kind);
	free(r->request);
	free(r->state);
	free(r->result);
	free(r->last_error);
	memset(r, 0, sizeof(*r));
}

int
store_ob_find(struct store *s, const char *id, const char *key,
    struct store_ob_row *r)
{
	sqlite3_stmt *st;
	int rc, ret = -1;

	memset(r, 0, sizeof(*r));
	if ((st = store_prepare(s, id != NULL ?
	    "SELECT " OB_COLS " FROM outbox WHERE id = ?" :
	    "SELECT " OB_COLS " FROM outbox WHERE idempotency_key = ?"))
	    == NULL)
		return -1;
	store_bind_text(st, 1, id != NULL ? id : key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sm_ob_read(st, r);
		ret = 0;
	} else if (rc == SQLITE_DONE)
		ret = 1;
	else
		log_warnx("store: %s", sqlite3_errmsg(store_db(s)));
	store_finish(s, st);
	return ret;
}

int
store_ob_insert(struct store *s, const char *id, const char *chat,
    const char *key, const char *kind, const char *request,
    const char *result, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT INTO outbox (id, chat, "
	    "idempotency_key, kind, request, result, next_at, created_at, "
	    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL)
		return -1;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, chat);
	store_bind_text(st, 3, key);
	store_bind_text(st, 4, kind);
	store_bind_text(st, 5, request);
	store_bind_text(st, 6, result);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_int64(st, 9, now);
	return sm_done(s, st);
}

int
store_ob_update(struct store *s, const struct store_ob_row *r, int64_t now)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "UPDATE outbox SET state = ?, attempts = ?, "
	    "next_at = ?, server_ts = ?, last_error = ?, updated_at = ? "
	    "WHERE id = ?")) == NULL)
		return -1;
	store_bind_text(st, 1, r->state);
	sqlite3_bind_int(st, 2, r->attempts);
	sqlite3_bind_int64(st, 3, r->next_at);
	if (r->server_ts > 0)
		sqlite3_bind_int64(st, 4, r->server_ts);
	else
		sqlite3_bind_null(st, 4);
	store_bind_text(st, 5, r->last_error);
	sqlite3_bind_int64(st, 6, now);
	store_bind_text(st, 7, r->id);
	if ((rc = sm_done(s, st)) != 0)
		return -1;
	return sqlite3_changes(store_db(s)) == 0 ? 1 : 0;
}

int
store_ob_due(struct store *s, int64_t now, struct store_ob_row *out,
    size_t max)
{
	sqlite3_stmt *st;
	size_t n = 0;

	if ((st = store_prepare(s, "SELECT " OB_COLS " FROM outbox WHERE state = "
	    "'queued' AND next_at <= ? ORDER BY next_at, created_at LIMIT ?"))
	    == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while (n < max && sqlite3_step(st) == SQLITE_ROW)
		sm_ob_read(st, &out[n++]);
	store_finish(s, st);
	return (int)n;
}

int
store_ob_next_at(struct store *s, int64_t *at)
{
	return sm_next_at(s, "SELECT MIN(next_at) FROM outbox WHERE state = "
	    "'queued'", at);
}

/* ---- messages ---- */

int
store_msg_put(struct store *s, const struct store_msg *m)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "INSERT OR IGNORE INTO messages (chat, id, "
	    "sender, from_me, ts, type, body, media, quoted_id, status, raw) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL)
		return -1;
	store_bind_text(st, 1, m->chat);
	store_bind_text(st, 2, m->id);
	store_bind_text(st, 3, m->sender);
	sqlite3_bind_int(st, 4, m->from_me ? 1 : 0);
	sqlite3_bind_int64(st, 5, m->ts);
	store_bind_text(st, 6, m->type);
	store_bind_text(st, 7, m->body);
	store_bind_text(st, 8, m->media);
	store_bind_text(st, 9, m->quoted_id);
	store_bind_text(st, 10, m->status != NULL ? m->status : "received");
	if (m->raw != NULL)
		sqlite3_bind_blob(st, 11, m->raw, (int)m->rawlen,
		    SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 11);
	if (sm_done(s, st) != 0)
		return -1;
	return sqlite3_changes(store_db(s)) == 0 ? 1 : 0;
}

int
store_msg_set_status(struct store *s, const char *chat, const char *id,
    const char *status)
{
	sqlite3_stmt *st;

	if ((st = store_prepare(s, "UPDATE messages SET status = ? WHERE chat = ? "
	    "AND id = ?")) == NULL)
		return -1;
	store_bind_text(st, 1, status);
	store_bind_text(st, 2, chat);
	store_bind_text(st, 3, id);
	if (sm_done(s, st) != 0)
		return -1;
	return sqlite3_changes(store_db(s)) == 0 ? 1 : 0;
}

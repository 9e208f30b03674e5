-- 004_outbox_indexes.sql - fewer index pages written per send.  Each
-- accepted send inserts an outbox row and changes its state two or three
-- times (sent, delivered, read); every index it is in is one more page in
-- each of those commits.
-- - The due index holds only the rows that can still be due: a row leaves
--   it when the server acks it, and delivered / read do not touch it.
-- - The idempotency key is unique where there is one; the rows without a
--   key (most of them) are in no key index.
-- The table is rebuilt: the key's uniqueness was part of its definition.

CREATE TABLE outbox_new (
	id		TEXT PRIMARY KEY,	-- WhatsApp message id
	chat		TEXT NOT NULL,
	idempotency_key	TEXT,
	request		TEXT NOT NULL,		-- the API request (JSON)
	state		TEXT NOT NULL DEFAULT 'queued'
			    CHECK (state IN ('queued', 'sent', 'delivered',
			    'read', 'failed')),
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	last_error	TEXT,
	result		TEXT,			-- the reply given to the API
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	kind		TEXT NOT NULL DEFAULT 'text',
	server_ts	INTEGER			-- unix seconds
);
INSERT INTO outbox_new (id, chat, idempotency_key, request, state, attempts,
    next_at, last_error, result, created_at, updated_at, kind, server_ts)
    SELECT id, chat, idempotency_key, request, state, attempts, next_at,
    last_error, result, created_at, updated_at, kind, server_ts FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE UNIQUE INDEX outbox_key ON outbox (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbox_due ON outbox (next_at, created_at)
    WHERE state = 'queued';

-- 002_msg_delivery.sql - message webhooks tracked per URL (one event to a
-- comma list of URLs: each URL has its own attempts, backoff and state; the
-- webhook_queue row is the event, pending until every URL is done), and
-- the outbox keeps the send kind and the server timestamp of the ack.

CREATE TABLE webhook_delivery (
	event_row	INTEGER NOT NULL
			    REFERENCES webhook_queue (id) ON DELETE CASCADE,
	url		TEXT NOT NULL,
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	state		TEXT NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'delivered', 'dead')),
	last_status	INTEGER,		-- HTTP status of the last attempt
	last_error	TEXT,
	updated_at	INTEGER NOT NULL,
	PRIMARY KEY (event_row, url)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (state, next_at);

ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE outbox ADD COLUMN server_ts INTEGER;	-- unix seconds

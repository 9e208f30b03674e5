-- 001_init.sql - registry.db (devmgr only): users, devices, the durable
-- status-webhook queue and the audit trail.  Times are Unix milliseconds
-- (UTC); devmgr formats them as ISO-8601.  Forward-only: never edit a
-- migration once committed, add NNN+1_*.sql instead.

CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	username	TEXT NOT NULL UNIQUE,
	role		TEXT NOT NULL CHECK (role IN ('admin', 'user')),
	password_hash	TEXT NOT NULL,		-- argon2id, crypto_pwhash_str
	active		INTEGER NOT NULL DEFAULT 1,
	created_at	INTEGER NOT NULL,
	last_login	INTEGER
);

CREATE TABLE devices (
	id			INTEGER PRIMARY KEY,
	hash			TEXT NOT NULL UNIQUE CHECK (length(hash) = 16),
	owner			TEXT NOT NULL,
	name			TEXT,
	webhook_url		TEXT,
	webhook_secret		TEXT,
	status_webhook_url	TEXT,
	status_webhook_secret	TEXT,
	desired_state		TEXT NOT NULL DEFAULT 'stopped'
				    CHECK (desired_state IN ('running', 'stopped')),
	status			TEXT NOT NULL DEFAULT 'registered',
	jid			TEXT,
	push_name		TEXT,
	pid			INTEGER,
	restarts		INTEGER NOT NULL DEFAULT 0,
	created_at		INTEGER NOT NULL,
	updated_at		INTEGER NOT NULL,
	last_seen		INTEGER
);
CREATE INDEX devices_owner ON devices (owner, created_at);
CREATE INDEX devices_created ON devices (created_at);
CREATE INDEX devices_status ON devices (status);
CREATE INDEX devices_desired ON devices (desired_state);

-- One row per status webhook to deliver.  The secret is not copied here:
-- `device` is the reference, the current statusWebhookSecret is read when
-- the request is signed.  Rows go with their device.
CREATE TABLE status_webhook_queue (
	id		INTEGER PRIMARY KEY,
	device		TEXT NOT NULL REFERENCES devices (hash) ON DELETE CASCADE,
	event_id	TEXT NOT NULL UNIQUE,
	url		TEXT NOT NULL,
	payload		TEXT NOT NULL,
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	state		TEXT NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'delivered', 'dead')),
	last_error	TEXT,
	created_at	INTEGER NOT NULL
);
CREATE INDEX status_webhook_due ON status_webhook_queue (state, next_at);
CREATE INDEX status_webhook_device ON status_webhook_queue (device);

CREATE TABLE audit (
	id	INTEGER PRIMARY KEY,
	ts	INTEGER NOT NULL,
	who	TEXT NOT NULL,
	action	TEXT NOT NULL,
	device	TEXT
);
CREATE INDEX audit_ts ON audit (ts);

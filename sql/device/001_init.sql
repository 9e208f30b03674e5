-- 001_init.sql - store.db of one device (its waproc only).  Times are Unix
-- milliseconds.  Blobs hold raw keys / serialized records; key material may
-- be sealed with the master key when one is configured.  Forward-only:
-- never edit a committed migration, add NNN+1_*.sql instead.

-- Small named values: noise key, identity key pair, registration id, adv
-- secret, signed pre-key id, me (jid, lid, push name), platform, ...
CREATE TABLE credentials (
	name	TEXT PRIMARY KEY,
	value	BLOB NOT NULL
);

-- Signal protocol state.
CREATE TABLE identity_keys (			-- remote identities (trust on first use)
	address		TEXT PRIMARY KEY,	-- "user[:device]@server" signal address
	key		BLOB NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE TABLE prekeys (
	id		INTEGER PRIMARY KEY,
	record		BLOB NOT NULL,
	uploaded	INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE signed_prekeys (
	id		INTEGER PRIMARY KEY,
	record		BLOB NOT NULL,
	created_at	INTEGER NOT NULL
);
CREATE TABLE sessions (
	address		TEXT PRIMARY KEY,
	record		BLOB NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE TABLE sender_keys (
	group_id	TEXT NOT NULL,
	sender		TEXT NOT NULL,
	record		BLOB NOT NULL,
	updated_at	INTEGER NOT NULL,
	PRIMARY KEY (group_id, sender)
);
CREATE TABLE sender_key_shared (		-- who already got our sender key
	group_id	TEXT NOT NULL,
	address		TEXT NOT NULL,
	PRIMARY KEY (group_id, address)
);
CREATE TABLE app_state_keys (
	key_id		BLOB PRIMARY KEY,
	key_data	BLOB NOT NULL,
	fingerprint	BLOB,
	ts		INTEGER NOT NULL
);
CREATE TABLE app_state_versions (
	name		TEXT PRIMARY KEY,	-- critical_block, regular, ...
	version		INTEGER NOT NULL,
	hash		BLOB NOT NULL
);

-- LID <-> phone-number JID mapping.
CREATE TABLE lid_map (
	lid		TEXT PRIMARY KEY,
	pn		TEXT NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE INDEX lid_map_pn ON lid_map (pn);

CREATE TABLE contacts (
	jid		TEXT PRIMARY KEY,
	name		TEXT,			-- from the address book (app state)
	push_name	TEXT,
	business_name	TEXT,
	updated_at	INTEGER NOT NULL
);

CREATE TABLE chats (
	jid		TEXT PRIMARY KEY,
	name		TEXT,
	last_message_ts	INTEGER,
	unread		INTEGER NOT NULL DEFAULT 0,
	archived	INTEGER NOT NULL DEFAULT 0,
	pinned		INTEGER NOT NULL DEFAULT 0,
	muted_until	INTEGER NOT NULL DEFAULT 0,
	ephemeral	INTEGER NOT NULL DEFAULT 0,
	updated_at	INTEGER NOT NULL
);

CREATE TABLE messages (
	chat		TEXT NOT NULL,
	id		TEXT NOT NULL,
	sender		TEXT,
	from_me		INTEGER NOT NULL DEFAULT 0,
	ts		INTEGER NOT NULL,
	type		TEXT NOT NULL,		-- text, image, video, ...
	body		TEXT,
	media		TEXT,			-- JSON: url, direct path, keys, mime
	quoted_id	TEXT,
	status		TEXT NOT NULL DEFAULT 'received',
	raw		BLOB,			-- serialized Message protobuf
	PRIMARY KEY (chat, id)
);
CREATE INDEX messages_chat_ts ON messages (chat, ts);

-- Accepted sends: in here before the API's 2xx leaves.
CREATE TABLE outbox (
	id		TEXT PRIMARY KEY,	-- WhatsApp message id
	chat		TEXT NOT NULL,
	idempotency_key	TEXT UNIQUE,
	request		TEXT NOT NULL,		-- the API request (JSON)
	state		TEXT NOT NULL DEFAULT 'queued'
			    CHECK (state IN ('queued', 'sent', 'delivered',
			    'read', 'failed')),
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	last_error	TEXT,
	result		TEXT,			-- the reply given to the API
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_at);

-- Message webhooks: at-least-once, stable event id, dead-letter.
CREATE TABLE webhook_queue (
	id		INTEGER PRIMARY KEY,
	event_id	TEXT NOT NULL UNIQUE,
	event		TEXT NOT NULL,
	url		TEXT NOT NULL,
	payload		TEXT NOT NULL,
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	state		TEXT NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'delivered', 'dead')),
	last_error	TEXT,
	created_at	INTEGER NOT NULL
);
CREATE INDEX webhook_queue_due ON webhook_queue (state, next_at);

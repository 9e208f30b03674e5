-- 003_app_state.sql - app state ("syncd", PROTOCOL.md 10.2): what each
-- collection's integrity check needs between syncs (the index MAC -> value
-- MAC of every live entry; version and LTHash stay in app_state_versions),
-- and the per-message star the regular_high collection carries.

CREATE TABLE app_state_macs (
	name		TEXT NOT NULL,		-- collection
	index_mac	BLOB NOT NULL,
	value_mac	BLOB NOT NULL,
	PRIMARY KEY (name, index_mac)
) WITHOUT ROWID;

ALTER TABLE messages ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;

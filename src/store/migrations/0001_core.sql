-- Core tables of the appliance spine.
-- Facts about this instance (instance id, creation time, ...). Values are text.
CREATE TABLE instance_meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO instance_meta (key, value) VALUES ('instance_id', lower(hex(randomblob(16))));
INSERT INTO instance_meta (key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

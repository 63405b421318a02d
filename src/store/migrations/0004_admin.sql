-- Administration: trusted backup signers, maintenance circuit breaker, installed license,
-- organizations (with wrapped per-org keys). Admin events go to audit_log (migration 2).

-- Other instances whose signed backups this instance accepts. This is trust configuration
-- of this instance: a restore keeps the current rows instead of the backup's.
CREATE TABLE trusted_signers (
    fingerprint    TEXT PRIMARY KEY,              -- lower hex SHA-256 of the DER SPKI
    label          TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    added_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The maintenance circuit breaker; exactly one row.
CREATE TABLE maintenance_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    active     INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    reason     TEXT,
    tripped_at TEXT,
    tripped_by TEXT
);
INSERT INTO maintenance_state (id, active) VALUES (1, 0);

-- The license installed with `rampart admin license install`; at most one row.
CREATE TABLE license_install (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    licensee     TEXT NOT NULL,
    installed_at TEXT NOT NULL
);

-- Organizations. With per-org isolation, wrapped_dek (AES-256-GCM under the master key)
-- opens orgs/<id>.db, and signing_key_sealed is the org's backup signing key sealed by the
-- DEK. Crypto-shred nulls both and sets shredded_at; the row stays.
CREATE TABLE orgs (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    slug               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    shredded_at        TEXT,
    wrapped_dek        BLOB,
    signing_key_sealed BLOB,
    signing_key_fingerprint TEXT
);

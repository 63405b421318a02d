-- Local identity: users, workspaces, sessions, API keys, MFA factors, login throttling.
-- Secrets are never stored in the clear: passwords as argon2id PHC strings, session tokens,
-- API keys and recovery codes as SHA-256 hashes, TOTP secrets AES-256-GCM encrypted.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,                      -- UUIDv4
    email               TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name        TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('user', 'admin', 'superadmin')),
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);

CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,                        -- UUIDv4
    name              TEXT NOT NULL,
    personal_owner_id TEXT UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    org_id            TEXT,
    created_at        TEXT NOT NULL
);

CREATE TABLE workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    added_at     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user ON workspace_members(user_id);

CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,                          -- hex SHA-256 of the cookie value
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    mfa_satisfied   INTEGER NOT NULL,                          -- 1 when logged in with a second factor
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    absolute_expiry TEXT NOT NULL,
    ip              TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,                             -- UUIDv4
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope        TEXT NOT NULL CHECK (scope IN ('developer', 'verifier')),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,                                -- first characters, for recognition
    key_hash     TEXT NOT NULL UNIQUE,                         -- hex SHA-256 of the whole key
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_user ON api_keys(user_id);

-- Failed logins per subject ('account:<email>' or 'ip:<addr>'), for exponential backoff.
CREATE TABLE login_throttle (
    subject         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at TEXT NOT NULL,
    locked_until    TEXT
);

CREATE TABLE mfa_totp (
    user_id        TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc     BLOB NOT NULL,                              -- nonce || AES-256-GCM ciphertext
    enabled_at     TEXT NOT NULL,
    last_used_step INTEGER NOT NULL DEFAULT 0                  -- replay guard: highest accepted time step
);

-- A TOTP secret being enrolled or reconfigured; becomes active only after a valid code.
CREATE TABLE mfa_totp_pending (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_enc BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   TEXT
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes(user_id);

CREATE TABLE webauthn_credentials (
    id           TEXT PRIMARY KEY,                             -- base64url credential id
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    passkey      TEXT NOT NULL,                                -- webauthn-rs Passkey, JSON
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);

-- Short-lived ceremony state: pre-auth tokens after a correct password, WebAuthn challenges.
CREATE TABLE auth_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('pre_auth', 'webauthn_register', 'webauthn_login')),
    state      TEXT NOT NULL DEFAULT '',
    expires_at TEXT NOT NULL
);

-- Security-relevant events (logins, user changes, key creation...) for the audit trail.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log(at);

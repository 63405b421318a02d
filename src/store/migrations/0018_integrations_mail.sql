-- Jira and Confluence (organization integrations), the outgoing mail queue, admin-issued
-- password reset links and self-service signup.

-- ---------------------------------------------------------------- platform data

-- An organization's Jira or Confluence connection. `settings` is JSON without secrets (base
-- URL, project/space, issue type, statuses...). The API token (and Jira's webhook secret) are
-- sealed with AES-256-GCM under a key derived from the master key, bound to the org and the
-- kind; they are never returned by the API. Deleting the org deletes them; crypto-shred
-- deletes them too.
CREATE TABLE org_integrations (
    org_id                TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind                  TEXT NOT NULL CHECK (kind IN ('jira', 'confluence')),
    settings              TEXT NOT NULL,
    token_sealed          BLOB NOT NULL,
    webhook_secret_sealed BLOB,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    updated_by            TEXT REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (org_id, kind)
);

-- Outgoing email. Every message is queued here first and sent by the server's mail worker
-- (or inline right after queuing), retried with backoff; failures stay visible to admins.
-- Bodies of sent messages are blanked (they may hold links or codes).
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);

-- Password reset links issued by an admin: only the SHA-256 of the token is stored; single
-- use, short-lived; a newer link for the same user replaces older ones.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- Self-service signups waiting for their emailed 6-digit code (SIGNUP_ENABLED). The code is
-- stored as a keyed hash; the password as its argon2 hash.
CREATE TABLE signup_requests (
    email         TEXT PRIMARY KEY COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sends         INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    last_sent_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);

-- ---------------------------------------------------------------- tenant data

-- Jira issues linked to a model: its container (or the source issue it was generated from,
-- control_id '') and one issue per control. Links of dropped controls stay (tombstones keep
-- the control) with the state of their "Won't Do" transition.
CREATE TABLE jira_links (
    workspace_id   TEXT NOT NULL,
    model_id       TEXT NOT NULL,
    control_id     TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('container', 'source', 'control')),
    issue_key      TEXT NOT NULL,
    issue_id       TEXT NOT NULL DEFAULT '',
    issue_url      TEXT NOT NULL,
    content_hash   TEXT NOT NULL DEFAULT '',
    jira_status    TEXT NOT NULL DEFAULT '',
    sync_note      TEXT NOT NULL DEFAULT '',
    dropped_at     TEXT,
    dropped_reason TEXT,
    wont_do_at     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (model_id, control_id)
);
CREATE INDEX jira_links_issue ON jira_links(issue_key);
CREATE INDEX jira_links_workspace ON jira_links(workspace_id);

-- The Confluence page a model is synced to.
CREATE TABLE confluence_pages (
    workspace_id         TEXT NOT NULL,
    model_id             TEXT PRIMARY KEY,
    page_id              TEXT NOT NULL,
    page_url             TEXT NOT NULL,
    title                TEXT NOT NULL,
    page_version         INTEGER NOT NULL,
    synced_model_version INTEGER NOT NULL,
    diagram_hash         TEXT NOT NULL DEFAULT '',
    synced_at            TEXT NOT NULL
);
CREATE INDEX confluence_pages_workspace ON confluence_pages(workspace_id);

-- Work for Jira/Confluence, persisted in the same transaction as the change that causes it
-- so nothing is lost while they are down or the server restarts. At most one pending item
-- per (model, kind, control).
CREATE TABLE integration_outbox (
    id              INTEGER PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('jira_export', 'jira_wont_do', 'confluence_sync')),
    control_id      TEXT NOT NULL DEFAULT '',
    detail          TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    actor_id        TEXT,
    -- Bumped when the same work is asked for again while an attempt may be running: that
    -- attempt then leaves the item pending instead of marking the newer request done.
    generation      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX integration_outbox_pending
    ON integration_outbox(model_id, kind, control_id) WHERE status = 'pending';
CREATE INDEX integration_outbox_due ON integration_outbox(status, next_attempt_at);
CREATE INDEX integration_outbox_workspace ON integration_outbox(workspace_id);

-- The Jira issue a model was generated from (its source badge says Jira; exported controls
-- go under that issue instead of a container).
ALTER TABLE models ADD COLUMN source_issue TEXT;

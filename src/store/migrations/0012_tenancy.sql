-- Teams and tenancy: workspace roles (owner > admin > member > viewer), team workspaces,
-- invitations, organization members and limits, and where an organization's data lives.

-- Workspace roles grow from owner/member to four; SQLite cannot alter a CHECK, so the table
-- is rebuilt (nothing references it).
CREATE TABLE workspace_members_v8 (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    added_at     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
INSERT INTO workspace_members_v8 (workspace_id, user_id, role, added_at)
    SELECT workspace_id, user_id, role, added_at FROM workspace_members;
DROP TABLE workspace_members;
ALTER TABLE workspace_members_v8 RENAME TO workspace_members;
CREATE INDEX workspace_members_user ON workspace_members(user_id);

ALTER TABLE workspaces ADD COLUMN created_by TEXT;
CREATE INDEX workspaces_org ON workspaces(org_id);

-- One-time invitation links. Only the SHA-256 of the token is stored; a link is single use
-- and expires.
CREATE TABLE workspace_invitations (
    id           TEXT PRIMARY KEY,                          -- inv_<hex>
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email        TEXT NOT NULL COLLATE NOCASE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    emailed_at   TEXT,
    accepted_at  TEXT,
    accepted_by  TEXT REFERENCES users(id) ON DELETE SET NULL,
    revoked_at   TEXT
);
CREATE INDEX workspace_invitations_ws ON workspace_invitations(workspace_id);

-- Organization members: `org_admin` manages the org's workspaces and members; `member`
-- belongs to the org (counted against max_members).
CREATE TABLE org_members (
    org_id   TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('org_admin', 'member')),
    added_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

-- Per-org limits (0 = unlimited) and where the org's tenant data lives: 'platform' (this
-- database) or 'org' (orgs/<id>.db under the org's DEK). Orgs that already have their own
-- database hold no tenant data elsewhere (nothing could be routed to them before), so they
-- start in 'org'.
ALTER TABLE orgs ADD COLUMN max_workspaces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN max_members INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN data_location TEXT NOT NULL DEFAULT 'platform'
    CHECK (data_location IN ('platform', 'org'));
ALTER TABLE orgs ADD COLUMN updated_at TEXT;
UPDATE orgs SET data_location = 'org' WHERE wrapped_dek IS NOT NULL;

-- Cached LLM answers are tenant data (they quote the models); they now live beside the
-- workspace's models, keyed by workspace too, so crypto-shred erases them with the rest.
DROP TABLE llm_cache;
CREATE TABLE llm_cache (
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, user_id, request_hash)
);
CREATE INDEX llm_cache_last_used ON llm_cache (last_used);

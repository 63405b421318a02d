-- Issue 24 (OAuth 2.1 for agents, MCP authorization): the appliance is its own
-- authorization server. Platform data (identity), like api_keys: in an org database these
-- tables stay empty. Every secret (authorization code, access and refresh token) is stored
-- only as its SHA-256; the value itself is shown once, to the client.

-- Clients registered with Dynamic Client Registration (RFC 7591). Public clients only
-- (token_endpoint_auth_method "none"): PKCE is what binds a code to its client.
CREATE TABLE oauth_clients (
    id             TEXT PRIMARY KEY,                  -- the client_id (oc_ + base62)
    name           TEXT NOT NULL,                     -- client_name, shown on the consent page
    redirect_uris  TEXT NOT NULL,                     -- JSON array, exactly as registered
    metadata       TEXT NOT NULL,                     -- JSON: the registered metadata echoed back
    created_at     TEXT NOT NULL,
    created_ip     TEXT NOT NULL DEFAULT '',
    last_used_at   TEXT,                              -- last authorization (unused clients are pruned)
    revoked_at     TEXT
);

-- One authorization of a client by a user (consent): bound to a workspace, a scope and an
-- audience (RFC 8707 resource). Its refresh tokens form one family: reusing a rotated
-- refresh token revokes the grant and every token of it.
CREATE TABLE oauth_grants (
    id             TEXT PRIMARY KEY,                  -- UUIDv4
    client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL CHECK (scope IN ('developer', 'verifier')),
    resource       TEXT NOT NULL,                     -- the audience tokens of this grant serve
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX oauth_grants_user ON oauth_grants(user_id);
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);

-- Authorization codes (single use, minutes): PKCE S256 challenge and the exact redirect URI
-- they were issued for. `grant_id` is set when exchanged, so a replayed code revokes what
-- it produced.
CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL CHECK (scope IN ('developer', 'verifier')),
    resource       TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,
    grant_id       TEXT
);

-- Access tokens (short-lived) and refresh tokens (rotated on every use) of a grant.
CREATE TABLE oauth_tokens (
    token_hash     TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,                              -- refresh: when it was rotated
    revoked_at     TEXT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens(grant_id);

-- Issue 15 (evidence): OIDC audience per workspace, and replay protection for the bearer
-- JWTs of the spec's manual CI flow.

-- The audience OIDC tokens must carry for this workspace; '' means the appliance's public URL.
ALTER TABLE workspace_security ADD COLUMN oidc_audience TEXT NOT NULL DEFAULT '';

-- Every bearer JWT id (`jti`) seen, until the token expires: a token is accepted once.
CREATE TABLE bearer_jti (
    workspace_id TEXT NOT NULL,
    jti          TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, jti)
);
CREATE INDEX bearer_jti_expiry ON bearer_jti (expires_at);

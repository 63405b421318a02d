-- Models generated from a Jira issue, and members' own Atlassian accounts.

-- One model per Jira issue in a workspace: generating again from the same issue answers
-- with the existing model instead of a second one.
CREATE UNIQUE INDEX models_source_issue
    ON models(workspace_id, source_issue) WHERE source_issue IS NOT NULL;

-- A member's own Atlassian account on their organization's Jira site (Settings ›
-- Integrations › Jira). Work the member asks for (exports, reading a source issue) runs as
-- them, so Jira shows who did it and their own permissions apply. The token is sealed like
-- the org's (AES-256-GCM, key derived from the master key) and bound to the org and user;
-- it is never returned. Leaving the org, deleting the user or the org's crypto-shred
-- deletes it.
CREATE TABLE atlassian_accounts (
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_type     TEXT NOT NULL CHECK (auth_type IN ('pat', 'basic')),
    email         TEXT,
    token_sealed  BLOB NOT NULL,
    jira_name     TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    connected_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

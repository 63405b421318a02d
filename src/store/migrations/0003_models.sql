-- Threat models. The model itself is the domain aggregate serialized as JSON (`document`);
-- the columns beside it are what lists, filters and tenancy checks need without parsing it.
-- No foreign key to workspaces: with org isolation the same tables live in per-org
-- databases where the workspace rows are not.

CREATE TABLE models (
    id                  TEXT PRIMARY KEY,                   -- UUIDv4
    workspace_id        TEXT NOT NULL,
    title               TEXT NOT NULL,
    source              TEXT NOT NULL CHECK (source IN ('web', 'mcp', 'api')),
    version             INTEGER NOT NULL,
    document            TEXT NOT NULL,                      -- domain::ThreatModel, JSON
    repo_url            TEXT,
    generation_steps    TEXT NOT NULL DEFAULT '[]',         -- thought process per pipeline step, JSON
    badge_enabled       INTEGER NOT NULL DEFAULT 0,
    created_by          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX models_workspace ON models(workspace_id, updated_at);

-- Every saved version, for history and audit.
CREATE TABLE model_versions (
    model_id   TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    change     TEXT NOT NULL,
    actor_id   TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);

-- The conversation panel of a model.
CREATE TABLE conversation_messages (
    id         INTEGER PRIMARY KEY,
    model_id   TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    intent     TEXT NOT NULL DEFAULT '',
    content    TEXT NOT NULL,
    actor_id   TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX conversation_model ON conversation_messages(model_id, id);

-- Lifecycle events shown in the activity feed (generation, refinement, export, deletion...).
-- Kept after a model is deleted, so the feed can say so.
CREATE TABLE activity (
    id           INTEGER PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    model_id     TEXT,
    kind         TEXT NOT NULL,
    summary      TEXT NOT NULL,
    source       TEXT NOT NULL,
    actor_id     TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX activity_workspace ON activity(workspace_id, id);

-- Systems: named groups of models (MCP create_system / add_model_to_system).
CREATE TABLE systems (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);
CREATE TABLE system_models (
    system_id TEXT NOT NULL REFERENCES systems(id) ON DELETE CASCADE,
    model_id  TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    PRIMARY KEY (system_id, model_id)
);

-- LLM engine: per-user response cache and per-call usage records (telemetry, fair use).
-- Timestamps are UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ` so they compare as text.

CREATE TABLE llm_cache (
    user_id      TEXT NOT NULL,
    request_hash TEXT NOT NULL,          -- sha256 hex of model + messages
    response     TEXT NOT NULL,          -- the validated message content
    created_at   TEXT NOT NULL,
    last_used    TEXT NOT NULL,
    PRIMARY KEY (user_id, request_hash)
);
CREATE INDEX llm_cache_last_used ON llm_cache (last_used);

CREATE TABLE llm_usage (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           TEXT,               -- NULL for calls outside a user operation
    trace_id          TEXT NOT NULL,      -- one per user operation
    model             TEXT NOT NULL,
    template          TEXT NOT NULL,      -- pipeline step
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens      INTEGER NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    cache_hit         INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    created_at        TEXT NOT NULL
);
CREATE INDEX llm_usage_user_time ON llm_usage (user_id, created_at);
CREATE INDEX llm_usage_time ON llm_usage (created_at);

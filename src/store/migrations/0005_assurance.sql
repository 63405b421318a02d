-- Assurance: typed assertions about code, CI verification runs and their per-tier results,
-- drift, sufficiency per control, latest verified commit per repo, workspace CI attestation
-- keys and policy, and negative findings. As with models, no foreign key to workspaces.

CREATE TABLE assertions (
    id               TEXT PRIMARY KEY,                 -- asrt_<hex>
    model_id         TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    control_id       TEXT,
    assumption_id    TEXT,
    type             TEXT NOT NULL,
    params           TEXT NOT NULL,                    -- JSON exactly as submitted; hashed by CI
    description      TEXT NOT NULL,
    repo             TEXT,
    origin           TEXT NOT NULL,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    coherent         INTEGER NOT NULL DEFAULT 1,
    coherence_reason TEXT NOT NULL DEFAULT '',
    tier2_prompt     TEXT NOT NULL DEFAULT '',
    tier1_status     TEXT NOT NULL DEFAULT 'pending' CHECK (tier1_status IN ('pending', 'pass', 'fail', 'skipped')),
    tier1_details    TEXT NOT NULL DEFAULT '',
    tier1_at         TEXT,
    tier1_run_id     TEXT,
    tier2_status     TEXT NOT NULL DEFAULT 'pending' CHECK (tier2_status IN ('pending', 'pass', 'fail', 'skipped')),
    tier2_details    TEXT NOT NULL DEFAULT '',
    tier2_reasoning  TEXT NOT NULL DEFAULT '',
    tier2_at         TEXT,
    tier2_run_id     TEXT,
    ever_passed      INTEGER NOT NULL DEFAULT 0        -- passed tier 1 at least once (drift baseline)
);
CREATE INDEX assertions_model ON assertions(model_id, control_id);

CREATE TABLE verification_runs (
    id                 TEXT PRIMARY KEY,               -- run_<hex>
    model_id           TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    workspace_id       TEXT NOT NULL,
    tier               INTEGER NOT NULL,
    pipeline           TEXT NOT NULL,                  -- JSON as received
    commit_sha         TEXT NOT NULL DEFAULT '',
    branch             TEXT NOT NULL DEFAULT '',
    repo               TEXT NOT NULL DEFAULT '',
    content_hash       TEXT NOT NULL DEFAULT '',
    attestation        TEXT NOT NULL,                  -- workspace_ecdsa | customer_dsse | sigstore | oidc | unsigned
    signature          TEXT,
    signed_hash        TEXT,
    signer_fingerprint TEXT,
    signed_text        TEXT,                           -- exactly the bytes the signature covers (audit)
    bundle             TEXT,
    dsse_bundle        TEXT,
    oidc_claims        TEXT,
    notary_signature   TEXT,
    notary_fingerprint TEXT,
    results            TEXT NOT NULL,                  -- JSON rows as received
    submitted_by       TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX verification_runs_model ON verification_runs(model_id, created_at);

CREATE TABLE drift_items (
    id           INTEGER PRIMARY KEY,
    model_id     TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    assertion_id TEXT NOT NULL,
    control_id   TEXT,
    run_id       TEXT NOT NULL,
    details      TEXT NOT NULL,
    detected_at  TEXT NOT NULL,
    resolved_at  TEXT
);
CREATE INDEX drift_items_model ON drift_items(model_id);

CREATE TABLE control_sufficiency (
    model_id     TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    control_id   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('sufficient', 'insufficient', 'pending')),
    details      TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    PRIMARY KEY (model_id, control_id)
);

CREATE TABLE repo_commits (
    model_id    TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    repo        TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    branch      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (model_id, repo)
);

-- CI signing keys per workspace; uploading a new one revokes the old (history kept for audit).
CREATE TABLE ci_keys (
    fingerprint    TEXT NOT NULL,
    workspace_id   TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created_by     TEXT,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    PRIMARY KEY (workspace_id, fingerprint)
);

CREATE TABLE workspace_security (
    workspace_id        TEXT PRIMARY KEY,
    require_attestation INTEGER NOT NULL DEFAULT 0,
    trusted_issuers     TEXT NOT NULL DEFAULT '[]',   -- JSON array of issuer URLs
    required_claims     TEXT NOT NULL DEFAULT '{}',   -- JSON object claim -> required value
    updated_at          TEXT NOT NULL
);

CREATE TABLE findings (
    id                 TEXT PRIMARY KEY,               -- fnd_<hex>
    model_id           TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    workspace_id       TEXT NOT NULL,
    control_id         TEXT,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    severity           TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
    status             TEXT NOT NULL CHECK (status IN ('discovered', 'acknowledged', 'remediated', 'verified', 'dismissed')),
    checked_locations  TEXT NOT NULL DEFAULT '[]',
    checked_patterns   TEXT NOT NULL DEFAULT '[]',
    expected_evidence  TEXT NOT NULL DEFAULT '',
    linked_assertions  TEXT NOT NULL DEFAULT '[]',
    dismiss_reason     TEXT,
    history            TEXT NOT NULL DEFAULT '[]',
    created_by         TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX findings_model ON findings(model_id, control_id);

-- Issue 16 (compliance frameworks; numbered 19, above 18 which landed first): per-model framework selection, control ↔ requirement
-- mappings with their provenance, and stored remediation proposals. Tenant data: each row
-- hangs off a model and goes with it (ON DELETE CASCADE), into the org database when the
-- model's workspace is isolated. The catalogs themselves are files, not rows.

-- Frameworks selected for a model; `profile` limits the applicable requirements (ASVS
-- level, 800-53 baseline, CIS implementation group), NULL = all.
CREATE TABLE compliance_selections (
    model_id     TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    framework_id TEXT NOT NULL,
    profile      TEXT,
    selected_by  TEXT NOT NULL,
    selected_at  TEXT NOT NULL,
    PRIMARY KEY (model_id, framework_id)
);

-- One control ↔ requirement link. `source` = auto (catalog crosswalk), manual or llm;
-- `mapped_by` = 'catalog', the person's email or 'llm:<model>'; `reason` says why.
-- `removed` = 1 keeps a catalog/LLM mapping a person removed, so auto-mapping does not
-- add it back.
CREATE TABLE compliance_mappings (
    model_id       TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    control_id     TEXT NOT NULL,
    framework_id   TEXT NOT NULL,
    requirement_id TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('auto', 'manual', 'llm')),
    mapped_by      TEXT NOT NULL,
    reason         TEXT NOT NULL,
    removed        INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (model_id, control_id, framework_id, requirement_id)
);
CREATE INDEX compliance_mappings_fw ON compliance_mappings (model_id, framework_id);

-- A remediation proposal (JSON plan of suggestions) and which suggestions were applied.
CREATE TABLE compliance_remediations (
    id           TEXT PRIMARY KEY,
    model_id     TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    framework_id TEXT NOT NULL,
    plan         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    applied      TEXT NOT NULL DEFAULT '[]',
    applied_at   TEXT
);
CREATE INDEX compliance_remediations_model ON compliance_remediations (model_id, framework_id);

-- Issue 16 (compliance frameworks): requirements a person declared not applicable to a
-- model, with the justification an auditor reads (ISO 27001's statement of applicability).
-- Tenant data hanging off the model (cascade on delete). Status stays computed: the report
-- reads these rows and never stores a status.
CREATE TABLE compliance_exclusions (
    model_id       TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    framework_id   TEXT NOT NULL,
    requirement_id TEXT NOT NULL,
    reason         TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    excluded_by    TEXT NOT NULL,
    excluded_at    TEXT NOT NULL,
    PRIMARY KEY (model_id, framework_id, requirement_id)
);

-- Covering indexes for the hot reads of `models` (issue 18). The table stores `document`
-- and `generation_steps` (tens of KB, on overflow pages) before `created_at`, `updated_at`
-- and `source_issue`, so reading those columns from the table walks every overflow page of
-- the row. The list and the tenant-checked metadata read of a model find everything they
-- need in these indexes instead.

-- The list: one workspace, newest change first.
CREATE INDEX models_list ON models(workspace_id, updated_at DESC, id, title, source, version, created_at, source_issue);

-- One model's metadata, behind the tenant check (id and workspace).
CREATE INDEX models_meta ON models(id, workspace_id, source, badge_enabled, repo_url, source_issue, version, updated_at);

-- Its prefix replaces the old list index.
DROP INDEX IF EXISTS models_workspace;

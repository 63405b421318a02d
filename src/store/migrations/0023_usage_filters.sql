-- Usage filters (issue 20): each LLM call record names the workspace and organization it was
-- made for (at the time of the call; NULL outside a workspace or for personal workspaces) and
-- the kind of user operation it belonged to (generation, refinement, query, controls,
-- conversation, evidence_review, compliance_mapping), so GET /api/admin/usage can filter by org and
-- operation.
ALTER TABLE llm_usage ADD COLUMN workspace_id TEXT;
ALTER TABLE llm_usage ADD COLUMN org_id TEXT;
ALTER TABLE llm_usage ADD COLUMN operation TEXT NOT NULL DEFAULT '';
UPDATE llm_usage SET operation = CASE
    WHEN template IN ('suggest_title', 'generate_assets', 'refine_assets', 'generate_attackers',
                      'refine_attackers', 'generate_matrix') THEN 'generation'
    WHEN template = 'generate_controls' THEN 'controls'
    WHEN template = 'classify_intent' THEN 'conversation'
    WHEN template = 'plan_refinement' THEN 'refinement'
    WHEN template IN ('answer_query', 'answer_general') THEN 'query'
    WHEN template IN ('judge_coherence', 'judge_sufficiency') THEN 'evidence_review'
    WHEN template = 'compliance_map' THEN 'compliance_mapping'
    ELSE '' END;
CREATE INDEX llm_usage_org_time ON llm_usage (org_id, created_at);

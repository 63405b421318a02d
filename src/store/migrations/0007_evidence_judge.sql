-- Which judge decided coherence and sufficiency: the offline rules or an LLM (`llm:<model>`).
ALTER TABLE assertions ADD COLUMN coherence_by TEXT NOT NULL DEFAULT 'rules';
ALTER TABLE control_sufficiency ADD COLUMN evaluated_by TEXT NOT NULL DEFAULT 'rules';

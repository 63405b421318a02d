//! Generation engines (placeholder until the engine lands in this branch).

//! attnflow-transformer (placeholder until its issue lands).

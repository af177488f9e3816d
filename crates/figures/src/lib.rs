//! attnflow-figures (placeholder until its issue lands).

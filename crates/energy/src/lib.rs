//! attnflow-energy (placeholder until its issue lands).

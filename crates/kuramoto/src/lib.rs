//! attnflow-kuramoto (placeholder until its issue lands).

"""Database edge: schema, engine, and the one dialect-specific seam (insert-on-conflict)."""

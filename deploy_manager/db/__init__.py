"""PostgreSQL access for the raw layer: connections and versioned migrations."""

"""Layer 2: runbook YAML with positions, its structural check against the schema, shared
files, the validated frozen model, and the one list of scheduled items."""

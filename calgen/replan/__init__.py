"""Layer 4, beside site/: re-planning a runbook for a new release (`calgen new-release`)."""

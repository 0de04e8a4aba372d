"""Pure renderers: resolved runbook in, bytes or text out. No file IO here."""

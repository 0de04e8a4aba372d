"""iCalendar: content lines, the VTIMEZONE, per-runbook and durable feeds, revisions."""

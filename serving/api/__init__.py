"""One blueprint per resource: decisions, events, health, admin."""

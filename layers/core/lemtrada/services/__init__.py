"""Use cases: what the HTTP handlers ask for, written against the storage port and the rules engine."""

"""What every HTTP handler shares: the caller from JWT claims, problem+json errors, request models."""

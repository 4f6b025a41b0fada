"""Persistence of clinics and patient records: a repository interface, DynamoDB and in-memory implementations."""

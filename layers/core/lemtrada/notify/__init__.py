"""Clinic digests: building the SNS message (parts under the size limit) and publishing it (SNS or in memory)."""

"""Alemtuzumab (Lemtrada) regimen service: the code shared by every Lambda function.

Subpackages, from the inside out:
- ``regimen``: the regimen rules as protocol data plus a pure engine (no AWS, no I/O).
- ``storage``: DynamoDB persistence (PynamoDB) behind a repository, with an in-memory twin.
- ``notify``: digest publishing (SNS) behind a publisher, with an in-memory twin.
- ``services``: use cases that tie rules, storage and notification together.
- ``web``: what HTTP handlers share (principal from JWT claims, problem+json, request models).
"""

__version__ = "0.1.0"

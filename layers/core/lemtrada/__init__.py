"""Alemtuzumab (Lemtrada) regimen service: the code shared by every Lambda function.

Subpackages, from the inside out:
- ``regimen``: the regimen rules as protocol data plus a pure engine (no AWS, no I/O).
- ``storage``: DynamoDB persistence (boto3's low-level client) behind ports (``storage.ports``).
- ``notify``: digest publishing (SNS) behind a publisher, with an in-memory twin.
- ``services``: use cases that tie rules, storage and notification together.
- ``web``: what HTTP handlers share (principal from JWT claims, problem+json, request models).
"""

__version__ = "0.1.0"


def _quiet_libraries() -> None:
    """Keep the AWS and storage libraries at WARNING, whatever ``POWERTOOLS_LOG_LEVEL`` says.

    At DEBUG, botocore logs request and response bodies and PynamoDB logs whole items: patient records would
    reach CloudWatch. Every function imports this package first, so the pin holds before any client is built;
    the service's own logger (Powertools, named by ``POWERTOOLS_SERVICE_NAME``) keeps the configured level.
    """
    import logging  # noqa: PLC0415 - only this setup needs it

    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "pynamodb", "aws_lambda_powertools")
_quiet_libraries()

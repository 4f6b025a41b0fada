"""Persistence of clinics, patient records and the sweep's outbox on one DynamoDB table.

Read top-down: ``ports`` (what the services may ask for, the records and errors they get back), ``model`` (the
table's layout), ``codec`` (records <-> items; ``packing`` the packed items, ``wire`` the value encoding),
``transactions`` and ``errors`` (one TransactWriteItems call and what its cancellation means), ``repository`` and
``outbox`` (the two adapters), ``capacity`` (metering) and ``client`` (the one boto3 client and its retries).
``keys`` holds the key shapes. The in-memory twins for tests live in ``tests/support/memory.py``, outside the
shipped layer.
"""

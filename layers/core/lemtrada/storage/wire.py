"""Python values <-> DynamoDB's wire format (``{"S": ...}``, ``{"N": ...}``, ...), as the low-level client has it.

Numbers are written as JSON text (what PynamoDB wrote before, so older items read back alike) and read back as
int or float; None inside a map is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lemtrada.storage.model import PK, SK

Raw = dict[str, Any]
"""One item as DynamoDB's wire format has it: attribute name -> typed value (``{"S": "..."}``)."""


def wire(value: Any) -> Raw:
    """A Python value as a DynamoDB attribute value (str, bool, int, float, list and dict; None inside a map is
    left out)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        return {"N": json.dumps(value)}
    if isinstance(value, list | tuple):
        return {"L": [wire(element) for element in value]}
    if isinstance(value, Mapping):
        return {"M": {name: wire(inner) for name, inner in value.items() if inner is not None}}
    raise TypeError(f"no DynamoDB encoding for {type(value).__name__}")


def python(value: Raw) -> Any:
    """A DynamoDB attribute value back as Python (numbers as int or float, as they were written)."""
    kind, inner = next(iter(value.items()))
    if kind in {"S", "BOOL"}:
        return inner
    if kind == "N":
        return json.loads(inner)
    if kind == "L":
        return [python(element) for element in inner]
    if kind == "M":
        return {name: python(element) for name, element in inner.items()}
    if kind == "SS":
        return set(inner)
    if kind == "NULL":
        return None
    raise TypeError(f"unexpected DynamoDB type {kind}")


def item_key(pk: str, sk: str) -> Raw:
    return {PK: {"S": pk}, SK: {"S": sk}}

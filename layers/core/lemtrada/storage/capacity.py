"""Capacity units DynamoDB reported, per operation name: benchmarks and tests read ``repository.capacity``.

Every request the repository sends asks for ``ReturnConsumedCapacity`` (``TOTAL``; ``INDEXES`` for transactions,
so the share of each index is known too) and hands the response here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CapacityMeter:
    """Capacity units DynamoDB reported (ReturnConsumedCapacity=TOTAL), per operation name; thread-safe."""

    read_units: float = 0.0
    write_units: float = 0.0
    by_operation: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    by_index: dict[str, float] = field(default_factory=dict)  # units of each GSI, when the response said
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, operation: str, units: float, *, write: bool = False) -> None:
        with self._lock:
            if write:
                self.write_units += units
            else:
                self.read_units += units
            self.by_operation[operation] = self.by_operation.get(operation, 0.0) + units
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def add_response(self, operation: str, response: dict[str, Any] | None, *, write: bool = False) -> None:
        consumed = (response or {}).get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        self.add(operation, sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries), write=write)
        with self._lock:
            for entry in entries:
                for index, units in (entry.get("GlobalSecondaryIndexes") or {}).items():
                    self.by_index[index] = self.by_index.get(index, 0.0) + float(units.get("CapacityUnits", 0.0))

    def reset(self) -> None:
        with self._lock:
            self.read_units = 0.0
            self.write_units = 0.0
            self.by_operation.clear()
            self.calls.clear()
            self.by_index.clear()

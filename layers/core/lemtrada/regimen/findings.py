"""A rule's answer, in a shape every response can show: what, in words, and on whose authority."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """``code`` for machines, ``detail`` for people, ``source`` for "why" (label section, REMS, SmPC)."""

    code: str
    detail: str
    source: str

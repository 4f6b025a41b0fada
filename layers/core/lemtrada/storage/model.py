"""The table's layout, declared once: indexes, and the stored name of every attribute of every item kind.

RegimenTable is a single table keyed ``pk``/``sk``; an item only carries the attributes of its kind (no attribute
is stored for None). Non-key attributes have short stored names to keep items small, because the sweep's cost is
the size of the records it reads. Index keys and projected attributes keep long names. Two item kinds are packed
and have *data* for attribute names: ``RESULTS#<year>`` (one attribute per result, ``MMDD<result id>``) and
``NOTICES`` (one attribute per notice mark); storage.codec packs and unpacks them. docs/ARCHITECTURE.md, "Item
layout", draws the whole table.
"""

from __future__ import annotations

from typing import Final

PK: Final = "pk"
SK: Final = "sk"
KEY_NAMES: Final = frozenset({PK, SK})

DUE_INDEX: Final = "DueIndex"
"""Sparse and write-sharded: only profiles that still owe a notice carry ``due_shard``/``next_check``; projects
the keys and ``clinic_id``."""
CLINIC_INDEX: Final = "ClinicPatientsIndex"
"""Sparse: ``clinic_key`` (hash) and ``patient_id`` (range) sit on patient profiles only; projects the keys and
``xr`` (external_ref), none of which changes after enrollment (the patients it names are read whole from the table),
so no later profile write writes to it."""
WORKLIST_INDEX: Final = "WorklistIndex"
"""Sparse: ``worklist_clinic`` (hash, ``CLINIC#<id>``) and ``worklist_rank`` (range, ``<rank>#<oldest>#<id>``) sit
on the profile of a patient with at least one worklist item; projects the worklist attributes and ``xr`` (a page is
one Query; a profile write that leaves them alone writes nothing to the index)."""


class Profile:
    """``PATIENT#<id>`` / ``PROFILE``: the patient's profile, version and due-index keys."""

    version: Final = "version"
    patient_id: Final = "patient_id"
    clinic_id: Final = "clinic_id"
    clinic_key: Final = "clinic_key"
    due_shard: Final = "due_shard"
    next_check: Final = "next_check"
    enrolled_at: Final = "ea"
    patient_sub: Final = "sub"
    external_ref: Final = "xr"
    swept_through: Final = "sw"
    birth_date: Final = "bd"
    sex: Final = "sx"
    reproductive_potential: Final = "rp"
    diagnosis: Final = "dx"
    prior_dmt_count: Final = "pdc"
    contraindications: Final = "ci"
    enrolled_on: Final = "eo"
    justification: Final = "jx"
    rapidly_evolving_severe: Final = "res"  # stored only when true
    warnings: Final = "wn"
    pregnancies: Final = "pg"  # a list of maps {r: reported on, e: ended on}
    active_infection: Final = "ai"
    withdrawn_on: Final = "wo"


class Pregnancy:
    """One map of the profile's ``pg`` list."""

    reported_on: Final = "r"
    ended_on: Final = "e"


class InfusionItem:
    """``PATIENT#<id>`` / ``INFUSION#<date>``: one infusion (its date is in the sort key)."""

    dose_mg: Final = "mg"
    diluted_at: Final = "dil"
    started_at: Final = "st"
    ended_at: Final = "en"
    route: Final = "rt"
    co_infused: Final = "co"
    methylprednisolone_mg: Final = "mp"
    antiviral_prophylaxis: Final = "av"
    course: Final = "c"
    day: Final = "d"
    observation_minutes: Final = "om"
    batch_number: Final = "bn"
    deviations: Final = "dv"  # a list of maps {c: code, s: severity, t: detail}


class DeviationMap:
    """One map of an infusion's ``dv`` list."""

    code: Final = "c"
    severity: Final = "s"
    detail: Final = "t"


class Audit:
    """``PATIENT#<id>`` or ``CLINIC#<id>`` / ``AUDIT#<time>#<uuid>``: who did what, when."""

    actor_sub: Final = "as"
    actor_role: Final = "ar"
    at: Final = "at"
    action: Final = "ac"
    target: Final = "tg"


class ClinicItem:
    """``CLINIC`` / ``<clinic id>``: a clinic and its version."""

    version: Final = "version"
    name: Final = "nm"
    timezone: Final = "tz"
    label: Final = "lb"
    digest_hour: Final = "dh"
    reminder_hour: Final = "rh"


class SweepLeaseItem:
    """``SWEEPS`` / ``<clinic id>``: the last local date a sweep run claimed for the clinic (hourly runs)."""

    date: Final = "d"
    run_id: Final = "run"
    until: Final = "until"
    done: Final = "done"


class Link:
    """``USER#<sub>`` / ``PATIENT``: which patient a signed-in patient user is."""

    patient_id: Final = "patient_id"


class WorklistProjection:
    """The patient's worklist projection (DESIGN 8): attributes of its ``PROFILE`` item, which every patient write
    updates anyway (so a projection adds bytes to a write it is part of, not an item of its own)."""

    clinic: Final = "worklist_clinic"  # index hash key: only while the patient has items
    rank: Final = "worklist_rank"  # index range key: only while the patient has items
    external_ref: Final = Profile.external_ref
    status: Final = "ws"
    items: Final = "wi"  # packed items, one line each (storage.codec.pack_worklist_item)
    day: Final = "wd"  # the clinic-local date it was computed for
    changes_on: Final = "wc"  # first later date it changes by itself
    projected: Final = (external_ref, status, items, day, changes_on)  # what WorklistIndex projects (INCLUDE)


class WorklistCounter:
    """``CLINIC#<id>`` / ``WORKLIST#<nn>``: one shard (the patients' due shard) of a clinic's worklist counters,
    moved by ``ADD`` with every projection write of its shard's patients; numbers named as the counts."""

    critical: Final = "critical"
    major: Final = "major"
    minor: Final = "minor"
    info: Final = "info"
    patients: Final = "patients"

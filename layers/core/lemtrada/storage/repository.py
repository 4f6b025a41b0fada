"""PatientRepository on the single RegimenTable: one Query per record, one transaction per write.

Reads: ``get_patient`` is one Query (``sk > AUDIT$``: profile, infusions, results by year, notice marks); the
audit trail and the clinic list are Queries by prefix; the sweep reads the sparse DueIndex. Writes: every
patient-level change is one TransactWriteItems that checks and bumps the profile's version, writes the fact, moves
the due keys and appends an audit entry (storage.transactions). Every response's consumed capacity is counted per
operation in ``capacity``. The item layout is storage.model; records <-> items is storage.codec.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Clinic, Infusion, PatientProfile, Result
from lemtrada.storage import alert_items, codec, errors, keys, lab_receipts, leases, packing
from lemtrada.storage.capacity import CapacityMeter
from lemtrada.storage.client import LazyClient
from lemtrada.storage.model import (
    CLINIC_INDEX,
    DUE_INDEX,
    WORKLIST_INDEX,
    ClinicItem,
    Profile,
    WorklistProjection,
)
from lemtrada.storage.ports import (
    COUNT_NAMES,
    Acknowledgement,
    AuditEntry,
    DueEntry,
    LabReceipt,
    NoticeMark,
    OutboxAppend,
    OwedAlert,
    PatientPage,
    StoredClinic,
    StoredPatient,
    SweepLease,
    VersionConflict,
    WorklistPage,
    WorklistUpdate,
    check_transaction_size,
    sweep_audit,
)
from lemtrada.storage.transactions import Transaction, set_or_remove
from lemtrada.storage.wire import Raw, item_key, wire

_NOT_EXISTS = "attribute_not_exists(pk)"


class DynamoPatientRepository:
    """PatientRepository on the single RegimenTable (see docs/ARCHITECTURE.md, "Item layout")."""

    def __init__(
        self,
        table_name: str,
        *,
        region: str,
        host: str | None = None,
        due_shards: int = keys.DEFAULT_DUE_SHARDS,
        consistent_reads: bool = True,
        client: Any | None = None,
    ) -> None:
        """The table and region are required (lemtrada.bootstrap reads them from the environment); ``host`` is
        an endpoint (DynamoDB Local), ``client`` one already built (the bootstrap shares one)."""
        self.table_name = table_name
        self._client = LazyClient(region, host, client)
        self._shards = due_shards
        self._consistent = consistent_reads
        self.capacity = CapacityMeter()

    @property
    def client(self) -> Any:
        return self._client.get()

    @property
    def due_shards(self) -> int:
        return self._shards

    # -- requests --------------------------------------------------------------------------------------------
    def _pages(
        self,
        operation: str,
        hash_name: str,
        hash_key: str,
        condition: str | None = None,
        values: Mapping[str, Raw] | None = None,
        *,
        index_name: str | None = None,
        limit: int | None = None,
        start: dict[str, Any] | None = None,
        consistent: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Query pages (raw responses) of one partition, following LastEvaluatedKey, counting capacity per page;
        ``condition`` is on the sort key, named ``#r``."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#h = :h" + ("" if condition is None else f" AND {condition}"),
            "ExpressionAttributeNames": {"#h": hash_name},
            "ExpressionAttributeValues": {":h": {"S": hash_key}, **(values or {})},
            "ConsistentRead": consistent,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if condition is not None:
            request["ExpressionAttributeNames"]["#r"] = _range_name(index_name)
        if index_name is not None:
            request["IndexName"] = index_name
        if limit is not None:
            request["Limit"] = limit
        while True:
            if start is not None:
                request["ExclusiveStartKey"] = start
            page: dict[str, Any] = self.client.query(**request)
            self.capacity.add_response(operation, page)
            yield page
            start = page.get("LastEvaluatedKey")
            if start is None or limit is not None:
                return

    def _items(
        self,
        operation: str,
        pk: str,
        condition: str | None = None,
        values: Mapping[str, Raw] | None = None,
        *,
        consistent: bool | None = None,
    ) -> list[Raw]:
        strong = self._consistent if consistent is None else consistent
        pages = self._pages(operation, "pk", pk, condition, values, consistent=strong)
        return [raw for page in pages for raw in page.get("Items", [])]

    def _get_item(self, operation: str, pk: str, sk: str, *, consistent: bool, only: str | None = None) -> Raw | None:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": item_key(pk, sk),
            "ConsistentRead": consistent,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if only is not None:
            request["ProjectionExpression"] = "#p"
            request["ExpressionAttributeNames"] = {"#p": only}
        response = self.client.get_item(**request)
        self.capacity.add_response(operation, response)
        item: Raw | None = response.get("Item")
        return item

    def _commit(self, operation: str, write: Transaction) -> None:
        try:
            response = write.commit(self.client)
        except errors.TransactionCancelled as cancelled:
            failure = errors.domain_failure(write.labels, cancelled.codes)
            if failure is not None:
                raise failure from cancelled
            raise
        self.capacity.add_response(operation, response, write=True)

    def _new_write(self) -> Transaction:
        return Transaction(table=self.table_name)

    def _profile_update(
        self, write: Transaction, patient_id: str, expected_version: int, next_check: date | None, extra: Raw
    ) -> None:
        """The profile's share of every patient write: version + 1 if it still is ``expected_version``, the due
        keys moved or removed, and ``extra`` attributes set (None: removed)."""
        attributes = {
            Profile.version: expected_version + 1,
            **extra,
            **codec.due_keys(patient_id, next_check, self._shards),
        }
        expression, names, values = set_or_remove(attributes)
        names["#version"] = Profile.version
        values[":expected"] = wire(expected_version)
        key = (keys.patient_pk(patient_id), keys.PROFILE)
        write.update("version", key, expression, "#version = :expected", names=names, values=values)

    def _worklist(self, write: Transaction, update: WorklistUpdate | None) -> dict[str, Any]:
        """The projection's share of a patient write: its attributes, for the profile update the write makes anyway
        (guarded by the same version check), and, when its counts moved, an ``ADD`` on the counter shard of the
        patient's due shard (so the sweep's workers, one per shard, never contend for one)."""
        if update is None:
            return {}
        attributes = codec.worklist_attributes(update)
        delta = update.count_changes()
        if not delta:
            return attributes
        names = {f"#c{n}": name for n, name in enumerate(delta)}
        values = {f":c{n}": wire(change) for n, change in enumerate(delta.values())}
        shard = keys.due_shard_number(update.patient_id, self._shards)
        write.update(
            "worklist_counter",
            (keys.clinic_key(update.clinic_id), keys.worklist_counter_sk(shard)),
            "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(delta))),
            names=names,
            values=values,
        )
        return attributes

    # -- clinics -------------------------------------------------------------------------------------------
    def get_clinic(self, clinic_id: str) -> StoredClinic | None:
        raw = self._get_item("get_clinic", keys.CLINIC_PK, clinic_id, consistent=self._consistent)
        return None if raw is None else codec.clinic_from_item(raw)

    def list_clinics(self) -> tuple[StoredClinic, ...]:
        return tuple(codec.clinic_from_item(raw) for raw in self._items("list_clinics", keys.CLINIC_PK))

    def save_clinic(self, clinic: Clinic, expected_version: int | None, audit: AuditEntry) -> int:
        write = self._new_write()
        if expected_version is None:
            version = 1
            write.put("clinic", codec.clinic_item(clinic, version), _NOT_EXISTS)
        else:
            version = expected_version + 1
            condition = "#version = :expected"
            names, values = {"#version": ClinicItem.version}, {":expected": wire(expected_version)}
            write.put("version", codec.clinic_item(clinic, version), condition, names=names, values=values)
        write.put("audit", codec.audit_item(keys.clinic_key(clinic.clinic_id), audit))
        self._commit("save_clinic", write)
        return version

    def clinic_audit_trail(self, clinic_id: str) -> tuple[AuditEntry, ...]:
        items = self._items("clinic_audit_trail", keys.clinic_key(clinic_id), *_audit_prefix())
        return tuple(codec.audit_from_item(raw) for raw in items)

    # -- sweep leases (hourly runs, DESIGN 8) --------------------------------------------------------------
    def sweep_leases(self) -> dict[str, SweepLease]:
        return dict(codec.sweep_lease_from_item(raw) for raw in self._items("sweep_leases", keys.SWEEPS_PK))

    def claim_sweep(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool:
        key = item_key(keys.SWEEPS_PK, clinic_id)
        response = leases.claim(self.client, self.table_name, key, day=day, run_id=run_id, until=until, now=now)
        return self._lease_written("claim_sweep", response)

    def complete_sweep(self, clinic_id: str, day: date, run_id: str) -> bool:
        key = item_key(keys.SWEEPS_PK, clinic_id)
        response = leases.complete(self.client, self.table_name, key, day=day, run_id=run_id)
        return self._lease_written("complete_sweep", response)

    def _lease_written(self, operation: str, response: Any) -> bool:
        if response is None:
            return False
        self.capacity.add_response(operation, response, write=True)
        return True

    # -- patients: reads -----------------------------------------------------------------------------------
    def get_patient(self, patient_id: str, *, consistent_read: bool = True) -> StoredPatient | None:
        consistent = self._consistent and consistent_read
        after = {":after": {"S": keys.RECORD_AFTER}}
        items = self._items("get_patient", keys.patient_pk(patient_id), "#r > :after", after, consistent=consistent)
        return codec.patient_from_items(items)

    def patient_id_for_user(self, sub: str) -> str | None:
        raw = self._get_item("patient_id_for_user", keys.user_pk(sub), keys.LINK, consistent=self._consistent)
        return None if raw is None else codec.linked_patient(raw)

    def list_clinic_patients(self, clinic_id: str, limit: int, cursor: str | None = None) -> PatientPage:
        """A page of the clinic's patients by id; each is then read whole (one Query per patient)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start: dict[str, Any] | None = None
        if cursor is not None:
            after = keys.decode_cursor(clinic_id, cursor)
            start = {
                Profile.clinic_key: {"S": keys.clinic_key(clinic_id)},
                Profile.patient_id: {"S": after},
                **item_key(keys.patient_pk(after), keys.PROFILE),
            }
        pages = self._pages(
            "list_clinic_patients",
            Profile.clinic_key,
            keys.clinic_key(clinic_id),
            index_name=CLINIC_INDEX,
            limit=limit + 1,
            start=start,
        )
        ids = [raw[Profile.patient_id]["S"] for raw in next(pages).get("Items", [])]
        patients = tuple(p for p in (self.get_patient(pid) for pid in ids[:limit]) if p is not None)
        more = len(ids) > limit
        return PatientPage(patients=patients, cursor=keys.encode_cursor(clinic_id, ids[limit - 1]) if more else None)

    def worklist_page(
        self, clinic_id: str, limit: int, cursor: str | None = None, *, at_least: int | None = None
    ) -> WorklistPage:
        """One Query of the WorklistIndex for ``limit + 1`` rows (a page reads about ``limit`` items whatever the
        clinic's size; the extra one says whether another page follows); the cursor is the index key of the page's
        last row, which is what LastEvaluatedKey would be for a query of ``limit``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start: dict[str, Any] | None = None
        if cursor is not None:
            rank, patient_id = keys.decode_worklist_cursor(clinic_id, cursor)
            start = {
                WorklistProjection.clinic: {"S": keys.clinic_key(clinic_id)},
                WorklistProjection.rank: {"S": rank},
                **item_key(keys.patient_pk(patient_id), keys.PROFILE),
            }
        condition, values = None, None
        if at_least is not None:
            condition, values = "#r < :below", {":below": {"S": str(at_least + 1)}}
        page = next(
            self._pages(
                "worklist_page",
                WorklistProjection.clinic,
                keys.clinic_key(clinic_id),
                condition,
                values,
                index_name=WORKLIST_INDEX,
                limit=limit + 1,
                start=start,
            )
        )
        raws = page.get("Items", [])
        rows = tuple(codec.worklist_from_item(raw) for raw in raws[:limit])
        more = len(raws) > limit
        next_cursor = (
            keys.encode_worklist_cursor(clinic_id, raws[limit - 1][WorklistProjection.rank]["S"]) if more else None
        )
        return WorklistPage(rows=rows, cursor=next_cursor)

    def worklist_counts(self, clinic_id: str) -> dict[str, int]:
        prefix = {":prefix": {"S": keys.WORKLIST_COUNTER_PREFIX}}
        items = self._items("worklist_counts", keys.clinic_key(clinic_id), "begins_with(#r, :prefix)", prefix)
        totals = dict.fromkeys(COUNT_NAMES, 0)
        for raw in items:
            for name in COUNT_NAMES:
                if name in raw:
                    totals[name] += int(raw[name]["N"])
        return totals

    def audit_trail(self, patient_id: str) -> tuple[AuditEntry, ...]:
        """Every entry, oldest first: the dated items and the month items of the sweep's entries, merged by time."""
        entries: list[AuditEntry] = []
        for raw in self._items("audit_trail", keys.patient_pk(patient_id), *_audit_prefix()):
            if raw["sk"]["S"].startswith(keys.SWEEP_AUDIT_PREFIX):
                entries += packing.sweep_audit_entries(raw)
            else:
                entries.append(codec.audit_from_item(raw))
        return tuple(sorted(entries, key=lambda entry: entry.at))

    def notice_marks(self, patient_id: str) -> tuple[NoticeMark, ...]:
        """The marks of every marks item (``NOTICES`` and the month items), one Query by prefix."""
        prefix = {":prefix": {"S": keys.NOTICES}}
        items = self._items("notice_marks", keys.patient_pk(patient_id), "begins_with(#r, :prefix)", prefix)
        marks: dict[str, NoticeMark] = {}
        for raw in items:
            if keys.is_notices_sk(raw["sk"]["S"]):
                for mark in packing.marks_from_item(patient_id, raw):
                    marks.setdefault(mark.key, mark)
        return tuple(marks[key] for key in sorted(marks))

    # -- patients: writes ----------------------------------------------------------------------------------
    def create_patient(
        self,
        patient: StoredPatient,
        audit: AuditEntry,
        *,
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> None:
        pid = patient.patient_id
        write = self._new_write()
        fresh = StoredPatient(
            record=patient.record,
            version=1,
            enrolled_at=patient.enrolled_at,
            patient_sub=patient.patient_sub,
            external_ref=patient.external_ref,
            next_check=patient.next_check,
            swept_through=patient.swept_through,
            acknowledgements=patient.acknowledgements,
        )
        items = codec.patient_items(fresh, self._shards)
        projected = {name: value for name, value in self._worklist(write, worklist).items() if value is not None}
        items[0].update({name: wire(value) for name, value in projected.items()})
        write.put("patient", items[0], _NOT_EXISTS)
        for item in items[1:]:
            write.put("fact", item)
        if patient.patient_sub is not None:
            write.put("patient_sub", codec.link_item(patient.patient_sub, pid), _NOT_EXISTS)
        write.put("audit", codec.audit_item(keys.patient_pk(pid), audit))
        _owe(write, alerts, audit.at)
        self._commit("create_patient", write)

    def update_profile(
        self,
        profile: PatientProfile,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        write = self._new_write()
        extra = {**codec.profile_body(profile), **self._worklist(write, worklist)}
        self._profile_update(write, profile.patient_id, expected_version, next_check, extra)
        write.put("audit", codec.audit_item(keys.patient_pk(profile.patient_id), audit))
        self._commit("update_profile", write)
        return expected_version + 1

    def add_infusion(
        self,
        patient_id: str,
        infusion: Infusion,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        write = self._new_write()
        write.put("infusion", codec.infusion_item(patient_id, infusion), _NOT_EXISTS)
        write.put("audit", codec.audit_item(keys.patient_pk(patient_id), audit))
        _owe(write, alerts, audit.at)
        self._profile_update(write, patient_id, expected_version, next_check, self._worklist(write, worklist))
        self._commit("add_infusion", write)
        return expected_version + 1

    def add_result(
        self,
        patient_id: str,
        result: Result,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        updated: Sequence[Result] = (),
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        write = self._new_write()
        self._results_update(write, patient_id, result, True, updated)
        write.put("audit", codec.audit_item(keys.patient_pk(patient_id), audit))
        _owe(write, alerts, audit.at)
        self._profile_update(write, patient_id, expected_version, next_check, self._worklist(write, worklist))
        self._commit("add_result", write)
        return expected_version + 1

    def _results_update(
        self, write: Transaction, patient_id: str, result: Result, new_result: bool, updated: Sequence[Result]
    ) -> None:
        """One update per year item (a transaction may touch an item once): a new result must not exist, the
        rewritten ones must."""
        by_year: dict[int, list[tuple[Result, bool]]] = {}
        rewritten = ((r, False) for r in updated if r.result_id != result.result_id)
        for stored, new in ((result, new_result), *rewritten):
            by_year.setdefault(stored.date.year, []).append((stored, new))
        for year in sorted(by_year):
            sets, conditions = [], []
            names: dict[str, str] = {}
            values: dict[str, Raw] = {}
            for number, (stored, new) in enumerate(by_year[year]):
                names[f"#r{number}"] = keys.result_name(stored.date, stored.result_id)
                values[f":r{number}"] = {"S": packing.result_entry(stored)}
                sets.append(f"#r{number} = :r{number}")
                test = "attribute_not_exists" if new else "attribute_exists"
                conditions.append(f"{test}(#r{number})")
            label = "result" if any(new for _, new in by_year[year]) else "version"
            write.update(
                label,
                (keys.patient_pk(patient_id), keys.results_sk(year)),
                "SET " + ", ".join(sets),
                " AND ".join(conditions),
                names=names,
                values=values,
            )

    def acknowledge(
        self,
        patient_id: str,
        acknowledgement: Acknowledgement,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        write = self._new_write()
        write.update(
            "acknowledgement",
            (keys.patient_pk(patient_id), keys.REVIEWS),
            "SET #a = :a",
            "attribute_not_exists(#a)",
            names={"#a": keys.acknowledgement_name(acknowledgement.kind, acknowledgement.ref)},
            values={":a": {"S": packing.acknowledgement_value(acknowledgement)}},
        )
        write.put("audit", codec.audit_item(keys.patient_pk(patient_id), audit))
        self._profile_update(write, patient_id, expected_version, next_check, self._worklist(write, worklist))
        self._commit("acknowledge", write)
        return expected_version + 1

    # -- lab interfaces (DESIGN 10) -----------------------------------------------------------------------
    def patients_by_external_ref(self, clinic_id: str, refs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """One paged Query of the clinic's profiles in ClinicPatientsIndex (ids and refs are all it holds): its cost
        grows with the clinic (about 8 KB of index per read unit), paid once per delivered document, not per
        observation."""
        wanted = set(refs)
        if not wanted:
            return {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": CLINIC_INDEX,
            "KeyConditionExpression": "#h = :h",
            "ProjectionExpression": "#p, #x",
            "ExpressionAttributeNames": {
                "#h": Profile.clinic_key,
                "#p": Profile.patient_id,
                "#x": Profile.external_ref,
            },
            "ExpressionAttributeValues": {":h": {"S": keys.clinic_key(clinic_id)}},
            "ReturnConsumedCapacity": "TOTAL",
        }
        found: dict[str, list[str]] = {}
        while True:
            page: dict[str, Any] = self.client.query(**request)
            self.capacity.add_response("patients_by_external_ref", page)
            for raw in page.get("Items", []):
                ref = raw.get(Profile.external_ref, {}).get("S")
                if ref in wanted:
                    found.setdefault(ref, []).append(raw[Profile.patient_id]["S"])
            start = page.get("LastEvaluatedKey")
            if start is None:
                return {ref: tuple(sorted(ids)) for ref, ids in found.items()}
            request["ExclusiveStartKey"] = start

    def lab_receipts(self, clinic_id: str, receipt_keys: Sequence[str]) -> dict[str, LabReceipt]:
        """BatchGetItem, 100 keys a call, unprocessed keys asked again."""
        unique = list(dict.fromkeys(receipt_keys))
        found: dict[str, LabReceipt] = {}
        for start in range(0, len(unique), 100):
            pending: list[Raw] = [lab_receipts.receipt_key(clinic_id, key) for key in unique[start : start + 100]]
            while pending:
                response = self.client.batch_get_item(
                    RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}},
                    ReturnConsumedCapacity="TOTAL",
                )
                self.capacity.add_response("lab_receipts", response)
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    receipt = lab_receipts.receipt_from_item(raw)
                    found[receipt.key] = receipt
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
        return found

    def store_lab_result(
        self,
        patient_id: str,
        result: Result,
        *,
        new: bool,
        receipts: Sequence[LabReceipt],
        clinic_id: str,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        updated: Sequence[Result] = (),
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        write = self._new_write()
        self._results_update(write, patient_id, result, new, updated)
        for receipt in receipts:
            write.put("receipt", lab_receipts.receipt_item(clinic_id, receipt), _NOT_EXISTS)
        write.put("audit", codec.audit_item(keys.patient_pk(patient_id), audit))
        _owe(write, alerts, audit.at)
        self._profile_update(write, patient_id, expected_version, next_check, self._worklist(write, worklist))
        check_transaction_size(len(write))
        self._commit("store_lab_result", write)
        return expected_version + 1

    # -- alerts owed ---------------------------------------------------------------------------------------
    def owed_alerts(self, clinic_id: str, *, owed_before: datetime | None = None) -> tuple[OwedAlert, ...]:
        prefix = {":prefix": {"S": alert_items.OWED_PREFIX}}
        pk = alert_items.alerts_pk(clinic_id)
        items = self._items("owed_alerts", pk, "begins_with(#r, :prefix)", prefix, consistent=True)
        owed = [alert_items.owed_from_item(clinic_id, raw) for raw in items]
        kept = [o for o in owed if owed_before is None or o.owed_at < owed_before]
        return tuple(sorted(kept, key=lambda o: (o.owed_at, o.alert.patient_id, o.alert.ref)))

    def claim_alert(self, alert: Alert, holder: str, now: datetime, until: datetime) -> bool:
        return self._alert_write("claim_alert", alert_items.claim_request(self.table_name, alert, holder, now, until))

    def release_alert(self, alert: Alert, holder: str) -> bool:
        return self._alert_write("release_alert", alert_items.release_request(self.table_name, alert, holder))

    def alert_sent(self, alert: Alert, holder: str | None = None) -> bool:
        return self._alert_write("alert_sent", alert_items.sent_request(self.table_name, alert, holder))

    def _alert_write(self, operation: str, request: dict[str, Any]) -> bool:
        """One conditional UpdateItem or DeleteItem of an owed alert; False when its condition failed."""
        call = self.client.delete_item if "UpdateExpression" not in request else self.client.update_item
        try:
            response = call(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        self.capacity.add_response(operation, response, write=True)
        return True

    # -- the sweep's view ----------------------------------------------------------------------------------
    def due_patients(self, shard: int, through: date) -> Iterator[DueEntry]:
        """Reads the DueIndex only: its items are the keys plus ``clinic_id``, a few dozen bytes each."""
        if not 0 <= shard < self._shards:
            raise ValueError(f"shard must be between 0 and {self._shards - 1}")
        pages = self._pages(
            "due_patients",
            Profile.due_shard,
            keys.due_shard_key(shard),
            "#r <= :through",
            {":through": {"S": through.isoformat()}},
            index_name=DUE_INDEX,
        )
        for page in pages:
            for raw in page.get("Items", []):
                yield DueEntry(
                    patient_id=raw["pk"]["S"].removeprefix(keys.patient_pk("")),
                    clinic_id=raw[Profile.clinic_id]["S"],
                    next_check=date.fromisoformat(raw[Profile.next_check]["S"]),
                )

    def record_sweep(
        self,
        patient_id: str,
        on: date,
        notices: Sequence[str],
        expected_version: int,
        next_check: date | None,
        *,
        audit: AuditEntry | None = None,
        clinic_id: str | None = None,
        outbox: OutboxAppend | None = None,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """One transaction of at most four items, each about 1 KB whatever the patient's history: the profile
        (version, due keys, ``swept_through``), the sweep month's marks item (when there are notices), the month's
        sweep audit item (one list entry appended) and the outbox page (the notices' chunk)."""
        unique = sorted(set(notices))
        # One attribute per key on the month's marks item; at most 98 keys per call keeps the condition expression
        # under DynamoDB's 4 KB (the sweep splits larger sets).
        check_transaction_size(2 + len(unique))
        _check_outbox(unique, outbox)
        pk = keys.patient_pk(patient_id)
        write = self._new_write()
        if unique:
            current = clinic_id if clinic_id is not None else self._clinic_of(patient_id)
            names = {f"#{n}": keys.notice_name(patient_id, key) for n, key in enumerate(unique)}
            write.update(
                "notice",
                (pk, keys.notices_sk(on)),
                "SET " + ", ".join(f"{placeholder} = :m" for placeholder in names),
                " AND ".join(f"attribute_not_exists({placeholder})" for placeholder in names),
                names=names,
                values={":m": {"S": packing.mark_value(on, current)}},
            )
        entry = audit if audit is not None else sweep_audit(on)
        write.update(
            "audit",
            (pk, keys.sweep_audit_sk(on)),
            "SET #e = list_append(if_not_exists(#e, :none), :entry)",
            names={"#e": packing.SWEEP_ENTRIES},
            values={":none": {"L": []}, ":entry": {"L": [{"S": packing.sweep_audit_value(on, entry)}]}},
        )
        if outbox is not None and outbox.notices:
            page = outbox.page
            write.update(
                "outbox",
                (keys.outbox_pk(page.clinic_id), keys.outbox_page_sk(page.date, page.shard, page.run, page.number)),
                "SET #c = :c",
                names={"#c": keys.outbox_chunk_name(patient_id, expected_version)},
                values={":c": {"S": packing.outbox_chunk(outbox.notices)}},
            )
        extra = {Profile.swept_through: on.isoformat(), **self._worklist(write, worklist)}
        self._profile_update(write, patient_id, expected_version, next_check, extra)
        self._commit("record_sweep", write)
        return expected_version + 1

    def _clinic_of(self, patient_id: str) -> str:
        """The clinic a notice mark records when the caller did not pass it (one small GetItem)."""
        pk = keys.patient_pk(patient_id)
        raw = self._get_item("record_sweep", pk, keys.PROFILE, consistent=False, only=Profile.clinic_id)
        if raw is None:
            raise VersionConflict(f"patient {patient_id} does not exist")
        return str(raw[Profile.clinic_id]["S"])


def _check_outbox(keys_marked: Sequence[str], outbox: OutboxAppend | None) -> None:
    """A notice is queued exactly when it is marked: the outbox chunk must name the same keys."""
    if outbox is not None and sorted({n.key for n in outbox.notices}) != list(keys_marked):
        raise ValueError("the outbox chunk and the marks must hold the same notice keys")


def _owe(write: Transaction, alerts: Sequence[Alert], at: datetime) -> None:
    """The owed alerts' share of a fact's write (no condition: the fact's own condition makes it once)."""
    for alert in alerts:
        write.put("alert", alert_items.owed_item(alert, at))


def _range_name(index_name: str | None) -> str:
    ranges = {None: "sk", DUE_INDEX: Profile.next_check, CLINIC_INDEX: Profile.patient_id}
    return {**ranges, WORKLIST_INDEX: WorklistProjection.rank}[index_name]


def _audit_prefix() -> tuple[str, dict[str, Raw]]:
    return "begins_with(#r, :prefix)", {":prefix": {"S": keys.AUDIT_PREFIX}}

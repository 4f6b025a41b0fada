"""One critical alert as an SNS message on the digest topic (DESIGN 7 "Critical alerts at once").

Same envelope as the digest (MessageStructure=json, attributes the subscriptions filter on) with ``kind`` =
``alert``: the e-mail text names the opaque patient id, the code, its severity and date; no values, no PHI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lemtrada.regimen.alerts import Alert

SUBJECT_MAX = 100  # SNS e-mail subjects: at most 100 printable ASCII characters


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """The message one owed alert is published as."""

    alert: Alert

    @property
    def clinic_id(self) -> str:
        return self.alert.clinic_id

    @property
    def subject(self) -> str:
        text = f"Lemtrada ALERT clinic {self.alert.clinic_id}"
        return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:SUBJECT_MAX]

    def document(self) -> dict[str, Any]:
        """The ``default`` JSON: {clinic_id, kind, patient_id, code, severity, date, finding_id?}."""
        alert = self.alert
        document: dict[str, Any] = {
            "clinic_id": alert.clinic_id,
            "kind": "alert",
            "patient_id": alert.patient_id,
            "code": alert.code,
            "severity": alert.severity.value,
            "date": alert.date.isoformat(),
        }
        if alert.finding_id is not None:
            document["finding_id"] = alert.finding_id
        return document

    def email_text(self) -> str:
        alert = self.alert
        what = "finding on the result" if alert.kind == "finding" else "deviation on the infusion"
        return "\n".join(
            [
                f"Lemtrada regimen ALERT for clinic {alert.clinic_id}",
                "",
                f"- patient {alert.patient_id}: {alert.severity.value.upper()} {alert.code} ({what} of "
                f"{alert.date.isoformat()})",
                "",
                "Patients appear by their opaque id; open the clinic worklist for details and acknowledge it there.",
            ]
        )

    def body(self) -> str:
        """The SNS Message for MessageStructure=json."""
        return json.dumps(
            {"default": json.dumps(self.document(), separators=(",", ":")), "email": self.email_text()},
            separators=(",", ":"),
        )

    def attributes(self) -> dict[str, dict[str, str]]:
        """What the subscriptions filter on: the clinic, and ``kind`` = ``alert``."""
        return {
            "clinic_id": {"DataType": "String", "StringValue": self.alert.clinic_id},
            "kind": {"DataType": "String", "StringValue": "alert"},
        }

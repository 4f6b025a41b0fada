"""Subscribing a clinician's e-mail to their clinic's digest, filtered so no clinic ever gets another's.

The filter policy sits on the message attributes the publisher sets (``clinic_id`` and ``kind``): SNS delivers a
digest only to subscriptions of that clinic. The e-mail address is never logged nor returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from lemtrada.services.actor import Actor
from lemtrada.services.errors import NotFound
from lemtrada.storage.ports import PatientRepository


class SubscriptionView(BaseModel):
    """What the caller learns: the clinic and that SNS sent a confirmation e-mail."""

    clinic_id: str
    protocol: str = "email"
    status: str  # "pending_confirmation" or "confirmed"


def filter_policy(clinic_id: str) -> str:
    """Only this clinic's digests (and only digests) reach the subscription."""
    return json.dumps({"clinic_id": [clinic_id], "kind": ["digest"]}, separators=(",", ":"))


class DigestSubscriptions:
    """POST /clinics/{clinic_id}/subscriptions: clinicians of that clinic only (anyone else: 404)."""

    def __init__(self, repository: PatientRepository, sns: Callable[[], Any], topic_arn: str) -> None:
        self.repository = repository
        self._sns = sns
        self._topic_arn = topic_arn

    def subscribe(self, actor: Actor, clinic_id: str, email: str) -> SubscriptionView:
        if not actor.clinician_of(clinic_id) or self.repository.get_clinic(clinic_id) is None:
            raise NotFound("no such clinic")
        response = self._sns().subscribe(
            TopicArn=self._topic_arn,
            Protocol="email",
            Endpoint=email,
            Attributes={"FilterPolicy": filter_policy(clinic_id), "FilterPolicyScope": "MessageAttributes"},
            ReturnSubscriptionArn=False,
        )
        arn = str(response.get("SubscriptionArn", ""))
        confirmed = arn.startswith("arn:")
        return SubscriptionView(clinic_id=clinic_id, status="confirmed" if confirmed else "pending_confirmation")

"""Subscribing a clinician's e-mail to their clinic's digest and alerts, filtered so no clinic ever gets another's.

The filter policy sits on the message attributes the publisher sets (``clinic_id`` and ``kind``): SNS delivers a
digest or an alert (DESIGN 7) only to subscriptions of that clinic. The e-mail address is never logged nor
returned. ``migrate_filter_policies`` brings subscriptions made before alerts existed (``kind`` [digest]) to the
current policy; it only rewrites policies that differ, so running it twice changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
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


KINDS = ("digest", "alert")
"""The message kinds a clinic's subscription receives."""


def filter_policy(clinic_id: str) -> str:
    """Only this clinic's digests and alerts reach the subscription."""
    return json.dumps({"clinic_id": [clinic_id], "kind": list(KINDS)}, separators=(",", ":"))


@dataclass(slots=True)
class MigrationReport:
    updated: int = 0  # policies rewritten to the current one
    current: int = 0  # already current: left alone
    skipped: int = 0  # pending confirmation (no ARN yet) or without a clinic filter: left alone


def migrate_filter_policies(sns: Any, topic_arn: str) -> MigrationReport:
    """Give every confirmed subscription of the topic that filters on one clinic the current policy.

    Idempotent: a policy equal to the current one is not written again. A subscription still pending
    confirmation has no ARN to update: run the migration again after it is confirmed."""
    report = MigrationReport()
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            arn = str(subscription.get("SubscriptionArn", ""))
            if not arn.startswith("arn:"):
                report.skipped += 1
                continue
            attributes = sns.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
            policy = json.loads(attributes.get("FilterPolicy") or "{}")
            clinics = policy.get("clinic_id")
            if not (isinstance(clinics, list) and len(clinics) == 1 and isinstance(clinics[0], str)):
                report.skipped += 1
                continue
            wanted = filter_policy(clinics[0])
            if policy == json.loads(wanted):
                report.current += 1
                continue
            sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=wanted)
            report.updated += 1
    return report


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

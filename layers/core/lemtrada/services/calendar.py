"""The schedule as an iCalendar file (RFC 5545): one all-day event per occurrence and per key date.

UIDs are stable (patient, item, k / patient, milestone code), so a calendar app that re-subscribes updates events
in place instead of duplicating them. Summaries name the test or milestone only: no patient data.

Each event carries a VALARM (DISPLAY) at 09:00 on the day the occurrence's window opens (a milestone: on its
day), as a trigger relative to the all-day start, so the phone rings at 09:00 of the calendar's own (the
patient's) local time. Its text is the lock screen's (DESIGN 9): it names no test and no condition.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from lemtrada.regimen.schedule import Schedule

PRODID = "-//Lemtrada regimen service//schedule//EN"
UID_DOMAIN = "lemtrada-regimen"

_ITEM_TITLES = {
    "cbc": "Complete blood count",
    "creatinine": "Serum creatinine",
    "urinalysis": "Urinalysis with cell counts",
    "liver": "Liver tests (transaminases, bilirubin)",
    "thyroid": "Thyroid function (TSH)",
    "skin_exam": "Skin examination",
    "hpv_screening": "Cervical HPV screening",
}
_MILESTONE_TITLES = {
    "course_2_due_soon": "Course 2 due in 30 days",
    "course_2_due": "Course 2 due",
    "next_course_eligible": "Next course possible",
    "contraception_window_ends": "Contraception window ends",
    "herpes_prophylaxis_may_stop": "Herpes prophylaxis may stop",
    "monitoring_complete": "Safety monitoring complete",
}


ALARM_HOUR = 9


def _alarm(start: date, ring_on: date, text: str) -> Any:
    """A DISPLAY alarm at ``ALARM_HOUR`` local on ``ring_on``, relative to the all-day event starting ``start``."""
    from icalendar import Alarm  # noqa: PLC0415 - only this route pays for the import

    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", text)
    alarm.add("trigger", timedelta(days=(ring_on - start).days, hours=ALARM_HOUR))
    return alarm


def schedule_ics(patient_id: str, schedule: Schedule, stamped_at: datetime) -> bytes:
    """Serialize a schedule; ``stamped_at`` is DTSTAMP (when this copy was produced)."""
    from icalendar import Calendar, Event  # noqa: PLC0415 - only this route pays for the import

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Lemtrada monitoring")
    for occurrence in schedule.occurrences:
        event = Event()
        item = occurrence.item.value
        event.add("uid", f"{patient_id}-{item}-{occurrence.k}@{UID_DOMAIN}")
        event.add("dtstamp", stamped_at)
        event.add("dtstart", occurrence.due_date)
        event.add("dtend", occurrence.due_date + timedelta(days=1))
        event.add("summary", f"{_ITEM_TITLES.get(item, item)} #{occurrence.k}")
        event.add(
            "description",
            f"{item} #{occurrence.k}: window opens {occurrence.window_opens.isoformat()}, "
            f"status {occurrence.status.value}",
        )
        event.add("categories", ["monitoring"])
        event.add("transp", "TRANSPARENT")
        due = occurrence.due_date.isoformat()
        event.add_component(
            _alarm(
                occurrence.due_date, occurrence.window_opens, f"You have monitoring tests due by {due}. Open the app."
            )
        )
        calendar.add_component(event)
    for milestone in schedule.milestones:
        event = Event()
        event.add("uid", f"{patient_id}-{milestone.code}@{UID_DOMAIN}")
        event.add("dtstamp", stamped_at)
        event.add("dtstart", milestone.date)
        event.add("dtend", milestone.date + timedelta(days=1))
        event.add("summary", _MILESTONE_TITLES.get(milestone.code, milestone.code))
        event.add("categories", ["milestone"])
        event.add("transp", "TRANSPARENT")
        event.add_component(
            _alarm(milestone.date, milestone.date, "Your treatment calendar has a date today. Open the app.")
        )
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data

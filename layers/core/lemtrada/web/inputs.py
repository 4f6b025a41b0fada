"""Request bodies -> use-case inputs, shared by the handlers that take the same body (a result is recorded on its
own route and inside an enrollment's history)."""

from __future__ import annotations

from lemtrada.regimen.records import Analyte
from lemtrada.services.recording import ResultInput
from lemtrada.web.models import ResultIn


def result_input(body: ResultIn) -> ResultInput:
    return ResultInput(
        item=body.item,
        date=body.date,
        value=body.value,
        unit=body.unit,
        status=body.status,
        analytes=tuple(Analyte(a.code, a.value, a.unit, a.low, a.high) for a in body.analytes),
    )

"""The clinician console (DESIGN 11) in a real headless chromium, on the local stack.

A clinician signs in through the local sign-in form, opens the worklist, opens a patient, records a CBC with
platelets at 42 and sees `platelets_below_100` at the top of the patient and of the worklist, follows the digest's
worklist link into the console, acknowledges the finding and sees it leave the worklist. A bad value is refused
with the problem's detail beside its field. A patient's token opens nothing (the API's 404 is shown as not found).
Every request stays on loopback; axe-core finds no serious or critical accessibility violation on any screen.
Screenshots go to .local/browser/console-*.png.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import ROOT
from tests.support.local_stack import RunningStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TIMEOUT_MS = 30_000
TIMEZONE = "Europe/Paris"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ENROLLMENT = {
    "birth_date": "1981-03-14",
    "sex": "female",
    "reproductive_potential": False,
    "diagnosis": "relapsing_remitting",
    "prior_dmt_count": 2,
    "contraindications": [],
}


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Traffic:
    """Every URL the page asked for; anything past loopback is aborted (and fails the test)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []

    def route(self, route: Route) -> None:
        self.urls.append(route.request.url)
        if _loopback(route.request.url):
            route.continue_()
        else:
            route.abort()

    def outside(self) -> list[str]:
        return [url for url in self.urls if not _loopback(url)]


def _clinic_with_patient(stack: RunningStack) -> tuple[str, str]:
    clinic_id = f"console-{uuid.uuid4().hex[:8]}"
    admin = stack.headers("admins")
    clinic = requests.put(
        f"{stack.base_url}/clinics/{clinic_id}",
        json={"name": "Console clinic", "timezone": TIMEZONE, "label": "US"},
        headers=admin,
        timeout=30,
    )
    assert clinic.status_code == 201, clinic.text
    enrolled = requests.post(
        f"{stack.base_url}/patients",
        json=ENROLLMENT,
        headers={**stack.headers("clinicians", clinic_id=clinic_id), "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert enrolled.status_code == 201, enrolled.text
    return clinic_id, str(enrolled.json()["patient_id"])


def _context(browser: Browser, traffic: Traffic) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    context.route("**/*", traffic.route)
    return context


def _watch(page: Page, traffic: Traffic) -> None:
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))


def _axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations axe-core finds on the page as it is now (WCAG 2.x A and AA rules)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the debugging protocol: the console's CSP (no inline script) stays on and unbent.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
        }"""
    )
    return found


def _sign_in(page: Page, stack: RunningStack, clinic_id: str) -> None:
    page.goto(f"{stack.base_url}/console/", wait_until="networkidle", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Sign in (local stack)").wait_for(timeout=TIMEOUT_MS)
    page.get_by_label("Clinic id").fill(clinic_id)
    page.get_by_role("button", name="Sign in as a clinician").click()
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)


def _worklist_codes(page: Page, patient_id: str) -> list[str]:
    row = page.locator(f'tr[data-patient="{patient_id}"]')
    if row.count() == 0:
        return []
    return [str(code) for code in row.locator("li[data-code]").evaluate_all("els => els.map(e => e.dataset.code)")]


def test_a_clinicians_morning_in_the_console(browser: Browser, local_stack: RunningStack, screenshots: Path) -> None:
    assert AXE.is_file(), "npm ci installs axe-core (package.json devDependencies)"
    clinic_id, patient_id = _clinic_with_patient(local_stack)
    traffic = Traffic()
    context = _context(browser, traffic)
    page = context.new_page()
    _watch(page, traffic)
    violations: dict[str, list[dict[str, Any]]] = {}

    # Sign in: the form asks /_local/token for a clinician token of the clinic.
    page.goto(f"{local_stack.base_url}/console/", wait_until="networkidle", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Sign in (local stack)").wait_for(timeout=TIMEOUT_MS)
    violations["signin"] = _axe(page)
    page.screenshot(path=str(screenshots / "console-signin.png"), full_page=True)
    page.get_by_label("Clinic id").fill(clinic_id)
    page.get_by_label("Clinic id").press("Enter")  # the keyboard alone signs in

    # The worklist: counts, the clinic's local date, the severity filter.
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)
    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date().isoformat()
    assert page.locator("#clinic-date").inner_text() == today
    assert page.get_by_label("Severity at least").is_visible()
    violations["worklist"] = _axe(page)
    page.screenshot(path=str(screenshots / "console-worklist.png"), full_page=True)
    assert "#/clinics/" in page.url
    assert urlsplit(page.url).query == ""  # nothing but opaque ids in the address

    # Nothing needs attention yet for a patient just enrolled: open it by its address (later from the worklist).
    assert page.get_by_role("link", name=patient_id).count() == 0
    page.goto(f"{local_stack.base_url}/console/#/patients/{patient_id}")
    page.get_by_role("heading", name=f"Patient {patient_id}").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#patient-status").inner_text() == "enrolled"
    page.locator("#readiness-outcome").get_by_text("Not ready").wait_for(timeout=TIMEOUT_MS)  # no labs yet
    violations["patient"] = _axe(page)
    page.screenshot(path=str(screenshots / "console-patient.png"), full_page=True)

    # A negative value: refused, the problem's detail beside the value's field, nothing recorded.
    form = page.locator("#result-form")
    form.get_by_label("Item").select_option("cbc")
    form.get_by_label("Analyte 1 code").select_option("platelets")
    form.get_by_label("Analyte 1 value").fill("-3")
    form.get_by_role("button", name="Record result").click()
    page.locator("#result-form .problem-slot").wait_for(state="visible", timeout=TIMEOUT_MS)
    value_error = page.locator("#result-form .field-error:not([hidden])")
    assert "analytes[0].value" in value_error.first.inner_text()
    assert form.get_by_label("Analyte 1 value").get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(screenshots / "console-result-refused.png"), full_page=True)
    assert page.locator("#open-findings-list li").count() == 0

    # A CBC with platelets at 42: the critical finding heads the patient.
    form.get_by_label("Analyte 1 value").fill("42")
    form.get_by_label("Analyte 1 unit").select_option("10*9/L")
    form.get_by_label("Analyte 1 reference low").fill("150")
    form.get_by_label("Analyte 1 reference high").fill("400")
    form.get_by_role("button", name="Record result").click()
    page.locator("#notice").filter(has_text="platelets_below_100").wait_for(timeout=TIMEOUT_MS)
    first = page.locator("#open-findings-list li").first
    assert first.get_attribute("data-code") == "platelets_below_100"
    headings = page.locator("main h2").all_inner_texts()
    assert headings[0].startswith("Open findings (1)")  # the first section of the patient
    results = page.locator("section[aria-labelledby=results]")
    assert "platelets 42 10*9/L (reference 150 to 400 10*9/L)" in results.inner_text()
    violations["patient-finding"] = _axe(page)
    page.screenshot(path=str(screenshots / "console-patient-finding.png"), full_page=True)

    # The worklist: this patient first, critical, platelets_below_100 its first item.
    page.get_by_role("link", name="Back to the worklist").click()
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)
    first_row = page.locator("table.worklist tbody tr").first
    assert first_row.get_attribute("data-patient") == patient_id
    assert "CRITICAL" in first_row.locator("td").first.inner_text()
    assert _worklist_codes(page, patient_id)[0] == "platelets_below_100"
    assert int(page.locator(".counts li.sev-critical strong").inner_text()) >= 1
    page.get_by_label("Severity at least").select_option("critical")
    page.get_by_role("button", name="Apply").click()
    page.locator(f'tr[data-patient="{patient_id}"]').wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(screenshots / "console-worklist-critical.png"), full_page=True)

    # The morning digest names the console's worklist of the clinic; its link lands there, signed in.
    swept = requests.post(f"{local_stack.base_url}/_local/sweep", json={"date": today}, timeout=300)
    assert swept.status_code == 200, swept.text
    notices = requests.get(f"{local_stack.base_url}/_local/notices", timeout=30).json()
    (email,) = [
        n["email"] for n in notices if n["attributes"].get("kind") == "digest" and n["digest"]["clinic_id"] == clinic_id
    ]
    link_text = f"{local_stack.base_url}/console/#/clinics/{clinic_id}/worklist"
    assert f"Worklist: {link_text}" in email.splitlines()
    page.goto(link_text, timeout=TIMEOUT_MS)
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)

    # Acknowledge it from the patient: it closes, and leaves the worklist.
    page.get_by_role("link", name=patient_id).click()
    page.get_by_role("heading", name=f"Patient {patient_id}").wait_for(timeout=TIMEOUT_MS)
    finding = page.locator("#open-findings-list li").first
    finding.get_by_label("Action for finding platelets_below_100", exact=False).select_option("repeat_test_ordered")
    finding.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("No open findings.").wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(screenshots / "console-acknowledged.png"), full_page=True)
    page.get_by_role("link", name="Back to the worklist").click()
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)
    assert "platelets_below_100" not in _worklist_codes(page, patient_id)
    page.screenshot(path=str(screenshots / "console-worklist-after.png"), full_page=True)

    context.close()
    assert {screen: found for screen, found in violations.items() if found} == {}
    assert traffic.outside() == [], "the console reached past loopback"
    assert any(urlsplit(url).path == "/_local/token" for url in traffic.urls)
    assert traffic.errors == []


def test_a_patient_token_opens_no_clinician_screen(
    browser: Browser, local_stack: RunningStack, screenshots: Path
) -> None:
    clinic_id, patient_id = _clinic_with_patient(local_stack)
    token = local_stack.token("patients", sub=str(uuid.uuid4()))
    traffic = Traffic()
    context = _context(browser, traffic)
    context.add_init_script(f"sessionStorage.setItem('lemtrada.console.id_token', {token!r});")
    page = context.new_page()
    _watch(page, traffic)

    page.goto(f"{local_stack.base_url}/console/#/patients/{patient_id}", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Not found").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("alert").inner_text().strip() != ""
    page.screenshot(path=str(screenshots / "console-patient-not-found.png"), full_page=True)
    assert _axe(page) == []

    page.goto(f"{local_stack.base_url}/console/#/clinics/{clinic_id}/worklist", timeout=TIMEOUT_MS)
    page.reload()
    page.get_by_role("heading", name="Not found").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").count() == 0
    context.close()
    assert traffic.outside() == []
    assert traffic.errors == []


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_signing_in_with_the_hosted_ui_by_code_and_pkce(
    browser: Browser, local_stack: RunningStack, screenshots: Path
) -> None:
    """The AWS sign-in (config `auth: cognito`) against a stand-in for the hosted UI on the stack's origin: the
    console sends an S256 challenge and a state, trades the code with the verifier that hashes to it, keeps the
    ID token, drops the code from the address, and signs out through the hosted UI's logout."""
    clinic_id, _patient_id = _clinic_with_patient(local_stack)
    base = local_stack.base_url
    cognito = f"{base}/_test_cognito"
    console = f"{base}/console/index.html"
    config = {
        "auth": "cognito",
        "api_base": "",
        "auth_domain": cognito,
        "client_id": "console-client",
        "redirect_uri": console,
        "logout_uri": console,
    }
    id_token = local_stack.token("clinicians", clinic_id=clinic_id)
    seen: dict[str, Any] = {}
    traffic = Traffic()

    def hosted_ui(route: Route) -> None:
        request = route.request
        parts = urlsplit(request.url)
        if parts.path == "/console/config.json":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(config))
        elif parts.path == "/_test_cognito/oauth2/authorize":
            query = dict(parse_qsl(parts.query))
            seen["authorize"] = query
            target = f"{query['redirect_uri']}?{urlencode({'code': 'one-time-code', 'state': query['state']})}"
            route.fulfill(status=302, headers={"location": target})
        elif parts.path == "/_test_cognito/oauth2/token":
            seen["token"] = dict(parse_qsl(request.post_data or ""))
            route.fulfill(status=200, content_type="application/json", body=json.dumps({"id_token": id_token}))
        elif parts.path == "/_test_cognito/logout":
            seen["logout"] = dict(parse_qsl(parts.query))
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Signed out</title>")
        else:
            traffic.route(route)

    context = browser.new_context(viewport={"width": 1280, "height": 1200})
    context.route("**/*", hosted_ui)
    page = context.new_page()
    _watch(page, traffic)
    page.goto(f"{base}/console/", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=f"Worklist, clinic {clinic_id}").wait_for(timeout=TIMEOUT_MS)

    authorize = seen["authorize"]
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == "console-client"
    assert authorize["redirect_uri"] == console
    assert authorize["code_challenge_method"] == "S256"
    assert "openid" in authorize["scope"].split()
    token = seen["token"]
    assert token["grant_type"] == "authorization_code"
    assert token["code"] == "one-time-code"
    assert (token["client_id"], token["redirect_uri"]) == ("console-client", console)
    assert _b64url(hashlib.sha256(token["code_verifier"].encode()).digest()) == authorize["code_challenge"]
    assert len(token["code_verifier"]) >= 43  # RFC 7636: 43 to 128 characters
    assert "code=" not in page.url
    assert "state=" not in page.url
    page.screenshot(path=str(screenshots / "console-hosted-ui-worklist.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{cognito}/logout*", timeout=TIMEOUT_MS)
    assert seen["logout"] == {"client_id": "console-client", "logout_uri": console}
    assert page.evaluate("() => sessionStorage.length") == 0
    context.close()
    assert traffic.outside() == []
    assert traffic.errors == []


def test_the_worklist_and_a_patient_by_keyboard_alone(browser: Browser, local_stack: RunningStack) -> None:
    """From the screen's start Tab reaches the filter and the patient's link, Enter opens it, focus moves to the new
    screen, and Tab and Enter acknowledge the finding; a fresh load's first Tab is the skip link."""
    clinic_id, patient_id = _clinic_with_patient(local_stack)
    cbc = {"item": "cbc", "date": datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date().isoformat()}
    cbc["analytes"] = [{"code": "platelets", "value": 42, "unit": "10*9/L"}]  # type: ignore[assignment]
    recorded = requests.post(
        f"{local_stack.base_url}/patients/{patient_id}/results",
        json=cbc,
        headers=local_stack.headers("clinicians", clinic_id=clinic_id),
        timeout=30,
    )
    assert recorded.status_code == 201, recorded.text
    traffic = Traffic()
    context = _context(browser, traffic)
    page = context.new_page()
    _watch(page, traffic)
    _sign_in(page, local_stack, clinic_id)
    assert page.evaluate("() => document.activeElement.id") == "main"  # each screen takes the focus
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "() => document.activeElement.getAttribute('aria-label') || document.activeElement.textContent"
        )
        reached.append(str(label))
        if label == patient_id:
            break
    assert reached[-1] == patient_id, reached
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=f"Patient {patient_id}").wait_for(timeout=TIMEOUT_MS)
    assert page.evaluate("() => document.activeElement.id") == "main"  # a screen reader starts at the new screen
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.tagName") == "SELECT":
            break
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the finding's Acknowledge button, reviewed
    page.get_by_text("No open findings.").wait_for(timeout=TIMEOUT_MS)

    # An infusion from the form: its deviations show on the patient, each with its own acknowledgement.
    infusion = page.locator("#infusion-form")
    infusion.get_by_label("Batch number").fill("")
    infusion.get_by_role("button", name="Record infusion").click()
    page.locator("#notice").filter(has_text="Infusion of").wait_for(timeout=TIMEOUT_MS)
    deviations = page.locator("section[aria-labelledby=infusions] li[data-code]")
    codes = deviations.evaluate_all("els => els.map(e => e.dataset.code)")
    assert "no_batch_number" in codes, page.locator("main").inner_text()
    missing_batch = page.locator('section[aria-labelledby=infusions] li[data-code="no_batch_number"]')
    missing_batch.get_by_role("combobox").select_option("not_applicable")
    missing_batch.get_by_role("button", name="Acknowledge").click()
    page.locator('section[aria-labelledby=infusions] li[data-code="no_batch_number"] .ok').wait_for(timeout=TIMEOUT_MS)
    assert _axe(page) == []

    page.reload()
    page.get_by_role("heading", name=f"Patient {patient_id}").wait_for(timeout=TIMEOUT_MS)
    first = "() => document.querySelector('a[href], button, input, select, textarea').textContent"
    assert page.evaluate(first) == "Skip to content"  # the first stop of a fresh page's Tab order
    page.get_by_role("link", name="Skip to content").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    assert page.get_by_role("heading", name=f"Patient {patient_id}").is_visible()  # still the same screen
    context.close()
    assert traffic.outside() == []


def test_the_worklist_pages_and_filters(browser: Browser, local_stack: RunningStack, screenshots: Path) -> None:
    """Six patients with a critical finding: five a page, the next page with the sixth, back to the same five; a
    severity filter keeps the page size and its patients (filtering out is the API's, tested in tests/functional)."""
    clinic_id, first = _clinic_with_patient(local_stack)
    clinician = {**local_stack.headers("clinicians", clinic_id=clinic_id)}
    patients = [first]
    for _ in range(5):
        enrolled = requests.post(f"{local_stack.base_url}/patients", json=ENROLLMENT, headers=clinician, timeout=30)
        assert enrolled.status_code == 201, enrolled.text
        patients.append(str(enrolled.json()["patient_id"]))
    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date().isoformat()
    for patient_id in patients:
        cbc = {"item": "cbc", "date": today, "analytes": [{"code": "platelets", "value": 30, "unit": "10*9/L"}]}
        recorded = requests.post(
            f"{local_stack.base_url}/patients/{patient_id}/results", json=cbc, headers=clinician, timeout=30
        )
        assert recorded.status_code == 201, recorded.text
    traffic = Traffic()
    context = _context(browser, traffic)
    page = context.new_page()
    _watch(page, traffic)
    _sign_in(page, local_stack, clinic_id)
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() == 6
    assert page.locator(".counts li.sev-critical strong").inner_text() == "6"

    page.get_by_label("Patients per page").select_option("5")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Page 1").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelectorAll('table.worklist tbody tr').length === 5")
    on_first = rows.evaluate_all("els => els.map(e => e.dataset.patient)")
    assert page.get_by_role("button", name="Previous page").is_disabled()
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("Page 2").wait_for(timeout=TIMEOUT_MS)
    on_second = rows.evaluate_all("els => els.map(e => e.dataset.patient)")
    assert len(on_second) == 1
    assert sorted(on_first + on_second) == sorted(patients)  # each patient once over the pages
    assert page.get_by_role("button", name="Next page").is_disabled()
    page.screenshot(path=str(screenshots / "console-worklist-page-2.png"), full_page=True)
    page.get_by_role("button", name="Previous page").click()
    page.get_by_text("Page 1").wait_for(timeout=TIMEOUT_MS)
    assert rows.evaluate_all("els => els.map(e => e.dataset.patient)") == on_first

    page.get_by_label("Severity at least").select_option("major")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Page 1").wait_for(timeout=TIMEOUT_MS)
    assert rows.count() == 5  # every patient here has a critical item
    context.close()
    assert traffic.outside() == []
    assert traffic.errors == []

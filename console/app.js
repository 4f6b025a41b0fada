// The clinician console: hash routes (#/signin, #/clinics/<id>/worklist, #/patients/<id>) over the regimen API.
// Only opaque ids ever appear in the address; everything else stays in memory.

import { ApiError, api, configure } from "./api.js";
import {
  cognitoSignIn,
  completeCognitoSignIn,
  localSignIn,
  signOut,
  signedIn,
} from "./auth.js";
import { checkbox, clearProblem, field, h, problemSlot, select, severityBadge, showProblem } from "./dom.js";

const SEVERITIES = ["critical", "major", "minor", "info"];
const RESULT_ITEMS = [
  "cbc", "creatinine", "urinalysis", "liver", "thyroid", "skin_exam", "hpv_screening", "cd4",
  "urine_protein_creatinine", "immunizations", "tb_screening", "listeria_counseling", "fetal_risk_education", "vzv",
];
const ACTIONS = [
  ["reviewed", "Reviewed"],
  ["repeat_test_ordered", "Repeat test ordered"],
  ["referred", "Referred"],
  ["treatment_started", "Treatment started"],
  ["patient_contacted", "Patient contacted"],
  ["not_applicable", "Not applicable"],
];
const ROUTES = ["iv_infusion", "iv_push", "iv_bolus"];

let config = { auth: "local", api_base: "" };
let analyteCatalogue = {};
const main = () => document.getElementById("main");
// Worklist paging and filter, per clinic, kept out of the address.
const worklistState = new Map();

function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 30);
}

function render(title, ...content) {
  document.title = `${title} - Lemtrada clinician console`;
  const target = main();
  target.replaceChildren(...content.flat().filter((node) => node !== null && node !== undefined && node !== false));
  target.focus({ preventScroll: false });
  updateHeader();
}

function updateHeader() {
  const who = document.getElementById("who");
  const user = signedIn();
  if (!user) {
    who.replaceChildren();
    return;
  }
  who.replaceChildren(
    h("span", {}, user.clinicId ? `Clinic ${user.clinicId}` : user.groups.join(", ")),
    h("button", { type: "button", onclick: () => signOut(config) }, "Sign out"),
  );
  const link = document.querySelector('[data-nav="worklist"]');
  if (link && user.clinicId) link.setAttribute("href", `#/clinics/${encodeURIComponent(user.clinicId)}/worklist`);
}

function notFound(detail) {
  render(
    "Not found",
    h("h1", {}, "Not found"),
    h("p", { class: "problem", role: "alert" }, detail || "There is nothing here for your account."),
    h("p", {}, h("a", { href: "#/worklist" }, "Back to the worklist")),
  );
}

function failed(error) {
  if (error instanceof ApiError && error.notFound) {
    notFound(error.message);
    return;
  }
  if (error instanceof ApiError && error.status === 401) {
    window.location.hash = "#/signin";
    return;
  }
  render("Error", h("h1", {}, "Something went wrong"), h("p", { class: "problem", role: "alert" }, error.message));
}

// ---- sign-in ------------------------------------------------------------------------------------------------
function signInView() {
  if (config.auth === "cognito") {
    render(
      "Sign in",
      h("h1", {}, "Sign in"),
      h("p", {}, "Sign in with your clinic account."),
      h("button", { type: "button", onclick: () => cognitoSignIn(config) }, "Sign in"),
    );
    return;
  }
  const clinic = h("input", { name: "clinic_id", autocomplete: "off", required: true, value: "lyon-neuro" });
  const sub = h("input", { name: "sub", autocomplete: "off" });
  const form = h(
    "form",
    { class: "signin", novalidate: true },
    problemSlot(),
    field("Clinic id", clinic, { field: "clinic_id" }),
    field("User id (optional)", sub, { field: "sub", hint: "Left empty, the local stack makes one up." }),
    h("p", {}, h("button", { type: "submit" }, "Sign in as a clinician")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(form);
    try {
      await localSignIn(config, { role: "clinicians", clinicId: clinic.value.trim(), sub: sub.value.trim() });
      window.location.hash = "#/worklist";
    } catch (error) {
      showProblem(form, new ApiError(400, { detail: error.message }));
    }
  });
  render(
    "Sign in",
    h("h1", {}, "Sign in (local stack)"),
    h("p", { class: "muted" }, "The local stack signs a clinician token through /_local/token."),
    form,
  );
}

// ---- worklist -----------------------------------------------------------------------------------------------
function itemText(item) {
  const parts = [item.code];
  if (item.k !== null && item.k !== undefined) parts.push(`#${item.k}`);
  if (item.state) parts.push(item.state);
  if (item.due_date) parts.push(`due ${item.due_date}`);
  if (item.date) parts.push(`(${item.date})`);
  return parts.join(" ");
}

async function worklistView(clinicId) {
  const state = worklistState.get(clinicId) || { severity: "", date: "", cursors: [], cursor: null, limit: 20 };
  worklistState.set(clinicId, state);
  const answer = await api.worklist(clinicId, {
    severity: state.severity,
    date: state.date,
    cursor: state.cursor,
    limit: state.limit,
  });

  const severity = select([["", "Any severity"], ...SEVERITIES.map((s) => [s, `${s} or worse`])], {
    name: "severity",
    value: state.severity,
  });
  const day = h("input", { type: "date", name: "date", value: state.date || answer.date });
  const perPage = select(["5", "20", "50", "100", "200"], { name: "limit", value: String(state.limit) });
  const filter = h(
    "form",
    { class: "row", "aria-label": "Filter the worklist" },
    problemSlot(),
    field("Severity at least", severity, { field: "severity" }),
    field("Date", day, { field: "date" }),
    field("Patients per page", perPage, { field: "limit" }),
    h("div", {}, h("button", { type: "submit" }, "Apply")),
  );
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    state.severity = severity.value;
    state.limit = Number(perPage.value);
    state.date = day.value === answer.date && !state.date ? "" : day.value;
    state.cursor = null;
    state.cursors = [];
    route();
  });

  const counts = h(
    "ul",
    { class: "counts", "aria-label": "Counts" },
    SEVERITIES.map((s) => h("li", { class: `sev-${s}` }, h("strong", {}, answer.counts[s]), `${s} items`)),
    h("li", {}, h("strong", {}, answer.counts.patients), "patients"),
  );

  const rows = answer.patients.map((patient) =>
    h(
      "tr",
      { dataset: { patient: patient.patient_id } },
      h("td", {}, severityBadge(patient.priority)),
      h(
        "td",
        {},
        h("a", { href: `#/patients/${encodeURIComponent(patient.patient_id)}` }, patient.patient_id),
        patient.external_ref ? h("div", { class: "muted" }, `ref ${patient.external_ref}`) : null,
      ),
      h("td", {}, patient.status),
      h(
        "td",
        {},
        h(
          "ul",
          { class: "findings" },
          patient.items.map((item) =>
            h("li", { class: `sev-${item.severity}-line`, dataset: { code: item.code } }, severityBadge(item.severity), " ", itemText(item)),
          ),
        ),
      ),
    ),
  );
  const table = answer.patients.length
    ? h(
        "table",
        { class: "worklist" },
        h("caption", {}, `Patients needing attention on ${answer.date}, most urgent first`),
        h("thead", {}, h("tr", {}, ["Priority", "Patient", "Status", "Items"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      )
    : h("p", { class: "notice" }, "Nothing needs attention.");

  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Worklist pages" },
    h("p", { id: "page-number" }, `Page ${state.cursors.length + 1}`),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        disabled: state.cursors.length === 0,
        onclick: () => {
          state.cursor = state.cursors.pop() ?? null;
          route();
        },
      },
      "Previous page",
    ),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        disabled: !answer.next_cursor,
        onclick: () => {
          state.cursors.push(state.cursor);
          state.cursor = answer.next_cursor;
          route();
        },
      },
      "Next page",
    ),
  );

  render(
    "Worklist",
    h("h1", {}, `Worklist, clinic ${answer.clinic_id}`),
    h("p", {}, "Clinic date: ", h("strong", { id: "clinic-date" }, answer.date)),
    counts,
    filter,
    table,
    pager,
  );
}

// ---- patient ------------------------------------------------------------------------------------------------
function ackForm(patientId, kind, ref, label) {
  const action = select(ACTIONS, { name: "action" });
  const form = h(
    "form",
    { class: "row ack", "aria-label": `Acknowledge ${label}`, dataset: { ref } },
    problemSlot(),
    field(`Action for ${label}`, action, { field: "action" }),
    h("div", {}, h("button", { type: "submit" }, "Acknowledge")),
  );
  const key = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(form);
    try {
      await api.acknowledge(patientId, { kind, ref, action: action.value }, `${key}-${action.value}`);
      await patientView(patientId, { message: `${label} acknowledged (${action.value}).` });
      announce(`${label} acknowledged`);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

function findingsList(findings) {
  if (!findings || !findings.length) return null;
  return h(
    "ul",
    { class: "findings" },
    findings.map((f) => h("li", { class: `sev-${f.severity || "major"}-line` }, f.severity ? severityBadge(f.severity) : null, " ", h("code", {}, f.code), ` ${f.detail || ""}`)),
  );
}

function openFindingsSection(patientId, patient) {
  const order = (f) => SEVERITIES.indexOf(f.severity);
  const findings = [...patient.open_findings].sort((a, b) => order(a) - order(b) || a.date.localeCompare(b.date));
  return h(
    "section",
    { "aria-labelledby": "open-findings" },
    h("h2", { id: "open-findings" }, `Open findings (${findings.length})`),
    findings.length
      ? h(
          "ul",
          { class: "findings", id: "open-findings-list" },
          findings.map((f) =>
            h(
              "li",
              { class: `sev-${f.severity}-line`, dataset: { code: f.code, finding: f.finding_id } },
              severityBadge(f.severity),
              " ",
              h("strong", {}, f.code),
              ` on ${f.date}: ${f.detail}`,
              h("div", { class: "muted" }, f.source),
              ackForm(patientId, "finding", f.finding_id, `finding ${f.code} of ${f.date}`),
            ),
          ),
        )
      : h("p", { class: "ok" }, "No open findings."),
  );
}

function readinessSection(patientId, today) {
  const start = h("input", { type: "date", name: "start", value: today, required: true });
  const outcome = h("div", { id: "readiness-outcome", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "row", "aria-label": "Readiness for a start date" },
    problemSlot(),
    field("Course start date", start, { field: "start" }),
    h("div", {}, h("button", { type: "submit" }, "Check readiness")),
  );
  const check = async () => {
    clearProblem(form);
    try {
      const answer = await api.readiness(patientId, start.value);
      outcome.replaceChildren(
        h(
          "p",
          {},
          h("strong", { class: answer.ready ? "ok" : "" }, answer.ready ? "Ready" : "Not ready"),
          ` for course ${answer.course} starting ${answer.start}.`,
          answer.earliest_start ? ` Earliest start: ${answer.earliest_start}.` : "",
        ),
        answer.blockers.length
          ? h("ul", {}, answer.blockers.map((b) => h("li", {}, h("code", {}, b.code), ` ${b.detail}`)))
          : null,
      );
    } catch (error) {
      showProblem(form, error);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    check();
  });
  check();
  return h(
    "section",
    { "aria-labelledby": "readiness" },
    h("h2", { id: "readiness" }, "Readiness"),
    form,
    outcome,
  );
}

function scheduleSection(patientId, schedule) {
  const entries = [
    ...schedule.occurrences.map((o) => ({ date: o.due_date, occurrence: o })),
    ...schedule.milestones.map((m) => ({ date: m.date, milestone: m })),
  ].sort((a, b) => a.date.localeCompare(b.date));
  const line = (entry) => {
    if (entry.milestone) {
      return h("li", { class: "milestone" }, h("strong", {}, entry.date), ` milestone ${entry.milestone.code}`);
    }
    const o = entry.occurrence;
    const acknowledgeable = o.status === "overdue" || o.status === "missed";
    return h(
      "li",
      { class: `st-${o.status}`, dataset: { item: o.item, k: o.k } },
      h("strong", {}, o.due_date),
      ` ${o.item} #${o.k}: `,
      h("span", { class: "status" }, o.status),
      ` (window opens ${o.window_opens})`,
      o.satisfied_by ? h("span", { class: "muted" }, `, result ${o.satisfied_by}`) : null,
      findingsList(o.findings),
      acknowledgeable ? ackForm(patientId, "occurrence", `${o.item}:${o.k}`, `${o.item} #${o.k}`) : null,
    );
  };
  const asOf = schedule.as_of;
  const opened = (e) => e.date <= asOf || (e.occurrence && e.occurrence.window_opens <= asOf);
  // Up to today and the next few: what a clinician plans with; the years after stay folded.
  const shown = new Set([...entries.filter(opened), ...entries.filter((e) => !opened(e)).slice(0, 8)]);
  const current = entries.filter((e) => shown.has(e));
  const later = entries.filter((e) => !shown.has(e));
  return h(
    "section",
    { "aria-labelledby": "schedule" },
    h("h2", { id: "schedule" }, "Schedule"),
    h("p", { class: "muted" }, `As of ${asOf}`, schedule.monitoring_ends ? `; monitoring ends ${schedule.monitoring_ends}` : ""),
    entries.length
      ? h("ol", { class: "timeline", "aria-label": "Up to today and next" }, current.map(line))
      : h("p", {}, "Nothing scheduled yet: monitoring starts with the first infusion."),
    later.length
      ? h("details", {}, h("summary", {}, `Later (${later.length})`), h("ol", { class: "timeline", "aria-label": "Later" }, later.map(line)))
      : null,
  );
}

function analyteText(a) {
  const range = [a.low, a.high].some((v) => v !== null && v !== undefined)
    ? ` (reference ${a.low ?? "-"} to ${a.high ?? "-"} ${a.unit})`
    : "";
  return `${a.code} ${a.value} ${a.unit}${range}`;
}

function resultsSection(results) {
  const rows = [...results].sort((a, b) => b.date.localeCompare(a.date));
  return h(
    "section",
    { "aria-labelledby": "results" },
    h("h2", { id: "results" }, `Results (${rows.length})`),
    rows.length
      ? h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Date", "Item", "Values", "Findings"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                { dataset: { result: r.result_id } },
                h("td", {}, r.date),
                h("td", {}, r.item, r.satisfied ? h("div", { class: "muted" }, `${r.satisfied.item} #${r.satisfied.k}`) : null),
                h(
                  "td",
                  {},
                  h(
                    "ul",
                    {},
                    r.analytes.map((a) => h("li", {}, analyteText(a))),
                    r.value !== null && r.value !== undefined && !r.analytes.length ? h("li", {}, `${r.value} ${r.unit || ""}`) : null,
                    r.status ? h("li", {}, `status ${r.status}`) : null,
                  ),
                ),
                h("td", {}, findingsList(r.findings) || h("span", { class: "muted" }, "none")),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No results recorded."),
  );
}

function infusionsSection(patientId, patient) {
  const acknowledged = new Set(
    (patient.acknowledgements || []).filter((a) => a.kind === "deviation").map((a) => a.ref),
  );
  const infusions = patient.courses.flatMap((c) => c.infusions);
  return h(
    "section",
    { "aria-labelledby": "infusions" },
    h("h2", { id: "infusions" }, `Infusions (${infusions.length})`),
    patient.courses.map((course) =>
      h(
        "div",
        {},
        h("h3", {}, `Course ${course.course}: ${course.infusion_count} of ${course.required} infusions${course.complete ? ", complete" : ""}`),
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Date", "Day", "Dose", "Times", "Deviations"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            course.infusions.map((i) =>
              h(
                "tr",
                {},
                h("td", {}, i.date),
                h("td", {}, i.day),
                h("td", {}, `${i.dose_mg} mg ${i.route}`),
                h("td", {}, `${i.started_at} to ${i.ended_at}`),
                h(
                  "td",
                  {},
                  i.deviations.length
                    ? h(
                        "ul",
                        { class: "findings" },
                        i.deviations.map((d) => {
                          const ref = `${i.date}:${d.code}`;
                          return h(
                            "li",
                            { class: `sev-${d.severity}-line`, dataset: { code: d.code } },
                            severityBadge(d.severity),
                            " ",
                            h("code", {}, d.code),
                            d.detail ? ` ${d.detail}` : "",
                            acknowledged.has(ref)
                              ? h("div", { class: "ok" }, "acknowledged")
                              : ackForm(patientId, "deviation", ref, `deviation ${d.code} of ${i.date}`),
                          );
                        }),
                      )
                    : h("span", { class: "muted" }, "none"),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function analyteRow(item, index, remove) {
  const known = analyteCatalogue[item] || [];
  const code = select(known.map((a) => a.code), { name: "code" });
  const unit = select([], { name: "unit" });
  const fillUnits = () => {
    const spec = known.find((a) => a.code === code.value);
    unit.replaceChildren(...(spec ? spec.units : []).map((u) => h("option", { value: u }, u)));
  };
  code.addEventListener("change", fillUnits);
  if (known[index]) code.value = known[index].code;
  fillUnits();
  const value = h("input", { type: "number", step: "any", min: "0", name: "value", required: true, inputmode: "decimal" });
  const low = h("input", { type: "number", step: "any", min: "0", name: "low", inputmode: "decimal" });
  const high = h("input", { type: "number", step: "any", min: "0", name: "high", inputmode: "decimal" });
  const n = index + 1;
  const row = h(
    "fieldset",
    { class: "analyte" },
    h("legend", {}, `Analyte ${n}`),
    h(
      "div",
      { class: "row" },
      field(`Analyte ${n} code`, code, { field: `analytes[${index}].code` }),
      field(`Analyte ${n} value`, value, { field: `analytes[${index}].value` }),
      field(`Analyte ${n} unit`, unit, { field: `analytes[${index}].unit` }),
      field(`Analyte ${n} reference low`, low, { field: `analytes[${index}].low` }),
      field(`Analyte ${n} reference high`, high, { field: `analytes[${index}].high` }),
      h("div", {}, h("button", { type: "button", class: "secondary", onclick: remove }, `Remove analyte ${n}`)),
    ),
  );
  row.read = () => {
    const entry = { code: code.value, value: Number(value.value), unit: unit.value };
    if (value.value === "") entry.value = null;
    if (low.value !== "") entry.low = Number(low.value);
    if (high.value !== "") entry.high = Number(high.value);
    return entry;
  };
  return row;
}

function resultForm(patientId, today) {
  const item = select(RESULT_ITEMS, { name: "item", value: "cbc" });
  const date = h("input", { type: "date", name: "date", value: today, required: true });
  const value = h("input", { type: "number", step: "any", name: "value", inputmode: "decimal" });
  const unit = h("input", { name: "unit", autocomplete: "off" });
  const status = h("input", { name: "status", autocomplete: "off" });
  const rows = h("div", { class: "analytes" });
  let analytes = [];
  const redraw = () => {
    rows.replaceChildren(...analytes);
  };
  const rebuild = (count) => {
    analytes = [];
    for (let index = 0; index < count; index += 1) addRow();
    redraw();
  };
  const addRow = () => {
    const row = analyteRow(item.value, analytes.length, () => {
      const kept = analytes.filter((r) => r !== row).map((r) => r.read());
      rebuild(0);
      kept.forEach(() => addRow());
      redraw();
    });
    analytes.push(row);
    redraw();
  };
  item.addEventListener("change", () => rebuild((analyteCatalogue[item.value] || []).length ? 1 : 0));
  const form = h(
    "form",
    { id: "result-form", "aria-label": "Record a result", novalidate: true },
    problemSlot(),
    h("div", { class: "row" }, field("Item", item, { field: "item" }), field("Date", date, { field: "date" })),
    rows,
    h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => addRow() }, "Add analyte")),
    h(
      "details",
      {},
      h("summary", {}, "Value, unit or status without analytes (cd4, vzv, tb_screening)"),
      h(
        "div",
        { class: "row" },
        field("Value", value, { field: "value" }),
        field("Unit", unit, { field: "unit" }),
        field("Status", status, { field: "status", hint: "vzv, tb_screening: e.g. positive or negative" }),
      ),
    ),
    h("p", {}, h("button", { type: "submit" }, "Record result")),
  );
  rebuild(1);
  const key = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(form);
    const body = { item: item.value, date: date.value, analytes: analytes.map((r) => r.read()) };
    if (value.value !== "") body.value = Number(value.value);
    if (unit.value.trim()) body.unit = unit.value.trim();
    if (status.value.trim()) body.status = status.value.trim();
    try {
      const recorded = await api.recordResult(patientId, body, `${key}-${JSON.stringify(body).length}-${body.date}`);
      const found = (recorded.findings || []).map((f) => `${f.code} (${f.severity})`).join(", ");
      const message = `Result ${recorded.item} of ${recorded.date} recorded${found ? `; findings: ${found}` : "; no findings"}.`;
      await patientView(patientId, { message });
      announce(message);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

function offsetOf(day) {
  // ISO 8601 needs an offset: the browser's own on that day (the console runs at the clinic).
  const minutes = -new Date(`${day}T12:00:00`).getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function infusionForm(patientId, today) {
  const date = h("input", { type: "date", name: "date", value: today, required: true });
  const dose = h("input", { type: "number", step: "any", name: "dose_mg", value: "12", required: true });
  const diluted = h("input", { type: "time", name: "diluted_at", value: "08:00", required: true });
  const started = h("input", { type: "time", name: "started_at", value: "08:30", required: true });
  const ended = h("input", { type: "time", name: "ended_at", value: "12:45", required: true });
  const routeSelect = select(ROUTES, { name: "route", value: "iv_infusion" });
  const coInfused = h("input", { name: "co_infused" });
  const mp = h("input", { type: "number", step: "any", name: "methylprednisolone_mg", value: "1000", required: true });
  const antiviral = h("input", { name: "antiviral_prophylaxis", checked: true });
  const observation = h("input", { type: "number", name: "observation_minutes", value: "120", min: "0" });
  const batch = h("input", { name: "batch_number", autocomplete: "off" });
  const course = h("input", { type: "number", name: "course", min: "1", max: "20" });
  const form = h(
    "form",
    { id: "infusion-form", "aria-label": "Record an infusion", novalidate: true },
    problemSlot(),
    h(
      "div",
      { class: "row" },
      field("Infusion date", date, { field: "date" }),
      field("Dose (mg)", dose, { field: "dose_mg" }),
      field("Route", routeSelect, { field: "route" }),
      field("Course (optional)", course, { field: "course" }),
    ),
    h(
      "div",
      { class: "row" },
      field("Diluted at (local time)", diluted, { field: "diluted_at" }),
      field("Started at (local time)", started, { field: "started_at" }),
      field("Ended at (local time)", ended, { field: "ended_at" }),
    ),
    h(
      "div",
      { class: "row" },
      field("Methylprednisolone (mg)", mp, { field: "methylprednisolone_mg" }),
      field("Observation (minutes)", observation, { field: "observation_minutes" }),
      field("Batch number", batch, { field: "batch_number" }),
    ),
    checkbox("Co-infused with another drug", coInfused, { field: "co_infused" }),
    checkbox("Antiviral prophylaxis given", antiviral, { field: "antiviral_prophylaxis" }),
    h("p", {}, h("button", { type: "submit" }, "Record infusion")),
  );
  const key = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(form);
    const offset = offsetOf(date.value || today);
    const at = (time) => (time.value ? `${date.value}T${time.value}:00${offset}` : "");
    const body = {
      date: date.value,
      dose_mg: Number(dose.value),
      diluted_at: at(diluted),
      started_at: at(started),
      ended_at: at(ended),
      route: routeSelect.value,
      co_infused: coInfused.checked,
      methylprednisolone_mg: Number(mp.value),
      antiviral_prophylaxis: antiviral.checked,
    };
    if (observation.value !== "") body.observation_minutes = Number(observation.value);
    if (batch.value.trim()) body.batch_number = batch.value.trim();
    if (course.value !== "") body.course = Number(course.value);
    try {
      const recorded = await api.recordInfusion(patientId, body, `${key}-${body.date}`);
      const deviations = recorded.deviations.map((d) => `${d.code} (${d.severity})`).join(", ");
      const message = `Infusion of ${recorded.date} recorded: course ${recorded.course}, day ${recorded.day}${deviations ? `; deviations: ${deviations}` : ""}.`;
      await patientView(patientId, { message });
      announce(message);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

async function patientView(patientId, { message } = {}) {
  const [patient, schedule] = await Promise.all([api.patient(patientId), api.schedule(patientId)]);
  let results = null;
  try {
    results = (await api.results(patientId)).results;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  const today = schedule.as_of;
  const user = signedIn();
  render(
    `Patient ${patient.patient_id}`,
    h("p", {}, h("a", { href: `#/clinics/${encodeURIComponent(patient.clinic_id || user.clinicId)}/worklist` }, "Back to the worklist")),
    h("h1", {}, `Patient ${patient.patient_id}`),
    message ? h("p", { class: "notice", id: "notice" }, message) : null,
    openFindingsSection(patientId, patient),
    h(
      "section",
      { "aria-labelledby": "status" },
      h("h2", { id: "status" }, "Status"),
      h(
        "dl",
        {},
        h("dt", {}, "Status"),
        h("dd", { id: "patient-status" }, patient.status),
        patient.external_ref ? [h("dt", {}, "External reference"), h("dd", {}, patient.external_ref)] : null,
        h("dt", {}, "Enrolled on"),
        h("dd", {}, patient.profile.enrolled_on),
        h("dt", {}, "Monitoring ends"),
        h("dd", {}, patient.monitoring_ends || "not yet known"),
        (patient.key_dates || []).length
          ? [h("dt", {}, "Key dates"), h("dd", {}, patient.key_dates.map((k) => `${k.code} ${k.date}`).join("; "))]
          : null,
        patient.profile.warnings && patient.profile.warnings.length
          ? [h("dt", {}, "Warnings"), h("dd", {}, patient.profile.warnings.map((w) => w.code || w).join(", "))]
          : null,
      ),
    ),
    readinessSection(patientId, today),
    scheduleSection(patientId, schedule),
    results ? resultsSection(results) : null,
    infusionsSection(patientId, patient),
    h("section", { "aria-labelledby": "record-result" }, h("h2", { id: "record-result" }, "Record a result"), resultForm(patientId, today)),
    h("section", { "aria-labelledby": "record-infusion" }, h("h2", { id: "record-infusion" }, "Record an infusion"), infusionForm(patientId, today)),
  );
}

// ---- router -------------------------------------------------------------------------------------------------
async function route() {
  const hash = window.location.hash || "#/worklist";
  const user = signedIn();
  if (hash === "#/signin" || !user) {
    if (hash !== "#/signin") window.location.hash = "#/signin";
    else signInView();
    return;
  }
  const parts = hash.slice(2).split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "worklist") {
      if (!user.clinicId) {
        notFound("Your account belongs to no clinic.");
        return;
      }
      window.location.replace(`#/clinics/${encodeURIComponent(user.clinicId)}/worklist`);
    } else if (parts[0] === "clinics" && parts[2] === "worklist" && parts.length === 3) {
      await worklistView(parts[1]);
    } else if (parts[0] === "patients" && parts.length === 2) {
      await patientView(parts[1]);
    } else {
      notFound("No such page.");
    }
  } catch (error) {
    failed(error);
  }
}

async function start() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch {
    // No config: the local defaults (same origin, local sign-in).
  }
  configure(config);
  try {
    analyteCatalogue = await (await fetch("analytes.json")).json();
  } catch {
    analyteCatalogue = {};
  }
  if (config.auth === "cognito") {
    try {
      await completeCognitoSignIn(config);
    } catch (error) {
      render("Sign in", h("h1", {}, "Sign in failed"), h("p", { class: "problem", role: "alert" }, error.message));
      return;
    }
  }
  // The skip link moves the focus only: its #main must not become a route.
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  window.addEventListener("hashchange", route);
  await route();
}

start();

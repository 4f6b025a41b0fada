// Building the page from data with DOM nodes only (no HTML parsing): every value from the API becomes a text node.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let uniqueCounter = 0;

/** A fresh element id (labels and described-by links need one). */
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

export function severityBadge(severity) {
  return h("span", { class: `badge sev-${severity}` }, severity.toUpperCase());
}

/** A labelled control: the label, the control, and a slot for the API's error on this field. */
export function field(labelText, control, { field: name, hint } = {}) {
  const id = control.id || uid("f");
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  if (name) control.dataset.field = name;
  return h(
    "div",
    { class: "control" },
    h("label", { for: id }, labelText),
    hint ? h("p", { class: "muted", id: `${id}-hint` }, hint) : null,
    control,
    error,
  );
}

export function checkbox(labelText, control, { field: name } = {}) {
  const id = control.id || uid("c");
  control.id = id;
  control.type = "checkbox";
  if (name) control.dataset.field = name;
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  control.setAttribute("aria-describedby", `${id}-error`);
  return h("div", { class: "control check" }, control, h("label", { for: id }, labelText), error);
}

/** Show an ApiError on a form: its detail at the top, and each named field's detail beside that field. */
export function showProblem(form, error) {
  clearProblem(form);
  const box = form.querySelector(".problem-slot");
  const fields = error.fields || {};
  let placed = 0;
  for (const [name, detail] of Object.entries(fields)) {
    const control = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!control) continue;
    const slot = form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (!slot) continue;
    slot.hidden = false;
    slot.textContent = `${name}: ${detail}`;
    control.setAttribute("aria-invalid", "true");
    placed += 1;
  }
  if (box) {
    box.hidden = false;
    box.replaceChildren(
      h("p", {}, h("strong", {}, "Not recorded: "), error.message),
      ...Object.entries(fields)
        .filter(([name]) => !form.querySelector(`[data-field="${CSS.escape(name)}"]`))
        .map(([name, detail]) => h("p", {}, `${name}: ${detail}`)),
    );
    if (!placed) box.focus();
  }
  const firstInvalid = form.querySelector('[aria-invalid="true"]');
  if (firstInvalid) firstInvalid.focus();
}

export function clearProblem(form) {
  const box = form.querySelector(".problem-slot");
  if (box) {
    box.hidden = true;
    box.replaceChildren();
  }
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const control of form.querySelectorAll('[aria-invalid="true"]')) control.removeAttribute("aria-invalid");
}

export function problemSlot() {
  return h("div", { class: "problem problem-slot", role: "alert", tabindex: "-1", hidden: true });
}

export function select(options, attributes = {}) {
  return h(
    "select",
    attributes,
    options.map((option) => {
      const [value, text] = Array.isArray(option) ? option : [option, option];
      return h("option", { value, selected: value === attributes.value ? true : null }, text);
    }),
  );
}

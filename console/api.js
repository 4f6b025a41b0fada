// The API client: the ID token as a bearer, JSON in and out, problem+json turned into ApiError.

import { currentToken } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || problem.message || `request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }

  /** Field path -> detail, for the problem's errors that name a field (`analytes[0].code`). */
  get fields() {
    const named = {};
    for (const error of this.problem.errors || []) {
      if (error.field) named[error.field] = error.detail || error.code;
    }
    return named;
  }

  get notFound() {
    return this.status === 404;
  }
}

let base = "";

export function configure(config) {
  base = (config.api_base || "").replace(/\/$/, "");
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export async function request(method, path, { query, body, idempotencyKey } = {}) {
  const headers = { accept: "application/json, application/problem+json" };
  const token = currentToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["idempotency-key"] = idempotencyKey || newKey();
  const search = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null))}` : "";
  let response;
  try {
    response = await fetch(`${base}${path}${search}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { detail: `the service could not be reached (${error.message})` });
  }
  const text = await response.text();
  let answer = {};
  if (text) {
    try {
      answer = JSON.parse(text);
    } catch {
      answer = { detail: text };
    }
  }
  if (!response.ok) {
    if (response.status === 401) answer = { ...answer, detail: "your session has ended: sign in again" };
    if (response.status === 404 && !answer.detail) answer = { ...answer, detail: "not found" };
    throw new ApiError(response.status, answer);
  }
  return answer;
}

const id = encodeURIComponent;

export const api = {
  worklist: (clinicId, query) => request("GET", `/clinics/${id(clinicId)}/worklist`, { query }),
  patient: (patientId) => request("GET", `/patients/${id(patientId)}`),
  results: (patientId) => request("GET", `/patients/${id(patientId)}/results`),
  schedule: (patientId) => request("GET", `/patients/${id(patientId)}/schedule`),
  readiness: (patientId, start) => request("GET", `/patients/${id(patientId)}/readiness`, { query: { start } }),
  recordResult: (patientId, body, key) =>
    request("POST", `/patients/${id(patientId)}/results`, { body, idempotencyKey: key }),
  recordInfusion: (patientId, body, key) =>
    request("POST", `/patients/${id(patientId)}/infusions`, { body, idempotencyKey: key }),
  acknowledge: (patientId, body, key) =>
    request("POST", `/patients/${id(patientId)}/acknowledgements`, { body, idempotencyKey: key }),
};

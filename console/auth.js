// Signing in: locally through the stack's /_local/token, on AWS through the Cognito hosted UI (authorization code
// with PKCE, RFC 7636). The ID token (groups and custom:clinic_id inside) lives in sessionStorage only.

const TOKEN_KEY = "lemtrada.console.id_token";
const PKCE_KEY = "lemtrada.console.pkce";

export function currentToken() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = decodeClaims(token);
  if (!claims || (claims.exp && claims.exp * 1000 < Date.now())) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims, unverified: the page only reads its own clinic and role; the API verifies the token. */
export function decodeClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = payload + "=".repeat((4 - (payload.length % 4)) % 4);
    const text = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function signedIn() {
  const token = currentToken();
  if (!token) return null;
  const claims = decodeClaims(token);
  const groups = Array.isArray(claims["cognito:groups"]) ? claims["cognito:groups"] : [];
  return { token, clinicId: claims["custom:clinic_id"] || null, groups, sub: claims.sub };
}

// ---- local -------------------------------------------------------------------------------------------------
export async function localSignIn(config, { role, clinicId, sub }) {
  const body = { role };
  if (clinicId) body.clinic_id = clinicId;
  if (sub) body.sub = sub;
  const response = await fetch(`${config.api_base}/_local/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `sign-in failed (${response.status})`);
  storeToken(answer.token);
}

// ---- Cognito hosted UI -------------------------------------------------------------------------------------
function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function cognitoSignIn(config) {
  const verifier = randomString(48);
  const state = randomString(24);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: "openid email",
    state,
    code_challenge_method: "S256",
    code_challenge: challenge,
  });
  window.location.assign(`${config.auth_domain}/oauth2/authorize?${query}`);
}

/** Back from the hosted UI with ?code=&state=: trade the code for tokens, then drop them from the address. */
export async function completeCognitoSignIn(config) {
  const query = new URLSearchParams(window.location.search);
  const code = query.get("code");
  if (!code) return false;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "{}");
  sessionStorage.removeItem(PKCE_KEY);
  window.history.replaceState(null, "", window.location.pathname + "#/worklist");
  if (!saved.verifier || saved.state !== query.get("state")) throw new Error("the sign-in answer does not match");
  const response = await fetch(`${config.auth_domain}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: config.redirect_uri,
      code_verifier: saved.verifier,
    }),
  });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok || !tokens.id_token) throw new Error(tokens.error || `sign-in failed (${response.status})`);
  storeToken(tokens.id_token);
  return true;
}

export function signOut(config) {
  forgetToken();
  if (config.auth === "cognito") {
    const query = new URLSearchParams({ client_id: config.client_id, logout_uri: config.logout_uri });
    window.location.assign(`${config.auth_domain}/logout?${query}`);
  } else {
    window.location.hash = "#/signin";
  }
}

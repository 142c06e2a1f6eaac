// Calls to the network's HTTP APIs, exactly as any client makes them (docs/console-api.md):
// `Authorization: Bearer` with an operator key, an institution's key or a resident's token.

// The console is served at <origin>/console/; the APIs live beside it at /nodes, /hub, /console.
const ROOT = new URL('../', document.baseURI);
const OPERATOR_KEY = 'tongban.operatorKey';

export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(`${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

export function url(path) {
  return new URL(path.replace(/^\//, ''), ROOT).toString();
}

async function send(path, { method = 'GET', body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(url(path), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, 'NETWORK_ERROR', String(exc?.message || exc));
  }
}

async function failure(res) {
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not problem+json: keep the text */ }
  return new ApiError(res.status, body?.code || `HTTP_${res.status}`,
    body?.detail || text.slice(0, 200) || res.statusText, body);
}

/** -> {status, data}; throws ApiError (with the problem's `code`) on any non-2xx answer. */
export async function request(path, options) {
  const res = await send(path, options);
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return { status: 204, data: null };
  const text = await res.text();
  return { status: res.status, data: text ? JSON.parse(text) : null };
}

export async function get(path, token) {
  return (await request(path, { token })).data;
}

export async function post(path, body, token) {
  return (await request(path, { method: 'POST', body, token })).data;
}

/** A download that needs a key (statements): fetched, then handed over as a Blob. */
export async function fetchBlob(path, token) {
  const res = await send(path, { token });
  if (!res.ok) throw await failure(res);
  return res.blob();
}

// --- what every page needs once --------------------------------------------------------------
let demoPromise;
let regionsPromise;

/** The demo's sample credentials, or null when this is no demo (404 NOT_A_DEMO). */
export function demo() {
  demoPromise ??= get('/console/api/demo').catch((exc) => {
    if (exc instanceof ApiError && exc.status === 404) return null;
    demoPromise = undefined; // a network hiccup: ask again next time
    throw exc;
  });
  return demoPromise;
}

export function regions() {
  regionsPromise ??= get('/console/api/regions').catch((exc) => {
    regionsPromise = undefined;
    throw exc;
  });
  return regionsPromise;
}

// --- the operator key -------------------------------------------------------------------------
export function storedOperatorKey() {
  return sessionStorage.getItem(OPERATOR_KEY);
}

export function setOperatorKey(key) {
  if (key) sessionStorage.setItem(OPERATOR_KEY, key);
  else sessionStorage.removeItem(OPERATOR_KEY);
}

/** The key typed in this tab, else the demo's; an ApiError marked `operator` when none. */
export async function operatorKey() {
  const typed = storedOperatorKey();
  if (typed) return typed;
  const sample = await demo().catch(() => null);
  if (sample?.operator_key) return sample.operator_key;
  const exc = new ApiError(401, 'OPERATOR_KEY_REQUIRED', 'an operator key is needed');
  exc.operator = true;
  throw exc;
}

/** GET with the operator key; a refused key marks the error so the page asks for one. */
export async function operatorGet(path) {
  const key = await operatorKey();
  try {
    return await get(path, key);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) exc.operator = true;
    throw exc;
  }
}

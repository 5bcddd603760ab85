// The one place the dashboard talks to Canopy: the query API under /api, with the caller's key.
//
// With keys required, every call needs `Authorization: Bearer <key>`. The key is asked for once,
// on the first 401, kept in localStorage and sent from then on; a refused key is asked for again.
// With keys off nothing is ever asked.

import { askForKey } from './components/auth.js';

const KEY_STORAGE = 'canopy.apiKey';

/** An answer that was not `{"data": …, "error": null}` with a 2xx status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The stored key, if any. */
export function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

/** Stores (or, with an empty key, forgets) the key. */
export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Private modes may refuse storage; the key then lasts as long as the page.
  }
  memoryKey = key;
  window.dispatchEvent(new CustomEvent('canopy:key'));
}

let memoryKey = '';

/** One prompt at a time: calls that meet a 401 together wait for the same answer. */
let prompt = null;

async function keyAfter401(refused) {
  if (!prompt) {
    prompt = askForKey(refused ? 'That key was refused. Enter a valid Canopy key.' : '')
      .then((key) => { storeKey(key); })
      .finally(() => { prompt = null; });
  }
  return prompt;
}

/** Calls `method path` under /api with a JSON body; resolves to the envelope's `data`. */
export async function call(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const key = storedKey() || memoryKey;
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers.authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(`/api${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, `Canopy cannot be reached (${e.message}).`);
    }
    if (response.status === 401 && attempt < 5) {
      await keyAfter401(Boolean(key));
      continue;
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      throw new ApiError(response.status, `${response.status} ${response.statusText}`);
    }
    if (!response.ok || (payload && payload.error)) {
      throw new ApiError(response.status, (payload && payload.error) || response.statusText);
    }
    return payload ? payload.data : null;
  }
}

const post = (path, body) => call('POST', path, body ?? {});
const enc = encodeURIComponent;

/** A page of sessions. */
export const querySessions = (body) => post('/v1/session/query', body);
/** Totals over the sessions a query matches. */
export const countSessions = (body) => post('/v1/session/count', body);
/** Session names and their use. */
export const sessionNames = (body) => post('/v1/session/name/query', { timezoneDifference: 0, ...body });
/** Histograms of calls, duration and cost per session. */
export const sessionMetrics = (body) => post('/v1/session/metrics/query', { timezoneDifference: 0, ...body });
/** Per-path figures over the sessions a query matches (one name's, say). */
export const sessionPaths = (body) => post('/v1/session/paths/query', body);
/** One session: totals, tags, tree, timeline and calls; the calls' bodies only with `bodies`. */
export const getSession = (id, { bodies = false } = {}) =>
  call('GET', `/v1/session/${enc(id)}${bodies ? '?include_bodies=true' : ''}`);

/**
 * The session the page's first script started fetching (prefetch.js), when it is the one the
 * page shows now, else the usual request. Taken once: a later visit asks again.
 */
export function takePrefetchedSession(id) {
  const pre = window.canopyPrefetched;
  window.canopyPrefetched = null;
  if (!pre || pre.path !== `/ui/sessions/${enc(id)}`) return getSession(id);
  return pre.answer.then((data) => data || getSession(id));
}
/** One user's sessions (or one property value's), newest first, each with its whole totals. */
export const entitySessions = (type, id, limit = 1000) => call('GET', `/v1/analytics/sessions?entity_type=${enc(type)}&entity_id=${enc(id)}&limit=${limit}`);
/** Property keys, one key's values or user ids seen in the latest calls, the most used first. */
export const suggest = (field, { key = '', contains = '' } = {}) => call('GET', `/v1/suggest?field=${enc(field)}&key=${enc(key)}&contains=${enc(contains)}&limit=20`);
/** One call with its bodies. */
export const getRequest = (id) => call('GET', `/v1/request/${enc(id)}`);
/** Rates a session. */
export const rateSession = (id, rating) => post(`/v1/session/${enc(id)}/feedback`, { rating });
/** Tags a session. */
export const tagSession = (id, tag) => post(`/v1/session/${enc(id)}/tag`, { tag });
/** Replays a session with changes and waits; resolves to the comparison. */
export const replaySession = (id, body) => post(`/v1/session/${enc(id)}/replay`, body);
/** Starts replaying a session as a job; resolves to the job (state, progress). */
export const startReplayJob = (id, body) => post(`/v1/session/${enc(id)}/replay/jobs`, body);
/** A replay job: state, progress and, once it has ended, the comparison. */
export const getReplayJob = (id) => call('GET', `/v1/replay/jobs/${enc(id)}`);
/** Asks a replay job to send no further call; resolves to the job. */
export const cancelReplayJob = (id) => post(`/v1/replay/jobs/${enc(id)}/cancel`);
/** The comparison of a replay session with the session it replays, rebuilt from the store. */
export const getComparison = (replayId) => call('GET', `/v1/session/${enc(replayId)}/comparison`);

/**
 * Tool and retrieval steps: a function (or a block) recorded as a step of its session.
 *
 * A step is posted to Canopy's custom log (`POST /api/custom/v1/log`, Helicone's body with
 * `json._type` = `tool`, `vector_db` or `data`) when it ends, with its start and end time, its
 * input and output (or its error, with status 500), and the session fields in force as
 * `Helicone-*` headers. By default it sits at `<enclosing path>/<step name>` in the session
 * tree, and calls made inside it sit there too.
 *
 * Posting happens in the background: the function's result or error reaches the caller at
 * once, unchanged. `flush()` waits for every step still being posted (call it before a
 * short-lived process exits). A step Canopy cannot take is dropped with one warning that names
 * the step and the reason, never a key or a value.
 */

import { apiKey, baseURL } from "./config.js";
import { currentSession, mergeFields, sessionHeaders, withFields, type SessionFields } from "./context.js";

/** Where steps are posted, below Canopy's address. */
export const CUSTOM_LOG_ROUTE = "/api/custom/v1/log";
/** How long posting one step may take. */
export const POST_TIMEOUT_MS = 5_000;
/** Key names whose values are replaced by `[redacted]` in a step's input and output. */
export const SECRET_NAMES = /api[_-]?key|secret|password|passwd|token|authorization|credential/i;
const REDACTED = "[redacted]";

export type StepKind = "tool" | "vector_db" | "data";

export interface StepOptions extends Omit<SessionFields, "session_path"> {
  /** `tool` (default), `vector_db` or `data`. */
  kind?: StepKind;
  /** Where the step sits in the session tree (default: the enclosing path + `/` + name). */
  path?: string;
  /** Record the arguments (default true). */
  captureInput?: boolean;
  /** Record the result (default true). */
  captureOutput?: boolean;
}

/** What a running block can set on its step. */
export interface StepHandle {
  name: string;
  input: unknown;
  output: unknown;
}

const pending = new Set<Promise<void>>();

/** Waits until every step already ended has been posted (or dropped). */
export async function flush(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}

function jsonable(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || value === undefined) return null;
  if (["string", "number", "boolean"].includes(typeof value)) return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || depth > 20) return String(value);
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return { type: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => jsonable(v, depth + 1, seen));
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof toJSON === "function") return jsonable(toJSON.call(value), depth + 1, seen);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_NAMES.test(k) ? REDACTED : jsonable(v, depth + 1, seen);
  }
  return out;
}

function post(name: string, fields: SessionFields, body: unknown): void {
  const headers: Record<string, string> = { "content-type": "application/json", ...sessionHeaders(fields) };
  const key = apiKey();
  if (key) headers["authorization"] = `Bearer ${key}`;
  const sent = fetch(baseURL() + CUSTOM_LOG_ROUTE, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(POST_TIMEOUT_MS),
  })
    .then(async (response) => {
      await response.arrayBuffer();
      if (!response.ok) console.warn(`canopy: step "${name}" was not recorded: Canopy answered ${response.status}`);
    })
    .catch((error: unknown) => {
      const reason = error instanceof Error ? error.name : "error";
      console.warn(`canopy: step "${name}" was not recorded: ${reason}`);
    });
  const tracked = sent.finally(() => pending.delete(tracked));
  pending.add(tracked);
}

class Recorder {
  private readonly start = Date.now();
  constructor(
    readonly handle: StepHandle,
    readonly kind: StepKind,
    readonly fields: SessionFields,
    readonly captureOutput: boolean,
  ) {}

  end(error?: unknown, failed = false): void {
    const endTime = Date.now();
    let response: unknown;
    if (failed) {
      const e = error instanceof Error ? error : new Error(String(error));
      response = { error: { type: e.name, message: e.message } };
    } else {
      const output = this.captureOutput ? jsonable(this.handle.output) : null;
      response = output !== null && typeof output === "object" && !Array.isArray(output) ? output : { output };
    }
    const name = this.handle.name;
    const request: Record<string, unknown> = { _type: this.kind, input: jsonable(this.handle.input) };
    request[this.kind === "vector_db" ? "databaseName" : "toolName"] = name;
    post(name, this.fields, {
      providerRequest: { url: `${this.kind}://${name}`, json: request, meta: {} },
      providerResponse: { json: response, status: failed ? 500 : 200, headers: {} },
      timing: { startTime: this.start, endTime },
    });
  }
}

function begin(name: string, options: StepOptions, input: unknown): Recorder {
  const { kind = "tool", path, captureInput = true, captureOutput = true, ...given } = options;
  if (!["tool", "vector_db", "data"].includes(kind)) {
    throw new RangeError(`canopy: a step's kind must be tool, vector_db or data, got ${JSON.stringify(kind)}`);
  }
  const fields = mergeFields(currentSession(), given);
  const parent = (fields.session_path ?? "").replace(/\/+$/, "");
  fields.session_path = path ?? `${parent}/${name}`;
  sessionHeaders(fields); // a bad field fails here, before the work
  const handle: StepHandle = { name, input: captureInput ? input : null, output: undefined };
  return new Recorder(handle, kind, fields, captureOutput);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as PromiseLike<unknown>).then === "function";
}

/** Runs `fn` as the body of a recorded step; a sync body stays sync. */
function run<R>(recorder: Recorder, fn: (handle: StepHandle) => R): R {
  let result: R;
  try {
    result = withFields(recorder.fields, () => fn(recorder.handle));
  } catch (error) {
    recorder.end(error, true);
    throw error;
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => {
        if (recorder.handle.output === undefined) recorder.handle.output = value;
        recorder.end();
        return value;
      },
      (error: unknown) => {
        recorder.end(error, true);
        throw error;
      },
    ) as R;
  }
  if (recorder.handle.output === undefined) recorder.handle.output = result;
  recorder.end();
  return result;
}

/**
 * Records a block as a step: `await step("load_profile", { kind: "data" }, async (s) => { ... })`.
 * The block's return value is its output unless it sets `s.output`; `s.input` may be set too.
 * A thrown error records the step as failed (status 500) and propagates.
 */
export function step<R>(name: string, options: StepOptions & { input?: unknown }, fn: (handle: StepHandle) => R): R {
  const { input, ...rest } = options;
  return run(begin(name, rest, input), fn);
}

/**
 * Wraps a function so each call is recorded as a step: `const lookup = tool("lookup_order",
 * async (orderId) => ...)`. Its input is the call's argument (one) or arguments (several),
 * values under secret-looking keys redacted; its output the result. Sync functions stay sync.
 */
export function tool<A extends unknown[], R>(name: string, fn: (...args: A) => R, options: StepOptions = {}): (...args: A) => R {
  return function (this: unknown, ...args: A): R {
    const recorder = begin(name, options, args.length === 1 ? args[0] : args);
    return run(recorder, () => fn.apply(this, args));
  };
}

/** `tool` for a vector-database or search step (`json._type` = `vector_db`). */
export function retrieval<A extends unknown[], R>(name: string, fn: (...args: A) => R, options: StepOptions = {}): (...args: A) => R {
  return tool(name, fn, { ...options, kind: "vector_db" });
}

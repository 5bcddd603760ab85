/**
 * Wraps an OpenAI or Anthropic SDK client so that every method taking a request body also takes
 * the session fields in it.
 *
 * A wrapped method removes the fields from its body, lays them over the enclosing `session()`
 * context and sends them as `Helicone-*` headers in the SDK's own request options (headers the
 * caller passes there win). Nothing else changes: the method returns what the SDK returns, so
 * streams (`stream: true`, `messages.stream()`), `.withResponse()` and `.asResponse()` work as
 * they do without Canopy.
 */

import { currentSession, mergeFields, sessionHeaders, splitBody } from "./context.js";

const WRAPPED = Symbol.for("canopy.wrapped");

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An SDK resource (`client.chat`, `client.messages`, ...): both SDKs give each its client. */
function isResource(value: unknown): value is object {
  return value !== null && typeof value === "object" && "_client" in value && !Array.isArray(value);
}

function headerEntries(headers: unknown): [string, string][] {
  if (headers == null) return [];
  if (typeof Headers !== "undefined" && headers instanceof Headers) return [...headers.entries()];
  if (Array.isArray(headers)) return headers.map(([k, v]) => [String(k), String(v)]);
  if (typeof headers === "object") {
    return Object.entries(headers as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, v === null ? (null as unknown as string) : String(v)]);
  }
  return [];
}

/** The arguments of one call, with its body's session fields moved into its options' headers. */
export function sessionArguments(args: unknown[]): unknown[] {
  if (!isPlainObject(args[0])) return args;
  const [body, given] = splitBody(args[0]);
  const headers = sessionHeaders(mergeFields(currentSession(), given));
  if (Object.keys(headers).length === 0 && Object.keys(given).length === 0) return args;
  const options = (isPlainObject(args[1]) ? args[1] : {}) as Record<string, unknown>;
  const explicit = headerEntries(options["headers"]);
  const taken = new Set(explicit.map(([k]) => k.toLowerCase()));
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (!taken.has(k.toLowerCase())) merged[k] = v;
  for (const [k, v] of explicit) merged[k] = v;
  return [body, { ...options, headers: merged }, ...args.slice(2)];
}

function wrapResource<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value = Reflect.get(obj, prop, obj);
      if (typeof prop === "symbol" || prop.startsWith("_")) return value;
      if (typeof value === "function") {
        return function (this: unknown, ...args: unknown[]) {
          return (value as (...a: unknown[]) => unknown).apply(obj, sessionArguments(args));
        };
      }
      return isResource(value) ? wrapResource(value) : value;
    },
  });
}

/**
 * A view of an SDK client whose calls take the session fields in their body:
 * `const client = wrap(new OpenAI({ baseURL: "http://localhost:8787/v1" }))`. The client's own
 * methods (`withOptions`, ...) run on the client itself; `withOptions` returns a wrapped copy.
 */
export function wrap<T extends object>(client: T): T {
  if ((client as Record<symbol, unknown>)[WRAPPED]) return client;
  return new Proxy(client, {
    get(obj, prop) {
      if (prop === WRAPPED) return true;
      const value = Reflect.get(obj, prop, obj);
      if (typeof prop === "symbol" || prop.startsWith("_")) return value;
      if (typeof value === "function") {
        if (prop === "withOptions") {
          return (...args: unknown[]) => wrap((value as (...a: unknown[]) => object).apply(obj, args));
        }
        return (value as (...a: unknown[]) => unknown).bind(obj);
      }
      return isResource(value) ? wrapResource(value) : value;
    },
  });
}

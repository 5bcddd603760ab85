/**
 * Session fields, the `session()` context that sets them, and their translation into the
 * `Helicone-*` headers Canopy reads.
 *
 * | field | header |
 * |---|---|
 * | `session_id` | `Helicone-Session-Id` |
 * | `session_path` | `Helicone-Session-Path` |
 * | `session_name` | `Helicone-Session-Name` |
 * | `user_id` | `Helicone-User-Id` |
 * | `entity_type` + `entity_id` | `Helicone-User-Id` when the type is `user`, else `Helicone-Property-<type>` |
 * | `tags`, `properties` | one `Helicone-Property-<key>` each |
 *
 * `entity_type`/`entity_id` are stored so that `GET /api/v1/analytics/sessions?entity_type=..
 * &entity_id=..` finds the sessions again.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export type PropertyValue = string | number | boolean | null | undefined;

/** The session fields a wrapped call takes in its body, and `session()` takes. */
export interface SessionFields {
  session_id?: string | undefined;
  session_path?: string | undefined;
  session_name?: string | undefined;
  user_id?: string | undefined;
  entity_type?: string | undefined;
  entity_id?: string | undefined;
  tags?: Record<string, PropertyValue> | undefined;
  properties?: Record<string, PropertyValue> | undefined;
}

/** The field names, in the order they are applied. */
export const FIELDS = [
  "session_id",
  "session_path",
  "session_name",
  "user_id",
  "entity_type",
  "entity_id",
  "tags",
  "properties",
] as const satisfies readonly (keyof SessionFields)[];

const storage = new AsyncLocalStorage<SessionFields>();
// A header name's characters (RFC 9110 `token`).
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The session fields in force here (a copy). */
export function currentSession(): SessionFields {
  return { ...(storage.getStore() ?? {}) };
}

/** `overrides` over `base`: an `undefined` or `null` field is not given; `tags` and
 * `properties` merge key by key. */
export function mergeFields(base: SessionFields, overrides: SessionFields): SessionFields {
  const out: SessionFields = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new TypeError(`canopy: unknown session field ${JSON.stringify(key)}`);
    }
    if (value === undefined || value === null) continue;
    if (key === "tags" || key === "properties") {
      if (typeof value !== "object" || Array.isArray(value)) {
        throw new TypeError(`canopy: ${key} must be an object of names to values`);
      }
      out[key] = { ...(out[key] ?? {}), ...(value as Record<string, PropertyValue>) };
    } else {
      (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

function text(field: string, value: unknown): string {
  const s = String(value);
  if (/[\r\n]/.test(s)) throw new RangeError(`canopy: ${field} must not contain a line break`);
  if (!/^[\x20-\x7e\t]*$/.test(s)) {
    throw new RangeError(`canopy: ${field} must be printable ASCII to travel in an HTTP header`);
  }
  return s;
}

function propertyName(field: string, key: string): string {
  if (!TOKEN.test(key)) {
    throw new RangeError(
      `canopy: ${field} key ${JSON.stringify(key)} cannot be a header name (letters, digits and !#$%&'*+.^_\`|~- only)`,
    );
  }
  return key;
}

/** The `Helicone-*` headers for a set of session fields. */
export function sessionHeaders(fields: SessionFields): Record<string, string> {
  const out: Record<string, string> = {};
  const plain: [keyof SessionFields, string][] = [
    ["session_id", "Helicone-Session-Id"],
    ["session_path", "Helicone-Session-Path"],
    ["session_name", "Helicone-Session-Name"],
  ];
  for (const [key, header] of plain) {
    if (fields[key] !== undefined && fields[key] !== null) out[header] = text(key, fields[key]);
  }
  for (const key of ["tags", "properties"] as const) {
    for (const [name, value] of Object.entries(fields[key] ?? {})) {
      if (value === undefined || value === null) continue;
      out[`Helicone-Property-${propertyName(key, name)}`] = text(`${key}.${name}`, value);
    }
  }
  const { entity_type: type, entity_id: id } = fields;
  if ((type == null) !== (id == null)) {
    throw new RangeError("canopy: entity_type and entity_id go together");
  }
  if (type != null) {
    if (type === "user") out["Helicone-User-Id"] = text("entity_id", id);
    else out[`Helicone-Property-${propertyName("entity_type", type)}`] = text("entity_id", id);
  }
  if (fields.user_id != null) out["Helicone-User-Id"] = text("user_id", fields.user_id);
  return out;
}

/** Removes the session fields from a call's body (a copy is returned) and returns both. */
export function splitBody<T extends object>(body: T): [Omit<T, keyof SessionFields>, SessionFields] {
  const rest: Record<string, unknown> = {};
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if ((FIELDS as readonly string[]).includes(key)) fields[key] = value;
    else rest[key] = value;
  }
  return [rest as Omit<T, keyof SessionFields>, fields as SessionFields];
}

/** Runs `fn` with exactly these fields in force (steps use it for their body). */
export function withFields<R>(fields: SessionFields, fn: () => R): R {
  return storage.run(fields, fn);
}

/**
 * Runs `fn` with session fields set for every wrapped call, and every tool step, inside it,
 * including across `await`s (AsyncLocalStorage): concurrent sessions never mix.
 *
 * Without a `session_id` (here or in an enclosing session) a new UUID is made. A nested session
 * inherits the enclosing one's fields and overrides those it gives; `tags` and `properties`
 * merge. A call's own fields override the context. Returns what `fn` returns; `fn` gets the
 * fields in force.
 */
export function session<R>(fields: SessionFields, fn: (fields: SessionFields) => R): R {
  const merged = mergeFields(storage.getStore() ?? {}, fields);
  merged.session_id ??= randomUUID();
  sessionHeaders(merged); // a bad field fails here, where it was written
  return storage.run(merged, () => fn({ ...merged }));
}

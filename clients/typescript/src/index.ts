/**
 * Session helpers for Canopy, the self-hosted LLM gateway.
 *
 * ```ts
 * import { session, tool } from "canopy-client";
 * import { CanopyOpenAI } from "canopy-client/openai";
 *
 * const client = new CanopyOpenAI({ baseURL: "http://localhost:8787" });
 * await client.chat.completions.create({ model, messages, session_id, session_path: "/triage" });
 * await session({ session_name: "Support Ticket" }, async () => { ... });   // one session
 * const lookup = tool("lookup_order", async (id: string) => ...);           // a step of it
 * ```
 *
 * The clients live in their own entry points so that only the SDK you use must be installed.
 */

export { configure, type CanopySettings } from "./config.js";
export {
  FIELDS,
  currentSession,
  session,
  sessionHeaders,
  type PropertyValue,
  type SessionFields,
} from "./context.js";
export { flush, retrieval, step, tool, type StepHandle, type StepKind, type StepOptions } from "./steps.js";
export { wrap } from "./wrap.js";

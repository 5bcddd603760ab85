/**
 * `CanopyOpenAI`: OpenAI's client pointed at Canopy, whose calls take the session fields in
 * their body. Import from `canopy-client/openai` (needs the `openai` package).
 */

import OpenAI, { type ClientOptions } from "openai";

import { OPENAI_ROUTE, apiKey, authHeader, baseURL, routeURL } from "./config.js";
import type { SessionFields } from "./context.js";
import { wrap } from "./wrap.js";

declare module "openai/resources/chat/completions/completions" {
  // The session fields travel in the body of a CanopyOpenAI call (and are removed from it).
  interface ChatCompletionCreateParamsBase extends SessionFields {}
}
declare module "openai/resources/responses/responses" {
  interface ResponseCreateParamsBase extends SessionFields {}
}
declare module "openai/resources/embeddings" {
  interface EmbeddingCreateParams extends SessionFields {}
}

export interface CanopyOpenAIOptions extends ClientOptions {
  /** Canopy's address (default: `configure()`, `CANOPY_BASE_URL`, else
   * `http://127.0.0.1:8787`); `/v1` is added to a bare address. */
  baseURL?: string | null | undefined;
  /** A Canopy key, sent as `Helicone-Auth` (default: `configure()`, `CANOPY_API_KEY`). */
  canopyKey?: string | undefined;
}

/**
 * OpenAI's client through Canopy. `apiKey` is your provider key (default `OPENAI_API_KEY`, as
 * the SDK reads it); Canopy forwards it upstream and never stores it.
 */
export class CanopyOpenAI extends OpenAI {
  constructor({ baseURL: url, canopyKey, defaultHeaders, ...options }: CanopyOpenAIOptions = {}) {
    super({
      ...options,
      baseURL: routeURL(baseURL(url ?? undefined), OPENAI_ROUTE),
      defaultHeaders: { ...authHeader(apiKey(canopyKey)), ...(defaultHeaders as object | undefined) },
    });
    return wrap(this);
  }
}

export default CanopyOpenAI;

/**
 * `CanopyAnthropic`: Anthropic's client pointed at Canopy, whose calls take the session fields
 * in their body. Import from `canopy-client/anthropic` (needs `@anthropic-ai/sdk`).
 */

import Anthropic, { type ClientOptions } from "@anthropic-ai/sdk";

import { ANTHROPIC_ROUTE, apiKey, authHeader, baseURL, routeURL } from "./config.js";
import type { SessionFields } from "./context.js";
import { wrap } from "./wrap.js";

declare module "@anthropic-ai/sdk/resources/messages/messages" {
  // The session fields travel in the body of a CanopyAnthropic call (and are removed from it).
  interface MessageCreateParamsBase extends SessionFields {}
}

export interface CanopyAnthropicOptions extends ClientOptions {
  /** Canopy's address (default: `configure()`, `CANOPY_BASE_URL`, else
   * `http://127.0.0.1:8787`); `/anthropic` is added to a bare address. */
  baseURL?: string | null | undefined;
  /** A Canopy key, sent as `Helicone-Auth` (default: `configure()`, `CANOPY_API_KEY`). */
  canopyKey?: string | undefined;
}

/**
 * Anthropic's client through Canopy. `apiKey` is your provider key (default
 * `ANTHROPIC_API_KEY`); Canopy forwards it upstream and never stores it.
 */
export class CanopyAnthropic extends Anthropic {
  constructor({ baseURL: url, canopyKey, defaultHeaders, ...options }: CanopyAnthropicOptions = {}) {
    super({
      ...options,
      baseURL: routeURL(baseURL(url ?? undefined), ANTHROPIC_ROUTE),
      defaultHeaders: { ...authHeader(apiKey(canopyKey)), ...(defaultHeaders as object | undefined) },
    });
    return wrap(this);
  }
}

export default CanopyAnthropic;

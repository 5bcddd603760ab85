/**
 * Where Canopy is and which key to show it: `configure()`, then the environment, then defaults.
 * The key only ever leaves in a request header; nothing here logs it.
 */

/** Canopy's default listener (`canopy serve`). */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8787";
/** Environment variable naming Canopy's address, e.g. `http://localhost:8787`. */
export const ENV_BASE_URL = "CANOPY_BASE_URL";
/** Environment variable holding a Canopy key (`canopy keys create`). */
export const ENV_API_KEY = "CANOPY_API_KEY";
/** The proxy route the OpenAI SDK is pointed at, below Canopy's address. */
export const OPENAI_ROUTE = "/v1";
/** The proxy route the Anthropic SDK is pointed at, below Canopy's address. */
export const ANTHROPIC_ROUTE = "/anthropic";

export interface CanopySettings {
  /** Canopy's address, without a provider route (`http://localhost:8787`). */
  baseURL?: string | undefined;
  /** A Canopy key; leave it out when Canopy runs open on loopback. */
  apiKey?: string | undefined;
}

let settings: CanopySettings = {};

/** Sets Canopy's address and key for this process: clients built without them and tool steps
 * use these. An `undefined` value leaves the setting as it was. */
export function configure(next: CanopySettings): void {
  settings = {
    baseURL: next.baseURL ?? settings.baseURL,
    apiKey: next.apiKey ?? settings.apiKey,
  };
}

/** Forgets what `configure()` set (for tests). */
export function resetConfiguration(): void {
  settings = {};
}

/** Canopy's address: the argument, `configure()`, `CANOPY_BASE_URL`, else the default. */
export function baseURL(explicit?: string): string {
  const url = explicit || settings.baseURL || process.env[ENV_BASE_URL] || DEFAULT_BASE_URL;
  return url.replace(/\/+$/, "");
}

/** The Canopy key: the argument, `configure()`, `CANOPY_API_KEY`, else none. */
export function apiKey(explicit?: string): string | undefined {
  return explicit || settings.apiKey || process.env[ENV_API_KEY] || undefined;
}

/** An SDK's base URL: Canopy's bare address gets the provider route appended; a URL that
 * already has a path (`.../openai/v1`, `.../my-vllm`) is used as it is. */
export function routeURL(url: string, route: string): string {
  const path = new URL(url).pathname;
  return path === "" || path === "/" ? url.replace(/\/+$/, "") + route : url;
}

/** The header carrying a Canopy key on proxied calls. */
export function authHeader(key: string | undefined): Record<string, string> {
  return key ? { "Helicone-Auth": `Bearer ${key}` } : {};
}

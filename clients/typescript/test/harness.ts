/**
 * Runs the real `canopy` binary for the tests: `canopy mock-provider` and `canopy serve` in front
 * of it, each on 127.0.0.1 port 0 with the address read from its first stdout line, and a fresh
 * SQLite store in a temporary directory. `CANOPY_BIN` names the binary; without it the tests
 * fail rather than skip.
 *
 * Records are written off the request path, so `Api.session()` and `Api.until()` poll, with a
 * bound, until what a test expects is there.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const STARTUP_TIMEOUT_MS = 30_000;
export const RECORD_TIMEOUT_MS = 15_000;
const URL_PATTERN = /http:\/\/[0-9A-Za-z.\-[\]:]+/;

export function canopyBin(): string {
  const bin = process.env["CANOPY_BIN"];
  if (!bin) throw new Error("CANOPY_BIN must name the canopy binary (cargo build -p canopy)");
  return bin;
}

export class Proc {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly stderr: () => string,
  ) {}

  static start(name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Proc> {
    const child = spawn(canopyBin(), args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name} printed nothing within ${STARTUP_TIMEOUT_MS} ms\n${stderr}`));
      }, STARTUP_TIMEOUT_MS);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code} before announcing its address\n${stderr}`));
      });
      lines.once("line", (line) => {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        // Keep reading so the pipe never fills.
        lines.on("line", () => {});
        const match = URL_PATTERN.exec(line);
        if (!match) {
          child.kill("SIGKILL");
          reject(new Error(`${name} did not announce its address: ${line}`));
          return;
        }
        resolve(new Proc(child, match[0], () => stderr));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}

/** The mock provider and a Canopy in front of it. */
export class Stack {
  private constructor(
    readonly mock: Proc,
    readonly canopy: Proc,
    readonly dir: string,
  ) {}

  get url(): string {
    return this.canopy.url;
  }

  static async start(upstream?: string): Promise<Stack> {
    const dir = mkdtempSync(join(tmpdir(), "canopy-ts-"));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CANOPY_")));
    env["CANOPY_LOG"] = "warn";
    const mock = await Proc.start("mock-provider", ["mock-provider", "--listen", "127.0.0.1:0", "--record-requests"], dir, env);
    const origin = upstream ?? mock.url;
    const config = join(dir, "canopy.toml");
    writeFileSync(
      config,
      [
        'listen = "127.0.0.1:0"',
        `store = "sqlite://${join(dir, "canopy.db")}"`,
        "[providers.openai]",
        `base_url = "${origin}"`,
        "[providers.anthropic]",
        `base_url = "${origin}"`,
        'format = "anthropic"',
        "",
      ].join("\n"),
    );
    let canopy: Proc;
    try {
      canopy = await Proc.start("canopy", ["serve", "--config", config], dir, env);
    } catch (error) {
      await mock.stop();
      throw error;
    }
    return new Stack(mock, canopy, dir);
  }

  /** What the mock received: `[{method, path, headers, body}]`, oldest first. */
  async mockRequests(): Promise<{ method: string; path: string; headers: Record<string, string>; body: unknown }[]> {
    const response = await fetch(`${this.mock.url}/mock/requests`);
    return (await response.json()) as never;
  }

  async stop(): Promise<void> {
    await this.canopy.stop();
    await this.mock.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Json = any;

/** Canopy's REST API, as a script would call it. */
export class Api {
  constructor(
    readonly url: string,
    readonly key?: string,
  ) {}

  private headers(): Record<string, string> {
    return { "content-type": "application/json", ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) };
  }

  async get(path: string, params: Record<string, string> = {}): Promise<{ status: number; data: Json }> {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${this.url}${path}${query ? `?${query}` : ""}`, { headers: this.headers() });
    return { status: response.status, data: ((await response.json()) as Json).data };
  }

  async post(path: string, body: unknown): Promise<Json> {
    const response = await fetch(`${this.url}${path}`, { method: "POST", headers: this.headers(), body: JSON.stringify(body) });
    const answer = (await response.json()) as Json;
    if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(answer)}`);
    return answer.data;
  }

  /** Polls `fetch` until `done` holds, with a bound. */
  async until<T>(fetchOnce: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
    const deadline = Date.now() + RECORD_TIMEOUT_MS;
    for (;;) {
      const value = await fetchOnce();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${RECORD_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** `GET /api/v1/session/{id}`, bodies included, once it holds `requests` calls. */
  async session(id: string, requests: number): Promise<Json> {
    const answer = await this.until(
      // Bodies are asked for; a server that always sends them ignores the parameter.
      () => this.get(`/api/v1/session/${encodeURIComponent(id)}`, { include_bodies: "true" }),
      (a) => a.status === 200 && a.data.session.total_requests >= requests,
      `session ${id} with ${requests} calls`,
    );
    if (answer.data.session.total_requests !== requests) {
      throw new Error(`session ${id} has ${answer.data.session.total_requests} calls, expected ${requests}`);
    }
    return answer.data;
  }
}

/** Every node path of a session's tree, depth first. */
export function paths(detail: Json): string[] {
  const out: string[] = [];
  const walk = (node: Json): void => {
    out.push(node.path);
    for (const child of node.children) walk(child);
  };
  walk(detail.tree);
  return out;
}

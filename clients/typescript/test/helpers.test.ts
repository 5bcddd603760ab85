/**
 * The helpers against a live Canopy: per-call session fields, the session context, streams,
 * concurrent sessions and tool steps, each checked through Canopy's REST API.
 */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";

import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

import { FIELDS, configure, currentSession, flush, retrieval, session, step, tool, wrap } from "canopy-client";
import { CanopyOpenAI } from "canopy-client/openai";
import { CanopyAnthropic } from "canopy-client/anthropic";
import { Api, Stack, paths, type Json } from "./harness.js";

const OPENAI_KEY = "sk-ts-secret";
const ANTHROPIC_KEY = "sk-ant-ts-secret";
const MESSAGES = [{ role: "user" as const, content: "Help me triage ticket #4521" }];

let stack: Stack;
let api: Api;

before(async () => {
  stack = await Stack.start();
  api = new Api(stack.url);
  configure({ baseURL: stack.url });
});

after(async () => {
  await flush();
  await stack?.stop();
});

function openai(): CanopyOpenAI {
  return new CanopyOpenAI({ baseURL: stack.url, apiKey: OPENAI_KEY, maxRetries: 0 });
}

function anthropic(): CanopyAnthropic {
  return new CanopyAnthropic({ baseURL: stack.url, apiKey: ANTHROPIC_KEY, maxRetries: 0 });
}

function bodyOf(seen: { body: unknown }): Record<string, unknown> {
  return (typeof seen.body === "string" ? JSON.parse(seen.body) : seen.body) as Record<string, unknown>;
}

test("create takes the session fields in its body and sends nothing extra upstream", async () => {
  const client = openai();
  assert.ok(client instanceof OpenAI);
  assert.equal(client.baseURL, `${stack.url}/v1`);
  const sid = randomUUID();
  const before = (await stack.mockRequests()).length;
  const reply = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: MESSAGES,
    session_id: sid,
    session_path: "/triage/classify",
    session_name: "Support Ticket",
    user_id: "u-42",
    tags: { feature: "chatbot" },
    properties: { env: "test" },
  });
  assert.match(reply.choices[0]!.message.content!, /^gpt-4o-mini reply /);
  await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: MESSAGES,
    session_id: sid,
    session_path: "/triage/respond",
    entity_type: "customer",
    entity_id: "acme-ts",
  });

  const detail = await api.session(sid, 2);
  assert.equal(detail.session.session_name, "Support Ticket");
  assert.deepEqual(detail.session.user_ids, ["u-42"]);
  assert.deepEqual(paths(detail), ["/", "/triage", "/triage/classify", "/triage/respond"]);
  const [first, second] = detail.requests as Json[];
  assert.equal(first.request_user_id, "u-42");
  assert.equal(first.properties.feature, "chatbot");
  assert.equal(first.properties.env, "test");
  assert.equal(second.properties.customer, "acme-ts");
  for (const seen of (await stack.mockRequests()).slice(before)) {
    const keys = Object.keys(bodyOf(seen));
    assert.deepEqual(keys.filter((k) => (FIELDS as readonly string[]).includes(k)), [], keys.join(","));
    assert.deepEqual(Object.keys(seen.headers).filter((h) => h.startsWith("helicone-")), []);
    assert.equal(seen.headers["authorization"], `Bearer ${OPENAI_KEY}`);
  }
  const found = await api.until(
    () => api.get("/api/v1/analytics/sessions", { entity_type: "customer", entity_id: "acme-ts" }),
    (a) => a.data.length === 1,
    "the customer's sessions",
  );
  assert.equal(found.data[0].session_id, sid);
});

test("the session context applies to every call, nests, and keeps concurrent sessions apart", async () => {
  const client = openai();
  const claude = anthropic();
  const conversation = (user: string) =>
    session({ session_name: "Course Creation", user_id: user, tags: { feature: "courses" } }, async (outer) => {
      await client.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, session_path: "/abstract" });
      await session({ session_path: "/outline", tags: { step: "outline" } }, async (inner) => {
        assert.equal(inner.session_id, outer.session_id);
        await claude.messages.create({ model: "claude-haiku-4-5", max_tokens: 64, messages: MESSAGES });
        // A call's own fields win over the context.
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          messages: MESSAGES,
          session_path: "/outline/lesson-1",
          user_id: `${user}-assistant`,
        });
      });
      assert.equal(currentSession().session_path, undefined);
      return outer.session_id!;
    });
  const [alice, bob] = await Promise.all([conversation("alice"), conversation("bob")]);
  assert.notEqual(alice, bob);
  assert.deepEqual(currentSession(), {});

  for (const [sid, user] of [
    [alice, "alice"],
    [bob, "bob"],
  ] as const) {
    const detail = await api.session(sid, 3);
    assert.equal(detail.session.session_name, "Course Creation");
    assert.deepEqual([...detail.session.user_ids].sort(), [user, `${user}-assistant`]);
    assert.deepEqual(paths(detail), ["/", "/abstract", "/outline", "/outline/lesson-1"]);
    const byPath = Object.fromEntries((detail.requests as Json[]).map((r) => [r.session_path, r]));
    assert.equal(byPath["/outline"].provider, "ANTHROPIC");
    assert.equal(byPath["/outline"].properties.step, "outline");
    assert.equal(byPath["/outline"].properties.feature, "courses");
    assert.equal(byPath["/abstract"].properties.step, undefined);
  }
});

test("streams work and are recorded", async () => {
  const client = openai();
  const claude = anthropic();
  const sid = randomUUID();
  const chunks = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: MESSAGES,
    stream: true,
    session_id: sid,
    session_path: "/stream/openai",
  });
  let text = "";
  for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? "";
  assert.match(text, /^gpt-4o-mini reply /);
  const stream = claude.messages.stream({
    model: "claude-haiku-4-5",
    max_tokens: 64,
    messages: MESSAGES,
    session_id: sid,
    session_path: "/stream/anthropic",
  });
  let claudeText = "";
  stream.on("text", (delta) => (claudeText += delta));
  const final = await stream.finalMessage();
  assert.match(claudeText, /^claude-haiku-4-5 reply /);

  const detail = await api.session(sid, 2);
  const byPath = Object.fromEntries((detail.requests as Json[]).map((r) => [r.session_path, r]));
  assert.equal(byPath["/stream/openai"].is_stream, true);
  assert.ok(byPath["/stream/openai"].completion_tokens > 0);
  assert.equal(byPath["/stream/anthropic"].is_stream, true);
  assert.equal(byPath["/stream/anthropic"].completion_tokens, final.usage.output_tokens);
});

test("wrap() takes a client built elsewhere; explicit headers win; withResponse works", async () => {
  const client = wrap(new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: OPENAI_KEY, maxRetries: 0 }));
  const claude = wrap(new Anthropic({ baseURL: `${stack.url}/anthropic`, apiKey: ANTHROPIC_KEY, maxRetries: 0 }));
  const sid = randomUUID();
  const { response } = await client.chat.completions
    .create({ model: "gpt-4o-mini", messages: MESSAGES, session_id: sid, session_path: "/raw" })
    .withResponse();
  const callId = response.headers.get("helicone-id");
  await client.withOptions({ timeout: 30_000 }).chat.completions.create(
    { model: "gpt-4o-mini", messages: MESSAGES, session_id: sid, session_path: "/copied" },
    { headers: { "Helicone-Session-Path": "/explicit" } },
  );
  await claude.messages.create({
    model: "claude-haiku-4-5",
    max_tokens: 16,
    messages: MESSAGES,
    session_id: sid,
    session_path: "/claude",
  });
  const detail = await api.session(sid, 3);
  assert.equal(detail.requests[0].request_id, callId);
  assert.deepEqual(
    (detail.requests as Json[]).map((r) => r.session_path),
    ["/raw", "/explicit", "/claude"],
  );
});

test("tool and retrieval steps join the session", async () => {
  const client = openai();
  const lookupOrder = tool("lookup_order", async (args: { orderId: string; apiKey: string }) => {
    // A call made inside a step sits under the step's path.
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES });
    return { orderId: args.orderId, status: "shipped" };
  });
  const search = retrieval("kb_search", (query: string, topK: number) => Array.from({ length: topK }, (_, n) => `${query}-${n}`));
  const refund = tool(
    "refund",
    async (_orderId: string) => {
      throw new RangeError("refunds are closed");
    },
    { properties: { risk: "high" } },
  );

  const sid = await session({ session_name: "Agent", session_path: "/agent" }, async (s) => {
    assert.deepEqual(await lookupOrder({ orderId: "A-1", apiKey: "sk-never-stored" }), { orderId: "A-1", status: "shipped" });
    // A sync function stays sync.
    assert.deepEqual(search("doc", 2), ["doc-0", "doc-1"]);
    await assert.rejects(refund("A-1"), /refunds are closed/);
    await step("load_profile", { kind: "data", input: { user: "u-1" } }, async (handle) => {
      handle.output = { tier: "gold" };
    });
    return s.session_id!;
  });
  await flush();

  const detail = await api.session(sid, 5);
  const rows = detail.requests as Json[];
  assert.deepEqual(paths(detail), ["/", "/agent", "/agent/lookup_order", "/agent/kb_search", "/agent/refund", "/agent/load_profile"]);
  const lookup = rows.filter((r) => r.session_path === "/agent/lookup_order");
  assert.deepEqual(lookup.map((r) => r.kind).sort(), ["llm", "tool"]);
  const toolRow = lookup.find((r) => r.kind === "tool");
  assert.equal(toolRow.model, "lookup_order");
  assert.deepEqual(toolRow.request_body.input, { orderId: "A-1", apiKey: "[redacted]" });
  assert.deepEqual(toolRow.response_body, { orderId: "A-1", status: "shipped" });
  const searchRow = rows.find((r) => r.session_path === "/agent/kb_search");
  assert.equal(searchRow.kind, "vector_db");
  assert.deepEqual(searchRow.request_body.input, ["doc", 2]);
  assert.deepEqual(searchRow.response_body, { output: ["doc-0", "doc-1"] });
  const refundRow = rows.find((r) => r.session_path === "/agent/refund");
  assert.equal(refundRow.response_status, 500);
  assert.ok(refundRow.error);
  assert.deepEqual(refundRow.response_body.error, { type: "RangeError", message: "refunds are closed" });
  assert.equal(refundRow.properties.risk, "high");
  const dataRow = rows.find((r) => r.session_path === "/agent/load_profile");
  assert.equal(dataRow.kind, "data");
  assert.deepEqual(dataRow.response_body, { tier: "gold" });
  assert.equal(detail.session.error_count, 1);
  assert.ok(!JSON.stringify(detail).includes("sk-never-stored"));
});

test("bad fields fail before the call", async () => {
  const client = openai();
  await assert.rejects(
    async () => client.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, entity_type: "customer" }),
    /entity_type and entity_id go together/,
  );
  await assert.rejects(
    async () => client.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, tags: { "two words": "x" } }),
    /cannot be a header name/,
  );
  assert.throws(() => session({ session_name: "a\nb" }, () => undefined), /line break/);
});

test("a step Canopy cannot take is dropped with a warning that shows no key", async () => {
  configure({ baseURL: "http://127.0.0.1:9", apiKey: "ck-secret-key" });
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
  try {
    assert.equal(tool("ping", () => "pong")(), "pong");
    await flush();
  } finally {
    console.warn = original;
    configure({ baseURL: stack.url, apiKey: "" });
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /step "ping" was not recorded/);
  assert.ok(!warnings[0]!.includes("ck-secret-key"));
});

test("InfraPrism's chatbot, written with CanopyOpenAI, makes one session per conversation", async () => {
  const client = new CanopyOpenAI({ baseURL: stack.url, apiKey: OPENAI_KEY, maxRetries: 0 });

  class ChatSession {
    readonly sessionId = randomUUID();
    readonly messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
    constructor(readonly customerId: string) {}

    addSystemMessage(content: string): void {
      this.messages.push({ role: "system", content });
    }

    async chat(userMessage: string): Promise<string> {
      this.messages.push({ role: "user", content: userMessage });
      const response = await client.chat.completions.create({
        model: "gpt-4o",
        messages: this.messages,
        entity_type: "customer",
        entity_id: this.customerId,
        session_id: this.sessionId,
        tags: { feature: "chatbot" },
      });
      const assistantMessage = response.choices[0]!.message.content!;
      this.messages.push({ role: "assistant", content: assistantMessage });
      return assistantMessage;
    }
  }

  const chat = new ChatSession("acme-chat-ts");
  chat.addSystemMessage("You are a helpful assistant.");
  for (const question of ["What is machine learning?", "How is it different from AI?", "Give me an example."]) {
    assert.match(await chat.chat(question), /^gpt-4o reply /);
  }

  const found = await api.until(
    () => api.get("/api/v1/analytics/sessions", { entity_type: "customer", entity_id: "acme-chat-ts", start_date: "2025-01-01" }),
    (a) => a.data.length === 1 && a.data[0].turn_count === 3,
    "the chatbot's session",
  );
  assert.equal(found.data[0].session_id, chat.sessionId);
  assert.ok(found.data[0].total_cost > 0);
  const detail = await api.session(chat.sessionId, 3);
  assert.deepEqual(
    (detail.requests as Json[]).map((r) => [r.properties.customer, r.properties.feature, r.request_body.messages.length]),
    [
      ["acme-chat-ts", "chatbot", 2],
      ["acme-chat-ts", "chatbot", 4],
      ["acme-chat-ts", "chatbot", 6],
    ],
  );
});

test("canopyKey travels as Helicone-Auth; a bare baseURL gets the route, one with a path is kept", async () => {
  const sent: Headers[] = [];
  // The SDK's own `fetch` option shows what goes on the wire.
  const spy: typeof fetch = async (input, init) => {
    sent.push(new Headers(init?.headers));
    return fetch(input, init);
  };
  const keyed = new CanopyOpenAI({ baseURL: stack.url, canopyKey: "ck-1", apiKey: OPENAI_KEY, maxRetries: 0, fetch: spy });
  assert.equal(keyed.baseURL, `${stack.url}/v1`);
  await keyed.chat.completions.create({ model: "gpt-4o-mini", messages: MESSAGES, session_id: "keyed-ts" });
  assert.equal(sent[0]!.get("helicone-auth"), "Bearer ck-1");
  assert.equal(sent[0]!.get("helicone-session-id"), "keyed-ts");
  assert.equal(sent[0]!.get("authorization"), `Bearer ${OPENAI_KEY}`);
  const routed = new CanopyAnthropic({ baseURL: "http://127.0.0.1:1/my-route", apiKey: "sk" });
  assert.equal(routed.baseURL, "http://127.0.0.1:1/my-route");
  const plain = new CanopyAnthropic({ baseURL: "http://127.0.0.1:1/", apiKey: "sk" });
  assert.equal(plain.baseURL, "http://127.0.0.1:1/anthropic");
});

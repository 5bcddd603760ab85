// Reads a call's bodies as a conversation: OpenAI chat (plain and streamed), Anthropic messages
// (plain and streamed), legacy completions, and non-LLM steps (tool, vector DB, data), whose
// input and output are shown as they are. Anything else falls back to the raw JSON.

import { h } from '../dom.js';
import { jsonView } from './json.js';

/** One part of a message: text, a tool call, a tool result, an image, or other JSON. */
const text = (value) => ({ type: 'text', text: String(value) });

function openAiParts(content) {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content ? [text(content)] : [];
  if (!Array.isArray(content)) return [{ type: 'json', value: content }];
  return content.map((part) => {
    if (part.type === 'text' || part.type === 'input_text' || part.type === 'output_text') return text(part.text);
    if (part.type === 'image_url' || part.type === 'input_image') return { type: 'image', text: 'image' };
    return { type: 'json', value: part };
  });
}

function anthropicParts(content) {
  if (typeof content === 'string') return [text(content)];
  if (!Array.isArray(content)) return content ? [{ type: 'json', value: content }] : [];
  return content.map((block) => {
    if (block.type === 'text') return text(block.text);
    if (block.type === 'thinking') return { type: 'thinking', text: block.thinking || '' };
    if (block.type === 'tool_use') return { type: 'tool_call', name: block.name, args: block.input };
    if (block.type === 'tool_result') return { type: 'tool_result', name: block.tool_use_id, value: block.content };
    if (block.type === 'image') return { type: 'image', text: 'image' };
    return { type: 'json', value: block };
  });
}

function openAiMessage(m) {
  const parts = openAiParts(m.content);
  for (const call of m.tool_calls || []) {
    let args = call.function?.arguments;
    try { args = JSON.parse(args); } catch { /* Arguments that are not JSON are shown as text. */ }
    parts.push({ type: 'tool_call', name: call.function?.name, args });
  }
  if (m.function_call) parts.push({ type: 'tool_call', name: m.function_call.name, args: m.function_call.arguments });
  if (m.refusal) parts.push({ type: 'text', text: `Refused: ${m.refusal}` });
  return { role: m.role || 'assistant', name: m.name || m.tool_call_id || '', parts };
}

/** The events of an SSE body, as parsed JSON objects. */
function sseEvents(body) {
  const events = [];
  for (const line of body.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (!data || data === '[DONE]') continue;
    try { events.push(JSON.parse(data)); } catch { /* A cut final event is skipped. */ }
  }
  return events;
}

/** Rebuilds the assistant's message from a streamed body. */
function streamedOutput(body) {
  const events = sseEvents(body);
  let content = '';
  let thinking = '';
  const calls = new Map();
  for (const e of events) {
    for (const choice of e.choices || []) {
      const d = choice.delta || {};
      if (d.content) content += d.content;
      if (choice.text) content += choice.text;
      for (const call of d.tool_calls || []) {
        const slot = calls.get(call.index) || { name: '', args: '' };
        if (call.function?.name) slot.name += call.function.name;
        if (call.function?.arguments) slot.args += call.function.arguments;
        calls.set(call.index, slot);
      }
    }
    if (e.type === 'content_block_start' && e.content_block?.type === 'tool_use') {
      calls.set(e.index, { name: e.content_block.name, args: '' });
    }
    if (e.type === 'content_block_delta') {
      if (e.delta?.type === 'text_delta') content += e.delta.text;
      if (e.delta?.type === 'thinking_delta') thinking += e.delta.thinking;
      if (e.delta?.type === 'input_json_delta') {
        const slot = calls.get(e.index) || { name: '', args: '' };
        slot.args += e.delta.partial_json;
        calls.set(e.index, slot);
      }
    }
  }
  if (!events.length) return null;
  const parts = [];
  if (thinking) parts.push({ type: 'thinking', text: thinking });
  if (content) parts.push(text(content));
  for (const call of calls.values()) {
    let args = call.args;
    try { args = JSON.parse(args); } catch { /* Kept as text. */ }
    parts.push({ type: 'tool_call', name: call.name, args });
  }
  return [{ role: 'assistant', name: '', parts }];
}

/**
 * The conversation of a call: `{input, output, error}`, where input and output are lists of
 * `{role, name, parts}`; `null` when the bodies have no shape this module knows.
 */
export function conversation(call) {
  const req = call.request_body;
  const res = call.response_body;
  const input = [];
  let output = [];
  let known = false;
  if (call.kind && call.kind !== 'llm') {
    return {
      input: [{ role: call.kind, name: call.model || '', parts: [{ type: 'json', value: req?.input ?? req }] }],
      output: [{ role: 'output', name: '', parts: [{ type: 'json', value: res }] }],
      error: call.error,
    };
  }
  if (req && typeof req === 'object') {
    if (req.system) {
      input.push({ role: 'system', name: '', parts: anthropicParts(req.system) });
    }
    if (Array.isArray(req.messages)) {
      known = true;
      const anthropic = String(call.provider).toUpperCase() === 'ANTHROPIC' || Boolean(req.system);
      for (const m of req.messages) {
        input.push(anthropic ? { role: m.role, name: '', parts: anthropicParts(m.content) } : openAiMessage(m));
      }
    } else if (req.prompt !== undefined) {
      known = true;
      input.push({ role: 'user', name: '', parts: [text(Array.isArray(req.prompt) ? req.prompt.join('\n') : req.prompt)] });
    } else if (req.input !== undefined) {
      known = true;
      input.push({ role: 'user', name: '', parts: typeof req.input === 'string' ? [text(req.input)] : [{ type: 'json', value: req.input }] });
    }
  }
  let error = call.error || null;
  if (typeof res === 'string') {
    output = streamedOutput(res) || [{ role: 'assistant', name: '', parts: [text(res)] }];
  } else if (res && typeof res === 'object') {
    if (res.error) error = res.error.message || JSON.stringify(res.error);
    if (Array.isArray(res.choices)) {
      output = res.choices.map((c) => (c.message ? openAiMessage(c.message) : { role: 'assistant', name: '', parts: [text(c.text ?? '')] }));
    } else if (Array.isArray(res.content)) {
      output = [{ role: res.role || 'assistant', name: '', parts: anthropicParts(res.content) }];
    } else if (Array.isArray(res.output)) {
      output = res.output.filter((o) => o.type === 'message').map((o) => ({ role: o.role, name: '', parts: openAiParts(o.content) }));
    }
  }
  if (!known && !output.length) return null;
  return { input, output, error };
}

function partView(part) {
  switch (part.type) {
    case 'text': return h('div', { class: 'msg-text', text: part.text });
    case 'thinking': return h('details', { class: 'msg-thinking' }, h('summary', { text: 'Thinking' }), h('div', { class: 'msg-text', text: part.text }));
    case 'tool_call': return h('div', { class: 'msg-tool' }, h('div', { class: 'msg-tool-name', text: `→ calls ${part.name || 'a tool'}` }), jsonView(part.args, { label: 'Tool arguments' }));
    case 'tool_result': return h('div', { class: 'msg-tool' }, h('div', { class: 'msg-tool-name', text: `← result${part.name ? ` of ${part.name}` : ''}` }),
      typeof part.value === 'string' ? h('div', { class: 'msg-text', text: part.value }) : jsonView(part.value, { label: 'Tool result' }));
    case 'image': return h('div', { class: 'muted', text: '[image]' });
    default: return jsonView(part.value, { label: 'Content' });
  }
}

/** One message: its role, then its parts. */
export function messageView(message, { output = false } = {}) {
  return h('article', { class: ['msg', `role-${message.role}`, output ? 'output' : ''], dataset: { test: 'message', role: message.role } },
    h('header', { class: 'msg-role' }, message.role, message.name ? h('span', { class: 'muted', text: ` · ${message.name}` }) : null, output ? h('span', { class: 'muted', text: ' · response' }) : null),
    message.parts.length ? message.parts.map(partView) : h('div', { class: 'muted', text: '(empty)' }));
}

/** The whole conversation, or `null` when the bodies are not a conversation. */
export function conversationView(call) {
  const c = conversation(call);
  if (!c) return null;
  return h('div', { class: 'conversation', dataset: { test: 'conversation' } },
    c.input.map((m) => messageView(m)),
    c.output.map((m) => messageView(m, { output: true })),
    c.error ? h('div', { class: 'alert', role: 'status', text: `Error: ${c.error}` }) : null);
}

//! The demo's support-triage agent: the calls a small agent makes for two tickets, sent through
//! Canopy with the official `Helicone-*` headers, as an application using an OpenAI or
//! Anthropic SDK would send them.
//!
//! Ticket one shows every kind of step: nested paths, an Anthropic call with cached tokens, a
//! tool step recorded through the custom log, a streamed call, the same path twice (a draft
//! and its revision) and a call that fails upstream. Ticket two is short, from another user.
//! Talking to Canopy and the mock provider belongs to [`super::client`]; this file is only the
//! story.

use anyhow::bail;
use serde_json::{Value, json};

use super::client::{Api, Client, Reply, Session};
use crate::output;

/// The session name both tickets carry: the kind of session, for filtering.
const SESSION_NAME: &str = "Support Ticket";
/// The system prompt of the triage steps.
const TRIAGE_SYSTEM: &str = "You are a support triage agent for an online shop. Decide what \
    the customer needs, how urgent it is, and which team owns it.";
/// The system prompt of the reply-writing steps.
const WRITER_SYSTEM: &str = "You write short, friendly replies to customers on behalf of the \
    support team. Never promise what the order system does not confirm.";

/// Drives both tickets and returns their session ids, with the number of calls each made.
pub async fn run(client: &Client) -> anyhow::Result<Vec<(String, u64)>> {
    let one = ticket_one(client).await?;
    let two = ticket_two(client).await?;
    Ok(vec![one, two])
}

/// A session id no earlier run used: the random tail of a time-ordered id.
fn session_id() -> String {
    let id = canopy_core::CallId::new().to_string();
    let tail = id.rsplit('-').next().unwrap_or(&id);
    format!("demo-ticket-{tail}")
}

/// An OpenAI chat body: the system prompt, then the given `(role, content)` turns.
fn chat(model: &str, stream: bool, system: &str, turns: &[(&str, &str)]) -> Value {
    let mut messages = vec![json!({"role": "system", "content": system})];
    for (role, content) in turns {
        messages.push(json!({"role": role, "content": content}));
    }
    json!({"model": model, "stream": stream, "messages": messages})
}

/// A damaged order: triage, classification, an order lookup, a streamed draft, a revision,
/// and a final check that fails upstream, after which the agent hands the ticket to a person.
async fn ticket_one(client: &Client) -> anyhow::Result<(String, u64)> {
    let session = Session {
        id: session_id(),
        name: SESSION_NAME,
        user: "customer-4521",
        properties: &[
            ("Ticket", "4521"),
            ("Channel", "email"),
            ("Environment", "demo"),
        ],
    };
    let ticket = "Order A-1042 arrived with a cracked screen. I need a replacement before \
        Friday, my daughter's birthday. Can you help?";
    output::line(&format!(
        "ticket #4521 \"damaged order\" -> session {}",
        session.id
    ));

    let triage = chat("gpt-4o-mini", false, TRIAGE_SYSTEM, &[("user", ticket)]);
    let knobs = [("x-mock-latency-ms", "220")];
    expect_ok(
        client
            .llm(&session, "/triage", Api::OpenAi, triage, &knobs)
            .await?,
    )?;

    let classify = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "system": "Classify the ticket as one of: shipping, billing, damaged_item, account. \
            Answer with the category and a priority from P1 to P3.",
        "messages": [{"role": "user", "content": ticket}],
    });
    // The classification prompt is the same for every ticket, so the provider serves most of
    // it from its prompt cache.
    let knobs = [
        ("x-mock-latency-ms", "160"),
        ("x-mock-cached-tokens", "1024"),
    ];
    let path = "/triage/classify";
    expect_ok(
        client
            .llm(&session, path, Api::Anthropic, classify, &knobs)
            .await?,
    )?;

    let order = json!({"order_id": "A-1042"});
    let found = json!({
        "order_id": "A-1042", "status": "delivered", "item": "Tablet 10\" 64 GB",
        "replacement_in_stock": true, "ships_by": "tomorrow",
    });
    client
        .tool(&session, "/triage/lookup", "lookup_order", order, found)
        .await?;

    let ask = "Write a reply: the tablet arrived damaged; a replacement is in stock and ships \
        tomorrow, before Friday.";
    let turns = [("user", ticket), ("user", ask)];
    let draft_body = chat("gpt-4o", true, WRITER_SYSTEM, &turns);
    let knobs = [
        ("x-mock-latency-ms", "150"),
        ("x-mock-chunk-delay-ms", "12"),
    ];
    let draft = expect_ok(
        client
            .llm(&session, "/respond/draft", Api::OpenAi, draft_body, &knobs)
            .await?,
    )?;

    // The revision sends the first draft back, so its prompt carries the whole conversation.
    let revise = "Shorter, please, and give the return label link for the damaged one.";
    let revision = chat(
        "gpt-4o",
        false,
        WRITER_SYSTEM,
        &[
            ("user", ticket),
            ("user", ask),
            ("assistant", &draft.text),
            ("user", revise),
        ],
    );
    let knobs = [("x-mock-latency-ms", "260")];
    let revised = expect_ok(
        client
            .llm(&session, "/respond/draft", Api::OpenAi, revision, &knobs)
            .await?,
    )?;

    let check = format!(
        "Check the tone of this reply before it is sent: {}",
        revised.text
    );
    let send = chat("gpt-4o-mini", false, WRITER_SYSTEM, &[("user", &check)]);
    let knobs = [("x-mock-latency-ms", "90"), ("x-mock-status", "500")];
    let failed = client
        .llm(&session, "/respond/send", Api::OpenAi, send, &knobs)
        .await?;
    if failed.status < 400 {
        bail!(
            "the failing step answered {} instead of an error",
            failed.status
        );
    }
    output::line("  the provider failed the last step; the agent hands the ticket to a person");
    Ok((session.id, 6))
}

/// A billing question from another customer: triage, then one reply.
async fn ticket_two(client: &Client) -> anyhow::Result<(String, u64)> {
    let session = Session {
        id: session_id(),
        name: SESSION_NAME,
        user: "customer-7310",
        properties: &[
            ("Ticket", "4522"),
            ("Channel", "chat"),
            ("Environment", "demo"),
        ],
    };
    let ticket = "How do I change the email address my invoices go to?";
    output::line(&format!(
        "ticket #4522 \"billing email\" -> session {}",
        session.id
    ));
    let triage = chat("gpt-4o-mini", false, TRIAGE_SYSTEM, &[("user", ticket)]);
    let knobs = [("x-mock-latency-ms", "180")];
    expect_ok(
        client
            .llm(&session, "/triage", Api::OpenAi, triage, &knobs)
            .await?,
    )?;
    let respond = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": WRITER_SYSTEM,
        "messages": [{"role": "user", "content": format!("Answer the customer: {ticket}")}],
    });
    let knobs = [("x-mock-latency-ms", "240")];
    let path = "/respond/draft";
    expect_ok(
        client
            .llm(&session, path, Api::Anthropic, respond, &knobs)
            .await?,
    )?;
    Ok((session.id, 2))
}

/// Stops the demo when a step that should succeed did not: its status and message say why
/// (a missing key, a refused `/gateway` origin).
fn expect_ok(reply: Reply) -> anyhow::Result<Reply> {
    if reply.status < 400 {
        return Ok(reply);
    }
    // Both providers' error shapes, and Canopy's own, carry `error.message`.
    let message = serde_json::from_str::<Value>(&reply.text)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned))
        .unwrap_or(reply.text);
    let hint = match reply.status {
        401 | 403 => " (pass --key or set CANOPY_KEY)",
        _ => "",
    };
    bail!(
        "Canopy answered {} for a demo step: {message}{hint}",
        reply.status
    )
}

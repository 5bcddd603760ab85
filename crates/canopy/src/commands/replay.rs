//! `canopy replay <session-id>`: asks a running Canopy to replay a session, prints the comparison.

use std::time::Duration;

use anyhow::{Context, bail};
use canopy_api::replay::{ReplayResult, SideTotals, StepSide};
use serde_json::{Map, Value, json};

use crate::cli::ReplayArgs;
use crate::commands::remote;
use crate::config::Settings;
use crate::output;
use crate::render::{clean, pad, truncate};

/// How long a replay may take in all: it re-sends every call of the session.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Runs the replay through the server at `--url` (default: the configured listen address).
pub async fn run(settings: &Settings, args: ReplayArgs) -> anyhow::Result<()> {
    let given = match &args.url {
        Some(url) => url.clone(),
        None => {
            let mut addr = settings.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    };
    let base = remote::base_url(&given)?;
    let body = request_body(&args)?;
    let mut endpoint = url::Url::parse(&base).with_context(|| format!("`{given}` is not a URL"))?;
    endpoint
        .path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{given}` cannot have a path"))?
        .pop_if_empty()
        .extend(["api", "v1", "session", &args.id, "replay"]);
    let mut request = remote::client(REPLAY_TIMEOUT)?.post(endpoint).json(&body);
    if let Some(key) = &args.key {
        request = request.bearer_auth(key);
    }
    let data = remote::send(request, &base, args.key.is_some(), REPLAY_TIMEOUT).await?;
    if args.json {
        output::line(&serde_json::to_string_pretty(&data)?);
        return Ok(());
    }
    let result: ReplayResult = serde_json::from_value(data).context("unexpected replay answer")?;
    output::text(&table(&result, output::color()));
    Ok(())
}

fn request_body(args: &ReplayArgs) -> anyhow::Result<Value> {
    let mut body = Map::new();
    if let Some(model) = &args.model {
        body.insert("model".into(), json!(model));
    }
    if let Some(text) = &args.system_append {
        body.insert(
            "system_prompt".into(),
            json!({"mode": "append", "text": text}),
        );
    }
    if let Some(text) = &args.system_replace {
        body.insert(
            "system_prompt".into(),
            json!({"mode": "replace", "text": text}),
        );
    }
    if let Some(file) = &args.patch {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let patch: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        body.insert("patch".into(), patch);
    }
    if let Some(path) = &args.path {
        body.insert("path".into(), json!(path));
    }
    body.insert("propagate".into(), json!(!args.no_propagate));
    let mut headers = Map::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("--header must look like 'Name: value', got `{header}`")
        };
        headers.insert(name.trim().to_owned(), json!(value.trim()));
    }
    body.insert("headers".into(), Value::Object(headers));
    Ok(Value::Object(body))
}

/// The comparison as a table: one block per step, original above replay, then the totals.
/// Columns are padded by display width, and text from callers has its control characters
/// replaced, as in `canopy sessions`.
pub fn table(result: &ReplayResult, color: bool) -> String {
    let (bold, dim, reset) = if color {
        ("\u{1b}[1m", "\u{1b}[2m", "\u{1b}[0m")
    } else {
        ("", "", "")
    };
    let mut out = format!(
        "{bold}{}{reset}  {dim}{}{reset}\nreplay of session {}\n\n",
        clean(&result.replay_session_name),
        clean(&result.replay_session_id),
        clean(&result.original_session_id)
    );
    out.push_str(&format!(
        "{:<28} {:<8} {:<24} {:>7} {:>11} {:>13} {:>9}  output\n",
        "step", "", "model", "status", "cost", "tokens", "latency"
    ));
    for step in &result.steps {
        out.push_str(&format!(
            "{bold}{}{reset} {dim}{}{reset}\n",
            clean(&step.path),
            clean(&step.kind)
        ));
        out.push_str(&row("original", &step.original));
        if let Some(replay) = &step.replay {
            out.push_str(&row("replay", replay));
        }
        if step.propagated_messages > 0 {
            out.push_str(&format!(
                "  {dim}history: {} earlier output(s) replaced by replayed ones{reset}\n",
                step.propagated_messages
            ));
        }
        if let Some(note) = &step.note {
            out.push_str(&format!("  {dim}{}{reset}\n", clean(note)));
        }
    }
    out.push('\n');
    let c = &result.counts;
    out.push_str(&format!(
        "{} steps: {} model calls ({} replayed, {} not), {} tool or data steps not re-run\n",
        c.steps, c.model_calls, c.replayed, c.not_replayed, c.not_rerun
    ));
    out.push_str(&totals_row("total original", &result.totals.original));
    out.push_str(&totals_row("total replay", &result.totals.replay));
    out
}

fn row(label: &str, side: &StepSide) -> String {
    let output: String = side.output.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "  {:<26} {:<8} {} {:>7} {:>11} {:>13} {:>9}  {}\n",
        "",
        label,
        pad(&clean(side.model.as_deref().unwrap_or("-")), 24, true),
        side.status,
        side.cost.map_or("-".to_owned(), |c| format!("${c:.6}")),
        format!("{}+{}", side.prompt_tokens, side.completion_tokens),
        side.latency_ms
            .map_or("-".to_owned(), |ms| format!("{ms} ms")),
        truncate(&clean(&output), 49)
    )
    .trim_end()
    .to_owned()
        + "\n"
}

/// A side's totals over the replayed calls: latency as their sum and as wall time (first start
/// to last end), which differ when calls overlapped.
fn totals_row(label: &str, t: &SideTotals) -> String {
    format!(
        "{:<37} {:<24} {:>7} {:>11} {:>13} {:>9}  wall {} ms\n",
        label,
        format!("{} calls", t.calls),
        format!("{} err", t.errors),
        format!("${:.6}", t.cost),
        format!("{}+{}", t.prompt_tokens, t.completion_tokens),
        format!("{} ms", t.latency_ms),
        t.wall_ms
    )
}

//! Reading usage, model and output text out of provider responses, plain and streamed.
//!
//! One entry point per shape: [`from_body`] (or [`usage_from_body`]) for a whole JSON response,
//! and [`StreamObserver`] fed with SSE events for a stream. Both accept every response shape of
//! a [`WireFormat`] (OpenAI chat completions, completions, responses and embeddings; Anthropic
//! messages; Gemini `generateContent`) and normalise usage to [`Usage`]'s subset semantics.
//! Parsing reads only the fields it needs; anything it does not understand is skipped.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::sse::Event;

pub mod request;

use crate::usage::Usage;

/// The longest output text kept for token estimation and comparison, in bytes.
pub const MAX_OUTPUT_TEXT: usize = 256 * 1024;

/// A provider's wire format, which decides how usage is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    /// OpenAI and every OpenAI-compatible API.
    #[default]
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}

impl WireFormat {
    /// The format's name as the config file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }
}

/// What a response says about the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// The usage, when the provider reported it.
    pub usage: Option<Usage>,
    /// The model the provider says answered.
    pub model: Option<String>,
    /// The generated text, capped at [`MAX_OUTPUT_TEXT`].
    pub output_text: String,
    /// The response had another format's shape (Anthropic events where OpenAI chunks were
    /// expected, say): usage and text were read in this format instead.
    pub format_mismatch: Option<WireFormat>,
}

/// Reads a whole (non-streamed) JSON response body. A body that is not JSON gives no facts.
///
/// A body whose shape contradicts `format` (an Anthropic message read as OpenAI's) is read in
/// the format it has, and [`ResponseFacts::format_mismatch`] names that format.
pub fn from_body(format: WireFormat, body: &[u8]) -> ResponseFacts {
    read_whole(format, body, TextWhen::Always)
}

/// Reads a whole body as [`from_body`] does, except that the output text is read only when the
/// body reports no usage: the text is there to count the tokens a provider did not report, and
/// reading it is most of the cost of reading a chat completion. A proxied call's record is
/// completed from these facts.
pub fn usage_from_body(format: WireFormat, body: &[u8]) -> ResponseFacts {
    read_whole(format, body, TextWhen::WithoutUsage)
}

/// When a whole body's output text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextWhen {
    Always,
    WithoutUsage,
}

fn read_whole(format: WireFormat, body: &[u8], text: TextWhen) -> ResponseFacts {
    let (facts, actual) = read_body(format, body, text);
    match actual {
        Some(actual) if actual != format => {
            let (mut facts, _) = read_body(actual, body, text);
            facts.format_mismatch = Some(actual);
            facts
        }
        _ => facts,
    }
}

/// Reads streamed chunks as a logging client sent them (Helicone's manual logger puts them in
/// `providerResponse.textBody`): SSE (`data:` lines), JSON lines, or one whole JSON body.
pub fn from_logged_text(format: WireFormat, text: &str) -> ResponseFacts {
    let trimmed = text.trim();
    if trimmed.starts_with('{') && serde_json::from_str::<IgnoredAny>(trimmed).is_ok() {
        return from_body(format, trimmed.as_bytes());
    }
    let mut observer = StreamObserver::new(format);
    let is_sse = trimmed
        .lines()
        .any(|line| line.starts_with("data:") || line.starts_with("event:"));
    if is_sse {
        let mut splitter = crate::sse::SseSplitter::new();
        splitter.feed(trimmed.as_bytes(), |event| {
            observer.observe(&event.parse());
        });
        splitter.finish(|event| {
            observer.observe(&event.parse());
        });
    } else {
        for line in trimmed.lines().map(str::trim).filter(|l| !l.is_empty()) {
            observer.observe(&Event {
                event: None,
                data: Cow::Borrowed(line),
            });
        }
    }
    observer.into_facts()
}

/// Reads a body in `format`; the second value is the format its shape says it has, when that
/// can be told. An OpenAI or Anthropic body's text is read in a second pass, when `text` asks
/// for it: the first skips it.
fn read_body(
    format: WireFormat,
    body: &[u8],
    text: TextWhen,
) -> (ResponseFacts, Option<WireFormat>) {
    let mut facts = ResponseFacts::default();
    let mut actual = None;
    match format {
        WireFormat::Openai => {
            let Ok(r) = serde_json::from_slice::<OpenaiBody<IgnoredAny, IgnoredAny>>(body) else {
                return (facts, None);
            };
            if r.kind.as_deref() == Some("message") {
                actual = Some(WireFormat::Anthropic);
            } else if r.candidates.is_some() || r.usage_metadata.is_some() {
                actual = Some(WireFormat::Gemini);
            }
            facts.model = r.model;
            facts.usage = r.usage.map(OpenaiUsage::normalise);
            if text == TextWhen::WithoutUsage && facts.usage.is_some() {
                return (facts, actual);
            }
            let Ok(r) = serde_json::from_slice::<OpenaiBody>(body) else {
                return (facts, actual);
            };
            for choice in r.choices {
                if let Some(m) = choice.message {
                    push_capped(&mut facts.output_text, m.content.as_deref().unwrap_or(""));
                }
                push_capped(&mut facts.output_text, choice.text.as_deref().unwrap_or(""));
            }
            for item in r.output {
                for part in item.content {
                    push_capped(&mut facts.output_text, part.text.as_deref().unwrap_or(""));
                }
            }
        }
        WireFormat::Anthropic => {
            let Ok(r) = serde_json::from_slice::<AnthropicMessage<IgnoredAny>>(body) else {
                return (facts, None);
            };
            actual = shape_of(r.choices.is_some(), r.candidates.is_some(), None);
            facts.model = r.model;
            facts.usage = r.usage.map(|u| {
                let mut usage = Usage::default();
                u.apply(&mut usage);
                usage
            });
            if text == TextWhen::WithoutUsage && facts.usage.is_some() {
                return (facts, actual);
            }
            let Ok(r) = serde_json::from_slice::<AnthropicMessage>(body) else {
                return (facts, actual);
            };
            for block in r.content {
                push_capped(&mut facts.output_text, block.text.as_deref().unwrap_or(""));
            }
        }
        WireFormat::Gemini => {
            let Ok(r) = serde_json::from_slice::<GeminiBody>(body) else {
                return (facts, None);
            };
            actual = r.shape();
            r.apply(&mut facts);
        }
    }
    (facts, actual)
}

/// Accumulates what a streamed response says, one SSE event at a time.
#[derive(Debug, Default)]
pub struct StreamObserver {
    format: WireFormat,
    facts: ResponseFacts,
    anthropic_usage: Option<Usage>,
    ended: bool,
}

impl StreamObserver {
    /// An observer for a stream in `format`.
    pub fn new(format: WireFormat) -> Self {
        Self {
            format,
            ..Self::default()
        }
    }

    /// Reads one event. Returns whether it was the usage-only chunk that OpenAI's
    /// `stream_options.include_usage` adds: `choices` empty and `usage` an object.
    pub fn observe(&mut self, event: &Event<'_>) -> bool {
        let data = event.data.as_bytes();
        if event.data == "[DONE]" {
            self.ended = true;
            return false;
        }
        if data.is_empty() {
            return false;
        }
        match self.format {
            WireFormat::Openai => return self.observe_openai(event, data),
            WireFormat::Anthropic => self.observe_anthropic(event, data),
            WireFormat::Gemini => {
                if let Ok(r) = serde_json::from_slice::<GeminiBody>(data) {
                    if let Some(actual) = r.shape() {
                        return self.switch(actual, event);
                    }
                    r.apply(&mut self.facts);
                }
            }
        }
        false
    }

    /// The stream has `actual`'s shape, not the expected one: read it (from this event on) in
    /// that format, once, and say so in the facts.
    fn switch(&mut self, actual: WireFormat, event: &Event<'_>) -> bool {
        if self.facts.format_mismatch.is_some() || actual == self.format {
            return false;
        }
        self.facts.format_mismatch = Some(actual);
        self.format = actual;
        self.observe(event)
    }

    fn observe_openai(&mut self, event: &Event<'_>, data: &[u8]) -> bool {
        let event_type = event.event.as_deref();
        let Ok(mut chunk) = serde_json::from_slice::<OpenaiChunk<'_>>(data) else {
            return false;
        };
        if chunk.candidates.is_some() {
            return self.switch(WireFormat::Gemini, event);
        }
        if chunk
            .kind
            .as_ref()
            .is_some_and(|k| is_anthropic_event(&k.0))
        {
            return self.switch(WireFormat::Anthropic, event);
        }
        let usage_only = chunk.usage.is_some() && chunk.choices.as_ref().is_some_and(Vec::is_empty);
        // Responses API events carry their type in the data as well as in `event:`.
        let kind = chunk.kind.as_ref().map(|k| &*k.0).or(event_type);
        if matches!(
            kind,
            Some("response.completed" | "response.incomplete" | "response.failed")
        ) {
            self.ended = true;
        }
        if let Some(response) = chunk.response.take() {
            if self.facts.model.is_none() || response.usage.is_some() {
                self.facts.model = response.model.or(self.facts.model.take());
            }
            if let Some(u) = response.usage {
                self.facts.usage = Some(u.normalise());
            }
        }
        if kind == Some("response.output_text.delta")
            && let Some(OutputDelta::Text(text)) = &chunk.delta
        {
            push_capped(&mut self.facts.output_text, text);
        }
        if self.facts.model.is_none() {
            self.facts.model = chunk.model.map(|m| m.0.into_owned());
        }
        if let Some(u) = chunk.usage {
            self.facts.usage = Some(u.normalise());
        }
        for choice in chunk.choices.into_iter().flatten() {
            if let Some(ChunkText {
                content: Some(text),
            }) = &choice.delta
            {
                push_capped(&mut self.facts.output_text, &text.0);
            }
            if let Some(text) = &choice.text {
                push_capped(&mut self.facts.output_text, &text.0);
            }
        }
        usage_only
    }

    fn observe_anthropic(&mut self, raw: &Event<'_>, data: &[u8]) {
        let Ok(event) = serde_json::from_slice::<AnthropicEvent>(data) else {
            return;
        };
        if let Some(actual) = shape_of(event.choices.is_some(), event.candidates.is_some(), None) {
            self.switch(actual, raw);
            return;
        }
        if event.kind == Some(AnthropicEventKind::MessageStop) {
            self.ended = true;
        }
        if let Some(message) = event.message {
            self.facts.model = message.model.or(self.facts.model.take());
            if let Some(u) = message.usage {
                u.apply(self.anthropic_usage.get_or_insert_with(Usage::default));
            }
        }
        if let Some(u) = event.usage {
            // `message_delta` usage is cumulative: it restates counts, never adds to them.
            u.apply(self.anthropic_usage.get_or_insert_with(Usage::default));
        }
        if let Some(delta) = event.delta {
            push_capped(
                &mut self.facts.output_text,
                delta.text.as_deref().unwrap_or(""),
            );
        }
        self.facts.usage = self.anthropic_usage;
    }

    /// Whether the stream's last event has passed: `[DONE]`, Anthropic's `message_stop`, or
    /// a Responses API stream's closing event. A client may close the connection as soon as it
    /// reads it, before the upstream's end of body arrives; the answer was whole all the same.
    /// Gemini streams have no such event.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// What the stream said so far.
    pub fn facts(&self) -> &ResponseFacts {
        &self.facts
    }

    /// Ends observation.
    pub fn into_facts(self) -> ResponseFacts {
        self.facts
    }
}

/// Whether an event type is one of Anthropic's Messages stream events.
fn is_anthropic_event(kind: &str) -> bool {
    kind.starts_with("message_") || kind.starts_with("content_block_") || kind == "ping"
}

/// The format a response's telltale fields belong to: `choices` is OpenAI's, `candidates` or
/// `usageMetadata` Gemini's, a `type` of `message` or an Anthropic event name Anthropic's.
fn shape_of(choices: bool, candidates: bool, kind: Option<&str>) -> Option<WireFormat> {
    if choices {
        Some(WireFormat::Openai)
    } else if candidates {
        Some(WireFormat::Gemini)
    } else if kind.is_some_and(|k| k == "message" || is_anthropic_event(k)) {
        Some(WireFormat::Anthropic)
    } else {
        None
    }
}

fn push_capped(out: &mut String, text: &str) {
    if text.is_empty() || out.len() >= MAX_OUTPUT_TEXT {
        return;
    }
    let room = MAX_OUTPUT_TEXT - out.len();
    if text.len() <= room {
        out.push_str(text);
    } else {
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[..end]);
    }
}

/// A whole OpenAI body; with `IgnoredAny` for `C` and `O`, its choices and output items are
/// skipped, not read.
#[derive(Deserialize)]
struct OpenaiBody<C = OpenaiChoice, O = ResponsesItem> {
    #[serde(rename = "type")]
    kind: Option<String>,
    candidates: Option<IgnoredAny>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<IgnoredAny>,
    model: Option<String>,
    usage: Option<OpenaiUsage>,
    #[serde(default = "Vec::new")]
    choices: Vec<C>,
    /// Responses API output items.
    #[serde(default = "Vec::new")]
    output: Vec<O>,
}

#[derive(Deserialize)]
struct OpenaiChoice {
    message: Option<OpenaiText>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct OpenaiText {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ResponsesItem {
    #[serde(default)]
    content: Vec<ResponsesPart>,
}

#[derive(Deserialize)]
struct ResponsesPart {
    text: Option<String>,
}

/// One streamed OpenAI event. Strings borrow from the event's bytes unless they hold escapes:
/// a stream has hundreds of these, and most of their text is only looked at once.
#[derive(Deserialize)]
struct OpenaiChunk<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    model: Option<Text<'a>>,
    usage: Option<OpenaiUsage>,
    #[serde(borrow)]
    choices: Option<Vec<ChunkChoice<'a>>>,
    response: Option<ResponsesSummary>,
    #[serde(borrow)]
    delta: Option<OutputDelta<'a>>,
    candidates: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow)]
    delta: Option<ChunkText<'a>>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ChunkText<'a> {
    #[serde(borrow)]
    content: Option<Text<'a>>,
}

/// A JSON string, borrowed unless it holds escapes. (Serde borrows a `Cow<str>` only when it is
/// a field's whole type, so `Option<Cow<str>>` would always copy.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// A Responses API event's `delta`: text for `response.output_text.delta`, other shapes for
/// other events.
#[derive(Deserialize)]
#[serde(untagged)]
enum OutputDelta<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct ResponsesSummary {
    model: Option<String>,
    usage: Option<OpenaiUsage>,
}

/// OpenAI usage in any of its shapes: chat and completions (`prompt_tokens`), responses
/// (`input_tokens`), embeddings (no completion), DeepSeek (`prompt_cache_hit_tokens`).
#[derive(Deserialize)]
struct OpenaiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    prompt_tokens_details: Option<InputDetails>,
    input_tokens_details: Option<InputDetails>,
    completion_tokens_details: Option<OutputDetails>,
    output_tokens_details: Option<OutputDetails>,
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct InputDetails {
    cached_tokens: Option<u64>,
    audio_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetails {
    reasoning_tokens: Option<u64>,
    audio_tokens: Option<u64>,
}

impl OpenaiUsage {
    fn normalise(self) -> Usage {
        let input = self.prompt_tokens_details.or(self.input_tokens_details);
        let output = self
            .completion_tokens_details
            .or(self.output_tokens_details);
        Usage {
            prompt_tokens: self.prompt_tokens.or(self.input_tokens).unwrap_or(0),
            completion_tokens: self.completion_tokens.or(self.output_tokens).unwrap_or(0),
            cache_read_tokens: input
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            audio_input_tokens: input.as_ref().and_then(|d| d.audio_tokens).unwrap_or(0),
            reasoning_tokens: output
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            audio_output_tokens: output.as_ref().and_then(|d| d.audio_tokens).unwrap_or(0),
            ..Usage::default()
        }
    }
}

/// An Anthropic message; with `IgnoredAny` for `B`, its content blocks are skipped, not read.
#[derive(Deserialize)]
struct AnthropicMessage<B = AnthropicBlock> {
    choices: Option<IgnoredAny>,
    candidates: Option<IgnoredAny>,
    model: Option<String>,
    usage: Option<AnthropicUsage>,
    #[serde(default = "Vec::new")]
    content: Vec<B>,
}

#[derive(Deserialize)]
struct AnthropicBlock {
    text: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicEvent {
    #[serde(rename = "type")]
    kind: Option<AnthropicEventKind>,
    choices: Option<IgnoredAny>,
    candidates: Option<IgnoredAny>,
    message: Option<AnthropicMessage>,
    usage: Option<AnthropicUsage>,
    delta: Option<AnthropicBlock>,
}

/// The one Anthropic event type the observer acts on; the rest are read by their fields.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum AnthropicEventKind {
    MessageStop,
    #[serde(other)]
    Other,
}

/// Anthropic usage: `input_tokens` excludes cache reads and writes, which are reported apart.
#[derive(Deserialize)]
struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<AnthropicCacheCreation>,
}

#[derive(Deserialize)]
struct AnthropicCacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Overwrites the counts this report states, keeping the others, and re-derives totals.
    fn apply(self, usage: &mut Usage) {
        let uncached = usage
            .prompt_tokens
            .saturating_sub(usage.cache_read_tokens)
            .saturating_sub(usage.cache_write_tokens)
            .saturating_sub(usage.cache_write_1h_tokens);
        let uncached = self.input_tokens.unwrap_or(uncached);
        if let Some(read) = self.cache_read_input_tokens {
            usage.cache_read_tokens = read;
        }
        match self.cache_creation {
            Some(split) => {
                usage.cache_write_tokens = split.ephemeral_5m_input_tokens.unwrap_or(0);
                usage.cache_write_1h_tokens = split.ephemeral_1h_input_tokens.unwrap_or(0);
            }
            None => {
                if let Some(written) = self.cache_creation_input_tokens {
                    usage.cache_write_tokens = written;
                    usage.cache_write_1h_tokens = 0;
                }
            }
        }
        usage.prompt_tokens = uncached
            + usage.cache_read_tokens
            + usage.cache_write_tokens
            + usage.cache_write_1h_tokens;
        if let Some(output) = self.output_tokens {
            usage.completion_tokens = output;
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiBody {
    choices: Option<IgnoredAny>,
    #[serde(rename = "type")]
    kind: Option<String>,
    model_version: Option<String>,
    usage_metadata: Option<GeminiUsage>,
    #[serde(default)]
    candidates: Vec<GeminiCandidate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
struct GeminiCandidate {
    content: Option<GeminiContent>,
}

#[derive(Deserialize)]
struct GeminiContent {
    #[serde(default)]
    parts: Vec<AnthropicBlock>,
}

impl GeminiBody {
    /// The format the body's shape says it has, when it is not Gemini's.
    fn shape(&self) -> Option<WireFormat> {
        shape_of(self.choices.is_some(), false, self.kind.as_deref())
    }

    fn apply(self, facts: &mut ResponseFacts) {
        if self.model_version.is_some() {
            facts.model = self.model_version;
        }
        if let Some(u) = self.usage_metadata {
            // Gemini counts thoughts apart from candidates; ours are part of the completion.
            let thoughts = u.thoughts_token_count.unwrap_or(0);
            facts.usage = Some(Usage {
                prompt_tokens: u.prompt_token_count.unwrap_or(0),
                completion_tokens: u.candidates_token_count.unwrap_or(0) + thoughts,
                cache_read_tokens: u.cached_content_token_count.unwrap_or(0),
                reasoning_tokens: thoughts,
                ..Usage::default()
            });
        }
        for candidate in self.candidates {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                push_capped(&mut facts.output_text, part.text.as_deref().unwrap_or(""));
            }
        }
    }
}

#[cfg(test)]
mod tests;

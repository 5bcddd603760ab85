//! The Responses API's objects and stream events, as `#[derive(Serialize)]` structs whose
//! field order is the wire's key order.

use serde::Serialize;
use serde_json::value::RawValue;

use super::Usage;
use crate::json::{Id, Tri};

#[derive(Clone, Copy, Serialize)]
pub(super) struct ResponseObject<'a> {
    pub(super) id: Id,
    pub(super) object: &'static str,
    pub(super) created_at: u64,
    pub(super) status: &'static str,
    pub(super) error: (),
    pub(super) incomplete_details: (),
    pub(super) instructions: Option<&'a RawValue>,
    pub(super) model: &'a str,
    pub(super) output: &'a [OutputItem<'a>],
    pub(super) parallel_tool_calls: bool,
    pub(super) previous_response_id: (),
    pub(super) tool_choice: &'static str,
    pub(super) tools: &'static [()],
    #[serde(skip_serializing_if = "Tri::is_absent")]
    pub(super) usage: Tri<&'a Usage>,
    pub(super) metadata: Empty,
}

#[derive(Clone, Copy, Serialize)]
pub(super) struct Empty {}

#[derive(Serialize)]
pub(super) struct OutputItem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Id,
    status: &'static str,
    role: &'static str,
    content: &'a [OutputText<'a>],
}

impl<'a> OutputItem<'a> {
    pub(super) const fn new(id: Id, status: &'static str, content: &'a [OutputText<'a>]) -> Self {
        Self {
            kind: "message",
            id,
            status,
            role: "assistant",
            content,
        }
    }
}

#[derive(Serialize)]
pub(super) struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    annotations: &'static [()],
    text: &'a str,
}

impl<'a> OutputText<'a> {
    pub(super) const fn new(text: &'a str) -> Self {
        Self {
            kind: "output_text",
            annotations: &[],
            text,
        }
    }
}

#[derive(Clone, Copy, Serialize)]
pub(super) struct ResponseEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u32,
    response: &'a ResponseObject<'a>,
}

impl<'a> ResponseEvent<'a> {
    pub(super) const fn new(
        kind: &'static str,
        seq: u32,
        response: &'a ResponseObject<'a>,
    ) -> Self {
        Self {
            kind,
            sequence_number: seq,
            response,
        }
    }
}

#[derive(Serialize)]
pub(super) struct ItemEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u32,
    output_index: u32,
    item: &'a OutputItem<'a>,
}

impl<'a> ItemEvent<'a> {
    pub(super) const fn new(kind: &'static str, seq: u32, item: &'a OutputItem<'a>) -> Self {
        Self {
            kind,
            sequence_number: seq,
            output_index: 0,
            item,
        }
    }
}

#[derive(Serialize)]
pub(super) struct PartEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u32,
    item_id: Id,
    output_index: u32,
    content_index: u32,
    part: &'a OutputText<'a>,
}

impl<'a> PartEvent<'a> {
    pub(super) const fn new(
        kind: &'static str,
        seq: u32,
        item_id: Id,
        part: &'a OutputText<'a>,
    ) -> Self {
        Self {
            kind,
            sequence_number: seq,
            item_id,
            output_index: 0,
            content_index: 0,
            part,
        }
    }
}

/// `response.output_text.delta` (with `delta`) and `response.output_text.done` (with `text`).
#[derive(Serialize)]
pub(super) struct TextEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u32,
    item_id: Id,
    output_index: u32,
    content_index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

impl<'a> TextEvent<'a> {
    pub(super) const fn delta(seq: u32, item_id: Id, delta: &'a str) -> Self {
        Self {
            kind: "response.output_text.delta",
            sequence_number: seq,
            item_id,
            output_index: 0,
            content_index: 0,
            delta: Some(delta),
            text: None,
        }
    }

    pub(super) const fn done(seq: u32, item_id: Id, text: &'a str) -> Self {
        Self {
            kind: "response.output_text.done",
            text: Some(text),
            delta: None,
            ..Self::delta(seq, item_id, "")
        }
    }
}

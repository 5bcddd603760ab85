//! The fast write path: a batch whose calls are all new goes in with binary `COPY`.
//!
//! `COPY … FROM STDIN (FORMAT binary)` skips what `INSERT … SELECT FROM UNNEST` costs the
//! server per row (decoding arrays, materializing the function's rows, the `ON CONFLICT`
//! probe, `RETURNING`) and lets it insert rows into each partition in groups. Binary format
//! needs no escaping: every text is sent as its UTF-8 bytes with a length, so tabs, newlines,
//! backslashes and `\N` arrive as they are. NUL was already replaced ([`crate::write`]).
//!
//! `COPY` cannot skip rows that exist. The caller uses it only for a batch it has no reason to
//! think is stored, and when a key turns out to be taken anyway (a replayed spool, a call
//! repeated within the batch, a concurrent writer), `COPY` fails with a unique violation,
//! the transaction is rolled back, and the batch is written again by the idempotent path.

use std::collections::BTreeMap;
use std::io::Write as _;

use canopy_core::CallRecord;
use sqlx::PgConnection;

use crate::write::token_counts;

/// Copies `calls` (sorted by organisation and id) and their bodies. A key already stored makes
/// this fail with a unique violation ([`is_unique_violation`]).
pub(crate) async fn copy_new(conn: &mut PgConnection, calls: &[&CallRecord]) -> sqlx::Result<()> {
    if calls.is_empty() {
        return Ok(());
    }
    send(conn, CALLS, calls_data(calls)?).await?;
    send(conn, BODIES, bodies_data(calls)?).await
}

/// Whether `error` is PostgreSQL's unique violation (SQLSTATE 23505).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505")
}

const CALLS: &str = "COPY calls (id, org_id, key_id, created_at, response_created_at, latency_ms, \
     time_to_first_token_ms, provider, target_url, request_path, method, status, is_stream, \
     request_model, response_model, pricing_model, prompt_tokens, completion_tokens, \
     cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, \
     audio_input_tokens, audio_output_tokens, usage_source, cost_nano, session_id, \
     session_path, session_name, user_id, prompt_id, properties, error, kind) \
     FROM STDIN (FORMAT binary)";

const BODIES: &str = "COPY call_bodies (org_id, id, created_at, request_body, \
     request_truncated, request_omitted, response_body, response_truncated, response_omitted, \
     request_headers) FROM STDIN (FORMAT binary)";

async fn send(conn: &mut PgConnection, statement: &str, data: Vec<u8>) -> sqlx::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await.map(drop)
}

fn calls_data(calls: &[&CallRecord]) -> sqlx::Result<Vec<u8>> {
    let mut out = Binary::new(calls.len() * 512);
    for r in calls {
        out.row(34);
        out.display(&r.id)?;
        out.text(&r.org_id)?;
        out.opt_text(r.key_id.as_deref())?;
        out.int8(r.created_at_ms);
        out.opt_int8(r.response_created_at_ms);
        out.opt_int8(r.latency_ms);
        out.opt_int8(r.time_to_first_token_ms);
        out.text(&r.provider)?;
        out.text(&r.target_url)?;
        out.text(&r.request_path)?;
        out.text(&r.method)?;
        out.int4(r.status);
        out.bool(r.is_stream);
        out.opt_text(r.request_model.as_deref())?;
        out.opt_text(r.response_model.as_deref())?;
        out.opt_text(r.pricing_model.as_deref())?;
        for n in token_counts(&r.usage) {
            out.int8(n);
        }
        out.text(r.usage_source.as_str())?;
        out.opt_int8(r.cost_nano_usd);
        out.opt_text(r.session_id.as_deref())?;
        out.opt_text(r.session_path.as_deref())?;
        out.opt_text(r.session_name.as_deref())?;
        out.opt_text(r.user_id.as_deref())?;
        out.opt_text(r.prompt_id.as_deref())?;
        out.jsonb(&r.properties)?;
        out.opt_text(r.error.as_deref())?;
        out.text(r.kind.as_str())?;
    }
    Ok(out.finish())
}

fn bodies_data(calls: &[&CallRecord]) -> sqlx::Result<Vec<u8>> {
    let size: usize = calls
        .iter()
        .map(|r| {
            let len = |t: &Option<String>| t.as_deref().map_or(0, str::len);
            len(&r.request_body.text) + len(&r.response_body.text) + 256
        })
        .sum();
    let mut out = Binary::new(size);
    for r in calls {
        out.row(10);
        out.text(&r.org_id)?;
        out.display(&r.id)?;
        out.int8(r.created_at_ms);
        out.opt_text(r.request_body.text.as_deref())?;
        out.bool(r.request_body.truncated);
        out.bool(r.request_body.omitted);
        out.opt_text(r.response_body.text.as_deref())?;
        out.bool(r.response_body.truncated);
        out.bool(r.response_body.omitted);
        out.jsonb(&r.request_headers)?;
    }
    Ok(out.finish())
}

/// PostgreSQL's binary `COPY` format, written field by field: a header, then for each row its
/// field count and each field as a big-endian length (-1 for NULL) and its bytes, then -1.
pub(crate) struct Binary {
    buf: Vec<u8>,
}

impl Binary {
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 32);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Self { buf }
    }

    pub(crate) fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    pub(crate) fn text(&mut self, s: &str) -> sqlx::Result<()> {
        self.len(s.len())?;
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }

    pub(crate) fn opt_text(&mut self, s: Option<&str>) -> sqlx::Result<()> {
        match s {
            Some(s) => self.text(s),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    /// A text written by its `Display`, without an intermediate `String`.
    pub(crate) fn display(&mut self, value: &impl std::fmt::Display) -> sqlx::Result<()> {
        self.patched(|buf| write!(buf, "{value}").map_err(encode))
    }

    /// A map as `jsonb`: the format's version byte, then the JSON text.
    pub(crate) fn jsonb(&mut self, map: &BTreeMap<String, String>) -> sqlx::Result<()> {
        self.patched(|buf| {
            buf.push(1);
            serde_json::to_writer(buf, map).map_err(encode)
        })
    }

    pub(crate) fn int8(&mut self, n: i64) {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&n.to_be_bytes());
    }

    pub(crate) fn opt_int8(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.int8(n),
            None => self.null(),
        }
    }

    pub(crate) fn int4(&mut self, n: i32) {
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&n.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(b));
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn len(&mut self, len: usize) -> sqlx::Result<()> {
        let len = i32::try_from(len).map_err(encode)?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Writes a field with `write`, then fills in its length in front of it.
    fn patched(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> sqlx::Result<()>,
    ) -> sqlx::Result<()> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(&mut self.buf)?;
        let len = i32::try_from(self.buf.len() - at - 4).map_err(encode)?;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

fn encode(error: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_and_null_is_minus_one() {
        let mut out = Binary::new(0);
        out.row(4);
        out.text("a\tb").unwrap();
        out.opt_text(None).unwrap();
        out.int4(7);
        out.jsonb(&BTreeMap::from([("k".to_owned(), "v".to_owned())]))
            .unwrap();
        let data = out.finish();
        let mut expected = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        expected.extend_from_slice(&[0, 4]);
        expected.extend_from_slice(&[0, 0, 0, 3, b'a', b'\t', b'b']);
        expected.extend_from_slice(&[0xff; 4]);
        expected.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 7]);
        expected.extend_from_slice(&[0, 0, 0, 10, 1]);
        expected.extend_from_slice(br#"{"k":"v"}"#);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(data, expected);
    }
}

//! Micro-benchmarks of the pure pieces on the response path: SSE parsing, usage extraction,
//! record encoding, and counting tokens for calls whose provider reported none. Run with `cargo bench -p canopy-bench --bench micro`; criterion prints the
//! time per iteration and, where a byte count is given, the throughput.

use std::hint::black_box;

use canopy_core::extract::{self, StreamObserver, WireFormat};
use canopy_core::sse::SseSplitter;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// An OpenAI chat stream of `chunks` content chunks plus the usage chunk, as the wire carries it.
fn openai_stream(chunks: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..chunks {
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    out.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":200,\"total_tokens\":320}}\n\ndata: [DONE]\n\n");
    out.into_bytes()
}

const CHUNKS: usize = 200;

/// Splitting a stream into events, and observing every event for usage, model and text as the
/// capture does; both fed in 1 KiB network-sized pieces.
fn streams(c: &mut Criterion) {
    let wire = openai_stream(CHUNKS);
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("sse_split", |b| {
        b.iter(|| {
            let mut splitter = SseSplitter::new();
            let mut events = 0usize;
            for piece in wire.chunks(1024) {
                splitter.feed(black_box(piece), |_| events += 1);
            }
            splitter.finish(|_| events += 1);
            events
        });
    });
    group.bench_function("sse_observe_usage", |b| {
        b.iter(|| {
            let mut splitter = SseSplitter::new();
            let mut observer = StreamObserver::new(WireFormat::Openai);
            for piece in wire.chunks(1024) {
                splitter.feed(black_box(piece), |event| {
                    observer.observe(&event.parse());
                });
            }
            splitter.finish(|event| {
                observer.observe(&event.parse());
            });
            observer.into_facts().usage
        });
    });
    group.finish();
}

/// Reading usage from a whole (non-streamed) chat completion.
fn usage_from_body(c: &mut Criterion) {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today with your order?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":12,"audio_tokens":0}}}"#;
    let mut group = c.benchmark_group("body");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("usage_from_body", |b| {
        b.iter(|| extract::usage_from_body(WireFormat::Openai, black_box(body)));
    });
    group.finish();
}

/// Encoding a complete record as the spool writes it (JSON line), and pricing a call: catalog
/// lookup (with dated-snapshot matching) and cost.
fn records(c: &mut Criterion) {
    let record = canopy_store::testing::sample_call("org", Some("session"), 1_700_000_000_000);
    c.bench_function("record_encode_json", |b| {
        b.iter(|| {
            serde_json::to_vec(black_box(&record))
                .map(|v| v.len())
                .unwrap_or(0)
        });
    });
    let Ok(catalog) = canopy_core::pricing::PriceCatalog::builtin() else {
        return;
    };
    let usage = canopy_core::Usage {
        prompt_tokens: 1200,
        completion_tokens: 300,
        cache_read_tokens: 1000,
        ..Default::default()
    };
    c.bench_function("price_lookup", |b| {
        b.iter(|| {
            catalog
                .price(
                    black_box("openai"),
                    black_box("gpt-4o-mini-2024-07-18"),
                    &usage,
                )
                .map(|(_, c)| c)
        });
    });
}

/// Counting a call's tokens when its provider reported none (a client that left, a stream
/// without usage): a chat request of about 1, 20 and 100 KiB, on the thread that records the
/// call. Building the tokenizer's tables, once per process, is timed apart.
fn estimate(c: &mut Criterion) {
    let sentence =
        "The quick brown fox jumps over the lazy dog, then asks for the weather in Paris. ";
    let mut group = c.benchmark_group("estimate");
    for kib in [1usize, 20, 100] {
        let text = sentence.repeat(kib * 1024 / sentence.len());
        let body = serde_json::to_vec(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": text}],
        }))
        .unwrap_or_default();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("chat_{kib}KiB"), |b| {
            b.iter(|| {
                canopy_gateway::estimate::estimate(black_box(&body), "Hello there.").prompt_tokens
            });
        });
    }
    group.finish();
    let mut group = c.benchmark_group("tokenizer");
    group.sample_size(10);
    group.bench_function("build_o200k", |b| b.iter(tiktoken_rs::o200k_base));
    group.finish();
}

criterion_group!(benches, streams, usage_from_body, records, estimate);
criterion_main!(benches);

//! Micro-benchmarks of the pure pieces on the response path: SSE parsing, usage extraction and
//! record encoding. Run with `cargo bench -p canopy-bench --bench micro`; divan prints the time
//! per iteration and, where a byte count is given, the throughput.

use canopy_core::extract::{self, StreamObserver, WireFormat};
use canopy_core::sse::SseSplitter;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

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

/// Splitting a stream into events, fed in 1 KiB network-sized pieces.
#[divan::bench]
fn sse_split(bencher: Bencher) {
    let wire = openai_stream(CHUNKS);
    bencher.counter(BytesCount::of_slice(&wire)).bench(|| {
        let mut splitter = SseSplitter::new();
        let mut events = 0usize;
        for piece in wire.chunks(1024) {
            splitter.feed(black_box(piece), |_| events += 1);
        }
        splitter.finish(|_| events += 1);
        events
    });
}

/// Splitting and observing every event for usage, model and text, as the capture does.
#[divan::bench]
fn sse_observe_usage(bencher: Bencher) {
    let wire = openai_stream(CHUNKS);
    bencher.counter(BytesCount::of_slice(&wire)).bench(|| {
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
}

/// Reading usage from a whole (non-streamed) chat completion.
#[divan::bench]
fn usage_from_body(bencher: Bencher) {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today with your order?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":12,"audio_tokens":0}}}"#;
    bencher
        .counter(BytesCount::of_slice(body))
        .bench(|| extract::from_body(WireFormat::Openai, black_box(body)));
}

/// Encoding a complete record as the spool writes it (JSON line).
#[divan::bench]
fn record_encode_json(bencher: Bencher) {
    let record = canopy_store::testing::sample_call("org", Some("session"), 1_700_000_000_000);
    bencher.bench(|| {
        serde_json::to_vec(black_box(&record))
            .map(|v| v.len())
            .unwrap_or(0)
    });
}

/// Pricing a call: catalog lookup (with dated-snapshot matching) and cost.
#[divan::bench]
fn price_lookup(bencher: Bencher) {
    let Ok(catalog) = canopy_core::pricing::PriceCatalog::builtin() else {
        return;
    };
    let usage = canopy_core::Usage {
        prompt_tokens: 1200,
        completion_tokens: 300,
        cache_read_tokens: 1000,
        ..Default::default()
    };
    bencher.bench(|| {
        catalog
            .price(
                black_box("openai"),
                black_box("gpt-4o-mini-2024-07-18"),
                &usage,
            )
            .map(|(_, c)| c)
    });
}

//! The recorder and its guard, with a sink that collects records.
#![expect(
    clippy::disallowed_methods,
    reason = "test code: a spawned task ends with the test's runtime"
)]

use std::sync::Mutex;

use canopy_core::UsageSource;

use super::*;

/// A sink that keeps what it is given.
#[derive(Debug, Default)]
pub(crate) struct Collect(pub(crate) Mutex<Vec<CallRecord>>);

impl RecordSink for Collect {
    fn submit(&self, record: CallRecord) {
        self.0.lock().unwrap().push(record);
    }
}

impl Collect {
    pub(crate) fn taken(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub(crate) fn recorder(limit: usize) -> (Recorder, Arc<Collect>) {
    let sink = Arc::new(Collect::default());
    let prices = Arc::new(PriceCatalog::builtin().unwrap());
    (Recorder::new(prices, sink.clone(), limit), sink)
}

/// Waits until every call has handed over its record (a call whose tokens are counted does
/// so from the blocking pool), then takes the records.
pub(crate) async fn settled(recorder: &Recorder, sink: &Collect) -> Vec<CallRecord> {
    recorder.cut();
    assert_eq!(recorder.wait_idle(Duration::from_secs(10)).await, 0);
    sink.taken()
}

pub(crate) fn chat_record(model: &str) -> CallRecord {
    CallRecord {
        provider: "openai".to_owned(),
        request_model: Some(model.to_owned()),
        status: 200,
        ..CallRecord::default()
    }
}

const REQUEST: &[u8] =
    br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"How long is a piece of string?"}]}"#;

#[test]
fn a_guard_dropped_before_the_upstream_answered_records_a_cancelled_call_once() {
    let (recorder, sink) = recorder(1024);
    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.keep_request_body(Bytes::from_static(REQUEST), None);
    guard.sending_upstream();
    assert_eq!(recorder.in_flight(), 1);
    drop(guard);
    let records = sink.taken();
    assert_eq!(records.len(), 1);
    let call = &records[0];
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert!(
        call.error
            .as_deref()
            .unwrap()
            .contains("before the upstream's response")
    );
    assert_eq!(call.usage_source, UsageSource::Estimated);
    assert!(call.usage.prompt_tokens > 0, "the upstream got the prompt");
    assert!(call.cost_nano_usd.unwrap() > 0);
    assert!(call.is_error());
    assert_eq!(recorder.in_flight(), 0);
}

#[test]
fn a_guard_dropped_before_sending_is_not_estimated() {
    let (recorder, sink) = recorder(1024);
    drop(recorder.accept(chat_record("gpt-4o-mini"), Instant::now()));
    let call = sink.taken().pop().unwrap();
    assert!(call.error.unwrap().contains("before the request was sent"));
    assert_eq!(call.usage_source, UsageSource::None);
    assert_eq!(call.cost_nano_usd, Some(0));
}

#[test]
fn finish_and_fail_record_once_and_redact() {
    let (recorder, sink) = recorder(1024);
    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.record().target_url = "http://u:pw@127.0.0.1:1/v1/x?key=SECRET".to_owned();
    guard.fail(-1, "cannot reach http://127.0.0.1:1/v1/x?key=SECRET");
    let records = sink.taken();
    assert_eq!(records.len(), 1);
    let text = serde_json::to_string(&records[0]).unwrap();
    assert!(!text.contains("SECRET") && !text.contains("u:pw"), "{text}");

    let mut guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    guard.finish(Outcome::default());
    guard.finish(Outcome::default());
    drop(guard);
    assert_eq!(sink.taken().len(), 1);
}

#[tokio::test]
async fn cutting_wakes_waiters_and_idle_waits_for_every_guard() {
    let (recorder, sink) = recorder(1024);
    let guard = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    let signal = recorder.cut_signal();
    let waiting = tokio::spawn(signal);
    recorder.cut();
    waiting.await.unwrap();
    let idle = {
        let recorder = recorder.clone();
        tokio::spawn(async move { recorder.wait_idle(Duration::from_secs(10)).await })
    };
    tokio::task::yield_now().await;
    drop(guard);
    assert_eq!(idle.await.unwrap(), 0);
    let call = sink.taken().pop().unwrap();
    assert!(call.error.unwrap().contains("shut down"));
    assert_eq!(
        recorder.wait_idle(Duration::from_millis(1)).await,
        0,
        "nothing in flight"
    );
}

/// A sink that notes the thread each record was handed over on.
#[derive(Debug, Default)]
struct ByThread(Mutex<Vec<(std::thread::ThreadId, CallRecord)>>);

impl RecordSink for ByThread {
    fn submit(&self, record: CallRecord) {
        let thread = std::thread::current().id();
        self.0.lock().unwrap().push((thread, record));
    }
}

#[tokio::test]
async fn tokens_the_provider_did_not_report_are_counted_off_the_runtimes_thread() {
    let sink = Arc::new(ByThread::default());
    let prices = Arc::new(PriceCatalog::builtin().unwrap());
    let recorder = Recorder::new(prices, sink.clone(), 1024);
    let runtime_thread = std::thread::current().id();

    let mut reported = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    reported.keep_request_body(Bytes::from_static(REQUEST), None);
    reported.sending_upstream();
    let usage = canopy_core::Usage {
        prompt_tokens: 12,
        completion_tokens: 3,
        ..Default::default()
    };
    reported.finish(Outcome {
        facts: ResponseFacts {
            usage: Some(usage),
            ..ResponseFacts::default()
        },
        ..Outcome::default()
    });
    let mut cancelled = recorder.accept(chat_record("gpt-4o-mini"), Instant::now());
    cancelled.keep_request_body(Bytes::from_static(REQUEST), None);
    cancelled.sending_upstream();
    drop(cancelled);

    // The call stays in flight until its counted record is handed over.
    recorder.cut();
    assert_eq!(recorder.wait_idle(Duration::from_secs(10)).await, 0);
    let records = std::mem::take(&mut *sink.0.lock().unwrap());
    assert_eq!(records.len(), 2);
    let (on, call) = &records[0];
    assert_eq!(call.usage_source, UsageSource::Reported);
    assert_eq!(*on, runtime_thread, "nothing to count: recorded in place");
    let (on, call) = &records[1];
    assert_eq!(call.status, STATUS_CLIENT_CANCELLED);
    assert_eq!(call.usage_source, UsageSource::Estimated);
    assert!(call.usage.prompt_tokens > 0);
    assert_ne!(*on, runtime_thread, "counted on the blocking pool");
}

#[test]
fn durable_recording_spools_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    let sink = Arc::new(Collect::default());
    let prices = Arc::new(PriceCatalog::builtin().unwrap());
    let recorder = Recorder::durable(prices, sink.clone(), 1024, spool.clone());
    recorder
        .accept(chat_record("gpt-4o"), Instant::now())
        .fail(502, "down");
    assert!(sink.taken().is_empty(), "not queued: spooled");
    assert_eq!(spool.appended(), 1);
}

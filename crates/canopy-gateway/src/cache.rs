//! The response cache: Helicone's `Helicone-Cache-*` headers.
//!
//! A call's key digests its organisation, the cache seed, the method, the path it called on
//! Canopy, the upstream URL, the request body (less `Helicone-Cache-Ignore-Keys`) and the
//! request headers that change an answer ([`KEYED_HEADERS`]); never a credential, so the
//! organisation is what separates one tenant's answers from another's. Each key holds a bucket
//! of up to `Helicone-Cache-Bucket-Max-Size` answers: while the bucket is not full a call is a
//! miss and its answer fills the next free slot; once it is full, calls are answered from it
//! in turn (round robin). Only successful answers are kept (2xx, no error, not cut short),
//! exactly as the client received them, stream framing included, with the cost and latency of
//! the call that produced them.
//!
//! Entries live in Redis when it is configured (every gateway shares them) and in a bounded
//! in-memory LRU otherwise or while Redis is unreachable.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashlink::LruCache;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::shared::Redis;

/// Request headers that change an answer, and so belong to the key. Credentials never do.
pub const KEYED_HEADERS: &[&str] = &[
    "accept",
    "anthropic-beta",
    "anthropic-version",
    "content-type",
    "openai-beta",
    "openai-organization",
    "openai-project",
];

/// The hex SHA-256 of `parts`, each length-prefixed so no two lists of parts collide.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut out = String::with_capacity(64);
    for byte in context.finish().as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// What a call's cache key is made of.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    /// The organisation.
    pub org: &'a str,
    /// `Helicone-Cache-Seed`.
    pub seed: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a str,
    /// The path (and query) called on Canopy.
    pub path: &'a str,
    /// The upstream URL.
    pub target_url: &'a str,
    /// The request body as the client sent it.
    pub body: &'a [u8],
    /// Top-level body keys left out.
    pub ignore_keys: &'a [String],
    /// The request's headers; only [`KEYED_HEADERS`] are read.
    pub headers: &'a HeaderMap,
}

/// The cache key of a call.
pub fn key(parts: KeyParts<'_>) -> String {
    let body = body_for_key(parts.body, parts.ignore_keys);
    let mut headers = Vec::new();
    for name in KEYED_HEADERS {
        for value in parts.headers.get_all(*name) {
            headers.extend_from_slice(name.as_bytes());
            headers.push(b':');
            headers.extend_from_slice(value.as_bytes());
            headers.push(b'\n');
        }
    }
    let digest = digest(&[
        parts.org.as_bytes(),
        parts.seed.unwrap_or_default().as_bytes(),
        parts.method.as_bytes(),
        parts.path.as_bytes(),
        parts.target_url.as_bytes(),
        &body,
        &headers,
    ]);
    format!("canopy:cache:{digest}")
}

/// The body as keyed: as sent, or, when keys are ignored and it is a JSON object, without
/// them (re-serialised, members sorted).
fn body_for_key<'a>(body: &'a [u8], ignore: &[String]) -> std::borrow::Cow<'a, [u8]> {
    if ignore.is_empty() {
        return body.into();
    }
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(mut object) => {
            for key in ignore {
                object.remove(key);
            }
            serde_json::to_vec(&object).map_or(body.into(), Into::into)
        }
        Err(_) => body.into(),
    }
}

/// One kept answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The status answered.
    pub status: u16,
    /// The response headers answered (hop-by-hop, length and Canopy's own left out).
    pub headers: Vec<(String, String)>,
    /// The body exactly as the client received it.
    #[serde(skip)]
    pub body: Bytes,
    /// What the call that produced it cost, nano-USD.
    pub cost_nano_usd: Option<i64>,
    /// Its latency, ms.
    pub latency_ms: i64,
    /// Its call id.
    pub call_id: String,
    /// Its response model.
    pub model: Option<String>,
    /// Whether it was a stream.
    pub is_stream: bool,
}

impl Entry {
    /// `[u32 length of the JSON head][head][body]`.
    fn encode(&self) -> Vec<u8> {
        let head = serde_json::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + head.len() + self.body.len());
        out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let head = bytes.get(4..4 + length)?;
        let mut entry: Self = serde_json::from_slice(head).ok()?;
        entry.body = Bytes::copy_from_slice(bytes.get(4 + length..)?);
        Some(entry)
    }

    fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + 256
    }
}

/// Sizes of the in-memory cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// The most bytes all in-memory entries hold; the least recently used go first.
    pub max_bytes: usize,
    /// The largest answer kept; a larger one is not cached.
    pub max_entry_bytes: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            max_entry_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The cache every call shares.
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    limits: CacheLimits,
    redis: Option<Redis>,
    memory: Mutex<Memory>,
}

#[derive(Debug)]
struct Memory {
    buckets: LruCache<String, Bucket>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Bucket {
    slots: Vec<Option<(Arc<Entry>, Instant)>>,
    next: u64,
    bytes: usize,
}

impl Cache {
    /// A cache kept in `redis` when given, else in memory within `limits`.
    pub fn new(limits: CacheLimits, redis: Option<Redis>) -> Self {
        Self {
            inner: Arc::new(CacheInner {
                limits,
                redis,
                memory: Mutex::new(Memory {
                    buckets: LruCache::new_unbounded(),
                    bytes: 0,
                }),
            }),
        }
    }

    /// The largest answer kept.
    pub fn max_entry_bytes(&self) -> usize {
        self.inner.limits.max_entry_bytes
    }

    /// The answer to serve for `key` when its bucket of `size` is full: its slot and entry.
    pub async fn lookup(&self, key: &str, size: u32) -> Option<(u32, Arc<Entry>)> {
        if let Some(redis) = &self.inner.redis
            && let Some(mut conn) = redis.conn().await
        {
            match redis_lookup(&mut conn, key, size).await {
                Ok(found) => return found,
                Err(error) => redis.failed("cache_read", &error),
            }
        }
        let mut memory = self.memory();
        let bucket = memory.buckets.get_mut(key)?;
        let now = Instant::now();
        let live = (0..size as usize)
            .filter(|i| {
                bucket
                    .slots
                    .get(*i)
                    .and_then(Option::as_ref)
                    .is_some_and(|(_, expires)| *expires > now)
            })
            .count();
        if live < size as usize {
            return None;
        }
        let index = (bucket.next % u64::from(size)) as u32;
        bucket.next += 1;
        let (entry, _) = bucket.slots.get(index as usize)?.as_ref()?;
        Some((index, entry.clone()))
    }

    /// Keeps `entry` in the first free slot of `key`'s bucket of `size`, for `ttl`.
    pub async fn save(&self, key: &str, size: u32, ttl: Duration, entry: Entry) {
        if entry.body.len() > self.inner.limits.max_entry_bytes {
            return;
        }
        if let Some(redis) = &self.inner.redis
            && let Some(mut conn) = redis.conn().await
        {
            match redis_save(&mut conn, key, size, ttl, &entry).await {
                Ok(()) => return,
                Err(error) => redis.failed("cache_write", &error),
            }
        }
        self.save_in_memory(key, size, ttl, entry);
    }

    /// Whether entries go to Redis (when it answers) rather than only to memory.
    pub fn is_shared(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// [`Cache::save`] in this gateway's memory only.
    pub fn save_in_memory(&self, key: &str, size: u32, ttl: Duration, entry: Entry) {
        if entry.body.len() > self.inner.limits.max_entry_bytes {
            return;
        }
        let size_bytes = entry.size();
        let mut memory = self.memory();
        let now = Instant::now();
        let bucket = match memory.buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => {
                memory.buckets.insert(key.to_owned(), Bucket::default());
                match memory.buckets.get_mut(key) {
                    Some(bucket) => bucket,
                    None => return,
                }
            }
        };
        let size = size as usize;
        if bucket.slots.len() < size {
            bucket.slots.resize_with(size, || None);
        }
        let Some(free) = (0..size).find(|i| {
            bucket.slots[*i]
                .as_ref()
                .is_none_or(|(_, expires)| *expires <= now)
        }) else {
            return;
        };
        let freed = bucket.slots[free].take().map_or(0, |(old, _)| old.size());
        bucket.slots[free] = Some((Arc::new(entry), now + ttl));
        bucket.bytes = bucket.bytes + size_bytes - freed;
        memory.bytes = memory.bytes + size_bytes - freed;
        while memory.bytes > self.inner.limits.max_bytes {
            match memory.buckets.remove_lru() {
                Some((_, bucket)) => memory.bytes = memory.bytes.saturating_sub(bucket.bytes),
                None => break,
            }
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn redis_lookup(
    conn: &mut redis::aio::ConnectionManager,
    key: &str,
    size: u32,
) -> redis::RedisResult<Option<(u32, Arc<Entry>)>> {
    let slots: Vec<String> = (0..size).map(|i| format!("{key}:{i}")).collect();
    let found: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&slots).query_async(conn).await?;
    if found.iter().any(Option::is_none) {
        return Ok(None);
    }
    let turn: u64 = redis::cmd("INCR")
        .arg(format!("{key}:turn"))
        .query_async(conn)
        .await?;
    let index = (turn.saturating_sub(1) % u64::from(size)) as u32;
    let entry = found
        .get(index as usize)
        .and_then(Option::as_ref)
        .and_then(|bytes| Entry::decode(bytes));
    Ok(entry.map(|e| (index, Arc::new(e))))
}

async fn redis_save(
    conn: &mut redis::aio::ConnectionManager,
    key: &str,
    size: u32,
    ttl: Duration,
    entry: &Entry,
) -> redis::RedisResult<()> {
    let bytes = entry.encode();
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    for index in 0..size {
        let stored: Option<String> = redis::cmd("SET")
            .arg(format!("{key}:{index}"))
            .arg(&bytes)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn)
            .await?;
        if stored.is_some() {
            // The turn counter lives as long as the newest answer of its bucket.
            let _: i64 = redis::cmd("PEXPIRE")
                .arg(format!("{key}:turn"))
                .arg(ttl_ms)
                .query_async(conn)
                .await?;
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Entry {
        Entry {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(text.to_owned()),
            cost_nano_usd: Some(42),
            latency_ms: 7,
            call_id: "id".into(),
            model: None,
            is_stream: false,
        }
    }

    #[test]
    fn entries_round_trip() {
        let e = entry("{\"a\":1}\n\0binary");
        assert_eq!(Entry::decode(&e.encode()), Some(e));
    }

    #[test]
    fn keys_ignore_listed_body_keys_and_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer a".parse().unwrap());
        let parts =
            |body: &'static [u8], ignore: &'static [String], headers: &'static HeaderMap| {
                KeyParts {
                    org: "o",
                    seed: None,
                    method: "POST",
                    path: "/v1/chat/completions",
                    target_url: "http://u/v1/chat/completions",
                    body,
                    ignore_keys: ignore,
                    headers,
                }
            };
        let headers: &'static HeaderMap = Box::leak(Box::new(headers));
        let mut other = HeaderMap::new();
        other.insert("authorization", "Bearer b".parse().unwrap());
        let other: &'static HeaderMap = Box::leak(Box::new(other));
        assert_eq!(
            key(parts(b"{\"a\":1}", &[], headers)),
            key(parts(b"{\"a\":1}", &[], other)),
            "credentials are not part of the key"
        );
        let ignore: &'static [String] = Box::leak(vec!["user".to_owned()].into_boxed_slice());
        assert_eq!(
            key(parts(b"{\"a\":1,\"user\":\"x\"}", ignore, headers)),
            key(parts(b"{\"user\":\"y\",\"a\":1}", ignore, headers)),
        );
        let mut org = parts(b"{}", &[], headers);
        let a = key(org);
        org.org = "other";
        assert_ne!(a, key(org), "organisations never share a key");
    }

    #[tokio::test]
    async fn a_bucket_answers_in_turn_once_full() {
        let cache = Cache::new(CacheLimits::default(), None);
        let ttl = Duration::from_secs(60);
        assert!(cache.lookup("k", 2).await.is_none());
        cache.save("k", 2, ttl, entry("one")).await;
        assert!(cache.lookup("k", 2).await.is_none(), "not full yet");
        cache.save("k", 2, ttl, entry("two")).await;
        let turns: Vec<u32> = futures_util::future::join_all((0..3).map(|_| cache.lookup("k", 2)))
            .await
            .into_iter()
            .map(|f| f.unwrap().0)
            .collect();
        assert_eq!(turns, [0, 1, 0]);
    }

    #[tokio::test]
    async fn memory_stays_within_its_budget() {
        let limits = CacheLimits {
            max_bytes: 2_000,
            max_entry_bytes: 1_000,
        };
        let cache = Cache::new(limits, None);
        for i in 0..20 {
            cache
                .save(
                    &format!("k{i}"),
                    1,
                    Duration::from_secs(60),
                    entry(&"x".repeat(500)),
                )
                .await;
        }
        assert!(cache.memory().bytes <= 2_000);
        assert!(cache.lookup("k19", 1).await.is_some());
        assert!(cache.lookup("k0", 1).await.is_none());
    }
}

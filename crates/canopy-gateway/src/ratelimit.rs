//! Rate limits: Helicone's `Helicone-RateLimit-Policy` and the policies of the config file.
//!
//! A policy is `<quota>;w=<seconds>[;u=request|cents][;s=user|<property>]`. Calls are counted
//! in fixed windows of `w` seconds (aligned to the Unix epoch), per organisation, policy and
//! segment (everyone, each `Helicone-User-Id`, or each value of `Helicone-Property-<name>`).
//! A `request` policy counts each call as it arrives; a `cents` policy counts the recorded
//! cost of each call once its record is complete, and refuses calls while the window's cost
//! has reached the quota. Counters live in Redis when it is configured (every gateway shares
//! the quota) and in memory otherwise or while Redis is unreachable.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use crate::shared::Redis;

/// The shortest window, in seconds.
pub const MIN_WINDOW_SECS: u64 = 60;
/// The longest window, in seconds (365 days).
pub const MAX_WINDOW_SECS: u64 = 31_536_000;
/// The most distinct counters one gateway keeps in memory; past it, the counts start afresh.
const MAX_MEMORY_COUNTERS: usize = 100_000;
/// Nano-USD in one cent.
const NANO_USD_PER_CENT: f64 = 10_000_000.0;

/// What a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Calls.
    Request,
    /// Recorded cost, in US cents.
    Cents,
}

/// Whose calls share a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Everyone's in the organisation.
    Global,
    /// Each end user's (`Helicone-User-Id`).
    User,
    /// Each value of a property (`Helicone-Property-<name>`; the name lowercased).
    Property(String),
}

/// One rate-limit policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePolicy {
    /// How much a window allows (calls, or cents).
    pub quota: f64,
    /// The window's length in seconds.
    pub window_secs: u64,
    /// What is counted.
    pub unit: Unit,
    /// Whose calls share a counter.
    pub segment: Segment,
    /// The policy as answered in `Helicone-RateLimit-Policy`, default parts left out.
    pub text: String,
}

impl RatePolicy {
    /// Parses `<quota>;w=<seconds>[;u=request|cents][;s=user|<property>]` (names and units in
    /// any case). The error says what is wrong, for a 400.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split(';').map(str::trim);
        let quota_text = parts.next().unwrap_or_default();
        let quota: f64 = quota_text
            .parse()
            .ok()
            .filter(|q: &f64| q.is_finite() && *q >= 0.0)
            .ok_or_else(|| format!("must start with a quota (a number), got `{quota_text}`"))?;
        let (mut window, mut unit, mut segment) = (None, Unit::Request, Segment::Global);
        for part in parts.filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
                .ok_or_else(|| format!("has `{part}`: expected w=, u= or s="))?;
            match key.as_str() {
                "w" => {
                    let secs = value
                        .parse::<u64>()
                        .ok()
                        .filter(|s| (MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(s))
                        .ok_or_else(|| {
                            format!(
                                "has w={value}: the window is a whole number of seconds from \
                                 {MIN_WINDOW_SECS} to {MAX_WINDOW_SECS}"
                            )
                        })?;
                    window = Some(secs);
                }
                "u" => {
                    unit = match value.to_ascii_lowercase().as_str() {
                        "request" | "requests" => Unit::Request,
                        "cents" => Unit::Cents,
                        _ => return Err(format!("has u={value}: the unit is request or cents")),
                    }
                }
                "s" => {
                    let name = value.to_ascii_lowercase();
                    segment = match name.as_str() {
                        "" => return Err("has an empty segment (s=)".to_owned()),
                        "user" => Segment::User,
                        _ => Segment::Property(name),
                    }
                }
                _ => return Err(format!("has `{part}`: expected w=, u= or s=")),
            }
        }
        let window_secs = window.ok_or("needs a window, as w=<seconds>")?;
        let mut canonical = format!("{quota_text};w={window_secs}");
        if unit == Unit::Cents {
            canonical.push_str(";u=cents");
        }
        match &segment {
            Segment::Global => {}
            Segment::User => canonical.push_str(";s=user"),
            Segment::Property(name) => {
                let _ = write!(canonical, ";s={name}");
            }
        }
        Ok(Self {
            quota,
            window_secs,
            unit,
            segment,
            text: canonical,
        })
    }

    /// The quota in counter units: calls, or nano-USD.
    fn quota_units(&self) -> f64 {
        match self.unit {
            Unit::Request => self.quota,
            Unit::Cents => self.quota * NANO_USD_PER_CENT,
        }
    }
}

/// A configured policy and whom it governs.
#[derive(Debug, Clone)]
pub struct ConfiguredPolicy {
    /// The organisation it governs, or every one when `None`.
    pub org: Option<String>,
    /// The key id it governs, or every key when `None`.
    pub key_id: Option<String>,
    /// The policy.
    pub policy: RatePolicy,
}

/// Who is calling, as the policies segment it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The organisation.
    pub org: &'a str,
    /// The key, when one was used.
    pub key_id: Option<&'a str>,
    /// `Helicone-User-Id`.
    pub user_id: Option<&'a str>,
    /// The call's properties (keys lowercased).
    pub properties: &'a std::collections::BTreeMap<String, String>,
}

/// What one policy said about a call.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The call may go on.
    pub allowed: bool,
    /// `Helicone-RateLimit-Limit`.
    pub limit: String,
    /// `Helicone-RateLimit-Remaining`.
    pub remaining: String,
    /// `Helicone-RateLimit-Policy`.
    pub policy: String,
    /// `Helicone-RateLimit-Reset`: seconds until the window ends.
    pub reset_secs: u64,
    /// `remaining / quota`, to choose which policy the headers report.
    share_left: f64,
}

/// A counter a `cents` policy adds the call's cost to once it is recorded.
#[derive(Debug, Clone)]
pub struct CostCounter {
    key: String,
    index: u64,
    window_secs: u64,
}

/// Counts calls against policies.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<LimiterInner>,
}

#[derive(Debug)]
struct LimiterInner {
    configured: Vec<ConfiguredPolicy>,
    redis: Option<Redis>,
    /// Counter key → (window index, units used).
    memory: Mutex<HashMap<String, (u64, i64)>>,
}

impl Limiter {
    /// A limiter with the config file's policies, counting in `redis` when given.
    pub fn new(configured: Vec<ConfiguredPolicy>, redis: Option<Redis>) -> Self {
        Self {
            inner: Arc::new(LimiterInner {
                configured,
                redis,
                memory: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The policies that govern a call: its header's, then the configured ones that match.
    pub fn policies<'a>(
        &'a self,
        header: Option<&'a RatePolicy>,
        org: &str,
        key_id: Option<&str>,
    ) -> Vec<&'a RatePolicy> {
        let configured = self.inner.configured.iter().filter(|c| {
            c.org.as_deref().is_none_or(|o| o == org)
                && c.key_id.as_deref().is_none_or(|k| Some(k) == key_id)
        });
        header
            .into_iter()
            .chain(configured.map(|c| &c.policy))
            .collect()
    }

    /// Counts a call against each policy. Returns the verdict the headers report (a refusing
    /// one first, else the one with the least share left) and the counters the call's cost
    /// goes to.
    pub async fn check(
        &self,
        policies: &[&RatePolicy],
        caller: Caller<'_>,
        now_ms: i64,
    ) -> (Option<Verdict>, Vec<CostCounter>) {
        let mut reported: Option<Verdict> = None;
        let mut costs = Vec::new();
        for policy in policies {
            let window = policy.window_secs;
            let now_secs = u64::try_from(now_ms / 1000).unwrap_or(0);
            let index = now_secs / window;
            let reset_secs = (index + 1) * window - now_secs;
            let key = counter_key(caller, policy);
            let quota = policy.quota_units();
            let (allowed, used) = match policy.unit {
                Unit::Request => {
                    let used = self.add(&key, index, window, 1).await;
                    if (used as f64) > quota {
                        self.add(&key, index, window, -1).await;
                        (false, used - 1)
                    } else {
                        (true, used)
                    }
                }
                Unit::Cents => {
                    let used = self.add(&key, index, window, 0).await;
                    costs.push(CostCounter {
                        key: key.clone(),
                        index,
                        window_secs: window,
                    });
                    ((used as f64) < quota, used)
                }
            };
            let left = (quota - used as f64).max(0.0);
            let verdict = Verdict {
                allowed,
                limit: number(policy.quota),
                remaining: match policy.unit {
                    Unit::Request => number(left),
                    Unit::Cents => number(left / NANO_USD_PER_CENT),
                },
                policy: policy.text.clone(),
                reset_secs,
                share_left: if quota > 0.0 { left / quota } else { 0.0 },
            };
            let replace = match &reported {
                None => true,
                Some(r) if r.allowed && !verdict.allowed => true,
                Some(r) => r.allowed == verdict.allowed && verdict.share_left < r.share_left,
            };
            if replace {
                reported = Some(verdict);
            }
        }
        if reported.as_ref().is_some_and(|v| !v.allowed) {
            costs.clear();
        }
        (reported, costs)
    }

    /// Adds a recorded call's cost to the counters of its `cents` policies.
    pub async fn add_cost(&self, counters: &[CostCounter], cost_nano_usd: i64) {
        if cost_nano_usd <= 0 {
            return;
        }
        for counter in counters {
            self.add(
                &counter.key,
                counter.index,
                counter.window_secs,
                cost_nano_usd,
            )
            .await;
        }
    }

    /// Adds `delta` to a counter's window `index` and returns its new value: in Redis when it
    /// answers, else in memory.
    async fn add(&self, key: &str, index: u64, window_secs: u64, delta: i64) -> i64 {
        if let Some(redis) = &self.inner.redis
            && let Some(mut conn) = redis.conn().await
        {
            let key = format!("{key}:{index}");
            let key = key.as_str();
            let ttl = i64::try_from(window_secs).unwrap_or(i64::MAX);
            let result: redis::RedisResult<(i64, bool)> = redis::pipe()
                .atomic()
                .incr(key, delta)
                .expire(key, ttl)
                .query_async(&mut conn)
                .await;
            match result {
                Ok((used, _)) => return used,
                Err(error) => redis.failed("rate_limit", &error),
            }
        }
        let mut memory = self
            .inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if memory.len() >= MAX_MEMORY_COUNTERS && !memory.contains_key(key) {
            // Rare: this many live segments. Starting the counts afresh bounds the memory.
            memory.clear();
        }
        let entry = memory.entry(key.to_owned()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 = entry.1.saturating_add(delta);
        entry.1
    }
}

/// The counter of a caller's segment under a policy (its windows are `<key>:<index>` in
/// Redis): the organisation and the segment's value are hashed, so no caller text reaches a
/// Redis key.
fn counter_key(caller: Caller<'_>, policy: &RatePolicy) -> String {
    let segment = match &policy.segment {
        Segment::Global => "",
        Segment::User => caller.user_id.unwrap_or_default(),
        Segment::Property(name) => caller.properties.get(name).map_or("", String::as_str),
    };
    let digest = crate::cache::digest(&[
        caller.org.as_bytes(),
        policy.text.as_bytes(),
        segment.as_bytes(),
    ]);
    format!("canopy:rl:{digest}")
}

/// A count as a header writes it: whole numbers without a fraction, others to the cent.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies_and_drops_default_parts() {
        let p = RatePolicy::parse("10;w=60").unwrap();
        assert_eq!((p.quota, p.window_secs, p.unit), (10.0, 60, Unit::Request));
        assert_eq!(p.segment, Segment::Global);
        assert_eq!(p.text, "10;w=60");
        let p = RatePolicy::parse("1000; W=3600; u=CENTS; s=user").unwrap();
        assert_eq!(p.unit, Unit::Cents);
        assert_eq!(p.text, "1000;w=3600;u=cents;s=user");
        let p = RatePolicy::parse("2.5;w=60;u=request;s=Team").unwrap();
        assert_eq!(p.segment, Segment::Property("team".into()));
        assert_eq!(p.text, "2.5;w=60;s=team");
    }

    #[test]
    fn refuses_bad_policies() {
        for bad in [
            "",
            "ten;w=60",
            "10",
            "10;w=59",
            "10;w=31536001",
            "10;w=60;u=tokens",
            "10;w=60;x=1",
            "10;w=60;s=",
            "-1;w=60",
        ] {
            assert!(RatePolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn counts_requests_per_window_and_segment_in_memory() {
        let limiter = Limiter::new(Vec::new(), None);
        let policy = RatePolicy::parse("2;w=60;s=user").unwrap();
        let props = std::collections::BTreeMap::new();
        let caller = |user| Caller {
            org: "o",
            key_id: None,
            user_id: Some(user),
            properties: &props,
        };
        let now = 1_700_000_000_000;
        for expected in [true, true, false] {
            let (v, _) = limiter.check(&[&policy], caller("a"), now).await;
            assert_eq!(v.unwrap().allowed, expected);
        }
        let (v, _) = limiter.check(&[&policy], caller("b"), now).await;
        let v = v.unwrap();
        assert!(v.allowed);
        assert_eq!((v.limit.as_str(), v.remaining.as_str()), ("2", "1"));
        let (v, _) = limiter.check(&[&policy], caller("a"), now + 60_000).await;
        assert!(v.unwrap().allowed, "a new window starts afresh");
    }

    #[tokio::test]
    async fn counts_cost_in_cents() {
        let limiter = Limiter::new(Vec::new(), None);
        let policy = RatePolicy::parse("1;w=60;u=cents").unwrap();
        let props = std::collections::BTreeMap::new();
        let caller = Caller {
            org: "o",
            key_id: None,
            user_id: None,
            properties: &props,
        };
        let now = 1_700_000_000_000;
        let (v, costs) = limiter.check(&[&policy], caller, now).await;
        assert!(v.unwrap().allowed);
        limiter.add_cost(&costs, 6_000_000).await;
        let (v, costs) = limiter.check(&[&policy], caller, now).await;
        assert_eq!(v.unwrap().remaining, "0.40");
        limiter.add_cost(&costs, 6_000_000).await;
        let (v, _) = limiter.check(&[&policy], caller, now).await;
        assert!(!v.unwrap().allowed);
    }
}

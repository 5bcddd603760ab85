use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

#[test]
fn nothing_asked_means_nothing_on() {
    let f = read(&headers(&[("helicone-cache-bucket-max-size", "99")])).unwrap();
    assert!(f.retry.is_none() && f.fallbacks.is_empty() && f.rate_limit.is_none());
    assert!(
        !f.cache.enabled(),
        "cache headers are read only when the cache is on"
    );
}

#[test]
fn every_feature_header_is_read_under_both_names() {
    for header in [
        &RETRY_ENABLED,
        &RETRY_NUM,
        &RETRY_FACTOR,
        &RETRY_MIN_TIMEOUT,
        &RETRY_MAX_TIMEOUT,
        &FALLBACKS,
        &RATE_LIMIT_POLICY,
        &CACHE_ENABLED,
        &CACHE_READ,
        &CACHE_SAVE,
        &CACHE_CONTROL,
        &CACHE_BUCKET_MAX_SIZE,
        &CACHE_SEED,
        &CACHE_IGNORE_KEYS,
    ] {
        let suffix = header.helicone.as_str().strip_prefix("helicone-").unwrap();
        assert_eq!(header.canopy.as_str(), format!("canopy-{suffix}"));
        assert!(
            header
                .canonical
                .eq_ignore_ascii_case(header.helicone.as_str())
        );
        for name in [header.helicone.as_str(), header.canopy.as_str()] {
            let sent = headers(&[(name, " x ")]);
            assert_eq!(value(&sent, header).unwrap(), Some("x"), "{name}");
        }
    }
}

#[test]
fn retries_have_helicones_defaults_and_back_off_exponentially() {
    let f = read(&headers(&[("Helicone-Retry-Enabled", "true")])).unwrap();
    let p = f.retry.unwrap();
    assert_eq!(p, RetryPolicy::default());
    assert_eq!(p.backoff(1), Duration::from_millis(1000));
    assert_eq!(p.backoff(2), Duration::from_millis(2000));
    assert_eq!(p.backoff(5), Duration::from_millis(10_000), "capped at max");
    let f = read(&headers(&[
        ("canopy-retry-enabled", "true"),
        ("helicone-retry-num", "2"),
        ("helicone-retry-factor", "3"),
        ("helicone-retry-min-timeout", "10"),
        ("helicone-retry-max-timeout", "50"),
    ]))
    .unwrap();
    let p = f.retry.unwrap();
    assert_eq!(p.retries, 2);
    assert_eq!(p.backoff(2), Duration::from_millis(30));
    assert_eq!(p.backoff(3), Duration::from_millis(50));
}

#[test]
fn bad_values_name_their_header() {
    for (pairs, header) in [
        (
            vec![
                ("helicone-retry-enabled", "true"),
                ("helicone-retry-num", "x"),
            ],
            "helicone-retry-num",
        ),
        (
            vec![
                ("helicone-retry-enabled", "true"),
                ("helicone-retry-min-timeout", "500"),
                ("helicone-retry-max-timeout", "100"),
            ],
            "helicone-retry-max-timeout",
        ),
        (vec![("helicone-fallbacks", "{}")], HEADER_FALLBACKS),
        (vec![("helicone-fallbacks", "[]")], HEADER_FALLBACKS),
        (
            vec![(
                "helicone-fallbacks",
                r#"[{"target-url":"ftp://x","onCodes":[500]}]"#,
            )],
            HEADER_FALLBACKS,
        ),
        (
            vec![(
                "helicone-fallbacks",
                r#"[{"target-url":"http://x","onCodes":[{"from":500,"to":400}]}]"#,
            )],
            HEADER_FALLBACKS,
        ),
        (
            vec![
                ("helicone-cache-enabled", "true"),
                ("helicone-cache-bucket-max-size", "21"),
            ],
            "Helicone-Cache-Bucket-Max-Size",
        ),
        (
            vec![
                ("helicone-cache-enabled", "true"),
                ("cache-control", "max-age=31536001"),
            ],
            "Cache-Control",
        ),
        (
            vec![
                ("helicone-cache-enabled", "true"),
                ("helicone-cache-control", "max-age=abc"),
            ],
            "Helicone-Cache-Control",
        ),
        (
            vec![("helicone-ratelimit-policy", "10;w=5")],
            HEADER_RATE_LIMIT_POLICY,
        ),
    ] {
        let error = read(&headers(&pairs)).unwrap_err();
        assert_eq!(error.header, header, "{pairs:?}: {}", error.message);
    }
}

#[test]
fn reads_fallbacks_with_ranges_headers_and_overrides() {
    let list = r#"[{"target-url":"https://api.openai.com","headers":{"authorization":"Bearer b"}, "onCodes":[429,{"from":500,"to":599}],"bodyKeyOverride":{"model":"gpt-4o-mini"}}, {"target-url":"http://127.0.0.1:9/base","onCodes":[]}]"#;
    let f = read(&headers(&[("Helicone-Fallbacks", list)])).unwrap();
    assert_eq!(f.fallbacks.len(), 2);
    let first = &f.fallbacks[0];
    assert!(first.falls_through(429) && first.falls_through(503) && !first.falls_through(400));
    assert_eq!(first.headers[0].1, "Bearer b");
    assert_eq!(
        first.body_override.as_ref().unwrap()["model"],
        "gpt-4o-mini"
    );
    assert_stored_without(list, "Bearer b");
}

#[test]
fn a_refused_fallback_list_is_stored_without_its_credentials() {
    let list = r#"[{"target-url":"https://x","headers":["authorization: Bearer b"]}]"#;
    assert!(read(&headers(&[("Helicone-Fallbacks", list)])).is_err());
    assert_stored_without(list, "Bearer b");
}

/// Asserts that the stored form of fallback `list` has `secret` redacted.
fn assert_stored_without(list: &str, secret: &str) {
    let stored = stored_fallbacks(list);
    assert!(
        !stored.contains(secret) && stored.contains("[REDACTED]"),
        "{stored}"
    );
}

#[test]
fn every_feature_header_is_seen_under_either_name() {
    for header in ALL_HEADERS {
        for name in [&header.helicone, &header.canopy] {
            let mut map = HeaderMap::new();
            map.insert("content-type", HeaderValue::from_static("application/json"));
            map.insert(name.clone(), HeaderValue::from_static("x"));
            assert!(names_any(&map), "{name} is not seen");
        }
    }
    let plain = headers(&[("Helicone-Session-Id", "s"), ("Cache-Control", "max-age=5")]);
    assert!(!names_any(&plain));
}

#[test]
fn reads_the_cache_options() {
    let f = read(&headers(&[
        ("Helicone-Cache-Enabled", "true"),
        ("Cache-Control", "no-cache, max-age=60, s-maxage=120"),
        ("Helicone-Cache-Bucket-Max-Size", "3"),
        ("Helicone-Cache-Seed", "s1"),
        ("Helicone-Cache-Ignore-Keys", r#""user", "metadata""#),
    ]))
    .unwrap();
    let c = f.cache;
    assert!(c.read && c.save);
    assert_eq!(c.ttl, Duration::from_secs(120));
    assert_eq!(c.bucket_size, 3);
    assert_eq!(c.seed.as_deref(), Some("s1"));
    assert_eq!(c.ignore_keys, ["user", "metadata"]);
    let c = read(&headers(&[("helicone-cache-save", "true")]))
        .unwrap()
        .cache;
    assert!(c.save && !c.read);
    assert_eq!(c.ttl, DEFAULT_CACHE_TTL);
}

//! Configuration loading and validation, with figment's `Jail` standing in for the process
//! environment and working directory.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error"
)]

use figment::Jail;

use super::*;

fn load_in(jail: &Jail, path: Option<&str>, flags: FlagOverrides) -> anyhow::Result<Settings> {
    let path = path.map(|p| jail.directory().join(p));
    load(path.as_deref(), process_env(), flags)?.validate()
}

#[test]
fn defaults_are_the_documented_ones() {
    Jail::expect_with(|jail| {
        let s = load_in(jail, None, FlagOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(s.store, "sqlite://canopy.db");
        assert_eq!(s.spool_dir, PathBuf::from("canopy.db.spool"));
        assert_eq!(s.default_provider, "openai");
        assert_eq!(s.writer.in_flight, None, "the store chooses");
        Ok(())
    });
}

#[test]
fn batches_in_flight_come_from_the_file_or_env_and_are_at_least_one() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[writer]\nin_flight = 0\n")?;
        let s = load_in(jail, Some("c.toml"), FlagOverrides::default()).unwrap();
        assert_eq!(s.writer.in_flight, Some(1));
        jail.set_env("CANOPY_WRITER__IN_FLIGHT", "6");
        let s = load_in(jail, Some("c.toml"), FlagOverrides::default()).unwrap();
        assert_eq!(s.writer.in_flight, Some(6));
        Ok(())
    });
}

#[test]
fn flags_override_env_which_overrides_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "c.toml",
            "listen = \"127.0.0.1:1000\"\nstore = \"sqlite://file.db\"\n",
        )?;
        jail.set_env("CANOPY_LISTEN", "127.0.0.1:2000");
        let s = load_in(jail, Some("c.toml"), FlagOverrides::default()).unwrap();
        assert_eq!(s.listen.port(), 2000);
        assert_eq!(s.store, "sqlite://file.db");
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:3000".into()),
            store: None,
        };
        assert_eq!(
            load_in(jail, Some("c.toml"), flags).unwrap().listen.port(),
            3000
        );
        Ok(())
    });
}

#[test]
fn providers_come_from_the_file_and_env() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "canopy.toml",
            "[providers.local-vllm]\nbase_url = \"http://127.0.0.1:8000\"\nformat = \"openai\"\nhttp2 = true\n",
        )?;
        jail.set_env("CANOPY_PROVIDERS__OPENAI__BASE_URL", "http://127.0.0.1:9");
        jail.set_env("CANOPY_TEST_SOMETHING", "ignored");
        let s = load_in(jail, None, FlagOverrides::default()).unwrap();
        let vllm = s.providers.iter().find(|p| p.name == "local-vllm").unwrap();
        assert!(vllm.http2_prior_knowledge);
        let openai = s.providers.iter().find(|p| p.name == "openai").unwrap();
        assert_eq!(openai.base_url.as_str(), "http://127.0.0.1:9/");
        Ok(())
    });
}

#[test]
fn an_unknown_key_names_the_file_and_the_key() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "listen = \"127.0.0.1:1\"\nlisten_port = 5\n")?;
        let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_port"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
        Ok(())
    });
}

#[test]
fn a_bad_url_names_the_source_key_and_reason() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "[providers.broken]\nbase_url = \"not a url\"\n")?;
        let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
        assert!(err.contains("providers.broken.base_url"), "{err}");
        assert!(err.contains("not a URL"), "{err}");

        jail.set_env("CANOPY_STORE", "mysql://nope");
        let err = load_in(jail, None, FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("CANOPY_STORE"), "{err}");
        assert!(err.contains("`store`"), "{err}");
        Ok(())
    });
}

#[test]
fn a_provider_cannot_take_a_route_canopy_serves_itself() {
    Jail::expect_with(|jail| {
        for name in ["v1", "api", "ui", "healthz", "readyz", "metrics"] {
            jail.create_file(
                "c.toml",
                &format!("[providers.{name}]\nbase_url = \"http://h\"\n"),
            )?;
            let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("providers.{name}")) && err.contains("route name"),
                "{name}: {err}"
            );
        }
        Ok(())
    });
}

#[test]
fn a_bad_format_and_a_missing_file_are_refused() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "c.toml",
            "[providers.x]\nbase_url = \"http://h\"\nformat = \"cohere\"\n",
        )?;
        let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("providers.x.format") && err.contains("cohere"),
            "{err}"
        );
        let err = load_in(jail, Some("missing.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.toml") && err.contains("does not exist"),
            "{err}"
        );
        Ok(())
    });
}

/// Whether every backtick opens or closes a quote.
fn balanced(text: &str) -> bool {
    text.matches('`').count().is_multiple_of(2)
}

#[test]
fn unknown_keys_are_named_as_written_once_with_balanced_quotes() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "listen_port = 5\n[writer]\nbatch_siz = 3\n")?;
        let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("default."), "{err}");
        assert!(
            err.contains("key `listen_port`") || err.contains("key `writer.batch_siz`"),
            "{err}"
        );
        assert!(err.contains("c.toml"), "{err}");
        for line in err.lines() {
            assert!(balanced(line), "{line}");
        }
        let mut lines: Vec<&str> = err.lines().collect();
        lines.dedup();
        assert_eq!(lines.len(), err.lines().count(), "each error once: {err}");

        jail.create_file("d.toml", "[writer]\nbatch_siz = 3\n")?;
        let err = load_in(jail, Some("d.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `writer.batch_siz`"), "{err}");
        assert!(
            err.contains("batch_size"),
            "the known keys are listed: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(balanced(&err), "{err}");
        Ok(())
    });
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("CANOPY_UPSTREAM_TIMEOUT_SECS", "soon");
        let err = load_in(jail, None, FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable CANOPY_UPSTREAM_TIMEOUT_SECS"),
            "{err}"
        );
        assert!(err.contains("key `upstream_timeout_secs`"), "{err}");
        assert!(!err.contains("default."), "{err}");
        assert!(balanced(&err), "{err}");
        Ok(())
    });
}

#[test]
fn a_zero_timeout_is_refused() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "upstream_timeout_secs = 0\n")?;
        let err = load_in(jail, Some("c.toml"), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.toml") && err.contains("`upstream_timeout_secs` must be at least 1"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn a_host_name_is_accepted_as_the_listen_address() {
    Jail::expect_with(|jail| {
        jail.create_file("c.toml", "listen = \"localhost:8787\"\n")?;
        let s = load_in(jail, Some("c.toml"), FlagOverrides::default()).unwrap();
        assert!(s.listen.ip().is_loopback(), "{}", s.listen);
        assert_eq!(s.listen.port(), 8787);
        let flags = FlagOverrides {
            listen: Some("no such host:1".into()),
            store: None,
        };
        let err = load_in(jail, None, flags).unwrap_err().to_string();
        assert!(
            err.contains("--listen") && err.contains("no such host"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn otel_export_is_off_by_default_and_its_section_is_checked() {
    Jail::expect_with(|jail| {
        assert!(
            load_in(jail, None, FlagOverrides::default())
                .unwrap()
                .otel
                .is_none()
        );
        jail.create_file(
            "ok.toml",
            "[otel]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nprotocol = \"json\"\nheaders = { \"x-honeycomb-team\" = \"k\" }\n",
        )?;
        let otel = load_in(jail, Some("ok.toml"), FlagOverrides::default())
            .unwrap()
            .otel
            .unwrap();
        assert!(otel.json);
        assert_eq!(otel.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(otel.service_name, "canopy");
        for (file, body, key) in [
            (
                "a.toml",
                "[otel]\nendpoint = \"ftp://x\"\n",
                "otel.endpoint",
            ),
            (
                "b.toml",
                "[otel]\nendpoint = \"http://x\"\nprotocol = \"grpc\"\n",
                "otel.protocol",
            ),
            ("c.toml", "[otel]\nendpont = \"http://x\"\n", "endpont"),
        ] {
            jail.create_file(file, body)?;
            let error = load_in(jail, Some(file), FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{error}");
        }
        Ok(())
    });
}

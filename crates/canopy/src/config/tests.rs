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

//! The `canopy` binary's commands, run as a user would, against a store a live server writes.

use std::process::Command;

use crate::harness::{TestApp, chat, helicone_id};

fn canopy(args: &[&str], store: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(args)
        .args(["--store", store])
        .env("CANOPY_LOG", "error")
        .env_remove("CANOPY_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// The commands run as child processes while the server answers them from this runtime, so the
// runtime needs a thread of its own to keep serving while the test waits on a child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_and_show_read_what_the_api_serves() {
    let app = TestApp::spawn().await;
    for path in ["/triage", "/triage/classify"] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.url))
            .header("Helicone-Session-Id", "cli-session")
            .header("Helicone-Session-Path", path)
            .header("Helicone-Session-Name", "Support")
            .json(&chat("gpt-4o-mini", false, path))
            .send()
            .await
            .unwrap();
        let _ = helicone_id(&response);
        let _ = response.bytes().await.unwrap();
    }
    app.wait_written(2).await;
    let store = crate::harness::store_url(app.dir.path());

    let (ok, out, err) = canopy(&["sessions", "show", "cli-session", "--json"], &store);
    assert!(ok, "{err}");
    let from_cli: serde_json::Value = serde_json::from_str(&out).unwrap();
    let from_api: serde_json::Value = app
        .client
        .get(format!("{}/api/v1/session/cli-session", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(from_cli, from_api["data"], "--json prints the API's object");

    let (ok, out, _) = canopy(&["sessions", "show", "cli-session"], &store);
    assert!(ok);
    assert!(
        out.contains("cli-session") && out.contains("triage") && out.contains("classify"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when not on a terminal");

    let (ok, out, _) = canopy(
        &["sessions", "list", "--since", "1h", "--name", "Support"],
        &store,
    );
    assert!(ok);
    assert!(out.contains("cli-session"), "{out}");
    let api = format!("{}/api/", app.url);
    let (ok, out, err) = canopy(&["sessions", "list", "--api", &api, "--json"], &store);
    assert!(ok, "a trailing /api is accepted: {err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["session_id"], "cli-session");
    let (ok, out, _) = canopy(
        &["sessions", "show", "cli-session", "--api", &app.url],
        &store,
    );
    assert!(ok && out.contains("classify"), "{out}");

    let (ok, _, err) = canopy(&["sessions", "show", "nope"], &store);
    assert!(!ok && err.contains("no session"), "{err}");
}

#[tokio::test]
async fn keys_are_created_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::harness::store_url(dir.path());
    let (ok, out, err) = canopy(&["keys", "create", "--org", "acme"], &store);
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find(|l| l.starts_with("sk-canopy-"))
        .unwrap()
        .to_owned();
    let (ok, list, _) = canopy(&["keys", "list"], &store);
    assert!(ok && list.contains("acme") && list.contains("active"));
    assert!(!list.contains(&secret), "the key is shown only once");
    if let Some(file) = crate::harness::sqlite_file(dir.path()) {
        let db = std::fs::read(file).unwrap();
        assert!(
            !String::from_utf8_lossy(&db).contains(&secret[10..]),
            "only the hash is stored"
        );
    }
    let id = list.split_whitespace().next().unwrap().to_owned();
    let (ok, _, _) = canopy(&["keys", "revoke", &id], &store);
    assert!(ok);
    let (_, list, _) = canopy(&["keys", "list"], &store);
    assert!(list.contains("revoked"));
    let (ok, _, err) = canopy(&["keys", "revoke", "no-such-id"], &store);
    assert!(!ok && err.contains("no key"));
}

#[tokio::test]
async fn read_only_commands_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing.db");
    let store = format!("sqlite://{}", file.display());
    for args in [
        &["sessions", "list"][..],
        &["sessions", "show", "s"],
        &["keys", "list"],
        &["keys", "revoke", "k"],
    ] {
        let (ok, out, err) = canopy(args, &store);
        assert!(!ok, "{args:?}: {out}");
        assert!(
            err.contains("there is no store at") && err.contains("missing.db"),
            "{args:?}: {err}"
        );
        assert!(err.contains("canopy serve"), "says what to do: {err}");
        assert!(!file.exists(), "{args:?} created {}", file.display());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{args:?} left files behind"
        );
    }
}

#[tokio::test]
async fn api_failures_say_what_to_do() {
    // A port nothing listens on: bound, then released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("unused.db").display());
    let api = format!("http://{closed}");
    let (ok, _, err) = canopy(&["sessions", "list", "--api", &api], &store);
    assert!(!ok);
    assert!(err.contains("is `canopy serve` running?"), "{err}");
    assert_eq!(err.lines().count(), 1, "printed once: {err}");
    let (ok, _, err) = canopy(&["replay", "s", "--url", &format!("{closed}/api")], &store);
    assert!(!ok && err.contains("is `canopy serve` running?"), "{err}");
}

// The command runs as a child process that the server in this runtime must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_names_the_flag_and_the_variable() {
    let app = TestApp::spawn().await;
    let key = app.create_key("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("unused.db").display());
    let (ok, _, err) = canopy(&["sessions", "list", "--api", &app.url], &store);
    assert!(!ok);
    assert!(
        err.contains("--key") && err.contains("CANOPY_KEY") && err.contains("401"),
        "{err}"
    );
    let (ok, _, err) = canopy(
        &[
            "sessions",
            "list",
            "--api",
            &app.url,
            "--key",
            "sk-canopy-wrong",
        ],
        &store,
    );
    assert!(!ok && err.contains("refused the key"), "{err}");
    let (ok, out, err) = canopy(
        &["sessions", "list", "--api", &app.url, "--key", &key],
        &store,
    );
    assert!(ok, "{err}");
    assert!(out.contains("no sessions"), "{out}");
}

#[tokio::test]
async fn a_bad_configuration_is_reported_once_with_the_key_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[writer]\nbatch_siz = 3\n").unwrap();
    let store = format!("sqlite://{}", dir.path().join("unused.db").display());
    let config = config.display().to_string();
    for args in [
        &["--config", &config, "sessions", "list"][..],
        &["--config", &config, "serve", "--listen", "127.0.0.1:0"],
    ] {
        let (ok, _, err) = canopy(args, &store);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "printed once: {err}");
        assert!(err.contains("key `writer.batch_siz`"), "{err}");
        assert!(!err.contains("default."), "{err}");
        assert!(
            err.matches('`').count().is_multiple_of(2),
            "balanced quotes: {err}"
        );
    }
    std::fs::write(dir.path().join("c.toml"), "upstream_timeout_secs = 0\n").unwrap();
    let (ok, _, err) = canopy(&["--config", &config, "sessions", "list"], &store);
    assert!(!ok && err.contains("upstream_timeout_secs"), "{err}");
}

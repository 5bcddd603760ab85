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
    let (ok, out, _) = canopy(&["sessions", "list", "--api", &app.url, "--json"], &store);
    assert!(ok);
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

use std::time::{Duration, Instant};

use super::{ChServer, Endpoint, fresh_database_blocking};
use crate::http::Response;

fn endpoint(url: &str) -> Endpoint {
    Endpoint::parse(url).unwrap()
}

/// Runs `sql` and returns the answer, whatever its status.
fn post(url: &str, params: &[(&str, &str)], sql: &str) -> Response {
    endpoint(url).post(params, sql.as_bytes()).unwrap()
}

/// Runs `sql`, which must succeed, and returns the answer's text.
fn query(url: &str, sql: &str) -> String {
    let response = post(url, &[], sql);
    assert_eq!(response.status, 200, "{sql}: {}", response.text());
    response.text()
}

fn tables(url: &str) -> String {
    query(
        url,
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
    )
}

#[test]
fn fresh_databases_answer_over_http_with_a_password_and_are_empty_and_distinct() {
    let first = fresh_database_blocking();
    let second = fresh_database_blocking();
    assert_ne!(first.name(), second.name());
    let url = url::Url::parse(first.url()).unwrap();
    assert_eq!(url.scheme(), "clickhouse");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert!(url.password().is_some_and(|p| !p.is_empty()), "{url}");
    assert_eq!(url.path(), format!("/{}", first.name()));
    assert!(first.name().starts_with("canopy_test_") && first.name().len() == 44);

    // The URL's path is the default database of every request.
    assert_eq!(
        query(first.url(), "SELECT currentDatabase()"),
        format!("{}\n", first.name())
    );
    assert_eq!(tables(first.url()), "");
    query(
        first.url(),
        "CREATE TABLE calls (id UInt64) ENGINE = MergeTree ORDER BY id",
    );
    assert_eq!(tables(first.url()), "calls\n");
    assert_eq!(
        tables(second.url()),
        "",
        "another test's database does not see it"
    );
}

#[test]
fn rows_inserted_as_json_each_row_read_back_with_query_parameters() {
    let database = fresh_database_blocking();
    let url = database.url();
    query(
        url,
        "CREATE TABLE calls (id UInt64, model String, at DateTime64(3, 'UTC')) \
         ENGINE = MergeTree ORDER BY id",
    );
    // The statement in the URL, the rows in the body, a setting for this request only.
    let rows = "{\"id\":1,\"model\":\"gpt\\tx\",\"at\":\"2026-01-02 03:04:05.678\"}\n\
                {\"id\":2,\"model\":\"claude\",\"at\":\"2026-01-02 03:04:06.000\"}\n";
    let params = [
        (
            "query",
            "INSERT INTO calls (id, model, at) FORMAT JSONEachRow",
        ),
        ("date_time_input_format", "basic"),
    ];
    let inserted = endpoint(url).post(&params, rows.as_bytes()).unwrap();
    assert_eq!(inserted.status, 200, "{}", inserted.text());
    assert!(
        inserted
            .header("x-clickhouse-summary")
            .is_some_and(|s| s.contains("\"written_rows\":\"2\"")),
        "{inserted:?}"
    );

    // Parameters are in ClickHouse's escaped text form: `\t` is a tab.
    let read = post(
        url,
        &[("param_model", "gpt\\tx"), ("param_min", "1")],
        "SELECT id, model, toUnixTimestamp64Milli(at) AS ms FROM calls \
         WHERE model = {model:String} AND id >= {min:UInt64} FORMAT JSONEachRow",
    );
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.header("x-clickhouse-format"), Some("JSONEachRow"));
    assert_eq!(
        read.text(),
        "{\"id\":1,\"model\":\"gpt\\tx\",\"ms\":1767323045678}\n"
    );

    // A setting applies to its own request only.
    let sql = "SELECT toUInt64(7) AS n FORMAT JSONEachRow";
    let quoted = post(
        url,
        &[("output_format_json_quote_64bit_integers", "1")],
        sql,
    );
    assert_eq!(quoted.text(), "{\"n\":\"7\"}\n");
    assert_eq!(post(url, &[], sql).text(), "{\"n\":7}\n");
    // So does the database: the next request names its own.
    let elsewhere = post(url, &[("database", "system")], "SELECT currentDatabase()");
    assert_eq!(elsewhere.text(), "system\n");
    assert_eq!(query(url, "SELECT count() FROM calls"), "2\n");
}

#[test]
fn a_repeated_insert_with_the_same_deduplication_token_writes_nothing() {
    let database = fresh_database_blocking();
    let url = database.url();
    query(
        url,
        "CREATE TABLE calls (id UInt64) ENGINE = MergeTree ORDER BY id \
         SETTINGS non_replicated_deduplication_window = 100",
    );
    let insert = |token: &str, body: &str| {
        let params = [
            ("query", "INSERT INTO calls FORMAT JSONEachRow"),
            ("insert_deduplication_token", token),
            ("async_insert", "0"),
        ];
        let response = endpoint(url).post(&params, body.as_bytes()).unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
    };
    insert("batch-1", "{\"id\":1}\n{\"id\":2}\n");
    insert("batch-1", "{\"id\":1}\n{\"id\":2}\n");
    assert_eq!(query(url, "SELECT count() FROM calls"), "2\n");
    insert("batch-2", "{\"id\":1}\n{\"id\":2}\n");
    assert_eq!(query(url, "SELECT count() FROM calls"), "4\n");
}

#[test]
fn errors_carry_clickhouse_codes() {
    let database = fresh_database_blocking();
    let url = database.url();
    let missing = post(url, &[], "SELECT * FROM nowhere");
    assert!(matches!(missing.status, 404 | 500), "{missing:?}");
    assert_eq!(missing.header("x-clickhouse-exception-code"), Some("60"));
    assert!(
        missing.text().starts_with("Code: 60. DB::Exception: "),
        "{}",
        missing.text()
    );
    assert!(
        missing.text().contains("(UNKNOWN_TABLE)"),
        "{}",
        missing.text()
    );

    let two = post(url, &[], "SELECT 1; SELECT 2");
    assert_eq!(
        two.header("x-clickhouse-exception-code"),
        Some("62"),
        "{}",
        two.text()
    );
    assert!(
        two.text().contains("Multi-statements are not allowed"),
        "{}",
        two.text()
    );
    assert_eq!(
        query(url, "SELECT 1;"),
        "1\n",
        "a trailing semicolon is one statement"
    );

    let setting = post(url, &[("no_such_setting", "1")], "SELECT 1");
    assert_eq!(setting.header("x-clickhouse-exception-code"), Some("115"));

    let mut wrong = url::Url::parse(url).unwrap();
    wrong.set_password(Some("wrong")).unwrap();
    let refused = post(wrong.as_str(), &[], "SELECT 1");
    assert_eq!(refused.status, 516, "{}", refused.text());
    assert_eq!(refused.header("x-clickhouse-exception-code"), Some("516"));
    assert!(
        refused.text().starts_with("Code: 516. DB::Exception: ")
            && refused.text().contains("Authentication failed")
            && refused.text().contains("(AUTHENTICATION_FAILED)"),
        "{}",
        refused.text()
    );
}

#[test]
fn get_reads_and_refuses_writes() {
    let database = fresh_database_blocking();
    let endpoint = endpoint(database.url());
    let get = |sql: &str| {
        let target = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", sql)
            .append_pair("database", database.name())
            .finish();
        let headers = [
            ("X-ClickHouse-User", endpoint.user.as_str()),
            ("X-ClickHouse-Key", endpoint.password.as_str()),
        ];
        crate::http::send(
            &endpoint.host,
            endpoint.port,
            "GET",
            &format!("/?{target}"),
            &headers,
            b"",
        )
        .unwrap()
    };
    assert_eq!(get("SELECT 1 + 1").text(), "2\n");
    let write = get("CREATE TABLE t (a UInt8) ENGINE = Memory");
    assert_eq!(
        write.header("x-clickhouse-exception-code"),
        Some("164"),
        "{}",
        write.text()
    );
    let ping = crate::http::send(&endpoint.host, endpoint.port, "GET", "/ping", &[], b"").unwrap();
    assert_eq!((ping.status, ping.text()), (200, "Ok.\n".to_owned()));
}

#[test]
fn a_dropped_database_is_gone() {
    let database = fresh_database_blocking();
    let name = database.name().to_owned();
    let admin = super::shared_server_url();
    drop(database);
    let sql = format!("SELECT count() FROM system.databases WHERE name = '{name}'");
    let deadline = Instant::now() + Duration::from_secs(20);
    while query(admin, &sql) != "0\n" {
        assert!(Instant::now() < deadline, "{name} still exists");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_server_stopped_and_started_again_keeps_its_port_and_data() {
    let server = ChServer::start().await;
    let database = server.create_database().await;
    let url = database.url().to_owned();
    query(
        &url,
        "CREATE TABLE calls (id UInt64) ENGINE = MergeTree ORDER BY id",
    );
    query(&url, "INSERT INTO calls VALUES (1), (2)");

    // Starting a running server, or stopping a stopped one, changes nothing.
    server.restart().await;
    assert_eq!(query(&url, "SELECT count() FROM calls"), "2\n");
    server.stop().await;
    server.stop().await;
    let refused = endpoint(&url).post(&[], b"SELECT 1").unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    server.restart().await;
    assert_eq!(query(&url, "SELECT count() FROM calls"), "2\n");
    assert_eq!(url::Url::parse(&url).unwrap().port(), Some(server.port()));
}

#[tokio::test]
async fn a_dropped_server_stops_and_removes_its_directory() {
    let server = ChServer::start().await;
    let port = server.port();
    let dir = server.dir().to_owned();
    assert!(dir.join("data").is_dir(), "{dir:?}");
    drop(server);
    assert!(!dir.exists(), "{dir:?} is removed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers"
    );
}

#[test]
fn clickhouse_urls_give_the_endpoint_and_the_server_defaults() {
    let full = endpoint("clickhouse://us%40er:p%3Aw@127.0.0.1:9999/db");
    assert_eq!(
        (
            full.host.as_str(),
            full.port,
            full.user.as_str(),
            full.password.as_str(),
            full.database.as_str()
        ),
        ("127.0.0.1", 9999, "us@er", "p:w", "db")
    );
    let bare = endpoint("clickhouse://localhost");
    assert_eq!(
        (
            bare.port,
            bare.user.as_str(),
            bare.password.as_str(),
            bare.database.as_str()
        ),
        (8123, "default", "", "default")
    );
    assert!(Endpoint::parse("postgres://localhost/db").is_err());
}

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::{PgCluster, fresh_database};

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

async fn user_tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn fresh_databases_answer_over_tcp_with_a_password_and_are_empty_and_distinct() {
    let first = fresh_database().await;
    let second = fresh_database().await;
    assert_ne!(first.name(), second.name());
    assert_ne!(first.url(), second.url());
    let url = url::Url::parse(first.url()).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_eq!(url.username(), "canopy");
    assert!(url.password().is_some_and(|p| !p.is_empty()), "{url}");
    assert_eq!(url.path(), format!("/{}", first.name()));

    let mut conn = connect(first.url()).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    let current: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(current, first.name());
    assert!(user_tables(&mut conn).await.is_empty());

    // What one test writes, another test's database does not see.
    sqlx::query("CREATE TABLE calls (id integer)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut other = connect(second.url()).await;
    assert!(user_tables(&mut other).await.is_empty());
    assert_eq!(user_tables(&mut conn).await, ["calls"]);
}

#[tokio::test]
async fn a_dropped_database_is_gone_even_with_a_connection_open() {
    let database = fresh_database().await;
    let url = database.url().to_owned();
    let mut open = connect(&url).await;
    drop(database);
    // The drop runs in the background; it ends the open connection and removes the database.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match PgConnection::connect(&url).await {
            Err(error) if error.to_string().contains("does not exist") => break,
            _ => assert!(Instant::now() < deadline, "{url} still exists"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(open.ping().await.is_err(), "the open connection was ended");
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let database = fresh_database().await;
    let mut url = url::Url::parse(database.url()).unwrap();
    url.set_password(Some("wrong")).unwrap();
    let error = PgConnection::connect(url.as_str()).await.err().unwrap();
    assert!(
        error.to_string().contains("password authentication failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_cluster_stopped_and_started_again_keeps_its_port_and_data() {
    let cluster = PgCluster::start().await;
    let database = cluster.create_database().await;
    let mut conn = connect(database.url()).await;
    sqlx::raw_sql("CREATE TABLE calls (id integer); INSERT INTO calls VALUES (1), (2)")
        .execute(&mut conn)
        .await
        .unwrap();

    // Starting a running server, or stopping a stopped one, changes nothing.
    cluster.restart().await;
    assert!(
        conn.ping().await.is_ok(),
        "a restart of a running server ends nothing"
    );
    cluster.stop().await;
    cluster.stop().await;
    assert!(conn.ping().await.is_err(), "open connections end at a stop");
    let refused = PgConnection::connect(database.url()).await.err().unwrap();
    assert!(
        refused
            .to_string()
            .to_lowercase()
            .contains("connection refused"),
        "{refused}"
    );

    cluster.restart().await;
    let mut conn = connect(database.url()).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM calls")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        url::Url::parse(database.url()).unwrap().port(),
        Some(cluster.port())
    );
}

#[tokio::test]
async fn a_dropped_cluster_stops_its_server_and_removes_its_directory() {
    let cluster = PgCluster::start().await;
    let port = cluster.port();
    let dir = cluster.dir().to_owned();
    assert!(dir.join("data").join("PG_VERSION").is_file(), "{dir:?}");
    let _conn = connect(cluster.url()).await;
    drop(cluster);
    assert!(!dir.exists(), "{dir:?} is removed");
    // The server process may need a moment to release the port after its shutdown completes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "port {port} still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

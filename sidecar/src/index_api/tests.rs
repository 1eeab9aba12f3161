//! The API through its router (`oneshot`) and through a loopback socket.

use super::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";

fn api(dir: &std::path::Path) -> Api {
    let index = MamIndex::open(
        dir,
        Options {
            max_body: 100,
            ..Options::default()
        },
    )
    .unwrap();
    Api::new(
        index,
        TOKEN.into(),
        Limits {
            workers: 2,
            max_pending: 16,
            max_request_bytes: 4096,
            max_batch: 3,
        },
    )
}

async fn call(
    api: &Api,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(axum::body::Body::from(body.to_owned())).unwrap();
    let resp = api.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, value)
}

async fn ok(api: &Api, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, v) = call(api, method, path, Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{path} {body}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_commit_search_delete() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path());
    let v = ok(
        &api,
        "POST",
        "/v1/index",
        r#"{"messages": [
            {"archive_id": 1, "mam_id": 10, "remote_jid": "bob@example.com", "body": "Hello brave new world"},
            {"archive_id": 1, "mam_id": 20, "remote_jid": "carol@example.com", "remote_resource": "phone", "body": "hello again"},
            {"archive_id": 2, "mam_id": 30, "remote_jid": "bob@example.com", "is_groupchat": false, "body": "hello from another archive"}
        ]}"#,
    )
    .await;
    assert_eq!(v["indexed"], 3);
    // not committed yet (the commit interval is 500 ms): nothing for a moment
    ok(&api, "POST", "/v1/commit", "").await;
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": 1, "text": "HELLO", "count": true}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([10, 20]));
    assert_eq!(v["count"], 2);
    assert_eq!(v["first_index"], 0);
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": "1", "text": "hello", "with": "carol@example.com/phone"}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([20]));
    assert_eq!(v["count"], serde_json::Value::Null);
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": 1, "text": "hello", "max": 1, "before": "last", "count": true}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([20]));
    assert_eq!(v["first_index"], 1);
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": 1, "text": "hello", "after": 10}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([20]));
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": 1, "text": "hello", "start": 11, "end": 20}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([20]));
    let v = ok(&api, "GET", "/v1/last_indexed_id?archive_id=1", "").await;
    assert_eq!(v["last_indexed_id"], 20);
    let v = ok(&api, "POST", "/v1/last_indexed_id", r#"{"archive_id": 3}"#).await;
    assert_eq!(v["last_indexed_id"], serde_json::Value::Null);
    let v = ok(
        &api,
        "POST",
        "/v1/delete",
        r#"{"archive_id": 1, "mam_id": 10}"#,
    )
    .await;
    assert_eq!(v["deleted"], "message");
    let v = ok(&api, "POST", "/v1/delete", r#"{"archive_id": 2}"#).await;
    assert_eq!(v["deleted"], "archive");
    ok(&api, "POST", "/v1/commit", "").await;
    let v = ok(
        &api,
        "POST",
        "/v1/search",
        r#"{"archive_id": 1, "text": "hello"}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([20]));
    let v = ok(&api, "POST", "/v1/search", r#"{"archive_id": 2}"#).await;
    assert_eq!(v["ids"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path());
    for (token, why) in [
        (None, "required"),
        (Some("wrong-token-0123456789"), "wrong token"),
    ] {
        for (method, path) in [
            ("POST", "/v1/index"),
            ("POST", "/v1/search"),
            ("POST", "/v1/commit"),
            ("POST", "/v1/delete"),
            ("GET", "/v1/last_indexed_id?archive_id=1"),
        ] {
            let (status, v) = call(&api, method, path, token, r#"{"archive_id": 1}"#).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(v["error"], "unauthorized");
            assert!(v["reason"].as_str().unwrap().contains(why), "{v}");
        }
    }
    // another scheme
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/commit")
        .header("authorization", format!("Basic {TOKEN}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = api.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    // /health needs none
    let req = axum::http::Request::builder()
        .uri("/health")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        api.router().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path());
    let long = "x ".repeat(60);
    let too_long = format!(
        r#"{{"messages": [{{"archive_id": 1, "mam_id": 1, "remote_jid": "a@b", "body": "{long}"}}]}}"#
    );
    let four = r#"{"messages": [
        {"archive_id": 1, "mam_id": 1, "remote_jid": "a@b", "body": "x"},
        {"archive_id": 1, "mam_id": 2, "remote_jid": "a@b", "body": "x"},
        {"archive_id": 1, "mam_id": 3, "remote_jid": "a@b", "body": "x"},
        {"archive_id": 1, "mam_id": 4, "remote_jid": "a@b", "body": "x"}]}"#;
    let huge = format!(r#"{{"archive_id": 1, "text": "{}"}}"#, "y".repeat(5000));
    for (method, path, body, status, reason) in [
        ("POST", "/v1/search", "{", 400, "bad JSON"),
        ("POST", "/v1/search", "", 400, "bad JSON"),
        (
            "POST",
            "/v1/search",
            r#"{"text": "a"}"#,
            400,
            "missing archive_id",
        ),
        (
            "POST",
            "/v1/search",
            r#"{"archive_id": 1, "max": "ten"}"#,
            400,
            "invalid type",
        ),
        (
            "POST",
            "/v1/search",
            r#"{"archive_id": 1, "befor": 3}"#,
            400,
            "unknown field",
        ),
        (
            "POST",
            "/v1/search",
            r#"{"archive_id": -4}"#,
            400,
            "negative",
        ),
        ("POST", "/v1/search", &huge, 413, "length limit"),
        (
            "POST",
            "/v1/index",
            r#"{"messages": [{"archive_id": 1}]}"#,
            400,
            "missing field",
        ),
        (
            "POST",
            "/v1/index",
            r#"{"messages": {}}"#,
            400,
            "invalid type",
        ),
        ("POST", "/v1/index", &too_long, 400, "limit 100"),
        ("POST", "/v1/index", four, 400, "at most 3"),
        (
            "POST",
            "/v1/delete",
            r#"{"mam_id": 1}"#,
            400,
            "missing field",
        ),
        ("GET", "/v1/last_indexed_id", "", 400, "missing archive_id"),
        (
            "GET",
            "/v1/last_indexed_id?archive_id=abc",
            "",
            400,
            "not a decimal id",
        ),
        ("GET", "/v1/search", "", 405, "wrong method"),
        ("POST", "/v2/search", "", 404, "no such endpoint"),
    ] {
        let (got, v) = call(&api, method, path, Some(TOKEN), body).await;
        assert_eq!(got.as_u16(), status, "{method} {path} {body:.60}: {v}");
        let text = v["reason"].as_str().unwrap_or_default();
        assert!(text.contains(reason), "{path} {body:.60}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    // nothing was indexed by the refused batches
    ok(&api, "POST", "/v1/commit", "").await;
    let v = ok(&api, "POST", "/v1/search", r#"{"archive_id": 1}"#).await;
    assert_eq!(v["ids"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_when_too_many_are_pending() {
    let dir = tempfile::tempdir().unwrap();
    let index = MamIndex::open(dir.path(), Options::default()).unwrap();
    let api = Api::new(
        index,
        TOKEN.into(),
        Limits {
            workers: 1,
            max_pending: 1,
            max_request_bytes: 4096,
            max_batch: 10,
        },
    );
    // hold the only admission with a slow call
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let slow = {
        let api = api.clone();
        tokio::spawn(async move {
            api.blocking(move |_| {
                let _ = rx.recv();
                Ok(())
            })
            .await
        })
    };
    while api.inner.admitted.load(Ordering::Acquire) == 0 {
        tokio::task::yield_now().await;
    }
    let (status, v) = call(&api, "POST", "/v1/commit", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"], "busy");
    tx.send(()).unwrap();
    slow.await.unwrap().unwrap();
    ok(&api, "POST", "/v1/commit", "").await;
}

/// A real loopback socket, HTTP/1.1 by hand, and a graceful stop that
/// commits what was indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(listener, api(dir.path()), stop_rx));
    let request = |method: &str, path: &str, body: &str, token: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let send = |req: String| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let out = send(request(
        "POST",
        "/v1/index",
        r#"{"messages": [{"archive_id": 9, "mam_id": 5, "remote_jid": "a@b", "body": "over the wire"}]}"#,
        TOKEN,
    ))
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with(r#"{"indexed":1}"#), "{out}");
    let out = send(request("POST", "/v1/commit", "", "nope-nope-nope-nope")).await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("application/json"), "{out}");
    // stop without a commit of our own: the server commits on the way out
    stop_tx.send(true).unwrap();
    server.await.unwrap().unwrap();
    let again = api(dir.path());
    let v = ok(
        &again,
        "POST",
        "/v1/search",
        r#"{"archive_id": 9, "text": "wire"}"#,
    )
    .await;
    assert_eq!(v["ids"], serde_json::json!([5]));
}

//! The MAM full-text index as a loopback HTTP/JSON service (`[index]`),
//! for servers that keep their own archive (Prosody through
//! `prosody/mod_xmpp_accel_fulltext.lua`, or anything that speaks HTTP):
//! they feed it each archived message's words and ask it which message ids
//! match a MAM query; the messages stay in their archive.
//!
//! Every request carries `Authorization: Bearer <token>` (the `[index]`
//! `token`); bodies and answers are JSON. Endpoints (see the README for
//! curl examples):
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /v1/index` | `{"messages": [{"archive_id", "mam_id", "remote_jid", "remote_resource"?, "is_groupchat"?, "body"}]}` | `{"indexed": N}` |
//! | `POST /v1/delete` | `{"archive_id", "mam_id"?}` (no `mam_id`: the whole archive) | `{"deleted": "message" \| "archive"}` |
//! | `POST /v1/commit` | none | `{"committed": true}` |
//! | `GET /v1/last_indexed_id?archive_id=A` or `POST` `{"archive_id"}` | | `{"archive_id", "last_indexed_id": id \| null}` |
//! | `POST /v1/search` | the query map of `xmpp_accel_mam:search/2` ([`wire::SearchRequest`]) | `{"ids": [...], "count", "first_index"}` |
//! | `GET /health` (no token) | | `ok` |
//!
//! Writes are searchable after the next commit (every
//! `commit_interval_ms`, or `POST /v1/commit`). Errors are a 4xx or 5xx
//! status with `{"error": kind, "reason": text}`: 400 `bad_request` (bad
//! JSON, a missing or wrong field, a body over `max_body`), 401
//! `unauthorized`, 404 `not_found`, 405 `method_not_allowed`, 413
//! `too_large`, 503 `busy` (more than `max_pending` requests waiting),
//! 500 `index` (the index failed underneath).
//!
//! No index call runs on a tokio worker: each goes to `spawn_blocking`,
//! at most `workers` at a time, with at most `max_pending` admitted
//! (running or waiting); beyond that the answer is 503 at once.

pub mod wire;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use xmpp_accel_core::mam::{MamError, MamIndex, Message, Options, Tokenizer};

use crate::config;
use wire::{ArchiveRequest, DeleteRequest, IndexRequest, SearchRequest, SearchResponse};

/// An error answer: status, kind, reason.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub reason: String,
}

impl ApiError {
    fn bad(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_request",
            reason: reason.into(),
        }
    }
}

impl From<MamError> for ApiError {
    fn from(e: MamError) -> ApiError {
        match e {
            MamError::BadInput(why) => ApiError::bad(why),
            MamError::Closed => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "closed",
                reason: "the index is closed".into(),
            },
            other => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "index",
                reason: other.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            reason: &'a str,
        }
        let body = Body {
            error: self.kind,
            reason: &self.reason,
        };
        let mut r = json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The service's limits (from `[index]`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most index calls running at once (each on a blocking thread).
    pub workers: usize,
    /// Most requests admitted (running or waiting for a worker).
    pub max_pending: usize,
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// Most messages in one `POST /v1/index`.
    pub max_batch: usize,
}

struct Inner {
    index: MamIndex,
    token: String,
    limits: Limits,
    workers: Arc<Semaphore>,
    admitted: AtomicUsize,
}

/// The open index and what guards it; cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

/// Releases an admission when the request ends (however it ends).
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Api {
    /// Serves `index` (already open) with this token and these limits.
    pub fn new(index: MamIndex, token: String, limits: Limits) -> Api {
        Api {
            inner: Arc::new(Inner {
                index,
                token,
                workers: Arc::new(Semaphore::new(limits.workers.max(1))),
                limits,
                admitted: AtomicUsize::new(0),
            }),
        }
    }

    /// Opens the `[index]` directory (blocking: call it from a blocking
    /// thread or before the runtime) and serves it.
    pub fn open(c: &config::Index) -> Result<Api, String> {
        let options = Options {
            tokenizer: match c.tokenizer {
                config::IndexTokenizer::Unicode => Tokenizer::Unicode {
                    fold_diacritics: c.fold_diacritics,
                },
                config::IndexTokenizer::MongooseCompat => Tokenizer::MongooseCompat,
            },
            commit_interval_ms: c.commit_interval_ms,
            max_body: c.max_body,
            ..Options::default()
        };
        let index = MamIndex::open(&c.directory, options)
            .map_err(|e| format!("[index] directory {}: {e}", c.directory.display()))?;
        Ok(Api::new(
            index,
            c.token.clone(),
            Limits {
                workers: c.workers,
                max_pending: c.max_pending,
                max_request_bytes: c.max_request_bytes,
                max_batch: c.max_batch,
            },
        ))
    }

    /// Runs `f` on a blocking thread once a worker is free; 503 at once
    /// when `max_pending` requests are already admitted.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&MamIndex) -> Result<T, MamError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::AcqRel) >= inner.limits.max_pending {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "busy",
                reason: format!("{} requests pending", inner.limits.max_pending),
            });
        }
        let _admitted = Admitted(&inner.admitted);
        let permit = inner
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| MamError::Closed)?;
        let me = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&me.index)
        })
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "index",
            reason: format!("index call failed: {e}"),
        })?
        .map_err(ApiError::from)
    }

    /// Makes every write so far durable (on a blocking thread).
    pub async fn commit(&self) -> Result<(), ApiError> {
        self.blocking(|index| index.commit()).await
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        match given {
            Some(t) if constant_time_eq(t.as_bytes(), self.inner.token.as_bytes()) => Ok(()),
            Some(_) => Err(unauthorized("wrong token")),
            None => Err(unauthorized("Authorization: Bearer <token> required")),
        }
    }

    /// The routes, for [`serve`] and for tests (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/index", post(index))
            .route("/v1/delete", post(delete))
            .route("/v1/commit", post(commit))
            .route(
                "/v1/last_indexed_id",
                get(last_indexed_id_get).post(last_indexed_id_post),
            )
            .route("/v1/search", post(search))
            .route("/health", get(|| async { "ok\n" }))
            .fallback(|| async {
                ApiError {
                    status: StatusCode::NOT_FOUND,
                    kind: "not_found",
                    reason: "no such endpoint".into(),
                }
            })
            .method_not_allowed_fallback(|| async {
                ApiError {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    kind: "method_not_allowed",
                    reason: "wrong method for this endpoint".into(),
                }
            })
            .layer(DefaultBodyLimit::max(self.inner.limits.max_request_bytes))
            .with_state(self.clone())
    }
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        kind: "unauthorized",
        reason: reason.into(),
    }
}

/// Equal bytes, in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The body as `T`, or the 4xx answer saying why not.
fn body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        ApiError {
            status,
            kind: if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_request"
            },
            reason: r.body_text(),
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("bad JSON: {e}")))
}

async fn index(
    State(api): State<Api>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    let req: IndexRequest = body(raw)?;
    if req.messages.len() > api.inner.limits.max_batch {
        return Err(ApiError::bad(format!(
            "{} messages (at most {} per request)",
            req.messages.len(),
            api.inner.limits.max_batch
        )));
    }
    let messages: Vec<Message> = req.messages.into_iter().map(Message::from).collect();
    let n = messages.len();
    api.blocking(move |index| index.index(&messages)).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "indexed": n })))
}

async fn delete(
    State(api): State<Api>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    let req: DeleteRequest = body(raw)?;
    let what = req.deletion();
    let kind = if req.mam_id.is_some() {
        "message"
    } else {
        "archive"
    };
    api.blocking(move |index| index.delete(what)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deleted": kind }),
    ))
}

async fn commit(State(api): State<Api>, headers: HeaderMap) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    api.commit().await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "committed": true }),
    ))
}

async fn last_indexed_id(api: Api, archive_id: u64) -> Result<Response, ApiError> {
    let last = api
        .blocking(move |index| index.last_indexed_id(archive_id))
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "archive_id": archive_id, "last_indexed_id": last }),
    ))
}

async fn last_indexed_id_get(
    State(api): State<Api>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    let value = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("archive_id="))
        .ok_or_else(|| ApiError::bad("missing archive_id"))?;
    let archive_id = serde_json::from_value::<wire::Id>(serde_json::Value::String(value.into()))
        .map_err(|e| ApiError::bad(format!("archive_id: {e}")))?;
    last_indexed_id(api, archive_id.0).await
}

async fn last_indexed_id_post(
    State(api): State<Api>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    let req: ArchiveRequest = body(raw)?;
    last_indexed_id(api, req.archive_id.0).await
}

async fn search(
    State(api): State<Api>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    api.authorized(&headers)?;
    let req: SearchRequest = body(raw)?;
    let q = req.query().map_err(ApiError::bad)?;
    let page = api.blocking(move |index| index.search(&q)).await?;
    Ok(json(StatusCode::OK, &SearchResponse::from(page)))
}

/// Serves the API on `listener` until `stop` turns true, then commits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = api.router();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
    if let Err(e) = api.commit().await {
        tracing::error!("index API: final commit: {}", e.reason);
    }
    // the last handle closes the index (joins its commit thread): not here
    let _ = tokio::task::spawn_blocking(move || drop(api)).await;
    Ok(())
}

#[cfg(test)]
mod tests;

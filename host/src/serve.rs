//! `classbridge serve`: the admin console's JSON API (sign-in token, CSRF-protected writes)
//! and scheduled syncs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use rand::RngExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::runner::{Host, RunError, RunErrorKind};
use crate::secrets::Secret;

#[derive(Clone)]
pub struct AppState {
    host: Arc<Mutex<Host>>,
    token: Arc<Secret>,
    csrf: Arc<Secret>,
}

fn random_token() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time comparison so the token cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .find_map(|p| p.trim().strip_prefix("cb_session="))
        });
    bearer
        .or(cookie)
        .is_some_and(|t| same(t, state.token.expose()))
}

fn csrf_ok(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| same(t, state.csrf.expose()))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn run_error(e: RunError) -> Response {
    let status = match e.kind() {
        RunErrorKind::Config => StatusCode::UNPROCESSABLE_ENTITY,
        RunErrorKind::Connection => StatusCode::BAD_GATEWAY,
        RunErrorKind::NotFound => StatusCode::NOT_FOUND,
        RunErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        RunErrorKind::Failed | RunErrorKind::Busy | RunErrorKind::State => StatusCode::CONFLICT,
    };
    error(status, e.describe())
}

macro_rules! require_session {
    ($state:expr, $headers:expr) => {
        if !signed_in(&$state, &$headers) {
            return error(
                StatusCode::UNAUTHORIZED,
                "sign in with the console token first",
            );
        }
    };
}

macro_rules! require_csrf {
    ($state:expr, $headers:expr) => {
        require_session!($state, $headers);
        if !csrf_ok(&$state, &$headers) {
            return error(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
        }
    };
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(State(state): State<AppState>, Json(body): Json<Login>) -> Response {
    if !same(&body.token, state.token.expose()) {
        return error(StatusCode::UNAUTHORIZED, "wrong token");
    }
    let cookie = format!(
        "cb_session={}; HttpOnly; SameSite=Strict; Path=/",
        state.token.expose()
    );
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "csrf": state.csrf.expose() })),
    )
        .into_response()
}

async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    Json(json!({ "csrf": state.csrf.expose() })).into_response()
}

async fn runs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    let host = state.host.lock().await;
    match host.store.runs(200) {
        Ok(r) => Json(json!({ "runs": r })).into_response(),
        Err(e) => run_error(e.into()),
    }
}

async fn run_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_session!(state, headers);
    let host = state.host.lock().await;
    let detail = (|| -> Result<Value, RunError> {
        let row = host.store.run(id)?;
        let plan = host.store.run_plan(id)?;
        let journal = host.store.journal(id)?;
        let decision = host.store.decision(id)?;
        Ok(json!({ "run": row, "plan": plan, "journal": journal, "decision": decision }))
    })();
    match detail {
        Ok(v) => Json(v).into_response(),
        Err(e) => run_error(e),
    }
}

async fn run_input(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_session!(state, headers);
    let host = state.host.lock().await;
    match host.store.run_input(id) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "run {id} has no stored input: a finished run keeps what it changed, not the district it read; only pending and preview runs can be recomputed"
            ),
        ),
        Err(e) => run_error(e.into()),
    }
}

/// The body of an approval: required, JSON, and exactly this shape. A misspelt key must never
/// read as "reject nothing", which would apply every change the admin meant to leave out.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    reject: Vec<String>,
}

/// Reads an approval body, or says why it is refused (415 or 400).
fn approve_body(headers: &HeaderMap, body: &[u8]) -> Result<ApproveBody, (StatusCode, String)> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an approval needs Content-Type: application/json and a body {\"reject\": [op ids]} (an empty list approves everything); nothing was applied".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "the approval body must be exactly {{\"reject\": [op ids]}}: {e}; nothing was applied"
            ),
        )
    })
}

async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    require_csrf!(state, headers);
    let reject = match approve_body(&headers, &body) {
        Ok(b) => b.reject,
        Err((status, message)) => return error(status, message),
    };
    let mut host = state.host.lock().await;
    match host.approve(id, reject, "console").await {
        Ok(r) => Json(json!({ "report": r })).into_response(),
        Err(e) => run_error(e),
    }
}

async fn sync_now(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_csrf!(state, headers);
    let mut host = state.host.lock().await;
    match host.run("console", true).await {
        Ok(r) => Json(json!({ "report": r })).into_response(),
        Err(e) => run_error(e),
    }
}

async fn config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    let host = state.host.lock().await;
    // The engine rules only: no URLs with credentials, no secret references.
    let configured = serde_json::to_value(&host.config.rules).unwrap_or_default();
    let effective = classbridge_engine::config::effective_rules(&host.rules, &configured);
    let warnings = classbridge_engine::config::rules_without_effect(&host.rules);
    Json(json!({ "rules": host.rules, "effective": effective, "warnings": warnings }))
        .into_response()
}

async fn index() -> Html<&'static str> {
    Html(crate::console::INDEX_HTML)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/login", post(login))
        .route("/api/session", get(session))
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(run_detail))
        .route("/api/runs/{id}/input", get(run_input))
        .route("/api/runs/{id}/approve", post(approve))
        .route("/api/sync", post(sync_now))
        .route("/api/config", get(config))
        .merge(crate::console::asset_routes())
        .with_state(state)
}

/// Serves until interrupted; runs scheduled syncs in the background.
pub async fn serve(host: Host, listen: Option<String>) -> Result<(), RunError> {
    let addr = listen.unwrap_or_else(|| host.config.serve.listen.clone());
    let token = match &host.config.serve.token {
        Some(r) => r.resolve().map_err(RunError::ConsoleToken)?,
        None => Secret::new(random_token()),
    };
    let schedule = match &host.config.schedule {
        Some(s) => Some(s.interval()?),
        None => None,
    };
    let state = AppState {
        host: Arc::new(Mutex::new(host)),
        token: Arc::new(token.clone()),
        csrf: Arc::new(Secret::new(random_token())),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| RunError::Listen {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| RunError::Listen {
        addr: addr.clone(),
        source,
    })?;
    // The URL is how the admin gets in; it is printed once, to the terminal that started us.
    println!(
        "classbridge console: http://{local}/#token={}",
        token.expose()
    );
    if let Some(every) = schedule {
        let host = Arc::clone(&state.host);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                // Each run in its own task: a run that fails, or even panics, is logged and the
                // schedule goes on; it must never silently stop later runs.
                let host = Arc::clone(&host);
                let run = tokio::spawn(async move {
                    let mut host = host.lock().await;
                    host.run("schedule", true).await
                });
                match run.await {
                    Ok(Ok(r)) => {
                        tracing::info!(run = r.run, status = r.status.as_str(), "scheduled sync");
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e.describe(), "scheduled sync failed"),
                    Err(e) => {
                        tracing::error!(error = %e, "scheduled sync crashed; the schedule goes on");
                    }
                }
            }
        });
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(RunError::Server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        h
    }

    #[test]
    fn an_approval_body_is_required_typed_and_strict() {
        let ok = approve_body(&json_headers(), br#"{"reject": ["a1"]}"#).unwrap();
        assert_eq!(ok.reject, vec!["a1".to_string()]);
        let status = |h: &HeaderMap, b: &[u8]| approve_body(h, b).unwrap_err().0;
        assert_eq!(
            status(&HeaderMap::new(), br#"{"reject": []}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(status(&json_headers(), b""), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&json_headers(), br#"{"rejects": ["a1"]}"#),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(&json_headers(), br#"{}"#), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&json_headers(), br#"{"reject": "a1"}"#),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn token_comparison_needs_equal_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}

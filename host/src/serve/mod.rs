//! `classbridge serve`: the admin console and its JSON API, and scheduled syncs.
//!
//! The sign-in token is exchanged for an expiring session (cookie) with its own CSRF token;
//! failed sign-ins back off; only loopback or configured host names are answered; beyond
//! loopback the console is served over TLS or not at all (unless `--insecure-http`).

mod changes;
mod export;
mod guard;
mod jobs;
mod sessions;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

pub use guard::AllowedHosts;
pub use jobs::{JobKind, JobState, JobView, Jobs};
pub use sessions::{LoginThrottle, SessionLimits, Sessions, random_token};

use crate::runner::{Host, RunError};
use crate::secrets::Secret;
use sessions::same;

const COOKIE: &str = "cb_session";

#[derive(Clone)]
pub struct AppState {
    /// The one writer: held by the running job, never by a page's request.
    jobs: Arc<jobs::Jobs>,
    /// The console's own connection to the state database, for reads.
    reader: Arc<std::sync::Mutex<crate::store::Store>>,
    /// A second connection, for reading a run's change index in the background while the
    /// console's own answers a page.
    indexer: Arc<std::sync::Mutex<crate::store::Store>>,
    /// The change indexes of the runs being looked at, read once.
    indexes: Arc<changes::IndexCache>,
    /// `/api/config`'s answer, fixed at start (the rules only: no URLs, no secrets).
    rules: Arc<Value>,
    token: Arc<Secret>,
    sessions: Arc<Sessions>,
    throttle: Arc<LoginThrottle>,
    /// Served over TLS: the session cookie is marked `Secure`.
    tls: bool,
    /// Classroom's configured quota, for how long an apply would take.
    quota_per_minute: u32,
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serve.token")]
    Token(#[source] crate::secrets::SecretError),
    #[error(
        "refusing to serve the console over plain HTTP on {addr}, which other machines can reach: set serve.tls_cert and serve.tls_key (PEM files), listen on 127.0.0.1, or pass --insecure-http when a TLS proxy in front of classbridge terminates HTTPS"
    )]
    PlainHttpBeyondLoopback { addr: SocketAddr },
    #[error("the TLS certificate {cert} or key {key} could not be loaded")]
    Tls {
        cert: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// How `serve` was asked to listen.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Overrides `serve.listen`.
    pub listen: Option<String>,
    /// Plain HTTP beyond loopback, for a TLS-terminating proxy in front.
    pub insecure_http: bool,
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .find_map(|p| p.trim().strip_prefix("cb_session="))
}

/// The session's CSRF token when the request carries a live session.
fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state.sessions.touch(cookie_value(headers)?, Instant::now())
}

fn csrf_ok(expected: &str, headers: &HeaderMap) -> bool {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| same(t, expected))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn run_error(e: RunError) -> Response {
    let status = StatusCode::from_u16(jobs::status_of(e.kind())).unwrap_or(StatusCode::CONFLICT);
    error(status, e.describe())
}

macro_rules! require_session {
    ($state:expr, $headers:expr) => {
        match signed_in(&$state, &$headers) {
            Some(csrf) => csrf,
            None => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "not signed in, or the session ended: sign in with the console token",
                );
            }
        }
    };
}

macro_rules! require_csrf {
    ($state:expr, $headers:expr) => {
        let csrf = require_session!($state, $headers);
        if !csrf_ok(&csrf, &$headers) {
            return error(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
        }
    };
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

fn session_cookie(state: &AppState, id: &str, max_age: u64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request_headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let client: IpAddr = client.ip();
    let now = Instant::now();
    if let Some(wait) = state.throttle.wait(client, now) {
        let secs = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Json(json!({
                "error": format!("too many wrong tokens: try again in {secs} s")
            })),
        )
            .into_response();
    }
    let Ok(body) = serde_json::from_slice::<Login>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "sign in with a JSON body {\"token\": \"...\"}",
        );
    };
    if !same(&body.token, state.token.expose()) {
        state.throttle.failed(client, now);
        tracing::warn!(%client, "console sign-in with a wrong token");
        return error(StatusCode::UNAUTHORIZED, "wrong token");
    }
    state.throttle.succeeded(client);
    // A sign-in never reuses a session: whatever cookie came with it is ended.
    if let Some(old) = cookie_value(&request_headers) {
        state.sessions.end(old);
    }
    let mut headers = HeaderMap::new();
    let session = state.sessions.begin(now);
    let max_age = state.sessions.limits().absolute.as_secs();
    if let Ok(v) = session_cookie(&state, &session.id, max_age).parse() {
        headers.insert(header::SET_COOKIE, v);
    }
    (headers, Json(json!({ "csrf": session.csrf }))).into_response()
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_csrf!(state, headers);
    if let Some(id) = cookie_value(&headers) {
        state.sessions.end(id);
    }
    (
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        Json(json!({ "signedOut": true })),
    )
        .into_response()
}

async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = require_session!(state, headers);
    Json(json!({ "csrf": csrf })).into_response()
}

mod runs;

async fn index() -> Html<&'static str> {
    Html(crate::console::INDEX_HTML)
}

pub fn router(state: AppState, guard: guard::Guard) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
        .route("/api/runs", get(runs::runs))
        .route("/api/runs/{id}", get(runs::run_detail))
        .route("/api/runs/{id}/changes", get(runs::run_changes))
        .route("/api/runs/{id}/input", get(runs::run_input))
        .route("/api/runs/{id}/export/{what}", get(runs::export))
        .route("/api/runs/{id}/approve", post(runs::approve))
        .route("/api/runs/{id}/undo", post(runs::undo))
        .route("/api/sync", post(runs::sync_now))
        .route("/api/job", get(runs::job))
        .route("/api/people", get(runs::person))
        .route("/api/config", get(runs::config))
        .merge(crate::console::asset_routes())
        .with_state(state)
        // A large run's pages and plans compress tenfold.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}

/// Serves until interrupted; runs scheduled syncs in the background.
pub async fn serve(host: Host, options: ServeOptions) -> Result<(), RunError> {
    let settings = host.config.serve.clone();
    let addr = options.listen.unwrap_or_else(|| settings.listen.clone());
    let (token, generated) = match &settings.token {
        Some(r) => {
            let token = r.resolve().map_err(ServeError::Token)?;
            settings.check_token(token.expose())?;
            (token, false)
        }
        None => (Secret::new(random_token()), true),
    };
    let limits = SessionLimits {
        idle: settings.session_idle()?,
        absolute: settings.session_max()?,
    };
    let tls_files = settings.tls_files()?;
    let (host_notify, state_path) = (host.config.notify.clone(), host.config.state.clone());
    let schedule = match &host.config.schedule {
        Some(s) => Some(s.interval()?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(&addr).map_err(|source| RunError::Listen {
        addr: addr.clone(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| RunError::Listen {
        addr: addr.clone(),
        source,
    })?;
    let listen_err = |source| RunError::Listen {
        addr: addr.clone(),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_err)?;
    if tls_files.is_none() && !local.ip().is_loopback() {
        if !options.insecure_http {
            return Err(ServeError::PlainHttpBeyondLoopback { addr: local }.into());
        }
        eprintln!(
            "warning: serving the console over plain HTTP on {local} (--insecure-http): only safe behind a proxy that terminates HTTPS"
        );
    }
    let tls = match tls_files {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|source| ServeError::Tls {
                    cert: cert.to_string(),
                    key: key.to_string(),
                    source,
                })?,
        ),
        None => None,
    };
    let reader = crate::store::Store::open(&host.config.state)?;
    let indexer = crate::store::Store::open(&host.config.state)?;
    let configured = serde_json::to_value(&host.config.rules).unwrap_or_default();
    let rules = json!({
        "rules": host.rules,
        "effective": classbridge_engine::config::effective_rules(&host.rules, &configured),
        "warnings": classbridge_engine::config::rules_without_effect(&host.rules),
    });
    let progress = host.progress.clone();
    let quota_per_minute = host.config.classroom.quota_per_minute;
    let jobs = Jobs::new(Arc::new(Mutex::new(host)), progress);
    let state = AppState {
        jobs: Arc::clone(&jobs),
        reader: Arc::new(std::sync::Mutex::new(reader)),
        indexer: Arc::new(std::sync::Mutex::new(indexer)),
        indexes: Arc::default(),
        rules: Arc::new(rules),
        token: Arc::new(token.clone()),
        sessions: Arc::new(Sessions::new(limits)),
        throttle: Arc::new(LoginThrottle::default()),
        tls: tls.is_some(),
        quota_per_minute,
    };
    {
        // A run a job leaves waiting has its index read for the console before the job says
        // done, so its first search is a cache hit.
        let (indexer, indexes) = (Arc::clone(&state.indexer), Arc::clone(&state.indexes));
        jobs.set_warm(Box::new(move |report| {
            if report.plan.is_some() {
                changes::prepare_for_review(&indexer, &indexes, report.run);
            }
        }));
    }
    {
        // The newest run waiting for review (made by `classbridge sync` or before a restart)
        // has its index read now, in the background.
        let (indexer, indexes) = (Arc::clone(&state.indexer), Arc::clone(&state.indexes));
        tokio::task::spawn_blocking(move || {
            let newest = indexer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .runs(20)
                .ok()
                .and_then(|runs| runs.into_iter().find(|r| changes::awaits_review(r.status)));
            if let Some(run) = newest {
                changes::prepare_for_review(&indexer, &indexes, run.id);
            }
        });
    }
    let guard = guard::Guard {
        hosts: Arc::new(AllowedHosts::new(&settings.hostnames, local.ip())),
        tls: tls.is_some(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown = if local.ip().is_unspecified() {
        format!("{scheme}://localhost:{}", local.port())
    } else {
        format!("{scheme}://{local}")
    };
    if generated {
        // The only way in: printed once, to whoever started us, and valid until we stop.
        println!("classbridge console: {shown}/#token={}", token.expose());
    } else {
        // A configured token stays where the admin keeps it, out of logs and journald.
        println!("classbridge console: {shown}/ (sign in with the token in serve.token)");
    }
    if let Some(settings) = host_notify {
        spawn_notify(state_path, settings);
    }
    if let Some(every) = schedule {
        spawn_schedule(jobs, every);
    }
    let app = router(state, guard).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(config) => {
            let handle = axum_server::Handle::new();
            let shutdown = handle.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener, config)
                .map_err(RunError::Server)?
                .handle(handle)
                .serve(app)
                .await
                .map_err(RunError::Server)
        }
        None => {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_err)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .map_err(RunError::Server)
        }
    }
}

/// Every minute, tells what is due (`[notify]`): a run waiting too long, the daily digest,
/// and anything a channel failed to take before. Its own connection to the state database,
/// so the console's never waits on a slow webhook.
fn spawn_notify(state: std::path::PathBuf, settings: crate::notify::NotifySettings) {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let mut store = match crate::store::Store::open(&state) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: the state database could not be opened");
                    continue;
                }
            };
            if let Err(e) =
                crate::notify::scan_and_deliver(&mut store, &settings, &http, chrono::Utc::now())
                    .await
            {
                tracing::warn!(error = %e, "notifications could not be scanned");
            }
        }
    });
}

fn spawn_schedule(jobs: Arc<Jobs>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            // A sync started from the console goes first; the scheduled one follows it. Each
            // run is a job of its own: one that fails, or even panics, is logged and the
            // schedule goes on.
            jobs.wait_idle().await;
            match jobs.start(JobKind::Sync, "schedule", None) {
                Ok(job) => {
                    jobs.wait_idle().await;
                    if let Some(done) = jobs.view().filter(|j| j.id == job.id) {
                        tracing::info!(job = done.id, run = ?done.run, state = ?done.state, "scheduled sync");
                    }
                }
                Err(running) => {
                    tracing::info!(job = running.id, "scheduled sync skipped: a job is running");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use runs::approve_body;

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
}

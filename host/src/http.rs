//! Shared HTTP plumbing: a per-minute request budget, bounded concurrency, and retries with
//! exponential backoff and jitter on 429, 5xx and transport errors, honouring Retry-After.
//! Request and response bodies are never logged: they carry personal data.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{service}: {method} {path} failed: {reason}")]
    Transport {
        service: &'static str,
        method: Method,
        path: String,
        reason: String,
    },
    #[error("{service}: {method} {path} answered {status}: {message}")]
    Status {
        service: &'static str,
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{service}: {method} {path}: the answer is not valid JSON ({reason})")]
    BadJson {
        service: &'static str,
        method: Method,
        path: String,
        reason: String,
    },
    #[error("{service}: authentication failed: {reason}")]
    Auth {
        service: &'static str,
        reason: String,
    },
}

impl HttpError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_connection(&self) -> bool {
        matches!(self, HttpError::Transport { .. } | HttpError::Auth { .. })
    }
}

/// Spaces requests so that no more than `per_minute` start in any minute, and caps how many
/// are in flight.
pub struct Throttle {
    interval: Duration,
    next_slot: Mutex<Instant>,
    in_flight: Semaphore,
}

impl Throttle {
    pub fn new(per_minute: u32, max_concurrency: usize) -> Arc<Throttle> {
        Arc::new(Throttle {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next_slot: Mutex::new(Instant::now()),
            in_flight: Semaphore::new(max_concurrency.max(1)),
        })
    }

    async fn wait_turn(&self) {
        let at = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Pushes every later request back, after a 429 told us the server's budget is spent.
    async fn back_off_all(&self, until: Instant) {
        let mut next = self.next_slot.lock().await;
        if *next < until {
            *next = until;
        }
    }
}

pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_delay);
    // Full jitter: spreads retries of many concurrent requests apart.
    let jitter = rand::rng().random_range(0.5..1.0);
    exp.mul_f64(jitter)
}

/// A short, body-free description of an error answer: Google's `error.status`/`message` or
/// OneRoster's `imsx_description`, cut short.
pub fn error_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return "no details".into();
    };
    let text = v
        .pointer("/error/message")
        .or_else(|| v.pointer("/imsx_description"))
        .or_else(|| v.pointer("/imsx_statusInfo/imsx_description"))
        .or_else(|| v.pointer("/error_description"))
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("no details");
    let status = v.pointer("/error/status").and_then(Value::as_str);
    let mut out: String = text.chars().take(300).collect();
    if let Some(s) = status {
        out = format!("{s}: {out}");
    }
    out
}

/// Sends a request built fresh for every attempt (OAuth 1.0a needs a new nonce each time).
pub async fn send<F>(
    service: &'static str,
    throttle: &Throttle,
    policy: &RetryPolicy,
    method: Method,
    path: &str,
    build: F,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), HttpError>
where
    F: Fn() -> Result<RequestBuilder, HttpError>,
{
    let _permit = throttle
        .in_flight
        .acquire()
        .await
        .map_err(|e| HttpError::Transport {
            service,
            method: method.clone(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    let mut attempt = 0;
    // 429 answers say when to come back; a storm of them is waited out over a longer budget
    // than errors are, since waiting is exactly what the server asked for.
    let mut throttled = 0;
    loop {
        throttle.wait_turn().await;
        let result = build()?.send().await;
        let retryable_wait = match result {
            Ok(resp) => {
                let status = resp.status();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    let wait = retry_after(&resp).unwrap_or_else(|| backoff(policy, attempt));
                    let is_429 = status == StatusCode::TOO_MANY_REQUESTS;
                    if is_429 {
                        throttle.back_off_all(Instant::now() + wait).await;
                    }
                    let exhausted = if is_429 {
                        throttled >= policy.max_retries.saturating_mul(5).max(30)
                    } else {
                        attempt >= policy.max_retries
                    };
                    if exhausted {
                        let body = resp.bytes().await.unwrap_or_default();
                        return Err(HttpError::Status {
                            service,
                            method,
                            path: path.to_string(),
                            status,
                            message: format!(
                                "{} (gave up after {} retries)",
                                error_message(&body),
                                policy.max_retries
                            ),
                        });
                    }
                    tracing::debug!(%status, path, attempt, "retrying");
                    if is_429 {
                        throttled += 1;
                        // Not an error of ours: the backoff exponent stays where it was.
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    wait
                } else {
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| HttpError::Transport {
                        service,
                        method: method.clone(),
                        path: path.to_string(),
                        reason: format!("reading the answer: {e}"),
                    })?;
                    return Ok((status, headers, body.to_vec()));
                }
            }
            Err(e) => {
                if attempt >= policy.max_retries {
                    return Err(HttpError::Transport {
                        service,
                        method,
                        path: path.to_string(),
                        reason: format!(
                            "{} (gave up after {} retries)",
                            describe(&e),
                            policy.max_retries
                        ),
                    });
                }
                tracing::debug!(path, attempt, error = %describe(&e), "retrying");
                backoff(policy, attempt)
            }
        };
        tokio::time::sleep(retryable_wait).await;
        attempt += 1;
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // reqwest errors carry the URL, which may hold query filters but never secrets
        // (OAuth goes in headers); strip it anyway to keep messages short.
        e.without_url_ref().to_string()
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(u) => text.replace(u.as_str(), "<url>"),
            None => text,
        }
    }
}

/// Checks a status is a success and parses the JSON body.
pub fn expect_json(
    service: &'static str,
    method: Method,
    path: &str,
    (status, _, body): (StatusCode, reqwest::header::HeaderMap, Vec<u8>),
) -> Result<Value, HttpError> {
    if !status.is_success() {
        return Err(HttpError::Status {
            service,
            method,
            path: path.to_string(),
            status,
            message: error_message(&body),
        });
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|e| HttpError::BadJson {
        service,
        method,
        path: path.to_string(),
        reason: e.to_string(),
    })
}

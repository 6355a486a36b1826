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
    #[error(
        "{service}: {method} {path}: the answer is larger than {limit_mb} MiB, the limit set by {setting}; it was not read. Raise {setting} if the server is right to send that much"
    )]
    TooLarge {
        service: &'static str,
        method: Method,
        path: String,
        limit_mb: u64,
        setting: &'static str,
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
    /// The longest one `Retry-After` may make us wait.
    pub max_retry_after: Duration,
    /// The largest answer body read, in bytes, and the config setting that raises it.
    pub max_response_bytes: u64,
    pub max_response_setting: &'static str,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_retry_after: MAX_RETRY_AFTER,
            max_response_bytes: DEFAULT_MAX_RESPONSE_MB << 20,
            max_response_setting: "max_response_mb",
        }
    }
}

/// The longest single wait a `Retry-After` header can ask of us. A server that asks for more
/// (a hostile `18446744073709551615` included) gets this; the whole wait is counted against
/// [`MAX_TOTAL_WAIT`].
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// The most one request may spend waiting on 429s and retries before it gives up.
pub const MAX_TOTAL_WAIT: Duration = Duration::from_secs(15 * 60);

/// The default cap on one answer's body: a OneRoster page of 10,000 users is a few MB.
pub const DEFAULT_MAX_RESPONSE_MB: u64 = 256;

/// The longest an OAuth token is trusted, whatever `expires_in` says.
pub const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    parse_retry_after(v)
}

/// Seconds, capped at [`MAX_RETRY_AFTER`]; anything else (an HTTP date, garbage) is ignored and
/// our own backoff applies.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits but too long for u64 is still "very long": cap it.
    let secs = v.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// When a token answered with `expires_in` seconds stops being used: a minute early, and
/// never later than [`MAX_TOKEN_LIFE`] from now, whatever the server says.
pub fn token_deadline(now: Instant, expires_in: Option<u64>) -> Instant {
    let life = Duration::from_secs(expires_in.unwrap_or(3600)).min(MAX_TOKEN_LIFE);
    now.checked_add(life.saturating_sub(Duration::from_secs(60)))
        .unwrap_or(now)
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
    let mut waited = Duration::ZERO;
    loop {
        throttle.wait_turn().await;
        let result = build()?.send().await;
        let retryable_wait = match result {
            Ok(resp) => {
                let status = resp.status();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    let wait = retry_after(&resp)
                        .map(|w| w.min(policy.max_retry_after))
                        .unwrap_or_else(|| backoff(policy, attempt));
                    let is_429 = status == StatusCode::TOO_MANY_REQUESTS;
                    if is_429 && let Some(until) = Instant::now().checked_add(wait) {
                        throttle.back_off_all(until).await;
                    }
                    let exhausted = if is_429 {
                        throttled >= policy.max_retries.saturating_mul(5).max(30)
                    } else {
                        attempt >= policy.max_retries
                    } || waited.saturating_add(wait) > MAX_TOTAL_WAIT;
                    if exhausted {
                        let body = error_body(resp).await;
                        return Err(HttpError::Status {
                            service,
                            method,
                            path: path.to_string(),
                            status,
                            message: format!(
                                "{} (gave up after {} retries and {}s of waiting)",
                                error_message(&body),
                                attempt + throttled,
                                waited.as_secs()
                            ),
                        });
                    }
                    tracing::debug!(%status, path, attempt, "retrying");
                    if is_429 {
                        throttled += 1;
                        waited = waited.saturating_add(wait);
                        // Not an error of ours: the backoff exponent stays where it was.
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    wait
                } else {
                    let headers = resp.headers().clone();
                    let body = read_capped(service, &method, path, policy, resp).await?;
                    return Ok((status, headers, body));
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
        waited = waited.saturating_add(retryable_wait);
        tokio::time::sleep(retryable_wait).await;
        attempt += 1;
    }
}

/// At most about 64 KiB of an answer that should be small (an error, a token): enough for its
/// message, never a hostile flood.
pub async fn error_body(mut resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 << 10 {
            break;
        }
    }
    body
}

/// Reads a body chunk by chunk, refusing it as soon as it passes the policy's cap (a declared
/// `Content-Length` over the cap is refused before reading a byte).
async fn read_capped(
    service: &'static str,
    method: &Method,
    path: &str,
    policy: &RetryPolicy,
    mut resp: Response,
) -> Result<Vec<u8>, HttpError> {
    let too_large = || HttpError::TooLarge {
        service,
        method: method.clone(),
        path: path.to_string(),
        limit_mb: policy.max_response_bytes >> 20,
        setting: policy.max_response_setting,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > policy.max_response_bytes)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > policy.max_response_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(HttpError::Transport {
                    service,
                    method: method.clone(),
                    path: path.to_string(),
                    reason: format!("reading the answer: {}", describe(&e)),
                });
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_capped_and_never_overflows() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn a_huge_token_lifetime_is_capped_not_added_blindly() {
        let now = Instant::now();
        let until = token_deadline(now, Some(u64::MAX));
        assert_eq!(until - now, MAX_TOKEN_LIFE - Duration::from_secs(60));
        assert_eq!(
            token_deadline(now, Some(30)),
            now,
            "a short token is renewed at once"
        );
        assert_eq!(token_deadline(now, None) - now, Duration::from_secs(3540));
    }
}

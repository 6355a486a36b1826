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

/// Any error kept as the cause of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed request. The cause, where there is one, is the error's `source`; show a whole
/// error to people with [`crate::error::chain`] (or anyhow's `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No usable answer: the request could not be built or sent, or its body broke off.
    #[error("{service}: {method} {path}: {what}{}", gave_up(*.retries, None))]
    Transport {
        service: &'static str,
        method: Method,
        path: String,
        what: &'static str,
        retries: u32,
        #[source]
        source: BoxError,
    },
    /// The server answered with an error status.
    #[error("{service}: {method} {path} answered {status}: {answer}{}", gave_up(*.retries, Some(*.waited_secs)))]
    Status {
        service: &'static str,
        method: Method,
        path: String,
        status: StatusCode,
        answer: Box<ErrorAnswer>,
        retries: u32,
        waited_secs: u64,
    },
    /// A listing that cannot be trusted whole (endless, or a page token that came back).
    #[error("{service}: {method} {path}: {problem}")]
    BrokenListing {
        service: &'static str,
        method: Method,
        path: String,
        problem: String,
    },
    #[error("{service}: {method} {path}: the answer is not valid JSON")]
    BadJson {
        service: &'static str,
        method: Method,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{service}: authentication failed")]
    Auth {
        service: &'static str,
        #[source]
        problem: AuthProblem,
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

fn gave_up(retries: u32, waited_secs: Option<u64>) -> String {
    match (retries, waited_secs) {
        (0, _) => String::new(),
        (n, Some(secs)) => format!(" (gave up after {n} retries and {secs}s of waiting)"),
        (n, None) => format!(" (gave up after {n} retries)"),
    }
}

/// Why credentials did not get us in. The texts name what to check; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthProblem {
    #[error("no credentials configured")]
    NoCredentials,
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("could not connect to the token endpoint")]
    TokenEndpointUnreachable(#[source] reqwest::Error),
    #[error("token request failed")]
    TokenRequestFailed(#[source] reqwest::Error),
    #[error("the token endpoint answered {status}: {answer}{hint}")]
    TokenRefused {
        status: StatusCode,
        answer: Box<ErrorAnswer>,
        hint: String,
    },
    #[error("the token endpoint's answer has no access_token")]
    NoAccessToken,
    #[error("the service-account key is not a JSON key with client_email and private_key")]
    BadServiceAccountKey,
    #[error("the service-account private_key is not an RSA PEM key")]
    BadPrivateKey,
    #[error("signing the JWT failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The server refused a fresh token too.
    #[error("{who}{status} on {path}: {answer}{hint}")]
    Refused {
        who: String,
        status: StatusCode,
        path: String,
        answer: Box<ErrorAnswer>,
        hint: &'static str,
    },
    #[error("{who}refused twice")]
    RefusedTwice { who: String },
}

/// What a server said about a failure, read from its body (never the body itself): Google's
/// `error.message`, `error.status` and error code, or OneRoster's `imsx_description`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorAnswer {
    /// The message, cut to 300 characters.
    pub message: String,
    /// Google's canonical status (`FAILED_PRECONDITION`, ...).
    pub status: Option<String>,
    /// Google's error code (`CourseMemberLimitReached`, ...), from the error's details or the
    /// `@Code` that starts its message.
    pub code: Option<String>,
}

impl ErrorAnswer {
    pub fn from_body(body: &[u8]) -> Box<ErrorAnswer> {
        Box::new(ErrorAnswer::read(body))
    }

    fn read(body: &[u8]) -> ErrorAnswer {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return ErrorAnswer::none();
        };
        ErrorAnswer::parse(&v)
    }

    pub fn from_value(v: &Value) -> Box<ErrorAnswer> {
        Box::new(ErrorAnswer::parse(v))
    }

    fn parse(v: &Value) -> ErrorAnswer {
        let text = v
            .pointer("/error/message")
            .or_else(|| v.pointer("/imsx_description"))
            .or_else(|| v.pointer("/imsx_statusInfo/imsx_description"))
            .or_else(|| v.pointer("/error_description"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no details");
        let status = v
            .pointer("/error/status")
            .and_then(Value::as_str)
            .map(str::to_string);
        let from_details = v
            .pointer("/error/details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|d| d.get("reason").and_then(Value::as_str));
        let from_message = text
            .strip_prefix('@')
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
            .filter(|code| !code.is_empty());
        ErrorAnswer {
            message: text.chars().take(300).collect(),
            status,
            code: from_details.or(from_message).map(str::to_string),
        }
    }

    fn none() -> ErrorAnswer {
        ErrorAnswer {
            message: "no details".into(),
            ..ErrorAnswer::default()
        }
    }
}

impl std::fmt::Display for ErrorAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.status {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl HttpError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Google's error code, when the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            HttpError::Status { answer, .. } => answer.code.as_deref(),
            _ => None,
        }
    }

    pub fn is_connection(&self) -> bool {
        matches!(self, HttpError::Transport { .. } | HttpError::Auth { .. })
    }

    /// A failure that is not about the network: a task that panicked, a page we could not keep.
    pub fn local(
        service: &'static str,
        method: Method,
        path: impl Into<String>,
        what: &'static str,
        source: impl Into<BoxError>,
    ) -> HttpError {
        HttpError::Transport {
            service,
            method,
            path: path.into(),
            what,
            retries: 0,
            source: source.into(),
        }
    }
}

/// Spaces requests so that no more than `per_minute` start in any minute, and caps how many
/// are in flight.
pub struct Throttle {
    interval: Duration,
    next_slot: Mutex<Instant>,
    in_flight: Semaphore,
    max_concurrency: usize,
    /// Requests sent (retries included), for the progress a console shows.
    sent: Arc<std::sync::atomic::AtomicU64>,
}

impl Throttle {
    pub fn new(per_minute: u32, max_concurrency: usize) -> Arc<Throttle> {
        Throttle::counted(per_minute, max_concurrency, Arc::default())
    }

    /// A throttle that counts the requests it lets through into `sent`.
    pub fn counted(
        per_minute: u32,
        max_concurrency: usize,
        sent: Arc<std::sync::atomic::AtomicU64>,
    ) -> Arc<Throttle> {
        Arc::new(Throttle {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next_slot: Mutex::new(Instant::now()),
            in_flight: Semaphore::new(max_concurrency.max(1)),
            max_concurrency: max_concurrency.max(1),
            sent,
        })
    }

    /// The same pace, counting into `sent`.
    pub fn counting_into(&self, sent: Arc<std::sync::atomic::AtomicU64>) -> Arc<Throttle> {
        let per_minute = (Duration::from_secs(60).as_nanos() / self.interval.as_nanos().max(1))
            .try_into()
            .unwrap_or(u32::MAX);
        Throttle::counted(per_minute, self.max_concurrency, sent)
    }

    async fn wait_turn(&self) {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

#[derive(Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest one `Retry-After` may make us wait.
    pub max_retry_after: Duration,
    /// The largest answer body read, in bytes, and the config setting that raises it.
    pub max_response_bytes: u64,
    pub max_response_setting: &'static str,
    /// How many 429s one request waits out; unset, five per retry and at least 30. A call
    /// whose 429 may mean a lasting limit rather than a spent quota sets a few.
    pub throttled_retries: Option<u32>,
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
            throttled_retries: None,
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

/// An answer: status, headers and the body read whole.
pub type Answer = (StatusCode, reqwest::header::HeaderMap, Vec<u8>);

/// Sends a request built fresh for every attempt (OAuth 1.0a needs a new nonce each time).
pub async fn send<F>(
    service: &'static str,
    throttle: &Throttle,
    policy: &RetryPolicy,
    method: Method,
    path: &str,
    build: F,
) -> Result<Answer, HttpError>
where
    F: Fn() -> Result<RequestBuilder, HttpError>,
{
    let attempt = || {
        let request = build();
        async move { Ok(request?.send().await) }
    };
    send_via(service, throttle, policy, method, path, attempt).await
}

/// The pacing and retry loop of [`send`] over any transport: `attempt` makes one try (an
/// outer error is one of ours and ends the loop; an inner one is the network's and is
/// retried). Tests drive it with answers made in memory and tokio's paused clock.
pub async fn send_via<T, Fut>(
    service: &'static str,
    throttle: &Throttle,
    policy: &RetryPolicy,
    method: Method,
    path: &str,
    transport: T,
) -> Result<Answer, HttpError>
where
    T: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Result<Response, reqwest::Error>, HttpError>>,
{
    let _permit = throttle.in_flight.acquire().await.map_err(|e| {
        HttpError::local(
            service,
            method.clone(),
            path,
            "the request was cancelled",
            e,
        )
    })?;
    let mut attempt = 0;
    // 429 answers say when to come back; a storm of them is waited out over a longer budget
    // than errors are, since waiting is exactly what the server asked for.
    let mut throttled = 0;
    let mut waited = Duration::ZERO;
    loop {
        throttle.wait_turn().await;
        let result = transport().await?;
        let retryable_wait = match result {
            Ok(resp) => {
                let status = resp.status();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    let wait = retry_after(&resp).map_or_else(
                        || backoff(policy, attempt),
                        |w| w.min(policy.max_retry_after),
                    );
                    let is_429 = status == StatusCode::TOO_MANY_REQUESTS;
                    if is_429 && let Some(until) = Instant::now().checked_add(wait) {
                        throttle.back_off_all(until).await;
                    }
                    let exhausted = if is_429 {
                        throttled
                            >= policy
                                .throttled_retries
                                .unwrap_or_else(|| policy.max_retries.saturating_mul(5).max(30))
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
                            answer: ErrorAnswer::from_body(&body),
                            retries: attempt + throttled,
                            waited_secs: waited.as_secs(),
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
                        what: describe(&e),
                        retries: policy.max_retries,
                        source: Box::new(e.without_url()),
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
                    what: "reading the answer failed",
                    retries: 0,
                    source: Box::new(e.without_url()),
                });
            }
        }
    }
}

/// In a few words, what went wrong; the error itself (without its URL) follows as the cause.
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
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
            answer: ErrorAnswer::from_body(&body),
            retries: 0,
            waited_secs: 0,
        });
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|source| HttpError::BadJson {
        service,
        method,
        path: path.to_string(),
        source,
    })
}

#[cfg(test)]
mod virtual_time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_codes_are_read_from_details_or_the_message_prefix() {
        let from_message = ErrorAnswer::from_body(
            br#"{"error":{"code":400,"message":"@CourseMemberLimitReached The course is full.","status":"FAILED_PRECONDITION"}}"#,
        );
        assert_eq!(
            from_message.code.as_deref(),
            Some("CourseMemberLimitReached")
        );
        assert_eq!(from_message.status.as_deref(), Some("FAILED_PRECONDITION"));
        let from_details = ErrorAnswer::from_body(
            br#"{"error":{"message":"Precondition check failed.","status":"FAILED_PRECONDITION","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CourseTeacherLimitReached"}]}}"#,
        );
        assert_eq!(
            from_details.code.as_deref(),
            Some("CourseTeacherLimitReached")
        );
        // A message that merely mentions a code is not that code.
        let mention = ErrorAnswer::from_body(
            br#"{"error":{"message":"not CourseMemberLimitReached","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(mention.code, None);
        let oneroster = ErrorAnswer::from_body(br#"{"imsx_description":"unknown class"}"#);
        assert_eq!(oneroster.to_string(), "unknown class");
        assert_eq!(ErrorAnswer::from_body(b"<html>").message, "no details");
    }

    #[test]
    fn a_transport_error_keeps_its_cause_and_says_it_once() {
        let e = HttpError::local(
            "Classroom",
            Method::GET,
            "/v1/courses",
            "not a valid URL",
            std::io::Error::other("bad port"),
        );
        assert_eq!(e.to_string(), "Classroom: GET /v1/courses: not a valid URL");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            crate::error::chain(&e),
            "Classroom: GET /v1/courses: not a valid URL: bad port"
        );
    }

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

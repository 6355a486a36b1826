//! Notifications: an admin is told without looking. A held run, a failed or partly failed
//! run, a run waiting for approval longer than `waiting_after`, and a daily digest go to a
//! webhook (JSON, signed with HMAC-SHA256) and by email (SMTP). Events are derived from the
//! runs table and kept in `notifications`, one row per event with one delivery mark per
//! channel: each is delivered once, and one that failed is tried again at the next scan
//! (after every run, each minute under `classbridge serve`, and on `classbridge notify`).

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::secrets::{Secret, SecretRef};
use crate::store::{RunStatus, Store, StoreError};

/// `[notify]`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// A pending run waiting longer than this is notified once (e.g. "4h").
    #[serde(default = "default_waiting_after", with = "humantime_serde_compat")]
    pub waiting_after: Duration,
    /// The time of day (UTC, `HH:MM`) of the daily digest; none without it.
    #[serde(default)]
    pub digest_at: Option<String>,
    #[serde(default)]
    pub webhook: Option<WebhookSettings>,
    #[serde(default)]
    pub email: Option<EmailSettings>,
}

/// `[notify.webhook]`: a POST of the event as JSON, signed with the shared secret.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// The HMAC key the receiver verifies signatures with.
    pub secret: SecretRef,
}

/// How the SMTP connection is protected.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS on the submission port (587).
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// Plain text: only to loopback (a local relay).
    None,
}

/// `[notify.email]`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    pub from: String,
    pub to: Vec<String>,
}

fn default_waiting_after() -> Duration {
    Duration::from_secs(4 * 3600)
}

fn default_smtp_port() -> u16 {
    587
}

/// Durations as humantime strings ("4h", "30m"), as elsewhere in the config.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub(super) fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*v).to_string())
    }
}

impl NotifySettings {
    /// The settings' own checks (the host's config check calls this).
    pub fn check(&self) -> Result<(), String> {
        if self.webhook.is_none() && self.email.is_none() {
            return Err(
                "notify: set [notify.webhook] or [notify.email] (or remove [notify])".into(),
            );
        }
        if let Some(at) = &self.digest_at
            && NaiveTime::parse_from_str(at, "%H:%M").is_err()
        {
            return Err(format!("notify.digest_at = {at:?}: expected HH:MM (UTC)"));
        }
        if let Some(email) = &self.email {
            if email.to.is_empty() {
                return Err("notify.email.to: name at least one recipient".into());
            }
            let loopback = matches!(email.host.as_str(), "localhost" | "127.0.0.1" | "::1");
            if email.tls == SmtpTls::None && !loopback {
                return Err(format!(
                    "notify.email.tls = \"none\" to {}: mail would cross the network in clear; use starttls or tls (plain text is for a relay on loopback)",
                    email.host
                ));
            }
            if email.username.is_some() != email.password.is_some() {
                return Err("notify.email: set username and password together".into());
            }
        }
        Ok(())
    }
}

/// One thing to tell.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique per event: `held:12`, `digest:2026-12-06`; also the delivery id receivers see.
    pub key: String,
    /// `run.held`, `run.failed`, `run.partial`, `run.waiting`, `digest`.
    pub kind: &'static str,
    pub run: Option<i64>,
    /// A line for a subject.
    pub subject: String,
    /// The event as the webhook posts it.
    pub body: Value,
}

/// Failures to deliver, in words without secrets.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification store: {0}")]
    Store(#[from] StoreError),
    #[error("notify: {0}")]
    Secret(#[from] crate::secrets::SecretError),
}

/// The events due now, from the runs the store has seen since notifications were turned on.
pub fn due_events(
    store: &Store,
    settings: &NotifySettings,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, StoreError> {
    let since = store.notify_since(&now.format("%Y-%m-%dT%H:%M:%SZ").to_string())?;
    let mut events = Vec::new();
    for run in store.runs(500)? {
        if run.started_at < since {
            continue;
        }
        let message = run.message.clone().unwrap_or_default();
        let base = json!({
            "run": run.id,
            "status": run.status,
            "trigger": run.trigger,
            "startedAt": run.started_at,
            "finishedAt": run.finished_at,
            "message": message,
            "counts": run.outcome_counts,
        });
        let mut push = |kind: &'static str, key: String, subject: String| {
            let mut body = base.clone();
            body["event"] = json!(kind);
            body["id"] = json!(key);
            events.push(Event {
                key,
                kind,
                run: Some(run.id),
                subject,
                body,
            });
        };
        match run.status {
            RunStatus::Failed => push(
                "run.failed",
                format!("failed:{}", run.id),
                format!("classbridge: run {} failed", run.id),
            ),
            RunStatus::Partial => push(
                "run.partial",
                format!("partial:{}", run.id),
                format!("classbridge: run {} partly failed", run.id),
            ),
            RunStatus::Pending => {
                if message.starts_with("held for approval") {
                    push(
                        "run.held",
                        format!("held:{}", run.id),
                        format!("classbridge: run {} is held for approval", run.id),
                    );
                }
                let waited = DateTime::parse_from_rfc3339(&run.started_at)
                    .ok()
                    .and_then(|t| (now - t.with_timezone(&Utc)).to_std().ok());
                if waited.is_some_and(|w| w >= settings.waiting_after) {
                    push(
                        "run.waiting",
                        format!("waiting:{}", run.id),
                        format!(
                            "classbridge: run {} has waited for approval over {}",
                            run.id,
                            humantime::format_duration(settings.waiting_after)
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    if let Some(at) = settings
        .digest_at
        .as_deref()
        .and_then(|a| NaiveTime::parse_from_str(a, "%H:%M").ok())
        && now.time() >= at
    {
        let day = now.format("%Y-%m-%d").to_string();
        let runs = store.runs(500)?;
        let yesterday = (now - chrono::Duration::hours(24))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for run in runs.iter().filter(|r| r.started_at >= yesterday) {
            let status = serde_json::to_value(run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *counts.entry(status).or_default() += 1;
        }
        let pending: Vec<i64> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Pending)
            .map(|r| r.id)
            .collect();
        let key = format!("digest:{day}");
        events.push(Event {
            key: key.clone(),
            kind: "digest",
            run: None,
            subject: format!("classbridge: daily digest for {day}"),
            body: json!({"event": "digest", "id": key, "day": day, "runsByStatus": counts, "pendingRuns": pending}),
        });
    }
    Ok(events)
}

/// Signs `body` for the webhook: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
/// The timestamp is signed so a captured request cannot be replayed later as new.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Records the events due and delivers every one not yet delivered on each channel.
/// Answers how many deliveries succeeded; a failed one is logged (without secrets) and tried
/// again at the next scan.
pub async fn scan_and_deliver(
    store: &mut Store,
    settings: &NotifySettings,
    http: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    for event in due_events(store, settings, now)? {
        store.add_notification(
            &event.key,
            event.kind,
            event.run,
            &event.subject,
            &event.body,
        )?;
    }
    let mut delivered = 0;
    for pending in store.undelivered_notifications()? {
        if let Some(hook) = &settings.webhook
            && pending.webhook_at.is_none()
        {
            let secret = hook.secret.resolve()?;
            match post_webhook(http, &hook.url, &secret, &pending.key, &pending.body).await {
                Ok(()) => {
                    store.mark_notification(&pending.key, Channel::Webhook, None)?;
                    delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(event = %pending.key, error = %e, "webhook notification not delivered; tried again later");
                    store.mark_notification(&pending.key, Channel::Webhook, Some(&e))?;
                }
            }
        }
        if let Some(email) = &settings.email
            && pending.email_at.is_none()
        {
            match send_email(email, &pending.subject, &pending.body).await {
                Ok(()) => {
                    store.mark_notification(&pending.key, Channel::Email, None)?;
                    delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(event = %pending.key, error = %e, "email notification not delivered; tried again later");
                    store.mark_notification(&pending.key, Channel::Email, Some(&e))?;
                }
            }
        }
    }
    Ok(delivered)
}

/// A delivery channel.
#[derive(Clone, Copy, Debug)]
pub enum Channel {
    Webhook,
    Email,
}

async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: &Secret,
    key: &str,
    body: &Value,
) -> Result<(), String> {
    let text = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let timestamp = Utc::now().timestamp();
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-classbridge-delivery", key)
        .header(
            "x-classbridge-signature",
            signature(secret.expose(), timestamp, &text),
        )
        .timeout(Duration::from_secs(30))
        .body(text)
        .send()
        .await
        .map_err(|e| format!("POST to the webhook failed: {}", crate::error::chain(&e)))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", answer.status()))
    }
}

/// The event as a plain-text mail.
fn email_text(body: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(obj) = body.as_object() {
        for (k, v) in obj {
            if !v.is_null() {
                lines.push(format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                ));
            }
        }
    }
    lines.join("\n")
}

async fn send_email(settings: &EmailSettings, subject: &str, body: &Value) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let mut message = Message::builder()
        .from(
            settings
                .from
                .parse()
                .map_err(|e| format!("notify.email.from: {e}"))?,
        )
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &settings.to {
        message = message.to(to
            .parse()
            .map_err(|e| format!("notify.email.to {to:?}: {e}"))?);
    }
    let message = message
        .body(email_text(body))
        .map_err(|e| format!("the mail could not be built: {e}"))?;
    let builder = match settings.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
            .map_err(|e| format!("SMTP {}: {e}", settings.host))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
            .map_err(|e| format!("SMTP {}: {e}", settings.host))?,
    };
    let mut builder = builder
        .port(settings.port)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        let password = password.resolve().map_err(|e| e.to_string())?;
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "SMTP {}:{} refused the mail: {e}",
                settings.host, settings.port
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> NotifySettings {
        toml::from_str(toml_text).expect("notify settings")
    }

    #[test]
    fn settings_are_checked_in_words() {
        let plain_far = settings(
            "[email]\nhost = \"smtp.district.org\"\ntls = \"none\"\nfrom = \"a@b.org\"\nto = [\"c@b.org\"]",
        );
        assert!(plain_far.check().is_err_and(|e| e.contains("in clear")));
        let local = settings(
            "[email]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\nfrom = \"a@b.org\"\nto = [\"c@b.org\"]",
        );
        assert!(local.check().is_ok());
        assert!(settings("").check().is_err_and(|e| e.contains("webhook")));
        let bad_time = settings(
            "digest_at = \"7am\"\n[webhook]\nurl = \"https://h.example/x\"\nsecret = { env = \"S\" }",
        );
        assert!(bad_time.check().is_err_and(|e| e.contains("HH:MM")));
        let half = settings(
            "[email]\nhost = \"smtp.b.org\"\nusername = \"u\"\nfrom = \"a@b.org\"\nto = [\"c@b.org\"]",
        );
        assert!(half.check().is_err_and(|e| e.contains("together")));
        assert_eq!(
            settings("[webhook]\nurl = \"https://h/x\"\nsecret = { env = \"S\" }").waiting_after,
            Duration::from_secs(4 * 3600)
        );
    }

    #[test]
    fn a_signature_covers_the_timestamp_and_the_body() {
        let a = signature("k", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature("k", 1_700_000_001, b"{}"));
        assert_ne!(a, signature("k", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{}"));
    }
}

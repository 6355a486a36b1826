//! Notifications told and to tell (`crate::notify`): one row per event, with when each
//! channel delivered it, so every event is delivered once per channel.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{Store, StoreError, corrupt, now};
use crate::notify::Channel;

const NOTIFY_SINCE: &str = "notify.since";

/// An event some channel has not delivered yet.
#[derive(Debug, Clone)]
pub struct PendingNotification {
    pub key: String,
    pub subject: String,
    pub body: Value,
    pub webhook_at: Option<String>,
    pub email_at: Option<String>,
}

impl Store {
    /// When notifications were first turned on (`now` at the first call): runs before that
    /// are never notified, so turning them on does not replay a district's history.
    pub fn notify_since(&self, now: &str) -> Result<String, StoreError> {
        self.conn.execute(
            "INSERT INTO host_marks (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            params![NOTIFY_SINCE, now],
        )?;
        Ok(self.conn.query_row(
            "SELECT value FROM host_marks WHERE name = ?1",
            [NOTIFY_SINCE],
            |r| r.get(0),
        )?)
    }

    /// Records an event once; recording it again changes nothing.
    pub fn add_notification(
        &self,
        key: &str,
        kind: &str,
        run: Option<i64>,
        subject: &str,
        body: &Value,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO notifications (key, event, run, subject, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO NOTHING",
            params![key, kind, run, subject, body.to_string(), now()],
        )?;
        Ok(())
    }

    /// Events a channel has not delivered, oldest first.
    pub fn undelivered_notifications(&self) -> Result<Vec<PendingNotification>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key, subject, body, webhook_at, email_at FROM notifications
             WHERE webhook_at IS NULL OR email_at IS NULL ORDER BY created_at, key",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(key, subject, body, webhook_at, email_at)| {
                Ok(PendingNotification {
                    body: serde_json::from_str(&body)
                        .map_err(|e| corrupt("unreadable notification", e))?,
                    key,
                    subject,
                    webhook_at,
                    email_at,
                })
            })
            .collect()
    }

    /// A channel delivered the event (`error` None), or failed to (counted, with its words).
    pub fn mark_notification(
        &self,
        key: &str,
        channel: Channel,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let column = match channel {
            Channel::Webhook => "webhook_at",
            Channel::Email => "email_at",
        };
        match error {
            None => self.conn.execute(
                &format!("UPDATE notifications SET {column} = ?2 WHERE key = ?1"),
                params![key, now()],
            )?,
            Some(e) => self.conn.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2 WHERE key = ?1",
                params![key, e],
            )?,
        };
        Ok(())
    }

    /// When a channel delivered an event, if it did.
    pub fn notification_delivered(
        &self,
        key: &str,
        channel: Channel,
    ) -> Result<Option<String>, StoreError> {
        let column = match channel {
            Channel::Webhook => "webhook_at",
            Channel::Email => "email_at",
        };
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {column} FROM notifications WHERE key = ?1"),
                [key],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }
}

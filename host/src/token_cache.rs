//! An OAuth 2.0 access token kept until shortly before it expires. OneRoster's client
//! credentials and Classroom's service account (a signed JWT) differ only in the request they
//! post to the token endpoint; reading the answer, its lifetime and the cache are shared here.

use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::{HttpError, error_message};
use crate::secrets::Secret;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub struct TokenCache {
    service: &'static str,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub fn new(service: &'static str) -> TokenCache {
        TokenCache {
            service,
            cached: Mutex::new(None),
        }
    }

    pub fn error(&self, reason: impl Into<String>) -> HttpError {
        HttpError::Auth {
            service: self.service,
            reason: reason.into(),
        }
    }

    /// Drops the cached token (after a 401: it may have been revoked or expired early).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The cached token while it is valid; else the one the token endpoint answers to the
    /// request `request` builds. `hint` follows a refusal in the error (what to check).
    pub async fn token(
        &self,
        http: &Client,
        request: impl FnOnce(&Client) -> Result<RequestBuilder, HttpError>,
        hint: &str,
    ) -> Result<Secret, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let resp = request(http)?.send().await.map_err(|e| {
            self.error(if e.is_connect() {
                "could not connect to the token endpoint"
            } else {
                "token request failed"
            })
        })?;
        let status = resp.status();
        let body = crate::http::error_body(resp).await;
        if !status.is_success() {
            return Err(self.error(format!(
                "the token endpoint answered {status}: {}{hint}",
                error_message(&body)
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| self.error("the token endpoint's answer has no access_token"))?;
        let token = Secret::new(answer.access_token);
        *cached = Some((
            token.clone(),
            crate::http::token_deadline(Instant::now(), answer.expires_in),
        ));
        Ok(token)
    }
}

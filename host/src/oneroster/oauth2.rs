//! OAuth 2.0 client credentials with a cached token, refreshed a minute before it expires.

use reqwest::Client;
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
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub fn new(
        service: &'static str,
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    ) -> TokenCache {
        TokenCache {
            service,
            token_url,
            client_id,
            client_secret,
            scope,
            cached: Mutex::new(None),
        }
    }

    /// Drops the cached token (after a 401: it may have been revoked or expired early).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    pub async fn token(&self, http: &Client) -> Result<Secret, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.clone()));
        }
        let auth = |reason: String| HttpError::Auth {
            service: self.service,
            reason,
        };
        let resp = http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                auth(if e.is_connect() {
                    "could not connect to the token endpoint".into()
                } else {
                    "token request failed".into()
                })
            })?;
        let status = resp.status();
        let body = crate::http::error_body(resp).await;
        if !status.is_success() {
            return Err(auth(format!(
                "the token endpoint answered {status}: {}",
                error_message(&body)
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| auth("the token endpoint's answer has no access_token".into()))?;
        let until = crate::http::token_deadline(Instant::now(), answer.expires_in);
        let token = Secret::new(answer.access_token);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

//! An OAuth 2.0 access token kept until shortly before it expires. OneRoster's client
//! credentials and Classroom's service account (a signed JWT) differ only in the request they
//! post to the token endpoint; reading the answer, its lifetime and the cache are shared here.

use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::{AuthProblem, ErrorAnswer, HttpError};
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

    pub fn error(&self, problem: AuthProblem) -> HttpError {
        HttpError::Auth {
            service: self.service,
            problem,
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
            let e = e.without_url();
            self.error(if e.is_connect() {
                AuthProblem::TokenEndpointUnreachable(e)
            } else {
                AuthProblem::TokenRequestFailed(e)
            })
        })?;
        let status = resp.status();
        let body = crate::http::error_body(resp).await;
        if !status.is_success() {
            return Err(self.error(AuthProblem::TokenRefused {
                status,
                answer: ErrorAnswer::from_body(&body),
                hint: hint.to_string(),
            }));
        }
        // Which part of the answer is wrong is not said: it may be the token itself.
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| self.error(AuthProblem::NoAccessToken))?;
        let token = Secret::new(answer.access_token);
        *cached = Some((
            token.clone(),
            crate::http::token_deadline(Instant::now(), answer.expires_in),
        ));
        Ok(token)
    }
}

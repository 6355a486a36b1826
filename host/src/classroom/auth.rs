//! Classroom credentials: a service account with domain-wide delegation (a JWT signed with
//! RS256, exchanged for an access token that is cached and refreshed) or a fixed bearer token.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::{HttpError, error_message};
use crate::secrets::Secret;

const SERVICE: &str = "Classroom";

pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/classroom.courses",
    "https://www.googleapis.com/auth/classroom.rosters",
    "https://www.googleapis.com/auth/classroom.topics",
    "https://www.googleapis.com/auth/classroom.coursework.students",
    "https://www.googleapis.com/auth/classroom.profile.emails",
];

#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub enum ClassroomAuth {
    Fixed(Secret),
    ServiceAccount {
        client_email: String,
        private_key: Secret,
        subject: String,
        token_url: String,
        cached: Mutex<Option<(Secret, Instant)>>,
    },
}

fn auth_error(reason: impl Into<String>) -> HttpError {
    HttpError::Auth {
        service: SERVICE,
        reason: reason.into(),
    }
}

impl ClassroomAuth {
    pub fn service_account(
        key_json: &Secret,
        subject: String,
        token_url: String,
    ) -> Result<ClassroomAuth, HttpError> {
        let key: ServiceAccountKey = serde_json::from_str(key_json.expose()).map_err(|_| {
            auth_error(
                "the service-account key is not a JSON key with client_email and private_key",
            )
        })?;
        Ok(ClassroomAuth::ServiceAccount {
            client_email: key.client_email,
            private_key: Secret::new(key.private_key),
            subject,
            token_url,
            cached: Mutex::new(None),
        })
    }

    pub async fn invalidate(&self) {
        if let ClassroomAuth::ServiceAccount { cached, .. } = self {
            *cached.lock().await = None;
        }
    }

    pub async fn token(&self, http: &Client) -> Result<Secret, HttpError> {
        let ClassroomAuth::ServiceAccount {
            client_email,
            private_key,
            subject,
            token_url,
            cached,
        } = self
        else {
            let ClassroomAuth::Fixed(token) = self else {
                unreachable!()
            };
            return Ok(token.clone());
        };
        let mut cached = cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            iss: client_email,
            sub: subject,
            scope: SCOPES.join(" "),
            aud: token_url,
            iat: now,
            exp: now + 3600,
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes())
            .map_err(|_| auth_error("the service-account private_key is not an RSA PEM key"))?;
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|e| auth_error(format!("signing the JWT failed: {e}")))?;
        let resp = http
            .post(token_url.as_str())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|_| auth_error("could not reach the token endpoint"))?;
        let status = resp.status();
        let body = crate::http::error_body(resp).await;
        if !status.is_success() {
            return Err(auth_error(format!(
                "the token endpoint answered {status}: {} (is domain-wide delegation granted for these scopes, and is {subject} an admin?)",
                error_message(&body)
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| auth_error("the token endpoint's answer has no access_token"))?;
        let token = Secret::new(answer.access_token);
        *cached = Some((
            token.clone(),
            crate::http::token_deadline(Instant::now(), answer.expires_in),
        ));
        Ok(token)
    }
}

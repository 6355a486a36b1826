//! Classroom credentials: a service account with domain-wide delegation (a JWT signed with
//! RS256, exchanged for an access token that is cached and refreshed) or a fixed bearer token.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::{AuthProblem, HttpError};
use crate::secrets::Secret;
use crate::token_cache::TokenCache;
use reqwest::Client;
use serde::{Deserialize, Serialize};

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

/// With a change feed: `registrations.create` needs the push-notifications scope as well,
/// so domain-wide delegation must grant it (only then is it asked for).
pub const SCOPES_WITH_CHANGE_FEED: &[&str] = &[
    "https://www.googleapis.com/auth/classroom.courses",
    "https://www.googleapis.com/auth/classroom.rosters",
    "https://www.googleapis.com/auth/classroom.topics",
    "https://www.googleapis.com/auth/classroom.coursework.students",
    "https://www.googleapis.com/auth/classroom.profile.emails",
    "https://www.googleapis.com/auth/classroom.push-notifications",
];

/// Pub/Sub is reached as the service account itself (its IAM role on the subscription), not
/// as the admin it acts as for Classroom.
pub const PUBSUB_SCOPES: &[&str] = &["https://www.googleapis.com/auth/pubsub"];

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

pub enum ClassroomAuth {
    Fixed(Secret),
    ServiceAccount {
        client_email: String,
        private_key: Secret,
        subject: String,
        token_url: String,
        scopes: &'static [&'static str],
        cache: TokenCache,
    },
}

fn auth_error(problem: AuthProblem) -> HttpError {
    HttpError::Auth {
        service: SERVICE,
        problem,
    }
}

impl ClassroomAuth {
    pub fn service_account(
        key_json: &Secret,
        subject: String,
        token_url: String,
        scopes: &'static [&'static str],
    ) -> Result<ClassroomAuth, HttpError> {
        // The parse error is not kept: it could quote the key.
        let key: ServiceAccountKey = serde_json::from_str(key_json.expose())
            .map_err(|_| auth_error(AuthProblem::BadServiceAccountKey))?;
        Ok(ClassroomAuth::ServiceAccount {
            client_email: key.client_email,
            private_key: Secret::new(key.private_key),
            subject,
            token_url,
            scopes,
            cache: TokenCache::new(SERVICE),
        })
    }

    /// The same credentials for Cloud Pub/Sub: the service account's own token, Pub/Sub scope.
    pub fn for_pubsub(&self) -> ClassroomAuth {
        match self {
            ClassroomAuth::Fixed(token) => ClassroomAuth::Fixed(token.clone()),
            ClassroomAuth::ServiceAccount {
                client_email,
                private_key,
                token_url,
                ..
            } => ClassroomAuth::ServiceAccount {
                client_email: client_email.clone(),
                private_key: private_key.clone(),
                subject: String::new(),
                token_url: token_url.clone(),
                scopes: PUBSUB_SCOPES,
                cache: TokenCache::new("Cloud Pub/Sub"),
            },
        }
    }

    pub async fn invalidate(&self) {
        if let ClassroomAuth::ServiceAccount { cache, .. } = self {
            cache.invalidate().await;
        }
    }

    pub async fn token(&self, http: &Client) -> Result<Secret, HttpError> {
        let (client_email, private_key, subject, token_url, (scopes, cache)) = match self {
            ClassroomAuth::Fixed(token) => return Ok(token.clone()),
            ClassroomAuth::ServiceAccount {
                client_email,
                private_key,
                subject,
                token_url,
                scopes,
                cache,
            } => (
                client_email,
                private_key,
                subject,
                token_url,
                (scopes, cache),
            ),
        };
        // A fresh JWT for each exchange: it is signed for this moment and lives an hour.
        let request = |http: &Client| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let claims = Claims {
                iss: client_email,
                sub: subject,
                scope: scopes.join(" "),
                aud: token_url,
                iat: now,
                exp: now + 3600,
            };
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes())
                .map_err(|_| auth_error(AuthProblem::BadPrivateKey))?;
            let assertion = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
                &claims,
                &key,
            )
            .map_err(|e| auth_error(AuthProblem::Signing(e)))?;
            Ok(http.post(token_url.as_str()).form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
                ),
                ("assertion", assertion),
            ]))
        };
        let hint = if subject.is_empty() {
            " (may the service account use Pub/Sub: roles/pubsub.subscriber on the subscription?)"
                .to_string()
        } else {
            format!(
                " (is domain-wide delegation granted for these scopes, and is {subject} an admin?)"
            )
        };
        cache.token(http, request, &hint).await
    }
}

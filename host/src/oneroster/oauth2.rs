//! OAuth 2.0 client credentials, with the token cached by [`TokenCache`].

use reqwest::Client;

use crate::http::HttpError;
use crate::secrets::Secret;
use crate::token_cache::TokenCache;

pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    cache: TokenCache,
}

impl ClientCredentials {
    pub fn new(
        service: &'static str,
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    ) -> ClientCredentials {
        ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
            cache: TokenCache::new(service),
        }
    }

    /// Drops the cached token (after a 401: it may have been revoked or expired early).
    pub async fn invalidate(&self) {
        self.cache.invalidate().await;
    }

    pub async fn token(&self, http: &Client) -> Result<Secret, HttpError> {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.clone()));
        }
        let request = |http: &Client| {
            Ok(http
                .post(&self.token_url)
                .basic_auth(&self.client_id, Some(self.client_secret.expose()))
                .form(&form))
        };
        self.cache.token(http, request, "").await
    }
}

//! OneRoster REST client (1.1 and 1.2): signed or token-authenticated reads of whole
//! collections, and idempotent gradebook writes by sourcedId. Also reads CSV bundles.

pub mod csv_bundle;
pub mod oauth1;
pub mod oauth2;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use classbridge_engine::JsonText;
use classbridge_engine::config::OneRosterVersion;
use classbridge_engine::input::{CheckOutcome, Collection, FetchMode};
use classbridge_engine::model::EntityKind;
use rand::RngExt;
use reqwest::{Client, Method, StatusCode, Url};
use serde_json::Value;

use crate::config::{ConfigError, SourceSettings};
use crate::http::{self, AuthProblem, ErrorAnswer, HttpError, RetryPolicy, Throttle};
use crate::secrets::Secret;
use crate::vendor::{self, AuthFlavour};

const SERVICE: &str = "OneRoster";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "source {source_id}: {collection} could not be read completely: {reason}. Nothing was planned: partial data must never become deletions"
    )]
    Incomplete {
        source_id: String,
        collection: String,
        reason: String,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("source {source_id}: {reason}")]
    Setup { source_id: String, reason: String },
    /// A read of the SIS failed; says which source and, in words, how.
    #[error("source '{source_id}': {what}")]
    Read {
        source_id: String,
        what: &'static str,
        #[source]
        error: Box<HttpError>,
    },
}

impl FetchError {
    /// The error naming the source it happened at, in an admin's words: a SIS that could not
    /// be reached reads so, not as a transport error.
    pub fn at_source(self, source_id: &str) -> FetchError {
        match self {
            FetchError::Http(error) => {
                let what = match &error {
                    HttpError::Transport { .. } => "the SIS could not be reached",
                    HttpError::Status { status, .. }
                        if *status == reqwest::StatusCode::UNAUTHORIZED
                            || *status == reqwest::StatusCode::FORBIDDEN =>
                    {
                        "the SIS refused our credentials"
                    }
                    HttpError::Status { .. } => "the SIS answered with an error",
                    HttpError::Auth { .. } => "the SIS could not be signed in to",
                    _ => "the SIS's answer could not be used",
                };
                FetchError::Read {
                    source_id: source_id.to_string(),
                    what,
                    error: Box::new(error),
                }
            }
            other => other,
        }
    }
}

enum Auth {
    Oauth1 { key: String, secret: Secret },
    Oauth2(oauth2::ClientCredentials),
}

pub struct OneRosterClient {
    pub source_id: String,
    pub version: OneRosterVersion,
    rostering_root: String,
    gradebook_root: String,
    page_size: u32,
    auth: Auth,
    http: Client,
    throttle: Arc<Throttle>,
    policy: RetryPolicy,
    max_records: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl OneRosterClient {
    pub fn new(settings: &SourceSettings, http: Client) -> Result<OneRosterClient, FetchError> {
        let setup = |reason: String| FetchError::Setup {
            source_id: settings.id.clone(),
            reason,
        };
        let profile = settings.profile()?;
        let version = settings.version();
        let base = settings
            .base_url
            .as_deref()
            .ok_or_else(|| setup("base_url is not set".into()))?
            .trim_end_matches('/')
            .to_string();
        Url::parse(&base).map_err(|e| {
            setup(format!(
                "base_url {:?}: {e}",
                crate::config::redact_url(&base)
            ))
        })?;
        let (rostering, gradebook) = vendor::service_roots(version, profile.path_prefix);
        let client_id = settings
            .client_id
            .clone()
            .ok_or_else(|| setup("client_id is not set".into()))?;
        let secret = settings
            .client_secret
            .as_ref()
            .ok_or_else(|| setup("client_secret is not set".into()))?
            .resolve()
            .map_err(|e| setup(e.to_string()))?;
        let auth = match settings.auth()? {
            AuthFlavour::Oauth1 => Auth::Oauth1 {
                key: client_id,
                secret,
            },
            AuthFlavour::Oauth2 => {
                let token_url = settings
                    .token_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}{}", profile.token_path));
                let scope = match version {
                    OneRosterVersion::V1_2 => Some(
                        [
                            "roster.readonly",
                            "gradebook.readonly",
                            "gradebook.createput",
                            "gradebook.delete",
                        ]
                        .map(|s| format!("https://purl.imsglobal.org/spec/or/v1p2/scope/{s}"))
                        .join(" "),
                    ),
                    OneRosterVersion::V1_1 => None,
                };
                Auth::Oauth2(oauth2::ClientCredentials::new(
                    SERVICE, token_url, client_id, secret, scope,
                ))
            }
        };
        Ok(OneRosterClient {
            source_id: settings.id.clone(),
            version,
            rostering_root: format!("{base}{rostering}"),
            gradebook_root: format!("{base}{gradebook}"),
            page_size: settings.page_size,
            auth,
            http,
            // The SIS has no published quota: the source's pace, polite by default.
            throttle: Throttle::new(settings.requests_per_minute, settings.max_concurrency),
            policy: RetryPolicy {
                max_response_bytes: settings.max_response_mb.saturating_mul(1 << 20),
                max_response_setting: "max_response_mb (in [[source]])",
                ..RetryPolicy::default()
            },
            max_records: settings.max_records_per_collection,
        })
    }

    /// Counts every request this client sends into `sent` (the console's progress).
    pub fn counting_requests(mut self, sent: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.throttle = self.throttle.counting_into(sent);
        self
    }

    fn root_for(&self, collection: &str) -> &str {
        match collection {
            "categories" | "lineItems" | "results" => &self.gradebook_root,
            _ => &self.rostering_root,
        }
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&JsonText>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), HttpError> {
        let path = url.path().to_string();
        for attempt in 0..2 {
            let bearer = match &self.auth {
                Auth::Oauth2(cache) => Some(cache.token(&self.http).await?),
                Auth::Oauth1 { .. } => None,
            };
            let build = || {
                let mut req = self.http.request(method.clone(), url.clone());
                req = match (&self.auth, &bearer) {
                    (Auth::Oauth1 { key, secret }, _) => {
                        let nonce: String = rand::rng()
                            .sample_iter(rand::distr::Alphanumeric)
                            .take(24)
                            .map(char::from)
                            .collect();
                        req.header(
                            reqwest::header::AUTHORIZATION,
                            oauth1::authorization(
                                method.as_str(),
                                &url,
                                key,
                                secret,
                                &nonce,
                                unix_now(),
                            ),
                        )
                    }
                    (_, Some(token)) => req.bearer_auth(token.expose()),
                    _ => req,
                };
                if let Some(b) = body {
                    req = req.json(b);
                }
                Ok(req)
            };
            let answer = http::send(
                SERVICE,
                &self.throttle,
                &self.policy,
                method.clone(),
                &path,
                build,
            )
            .await?;
            if answer.0 == StatusCode::UNAUTHORIZED
                && attempt == 0
                && let Auth::Oauth2(cache) = &self.auth
            {
                // The token may have expired early or been revoked: fetch a new one once.
                cache.invalidate().await;
                continue;
            }
            if answer.0 == StatusCode::UNAUTHORIZED || answer.0 == StatusCode::FORBIDDEN {
                return Err(HttpError::Auth {
                    service: SERVICE,
                    problem: AuthProblem::Refused {
                        who: format!("source {}: ", self.source_id),
                        status: answer.0,
                        path: path.clone(),
                        answer: ErrorAnswer::from_body(&answer.2),
                        hint: " (check client_id and client_secret, and the server's clock for OAuth 1.0a)",
                    },
                });
            }
            return Ok(answer);
        }
        Err(HttpError::Auth {
            service: SERVICE,
            problem: AuthProblem::RefusedTwice {
                who: format!("source {}: ", self.source_id),
            },
        })
    }

    fn collection_url(
        &self,
        collection: &str,
        offset: u64,
        limit: u32,
        filter: Option<&str>,
    ) -> Result<Url, FetchError> {
        let mut url =
            Url::parse(&format!("{}/{collection}", self.root_for(collection))).map_err(|e| {
                FetchError::Setup {
                    source_id: self.source_id.clone(),
                    reason: e.to_string(),
                }
            })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            q.append_pair("offset", &offset.to_string());
            if let Some(f) = filter {
                q.append_pair("filter", f);
            }
        }
        Ok(url)
    }

    /// Reads one page: the "Test Connection" button.
    pub async fn check(&self) -> Result<usize, FetchError> {
        let url = self.collection_url("orgs", 0, 1, None)?;
        let answer = self.call(Method::GET, url.clone(), None).await?;
        let page = http::expect_json(SERVICE, Method::GET, url.path(), answer)?;
        page.get("orgs")
            .and_then(Value::as_array)
            .map(Vec::len)
            .ok_or_else(|| FetchError::Incomplete {
                source_id: self.source_id.clone(),
                collection: "orgs".into(),
                reason: "the answer has no 'orgs' envelope".into(),
            })
    }

    /// Every page of a collection. Pages until an empty page (servers cap `limit` silently, so a
    /// short page proves nothing), follows `Link: rel="next"` when given, and cross-checks
    /// `X-Total-Count`. Anything short of the whole collection is an error.
    pub async fn fetch_collection(
        &self,
        collection: &str,
        since: Option<&str>,
        on_page: &(dyn Fn(usize) + Sync),
    ) -> Result<Collection, FetchError> {
        let incomplete = |reason: String| FetchError::Incomplete {
            source_id: self.source_id.clone(),
            collection: collection.to_string(),
            reason,
        };
        let filter = since.map(|t| format!("dateLastModified>'{t}'"));
        let mut pages = Vec::new();
        let mut offset: u64 = 0;
        let mut total: Option<u64> = None;
        let mut previous_ids: Vec<Option<String>> = Vec::new();
        // The last record of the page before the previous one, for probing offset support.
        let mut before_previous: Option<String> = None;
        let mut next_url =
            Some(self.collection_url(collection, 0, self.page_size, filter.as_deref())?);
        while let Some(url) = next_url.take() {
            let answer = self.call(Method::GET, url.clone(), None).await?;
            let headers = answer.1.clone();
            let page =
                http::expect_json(SERVICE, Method::GET, url.path(), answer).map_err(|e| {
                    incomplete(format!(
                        "page at offset {offset}: {}",
                        crate::error::chain(&e)
                    ))
                })?;
            let Some(records) = page.get(collection).and_then(Value::as_array) else {
                return Err(incomplete(format!(
                    "the page at offset {offset} has no '{collection}' list (an envelope is required; it is never read as empty)"
                )));
            };
            let count = records.len() as u64;
            if let Some(t) = headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                if total.is_some_and(|old| old != t) {
                    return Err(incomplete(format!(
                        "X-Total-Count changed from {} to {t} while paging: the data changed under us",
                        total.unwrap_or_default()
                    )));
                }
                total = Some(t);
            }
            if count == 0 {
                break;
            }
            let ids: Vec<Option<String>> = records
                .iter()
                .map(|r| {
                    r.get("sourcedId")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            if ids == previous_ids {
                // The same page again: either offset is ignored (every page is the first),
                // or the server answers an offset past the end with its last page. One
                // record read at a known position tells them apart.
                let previous_offset = offset - count;
                match self
                    .offsets_honoured(
                        collection,
                        filter.as_deref(),
                        previous_offset,
                        &previous_ids,
                        before_previous.as_deref(),
                    )
                    .await?
                {
                    OffsetProbe::Honoured => {
                        tracing::info!(source = %self.source_id, collection, offset, "the server repeats its last page past the end; the read is complete");
                        break;
                    }
                    OffsetProbe::Ignored => {
                        return Err(incomplete(format!(
                            "the server sent the same page again at offset {offset}, and a probe shows it ignores offset: paging cannot reach the rest"
                        )));
                    }
                    OffsetProbe::Ambiguous => {
                        return Err(incomplete(format!(
                            "the server sent the same one-record page again at offset {offset}; with one record it cannot be told whether it ignores offset or repeats its last page past the end, so the read is not trusted. A server that sends X-Total-Count or Link headers avoids this"
                        )));
                    }
                }
            }
            before_previous = previous_ids.last().cloned().flatten();
            previous_ids = ids;
            offset += count;
            if offset > self.max_records {
                return Err(incomplete(format!(
                    "more than {} records and still reading: the collection looks endless (max_records_per_collection in [[source]] raises the limit)",
                    self.max_records
                )));
            }
            // Held as text until the engine reads it: a parsed page takes several times more.
            pages.push(JsonText::from_value(&page).map_err(|e| {
                incomplete(format!("the page at offset {offset} cannot be kept: {e}"))
            })?);
            on_page(offset as usize);
            if total.is_some_and(|t| offset >= t) {
                break;
            }
            next_url = match link_next(&headers) {
                Some(next) => {
                    let next = Url::parse(&next)
                        .or_else(|_| url.join(&next))
                        .map_err(|e| incomplete(format!("bad Link header: {e}")))?;
                    // Credentials go with every request: a link elsewhere would hand them, and
                    // the trust we give SIS data, to whoever the header names.
                    if next.origin() != url.origin() {
                        return Err(incomplete(format!(
                            "the Link header's next page is on another origin ({}), not the SIS's ({}); it was not followed",
                            next.origin().ascii_serialization(),
                            url.origin().ascii_serialization()
                        )));
                    }
                    Some(next)
                }
                None => Some(self.collection_url(
                    collection,
                    offset,
                    self.page_size,
                    filter.as_deref(),
                )?),
            };
        }
        if let Some(t) = total
            && t != offset
        {
            return Err(incomplete(format!(
                "X-Total-Count says {t} records but {offset} arrived"
            )));
        }
        Ok(Collection {
            mode: if since.is_some() {
                FetchMode::Delta
            } else {
                FetchMode::Full
            },
            pages,
        })
    }

    /// Whether the server honours `offset`, judged by reading one record whose position is
    /// known: the second record of the previous page, or else the record just before it.
    async fn offsets_honoured(
        &self,
        collection: &str,
        filter: Option<&str>,
        previous_offset: u64,
        previous_ids: &[Option<String>],
        before_previous: Option<&str>,
    ) -> Result<OffsetProbe, FetchError> {
        let (at, expected, first_of_page) = match (previous_ids, before_previous) {
            ([Some(first), Some(second), ..], _) => (previous_offset + 1, second.as_str(), first),
            ([Some(only)], Some(before)) if previous_offset > 0 => {
                (previous_offset - 1, before, only)
            }
            ([Some(only)], None) if previous_offset == 0 => {
                // A one-record collection answered at offset 0 and again past it. If two
                // records are asked for and one comes, the collection is that record: only a
                // server capping pages at one record *and* ignoring offset could hide more,
                // and such a server fails every larger collection.
                let url = self.collection_url(collection, 0, 2, filter)?;
                let answer = self.call(Method::GET, url.clone(), None).await?;
                let page = http::expect_json(SERVICE, Method::GET, url.path(), answer)?;
                let ids: Vec<&str> = page
                    .get(collection)
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(|r| r.get("sourcedId").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(if ids == [only.as_str()] {
                    OffsetProbe::Honoured
                } else {
                    OffsetProbe::Ambiguous
                });
            }
            _ => return Ok(OffsetProbe::Ambiguous),
        };
        let url = self.collection_url(collection, at, 1, filter)?;
        let answer = self.call(Method::GET, url.clone(), None).await?;
        let page = http::expect_json(SERVICE, Method::GET, url.path(), answer)?;
        let got = page
            .get(collection)
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(|r| r.get("sourcedId"))
            .and_then(Value::as_str);
        Ok(match got {
            Some(id) if id == expected => OffsetProbe::Honoured,
            Some(id) if id == first_of_page.as_str() => OffsetProbe::Ignored,
            _ => OffsetProbe::Ambiguous,
        })
    }

    /// Asks the SIS for one record a complete listing left out: is it really gone? Only a
    /// 404 (or the record marked `tobedeleted`) says so; anything else keeps the record.
    pub async fn check_absence(
        &self,
        collection: &str,
        sourced_id: &str,
    ) -> (CheckOutcome, String) {
        let url = match self.record_url(collection, sourced_id) {
            Ok(url) => url,
            Err(e) => {
                return (
                    CheckOutcome::Unknown,
                    format!("could not ask for it: {}", crate::error::chain(&e)),
                );
            }
        };
        let asked = format!("GET {}", url.path());
        let answer = match self.call(Method::GET, url.clone(), None).await {
            Ok(answer) => answer,
            Err(e) => {
                return (
                    CheckOutcome::Unknown,
                    format!("{asked} failed: {}", crate::error::chain(&e)),
                );
            }
        };
        let status = answer.0;
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return (
                CheckOutcome::Gone,
                format!("{asked} answered {}", status.as_u16()),
            );
        }
        let singular =
            EntityKind::from_collection(collection).map_or("record", |(kind, _)| kind.singular());
        match http::expect_json(SERVICE, Method::GET, url.path(), answer) {
            Ok(body) => match body.get(singular).and_then(|r| r.get("sourcedId")) {
                Some(_) if body[singular]["status"] == "tobedeleted" => (
                    CheckOutcome::Gone,
                    format!("{asked} answered with the record marked tobedeleted"),
                ),
                Some(id) if id == sourced_id => (
                    CheckOutcome::Present,
                    format!("{asked} answered {} with the record", status.as_u16()),
                ),
                _ => (
                    CheckOutcome::Unknown,
                    format!(
                        "{asked} answered {} without the {singular}",
                        status.as_u16()
                    ),
                ),
            },
            Err(e) => (
                CheckOutcome::Unknown,
                format!("{asked}: {}", crate::error::chain(&e)),
            ),
        }
    }

    fn record_url(&self, collection: &str, sourced_id: &str) -> Result<Url, HttpError> {
        let url = format!(
            "{}/{collection}/{}",
            self.root_for(collection),
            oauth1::encode(sourced_id)
        );
        Url::parse(&url)
            .map_err(|e| HttpError::local(SERVICE, Method::PUT, collection, "not a valid URL", e))
    }

    /// The record as the SIS has it now (envelope included), or `Absent` (404): kept in the
    /// journal before a write replaces it, so an undo can put it back.
    pub async fn read_record(
        &self,
        collection: &str,
        sourced_id: &str,
    ) -> Result<classbridge_engine::undo::PriorRecord, HttpError> {
        use classbridge_engine::undo::PriorRecord;
        let url = self.record_url(collection, sourced_id)?;
        let answer = self.call(Method::GET, url.clone(), None).await?;
        if answer.0 == StatusCode::NOT_FOUND || answer.0 == StatusCode::GONE {
            return Ok(PriorRecord::Absent);
        }
        http::expect_json(SERVICE, Method::GET, url.path(), answer).map(PriorRecord::Record)
    }

    /// PUT by sourcedId: creates or replaces, so a retry never duplicates.
    pub async fn put(
        &self,
        collection: &str,
        sourced_id: &str,
        body: &JsonText,
    ) -> Result<(), HttpError> {
        let url = self.record_url(collection, sourced_id)?;
        let answer = self.call(Method::PUT, url.clone(), Some(body)).await?;
        http::expect_json(SERVICE, Method::PUT, url.path(), answer).map(|_| ())
    }

    /// DELETE by sourcedId; already gone counts as done.
    pub async fn delete(&self, collection: &str, sourced_id: &str) -> Result<(), HttpError> {
        let url = self.record_url(collection, sourced_id)?;
        let answer = self.call(Method::DELETE, url.clone(), None).await?;
        if answer.0 == StatusCode::NOT_FOUND {
            return Ok(());
        }
        http::expect_json(SERVICE, Method::DELETE, url.path(), answer).map(|_| ())
    }
}

/// What one probing read says about a server's paging.
enum OffsetProbe {
    Honoured,
    Ignored,
    Ambiguous,
}

/// `Link: <url>; rel="next", <url>; rel="last"` -> the next url.
fn link_next(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                p.trim().trim_matches('"') == "rel=\"next\""
                    || p.trim() == "rel=\"next\""
                    || p.trim() == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// The time a delta read may start from, a little before the last read to cover clock skew.
pub fn delta_since(last_read: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(last_read).ok()?;
    let t = t - chrono::Duration::from_std(Duration::from_secs(600)).ok()?;
    Some(t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_sis_that_cannot_be_reached_is_named_in_words() {
        let unreachable = FetchError::Http(HttpError::Transport {
            service: SERVICE,
            method: Method::GET,
            path: "/ims/oneroster/v1p1/users".into(),
            what: "could not connect",
            retries: 6,
            source: "connection refused".into(),
        });
        let text = crate::error::chain(&unreachable.at_source("riverside"));
        assert!(
            text.starts_with(
                "source 'riverside': the SIS could not be reached: OneRoster: GET /ims/oneroster/v1p1/users: could not connect"
            ),
            "{text}"
        );
    }

    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LINK};

    #[test]
    fn link_next_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://x/users?offset=0>; rel=\"first\", <https://x/users?offset=100>; rel=\"next\"",
            ),
        );
        assert_eq!(link_next(&h).as_deref(), Some("https://x/users?offset=100"));
        assert_eq!(link_next(&HeaderMap::new()), None);
    }

    #[test]
    fn delta_reads_reach_back_ten_minutes() {
        assert_eq!(
            delta_since("2026-11-22T10:00:00Z").as_deref(),
            Some("2026-11-22T09:50:00Z")
        );
    }
}

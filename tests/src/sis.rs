//! A stand-in OneRoster provider on loopback: 1.1 (`/ims/oneroster/v1p1`) and 1.2
//! (`/ims/oneroster/rostering/v1p2`, `/ims/oneroster/gradebook/v1p2`) under a vendor prefix,
//! OAuth 1.0a HMAC-SHA256 signatures checked per RFC 5849 (bad signature, stale timestamp or
//! reused nonce → 401) or OAuth 2.0 client-credentials tokens with expiry, limit/offset paging
//! with X-Total-Count, `filter`, and gradebook PUT/GET/DELETE.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::district::District;
use crate::faults::Faults;

#[derive(Clone, Debug)]
pub enum SisAuth {
    Oauth1 {
        key: String,
        secret: String,
    },
    Oauth2 {
        client_id: String,
        secret: String,
        ttl: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct SisSpec {
    /// "1.1" or "1.2".
    pub version: String,
    /// Vendor prefix before the OneRoster path, e.g. "/api".
    pub prefix: String,
    pub auth: SisAuth,
}

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub unauthorized: AtomicU64,
}

pub struct SisState {
    pub spec: SisSpec,
    pub district: Mutex<District>,
    /// (collection, sourcedId) -> record, for lineItems, results and written categories.
    pub gradebook: Mutex<BTreeMap<(String, String), Value>>,
    /// Every request's method, path and query, in order (no headers: they carry credentials).
    pub log: Mutex<Vec<String>>,
    /// Records deleted through `with_district`, as `tobedeleted`, for delta reads.
    pub tombstones: Mutex<Vec<(String, Value)>>,
    nonces: Mutex<HashSet<(String, String)>>,
    tokens: Mutex<HashMap<String, (Instant, u32)>>,
    pub faults: Faults,
    pub counters: Counters,
    /// The vendor profile's limits on writes (tests set them).
    pub write_limits: Mutex<crate::sis_writes::WriteLimits>,
    /// What writes may refer to, rebuilt after the district changes.
    index: Mutex<Option<Arc<crate::sis_writes::DistrictIndex>>>,
    /// Where each record sits in its collection, rebuilt after the district changes.
    positions: Mutex<Option<Arc<RecordPositions>>>,
}

/// Where each record of the district sits in its collection, by sourcedId. A lookup by id
/// scanned the collection: a removal check asks about a record that is absent, so each cost
/// the whole collection (1.6M enrolments at L, under the district's lock), and a full read's
/// 5,000 checks kept L's host waiting for many minutes.
#[derive(Debug, Default)]
pub struct RecordPositions {
    by_collection: HashMap<&'static str, HashMap<String, usize>>,
}

impl RecordPositions {
    fn of(d: &District) -> RecordPositions {
        let mut by_collection = HashMap::new();
        for name in classbridge_engine::model::EntityKind::ROSTER
            .map(classbridge_engine::model::EntityKind::collection)
        {
            let mut positions = HashMap::new();
            for (i, record) in d.collection(name).into_iter().flatten().enumerate() {
                if let Some(id) = record["sourcedId"].as_str() {
                    // The first of two records with one id, as a scan would find.
                    positions.entry(id.to_string()).or_insert(i);
                }
            }
            by_collection.insert(name, positions);
        }
        RecordPositions { by_collection }
    }

    /// The record of `collection` with `id`: `None` when it has none, or when the
    /// collection is not indexed (then the caller scans).
    fn find<'d>(&self, d: &'d District, collection: &str, id: &str) -> Option<Option<&'d Value>> {
        let positions = self.by_collection.get(collection)?;
        let all = d.collection(collection)?;
        Some(
            positions
                .get(id)
                .and_then(|&i| all.get(i))
                .filter(|r| r["sourcedId"] == id),
        )
    }
}

impl SisState {
    // Locks are taken district first, then an index, as `with_district` takes them: it
    // clears the indexes while it holds the district.
    fn district_index(&self) -> Arc<crate::sis_writes::DistrictIndex> {
        let d = self
            .district
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut slot = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slot.get_or_insert_with(|| Arc::new(crate::sis_writes::DistrictIndex::of(&d))))
    }

    /// The positions of `d`'s records; `d` is this state's district, locked by the caller.
    fn positions(&self, d: &District) -> Arc<RecordPositions> {
        let mut slot = self
            .positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slot.get_or_insert_with(|| Arc::new(RecordPositions::of(d))))
    }
}

impl crate::sis_writes::Written for SisState {
    fn written(&self, collection: &str, id: &str) -> Option<Value> {
        self.gradebook
            .lock()
            .ok()?
            .get(&(collection.to_string(), id.to_string()))
            .cloned()
    }
}

pub struct StandInSis {
    pub addr: SocketAddr,
    pub state: Arc<SisState>,
}

impl StandInSis {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The collection reads (GET of a whole collection, with its query) logged from `from` on:
    /// `(collection, whether it asked for changes only)`.
    pub fn collection_reads(&self, from: usize) -> Vec<(String, bool)> {
        let log = self.state.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.iter()
            .skip(from)
            .filter_map(|line| {
                let uri = line.strip_prefix("GET ")?;
                let (path, query) = uri.split_once('?')?;
                let collection = path.rsplit('/').next()?;
                let delta = percent_decode_str(query)
                    .decode_utf8_lossy()
                    .contains("dateLastModified>");
                Some((collection.to_string(), delta))
            })
            .collect()
    }

    /// How many requests the stand-in has logged.
    pub fn logged(&self) -> usize {
        self.state.log.lock().map(|l| l.len()).unwrap_or_default()
    }

    pub fn writes(&self) -> u64 {
        self.state.counters.writes.load(Ordering::SeqCst)
    }

    pub fn gradebook(&self, collection: &str) -> Vec<Value> {
        written_records(&self.state, collection)
    }

    /// Everything written to the gradebook, by collection and sourcedId, for comparing the
    /// final state of two runs.
    pub fn canonical_gradebook(&self) -> Value {
        self.state.gradebook.lock().map_or(Value::Null, |g| {
            let mut out = serde_json::Map::new();
            for ((collection, id), record) in g.iter() {
                out.insert(format!("{collection}/{id}"), record.clone());
            }
            Value::Object(out)
        })
    }

    /// Changes the district as the SIS's users would. Like a real SIS, every record the
    /// change adds or alters gets a fresh `dateLastModified` (unless `stale_modified_dates`),
    /// and every record it deletes is kept as a `tobedeleted` tombstone that delta reads
    /// (`filter=dateLastModified>…`) are served (unless `no_tombstones`).
    pub fn with_district<R>(&self, f: impl FnOnce(&mut District) -> R) -> R {
        let mut d = self
            .state
            .district
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = d.clone();
        let out = f(&mut d);
        if let Ok(mut index) = self.state.index.lock() {
            *index = None;
        }
        if let Ok(mut positions) = self.state.positions.lock() {
            *positions = None;
        }
        let now = modified_now();
        let stamp = !Faults::on(&self.state.faults.stale_modified_dates);
        let mut deleted = Vec::new();
        for name in classbridge_engine::model::EntityKind::ROSTER
            .map(classbridge_engine::model::EntityKind::collection)
        {
            let old: HashMap<&str, &Value> = before
                .collection(name)
                .into_iter()
                .flatten()
                .filter_map(|r| r["sourcedId"].as_str().map(|id| (id, r)))
                .collect();
            let mut kept: HashSet<String> = HashSet::new();
            for record in d.collection_mut(name).into_iter().flatten() {
                let Some(id) = record["sourcedId"].as_str().map(str::to_string) else {
                    continue;
                };
                let changed = old.get(id.as_str()).is_none_or(|was| *was != &*record);
                if changed && stamp {
                    record["dateLastModified"] = json!(now);
                }
                kept.insert(id);
            }
            // A record deleted and then made again is no longer a deletion.
            if let Ok(mut t) = self.state.tombstones.lock() {
                t.retain(|(c, r)| {
                    c != name || !r["sourcedId"].as_str().is_some_and(|id| kept.contains(id))
                });
            }
            for (id, record) in old {
                if !kept.contains(id) {
                    let mut tombstone = record.clone();
                    tombstone["status"] = json!("tobedeleted");
                    tombstone["dateLastModified"] = json!(now);
                    deleted.push((name.to_string(), tombstone));
                }
            }
        }
        if let Ok(mut t) = self.state.tombstones.lock() {
            t.extend(deleted);
        }
        out
    }
}

/// The time a change is stamped with, as OneRoster writes `dateLastModified`.
fn modified_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub async fn start(spec: SisSpec, district: District) -> std::io::Result<StandInSis> {
    let category_required = spec.version == "1.2";
    let state = Arc::new(SisState {
        spec,
        district: Mutex::new(district),
        gradebook: Mutex::new(BTreeMap::new()),
        tombstones: Mutex::new(Vec::new()),
        log: Mutex::new(Vec::new()),
        nonces: Mutex::new(HashSet::new()),
        tokens: Mutex::new(HashMap::new()),
        faults: Faults::default(),
        counters: Counters::default(),
        write_limits: Mutex::new(crate::sis_writes::WriteLimits {
            title_max: None,
            category_required,
        }),
        index: Mutex::new(None),
        positions: Mutex::new(None),
    });
    let app = Router::new()
        .fallback(handle_with_faults)
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(StandInSis { addr, state })
}

fn ims_error(status: StatusCode, minor: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "imsx_codeMajor": "failure",
            "imsx_severity": "error",
            "imsx_description": description,
            "imsx_CodeMinor": { "imsx_codeMinorField": [{ "imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor }] }
        })),
    )
        .into_response()
}

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pct(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// RFC 5849 §3.4.1 signature base string, from the request as received.
fn base_string(method: &Method, host: &str, uri: &Uri, oauth: &[(String, String)]) -> String {
    let mut params: Vec<(String, String)> = query_pairs(uri)
        .into_iter()
        .chain(
            oauth
                .iter()
                .filter(|(k, _)| k != "oauth_signature" && k != "realm")
                .cloned(),
        )
        .map(|(k, v)| (pct(&k), pct(&v)))
        .collect();
    params.sort();
    let joined: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let base_uri = format!("http://{}{}", host.to_ascii_lowercase(), uri.path());
    format!(
        "{}&{}&{}",
        method.as_str(),
        pct(&base_uri),
        pct(&joined.join("&"))
    )
}

fn check_oauth1(
    state: &SisState,
    key: &str,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), String> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let params = auth.strip_prefix("OAuth ").ok_or("not an OAuth header")?;
    let oauth: Vec<(String, String)> = params
        .split(',')
        .filter_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            Some((k.to_string(), decode(v.trim_matches('"'))))
        })
        .collect();
    let get = |k: &str| oauth.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("oauth_consumer_key").as_deref() != Some(key) {
        return Err("unknown consumer key".into());
    }
    if get("oauth_signature_method").as_deref() != Some("HMAC-SHA256") {
        return Err("signature method must be HMAC-SHA256".into());
    }
    let ts: u64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("no timestamp")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if now.abs_diff(ts) > 600 {
        return Err("stale timestamp".into());
    }
    let nonce = get("oauth_nonce").ok_or("no nonce")?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base = base_string(method, host, uri, &oauth);
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("{}&", pct(secret)).as_bytes())
        .map_err(|e| e.to_string())?;
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if get("oauth_signature").as_deref() != Some(expected.as_str()) {
        return Err("bad signature".into());
    }
    let mut nonces = state.nonces.lock().map_err(|e| e.to_string())?;
    if !nonces.insert((ts.to_string(), nonce)) {
        return Err("reused nonce".into());
    }
    Ok(())
}

fn check_bearer(state: &SisState, headers: &HeaderMap) -> Result<(), String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?;
    let mut tokens = state.tokens.lock().map_err(|e| e.to_string())?;
    let limit = state.faults.token_uses.load(Ordering::SeqCst);
    let Some((expiry, uses)) = tokens.get_mut(token) else {
        return Err("unknown token".into());
    };
    *uses += 1;
    if Instant::now() > *expiry || (limit > 0 && *uses > limit) {
        return Err("token expired".into());
    }
    Ok(())
}

fn issue_token(
    state: &SisState,
    client_id: &str,
    secret: &str,
    ttl: Duration,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let form: HashMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(k, v)| (decode(k), decode(v))))
        .collect();
    let (id, pw) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, p)) => (i.to_string(), p.to_string()),
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if id != client_id || pw != secret {
        state.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let n = state.counters.requests.load(Ordering::SeqCst);
    let token = format!(
        "tok-{n}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    if let Ok(mut t) = state.tokens.lock() {
        // A hostile server may promise a token forever: keep the stand-in itself from overflowing.
        let expiry = Instant::now()
            .checked_add(ttl)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86400));
        t.insert(token.clone(), (expiry, 0));
    }
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": ttl.as_secs()}))
        .into_response()
}

/// OneRoster 1.1 user → 1.2 (`roles[]` in place of `role` and `orgs`).
fn as_v1p2_user(u: &Value) -> Value {
    let mut u = u.clone();
    let role = u["role"].clone();
    let orgs = u["orgs"].as_array().cloned().unwrap_or_default();
    let roles: Vec<Value> = orgs
        .iter()
        .enumerate()
        .map(|(i, org)| json!({"roleType": if i == 0 { "primary" } else { "secondary" }, "role": role, "org": org}))
        .collect();
    if let Some(o) = u.as_object_mut() {
        o.remove("role");
        o.remove("orgs");
        o.insert("roles".into(), Value::Array(roles));
        if let Some(first) = orgs.first() {
            o.insert("primaryOrg".into(), first.clone());
        }
    }
    u
}

/// `field<op>'value'`, optionally two joined by AND / OR.
fn matches_filter(record: &Value, filter: &str) -> bool {
    let one = |pred: &str| -> bool {
        for op in [">=", "<=", "!=", ">", "<", "=", "~"] {
            if let Some((field, value)) = pred.split_once(op) {
                let value = value.trim().trim_matches('\'');
                let have = match &record[field.trim()] {
                    Value::String(s) => s.clone(),
                    Value::Null => return false,
                    other => other.to_string(),
                };
                return match op {
                    ">=" => have.as_str() >= value,
                    "<=" => have.as_str() <= value,
                    "!=" => have != value,
                    ">" => have.as_str() > value,
                    "<" => have.as_str() < value,
                    "=" => have == value,
                    _ => have.contains(value),
                };
            }
        }
        true
    };
    if let Some((a, b)) = filter.split_once(" AND ") {
        one(a) && one(b)
    } else if let Some((a, b)) = filter.split_once(" OR ") {
        one(a) || one(b)
    } else {
        one(filter)
    }
}

const ROSTER: &[&str] = &[
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
];
const GRADEBOOK: &[&str] = &[
    "categories",
    "lineItems",
    "results",
    "scoreScales",
    "assessmentLineItems",
    "assessmentResults",
];
/// The gradebook collections OneRoster 1.2 added: a 1.1 SIS has no such path.
const GRADEBOOK_V1P2_ONLY: &[&str] = &["scoreScales", "assessmentLineItems", "assessmentResults"];

fn singular(collection: &str) -> &'static str {
    match collection {
        "categories" => "category",
        "lineItems" => "lineItem",
        "scoreScales" => "scoreScale",
        "assessmentLineItems" => "assessmentLineItem",
        "assessmentResults" => "assessmentResult",
        _ => "result",
    }
}

/// Answers a request, then applies any after-the-write fault: the write stands, the answer
/// lies or never comes.
async fn handle_with_faults(
    State(state): State<Arc<SisState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Ok(mut log) = state.log.lock() {
        log.push(format!("{method} {uri}"));
    }
    let response = handle(
        State(Arc::clone(&state)),
        method.clone(),
        uri,
        headers,
        body,
    )
    .await;
    match state
        .faults
        .after_write(&method, response.status().is_success())
    {
        crate::faults::AfterWrite::Answer => response,
        crate::faults::AfterWrite::Fail503 => {
            ims_error(StatusCode::SERVICE_UNAVAILABLE, "server_busy", "try again")
        }
        crate::faults::AfterWrite::Hang => {
            // Never answer: the client gives up on its timeout, not knowing the write stood.
            std::future::pending::<()>().await;
            response
        }
        crate::faults::AfterWrite::OmitId => axum::Json(serde_json::json!({})).into_response(),
    }
}

async fn handle(
    State(state): State<Arc<SisState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.counters.requests.fetch_add(1, Ordering::SeqCst);
    let slow =
        state.faults.slow_ms.load(Ordering::SeqCst) + state.faults.hang_ms.load(Ordering::SeqCst);
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    if Faults::take(&state.faults.server_errors) {
        return ims_error(StatusCode::SERVICE_UNAVAILABLE, "server_busy", "try again");
    }
    if Faults::take(&state.faults.rate_limited) {
        let mut r = ims_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    }
    let path = uri.path().to_string();
    if path == "/oauth2/token" && method == Method::POST {
        return match &state.spec.auth {
            SisAuth::Oauth2 {
                client_id,
                secret,
                ttl,
            } => issue_token(&state, client_id, secret, *ttl, &headers, &body),
            SisAuth::Oauth1 { .. } => ims_error(
                StatusCode::NOT_FOUND,
                "unknown_object",
                "no token endpoint: this server signs with OAuth 1.0a",
            ),
        };
    }
    let auth = match &state.spec.auth {
        SisAuth::Oauth1 { key, secret } => {
            check_oauth1(&state, key, secret, &method, &uri, &headers)
        }
        SisAuth::Oauth2 { .. } => check_bearer(&state, &headers),
    };
    if let Err(why) = auth {
        state.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return ims_error(StatusCode::UNAUTHORIZED, "unauthorisedrequest", &why);
    }
    let Some(rest) = path.strip_prefix(state.spec.prefix.as_str()) else {
        return ims_error(StatusCode::NOT_FOUND, "unknown_object", "no such path");
    };
    let (service, rest) = if state.spec.version == "1.2" {
        if let Some(r) = rest.strip_prefix("/ims/oneroster/rostering/v1p2/") {
            ("rostering", r)
        } else if let Some(r) = rest.strip_prefix("/ims/oneroster/gradebook/v1p2/") {
            ("gradebook", r)
        } else {
            return ims_error(StatusCode::NOT_FOUND, "unknown_object", "no such path");
        }
    } else {
        match rest.strip_prefix("/ims/oneroster/v1p1/") {
            Some(r) => ("any", r),
            None => return ims_error(StatusCode::NOT_FOUND, "unknown_object", "no such path"),
        }
    };
    // Role-specific and nested paths (`/teachers/{id}/classes`, ...), and collections
    // asked for `sort` or `fields`: answered from whole listings (`sis_paths`).
    let segments: Vec<String> = rest.split('/').map(decode).collect();
    let segment_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if state.spec.version != "1.2" && segment_refs.iter().any(|s| GRADEBOOK_V1P2_ONLY.contains(s)) {
        return ims_error(
            StatusCode::NOT_FOUND,
            "unknown_object",
            "no such path: OneRoster 1.1 has no score scales or assessment gradebook",
        );
    }
    if method == Method::GET {
        let viewed = crate::sis_paths::answer(&*state, &segment_refs);
        let gradebook_view = segment_refs.len() > 2
            && matches!(
                segment_refs[2],
                "lineItems" | "results" | "categories" | "scoreScales"
            );
        if let Some(answer) = viewed {
            if service != "any" && (service == "gradebook") != gradebook_view {
                return ims_error(StatusCode::NOT_FOUND, "unknown_object", "no such path here");
            }
            return view(answer, &uri);
        }
        let q: HashMap<String, String> = query_pairs(&uri).into_iter().collect();
        if segment_refs.len() == 1
            && (q.contains_key("sort") || q.contains_key("fields"))
            && (ROSTER.contains(&segment_refs[0]) || GRADEBOOK.contains(&segment_refs[0]))
        {
            let envelope: &'static str = ROSTER
                .iter()
                .chain(GRADEBOOK)
                .find(|c| **c == segment_refs[0])
                .copied()
                .unwrap_or("records");
            return view(
                crate::sis_paths::ViewAnswer::List {
                    envelope,
                    records: records(&state, envelope),
                },
                &uri,
            );
        }
    }
    let mut parts = rest.splitn(2, '/');
    let collection = parts.next().unwrap_or_default().to_string();
    let id = parts.next().map(decode);
    let allowed = match service {
        "rostering" => ROSTER.contains(&collection.as_str()),
        "gradebook" => GRADEBOOK.contains(&collection.as_str()),
        _ => ROSTER.contains(&collection.as_str()) || GRADEBOOK.contains(&collection.as_str()),
    };
    if !allowed {
        return ims_error(
            StatusCode::NOT_FOUND,
            "unknown_object",
            &format!("no collection {collection}"),
        );
    }
    match (method, id) {
        (Method::GET, None) => list(&state, &collection, &uri),
        (Method::GET, Some(id)) => get_one(&state, &collection, &id),
        (Method::PUT, Some(id)) if GRADEBOOK.contains(&collection.as_str()) => {
            put(&state, &collection, &id, &body)
        }
        (Method::DELETE, Some(id)) if GRADEBOOK.contains(&collection.as_str()) => {
            state.counters.writes.fetch_add(1, Ordering::SeqCst);
            let removed = state
                .gradebook
                .lock()
                .map(|mut g| g.remove(&(collection.clone(), id.clone())))
                .ok()
                .flatten();
            match removed {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => ims_error(
                    StatusCode::NOT_FOUND,
                    "unknown_object",
                    &format!("no {collection} {id}"),
                ),
            }
        }
        _ => ims_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_data",
            "method not allowed here",
        ),
    }
}

impl crate::sis_paths::Collections for SisState {
    fn all(&self, collection: &str) -> Vec<Value> {
        records(self, collection)
    }
}

/// Answers a view: `filter`, `sort`/`orderBy`, paging with `X-Total-Count`, then `fields`.
fn view(answer: crate::sis_paths::ViewAnswer, uri: &Uri) -> Response {
    use crate::sis_paths::ViewAnswer;
    let q: HashMap<String, String> = query_pairs(uri).into_iter().collect();
    match answer {
        ViewAnswer::Missing(why) => ims_error(StatusCode::NOT_FOUND, "unknown_object", &why),
        ViewAnswer::One { key, mut record } => {
            if let Some(fields) = q.get("fields") {
                crate::sis_paths::project(std::slice::from_mut(&mut record), fields);
            }
            axum::Json(json!({ key: record })).into_response()
        }
        ViewAnswer::List {
            envelope,
            mut records,
        } => {
            if let Some(filter) = q.get("filter") {
                records.retain(|r| matches_filter(r, filter));
            }
            if let Some(field) = q.get("sort") {
                let descending = q
                    .get("orderBy")
                    .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
                crate::sis_paths::sort(&mut records, field, descending);
            }
            let total = records.len();
            let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
            let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut page: Vec<Value> = records.into_iter().skip(offset).take(limit).collect();
            if let Some(fields) = q.get("fields") {
                crate::sis_paths::project(&mut page, fields);
            }
            let mut resp = axum::Json(json!({ envelope: page })).into_response();
            resp.headers_mut()
                .insert("x-total-count", header::HeaderValue::from(total as u64));
            resp
        }
    }
}

fn records(state: &SisState, collection: &str) -> Vec<Value> {
    let mut out: Vec<Value> = state
        .district
        .lock()
        .map(|d| d.collection(collection).cloned().unwrap_or_default())
        .unwrap_or_default();
    if GRADEBOOK.contains(&collection) {
        let written = written_records(state, collection);
        let ids: HashSet<String> = written
            .iter()
            .filter_map(|v| v["sourcedId"].as_str().map(str::to_string))
            .collect();
        out.retain(|v| !v["sourcedId"].as_str().is_some_and(|i| ids.contains(i)));
        out.extend(written);
    }
    if state.spec.version == "1.2" && collection == "users" {
        out = out.iter().map(as_v1p2_user).collect();
    }
    out
}

/// The records of a gradebook `collection` written through the API, in the order `records`
/// lays them after the district's.
fn written_records(state: &SisState, collection: &str) -> Vec<Value> {
    state
        .gradebook
        .lock()
        .map(|g| {
            g.iter()
                .filter(|((c, _), _)| c == collection)
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The records matching `filter`, counted, and the page `[offset, offset+limit)` of them. Plain
/// collections are read in place, cloning only the page: cloning a district's 160,000
/// enrollments for every page made the stand-in, not the client, the slow side of a benchmark.
fn page_of(
    state: &SisState,
    collection: &str,
    filter: Option<&String>,
    offset: usize,
    limit: usize,
) -> (usize, Vec<Value>) {
    let unlisted = state
        .faults
        .unlisted
        .lock()
        .map(|u| u.clone())
        .unwrap_or_default();
    let keep = |r: &Value| {
        filter.is_none_or(|f| matches_filter(r, f))
            && !r["sourcedId"]
                .as_str()
                .is_some_and(|id| unlisted.contains(id))
    };
    // A delta read is told of deletions: the records deleted since, as `tobedeleted`.
    let delta = filter.is_some_and(|f| f.contains("dateLastModified"));
    let tombstones: Vec<Value> = if delta && !Faults::on(&state.faults.no_tombstones) {
        state
            .tombstones
            .lock()
            .map(|t| {
                t.iter()
                    .filter(|(c, r)| c == collection && keep(r))
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let v1p2_users = state.spec.version == "1.2" && collection == "users";
    if GRADEBOOK.contains(&collection) && !v1p2_users {
        // The district's records less those written since, then the written ones (as
        // `records` lays them), read in place: cloning L's 3.2 million results for every page
        // of a full read grew the stand-in past the machine's memory.
        let written = written_records(state, collection);
        let ids: HashSet<&str> = written
            .iter()
            .filter_map(|v| v["sourcedId"].as_str())
            .collect();
        if let Ok(d) = state.district.lock() {
            let all = d.collection(collection).map(Vec::as_slice).unwrap_or(&[]);
            let matching = || {
                all.iter()
                    .filter(|v| !v["sourcedId"].as_str().is_some_and(|i| ids.contains(i)))
                    .chain(&written)
                    .filter(|r| keep(r))
                    .chain(&tombstones)
            };
            let total = matching().count();
            let page = matching().skip(offset).take(limit).cloned().collect();
            return (total, page);
        }
    }
    if !GRADEBOOK.contains(&collection)
        && !v1p2_users
        && let Ok(d) = state.district.lock()
    {
        let all = d.collection(collection).map(Vec::as_slice).unwrap_or(&[]);
        let total = all.iter().filter(|r| keep(r)).count() + tombstones.len();
        let page = all
            .iter()
            .filter(|r| keep(r))
            .chain(&tombstones)
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        return (total, page);
    }
    let mut all = records(state, collection);
    all.retain(|r| keep(r));
    if state.spec.version == "1.2" && collection == "users" {
        all.extend(tombstones.iter().map(as_v1p2_user));
    } else {
        all.extend(tombstones);
    }
    let total = all.len();
    (total, all.into_iter().skip(offset).take(limit).collect())
}

fn list(state: &SisState, collection: &str, uri: &Uri) -> Response {
    let q: HashMap<String, String> = query_pairs(uri).into_iter().collect();
    let mut limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let cap = state.faults.silent_limit_cap.load(Ordering::SeqCst) as usize;
    if cap > 0 {
        limit = limit.min(cap);
    }
    let filter = q.get("filter");
    let ignore_offset = Faults::on(&state.faults.ignore_offset);
    let repeat_last = Faults::on(&state.faults.repeat_last_page_past_end);
    let offset = if ignore_offset { 0 } else { offset };
    let (total, mut page) = page_of(state, collection, filter, offset, limit);
    if repeat_last && page.is_empty() && total > 0 {
        let last_start = (total - 1) / limit.max(1) * limit.max(1);
        page = page_of(state, collection, filter, last_start, limit).1;
    }
    if offset > 0 && Faults::on(&state.faults.truncate_after_first_page) {
        page.clear();
    }
    let endless = Faults::on(&state.faults.endless_pages);
    if endless && page.is_empty() {
        page = (offset..offset + limit.max(1))
            .map(|i| json!({"sourcedId": format!("endless-{i}"), "status": "active"}))
            .collect();
    }
    if Faults::on(&state.faults.malformed_json) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"{collection}\": [{{\"sourcedId\": "),
        )
            .into_response();
    }
    let key = if Faults::on(&state.faults.missing_envelope) {
        "data"
    } else {
        collection
    };
    let served = page.len();
    let padding = state.faults.padding_bytes.load(Ordering::SeqCst) as usize;
    let body = if padding > 0 {
        json!({ key: page, "padding": "x".repeat(padding) })
    } else {
        json!({ key: page })
    };
    let mut resp = axum::Json(body).into_response();
    let link_origin = state
        .faults
        .next_link_origin
        .lock()
        .ok()
        .and_then(|o| o.clone());
    if let Some(origin) = link_origin
        && served > 0
    {
        let next = format!(
            "<{origin}{}?limit={limit}&offset={}>; rel=\"next\"",
            uri.path(),
            offset + served
        );
        if let Ok(v) = header::HeaderValue::from_str(&next) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    let unlisting = state.faults.unlisted.lock().is_ok_and(|u| !u.is_empty());
    if cap == 0 && !endless && !ignore_offset && !repeat_last && !unlisting {
        resp.headers_mut()
            .insert("x-total-count", header::HeaderValue::from(total as u64));
    }
    resp
}

/// One record by id, found in place (cloning a collection per lookup made each read before a
/// grade write cost the whole gradebook) through the positions index.
fn find_one(state: &SisState, collection: &str, id: &str) -> Option<Value> {
    let written = GRADEBOOK.contains(&collection).then(|| {
        state
            .gradebook
            .lock()
            .ok()
            .and_then(|g| g.get(&(collection.to_string(), id.to_string())).cloned())
    });
    if let Some(found) = written.flatten() {
        return Some(found);
    }
    let found = state.district.lock().ok().and_then(|d| {
        match state.positions(&d).find(&d, collection, id) {
            Some(found) => found.cloned(),
            None => d
                .collection(collection)
                .and_then(|all| all.iter().find(|r| r["sourcedId"] == id).cloned()),
        }
    })?;
    Some(if state.spec.version == "1.2" && collection == "users" {
        as_v1p2_user(&found)
    } else {
        found
    })
}

fn get_one(state: &SisState, collection: &str, id: &str) -> Response {
    match find_one(state, collection, id) {
        Some(r) => {
            let key = match collection {
                "orgs" => "org",
                "academicSessions" => "academicSession",
                "courses" => "course",
                "classes" => "class",
                "users" => "user",
                "enrollments" => "enrollment",
                other => singular(other),
            };
            axum::Json(json!({ key: r })).into_response()
        }
        None => ims_error(
            StatusCode::NOT_FOUND,
            "unknown_object",
            &format!("no {collection} {id}"),
        ),
    }
}

fn put(state: &SisState, collection: &str, id: &str, body: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return ims_error(StatusCode::BAD_REQUEST, "invalid_data", "body is not JSON");
    };
    let key = singular(collection);
    let Some(record) = v.get(key).cloned() else {
        return ims_error(
            StatusCode::BAD_REQUEST,
            "invalid_data",
            &format!("body needs a '{key}' object"),
        );
    };
    if record
        .get("sourcedId")
        .and_then(Value::as_str)
        .is_some_and(|s| s != id)
    {
        return ims_error(
            StatusCode::BAD_REQUEST,
            "invalid_data",
            "sourcedId in the body differs from the path",
        );
    }
    let mut record = record;
    record["sourcedId"] = json!(id);
    // What a certified SIS checks: required fields, references it holds, enrolment, the
    // vocabulary, types (`sis_writes`).
    let limits = state
        .write_limits
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    if let Err(refusal) =
        crate::sis_writes::check(collection, &record, &state.district_index(), state, &limits)
    {
        let status = if refusal.unprocessable {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        return ims_error(
            status,
            "invalid_data",
            &format!("{} {id}: {}", singular(collection), refusal.description),
        );
    }
    state.counters.writes.fetch_add(1, Ordering::SeqCst);
    let existed = state.gradebook.lock().is_ok_and(|mut g| {
        g.insert((collection.to_string(), id.to_string()), record.clone())
            .is_some()
    });
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, axum::Json(json!({ key: record }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vector, checked by this independent implementation too.
    #[test]
    fn base_string_matches_the_published_vector() {
        let uri: Uri = "/ims/oneroster/v1p1/users?limit=100&offset=0&filter=status%3D%27active%27%20AND%20dateLastModified%3E%272024-01-01T00%3A00%3A00Z%27".parse().unwrap();
        let oauth = vec![
            ("oauth_consumer_key".into(), "ck_test".into()),
            ("oauth_nonce".into(), "abc123".into()),
            ("oauth_signature_method".into(), "HMAC-SHA256".into()),
            ("oauth_timestamp".into(), "1700000000".into()),
            ("oauth_version".into(), "1.0".into()),
        ];
        let base = base_string(&Method::GET, "sis.example.org", &uri, &oauth)
            .replacen("http%3A", "https%3A", 1);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs_test&").unwrap();
        mac.update(base.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sig, "q21yHlDasKYQM2ACyLhPD1vExyAnh2nsP0ye8OQ3CqU=");
    }

    /// A 1.1 stand-in serving the tiny district.
    async fn tiny_sis() -> StandInSis {
        let spec = SisSpec {
            version: "1.1".into(),
            prefix: String::new(),
            auth: SisAuth::Oauth1 {
                key: "k".into(),
                secret: "s".into(),
            },
        };
        let district = crate::district::District::generate(crate::district::Size::Tiny, 7);
        start(spec, district).await.unwrap()
    }

    #[tokio::test]
    async fn a_gradebook_collection_pages_in_place_as_its_whole_listing_lays_it() {
        let sis = tiny_sis().await;
        let state = &sis.state;
        let first = records(state, "categories")[0].clone();
        let id = first["sourcedId"].as_str().unwrap().to_string();
        {
            let mut g = state.gradebook.lock().unwrap();
            let mut rewritten = first.clone();
            rewritten["title"] = json!("Rewritten");
            g.insert(("categories".into(), id.clone()), rewritten);
            g.insert(
                ("categories".into(), "new-category".into()),
                json!({"sourcedId": "new-category", "status": "active", "title": "New"}),
            );
        }
        let whole = records(state, "categories");
        assert!(whole.len() > 3, "a tiny district has categories");
        let mut paged = Vec::new();
        let mut offset = 0;
        loop {
            let (total, page) = page_of(state, "categories", None, offset, 7);
            assert_eq!(total, whole.len());
            if page.is_empty() {
                break;
            }
            offset += page.len();
            paged.extend(page);
        }
        assert_eq!(paged, whole);
        let listed: Vec<&Value> = paged
            .iter()
            .filter(|r| r["sourcedId"] == id.as_str())
            .collect();
        assert_eq!(listed.len(), 1, "a written record replaces the district's");
        assert_eq!(listed[0]["title"], "Rewritten");
        // A filter applies to the written records too.
        let (total, page) = page_of(
            state,
            "categories",
            Some(&"title='Rewritten'".to_string()),
            0,
            100,
        );
        assert_eq!((total, page.len()), (1, 1));
    }

    #[tokio::test]
    async fn a_record_is_found_by_id_as_the_district_changes() {
        let sis = tiny_sis().await;
        let state = &sis.state;
        let enrollments = records(state, "enrollments");
        let first = enrollments[0]["sourcedId"].as_str().unwrap().to_string();
        let last = enrollments[enrollments.len() - 1]["sourcedId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            find_one(state, "enrollments", &last),
            Some(enrollments[enrollments.len() - 1].clone())
        );
        assert_eq!(find_one(state, "enrollments", "no-such-enrolment"), None);
        // The first removed moves every other record; one added at the front moves them back.
        sis.with_district(|d| {
            d.enrollments.remove(0);
        });
        assert_eq!(find_one(state, "enrollments", &first), None);
        let found = find_one(state, "enrollments", &last).unwrap();
        assert_eq!(found["sourcedId"], last.as_str());
        sis.with_district(|d| {
            d.enrollments
                .insert(0, json!({"sourcedId": "added", "status": "active"}));
        });
        assert_eq!(
            find_one(state, "enrollments", "added").unwrap()["sourcedId"],
            "added"
        );
        assert_eq!(
            find_one(state, "enrollments", &last).unwrap()["sourcedId"],
            last.as_str()
        );
    }

    #[test]
    fn filters_compare_fields() {
        let r = json!({"dateLastModified": "2026-09-01T00:00:00Z", "status": "active"});
        assert!(matches_filter(
            &r,
            "dateLastModified>'2026-08-01T00:00:00Z'"
        ));
        assert!(!matches_filter(
            &r,
            "dateLastModified>'2026-10-01T00:00:00Z'"
        ));
        assert!(matches_filter(
            &r,
            "status='active' AND dateLastModified>'2026-01-01'"
        ));
    }
}

//! The host's TOML config: where state lives, how to reach each SIS and Classroom, and the
//! engine's rules (the `[rules]` table is the engine's `SyncConfig`, same keys as its JSON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use classbridge_engine::SyncConfig;
use classbridge_engine::config::{MissingDueDate, OneRosterVersion, SisLimits, SourceConfig};
use serde::{Deserialize, Serialize};

use crate::engine_runtime::EngineLimits;
use crate::secrets::SecretRef;
use crate::vendor::{self, AuthFlavour, VendorProfile};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} could not be read")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// SQLite file for state, runs and the journal; relative to the config file.
    #[serde(default = "default_state")]
    pub state: PathBuf,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub serve: ServeSettings,
    pub classroom: ClassroomSettings,
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceSettings>,
    /// The engine's rules (camelCase keys, as in its JSON); `sources` come from `[[source]]`.
    #[serde(default)]
    pub rules: toml::Table,
    /// Allow plain `http://` to hosts other than loopback. Credentials and student data then
    /// cross the network in clear: only for a lab behind its own encryption.
    #[serde(default)]
    pub allow_insecure_http: bool,
    #[serde(default)]
    pub retention: Retention,
    /// Who is told of holds, failures, long waits and the daily digest, and how.
    #[serde(default)]
    pub notify: Option<crate::notify::NotifySettings>,
}

/// How much of each run the state database keeps.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Runs (newest first) whose whole input and plan are kept, for `runs show` and the
    /// console's verification. Older runs keep their summary, counts, decisions and journal.
    pub keep_run_details: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_run_details: 10,
        }
    }
}

fn default_state() -> PathBuf {
    PathBuf::from("classbridge.db")
}

/// A TOML error as line, column and reason, never the offending text: the line may be
/// `client_secret = "..."` written inline by mistake, and errors end up in logs.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.len() - line_start + 1;
        // The key on that line is safe to show (its value may not be).
        let key = text[line_start..]
            .lines()
            .next()
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim())
            .filter(|k| !k.is_empty() && !k.contains('"'))
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        format!("line {line}, column {column}: {key}")
    });
    format!("{}{}", at.unwrap_or_default(), redact_quoted(e.message()))
}

/// Replaces every double-quoted value in a message with `"…"`, and the value serde names in
/// "unknown variant `…`" (an inline string where `{ env = … }` belongs). Field names, also in
/// backticks, stay: they are what the admin needs to find the line.
pub fn redact_quoted(message: &str) -> String {
    let message = match message.split_once("unknown variant `") {
        Some((head, tail)) => match tail.split_once('`') {
            Some((_, rest)) => format!("{head}unknown variant `…`{rest}"),
            None => format!("{head}unknown variant `…`"),
        },
        None => message.to_string(),
    };
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '\"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    if quoted {
        out.push('…');
    }
    out
}

/// A URL with any `user:password@` cut out, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// https, or http to loopback only (unless allowed), and never credentials in the URL.
fn check_url(what: &str, url: &str, allow_insecure_http: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        ConfigError::Invalid(format!("{what} = {:?} is not a URL: {e}", redact_url(url)))
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::Invalid(format!(
            "{what} = {:?} carries credentials; put them in client_id and client_secret (as {{ env = \"VAR\" }} or {{ file = \"path\" }})",
            redact_url(url)
        )));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure_http => Ok(()),
        "http" => Err(ConfigError::Invalid(format!(
            "{what} = {url:?} is plain http to another host: credentials and student data would cross the network in clear. Use https, or set allow_insecure_http = true at the top of the config if this network is encrypted otherwise"
        ))),
        other => Err(ConfigError::Invalid(format!(
            "{what}: scheme {other:?} is not supported; use https"
        ))),
    }
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub fuel: u64,
    pub memory_mb: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let d = EngineLimits::default();
        EngineSettings {
            fuel: d.fuel,
            memory_mb: d.memory_bytes >> 20,
        }
    }
}

impl EngineSettings {
    pub fn limits(&self) -> EngineLimits {
        EngineLimits {
            fuel: self.fuel,
            memory_bytes: self.memory_mb << 20,
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// How often `serve` runs a sync, e.g. "6h" or "30m".
    pub every: String,
}

impl Schedule {
    pub fn interval(&self) -> Result<Duration, ConfigError> {
        humantime::parse_duration(&self.every)
            .map_err(|e| ConfigError::Invalid(format!("schedule.every = {:?}: {e}", self.every)))
    }
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    pub listen: String,
    /// Console sign-in token; a fresh one is printed at start when unset. A configured one
    /// must be at least [`MIN_CONSOLE_TOKEN_CHARS`] characters.
    pub token: Option<SecretRef>,
    /// Host names the console answers to besides loopback (e.g. "console.district.org").
    pub hostnames: Vec<String>,
    /// TLS certificate chain (PEM file); required, with `tls_key`, to listen beyond loopback.
    pub tls_cert: Option<String>,
    /// TLS private key (PEM file).
    pub tls_key: Option<String>,
    /// A console session unused this long ends ("30m").
    pub session_idle: String,
    /// A console session ends this long after sign-in ("12h").
    pub session_max: String,
}

/// The shortest console token accepted from the config (a generated one is 32).
pub const MIN_CONSOLE_TOKEN_CHARS: usize = 20;

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            listen: "127.0.0.1:8787".into(),
            token: None,
            hostnames: Vec::new(),
            tls_cert: None,
            tls_key: None,
            session_idle: "30m".into(),
            session_max: "12h".into(),
        }
    }
}

impl ServeSettings {
    fn duration(what: &str, value: &str) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(value).map_err(|e| {
            ConfigError::Invalid(format!(
                "serve.{what} = {value:?}: {e} (write it like \"30m\" or \"12h\")"
            ))
        })?;
        if d.is_zero() {
            return Err(ConfigError::Invalid(format!(
                "serve.{what} = {value:?}: must be longer than zero"
            )));
        }
        Ok(d)
    }

    pub fn session_idle(&self) -> Result<Duration, ConfigError> {
        Self::duration("session_idle", &self.session_idle)
    }

    pub fn session_max(&self) -> Result<Duration, ConfigError> {
        Self::duration("session_max", &self.session_max)
    }

    /// Both TLS files, or neither.
    pub fn tls_files(&self) -> Result<Option<(&str, &str)>, ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            _ => Err(ConfigError::Invalid(
                "serve.tls_cert and serve.tls_key go together: set both (PEM files) or neither"
                    .into(),
            )),
        }
    }

    /// A configured sign-in token must not be guessable.
    pub fn check_token(&self, token: &str) -> Result<(), ConfigError> {
        let chars = token.chars().count();
        let distinct = token
            .chars()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if chars < MIN_CONSOLE_TOKEN_CHARS || distinct < 8 {
            let what = self
                .token
                .as_ref()
                .map(SecretRef::describe)
                .unwrap_or_default();
            return Err(ConfigError::Invalid(format!(
                "serve.token ({what}) is too weak: it has {chars} characters ({distinct} different); use at least {MIN_CONSOLE_TOKEN_CHARS} random ones, e.g. from `openssl rand -base64 24`, or leave serve.token unset for a fresh token at every start"
            )));
        }
        Ok(())
    }
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClassroomSettings {
    #[serde(default = "default_classroom_url")]
    pub base_url: String,
    #[serde(default = "default_google_token_url")]
    pub token_url: String,
    /// A service-account key (JSON) with domain-wide delegation.
    #[serde(default)]
    pub service_account_key: Option<SecretRef>,
    /// The Workspace admin the service account acts as.
    #[serde(default)]
    pub impersonate: Option<String>,
    /// A fixed bearer token instead of a service account (tests, stand-ins).
    #[serde(default)]
    pub bearer_token: Option<SecretRef>,
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Requests a minute this host may send (Google: 1,200 per user, 3,000 per project).
    #[serde(default = "default_quota")]
    pub quota_per_minute: u32,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// The longest one `Retry-After` may make a request wait; longer asks are cut to this.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
    /// The largest answer read from Classroom.
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    /// Pages of one list call before the read is refused as endless.
    #[serde(default = "default_max_pages")]
    pub max_pages_per_listing: u64,
    /// Classroom's push notifications through Cloud Pub/Sub: with them a run re-reads only
    /// the courses notified as changed, and every course on the reconciliation cadence.
    #[serde(default)]
    pub change_feed: Option<ChangeFeedSettings>,
}

/// `[classroom.change_feed]`: registrations for Classroom's feeds delivering to a Pub/Sub
/// topic, and the pull subscription the host reads them from.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ChangeFeedSettings {
    /// `projects/<project>/topics/<topic>`; Classroom must be allowed to publish to it.
    pub topic: String,
    /// `projects/<project>/subscriptions/<subscription>`, a pull subscription of the topic.
    pub subscription: String,
    #[serde(default = "default_pubsub_url")]
    pub pubsub_base_url: String,
    /// Every managed course is read in full this often, and after any run that could not
    /// trust its notifications: a missed notification is caught within this period.
    #[serde(default = "default_reconcile_every")]
    pub reconcile_every: String,
    /// Registrations expiring sooner than this are renewed (Google's live a week).
    #[serde(default = "default_renew_before")]
    pub renew_before: String,
}

impl ChangeFeedSettings {
    fn duration(what: &str, value: &str) -> Result<Duration, ConfigError> {
        humantime::parse_duration(value).map_err(|e| {
            ConfigError::Invalid(format!("classroom.change_feed.{what} = {value:?}: {e}"))
        })
    }

    pub fn reconcile_every(&self) -> Result<Duration, ConfigError> {
        Self::duration("reconcile_every", &self.reconcile_every)
    }

    pub fn renew_before(&self) -> Result<Duration, ConfigError> {
        Self::duration("renew_before", &self.renew_before)
    }
}

fn default_pubsub_url() -> String {
    "https://pubsub.googleapis.com".into()
}
fn default_reconcile_every() -> String {
    "7d".into()
}
fn default_renew_before() -> String {
    "1d".into()
}

fn default_max_retry_after() -> u64 {
    crate::http::MAX_RETRY_AFTER.as_secs()
}

fn default_classroom_url() -> String {
    "https://classroom.googleapis.com".into()
}
fn default_google_token_url() -> String {
    "https://oauth2.googleapis.com/token".into()
}
fn default_concurrency() -> usize {
    8
}
fn default_quota() -> u32 {
    1200
}
fn default_retries() -> u32 {
    6
}
fn default_timeout() -> u64 {
    30
}

#[derive(Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// OneRoster REST.
    #[default]
    Rest,
    /// A OneRoster CSV bundle, a folder or a zip (bulk upload).
    Csv,
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub id: String,
    #[serde(default)]
    pub kind: SourceKind,
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default)]
    pub version: Option<OneRosterVersion>,
    #[serde(default)]
    pub auth: Option<AuthFlavour>,
    /// The SIS's URL up to the OneRoster path, e.g. `https://sis.example.org`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// OAuth 2.0 token endpoint; the profile's default under base_url when unset.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// CSV bundle: a folder or a .zip.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub sis_id_prefix: String,
    /// Deletions by comparing with the previous complete read (default for full reads).
    #[serde(default = "yes")]
    pub bulk_upload: bool,
    /// Read only records changed since the last run (`dateLastModified>`), after a first full
    /// read. On by default: a run then costs what changed in the SIS, not what exists.
    #[serde(default = "yes")]
    pub delta: bool,
    /// With `delta`, every record is still read this often: only a full read finds records the
    /// SIS deleted without marking them `tobedeleted`, or changed without a new
    /// `dateLastModified` (also on `sync --full`).
    #[serde(default = "default_full_read_every")]
    pub full_read_every: String,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub line_item_title_max: Option<usize>,
    #[serde(default)]
    pub default_category: Option<String>,
    #[serde(default)]
    pub missing_due_date: Option<MissingDueDate>,
    /// Whether this SIS refuses a lineItem without a category; unset: as its OneRoster
    /// version says (required in 1.2).
    #[serde(default)]
    pub category_required: Option<bool>,
    /// Write grades back to this source.
    #[serde(default = "yes")]
    pub write_grades: bool,
    /// Limits on what one read may bring, so a broken or hostile server cannot exhaust
    /// memory or keep a run reading forever. Each error names its setting.
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    #[serde(default = "default_max_records")]
    pub max_records_per_collection: u64,
    /// A CSV bundle's decompressed size: each file, and all of them together.
    #[serde(default = "default_max_csv_file_mb")]
    pub max_csv_file_mb: u64,
    #[serde(default = "default_max_bundle_mb")]
    pub max_bundle_mb: u64,
    /// Records missing from a listing are asked for one by one (`GET /users/{id}`) before they
    /// are removed; at most this many per run. The rest stay, and are asked about next run.
    #[serde(default = "default_max_removal_checks")]
    pub max_removal_checks: usize,
    /// How fast classbridge may call this SIS: a SIS publishes no quota, so the default is
    /// polite (100 requests a second, 4 at a time); raise it where the vendor allows more
    /// (a large grade export is two requests per record: the read before, the write).
    #[serde(default = "default_sis_requests_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_sis_concurrency")]
    pub max_concurrency: usize,
}

fn default_sis_requests_per_minute() -> u32 {
    6000
}
fn default_sis_concurrency() -> usize {
    4
}

fn default_max_response_mb() -> u64 {
    crate::http::DEFAULT_MAX_RESPONSE_MB
}
fn default_max_records() -> u64 {
    // Eight times the largest district's largest collection (1.6M enrollments at L).
    12_800_000
}
fn default_max_removal_checks() -> usize {
    5000
}
fn default_max_csv_file_mb() -> u64 {
    2048
}
fn default_max_bundle_mb() -> u64 {
    4096
}
fn default_max_pages() -> u64 {
    100_000
}

fn default_profile() -> String {
    "generic-1.1".into()
}
fn yes() -> bool {
    true
}
fn default_page_size() -> u32 {
    // Google asks SIS partners to serve pages of 10,000; a server that caps lower is paged
    // through all the same (a short page proves nothing, only an empty one ends a read).
    10_000
}
fn default_full_read_every() -> String {
    "1d".into()
}

impl SourceSettings {
    /// How often every record is read despite `delta`.
    pub fn full_read_every(&self) -> Result<Duration, ConfigError> {
        humantime::parse_duration(&self.full_read_every).map_err(|e| {
            ConfigError::Invalid(format!(
                "source {}: full_read_every = {:?}: {e} (write it like \"1d\" or \"12h\")",
                self.id, self.full_read_every
            ))
        })
    }

    pub fn bundle_limits(&self) -> crate::oneroster::csv_bundle::BundleLimits {
        crate::oneroster::csv_bundle::BundleLimits::from_mb(
            self.max_csv_file_mb,
            self.max_bundle_mb,
        )
    }

    pub fn profile(&self) -> Result<&'static VendorProfile, ConfigError> {
        vendor::profile_named(&self.profile).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "source {}: unknown profile {:?}; known: {}",
                self.id,
                self.profile,
                vendor::profile_names()
            ))
        })
    }

    pub fn version(&self) -> OneRosterVersion {
        self.version
            .or_else(|| self.profile().ok().map(|p| p.version))
            .unwrap_or_default()
    }

    pub fn auth(&self) -> Result<AuthFlavour, ConfigError> {
        Ok(self.profile()?.auth_for(self.version(), self.auth))
    }

    /// What this source's gradebook takes, as each lineItem is checked before it is sent:
    /// `check` says it, so an admin knows beforehand what will be shortened, placed or held
    /// back.
    pub fn grade_export_rules(&self) -> Result<String, ConfigError> {
        let source = self.engine_source()?;
        let limits = &source.limits;
        let title = match (limits.line_item_title_max, self.line_item_title_max) {
            (Some(n), Some(_)) => format!("titles up to {n} characters (configured)"),
            (Some(n), None) => format!("titles up to {n} characters (profile {})", self.profile),
            (None, _) => "titles of any length".to_string(),
        };
        let category = match (&limits.default_category, source.category_required()) {
            (Some(c), _) => format!("work matching no category filed under '{c}'"),
            (None, true) => {
                "a category required: work matching none is held back (no default_category)"
                    .to_string()
            }
            (None, false) => "work matching no category sent without one".to_string(),
        };
        let due = match limits.missing_due_date {
            MissingDueDate::UseAssignDate => "work with no due date placed on its assign date",
            MissingDueDate::Skip => "work with no due date held back",
        };
        Ok(format!("{title}; {category}; {due}"))
    }

    fn engine_source(&self) -> Result<SourceConfig, ConfigError> {
        let profile = self.profile()?;
        Ok(SourceConfig {
            id: self.id.clone(),
            version: self.version(),
            sis_id_prefix: self.sis_id_prefix.clone(),
            bulk_upload: self.bulk_upload,
            limits: SisLimits {
                line_item_title_max: self.line_item_title_max.or(profile.line_item_title_max),
                missing_due_date: self.missing_due_date.unwrap_or_default(),
                default_category: self.default_category.clone(),
                category_required: self.category_required,
                // 1.1 GUIDRefs carry an `href`: the record's URL under the service root.
                href_root: match (self.version(), self.kind, self.base_url.as_deref()) {
                    (OneRosterVersion::V1_1, SourceKind::Rest, Some(base)) => Some(format!(
                        "{}{}",
                        base.trim_end_matches('/'),
                        vendor::service_roots(OneRosterVersion::V1_1, profile.path_prefix).0
                    )),
                    _ => None,
                },
            },
        })
    }
}

impl HostConfig {
    pub fn load(path: &Path) -> Result<HostConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config: HostConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            reason: describe_toml_error(&text, &e),
        })?;
        if config.state.is_relative() {
            let dir = path.parent().unwrap_or(Path::new("."));
            config.state = dir.join(&config.state);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        for source in &mut config.sources {
            if let Some(p) = &source.path
                && p.is_relative()
            {
                source.path = Some(dir.join(p));
            }
            if let Some(s) = &mut source.client_secret {
                s.relative_to(dir);
            }
        }
        for s in [
            &mut config.classroom.bearer_token,
            &mut config.classroom.service_account_key,
            &mut config.serve.token,
        ]
        .into_iter()
        .flatten()
        {
            s.relative_to(dir);
        }
        if let Some(notify) = &mut config.notify {
            if let Some(hook) = &mut notify.webhook {
                hook.secret.relative_to(dir);
            }
            if let Some(password) = notify.email.as_mut().and_then(|e| e.password.as_mut()) {
                password.relative_to(dir);
            }
        }
        for p in [&mut config.serve.tls_cert, &mut config.serve.tls_key]
            .into_iter()
            .flatten()
        {
            if std::path::Path::new(p.as_str()).is_relative() {
                *p = dir.join(&*p).display().to_string();
            }
        }
        config.check()?;
        Ok(config)
    }

    /// The host's own checks; the engine validates the rules.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(notify) = &self.notify {
            notify.check().map_err(ConfigError::Invalid)?;
            if let Some(hook) = &notify.webhook {
                check_url("notify.webhook.url", &hook.url, self.allow_insecure_http)?;
            }
        }
        if self.sources.is_empty() {
            return Err(ConfigError::Invalid(
                "no [[source]]: add at least one SIS".into(),
            ));
        }
        for s in &self.sources {
            s.profile()?;
            match s.kind {
                SourceKind::Rest => {
                    if s.base_url.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "source {}: base_url is required for a REST source",
                            s.id
                        )));
                    }
                    if s.client_id.is_none() || s.client_secret.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "source {}: client_id and client_secret (as {{ env = \"VAR\" }} or {{ file = \"path\" }}) are required",
                            s.id
                        )));
                    }
                    if s.requests_per_minute == 0 || s.max_concurrency == 0 {
                        return Err(ConfigError::Invalid(format!(
                            "source {}: requests_per_minute and max_concurrency must be at least 1",
                            s.id
                        )));
                    }
                    if s.page_size == 0 {
                        return Err(ConfigError::Invalid(format!(
                            "source {}: page_size must be at least 1",
                            s.id
                        )));
                    }
                    s.full_read_every()?;
                }
                SourceKind::Csv => {
                    if s.path.is_none() {
                        return Err(ConfigError::Invalid(format!(
                            "source {}: path (a folder or .zip) is required for a CSV source",
                            s.id
                        )));
                    }
                }
            }
        }
        if self.classroom.service_account_key.is_none() && self.classroom.bearer_token.is_none() {
            return Err(ConfigError::Invalid(
                "classroom: set service_account_key (with impersonate) or bearer_token".into(),
            ));
        }
        if self.classroom.service_account_key.is_some() && self.classroom.impersonate.is_none() {
            return Err(ConfigError::Invalid(
                "classroom.impersonate: a service account needs an admin to act as".into(),
            ));
        }
        if self.classroom.max_concurrency == 0 || self.classroom.quota_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "classroom.max_concurrency and quota_per_minute must be at least 1".into(),
            ));
        }
        if let Some(s) = &self.schedule {
            s.interval()?;
        }
        self.serve.session_idle()?;
        self.serve.session_max()?;
        self.serve.tls_files()?;
        let mut urls: Vec<(String, &str)> = vec![
            ("classroom.base_url".into(), &self.classroom.base_url),
            ("classroom.token_url".into(), &self.classroom.token_url),
        ];
        if let Some(feed) = &self.classroom.change_feed {
            feed.reconcile_every()?;
            feed.renew_before()?;
            for (what, name, kind) in [
                ("topic", &feed.topic, "topics"),
                ("subscription", &feed.subscription, "subscriptions"),
            ] {
                let parts: Vec<&str> = name.split('/').collect();
                if !matches!(parts.as_slice(), ["projects", p, k, n] if !p.is_empty() && *k == kind && !n.is_empty())
                {
                    return Err(ConfigError::Invalid(format!(
                        "classroom.change_feed.{what} = {name:?}: expected projects/<project>/{kind}/<name>"
                    )));
                }
            }
            urls.push((
                "classroom.change_feed.pubsub_base_url".into(),
                &feed.pubsub_base_url,
            ));
        }
        for s in &self.sources {
            if let Some(u) = &s.base_url {
                urls.push((format!("source {}: base_url", s.id), u));
            }
            if let Some(u) = &s.token_url {
                urls.push((format!("source {}: token_url", s.id), u));
            }
        }
        for (what, url) in urls {
            check_url(&what, url, self.allow_insecure_http)?;
        }
        Ok(())
    }

    /// The engine's `SyncConfig`: the `[rules]` table plus the sources.
    pub fn sync_config(&self) -> Result<SyncConfig, ConfigError> {
        if self.rules.contains_key("sources") {
            return Err(ConfigError::Invalid(
                "rules.sources: sources are configured with [[source]] tables".into(),
            ));
        }
        let mut rules = serde_json::to_value(&self.rules)
            .map_err(|e| ConfigError::Invalid(format!("rules: {e}")))?;
        let sources = self
            .sources
            .iter()
            .map(SourceSettings::engine_source)
            .collect::<Result<Vec<_>, _>>()?;
        rules["sources"] = serde_json::to_value(sources)
            .map_err(|e| ConfigError::Invalid(format!("sources: {e}")))?;
        serde_json::from_value(rules).map_err(|e| ConfigError::Invalid(format!("rules: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostConfig, ConfigError> {
        let c: HostConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t".into(),
            reason: describe_toml_error(text, &e),
        })?;
        c.check()?;
        Ok(c)
    }

    const BASE: &str = r#"
[classroom]
bearer_token = { env = "T" }

[[source]]
id = "sis"
profile = "aspen"
base_url = "http://127.0.0.1:1"
client_id = "id"
client_secret = { env = "S" }
"#;

    #[test]
    fn check_says_what_each_gradebook_takes_before_any_export() {
        let c = parse(BASE).unwrap();
        assert_eq!(
            c.sources[0].grade_export_rules().unwrap(),
            "titles up to 50 characters (profile aspen); work matching no category sent without one; work with no due date placed on its assign date"
        );
        let c = parse(&format!(
            "{BASE}line_item_title_max = 20\ndefault_category = \"asg\"\nmissing_due_date = \"skip\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.sources[0].grade_export_rules().unwrap(),
            "titles up to 20 characters (configured); work matching no category filed under 'asg'; work with no due date held back"
        );
    }

    #[test]
    fn rules_become_the_engine_config_with_profile_limits() {
        let c = parse(&format!("{BASE}\n[rules]\npreview = true\n")).unwrap();
        let sync = c.sync_config().unwrap();
        assert!(sync.preview);
        assert_eq!(sync.sources[0].limits.line_item_title_max, Some(50));
        assert!(sync.sources[0].bulk_upload);
    }

    #[test]
    fn a_sis_pace_is_configurable_and_never_zero() {
        let c = parse(&format!(
            "{BASE}requests_per_minute = 60000\nmax_concurrency = 16\n"
        ))
        .unwrap();
        assert_eq!(
            (
                c.sources[0].requests_per_minute,
                c.sources[0].max_concurrency
            ),
            (60_000, 16)
        );
        let c = parse(BASE).unwrap();
        assert_eq!(
            (
                c.sources[0].requests_per_minute,
                c.sources[0].max_concurrency
            ),
            (6_000, 4),
            "polite by default"
        );
        let err = parse(&format!("{BASE}max_concurrency = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("source sis") && err.contains("max_concurrency"),
            "{err}"
        );
    }

    #[test]
    fn unknown_rule_keys_are_named() {
        let c = parse(&format!("{BASE}\n[rules]\npreveiw = true\n")).unwrap();
        let err = c.sync_config().unwrap_err().to_string();
        assert!(err.contains("preveiw"), "{err}");
    }

    #[test]
    fn unknown_profiles_list_the_known_ones() {
        let err = parse(&BASE.replace("aspen", "aspne"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("aspne") && err.contains("skyward-sms"),
            "{err}"
        );
    }

    #[test]
    fn inline_secrets_are_refused() {
        let err = parse(&BASE.replace(r#"{ env = "S" }"#, r#""plain""#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_secret"), "{err}");
    }

    #[test]
    fn an_inline_secret_is_not_repeated_in_the_error() {
        let err = parse(&BASE.replace(r#"{ env = "S" }"#, r#""hunter2-very-secret""#))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("line 10"), "{err}");
    }

    #[test]
    fn urls_with_credentials_are_refused_without_repeating_them() {
        let err = parse(&BASE.replace(
            "http://127.0.0.1:1",
            "https://admin:pa55word@sis.example.org",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("carries credentials"), "{err}");
        assert!(
            !err.contains("pa55word") && !err.contains("admin:"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        let remote = BASE.replace("http://127.0.0.1:1", "http://sis.example.org");
        let err = parse(&remote).unwrap_err().to_string();
        assert!(
            err.contains("plain http") && err.contains("allow_insecure_http"),
            "{err}"
        );
        parse(&format!("allow_insecure_http = true\n{remote}")).unwrap();
        parse(&BASE.replace("http://127.0.0.1:1", "http://localhost:8080")).unwrap();
        parse(&BASE.replace("http://127.0.0.1:1", "https://sis.example.org")).unwrap();
        let err = parse(&format!(
            "{BASE}token_url = \"http://idp.example.org/token\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("token_url"), "{err}");
    }

    #[test]
    fn quoted_values_are_redacted_and_names_kept() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "s3cret", expected `client_secret`"#),
            r#"invalid type: string "…", expected `client_secret`"#
        );
        assert_eq!(
            redact_quoted("unknown variant `s3cret`, expected `env` or `file`"),
            "unknown variant `…`, expected `env` or `file`"
        );
    }

    #[test]
    fn one_point_two_uses_oauth2() {
        let c = parse(&BASE.replace("aspen", "infinite-campus")).unwrap();
        assert_eq!(c.sources[0].auth().unwrap(), AuthFlavour::Oauth1);
        let c = parse(&format!(
            "{}version = \"1.2\"\n",
            BASE.replace("aspen", "infinite-campus")
        ))
        .unwrap();
        assert_eq!(c.sources[0].auth().unwrap(), AuthFlavour::Oauth2);
    }
}

#[cfg(test)]
mod readme_example {
    use super::*;

    /// The README's commented example is a config that loads and that the engine accepts.
    #[test]
    fn the_readme_config_example_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("end of block");
        let config: HostConfig = toml::from_str(&readme[start..end]).expect("parses");
        config.check().expect("host checks");
        let rules = config.sync_config().expect("rules");
        classbridge_engine::validate_config(&rules).expect("engine accepts the rules");
        assert_eq!(rules.sources[0].limits.line_item_title_max, Some(30));
        assert_eq!(rules.holds.thresholds.len(), 3);
    }
}

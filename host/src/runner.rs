//! One run: fetch everything, plan in the engine, stop for approval when needed, apply the
//! plan's operations in order with a journal, and commit the outcomes into the state.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use classbridge_engine::abi::{ApproveOpsRequest, Entry, ValidateRequest};
use classbridge_engine::commit_rows::{
    COMMIT_PART_ENTRIES, CommitNeedsRequest, CommitRowsRequest, RowKey, commit_parts,
};
use classbridge_engine::config::SyncMode;
use classbridge_engine::input::{CheckOutcome, RemovalCheck, SourceData, SourcePayload, SyncInput};
use classbridge_engine::needs::{EnrollmentNeeds, NeedsFacts};
use classbridge_engine::plan::{
    Absence, Action, Approval, MemberRole, OpOutcome, OutcomeResult, PlannedOp,
};
use classbridge_engine::rows::StatePart;
use classbridge_engine::session::{self, chunks_of};
use classbridge_engine::{Decisions, StateChanges, SyncConfig, SyncPlan, SyncState};
use serde_json::{Value, json};
use tokio::task::JoinSet;

mod read_scope;
mod undo;

use crate::classroom::ClassroomClient;
use crate::config::{ConfigError, HostConfig, SourceKind};
use crate::engine_runtime::{EngineRuntime, RuntimeError};
use crate::http::HttpError;
use crate::oneroster::{self, FetchError, OneRosterClient, csv_bundle};
use crate::progress::Progress;
use crate::store::{Decision, LeftOutOp, RunStatus, SourceRead, Store, StoreError};
use crate::vendor;

/// Why a run stopped. Each error keeps its cause as `source`; [`RunError::kind`] says which
/// exit code and HTTP status it maps to, so nothing decides by reading error text.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    HostConfig(#[from] ConfigError),
    /// The engine refused the rules; the text lists every problem.
    #[error("{0}")]
    Rules(String),
    #[error("state folder {path}")]
    StateFolder {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),
    #[error("no source {0:?} in the config")]
    UnknownSource(String),
    #[error("source {0}: no path")]
    NoPath(String),
    #[error("source {0} is a CSV bundle: grades cannot be written back to it")]
    NotWritable(String),
    #[error(transparent)]
    Console(#[from] crate::serve::ServeError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the console server stopped")]
    Server(#[source] std::io::Error),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Engine(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process is running against the same state database.
    #[error(transparent)]
    Busy(#[from] crate::run_lock::LockError),
    #[error(
        "run {run} is {status}, not pending approval; only the newest pending run can be approved"
    )]
    NotPending { run: i64, status: &'static str },
    /// Someone decided first (another admin, another tab, the CLI).
    #[error(
        "run {run} was already approved by {by} at {at} and is {status} now: nothing more was applied; reload to see it"
    )]
    AlreadyDecided {
        run: i64,
        status: &'static str,
        by: String,
        at: String,
    },
    #[error("run {run} has no {what}")]
    Missing { run: i64, what: &'static str },
    #[error(
        "run {run} was planned by another engine version: run `classbridge sync` again for a fresh plan"
    )]
    PlannedByOtherEngine {
        run: i64,
        #[source]
        source: StoreError,
    },
    #[error(
        "run {run} was planned on an older state (revision {planned} vs {current}): run `classbridge sync` again for a fresh plan"
    )]
    StalePlan {
        run: i64,
        planned: u64,
        current: u64,
    },
    #[error("the export could not be written: {0}")]
    Export(String),
    #[error("run {run} cannot be undone: {why}")]
    CannotUndo { run: i64, why: String },
    #[error("the engine's request could not be encoded")]
    Encode(#[source] serde_json::Error),
    #[error("{what} stopped unexpectedly")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// What kind of failure a [`RunError`] is, for exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunErrorKind {
    /// The config or the command is wrong: fix it and run again.
    Config,
    /// A service could not be reached or read completely.
    Connection,
    /// The run itself failed.
    Failed,
    /// Another process holds the state database.
    Busy,
    /// No such run.
    NotFound,
    /// The request named something the plan does not have.
    BadRequest,
    /// The state database failed.
    State,
}

impl RunError {
    pub fn kind(&self) -> RunErrorKind {
        use RunErrorKind as K;
        match self {
            RunError::HostConfig(_)
            | RunError::Rules(_)
            | RunError::StateFolder { .. }
            | RunError::HttpClient(_)
            | RunError::UnknownSource(_)
            | RunError::NoPath(_)
            | RunError::Console(_)
            | RunError::Listen { .. } => K::Config,
            RunError::Fetch(FetchError::Config(_) | FetchError::Setup { .. }) => K::Config,
            RunError::Fetch(
                FetchError::Http(_) | FetchError::Incomplete { .. } | FetchError::Read { .. },
            )
            | RunError::Http(_) => K::Connection,
            RunError::Busy(_) => K::Busy,
            RunError::CannotUndo { .. } => K::BadRequest,
            RunError::Store(StoreError::NoSuchRun(_)) => K::NotFound,
            RunError::Store(_) => K::State,
            RunError::Engine(RuntimeError::Engine { kind, .. }) if kind == "unknownOperation" => {
                K::BadRequest
            }
            _ => K::Failed,
        }
    }

    /// The whole error with its causes, for people.
    pub fn describe(&self) -> String {
        crate::error::chain(self)
    }
}

/// What a run came to.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub run: i64,
    pub status: RunStatus,
    pub plan_id: String,
    pub message: String,
    #[serde(skip)]
    pub plan: Option<SyncPlan>,
    pub succeeded: usize,
    pub failed: usize,
    pub not_attempted: usize,
    /// Operations an approval left out (rejected, or dropped with what they depend on).
    pub rejected: usize,
    pub failures: Vec<OpFailureLine>,
    /// For a plan waiting for approval or only previewed: how long applying it would take
    /// at the configured quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_estimate: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpFailureLine {
    pub op_id: String,
    pub summary: String,
    pub error: String,
}

pub struct Host {
    pub config: HostConfig,
    pub rules: SyncConfig,
    pub runtime: Arc<EngineRuntime>,
    pub store: Store,
    pub progress: Progress,
    http: reqwest::Client,
    classroom: Option<Arc<ClassroomClient>>,
    sis: HashMap<String, Arc<OneRosterClient>>,
    /// `sync --full`: read every managed course even when a change feed says which changed.
    pub full_reconciliation: bool,
    /// What the last fetch read of Classroom, recorded once its run commits.
    classroom_scope: Option<read_scope::ReadScope>,
}

/// Creates the folder the state database lives in, private to this user, and returns it.
pub fn prepare_state_folder(config: &HostConfig) -> Result<std::path::PathBuf, RunError> {
    let dir = match config.state.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let folder_error = |source| RunError::StateFolder {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(folder_error)?;
    private_folder(&dir).map_err(folder_error)?;
    Ok(dir)
}

/// The state folder holds minors' data and the compiled engine: this user only.
#[cfg(unix)]
fn private_folder(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        tracing::info!(folder = %dir.display(), "state folder made private (0700)");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_folder(_dir: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// State rows per session chunk: a few megabytes of JSON each.
const STATE_ROWS_PER_CHUNK: usize = 20_000;
/// Operations read back per call.
const OPS_PER_PAGE: usize = 20_000;

fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Host {
    pub fn new(
        config: HostConfig,
        runtime: Arc<EngineRuntime>,
        progress: Progress,
    ) -> Result<Host, RunError> {
        let rules = config.sync_config()?;
        // The engine is the judge of its rules.
        runtime
            .call::<Value>(
                Entry::ValidateConfig,
                &serde_json::to_vec(&ValidateRequest {
                    config: Cow::Borrowed(&rules),
                })
                .map_err(RunError::Encode)?,
            )
            .map_err(|e| match e {
                RuntimeError::Engine { detail, .. } => {
                    RunError::Rules(describe_config_errors(&detail))
                }
                other => RunError::Engine(other),
            })?;
        prepare_state_folder(&config)?;
        let store = Store::open(&config.state)?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(
                config.classroom.timeout_secs,
            ))
            .user_agent(concat!("classbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(RunError::HttpClient)?;
        Ok(Host {
            config,
            rules,
            runtime,
            store,
            progress,
            http,
            classroom: None,
            full_reconciliation: false,
            classroom_scope: None,
            sis: HashMap::new(),
        })
    }

    fn classroom(&mut self) -> Result<Arc<ClassroomClient>, RunError> {
        if let Some(c) = &self.classroom {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(
            ClassroomClient::new(&self.config.classroom, self.http.clone())?
                .counting_requests(self.progress.classroom_requests()),
        );
        self.classroom = Some(Arc::clone(&c));
        Ok(c)
    }

    fn sis(&mut self, id: &str) -> Result<Arc<OneRosterClient>, RunError> {
        if let Some(c) = self.sis.get(id) {
            return Ok(Arc::clone(c));
        }
        let settings = self
            .config
            .sources
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| RunError::UnknownSource(id.to_string()))?;
        if settings.kind != SourceKind::Rest {
            return Err(RunError::NotWritable(id.to_string()));
        }
        let c = Arc::new(
            OneRosterClient::new(settings, self.http.clone())?
                .counting_requests(self.progress.sis_requests()),
        );
        self.sis.insert(id.to_string(), Arc::clone(&c));
        Ok(c)
    }

    /// "Test Connection": authenticate and read one page from each SIS, reach Classroom.
    pub async fn check(&mut self) -> Vec<(String, Result<String, String>)> {
        let mut out = Vec::new();
        for s in self.config.sources.clone() {
            let result = match s.kind {
                SourceKind::Csv => s
                    .path
                    .as_ref()
                    .ok_or_else(|| "no path".to_string())
                    .and_then(|p| {
                        csv_bundle::read_bundle(&s.id, p, s.bundle_limits())
                            .map_err(|e| crate::error::chain(&e))
                    })
                    .map(|files| format!("CSV bundle with {} files", files.len())),
                SourceKind::Rest => match self.sis(&s.id) {
                    Ok(client) => client
                        .check()
                        .await
                        .map(|n| {
                            format!(
                                "authenticated ({}), OneRoster {}, read {n} org(s)",
                                match s.auth() {
                                    Ok(vendor::AuthFlavour::Oauth1) => "OAuth 1.0a",
                                    _ => "OAuth 2.0",
                                },
                                match s.version() {
                                    classbridge_engine::config::OneRosterVersion::V1_1 => "1.1",
                                    classbridge_engine::config::OneRosterVersion::V1_2 => "1.2",
                                }
                            )
                        })
                        .map_err(|e| crate::error::chain(&e)),
                    Err(e) => Err(e.describe()),
                },
            };
            let reachable = result.is_ok();
            out.push((format!("source {}", s.id), result));
            // The default category is sent as a sourcedId of the SIS: it must be one of its own.
            if let (SourceKind::Rest, true, Some(category)) =
                (s.kind, reachable, s.default_category.clone())
                && self.rules.mode == SyncMode::TwoWay
                && let Ok(client) = self.sis(&s.id)
            {
                let (outcome, how) = client.check_absence("categories", &category).await;
                let result = match outcome {
                    CheckOutcome::Present => Ok(format!("'{category}' is a category of this SIS")),
                    CheckOutcome::Gone => Err(format!(
                        "'{category}' is not a category of this SIS ({how}); default_category must be the sourcedId of one of its categories, or work without a matching topic is held back"
                    )),
                    CheckOutcome::Unknown => {
                        Err(format!("'{category}' could not be checked: {how}"))
                    }
                };
                out.push((format!("source {} default_category", s.id), result));
            }
            if self.rules.mode == SyncMode::TwoWay && s.write_grades {
                out.push((
                    format!("source {} grade export", s.id),
                    s.grade_export_rules().map_err(|e| e.to_string()),
                ));
            }
        }
        let classroom = match self.classroom() {
            Ok(c) => c
                .check()
                .await
                .map(|_| "reached, courses readable".to_string())
                .map_err(|e| crate::error::chain(&e)),
            Err(e) => Err(e.describe()),
        };
        out.push(("classroom".into(), classroom));
        out
    }

    /// Reads every source and Classroom completely. Any gap aborts before planning.
    pub async fn fetch(
        &mut self,
        mut state: SyncState,
    ) -> Result<(SyncInput, Vec<SourceRead>), RunError> {
        let now = now_rfc3339();
        let mut sources = Vec::new();
        let mut reads = Vec::new();
        let two_way = self.rules.mode == SyncMode::TwoWay;
        for s in self.config.sources.clone() {
            let payload = match s.kind {
                SourceKind::Csv => {
                    let path = s
                        .path
                        .clone()
                        .ok_or_else(|| RunError::NoPath(s.id.clone()))?;
                    let bar = self
                        .progress
                        .spinner(format!("Reading CSV bundle {}", s.id));
                    let files = csv_bundle::read_bundle(&s.id, &path, s.bundle_limits())?;
                    bar.finish_and_clear();
                    SourcePayload::Csv { files }
                }
                SourceKind::Rest => {
                    let client = self.sis(&s.id)?;
                    let since = self.delta_since(&s, &state)?;
                    tracing::info!(
                        source = %s.id,
                        read = since.as_deref().map_or_else(|| "full".to_string(), |t| format!("changes since {t}")),
                        "reading the SIS"
                    );
                    let mut collections = BTreeMap::new();
                    for name in vendor::collections_to_read(two_way) {
                        let bar = self.progress.spinner(format!("Reading {} {name}", s.id));
                        let tick = |n: usize| bar.set_position(n as u64);
                        let collection = client
                            .fetch_collection(name, since.as_deref(), &tick)
                            .await
                            .map_err(|e| e.at_source(&s.id))?;
                        bar.finish_and_clear();
                        tracing::info!(source = %s.id, collection = name, pages = collection.pages.len(), "read");
                        collections.insert(name.to_string(), collection);
                    }
                    reads.push(SourceRead {
                        source_id: s.id.clone(),
                        read_at: now.clone(),
                        full: since.is_none(),
                    });
                    SourcePayload::Json { collections }
                }
            };
            sources.push(SourceData {
                source_id: s.id.clone(),
                payload,
                removal_checks: Vec::new(),
            });
        }
        crate::resident::log_stage("sources read");
        let classroom = self.classroom()?;
        let bar = self.progress.bar(0, "Reading Classroom");
        let tick = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        // The courses the state knows, by id; new ones are looked up by alias once planned.
        let known_ids: Vec<String> = state
            .classroom
            .courses
            .values()
            .filter_map(|c| c.course_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let scope = self.classroom_read_scope(&known_ids, two_way).await?;
        let read_ids = scope.select(known_ids);
        tracing::info!(
            courses = read_ids.len(),
            full = matches!(scope, read_scope::ReadScope::All { .. }),
            "reading Classroom"
        );
        self.classroom_scope = Some(scope);
        // The export ledger of exactly the courses read: what the engine needs of it (a
        // one-way sync reads no grades and needs none).
        if two_way {
            self.store
                .add_ledger_slice(&mut state.exported, read_ids.iter().map(String::as_str))?;
        }
        let listings = classroom.fetch_listings(read_ids, two_way, &tick).await?;
        bar.finish_and_clear();
        crate::resident::log_stage("Classroom read");
        let mut input = SyncInput {
            config: self.rules.clone(),
            sources,
            classroom: listings,
            previous_state: state,
            now,
        };
        self.add_enrollments(&mut input)?;
        Ok((input, reads))
    }

    /// Asks the engine which enrolments the run needs (everything else read, the
    /// enrolments and Classroom's members not yet) and reads those from the state: the
    /// classes whose membership can have changed, or every class when the engine cannot
    /// bound them.
    fn add_enrollments(&self, input: &mut SyncInput) -> Result<(), RunError> {
        // Classroom's members are read with the enrolments, by class: the engine is told who
        // is at the classes-per-person limit, which it cannot count from a slice.
        let limit = input.config.classroom.limits.classes_per_user;
        let facts = NeedsFacts {
            at_class_limit: Some(self.store.people_at_class_limit(limit)?),
            ..self.store.needs_facts()?
        };
        let bar = self
            .progress
            .spinner("Asking the engine which enrolments this run needs");
        let needs = self.runtime.enrollment_needs(
            &session::start_of(input),
            session::chunk_texts(input, STATE_ROWS_PER_CHUNK),
            &facts,
        );
        bar.finish_and_clear();
        let needs = needs?;
        let read = self
            .store
            .add_enrollments(&mut input.previous_state, &needs, &facts)?;
        match (&needs, &input.previous_state.enrollment_slice) {
            (EnrollmentNeeds::All { reason }, _) => {
                tracing::info!(enrollments = read, reason = %reason, "every enrolment read");
            }
            (EnrollmentNeeds::Slice(_), slice) => tracing::info!(
                classes = slice.as_ref().map_or(0, |s| s.classes.len()),
                enrollments = read,
                of = slice.as_ref().map_or(0, |s| s.roster),
                "enrolments read for the classes this run can change"
            ),
        }
        Ok(())
    }

    /// Where a delta read of `source` starts, or `None` for a full read: the first read, a
    /// source without `delta`, `sync --full`, or a full read due on the `full_read_every`
    /// cadence (only a full read finds records the SIS deleted without saying so).
    fn delta_since(
        &self,
        source: &crate::config::SourceSettings,
        state: &SyncState,
    ) -> Result<Option<String>, RunError> {
        if !source.delta || self.full_reconciliation || !state.sources.contains_key(&source.id) {
            return Ok(None);
        }
        let every = source.full_read_every()?;
        let last_full = self.store.source_full_read(&source.id)?;
        if read_scope::reconciliation_due(last_full.as_deref(), chrono::Utc::now(), every) {
            return Ok(None);
        }
        Ok(self
            .store
            .source_cursor(&source.id)?
            .and_then(|t| oneroster::delta_since(&t)))
    }

    /// Plans in the engine module's session: the input goes in chunk by chunk (each SIS page,
    /// the Classroom listings, the state's rows), the operations come back page by page, so no
    /// single call carries the district.
    fn engine_plan(&self, input: SyncInput) -> Result<SyncPlan, RunError> {
        let (start, chunks) = chunks_of(input, STATE_ROWS_PER_CHUNK);
        // The count of chunks fed is the progress: their number is known only as they are cut.
        let bar = self.progress.spinner("Planning: chunks fed to the engine");
        let plan = self
            .runtime
            .plan_session(&start, chunks.texts(), OPS_PER_PAGE, &|n| {
                bar.set_position(n);
            });
        bar.finish_and_clear();
        Ok(plan?)
    }

    /// Looks up, by alias, each course the plan would create: the state does not know it, but
    /// Classroom may (a reconnect with a new state database, a crash between a creation and
    /// its record). Those found are read whole and the run planned again, so they and their
    /// members are adopted rather than added again. When none exists (a first sync), the plan
    /// stands: a lookup that found nothing changes nothing the engine plans.
    async fn find_existing_courses(
        &mut self,
        run: i64,
        plan: SyncPlan,
    ) -> Result<SyncPlan, RunError> {
        let aliases: Vec<String> = plan
            .ops
            .iter()
            .filter_map(|op| match &op.action {
                Action::ClassroomCreateCourse { alias, .. } => Some(alias.to_string()),
                _ => None,
            })
            .collect();
        if aliases.is_empty() {
            return Ok(plan);
        }
        tracing::info!(
            courses = aliases.len(),
            "looking up the courses to create by alias"
        );
        let bar = self
            .progress
            .bar(aliases.len() as u64, "Looking up new courses in Classroom");
        let tick = |done: usize, _total: usize| bar.set_position(done as u64);
        let two_way = self.rules.mode == SyncMode::TwoWay;
        let classroom = self.classroom()?;
        let found = classroom.find_by_alias(aliases, two_way, &tick).await?;
        bar.finish_and_clear();
        if found.is_empty() {
            return Ok(plan);
        }
        tracing::info!(
            courses = found.len(),
            "courses already in Classroom are adopted; planning again"
        );
        let mut input = self.stored_input(run)?;
        self.store.add_ledger_slice(
            &mut input.previous_state.exported,
            found.iter().map(|(_, read)| read.id()),
        )?;
        let listings = &mut input.classroom;
        for (alias, read) in found {
            listings.found_by_alias.insert(alias, read.id().to_string());
            // Already read as a course the state knows (under another alias): once is enough.
            if !listings.members_complete.contains(read.id()) {
                read.add_to(listings, two_way);
            }
        }
        drop(plan);
        self.plan_again(run, input)
    }

    /// The input a run's plan was made from, as stored.
    fn stored_input(&self, run: i64) -> Result<SyncInput, RunError> {
        self.store.run_input(run)?.ok_or(RunError::Missing {
            run,
            what: "stored input",
        })
    }

    /// Stores `input` as the run's input and plans from it: the console re-plans from exactly
    /// what the run's plan was made from.
    fn plan_again(&mut self, run: i64, input: SyncInput) -> Result<SyncPlan, RunError> {
        self.store.save_input(run, &input)?;
        self.engine_plan(input)
    }

    /// Asks the SIS about each record its listings left out (at most `max_removal_checks` per
    /// source), then plans again with the answers, so a record missing from one read is
    /// removed only when the SIS confirms it gone. The input with the answers replaces the
    /// stored one: the console re-plans from exactly what this plan was made from.
    async fn confirm_absences(&mut self, run: i64, plan: SyncPlan) -> Result<SyncPlan, RunError> {
        let unchecked: Vec<Absence> = plan.unchecked_absences().cloned().collect();
        if unchecked.is_empty() {
            return Ok(plan);
        }
        drop(plan);
        let mut input = self.stored_input(run)?;
        tracing::info!(
            records = unchecked.len(),
            "asking the SIS about records its listings left out"
        );
        let bar = self.progress.bar(
            unchecked.len() as u64,
            "Asking the SIS about records missing from its listings",
        );
        let mut by_source: BTreeMap<String, Vec<Absence>> = BTreeMap::new();
        for absence in unchecked {
            by_source
                .entry(absence.source.clone())
                .or_default()
                .push(absence);
        }
        for (source, absences) in by_source {
            let (limit, in_flight) = self
                .config
                .sources
                .iter()
                .find(|s| s.id == source)
                .map_or((0, 1), |s| (s.max_removal_checks, s.max_concurrency.max(1)));
            let client = self.sis(&source).ok();
            let mut checks = Vec::with_capacity(absences.len());
            let mut asked = JoinSet::new();
            for (i, absence) in absences.into_iter().enumerate() {
                let Some(client) = client.clone().filter(|_| i < limit) else {
                    let detail = if client.is_none() {
                        "the source cannot be asked for one record".to_string()
                    } else {
                        format!(
                            "not asked: over this run's limit of {limit} checks (max_removal_checks in [[source]]); asked again next run"
                        )
                    };
                    checks.push(RemovalCheck {
                        entity: absence.entity,
                        sourced_id: absence.sourced_id,
                        outcome: CheckOutcome::Unknown,
                        detail,
                    });
                    bar.inc(1);
                    continue;
                };
                // As many at a time as the source allows; the client's throttle keeps its pace.
                if asked.len() >= in_flight
                    && let Some(joined) = asked.join_next().await
                {
                    checks.push(joined.map_err(|source| RunError::Task {
                        what: "a removal check",
                        source,
                    })?);
                    bar.inc(1);
                }
                asked.spawn(async move {
                    let (outcome, detail) = client
                        .check_absence(absence.entity.collection(), &absence.remote_id)
                        .await;
                    RemovalCheck {
                        entity: absence.entity,
                        sourced_id: absence.sourced_id,
                        outcome,
                        detail,
                    }
                });
            }
            while let Some(joined) = asked.join_next().await {
                let check = joined.map_err(|source| RunError::Task {
                    what: "a removal check",
                    source,
                })?;
                checks.push(check);
                bar.inc(1);
            }
            // Answers arrive in any order; the input (and so the plan) must not depend on it.
            checks.sort_by(|a, b| (a.entity, &a.sourced_id).cmp(&(b.entity, &b.sourced_id)));
            if let Some(data) = input.sources.iter_mut().find(|d| d.source_id == source) {
                data.removal_checks = checks;
            }
        }
        bar.finish_and_clear();
        self.plan_again(run, input)
    }

    /// Settles runs a killed process left half-applied: outcomes the journal recorded are
    /// committed; operations begun without a recorded outcome are left to the next plan,
    /// which re-reads Classroom (courses by alias, topics by name) and adopts what exists
    /// before creating anything, and re-sends PUTs by sourcedId.
    pub fn reconcile_interrupted(&mut self) -> Result<Vec<i64>, RunError> {
        let mut settled = Vec::new();
        for run in self.store.runs_with_status(RunStatus::Applying)? {
            let plan = match self.store.run_plan_to_apply(run) {
                Err(e @ StoreError::UnreadablePlan { .. }) => {
                    // Its outcomes cannot be replayed; every operation is idempotent, so the
                    // next run adopts whatever this one managed to do.
                    tracing::warn!(run, error = %crate::error::chain(&e), "interrupted run left for the next plan");
                    self.store.set_status(
                        run,
                        RunStatus::Interrupted,
                        Some("interrupted; planned by another engine version, so the next run plans again and adopts what was done"),
                    )?;
                    continue;
                }
                other => other?,
            };
            let Some(plan) = plan else {
                self.store.set_status(
                    run,
                    RunStatus::Interrupted,
                    Some("interrupted before planning finished"),
                )?;
                continue;
            };
            let journal = self.store.journal(run)?;
            let recorded: HashMap<String, OpOutcome> = journal
                .into_iter()
                .filter_map(|j| j.outcome.map(|o| (j.op_id, o)))
                .collect();
            let outcomes: Vec<OpOutcome> = plan
                .ops
                .iter()
                .map(|op| {
                    recorded.get(&op.op_id).cloned().unwrap_or(OpOutcome {
                        op_id: op.op_id.clone(),
                        result: OutcomeResult::NotAttempted,
                    })
                })
                .collect();
            let done = recorded.len();
            let message = format!(
                "interrupted; reconciled: {done} operation(s) recorded as done or failed, {} left for the next run",
                plan.ops.len() - done
            );
            match self.engine_commit(&plan, &outcomes) {
                Ok(next) => {
                    let counts = count_outcomes(&outcomes);
                    // The state now holds what this run read, so the reads count as done.
                    let reads = self.store.source_reads(run)?;
                    self.store.finish_apply(
                        run,
                        &next,
                        RunStatus::Interrupted,
                        &counts,
                        Some(&message),
                        &reads,
                    )?;
                }
                Err(e) => {
                    tracing::warn!(run, error = %e.describe(), "could not commit an interrupted run");
                    self.store.set_status(
                        run,
                        RunStatus::Interrupted,
                        Some(&format!("interrupted; not committed: {}", e.describe())),
                    )?;
                }
            }
            settled.push(run);
        }
        Ok(settled)
    }

    /// Commits from the rows the plan touches: the engine names them, the store reads just
    /// those, and the engine answers the rows that change, which are all that is written.
    ///
    /// In parts (`commit_parts`): a first sync's plan carries the whole new roster, and a
    /// large district's, sent whole, did not fit the module's memory.
    fn engine_commit(
        &self,
        plan: &SyncPlan,
        outcomes: &[OpOutcome],
    ) -> Result<StateChanges, RunError> {
        let (_, revision) = self.store.state_revision()?;
        let mut all: Option<StateChanges> = None;
        for part in commit_parts(plan, COMMIT_PART_ENTRIES) {
            let asked = CommitNeedsRequest { plan: part };
            let request = serde_json::to_vec(&asked).map_err(RunError::Encode)?;
            let needs: Vec<RowKey> = self.runtime.call(Entry::CommitNeeds, &request)?;
            drop(request);
            let rows = self.store.state_rows_for(&needs)?;
            // Only the part with the operations has outcomes to lay.
            let outcomes = if asked.plan.ops.is_empty() {
                &[]
            } else {
                outcomes
            };
            let request = serde_json::to_vec(&CommitRowsRequest {
                revision,
                plan: asked.plan,
                outcomes: Cow::Borrowed(outcomes),
                rows,
            })
            .map_err(RunError::Encode)?;
            let changes = self
                .runtime
                .call_owned::<StateChanges>(Entry::CommitRows, request)?;
            match &mut all {
                None => all = Some(changes),
                Some(all) => all
                    .absorb(changes)
                    .map_err(|message| RunError::Engine(RuntimeError::Abi(message)))?,
            }
        }
        // `commit_parts` always ends with the part of the operations.
        all.ok_or_else(|| RunError::Engine(RuntimeError::Abi("no commit part".into())))
    }

    /// `plan` (apply = false) and `sync` (apply = true).
    pub async fn run(&mut self, trigger: &str, apply: bool) -> Result<RunReport, RunError> {
        let _lock = self.take_run_lock(trigger)?;
        let result = self.run_once(trigger, apply).await;
        self.apply_retention();
        self.notify_now().await;
        result
    }

    /// The single-writer lock, then the leftovers of processes that died holding it: runs
    /// they left in `planning` are closed as failed (applying ones are reconciled next).
    fn take_run_lock(&mut self, what: &str) -> Result<crate::run_lock::RunLock, RunError> {
        let lock = crate::run_lock::RunLock::acquire(&self.config.state, what)?;
        let closed = self.store.close_abandoned_planning()?;
        if closed > 0 {
            tracing::warn!(
                runs = closed,
                "runs left in planning by a stopped process were closed as failed"
            );
        }
        Ok(lock)
    }

    /// The report with how long applying its plan would take at the configured quota.
    fn with_estimate(&self, mut report: RunReport) -> RunReport {
        report.apply_estimate = report.plan.as_ref().and_then(|plan| {
            crate::report::apply_estimate(plan, self.config.classroom.quota_per_minute)
        });
        report
    }

    /// A run inside a `skip` pause window reads nothing and changes nothing: it is recorded
    /// as such, and the source cursors stay where they were, so the first run after the
    /// window reads and plans every change made meanwhile. (The engine plans nothing in the
    /// window either; stopping here also spares the requests.)
    fn paused(&mut self, trigger: &str) -> Result<Option<RunReport>, RunError> {
        let now = now_rfc3339();
        let Some((i, window)) = self
            .rules
            .pause_on(&now[..10])
            .filter(|(_, w)| w.action == classbridge_engine::config::PauseAction::Skip)
        else {
            return Ok(None);
        };
        let message = format!(
            "syncs are paused from {} to {} (rule pause[{i}]): nothing was read or changed",
            window.from, window.to
        );
        let run = self.store.start_run(trigger)?;
        self.store
            .set_status(run, RunStatus::NoChanges, Some(&message))?;
        tracing::info!(run, "{message}");
        Ok(Some(RunReport {
            run,
            status: RunStatus::NoChanges,
            plan_id: String::new(),
            message,
            plan: None,
            succeeded: 0,
            failed: 0,
            not_attempted: 0,
            rejected: 0,
            failures: Vec::new(),
            apply_estimate: None,
        }))
    }

    /// Tells what is due (`[notify]`); a failure here never fails the run: it is logged,
    /// and what was not delivered is tried again at the next scan.
    pub async fn notify_now(&mut self) -> usize {
        let Some(settings) = self.config.notify.clone() else {
            return 0;
        };
        match crate::notify::scan_and_deliver(
            &mut self.store,
            &settings,
            &self.http,
            chrono::Utc::now(),
        )
        .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "notifications could not be scanned");
                0
            }
        }
    }

    /// Thins old runs' stored inputs and plans; a failure here never fails the run.
    fn apply_retention(&mut self) {
        match self.store.prune(self.config.retention.keep_run_details) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(runs = n, "retention: old inputs and plans dropped"),
            Err(e) => tracing::warn!(error = %e, "retention could not thin old runs"),
        }
    }

    async fn run_once(&mut self, trigger: &str, apply: bool) -> Result<RunReport, RunError> {
        self.reconcile_interrupted()?;
        if let Some(report) = self.paused(trigger)? {
            return Ok(report);
        }
        // The export ledger is read for the courses this run reads, in `fetch`.
        let state = self.store.state_for_run()?;
        crate::resident::log_stage("state read");
        let run = self.store.start_run(trigger)?;
        self.classroom_scope = None;
        let fetched = self.fetch(state).await;
        let (input, reads) = match fetched {
            Ok(v) => v,
            Err(e) => {
                self.store
                    .set_status(run, RunStatus::Failed, Some(&e.describe()))?;
                return Err(e);
            }
        };
        crate::resident::log_stage("sources, Classroom and enrolments read");
        // Stored for the console's verification, then fed to the engine piece by piece.
        self.store.save_input(run, &input)?;
        crate::resident::log_stage("input stored");
        self.store.save_plan_facts(
            run,
            &NeedsFacts {
                planned_on: input.now.get(..10).map(str::to_string),
                config_digest: Some(classbridge_engine::config_digest(&input.config)),
                left_out: false,
                at_class_limit: None,
            },
        )?;
        self.store.save_source_reads(run, &reads)?;
        // Recorded by the commit, whether that follows now or at an approval.
        if let Some(scope) = self.classroom_scope.take() {
            self.store.save_classroom_read(run, &scope.read())?;
        }
        let planned = match self.engine_plan(input) {
            Ok(plan) => match self.find_existing_courses(run, plan).await {
                Ok(plan) => self.confirm_absences(run, plan).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                self.store
                    .set_status(run, RunStatus::Failed, Some(&e.describe()))?;
                return Err(e);
            }
        };
        crate::resident::log_stage("planned");
        if !apply {
            self.store.save_plan(
                run,
                &plan,
                RunStatus::Planned,
                Some("preview only (classbridge plan)"),
            )?;
            return Ok(self.with_estimate(report(
                run,
                RunStatus::Planned,
                &plan,
                "preview only: nothing was changed".into(),
                &[],
                &[],
            )));
        }
        // Preview mode asks about changes: a plan with nothing to apply and no hold closes as
        // "no changes" rather than waiting for an approval of nothing.
        if let Some(why) = plan.waiting_reason() {
            self.store
                .save_plan(run, &plan, RunStatus::Pending, Some(&why))?;
            crate::resident::log_stage("plan stored");
            return Ok(self.with_estimate(report(
                run,
                RunStatus::Pending,
                &plan,
                format!("{why}. Review it, then run `classbridge approve {run}`"),
                &[],
                &[],
            )));
        }
        self.store
            .save_plan(run, &plan, RunStatus::Applying, None)?;
        // Stored with their explanations; applying needs none of them.
        let mut plan = plan;
        plan.ops.iter_mut().for_each(crate::store::to_apply);
        self.apply(run, plan, None, &reads).await
    }

    /// Approves a pending run (all, or all but `reject`) and applies it. `by` says who decided
    /// (`console`, `cli:<user>`); the decision is stored with the run.
    pub async fn approve(
        &mut self,
        run: i64,
        reject: Vec<String>,
        by: &str,
    ) -> Result<RunReport, RunError> {
        self.approve_reporting(run, reject, by, |_| {}).await
    }

    /// [`Host::approve`], telling `checked` once whether the approval was accepted (the run is
    /// pending, its plan current, every rejected op id known), before anything is applied: the
    /// console answers that at once and lets the apply run in the background.
    pub async fn approve_reporting(
        &mut self,
        run: i64,
        reject: Vec<String>,
        by: &str,
        checked: impl FnOnce(Result<(), &RunError>),
    ) -> Result<RunReport, RunError> {
        let lock = match self.take_run_lock("approve") {
            Ok(lock) => lock,
            Err(e) => {
                checked(Err(&e));
                return Err(e);
            }
        };
        let result = match self.check_approval(run, reject, by).await {
            Ok((approved, decision)) => {
                checked(Ok(()));
                match self.store.source_reads(run) {
                    Ok(reads) => self.apply(run, approved, Some(&decision), &reads).await,
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => {
                checked(Err(&e));
                Err(e)
            }
        };
        drop(lock);
        self.apply_retention();
        self.notify_now().await;
        result
    }

    /// The approved plan and the decision, or why the approval is refused.
    async fn check_approval(
        &mut self,
        run: i64,
        reject: Vec<String>,
        by: &str,
    ) -> Result<(SyncPlan, Decision), RunError> {
        self.reconcile_interrupted()?;
        let row = self.store.run(run)?;
        if row.status != RunStatus::Pending {
            if let Some(d) = self.store.decision(run)? {
                return Err(RunError::AlreadyDecided {
                    run,
                    status: row.status.as_str(),
                    by: d.decided_by,
                    at: d.decided_at,
                });
            }
            return Err(RunError::NotPending {
                run,
                status: row.status.as_str(),
            });
        }
        let plan = match self.store.run_plan_to_apply(run) {
            Err(source @ StoreError::UnreadablePlan { .. }) => {
                self.store.set_status(
                    run,
                    RunStatus::Superseded,
                    Some("planned by another engine version"),
                )?;
                return Err(RunError::PlannedByOtherEngine { run, source });
            }
            other => other?,
        }
        .ok_or(RunError::Missing { run, what: "plan" })?;
        let (_, revision) = self.store.state_revision()?;
        if let Err(classbridge_engine::EngineError::StalePlan {
            plan_revision,
            state_revision,
        }) = plan.check_base_revision(revision)
        {
            self.store.set_status(
                run,
                RunStatus::Superseded,
                Some("the state moved on since this plan was made"),
            )?;
            return Err(RunError::StalePlan {
                run,
                planned: plan_revision,
                current: state_revision,
            });
        }
        let decisions = Decisions {
            reject: reject.clone(),
        };
        // The engine decides from the operations' ids and dependencies alone; the plan
        // itself (a first sync's carries the whole roster, a grade export hundreds of
        // thousands of request bodies) stays here and becomes the approved plan.
        let request = serde_json::to_vec(&ApproveOpsRequest::of(&plan, &decisions))
            .map_err(RunError::Encode)?;
        crate::resident::log_stage("plan to approve read");
        let approval: Approval = self.runtime.call(Entry::ApproveOps, &request)?;
        drop(request);
        let decision = decision_of(&plan, &approval, reject, by);
        let mut approved = plan;
        let left_out = approval.left_out();
        approved
            .ops
            .retain(|o| !left_out.contains(o.op_id.as_str()));
        approved.approval = Some(approval);
        Ok((approved, decision))
    }

    /// Applies a plan in waves of the same kind of operation (the plan's order already puts
    /// courses before their members, lineItems before their results), concurrently within a
    /// wave up to the quota, writing the journal around every call. Then commits.
    async fn apply(
        &mut self,
        run: i64,
        plan: SyncPlan,
        decision: Option<&Decision>,
        reads: &[SourceRead],
    ) -> Result<RunReport, RunError> {
        self.store.begin_apply(run, &plan, decision)?;
        crate::resident::log_stage("apply begun");
        let total = plan.ops.len();
        let bar = self.progress.bar(total as u64, "Applying");
        let mut target = HostTarget {
            host: self,
            run,
            bar: &bar,
            priors: Arc::default(),
        };
        let outcomes = crate::apply::apply_in_waves(&plan.ops, &mut target).await?;
        bar.finish_and_clear();
        crate::resident::log_stage("operations applied");
        let ordered: Vec<OpOutcome> = plan
            .ops
            .iter()
            .filter_map(|op| outcomes.get(&op.op_id).cloned())
            .collect();
        let had_courses = self.store.has_state_rows(StatePart::Classroom, "courses")?;
        let next = self.engine_commit(&plan, &ordered)?;
        crate::resident::log_stage("committed by the engine");
        let mut counts = count_outcomes(&ordered);
        let left_out = decision.map_or(0, |d| d.left_out.len());
        counts["rejected"] = json!(left_out);
        let failures: Vec<OpFailureLine> = plan
            .ops
            .iter()
            .filter_map(|op| match outcomes.get(&op.op_id).map(|o| &o.result) {
                Some(OutcomeResult::Failed { error }) => Some(OpFailureLine {
                    op_id: op.op_id.clone(),
                    summary: op.summary.clone(),
                    error: error.clone(),
                }),
                _ => None,
            })
            .collect();
        let rejected_note = if left_out > 0 {
            format!("; {left_out} rejected by the admin and not applied")
        } else {
            String::new()
        };
        let (status, message) = if total == 0 && left_out > 0 {
            (
                RunStatus::Applied,
                format!("nothing applied{rejected_note}"),
            )
        } else if total == 0 {
            let adopted_courses = next.tables.iter().any(|t| {
                t.part == StatePart::Classroom && t.table == "courses" && !t.upsert.is_empty()
            });
            let nothing_synced = !had_courses && !adopted_courses;
            (
                RunStatus::NoChanges,
                no_changes_message(&plan, nothing_synced),
            )
        } else if failures.is_empty() {
            (
                RunStatus::Applied,
                format!("applied {total} operation(s){rejected_note}"),
            )
        } else {
            (
                RunStatus::Partial,
                format!(
                    "{} of {total} operation(s) failed; they are retried on the next run",
                    failures.len()
                ),
            )
        };
        self.store
            .finish_apply(run, &next, status, &counts, Some(&message), reads)?;
        crate::resident::log_stage("state written");
        let mut report = report(run, status, &plan, message, &failures, &ordered);
        report.rejected = left_out;
        Ok(report)
    }

    fn target_for(&mut self, op: &PlannedOp) -> Result<Target, RunError> {
        Ok(match &op.action {
            Action::OneRosterPut { source_id, .. } | Action::OneRosterDelete { source_id, .. } => {
                Target::Sis(self.sis(source_id)?)
            }
            _ => Target::Classroom(self.classroom()?),
        })
    }
}

enum Target {
    Sis(Arc<OneRosterClient>),
    Classroom(Arc<ClassroomClient>),
}

/// The real apply target: calls go to the SIS and Classroom, the journal to the store
/// (intent before the call, outcome after it).
struct HostTarget<'a> {
    host: &'a mut Host,
    run: i64,
    bar: &'a indicatif::ProgressBar,
    /// The SIS records writes replaced, by op id, read by the calls and written to the
    /// journal with their outcomes.
    priors: Priors,
}

type Priors = Arc<std::sync::Mutex<HashMap<String, classbridge_engine::undo::PriorRecord>>>;

impl crate::apply::ApplyTarget for HostTarget<'_> {
    type Call = std::pin::Pin<Box<dyn std::future::Future<Output = OutcomeResult> + Send>>;

    fn start(&mut self, op: &PlannedOp) -> Result<Result<Self::Call, String>, RunError> {
        self.host.store.journal_intent(
            self.run,
            &op.op_id,
            &op.key,
            &serde_json::to_value(&op.action).unwrap_or(Value::Null),
        )?;
        Ok(match self.host.target_for(op) {
            Ok(target) => {
                let action = op.action.clone();
                let priors = Arc::clone(&self.priors);
                let op_id = op.op_id.clone();
                Ok(Box::pin(async move {
                    if let Some(prior) = read_prior(&target, &action).await {
                        priors
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(op_id, prior);
                    }
                    execute(&target, &action).await
                }))
            }
            Err(e) => Err(e.describe()),
        })
    }

    fn finished(&mut self, outcome: &OpOutcome) -> Result<(), RunError> {
        self.host.store.journal_outcome(self.run, outcome)?;
        let prior = self
            .priors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&outcome.op_id);
        if let Some(prior) = prior {
            self.host
                .store
                .journal_prior(self.run, &outcome.op_id, &prior)?;
        }
        Ok(())
    }

    fn settled(&mut self) {
        self.bar.inc(1);
    }
}

/// Before a SIS write, the record it replaces (kept for an undo). A read that fails does not
/// stop the write: the undo then says it cannot put that record back.
async fn read_prior(
    target: &Target,
    action: &Action,
) -> Option<classbridge_engine::undo::PriorRecord> {
    let (
        Target::Sis(s),
        Action::OneRosterPut {
            collection,
            sourced_id,
            ..
        }
        | Action::OneRosterDelete {
            collection,
            sourced_id,
            ..
        },
    ) = (target, action)
    else {
        return None;
    };
    match s.read_record(collection, sourced_id).await {
        Ok(prior) => Some(prior),
        Err(e) => {
            tracing::warn!(
                "could not read {collection}/{sourced_id} before writing it (an undo cannot put it back): {}",
                crate::error::chain(&e)
            );
            None
        }
    }
}

async fn execute(target: &Target, action: &Action) -> OutcomeResult {
    let done = |id: Option<String>| OutcomeResult::Succeeded { remote_id: id };
    let failed = |e: String| OutcomeResult::Failed { error: e };
    match (target, action) {
        (Target::Classroom(c), Action::ClassroomCreateCourse { alias, course }) => c
            .create_course(alias, course)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |id| done(Some(id))),
        (
            Target::Classroom(c),
            Action::ClassroomPatchCourse {
                alias,
                update_mask,
                course,
            },
        ) => c
            .patch_course(alias, update_mask, course)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomAddTeacher { alias, user_id }) => c
            .add_member(alias, "teachers", user_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomAddStudent { alias, user_id }) => c
            .add_member(alias, "students", user_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomRemoveTeacher { alias, user_id }) => c
            .remove_member(alias, "teachers", user_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomRemoveStudent { alias, user_id }) => c
            .remove_member(alias, "students", user_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (
            Target::Classroom(c),
            Action::ClassroomInvite {
                alias,
                user_id,
                role,
            },
        ) => {
            let role = match role {
                MemberRole::Teacher => "TEACHER",
                MemberRole::Student => "STUDENT",
            };
            c.invite(alias, user_id, role)
                .await
                .map_or_else(|e| failed(crate::error::chain(&e)), |id| done(Some(id)))
        }
        (Target::Classroom(c), Action::ClassroomInviteGuardian { student_id, email }) => c
            .invite_guardian(student_id, email)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), done),
        (
            Target::Classroom(c),
            Action::ClassroomWithdrawGuardianInvitation {
                student_id,
                invitation_id,
            },
        ) => c
            .withdraw_guardian_invitation(student_id, invitation_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomDeleteInvitation { invitation_id }) => c
            .delete_invitation(invitation_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomDeleteCourse { alias }) => c
            .delete_course(alias)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomDeleteTopic { alias, topic_id }) => c
            .delete_topic(alias, topic_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (Target::Classroom(c), Action::ClassroomCreateTopic { alias, name }) => c
            .create_topic(alias, name)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |id| done(Some(id))),
        (
            Target::Classroom(c),
            Action::ClassroomPatchTopic {
                alias,
                topic_id,
                name,
            },
        ) => c
            .patch_topic(alias, topic_id, name)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (
            Target::Sis(s),
            Action::OneRosterPut {
                collection,
                sourced_id,
                body,
                ..
            },
        ) => s
            .put(collection, sourced_id, body)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        (
            Target::Sis(s),
            Action::OneRosterDelete {
                collection,
                sourced_id,
                ..
            },
        ) => s
            .delete(collection, sourced_id)
            .await
            .map_or_else(|e| failed(crate::error::chain(&e)), |_| done(None)),
        _ => failed("the operation's target does not match its action".into()),
    }
}

fn count_outcomes(outcomes: &[OpOutcome]) -> Value {
    let mut c = [0usize; 3];
    for o in outcomes {
        match o.result {
            OutcomeResult::Succeeded { .. } => c[0] += 1,
            OutcomeResult::Failed { .. } => c[1] += 1,
            OutcomeResult::NotAttempted => c[2] += 1,
        }
    }
    json!({ "succeeded": c[0], "failed": c[1], "notAttempted": c[2] })
}

fn report(
    run: i64,
    status: RunStatus,
    plan: &SyncPlan,
    message: String,
    failures: &[OpFailureLine],
    outcomes: &[OpOutcome],
) -> RunReport {
    let count = |f: fn(&OutcomeResult) -> bool| outcomes.iter().filter(|o| f(&o.result)).count();
    RunReport {
        run,
        status,
        plan_id: plan.id.clone(),
        message,
        plan: Some(reported(plan)),
        succeeded: count(|r| matches!(r, OutcomeResult::Succeeded { .. })),
        failed: count(|r| matches!(r, OutcomeResult::Failed { .. })),
        not_attempted: count(|r| matches!(r, OutcomeResult::NotAttempted)),
        rejected: 0,
        failures: failures.to_vec(),
        apply_estimate: None,
    }
}

/// The plan as a report carries it: what the CLI and the console show of it (its summary,
/// holds, issues and each operation's words), not its roster changes, state delta or
/// explanations: a district's first plan copied whole into its report was gigabytes.
fn reported(plan: &SyncPlan) -> SyncPlan {
    SyncPlan {
        ops: plan
            .ops
            .iter()
            .map(|op| {
                let mut op = op.clone();
                crate::store::to_apply(&mut op);
                op
            })
            .collect(),
        ..crate::store::plan_without_bulk(plan)
    }
}

/// "In step" only when it is true: when records were left out (no current enrollment, no
/// owner, a filter), the admin is told what and why instead of being reassured.
fn no_changes_message(plan: &SyncPlan, nothing_synced: bool) -> String {
    let left_out: Vec<String> = plan
        .summary
        .skipped
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(why, n)| format!("{n} {}", describe_skip(why)))
        .collect();
    if left_out.is_empty() {
        "no changes: Classroom and the SIS are in step".to_string()
    } else if nothing_synced {
        format!(
            "no changes, and nothing is synced yet: {} (see `classbridge runs show`)",
            left_out.join("; ")
        )
    } else {
        format!(
            "no changes to apply; left out on purpose: {}",
            left_out.join("; ")
        )
    }
}

/// The engine's skip reasons in words.
fn describe_skip(key: &str) -> String {
    let words = match key {
        "enrollment.notCurrent" => "enrollment(s) not current today (begin/end dates)",
        "enrollment.userDisabled" => "enrollment(s) of disabled users",
        "class.noOwner" => "class(es) with no teacher email and no fallbackOwner",
        "courseWork.ungraded" => "ungraded courseWork",
        "submission.ungraded" => "submission(s) without an assigned grade",
        "cascade.dependantsOfRemoved" => "record(s) removed with what they belong to",
        "class.termEnded" => "class(es) whose term ended (archived, members kept)",
        "class.waitsForLaterRun" => {
            "class(es) whose new course waits for a later run (newCoursesPerRun); run again to make them"
        }
        "student.removalGrace" => {
            "student(s) kept in their course until the removal grace ends (removalGraceDays)"
        }
        other => return other.to_string(),
    };
    words.to_string()
}

/// What an approval decided: the operations of `pending` that `approval` leaves out.
fn decision_of(pending: &SyncPlan, approval: &Approval, reject: Vec<String>, by: &str) -> Decision {
    let out = approval.left_out();
    let left_out = pending
        .ops
        .iter()
        .filter(|o| out.contains(o.op_id.as_str()))
        .map(|o| LeftOutOp {
            op_id: o.op_id.clone(),
            summary: o.summary.clone(),
            why: if reject.contains(&o.op_id) {
                "rejected".into()
            } else {
                "dependsOnRejected".into()
            },
        })
        .collect();
    Decision {
        decided_at: crate::store::now(),
        decided_by: by.to_string(),
        rejected: reject,
        left_out,
    }
}

/// The engine's config errors, one per line, each naming its field.
pub fn describe_config_errors(detail: &Value) -> String {
    let lines: Vec<String> = detail["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "  rules.{}: {}",
                e["field"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if lines.is_empty() {
        detail["message"]
            .as_str()
            .unwrap_or("invalid config")
            .to_string()
    } else {
        format!("the rules are invalid:\n{}", lines.join("\n"))
    }
}

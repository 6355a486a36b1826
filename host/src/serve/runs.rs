//! The console's run pages and actions: reads come from the console's own connection (on a
//! blocking thread, so a large run never stalls other requests); syncs and approvals start
//! jobs and answer at once.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::changes::{self, ChangeQuery};
use super::export::{self, Export};
use super::jobs::{JobKind, JobView};
use super::{AppState, csrf_ok, error, run_error, signed_in};
use crate::runner::RunError;
use crate::store::{RunStatus, Store};
use classbridge_engine::plan::PlannedOp;

/// Runs `f` on the console's connection, off the async threads.
pub(super) async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, RunError> + Send + 'static,
) -> Result<T, RunError> {
    let reader = Arc::clone(&state.reader);
    tokio::task::spawn_blocking(move || {
        let store = reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&store)
    })
    .await
    .map_err(|source| RunError::Task {
        what: "a console read",
        source,
    })?
}

pub(super) async fn runs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    match read(&state, |store| Ok(store.runs(200)?)).await {
        Ok(r) => Json(json!({ "runs": r, "job": state.jobs.view() })).into_response(),
        Err(e) => run_error(e),
    }
}

/// A run as its page opens: the plan without its operations, roster changes and state
/// delta (the page asks for the changes a page at a time), with their count. Read from the
/// run's stored outline: the plan itself is not parsed.
pub(super) async fn run_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_session!(state, headers);
    let quota = state.quota_per_minute;
    let detail = read(&state, move |store| {
        let row = store.run(id)?;
        let outline = store.run_outline(id)?;
        // How long the apply would take, for a plan still waiting for it.
        let apply_estimate = outline
            .as_ref()
            .filter(|_| matches!(row.status, RunStatus::Pending | RunStatus::Planned))
            .and_then(|o| crate::report::apply_estimate_of(o.ops_total, o.sis_ops, quota));
        let decision = store.decision(id)?;
        let ops_total = outline.as_ref().map_or(0, |o| o.ops_total);
        let (plan, by_school) = match outline {
            Some(o) => (Some(o.plan), o.by_school),
            None => (None, Vec::new()),
        };
        Ok(json!({
            "run": row,
            "plan": plan,
            "opsTotal": ops_total,
            "bySchool": by_school,
            "decision": decision,
            "applyEstimate": apply_estimate,
        }))
    })
    .await;
    // The first search should find the index ready: read it now, off this request.
    if detail.is_ok() {
        let (indexer, indexes) = (Arc::clone(&state.indexer), Arc::clone(&state.indexes));
        tokio::task::spawn_blocking(move || {
            changes::prepare_for_review(&indexer, &indexes, id);
        });
    }
    match detail {
        Ok(v) => Json(v).into_response(),
        Err(e) => run_error(e),
    }
}

/// The stored operations, as JSON, with their outcomes once applied.
fn change_items(
    store: &Store,
    run: i64,
    ops: Vec<(String, String)>,
) -> Result<Vec<Value>, RunError> {
    let ids: Vec<&str> = ops.iter().map(|(id, _)| id.as_str()).collect();
    let outcomes = store.outcomes_for(run, &ids)?;
    ops.iter()
        .map(|(id, op)| {
            let op: Value = serde_json::from_str(op).map_err(|source| {
                RunError::Store(crate::store::StoreError::Corrupt {
                    what: format!("run {run}'s operation {id}"),
                    source: source.into(),
                })
            })?;
            Ok(json!({ "op": op, "outcome": outcomes.get(id) }))
        })
        .collect()
}

/// A page of a run's changes, filtered and searched here, each with its outcome once applied.
/// A page in plan order with no filter is read by place, without the index.
pub(super) async fn run_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<ChangeQuery>,
) -> Response {
    require_session!(state, headers);
    let indexes = Arc::clone(&state.indexes);
    let answer = read(&state, move |store| {
        if query.is_plain() {
            let Some(total) = store.run_ops_total(id)? else {
                return Ok(json!({ "total": 0, "offset": query.offset, "items": [] }));
            };
            let ops = store.run_ops_page(id, query.offset, query.limit())?;
            let items = change_items(store, id, ops)?;
            return Ok(json!({ "total": total, "offset": query.offset, "items": items }));
        }
        let (_, index) = changes::cached_index(store, &indexes, id)?;
        let Some(index) = index else {
            return Ok(json!({ "total": 0, "offset": query.offset, "items": [] }));
        };
        let (total, entries) = changes::page(&index, &query);
        let seqs: Vec<u32> = entries.iter().map(|e| e.seq).collect();
        let ops = entries
            .iter()
            .map(|e| e.op_id.clone())
            .zip(store.run_ops_at(id, &seqs)?)
            .collect();
        let items = change_items(store, id, ops)?;
        let mut answer = json!({ "total": total, "offset": query.offset, "items": items });
        if query.ids {
            let from_start = ChangeQuery {
                offset: 0,
                ..query.clone()
            };
            let (_, every) = changes::page_all(&index, &from_start);
            answer["ids"] = json!(every.iter().map(|o| &o.op_id).collect::<Vec<_>>());
        }
        Ok(answer)
    })
    .await;
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => run_error(e),
    }
}

pub(super) async fn run_input(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_session!(state, headers);
    // As stored: the engine's JSON text, not parsed and written again (at M that is 150 MB).
    match read(&state, move |store| Ok(store.run_input_text(id)?)).await {
        Ok(Some(text)) => {
            // Its size before compression, so the worker sets its buffer aside once.
            let bytes = text.len().to_string();
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::HeaderName::from_static("x-input-bytes"), bytes),
                ],
                text,
            )
                .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "run {id} has no stored input: a finished run keeps what it changed, not the district it read; only pending and preview runs can be recomputed"
            ),
        ),
        Err(e) => run_error(e),
    }
}

/// The body of an approval: required, JSON, and exactly this shape. A misspelt key must never
/// read as "reject nothing", which would apply every change the admin meant to leave out.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproveBody {
    pub(super) reject: Vec<String>,
}

/// Reads an approval body, or says why it is refused (415 or 400).
pub(super) fn approve_body(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ApproveBody, (StatusCode, String)> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "an approval needs Content-Type: application/json and a body {\"reject\": [op ids]} (an empty list approves everything); nothing was applied".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "the approval body must be exactly {{\"reject\": [op ids]}}: {e}; nothing was applied"
            ),
        )
    })
}

/// A job is already running: say which, in words, and refuse.
fn busy(running: &JobView) -> Response {
    let what = match running.kind {
        "approve" => format!(
            "the approval of run {} is being applied",
            running.run.unwrap_or_default()
        ),
        _ => format!(
            "a sync started by {} at {} is running",
            running.trigger, running.started_at
        ),
    };
    (
        StatusCode::CONFLICT,
        Json(json!({
            "error": format!("{what}; try again when it finishes"),
            "job": running,
        })),
    )
        .into_response()
}

/// Checks the approval at once (pending, current, known op ids: 409/400 with nothing
/// applied), then applies it as a job: 202 with the job to follow on `/api/job`.
pub(super) async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    require_csrf!(state, headers);
    let reject = match approve_body(&headers, &body) {
        Ok(b) => b.reject,
        Err((status, message)) => return error(status, message),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = match state
        .jobs
        .start(JobKind::Approve { run: id, reject }, "console", Some(tx))
    {
        Ok(job) => job,
        Err(running) => return busy(&running),
    };
    match rx.await {
        Ok(Ok(())) => (StatusCode::ACCEPTED, Json(json!({ "job": job }))).into_response(),
        Ok(Err((message, status))) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
            message,
        ),
        Err(_) => {
            // The job ended before checking (it crashed): its failure is on /api/job.
            let view = state.jobs.view();
            let message = view
                .and_then(|v| v.error)
                .unwrap_or_else(|| "the approval stopped before it was checked".into());
            error(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }
}

/// Starts a sync as a job: 202 with the job, or 409 when one is running already.
pub(super) async fn sync_now(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_csrf!(state, headers);
    match state.jobs.start(JobKind::Sync, "console", None) {
        Ok(job) => (StatusCode::ACCEPTED, Json(json!({ "job": job }))).into_response(),
        Err(running) => busy(&running),
    }
}

/// Starts planning the undo of an applied run as a job: 202 with the job (its report names
/// the undo's pending run), or 409 when a job is running already.
pub(super) async fn undo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_csrf!(state, headers);
    match state.jobs.start(JobKind::Undo { run: id }, "console", None) {
        Ok(job) => (StatusCode::ACCEPTED, Json(json!({ "job": job }))).into_response(),
        Err(running) => busy(&running),
    }
}

/// The running job with its progress, or the last one with its report or error.
pub(super) async fn job(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    Json(json!({ "job": state.jobs.view() })).into_response()
}

pub(super) async fn config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    require_session!(state, headers);
    Json(Value::clone(&state.rules)).into_response()
}

/// `GET /api/runs/{id}/export/{changes|issues|holds|failures}.csv`; changes take the same
/// filter as `/changes` (without paging).
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, what)): Path<(i64, String)>,
    Query(query): Query<ChangeQuery>,
) -> Response {
    require_session!(state, headers);
    let Some(kind) = Export::parse(&what) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no export {what:?}: changes.csv, issues.csv, holds.csv or failures.csv"),
        );
    };
    let indexes = Arc::clone(&state.indexes);
    let bytes = read(&state, move |store| {
        let missing = || RunError::Missing {
            run: id,
            what: "plan",
        };
        let outline = store.run_outline(id)?.ok_or_else(missing)?;
        let parse = |entries: &[&changes::OpIndexEntry]| -> Result<Vec<PlannedOp>, RunError> {
            let seqs: Vec<u32> = entries.iter().map(|e| e.seq).collect();
            Ok(store.run_ops_parsed(id, &seqs)?)
        };
        let written = match kind {
            Export::Changes | Export::Failures => {
                let (_, index) = changes::cached_index(store, &indexes, id)?;
                let index = index.ok_or_else(missing)?;
                let (_, entries) = match kind {
                    Export::Changes => {
                        changes::page_all(&index, &ChangeQuery { offset: 0, ..query })
                    }
                    _ => changes::page_all(&index, &ChangeQuery::default()),
                };
                let ids: Vec<&str> = entries.iter().map(|e| e.op_id.as_str()).collect();
                let outcomes = store.outcomes_for(id, &ids)?;
                let outcome = |op: &str| outcomes.get(op).cloned();
                if kind == Export::Changes {
                    let ops = parse(&entries)?;
                    let ops: Vec<&PlannedOp> = ops.iter().collect();
                    export::changes(&ops, &index.names, outcome)
                } else {
                    let failed: Vec<&changes::OpIndexEntry> = entries
                        .into_iter()
                        .filter(|e| {
                            outcomes.get(&e.op_id).is_some_and(|o| {
                                matches!(
                                    o.result,
                                    classbridge_engine::plan::OutcomeResult::Failed { .. }
                                )
                            })
                        })
                        .collect();
                    export::failures(&parse(&failed)?, outcome)
                }
            }
            Export::Issues => export::issues(&outline.plan),
            Export::Holds => export::holds(&outline.plan),
        };
        written.map_err(|e| RunError::Export(e.to_string()))
    })
    .await;
    match bytes {
        Ok(b) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"run-{id}-{}.csv\"", kind.name()),
                ),
            ],
            b,
        )
            .into_response(),
        Err(e) => run_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct PersonQuery {
    email: String,
}

/// One person's changes across runs, each with its explanation and outcome, and the records
/// of theirs a rule left out: what `classbridge explain --person` prints.
pub(super) async fn person(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PersonQuery>,
) -> Response {
    require_session!(state, headers);
    let email = query.email.trim().to_lowercase();
    if !email.contains('@') {
        return error(
            StatusCode::BAD_REQUEST,
            "give the person's email address (name@domain)",
        );
    }
    let answer = read(&state, move |store| {
        let changes = store.person_changes(&email)?;
        let skipped = store.person_skips(&email)?;
        Ok(json!({ "person": email, "changes": changes, "skipped": skipped }))
    })
    .await;
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => run_error(e),
    }
}

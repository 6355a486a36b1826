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

use super::changes::{self, ChangeQuery, PlanCache, PlanView};
use super::export::{self, Export};
use super::jobs::{JobKind, JobView};
use super::{AppState, csrf_ok, error, run_error, signed_in};
use crate::runner::RunError;
use crate::store::{RunStatus, Store};

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

/// The stored plan of run `id`, parsed once and kept while it is looked at.
fn cached_plan(
    store: &Store,
    cache: &PlanCache,
    id: i64,
) -> Result<(crate::store::RunRow, Option<Arc<PlanView>>), RunError> {
    let row = store.run(id)?;
    let key = (id, row.plan_id.clone(), row.status.as_str().to_string());
    if let Some(plan) = cache.get(&key) {
        return Ok((row, Some(plan)));
    }
    let Some(plan) = store.run_plan(id)? else {
        return Ok((row, None));
    };
    let plan = Arc::new(PlanView::new(plan, store)?);
    cache.put(key, Arc::clone(&plan));
    Ok((row, Some(plan)))
}

/// A run as its page opens: the plan without its operations, roster changes and state
/// delta (the page asks for the changes a page at a time), with their count.
pub(super) async fn run_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    require_session!(state, headers);
    let plans = Arc::clone(&state.plans);
    let quota = state.quota_per_minute;
    let detail = read(&state, move |store| {
        let (row, plan) = cached_plan(store, &plans, id)?;
        // How long the apply would take, for a plan still waiting for it.
        let apply_estimate = plan
            .as_deref()
            .filter(|_| matches!(row.status, RunStatus::Pending | RunStatus::Planned))
            .and_then(|p| crate::report::apply_estimate(p, quota));
        let decision = store.decision(id)?;
        let outline = plan.as_deref().map(|p| {
            json!({
                "id": p.id,
                "engineVersion": p.engine_version,
                "createdAt": p.created_at,
                "ops": [],
                "holds": p.holds,
                "previewRequired": p.preview_required,
                "recordIssues": p.record_issues,
                "rosterChanges": [],
                "summary": p.summary,
                "stateDelta": classbridge_engine::delta::StateDelta::default(),
                "absences": p.absences,
                "drift": p.drift,
                "approval": p.approval,
            })
        });
        let ops_total = plan.as_ref().map_or(0, |p| p.ops.len());
        let by_school = plan.as_deref().map_or(&[][..], |p| &p.by_school[..]);
        Ok(json!({
            "run": row,
            "plan": outline,
            "opsTotal": ops_total,
            "bySchool": by_school,
            "decision": decision,
            "applyEstimate": apply_estimate,
        }))
    })
    .await;
    match detail {
        Ok(v) => Json(v).into_response(),
        Err(e) => run_error(e),
    }
}

/// A page of a run's changes, filtered and searched here, each with its outcome once applied.
pub(super) async fn run_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<ChangeQuery>,
) -> Response {
    require_session!(state, headers);
    let plans = Arc::clone(&state.plans);
    let answer = read(&state, move |store| {
        let (_, plan) = cached_plan(store, &plans, id)?;
        let Some(plan) = plan else {
            return Ok(json!({ "total": 0, "offset": query.offset, "items": [] }));
        };
        let (total, ops) = changes::page(&plan, &query);
        let ids: Vec<&str> = ops.iter().map(|o| o.op_id.as_str()).collect();
        let outcomes = store.outcomes_for(id, &ids)?;
        let items: Vec<Value> = ops
            .iter()
            .map(|op| json!({ "op": op, "outcome": outcomes.get(&op.op_id) }))
            .collect();
        let mut answer = json!({ "total": total, "offset": query.offset, "items": items });
        if query.ids {
            let from_start = ChangeQuery {
                offset: 0,
                ..query.clone()
            };
            let (_, every) = changes::page_all(&plan, &from_start);
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
    match read(&state, move |store| Ok(store.run_input(id)?)).await {
        Ok(Some(v)) => Json(v).into_response(),
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
    let plans = Arc::clone(&state.plans);
    let bytes = read(&state, move |store| {
        let (_, plan) = cached_plan(store, &plans, id)?;
        let Some(plan) = plan else {
            return Err(RunError::Missing {
                run: id,
                what: "plan",
            });
        };
        let ids: Vec<&str> = plan.ops.iter().map(|o| o.op_id.as_str()).collect();
        let outcomes = match kind {
            Export::Changes | Export::Failures => store.outcomes_for(id, &ids)?,
            Export::Issues | Export::Holds => Default::default(),
        };
        let outcome = |op: &str| outcomes.get(op).cloned();
        let written = match kind {
            Export::Changes => {
                let from_start = ChangeQuery { offset: 0, ..query };
                let (_, ops) = changes::page_all(&plan, &from_start);
                export::changes(&ops, &plan.names, outcome)
            }
            Export::Issues => export::issues(&plan),
            Export::Holds => export::holds(&plan),
            Export::Failures => export::failures(&plan, outcome),
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

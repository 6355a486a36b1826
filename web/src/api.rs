//! The host's JSON API, with the session cookie and the CSRF token.

use gloo_net::http::{Request, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunRow {
    pub id: i64,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    pub trigger: String,
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub summary: Option<Value>,
    #[serde(default)]
    pub outcome_counts: Option<Value>,
}

#[derive(Deserialize, Clone, Debug)]
pub(crate) struct RunDetail {
    pub run: RunRow,
    /// The plan without its operations (they come a page at a time from `changes`).
    pub plan: Option<classbridge_engine::SyncPlan>,
    /// How many operations the plan has.
    #[serde(default, rename = "opsTotal")]
    pub ops_total: usize,
    /// Each school's counts (`school`, `create`, `update`, `archive`, `delete`, `total`).
    #[serde(default, rename = "bySchool")]
    pub by_school: Vec<Value>,
    /// The admin's decision, when the run was approved: who, when, and what was left out.
    #[serde(default)]
    pub decision: Option<Value>,
    /// For a run waiting for approval: how long applying it takes at the configured quota.
    #[serde(default, rename = "applyEstimate")]
    pub apply_estimate: Option<String>,
}

/// One operation of a page, with its outcome once applied.
#[derive(Deserialize, Clone, Debug)]
pub(crate) struct ChangeItem {
    pub op: classbridge_engine::plan::PlannedOp,
    #[serde(default)]
    pub outcome: Option<Value>,
}

/// A page of a run's changes, filtered and searched by the host.
#[derive(Deserialize, Clone, Debug)]
pub(crate) struct ChangePage {
    pub total: usize,
    pub offset: usize,
    pub items: Vec<ChangeItem>,
}

async fn read<T: for<'de> Deserialize<'de>>(resp: Response) -> Result<T, String> {
    let status = resp.status();
    if status == 401 {
        // Signed out, idle too long, or the host restarted: back to the sign-in form.
        crate::app::session_ended();
    }
    if !(200..300).contains(&status) {
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let msg = body["error"].as_str().unwrap_or("no details").to_string();
        return Err(format!("{msg} (HTTP {status})"));
    }
    resp.json::<T>()
        .await
        .map_err(|e| format!("the host's answer could not be read: {e}"))
}

/// The browser's own words for a request that got no answer ("Failed to fetch") say
/// nothing to an admin; the console says what it means.
fn net(_: gloo_net::Error) -> String {
    "the classbridge host did not answer: is `classbridge serve` still running, and is this computer on its network?".to_string()
}

pub(crate) async fn login(token: &str) -> Result<String, String> {
    let resp = Request::post("/api/login")
        .json(&serde_json::json!({ "token": token }))
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(net)?;
    let v: Value = read(resp).await?;
    v["csrf"]
        .as_str()
        .map(str::to_string)
        .ok_or("no CSRF token in the answer".into())
}

pub(crate) async fn logout(csrf: &str) -> Result<Value, String> {
    let resp = Request::post("/api/logout")
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .map_err(net)?;
    read(resp).await
}

pub(crate) async fn session() -> Result<String, String> {
    let v: Value = read(Request::get("/api/session").send().await.map_err(net)?).await?;
    v["csrf"]
        .as_str()
        .map(str::to_string)
        .ok_or("no CSRF token".into())
}

/// The runs, and the job running or last finished (`null` when none).
pub(crate) async fn runs() -> Result<(Vec<RunRow>, Option<Value>), String> {
    let v: Value = read(Request::get("/api/runs").send().await.map_err(net)?).await?;
    let runs = serde_json::from_value(v["runs"].clone()).map_err(|e| e.to_string())?;
    Ok((runs, Some(v["job"].clone()).filter(|j| !j.is_null())))
}

/// The running job with its progress, or the last one.
pub(crate) async fn job() -> Result<Option<Value>, String> {
    let v: Value = read(Request::get("/api/job").send().await.map_err(net)?).await?;
    Ok(Some(v["job"].clone()).filter(|j| !j.is_null()))
}

pub(crate) async fn run(id: i64) -> Result<RunDetail, String> {
    read(
        Request::get(&format!("/api/runs/{id}"))
            .send()
            .await
            .map_err(net)?,
    )
    .await
}

/// One person's changes across runs, with explanations, and the records a rule left out.
#[derive(Deserialize, Clone, Debug)]
pub(crate) struct PersonHistory {
    pub person: String,
    pub changes: Vec<PersonChange>,
    pub skipped: Vec<PersonSkip>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonChange {
    pub run: i64,
    pub started_at: String,
    pub status: String,
    pub op: classbridge_engine::plan::PlannedOp,
    #[serde(default)]
    pub outcome: Option<Value>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PersonSkip {
    pub run: i64,
    pub started_at: String,
    pub skip: classbridge_engine::explanation::SkippedRecord,
}

pub(crate) async fn person(email: &str) -> Result<PersonHistory, String> {
    let query = [("email", email)];
    read(
        Request::get("/api/people")
            .query(query)
            .send()
            .await
            .map_err(net)?,
    )
    .await
}

/// The ids of every change the filter matches.
pub(crate) async fn change_ids(
    id: i64,
    filter: &crate::app::OpFilter,
) -> Result<Vec<String>, String> {
    let query = [
        ("limit", "1"),
        ("ids", "true"),
        ("q", filter.text.as_str()),
        ("entity", filter.entity.as_str()),
        ("change", filter.change.as_str()),
        ("school", filter.school.as_str()),
        ("sort", filter.sort.as_str()),
    ];
    let v: Value = read(
        Request::get(&format!("/api/runs/{id}/changes"))
            .query(query)
            .send()
            .await
            .map_err(net)?,
    )
    .await?;
    serde_json::from_value(v["ids"].clone()).map_err(|e| e.to_string())
}

pub(crate) async fn changes(id: i64, filter: &crate::app::OpFilter) -> Result<ChangePage, String> {
    let offset = (filter.page * crate::app::PAGE_SIZE).to_string();
    let limit = crate::app::PAGE_SIZE.to_string();
    let query = [
        ("offset", offset.as_str()),
        ("limit", limit.as_str()),
        ("q", filter.text.as_str()),
        ("entity", filter.entity.as_str()),
        ("change", filter.change.as_str()),
        ("school", filter.school.as_str()),
        ("sort", filter.sort.as_str()),
    ];
    read(
        Request::get(&format!("/api/runs/{id}/changes"))
            .query(query)
            .send()
            .await
            .map_err(net)?,
    )
    .await
}

pub(crate) async fn approve(id: i64, csrf: &str, reject: &[String]) -> Result<Value, String> {
    let resp = Request::post(&format!("/api/runs/{id}/approve"))
        .header("X-CSRF-Token", csrf)
        .json(&serde_json::json!({ "reject": reject }))
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(net)?;
    read(resp).await
}

pub(crate) async fn sync_now(csrf: &str) -> Result<Value, String> {
    let resp = Request::post("/api/sync")
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .map_err(net)?;
    read(resp).await
}

/// Asks the host to plan the undo of applied run `id` (a job; the undo waits for approval).
pub(crate) async fn undo(id: i64, csrf: &str) -> Result<Value, String> {
    let resp = Request::post(&format!("/api/runs/{id}/undo"))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .map_err(net)?;
    read(resp).await
}

/// The rules in force (every value, configured or default) and those that cannot take effect.
pub(crate) async fn config() -> Result<Value, String> {
    read(Request::get("/api/config").send().await.map_err(net)?).await
}

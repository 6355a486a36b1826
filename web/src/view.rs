//! Rendering: state in, HTML text out. Colours: create green, update blue, delete/archive red.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use classbridge_engine::SyncPlan;
use classbridge_engine::config::{ChangeKind, HoldPolicy};
use classbridge_engine::plan::{
    AbsenceStatus, Action, OpChange, OpEntity, PlannedOp, PreviewSummary,
};
use serde_json::Value;

use crate::app::{PAGE_SIZE, Screen, State};
use crate::html::{esc, show};

pub fn page(s: &State) -> String {
    let mut out = String::new();
    out.push_str(r#"<header class="top"><h1 data-action="runs">classbridge</h1><span class="tag">SIS ⇄ Google Classroom</span></header><main>"#);
    if let Some(e) = &s.error {
        let _ = write!(
            out,
            r#"<div class="banner error" role="alert">{} <button class="link" data-action="dismiss">dismiss</button></div>"#,
            esc(e)
        );
    }
    if let Some(n) = &s.notice {
        let _ = write!(
            out,
            r#"<div class="banner ok" role="status" id="notice">{} <button class="link" data-action="dismiss">dismiss</button></div>"#,
            esc(n)
        );
    }
    if let Some(b) = &s.busy {
        let _ = write!(
            out,
            r#"<div class="busy" id="busy"><span class="spinner"></span>{}…</div>"#,
            esc(b)
        );
    }
    match &s.screen {
        Screen::SignIn => out.push_str(&sign_in()),
        Screen::Runs => out.push_str(&runs(s)),
        Screen::Run(id) => out.push_str(&run(s, *id)),
    }
    out.push_str("</main>");
    out
}

fn sign_in() -> String {
    r#"<section class="card narrow"><h2>Sign in</h2>
<p>Use the token that <code>classbridge serve</code> printed (or the one in its config).</p>
<form data-action="sign-in"><input id="token" type="password" autocomplete="off" placeholder="console token" aria-label="console token">
<button type="submit" class="primary">Sign in</button></form></section>"#
        .into()
}

fn status_chip(status: &str) -> String {
    let (class, label) = match status {
        "pending" => ("warn", "pending approval"),
        "applied" => ("good", "applied"),
        "noChanges" => ("quiet", "no changes"),
        "partial" => ("bad", "partly failed"),
        "failed" => ("bad", "failed"),
        "applying" => ("info", "applying"),
        "planned" => ("quiet", "preview only"),
        "interrupted" => ("bad", "interrupted"),
        "superseded" => ("quiet", "superseded"),
        other => ("quiet", other),
    };
    format!(r#"<span class="chip {class}">{}</span>"#, esc(label))
}

fn op_counts(summary: Option<&Value>) -> String {
    let Some(ops) = summary.and_then(|s| s["operations"].as_object()) else {
        return String::new();
    };
    let mut out = String::new();
    for (entity, changes) in ops {
        for (change, n) in changes.as_object().into_iter().flatten() {
            let _ = write!(
                out,
                r#"<span class="chip {}">{} {} {}</span>"#,
                change_class(change),
                n,
                esc(change),
                esc(entity)
            );
        }
    }
    out
}

fn change_class(change: &str) -> &'static str {
    match change {
        "create" => "create",
        "update" => "update",
        "delete" | "archive" => "delete",
        _ => "quiet",
    }
}

fn runs(s: &State) -> String {
    let mut out = String::from(
        r#"<section class="card"><div class="row"><h2>Runs</h2><button class="primary" data-action="sync-now">Sync now</button></div>"#,
    );
    if s.runs.is_empty() && s.busy.is_none() {
        out.push_str(r#"<p class="empty">No runs yet. Press <b>Sync now</b> or run <code>classbridge sync</code>.</p></section>"#);
        return out;
    }
    out.push_str(r#"<table class="runs"><thead><tr><th>#</th><th>started</th><th>status</th><th>changes</th><th>message</th></tr></thead><tbody>"#);
    for r in &s.runs {
        let _ = write!(
            out,
            r#"<tr class="clickable" data-action="open-run" data-run="{id}" id="run-{id}"><td>{id}</td><td>{started}</td><td>{chip}</td><td>{counts}</td><td>{msg}</td></tr>"#,
            id = r.id,
            started = esc(&r.started_at),
            chip = status_chip(&r.status),
            counts = op_counts(r.summary.as_ref()),
            msg = esc(r.message.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></section>");
    out.push_str(&rules_in_force(s));
    out
}

/// The rules as the engine applies them, each marked configured or default, as
/// `classbridge check` prints them.
fn rules_in_force(s: &State) -> String {
    let Some(config) = &s.rules else {
        return String::new();
    };
    let mut out = String::from(
        r#"<section class="card" id="rules-in-force"><details><summary><b>Rules in force</b> (configured under <code>[rules]</code> or built in)</summary>"#,
    );
    if let Some(warnings) = config["warnings"].as_array().filter(|w| !w.is_empty()) {
        out.push_str(r#"<ul class="warnings">"#);
        for w in warnings {
            let _ = write!(
                out,
                "<li><b>{}</b>: {}</li>",
                esc(w["field"].as_str().unwrap_or_default()),
                esc(w["message"].as_str().unwrap_or_default())
            );
        }
        out.push_str("</ul>");
    }
    out.push_str(r#"<table class="issues"><thead><tr><th>rule</th><th>value</th><th></th></tr></thead><tbody>"#);
    for r in config["effective"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            r#"<tr data-origin="{origin}"><td><code>{}</code></td><td><code>{}</code></td><td>{origin}</td></tr>"#,
            esc(r["path"].as_str().unwrap_or_default()),
            esc(&r["value"].to_string()),
            origin = esc(r["origin"].as_str().unwrap_or_default()),
        );
    }
    out.push_str("</tbody></table></details></section>");
    out
}

fn bars(summary: &PreviewSummary) -> String {
    let mut out = String::from(
        r#"<table class="bars"><thead><tr><th>entity</th><th>before → after</th><th>changes</th></tr></thead><tbody>"#,
    );
    let max = summary
        .roster
        .values()
        .map(|c| c.create + c.update + c.delete)
        .max()
        .unwrap_or(0)
        .max(1);
    for (kind, c) in &summary.roster {
        if c.before + c.after + c.create + c.update + c.delete == 0 {
            continue;
        }
        let pct = |n: u64| n as f64 * 100.0 / max as f64;
        let _ = write!(
            out,
            r#"<tr><td>{kind}</td><td>{} → {}</td><td><div class="bar"><span class="create" style="width:{:.1}%"></span><span class="update" style="width:{:.1}%"></span><span class="delete" style="width:{:.1}%"></span></div><small>+{} ~{} −{}</small></td></tr>"#,
            c.before,
            c.after,
            pct(c.create),
            pct(c.update),
            pct(c.delete),
            c.create,
            c.update,
            c.delete,
            kind = esc(&format!("{kind:?}")),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn summary_chips(summary: &PreviewSummary) -> String {
    let mut out = String::new();
    for (entity, changes) in &summary.operations {
        for (change, n) in changes {
            let change = format!("{change:?}").to_lowercase();
            let _ = write!(
                out,
                r#"<span class="chip {}" data-count="{}">{n} {change} {}</span>"#,
                change_class(&change),
                n,
                esc(&format!("{entity:?}").to_lowercase())
            );
        }
    }
    if out.is_empty() {
        out.push_str(r#"<span class="chip quiet">no operations</span>"#);
    }
    out
}

fn run(s: &State, id: i64) -> String {
    let mut out =
        String::from(r#"<p><button class="link" data-action="runs">← all runs</button></p>"#);
    let Some(d) = &s.detail else {
        return out;
    };
    let _ = write!(
        out,
        r#"<section class="card"><div class="row"><h2>Run {id}</h2>{}</div><p>{}</p><p class="meta">started {} · trigger {} · plan <code>{}</code></p>"#,
        status_chip(&d.run.status),
        esc(d.run.message.as_deref().unwrap_or("")),
        esc(&d.run.started_at),
        esc(&d.run.trigger),
        esc(&d
            .run
            .plan_id
            .clone()
            .unwrap_or_default()
            .chars()
            .take(16)
            .collect::<String>()),
    );
    let Some(plan) = &d.plan else {
        out.push_str(
            r#"<p class="empty">This run has no plan (it stopped before planning).</p></section>"#,
        );
        return out;
    };
    let _ = write!(
        out,
        r#"<div class="chips" id="summary">{}</div>"#,
        summary_chips(&plan.summary)
    );
    out.push_str("</section>");
    if !plan.holds.is_empty() {
        out.push_str(r#"<section class="card hold" id="holds"><h3>Held for approval</h3><ul>"#);
        for h in &plan.holds {
            let _ = write!(
                out,
                "<li><b>{}</b> {}</li>",
                esc(&format!("{:?}", h.code)),
                esc(&h.message)
            );
        }
        out.push_str("</ul></section>");
    }
    if let Some(decision) = &d.decision {
        out.push_str(&decision_section(decision));
    }
    out.push_str(&drift_section(plan));
    out.push_str(&absences_section(plan));
    let _ = write!(
        out,
        r#"<section class="card"><h3>Roster changes</h3>{}</section>"#,
        bars(&plan.summary)
    );
    out.push_str(&verify_section(s, id));
    out.push_str(&whatif_section(s, id, plan));
    if !plan.record_issues.is_empty() {
        let _ = write!(
            out,
            r#"<section class="card"><h3>Record issues ({})</h3><table class="issues"><thead><tr><th>severity</th><th>source</th><th>entity</th><th>record</th><th>reason</th></tr></thead><tbody>"#,
            plan.record_issues.len()
        );
        for i in plan.record_issues.iter().take(200) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&format!("{:?}", i.severity).to_lowercase()),
                esc(&i.source),
                esc(&i.entity),
                esc(i.sourced_id.as_deref().unwrap_or("—")),
                esc(&i.reason)
            );
        }
        out.push_str("</tbody></table>");
        if plan.record_issues.len() > 200 {
            let _ = write!(
                out,
                "<p class=\"meta\">… and {} more</p>",
                plan.record_issues.len() - 200
            );
        }
        out.push_str("</section>");
    }
    out.push_str(r#"<section class="card"><h3>Changes</h3><div class="filters">"#);
    let _ = write!(
        out,
        r#"<input type="search" placeholder="search person, class, school, summary" data-action="search" value="{}" aria-label="search changes">"#,
        esc(&s.filter.text)
    );
    out.push_str(&select(
        "filter-entity",
        &s.filter.entity,
        &[
            "", "course", "teacher", "student", "topic", "category", "lineItem", "result",
        ],
        "all entities",
    ));
    out.push_str(&select(
        "filter-change",
        &s.filter.change,
        &["", "create", "update", "archive", "delete"],
        "all changes",
    ));
    let _ = write!(out, r#"</div><div id="ops">{}</div>"#, ops_list(s));
    if d.run.status == "pending" {
        let _ = write!(out, r#"<div id="approve-bar">{}</div>"#, approve_bar(s));
    }
    out.push_str("</section>");
    out
}

fn select(action: &str, current: &str, options: &[&str], all: &str) -> String {
    let mut out = format!(r#"<select data-action="{action}" aria-label="{all}">"#);
    for o in options {
        let label = if o.is_empty() { all } else { o };
        let sel = if *o == current { " selected" } else { "" };
        let _ = write!(
            out,
            r#"<option value="{}"{sel}>{}</option>"#,
            esc(o),
            esc(label)
        );
    }
    out.push_str("</select>");
    out
}

fn verify_section(s: &State, id: i64) -> String {
    let mut out = format!(
        r#"<section class="card"><div class="row"><h3>Verify</h3><button data-action="verify" data-run="{id}">Recompute in the browser</button></div>"#
    );
    match &s.verify {
        None => out.push_str(r#"<p class="meta">Plans this run's stored input with the engine running in this page, and compares the plan id with the host's.</p>"#),
        Some(Ok(plan_id)) => {
            let _ = write!(out, r#"<p class="verified" id="verified">✓ Same plan: the browser computed <code>{}</code>, as the host did.</p>"#, esc(&plan_id.chars().take(16).collect::<String>()));
        }
        Some(Err(e)) => {
            let _ = write!(out, r#"<p class="banner error" id="verified">✗ {}</p>"#, esc(e));
        }
    }
    out.push_str("</section>");
    out
}

fn count_map(summary: &PreviewSummary) -> BTreeMap<(OpEntity, OpChange), u64> {
    summary
        .operations
        .iter()
        .flat_map(|(e, m)| m.iter().map(move |(c, n)| ((*e, *c), *n)))
        .collect()
}

fn whatif_section(s: &State, id: i64, plan: &SyncPlan) -> String {
    let mut out = format!(
        r#"<section class="card" id="whatif"><div class="row"><h3>What if</h3><button data-action="whatif" data-run="{id}">Edit the rules here</button></div>"#
    );
    let Some(w) = &s.whatif else {
        out.push_str(r#"<p class="meta">Change a hold threshold, a master-field rule, a filter or a grade-mapping rule and see this run's preview recomputed in the browser. Nothing is saved.</p></section>"#);
        return out;
    };
    let delete_pct = serde_json::from_str::<Value>(&w.rules_text)
        .ok()
        .and_then(|r| serde_json::from_value::<HoldPolicy>(r["holds"].clone()).ok())
        .unwrap_or_default()
        .effective_thresholds()
        .iter()
        .filter(|t| t.change == ChangeKind::Delete && t.entity.is_none())
        .filter_map(|t| t.max_percent)
        .reduce(f64::min)
        .unwrap_or(10.0);
    let _ = write!(
        out,
        r#"<label>Hold when more than <input type="number" min="0" max="100" step="1" id="hold-delete" data-action="hold-delete" data-run="{id}" value="{delete_pct}"> % of an entity would be deleted</label>
<details><summary>All rules (JSON, as under <code>[rules]</code>)</summary><textarea data-action="rules" rows="16" spellcheck="false">{}</textarea>
<button data-action="recompute" data-run="{id}">Recompute</button></details>"#,
        esc(&w.rules_text)
    );
    match &w.plan {
        None => {}
        Some(Err(e)) => {
            let _ = write!(out, r#"<p class="banner error">{}</p>"#, esc(e));
        }
        Some(Ok(p)) => {
            let before = count_map(&plan.summary);
            let after = count_map(&p.summary);
            let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).collect();
            out.push_str(r#"<table class="whatif" id="whatif-counts"><thead><tr><th>operation</th><th>host</th><th>what if</th></tr></thead><tbody>"#);
            for k in keys {
                let (b, a) = (
                    before.get(k).copied().unwrap_or(0),
                    after.get(k).copied().unwrap_or(0),
                );
                let mark = if a != b { " class=\"changed\"" } else { "" };
                let _ = write!(
                    out,
                    "<tr{mark}><td>{} {}</td><td>{b}</td><td>{a}</td></tr>",
                    esc(&format!("{:?}", k.1).to_lowercase()),
                    esc(&format!("{:?}", k.0).to_lowercase())
                );
            }
            let _ = write!(
                out,
                r#"</tbody></table><p id="whatif-holds">{}</p>"#,
                if p.holds.is_empty() {
                    "Would not be held.".to_string()
                } else {
                    format!(
                        "Would be held: {}",
                        esc(&p
                            .holds
                            .iter()
                            .map(|h| h.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; "))
                    )
                }
            );
        }
    }
    out.push_str("</section>");
    out
}

pub fn filtered_ops(s: &State) -> Vec<&PlannedOp> {
    let Some(plan) = s.detail.as_ref().and_then(|d| d.plan.as_ref()) else {
        return Vec::new();
    };
    let text = s.filter.text.to_lowercase();
    plan.ops
        .iter()
        .filter(|op| {
            s.filter.entity.is_empty()
                || format!("{:?}", op.entity).eq_ignore_ascii_case(&s.filter.entity)
        })
        .filter(|op| {
            s.filter.change.is_empty()
                || format!("{:?}", op.change).eq_ignore_ascii_case(&s.filter.change)
        })
        .filter(|op| {
            text.is_empty()
                || op.summary.to_lowercase().contains(&text)
                || [&op.class_id, &op.school_id, &op.person].iter().any(|f| {
                    f.as_deref()
                        .is_some_and(|v| v.to_lowercase().contains(&text))
                })
        })
        .collect()
}

pub fn ops_list(s: &State) -> String {
    let ops = filtered_ops(s);
    let pending = s.detail.as_ref().is_some_and(|d| d.run.status == "pending");
    let outcomes: HashMap<String, &Value> = s
        .detail
        .as_ref()
        .map(|d| {
            d.journal
                .iter()
                .filter_map(|j| Some((j["opId"].as_str()?.to_string(), &j["outcome"])))
                .collect()
        })
        .unwrap_or_default();
    if ops.is_empty() {
        return r#"<p class="empty">No changes match.</p>"#.into();
    }
    let pages = ops.len().div_ceil(PAGE_SIZE);
    let page = s.filter.page.min(pages - 1);
    let mut out = format!(
        r#"<p class="meta" id="ops-count">{} change(s)</p><table class="ops"><tbody>"#,
        ops.len()
    );
    for op in ops.iter().skip(page * PAGE_SIZE).take(PAGE_SIZE) {
        let change = format!("{:?}", op.change).to_lowercase();
        let check = if pending {
            let checked = if s.rejected.contains(&op.op_id) {
                " checked"
            } else {
                ""
            };
            format!(
                r#"<td><label class="reject"><input type="checkbox" data-action="toggle-reject" data-op="{id}"{checked} aria-label="reject {id}"> reject</label></td>"#,
                id = esc(&op.op_id)
            )
        } else {
            match outcomes
                .get(&op.op_id)
                .map(|o| o["status"].as_str().unwrap_or(""))
            {
                Some("succeeded") => r#"<td class="good">✓</td>"#.into(),
                Some("failed") => format!(
                    r#"<td class="bad" title="{}">✗</td>"#,
                    esc(outcomes[&op.op_id]["error"].as_str().unwrap_or(""))
                ),
                _ => "<td></td>".into(),
            }
        };
        let _ = write!(
            out,
            r#"<tr id="op-{id}">{check}<td><span class="chip {cls}">{change}</span></td><td>{entity}</td><td>{summary}<div class="diff">{diff}</div></td><td class="meta">{ctx}</td></tr>"#,
            id = esc(&op.op_id),
            cls = change_class(&change),
            entity = esc(&format!("{:?}", op.entity).to_lowercase()),
            summary = esc(&op.summary),
            diff = if op.before.is_some() || op.after.is_some() || sent(op).is_some() {
                let after = op.after.clone().or_else(|| sent(op));
                format!("{} → {}", show(&op.before), show(&after))
            } else {
                String::new()
            },
            ctx = esc(&[&op.school_id, &op.class_id]
                .iter()
                .filter_map(|v| v.as_deref())
                .collect::<Vec<_>>()
                .join(" · ")),
        );
    }
    out.push_str("</tbody></table>");
    if pages > 1 {
        out.push_str(r#"<nav class="pager">"#);
        if page > 0 {
            let _ = write!(
                out,
                r#"<button data-action="page" data-page="{}">‹ previous</button>"#,
                page - 1
            );
        }
        let _ = write!(out, " page {} of {pages} ", page + 1);
        if page + 1 < pages {
            let _ = write!(
                out,
                r#"<button data-action="page" data-page="{}">next ›</button>"#,
                page + 1
            );
        }
        out.push_str("</nav>");
    }
    out
}

/// Who approved the run and, one line each, the changes they rejected: a rejection stays
/// visible after the approved plan replaced the pending one.
/// Classroom changed by hand away from the SIS: its own kind of change, with what the rules do.
fn drift_section(plan: &SyncPlan) -> String {
    if plan.drift.is_empty() {
        return String::new();
    }
    let mut out = format!(
        r#"<section class="card" id="drift"><h3>Drift in Classroom ({})</h3><ul>"#,
        plan.drift.len()
    );
    for d in plan.drift.iter().take(200) {
        let _ = write!(
            out,
            r#"<li data-drift="{}"><b>{}</b> {}</li>"#,
            esc(&format!("{:?}", d.action).to_lowercase()),
            esc(&format!("{:?}", d.action)),
            esc(&d.message)
        );
    }
    out.push_str("</ul></section>");
    out
}

/// Records missing from a read: which removals were confirmed, and how.
fn absences_section(plan: &SyncPlan) -> String {
    if plan.absences.is_empty() {
        return String::new();
    }
    let mut out = format!(
        r#"<section class="card" id="absences"><h3>Records missing from this read ({})</h3><table class="issues"><thead><tr><th>what became of it</th><th>source</th><th>record</th><th>how</th></tr></thead><tbody>"#,
        plan.absences.len()
    );
    for a in plan.absences.iter().take(200) {
        let status = match a.status {
            AbsenceStatus::Confirmed => "removed, confirmed gone",
            AbsenceStatus::StillThere => "kept, the SIS still has it",
            AbsenceStatus::Unconfirmed => "kept, not confirmed gone",
            AbsenceStatus::Unchecked => "kept, not asked about",
        };
        let _ = write!(
            out,
            "<tr><td>{status}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
            esc(&a.source),
            esc(a.entity.singular()),
            esc(&a.sourced_id),
            esc(&a.how)
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn decision_section(decision: &serde_json::Value) -> String {
    let left_out = decision["leftOut"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        r#"<section class="card" id="decision"><h3>Decision</h3><p>Approved {} by {}; {} change(s) rejected.</p>"#,
        esc(decision["decidedAt"].as_str().unwrap_or("")),
        esc(decision["decidedBy"].as_str().unwrap_or("")),
        left_out.len()
    );
    if !left_out.is_empty() {
        out.push_str("<ul>");
        for o in &left_out {
            let why = if o["why"] == "rejected" {
                "rejected"
            } else {
                "rejected with what it depends on"
            };
            let _ = write!(
                out,
                r#"<li class="rejected"><code>{}</code> {} <span class="tag">{why}</span></li>"#,
                esc(o["opId"].as_str().unwrap_or("")),
                esc(o["summary"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

pub fn approve_bar(s: &State) -> String {
    let id = match s.screen {
        Screen::Run(id) => id,
        _ => return String::new(),
    };
    let n = s.rejected.len();
    let label = if n == 0 {
        "Approve all".to_string()
    } else {
        format!("Approve all but {n} rejected")
    };
    format!(
        r#"<div class="approve"><span>{}</span><button class="primary" id="approve" data-action="approve" data-run="{id}">{label}</button></div>"#,
        if n == 0 {
            "Nothing rejected."
        } else {
            "Rejected changes, and what depends on them, are left out."
        }
    )
}

/// The record a OneRoster write sends (grade exports keep it only in the action's body).
fn sent(op: &PlannedOp) -> Option<Value> {
    match &op.action {
        Action::OneRosterPut { body, .. } => {
            body.to_value().ok()?.as_object()?.values().next().cloned()
        }
        _ => None,
    }
}

//! Rendering: state in, HTML out. Templates are `maud`'s, which escape every value by
//! construction; nothing from data is ever spliced in as markup. Colours: create green,
//! update blue, delete/archive red.

use std::collections::{BTreeMap, BTreeSet};

use classbridge_engine::SyncPlan;
use classbridge_engine::config::{ChangeKind, HoldPolicy};
use classbridge_engine::model::RecordIssue;
use classbridge_engine::plan::{Action, OpChange, OpEntity, PlannedOp, PreviewSummary};
use maud::{Markup, PreEscaped, html};
use serde_json::Value;

use crate::app::{PAGE_SIZE, Screen, State};
use crate::html::field_changes;

pub(crate) fn page(s: &State) -> String {
    html! {
        header.top {
            h1 data-action="runs" { "classbridge" }
            span.tag { "SIS ⇄ Google Classroom" }
            @if s.screen != Screen::SignIn {
                button.link.sign-out data-action="sign-out" { "Sign out" }
            }
        }
        main {
            @if let Some(e) = &s.error {
                div.banner.error role="alert" {
                    (e) " " button.link data-action="dismiss" { "dismiss" }
                }
            }
            @if let Some(n) = &s.notice {
                div.banner.ok role="status" id="notice" {
                    (n) " " button.link data-action="dismiss" { "dismiss" }
                }
            }
            @if let Some(b) = &s.busy {
                div.busy id="busy" { span.spinner {} (b) "…" }
            }
            (PreEscaped(job_banner(s)))
            @match &s.screen {
                Screen::SignIn => (sign_in()),
                Screen::Runs => (runs(s)),
                Screen::Run(id) => (run(s, *id)),
                Screen::Person(email) => (person(s, email)),
            }
        }
    }
    .into_string()
}

fn sign_in() -> Markup {
    html! {
        section.card.narrow {
            h2 { "Sign in" }
            p { "Use the token that " code { "classbridge serve" } " printed (or the one in its config)." }
            form data-action="sign-in" {
                input id="token" type="password" autocomplete="off" placeholder="console token" aria-label="console token";
                button.primary type="submit" { "Sign in" }
            }
        }
    }
}

fn status_chip(status: &str) -> Markup {
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
    html! { span class={ "chip " (class) } { (label) } }
}

fn op_counts(summary: Option<&Value>) -> Markup {
    let ops = summary.and_then(|s| s["operations"].as_object());
    html! {
        @for (entity, changes) in ops.into_iter().flatten() {
            @for (change, n) in changes.as_object().into_iter().flatten() {
                span class={ "chip " (change_class(change)) } { (n) " " (change) " " (entity) }
            }
        }
    }
}

fn change_class(change: &str) -> &'static str {
    match change {
        "create" => "create",
        "update" => "update",
        "delete" | "archive" => "delete",
        _ => "quiet",
    }
}

fn runs(s: &State) -> Markup {
    html! {
        section.card {
            div.row {
                h2 { "Runs" }
                button.primary id="sync-now" data-action="sync-now" disabled[crate::app::job_running(s)] { "Sync now" }
            }
            @if s.runs.is_empty() && s.busy.is_none() {
                p.empty { "No runs yet. Press " b { "Sync now" } " or run " code { "classbridge sync" } "." }
            } @else {
                table.runs {
                    thead { tr { th { "#" } th { "started" } th { "status" } th { "changes" } th { "message" } } }
                    tbody {
                        @for r in &s.runs {
                            tr.clickable data-action="open-run" data-run=(r.id) id={ "run-" (r.id) } tabindex="0" aria-label={ "open run " (r.id) } {
                                td { (r.id) }
                                td { (r.started_at) }
                                td { (status_chip(&r.status)) }
                                td { (op_counts(r.summary.as_ref())) }
                                td { (r.message.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        @if !(s.runs.is_empty() && s.busy.is_none()) {
            (person_search(""))
            (rules_in_force(s))
        }
    }
}

/// "Why did my student disappear?": a person's changes across runs, by email.
fn person_search(value: &str) -> Markup {
    html! {
        section.card id="person-search" {
            form.row data-action="find-person" {
                label for="person-email" { b { "Why?" } " Every change for one person, across runs: " }
                input id="person-email" type="email" placeholder="student or teacher email" value=(value) aria-label="person's email";
                button type="submit" { "Show" }
            }
        }
    }
}

fn person(s: &State, email: &str) -> Markup {
    let Some(history) = &s.person else {
        return html! { (person_search(email)) };
    };
    let mut runs: Vec<(i64, &str)> = history
        .changes
        .iter()
        .map(|c| (c.run, c.started_at.as_str()))
        .chain(
            history
                .skipped
                .iter()
                .map(|k| (k.run, k.started_at.as_str())),
        )
        .collect();
    runs.sort_unstable();
    runs.dedup_by_key(|r| r.0);
    html! {
        (person_search(email))
        section.card id="person" {
            h2 { "Changes for " (history.person) }
            @if runs.is_empty() {
                p.empty id="person-empty" { "No change was planned for " (history.person) " in any run kept, and no rule left their records out." }
            }
            @for (run, started) in &runs {
                h3 { a href={ "#/runs/" (run) } { "Run " (run) } " " span.meta { (started) } }
                ul.person-changes {
                    @for c in history.changes.iter().filter(|c| c.run == *run) {
                        li data-op=(c.op.op_id) {
                            (c.op.summary) " "
                            span.meta { "[" (person_outcome(c)) "]" }
                            (why_markup(c.op.why.as_deref(), true))
                        }
                    }
                    @for k in history.skipped.iter().filter(|k| k.run == *run) {
                        li.skipped {
                            "left out: " (format!("{:?}", k.skip.entity).to_lowercase()) " " code { (k.skip.sourced_id) }
                            " — rule " code { (k.skip.rule.rule) } ": " (k.skip.rule.says)
                        }
                    }
                }
            }
        }
    }
}

fn person_outcome(c: &crate::api::PersonChange) -> String {
    match c.outcome.as_ref().and_then(|o| o["status"].as_str()) {
        Some("succeeded") => "applied".into(),
        Some("failed") => format!(
            "failed: {}",
            c.outcome
                .as_ref()
                .and_then(|o| o["error"].as_str())
                .unwrap_or_default()
        ),
        Some("notAttempted") => "not attempted".into(),
        _ if c.status == "pending" => "waiting for approval".into(),
        _ => "not applied".into(),
    }
}

/// Why a change is planned: the engine's chain in words, then each record and rule.
fn why_markup(why: Option<&classbridge_engine::explanation::Explanation>, open: bool) -> Markup {
    let Some(why) = why else {
        return html! {};
    };
    html! {
        details.why open[open] {
            summary { "why" }
            p.why-text { (why.text()) }
            ul.why-detail {
                @for c in &why.causes {
                    li {
                        "record " code { (c.collection) " " (c.id) } " (" (format!("{:?}", c.change).to_lowercase()) ")"
                        @for f in &c.fields {
                            " · " span.field { (f.field) } ": "
                            @if let Some(before) = &f.before { del { (plain(before)) } " → " }
                            ins { (f.after.as_ref().map_or_else(|| "unset".to_string(), plain)) }
                        }
                    }
                }
                @for r in &why.rules {
                    li { "rule " code { (r.rule) } ": " (r.says) }
                }
            }
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "unset".into(),
        other => other.to_string(),
    }
}

/// The rules as the engine applies them, each marked configured or default, as
/// `classbridge check` prints them.
fn rules_in_force(s: &State) -> Markup {
    let Some(config) = &s.rules else {
        return html! {};
    };
    let warnings = config["warnings"]
        .as_array()
        .filter(|w| !w.is_empty())
        .cloned()
        .unwrap_or_default();
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    html! {
        section.card id="rules-in-force" {
            details {
                summary { b { "Rules in force" } " (configured under " code { "[rules]" } " or built in)" }
                @if !warnings.is_empty() {
                    ul.warnings {
                        @for w in &warnings {
                            li { b { (text(w, "field")) } ": " (text(w, "message")) }
                        }
                    }
                }
                table.issues {
                    thead { tr { th { "rule" } th { "value" } th {} } }
                    tbody {
                        @for r in config["effective"].as_array().into_iter().flatten() {
                            @let origin = text(r, "origin");
                            tr data-origin=(origin) {
                                td { code { (text(r, "path")) } }
                                td { code { (r["value"].to_string()) } }
                                td { (origin) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn bars(summary: &PreviewSummary) -> Markup {
    let max = summary
        .roster
        .values()
        .map(|c| c.create + c.update + c.delete)
        .max()
        .unwrap_or(0)
        .max(1);
    // Widths in 5% steps, as classes: the console's CSP allows no inline styles.
    let width = |n: u64| {
        let step = (n * 20).div_ceil(max).min(20);
        format!("w{step}")
    };
    html! {
        table.bars {
            thead { tr { th { "entity" } th { "before → after" } th { "changes" } } }
            tbody {
                @for (kind, c) in &summary.roster {
                    @if c.before + c.after + c.create + c.update + c.delete > 0 {
                        tr {
                            td { (format!("{kind:?}")) }
                            td { (c.before) " → " (c.after) }
                            td {
                                div.bar {
                                    span class={ "create " (width(c.create)) } {}
                                    span class={ "update " (width(c.update)) } {}
                                    span class={ "delete " (width(c.delete)) } {}
                                }
                                small { "+" (c.create) " ~" (c.update) " −" (c.delete) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn summary_chips(summary: &PreviewSummary) -> Markup {
    let chips: Vec<(String, String, u64)> = summary
        .operations
        .iter()
        .flat_map(|(entity, changes)| {
            changes.iter().map(move |(change, n)| {
                (
                    format!("{change:?}").to_lowercase(),
                    format!("{entity:?}").to_lowercase(),
                    *n,
                )
            })
        })
        .collect();
    html! {
        @for (change, entity, n) in &chips {
            span class={ "chip " (change_class(change)) } data-count=(n) { (n) " " (change) " " (entity) }
        }
        @if chips.is_empty() {
            span.chip.quiet { "no operations" }
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(16).collect()
}

fn run(s: &State, id: i64) -> Markup {
    let back = html! { p { button.link data-action="runs" { "← all runs" } } };
    let Some(d) = &s.detail else {
        return back;
    };
    let undoable = matches!(d.run.status.as_str(), "applied" | "partial");
    let header = html! {
        div.row {
            h2 { "Run " (id) } (status_chip(&d.run.status))
            @if undoable {
                button id="undo" data-action="undo" data-run=(id) disabled[crate::app::job_running(s)] title="Plan the inverse of this run; it waits for your approval" { "Undo this run…" }
            }
        }
        p { (d.run.message.as_deref().unwrap_or("")) }
        p.meta {
            "started " (d.run.started_at) " · trigger " (d.run.trigger)
            " · plan " code { (short(d.run.plan_id.as_deref().unwrap_or_default())) }
        }
    };
    let Some(plan) = &d.plan else {
        return html! {
            (back)
            section.card {
                (header)
                p.empty { "This run has no plan (it stopped before planning)." }
            }
        };
    };
    html! {
        (back)
        section.card {
            (header)
            div.chips id="summary" { (summary_chips(&plan.summary)) }
        }
        @if !plan.holds.is_empty() {
            section.card.hold id="holds" {
                h3 { "Held for approval" }
                ul { @for h in &plan.holds { li { b { (format!("{:?}", h.code)) } " " (h.message) } } }
            }
        }
        @if let Some(decision) = &d.decision { (decision_section(decision)) }
        (drift_section(plan))
        (absences_section(plan))
        section.card { h3 { "Roster changes" } (bars(&plan.summary)) }
        (by_school_section(s, d))
        // An undo is planned from a run's journal, not from SIS and Classroom reads: there is
        // no input to plan again in the browser.
        @if !d.run.trigger.starts_with("undo ") {
            (verify_section(s, id))
            (whatif_section(s, id, plan))
        }
        (record_issues_section(&plan.record_issues))
        section.card {
            h3 { "Changes" }
            div.filters {
                input type="search" placeholder="search person, class, school, summary" data-action="search" value=(s.filter.text) aria-label="search changes";
                (school_select(s))
                (select("filter-entity", &s.filter.entity, &["", "course", "teacher", "student", "topic", "category", "lineItem", "result"], "all entities"))
                (select("filter-change", &s.filter.change, &["", "create", "update", "archive", "delete"], "all changes"))
                (sort_select(s))
            }
            div id="ops" { (ops_markup(s)) }
            @if d.run.status == "pending" {
                div id="approve-bar" { (approve_markup(s)) }
            }
        }
    }
}

/// The order changes are listed in; the order of application unless the admin picks one.
fn sort_select(s: &State) -> Markup {
    const ORDERS: [(&str, &str); 6] = [
        ("", "in the order applied"),
        ("person", "by person"),
        ("school", "by school"),
        ("course", "by class"),
        ("change", "by kind of change"),
        ("entity", "by what changes"),
    ];
    html! {
        select data-action="filter-sort" aria-label="order" {
            @for (value, label) in ORDERS {
                option value=(value) selected[s.filter.sort == value] { (label) }
            }
        }
    }
}

/// A download of one list of run `id`; changes follow the filter on screen.
fn export_href(id: i64, what: &str, s: &State) -> String {
    let mut href = format!("/api/runs/{id}/export/{what}.csv");
    if what == "changes" {
        let enc = |v: &str| -> String {
            v.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        href.push_str(&format!(
            "?q={}&school={}&entity={}&change={}&sort={}",
            enc(&s.filter.text),
            enc(&s.filter.school),
            enc(&s.filter.entity),
            enc(&s.filter.change),
            enc(&s.filter.sort)
        ));
    }
    href
}

fn record_issues_section(issues: &[RecordIssue]) -> Markup {
    // Work and grades the SIS gradebook will not get as they are, said before anything is
    // sent; the roster's own issues after.
    let (grades, roster): (Vec<&RecordIssue>, Vec<&RecordIssue>) =
        issues.iter().partition(|i| i.is_grade_export_check());
    html! {
        (issues_card("grade-export-check", "Grade export check: shortened, placed or not exported", &grades))
        (issues_card("record-issues", "Record issues", &roster))
    }
}

fn issues_card(id: &str, title: &str, issues: &[&RecordIssue]) -> Markup {
    const SHOWN: usize = 200;
    html! {
        @if !issues.is_empty() {
            section.card id=(id) {
                h3 { (title) " (" (issues.len()) ")" }
                table.issues {
                    thead { tr { th { "severity" } th { "source" } th { "entity" } th { "record" } th { "reason" } } }
                    tbody {
                        @for i in issues.iter().take(SHOWN) {
                            tr {
                                td { (format!("{:?}", i.severity).to_lowercase()) }
                                td { (i.source) }
                                td { (i.entity) }
                                td { (i.sourced_id.as_deref().unwrap_or("—")) }
                                td { (i.reason) }
                            }
                        }
                    }
                }
                @if issues.len() > SHOWN {
                    p.meta { "… and " (issues.len() - SHOWN) " more" }
                }
            }
        }
    }
}

/// The filter's school choice, from the run's per-school counts.
fn school_select(s: &State) -> Markup {
    let mut schools: Vec<(String, String)> = s
        .detail
        .as_ref()
        .map(|d| {
            d.by_school
                .iter()
                .filter_map(|c| {
                    let id = c["school"].as_str()?;
                    Some((school_label(c), id.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    // By name, as admins look for a school in a list.
    schools.sort();
    html! {
        select data-action="filter-school" aria-label="all schools" {
            option value="" selected[s.filter.school.is_empty()] { "all schools" }
            @for (label, school) in &schools {
                option value=(school) selected[*school == s.filter.school] { (label) }
            }
        }
    }
}

/// A school as the breakdown names it: its name and id, or its id when the roster has no
/// name for it.
fn school_label(counts: &Value) -> String {
    match (counts["school"].as_str(), counts["name"].as_str()) {
        (Some("-") | None, _) => "no school (users, categories)".to_string(),
        (Some(id), Some(name)) => format!("{name} ({id})"),
        (Some(id), None) => id.to_string(),
    }
}

/// The school of a change by name, from the run's breakdown.
fn school_name<'d>(s: &'d State, id: &'d str) -> &'d str {
    s.detail
        .as_ref()
        .and_then(|d| d.by_school.iter().find(|c| c["school"] == id))
        .and_then(|c| c["name"].as_str())
        .unwrap_or(id)
}

/// Each school's share of the run; a school's row filters the changes to it.
fn by_school_section(s: &State, d: &crate::api::RunDetail) -> Markup {
    if d.by_school.len() < 2 {
        return html! {};
    }
    let n = |c: &Value, k: &str| c[k].as_u64().unwrap_or(0);
    html! {
        section.card id="by-school" {
            h3 { "By school" }
            table.runs {
                thead { tr { th { "school" } th { "create" } th { "update" } th { "archive" } th { "delete" } th { "all" } th {} } }
                tbody {
                    @for c in &d.by_school {
                        @let school = c["school"].as_str().unwrap_or("-");
                        tr class=[(school == s.filter.school).then_some("selected")] {
                            td { (school_label(c)) }
                            td { (n(c, "create")) }
                            td { (n(c, "update")) }
                            td { (n(c, "archive")) }
                            td { (n(c, "delete")) }
                            td { b { (n(c, "total")) } }
                            td { button.link data-action="filter-school" data-school=(school) { "show its changes" } }
                        }
                    }
                }
            }
        }
    }
}

fn select(action: &str, current: &str, options: &[&str], all: &str) -> Markup {
    html! {
        select data-action=(action) aria-label=(all) {
            @for o in options {
                option value=(o) selected[*o == current] { (if o.is_empty() { all } else { o }) }
            }
        }
    }
}

fn verify_section(s: &State, id: i64) -> Markup {
    html! {
        section.card {
            div.row {
                h3 { "Verify" }
                button data-action="verify" data-run=(id) { "Recompute in the browser" }
            }
            @match &s.verify {
                None => p.meta { "Plans this run's stored input with the engine running in this page, and compares the plan id with the host's." },
                Some(Ok(plan_id)) => p.verified id="verified" {
                    "✓ Same plan: the browser computed " code { (short(plan_id)) } ", as the host did."
                },
                Some(Err(e)) => p.banner.error id="verified" { "✗ " (e) },
            }
        }
    }
}

fn count_map(summary: &PreviewSummary) -> BTreeMap<(OpEntity, OpChange), u64> {
    summary
        .operations
        .iter()
        .flat_map(|(e, m)| m.iter().map(move |(c, n)| ((*e, *c), *n)))
        .collect()
}

fn whatif_section(s: &State, id: i64, plan: &SyncPlan) -> Markup {
    let Some(w) = &s.whatif else {
        return html! {
            section.card id="whatif" {
                (whatif_head(id))
                p.meta { "Change a hold threshold, a master-field rule, a filter or a grade-mapping rule and see this run's preview recomputed in the browser. Nothing is saved." }
            }
        };
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
    html! {
        section.card id="whatif" {
            (whatif_head(id))
            label {
                "Hold when more than "
                input type="number" min="0" max="100" step="1" id="hold-delete" data-action="hold-delete" data-run=(id) value=(delete_pct);
                " % of an entity would be deleted"
            }
            details {
                summary { "All rules (JSON, as under " code { "[rules]" } ")" }
                textarea data-action="rules" rows="16" spellcheck="false" { (w.rules_text) }
                button data-action="recompute" data-run=(id) { "Recompute" }
            }
            @match &w.plan {
                None => {},
                Some(Err(e)) => p.banner.error { (e) },
                Some(Ok(p)) => (whatif_counts(plan, p)),
            }
        }
    }
}

fn whatif_head(id: i64) -> Markup {
    html! {
        div.row {
            h3 { "What if" }
            button data-action="whatif" data-run=(id) { "Edit the rules here" }
        }
    }
}

fn whatif_counts(host: &SyncPlan, what_if: &crate::worker::PlanDigest) -> Markup {
    let before = count_map(&host.summary);
    let after = count_map(&what_if.summary);
    let keys: BTreeSet<_> = before.keys().chain(after.keys()).collect();
    html! {
        @if what_if.id == host.id {
            p.notice id="whatif-no-effect" { "This edit changes nothing in this run's plan." }
        }
        @if !what_if.notices.is_empty() {
            ul.notices id="whatif-notices" {
                @for n in &what_if.notices { li { (n) } }
            }
        }
        table.whatif id="whatif-counts" {
            thead { tr { th { "operation" } th { "host" } th { "what if" } } }
            tbody {
                @for k in keys {
                    @let b = before.get(k).copied().unwrap_or(0);
                    @let a = after.get(k).copied().unwrap_or(0);
                    tr class=[(a != b).then_some("changed")] {
                        td { (format!("{:?}", k.1).to_lowercase()) " " (format!("{:?}", k.0).to_lowercase()) }
                        td { (b) }
                        td { (a) }
                    }
                }
            }
        }
        // Said as the host says it when it stores a plan.
        p id="whatif-holds" {
            @match &what_if.waiting {
                None => { "Would be applied without waiting." }
                Some(why) => { "Would wait: " (why) }
            }
        }
        @if what_if.score_changes_total > 0 {
            section id="whatif-scores" {
                h4 { (what_if.score_changes_total) " grade(s) would be exported differently" }
                ul {
                    @for line in &what_if.score_changes { li { (line) } }
                }
                @if what_if.score_changes_total > what_if.score_changes.len() {
                    p.meta { "and " (what_if.score_changes_total - what_if.score_changes.len()) " more" }
                }
            }
        }
    }
}

/// The operations list alone, re-rendered as the admin types in the search box.
pub(crate) fn ops_list(s: &State) -> String {
    ops_markup(s).into_string()
}

fn ops_markup(s: &State) -> Markup {
    let exports = match s.screen {
        Screen::Run(id) => html! {
            p.exports id="exports" {
                "Download CSV: "
                a href=(export_href(id, "changes", s)) download { "these changes" } " · "
                a href=(export_href(id, "issues", s)) download { "record issues" } " · "
                a href=(export_href(id, "holds", s)) download { "holds" } " · "
                a href=(export_href(id, "failures", s)) download { "failures" }
            }
        },
        _ => html! {},
    };
    html! { (exports) (changes_markup(s)) }
}

fn changes_markup(s: &State) -> Markup {
    let Some(changes) = &s.changes else {
        return html! { p.busy { span.spinner {} "Loading changes…" } };
    };
    if changes.total == 0 {
        return html! { p.meta id="ops-count" { "0 changes" } p.empty { "No changes match." } };
    }
    let pending = s.detail.as_ref().is_some_and(|d| d.run.status == "pending");
    let pages = changes.total.div_ceil(PAGE_SIZE);
    let page = changes.offset / PAGE_SIZE;
    let total_in_plan = s.detail.as_ref().map_or(0, |d| d.ops_total);
    html! {
        p.meta id="ops-count" {
            (changes.total) " change(s)"
            @if changes.total != total_in_plan { " of " (total_in_plan) }
        }
        table.ops {
            tbody {
                @for item in &changes.items {
                    @let op = &item.op;
                    @let change = format!("{:?}", op.change).to_lowercase();
                    tr id={ "op-" (op.op_id) } {
                        @if pending {
                            td {
                                label.reject {
                                    input type="checkbox" data-action="toggle-reject" data-op=(op.op_id) checked[s.rejected.contains(&op.op_id)] aria-label={ "reject " (op.op_id) };
                                    " reject"
                                }
                            }
                        } @else {
                            (outcome_cell(item.outcome.as_ref()))
                        }
                        td { span class={ "chip " (change_class(&change)) } { (change) } }
                        td { (format!("{:?}", op.entity).to_lowercase()) }
                        td {
                            (op.summary)
                            (fields_markup(op))
                            (why_markup(op.why.as_deref(), false))
                        }
                        td.meta {
                            ([op.school_id.as_deref().map(|id| school_name(s, id)), op.class_id.as_deref()].iter().flatten().copied().collect::<Vec<_>>().join(" · "))
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager {
                @if page > 0 {
                    button data-action="page" data-page=(page - 1) { "‹ previous" }
                }
                " page "
                input.page type="number" min="1" max=(pages) value=(page + 1) data-action="goto-page" aria-label="go to page";
                " of " (pages) " "
                @if page + 1 < pages {
                    button data-action="page" data-page=(page + 1) { "next ›" }
                }
            }
        }
    }
}

/// What a change sets, field by field, in words: "name: Algebra → Algebra 1".
fn fields_markup(op: &PlannedOp) -> Markup {
    let sent = sent(op);
    let changes = field_changes(op.before.as_deref(), op.after.as_deref().or(sent.as_ref()));
    html! {
        @if !changes.is_empty() {
            ul.fields {
                @for c in &changes {
                    li {
                        span.field { (c.field) } ": "
                        @if let Some(before) = &c.before {
                            del { (before) } " → "
                        }
                        ins { (c.after) }
                    }
                }
            }
        }
    }
}

fn outcome_cell(outcome: Option<&Value>) -> Markup {
    match outcome.map(|o| (o["status"].as_str().unwrap_or(""), o)) {
        Some(("succeeded", _)) => html! { td.good { "✓" } },
        Some(("failed", o)) => html! { td.bad title=(o["error"].as_str().unwrap_or("")) { "✗" } },
        _ => html! { td {} },
    }
}

/// Classroom changed by hand away from the SIS: its own kind of change, with what the rules do.
fn drift_section(plan: &SyncPlan) -> Markup {
    html! {
        @if !plan.drift.is_empty() {
            section.card id="drift" {
                h3 { "Drift in Classroom (" (plan.drift.len()) ")" }
                ul {
                    @for d in plan.drift.iter().take(200) {
                        li data-drift=(format!("{:?}", d.action).to_lowercase()) {
                            b { (format!("{:?}", d.action)) } " " (d.message)
                        }
                    }
                }
            }
        }
    }
}

/// Records missing from a read: which removals were confirmed, and how.
fn absences_section(plan: &SyncPlan) -> Markup {
    html! {
        @if !plan.absences.is_empty() {
            section.card id="absences" {
                h3 { "Records missing from this read (" (plan.absences.len()) ")" }
                table.issues {
                    thead { tr { th { "what became of it" } th { "source" } th { "record" } th { "how" } } }
                    tbody {
                        @for a in plan.absences.iter().take(200) {
                            tr {
                                td { (a.status.describe()) }
                                td { (a.source) }
                                td { (a.entity.singular()) " " (a.sourced_id) }
                                td { (a.how) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Who approved the run and, one line each, the changes they rejected: a rejection stays
/// visible after the approved plan replaced the pending one.
fn decision_section(decision: &Value) -> Markup {
    let left_out = decision["leftOut"].as_array().cloned().unwrap_or_default();
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or("").to_string();
    html! {
        section.card id="decision" {
            h3 { "Decision" }
            p {
                "Approved " (text(decision, "decidedAt")) " by " (text(decision, "decidedBy"))
                "; " (left_out.len()) " change(s) rejected."
            }
            @if !left_out.is_empty() {
                ul {
                    @for o in &left_out {
                        li.rejected {
                            code { (text(o, "opId")) } " " (text(o, "summary")) " "
                            span.tag { (if o["why"] == "rejected" { "rejected" } else { "rejected with what it depends on" }) }
                        }
                    }
                }
            }
        }
    }
}

/// The approve button and what it will leave out, re-rendered as boxes are ticked.
/// The host's running job (sync or approval) with its phase and time left, or how the last
/// one ended; an empty placeholder when there is none.
pub(crate) fn job_banner(s: &State) -> String {
    let Some(job) = s.job.as_ref().filter(|j| j["state"] == "running") else {
        return html! { div id="job" {} }.into_string();
    };
    let what = match (job["kind"].as_str(), job["run"].as_i64()) {
        (Some("approve"), Some(run)) => format!("Applying run {run}"),
        _ => match job["trigger"].as_str() {
            Some("schedule") => "Scheduled sync".to_string(),
            _ => "Sync".to_string(),
        },
    };
    let progress = &job["progress"];
    let phase = progress["phase"].as_str().unwrap_or("starting");
    let done = progress["done"].as_u64().unwrap_or(0);
    let total = progress["total"].as_u64();
    let eta = progress["etaSeconds"].as_u64();
    html! {
        div.banner.job id="job" role="status" aria-live="polite" {
            span.spinner {}
            b { (what) } ": " (phase)
            @if let Some(t) = total {
                " " progress value=(done) max=(t) {} " " (done) " of " (t)
            } @else if done > 0 {
                " (" (done) ")"
            }
            @if let Some(secs) = eta {
                " · about " (in_words(secs)) " left"
            }
            @let classroom = progress["classroomRequests"].as_u64().unwrap_or(0);
            @let sis = progress["sisRequests"].as_u64().unwrap_or(0);
            @if classroom + sis > 0 {
                span id="job-requests" {
                    " · requests so far: " (classroom) " to Classroom, " (sis) " to the SIS"
                }
            }
            " · the console stays usable"
        }
    }
    .into_string()
}

fn in_words(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

pub(crate) fn approve_bar(s: &State) -> String {
    approve_markup(s).into_string()
}

fn approve_markup(s: &State) -> Markup {
    let Screen::Run(id) = s.screen else {
        return html! {};
    };
    let n = s.rejected.len();
    let filtered = s.changes.as_ref().map_or(0, |c| c.total);
    let everything = s.detail.as_ref().map_or(0, |d| d.ops_total);
    let estimate = s.detail.as_ref().and_then(|d| d.apply_estimate.as_deref());
    html! {
        div.approve {
            span { (if n == 0 { "Nothing rejected." } else { "Rejected changes, and what depends on them, are left out." }) }
            @if let Some(estimate) = estimate {
                span.meta id="apply-estimate" { "Applying it: " (estimate) "." }
            }
            @if filtered > 0 && filtered < everything {
                button id="reject-filtered" data-action="reject-filtered" data-run=(id) { "Reject the " (filtered) " shown by the filter" }
            }
            @if n > 0 {
                button.link data-action="clear-rejections" { "clear rejections" }
            }
            button.primary id="approve" data-action="approve" data-run=(id) disabled[crate::app::job_running(s)] {
                @if n == 0 { "Approve all" } @else { "Approve all but " (n) " rejected" }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RunRow;

    fn row(message: &str) -> RunRow {
        RunRow {
            id: 7,
            started_at: "2026-12-02T10:00:00Z".into(),
            finished_at: None,
            trigger: "<b>cli</b>".into(),
            status: "failed".into(),
            message: Some(message.into()),
            plan_id: None,
            summary: None,
            outcome_counts: None,
        }
    }

    #[test]
    fn markup_in_data_is_shown_as_text_never_run() {
        let hostile = r#"<img src=x onerror="alert(1)"> & 'quotes'"#;
        let state = State {
            screen: Screen::Runs,
            runs: vec![row(hostile)],
            error: Some("<script>alert(2)</script>".into()),
            ..State::default()
        };
        let html = page(&state);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; 'quotes'"),
            "{html}"
        );
        assert!(html.contains(r#"id="run-7""#), "{html}");
    }

    #[test]
    fn the_grade_export_check_has_its_own_card_apart_from_the_roster_issues() {
        let issues = vec![
            RecordIssue::warning(
                "classroom",
                "courseWork",
                Some("9001"),
                "'Reading log' matches no category; it was not exported",
            ),
            RecordIssue::warning("riverside", "users", Some("u-1"), "no email; left out"),
        ];
        let html = record_issues_section(&issues).into_string();
        let grades = html.find(r#"id="grade-export-check""#).expect("grade card");
        let roster = html.find(r#"id="record-issues""#).expect("roster card");
        assert!(grades < roster, "the grade check first: {html}");
        assert!(html[grades..roster].contains("Reading log"), "{html}");
        assert!(!html[grades..roster].contains("no email"), "{html}");
        assert!(html[roster..].contains("no email"), "{html}");
        assert!(
            !record_issues_section(&issues[1..])
                .into_string()
                .contains("grade-export-check"),
            "no empty card"
        );
    }

    #[test]
    fn an_attribute_value_cannot_break_out_of_its_quotes() {
        let state = State {
            screen: Screen::Runs,
            runs: vec![row("x")],
            rules: Some(serde_json::json!({
                "effective": [{
                    "path": "holds.defaults",
                    "value": true,
                    "origin": "\" onmouseover=\"alert(3)"
                }],
                "warnings": []
            })),
            ..State::default()
        };
        let html = page(&state);
        assert!(html.contains(r#"id="rules-in-force""#), "{html}");
        assert!(!html.contains(r#"" onmouseover"#), "{html}");
        assert!(
            html.contains(r#"data-origin="&quot; onmouseover=&quot;alert(3)""#),
            "{html}"
        );
    }
}

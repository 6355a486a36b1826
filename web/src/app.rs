//! Console state, events and actions. One delegated listener per event type dispatches on
//! `data-action`; the page is re-rendered from state after every change.

use std::cell::RefCell;
use std::collections::BTreeSet;

use classbridge_engine::config::{ChangeKind, HoldPolicy, HoldThreshold};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    Element, Event, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement, MessageEvent, Worker,
    WorkerOptions, WorkerType,
};

use crate::address::{self, Address};
use crate::api::{self, RunDetail, RunRow};
use crate::view;
use crate::worker::PlanDigest;

pub(crate) const PAGE_SIZE: usize = 100;

#[derive(Default, Clone, PartialEq)]
pub(crate) enum Screen {
    #[default]
    SignIn,
    Runs,
    Run(i64),
    /// One person's changes across runs, by email.
    Person(String),
}

#[derive(Default, Clone, Debug, PartialEq)]
pub(crate) struct OpFilter {
    pub text: String,
    /// A school's sourcedId (`-`: changes of no school).
    pub school: String,
    pub entity: String,
    pub change: String,
    /// `person`, `school`, `course`, `change`, `entity`; plan order when empty.
    pub sort: String,
    pub page: usize,
}

/// The browser's own plan for a run's input, under edited rules.
pub(crate) struct WhatIf {
    pub rules_text: String,
    /// The worker's plan under the edited rules, or why it could not plan.
    pub plan: Option<Result<PlanDigest, String>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub screen: Screen,
    pub csrf: Option<String>,
    pub runs: Vec<RunRow>,
    pub detail: Option<RunDetail>,
    pub filter: OpFilter,
    pub rejected: BTreeSet<String>,
    pub verify: Option<Result<String, String>>,
    /// The latest request to the worker: older answers are dropped.
    pub worker_asked: u64,
    pub whatif: Option<WhatIf>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub busy: Option<String>,
    /// `/api/config`: the rules in force and the ones that cannot take effect.
    pub rules: Option<serde_json::Value>,
    /// The host's running (or last) sync or approval, as `/api/job` shows it.
    pub job: Option<serde_json::Value>,
    /// This tab follows the running job (one poller at a time).
    pub following: bool,
    /// The page of changes on screen, as the host filtered it.
    pub changes: Option<api::ChangePage>,
    /// Bumped at every change of filter: answers to older requests are dropped.
    pub changes_asked: u64,
    /// The person screen's history, once the host answered.
    pub person: Option<api::PersonHistory>,
}

/// Whether a job is running on the host (or this tab just asked for one).
pub(crate) fn job_running(s: &State) -> bool {
    s.job.as_ref().is_some_and(|j| j["state"] == "running")
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

pub(crate) fn render() {
    let Some(root) = document().and_then(|d| d.get_element_by_id("app")) else {
        return;
    };
    let html = with(|s| view::page(s));
    root.set_inner_html(&html);
}

/// Only the operations list, so typing in the search box keeps its focus.
fn render_ops() {
    let Some(list) = document().and_then(|d| d.get_element_by_id("ops")) else {
        return render();
    };
    let html = with(|s| view::ops_list(s));
    list.set_inner_html(&html);
}

fn spawn(f: impl std::future::Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(f);
}

fn fail(message: String) {
    with(|s| {
        s.busy = None;
        s.error = Some(message);
    });
    render();
}

pub(crate) fn boot() {
    let Some(doc) = document() else { return };
    for kind in ["click", "input", "change", "submit", "keydown"] {
        let handler = Closure::<dyn FnMut(Event)>::new(move |e: Event| on_event(kind, e));
        let _ = doc.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
        // The listener lives as long as the page.
        handler.forget();
    }
    // Back and Forward move between screens.
    if let Some(w) = web_sys::window() {
        let on_pop = Closure::<dyn FnMut(Event)>::new(move |_| {
            if with(|s| s.csrf.is_some()) {
                spawn(go_to_address());
            }
        });
        let _ = w.add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
        on_pop.forget();
    }
    // A token in the URL fragment (as `classbridge serve` prints it) signs in directly.
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let token = hash.strip_prefix("#token=").map(str::to_string);
    if token.is_some() {
        // Out of the address bar and out of history at once, before anything can fail:
        // Back must never bring the token back.
        forget_token_in_address();
    }
    render();
    spawn(async move {
        let csrf = match token {
            Some(t) => api::login(&t).await,
            None => api::session().await,
        };
        if let Ok(csrf) = csrf {
            with(|s| s.csrf = Some(csrf));
            go_to_address().await;
        } else {
            render();
        }
    });
}

/// Opens the screen the address bar names (after sign-in, a reload, Back or Forward).
async fn go_to_address() {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    match address::parse(&hash) {
        Address::Runs => {
            with(|s| s.screen = Screen::Runs);
            set_address(false);
            load_runs().await;
        }
        Address::Run(id, filter) => open_run_at(id, filter).await,
        Address::Person(email) => open_person(email, false).await,
    }
}

/// Shows everything planned for one person across runs, with why (`explain --person`).
async fn open_person(email: String, push: bool) {
    with(|s| {
        s.busy = Some(format!("Looking up {email}"));
        s.screen = Screen::Person(email.clone());
        s.person = None;
        s.error = None;
        s.notice = None;
    });
    set_address(push);
    render();
    match api::person(&email).await {
        Ok(history) => {
            with(|s| {
                s.person = Some(history);
                s.busy = None;
            });
            render();
        }
        Err(e) => fail(e),
    }
}

/// Writes the screen on show into the address bar: a new history entry when the admin moved
/// to another screen (`push`), the same one when only the filter changed.
pub(crate) fn set_address(push: bool) {
    let address = with(|s| match s.screen {
        Screen::Run(id) => Some(Address::Run(id, s.filter.clone())),
        Screen::Runs => Some(Address::Runs),
        Screen::Person(ref email) => Some(Address::Person(email.clone())),
        Screen::SignIn => None,
    });
    let Some(address) = address else { return };
    let Some(w) = web_sys::window() else { return };
    let hash = address::format(&address);
    if w.location().hash().ok().as_deref() == Some(hash.as_str()) {
        return;
    }
    let path = w.location().pathname().unwrap_or_else(|_| "/".into());
    let url = format!("{path}{hash}");
    if let Ok(history) = w.history() {
        let _ = if push {
            history.push_state_with_url(&JsValue::NULL, "", Some(&url))
        } else {
            history.replace_state_with_url(&JsValue::NULL, "", Some(&url))
        };
    }
}

/// Replaces the current history entry with the page's address minus its fragment.
fn forget_token_in_address() {
    let Some(w) = web_sys::window() else { return };
    let path = w.location().pathname().unwrap_or_else(|_| "/".into());
    if let Ok(history) = w.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&path));
    }
}

/// The host no longer knows this tab's session.
pub(crate) fn session_ended() {
    with(|s| {
        s.csrf = None;
        s.screen = Screen::SignIn;
        s.detail = None;
        s.whatif = None;
        s.busy = None;
    });
}

async fn sign_out() {
    let csrf = with(|s| s.csrf.clone()).unwrap_or_default();
    let result = api::logout(&csrf).await;
    session_ended();
    with(|s| {
        s.runs.clear();
        s.rules = None;
        match result {
            Ok(_) => s.notice = Some("Signed out.".into()),
            Err(e) => s.error = Some(e),
        }
    });
    render();
}

async fn load_runs() {
    with(|s| s.busy = Some("Loading runs".into()));
    render();
    match api::runs().await {
        Ok((runs, job)) => {
            // The rules are shown beside the runs; without them the page still works.
            let rules = api::config().await.ok();
            with(|s| {
                s.runs = runs;
                s.rules = rules;
                s.busy = None;
                s.job = job;
            });
            render();
            if with(|s| job_running(s)) {
                // Started elsewhere (another admin, the schedule): follow it here too.
                spawn(follow_job());
            }
        }
        Err(e) => fail(e),
    }
}

async fn open_run(id: i64) {
    open_run_at(id, OpFilter::default()).await;
}

/// Opens run `id` with `filter` applied, as the address names it.
async fn open_run_at(id: i64, filter: OpFilter) {
    with(|s| {
        s.busy = Some(format!("Loading run {id}"));
        s.screen = Screen::Run(id);
        s.detail = None;
        s.rejected.clear();
        s.verify = None;
        s.whatif = None;
        s.filter = filter;
        s.error = None;
        s.notice = None;
    });
    render();
    match api::run(id).await {
        Ok(d) => {
            with(|s| {
                s.detail = Some(d);
                s.changes = None;
                s.busy = None;
            });
            render();
            load_changes(id).await;
        }
        Err(e) => fail(e),
    }
}

/// Asks the host for the page of changes the filter names; an answer overtaken by a newer
/// request (the admin kept typing) is dropped.
async fn load_changes(id: i64) {
    let (asked, filter) = with(|s| {
        s.changes_asked += 1;
        (s.changes_asked, s.filter.clone())
    });
    let page = api::changes(id, &filter).await;
    let current = with(|s| s.changes_asked == asked && s.screen == Screen::Run(id));
    if !current {
        return;
    }
    match page {
        Ok(p) => {
            with(|s| s.changes = Some(p));
            render_ops();
            render_approve_bar();
        }
        Err(e) => fail(e),
    }
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// The console's Web Worker, started on first use.
fn worker() -> Result<Worker, String> {
    WORKER.with(|slot| {
        if let Some(w) = slot.borrow().as_ref() {
            return Ok(w.clone());
        }
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options("/console/worker.js", &options)
            .map_err(|e| format!("the browser could not start the console's worker: {e:?}"))?;
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| on_worker_message(&e));
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            let detail = e
                .dyn_ref::<web_sys::ErrorEvent>()
                .map(web_sys::ErrorEvent::message)
                .unwrap_or_default();
            fail(format!("the console's worker failed: {detail}"));
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // Both live as long as the page.
        on_message.forget();
        on_error.forget();
        *slot.borrow_mut() = Some(worker.clone());
        Ok(worker)
    })
}

/// Asks the worker to verify run `run`, read its rules, or plan it under edited `rules`.
fn worker_request(run: i64, kind: &str, rules: Option<String>) {
    let id = with(|s| {
        s.worker_asked += 1;
        s.worker_asked
    });
    let message = serde_json::json!({ "id": id, "run": run, "kind": kind, "rules": rules });
    match worker() {
        Ok(w) => {
            if let Err(e) = w.post_message(&JsValue::from_str(&message.to_string())) {
                fail(format!("the console's worker could not be reached: {e:?}"));
            }
        }
        Err(e) => fail(e),
    }
}

fn on_worker_message(e: &MessageEvent) {
    let Some(text) = e.data().as_string() else {
        return;
    };
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let current = with(|s| {
        Some(s.worker_asked) == answer["id"].as_u64()
            && answer["run"]
                .as_i64()
                .is_some_and(|r| s.screen == Screen::Run(r))
    });
    if !current {
        return;
    }
    let run = answer["run"].as_i64().unwrap_or_default();
    if let Some(progress) = answer["progress"].as_str() {
        with(|s| s.busy = Some(progress.to_string()));
        return render();
    }
    let error = answer["error"].as_str().map(str::to_string);
    let digest = || -> Result<PlanDigest, String> {
        if let Some(e) = &error {
            return Err(e.clone());
        }
        serde_json::from_value(answer["digest"].clone()).map_err(|e| e.to_string())
    };
    match answer["kind"].as_str() {
        Some("verify") => {
            let result = digest().and_then(|d| {
                let host_id = with(|s| s.detail.as_ref().and_then(|d| d.run.plan_id.clone()));
                if host_id.as_deref() == Some(d.id.as_str()) {
                    Ok(d.id)
                } else {
                    Err(format!(
                        "the browser computed plan {} but the host stored {}",
                        d.id,
                        host_id.unwrap_or_default()
                    ))
                }
            });
            with(|s| {
                s.busy = None;
                s.verify = Some(result);
            });
        }
        Some("rules") => match (answer["rules"].as_str(), error) {
            (Some(rules), None) => {
                with(|s| {
                    s.whatif = Some(WhatIf {
                        rules_text: rules.to_string(),
                        plan: None,
                    });
                });
                worker_request(run, "whatif", Some(rules.to_string()));
            }
            (_, e) => {
                with(|s| s.busy = None);
                return fail(e.unwrap_or_else(|| "the worker sent no rules".into()));
            }
        },
        Some("whatif") => {
            let result = digest();
            with(|s| {
                s.busy = None;
                if let Some(w) = s.whatif.as_mut() {
                    w.plan = Some(result);
                }
            });
        }
        _ => {}
    }
    render();
}

fn verify(id: i64) {
    with(|s| {
        s.busy = Some("Recomputing the plan in the browser".into());
        s.verify = None;
    });
    render();
    worker_request(id, "verify", None);
}

fn open_whatif(id: i64) {
    with(|s| s.busy = Some("Reading the run's rules".into()));
    render();
    worker_request(id, "rules", None);
}

/// Replans the stored input under the edited rules, in the worker.
fn recompute(id: i64) {
    let text = with(|s| s.whatif.as_ref().map(|w| w.rules_text.clone())).unwrap_or_default();
    with(|s| s.busy = Some("Recomputing under the edited rules".into()));
    render();
    worker_request(id, "whatif", Some(text));
}

async fn approve(id: i64) {
    let (csrf, reject) = with(|s| {
        (
            s.csrf.clone().unwrap_or_default(),
            s.rejected.iter().cloned().collect::<Vec<_>>(),
        )
    });
    with(|s| s.job = Some(serde_json::json!({"state": "running", "kind": "approve", "run": id})));
    render_job();
    match api::approve(id, &csrf, &reject).await {
        Ok(v) => {
            with(|s| s.job = Some(v["job"].clone()));
            follow_job().await;
        }
        Err(e) => {
            with(|s| s.job = None);
            fail(e);
        }
    }
}

async fn sync_now() {
    let csrf = with(|s| s.csrf.clone().unwrap_or_default());
    if with(|s| job_running(s)) {
        return;
    }
    // Disabled at once: a second click must not ask for a second sync.
    with(|s| s.job = Some(serde_json::json!({"state": "running", "kind": "sync"})));
    render_job();
    match api::sync_now(&csrf).await {
        Ok(v) => {
            with(|s| s.job = Some(v["job"].clone()));
            follow_job().await;
        }
        Err(e) => {
            // 409: another admin's (or the schedule's) job is running; follow that one.
            if let Ok(job) = api::job().await {
                with(|s| s.job = job);
            }
            fail(e);
            follow_job().await;
        }
    }
}

/// Plans the undo of run `id` as a job; once planned, its pending run opens.
async fn undo(id: i64) {
    let csrf = with(|s| s.csrf.clone().unwrap_or_default());
    if with(|s| job_running(s)) {
        return;
    }
    with(|s| s.job = Some(serde_json::json!({"state": "running", "kind": "undo"})));
    render_job();
    match api::undo(id, &csrf).await {
        Ok(v) => {
            with(|s| s.job = Some(v["job"].clone()));
            follow_job().await;
        }
        Err(e) => {
            if let Ok(job) = api::job().await {
                with(|s| s.job = job);
            }
            fail(e);
        }
    }
}

/// Polls the running job until it ends, showing its progress; the page stays usable. When it
/// ends, says how and reloads what is on screen.
async fn follow_job() {
    if with(|s| std::mem::replace(&mut s.following, true)) {
        return;
    }
    render_job();
    while with(|s| job_running(s)) {
        gloo_timers::future::TimeoutFuture::new(700).await;
        match api::job().await {
            Ok(job) => with(|s| s.job = job),
            Err(e) => {
                with(|s| s.following = false);
                return fail(e);
            }
        }
        render_job();
    }
    with(|s| s.following = false);
    let Some(job) = with(|s| s.job.clone()) else {
        return;
    };
    let run = job["run"].as_i64();
    let outcome = match job["error"].as_str() {
        Some(e) => Err(e.to_string()),
        None => {
            let message = job["report"]["message"].as_str().unwrap_or("done");
            Ok(match run {
                Some(r) => format!("Run {r}: {message}"),
                None => message.to_string(),
            })
        }
    };
    // Reload what is on screen first: that clears the banners, which then say how it ended.
    // A planned undo opens its own run, which waits for approval.
    let undo_planned = job["kind"] == "undo" && outcome.is_ok();
    match (with(|s| s.screen.clone()), run) {
        (_, Some(undo_run)) if undo_planned => {
            open_run(undo_run).await;
            set_address(true);
        }
        (Screen::Run(open), _) if Some(open) == run => open_run(open).await,
        (Screen::Runs, _) => load_runs().await,
        _ => {}
    }
    with(|s| match outcome {
        Ok(notice) => s.notice = Some(notice),
        Err(e) => s.error = Some(e),
    });
    render();
}

/// Only the job banner and the buttons a running job disables.
fn render_job() {
    let Some(doc) = document() else { return };
    let Some(slot) = doc.get_element_by_id("job") else {
        return render();
    };
    let html = with(|s| view::job_banner(s));
    slot.set_outer_html(&html);
    let running = with(|s| job_running(s));
    if let Ok(buttons) = doc.query_selector_all("#sync-now, #approve") {
        for i in 0..buttons.length() {
            if let Some(b) = buttons.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                if running {
                    let _ = b.set_attribute("disabled", "");
                } else {
                    let _ = b.remove_attribute("disabled");
                }
            }
        }
    }
}

/// The run whose page is open.
fn id_on_screen() -> i64 {
    with(|s| match s.screen {
        Screen::Run(id) => id,
        _ => 0,
    })
}

fn attr(el: &Element, name: &str) -> String {
    el.get_attribute(name).unwrap_or_default()
}

fn on_event(kind: &str, e: Event) {
    let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    let Ok(Some(el)) = target.closest("[data-action]") else {
        return;
    };
    let action = attr(&el, "data-action");
    let id: i64 = attr(&el, "data-run").parse().unwrap_or_default();
    // Enter on a focused row (rows are not buttons) acts like a click: every control is
    // reachable by keyboard.
    let kind = match e.dyn_ref::<web_sys::KeyboardEvent>() {
        Some(k) if kind == "keydown" => {
            let tag = el.tag_name().to_ascii_lowercase();
            if k.key() != "Enter"
                || ["button", "input", "select", "textarea", "a"].contains(&tag.as_str())
            {
                return;
            }
            "click"
        }
        _ if kind == "keydown" => return,
        _ => kind,
    };
    match (kind, action.as_str()) {
        ("submit", "sign-in") => {
            e.prevent_default();
            let token = document()
                .and_then(|d| d.get_element_by_id("token"))
                .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
                .map(|t| t.value())
                .unwrap_or_default();
            spawn(async move {
                match api::login(token.trim()).await {
                    Ok(csrf) => {
                        with(|s| {
                            s.csrf = Some(csrf);
                            s.error = None;
                        });
                        go_to_address().await;
                    }
                    Err(err) => fail(err),
                }
            });
        }
        ("submit", "find-person") => {
            e.prevent_default();
            let email = document()
                .and_then(|d| d.get_element_by_id("person-email"))
                .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
                .map(|t| t.value().trim().to_string())
                .unwrap_or_default();
            if !email.is_empty() {
                spawn(open_person(email, true));
            }
        }
        ("click", "runs") => spawn(async {
            with(|s| {
                s.screen = Screen::Runs;
                s.error = None;
            });
            set_address(true);
            load_runs().await;
        }),
        ("click", "open-run") => {
            with(|s| s.screen = Screen::Run(id));
            with(|s| s.filter = OpFilter::default());
            set_address(true);
            spawn(open_run(id));
        }
        ("click", "verify") => verify(id),
        ("click", "whatif") => open_whatif(id),
        ("click", "recompute") => recompute(id),
        ("click", "approve") => {
            let n = with(|s| s.rejected.len());
            let total = with(|s| s.detail.as_ref().map_or(0, |d| d.ops_total));
            let question = if n == 0 {
                format!("Apply all {total} changes of run {id}?")
            } else {
                format!(
                    "Apply run {id} without the {n} rejected change(s) and what depends on them?"
                )
            };
            let confirmed = web_sys::window()
                .and_then(|w| w.confirm_with_message(&question).ok())
                .unwrap_or(false);
            if confirmed {
                spawn(approve(id));
            }
        }
        ("click", "reject-filtered") => spawn(async move {
            let filter = with(|s| s.filter.clone());
            match api::change_ids(id, &filter).await {
                Ok(ids) => {
                    with(|s| s.rejected.extend(ids));
                    render_ops();
                    render_approve_bar();
                }
                Err(e) => fail(e),
            }
        }),
        ("click", "clear-rejections") => {
            with(|s| s.rejected.clear());
            render_ops();
            render_approve_bar();
        }
        ("click", "sync-now") => spawn(sync_now()),
        ("click", "undo") => {
            let question = format!(
                "Plan the undo of run {id}? Nothing changes until you approve the undo; what cannot be undone is listed."
            );
            let confirmed = web_sys::window()
                .and_then(|w| w.confirm_with_message(&question).ok())
                .unwrap_or(false);
            if confirmed {
                spawn(undo(id));
            }
        }
        ("click", "sign-out") => spawn(sign_out()),
        ("click", "dismiss") => {
            with(|s| {
                s.error = None;
                s.notice = None;
            });
            render();
        }
        ("click", "page") => {
            let page: usize = attr(&el, "data-page").parse().unwrap_or_default();
            with(|s| s.filter.page = page);
            set_address(false);
            spawn(load_changes(id_on_screen()));
        }
        ("change", "goto-page") => {
            // Pages are counted from 1 on screen; out of range goes to the nearest one.
            let typed: usize = el
                .dyn_ref::<HtmlInputElement>()
                .map(HtmlInputElement::value)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1);
            let last = with(|s| {
                s.changes
                    .as_ref()
                    .map_or(1, |c| c.total.div_ceil(PAGE_SIZE).max(1))
            });
            with(|s| s.filter.page = typed.clamp(1, last) - 1);
            set_address(false);
            spawn(load_changes(id_on_screen()));
        }
        ("change", "toggle-reject") => {
            let op = attr(&el, "data-op");
            let checked = el
                .dyn_ref::<HtmlInputElement>()
                .is_some_and(HtmlInputElement::checked);
            with(|s| {
                if checked {
                    s.rejected.insert(op);
                } else {
                    s.rejected.remove(&op);
                }
            });
            render_approve_bar();
        }
        ("input", "search") => {
            let text = el
                .dyn_ref::<HtmlInputElement>()
                .map(HtmlInputElement::value)
                .unwrap_or_default();
            with(|s| {
                s.filter.text = text;
                s.filter.page = 0;
            });
            set_address(false);
            spawn(load_changes(id_on_screen()));
        }
        ("click", "filter-school") => {
            let school = attr(&el, "data-school");
            with(|s| {
                s.filter.school = school;
                s.filter.page = 0;
            });
            set_address(false);
            render();
            spawn(load_changes(id_on_screen()));
        }
        ("change", "filter-entity" | "filter-change" | "filter-school" | "filter-sort") => {
            let value = el
                .dyn_ref::<HtmlSelectElement>()
                .map(HtmlSelectElement::value)
                .unwrap_or_default();
            with(|s| {
                match action.as_str() {
                    "filter-entity" => s.filter.entity = value,
                    "filter-school" => s.filter.school = value,
                    "filter-sort" => s.filter.sort = value,
                    _ => s.filter.change = value,
                }
                s.filter.page = 0;
            });
            set_address(false);
            spawn(load_changes(id_on_screen()));
        }
        ("input", "rules") => {
            let text = el
                .dyn_ref::<HtmlTextAreaElement>()
                .map(HtmlTextAreaElement::value)
                .unwrap_or_default();
            with(|s| {
                if let Some(w) = s.whatif.as_mut() {
                    w.rules_text = text;
                }
            });
        }
        ("change", "hold-delete") => {
            // A quick control for the commonest what-if: the deletion threshold.
            let value: f64 = el
                .dyn_ref::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok())
                .unwrap_or(10.0);
            with(|s| {
                if let Some(w) = s.whatif.as_mut()
                    && let Ok(mut rules) = serde_json::from_str::<serde_json::Value>(&w.rules_text)
                {
                    // The thresholds in force, written out with the deletion one changed:
                    // configured thresholds add to the defaults, so loosening one needs them
                    // all spelt out.
                    let policy: HoldPolicy =
                        serde_json::from_value(rules["holds"].clone()).unwrap_or_default();
                    let mut thresholds = policy.effective_thresholds();
                    let general_delete =
                        |t: &HoldThreshold| t.change == ChangeKind::Delete && t.entity.is_none();
                    if !thresholds.iter().any(general_delete) {
                        thresholds.push(HoldThreshold {
                            entity: None,
                            change: ChangeKind::Delete,
                            max_count: None,
                            max_percent: None,
                        });
                    }
                    for t in thresholds.iter_mut().filter(|t| general_delete(t)) {
                        t.max_percent = Some(value);
                    }
                    rules["holds"]["defaults"] = serde_json::json!(false);
                    rules["holds"]["thresholds"] =
                        serde_json::to_value(&thresholds).unwrap_or_default();
                    w.rules_text = serde_json::to_string_pretty(&rules).unwrap_or_default();
                }
            });
            recompute(id);
        }
        _ => {}
    }
}

fn render_approve_bar() {
    let Some(bar) = document().and_then(|d| d.get_element_by_id("approve-bar")) else {
        return;
    };
    let html = with(|s| view::approve_bar(s));
    bar.set_inner_html(&html);
}

//! The admin console in headless Chromium against `classbridge serve` on the stand-ins:
//! sign in, open a held run, verify its plan in the browser, a what-if edit that changes the
//! counts, reject one change, approve the rest, see it applied. Screenshots of the main
//! screens go to target/screenshots/.

mod browser;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use classbridge_tests::district::Size;
use fantoccini::{Client, Locator};
use serde_json::json;
use support::Harness;

fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    let dir = target.join("screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

async fn shot(c: &Client, name: &str) {
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(screenshots_dir().join(format!("{name}.png")), png);
    }
}

async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    for _ in 0..200 {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
            && text.contains(needle)
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = match c.find(Locator::Css(css)).await {
        Ok(el) => el.text().await.unwrap_or_default(),
        Err(_) => "(not on the page)".into(),
    };
    let body = c.source().await.unwrap_or_default();
    panic!(
        "{css} never showed {needle:?} (it shows {shown:?}); page: {}",
        &body[..body.len().min(3000)]
    );
}

/// The text `css` shows now. The console re-renders a panel by replacing its elements, so an
/// element found a moment ago can be gone by the time its text is asked for (a stale element
/// reference): find it again rather than fail.
async fn current_text(c: &Client, css: &str) -> String {
    let mut last_error = String::new();
    for _ in 0..50 {
        match c.find(Locator::Css(css)).await {
            Ok(el) => match el.text().await {
                Ok(text) => return text,
                Err(e) => last_error = e.to_string(),
            },
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not read {css}: {last_error}");
}

/// Clicks what `css` finds, finding it again if a re-render replaced it in between.
async fn click(c: &Client, css: &str) {
    let mut last_error = String::new();
    for _ in 0..50 {
        match c.find(Locator::Css(css)).await {
            Ok(el) => match el.click().await {
                Ok(()) => return,
                Err(e) => last_error = e.to_string(),
            },
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not click {css}: {last_error}");
}

/// In What-if, replaces the rules' filters with one leaving out school sch0's classes, read
/// from `field`, and recomputes.
async fn what_if_excluding_classes_where(c: &Client, field: &str) {
    c.execute(
        r#"const t = document.querySelector('textarea[data-action=rules]');
           const rules = JSON.parse(t.value);
           rules.filters = [{entity: "class", field: arguments[0], op: "equals", value: "sch0", action: "exclude"}];
           t.value = JSON.stringify(rules, null, 2);
           t.dispatchEvent(new Event('input', {bubbles: true}));
           document.querySelector('button[data-action=recompute]').click();"#,
        vec![json!(field)],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reviews_rejects_and_approves_a_held_run_in_the_browser() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    // Eight students leave: their enrollments go, past the 10% deletion hold.
    h.sis.with_district(|d| {
        d.users.retain(|u| {
            !["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"]
                .contains(&u["sourcedId"].as_str().unwrap_or(""))
        });
    });
    // Read in full, so the page shows how each absence was confirmed (a delta read is told of
    // deletions as `tobedeleted` instead).
    let held = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(held.code, 4, "{}{}", held.stdout, held.stderr);
    let run_id = held.json()["run"].as_i64().unwrap();

    let (mut serve, url) = browser::serve(&h).await;
    let browser = browser::Browser::start().await;
    let c = &browser.client;

    // Signing in with the printed URL lands on the runs list, and the token leaves the
    // address bar and the history: Back does not bring it back.
    let base = url.split("/#token=").next().unwrap().to_string();
    c.goto(&format!("{base}/console/style.css")).await.unwrap();
    c.goto(&url).await.unwrap();
    wait_text(c, &format!("#run-{run_id}"), "pending approval").await;
    wait_text(c, "#rules-in-force", "Rules in force").await;
    let here = c.current_url().await.unwrap();
    assert!(!here.as_str().contains("token"), "{here}");
    c.back().await.unwrap();
    let back = c.current_url().await.unwrap();
    assert!(!back.as_str().contains("token"), "Back: {back}");
    c.forward().await.unwrap();
    let here = c.current_url().await.unwrap();
    assert!(!here.as_str().contains("token"), "Forward: {here}");
    wait_text(c, &format!("#run-{run_id}"), "pending approval").await;
    shot(c, "01-runs").await;

    // The held run: holds, summary, changes.
    // By keyboard: the run's row takes focus and Enter opens it.
    c.find(Locator::Css(&format!("#run-{run_id}")))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_text(c, "#holds", "Held for approval").await;
    let all = wait_text(c, "#ops-count", "change").await;
    // The host filters: a search for one student leaves fewer changes, counted "of" all.
    c.execute(
        r#"const q = document.querySelector('input[data-action=search]');
           q.value = 's1@';
           q.dispatchEvent(new Event('input', {bubbles: true}));"#,
        vec![],
    )
    .await
    .unwrap();
    let some = wait_text(c, "#ops-count", " of ").await;
    assert_ne!(some, all, "{some}");
    // Changes read as sentences: the student (gone from the SIS, named from the last roster),
    // the course with its code and school, and no raw JSON.
    let row = wait_text(c, "table.ops", "remove student Student1 Jones (s1@").await;
    assert!(row.contains("(P") && row.contains(", School "), "{row}");
    assert!(!row.contains('{'), "{row}");
    // The address keeps the place: a reload comes back to this run with this search.
    let here = c.current_url().await.unwrap();
    assert!(
        here.as_str().ends_with(&format!("#/runs/{run_id}?q=s1%40")),
        "{here}"
    );
    c.refresh().await.unwrap();
    let again = wait_text(c, "#ops-count", " of ").await;
    assert_eq!(again, some, "the same filtered list after a reload");
    let typed = c
        .find(Locator::Css("input[data-action=search]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some("s1@"));
    // "Download CSV: these changes" downloads what is on screen.
    let href = c
        .find(Locator::Css("#exports a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        href.contains(&format!("/api/runs/{run_id}/export/changes.csv?q=s1%40")),
        "{href}"
    );
    // Reject every change the filter shows at once, then think better of it.
    let shown: usize = some.split_whitespace().next().unwrap().parse().unwrap();
    click(c, "#reject-filtered").await;
    wait_text(c, "#approve", &format!("Approve all but {shown} rejected")).await;
    click(c, "button[data-action=clear-rejections]").await;
    wait_text(c, "#approve", "Approve all").await;
    // The bar says how long the apply takes at the configured quota.
    wait_text(c, "#apply-estimate", "requests/minute").await;
    c.execute(
        r#"const q = document.querySelector('input[data-action=search]');
           q.value = '';
           q.dispatchEvent(new Event('input', {bubbles: true}));"#,
        vec![],
    )
    .await
    .unwrap();
    wait_text(c, "#ops-count", &all).await;
    // Ordered by person: the rows come back sorted by the host (in plan order they go
    // class by class), and the address keeps the order.
    let people = r#"return [...document.querySelectorAll('table.ops tr')]
           .map(r => (r.textContent.match(/\((s\d+@[^)]+)\)/) || [])[1] || '');"#;
    let in_plan_order: Vec<String> =
        serde_json::from_value(c.execute(people, vec![]).await.unwrap()).unwrap();
    let mut sorted = in_plan_order.clone();
    sorted.sort();
    assert_ne!(in_plan_order, sorted, "plan order is not by person");
    c.execute(
        r#"const s = document.querySelector('select[data-action=filter-sort]');
           s.value = 'person';
           s.dispatchEvent(new Event('change', {bubbles: true}));"#,
        vec![],
    )
    .await
    .unwrap();
    let mut by_person: Vec<String> = Vec::new();
    for _ in 0..100 {
        by_person = serde_json::from_value(c.execute(people, vec![]).await.unwrap()).unwrap();
        if by_person == sorted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(by_person, sorted);
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("sort=person")
    );
    // The students' removals were confirmed with the SIS, and the page says how.
    wait_text(c, "#absences", "removed, confirmed gone").await;
    wait_text(c, "#absences", "answered 404").await;
    shot(c, "02-held-run").await;

    // Verify: the browser's engine computes the same plan id as the host's.
    click(c, "button[data-action=verify]").await;
    wait_text(c, "#verified", "Same plan").await;
    // The district's input was fetched and planned by the console's worker, never by the page
    // (the page's own resource timings do not list it).
    let fetched_by_page = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/input')).length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fetched_by_page, json!(0));

    // What if: exclude school sch0's classes; the counts change at once, in the browser.
    click(c, "button[data-action=whatif]").await;
    // Unedited, the rules change nothing, and the hold reads as the host reports it.
    wait_text(c, "#whatif-no-effect", "changes nothing").await;
    wait_text(c, "#whatif-holds", "Would wait: held for approval:").await;
    let before = current_text(c, "#whatif-counts").await;
    what_if_excluding_classes_where(c, "school").await;
    let mut after = before.clone();
    for _ in 0..100 {
        after = current_text(c, "#whatif-counts").await;
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(after, before, "a what-if filter changes the counts");
    shot(c, "03-what-if").await;
    // A filter on a misspelt field is named, not silently ignored.
    what_if_excluding_classes_where(c, "shcool").await;
    let notice = wait_text(c, "#whatif-notices", "filters[0]: has no effect").await;
    assert!(notice.contains("did you mean 'school'?"), "{notice}");

    // Reject one change, approve the rest.
    let first = c
        .find(Locator::Css("input[data-action=toggle-reject]"))
        .await
        .unwrap();
    let rejected = first.attr("data-op").await.unwrap().unwrap();
    // Scrolled to the middle, as a person would: the approve bar stays on screen at the bottom.
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(&first).unwrap()],
    )
    .await
    .unwrap();
    first.click().await.unwrap();
    wait_text(c, "#approve", "Approve all but 1 rejected").await;
    click(c, "#approve").await;
    // Approving asks first, saying what is left out.
    let question = c.get_alert_text().await.expect("a confirmation");
    assert!(question.contains("without the 1 rejected"), "{question}");
    c.accept_alert().await.unwrap();
    wait_text(c, "#notice", "applied").await;
    wait_text(c, "#decision", &rejected).await;
    wait_text(c, "#decision", "by console").await;
    shot(c, "04-applied").await;

    // A school's row in the breakdown, by name, filters the changes to that school.
    if c.find(Locator::Css("#by-school")).await.is_ok() {
        wait_text(c, "#by-school", "School 0 (sch0)").await;
        click(c, "#by-school button[data-action=filter-school]").await;
        wait_text(c, "#ops-count", " of ").await;
        assert!(c.current_url().await.unwrap().as_str().contains("school="));
    }

    // Back returns to the runs list, where the run now shows as applied.
    c.back().await.unwrap();
    wait_text(c, &format!("#run-{run_id}"), "applied").await;
    assert!(c.current_url().await.unwrap().as_str().ends_with("#/runs"));

    // Sign out: back to the sign-in form, and the old session is worthless to the page.
    click(c, "button[data-action=sign-out]").await;
    wait_text(c, "#notice", "Signed out").await;
    c.find(Locator::Css("form[data-action=sign-in]"))
        .await
        .expect("the sign-in form");
    let status = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               fetch('/api/runs').then(r => done(r.status), e => done(String(e)));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(401), "signed out means signed out");
    c.refresh().await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("form[data-action=sign-in]"))
        .await
        .expect("a reload after sign-out asks for the token");
    browser.client.clone().close().await.ok();

    let detail = h
        .cli(&["runs", "show", &run_id.to_string(), "--json"])
        .await
        .json();
    assert_eq!(detail["run"]["status"], "applied");
    let journal = detail["journal"].as_array().unwrap();
    assert!(!journal.is_empty());
    assert!(
        journal.iter().all(|j| j["opId"] != rejected.as_str()),
        "the rejected change was not applied"
    );
    assert!(
        journal
            .iter()
            .all(|j| j["outcome"]["status"] == "succeeded")
    );
    assert_eq!(detail["decision"]["decidedBy"], "console");
    assert!(
        detail["decision"]["leftOut"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["opId"] == rejected.as_str() && o["why"] == "rejected"),
        "the rejected change stays visible: {}",
        detail["decision"]
    );
    assert!(detail["run"]["outcomeCounts"]["rejected"].as_u64().unwrap() >= 1);
    let _ = serve.kill().await;
}

/// "Why did my student disappear?": the person search shows one student's changes across
/// runs, each with the engine's explanation, and a run's changes say why too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_asks_why_a_student_left_their_classes() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    h.sis
        .with_district(|d| d.users.retain(|u| u["sourcedId"] != "s1"));
    let second = h.cli(&["sync", "--full", "--json"]).await;
    assert!(matches!(second.code, 0 | 4), "{}", second.stderr);
    let run_id = second.json()["run"].as_i64().unwrap();

    let (mut serve, url) = browser::serve(&h).await;
    let browser = browser::Browser::start().await;
    let c = &browser.client;
    let base = url.split("/#token=").next().unwrap().to_string();
    c.goto(&url).await.unwrap();
    wait_text(c, "#person-search", "Why?").await;
    c.execute(
        r#"document.getElementById('person-email').value = 's1@students.district.example';
           document.querySelector('form[data-action=find-person]').requestSubmit();"#,
        vec![],
    )
    .await
    .unwrap();
    let history = wait_text(c, "#person", "was removed").await;
    assert!(
        history.contains("Run 1") && history.contains(&format!("Run {run_id}")),
        "{history}"
    );
    assert!(
        history.contains("is new"),
        "the first run's adds: {history}"
    );
    assert!(history.contains("[applied]"), "{history}");
    let here = c.current_url().await.unwrap();
    assert!(
        here.as_str()
            .ends_with("#/people?email=s1%40students.district.example"),
        "{here}"
    );
    shot(c, "08-person").await;
    // The address keeps the place.
    c.refresh().await.unwrap();
    wait_text(c, "#person", "was removed").await;
    // A run's changes carry their explanation.
    c.goto(&format!("{base}/#/runs/{run_id}?q=s1%40"))
        .await
        .unwrap();
    let rows = wait_text(c, "table.ops", "remove student").await;
    assert!(rows.contains("why"), "{rows}");
    let text = c
        .execute(
            "return document.querySelector('table.ops details.why p').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        text.as_str()
            .unwrap_or_default()
            .contains("because the SIS's enrollment"),
        "{text}"
    );
    // Nobody by that address: said so.
    c.goto(&format!("{base}/#/people?email=nobody%40example.org"))
        .await
        .unwrap();
    wait_text(
        c,
        "#person-empty",
        "No change was planned for nobody@example.org",
    )
    .await;
    browser.client.clone().close().await.ok();
    let _ = serve.kill().await;
}

/// Undo from the console: an applied run's page offers Undo, which asks first, plans the
/// inverse as a run of its own that waits for approval, and opens it; approved, the student
/// the run removed is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_undoes_an_applied_run_in_the_browser() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    h.sis.with_district(|d| {
        let e = d
            .enrollments
            .iter_mut()
            .find(|e| e["sourcedId"] == "e-cl0-s0")
            .expect("s0 in cl0");
        e["endDate"] = json!("2026-01-15");
    });
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let s0 = "s0@students.district.example".to_string();
    assert!(!h.classroom.student_ids("d:cl0").contains(&s0));

    let (mut serve, url) = browser::serve(&h).await;
    let browser = browser::Browser::start().await;
    let c = &browser.client;
    let base = url.split("/#token=").next().unwrap().to_string();
    c.goto(&url).await.unwrap();
    wait_text(c, "#run-2", "applied").await;
    c.goto(&format!("{base}/#/runs/2")).await.unwrap();
    wait_text(c, "#undo", "Undo this run").await;
    click(c, "#undo").await;
    let question = c.get_alert_text().await.expect("a confirmation");
    assert!(question.contains("undo of run 2"), "{question}");
    c.accept_alert().await.unwrap();
    // The undo's own run opens, waiting for approval, with the student's return in it.
    wait_text(c, "#approve", "Approve").await;
    let rows = wait_text(c, "table.ops", "back to d:cl0").await;
    assert!(rows.contains("(undoes run 2)"), "{rows}");
    let here = c.current_url().await.unwrap();
    assert!(here.as_str().ends_with("#/runs/3"), "{here}");
    shot(c, "09-undo").await;
    click(c, "#approve").await;
    c.accept_alert().await.unwrap();
    wait_text(c, "#notice", "Run 3").await;
    assert!(h.classroom.student_ids("d:cl0").contains(&s0), "s0 is back");
    browser.client.clone().close().await.ok();
    let _ = serve.kill().await;
}

//! The console's server. Its exposure, tried as an attacker would: sessions that are not the
//! token and that end, sign-in guessing, foreign host names (DNS rebinding), frames and
//! caches, plain HTTP beyond loopback, a configured token kept out of the output. And its
//! jobs: a sync runs in the background while every page still answers.

mod support;

use std::process::Stdio;
use std::time::Duration;

use std::sync::atomic::Ordering;

use classbridge_tests::district::Size;
use support::{Harness, binary};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// `classbridge serve ARGS`: the child and the line it printed to say where it listens, or
/// (when it exits first) its exit code and error output.
async fn start_serve(
    h: &Harness,
    args: &[&str],
) -> Result<(tokio::process::Child, String), (i32, String)> {
    let mut child = tokio::process::Command::new(binary())
        .arg("--config")
        .arg(&h.config)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve says something within a minute")
        .expect("read stdout");
    match line {
        Some(l) => Ok((child, l)),
        None => {
            let status = child.wait().await.expect("exit");
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err).await;
            }
            Err((status.code().unwrap_or(-1), err))
        }
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn login(client: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("login")
}

async fn get_with_cookie(client: &reqwest::Client, url: &str, cookie: &str) -> u16 {
    client
        .get(url)
        .header("Cookie", cookie)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_its_own_random_id_and_it_ends_at_sign_out_and_when_idle() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| format!("{c}\n[serve]\nsession_idle = \"2s\"\nsession_max = \"1h\"\n"));
    let console = h.serve().await;
    let runs = format!("{}/api/runs", console.base);
    let client = reqwest::Client::new();

    // The harness signed in: its cookie is a session id, not the token, and is guarded.
    let resp = login(&client, &console.base, &console.token).await;
    assert_eq!(resp.status().as_u16(), 200);
    let set_cookie = header(&resp, "set-cookie").to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain loopback HTTP");
    assert!(!set_cookie.contains(&console.token), "{set_cookie}");
    let second = set_cookie.split(';').next().unwrap().to_string();
    assert_ne!(second, console.cookie, "a new id at every sign-in");
    assert_eq!(get_with_cookie(&client, &runs, &console.cookie).await, 200);
    assert_eq!(get_with_cookie(&client, &runs, &second).await, 200);
    // The token is not a session, and neither is a made-up id.
    let as_token = format!("cb_session={}", console.token);
    assert_eq!(get_with_cookie(&client, &runs, &as_token).await, 401);
    assert_eq!(
        get_with_cookie(
            &client,
            &runs,
            "cb_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )
        .await,
        401
    );
    let bearer = client
        .get(&runs)
        .bearer_auth(&console.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(bearer.status().as_u16(), 401, "no token as a bearer either");

    // Sign-out needs the CSRF token, then ends that session (and only that one).
    let (status, _) = {
        let r = client
            .post(format!("{}/api/logout", console.base))
            .header("Cookie", &console.cookie)
            .send()
            .await
            .expect("logout");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 403, "no CSRF token, no sign-out");
    let (status, answer) = console.post("/api/logout", None, "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(get_with_cookie(&client, &runs, &console.cookie).await, 401);
    let (status, _) = console.get("/api/session").await;
    assert_eq!(status, 401);
    assert_eq!(get_with_cookie(&client, &runs, &second).await, 200);

    // Idle for longer than serve.session_idle: gone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(get_with_cookie(&client, &runs, &second).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_its_absolute_limit_however_busy() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| format!("{c}\n[serve]\nsession_idle = \"1h\"\nsession_max = \"3s\"\n"));
    let console = h.serve().await;
    let runs = format!("{}/api/runs", console.base);
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut last_ok = Duration::ZERO;
    loop {
        let status = get_with_cookie(&client, &runs, &console.cookie).await;
        if status != 200 {
            assert_eq!(status, 401);
            break;
        }
        last_ok = started.elapsed();
        assert!(last_ok < Duration::from_secs(10), "the session never ended");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        last_ok >= Duration::from_secs(2),
        "ended too soon: {last_ok:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_token_is_slowed_to_a_crawl() {
    let h = Harness::start(Size::Tiny, "").await;
    let console = h.serve().await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let resp = login(&client, &console.base, &format!("guess-{i}")).await;
        statuses.push(resp.status().as_u16());
        if resp.status().as_u16() == 429 {
            let retry: u64 = header(&resp, "retry-after").parse().expect("Retry-After");
            assert!((1..=300).contains(&retry), "{retry}");
        }
    }
    assert_eq!(&statuses[..5], &[401; 5], "typos are answered");
    assert_eq!(statuses[5], 401, "the sixth wrong token starts the lockout");
    assert_eq!(&statuses[6..], &[429, 429], "{statuses:?}");
    // While locked out even the right token is not read: guessing gains nothing.
    let resp = login(&client, &console.base, &console.token).await;
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = header(&resp, "retry-after").parse().expect("Retry-After");
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let resp = login(&client, &console.base, &console.token).await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "the admin gets in after the wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_names_are_refused_and_every_answer_is_kept_out_of_frames_and_caches() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| format!("{c}\n[serve]\nhostnames = [\"console.district.example\"]\n"));
    let console = h.serve().await;
    let client = reqwest::Client::new();
    let runs = format!("{}/api/runs", console.base);
    let port = console.base.rsplit(':').next().unwrap().to_string();

    // A page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding).
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1.evil.example".into(),
    ] {
        let resp = client
            .get(&runs)
            .header("Host", &host)
            .header("Cookie", &console.cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 421, "{host}");
        let body: serde_json::Value = resp.json().await.expect("JSON");
        assert!(
            body["error"].as_str().unwrap().contains("serve.hostnames"),
            "{body}"
        );
    }
    for host in [
        format!("console.district.example:{port}"),
        format!("localhost:{port}"),
    ] {
        let resp = client
            .get(&runs)
            .header("Host", &host)
            .header("Cookie", &console.cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 200, "{host}");
    }

    for path in ["/", "/api/runs", "/api/session", "/console/boot.js"] {
        let resp = client
            .get(format!("{}{path}", console.base))
            .header("Cookie", &console.cookie)
            .send()
            .await
            .expect("GET");
        let csp = header(&resp, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&resp, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-store", "{path}");
        assert_eq!(header(&resp, "referrer-policy"), "no-referrer", "{path}");
    }
    // The page has no inline script for the CSP to block.
    let page = client
        .get(format!("{}/", console.base))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(page.contains(r#"<script type="module" src="/console/boot.js"></script>"#));
    assert!(!page.contains("import init"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_must_be_strong_and_is_never_printed() {
    let h = Harness::start(Size::Tiny, "").await;
    std::fs::write(h.dir.path().join("console.token"), "abc\n").expect("token");
    h.edit_config(|c| format!("{c}\n[serve]\ntoken = {{ file = \"console.token\" }}\n"));
    let (code, err) = start_serve(&h, &["--listen", "127.0.0.1:0"])
        .await
        .expect_err("a 3-character token is refused");
    assert_eq!(code, 2, "a config error: {err}");
    assert!(err.contains("serve.token"), "{err}");
    assert!(err.contains("too weak"), "{err}");
    assert!(
        !err.contains("abc"),
        "the token itself is not repeated: {err}"
    );

    let strong = "Zq8v-T1mK3pL0xWc7nR2yB5s";
    std::fs::write(h.dir.path().join("console.token"), strong).expect("token");
    let (_child, line) = start_serve(&h, &["--listen", "127.0.0.1:0"])
        .await
        .expect("serves");
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    assert!(
        !line.contains(strong),
        "a configured token stays out of logs: {line}"
    );
    assert!(!line.contains("#token="), "{line}");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let resp = login(&reqwest::Client::new(), &base, strong).await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_console_is_served_over_tls_or_not_at_all() {
    let h = Harness::start(Size::Tiny, "").await;
    let (code, err) = start_serve(&h, &["--listen", "0.0.0.0:0"])
        .await
        .expect_err("plain HTTP on every interface is refused");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plain HTTP"), "{err}");
    assert!(err.contains("serve.tls_cert"), "{err}");
    assert!(err.contains("--insecure-http"), "{err}");

    // Explicitly allowed for a proxy in front: served, with a warning.
    let (mut child, line) = start_serve(&h, &["--listen", "0.0.0.0:0", "--insecure-http"])
        .await
        .expect("serves when told to");
    assert!(line.contains("http://localhost:"), "{line}");
    let _ = child.kill().await;

    // With a certificate: HTTPS, Secure cookies, HSTS.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::write(h.dir.path().join("console.crt"), cert.cert.pem()).expect("crt");
    std::fs::write(
        h.dir.path().join("console.key"),
        cert.signing_key.serialize_pem(),
    )
    .expect("key");
    h.edit_config(|c| {
        format!("{c}\n[serve]\ntls_cert = \"console.crt\"\ntls_key = \"console.key\"\n")
    });
    let (_child, line) = start_serve(&h, &["--listen", "0.0.0.0:0"])
        .await
        .expect("serves over TLS");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://localhost:"))
        .unwrap_or_else(|| panic!("an https URL: {line}"));
    let (base, token) = url.split_once("/#token=").expect("sign-in URL");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .expect("client");
    let resp = login(&client, base, token).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(header(&resp, "set-cookie").contains("; Secure"));
    assert!(header(&resp, "strict-transport-security").contains("max-age="));
    // Plain HTTP to the TLS port gets nothing useful.
    let plain = base.replace("https://", "http://");
    let answer = reqwest::Client::new()
        .post(format!("{plain}/api/login"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await;
    assert!(
        answer.is_err() || !answer.unwrap().status().is_success(),
        "no sign-in over plain HTTP"
    );

    // Half a TLS configuration is a config error naming both settings.
    h.edit_config(|c| c.replace("tls_key = \"console.key\"\n", ""));
    let (code, err) = start_serve(&h, &["--listen", "127.0.0.1:0"])
        .await
        .expect_err("refused");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("serve.tls_cert and serve.tls_key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_runs_in_the_background_while_every_page_answers_and_only_one_runs_at_a_time() {
    let h = Harness::start(Size::Tiny, "").await;
    let console = h.serve().await;
    // Every Classroom answer takes a while: the sync lasts seconds.
    h.classroom.state.faults.slow_ms.store(40, Ordering::SeqCst);

    let (status, started) = console.post("/api/sync", None, "").await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["job"]["state"], "running");
    assert_eq!(started["job"]["kind"], "sync");
    assert_eq!(started["job"]["trigger"], "console");

    // Pages answer while it runs (each answer says the job is still running, so it was not
    // held until the sync ended), and the job shows where it is.
    let (status, runs) = console.get("/api/runs").await;
    assert_eq!(status, 200);
    assert_eq!(runs["job"]["state"], "running", "{runs}");
    let (status, _) = console.get("/api/config").await;
    assert_eq!(status, 200);
    let mut phases = std::collections::BTreeSet::new();
    let (mut classroom_requests, mut sis_requests) = (0, 0);
    let mut second_sync_started = false;
    loop {
        let (_, job) = console.get("/api/job").await;
        if job["job"]["state"] != "running" {
            break;
        }
        if let Some(p) = job["job"]["progress"]["phase"].as_str() {
            phases.insert(p.to_string());
        }
        let progress = &job["job"]["progress"];
        classroom_requests =
            classroom_requests.max(progress["classroomRequests"].as_u64().unwrap_or(0));
        sis_requests = sis_requests.max(progress["sisRequests"].as_u64().unwrap_or(0));
        // A second sync (a double click, another admin) is refused, naming the running one.
        let (status, again) = console.post("/api/sync", None, "").await;
        if status == 202 {
            // The first ended between the two requests, so this one started.
            second_sync_started = true;
            break;
        }
        assert_eq!(status, 409, "{again}");
        assert!(
            again["error"]
                .as_str()
                .unwrap()
                .contains("started by console"),
            "{again}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        phases
            .iter()
            .any(|p| p.contains("Reading") || p.contains("Applying")),
        "the job showed its phases: {phases:?}"
    );
    // It counted the requests it sent, to each service.
    assert!(sis_requests > 0, "SIS requests counted");
    assert!(classroom_requests > 0, "Classroom requests counted");
    let job = console.wait_job().await;
    assert_eq!(job["state"], "finished", "{job}");
    assert!(job["finishedAt"].is_string());
    let (_, runs) = console.get("/api/runs").await;
    assert_eq!(runs["runs"][0]["id"], job["run"], "{runs}");
    let run = if second_sync_started {
        // The sync that started after the first found nothing left to do; the first, the
        // run before it, applied the district.
        assert_eq!(job["report"]["status"], "noChanges", "{job}");
        assert_eq!(runs["runs"][1]["status"], "applied", "{runs}");
        runs["runs"][1]["id"].as_i64().unwrap()
    } else {
        assert_eq!(job["report"]["status"], "applied", "{job}");
        job["run"].as_i64().unwrap()
    };
    assert!(h.course_count() > 0);

    // The run's page opens without its operations; they come a page at a time, filtered
    // and searched on the host, each with its outcome.
    let (status, detail) = console.get(&format!("/api/runs/{run}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["plan"]["ops"], serde_json::json!([]));
    assert!(
        detail["journal"].is_null(),
        "no journal in the page's first answer"
    );
    let ops_total = detail["opsTotal"].as_u64().unwrap();
    assert!(ops_total > 10, "{detail}");
    // Each school's share adds up to the run, and a school's filter finds exactly its share.
    let by_school = detail["bySchool"].as_array().unwrap();
    assert!(by_school.len() >= 2, "{detail}");
    let sum: u64 = by_school.iter().map(|c| c["total"].as_u64().unwrap()).sum();
    assert_eq!(sum, ops_total);
    for c in by_school {
        let school = c["school"].as_str().unwrap();
        let (_, page) = console
            .get(&format!("/api/runs/{run}/changes?school={school}&limit=1"))
            .await;
        assert_eq!(page["total"], c["total"], "{school}");
    }
    let (_, page) = console
        .get(&format!("/api/runs/{run}/changes?offset=3&limit=5"))
        .await;
    assert_eq!(page["total"].as_u64(), Some(ops_total));
    assert_eq!(page["offset"], 3);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(
        items.iter().all(|i| i["outcome"]["status"] == "succeeded"),
        "{page}"
    );
    let (_, courses) = console
        .get(&format!("/api/runs/{run}/changes?entity=course&limit=1000"))
        .await;
    assert_eq!(
        courses["total"].as_u64(),
        Some(h.course_count() as u64),
        "one course change per course"
    );
    assert!(
        courses["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["op"]["entity"] == "course")
    );
    // A search names a person: every item found mentions them.
    let someone = items[0]["op"]["person"]
        .as_str()
        .or_else(|| items[0]["op"]["classId"].as_str())
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (_, found) = console
        .get(&format!("/api/runs/{run}/changes?q={someone}&limit=1000"))
        .await;
    let found_items = found["items"].as_array().unwrap();
    assert!(!found_items.is_empty());
    assert!(found["total"].as_u64().unwrap() < ops_total, "{someone}");
    assert!(found_items.iter().all(|i| {
        i.to_string()
            .to_lowercase()
            .contains(&someone.to_lowercase())
    }));
    // Compressed for a browser that asks.
    let resp = console
        .client
        .get(format!(
            "{}/api/runs/{run}/changes?limit=1000",
            console.base
        ))
        .header("Cookie", &console.cookie)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "content-encoding"), "gzip");

    // What the admin looks at downloads as CSV, filtered the same way.
    let resp = console
        .client
        .get(format!(
            "{}/api/runs/{run}/export/changes.csv?entity=course",
            console.base
        ))
        .header("Cookie", &console.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
    assert!(
        header(&resp, "content-disposition")
            .contains(&format!("attachment; filename=\"run-{run}-changes.csv\"")),
        "{}",
        header(&resp, "content-disposition")
    );
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("op_id,change,entity,school,class,person,summary"));
    assert!(
        lines[0].ends_with(",outcome,error,school_name"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), h.course_count() + 1, "{csv}");
    // Each course succeeded, with no error, in a school named as the roster names it.
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(",course,") && l.contains(",succeeded,,School ")),
        "{csv}"
    );
    for what in ["issues", "holds", "failures"] {
        let resp = console
            .client
            .get(format!("{}/api/runs/{run}/export/{what}.csv", console.base))
            .header("Cookie", &console.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{what}");
    }
    let (status, _) = console
        .get(&format!("/api/runs/{run}/export/secrets.csv"))
        .await;
    assert_eq!(status, 404);
    let anonymous = reqwest::get(format!(
        "{}/api/runs/{run}/export/changes.csv",
        console.base
    ))
    .await
    .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "exports need a session");

    // An approval of a run that is not pending is refused at once, with nothing started.
    let (status, answer) = console
        .post(
            &format!("/api/runs/{run}/approve"),
            Some("application/json"),
            r#"{"reject": []}"#,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("not pending"),
        "{answer}"
    );
}

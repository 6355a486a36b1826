//! Headless Chromium against `classbridge serve`, shared by the console's browser test and its
//! benchmark: the served console's sign-in URL and a WebDriver session.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::support::Harness;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `classbridge serve` on a free loopback port (killed on drop) and the sign-in URL it prints.
pub(crate) async fn serve(h: &Harness) -> (tokio::process::Child, String) {
    h.spawn_serve().await
}

/// A headless Chromium session; the driver and the profile live as long as it.
pub(crate) struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    #[allow(dead_code, reason = "the browser test's; the benchmark traces")]
    pub(crate) async fn start() -> Browser {
        Browser::launch(false).await
    }

    /// A session whose renderer records a performance trace (read with
    /// [`main_thread_tasks`]), to check the page's own long-task count against.
    #[allow(dead_code, reason = "the benchmark's; the browser test does not trace")]
    pub(crate) async fn start_traced() -> Browser {
        Browser::launch(true).await
    }

    async fn launch(traced: bool) -> Browser {
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&chromedriver).exists(),
            "browser tests need chromium and chromium-driver (./test.sh installs them); set CHROMEDRIVER to another path"
        );
        let port = free_port();
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver");
        let profile = tempfile::tempdir().expect("profile");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1280,1000", "--enable-precise-memory-info",
                    format!("--user-data-dir={}", profile.path().display())]
            }
        });
        let mut caps = caps;
        if traced {
            caps["goog:loggingPrefs"] = json!({ "performance": "ALL" });
            caps["goog:chromeOptions"]["perfLoggingPrefs"] = json!({
                "enableNetwork": false,
                "enablePage": false,
                "traceCategories": "devtools.timeline,disabled-by-default-devtools.timeline,toplevel,blink.user_timing"
            });
        }
        for _ in 0..50 {
            if let Ok(client) = ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(caps.as_object().expect("caps").clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                return Browser {
                    client,
                    _driver: driver,
                    _profile: profile,
                };
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no chromedriver session");
    }
}

/// ChromeDriver's performance log (`POST /session/{id}/se/log`), which carries the trace
/// events recorded since it was last read.
#[derive(Debug)]
struct PerformanceLog;

impl fantoccini::wd::WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"performance"}"#.into()))
    }
}

/// The tasks the page's main thread ran, from Chromium's own trace (`RunTask` events on
/// `CrRendererMain`): what the page's PerformanceObserver reports as long tasks, measured by
/// the browser instead. Durations in ms, split at the page's `performance.mark(mark)`: those
/// before it and those from it on (all of them "before" when the trace has no such mark).
/// ChromeDriver hands the trace over once: read it at the end. Both are empty when the trace
/// recorded no task (then the observer's figure stands unchecked).
#[allow(dead_code, reason = "the benchmark's; the browser test does not trace")]
pub(crate) async fn main_thread_tasks(client: &Client, mark: &str) -> (Vec<f64>, Vec<f64>) {
    let log = match client.issue_cmd(PerformanceLog).await {
        Ok(log) => log,
        Err(e) => {
            eprintln!("the performance log could not be read: {e}");
            return (Vec::new(), Vec::new());
        }
    };
    let events: Vec<serde_json::Value> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["message"].as_str())
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .filter(|m| m["message"]["method"] == "Tracing.dataCollected")
        .map(|m| m["message"]["params"].clone())
        .collect();
    let main_threads: std::collections::BTreeSet<(i64, i64)> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter(|e| e["args"]["name"] == "CrRendererMain")
        .filter_map(|e| Some((e["pid"].as_i64()?, e["tid"].as_i64()?)))
        .collect();
    let marked_at = events
        .iter()
        .filter(|e| e["name"] == mark)
        .filter_map(|e| e["ts"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for e in &events {
        let on_main = e["pid"]
            .as_i64()
            .zip(e["tid"].as_i64())
            .is_some_and(|t| main_threads.contains(&t));
        if e["ph"] != "X" || e["name"] != "RunTask" || !on_main {
            continue;
        }
        let (Some(ts), Some(dur)) = (e["ts"].as_f64(), e["dur"].as_f64()) else {
            continue;
        };
        if ts + dur >= marked_at {
            after.push(dur / 1000.0);
        } else {
            before.push(dur / 1000.0);
        }
    }
    (before, after)
}

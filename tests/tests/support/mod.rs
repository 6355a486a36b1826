//! The end-to-end harness: stand-ins on loopback, a config in a temp folder, and the real
//! `classbridge` binary run as a user would run it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use classbridge_tests::classroom::{self, StandInClassroom};
use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::{self, SisAuth, SisSpec, StandInSis};

pub(crate) const SIS_SECRET: &str = "sis-secret-8f2a1c77d0";
pub(crate) const CLASSROOM_TOKEN: &str = "classroom-token-51be0c9a3e";

/// The host binary: beside this test's own executable (`target/<profile>/deps/..`), built
/// by `cargo test --workspace`; built here when missing.
pub(crate) fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("CLASSBRIDGE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("classbridge");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "classbridge"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building classbridge failed");
    }
    bin
}

pub(crate) struct Harness {
    pub sis: StandInSis,
    pub classroom: StandInClassroom,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

impl Harness {
    pub(crate) async fn start(size: Size, rules: &str) -> Harness {
        Self::start_with(
            SisSpec {
                version: "1.1".into(),
                prefix: String::new(),
                auth: SisAuth::Oauth1 {
                    key: "ck-e2e".into(),
                    secret: SIS_SECRET.into(),
                },
            },
            "generic-1.1",
            District::generate(size, 11),
            rules,
        )
        .await
    }

    pub(crate) async fn start_with(
        spec: SisSpec,
        profile: &str,
        district: District,
        rules: &str,
    ) -> Harness {
        let client_id = match &spec.auth {
            SisAuth::Oauth1 { key, .. } => key.clone(),
            SisAuth::Oauth2 { client_id, .. } => client_id.clone(),
        };
        let version = spec.version.clone();
        let sis = sis::start(spec, district).await.expect("SIS stand-in");
        let classroom = classroom::start(CLASSROOM_TOKEN)
            .await
            .expect("Classroom stand-in");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("sis.secret"), SIS_SECRET).expect("secret");
        std::fs::write(dir.path().join("classroom.token"), CLASSROOM_TOKEN).expect("token");
        let config = dir.path().join("classbridge.toml");
        std::fs::write(
            &config,
            format!(
                r#"state = "state/classbridge.db"

[classroom]
base_url = "{classroom}"
bearer_token = {{ file = "classroom.token" }}
quota_per_minute = 60000
max_concurrency = 8
max_retries = 8

[[source]]
id = "riverside"
profile = "{profile}"
version = "{version}"
base_url = "{sis}"
client_id = "{client_id}"
client_secret = {{ file = "sis.secret" }}
page_size = 25
default_category = "cat-asg"

[rules]
{rules}
"#,
                classroom = classroom.base_url(),
                sis = sis.base_url(),
            ),
        )
        .expect("config");
        Harness {
            sis,
            classroom,
            dir,
            config,
        }
    }

    pub(crate) async fn cli(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(binary())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .expect("run classbridge");
        Run::from(out)
    }

    /// Rewrites the config file, e.g. to add a setting under a section.
    pub(crate) fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        std::fs::write(&self.config, f(text)).expect("config");
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The engine input of the newest run that keeps one (a pending run's or a preview's).
    pub(crate) fn stored_input(&self) -> serde_json::Value {
        let db =
            rusqlite::Connection::open(self.state_dir().join("classbridge.db")).expect("state db");
        let input = stored_document(
            &db,
            "SELECT body FROM run_inputs ORDER BY run DESC LIMIT 1",
            [],
        );
        serde_json::from_str(&input).expect("input JSON")
    }

    /// Starts from a copy of another harness's state folder: a fresh database that already
    /// trusts a compiled engine, so trials share one compile.
    pub(crate) fn seed_state_from(&self, template: &Harness) {
        let to = self.state_dir();
        std::fs::create_dir_all(&to).expect("state folder");
        copy_tree(&template.state_dir(), &to);
    }

    /// Every byte of the state folder, for secret scans.
    pub(crate) fn state_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.state_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().is_file() {
                all.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
        }
        all
    }

    pub(crate) fn course_count(&self) -> usize {
        self.classroom.world(|w| w.courses.len())
    }

    /// (courses, courses with more than one alias, total members, total topics)
    pub(crate) fn classroom_shape(&self) -> (usize, usize, usize, usize) {
        self.classroom.world(|w| {
            let aliases: std::collections::BTreeSet<&String> =
                w.courses.values().flat_map(|c| &c.aliases).collect();
            (
                w.courses.len(),
                w.courses.len() - aliases.len(),
                w.courses
                    .values()
                    .map(|c| c.teachers.len() + c.students.len())
                    .sum(),
                w.courses.values().map(|c| c.topics.len()).sum(),
            )
        })
    }
}

/// `classbridge serve` on a free loopback port, signed in: the child (killed on drop), the
/// base URL, a client holding the session cookie, and the CSRF token.
pub(crate) struct Console {
    pub child: tokio::process::Child,
    pub base: String,
    pub client: reqwest::Client,
    pub csrf: String,
    pub token: String,
    /// `cb_session=<id>`, as the browser would send it.
    pub cookie: String,
}

impl Harness {
    /// `classbridge serve` on a free loopback port (killed on drop) and the sign-in URL it
    /// prints.
    pub(crate) async fn spawn_serve(&self) -> (tokio::process::Child, String) {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(binary())
            .arg("--config")
            .arg(&self.config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("serve");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
                .await
                .expect("serve prints its URL")
                .expect("read stdout")
                .expect("a line");
            if let Some(at) = line.find("http://") {
                break line[at..].trim().to_string();
            }
        };
        (child, url)
    }

    pub(crate) async fn serve(&self) -> Console {
        let (child, url) = self.spawn_serve().await;
        let (base, token) = url.split_once("/#token=").expect("sign-in URL");
        let client = reqwest::Client::new();
        let resp = client
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("login");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let login: serde_json::Value = resp.json().await.expect("login JSON");
        Console {
            child,
            base: base.to_string(),
            client,
            csrf: login["csrf"].as_str().expect("csrf").to_string(),
            token: token.to_string(),
            cookie,
        }
    }
}

impl Console {
    /// A POST with the session and CSRF token, `body` sent as is with `content_type` if given.
    pub(crate) async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .header("Cookie", &self.cookie)
            .body(body.to_string());
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        let resp = req.send().await.expect("POST");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls `/api/job` until the running job ends, and returns it.
    pub(crate) async fn wait_job(&self) -> serde_json::Value {
        for _ in 0..1200 {
            let (status, answer) = self.get("/api/job").await;
            assert_eq!(status, 200, "{answer}");
            if answer["job"]["state"] != "running" {
                return answer["job"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the job never finished");
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("template state").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("folder");
            copy_tree(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().ends_with(".lock") {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Roster sync, teachers grade, grade sync: the same story for every harness.
pub(crate) async fn story(h: &Harness, settle: bool) {
    sync_until_idle(h, "roster", settle).await;
    teachers_grade(h);
    sync_until_idle(h, "grades", settle).await;
}

/// A teacher posts graded work in `cl1` and grades two students (one late).
pub(crate) fn teachers_grade(h: &Harness) {
    let alias = "d:cl1";
    let students = h.classroom.student_ids(alias);
    let work = h
        .classroom
        .post_work(alias, "Lab report", Some(50.0), Some("Homework"))
        .expect("course exists");
    h.classroom
        .grade(&work, &students[0], Some(45.0), None, false, "RETURNED");
    h.classroom
        .grade(&work, &students[1], Some(30.0), None, true, "RETURNED");
}

/// Syncs until a run finds nothing to do; a faulty server may need a few runs.
pub(crate) async fn sync_until_idle(h: &Harness, what: &str, settle: bool) {
    for attempt in 0..6 {
        let run = h.cli(&["sync", "--json"]).await;
        assert!(
            run.code == 0 || (settle && run.code == 5),
            "{what} sync {attempt}: {}{}",
            run.stdout,
            run.stderr
        );
        if run.json()["status"] == "noChanges" {
            return;
        }
    }
    panic!("{what}: the host never settled");
}

/// The gradebook keyed by what it means (class, title, student), not by ids derived from the
/// Classroom's own ids, which differ between two servers.
pub(crate) fn gradebook_by_meaning(h: &Harness) -> serde_json::Value {
    let book = h.sis.canonical_gradebook();
    let book = book.as_object().unwrap();
    let mut titles = std::collections::BTreeMap::new();
    let mut out = serde_json::Map::new();
    for (_, li) in book.iter().filter(|(k, _)| k.starts_with("lineItems/")) {
        let title = format!("{}/{}", li["class"]["sourcedId"], li["title"]);
        titles.insert(li["sourcedId"].as_str().unwrap().to_string(), title.clone());
        let mut li = li.clone();
        let o = li.as_object_mut().unwrap();
        o.remove("sourcedId");
        // When it was written, not what: the two runs happen at different times.
        o.remove("dateLastModified");
        without_hrefs(o);
        out.insert(format!("lineItem {title}"), li);
    }
    for r in book
        .iter()
        .filter(|(k, _)| k.starts_with("results/"))
        .map(|(_, v)| v)
    {
        let title = titles
            .get(r["lineItem"]["sourcedId"].as_str().unwrap())
            .cloned()
            .unwrap_or_else(|| "orphan".into());
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        o.remove("sourcedId");
        o.remove("lineItem");
        o.remove("dateLastModified");
        without_hrefs(o);
        out.insert(format!("result {title} {}", o["student"]["sourcedId"]), r);
    }
    serde_json::Value::Object(out)
}

/// A 1.1 GUIDRef's `href` names the server it was written to (its port differs between two
/// stand-ins); the reference is its `sourcedId` and `type`.
fn without_hrefs(record: &mut serde_json::Map<String, serde_json::Value>) {
    for value in record.values_mut() {
        if let Some(reference) = value.as_object_mut() {
            reference.remove("href");
        }
    }
}

/// The text of a run's stored input or plan body, the first column of `sql`'s one row: zlib
/// as the host writes them, or text as older versions did.
pub(crate) fn stored_document(
    db: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> String {
    use std::io::Read as _;
    let body: rusqlite::types::Value = db
        .query_row(sql, params, |r| r.get(0))
        .expect("a stored document");
    match body {
        rusqlite::types::Value::Text(text) => text,
        rusqlite::types::Value::Blob(bytes) => {
            let mut text = String::new();
            flate2::read::ZlibDecoder::new(bytes.as_slice())
                .read_to_string(&mut text)
                .expect("a zlib document");
            text
        }
        other => panic!("a stored document is text or zlib, not {other:?}"),
    }
}

//! The end-to-end harness: stand-ins on loopback, a config in a temp folder, and the real
//! `classbridge` binary run as a user would run it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use classbridge_tests::classroom::{self, StandInClassroom};
use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::{self, SisAuth, SisSpec, StandInSis};

pub const SIS_SECRET: &str = "sis-secret-8f2a1c77d0";
pub const CLASSROOM_TOKEN: &str = "classroom-token-51be0c9a3e";

/// The host binary: beside this test's own executable (`target/<profile>/deps/..`), built
/// by `cargo test --workspace`; built here when missing.
pub fn binary() -> PathBuf {
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

pub struct Harness {
    pub sis: StandInSis,
    pub classroom: StandInClassroom,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

pub struct Run {
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

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

impl Harness {
    pub async fn start(size: Size, rules: &str) -> Harness {
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

    pub async fn start_with(
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

    pub async fn cli(&self, args: &[&str]) -> Run {
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

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Every byte of the state folder, for secret scans.
    pub fn state_bytes(&self) -> Vec<u8> {
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

    pub fn course_count(&self) -> usize {
        self.classroom.world(|w| w.courses.len())
    }

    /// (courses, courses with more than one alias, total members, total topics)
    pub fn classroom_shape(&self) -> (usize, usize, usize, usize) {
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

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

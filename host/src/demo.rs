//! `classbridge demo`: starts a stand-in SIS and Classroom on loopback with a generated
//! district and runs a whole cycle through the real host: roster import, preview, approval,
//! apply, teachers grading in Classroom, grades flowing back to the SIS.

use std::sync::Arc;

use anyhow::Context as _;
use classbridge_tests::district::{District, Size};
use classbridge_tests::{classroom, sis};
use serde_json::json;

use crate::config::HostConfig;
use crate::engine_runtime::EngineRuntime;
use crate::progress::Progress;
use crate::runner::{Host, RunReport};

fn secret_file(
    dir: &std::path::Path,
    name: &str,
    value: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, value)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

fn line(json_out: bool, text: &str) {
    if !json_out {
        println!("{text}");
    }
}

fn step_summary(r: &RunReport) -> serde_json::Value {
    json!({"run": r.run, "status": r.status, "message": r.message, "succeeded": r.succeeded, "failed": r.failed,
        "operations": r.plan.as_ref().map(|p| &p.summary.operations)})
}

pub async fn run(serve: bool, size: &str, json_out: bool) -> anyhow::Result<()> {
    let size = Size::parse(size).context("--size must be tiny, s, m or l")?;
    let district = District::generate(size, 2026);
    let students = district
        .users
        .iter()
        .filter(|u| u["role"] == "student")
        .count();
    line(
        json_out,
        &format!(
            "classbridge demo — a generated district: {} schools, {students} students, {} classes, {} enrollments",
            district.orgs.len() - 1,
            district.classes.len(),
            district.enrollments.len()
        ),
    );
    let key = format!("demo-key-{}", std::process::id());
    let secret = format!("demo-secret-{}", std::process::id());
    let token = format!("demo-token-{}", std::process::id());
    let sis = sis::start(
        sis::SisSpec {
            version: "1.1".into(),
            prefix: String::new(),
            auth: sis::SisAuth::Oauth1 {
                key: key.clone(),
                secret: secret.clone(),
            },
        },
        district,
    )
    .await?;
    let classroom = classroom::start(&token).await?;
    line(
        json_out,
        &format!(
            "  stand-in SIS (OneRoster 1.1, OAuth 1.0a) at {}",
            sis.base_url()
        ),
    );
    line(
        json_out,
        &format!("  stand-in Classroom at {}", classroom.base_url()),
    );

    let dir = tempfile::tempdir()?;
    let secret_path = secret_file(dir.path(), "sis-secret", &secret)?;
    let token_path = secret_file(dir.path(), "classroom-token", &token)?;
    let config_path = dir.path().join("classbridge.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"state = "demo.db"

[classroom]
base_url = "{classroom}"
bearer_token = {{ file = "{token}" }}
quota_per_minute = 100000
max_concurrency = 16

[[source]]
id = "riverside"
profile = "generic-1.1"
base_url = "{sis}"
client_id = "{key}"
client_secret = {{ file = "{secret}" }}
default_category = "cat-asg"

[rules]
preview = true
"#,
            classroom = classroom.base_url(),
            token = token_path.display(),
            sis = sis.base_url(),
            secret = secret_path.display(),
        ),
    )?;
    let config = HostConfig::load(&config_path)?;
    let progress = Progress::new(!json_out && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let runtime = Arc::new(EngineRuntime::new(config.engine.limits())?);
    let mut host = Host::new(config, runtime, progress)?;
    let mut steps = Vec::new();

    line(
        json_out,
        "\n1. Roster import, in preview mode: nothing changes until approved",
    );
    let first = host.run("demo", true).await?;
    if !json_out {
        if let Some(plan) = &first.plan {
            print!("{}", crate::report::preview(plan));
        }
        println!("   -> run {}: {}", first.run, first.message);
    }
    steps.push(json!({"step": "preview", "report": step_summary(&first)}));

    line(
        json_out,
        "\n2. The admin approves; the plan is applied to Classroom",
    );
    let applied = host.approve(first.run, Vec::new(), "demo").await?;
    let courses = classroom.world(|w| w.courses.len());
    let members: usize = classroom.world(|w| {
        w.courses
            .values()
            .map(|c| c.teachers.len() + c.students.len())
            .sum()
    });
    let topics: usize = classroom.world(|w| w.courses.values().map(|c| c.topics.len()).sum());
    line(
        json_out,
        &format!(
            "   -> run {}: {} ({} succeeded, {} failed); Classroom now has {courses} courses, {members} members, {topics} topics",
            applied.run, applied.message, applied.succeeded, applied.failed
        ),
    );
    steps.push(json!({"step": "apply", "report": step_summary(&applied), "classroom": {"courses": courses, "members": members, "topics": topics}}));

    line(json_out, "\n3. Teachers post and grade work in Classroom");
    let mut graded = 0;
    let aliases: Vec<(String, Vec<String>)> = classroom.world(|w| {
        w.courses
            .values()
            .take(3)
            .map(|c| (c.aliases[0].clone(), c.students.keys().cloned().collect()))
            .collect()
    });
    for (alias, students) in &aliases {
        if let Some(cw) = classroom.post_work(
            alias,
            "Chapter 1 review problems and reflection essay",
            Some(20.0),
            Some("Homework"),
        ) {
            for (i, email) in students.iter().enumerate() {
                let (assigned, draft, late, state) = match i % 5 {
                    0 => (Some(18.0), None, false, "RETURNED"),
                    1 => (Some(15.5), None, true, "RETURNED"),
                    2 => (None, Some(12.0), false, "TURNED_IN"),
                    3 => (None, None, false, "RETURNED"),
                    _ => (Some(25.0), None, false, "RETURNED"),
                };
                classroom.grade(&cw, email, assigned, draft, late, state);
                graded += 1;
            }
        }
    }
    line(
        json_out,
        &format!(
            "   {graded} submissions in {} courses: graded, late, draft only (never exported), excused, extra credit",
            aliases.len()
        ),
    );

    line(
        json_out,
        "\n4. The next sync carries the grades back to the SIS",
    );
    let grades = host.run("demo", true).await?;
    let grades = if grades.status == crate::store::RunStatus::Pending {
        host.approve(grades.run, Vec::new(), "demo").await?
    } else {
        grades
    };
    let line_items = sis.gradebook("lineItems").len();
    let results = sis.gradebook("results").len();
    line(
        json_out,
        &format!(
            "   -> run {}: {}; the SIS now holds {line_items} lineItems and {results} results",
            grades.run, grades.message
        ),
    );
    steps.push(json!({"step": "grades", "report": step_summary(&grades), "sis": {"lineItems": line_items, "results": results}}));

    line(
        json_out,
        "\n5. A second sync with nothing changed writes nothing",
    );
    let before = (sis.writes(), classroom.writes());
    let again = host.run("demo", true).await?;
    let again = if again.status == crate::store::RunStatus::Pending {
        host.approve(again.run, Vec::new(), "demo").await?
    } else {
        again
    };
    let after = (sis.writes(), classroom.writes());
    let writes = (after.0 - before.0) + (after.1 - before.1);
    line(
        json_out,
        &format!(
            "   -> run {}: {}; remote writes: {writes}",
            again.run, again.message
        ),
    );
    steps.push(json!({"step": "idle", "report": step_summary(&again), "remoteWrites": writes}));

    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"steps": steps}))?
        );
    } else {
        println!("\nDone. Every decision above was made by the engine module in wasmtime.");
    }
    if serve {
        line(json_out, "\nThe console stays open until Ctrl-C:");
        let options = crate::serve::ServeOptions {
            listen: Some("127.0.0.1:0".into()),
            insecure_http: false,
        };
        crate::serve::serve(host, options).await?;
    }
    Ok(())
}

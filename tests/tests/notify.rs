//! Notifications (issue 19, part 3) delivered to a webhook receiver and an SMTP sink on
//! loopback: a held run, a failed run, a run waiting for approval too long and the daily
//! digest, each delivered once per channel, signed, and never carrying a secret.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use classbridge_tests::district::Size;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::Harness;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WEBHOOK_SECRET: &str = "whsec-4f1c9a7e2b6d8053";

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver: records every POST and answers 200.
async fn webhook_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let store = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                store
                    .lock()
                    .expect("lock")
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

/// An SMTP sink: speaks just enough SMTP to take mail, and keeps each message's text.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let store = Arc::clone(&got);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(text) = data.as_mut() {
                        if line == "." {
                            store.lock().expect("lock").push(std::mem::take(text));
                            data = None;
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(answer).await;
                }
            });
        }
    });
    (port, got)
}

fn verify(headers: &HeaderMap, body: &str) -> bool {
    let Some(sig) = headers
        .get("x-classbridge-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((t, v1)) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

fn events(got: &Received) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .filter_map(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_failed_waiting_and_digest_are_each_told_once_signed_and_without_secrets() {
    let (hook, received) = webhook_receiver().await;
    let (smtp_port, mail) = smtp_sink().await;
    let notify = format!(
        r#"
[notify]
waiting_after = "2s"
digest_at = "00:00"

[notify.webhook]
url = "{hook}"
secret = {{ file = "webhook.secret" }}

[notify.email]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "classbridge@district.example"
to = ["it@district.example"]
"#
    );
    let h = Harness::start(Size::Tiny, &notify).await;
    std::fs::write(h.config.with_file_name("webhook.secret"), WEBHOOK_SECRET).expect("secret");
    let synced = h.cli(&["sync"]).await;
    assert_eq!(synced.code, 0, "{}{}", synced.stdout, synced.stderr);
    // Turning notifications on told of nothing before: the digest only.
    let first = events(&received);
    assert!(
        first.len() == 1 && first[0].starts_with("digest:"),
        "{first:?}: {}",
        synced.stderr
    );
    assert_eq!(mail.lock().expect("lock").len(), 1);

    // Eight students leave: past the deletion hold.
    h.sis.with_district(|d| {
        d.users.retain(|u| {
            !["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"]
                .contains(&u["sourcedId"].as_str().unwrap_or(""))
        });
    });
    let held = h.cli(&["sync", "--json"]).await;
    assert_eq!(held.code, 4, "{}{}", held.stdout, held.stderr);
    let run = held.json()["run"].as_i64().expect("run");
    assert!(
        events(&received).contains(&format!("held:{run}")),
        "{:?}",
        events(&received)
    );
    // Told once: another scan sends nothing new.
    let before = received.lock().expect("lock").len();
    assert_eq!(h.cli(&["notify"]).await.code, 0);
    assert_eq!(received.lock().expect("lock").len(), before);

    // Waiting past waiting_after: told once more, as waiting.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let told = h.cli(&["notify"]).await;
    assert_eq!(told.code, 0, "{}{}", told.stdout, told.stderr);
    assert!(events(&received).contains(&format!("waiting:{run}")));

    // A run that fails (the SIS answers pages that are not JSON) is told.
    h.sis
        .state
        .faults
        .malformed_json
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = h.cli(&["sync", "--json"]).await;
    assert_ne!(failed.code, 0);
    let ids = events(&received);
    assert!(ids.iter().any(|id| id.starts_with("failed:")), "{ids:?}");

    // Every delivery is signed with the shared secret, and no secret is in any of them.
    let all = received.lock().expect("lock").clone();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "each event once: {ids:?}");
    for (headers, body) in &all {
        assert!(verify(headers, body), "signed: {body}");
        assert!(!body.contains(WEBHOOK_SECRET));
        assert!(!body.contains(support::SIS_SECRET) && !body.contains(support::CLASSROOM_TOKEN));
    }
    let mails = mail.lock().expect("lock").clone();
    assert_eq!(mails.len(), all.len(), "the same events by mail");
    assert!(
        mails.iter().any(|m| m.contains("is held for approval")),
        "{mails:?}"
    );
    for m in &mails {
        assert!(!m.contains(WEBHOOK_SECRET), "{m}");
    }
    for out in [&held.stdout, &held.stderr, &told.stdout, &told.stderr] {
        assert!(!out.contains(WEBHOOK_SECRET));
    }
}

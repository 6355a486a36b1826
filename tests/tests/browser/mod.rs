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
    pub(crate) async fn start() -> Browser {
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

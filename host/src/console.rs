//! The admin console's assets. The console itself (web/, Rust compiled to WebAssembly) is
//! not built yet; until then `/` explains the JSON API.

use axum::Router;

use crate::serve::AppState;

pub const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>classbridge</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>classbridge</h1>
<p>The browser console is not built yet. The JSON API is live: sign in with
<code>POST /api/login {"token": ...}</code> (the token is in the URL printed at start), then
<code>GET /api/runs</code>, <code>GET /api/runs/ID</code>, and
<code>POST /api/runs/ID/approve {"reject": [...]}</code> with the <code>X-CSRF-Token</code> header.</p>
</body></html>"#;

pub fn asset_routes() -> Router<AppState> {
    Router::new()
}

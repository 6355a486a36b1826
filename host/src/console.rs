//! The admin console's assets (web/, built to WebAssembly by build.rs), embedded in the
//! binary and served by `classbridge serve`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::serve::AppState;

pub const INDEX_HTML: &str = include_str!("../assets/console.html");
const STYLE_CSS: &str = include_str!("../assets/console.css");
const BOOT_JS: &str = include_str!("../assets/console-boot.js");
const WORKER_JS: &str = include_str!("../assets/console-worker.js");
const CONSOLE_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/console/classbridge_web.js"));
const CONSOLE_WASM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/console/classbridge_web_bg.wasm"));

pub fn asset_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLE_CSS,
                )
                    .into_response()
            }),
        )
        .route(
            "/console/boot.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    BOOT_JS,
                )
                    .into_response()
            }),
        )
        .route(
            "/console/worker.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    WORKER_JS,
                )
                    .into_response()
            }),
        )
        .route(
            "/console/classbridge_web.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CONSOLE_JS,
                )
                    .into_response()
            }),
        )
        .route(
            "/console/classbridge_web_bg.wasm",
            get(|| async {
                ([(header::CONTENT_TYPE, "application/wasm")], CONSOLE_WASM).into_response()
            }),
        )
}

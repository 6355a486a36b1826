//! What every answer of the console gets, whatever the route: a `Host` check (a page on
//! another site must not reach the API by rebinding its name to our address) and headers
//! that keep pages and student data out of frames, caches and content sniffing.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The page's own script and module only; WebAssembly compiled from our own files.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The names the console answers to: loopback always, plus those configured.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    names: BTreeSet<String>,
}

impl AllowedHosts {
    /// `configured` are `serve.hostnames`; `listen_ip` is added when it is a specific address.
    pub fn new(configured: &[String], listen_ip: IpAddr) -> Self {
        let mut names: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_string)
            .collect();
        names.extend(configured.iter().map(|n| n.trim().to_ascii_lowercase()));
        if !listen_ip.is_unspecified() {
            names.insert(listen_ip.to_string());
        }
        AllowedHosts { names }
    }

    /// Whether a `Host` header value (name, optional port) is one of ours.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = if let Some(rest) = host.strip_prefix('[') {
            // [v6]:port
            rest.split(']').next().unwrap_or_default().to_string()
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
                _ => host,
            }
        };
        let name = name.trim_end_matches('.');
        self.names.contains(name)
    }
}

/// Settings the middleware needs.
#[derive(Clone)]
pub struct Guard {
    pub hosts: Arc<AllowedHosts>,
    /// Served over TLS: browsers are told to keep using it.
    pub tls: bool,
}

pub(super) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(ToString::to_string));
    let mut response = match host {
        Some(h) if guard.hosts.allows(&h) => next.run(request).await,
        Some(h) => (
            StatusCode::MISDIRECTED_REQUEST,
            axum::Json(json!({
                "error": format!(
                    "this console does not answer to the host name {h:?}; add it to serve.hostnames if it is yours"
                )
            })),
        )
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "the request has no Host header" })),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages and answers carry student data: never kept by the browser or a proxy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if guard.tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_configured_ones_are_ours_others_are_not() {
        let hosts = AllowedHosts::new(&["Console.District.ORG".into()], "0.0.0.0".parse().unwrap());
        for ok in [
            "localhost",
            "localhost:8787",
            "127.0.0.1:8787",
            "[::1]:8787",
            "console.district.org",
            "console.district.org:443",
            "console.district.org.",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8787",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "0.0.0.0:8787",
            "",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let on_ip = AllowedHosts::new(&[], "10.1.2.3".parse().unwrap());
        assert!(on_ip.allows("10.1.2.3:8443"));
        assert!(!on_ip.allows("10.1.2.4:8443"));
    }
}

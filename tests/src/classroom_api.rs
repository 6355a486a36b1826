//! Google's Classroom discovery document, read as a list of API methods: to name each request
//! the stand-in received (`classroom.courses.get`) and to check it is one the API defines.

use std::collections::BTreeMap;

use serde_json::Value;

/// Google's discovery document for Classroom v1.
pub const DISCOVERY: &str = include_str!("../specs/classroom.v1.json");

/// One method of the API.
pub struct ApiMethod {
    /// Its id, e.g. `classroom.courses.get`.
    pub id: String,
    /// `GET`, `POST`, ...
    pub http: String,
    /// The path's segments, `{name}` for a parameter.
    pub segments: Vec<String>,
    /// Its query parameters, the document's global ones included.
    pub params: Vec<String>,
}

impl ApiMethod {
    /// Whether a request with this HTTP method and path is a call of this method.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.http == method
            && self.segments.len() == segs.len()
            && self
                .segments
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s)
    }

    /// How many path segments are literal: the more, the better a match (`courses/{id}`
    /// against `courses/{courseId}/aliases` never ties, but literals win where they could).
    fn literals(&self) -> usize {
        self.segments.iter().filter(|s| !s.starts_with('{')).count()
    }
}

/// Every method of the document.
pub fn methods() -> Vec<ApiMethod> {
    fn walk(res: &Value, global: &[String], out: &mut Vec<ApiMethod>) {
        for r in res["resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for m in r["methods"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let path = m["flatPath"]
                    .as_str()
                    .or(m["path"].as_str())
                    .unwrap_or_default();
                let mut params: Vec<String> = m["parameters"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                params.extend(global.iter().cloned());
                out.push(ApiMethod {
                    id: m["id"].as_str().unwrap_or_default().to_string(),
                    http: m["httpMethod"].as_str().unwrap_or_default().to_string(),
                    segments: path.split('/').map(str::to_string).collect(),
                    params,
                });
            }
            walk(r, global, out);
        }
    }
    let doc: Value = serde_json::from_str(DISCOVERY).unwrap_or(Value::Null);
    let global: Vec<String> = doc["parameters"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    walk(&doc, &global, &mut out);
    out
}

/// The method a request calls, if the API has one.
pub fn method_of<'m>(api: &'m [ApiMethod], method: &str, path: &str) -> Option<&'m ApiMethod> {
    api.iter()
        .filter(|m| m.matches(method, path))
        .max_by_key(|m| m.literals())
}

/// Requests counted by API method id; a request the API does not define counts under
/// `unknown: METHOD PATH`.
pub fn count_by_method<'a>(
    requests: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, u64> {
    let api = methods();
    let mut counts = BTreeMap::new();
    for (method, path) in requests {
        let name = match method_of(&api, method, path) {
            Some(m) => m.id.clone(),
            // The stand-in serves Cloud Pub/Sub's subscription methods too.
            None if path.contains("/subscriptions/") => {
                let verb = path.rsplit(':').next().unwrap_or_default();
                format!("pubsub.projects.subscriptions.{verb}")
            }
            None => format!("unknown: {method} {path}"),
        };
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

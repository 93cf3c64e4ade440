//! Query parameters an API route does not take are a 400 naming them: a
//! misspelt filter (`?stauts=failed`) must not answer everything as if
//! nothing were asked. What each route takes is what the OpenAPI document
//! says, so the two cannot drift apart.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;

/// By method (lower case) and route template: the query parameters taken.
pub type QueryNames = Arc<HashMap<(String, String), BTreeSet<String>>>;

/// Where other systems choose the query string: the gateway check (the
/// proxied request's), webhooks (their senders'), the portal.
fn checked(path: &str) -> bool {
    path.starts_with("/api/v1/") && !path.starts_with("/api/v1/gateway/")
}

/// Reads the query parameters of every operation of the document.
pub fn from_document(doc: &Value) -> QueryNames {
    let mut out = HashMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if !checked(path) {
            continue;
        }
        let shared = &item["parameters"];
        for (method, op) in item.as_object().into_iter().flatten() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let names: BTreeSet<String> = [shared, &op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            out.insert((method.clone(), path.clone()), names);
        }
    }
    Arc::new(out)
}

/// A query string's names, decoded (`%5F` is `_`, `+` a space).
fn names(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let raw = p.split('=').next().unwrap_or_default().replace('+', " ");
            let bytes = raw.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match (bytes[i], hex) {
                    (b'%', Some(b)) => {
                        out.push(b);
                        i += 3;
                    }
                    (b, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

pub async fn refuse_unknown(State(taken): State<QueryNames>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    if let (Some(query), Some(route)) = (req.uri().query(), route) {
        let method = match req.method().as_str() {
            "HEAD" => "get".to_owned(),
            m => m.to_lowercase(),
        };
        if let Some(allowed) = taken.get(&(method, route.clone())) {
            let unknown: BTreeSet<String> = names(query)
                .into_iter()
                .filter(|n| !allowed.contains(n))
                .collect();
            if !unknown.is_empty() {
                let takes = if allowed.is_empty() {
                    "it takes no query parameters".to_owned()
                } else {
                    format!(
                        "it takes {}",
                        allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                return ApiError::BadRequest(format!(
                    "unknown query parameter{} {}: {} {route} does not take {}; {takes}",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.iter().cloned().collect::<Vec<_>>().join(", "),
                    req.method(),
                    if unknown.len() == 1 { "it" } else { "them" },
                ))
                .into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_decoded() {
        assert_eq!(
            super::names("a=1&b%5Fc=2&&d&e+f=3"),
            ["a", "b_c", "d", "e f"]
        );
    }
}

//! The OpenAPI document names every route the other tests use, and the probes
//! answer.

use reqwest::{Method, StatusCode};

use crate::harness::{TestServer, backends};

/// `(path, methods)` of every route exercised by this test binary.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/auth/login", &["post"]),
    ("/api/v1/auth/logout", &["post"]),
    ("/api/v1/me", &["get"]),
    ("/api/v1/me/tokens", &["get", "post"]),
    ("/api/v1/me/tokens/{id}", &["delete"]),
    ("/api/v1/tenants", &["get", "post"]),
    ("/api/v1/orgs", &["get", "post"]),
    ("/api/v1/orgs/{org}", &["get", "patch", "delete"]),
    ("/api/v1/orgs/{org}/members", &["get", "post"]),
    (
        "/api/v1/orgs/{org}/members/{user}",
        &["get", "patch", "delete"],
    ),
    ("/api/v1/users", &["get", "post"]),
    ("/api/v1/users/{user}", &["get", "patch"]),
    ("/api/v1/audit", &["get"]),
    ("/api/v1/audit/export", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/api/v1/orgs/{org}/domain/verify", &["post"]),
];

/// The kinds the tests exercise through the generic routes.
const KINDS_USED: &[&str] = &[
    "api-keys",
    "specialties",
    "operational-rules",
    "plugins",
    "blacklists",
    "credentials",
];

#[tokio::test]
async fn the_document_lists_every_route_and_the_probes_answer() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        // Public: no token needed.
        let r = s
            .raw(Method::GET, "/api/v1/openapi.json", None, &[], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{backend:?}"
        );
        let doc = r.json();
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{backend:?}"
        );
        let paths = doc["paths"].as_object().expect("paths");

        let mut expected: Vec<(String, Vec<&str>)> = ROUTES
            .iter()
            .map(|(p, m)| ((*p).to_owned(), m.to_vec()))
            .collect();
        let mut kinds: Vec<&str> = KINDS_USED.to_vec();
        for k in orgscope_core::kind::KINDS {
            if !kinds.contains(&k.path) {
                kinds.push(k.path);
            }
        }
        for kind in kinds {
            // Key requests are made by developers on the portal only.
            let made_here = orgscope_core::kind::by_path(kind)
                .is_none_or(|k| k.behaviour != orgscope_core::kind::Behaviour::KeyRequest);
            let collection = if made_here {
                vec!["get", "post"]
            } else {
                vec!["get"]
            };
            expected.push((format!("/api/v1/{kind}"), collection));
            expected.push((
                format!("/api/v1/{kind}/{{id}}"),
                vec!["get", "patch", "delete"],
            ));
            expected.push((format!("/api/v1/{kind}/{{id}}/rescope"), vec!["post"]));
        }
        let mut missing = Vec::new();
        for (path, methods) in &expected {
            for m in methods {
                if paths.get(path).and_then(|p| p.get(*m)).is_none() {
                    missing.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{backend:?}: the document lacks {missing:?}"
        );
        assert!(
            paths["/api/v1/key-requests"].get("post").is_none(),
            "{backend:?}: key requests have no create in the API"
        );
        // Errors are documented as problems.
        assert!(
            doc["components"]["schemas"]["Problem"].is_object(),
            "{backend:?}: no Problem schema"
        );
        let create = &paths["/api/v1/credentials"]["post"];
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["properties"]["secret"]
                ["writeOnly"],
            true,
            "{backend:?}: {create}"
        );

        // Every documented route exists: none answers "no route".
        for (path, methods) in &expected {
            let concrete = path
                .replace("{id}", "x_unused")
                .replace("{org}", "default")
                .replace("{user}", "admin");
            for m in methods {
                let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
                if method == Method::DELETE || concrete.ends_with("/logout") {
                    continue; // keep the admin, its session and org
                }
                let body = (method != Method::GET).then(|| ("application/json", b"{}".to_vec()));
                let r = s
                    .raw(method.clone(), &concrete, Some(&s.admin), &[], body)
                    .await;
                assert!(
                    !r.text.contains("no route"),
                    "{backend:?}: {method} {concrete} is documented but not served: {}",
                    r.text
                );
                assert_ne!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{backend:?}: {method} {concrete}"
                );
            }
        }

        for (path, text) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let r = s.raw(Method::GET, path, None, &[], None).await;
            assert_eq!(r.status, StatusCode::OK, "{backend:?} {path}");
            assert_eq!(r.text, text, "{backend:?} {path}");
        }
        // /metrics: see metrics.rs.
        // An unknown route is a problem+json 404.
        let r = s
            .raw(Method::GET, "/api/v1/nosuch", Some(&s.admin), &[], None)
            .await;
        r.problem(StatusCode::NOT_FOUND);
    }
}

/// The other direction: every path the router serves is in the document.
/// Routes registered through utoipa's `routes!` are documented by
/// construction and the kinds' routes come from the kinds table on both
/// sides; this reads the server's sources for every hand-written
/// `.route("…")` and requires each in the document (Envoy's catch-all
/// variant of the gateway check is the one documented by its base path).
#[test]
fn every_route_the_router_serves_is_documented() {
    let doc = orgscope_server::openapi();
    let paths = doc["paths"].as_object().expect("paths");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("lib.rs")];
    for entry in std::fs::read_dir(src.join("routes")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut served = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let literal = rest.trim_start();
            if let Some(lit) = literal.strip_prefix('"') {
                let path = &lit[..lit.find('"').unwrap()];
                served.push((file.display().to_string(), path.to_owned()));
            }
        }
    }
    assert!(
        served.len() >= 3,
        "the scan found the hand-written routes: {served:?}"
    );
    for (file, path) in served {
        let documented = path.strip_suffix("/{*path}").unwrap_or(&path);
        assert!(
            paths.contains_key(documented),
            "{file} serves {path}, which the OpenAPI document lacks"
        );
    }
    // Every operation says what it answers when it succeeds, with a schema
    // that says more than "an object" (204s have no body), and every
    // reference resolves.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().expect("responses");
            let success: Vec<_> = responses
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .collect();
            assert!(
                !success.is_empty(),
                "{method} {path} documents no success response"
            );
            for (status, r) in success {
                if status == "204" {
                    continue;
                }
                let content = r["content"].as_object();
                assert!(
                    content.is_some_and(|c| !c.is_empty()),
                    "{method} {path} {status} has no content schema"
                );
                for (media, c) in content.unwrap() {
                    let s = &c["schema"];
                    let said = s.get("$ref").is_some()
                        || s.get("properties").is_some()
                        || s.get("items").is_some()
                        || s.get("allOf").is_some()
                        || s["type"].as_str().is_some_and(|t| t != "object");
                    assert!(
                        said,
                        "{method} {path} {status} {media}: schema {s} says nothing"
                    );
                }
            }
        }
    }
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "$ref to a missing schema {name}"
        );
    }
}

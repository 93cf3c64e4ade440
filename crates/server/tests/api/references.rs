//! Another org's id substituted wherever a request names a resource: every
//! reference field and reference list of every kind (read from the kinds
//! table, so a new kind is covered when it is added), on create and on
//! update, and every path and query that takes another kind's id. Each reads
//! byte for byte like an id never used, after the same database work.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use orgscope_core::kind::{self, FieldType, Kind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{persona, upload};
use crate::harness::{TestServer, backends, unused_id};
use crate::hiding::probe_ref;

/// A value the server accepts for a field that is not a reference.
fn value_for(name: &str, ty: FieldType, n: usize) -> Option<Value> {
    Some(match (name, ty) {
        ("schedule", _) => json!("0 * * * *"),
        ("timezone", _) => json!("UTC"),
        ("listen_path", _) => json!(format!("/p{n}/")),
        ("upstream_url", _) => json!("http://127.0.0.1:9/"),
        ("email", _) => json!("dev@example.com"),
        ("address", _) => json!("10.0.0.1"),
        (_, FieldType::Text(_)) => json!("x"),
        (_, FieldType::Choice(options)) => json!(options[0]),
        (_, FieldType::Patterns) => json!(["rm -rf /"]),
        (_, FieldType::Secret) => json!("s3cret"),
        (_, FieldType::Bool) => json!(true),
        (_, FieldType::Int(low, _)) => json!(low),
        (_, FieldType::Choices(_)) => json!([]),
        (_, FieldType::Timestamp) => json!("2999-01-01T00:00:00Z"),
        (_, FieldType::Labels) => json!({}),
        ("openapi", _) => {
            json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}})
        }
        (_, FieldType::Document(_)) => json!({}),
        (_, FieldType::Tags) => json!([]),
        (_, FieldType::ReadOnly | FieldType::Ref(_) | FieldType::Refs(_)) => return None,
    })
}

type Made<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// Makes a `kind` resource in `org`: every required field filled, the
/// references it needs made first in the same org. Returns its id.
fn make<'a>(s: &'a TestServer, kind: &'static Kind, org: &'a str, n: &'a AtomicUsize) -> Made<'a> {
    Box::pin(async move {
        let body = body_for(s, kind, org, n).await;
        s.create(&s.admin, kind.path, body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    })
}

fn body_for<'a>(
    s: &'a TestServer,
    kind: &'static Kind,
    org: &'a str,
    n: &'a AtomicUsize,
) -> Pin<Box<dyn Future<Output = Value> + Send + 'a>> {
    Box::pin(async move {
        let mut body = json!({"name": "r", "org": org});
        for f in kind.fields.iter().filter(|f| f.required) {
            let value = match f.ty {
                FieldType::Ref(t) => json!(make(s, target(t), org, n).await),
                FieldType::Refs(t) => json!([make(s, target(t), org, n).await]),
                ty => value_for(f.name, ty, n.fetch_add(1, Ordering::Relaxed)).unwrap(),
            };
            body[f.name] = value;
        }
        body
    })
}

fn target(name: &str) -> &'static Kind {
    kind::by_name(name).unwrap_or_else(|| panic!("no kind {name}"))
}

#[tokio::test]
async fn another_orgs_ids_in_reference_fields_read_like_unused_ids() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, key) = s.org_key(&s.admin, "alpha", "read_write").await;
        let n = AtomicUsize::new(0);
        let mut fields = 0;
        for k in kind::KINDS.iter().filter(|k| !kind::has_own_create(k)) {
            for f in k.fields {
                let (t, list) = match f.ty {
                    FieldType::Ref(t) => (t, false),
                    FieldType::Refs(t) => (t, true),
                    _ => continue,
                };
                fields += 1;
                let hidden = make(&s, target(t), "bravo", &n).await;
                let unused = unused_id(target(t).prefix);
                let reference = if list {
                    json!(["<REF>"])
                } else {
                    json!("<REF>")
                };
                // On create: the rest of the body is valid in alpha.
                let mut create = body_for(&s, k, "alpha", &n).await;
                create[f.name] = reference.clone();
                // On update of a resource of alpha.
                let own = make(&s, k, "alpha", &n).await;
                let update = json!({ f.name: reference });
                for (who, token) in [("alice (member of alpha)", &alice), ("alpha's key", &key)] {
                    let what = format!("{who}: {}.{}", k.path, f.name);
                    // Kinds with issued secrets are people's to manage: a key
                    // is refused before its body is read, hidden or not.
                    let status = if who.ends_with("key") && k.issues_secret() {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    probe_ref(
                        &s,
                        token,
                        &what,
                        status,
                        (
                            Method::POST,
                            &format!("/api/v1/{}", k.path),
                            Some(create.clone()),
                        ),
                        &hidden,
                        &unused,
                    )
                    .await;
                    probe_ref(
                        &s,
                        token,
                        &what,
                        status,
                        (
                            Method::PATCH,
                            &format!("/api/v1/{}/{own}", k.path),
                            Some(update.clone()),
                        ),
                        &hidden,
                        &unused,
                    )
                    .await;
                }
            }
        }
        assert!(fields >= 10, "{backend:?}: only {fields} reference fields");
    }
}

#[tokio::test]
async fn another_orgs_ids_in_paths_queries_and_lists_read_like_unused_ids() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, bob) = s.fast_user("bob", "user", &[("bravo", false)]).await;
        let (_, key) = s.org_key(&s.admin, "alpha", "read_write").await;
        let n = AtomicUsize::new(0);
        // bravo's things, and alice's own session in alpha.
        let file = upload(&s, &bob, "b.md", "bravo", "bravo's words").await;
        let cred = make(&s, target("credential"), "bravo", &n).await;
        let task = make(&s, target("task"), "bravo", &n).await;
        let bob_persona = persona(&s, &bob, "bravo").await;
        let (_, session) = s
            .post(&bob, "/api/v1/sessions", json!({"persona": bob_persona}))
            .await;
        let bob_session = session["id"].as_str().unwrap().to_owned();
        let own_persona = persona(&s, &alice, "alpha").await;
        let (_, own) = s
            .post(&alice, "/api/v1/sessions", json!({"persona": own_persona}))
            .await;
        let own_session = own["id"].as_str().unwrap().to_owned();

        let routes: Vec<(&str, StatusCode, Method, String, Option<Value>)> = vec![
            (
                "file",
                StatusCode::NOT_FOUND,
                Method::GET,
                "/api/v1/files/<REF>/content".into(),
                None,
            ),
            (
                "file",
                // A filter: nothing matches, as for any unknown file.
                StatusCode::OK,
                Method::GET,
                "/api/v1/knowledge?file=<REF>".into(),
                None,
            ),
            (
                "file",
                StatusCode::UNPROCESSABLE_ENTITY,
                Method::POST,
                format!("/api/v1/sessions/{own_session}/messages"),
                Some(json!({"content": "words", "files": ["<REF>"]})),
            ),
            (
                "credential",
                StatusCode::NOT_FOUND,
                Method::POST,
                "/api/v1/credentials/<REF>/reveal".into(),
                Some(json!({})),
            ),
            (
                "persona",
                StatusCode::NOT_FOUND,
                Method::GET,
                "/api/v1/personas/<REF>/assignments".into(),
                None,
            ),
            (
                "persona",
                StatusCode::NOT_FOUND,
                Method::PUT,
                "/api/v1/personas/<REF>/assignments".into(),
                Some(json!({"users": ["alice"]})),
            ),
            (
                "persona",
                StatusCode::NOT_FOUND,
                Method::POST,
                "/api/v1/sessions".into(),
                Some(json!({"persona": "<REF>"})),
            ),
            (
                "session",
                StatusCode::NOT_FOUND,
                Method::GET,
                "/api/v1/sessions/<REF>/messages".into(),
                None,
            ),
            (
                "session",
                StatusCode::NOT_FOUND,
                Method::POST,
                "/api/v1/sessions/<REF>/messages".into(),
                Some(json!({"content": "words"})),
            ),
            (
                "session",
                StatusCode::NOT_FOUND,
                Method::GET,
                "/api/v1/knowledge/search?q=words&session=<REF>".into(),
                None,
            ),
        ];
        let ids = |what: &str| match what {
            "file" => (file.clone(), unused_id("file")),
            "credential" => (cred.clone(), unused_id("cred")),
            "persona" => (bob_persona.clone(), unused_id(target("persona").prefix)),
            _ => (bob_session.clone(), unused_id(target("session").prefix)),
        };
        for (what, status, method, path, body) in routes {
            let (hidden, unused) = ids(what);
            probe_ref(
                &s,
                &alice,
                "alice",
                status,
                (method.clone(), &path, body.clone()),
                &hidden,
                &unused,
            )
            .await;
        }
        // An agent's key reports on tasks of its own org only.
        probe_ref(
            &s,
            &key,
            "alpha's key",
            StatusCode::NOT_FOUND,
            (
                Method::POST,
                "/api/v1/tasks/<REF>/result",
                Some(json!({"status": "succeeded", "output": "done"})),
            ),
            &task,
            &unused_id(target("task").prefix),
        )
        .await;
    }
}

//! Statements per request that must not grow with the data (issue 22): a
//! re-scope, its preview, an org deletion's preview and the listings run as
//! many statements with a handful of users and rows as with hundreds. A
//! count, not a timing: it fails the day a query starts walking users or
//! rows one by one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, backends};

/// The statements one request runs. Background work (extraction, the
/// scheduler) only adds statements, so the least of a few tries is what the
/// request itself ran.
async fn statements(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..4 {
        least = least.min(once(s, method.clone(), path, token, body.clone()).await);
    }
    least
}

/// The statements of one request (and of background work meanwhile).
async fn once(s: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) -> u64 {
    let before = s.store.statements();
    let (st, answer, _) = s.call(method.clone(), path, Some(token), body).await;
    assert!(st.is_success(), "{method} {path}: {st} {answer}");
    s.store.statements() - before
}

/// `(what, statements)` of each request measured.
async fn measure(s: &TestServer, alice: &str, cred: &str) -> Vec<(String, u64)> {
    let rescope = format!("/api/v1/credentials/{cred}/rescope");
    let mut out = Vec::new();
    for (what, method, path, token, body) in [
        (
            "preview org to org",
            Method::POST,
            rescope.as_str(),
            s.admin.as_str(),
            Some(json!({"org": "bravo", "preview": true})),
        ),
        (
            "preview org to tenant-wide",
            Method::POST,
            &rescope,
            &s.admin,
            Some(json!({"org": null, "preview": true})),
        ),
        (
            "preview org to org, by a member",
            Method::POST,
            &rescope,
            alice,
            Some(json!({"org": "bravo", "preview": true})),
        ),
        (
            "org deletion preview",
            Method::DELETE,
            "/api/v1/orgs/alpha",
            &s.admin,
            Some(json!({"move_to": "bravo", "preview": true})),
        ),
        (
            "listing, all my orgs",
            Method::GET,
            "/api/v1/credentials",
            alice,
            None,
        ),
        (
            "listing, one org",
            Method::GET,
            "/api/v1/credentials?org=alpha",
            alice,
            None,
        ),
        (
            "listing, tenant-wide",
            Method::GET,
            "/api/v1/credentials?org=tenant",
            alice,
            None,
        ),
        (
            "listing, admin",
            Method::GET,
            "/api/v1/credentials",
            &s.admin,
            None,
        ),
    ] {
        out.push((
            what.to_owned(),
            statements(s, method, path, token, body).await,
        ));
    }
    // A move and its way back: the same work each way.
    let mut least = u64::MAX;
    for to in ["bravo", "alpha", "bravo", "alpha"] {
        let body = Some(json!({ "org": to }));
        least = least.min(once(s, Method::POST, &rescope, &s.admin, body).await);
    }
    out.push(("move org to org".into(), least));
    out
}

#[tokio::test]
async fn requests_do_not_grow_with_users_or_rows() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let alpha = s.org("alpha").await;
        let bravo = s.org("bravo").await;
        let (_, alice) = s
            .fast_user("alice", "user", &[("alpha", false), ("bravo", false)])
            .await;
        s.fast_user("bob", "user", &[("bravo", false)]).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "db", "secret": "s", "org": "alpha"}),
            )
            .await;
        let cred = cred["id"].as_str().unwrap().to_owned();
        let small = measure(&s, &alice, &cred).await;
        // Who asks is one statement (the token, the user and their
        // memberships), the page another.
        for (what, n) in &small {
            if what.starts_with("listing, tenant-wide") || what.starts_with("listing, admin") {
                assert_eq!(*n, 2, "{backend:?}: {what}: {small:?}");
            }
        }

        // Hundreds of users in each org, in both and in none; rows in every scope.
        s.crowd("in-alpha-", 150, &[&alpha]).await;
        s.crowd("in-bravo-", 150, &[&bravo]).await;
        s.crowd("in-both-", 100, &[&alpha, &bravo]).await;
        s.crowd("in-none-", 150, &[]).await;
        for i in 0..60 {
            for org in [json!("alpha"), json!("bravo"), Value::Null] {
                let (st, b) = s
                    .post(
                        &s.admin,
                        "/api/v1/credentials",
                        json!({"name": format!("c{i}"), "secret": "s", "org": org}),
                    )
                    .await;
                assert_eq!(st, StatusCode::CREATED, "{b}");
            }
        }
        let large = measure(&s, &alice, &cred).await;
        assert_eq!(
            small, large,
            "{backend:?}: statements per request grew with users and rows"
        );
    }
}

/// The transactions one request begins (the least of a few tries, as for
/// statements).
async fn transactions(s: &TestServer, path: &str, token: &str) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..4 {
        let before = s.store.transactions();
        let (st, answer, _) = s.call(Method::GET, path, Some(token), None).await;
        assert!(st.is_success(), "GET {path}: {st} {answer}");
        least = least.min(s.store.transactions() - before);
    }
    least
}

/// A read authenticates and reads in one transaction (issue 22): who asks
/// and what they see come from one snapshot, on one connection. By a
/// session, a personal token and an org key.
#[tokio::test]
async fn a_read_is_one_transaction() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", true)]).await;
        let cred = s
            .create(
                &alice,
                "credentials",
                json!({"name": "db", "secret": "s", "org": "alpha"}),
            )
            .await;
        let one = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
        let (_, key) = s.org_key(&alice, "alpha", "read").await;
        let (st, pat) = s
            .post(&alice, "/api/v1/me/tokens", json!({"name": "t"}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{pat}");
        let pat = pat["token"].as_str().unwrap().to_owned();
        for (who, token) in [
            ("session", &alice),
            ("personal token", &pat),
            ("org key", &key),
        ] {
            for path in [
                "/api/v1/credentials",
                "/api/v1/credentials?org=alpha",
                "/api/v1/credentials?org=tenant",
                one.as_str(),
            ] {
                assert_eq!(
                    transactions(&s, path, token).await,
                    1,
                    "{backend:?}: GET {path} by {who} began more than one transaction"
                );
            }
        }
    }
}

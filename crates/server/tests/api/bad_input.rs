//! Requests the server cannot accept: the right status, an RFC 9457 problem
//! that says what to fix, and nothing created.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, backends};

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// What every listing the bad requests could touch holds now.
async fn snapshot(s: &TestServer) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/plugins",
        "/api/v1/blacklists",
        "/api/v1/api-keys",
        "/api/v1/credentials",
        "/api/v1/orgs",
        "/api/v1/users",
    ] {
        out.push(s.list_all(&s.admin, path).await);
    }
    out
}

#[tokio::test]
async fn unreadable_bodies() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let before = snapshot(&s).await;
        let admin = Some(s.admin.as_str());

        for path in [
            "/api/v1/plugins",
            "/api/v1/orgs",
            "/api/v1/users",
            "/api/v1/auth/login",
        ] {
            // Malformed JSON: 400.
            for text in [&b"{\"name\": "[..], b"{name: 'x'}", b"", b"\xff\xfe"] {
                let r = s
                    .raw(
                        Method::POST,
                        path,
                        admin,
                        &[],
                        Some(("application/json", text.to_vec())),
                    )
                    .await;
                r.problem(StatusCode::BAD_REQUEST);
            }
            // Not JSON at all: 415.
            for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
                let r = s
                    .raw(
                        Method::POST,
                        path,
                        admin,
                        &[],
                        Some((content_type, br#"{"name": "x", "slug": "xx"}"#.to_vec())),
                    )
                    .await;
                let detail = r.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
                assert!(detail.contains("application/json"), "{backend:?}: {detail}");
            }
        }
        // PATCH reads its body the same way.
        let plugin = s
            .create(&s.admin, "plugins", json!({"name": "p", "org": null}))
            .await;
        let plugin_path = format!("/api/v1/plugins/{}", plugin["id"].as_str().unwrap());
        let r = s
            .raw(
                Method::PATCH,
                &plugin_path,
                admin,
                &[],
                Some(("application/json", b"{".to_vec())),
            )
            .await;
        r.problem(StatusCode::BAD_REQUEST);
        let r = s
            .raw(
                Method::PATCH,
                &plugin_path,
                admin,
                &[],
                Some(("text/plain", b"{}".to_vec())),
            )
            .await;
        r.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

        // Over 1 MiB: 413.
        let big = json!({"name": "big", "org": null, "description": "x".repeat(1024 * 1024 + 10)});
        let r = s
            .raw(
                Method::POST,
                "/api/v1/plugins",
                admin,
                &[],
                Some(("application/json", serde_json::to_vec(&big).unwrap())),
            )
            .await;
        r.problem(StatusCode::PAYLOAD_TOO_LARGE);
        let r = s
            .raw(
                Method::PATCH,
                &plugin_path,
                admin,
                &[],
                Some(("application/json", serde_json::to_vec(&big).unwrap())),
            )
            .await;
        r.problem(StatusCode::PAYLOAD_TOO_LARGE);
        // Just under the limit is read (and refused for what it says: the
        // description is longer than 4000 characters).
        let near = json!({"name": "near", "org": null, "description": "x".repeat(1000 * 1000)});
        let detail = s
            .expect(
                &s.admin,
                Method::POST,
                "/api/v1/plugins",
                Some(near),
                UNPROCESSABLE,
            )
            .await
            .problem(UNPROCESSABLE);
        assert!(detail.contains("description"), "{backend:?}: {detail}");

        s.expect(
            &s.admin,
            Method::DELETE,
            &plugin_path,
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        assert_eq!(
            snapshot(&s).await,
            before,
            "{backend:?}: nothing was created"
        );
    }
}

#[tokio::test]
async fn invalid_values_are_422_and_name_the_field() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let before = snapshot(&s).await;

        // (path, body, text the detail must contain)
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/api/v1/orgs",
                json!({"slug": "Bad Slug", "name": "x"}),
                "Bad Slug",
            ),
            (
                "/api/v1/orgs",
                json!({"slug": "all", "name": "x"}),
                "reserved",
            ),
            (
                "/api/v1/orgs",
                json!({"slug": "tenant", "name": "x"}),
                "reserved",
            ),
            (
                "/api/v1/orgs",
                json!({"slug": "none", "name": "x"}),
                "reserved",
            ),
            ("/api/v1/orgs", json!({"slug": "a", "name": "x"}), "slug"),
            ("/api/v1/orgs", json!({"slug": "-ab", "name": "x"}), "slug"),
            ("/api/v1/orgs", json!({"slug": "ok-slug"}), "name"),
            (
                "/api/v1/orgs",
                json!({"slug": "ok-slug", "name": "x", "parent": "nosuch-parent"}),
                "nosuch-parent",
            ),
            (
                "/api/v1/orgs",
                json!({"slug": "ok-slug", "name": "x", "domain": "not a host"}),
                "domain",
            ),
            (
                "/api/v1/orgs",
                json!({"slug": "ok-slug", "name": "x", "colour": "red"}),
                "colour",
            ),
            (
                "/api/v1/plugins",
                json!({"name": "p", "org": "nosuch-org"}),
                "nosuch-org",
            ),
            ("/api/v1/plugins", json!({"name": "p", "org": 42}), "org"),
            (
                "/api/v1/plugins",
                json!({"name": "p", "org": null, "colour": "red"}),
                "colour",
            ),
            ("/api/v1/plugins", json!({"org": null}), "name"),
            (
                "/api/v1/plugins",
                json!({"name": "   ", "org": null}),
                "name",
            ),
            (
                "/api/v1/plugins",
                json!({"name": "x".repeat(201), "org": null}),
                "name",
            ),
            ("/api/v1/plugins", json!(["not", "an", "object"]), "object"),
            (
                "/api/v1/plugins",
                json!({"name": "p", "org": null, "url": 7}),
                "url",
            ),
            (
                "/api/v1/blacklists",
                json!({"name": "b", "org": null, "patterns": ["re:("]}),
                "patterns",
            ),
            (
                "/api/v1/blacklists",
                json!({"name": "b", "org": null, "patterns": []}),
                "patterns",
            ),
            (
                "/api/v1/blacklists",
                json!({"name": "b", "org": null, "patterns": "rm"}),
                "patterns",
            ),
            (
                "/api/v1/blacklists",
                json!({"name": "b", "org": null}),
                "patterns",
            ),
            (
                "/api/v1/api-keys",
                json!({"name": "k", "org": "alpha", "access": "read", "expires_at": "tomorrow"}),
                "expires_at",
            ),
            (
                "/api/v1/api-keys",
                json!({"name": "k", "org": "alpha", "access": "admin"}),
                "access",
            ),
            (
                "/api/v1/api-keys",
                json!({"name": "k", "org": "alpha"}),
                "access",
            ),
            (
                "/api/v1/credentials",
                json!({"name": "c", "org": "alpha"}),
                "secret",
            ),
            (
                "/api/v1/credentials",
                json!({"name": "c", "org": "alpha", "secret": ""}),
                "secret",
            ),
            (
                "/api/v1/users",
                json!({"username": "bad name", "password": "long-enough"}),
                "username",
            ),
            (
                "/api/v1/users",
                json!({"username": "eve", "password": "short"}),
                "password",
            ),
            (
                "/api/v1/users",
                json!({"username": "eve", "password": "long-enough", "role": "king"}),
                "king",
            ),
            (
                "/api/v1/users",
                json!({"username": "eve", "password": "long-enough", "default_org": "nosuch-org"}),
                "nosuch-org",
            ),
            (
                "/api/v1/users",
                json!({"username": "eve", "password": "long-enough", "shoe": 1}),
                "shoe",
            ),
            (
                "/api/v1/orgs/alpha/members",
                json!({"user": "nobody-here"}),
                "nobody-here",
            ),
            (
                "/api/v1/orgs/alpha/members",
                json!({"user": "alice", "can_manage": "yes"}),
                "can_manage",
            ),
            // Typed bodies name the field that does not fit, wherever it is.
            ("/api/v1/sessions", json!({"persona": 5}), "persona"),
            (
                "/api/v1/sessions",
                json!({"persona": "x", "colour": 1}),
                "colour",
            ),
            (
                "/api/v1/me/tokens",
                json!({"name": "t", "expires_at": 5}),
                "expires_at",
            ),
            (
                "/api/v1/auth/login",
                json!({"username": "a", "password": "b", "remember": true}),
                "remember",
            ),
            (
                "/api/v1/tenants",
                json!({"slug": "t2", "name": "T", "region": "eu"}),
                "region",
            ),
            (
                "/api/v1/orgs/alpha/domain/verify",
                json!({"skip_dns": "yes"}),
                "skip_dns",
            ),
            ("/api/v1/tasks/claim", json!({}), "agent"),
        ];
        for (path, body, needle) in cases {
            let detail = s
                .expect(
                    &s.admin,
                    Method::POST,
                    path,
                    Some(body.clone()),
                    UNPROCESSABLE,
                )
                .await
                .problem(UNPROCESSABLE);
            assert!(
                detail.contains(needle),
                "{backend:?}: POST {path} {body}: the detail should name {needle:?}: {detail}"
            );
        }
        // A user naming an org that is not hers reads the same as unknown.
        let detail = s
            .expect(
                &alice,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "c", "secret": "s", "org": "nosuch-org"})),
                UNPROCESSABLE,
            )
            .await
            .problem(UNPROCESSABLE);
        assert!(detail.contains("nosuch-org"), "{backend:?}: {detail}");
        assert_eq!(
            snapshot(&s).await,
            before,
            "{backend:?}: nothing was created"
        );

        // Updates: the same checks, and nothing changes.
        let key = s
            .create(
                &s.admin,
                "api-keys",
                json!({"name": "k", "org": "alpha", "access": "read"}),
            )
            .await;
        let bl = s
            .create(&s.admin, "blacklists", json!({"name": "bl", "org": null, "patterns": ["rm -rf /", "glob:*shutdown*", "re:^curl .*\\|\\s*sh$"]}))
            .await;
        let key_path = format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap());
        let bl_path = format!("/api/v1/blacklists/{}", bl["id"].as_str().unwrap());
        for (path, body, needle) in [
            (&key_path, json!({"expires_at": "tomorrow"}), "expires_at"),
            (&key_path, json!({"access": "write"}), "access"),
            (&key_path, json!({"org": "alpha"}), "rescope"),
            (&key_path, json!({"colour": "red"}), "colour"),
            (&bl_path, json!({"patterns": ["ok", "re:("]}), "patterns"),
            (&bl_path, json!({"name": ""}), "name"),
        ] {
            let detail = s
                .expect(
                    &s.admin,
                    Method::PATCH,
                    path,
                    Some(body.clone()),
                    UNPROCESSABLE,
                )
                .await
                .problem(UNPROCESSABLE);
            assert!(
                detail.contains(needle),
                "{backend:?}: PATCH {body}: {detail}"
            );
        }
        let (_, k) = s.get(&s.admin, &key_path).await;
        assert_eq!(
            (k["access"].as_str(), &k["expires_at"]),
            (Some("read"), &Value::Null),
            "{backend:?}"
        );
        let (_, b) = s.get(&s.admin, &bl_path).await;
        assert_eq!(b["patterns"], bl["patterns"], "{backend:?}");
        assert_eq!(b["name"], "bl", "{backend:?}");

        // Re-scope bodies.
        for (body, needle) in [
            (json!({}), "org"),
            (json!({"org": "alpha", "preview": "yes"}), "preview"),
            (json!({"org": "alpha", "force": true}), "force"),
            (json!({"org": "nosuch-org"}), "nosuch-org"),
        ] {
            let detail = s
                .expect(
                    &s.admin,
                    Method::POST,
                    &format!("{bl_path}/rescope"),
                    Some(body.clone()),
                    UNPROCESSABLE,
                )
                .await
                .problem(UNPROCESSABLE);
            assert!(
                detail.contains(needle),
                "{backend:?}: rescope {body}: {detail}"
            );
        }
        let (_, b) = s.get(&s.admin, &bl_path).await;
        assert_eq!(b["org"], Value::Null, "{backend:?}");
    }
}

#[tokio::test]
async fn org_trees_have_no_cycles() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("top").await;
        let (st, mid) = s
            .post(
                &s.admin,
                "/api/v1/orgs",
                json!({"slug": "mid", "name": "mid", "parent": "top"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {mid}");
        let (st, leaf) = s
            .post(
                &s.admin,
                "/api/v1/orgs",
                json!({"slug": "leaf", "name": "leaf", "parent": "mid"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {leaf}");
        assert_eq!(leaf["parent"], mid["id"], "{backend:?}");
        let top_before = s.get(&s.admin, "/api/v1/orgs/top").await.1;

        for (org, parent) in [
            ("top", "mid"),
            ("top", "leaf"),
            ("top", "top"),
            ("mid", "leaf"),
        ] {
            let detail = s
                .expect(
                    &s.admin,
                    Method::PATCH,
                    &format!("/api/v1/orgs/{org}"),
                    Some(json!({"parent": parent})),
                    UNPROCESSABLE,
                )
                .await
                .problem(UNPROCESSABLE);
            assert!(
                detail.contains("cycle"),
                "{backend:?}: {org} under {parent}: {detail}"
            );
        }
        assert_eq!(
            s.get(&s.admin, "/api/v1/orgs/top").await.1,
            top_before,
            "{backend:?}"
        );
        let (_, m) = s.get(&s.admin, "/api/v1/orgs/mid").await;
        assert_eq!(m["parent"], top_before["id"], "{backend:?}");
        // Moving a subtree elsewhere is fine, and so is making it a root.
        s.org("other").await;
        let m = s
            .expect(
                &s.admin,
                Method::PATCH,
                "/api/v1/orgs/mid",
                Some(json!({"parent": "other"})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(
            m["parent"],
            s.get(&s.admin, "/api/v1/orgs/other").await.1["id"],
            "{backend:?}"
        );
        // Now top may go under leaf (no longer its descendant).
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/orgs/top",
            Some(json!({"parent": "leaf"})),
            StatusCode::OK,
        )
        .await;
        // ...and then other under top would close other→mid→leaf→top→other.
        let detail = s
            .expect(
                &s.admin,
                Method::PATCH,
                "/api/v1/orgs/other",
                Some(json!({"parent": "top"})),
                UNPROCESSABLE,
            )
            .await
            .problem(UNPROCESSABLE);
        assert!(detail.contains("cycle"), "{backend:?}: {detail}");
        let (_, o) = s.get(&s.admin, "/api/v1/orgs/other").await;
        assert_eq!(o["parent"], Value::Null, "{backend:?}");
    }
}

/// DESIGN section 5: errors are RFC 9457 `application/problem+json`. These
/// answers are not: a 405 has no body and no content type, a path segment
/// that is not UTF-8 is a text/plain 400, and `DELETE /api/v1/orgs/{org}`
/// (which reads its optional body as raw bytes) answers an oversized body
/// with a text/plain 413.
#[tokio::test]
async fn every_error_is_a_problem() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let big = ("application/json", vec![b' '; 2 * 1024 * 1024]);
        let mut wrong = Vec::new();
        for (method, path, body, status) in [
            (
                Method::PUT,
                "/api/v1/credentials",
                None,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::DELETE,
                "/api/v1/orgs",
                None,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::GET,
                "/api/v1/orgs/%FF",
                None,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::DELETE,
                "/api/v1/orgs/alpha",
                Some(big),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            let r = s.raw(method.clone(), path, Some(&s.admin), &[], body).await;
            let problem = r.header("content-type") == Some("application/problem+json")
                && r.json()["status"] == status.as_u16();
            if r.status != status || !problem {
                wrong.push(format!(
                    "{method} {path}: {} {:?} {:?}",
                    r.status,
                    r.header("content-type"),
                    r.text
                ));
            }
        }
        assert!(wrong.is_empty(), "{backend:?}: not problems: {wrong:#?}");
        s.expect(
            &s.admin,
            Method::GET,
            "/api/v1/orgs/alpha",
            None,
            StatusCode::OK,
        )
        .await;
    }
}

/// Users are named by username or id in paths and bodies (DESIGN section 5),
/// and both are looked up with `id = $1 OR username = $1`. Usernames may
/// contain `_`, so an admin can create a user whose username is another
/// user's id. From then on `/api/v1/users/{that name}` and membership bodies
/// naming it resolve to the *other* user (a PATCH `{"disabled": true}` meant
/// for the new user disables the old one), and the new user can never log
/// in (login looks the name up the same way and then rejects the row whose
/// username differs).
#[tokio::test]
async fn a_username_cannot_be_another_users_id() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let (alice_id, alice) = s.fast_user("alice", "user", &[]).await;
        let (st, made) = s
            .post(
                &s.admin,
                "/api/v1/users",
                json!({"username": alice_id, "password": "other-password", "role": "user"}),
            )
            .await;
        assert!(
            st == UNPROCESSABLE || st == StatusCode::CONFLICT,
            "{backend:?}: a user named {alice_id} (alice's id) was created: {st} {made}"
        );
        let (st, got) = s.get(&s.admin, &format!("/api/v1/users/{alice_id}")).await;
        assert_eq!(
            (st, &got["username"]),
            (StatusCode::OK, &json!("alice")),
            "{backend:?}"
        );
        s.expect(&alice, Method::GET, "/api/v1/me", None, StatusCode::OK)
            .await;
    }
}

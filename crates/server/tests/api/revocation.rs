//! A credential that has ended (logged out, disabled user, revoked or expired
//! key) is refused on the very next request on every route of the OpenAPI
//! document, streams included; a removed member's streams lose the org at
//! once. Each stream is first read to its end while the credential is alive.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::chat::{model_server, persona, upload};
use crate::harness::{Options, Raw, TestServer, backends};

/// Routes that take no orgscope credential: their own secrets or none.
const PUBLIC: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/openapi.json",
    "/healthz",
    "/readyz",
    "/portal",
    "/hooks/gateways/{id}",
    "/api/v1/gateway/check",
];

/// What the three streamed routes answer: a file download, the audit export
/// and a chat answer as server-sent events (status, body).
struct Streams {
    download: (StatusCode, String),
    export: (StatusCode, String),
    sse: (StatusCode, String),
}

async fn read(res: reqwest::Response) -> (StatusCode, String) {
    (res.status(), res.text().await.unwrap_or_default())
}

async fn streams(s: &TestServer, token: &str, file: &str, session: &str) -> Streams {
    let get = |path: String| {
        s.http
            .get(format!("{}{path}", s.base))
            .bearer_auth(token)
            .send()
    };
    let download = read(get(format!("/api/v1/files/{file}/content")).await.unwrap()).await;
    let export = read(get("/api/v1/audit/export".into()).await.unwrap()).await;
    let sse = read(
        s.http
            .post(format!("{}/api/v1/sessions/{session}/messages", s.base))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&json!({"content": "what do the words say"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    Streams {
        download,
        export,
        sse,
    }
}

fn assert_refused(r: &Raw, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text);
    r.problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn streams_serve_the_living_and_stop_at_once_for_the_removed_and_the_disabled() {
    for backend in backends() {
        let (url, _) = model_server().await;
        let llm = orgscope_server::llm::Llm::new(&url, "m", None);
        let s = TestServer::start_with(
            backend,
            Options {
                llm: Some(llm),
                ..Options::default()
            },
        )
        .await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", true)]).await;
        let (_, pat) = s
            .post(&alice, "/api/v1/me/tokens", json!({"name": "ci"}))
            .await;
        let pat = pat["token"].as_str().unwrap().to_owned();
        let file = upload(&s, &alice, "w.md", "alpha", "streamed words of alpha").await;
        let p = persona(&s, &alice, "alpha").await;
        let (_, session) = s
            .post(&alice, "/api/v1/sessions", json!({"persona": p}))
            .await;
        let sid = session["id"].as_str().unwrap().to_owned();

        // Alive: each stream runs to its end, for her session and her token.
        for token in [&alice, &pat] {
            let got = streams(&s, token, &file, &sid).await;
            assert_eq!(
                got.download,
                (StatusCode::OK, "streamed words of alpha".into())
            );
            assert_eq!(got.export.0, StatusCode::OK, "{backend:?}");
            assert!(
                got.export.1.lines().count() > 0
                    && got.export.1.lines().all(|l| l.contains("org_")),
                "a manager exports her org's entries: {}",
                got.export.1
            );
            assert_eq!(got.sse.0, StatusCode::OK, "{backend:?}: {}", got.sse.1);
            assert!(got.sse.1.contains("event: message"), "{}", got.sse.1);
        }

        // Removed from the org: the next stream of each is empty or hidden.
        s.delete(&s.admin, "/api/v1/orgs/alpha/members/alice").await;
        for token in [&alice, &pat] {
            let got = streams(&s, token, &file, &sid).await;
            assert_eq!(got.download.0, StatusCode::NOT_FOUND, "{backend:?}");
            assert_eq!(
                got.sse.0,
                StatusCode::NOT_FOUND,
                "{backend:?}: {}",
                got.sse.1
            );
            assert_eq!(got.export, (StatusCode::OK, String::new()), "{backend:?}");
        }

        // Back in, then disabled: every stream refuses both at once.
        s.post(
            &s.admin,
            "/api/v1/orgs/alpha/members",
            json!({"user": "alice", "can_manage": true}),
        )
        .await;
        assert_eq!(
            streams(&s, &alice, &file, &sid).await.download.0,
            StatusCode::OK
        );
        s.patch(&s.admin, "/api/v1/users/alice", json!({"disabled": true}))
            .await;
        for token in [&alice, &pat] {
            let got = streams(&s, token, &file, &sid).await;
            for (what, (st, body)) in [
                ("download", got.download),
                ("export", got.export),
                ("chat stream", got.sse),
            ] {
                assert_eq!(st, StatusCode::UNAUTHORIZED, "{backend:?} {what}: {body}");
                assert!(!body.contains("streamed words"), "{body}");
            }
        }
    }
}

#[tokio::test]
async fn every_route_refuses_an_ended_credential_on_the_very_next_request() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", true)]).await;
        let (_, pat) = s
            .post(&alice, "/api/v1/me/tokens", json!({"name": "ci"}))
            .await;
        let pat = pat["token"].as_str().unwrap().to_owned();
        let (_, her_key) = s.org_key(&alice, "alpha", "read_write").await;
        let (revoked_id, revoked) = s.org_key(&s.admin, "alpha", "read_write").await;
        let (expired_id, expired) = s.org_key(&s.admin, "alpha", "read").await;
        let logged_out = s.login("admin", crate::harness::ADMIN_PASSWORD).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "c", "secret": "s", "org": "alpha"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = format!(
            "cookie:{alice}:{}",
            orgscope_server::auth::csrf_token(&alice)
        );
        let ended: [(&str, &str); 7] = [
            ("session of a disabled user", &alice),
            ("session cookie of a disabled user", &cookie),
            ("personal token of a disabled user", &pat),
            ("org key made by a disabled user", &her_key),
            ("revoked org key", &revoked),
            ("expired org key", &expired),
            ("logged-out session", &logged_out),
        ];
        for (what, token) in ended {
            let r = s
                .raw(Method::GET, "/api/v1/me", Some(token), &[], None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{backend:?}: {what} works before");
        }

        s.patch(&s.admin, "/api/v1/users/alice", json!({"disabled": true}))
            .await;
        let (st, _) = s
            .delete(&s.admin, &format!("/api/v1/api-keys/{revoked_id}"))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = s
            .patch(
                &s.admin,
                &format!("/api/v1/api-keys/{expired_id}"),
                json!({"expires_at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        // An expiry is never set in the past: it lapses while we wait.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = s
            .raw(
                Method::POST,
                "/api/v1/auth/logout",
                Some(&logged_out),
                &[],
                None,
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);

        let (_, doc) = s.get(&s.admin, "/api/v1/openapi.json").await;
        let mut routes = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            if PUBLIC.contains(&path.as_str()) {
                continue;
            }
            let concrete = path
                .replace("{id}", &cred)
                .replace("{org}", "alpha")
                .replace("{user}", "alice");
            for method in ops.as_object().unwrap().keys() {
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                if !matches!(
                    method,
                    Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
                ) {
                    continue;
                }
                routes += 1;
                let body = (method != Method::GET).then(|| ("application/json", b"{}".to_vec()));
                for (what, token) in ended {
                    let r = s
                        .raw(method.clone(), &concrete, Some(token), &[], body.clone())
                        .await;
                    assert_refused(
                        &r,
                        &format!("{backend:?} {method} {concrete} with a {what}"),
                    );
                }
                for key in [&her_key, &revoked, &expired] {
                    let r = s
                        .raw(
                            method.clone(),
                            &concrete,
                            None,
                            &[("x-api-key", key.as_str())],
                            body.clone(),
                        )
                        .await;
                    assert_refused(&r, &format!("{backend:?} {method} {concrete} by X-API-Key"));
                }
            }
        }
        assert!(
            routes > 80,
            "{backend:?}: only {routes} routes in the document"
        );
        // What was refused changed nothing.
        let (_, c) = s
            .get(&s.admin, &format!("/api/v1/credentials/{cred}"))
            .await;
        assert_eq!(c["name"], "c", "{backend:?}");
    }
}

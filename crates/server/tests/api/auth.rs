//! Who is asking (DESIGN sections 3 and 5): passwords, the login limit,
//! sessions, personal tokens, org keys, and revocation that takes effect on
//! the very next request.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{FAST_PASSWORD, Raw, TestServer, backends};

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;

/// `GET /api/v1/me` with `token`, as a raw response.
async fn me(s: &TestServer, token: &str) -> Raw {
    s.raw(Method::GET, "/api/v1/me", Some(token), &[], None)
        .await
}

/// Asserts a 401 problem with its `WWW-Authenticate` challenge.
fn assert_401(r: &Raw, what: &str) {
    assert_eq!(r.status, UNAUTHORIZED, "{what}: {}", r.text);
    r.problem(UNAUTHORIZED);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{what}: a 401 challenges for a bearer token"
    );
}

fn past() -> &'static str {
    "2001-01-01T00:00:00Z"
}

fn future() -> &'static str {
    "2999-01-01T00:00:00Z"
}

/// An expiry a second from now: made valid, it lapses while the test waits.
fn soon() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()
}

async fn until_past() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn passwords_and_the_login_limit() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.fast_user("victim", "user", &[]).await;
        // Made and logged in through the API, as a person would be.
        let bystander = s.user("bystander", "user", &[]).await;
        assert!(bystander.starts_with("oss_"), "{backend:?}");
        let login = |username: &str, password: &str| {
            let body = json!({"username": username, "password": password});
            let s = &s;
            async move {
                s.raw_json(Method::POST, "/api/v1/auth/login", None, Some(body))
                    .await
            }
        };

        // A wrong password and an unknown user answer alike.
        let wrong = login("victim", "not-the-password").await;
        assert_401(&wrong, &format!("{backend:?} wrong password"));
        let unknown = login("nobody-at-all", "not-the-password").await;
        assert_401(&unknown, &format!("{backend:?} unknown user"));
        assert_eq!(wrong.text, unknown.text, "{backend:?}");
        // A missing token, a garbage one and a well-formed unknown one: 401.
        assert_401(
            &s.raw(Method::GET, "/api/v1/me", None, &[], None).await,
            "no token",
        );
        for t in ["garbage", "oss_nope", "ost_nope", "osk_nope", ""] {
            assert_401(&me(&s, t).await, &format!("{backend:?} token {t:?}"));
        }
        let r = s
            .raw(
                Method::GET,
                "/api/v1/me",
                None,
                &[("authorization", "Basic YWRtaW46YWRtaW4=")],
                None,
            )
            .await;
        assert_401(&r, "basic auth");

        // Nine more wrong passwords (ten in all), then the eleventh attempt
        // is refused without a check, even with the right password.
        for i in 2..=10 {
            let r = login("victim", &format!("wrong-{i}")).await;
            assert_401(&r, &format!("{backend:?} wrong password #{i}"));
        }
        for password in ["wrong-11", FAST_PASSWORD] {
            let r = login("victim", password).await;
            let detail = r.problem(StatusCode::TOO_MANY_REQUESTS);
            assert!(detail.contains("retry"), "{backend:?}: {detail}");
            let retry: u64 = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{backend:?}: 429 without a Retry-After in seconds"));
            // The window slides (limits::estimate): ten failures count
            // whole until 30 s into the next 300 s window, so the wait can
            // reach 330 s when they all fall early in one window.
            assert!(
                (1..=330).contains(&retry),
                "{backend:?}: Retry-After {retry}"
            );
            assert!(r.json().get("token").is_none());
        }
        // Another user of the same address is not locked out.
        let r = login("bystander", "bystander-password").await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        let token = r.json()["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("oss_"), "{backend:?}: {token}");
        assert!(r.json()["expires_at"].is_string(), "{backend:?}");
        let r = me(&s, &token).await;
        assert_eq!(r.json()["username"], "bystander", "{backend:?}");
    }
}

/// The per-user login budget is keyed by the `tenant` text the client sends,
/// so naming the same tenant three ways (left out, slug, id) triples it.
#[tokio::test]
async fn the_login_limit_cannot_be_dodged_by_naming_the_tenant() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.fast_user("victim", "user", &[]).await;
        let tenant = s.tenant_id().await;
        for i in 1..=10 {
            let (st, _, _) = s.login_in(None, "victim", &format!("wrong-{i}")).await;
            assert_eq!(st, UNAUTHORIZED, "{backend:?}");
        }
        let (st, _, _) = s.login_in(None, "victim", "wrong-11").await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{backend:?}");
        for t in ["default", tenant.as_str()] {
            let (st, body, _) = s.login_in(Some(t), "victim", "wrong-again").await;
            assert_eq!(
                st,
                StatusCode::TOO_MANY_REQUESTS,
                "{backend:?}: tenant {t:?} gives a fresh budget: {body}"
            );
        }
    }
}

#[tokio::test]
async fn sessions_and_personal_tokens() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let (alice_id, _) = s.fast_user("alice", "user", &[]).await;
        let (_, bob) = s.fast_user("bob", "user", &[]).await;
        let (st, body, _) = s.login_in(None, "alice", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {body}");
        let session = body["token"].as_str().unwrap().to_owned();
        // A second session of the same user lives on its own.
        let (_, body, _) = s.login_in(Some("default"), "alice", FAST_PASSWORD).await;
        let other_session = body["token"].as_str().unwrap().to_owned();
        assert_ne!(session, other_session);

        // Personal tokens: shown once, never listed, usable, revocable.
        let r = s
            .expect(
                &session,
                Method::POST,
                "/api/v1/me/tokens",
                Some(json!({"name": "ci"})),
                StatusCode::CREATED,
            )
            .await;
        let created = r.json();
        let pat = created["token"].as_str().unwrap().to_owned();
        let pat_id = created["id"].as_str().unwrap().to_owned();
        assert!(pat.starts_with("ost_"), "{backend:?}: {pat}");
        assert!(pat.len() >= 4 + 40, "{backend:?}: {pat}");
        assert_eq!(created["name"], "ci");
        let r = s
            .expect(
                &session,
                Method::GET,
                "/api/v1/me/tokens",
                None,
                StatusCode::OK,
            )
            .await;
        assert!(
            !r.text.contains(&pat),
            "{backend:?}: the list shows the secret"
        );
        let listed = r.json();
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{backend:?}: {listed}");
        assert_eq!(items[0]["id"], pat_id.as_str());
        assert!(items[0].get("token").is_none(), "{backend:?}");
        // Sessions are not personal tokens.
        assert!(!r.text.contains(&session));
        let r = me(&s, &pat).await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        assert_eq!(r.json()["id"], alice_id.as_str(), "{backend:?}");
        // Another user can neither see nor revoke it.
        let (_, theirs) = s.get(&bob, "/api/v1/me/tokens").await;
        assert_eq!(theirs["items"], json!([]), "{backend:?}");
        s.expect(
            &bob,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{pat_id}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(me(&s, &pat).await.status, StatusCode::OK, "{backend:?}");
        // Revoked: the very next request is 401.
        s.expect(
            &session,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{pat_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        assert_401(
            &me(&s, &pat).await,
            &format!("{backend:?} revoked personal token"),
        );
        let (_, listed) = s.get(&session, "/api/v1/me/tokens").await;
        assert_eq!(listed["items"], json!([]), "{backend:?}");
        s.expect(
            &session,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{pat_id}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        // A token that has expired does not work; one that will, does. One
        // made already expired would never work: refused.
        let (st, _) = s
            .post(
                &session,
                "/api/v1/me/tokens",
                json!({"name": "old", "expires_at": past()}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}");
        let (_, old) = s
            .post(
                &session,
                "/api/v1/me/tokens",
                json!({"name": "old", "expires_at": soon()}),
            )
            .await;
        until_past().await;
        assert_401(
            &me(&s, old["token"].as_str().unwrap()).await,
            "expired personal token",
        );
        let (_, later) = s
            .post(
                &session,
                "/api/v1/me/tokens",
                json!({"name": "later", "expires_at": future()}),
            )
            .await;
        assert_eq!(
            me(&s, later["token"].as_str().unwrap()).await.status,
            StatusCode::OK,
            "{backend:?}"
        );
        s.expect(
            &session,
            Method::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "x", "expires_at": "tomorrow"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        // Org keys cannot have personal tokens.
        s.org("alpha").await;
        let (_, key) = s.org_key(&s.admin, "alpha", "read_write").await;
        s.expect(
            &key,
            Method::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "k"})),
            StatusCode::FORBIDDEN,
        )
        .await;

        // Logout ends that session only, at once.
        let r = s
            .raw(
                Method::POST,
                "/api/v1/auth/logout",
                Some(&session),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend:?}: {}", r.text);
        assert_401(
            &me(&s, &session).await,
            &format!("{backend:?} after logout"),
        );
        let r = s
            .raw(
                Method::POST,
                "/api/v1/auth/logout",
                Some(&session),
                &[],
                None,
            )
            .await;
        assert_401(&r, "logout twice");
        assert_eq!(
            me(&s, &other_session).await.status,
            StatusCode::OK,
            "{backend:?}"
        );
        assert_eq!(
            me(&s, later["token"].as_str().unwrap()).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn org_keys_expire_and_revoke_at_once() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "c", "secret": "s", "org": "alpha"}),
            )
            .await;
        let cred_path = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
        let key = s
            .create(
                &alice,
                "api-keys",
                json!({"name": "agent", "org": "alpha", "access": "read_write"}),
            )
            .await;
        let secret = key["token"].as_str().unwrap().to_owned();
        let key_path = format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap());
        assert!(secret.starts_with("osk_"), "{backend:?}: {secret}");
        assert_eq!(key["org"]["slug"], "alpha", "{backend:?}");
        // Shown once: never again by get or list.
        for p in [key_path.as_str(), "/api/v1/api-keys"] {
            let r = s.expect(&alice, Method::GET, p, None, StatusCode::OK).await;
            assert!(!r.text.contains(&secret), "{backend:?}: {p} shows the key");
            assert!(!r.text.contains("\"token\""), "{backend:?}: {}", r.text);
        }

        // Bearer and X-API-Key work alike.
        let r = s
            .raw(Method::GET, &cred_path, Some(&secret), &[], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        let by_header = s
            .raw(
                Method::GET,
                &cred_path,
                None,
                &[("x-api-key", secret.as_str())],
                None,
            )
            .await;
        assert_eq!(
            by_header.status,
            StatusCode::OK,
            "{backend:?}: {}",
            by_header.text
        );
        assert_eq!(by_header.text, r.text, "{backend:?}");
        let r = s
            .raw(
                Method::GET,
                "/api/v1/me",
                None,
                &[("x-api-key", secret.as_str())],
                None,
            )
            .await;
        assert_eq!(r.json()["kind"], "api_key", "{backend:?}: {}", r.text);
        assert_eq!(r.json()["org"]["slug"], "alpha", "{backend:?}");
        let r = s
            .raw(
                Method::POST,
                "/api/v1/credentials",
                None,
                &[("x-api-key", secret.as_str())],
                Some((
                    "application/json",
                    br#"{"name": "via header", "secret": "s"}"#.to_vec(),
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend:?}: {}", r.text);
        assert_401(
            &s.raw(
                Method::GET,
                &cred_path,
                None,
                &[("x-api-key", "osk_wrong")],
                None,
            )
            .await,
            "wrong X-API-Key",
        );

        // An update to an expiry already past is refused (revoke the key
        // instead); one that lapses makes the next request a 401; extended,
        // it works.
        s.expect(
            &alice,
            Method::PATCH,
            &key_path,
            Some(json!({"expires_at": past()})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        s.expect(
            &alice,
            Method::PATCH,
            &key_path,
            Some(json!({"expires_at": soon()})),
            StatusCode::OK,
        )
        .await;
        until_past().await;
        assert_401(&me(&s, &secret).await, &format!("{backend:?} expired key"));
        assert_401(
            &s.raw(
                Method::GET,
                &cred_path,
                None,
                &[("x-api-key", secret.as_str())],
                None,
            )
            .await,
            "expired key by X-API-Key",
        );
        s.expect(
            &alice,
            Method::PATCH,
            &key_path,
            Some(json!({"expires_at": future()})),
            StatusCode::OK,
        )
        .await;
        assert_eq!(me(&s, &secret).await.status, StatusCode::OK, "{backend:?}");
        s.expect(
            &alice,
            Method::PATCH,
            &key_path,
            Some(json!({"expires_at": null})),
            StatusCode::OK,
        )
        .await;
        assert_eq!(me(&s, &secret).await.status, StatusCode::OK, "{backend:?}");
        // Created already expired it would never work: refused, saying so.
        let (st, why) = s
            .post(
                &alice,
                "/api/v1/api-keys",
                json!({"name": "stale", "org": "alpha", "access": "read", "expires_at": past()}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert!(
            why["detail"].as_str().unwrap().contains("already past"),
            "{why}"
        );
        // Read access downgrade applies on the next request.
        s.expect(
            &alice,
            Method::PATCH,
            &key_path,
            Some(json!({"access": "read"})),
            StatusCode::OK,
        )
        .await;
        s.expect(
            &secret,
            Method::PATCH,
            &cred_path,
            Some(json!({"name": "x"})),
            StatusCode::FORBIDDEN,
        )
        .await;

        // Deleted (revoked): 401 at once, both ways of sending it.
        s.expect(
            &alice,
            Method::DELETE,
            &key_path,
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        assert_401(&me(&s, &secret).await, &format!("{backend:?} revoked key"));
        assert_401(
            &s.raw(
                Method::GET,
                &cred_path,
                None,
                &[("x-api-key", secret.as_str())],
                None,
            )
            .await,
            "revoked key by X-API-Key",
        );
    }
}

#[tokio::test]
async fn disabling_a_user_revokes_everything_they_hold() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (st, body, _) = s.login_in(None, "alice", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let session = body["token"].as_str().unwrap().to_owned();
        let (_, pat) = s
            .post(&session, "/api/v1/me/tokens", json!({"name": "ci"}))
            .await;
        let pat = pat["token"].as_str().unwrap().to_owned();
        let (_, key) = s.org_key(&session, "alpha", "read_write").await;
        // An admin's key in the same org is not hers: it keeps working.
        let (_, admin_key) = s.org_key(&s.admin, "alpha", "read_write").await;
        for t in [&session, &pat, &key] {
            assert_eq!(me(&s, t).await.status, StatusCode::OK, "{backend:?}");
        }

        let out = s
            .expect(
                &s.admin,
                Method::PATCH,
                "/api/v1/users/alice",
                Some(json!({"disabled": true})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(out["disabled"], true, "{backend:?}");
        for (what, t) in [
            ("session", &session),
            ("personal token", &pat),
            ("her org key", &key),
        ] {
            assert_401(
                &me(&s, t).await,
                &format!("{backend:?} {what} of a disabled user"),
            );
        }
        let r = s
            .raw(
                Method::GET,
                "/api/v1/credentials",
                None,
                &[("x-api-key", key.as_str())],
                None,
            )
            .await;
        assert_401(&r, "her org key by X-API-Key");
        assert_eq!(
            me(&s, &admin_key).await.status,
            StatusCode::OK,
            "{backend:?}"
        );
        let (st, _, _) = s.login_in(None, "alice", FAST_PASSWORD).await;
        assert_eq!(
            st, UNAUTHORIZED,
            "{backend:?}: a disabled user cannot log in"
        );
        // The audit entry says so.
        let entries = s.list_all(&s.admin, "/api/v1/audit").await;
        let e = entries
            .iter()
            .rev()
            .find(|e| e["action"] == "user.update")
            .expect("a user.update entry");
        assert_eq!(e["before"]["disabled"], false, "{backend:?}: {e}");
        assert_eq!(e["after"]["disabled"], true, "{backend:?}: {e}");

        // Enabled again: she logs in anew, but what was revoked stays revoked.
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"disabled": false})),
            StatusCode::OK,
        )
        .await;
        let (st, body, _) = s.login_in(None, "alice", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {body}");
        let fresh = body["token"].as_str().unwrap();
        assert_eq!(me(&s, fresh).await.status, StatusCode::OK, "{backend:?}");
        for (what, t) in [("old session", &session), ("old personal token", &pat)] {
            assert_401(
                &me(&s, t).await,
                &format!("{backend:?} {what} after re-enabling"),
            );
        }
        // An admin cannot disable themself.
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/users/admin",
            Some(json!({"disabled": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(me(&s, &s.admin).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_removed_member_loses_the_org_at_once() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        s.expect(
            &alice,
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"default_org": "alpha"})),
            StatusCode::OK,
        )
        .await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "c", "secret": "s", "org": "alpha"}),
            )
            .await;
        let path = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
        s.expect(&alice, Method::GET, &path, None, StatusCode::OK)
            .await;
        // With her default org, the org can be left out.
        let mine = s
            .expect(
                &alice,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "mine", "secret": "s"})),
                StatusCode::CREATED,
            )
            .await
            .json();
        assert_eq!(mine["org"]["slug"], "alpha", "{backend:?}");

        let out = s
            .expect(
                &s.admin,
                Method::DELETE,
                "/api/v1/orgs/alpha/members/alice",
                None,
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(out["default_org_cleared"], true, "{backend:?}: {out}");
        // The same session, the very next request.
        s.expect(&alice, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
        s.expect(
            &alice,
            Method::PATCH,
            &path,
            Some(json!({"name": "x"})),
            StatusCode::NOT_FOUND,
        )
        .await;
        let (_, list) = s.get(&alice, "/api/v1/credentials").await;
        assert_eq!(list["items"], json!([]), "{backend:?}");
        s.expect(
            &alice,
            Method::GET,
            "/api/v1/orgs/alpha",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        s.expect(
            &alice,
            Method::GET,
            "/api/v1/credentials?org=alpha",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        let me_now = me(&s, &alice).await.json();
        assert_eq!(me_now["memberships"], json!([]), "{backend:?}: {me_now}");
        assert_eq!(me_now["default_org"], Value::Null, "{backend:?}: {me_now}");
        // No default org any more: leaving the org out is an error.
        s.expect(
            &alice,
            Method::POST,
            "/api/v1/credentials",
            Some(json!({"name": "again", "secret": "s"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn the_session_cookie_needs_its_csrf_token_to_change_anything() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, _, headers) = s.login_in(None, "alice", FAST_PASSWORD).await;
        let set = headers["set-cookie"].to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(set.contains(attribute), "{backend:?}: {set}");
        }
        assert!(!set.contains("Secure"), "plain HTTP: {set}");
        let cookie = s.cookie_login(None, "alice", FAST_PASSWORD).await;
        let session = cookie.split(':').nth(1).unwrap().to_owned();
        let jar = format!("theme=dark; orgscope_session={session}");
        let with_cookie = |csrf: Option<&str>| {
            let mut h = vec![("cookie", jar.clone())];
            if let Some(c) = csrf {
                h.push(("x-csrf-token", c.to_owned()));
            }
            h
        };
        let s = &s;
        let send = |method: Method, path: &'static str, headers: Vec<(&'static str, String)>| {
            let hs: Vec<(&str, String)> = headers;
            async move {
                let refs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let body = (method != Method::GET).then(|| {
                    (
                        "application/json",
                        br#"{"name": "c", "secret": "s", "org": "alpha"}"#.to_vec(),
                    )
                });
                s.raw(method, path, None, &refs, body).await
            }
        };
        // Reading needs only the cookie.
        let r = send(Method::GET, "/api/v1/me", with_cookie(None)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
        assert_eq!(r.json()["username"], "alice");
        // A change without the CSRF token, or with another, is refused.
        for csrf in [None, Some("0".repeat(64).as_str()), Some("")] {
            let r = send(Method::POST, "/api/v1/credentials", with_cookie(csrf)).await;
            r.problem(StatusCode::FORBIDDEN);
            assert!(r.text.contains("x-csrf-token"), "{}", r.text);
        }
        assert_eq!(s.list_all(&s.admin, "/api/v1/credentials").await.len(), 0);
        // With it, the change is made as alice.
        let (st, made) = s
            .post(
                &cookie,
                "/api/v1/credentials",
                json!({"name": "c", "secret": "s", "org": "alpha"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {made}");
        // A bearer header wins over the cookie; only sessions ride in cookies.
        let r = s
            .raw(
                Method::GET,
                "/api/v1/me",
                Some("oss_not-a-session"),
                &[("cookie", jar.as_str())],
                None,
            )
            .await;
        assert_401(&r, "a bad bearer beside a good cookie");
        let (_, pat) = s
            .post(&cookie, "/api/v1/me/tokens", json!({"name": "t"}))
            .await;
        let pat_jar = format!("orgscope_session={}", pat["token"].as_str().unwrap());
        let r = s
            .raw(
                Method::GET,
                "/api/v1/me",
                None,
                &[("cookie", pat_jar.as_str())],
                None,
            )
            .await;
        assert_401(&r, "a personal token in the cookie");
        // Logout ends the session and clears the cookie.
        let (st, _, headers) = s
            .call(Method::POST, "/api/v1/auth/logout", Some(&cookie), None)
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{backend:?}");
        assert!(
            headers["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let r = send(Method::GET, "/api/v1/me", with_cookie(None)).await;
        assert_401(&r, "the cookie of a logged-out session");
        // Behind a TLS proxy the cookie is Secure.
        let r = s
            .raw(
                Method::POST,
                "/api/v1/auth/login",
                None,
                &[("x-forwarded-proto", "https")],
                Some((
                    "application/json",
                    serde_json::to_vec(&json!({"username": "alice", "password": FAST_PASSWORD}))
                        .unwrap(),
                )),
            )
            .await;
        assert!(
            r.header("set-cookie")
                .is_some_and(|c| c.contains("; Secure"))
        );
    }
}

/// Logs in from a given client address, as a proxy would forward it.
async fn login_via(s: &TestServer, forwarded: &str, username: &str, password: &str) -> StatusCode {
    s.http
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Fifty failed logins with random usernames from one address spend that
/// address's budget: its further failures are 429, but a correct password
/// for a username that is not itself locked still signs in (the admin is
/// not locked out by a stranger's guessing behind the same address).
#[tokio::test]
async fn guessing_from_one_address_locks_nobody_else_out() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        for i in 0..49 {
            let (st, _, _) = s
                .login_in(None, &format!("nobody-{i}"), "guess-password")
                .await;
            assert_eq!(st, UNAUTHORIZED, "{backend:?} attempt {i}");
        }
        // The fiftieth failure spends the budget, and so do the ones after.
        for name in ["nobody-49", "nobody-else"] {
            let (st, _, _) = s.login_in(None, name, "guess-password").await;
            assert_eq!(
                st,
                StatusCode::TOO_MANY_REQUESTS,
                "{backend:?}: the address is spent"
            );
        }
        let (st, body, _) = s
            .login_in(None, "admin", crate::harness::ADMIN_PASSWORD)
            .await;
        assert_eq!(
            st,
            StatusCode::OK,
            "{backend:?}: the admin still signs in: {body}"
        );
    }
}

/// Behind a trusted proxy each client has its own address budget; without
/// trusting it, X-Forwarded-For is a client's claim and is ignored.
#[tokio::test]
async fn the_client_address_comes_from_trusted_proxies_only() {
    let trusting = TestServer::start_with(
        crate::harness::Backend::Sqlite,
        crate::harness::Options {
            trusted_proxies: orgscope_server::client::Network::parse_list("127.0.0.1/32").unwrap(),
            ..Default::default()
        },
    )
    .await;
    for i in 0..60 {
        let st = login_via(
            &trusting,
            &format!("198.51.100.{i}"),
            &format!("nobody-{i}"),
            "guess",
        )
        .await;
        assert_eq!(st, UNAUTHORIZED, "client {i} has its own budget");
    }
    // One client behind the proxy spends its own budget only.
    for i in 0..50 {
        login_via(&trusting, "203.0.113.9", &format!("x-{i}"), "guess").await;
    }
    assert_eq!(
        login_via(&trusting, "203.0.113.9", "x-last", "guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_via(&trusting, "203.0.113.10", "x-last", "guess").await,
        UNAUTHORIZED
    );
    // Not trusted: every request is the peer's, whatever it claims.
    let plain = TestServer::start(crate::harness::Backend::Sqlite).await;
    for i in 0..50 {
        login_via(
            &plain,
            &format!("198.51.100.{i}"),
            &format!("nobody-{i}"),
            "guess",
        )
        .await;
    }
    assert_eq!(
        login_via(&plain, "192.0.2.1", "fresh", "guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

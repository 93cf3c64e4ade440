//! Lifecycle through HTTP: members leaving, orgs deleted with a disposition
//! (all or nothing), users disabled and deleted, the audit log's filters.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::harness::{Backend, TestServer, backends};

#[tokio::test]
async fn a_member_who_leaves_loses_the_org_and_their_assignments_at_once() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (st, _) = s
            .patch(
                &alice,
                "/api/v1/users/alice",
                json!({"default_org": "alpha"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let persona = s
            .create(
                &s.admin,
                "personas",
                json!({"name": "p", "org": "alpha", "instructions": "x"}),
            )
            .await;
        let pid = persona["id"].as_str().unwrap();
        let (st, _, _) = s
            .call(
                Method::PUT,
                &format!("/api/v1/personas/{pid}/assignments"),
                Some(&s.admin),
                Some(json!({"users": ["alice"]})),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let cred = s
            .create(&alice, "credentials", json!({"name": "c", "secret": "x"}))
            .await;
        let (st, removed) = s.delete(&s.admin, "/api/v1/orgs/alpha/members/alice").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(removed["default_org_cleared"], true);
        assert_eq!(removed["persona_assignments_pruned"], json!([pid]));
        let (st, _) = s
            .get(
                &alice,
                &format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "{backend:?}: in force on the next request"
        );
        let (_, me) = s.get(&alice, "/api/v1/me").await;
        assert_eq!(me["default_org"], Value::Null);
        let (_, log) = s.get(&s.admin, "/api/v1/audit?action=member.remove").await;
        assert_eq!(
            log["items"][0]["after"]["persona_assignments_pruned"],
            json!([pid])
        );
    }
}

#[tokio::test]
async fn deleting_an_org_needs_a_disposition_and_is_all_or_nothing() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("beta").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        s.fast_user("bob", "user", &[("beta", false)]).await;
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/orgs",
                json!({"slug": "alpha-kid", "name": "kid", "parent": "alpha"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        s.create(&alice, "plugins", json!({"name": "p", "org": "alpha"}))
            .await;
        s.create(
            &s.admin,
            "hosts",
            json!({"name": "h", "org": "alpha", "address": "x"}),
        )
        .await;
        let persona = s
            .create(
                &s.admin,
                "personas",
                json!({"name": "p", "org": "alpha", "instructions": "x"}),
            )
            .await;
        let pid = persona["id"].as_str().unwrap().to_owned();
        let (_, alpha_key) = s.org_key(&s.admin, "alpha", "read_write").await;
        s.call(
            Method::PUT,
            &format!("/api/v1/personas/{pid}/assignments"),
            Some(&s.admin),
            Some(json!({"users": ["alice"]})),
        )
        .await;
        // Refused while it owns things, with counts per kind.
        let (st, body) = s.delete(&s.admin, "/api/v1/orgs/alpha").await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert_eq!(body["blocking"]["plugin"], 1);
        assert_eq!(body["blocking"]["host"], 1);
        // Tenant-wide is refused while an org-required kind would have to follow.
        let del = |body: Value| {
            s.call(
                Method::DELETE,
                "/api/v1/orgs/alpha",
                Some(&s.admin),
                Some(body),
            )
        };
        let (st, body, _) = del(json!({"move_to": null})).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("host"));
        // The preview names what happens; nothing changes.
        let (st, preview, _) = del(json!({"move_to": "beta", "preview": true})).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            preview["impact"]["children_losing_their_parent"],
            json!(["alpha-kid"])
        );
        assert_eq!(
            preview["impact"]["persona_assignments_pruned"][0]["user"],
            "alice"
        );
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/plugins?org=alpha")
                .await
                .len(),
            1
        );
        // A failure half-way leaves everything as it was.
        inject_failure(&s, true).await;
        let (st, _, _) = del(json!({"move_to": "beta"})).await;
        assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}");
        inject_failure(&s, false).await;
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/plugins?org=alpha")
                .await
                .len(),
            1,
            "{backend:?}: nothing moved"
        );
        let (_, kid) = s.get(&s.admin, "/api/v1/orgs/alpha-kid").await;
        assert!(
            kid["parent"].is_string(),
            "{backend:?}: the child kept its parent"
        );
        let (_, assigned) = s
            .get(&s.admin, &format!("/api/v1/personas/{pid}/assignments"))
            .await;
        assert_eq!(assigned["users"].as_array().unwrap().len(), 1);
        assert_eq!(
            s.get(&alpha_key, "/api/v1/me").await.0,
            StatusCode::OK,
            "the failed deletion kept the key"
        );
        // Now for real: everything moves to beta, in one go; alpha's keys end
        // with it (moved, they would act in beta).
        let (st, _, _) = del(json!({"move_to": "beta"})).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert_eq!(
            s.get(&alpha_key, "/api/v1/me").await.0,
            StatusCode::UNAUTHORIZED
        );
        assert!(
            s.list_all(&s.admin, "/api/v1/api-keys?org=beta")
                .await
                .is_empty()
        );
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/plugins?org=beta").await.len(),
            1
        );
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/hosts?org=beta").await.len(),
            1
        );
        let (st, _) = s.get(&s.admin, "/api/v1/orgs/alpha").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (_, kid) = s.get(&s.admin, "/api/v1/orgs/alpha-kid").await;
        assert_eq!(kid["parent"], Value::Null);
        let (_, assigned) = s
            .get(&s.admin, &format!("/api/v1/personas/{pid}/assignments"))
            .await;
        assert_eq!(assigned["users"], json!([]), "alice is not in beta");
        // delete_resources removes them.
        s.create(
            &s.admin,
            "hosts",
            json!({"name": "h2", "org": "alpha-kid", "address": "y"}),
        )
        .await;
        let (st, _, _) = s
            .call(
                Method::DELETE,
                "/api/v1/orgs/alpha-kid",
                Some(&s.admin),
                Some(json!({"delete_resources": true})),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert_eq!(s.list_all(&s.admin, "/api/v1/hosts").await.len(), 1);
    }
}

/// Makes (or stops making) every org deletion fail inside the database.
async fn inject_failure(s: &TestServer, on: bool) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url).await.unwrap();
    let statements: &[&str] = match (s.backend, on) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER test_fail BEFORE DELETE ON orgs BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER test_fail"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION test_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER test_fail BEFORE DELETE ON orgs FOR EACH ROW EXECUTE FUNCTION test_fail()",
        ],
        (Backend::Postgres, false) => &[
            "DROP TRIGGER test_fail ON orgs",
            "DROP FUNCTION test_fail()",
        ],
    };
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn disabling_stops_everything_a_user_holds_and_deleting_keeps_their_work() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/users",
                json!({"username": "carl", "password": "carl-password", "role": "user"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        s.post(
            &s.admin,
            "/api/v1/orgs/alpha/members",
            json!({"user": "carl"}),
        )
        .await;
        let session = s.login("carl", "carl-password").await;
        let (_, token) = s
            .post(&session, "/api/v1/me/tokens", json!({"name": "ci"}))
            .await;
        let token = token["token"].as_str().unwrap().to_owned();
        let (_, key) = s.org_key(&session, "alpha", "read").await;
        let made = s
            .create(
                &session,
                "plugins",
                json!({"name": "carl's", "org": "alpha"}),
            )
            .await;
        let (st, out) = s
            .patch(&s.admin, "/api/v1/users/carl", json!({"disabled": true}))
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(out["keys_revoked"].as_array().unwrap().len(), 1);
        for t in [&session, &token, &key] {
            assert_eq!(
                s.get(t, "/api/v1/me").await.0,
                StatusCode::UNAUTHORIZED,
                "{backend:?}"
            );
        }
        let (st, _, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "carl", "password": "carl-password"})),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        s.patch(&s.admin, "/api/v1/users/carl", json!({"disabled": false}))
            .await;
        let again = s.login("carl", "carl-password").await;
        assert_eq!(s.get(&again, "/api/v1/me").await.0, StatusCode::OK);
        for t in [&session, &token, &key] {
            assert_eq!(
                s.get(t, "/api/v1/me").await.0,
                StatusCode::UNAUTHORIZED,
                "revoked for good"
            );
        }
        // Deleted: gone, what they made stays.
        let (st, gone) = s.delete(&s.admin, "/api/v1/users/carl").await;
        assert_eq!(st, StatusCode::OK, "{gone}");
        assert_eq!(
            s.get(&again, "/api/v1/me").await.0,
            StatusCode::UNAUTHORIZED
        );
        let (st, kept) = s
            .get(
                &s.admin,
                &format!("/api/v1/plugins/{}", made["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(kept["created_by"], made["created_by"]);
        let (st, _) = s.get(&s.admin, "/api/v1/users/carl").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = s.delete(&s.admin, "/api/v1/users/admin").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "not yourself");
    }
}

#[tokio::test]
async fn the_audit_log_filters_by_org_actor_kind_action_and_time() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("beta").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", true)]).await;
        s.create(&alice, "plugins", json!({"name": "a", "org": "alpha"}))
            .await;
        s.create(&s.admin, "plugins", json!({"name": "b", "org": "beta"}))
            .await;
        let by_alice = s.list_all(&s.admin, "/api/v1/audit?actor=alice").await;
        assert!(
            !by_alice.is_empty() && by_alice.iter().all(|e| e["actor"] == "alice"),
            "{backend:?}"
        );
        let beta = s
            .list_all(&s.admin, "/api/v1/audit?org=beta&kind=plugin")
            .await;
        assert_eq!(beta.len(), 1);
        assert_eq!(beta[0]["action"], "plugin.create");
        assert!(
            s.list_all(&s.admin, "/api/v1/audit?action=org.create")
                .await
                .iter()
                .all(|e| e["action"] == "org.create")
        );
        assert!(
            s.list_all(&s.admin, "/api/v1/audit?until=2000-01-01T00:00:00Z")
                .await
                .is_empty()
        );
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/audit?since=2000-01-01T00:00:00Z")
                .await
                .len(),
            s.list_all(&s.admin, "/api/v1/audit").await.len()
        );
        // A manager of alpha reads alpha's entries only, and cannot name beta.
        let mine = s.list_all(&alice, "/api/v1/audit").await;
        assert!(!mine.is_empty() && mine.iter().all(|e| e["org"] != Value::Null));
        assert_eq!(
            s.get(&alice, "/api/v1/audit?org=beta").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.get(&s.admin, "/api/v1/audit?since=yesterday").await.0,
            StatusCode::BAD_REQUEST
        );
    }
}

#[tokio::test]
async fn renaming_moving_and_reslugging_an_org() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("beta").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", true)]).await;
        // A manager renames and sets the domain; slug and parent are the admin's.
        let (st, _) = s
            .patch(
                &alice,
                "/api/v1/orgs/alpha",
                json!({"name": "Alpha Team", "domain": "alpha.example.com"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s
            .patch(&alice, "/api/v1/orgs/alpha", json!({"slug": "alpha-two"}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, moved) = s
            .patch(
                &s.admin,
                "/api/v1/orgs/alpha",
                json!({"slug": "alpha-two", "parent": "beta"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{moved}");
        // Old links answer 404, not some other org's data; the new slug works.
        assert_eq!(
            s.get(&alice, "/api/v1/orgs/alpha").await.0,
            StatusCode::NOT_FOUND,
            "{backend:?}"
        );
        let (st, org) = s.get(&alice, "/api/v1/orgs/alpha-two").await;
        assert_eq!(
            (st, org["name"].as_str()),
            (StatusCode::OK, Some("Alpha Team"))
        );
        // No cycles: beta cannot go under its own child.
        let (st, _) = s
            .patch(
                &s.admin,
                "/api/v1/orgs/beta",
                json!({"parent": "alpha-two"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _) = s
            .patch(&s.admin, "/api/v1/orgs/alpha-two", json!({"parent": null}))
            .await;
        assert_eq!(st, StatusCode::OK);
    }
}

#[tokio::test]
async fn deleting_an_org_deletes_resources_that_refer_to_each_other() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("ops").await;
        let agent = s
            .create(&s.admin, "agents", json!({"name": "a", "org": "ops"}))
            .await;
        let host = s
            .create(
                &s.admin,
                "hosts",
                json!({"name": "h", "org": "ops", "address": "10.0.0.1"}),
            )
            .await;
        s.create(
            &s.admin,
            "tasks",
            json!({"name": "t", "org": "ops", "agent": agent["id"], "host": host["id"], "command": "echo hi"}),
        )
        .await;
        let (st, body, _) = s
            .call(
                Method::DELETE,
                "/api/v1/orgs/ops",
                Some(&s.admin),
                Some(json!({"delete_resources": true})),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{backend:?}: {body}");
        for kind in ["agents", "hosts", "tasks"] {
            assert!(
                s.list_all(&s.admin, &format!("/api/v1/{kind}"))
                    .await
                    .is_empty()
            );
        }
    }
}

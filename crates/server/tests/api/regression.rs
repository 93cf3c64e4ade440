//! Regressions found by black-box testing (issue 14), one test per hole,
//! each with a line saying what it guards. The classes they belong to are
//! covered wider by the model-based isolation test, the policy table and
//! the gateway tests (docs/SECURITY.md lists which).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{FAST_PASSWORD, Options, TestServer, backends, enc};

/// A plain user's `read` key revealed a tenant-wide credential its maker may
/// not reveal; a key now never has a right its maker lacks.
#[tokio::test]
async fn a_key_never_reveals_what_its_maker_may_not() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("eng").await;
        let (_, alice) = s.fast_user("alice", "user", &[("eng", false)]).await;
        let shared = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "shared", "org": null, "secret": "tw-secret"}),
            )
            .await;
        let own = s
            .create(
                &alice,
                "credentials",
                json!({"name": "own", "org": "eng", "secret": "eng-secret"}),
            )
            .await;
        // An eng agent lists both: they are what eng's keys are for.
        s.create(
            &s.admin,
            "agents",
            json!({"name": "bot", "org": "eng", "credentials": [shared["id"], own["id"]]}),
        )
        .await;
        let reveal = |id: &Value| format!("/api/v1/credentials/{}/reveal", id.as_str().unwrap());
        // alice may not reveal the tenant-wide one herself...
        assert_eq!(
            s.post(&alice, &reveal(&shared["id"]), json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        // ...so neither key of hers may; a read key never reveals at all.
        let (_, read) = s.org_key(&alice, "eng", "read").await;
        let (_, rw) = s.org_key(&alice, "eng", "read_write").await;
        for key in [&read, &rw] {
            assert_eq!(
                s.post(key, &reveal(&shared["id"]), json!({})).await.0,
                StatusCode::FORBIDDEN,
                "{backend:?}"
            );
        }
        assert_eq!(
            s.post(&read, &reveal(&own["id"]), json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        let (st, body) = s.post(&rw, &reveal(&own["id"]), json!({})).await;
        assert_eq!(
            (st, body["secret"].as_str()),
            (StatusCode::OK, Some("eng-secret"))
        );
        // The admin's key reveals the tenant-wide one an eng agent lists.
        let (_, admin_rw) = s.org_key(&s.admin, "eng", "read_write").await;
        assert_eq!(
            s.post(&admin_rw, &reveal(&shared["id"]), json!({})).await.0,
            StatusCode::OK
        );
        // A credential no eng agent lists is no eng key's business.
        let lone = s
            .create(
                &alice,
                "credentials",
                json!({"name": "lone", "org": "eng", "secret": "x"}),
            )
            .await;
        assert_eq!(
            s.post(&rw, &reveal(&lone["id"]), json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        // Her keys go inert when she leaves eng, and work again when back.
        s.delete(&s.admin, "/api/v1/orgs/eng/members/alice").await;
        assert_eq!(
            s.get(&rw, "/api/v1/me").await.0,
            StatusCode::UNAUTHORIZED,
            "{backend:?}"
        );
        s.post(
            &s.admin,
            "/api/v1/orgs/eng/members",
            json!({"user": "alice"}),
        )
        .await;
        assert_eq!(
            s.get(&rw, "/api/v1/me").await.0,
            StatusCode::OK,
            "{backend:?}"
        );
    }
}

/// An assignment list pruned to empty opened the persona to the whole org;
/// others could post into a user's session; a moved persona spoke into old
/// sessions with its new instructions.
#[tokio::test]
async fn personas_stay_restricted_sessions_are_their_owners_and_keep_their_instructions() {
    for backend in backends() {
        let (url, received) = crate::chat::model_server().await;
        let llm = orgscope_server::llm::Llm::new(&url, "m", None);
        let s = TestServer::start_with(
            backend,
            Options {
                llm: Some(llm),
                ..Options::default()
            },
        )
        .await;
        s.org("eng").await;
        s.org("ops").await;
        let (_, alice) = s.fast_user("alice", "user", &[("eng", false)]).await;
        let (_, bob) = s.fast_user("bob", "user", &[("eng", false)]).await;
        let persona = s
            .create(
                &s.admin,
                "personas",
                json!({"name": "p", "org": "eng", "instructions": "Be brief."}),
            )
            .await;
        let pid = persona["id"].as_str().unwrap().to_owned();
        let assign = format!("/api/v1/personas/{pid}/assignments");
        let (st, body, _) = s
            .call(
                Method::PUT,
                &assign,
                Some(&s.admin),
                Some(json!({"users": ["alice"]})),
            )
            .await;
        assert_eq!(
            (st, body["restricted"].as_bool()),
            (StatusCode::OK, Some(true))
        );
        let (_, session) = s
            .post(&alice, "/api/v1/sessions", json!({"persona": pid}))
            .await;
        let sid = session["id"].as_str().unwrap().to_owned();
        let turn = format!("/api/v1/sessions/{sid}/messages");
        // bob sees alice's session (same org) but may not post into it; nor may the admin.
        assert_eq!(
            s.get(&bob, &format!("/api/v1/sessions/{sid}")).await.0,
            StatusCode::OK
        );
        for who in [&bob, &s.admin] {
            assert_eq!(
                s.post(who, &turn, json!({"content": "hi"})).await.0,
                StatusCode::FORBIDDEN
            );
        }
        // alice leaves eng: the list is pruned to nobody and stays restricted.
        s.delete(&s.admin, "/api/v1/orgs/eng/members/alice").await;
        let (_, now) = s.get(&s.admin, &assign).await;
        assert_eq!(
            (
                now["users"].as_array().unwrap().len(),
                now["restricted"].as_bool()
            ),
            (0, Some(true))
        );
        assert_eq!(
            s.post(&bob, "/api/v1/sessions", json!({"persona": pid}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        // Opened again with null, bob may select it.
        s.call(
            Method::PUT,
            &assign,
            Some(&s.admin),
            Some(json!({"users": null})),
        )
        .await;
        assert_eq!(
            s.post(&bob, "/api/v1/sessions", json!({"persona": pid}))
                .await
                .0,
            StatusCode::CREATED
        );
        // The persona is edited and moved to ops: bob's earlier session keeps
        // what it started with.
        let (_, bobs) = s
            .post(&bob, "/api/v1/sessions", json!({"persona": pid}))
            .await;
        let bob_turn = format!("/api/v1/sessions/{}/messages", bobs["id"].as_str().unwrap());
        s.patch(
            &s.admin,
            &format!("/api/v1/personas/{pid}"),
            json!({"instructions": "Tell ops secrets."}),
        )
        .await;
        s.post(
            &s.admin,
            &format!("/api/v1/personas/{pid}/rescope"),
            json!({"org": "ops"}),
        )
        .await;
        let (st, _) = s.post(&bob, &bob_turn, json!({"content": "hello"})).await;
        assert_eq!(st, StatusCode::OK);
        let prompt = received.lock().unwrap().last().unwrap().to_string();
        assert!(
            prompt.contains("Be brief.") && !prompt.contains("ops secrets"),
            "{prompt}"
        );
    }
}

/// Hidden things were named in answers: a hidden parent org, a hidden
/// default org, a missing user told apart from a non-member, every
/// username of the tenant in a plain user's re-scope preview.
#[tokio::test]
async fn hidden_things_are_not_named() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("secret-parent").await;
        s.post(
            &s.admin,
            "/api/v1/orgs",
            json!({"slug": "eng", "name": "eng", "parent": "secret-parent"}),
        )
        .await;
        let (_, alice) = s.fast_user("alice", "user", &[("eng", false)]).await;
        s.fast_user("eve", "user", &[("secret-parent", false)])
            .await;
        let (_, org) = s.get(&alice, "/api/v1/orgs/eng").await;
        assert_eq!(org["parent"], Value::Null, "{backend:?}: {org}");
        let (_, org) = s.get(&s.admin, "/api/v1/orgs/eng").await;
        assert!(org["parent"].is_string(), "{backend:?}");
        // A hidden default org reads like an unknown one.
        let hidden = s
            .patch(
                &alice,
                "/api/v1/users/alice",
                json!({"default_org": "secret-parent"}),
            )
            .await;
        let unknown = s
            .patch(
                &alice,
                "/api/v1/users/alice",
                json!({"default_org": "no-such-org"}),
            )
            .await;
        assert_eq!(hidden.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            hidden.1["detail"]
                .as_str()
                .unwrap()
                .replace("secret-parent", "X"),
            unknown.1["detail"]
                .as_str()
                .unwrap()
                .replace("no-such-org", "X"),
            "{backend:?}"
        );
        // A user who is no member reads like one who does not exist.
        let eve = s.get(&alice, "/api/v1/orgs/eng/members/eve").await;
        let nobody = s.get(&alice, "/api/v1/orgs/eng/members/nobody").await;
        assert_eq!(
            (eve.0, nobody.0),
            (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
        );
        assert_eq!(
            eve.1["detail"].as_str().unwrap().replace("eve", "X"),
            nobody.1["detail"].as_str().unwrap().replace("nobody", "X")
        );
        // alice's preview of a move to tenant-wide names only whom she may
        // list (herself and eng's members), and counts the others.
        let file = s
            .raw(
                Method::POST,
                "/api/v1/files?name=a.txt&org=eng",
                Some(&alice),
                &[],
                Some(("text/plain", b"a".to_vec())),
            )
            .await
            .json();
        let (st, preview) = s
            .post(
                &alice,
                &format!("/api/v1/files/{}/rescope", file["id"].as_str().unwrap()),
                json!({"org": null, "preview": true}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{preview}");
        let gaining = &preview["impact"]["users_gaining_access"];
        assert_eq!(gaining, &json!([]), "{backend:?}: {preview}");
        assert_eq!(
            preview["impact"]["users_gaining_access_count"], 1,
            "eve, counted"
        );
    }
}

/// Knowledge entry, chat message and audit ids were server-wide sequence
/// numbers any tenant could watch grow.
#[tokio::test]
async fn public_ids_are_opaque() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let opaque = |id: &Value, prefix: &str| {
            let id = id.as_str().unwrap_or_default();
            id.strip_prefix(prefix)
                .is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()))
        };
        s.raw(
            Method::POST,
            "/api/v1/files?name=a.txt&org=default",
            Some(&s.admin),
            &[],
            Some(("text/plain", b"opaque words here".to_vec())),
        )
        .await;
        let entries = crate::harness::wait_for_knowledge(&s, &s.admin, "opaque").await;
        assert!(opaque(&entries[0]["id"], "ke_"), "{backend:?}: {entries:?}");
        // Their cursors are the opaque ids too: every page follows.
        s.raw(
            Method::POST,
            "/api/v1/files?name=b.txt&org=default",
            Some(&s.admin),
            &[],
            Some(("text/plain", b"second opaque file".to_vec())),
        )
        .await;
        crate::harness::wait_for_knowledge(&s, &s.admin, "second").await;
        let all = s.list_all(&s.admin, "/api/v1/knowledge?limit=1").await;
        assert_eq!(all.len(), 2, "{backend:?}: {all:?}");
        let persona = s
            .create(
                &s.admin,
                "personas",
                json!({"name": "p", "org": "default", "instructions": "x"}),
            )
            .await;
        let (_, session) = s
            .post(
                &s.admin,
                "/api/v1/sessions",
                json!({"persona": persona["id"]}),
            )
            .await;
        let (_, answer) = s
            .post(
                &s.admin,
                &format!(
                    "/api/v1/sessions/{}/messages",
                    session["id"].as_str().unwrap()
                ),
                json!({"content": "opaque"}),
            )
            .await;
        assert!(opaque(&answer["id"], "msg_"), "{backend:?}: {answer}");
        let history = s
            .list_all(
                &s.admin,
                &format!(
                    "/api/v1/sessions/{}/messages?limit=1",
                    session["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(history.len(), 2, "{backend:?}: the question and its answer");
        assert!(opaque(&answer["citations"][0]["entry"], "ke_"), "{answer}");
        let (_, log) = s.get(&s.admin, "/api/v1/audit?limit=1").await;
        assert!(opaque(&log["items"][0]["id"], "aud_"), "{log}");
        assert!(log["items"][0].get("seq").is_none());
    }
}

/// A tenant user named like a superuser shadowed them at login without a
/// tenant; with several tenants such a login must ask for the tenant.
#[tokio::test]
async fn superusers_are_never_shadowed_at_login() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let root = s.superuser().await;
        // A tenant admin makes a user named root, with another password.
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/users",
                json!({"username": "root", "password": "tenant-root-pw", "role": "user"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let (st, login, _) = s.login_in(None, "root", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "the superuser still signs in: {login}");
        let (_, me) = s.get(login["token"].as_str().unwrap(), "/api/v1/me").await;
        assert_eq!(me["role"], "superuser");
        let (st, login, _) = s.login_in(None, "root", "tenant-root-pw").await;
        assert_eq!(st, StatusCode::OK, "the tenant's root too: {login}");
        let (_, me) = s.get(login["token"].as_str().unwrap(), "/api/v1/me").await;
        assert_eq!(me["role"], "user");
        // Two tenants: a tenant user must name theirs.
        s.other_tenant(&root, "second").await;
        let (st, body, _) = s
            .login_in(None, "admin", crate::harness::ADMIN_PASSWORD)
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("tenant"),
            "{body}"
        );
        let (st, _, _) = s.login_in(None, "root", FAST_PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "superusers need no tenant");
        let (st, _, _) = s
            .login_in(Some("default"), "admin", crate::harness::ADMIN_PASSWORD)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
}

/// A personal token minted personal tokens that outlived its revocation; a
/// password changed without the current one, leaving other sessions alive.
#[tokio::test]
async fn tokens_come_from_password_sessions_and_passwords_need_the_current_one() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.post(
            &s.admin,
            "/api/v1/users",
            json!({"username": "alice", "password": "alice-password-1", "role": "user"}),
        )
        .await;
        let first = s.login("alice", "alice-password-1").await;
        let second = s.login("alice", "alice-password-1").await;
        let (st, token) = s
            .post(&first, "/api/v1/me/tokens", json!({"name": "ci"}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let token = token["token"].as_str().unwrap().to_owned();
        assert_eq!(
            s.post(&token, "/api/v1/me/tokens", json!({"name": "child"}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        let change = |current: Option<&str>| {
            let mut body = json!({"password": "alice-password-2"});
            if let Some(c) = current {
                body["current_password"] = json!(c);
            }
            body
        };
        assert_eq!(
            s.patch(&first, "/api/v1/users/alice", change(None)).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            s.patch(&first, "/api/v1/users/alice", change(Some("wrong-guess")))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.patch(
                &first,
                "/api/v1/users/alice",
                change(Some("alice-password-1"))
            )
            .await
            .0,
            StatusCode::OK
        );
        // The session that changed it goes on; the other ends at once.
        assert_eq!(s.get(&first, "/api/v1/me").await.0, StatusCode::OK);
        assert_eq!(
            s.get(&second, "/api/v1/me").await.0,
            StatusCode::UNAUTHORIZED
        );
        s.login("alice", "alice-password-2").await;
    }
}

/// NUL bytes gave 500s on PostgreSQL (the unauthenticated webhook too) and
/// left a text file `running` forever.
#[tokio::test]
async fn nul_is_refused_in_every_text_and_stripped_from_extracted_text() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        for (method, path, body) in [
            (Method::GET, "/api/v1/orgs/x%00y".to_owned(), None),
            (Method::GET, "/api/v1/agents?org=%00".to_owned(), None),
            (
                Method::POST,
                "/api/v1/orgs".to_owned(),
                Some(json!({"slug": "a\u{0}b", "name": "x"})),
            ),
            (
                Method::POST,
                "/api/v1/agents".to_owned(),
                Some(json!({"name": "ok", "org": "default", "plugins": ["p\u{0}"]})),
            ),
            (
                Method::POST,
                "/api/v1/auth/login".to_owned(),
                Some(json!({"username": "admin\u{0}", "password": "x"})),
            ),
            (
                Method::POST,
                "/hooks/gateways/gw%00".to_owned(),
                Some(json!({"command": "x"})),
            ),
        ] {
            let (st, problem, _) = s.call(method.clone(), &path, Some(&s.admin), body).await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend:?} {method} {path}: {problem}"
            );
            assert!(
                problem["detail"].as_str().unwrap().contains("NUL"),
                "{problem}"
            );
        }
        // A text file with NUL in it is extracted (NUL as a space), not stuck.
        let file = s
            .raw(
                Method::POST,
                &format!("/api/v1/files?name={}&org=default", enc("nul.txt")),
                Some(&s.admin),
                &[],
                Some(("text/plain", b"before\0after nulword".to_vec())),
            )
            .await
            .json();
        let entries = crate::harness::wait_for_knowledge(&s, &s.admin, "nulword").await;
        assert_eq!(entries[0]["file"]["id"], file["id"], "{backend:?}");
        let (_, f) = s
            .get(
                &s.admin,
                &format!("/api/v1/files/{}", file["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(f["extraction"]["state"], "done", "{backend:?}: {f}");
    }
}

/// A task queued before a blacklist was handed out by claim; a job whose
/// command a blacklist refuses was created.
#[tokio::test]
async fn blacklists_judge_jobs_when_written_and_tasks_when_claimed() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let agent = s
            .create(&s.admin, "agents", json!({"name": "a", "org": "default"}))
            .await;
        let host = s
            .create(
                &s.admin,
                "hosts",
                json!({"name": "h", "org": "default", "address": "10.0.0.1"}),
            )
            .await;
        let task = s
            .create(&s.admin, "tasks", json!({"name": "t", "org": "default", "agent": agent["id"], "host": host["id"], "command": "psql -c 'drop   Database prod'"}))
            .await;
        s.create(
            &s.admin,
            "blacklists",
            json!({"name": "no drops", "org": null, "patterns": ["DROP DATABASE"]}),
        )
        .await;
        let (st, body) = s
            .post(&s.admin, "/api/v1/jobs", json!({"name": "j", "org": "default", "agent": agent["id"], "host": host["id"], "command": "DROP\tdatabase x", "schedule": "0 * * * *"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("no drops"),
            "{body}"
        );
        let (_, key) = s.org_key(&s.admin, "default", "read_write").await;
        let (st, _) = s
            .post(&key, "/api/v1/tasks/claim", json!({"agent": agent["id"]}))
            .await;
        assert_eq!(
            st,
            StatusCode::NO_CONTENT,
            "{backend:?}: the only task is refused"
        );
        let (_, t) = s
            .get(
                &s.admin,
                &format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(t["status"], "refused", "{backend:?}: {t}");
        assert!(
            t["output"]
                .as_str()
                .unwrap_or_default()
                .contains("no drops"),
            "{t}"
        );
        let (_, log) = s.get(&s.admin, "/api/v1/audit?action=task.refused").await;
        assert_eq!(
            log["items"].as_array().unwrap().len(),
            1,
            "{backend:?}: {log}"
        );
    }
}

//! Re-scoping (DESIGN section 3): a preview that changes nothing and names who
//! loses and who gains access; the move itself, in force on the next request;
//! and who may place what where.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, backends, ids};

fn names(v: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn preview_then_move() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let a = s.org("alpha").await;
        let b = s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, bob) = s.fast_user("bob", "user", &[("bravo", false)]).await;
        let (_, carol) = s
            .fast_user("carol", "user", &[("alpha", false), ("bravo", false)])
            .await;
        let (_, dave) = s.fast_user("dave", "user", &[]).await;
        let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
        s.fast_user("ann", "user", &[("alpha", true)]).await;
        s.fast_user("ben", "user", &[("bravo", true)]).await;
        // A disabled member of B gains nothing: they cannot read at all.
        s.fast_user("zed", "user", &[("bravo", false)]).await;
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/users/zed",
            Some(json!({"disabled": true})),
            StatusCode::OK,
        )
        .await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "db", "secret": "s", "org": "alpha"}),
            )
            .await;
        let id = cred["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/credentials/{id}");
        let audit_before = s.list_all(&s.admin, "/api/v1/audit").await;

        let preview = s
            .expect(
                &s.admin,
                Method::POST,
                &format!("{path}/rescope"),
                Some(json!({"org": "bravo", "preview": true})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(preview["preview"], true, "{backend:?}: {preview}");
        let impact = &preview["impact"];
        assert_eq!(impact["from"]["slug"], "alpha", "{backend:?}: {impact}");
        assert_eq!(impact["from"]["id"], a.as_str(), "{backend:?}");
        assert_eq!(impact["to"]["slug"], "bravo", "{backend:?}: {impact}");
        assert_eq!(impact["to"]["id"], b.as_str(), "{backend:?}");
        assert_eq!(
            names(&impact["users_losing_access"]),
            ["alice", "ann"],
            "{backend:?}: {impact}"
        );
        assert_eq!(
            names(&impact["users_gaining_access"]),
            ["ben", "bob"],
            "{backend:?}: {impact}"
        );
        assert_eq!(impact["blocking_references"], json!([]), "{backend:?}");
        assert!(
            preview.get("resource").is_none_or(Value::is_null),
            "{backend:?}"
        );

        // The preview changed nothing, and logged nothing.
        let (_, got) = s.get(&s.admin, &path).await;
        assert_eq!(got["org"]["slug"], "alpha", "{backend:?}: {got}");
        assert_eq!(got["updated_at"], cred["updated_at"], "{backend:?}");
        s.expect(&alice, Method::GET, &path, None, StatusCode::OK)
            .await;
        s.expect(&bob, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/audit").await,
            audit_before,
            "{backend:?}"
        );

        // The move, by id this time.
        let moved = s
            .expect(
                &s.admin,
                Method::POST,
                &format!("{path}/rescope"),
                Some(json!({"org": b})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(moved["preview"], false, "{backend:?}: {moved}");
        assert_eq!(moved["resource"]["id"], id.as_str(), "{backend:?}");
        assert_eq!(moved["resource"]["org"]["slug"], "bravo", "{backend:?}");
        assert_eq!(
            moved["impact"], preview["impact"],
            "{backend:?}: the move did what the preview said"
        );
        // In force on the very next request, for every reader.
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
        for (who, token) in [
            ("bob", &bob),
            ("carol", &carol),
            ("auditor", &auditor),
            ("admin", &s.admin),
        ] {
            let got = s
                .expect(token, Method::GET, &path, None, StatusCode::OK)
                .await
                .json();
            assert_eq!(got["org"]["slug"], "bravo", "{backend:?} {who}");
        }
        s.expect(&dave, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
        assert!(
            ids(&s.get(&alice, "/api/v1/credentials").await.1).is_empty(),
            "{backend:?}"
        );
        assert_eq!(
            ids(&s.get(&bob, "/api/v1/credentials").await.1),
            vec![id.clone()],
            "{backend:?}"
        );
        assert!(
            ids(&s.get(&s.admin, "/api/v1/credentials?org=alpha").await.1).is_empty(),
            "{backend:?}"
        );
        assert_eq!(
            ids(&s.get(&s.admin, "/api/v1/credentials?org=bravo").await.1),
            vec![id.clone()],
            "{backend:?}"
        );
        // A member of B now writes it.
        s.expect(
            &bob,
            Method::PATCH,
            &path,
            Some(json!({"description": "moved"})),
            StatusCode::OK,
        )
        .await;
        // And the log has it.
        let log = s.list_all(&s.admin, "/api/v1/audit").await;
        let e = log
            .iter()
            .find(|e| e["action"] == "credential.rescope" && e["target"] == id.as_str())
            .unwrap_or_else(|| panic!("{backend:?}: no credential.rescope entry"));
        assert_eq!(e["before"]["org"]["slug"], "alpha", "{backend:?}: {e}");
        assert_eq!(
            e["after"]["resource"]["org"]["slug"], "bravo",
            "{backend:?}: {e}"
        );

        // Tenant-wide and back, by the admin: everyone gains it, then only B keeps it.
        let out = s
            .expect(
                &s.admin,
                Method::POST,
                &format!("{path}/rescope"),
                Some(json!({"org": null, "preview": true})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(out["impact"]["to"], Value::Null, "{backend:?}: {out}");
        assert_eq!(
            names(&out["impact"]["users_losing_access"]),
            Vec::<&str>::new(),
            "{backend:?}"
        );
        assert_eq!(
            names(&out["impact"]["users_gaining_access"]),
            ["alice", "ann", "dave"],
            "{backend:?}: {out}"
        );
        s.expect(
            &s.admin,
            Method::POST,
            &format!("{path}/rescope"),
            Some(json!({"org": null})),
            StatusCode::OK,
        )
        .await;
        s.expect(&dave, Method::GET, &path, None, StatusCode::OK)
            .await;
        s.expect(
            &s.admin,
            Method::POST,
            &format!("{path}/rescope"),
            Some(json!({"org": "bravo"})),
            StatusCode::OK,
        )
        .await;
        s.expect(&dave, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;
    }
}

#[tokio::test]
async fn who_may_move_what_where() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, carol) = s
            .fast_user("carol", "user", &[("alpha", false), ("bravo", false)])
            .await;
        let cred = s
            .create(
                &alice,
                "credentials",
                json!({"name": "mine", "secret": "s", "org": "alpha"}),
            )
            .await;
        let path = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
        let rescope = format!("{path}/rescope");

        // A member of A only: B does not exist for her (422, like an unknown org).
        for body in [
            json!({"org": "bravo"}),
            json!({"org": "bravo", "preview": true}),
        ] {
            let detail = s
                .expect(
                    &alice,
                    Method::POST,
                    &rescope,
                    Some(body),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
                .problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert!(detail.contains("'bravo'"), "{backend:?}: {detail}");
        }
        // Shared configuration goes tenant-wide by admins only, even by its creator.
        s.expect(
            &alice,
            Method::POST,
            &rescope,
            Some(json!({"org": null})),
            StatusCode::FORBIDDEN,
        )
        .await;
        s.expect(
            &alice,
            Method::POST,
            &rescope,
            Some(json!({"org": null, "preview": true})),
            StatusCode::FORBIDDEN,
        )
        .await;
        let (_, got) = s.get(&s.admin, &path).await;
        assert_eq!(got["org"]["slug"], "alpha", "{backend:?}");
        // A member of both moves it; and an org key of A cannot send it to B.
        let (_, key) = s.org_key(&alice, "alpha", "read_write").await;
        s.expect(
            &key,
            Method::POST,
            &rescope,
            Some(json!({"org": "bravo"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let moved = s
            .expect(
                &carol,
                Method::POST,
                &rescope,
                Some(json!({"org": "bravo"})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(moved["resource"]["org"]["slug"], "bravo", "{backend:?}");
        // Back is not hers to ask for any more: it is hidden from alice.
        s.expect(
            &alice,
            Method::POST,
            &rescope,
            Some(json!({"org": "alpha"})),
            StatusCode::NOT_FOUND,
        )
        .await;

        // An org access key is bound to its org for life (DESIGN 3): no
        // re-scope, to another org or tenant-wide, previewed or not; its
        // secret keeps reading its own org only.
        let key_res = s
            .create(
                &s.admin,
                "api-keys",
                json!({"name": "k", "org": "alpha", "access": "read"}),
            )
            .await;
        let key_path = format!("/api/v1/api-keys/{}", key_res["id"].as_str().unwrap());
        for (token, body) in [
            (&s.admin, json!({"org": null})),
            (&s.admin, json!({"org": null, "preview": true})),
            (&s.admin, json!({"org": "bravo"})),
            (&s.admin, json!({"org": "bravo", "preview": true})),
            (&alice, json!({"org": null})),
        ] {
            let detail = s
                .expect(
                    token,
                    Method::POST,
                    &format!("{key_path}/rescope"),
                    Some(body),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
                .problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                detail.starts_with("org:") && detail.contains("new key"),
                "{backend:?}: {detail}"
            );
        }
        let (_, k) = s.get(&s.admin, &key_path).await;
        assert_eq!(k["org"]["slug"], "alpha", "{backend:?}");
        let secret = key_res["token"].as_str().unwrap();
        for (org, want) in [("alpha", StatusCode::OK), ("bravo", StatusCode::NOT_FOUND)] {
            s.expect(
                secret,
                Method::GET,
                &format!("/api/v1/orgs/{org}"),
                None,
                want,
            )
            .await;
        }
    }
}

/// Follows a preview's cursor for one list; returns every name in order.
async fn all_names(
    s: &TestServer,
    method: Method,
    path: &str,
    body: Value,
    list: &str,
) -> Vec<String> {
    let (field, cursor_field) = match list {
        "losing" => ("users_losing_access", "losing_cursor"),
        _ => ("users_gaining_access", "gaining_cursor"),
    };
    let mut names = Vec::new();
    let mut body = body;
    loop {
        let out = s
            .expect(
                &s.admin,
                method.clone(),
                path,
                Some(body.clone()),
                StatusCode::OK,
            )
            .await
            .json();
        let page = out["impact"][field].as_array().unwrap();
        assert!(page.len() <= 50, "a page names 50 at most: {}", page.len());
        names.extend(page.iter().map(|n| n.as_str().unwrap().to_owned()));
        match out["impact"][format!("{field}_next_cursor")].as_str() {
            Some(next) => body[cursor_field] = json!(next),
            None => return names,
        }
    }
}

/// The impact counts every user and pages their names 50 at a time, for a
/// move and for an org's deletion; the body never holds the whole tenant.
#[tokio::test]
async fn impact_pages_names() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let alpha = s.org("alpha").await;
        let bravo = s.org("bravo").await;
        s.crowd("a-", 120, &[&alpha]).await;
        s.crowd("b-", 70, &[&bravo]).await;
        s.crowd("ab-", 30, &[&alpha, &bravo]).await;
        s.crowd("none-", 40, &[]).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "db", "secret": "s", "org": "alpha"}),
            )
            .await;
        let path = format!(
            "/api/v1/credentials/{}/rescope",
            cred["id"].as_str().unwrap()
        );
        let preview = json!({"org": "bravo", "preview": true});
        let first = s
            .expect(
                &s.admin,
                Method::POST,
                &path,
                Some(preview.clone()),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(first["impact"]["users_losing_access_count"], 120);
        assert_eq!(first["impact"]["users_gaining_access_count"], 70);
        let losing = all_names(&s, Method::POST, &path, preview.clone(), "losing").await;
        let gaining = all_names(&s, Method::POST, &path, preview, "gaining").await;
        let want = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i:04}")).collect()
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(losing.clone()), want("a-", 120));
        assert_eq!(losing.len(), 120, "no name twice");
        assert_eq!(sorted(gaining), want("b-", 70));
        // To tenant-wide: everyone not in alpha gains it (bob-like users, the
        // ones in no org), and no one loses it.
        let wide = s
            .expect(
                &s.admin,
                Method::POST,
                &path,
                Some(json!({"org": null, "preview": true})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(wide["impact"]["users_losing_access_count"], 0);
        assert_eq!(wide["impact"]["users_gaining_access_count"], 70 + 40);
        // A cursor pages a preview only.
        let (st, body) = s
            .post(
                &s.admin,
                &path,
                json!({"org": "bravo", "losing_cursor": "x"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("preview"),
            "{body}"
        );

        // Deleting alpha: its 150 members lose what it owns; moved to bravo,
        // only the 120 who are not in bravo do.
        let deleted = all_names(
            &s,
            Method::DELETE,
            "/api/v1/orgs/alpha",
            json!({"preview": true, "delete_resources": true}),
            "losing",
        )
        .await;
        assert_eq!(deleted.len(), 150);
        let moved = all_names(
            &s,
            Method::DELETE,
            "/api/v1/orgs/alpha",
            json!({"preview": true, "move_to": "bravo"}),
            "losing",
        )
        .await;
        assert_eq!(sorted(moved), want("a-", 120));
        // The audit row of a move names a page at most.
        s.expect(
            &s.admin,
            Method::POST,
            &path,
            Some(json!({"org": null})),
            StatusCode::OK,
        )
        .await;
        let log = s.list_all(&s.admin, "/api/v1/audit").await;
        let entry = log
            .iter()
            .find(|e| e["action"] == "credential.rescope")
            .unwrap_or_else(|| panic!("{backend:?}: no credential.rescope entry"));
        let named = entry["after"]["impact"]["users_gaining_access"]
            .as_array()
            .unwrap();
        assert_eq!(named.len(), 50, "{entry}");
        assert_eq!(entry["after"]["impact"]["users_gaining_access_count"], 110);
    }
}

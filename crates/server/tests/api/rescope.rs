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

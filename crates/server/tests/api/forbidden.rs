//! 403 is for what the caller can see but may not do (DESIGN section 3):
//! read-only principals, tenant-wide shared configuration, org management,
//! roles. Every refusal is checked to have changed nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, backends, ids};

const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;

#[tokio::test]
async fn auditors_and_read_keys_read_but_never_write() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "a cred", "secret": "a-secret", "org": "alpha"}),
            )
            .await;
        let cred = cred["id"].as_str().unwrap().to_owned();
        let spec = s
            .create(
                &s.admin,
                "specialties",
                json!({"name": "tw spec", "org": null}),
            )
            .await;
        let spec = spec["id"].as_str().unwrap().to_owned();
        let (_, read_key) = s.org_key(&alice, "alpha", "read").await;
        let before_creds = s.list_all(&s.admin, "/api/v1/credentials").await;
        let before_keys = s.list_all(&s.admin, "/api/v1/api-keys").await;

        for (who, token) in [("auditor", &auditor), ("read key", &read_key)] {
            let got = s
                .expect(
                    token,
                    Method::GET,
                    &format!("/api/v1/credentials/{cred}"),
                    None,
                    StatusCode::OK,
                )
                .await
                .json();
            assert_eq!(got["name"], "a cred", "{backend:?} {who}");
            let (st, list) = s.get(token, "/api/v1/credentials").await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(ids(&list), vec![cred.clone()], "{backend:?} {who}");
            let (st, list) = s.get(token, "/api/v1/specialties").await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(ids(&list), vec![spec.clone()], "{backend:?} {who}");

            for (method, path, body) in [
                (
                    Method::POST,
                    "/api/v1/credentials".to_owned(),
                    json!({"name": "new", "secret": "x", "org": "alpha"}),
                ),
                (
                    Method::PATCH,
                    format!("/api/v1/credentials/{cred}"),
                    json!({"name": "changed"}),
                ),
                (
                    Method::PATCH,
                    format!("/api/v1/credentials/{cred}"),
                    json!({"secret": "changed"}),
                ),
                (
                    Method::POST,
                    format!("/api/v1/credentials/{cred}/rescope"),
                    json!({"org": "alpha"}),
                ),
                (
                    Method::POST,
                    format!("/api/v1/credentials/{cred}/rescope"),
                    json!({"org": "alpha", "preview": true}),
                ),
            ] {
                let detail = s
                    .expect(token, method, &path, Some(body), FORBIDDEN)
                    .await
                    .problem(FORBIDDEN);
                assert!(detail.contains("read-only"), "{backend:?} {who}: {detail}");
            }
            s.expect(
                token,
                Method::DELETE,
                &format!("/api/v1/credentials/{cred}"),
                None,
                FORBIDDEN,
            )
            .await;
        }
        // A read key creates nothing even with the org left out (its own).
        s.expect(
            &read_key,
            Method::POST,
            "/api/v1/specialties",
            Some(json!({"name": "new"})),
            FORBIDDEN,
        )
        .await;
        // The auditor: no tenant-wide config, no keys, orgs, members or users.
        for (path, body) in [
            ("/api/v1/specialties", json!({"name": "new", "org": null})),
            (
                "/api/v1/api-keys",
                json!({"name": "k", "org": "alpha", "access": "read"}),
            ),
            ("/api/v1/orgs", json!({"slug": "charlie", "name": "c"})),
            ("/api/v1/orgs/alpha/members", json!({"user": "audrey"})),
            (
                "/api/v1/users",
                json!({"username": "eve", "password": "eve-password", "role": "user"}),
            ),
        ] {
            s.expect(&auditor, Method::POST, path, Some(body), FORBIDDEN)
                .await;
        }
        s.expect(
            &auditor,
            Method::PATCH,
            "/api/v1/orgs/alpha",
            Some(json!({"name": "renamed"})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &auditor,
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"role": "admin"})),
            FORBIDDEN,
        )
        .await;

        // Nothing moved.
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/credentials").await,
            before_creds,
            "{backend:?}"
        );
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/api-keys").await,
            before_keys,
            "{backend:?}"
        );
        let (_, orgs) = s.get(&s.admin, "/api/v1/orgs").await;
        assert_eq!(orgs["items"].as_array().unwrap().len(), 3, "{backend:?}");
        let (_, org) = s.get(&s.admin, "/api/v1/orgs/alpha").await;
        assert_eq!(org["name"], "alpha", "{backend:?}");
        let (_, alice_now) = s.get(&s.admin, "/api/v1/users/alice").await;
        assert_eq!(alice_now["role"], "user", "{backend:?}");
        s.expect(
            &s.admin,
            Method::GET,
            "/api/v1/users/eve",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn members_write_in_their_org_and_only_read_tenant_wide_config() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        let (alice_id, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let spec = s
            .create(
                &s.admin,
                "specialties",
                json!({"name": "tw spec", "org": null}),
            )
            .await;
        let spec = spec["id"].as_str().unwrap().to_owned();
        let spec_path = format!("/api/v1/specialties/{spec}");

        // Tenant-wide shared configuration: read-only for users.
        let got = s
            .expect(&alice, Method::GET, &spec_path, None, StatusCode::OK)
            .await
            .json();
        assert_eq!(got["org"], serde_json::Value::Null, "{backend:?}");
        s.expect(
            &alice,
            Method::PATCH,
            &spec_path,
            Some(json!({"name": "mine"})),
            FORBIDDEN,
        )
        .await;
        s.expect(&alice, Method::DELETE, &spec_path, None, FORBIDDEN)
            .await;
        s.expect(
            &alice,
            Method::POST,
            &format!("{spec_path}/rescope"),
            Some(json!({"org": "alpha"})),
            FORBIDDEN,
        )
        .await;
        for kind in [
            "specialties",
            "plugins",
            "operational-rules",
            "blacklists",
            "credentials",
        ] {
            let body = match kind {
                "operational-rules" => json!({"name": "tw", "org": null, "content": "be careful"}),
                "blacklists" => json!({"name": "tw", "org": null, "patterns": ["rm -rf /"]}),
                "credentials" => json!({"name": "tw", "org": null, "secret": "s"}),
                _ => json!({"name": "tw", "org": null}),
            };
            s.expect(
                &alice,
                Method::POST,
                &format!("/api/v1/{kind}"),
                Some(body),
                FORBIDDEN,
            )
            .await;
        }
        let (_, specs) = s.get(&s.admin, "/api/v1/specialties").await;
        assert_eq!(ids(&specs), vec![spec.clone()], "{backend:?}");
        assert_eq!(specs["items"][0]["name"], "tw spec", "{backend:?}");

        // Org-required kinds cannot be tenant-wide: 422, whoever asks.
        for token in [&alice, &s.admin] {
            let detail = s
                .expect(
                    token,
                    Method::POST,
                    "/api/v1/api-keys",
                    Some(json!({"name": "k", "org": null, "access": "read"})),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
                .problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert!(detail.starts_with("org:"), "{backend:?}: {detail}");
        }
        // No default org and no org given: 422, not a silent tenant-wide.
        s.expect(
            &alice,
            Method::POST,
            "/api/v1/credentials",
            Some(json!({"name": "c", "secret": "s"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;

        // In her org a member creates, updates and deletes.
        let cred = s
            .expect(
                &alice,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "mine", "secret": "s", "org": "alpha"})),
                StatusCode::CREATED,
            )
            .await
            .json();
        assert_eq!(cred["org"]["slug"], "alpha", "{backend:?}");
        assert_eq!(cred["created_by"], alice_id.as_str(), "{backend:?}");
        let path = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
        let upd = s
            .expect(
                &alice,
                Method::PATCH,
                &path,
                Some(json!({"name": "still mine", "description": "d"})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(upd["name"], "still mine", "{backend:?}");
        assert_eq!(upd["description"], "d", "{backend:?}");
        let (_, got) = s.get(&s.admin, &path).await;
        assert_eq!(got["name"], "still mine", "{backend:?}");
        let r = s
            .expect(&alice, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
            .await;
        assert_eq!(r.text, "", "{backend:?}");
        s.expect(&s.admin, Method::GET, &path, None, StatusCode::NOT_FOUND)
            .await;

        // An org key writes in its org but never mints or revokes keys.
        let (own_key_id, key) = s.org_key(&alice, "alpha", "read_write").await;
        let made = s
            .expect(
                &key,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "by key", "secret": "s"})),
                StatusCode::CREATED,
            )
            .await
            .json();
        assert_eq!(made["org"]["slug"], "alpha", "{backend:?}");
        s.expect(
            &key,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "child", "org": "alpha", "access": "read_write"})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &key,
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "child", "access": "read"})),
            FORBIDDEN,
        )
        .await;
        let key_path = format!("/api/v1/api-keys/{own_key_id}");
        s.expect(&key, Method::GET, &key_path, None, StatusCode::OK)
            .await;
        s.expect(
            &key,
            Method::PATCH,
            &key_path,
            Some(json!({"access": "read_write"})),
            FORBIDDEN,
        )
        .await;
        s.expect(&key, Method::DELETE, &key_path, None, FORBIDDEN)
            .await;
        let (_, keys) = s.get(&s.admin, "/api/v1/api-keys").await;
        assert_eq!(ids(&keys), [own_key_id], "{backend:?}");
    }
}

#[tokio::test]
async fn org_managers_and_roles() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, bob) = s.fast_user("bob", "user", &[("alpha", true)]).await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        s.fast_user("carol", "user", &[]).await;
        s.fast_user("dave", "user", &[("bravo", false)]).await;
        let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
        let b_cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "b", "secret": "s", "org": "bravo"}),
            )
            .await;

        // A manager adds, updates and removes members of their org.
        let m = s
            .expect(
                &bob,
                Method::POST,
                "/api/v1/orgs/alpha/members",
                Some(json!({"user": "carol"})),
                StatusCode::CREATED,
            )
            .await
            .json();
        assert_eq!(m["user"]["username"], "carol", "{backend:?}");
        assert_eq!(m["can_manage"], false, "{backend:?}");
        let m = s
            .expect(
                &bob,
                Method::PATCH,
                "/api/v1/orgs/alpha/members/carol",
                Some(json!({"can_manage": true})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(m["can_manage"], true, "{backend:?}");
        let out = s
            .expect(
                &bob,
                Method::DELETE,
                "/api/v1/orgs/alpha/members/carol",
                None,
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(out["removed"]["user"]["username"], "carol", "{backend:?}");
        s.expect(
            &s.admin,
            Method::GET,
            "/api/v1/orgs/alpha/members/carol",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        // ... and renames it, but neither moves nor re-slugs nor deletes it.
        let org = s
            .expect(
                &bob,
                Method::PATCH,
                "/api/v1/orgs/alpha",
                Some(json!({"name": "Alpha team"})),
                StatusCode::OK,
            )
            .await
            .json();
        assert_eq!(org["name"], "Alpha team", "{backend:?}");
        for body in [
            json!({"slug": "alpha2"}),
            json!({"parent": "bravo"}),
            json!({"name": "x", "slug": "alpha2"}),
        ] {
            s.expect(
                &bob,
                Method::PATCH,
                "/api/v1/orgs/alpha",
                Some(body),
                FORBIDDEN,
            )
            .await;
        }
        s.expect(&bob, Method::DELETE, "/api/v1/orgs/alpha", None, FORBIDDEN)
            .await;
        s.expect(
            &bob,
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"slug": "charlie", "name": "c"})),
            FORBIDDEN,
        )
        .await;
        let (_, org) = s.get(&s.admin, "/api/v1/orgs/alpha").await;
        assert_eq!(
            (org["slug"].as_str(), org["name"].as_str(), &org["parent"]),
            (Some("alpha"), Some("Alpha team"), &serde_json::Value::Null),
            "{backend:?}"
        );
        // Managing one org is nothing in another: hidden, so 404.
        for (method, path, body) in [
            (
                Method::POST,
                "/api/v1/orgs/bravo/members",
                Some(json!({"user": "carol"})),
            ),
            (Method::DELETE, "/api/v1/orgs/bravo/members/dave", None),
            (
                Method::PATCH,
                "/api/v1/orgs/bravo/members/dave",
                Some(json!({"can_manage": true})),
            ),
            (
                Method::PATCH,
                "/api/v1/orgs/bravo",
                Some(json!({"name": "x"})),
            ),
        ] {
            s.expect(&bob, method, path, body, StatusCode::NOT_FOUND)
                .await;
        }
        // Nor does it widen what the manager sees.
        s.expect(
            &bob,
            Method::GET,
            &format!("/api/v1/credentials/{}", b_cred["id"].as_str().unwrap()),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        let (_, members) = s.get(&s.admin, "/api/v1/orgs/bravo/members").await;
        assert_eq!(members["items"].as_array().unwrap().len(), 1, "{backend:?}");
        // A member without can_manage manages nothing (the org is visible: 403).
        s.expect(
            &alice,
            Method::POST,
            "/api/v1/orgs/alpha/members",
            Some(json!({"user": "carol"})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &alice,
            Method::DELETE,
            "/api/v1/orgs/alpha/members/bob",
            None,
            FORBIDDEN,
        )
        .await;
        s.expect(
            &alice,
            Method::PATCH,
            "/api/v1/orgs/alpha/members/bob",
            Some(json!({"can_manage": false})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &alice,
            Method::PATCH,
            "/api/v1/orgs/alpha",
            Some(json!({"name": "x"})),
            FORBIDDEN,
        )
        .await;
        let (_, m) = s.get(&s.admin, "/api/v1/orgs/alpha/members/bob").await;
        assert_eq!(m["can_manage"], true, "{backend:?}");
        // Managing A gives nothing in B where one is a plain member.
        let (_, erin) = s
            .fast_user("erin", "user", &[("alpha", true), ("bravo", false)])
            .await;
        for (method, path, body) in [
            (
                Method::POST,
                "/api/v1/orgs/bravo/members",
                Some(json!({"user": "carol"})),
            ),
            (Method::DELETE, "/api/v1/orgs/bravo/members/dave", None),
            (
                Method::PATCH,
                "/api/v1/orgs/bravo/members/erin",
                Some(json!({"can_manage": true})),
            ),
            (
                Method::PATCH,
                "/api/v1/orgs/bravo",
                Some(json!({"name": "x"})),
            ),
        ] {
            s.expect(&erin, method, path, body, FORBIDDEN).await;
        }
        s.expect(
            &erin,
            Method::POST,
            "/api/v1/orgs/alpha/members",
            Some(json!({"user": "dave"})),
            StatusCode::CREATED,
        )
        .await;
        let (_, members) = s.get(&s.admin, "/api/v1/orgs/bravo/members").await;
        assert_eq!(members["items"].as_array().unwrap().len(), 2, "{backend:?}");
        let (_, org) = s.get(&s.admin, "/api/v1/orgs/bravo").await;
        assert_eq!(org["name"], "bravo", "{backend:?}");

        // Roles: only superusers make superusers; nobody changes their own.
        let detail = s
            .expect(
                &s.admin,
                Method::POST,
                "/api/v1/users",
                Some(
                    json!({"username": "root2", "password": "root2-password", "role": "superuser"}),
                ),
                FORBIDDEN,
            )
            .await
            .problem(FORBIDDEN);
        assert!(detail.contains("superuser"), "{backend:?}: {detail}");
        s.expect(
            &s.admin,
            Method::GET,
            "/api/v1/users/root2",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        s.expect(
            &alice,
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"role": "admin"})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/users/admin",
            Some(json!({"role": "user"})),
            FORBIDDEN,
        )
        .await;
        s.expect(
            &alice,
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"disabled": true})),
            FORBIDDEN,
        )
        .await;
        let (_, me) = s.get(&alice, "/api/v1/me").await;
        assert_eq!(me["role"], "user", "{backend:?}");
        let (_, me) = s.get(&s.admin, "/api/v1/me").await;
        assert_eq!(me["role"], "admin", "{backend:?}");
        // A role change is in force on the very next request, both ways.
        let (st, out) = s
            .patch(&s.admin, "/api/v1/users/alice", json!({"role": "admin"}))
            .await;
        assert_eq!(
            (st, &out["role"]),
            (StatusCode::OK, &json!("admin")),
            "{backend:?}: {out}"
        );
        s.expect(&alice, Method::GET, "/api/v1/users", None, StatusCode::OK)
            .await;
        s.expect(
            &alice,
            Method::GET,
            &format!("/api/v1/credentials/{}", b_cred["id"].as_str().unwrap()),
            None,
            StatusCode::OK,
        )
        .await;
        let (st, out) = s
            .patch(&s.admin, "/api/v1/users/alice", json!({"role": "user"}))
            .await;
        assert_eq!(
            (st, &out["role"]),
            (StatusCode::OK, &json!("user")),
            "{backend:?}: {out}"
        );
        s.expect(
            &alice,
            Method::GET,
            &format!("/api/v1/credentials/{}", b_cred["id"].as_str().unwrap()),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
        let (st, _) = s.delete(&alice, "/api/v1/orgs/bravo").await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{backend:?}");
        // Listing users: admins and auditors only.
        for token in [&alice, &bob] {
            s.expect(token, Method::GET, "/api/v1/users", None, FORBIDDEN)
                .await;
        }
        let (st, users) = s.get(&auditor, "/api/v1/users").await;
        assert_eq!(st, StatusCode::OK, "{backend:?}");
        assert_eq!(users["items"].as_array().unwrap().len(), 7, "{backend:?}");
        // Tenants: superusers only.
        s.expect(&s.admin, Method::GET, "/api/v1/tenants", None, FORBIDDEN)
            .await;
    }
}

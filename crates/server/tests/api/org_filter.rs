//! The `org=` filter of listings (DESIGN section 3): `all` (the default),
//! `tenant`, or one org by slug or id; it narrows what the caller can see and
//! never widens it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, backends, enc, ids, unused_id};

#[tokio::test]
async fn listings_filter_by_org() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let a = s.org("alpha").await;
        let b = s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (_, key) = s.org_key(&s.admin, "alpha", "read").await;

        for kind in ["specialties", "credentials"] {
            let body = |org: serde_json::Value| {
                let mut b = json!({"name": format!("{kind} in {org}"), "org": org});
                if kind == "credentials" {
                    b["secret"] = json!("s");
                }
                b
            };
            let tw = s.create(&s.admin, kind, body(json!(null))).await;
            let in_a = s.create(&s.admin, kind, body(json!("alpha"))).await;
            let in_b = s.create(&s.admin, kind, body(json!(b))).await;
            let [tw, in_a, in_b] = [tw, in_a, in_b].map(|r| r["id"].as_str().unwrap().to_owned());
            let list = |token: &str, q: &str| {
                let path = format!("/api/v1/{kind}{q}");
                let token = token.to_owned();
                let s = &s;
                async move {
                    let (st, body) = s.get(&token, &path).await;
                    assert_eq!(st, StatusCode::OK, "{backend:?} GET {path}: {body}");
                    ids(&body)
                }
            };
            let none: [String; 0] = [];

            // A member of A.
            let mine = [tw.clone(), in_a.clone()];
            assert_eq!(list(&alice, "").await, mine, "{backend:?} {kind}");
            assert_eq!(list(&alice, "?org=all").await, mine, "{backend:?} {kind}");
            assert_eq!(
                list(&alice, "?org=tenant").await,
                vec![tw.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&alice, "?org=none").await,
                vec![tw.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&alice, "?org=alpha").await,
                vec![in_a.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&alice, &format!("?org={a}")).await,
                vec![in_a.clone()],
                "{backend:?} {kind}"
            );
            for org in ["bravo", b.as_str(), "nosuch", &unused_id("org")] {
                let path = format!("/api/v1/{kind}?org={}", enc(org));
                let detail = s
                    .expect(&alice, Method::GET, &path, None, StatusCode::NOT_FOUND)
                    .await
                    .problem(StatusCode::NOT_FOUND);
                assert!(detail.contains(org), "{backend:?}: {detail}");
            }

            // The admin sees everything, and each filter picks exactly one.
            let all = [tw.clone(), in_a.clone(), in_b.clone()];
            assert_eq!(list(&s.admin, "").await, all, "{backend:?} {kind}");
            assert_eq!(list(&s.admin, "?org=all").await, all, "{backend:?} {kind}");
            assert_eq!(
                list(&s.admin, "?org=tenant").await,
                vec![tw.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&s.admin, "?org=alpha").await,
                vec![in_a.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&s.admin, "?org=bravo").await,
                vec![in_b.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&s.admin, &format!("?org={b}")).await,
                vec![in_b.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&s.admin, "?org=default").await,
                none,
                "{backend:?} {kind}"
            );
            s.expect(
                &s.admin,
                Method::GET,
                &format!("/api/v1/{kind}?org=nosuch"),
                None,
                StatusCode::NOT_FOUND,
            )
            .await;

            // An org key of A: tenant-wide and A.
            assert_eq!(list(&key, "").await, mine, "{backend:?} {kind}");
            assert_eq!(list(&key, "?org=all").await, mine, "{backend:?} {kind}");
            assert_eq!(
                list(&key, "?org=tenant").await,
                vec![tw.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&key, "?org=alpha").await,
                vec![in_a.clone()],
                "{backend:?} {kind}"
            );
            assert_eq!(
                list(&key, &format!("?org={a}")).await,
                vec![in_a.clone()],
                "{backend:?} {kind}"
            );
            for org in ["bravo", b.as_str(), "default"] {
                s.expect(
                    &key,
                    Method::GET,
                    &format!("/api/v1/{kind}?org={org}"),
                    None,
                    StatusCode::NOT_FOUND,
                )
                .await;
            }
        }

        // The orgs themselves: a member sees hers, a key its own, the admin all.
        let slugs = |v: serde_json::Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["slug"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            slugs(s.get(&alice, "/api/v1/orgs").await.1),
            ["alpha"],
            "{backend:?}"
        );
        assert_eq!(
            slugs(s.get(&key, "/api/v1/orgs").await.1),
            ["alpha"],
            "{backend:?}"
        );
        assert_eq!(
            slugs(s.get(&s.admin, "/api/v1/orgs").await.1),
            ["default", "alpha", "bravo"],
            "{backend:?}"
        );
    }
}

//! The audit log (DESIGN section 3): every change of scope, membership, role,
//! key and every delete is appended with who, what, before and after; admins
//! and auditors read it, org managers their orgs' part; it exports as JSON
//! lines.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, backends, enc};

/// The one entry with this action and target.
fn entry<'a>(entries: &'a [Value], action: &str, target: &str) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == action && e["target"] == target)
        .collect();
    assert_eq!(found.len(), 1, "one {action} of {target} in {entries:#?}");
    found[0]
}

/// Entries' times, after checking their ids are opaque (`aud_` and a UUID,
/// no sequence another tenant's activity moves) and distinct.
fn times(entries: &[Value]) -> Vec<&str> {
    let ids: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), entries.len(), "distinct ids");
    for id in &ids {
        assert!(id.starts_with("aud_") && id.len() == 36, "opaque id {id}");
    }
    entries.iter().map(|e| e["at"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn changes_are_recorded_and_read_by_whom_they_concern() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let admin_id = s.get(&s.admin, "/api/v1/me").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (st, alpha) = s
            .post(
                &s.admin,
                "/api/v1/orgs",
                json!({"slug": "alpha", "name": "Alpha"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let a = alpha["id"].as_str().unwrap().to_owned();
        let b = s.org("bravo").await;
        let (bob_id, bob) = s.fast_user("bob", "user", &[("alpha", true)]).await;
        let (alice_id, _) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let (carol_id, carol) = s.fast_user("carol", "user", &[]).await;
        let (_, dave) = s.fast_user("dave", "user", &[("bravo", false)]).await;
        s.expect(
            &bob,
            Method::DELETE,
            "/api/v1/orgs/alpha/members/alice",
            None,
            StatusCode::OK,
        )
        .await;
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/users/carol",
            Some(json!({"role": "auditor"})),
            StatusCode::OK,
        )
        .await;
        let key = s
            .create(
                &s.admin,
                "api-keys",
                json!({"name": "agent", "org": "alpha", "access": "read_write"}),
            )
            .await;
        let key_id = key["id"].as_str().unwrap().to_owned();
        let key_secret = key["token"].as_str().unwrap().to_owned();
        // The key acts: its entries name it.
        let by_key = s
            .expect(
                &key_secret,
                Method::POST,
                "/api/v1/plugins",
                Some(json!({"name": "by key"})),
                StatusCode::CREATED,
            )
            .await
            .json();
        s.expect(
            &s.admin,
            Method::DELETE,
            &format!("/api/v1/api-keys/{key_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "c", "secret": "hush", "org": "bravo"}),
            )
            .await;
        let cred_id = cred["id"].as_str().unwrap().to_owned();
        s.expect(
            &s.admin,
            Method::DELETE,
            &format!("/api/v1/credentials/{cred_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        let tw = s
            .create(&s.admin, "plugins", json!({"name": "tw", "org": null}))
            .await;
        let tw_id = tw["id"].as_str().unwrap().to_owned();
        s.expect(
            &s.admin,
            Method::POST,
            &format!("/api/v1/plugins/{tw_id}/rescope"),
            Some(json!({"org": "alpha"})),
            StatusCode::OK,
        )
        .await;

        let all = s.list_all(&s.admin, "/api/v1/audit").await;
        let at = times(&all);
        assert!(
            at.windows(2).all(|w| w[0] <= w[1]),
            "{backend:?}: oldest first {at:?}"
        );
        for e in &all {
            for field in ["id", "at", "actor", "action", "kind", "target"] {
                assert!(!e[field].is_null(), "{backend:?}: {field} in {e}");
            }
        }
        // Pages of two give the same log.
        assert_eq!(
            s.list_all(&s.admin, "/api/v1/audit?limit=2").await,
            all,
            "{backend:?}"
        );

        let e = entry(&all, "org.create", &a);
        assert_eq!(
            (&e["actor"], &e["actor_id"], &e["org"], &e["before"]),
            (&json!("admin"), &json!(admin_id), &json!(a), &Value::Null),
            "{backend:?}: {e}"
        );
        assert_eq!(e["after"]["slug"], "alpha", "{backend:?}");
        assert_eq!(e["after"]["name"], "Alpha", "{backend:?}");
        let e = entry(&all, "member.add", &alice_id);
        assert_eq!(
            (&e["actor"], &e["org"], &e["before"]),
            (&json!("admin"), &json!(a), &Value::Null),
            "{backend:?}: {e}"
        );
        assert_eq!(e["after"]["user"]["username"], "alice", "{backend:?}");
        assert_eq!(e["after"]["can_manage"], false, "{backend:?}");
        let e = entry(&all, "member.add", &bob_id);
        assert_eq!(e["after"]["can_manage"], true, "{backend:?}");
        let e = entry(&all, "member.remove", &alice_id);
        assert_eq!(
            (&e["actor"], &e["actor_id"], &e["org"]),
            (&json!("bob"), &json!(bob_id), &json!(a)),
            "{backend:?}: {e}"
        );
        assert_eq!(e["before"]["user"]["username"], "alice", "{backend:?}");
        let e = entry(&all, "user.update", &carol_id);
        assert_eq!(e["actor"], "admin", "{backend:?}");
        assert_eq!(
            (&e["before"]["role"], &e["after"]["role"]),
            (&json!("user"), &json!("auditor")),
            "{backend:?}: {e}"
        );
        let e = entry(&all, "api_key.create", &key_id);
        assert_eq!(
            (&e["actor"], &e["org"], &e["before"]),
            (&json!("admin"), &json!(a), &Value::Null),
            "{backend:?}: {e}"
        );
        assert_eq!(e["after"]["access"], "read_write", "{backend:?}");
        let e = entry(&all, "plugin.create", by_key["id"].as_str().unwrap());
        assert_eq!(
            (&e["actor"], &e["actor_id"]),
            (&json!(format!("key:{key_id}")), &json!(key_id)),
            "{backend:?}: {e}"
        );
        let e = entry(&all, "api_key.delete", &key_id);
        assert_eq!(
            (&e["actor"], &e["after"]),
            (&json!("admin"), &Value::Null),
            "{backend:?}: {e}"
        );
        assert_eq!(e["before"]["id"], key_id.as_str(), "{backend:?}");
        let e = entry(&all, "credential.delete", &cred_id);
        assert_eq!(
            (&e["org"], &e["after"]),
            (&json!(b), &Value::Null),
            "{backend:?}: {e}"
        );
        assert_eq!(e["before"]["name"], "c", "{backend:?}");
        let e = entry(&all, "plugin.rescope", &tw_id);
        assert_eq!(e["before"]["org"], Value::Null, "{backend:?}: {e}");
        assert_eq!(
            e["after"]["resource"]["org"]["slug"], "alpha",
            "{backend:?}: {e}"
        );
        let text = serde_json::to_string(&all).unwrap();
        assert!(
            !text.contains(&key_secret),
            "{backend:?}: the log shows a key's secret"
        );
        assert!(
            !text.contains("hush"),
            "{backend:?}: the log shows a credential's secret"
        );

        // The auditor reads all of it.
        assert_eq!(
            s.list_all(&carol, "/api/v1/audit").await,
            all,
            "{backend:?}"
        );
        // A manager reads their org's entries only.
        let mine = s.list_all(&bob, "/api/v1/audit").await;
        let expected: Vec<Value> = all
            .iter()
            .filter(|e| e["org"] == a.as_str())
            .cloned()
            .collect();
        assert!(expected.len() >= 6, "{backend:?}: {expected:#?}");
        assert_eq!(mine, expected, "{backend:?}");
        // A plain member reads nothing; a key is refused.
        let (st, theirs) = s.get(&dave, "/api/v1/audit").await;
        assert!(
            st == StatusCode::FORBIDDEN || (st == StatusCode::OK && theirs["items"] == json!([])),
            "{backend:?}: a plain user reads {st} {theirs}"
        );
        let (_, key2) = s.org_key(&s.admin, "alpha", "read_write").await;
        for path in ["/api/v1/audit", "/api/v1/audit/export"] {
            s.expect(&key2, Method::GET, path, None, StatusCode::FORBIDDEN)
                .await;
        }
        let r = s
            .raw(Method::GET, "/api/v1/audit/export", Some(&dave), &[], None)
            .await;
        assert!(
            r.status == StatusCode::FORBIDDEN || (r.status == StatusCode::OK && r.text.is_empty()),
            "{backend:?}: a plain user exports {} {}",
            r.status,
            r.text
        );
        // Becoming a manager shows the org's past too; losing it hides it.
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/orgs/bravo/members/dave",
            Some(json!({"can_manage": true})),
            StatusCode::OK,
        )
        .await;
        let theirs = s.list_all(&dave, "/api/v1/audit").await;
        assert!(
            !theirs.is_empty() && theirs.iter().all(|e| e["org"] == b.as_str()),
            "{backend:?}: {theirs:#?}"
        );
        s.expect(
            &s.admin,
            Method::PATCH,
            "/api/v1/orgs/bravo/members/dave",
            Some(json!({"can_manage": false})),
            StatusCode::OK,
        )
        .await;
        let (_, theirs) = s.get(&dave, "/api/v1/audit").await;
        assert_eq!(theirs["items"], json!([]), "{backend:?}");
    }
}

#[tokio::test]
async fn the_log_exports_as_json_lines() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let (_, bob) = {
            s.org("alpha").await;
            s.fast_user("bob", "user", &[("alpha", true)]).await
        };
        for i in 0..6 {
            let org = if i % 2 == 0 {
                json!("alpha")
            } else {
                json!(null)
            };
            let p = s
                .create(
                    &s.admin,
                    "plugins",
                    json!({"name": format!("p{i}"), "org": org}),
                )
                .await;
            s.expect(
                &s.admin,
                Method::DELETE,
                &format!("/api/v1/plugins/{}", p["id"].as_str().unwrap()),
                None,
                StatusCode::NO_CONTENT,
            )
            .await;
        }
        let all = s.list_all(&s.admin, "/api/v1/audit").await;
        assert!(all.len() >= 14, "{backend:?}: {}", all.len());

        let export = |token: &str, query: &str| {
            let path = format!("/api/v1/audit/export{query}");
            let token = token.to_owned();
            let s = &s;
            async move {
                let r = s.raw(Method::GET, &path, Some(&token), &[], None).await;
                assert_eq!(r.status, StatusCode::OK, "{backend:?} {path}: {}", r.text);
                assert_eq!(
                    r.header("content-type"),
                    Some("application/x-ndjson"),
                    "{backend:?}"
                );
                assert!(r.text.is_empty() || r.text.ends_with('\n'), "{backend:?}");
                r.text
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<Value>(l)
                            .unwrap_or_else(|e| panic!("{backend:?}: line {l:?}: {e}"))
                    })
                    .collect::<Vec<Value>>()
            }
        };
        let lines = export(&s.admin, "").await;
        assert_eq!(lines, all, "{backend:?}: one line per entry, in seq order");
        let at = times(&lines);
        assert!(at.windows(2).all(|w| w[0] <= w[1]), "{backend:?}: {at:?}");

        // `since`: entries at or after a time.
        let middle = &all[all.len() / 2];
        let since = middle["at"].as_str().unwrap();
        let expected: Vec<Value> = all
            .iter()
            .filter(|e| e["at"].as_str().unwrap() >= since)
            .cloned()
            .collect();
        assert!(
            expected.len() < all.len() && expected.contains(middle),
            "{backend:?}"
        );
        let q = format!("?since={}", enc(since));
        assert_eq!(export(&s.admin, &q).await, expected, "{backend:?}");
        assert_eq!(
            s.list_all(&s.admin, &format!("/api/v1/audit{q}")).await,
            expected,
            "{backend:?}"
        );
        assert_eq!(
            export(&s.admin, "?since=2999-01-01T00:00:00Z").await,
            Vec::<Value>::new()
        );
        assert_eq!(
            export(&s.admin, "?since=2000-01-01T00:00:00%2B02:00").await,
            all,
            "{backend:?}"
        );
        for q in ["?since=yesterday", "?cursor=abc"] {
            for path in ["/api/v1/audit/export", "/api/v1/audit"] {
                s.expect(
                    &s.admin,
                    Method::GET,
                    &format!("{path}{q}"),
                    None,
                    StatusCode::BAD_REQUEST,
                )
                .await;
            }
        }
        // A manager's export is their org's part of the log.
        let theirs: Vec<Value> = all
            .iter()
            .filter(|e| {
                e["org"] == all.iter().find(|e| e["action"] == "org.create").unwrap()["target"]
            })
            .cloned()
            .collect();
        assert!(theirs.len() >= 7, "{backend:?}: {}", theirs.len());
        assert_eq!(export(&bob, "").await, theirs, "{backend:?}");
    }
}

/// A re-scope from org A to org B is appended with `org` = B only (the
/// destination), so A's managers, who may read their org's part of the log,
/// never learn that a resource left their org. The same change made as a
/// delete in A would be in their log.
#[tokio::test]
async fn a_move_out_of_an_org_is_in_that_orgs_log() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, ann) = s.fast_user("ann", "user", &[("alpha", true)]).await;
        let (_, ben) = s.fast_user("ben", "user", &[("bravo", true)]).await;
        let cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "c", "secret": "s", "org": "alpha"}),
            )
            .await;
        let id = cred["id"].as_str().unwrap().to_owned();
        s.expect(
            &s.admin,
            Method::POST,
            &format!("/api/v1/credentials/{id}/rescope"),
            Some(json!({"org": "bravo"})),
            StatusCode::OK,
        )
        .await;
        let has_move = |log: &[Value]| {
            log.iter()
                .any(|e| e["action"] == "credential.rescope" && e["target"] == id.as_str())
        };
        let bens = s.list_all(&ben, "/api/v1/audit").await;
        assert!(has_move(&bens), "{backend:?}: B's manager sees the move in");
        let anns = s.list_all(&ann, "/api/v1/audit").await;
        assert!(
            anns.iter()
                .any(|e| e["action"] == "credential.create" && e["target"] == id.as_str()),
            "{backend:?}: A's manager sees the creation"
        );
        assert!(
            has_move(&anns),
            "{backend:?}: A's manager does not see the move out: {anns:#?}"
        );
    }
}

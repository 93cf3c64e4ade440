//! Who has access, and why (DESIGN 5): the answer's shape, names and paging
//! for what the model-based test does not ask (knowledge entries through
//! their file, a group's further pages, who may be named, bad questions).
//! Decisions and counts for every principal are the isolation model's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, backends, wait_for_knowledge};

fn group<'a>(answer: &'a Value, rule: &str) -> &'a Value {
    answer["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["rule"] == rule))
        .unwrap_or_else(|| panic!("no group {rule} in {answer}"))
}

#[tokio::test]
async fn groups_names_pages_and_entries() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("eng").await;
        s.org("ops").await;
        let (_, alice) = s.fast_user("alice", "user", &[("eng", false)]).await;
        s.fast_user("bob", "user", &[("eng", false), ("ops", false)])
            .await;
        let (_, olga_token) = s.fast_user("olga", "user", &[("ops", false)]).await;
        for i in 0..55 {
            s.fast_user(&format!("m{i:02}"), "user", &[("eng", false)])
                .await;
        }
        let plugin = s
            .create(&alice, "plugins", json!({"name": "linter", "org": "eng"}))
            .await;
        let path = format!("/api/v1/plugins/{}/access", plugin["id"].as_str().unwrap());

        // A member who may change it asks: 57 members, the first 50 named.
        let (st, answer) = s.get(&alice, &path).await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {answer}");
        let members = group(&answer, "member_of");
        assert_eq!(members["text"], "member of eng", "{backend:?}");
        assert_eq!(members["count"], 57, "{backend:?}");
        assert_eq!(members["names"].as_array().unwrap().len(), 50);
        let cursor = members["next_cursor"].as_str().expect("a next page");
        let (st, more) = s
            .get(&alice, &format!("{path}?group=member_of&cursor={cursor}"))
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {more}");
        assert_eq!(more["items"].as_array().unwrap().len(), 7, "{backend:?}");
        assert!(more["next_cursor"].is_null(), "{backend:?}");
        // The admin is counted and, being no co-member, not named to her.
        let admins = group(&answer, "admin");
        assert_eq!(admins["count"], 1, "{backend:?}");
        assert_eq!(admins["names"], json!([]), "{backend:?}: {admins}");

        // One decision, with the rule that would have allowed a denial.
        let (_, bob) = s.get(&alice, &format!("{path}?user=bob")).await;
        assert_eq!(
            (bob["see"].clone(), bob["change"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(bob["because"], "member of eng", "{backend:?}");
        let (_, olga) = s.get(&s.admin, &format!("{path}?user=olga")).await;
        assert_eq!(olga["see"], false, "{backend:?}");
        assert_eq!(olga["rule"], "not_member_of", "{backend:?}");
        assert_eq!(olga["because"], "not a member of eng", "{backend:?}");
        // Alice may not name olga (no org in common): as unknown as nobody.
        let (st, _) = s.get(&alice, &format!("{path}?user=olga")).await;
        let (st2, _) = s.get(&alice, &format!("{path}?user=nobody-at-all")).await;
        assert_eq!((st, st2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));

        // Bad questions.
        for q in ["group=nonsense", "user=bob&key=x", "colour=red"] {
            let (st, body) = s.get(&alice, &format!("{path}?{q}")).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{backend:?} {q}: {body}");
        }

        // A knowledge entry answers through its file.
        let res = s
            .http
            .post(format!("{}/api/v1/files?name=notes.txt&org=eng", s.base))
            .bearer_auth(&alice)
            .body("the accessword runbook")
            .send()
            .await
            .unwrap();
        let file: Value = res.json().await.unwrap();
        let entry = &wait_for_knowledge(&s, &alice, "accessword").await[0];
        let (st, answer) = s
            .get(
                &alice,
                &format!("/api/v1/knowledge/{}/access", entry["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {answer}");
        assert_eq!(answer["resource"]["id"], file["id"], "{backend:?}");
        assert_eq!(answer["asked_about"]["kind"], "knowledge_entry");
        assert_eq!(group(&answer, "member_of")["count"], 57, "{backend:?}");
        // Olga cannot see the entry: the 404 of an unused one.
        let (st, _) = s
            .get(
                &olga_token,
                &format!("/api/v1/knowledge/{}/access", entry["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{backend:?}");
    }
}

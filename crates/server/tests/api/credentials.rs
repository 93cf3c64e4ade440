//! Credential secrets are write-only (DESIGN section 2): never in a response,
//! a listing, the audit log or its export, and not stored in plain text.

use orgscope_core::policy::{SystemRead, system_filter};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, backends, ids};

/// A secret no other text in the test contains by chance.
fn secret(label: &str) -> String {
    format!("s3cr3t-{label}-{}", orgscope_store::new_id("x"))
}

/// Lowercase hex of a string's bytes.
fn hex(s: &str) -> String {
    orgscope_server::auth::hex(s.as_bytes())
}

/// The stored secret column and fields of a credential.
async fn stored(s: &TestServer, id: &str) -> (Option<String>, String) {
    let tenant = s.tenant_id().await;
    let mut tx = s.store.read().await.unwrap();
    let row = tx
        .resource(
            "credential",
            &system_filter(&tenant.as_str().into(), None, SystemRead::AlreadyAdmitted),
            id,
        )
        .await
        .unwrap();
    (row.secret, row.fields)
}

#[tokio::test]
async fn secrets_are_never_shown() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("alpha").await;
        s.org("bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
        let mut secrets: Vec<String> = Vec::new();
        // Every text the server answered, to search at the end.
        let mut seen = String::new();

        let first = secret("first");
        secrets.push(first.clone());
        let r = s
            .expect(
                &alice,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "db", "org": "alpha", "secret": first, "description": "the database"})),
                StatusCode::CREATED,
            )
            .await;
        seen.push_str(&r.text);
        let cred = r.json();
        assert!(cred.get("secret").is_none(), "{backend:?}: {cred}");
        assert_eq!(cred["description"], "the database");
        let id = cred["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/credentials/{id}");

        let tw_secret = secret("tenant-wide");
        secrets.push(tw_secret.clone());
        let r = s
            .expect(
                &s.admin,
                Method::POST,
                "/api/v1/credentials",
                Some(json!({"name": "shared", "org": null, "secret": tw_secret})),
                StatusCode::CREATED,
            )
            .await;
        seen.push_str(&r.text);
        let tw_id = r.json()["id"].as_str().unwrap().to_owned();

        // Stored encrypted: neither the plaintext nor its hex is in the row.
        let (ct, fields) = stored(&s, &id).await;
        let ct = ct.expect("a credential row keeps its ciphertext");
        assert!(
            !ct.contains(&first) && !ct.contains(&hex(&first)),
            "{backend:?}: {ct}"
        );
        assert!(!fields.contains(&first), "{backend:?}: fields {fields}");
        assert!(
            ct.len() > first.len(),
            "{backend:?}: a ciphertext with nonce and tag"
        );

        // Reads, as the writer, an admin, an auditor and an org key.
        let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
        let (_, key) = s.org_key(&alice, "alpha", "read").await;
        for token in [&alice, &s.admin, &auditor, &key] {
            for p in [
                path.clone(),
                format!("/api/v1/credentials/{tw_id}"),
                "/api/v1/credentials".to_owned(),
                "/api/v1/credentials?org=alpha".to_owned(),
                "/api/v1/credentials?org=tenant".to_owned(),
                "/api/v1/credentials?limit=1".to_owned(),
            ] {
                let r = s.expect(token, Method::GET, &p, None, StatusCode::OK).await;
                let body = r.json();
                let items = match body.get("items") {
                    Some(items) => items.as_array().unwrap().clone(),
                    None => vec![body.clone()],
                };
                for item in items {
                    assert!(item.get("secret").is_none(), "{backend:?}: {item}");
                }
                seen.push_str(&r.text);
            }
        }

        // Updates: a rename keeps it hidden, and so does a new secret.
        let r = s
            .expect(
                &alice,
                Method::PATCH,
                &path,
                Some(json!({"name": "db main"})),
                StatusCode::OK,
            )
            .await;
        seen.push_str(&r.text);
        let second = secret("second");
        secrets.push(second.clone());
        let r = s
            .expect(
                &alice,
                Method::PATCH,
                &path,
                Some(json!({"secret": second})),
                StatusCode::OK,
            )
            .await;
        seen.push_str(&r.text);
        assert!(r.json().get("secret").is_none(), "{backend:?}: {}", r.text);
        let (ct2, fields) = stored(&s, &id).await;
        let ct2 = ct2.unwrap();
        assert_ne!(ct2, ct, "{backend:?}: a new secret is a new ciphertext");
        assert!(
            !ct2.contains(&second) && !ct2.contains(&hex(&second)),
            "{backend:?}"
        );
        assert!(!fields.contains(&second), "{backend:?}: fields {fields}");
        let r = s
            .expect(&alice, Method::GET, &path, None, StatusCode::OK)
            .await;
        assert_eq!(r.json()["name"], "db main", "{backend:?}");
        seen.push_str(&r.text);
        // A rename alone keeps the ciphertext.
        let r = s
            .expect(
                &alice,
                Method::PATCH,
                &path,
                Some(json!({"description": "primary"})),
                StatusCode::OK,
            )
            .await;
        seen.push_str(&r.text);
        assert_eq!(stored(&s, &id).await.0.unwrap(), ct2, "{backend:?}");

        // Refusals do not echo the secret either.
        let third = secret("third");
        secrets.push(third.clone());
        for (body, status) in [
            (
                json!({"name": "x", "org": "nosuch", "secret": third}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"name": "x", "org": "alpha", "secret": third, "colour": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"name": "x", "org": null, "secret": third}),
                StatusCode::FORBIDDEN,
            ),
            (
                json!({"name": "x", "org": "alpha", "secret": format!("{third}{}", "y".repeat(17_000))}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            let r = s
                .expect(
                    &alice,
                    Method::POST,
                    "/api/v1/credentials",
                    Some(body),
                    status,
                )
                .await;
            seen.push_str(&r.text);
        }
        let r = s
            .expect(
                &key,
                Method::PATCH,
                &path,
                Some(json!({"secret": third})),
                StatusCode::FORBIDDEN,
            )
            .await;
        seen.push_str(&r.text);

        // Moves and deletes.
        let r = s
            .expect(
                &s.admin,
                Method::POST,
                &format!("{path}/rescope"),
                Some(json!({"org": "bravo", "preview": true})),
                StatusCode::OK,
            )
            .await;
        seen.push_str(&r.text);
        let r = s
            .expect(
                &s.admin,
                Method::POST,
                &format!("{path}/rescope"),
                Some(json!({"org": "bravo"})),
                StatusCode::OK,
            )
            .await;
        seen.push_str(&r.text);
        assert!(r.json()["resource"].get("secret").is_none(), "{backend:?}");
        let r = s
            .expect(
                &s.admin,
                Method::DELETE,
                &format!("/api/v1/credentials/{tw_id}"),
                None,
                StatusCode::NO_CONTENT,
            )
            .await;
        seen.push_str(&r.text);

        // The audit log and its export.
        let entries = s.list_all(&s.admin, "/api/v1/audit").await;
        let actions: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for action in [
            "credential.create",
            "credential.update",
            "credential.rescope",
            "credential.delete",
        ] {
            assert!(
                actions.contains(&action),
                "{backend:?}: no {action} in {actions:?}"
            );
        }
        let changed: Vec<&Value> = entries
            .iter()
            .filter(|e| e["action"] == "credential.update" && e["after"]["secret_changed"] == true)
            .collect();
        assert_eq!(
            changed.len(),
            1,
            "{backend:?}: one update changed the secret, and says so"
        );
        for e in &entries {
            seen.push_str(&e.to_string());
        }
        let r = s
            .raw(
                Method::GET,
                "/api/v1/audit/export",
                Some(&s.admin),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}");
        seen.push_str(&r.text);
        let r = s
            .raw(
                Method::GET,
                "/api/v1/audit/export",
                Some(&auditor),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}");
        seen.push_str(&r.text);

        for sec in &secrets {
            assert!(
                !seen.contains(sec.as_str()),
                "{backend:?}: a response shows the secret {sec}"
            );
            let probe = &sec[..sec.len() - 4];
            assert!(
                !seen.contains(probe),
                "{backend:?}: a response shows most of {sec}"
            );
        }
        assert!(!seen.is_empty());
        let (_, list) = s.get(&s.admin, "/api/v1/credentials").await;
        assert_eq!(ids(&list), [id], "{backend:?}");
    }
}

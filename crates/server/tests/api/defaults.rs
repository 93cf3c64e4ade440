//! What a read shows where a body said nothing: the default, not `null`;
//! a job's next and last firing; values that could never work refused up
//! front (an expiry already past); a name never sent as a path.

use reqwest::StatusCode;
use serde_json::json;

use crate::agents::infra;
use crate::files::upload;
use crate::harness::{TestServer, backends};

#[tokio::test]
async fn reads_show_defaults_and_refuse_what_could_never_work() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let job = s
            .create(&i.alice, "jobs", json!({"name": "hourly", "org": "alpha", "agent": i.agent, "host": i.host, "command": "uptime", "schedule": "@hourly"}))
            .await;
        assert_eq!(
            (&job["enabled"], &job["timezone"]),
            (&json!(true), &json!("UTC")),
            "{job}"
        );
        assert!(
            job["next_run_at"]
                .as_str()
                .unwrap()
                .ends_with(":00:00.000000Z"),
            "{job}"
        );
        assert_eq!(job["last_run_at"], json!(null));
        // A firing moves both.
        let id = job["id"].as_str().unwrap();
        let mut tx = s.store.write().await.unwrap();
        tx.job_schedule_set(id, Some("2000-01-01T00:00:00.000000Z"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        orgscope_server::routes::agents::fire_due(&s.state)
            .await
            .unwrap();
        let (_, fired) = s.get(&i.alice, &format!("/api/v1/jobs/{id}")).await;
        assert_eq!(
            fired["last_run_at"], "2000-01-01T00:00:00.000000Z",
            "{backend:?}: {fired}"
        );
        let (_, off) = s
            .patch(
                &i.alice,
                &format!("/api/v1/jobs/{id}"),
                json!({"enabled": false}),
            )
            .await;
        assert_eq!(
            (&off["enabled"], &off["next_run_at"]),
            (&json!(false), &json!(null)),
            "{off}"
        );

        let api = s
            .create(&i.alice, "api-definitions", json!({"name": "shop", "org": "alpha", "listen_path": "/shop/", "upstream_url": "http://127.0.0.1:9/"}))
            .await;
        assert_eq!(
            (
                &api["published"],
                &api["key_approval"],
                &api["methods"],
                &api["tags"]
            ),
            (&json!(false), &json!("member"), &json!([]), &json!([])),
            "{api}"
        );
        let (_, agent) = s
            .get(&i.alice, &format!("/api/v1/agents/{}", i.agent))
            .await;
        assert_eq!(agent["plugins"], json!([]), "{agent}");

        // An expiry already past makes a key that never works: refused.
        let past = "2001-01-01T00:00:00Z";
        let (st, why) = s
            .post(
                &s.admin,
                "/api/v1/api-keys",
                json!({"name": "old", "org": "alpha", "access": "read", "expires_at": past}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}: {why}");
        assert!(
            why["detail"].as_str().unwrap().contains("expires_at"),
            "{why}"
        );
        let dev = s
            .create(
                &i.alice,
                "developers",
                json!({"name": "dev", "org": "alpha", "email": "dev@example.com"}),
            )
            .await;
        let (st, why) = s
            .post(&i.alice, "/api/v1/consumer-keys", json!({"name": "k", "org": "alpha", "developer": dev["id"], "apis": [api["id"]], "expires_at": past}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let (st, why) = s
            .post(
                &i.alice,
                "/api/v1/me/tokens",
                json!({"name": "t", "expires_at": past}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let (st, _) = s
            .post(&s.admin, "/api/v1/api-keys", json!({"name": "new", "org": "alpha", "access": "read", "expires_at": "2999-01-01T00:00:00Z"}))
            .await;
        assert_eq!(st, StatusCode::CREATED);

        // A file named with a path is kept as named, and sent without one.
        let (st, f) = upload(s, &i.alice, "..%2F..%2Fetc%2Fpasswd", Some("alpha"), "x").await;
        assert_eq!(st, StatusCode::CREATED, "{f}");
        assert_eq!(f["name"], "../../etc/passwd");
        let res = s
            .http
            .get(format!(
                "{}/api/v1/files/{}/content",
                s.base,
                f["id"].as_str().unwrap()
            ))
            .bearer_auth(&i.alice)
            .send()
            .await
            .unwrap();
        let cd = res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!cd.contains('/') && !cd.contains("%2F"), "{cd}");
        assert!(cd.contains(".._.._etc_passwd"), "{cd}");
    }
}

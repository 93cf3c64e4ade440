//! The first things a user does, on every backend.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, backends};

#[tokio::test]
async fn login_create_an_org_and_see_it() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let (status, me) = s.get(&s.admin, "/api/v1/me").await;
        assert_eq!(status, StatusCode::OK, "{backend:?}");
        assert_eq!(me["role"], "admin");
        assert_eq!(me["default_org"]["slug"], "default");
        s.org("eng").await;
        let (status, orgs) = s.get(&s.admin, "/api/v1/orgs").await;
        assert_eq!(status, StatusCode::OK);
        let slugs: Vec<&str> = orgs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["default", "eng"], "{backend:?}");
        let (status, _) = s
            .post(
                &s.admin,
                "/api/v1/orgs",
                json!({"slug": "eng", "name": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend:?}");
    }
}

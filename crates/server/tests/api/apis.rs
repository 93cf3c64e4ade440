//! API management through HTTP: the org rules of api-definitions, developers
//! and consumer keys, references kept inside an org, the forward-auth check
//! (also behind a real nginx) and each org's portal by Host.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use orgscope_core::gateway::ProxyStyle;

use crate::harness::{Backend, Options, TestServer, backends};
use crate::nginx::{Nginx, check_location, upstream};

pub(crate) struct Apis {
    pub s: TestServer,
    pub alice: String,
    bob: String,
    auditor: String,
    pub api_a: String,
    api_b: String,
    pub dev_a: String,
    dev_b: String,
    pub key_a: String,
    key_a_id: String,
}

pub(crate) async fn setup(backend: Backend) -> Apis {
    setup_with(backend, Options::default()).await
}

pub(crate) async fn setup_with(backend: Backend, options: Options) -> Apis {
    let s = TestServer::start_with(backend, options).await;
    s.shared_gateway_check().await;
    s.org("alpha").await;
    s.org("beta").await;
    let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
    let (_, bob) = s.fast_user("bob", "user", &[("beta", false)]).await;
    let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
    let api = |org: &str, path: &str, published: bool| {
        json!({"name": format!("{org} api"), "org": org, "listen_path": path,
            "upstream_url": "http://127.0.0.1:9/", "published": published, "methods": ["GET", "POST"]})
    };
    let api_a = s
        .create(&alice, "api-definitions", api("alpha", "/alpha/", true))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_b = s
        .create(&bob, "api-definitions", api("beta", "/beta/", true))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.create(
        &bob,
        "api-definitions",
        api("beta", "/beta-internal/", false),
    )
    .await;
    let dev_a = s
        .create(
            &alice,
            "developers",
            json!({"name": "Ann", "org": "alpha", "email": "ann@example.com"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dev_b = s
        .create(
            &bob,
            "developers",
            json!({"name": "Ben", "org": "beta", "email": "ben@example.com"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = s
        .create(&alice, "consumer-keys", json!({"name": "ann's key", "org": "alpha", "developer": dev_a, "apis": [api_a], "rate_limit": 1000}))
        .await;
    assert!(key["token"].as_str().unwrap().starts_with("ock_"));
    Apis {
        key_a: key["token"].as_str().unwrap().to_owned(),
        key_a_id: key["id"].as_str().unwrap().to_owned(),
        s,
        alice,
        bob,
        auditor,
        api_a,
        api_b,
        dev_a,
        dev_b,
    }
}

pub(crate) async fn check(
    s: &TestServer,
    key: Option<&str>,
    method: &str,
    uri: &str,
) -> reqwest::Response {
    let mut req = s
        .http
        .get(format!("{}/api/v1/gateway/check", s.base))
        .header("x-original-method", method)
        .header("x-original-uri", uri);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_three_kinds_follow_the_org_rules_and_keep_references_in_their_org() {
    for backend in backends() {
        let a = setup(backend).await;
        let s = &a.s;
        // Visibility: hidden is 404, the auditor reads all, writes nothing.
        let (st, _) = s
            .get(&a.bob, &format!("/api/v1/api-definitions/{}", a.api_a))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = s
            .get(&a.auditor, &format!("/api/v1/consumer-keys/{}", a.key_a_id))
            .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s
            .patch(
                &a.auditor,
                &format!("/api/v1/developers/{}", a.dev_a),
                json!({"name": "x"}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(s.list_all(&a.alice, "/api/v1/consumer-keys").await.len(), 1);
        assert!(
            !s.list_all(&a.alice, "/api/v1/consumer-keys").await[0]
                .to_string()
                .contains("ock_")
        );
        // All three are org-required.
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/developers",
                json!({"name": "d", "org": null, "email": "d@x.io"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // Org keys: a read key reads, a read_write key writes in its org but issues no keys.
        let (_, read_a) = s.org_key(&s.admin, "alpha", "read").await;
        let (_, rw_a) = s.org_key(&s.admin, "alpha", "read_write").await;
        assert_eq!(
            s.list_all(&read_a, "/api/v1/api-definitions").await.len(),
            1
        );
        let (st, _) = s
            .post(
                &read_a,
                "/api/v1/developers",
                json!({"name": "d", "email": "d@x.io"}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = s
            .post(
                &rw_a,
                "/api/v1/developers",
                json!({"name": "d", "email": "d@x.io"}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CREATED,
            "a rw key creates in its own org by default"
        );
        let (st, _) = s
            .post(
                &rw_a,
                "/api/v1/consumer-keys",
                json!({"name": "k", "developer": a.dev_a, "apis": [a.api_a]}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // References across orgs: refused, naming what blocks.
        let (st, body) = s
            .post(&s.admin, "/api/v1/consumer-keys", json!({"name": "k", "org": "alpha", "developer": a.dev_a, "apis": [a.api_a, a.api_b]}))
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["blocking"][0]["id"], a.api_b.as_str());
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/consumer-keys",
                json!({"name": "k", "org": "alpha", "developer": a.dev_b, "apis": [a.api_a]}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        // An id the caller cannot see reads as one that does not exist.
        let (st, body) = s
            .post(
                &a.alice,
                "/api/v1/consumer-keys",
                json!({"name": "k", "org": "alpha", "developer": a.dev_a, "apis": [a.api_b]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("no api_definition '{}'", a.api_b))
        );
        // Moving or deleting what a key refers to: previewed, then refused with the list.
        let rescope = format!("/api/v1/developers/{}/rescope", a.dev_a);
        let (st, preview) = s
            .post(&s.admin, &rescope, json!({"org": "beta", "preview": true}))
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            preview["impact"]["blocking_references"][0]["ref"]["id"],
            a.key_a_id.as_str()
        );
        let (st, body) = s.post(&s.admin, &rescope, json!({"org": "beta"})).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        let (st, _) = s
            .delete(&s.admin, &format!("/api/v1/api-definitions/{}", a.api_a))
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        // A listen path serves one API in the tenant.
        let (st, _) = s
            .post(&s.admin, "/api/v1/api-definitions", json!({"name": "dup", "org": "beta", "listen_path": "/alpha/", "upstream_url": "http://x/"}))
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        let (st, _) = s
            .post(&s.admin, "/api/v1/api-definitions", json!({"name": "bad", "org": "beta", "listen_path": "nope", "upstream_url": "ftp://x/"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn the_gateway_check_allows_only_what_the_key_grants_in_its_org() {
    for backend in backends() {
        let a = setup(backend).await;
        let s = &a.s;
        assert_eq!(
            check(s, Some(&a.key_a), "GET", "/alpha/users?page=2")
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            check(s, Some(&a.key_a), "GET", "/beta/users")
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "{backend:?}"
        );
        assert_eq!(
            check(s, Some(&a.key_a), "DELETE", "/alpha/users")
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            check(s, Some(&a.key_a), "GET", "/nowhere").await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            check(s, None, "GET", "/alpha/").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            check(s, Some("ock_unknown"), "GET", "/alpha/")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        // Another style's headers, or none of ours: the check does not guess.
        for extra in [
            ("x-forwarded-uri", "/alpha/orders"),
            ("x-forwarded-method", "GET"),
        ] {
            let res = s
                .http
                .get(format!("{}/api/v1/gateway/check", s.base))
                .header("x-api-key", &a.key_a)
                .header("x-original-method", "GET")
                .header("x-original-uri", "/alpha/orders")
                .header(extra.0, extra.1)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        }
        let res = s
            .http
            .post(format!("{}/api/v1/gateway/check/alpha/orders", s.base))
            .header("x-api-key", &a.key_a)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no X-Original-URI");
        // A key of B for B's API passes; an expired key and a revoked one do not.
        let key_b = s
            .create(
                &a.bob,
                "consumer-keys",
                json!({"name": "b", "org": "beta", "developer": a.dev_b, "apis": [a.api_b],
                "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}),
            )
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            check(s, key_b["token"].as_str(), "GET", "/beta/x")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        let (st, _) = s
            .patch(
                &a.bob,
                &format!("/api/v1/consumer-keys/{}", key_b["id"].as_str().unwrap()),
                json!({"expires_at": null}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            check(s, key_b["token"].as_str(), "GET", "/beta/x")
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let (st, _) = s
            .delete(&a.alice, &format!("/api/v1/consumer-keys/{}", a.key_a_id))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert_eq!(
            check(s, Some(&a.key_a), "GET", "/alpha/x").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn keys_are_rate_limited_and_their_last_use_is_recorded() {
    let a = setup(Backend::Sqlite).await;
    let s = &a.s;
    let key = s
        .create(&a.alice, "consumer-keys", json!({"name": "slow", "org": "alpha", "developer": a.dev_a, "apis": [a.api_a], "rate_limit": 2}))
        .await;
    let token = key["token"].as_str().unwrap();
    assert_eq!(
        check(s, Some(token), "GET", "/alpha/").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        check(s, Some(token), "GET", "/alpha/").await.status(),
        StatusCode::NO_CONTENT
    );
    let limited = check(s, Some(token), "GET", "/alpha/").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Until the estimate over the last minute falls under the rate: within
    // this window and the next.
    assert!((1..=120).contains(&retry), "{retry}");
    // Last use reaches the database in batches (the server flushes every few
    // seconds; the test flushes at once).
    s.flush_gateway().await;
    let (_, k) = s
        .get(
            &a.alice,
            &format!("/api/v1/consumer-keys/{}", key["id"].as_str().unwrap()),
        )
        .await;
    assert!(k["last_used_at"].is_string(), "{k}");
}

#[tokio::test]
async fn each_org_portal_answers_on_its_own_domain_only() {
    for backend in backends() {
        let a = setup(backend).await;
        let s = &a.s;
        let (st, _) = s
            .patch(
                &s.admin,
                "/api/v1/orgs/alpha",
                json!({"domain": "alpha.portal.test"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s
            .patch(
                &s.admin,
                "/api/v1/orgs/beta",
                json!({"domain": "beta.portal.test"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let portal = |host: &'static str, json: bool| {
            let mut req = s
                .http
                .get(format!("{}/portal", s.base))
                .header("host", host);
            if json {
                req = req.header("accept", "application/json");
            }
            req.send()
        };
        // A claimed domain serves nothing until it is proved; here the
        // operator vouches for both (DNS proofs: lifecycle.rs).
        let unproved = portal("alpha.portal.test", true).await.unwrap();
        assert_eq!(unproved.status(), StatusCode::NOT_FOUND, "{backend:?}");
        let root = s.superuser().await;
        for org in ["alpha", "beta"] {
            let (st, body) = s
                .post(
                    &root,
                    &format!("/api/v1/orgs/{org}/domain/verify"),
                    json!({"skip_dns": true}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{backend:?}: {body}");
            assert_eq!(body["domain_verification"]["status"], "verified");
        }
        let alpha: Value = portal("alpha.portal.test", true)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(alpha["apis"].as_array().unwrap().len(), 1);
        assert_eq!(alpha["apis"][0]["listen_path"], "/alpha/");
        let beta: Value = portal("beta.portal.test:8080", true)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paths: Vec<&str> = beta["apis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["listen_path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            ["/beta/"],
            "{backend:?}: only published, only its own"
        );
        let html = portal("alpha.portal.test", false)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("/alpha/") && !html.contains("/beta/"));
        let unknown = portal("nobody.portal.test", false).await.unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn behind_a_real_nginx_a_key_reaches_its_orgs_api_only() {
    let a = setup(Backend::Sqlite).await;
    let s = &a.s;
    let up = upstream().await;
    let orgscope = s.base.trim_start_matches("http://").to_owned();
    let check = check_location(&orgscope, "");
    let locations = format!(
        "{check}
    location /alpha/ {{
      auth_request /_orgscope_check;
      proxy_pass http://127.0.0.1:{up}/alpha-upstream/;
    }}
    location /beta/ {{
      auth_request /_orgscope_check;
      proxy_pass http://127.0.0.1:{up}/beta-upstream/;
    }}"
    );
    let Some(nginx) = Nginx::start(&s.dir.join("nginx"), &locations).await else {
        return;
    };
    let port = nginx.port;
    let url = nginx.url("");
    let get = |path: &'static str, key: Option<&str>| {
        let mut req = s.http.request(Method::GET, format!("{url}{path}"));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send()
    };
    let ok = get("/alpha/users", Some(&a.key_a)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.text().await.unwrap(),
        "upstream saw /alpha-upstream/users"
    );
    let other = get("/beta/users", Some(&a.key_a)).await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::FORBIDDEN,
        "A's key on B's API at the same nginx"
    );
    assert!(!other.text().await.unwrap().contains("upstream saw"));
    assert_eq!(
        get("/alpha/users", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Hostile paths, sent raw (an HTTP client would resolve them first).
    // nginx routes each to beta's location; alpha's key must not pass, and
    // paths proxies disagree on never reach an upstream at all.
    let (status, body) = raw_get(port, "/alpha/../alpha/users", &a.key_a).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "upstream saw /alpha-upstream/users")
    );
    for path in [
        "/alpha/../beta/x",
        "/alpha/%2e%2e/beta/x",
        "/alpha/%2E%2e/beta/x",
        "/alpha/./../beta/x",
        "/alpha/..%2fbeta/x",
        "/alpha/%2F../beta/x",
        "/alpha//../beta/x",
        "/alpha/../../beta/x",
        "/%61lpha/../beta/x",
    ] {
        let (status, body) = raw_get(port, path, &a.key_a).await;
        assert!(
            status >= 400 && !body.contains("upstream saw"),
            "{path}: {status} {body}"
        );
    }
    let _ = (&a.api_b, &a.alice);
}

/// A GET with the path exactly as given; answers (status, body).
async fn raw_get(port: u16, path: &str, key: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Each deployment names its proxy: the check reads that style's headers
/// only, and a request with another style's (a client can add any header)
/// is refused rather than judged by the wrong one.
#[tokio::test]
async fn the_check_reads_the_configured_proxys_headers_only() {
    let traefik = setup_with(
        Backend::Sqlite,
        Options {
            proxy_style: Some(ProxyStyle::Traefik),
            ..Options::default()
        },
    )
    .await;
    let s = &traefik.s;
    let ask = |headers: &[(&str, &str)]| {
        let mut req = s
            .http
            .get(format!("{}/api/v1/gateway/check", s.base))
            .bearer_auth(&traefik.key_a);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let res = ask(&[
        ("x-forwarded-method", "POST"),
        ("x-forwarded-uri", "/alpha/orders"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["x-orgscope-org"], "alpha");
    // A client's X-Original-URI no longer wins over Traefik's header.
    let res = ask(&[
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/beta/x"),
        ("x-original-uri", "/alpha/x"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Normalised as Traefik routes it: this is beta's path.
    let res = ask(&[("x-forwarded-uri", "/alpha/%2e%2e/beta/x")])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let envoy = setup_with(
        Backend::Sqlite,
        Options {
            proxy_style: Some(ProxyStyle::Envoy),
            ..Options::default()
        },
    )
    .await;
    let s = &envoy.s;
    let res = s
        .http
        .post(format!("{}/api/v1/gateway/check/alpha/orders", s.base))
        .header("x-api-key", &envoy.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = s
        .http
        .post(format!("{}/api/v1/gateway/check/beta/orders", s.base))
        .header("x-api-key", &envoy.key_a)
        .header("x-original-uri", "/alpha/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// Paths are judged as the proxy routes them (DESIGN 5, the gateway check):
/// dot segments resolved, unreserved escapes decoded, ambiguous paths
/// refused; listen paths match whole segments.
#[tokio::test]
async fn the_check_judges_the_path_the_proxy_routes() {
    for backend in backends() {
        let a = setup(backend).await;
        let s = &a.s;
        for (uri, want) in [
            ("/alpha/x", StatusCode::NO_CONTENT),
            ("/alpha", StatusCode::NO_CONTENT),
            ("/%61lpha/x", StatusCode::NO_CONTENT),
            ("/beta/../alpha/x", StatusCode::NO_CONTENT),
            // Each of these reaches beta's API at the proxy: not alpha's key's.
            ("/alpha/../beta/x", StatusCode::FORBIDDEN),
            ("/alpha/%2e%2e/beta/x", StatusCode::FORBIDDEN),
            ("/alpha/%2E./beta/x", StatusCode::FORBIDDEN),
            ("/alpha/./../beta/x?/alpha/", StatusCode::FORBIDDEN),
            // Whole segments: /alphax is not /alpha/.
            ("/alphax/y", StatusCode::FORBIDDEN),
            // What proxies disagree on is refused.
            ("/alpha/..%2fbeta/x", StatusCode::BAD_REQUEST),
            ("/alpha/%2F../beta/x", StatusCode::BAD_REQUEST),
            ("/alpha//../beta/x", StatusCode::BAD_REQUEST),
            ("/alpha/..\\beta/x", StatusCode::BAD_REQUEST),
            ("/alpha/../../beta/x", StatusCode::BAD_REQUEST),
            ("/alpha/%00", StatusCode::BAD_REQUEST),
            ("alpha/x", StatusCode::BAD_REQUEST),
        ] {
            let res = check(s, Some(&a.key_a), "GET", uri).await;
            assert_eq!(res.status(), want, "{backend:?} {uri}");
        }
    }
}

/// No org captures another's traffic (DESIGN 3 and DECISIONS: API
/// management): a listen path overlapping another org's on whole segments
/// is refused, without naming a path the caller cannot see; one's own org
/// may nest its paths; prefixes inside a segment do not overlap.
#[tokio::test]
async fn listen_paths_never_shadow_another_orgs() {
    for backend in backends() {
        let a = setup(backend).await;
        let s = &a.s;
        let api = |org: &str, path: &str| json!({"name": format!("{org} {path}"), "org": org, "listen_path": path, "upstream_url": "http://127.0.0.1:9/"});
        // beta serves /beta/ and /beta-internal/; alpha serves /alpha/.
        for path in ["/beta/admin/", "/beta", "/beta/", "/", "/beta-internal/x"] {
            let (st, body) = s
                .post(&a.alice, "/api/v1/api-definitions", api("alpha", path))
                .await;
            assert_eq!(st, StatusCode::CONFLICT, "{backend:?} {path}: {body}");
            // Nothing of beta's but what alice sent herself.
            let text = body.to_string().replace(path, "<path>");
            assert!(
                !text.contains("beta"),
                "{backend:?}: a hidden path is named: {text}"
            );
            assert!(body.get("blocking").is_none(), "{backend:?}: {body}");
        }
        // The admin sees the clash named.
        let (st, body) = s
            .post(
                &s.admin,
                "/api/v1/api-definitions",
                api("alpha", "/beta/admin/"),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}");
        assert_eq!(
            body["blocking"][0]["id"],
            a.api_b.as_str(),
            "{backend:?}: {body}"
        );
        // Inside one segment is no overlap; nesting in one's own org is.
        for path in ["/betamax/", "/alpha/admin/", "/al/"] {
            s.create(&a.alice, "api-definitions", api("alpha", path))
                .await;
        }
        // The same path twice in one org is a clash, named (it is theirs).
        let (st, body) = s
            .post(&a.alice, "/api/v1/api-definitions", api("alpha", "/alpha"))
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}");
        assert_eq!(
            body["blocking"][0]["id"],
            a.api_a.as_str(),
            "{backend:?}: {body}"
        );
        // Paths that are not plain are refused before anything is compared.
        for path in ["/x/../beta/", "/x//y/", "/x/%2e%2e/", "/x/%2F/"] {
            let (st, body) = s
                .post(&a.alice, "/api/v1/api-definitions", api("alpha", path))
                .await;
            assert_eq!(
                st,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend:?} {path}: {body}"
            );
        }
        // Moving an API's path by update is held to the same rule.
        let (st, _) = s
            .patch(
                &a.alice,
                &format!("/api/v1/api-definitions/{}", a.api_a),
                json!({"listen_path": "/beta/a/"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}");
    }
}

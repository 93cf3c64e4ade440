//! Org-owned API gateways: two real nginx, each one org's gateway with its
//! own secret, in front of one upstream; two orgs serving the same listen
//! path, each key passing only its own org's gateway; tags moving an API
//! between two gateways of one org; the clash rules, the configuration a
//! proxy loads, rotation, and the tenant's shared check.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer, backends};
use crate::nginx::{Nginx, check_location, upstream};

struct Orgs {
    s: TestServer,
    /// A member of alpha (a user, who may manage its API definitions).
    alice: String,
    /// A member of beta.
    bob: String,
}

async fn orgs(backend: Backend) -> Orgs {
    let s = TestServer::start(backend).await;
    s.org("alpha").await;
    s.org("beta").await;
    let alice = s.user("alice", "user", &[("alpha", false)]).await;
    let bob = s.user("bob", "user", &[("beta", false)]).await;
    Orgs { s, alice, bob }
}

/// An API definition of `org` at `path` with these tags: its id.
async fn api(
    s: &TestServer,
    token: &str,
    org: &str,
    name: &str,
    path: &str,
    tags: &[&str],
) -> String {
    let made = s
        .create(
            token,
            "api-definitions",
            json!({"name": name, "org": org, "listen_path": path,
                "upstream_url": format!("http://{name}.internal/"), "tags": tags}),
        )
        .await;
    made["id"].as_str().unwrap().to_owned()
}

/// A consumer key of `org` for these APIs: its secret.
async fn key(s: &TestServer, token: &str, org: &str, apis: &[&str]) -> String {
    let dev = s
        .create(
            token,
            "developers",
            json!({"name": "dev", "org": org, "email": format!("dev@{org}.test")}),
        )
        .await;
    let key = s
        .create(
            token,
            "consumer-keys",
            json!({"name": "k", "org": org, "developer": dev["id"], "apis": apis}),
        )
        .await;
    key["token"].as_str().unwrap().to_owned()
}

/// An API gateway: (its id, its secret).
async fn gateway(
    s: &TestServer,
    token: &str,
    org: Option<&str>,
    tags: &[&str],
) -> (String, String) {
    let (st, b) = s
        .post(
            token,
            "/api/v1/api-gateways",
            json!({"name": format!("{}-{}", org.unwrap_or("tenant"), tags.join("-")), "org": org, "tags": tags}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    (
        b["id"].as_str().unwrap().to_owned(),
        b["token"].as_str().unwrap().to_owned(),
    )
}

/// The check as a gateway (`None`: the shared check) asks it.
async fn check(s: &TestServer, gateway: Option<&str>, key: &str, path: &str) -> StatusCode {
    let mut req = s
        .http
        .get(format!("{}/api/v1/gateway/check", s.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", path)
        .header("x-api-key", key);
    if let Some(g) = gateway {
        req = req.header("x-orgscope-gateway", g);
    }
    req.send().await.unwrap().status()
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_orgs_nginx_admits_only_its_own_orgs_keys_on_a_shared_path() {
    let o = orgs(Backend::Sqlite).await;
    let s = &o.s;
    // Both orgs serve /shop/: no gateway serves both, so both may.
    let shop_a = api(s, &o.alice, "alpha", "shop-a", "/shop/", &["edge"]).await;
    let shop_b = api(s, &o.bob, "beta", "shop-b", "/shop/", &[]).await;
    let key_a = key(s, &o.alice, "alpha", &[&shop_a]).await;
    let key_b = key(s, &o.bob, "beta", &[&shop_b]).await;
    let (gw_a, secret_a) = gateway(s, &o.alice, Some("alpha"), &["edge"]).await;
    let (_, secret_b) = gateway(s, &o.bob, Some("beta"), &[]).await;

    let up = upstream().await;
    let orgscope = s.base.trim_start_matches("http://");
    let mut proxies = Vec::new();
    for (name, secret) in [("alpha", &secret_a), ("beta", &secret_b)] {
        let check = check_location(
            orgscope,
            &format!(
                "proxy_set_header X-Orgscope-Gateway {secret}; proxy_set_header X-Orgscope-Gateway-Version nginx-{name};"
            ),
        );
        let locations = format!(
            "{check}
    location /shop/ {{
      auth_request /_orgscope_check;
      proxy_pass http://127.0.0.1:{up}/{name}-shop/;
    }}"
        );
        let Some(nginx) = Nginx::start(&s.dir.join(format!("nginx-{name}")), &locations).await
        else {
            return;
        };
        proxies.push(nginx);
    }
    let get = |nginx: &Nginx, key: &str| {
        s.http
            .get(nginx.url("/shop/items"))
            .header("x-api-key", key)
            .send()
    };
    let (a, b) = (&proxies[0], &proxies[1]);
    let through = get(a, &key_a).await.unwrap();
    assert_eq!(through.status(), StatusCode::OK);
    assert_eq!(
        through.text().await.unwrap(),
        "upstream saw /alpha-shop/items"
    );
    let through = get(b, &key_b).await.unwrap();
    assert_eq!(through.status(), StatusCode::OK);
    assert_eq!(
        through.text().await.unwrap(),
        "upstream saw /beta-shop/items"
    );
    // The other org's gateway knows neither key: refused as unknown.
    for (nginx, key) in [(b, &key_a), (a, &key_b)] {
        let refused = get(nginx, key).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(!refused.text().await.unwrap().contains("upstream saw"));
    }
    assert_eq!(
        get(a, "ock_nobody").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Tags move alpha's shop off its nginx's gateway, and back.
    let (st, _) = s
        .patch(
            &o.alice,
            &format!("/api/v1/api-definitions/{shop_a}"),
            json!({"tags": ["core"]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        get(a, &key_a).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (st, _) = s
        .patch(
            &o.alice,
            &format!("/api/v1/api-gateways/{gw_a}"),
            json!({"tags": ["edge", "core"]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(get(a, &key_a).await.unwrap().status(), StatusCode::OK);
    // The check that names no gateway is off for a new tenant, and says why.
    let shared = s
        .http
        .get(format!("{}/api/v1/gateway/check", s.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/shop/items")
        .header("x-api-key", &key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::FORBIDDEN);
    assert!(shared.text().await.unwrap().contains("X-Orgscope-Gateway"));

    // What each gateway reported, a few seconds late (here: flushed).
    s.flush_gateway().await;
    let (st, g) = s
        .get(&o.alice, &format!("/api/v1/api-gateways/{gw_a}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(g["version"], "nginx-alpha", "{g}");
    assert!(g["last_seen_at"].is_string(), "{g}");
    assert!(g.get("token").is_none(), "the secret is shown once only");
    // Bob sees nothing of alpha's gateway.
    let (st, _) = s.get(&o.bob, &format!("/api/v1/api-gateways/{gw_a}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .get(&o.bob, &format!("/api/v1/api-gateways/{gw_a}/config"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tags_move_an_api_between_an_orgs_gateways_and_say_so() {
    for backend in backends() {
        let o = orgs(backend).await;
        let s = &o.s;
        let orders = api(s, &o.alice, "alpha", "orders", "/orders/", &["blue"]).await;
        let key_a = key(s, &o.alice, "alpha", &[&orders]).await;
        let (blue, blue_secret) = gateway(s, &o.alice, Some("alpha"), &["blue"]).await;
        let (green, green_secret) = gateway(s, &o.alice, Some("alpha"), &["green"]).await;
        assert_eq!(
            check(s, Some(&blue_secret), &key_a, "/orders/1").await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            check(s, Some(&green_secret), &key_a, "/orders/1").await,
            StatusCode::FORBIDDEN,
            "{backend:?}: a path the gateway does not serve is a path nobody serves"
        );
        assert_eq!(
            check(s, Some(&green_secret), &key_a, "/nothing/here").await,
            StatusCode::FORBIDDEN
        );
        // The preview of a tag change says what moves, and changes nothing.
        let (st, moves) = s
            .post(
                &o.alice,
                &format!("/api/v1/api-gateways/{green}/preview"),
                json!({"tags": ["green", "blue"]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{moves}");
        assert_eq!(ids(&moves["gains"]), [orders.as_str()]);
        assert_eq!(moves["loses"], json!([]));
        assert_eq!(
            check(s, Some(&green_secret), &key_a, "/orders/1").await,
            StatusCode::FORBIDDEN
        );
        // The API's tags move it from blue to green.
        let (st, b) = s
            .patch(
                &o.alice,
                &format!("/api/v1/api-definitions/{orders}"),
                json!({"tags": ["green"]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        assert_eq!(
            check(s, Some(&green_secret), &key_a, "/orders/1").await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            check(s, Some(&blue_secret), &key_a, "/orders/1").await,
            StatusCode::FORBIDDEN
        );
        // The gateways' configurations follow.
        let (st, config) = s
            .get(&o.alice, &format!("/api/v1/api-gateways/{green}/config"))
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(ids(&config["apis"]), [orders.as_str()]);
        assert_eq!(config["apis"][0]["upstream_url"], "http://orders.internal/");
        let proxy = s
            .http
            .get(format!("{}/api/v1/gateway/config", s.base))
            .header("x-orgscope-gateway", &blue_secret)
            .send()
            .await
            .unwrap();
        assert_eq!(proxy.status(), StatusCode::OK);
        let proxy: Value = proxy.json().await.unwrap();
        assert_eq!(
            proxy["apis"],
            json!([]),
            "{backend:?}: blue serves nothing now"
        );
        // The audit says what moved.
        let (_, audit) = s
            .get(&s.admin, "/api/v1/audit?action=api_definition.update")
            .await;
        let entry = &audit["items"][0];
        assert_eq!(entry["before"]["served_by"], json!([blue]), "{entry}");
        assert_eq!(entry["after"]["served_by"], json!([green]), "{entry}");
        // A gateway's own tag change, audited with what it serves.
        let (st, _) = s
            .patch(
                &o.alice,
                &format!("/api/v1/api-gateways/{blue}"),
                json!({"tags": ["green"]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (_, audit) = s
            .get(&s.admin, "/api/v1/audit?action=api_gateway.update")
            .await;
        let entry = &audit["items"][0];
        assert_eq!(
            (&entry["before"]["serves"], &entry["after"]["serves"]),
            (&json!([]), &json!([orders])),
            "{entry}"
        );

        // Rotation: the old secret stops at once; the new one is shown once.
        let (st, rotated) = s
            .post(
                &o.alice,
                &format!("/api/v1/api-gateways/{green}/rotate"),
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{rotated}");
        let fresh = rotated["token"].as_str().unwrap();
        assert_eq!(
            check(s, Some(&green_secret), &key_a, "/orders/1").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            check(s, Some(fresh), &key_a, "/orders/1").await,
            StatusCode::NO_CONTENT
        );
        let (_, audit) = s
            .get(&s.admin, "/api/v1/audit?action=api_gateway.rotate")
            .await;
        assert_eq!(audit["items"][0]["target"], green.as_str(), "{audit}");
        // Keys do not manage gateways; other orgs' members cannot reach them.
        let (_, org_key) = s.org_key(&o.alice, "alpha", "read_write").await;
        let (st, _) = s
            .post(
                &format!("x-api-key:{org_key}"),
                &format!("/api/v1/api-gateways/{green}/rotate"),
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = s
            .post(
                &o.bob,
                &format!("/api/v1/api-gateways/{green}/rotate"),
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = s
            .post(
                &o.alice,
                "/api/v1/api-gateways",
                json!({"name": "t", "org": null}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::FORBIDDEN,
            "tenant-wide gateways are the admins'"
        );
    }
}

#[tokio::test]
async fn one_gateway_never_serves_a_path_twice() {
    for backend in backends() {
        let o = orgs(backend).await;
        let s = &o.s;
        let shop_a = api(s, &o.alice, "alpha", "shop-a", "/shop/", &["blue"]).await;
        let shop_b = api(s, &o.bob, "beta", "shop-b", "/shop/", &[]).await;
        api(s, &o.alice, "alpha", "catalog", "/shop/catalog/", &[]).await;
        // A tenant-wide untagged gateway would serve beta's /shop/ and
        // alpha's /shop/catalog/: refused, naming what the admin sees.
        let (st, b) = s
            .post(
                &s.admin,
                "/api/v1/api-gateways",
                json!({"name": "all", "org": null}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}: {b}");
        assert!(b["blocking"].to_string().contains(&shop_b), "{b}");
        // A tenant-wide gateway for green APIs only.
        let (_, g) = s
            .post(
                &s.admin,
                "/api/v1/api-gateways",
                json!({"name": "green", "org": null, "tags": ["green"]}),
            )
            .await;
        let green = g["id"].as_str().unwrap();
        let (st, b) = s
            .post(
                &o.bob,
                "/api/v1/api-definitions",
                json!({"name": "x", "org": "beta", "listen_path": "/shop/catalog/", "upstream_url": "http://x/", "tags": ["green"]}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CREATED,
            "{backend:?}: no gateway serves it twice: {b}"
        );
        let (st, b) = s
            .patch(
                &s.admin,
                &format!("/api/v1/api-gateways/{green}"),
                json!({"tags": ["green", "blue"]}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CONFLICT,
            "alpha's /shop/ (blue) under beta's green /shop/catalog/: {b}"
        );
        let (st, b) = s
            .post(
                &o.bob,
                "/api/v1/api-definitions",
                json!({"name": "y", "org": "beta", "listen_path": "/shop/", "upstream_url": "http://x/", "tags": ["blue"]}),
            )
            .await;
        // No gateway serves beta's blue APIs: beta's /shop/ may repeat.
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (_, g) = s
            .post(
                &o.bob,
                "/api/v1/api-gateways",
                json!({"name": "b-blue", "org": "beta", "tags": ["blue"]}),
            )
            .await;
        assert!(g["id"].is_string(), "{g}");
        let (st, b) = s
            .post(
                &o.bob,
                "/api/v1/api-gateways",
                json!({"name": "b-all", "org": "beta", "tags": ["blue", "green"]}),
            )
            .await;
        // It would serve beta's green /shop/catalog/ and blue /shop/: that
        // is nesting within one org, the org's call.
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (st, b) = s
            .post(
                &o.bob,
                "/api/v1/api-gateways",
                json!({"name": "b-any", "org": "beta", "tags": []}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (st, b) = s
            .post(
                &o.bob,
                "/api/v1/api-definitions",
                json!({"name": "z", "org": "beta", "listen_path": "/shop", "upstream_url": "http://x/"}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CONFLICT,
            "{backend:?}: b-any serves shop-b at /shop/ already: {b}"
        );
        assert!(b["blocking"].to_string().contains(&shop_b), "{b}");

        // A clash with what the writer cannot see is refused unnamed.
        let (_, w) = s
            .post(
                &o.bob,
                "/api/v1/api-definitions",
                json!({"name": "w", "org": "beta", "listen_path": "/deals/x/", "upstream_url": "http://x/", "tags": ["red"]}),
            )
            .await;
        let w = w["id"].as_str().unwrap().to_owned();
        let (st, b) = s
            .post(
                &s.admin,
                "/api/v1/api-gateways",
                json!({"name": "red", "org": null, "tags": ["red"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (st, b) = s
            .post(
                &o.alice,
                "/api/v1/api-definitions",
                json!({"name": "deals", "org": "alpha", "listen_path": "/deals/", "upstream_url": "http://x/", "tags": ["red"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert!(
            !b.to_string().contains(&w)
                && b["detail"]
                    .as_str()
                    .unwrap()
                    .contains("another organization"),
            "{b}"
        );

        // A move is checked where it goes: alpha's blue /shop/ into beta,
        // whose blue gateway serves beta's blue /shop/ already.
        let (st, b) = s
            .post(
                &s.admin,
                &format!("/api/v1/api-definitions/{shop_a}/rescope"),
                json!({"org": "beta"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}: {b}");
        // So is an org's deletion that moves its APIs there.
        let (st, b, _) = s
            .call(
                Method::DELETE,
                "/api/v1/orgs/alpha",
                Some(&s.admin),
                Some(json!({"move_to": "beta"})),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}: {b}");
        let (st, _) = s
            .get(&s.admin, &format!("/api/v1/api-definitions/{shop_a}"))
            .await;
        assert_eq!(st, StatusCode::OK, "nothing moved");

        // The shared check puts every org's paths in one space: refused
        // while alpha's and beta's /shop/ overlap.
        let (st, b) = s
            .patch(
                &s.admin,
                "/api/v1/tenant/gateways",
                json!({"shared_check": true}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        let (st, _) = s
            .patch(
                &o.alice,
                "/api/v1/tenant/gateways",
                json!({"shared_check": false}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, b) = s.get(&o.alice, "/api/v1/tenant/gateways").await;
        assert_eq!((st, &b), (StatusCode::OK, &json!({"shared_check": false})));
    }
}

/// An installation upgraded from before API gateways keeps the shared
/// check until its admins turn it off; then only gateways admit keys.
#[tokio::test]
async fn the_shared_check_is_the_tenants_choice() {
    let o = orgs(Backend::Sqlite).await;
    let s = &o.s;
    let shop = api(s, &o.alice, "alpha", "shop", "/shop/", &[]).await;
    let key_a = key(s, &o.alice, "alpha", &[&shop]).await;
    assert_eq!(
        check(s, None, &key_a, "/shop/x").await,
        StatusCode::FORBIDDEN
    );
    s.shared_gateway_check().await;
    assert_eq!(
        check(s, None, &key_a, "/shop/x").await,
        StatusCode::NO_CONTENT
    );
    // With the shared check, paths are one space again: beta may not take /shop/.
    let (st, _) = s
        .post(
            &o.bob,
            "/api/v1/api-definitions",
            json!({"name": "b", "org": "beta", "listen_path": "/shop/", "upstream_url": "http://x/"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = s
        .patch(
            &s.admin,
            "/api/v1/tenant/gateways",
            json!({"shared_check": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        check(s, None, &key_a, "/shop/x").await,
        StatusCode::FORBIDDEN
    );
    let (_, audit) = s
        .get(&s.admin, "/api/v1/audit?action=tenant.gateways")
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");
}

//! Hiding (DESIGN section 3): what a principal cannot see does not exist for
//! it. Every probe of a hidden thing is compared, byte for byte, with the same
//! probe of a reference that was never used: same status, same headers, same
//! body once the reference itself is blanked out, and the same database work
//! (the number of statements run), so that no early return before the
//! lookup makes a hidden thing answer faster or slower than a missing one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{FAST_PASSWORD, Raw, TestServer, backends, enc, unused_id};

/// Asserts that two responses differ only by the reference each one named.
fn assert_alike(what: &str, status: StatusCode, hidden: (&Raw, &str), unused: (&Raw, &str)) {
    let (h, h_ref) = hidden;
    let (u, u_ref) = unused;
    assert_eq!(h.status, status, "{what} (hidden {h_ref}): {}", h.text);
    assert_eq!(u.status, status, "{what} (unused {u_ref}): {}", u.text);
    let norm = |r: &Raw, reference: &str| r.text.replace(reference, "<REF>");
    assert_eq!(
        norm(h, h_ref),
        norm(u, u_ref),
        "{what}: a hidden reference must read exactly like an unused one"
    );
    let headers = |r: &Raw| {
        let mut v: Vec<(String, String)> = r
            .headers
            .iter()
            // Per request, whatever is asked: the date and the request's id.
            .filter(|(k, _)| !["date", "content-length", "x-request-id"].contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(headers(h), headers(u), "{what}: headers differ");
    if h_ref.len() == u_ref.len() {
        assert_eq!(
            h.header("content-length"),
            u.header("content-length"),
            "{what}"
        );
    }
}

/// Sends the same request for a hidden and for an unused reference; returns
/// both answers once each side's statement count is known. Background work
/// (extraction, the scheduler) only adds statements, so the least of a few
/// tries is what the request itself ran.
async fn pair(
    s: &TestServer,
    method: &Method,
    token: &str,
    hidden: (&str, Option<Value>),
    unused: (&str, Option<Value>),
) -> (Raw, Raw) {
    let mut least = [u64::MAX; 2];
    let mut answers = Vec::new();
    for _ in 0..5 {
        for (i, (path, body)) in [&hidden, &unused].into_iter().enumerate() {
            let before = s.store.statements();
            let r = s
                .raw_json(method.clone(), path, Some(token), body.clone())
                .await;
            least[i] = least[i].min(s.store.statements() - before);
            if answers.len() < 2 {
                answers.push(r);
            }
        }
        if least[0] == least[1] {
            break;
        }
    }
    assert_eq!(
        least[0], least[1],
        "{method} {}: a hidden reference ran {} statements, an unused one {}",
        hidden.0, least[0], least[1]
    );
    let u = answers.pop().unwrap();
    (answers.pop().unwrap(), u)
}

/// GET, PATCH, DELETE and re-scope (into `into`, an org the caller can see)
/// of `/api/v1/{kind}/{id}`.
fn resource_ops(kind: &str, id: &str, into: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/v1/{kind}/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/{kind}/{id}"),
            Some(json!({"name": "renamed by a stranger"})),
        ),
        (Method::DELETE, format!("/api/v1/{kind}/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/{kind}/{id}/rescope"),
            Some(json!({"org": into})),
        ),
        (
            Method::POST,
            format!("/api/v1/{kind}/{id}/rescope"),
            Some(json!({"org": into, "preview": true})),
        ),
    ]
}

/// Runs every resource op against `hidden` and against a never-used id of
/// the same prefix, as `token`, and compares them. `status(method)` is the
/// status both must have.
pub(crate) async fn probe_resource(
    s: &TestServer,
    token: &str,
    who: &str,
    kind: &str,
    hidden: &str,
    into: &str,
    status: impl Fn(&Method) -> StatusCode,
) {
    let prefix = hidden.split_once('_').unwrap().0;
    let unused = unused_id(prefix);
    for ((method, h_path, body), (_, u_path, _)) in resource_ops(kind, hidden, into)
        .into_iter()
        .zip(resource_ops(kind, &unused, into))
    {
        let (h, u) = pair(s, &method, token, (&h_path, body.clone()), (&u_path, body)).await;
        assert_alike(
            &format!("{who}: {method} {h_path}"),
            status(&method),
            (&h, hidden),
            (&u, &unused),
        );
    }
}

/// Runs `(method, path template, body)` with `<REF>` replaced by `hidden`
/// and by `unused`, and compares the two.
pub(crate) async fn probe_ref(
    s: &TestServer,
    token: &str,
    what: &str,
    status: StatusCode,
    (method, template, body): (Method, &str, Option<Value>),
    hidden: &str,
    unused: &str,
) {
    let fill = |r: &str| {
        let body = body
            .as_ref()
            .map(|b| serde_json::from_str(&b.to_string().replace("<REF>", r)).unwrap());
        (template.replace("<REF>", &enc(r)), body)
    };
    let (hp, hb) = fill(hidden);
    let (up, ub) = fill(unused);
    let (h, u) = pair(s, &method, token, (&hp, hb), (&up, ub)).await;
    assert_alike(
        &format!("{what}: {method} {template}"),
        status,
        (&h, hidden),
        (&u, unused),
    );
}

/// Every route that names an org, for a caller who cannot see `hidden`.
fn org_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/orgs/<REF>", None),
        (
            Method::PATCH,
            "/api/v1/orgs/<REF>",
            Some(json!({"name": "mine now"})),
        ),
        (Method::DELETE, "/api/v1/orgs/<REF>", None),
        (Method::GET, "/api/v1/orgs/<REF>/members", None),
        (
            Method::POST,
            "/api/v1/orgs/<REF>/members",
            Some(json!({"user": "alice", "can_manage": true})),
        ),
        (Method::GET, "/api/v1/orgs/<REF>/members/alice", None),
        (
            Method::PATCH,
            "/api/v1/orgs/<REF>/members/alice",
            Some(json!({"can_manage": true})),
        ),
        (Method::DELETE, "/api/v1/orgs/<REF>/members/alice", None),
        (Method::GET, "/api/v1/credentials?org=<REF>", None),
        (Method::GET, "/api/v1/specialties?org=<REF>", None),
        (Method::GET, "/api/v1/api-keys?org=<REF>", None),
    ]
}

/// 422s that name an org in a body: it reads as absent, like an unknown one.
fn org_body_routes(own_cred: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/api/v1/credentials".into(),
            Some(json!({"name": "c", "secret": "s3cret", "org": "<REF>"})),
        ),
        (
            Method::POST,
            "/api/v1/specialties".into(),
            Some(json!({"name": "sp", "org": "<REF>"})),
        ),
        (
            Method::POST,
            format!("/api/v1/credentials/{own_cred}/rescope"),
            Some(json!({"org": "<REF>"})),
        ),
        (
            Method::POST,
            format!("/api/v1/credentials/{own_cred}/rescope"),
            Some(json!({"org": "<REF>", "preview": true})),
        ),
    ]
}

#[tokio::test]
async fn another_orgs_resources_read_like_unused_ids() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("org-alpha").await;
        let b = s.org("org-bravo").await;
        let (_, alice) = s.fast_user("alice", "user", &[("org-alpha", false)]).await;
        s.fast_user("bob", "user", &[("org-bravo", false)]).await;
        let cred_b = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "b cred", "secret": "b-secret", "org": "org-bravo"}),
            )
            .await;
        let spec_b = s
            .create(
                &s.admin,
                "specialties",
                json!({"name": "b spec", "org": "org-bravo"}),
            )
            .await;
        let (key_b, _) = s.org_key(&s.admin, "org-bravo", "read_write").await;
        let own_cred = s
            .create(
                &alice,
                "credentials",
                json!({"name": "a cred", "secret": "a-secret", "org": "org-alpha"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, key_a) = s.org_key(&alice, "org-alpha", "read_write").await;

        let cred_b = cred_b["id"].as_str().unwrap();
        let spec_b = spec_b["id"].as_str().unwrap();
        for (who, token) in [("alice (member of A)", &alice), ("org key of A", &key_a)] {
            for (kind, id) in [("credentials", cred_b), ("specialties", spec_b)] {
                probe_resource(&s, token, who, kind, id, "org-alpha", |_| {
                    StatusCode::NOT_FOUND
                })
                .await;
            }
        }
        // A user may manage keys: B's key is as absent for her as any.
        probe_resource(&s, &alice, "alice", "api-keys", &key_b, "org-alpha", |_| {
            StatusCode::NOT_FOUND
        })
        .await;
        // Orgs, by slug and by id, in paths and in `?org=`.
        for (who, token) in [("alice (member of A)", &alice), ("org key of A", &key_a)] {
            for route in org_routes() {
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::NOT_FOUND,
                    route.clone(),
                    "org-bravo",
                    "org-nosuch",
                )
                .await;
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::NOT_FOUND,
                    route,
                    &b,
                    &unused_id("org"),
                )
                .await;
            }
            for (m, path, body) in org_body_routes(&own_cred) {
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    (m.clone(), &path, body.clone()),
                    "org-bravo",
                    "org-nosuch",
                )
                .await;
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    (m, &path, body),
                    &b,
                    &unused_id("org"),
                )
                .await;
            }
        }
        // An id of one kind is nothing at another kind's path.
        for token in [&alice, &key_a, &s.admin] {
            for kind in ["specialties", "api-keys", "plugins"] {
                probe_ref(
                    &s,
                    token,
                    "own credential at another kind's path",
                    StatusCode::NOT_FOUND,
                    (Method::GET, &format!("/api/v1/{kind}/<REF>"), None),
                    &own_cred,
                    &unused_id("cred"),
                )
                .await;
            }
        }
        // Other users are as absent for a plain user as unknown ones.
        probe_ref(
            &s,
            &alice,
            "alice",
            StatusCode::NOT_FOUND,
            (Method::GET, "/api/v1/users/<REF>", None),
            "bob",
            "nobody",
        )
        .await;
        probe_ref(
            &s,
            &alice,
            "alice",
            StatusCode::NOT_FOUND,
            (
                Method::PATCH,
                "/api/v1/users/<REF>",
                Some(json!({"password": "new-password-1"})),
            ),
            "bob",
            "nobody",
        )
        .await;

        // Nothing a stranger tried changed anything.
        for (kind, id, name) in [
            ("credentials", cred_b, "b cred"),
            ("specialties", spec_b, "b spec"),
            ("api-keys", key_b.as_str(), "org-bravo read_write key"),
        ] {
            let (st, r) = s.get(&s.admin, &format!("/api/v1/{kind}/{id}")).await;
            assert_eq!(st, StatusCode::OK, "{backend:?} {kind}: {r}");
            assert_eq!(r["name"], name, "{backend:?}");
            assert_eq!(r["org"]["id"], b.as_str(), "{backend:?}");
        }
        let (st, org) = s.get(&s.admin, "/api/v1/orgs/org-bravo").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(org["name"], "org-bravo", "{backend:?}");
        let (st, m) = s.get(&s.admin, "/api/v1/orgs/org-bravo/members").await;
        assert_eq!(st, StatusCode::OK);
        let members: Vec<&str> = m["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user"]["username"].as_str().unwrap())
            .collect();
        assert_eq!(members, ["bob"], "{backend:?}");
    }
}

/// DESIGN section 3: "403 only where the resource is visible". An org key
/// asking to change another org's key is told 403 ("an org access key cannot
/// manage api-keys") instead of 404. The body is the same as for an unused id,
/// so nothing leaks, but the rule says 404.
#[tokio::test]
async fn an_org_key_is_told_404_for_keys_it_cannot_see() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("org-alpha").await;
        s.org("org-bravo").await;
        let (key_b, _) = s.org_key(&s.admin, "org-bravo", "read_write").await;
        let (_, key_a) = s.org_key(&s.admin, "org-alpha", "read_write").await;
        probe_resource(
            &s,
            &key_a,
            "org key of A",
            "api-keys",
            &key_b,
            "org-alpha",
            |_| StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn an_org_key_cannot_tell_other_orgs_keys_from_unused_ids() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.org("org-alpha").await;
        s.org("org-bravo").await;
        let (key_b, _) = s.org_key(&s.admin, "org-bravo", "read_write").await;
        let (_, key_a) = s.org_key(&s.admin, "org-alpha", "read_write").await;
        // Whatever the status, hidden and unused read alike.
        probe_resource(
            &s,
            &key_a,
            "org key of A",
            "api-keys",
            &key_b,
            "org-alpha",
            |_| StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn other_tenants_do_not_exist() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let (_, alice) = s.fast_user("alice", "user", &[("default", false)]).await;
        let t1_cred = s
            .create(
                &s.admin,
                "credentials",
                json!({"name": "t1 cred", "secret": "t1-secret", "org": "default"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // A superuser makes a second tenant and its admin.
        let root = s.superuser().await;
        let acme = s.other_tenant(&root, "acme").await;
        let (acme_admin, acme_admin_id, acme_default_org) =
            (acme.admin, acme.admin_id, acme.default_org);
        let (st, org) = s
            .post(
                &acme_admin,
                "/api/v1/orgs",
                json!({"slug": "acme-secret", "name": "Acme secret"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {org}");
        let acme_org = org["id"].as_str().unwrap().to_owned();
        let cred = s
            .create(
                &acme_admin,
                "credentials",
                json!({"name": "acme cred", "secret": "acme-secret-value", "org": "acme-secret"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let spec = s
            .create(
                &acme_admin,
                "specialties",
                json!({"name": "acme tenant-wide spec", "org": null}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (acme_key_id, acme_key) = s.org_key(&acme_admin, "acme-secret", "read_write").await;
        let acme_ids = [
            cred.clone(),
            spec.clone(),
            acme_key_id.clone(),
            acme_org.clone(),
            acme_default_org.clone(),
            acme_admin_id.clone(),
        ];

        // The first tenant's admin (and a member) cannot tell any of it
        // from what was never made.
        for (who, token) in [("tenant 1 admin", &s.admin), ("tenant 1 user", &alice)] {
            for (kind, id) in [
                ("credentials", cred.as_str()),
                ("specialties", spec.as_str()),
                ("api-keys", acme_key_id.as_str()),
            ] {
                probe_resource(&s, token, who, kind, id, "default", |_| {
                    StatusCode::NOT_FOUND
                })
                .await;
            }
            for route in org_routes() {
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::NOT_FOUND,
                    route.clone(),
                    "acme-secret",
                    "acme-nosuch",
                )
                .await;
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::NOT_FOUND,
                    route.clone(),
                    &acme_org,
                    &unused_id("org"),
                )
                .await;
                probe_ref(
                    &s,
                    token,
                    who,
                    StatusCode::NOT_FOUND,
                    route,
                    &acme_default_org,
                    &unused_id("org"),
                )
                .await;
            }
            for (m, path, body) in org_body_routes(&t1_cred) {
                for (hidden, unused) in [
                    ("acme-secret", "acme-nosuch".to_owned()),
                    (acme_org.as_str(), unused_id("org")),
                ] {
                    probe_ref(
                        &s,
                        token,
                        who,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        (m.clone(), &path, body.clone()),
                        hidden,
                        &unused,
                    )
                    .await;
                }
            }
            probe_ref(
                &s,
                token,
                who,
                StatusCode::NOT_FOUND,
                (Method::GET, "/api/v1/users/<REF>", None),
                "acme-admin",
                "nosuch-admin",
            )
            .await;
            probe_ref(
                &s,
                token,
                who,
                StatusCode::NOT_FOUND,
                (Method::GET, "/api/v1/users/<REF>", None),
                &acme_admin_id,
                &unused_id("usr"),
            )
            .await;
        }
        probe_ref(
            &s,
            &s.admin,
            "tenant 1 admin",
            StatusCode::NOT_FOUND,
            (
                Method::PATCH,
                "/api/v1/users/<REF>",
                Some(json!({"disabled": true})),
            ),
            "acme-admin",
            "nosuch-admin",
        )
        .await;
        // Nor can it add the other tenant's admin to its own org.
        probe_ref(
            &s,
            &s.admin,
            "tenant 1 admin",
            StatusCode::UNPROCESSABLE_ENTITY,
            (
                Method::POST,
                "/api/v1/orgs/default/members",
                Some(json!({"user": "<REF>"})),
            ),
            "acme-admin",
            "nosuch-admin",
        )
        .await;

        // Naming the other tenant in the superuser's header does nothing
        // for anyone else.
        for token in [&s.admin, &alice] {
            let r = s
                .raw(
                    Method::GET,
                    &format!("/api/v1/credentials/{cred}"),
                    Some(token),
                    &[("x-orgscope-tenant", "acme")],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend:?}: {}", r.text);
            let r = s
                .raw(
                    Method::GET,
                    "/api/v1/credentials",
                    Some(token),
                    &[("x-orgscope-tenant", "acme")],
                    None,
                )
                .await;
            assert_eq!(
                crate::harness::ids(&r.json()),
                vec![t1_cred.clone()],
                "{backend:?}"
            );
        }
        let r = s
            .raw(
                Method::GET,
                &format!("/api/v1/credentials/{t1_cred}"),
                Some(&acme_key),
                &[("x-orgscope-tenant", "default")],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend:?}: {}", r.text);
        // Members by id: the other tenant's user is as unknown as a new id.
        let alice_id = s.get(&alice, "/api/v1/me").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        probe_ref(
            &s,
            &acme_admin,
            "acme admin",
            StatusCode::UNPROCESSABLE_ENTITY,
            (
                Method::POST,
                "/api/v1/orgs/acme-secret/members",
                Some(json!({"user": "<REF>"})),
            ),
            &alice_id,
            &unused_id("usr"),
        )
        .await;
        // Slugs and usernames are the tenant's own: the same ones coexist.
        let t1_shared = s.org("shared").await;
        let (st, acme_shared) = s
            .post(
                &acme_admin,
                "/api/v1/orgs",
                json!({"slug": "shared", "name": "s"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {acme_shared}");
        assert_ne!(acme_shared["id"], t1_shared.as_str());
        let (_, got) = s.get(&s.admin, "/api/v1/orgs/shared").await;
        assert_eq!(got["id"], t1_shared.as_str(), "{backend:?}");
        let (_, got) = s.get(&acme_admin, "/api/v1/orgs/shared").await;
        assert_eq!(got["id"], acme_shared["id"], "{backend:?}");
        let (st, acme_alice) = s
            .post(
                &acme_admin,
                "/api/v1/users",
                json!({"username": "alice", "password": "acme-alice-password", "default_org": "shared"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {acme_alice}");
        assert_ne!(acme_alice["id"], alice_id.as_str());
        let (st, _, _) = s.login_in(Some("acme"), "alice", FAST_PASSWORD).await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "{backend:?}: tenant 1 alice's password"
        );
        let (st, login, _) = s
            .login_in(Some("acme"), "alice", "acme-alice-password")
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {login}");
        let (_, me) = s.get(login["token"].as_str().unwrap(), "/api/v1/me").await;
        assert_eq!(me["id"], acme_alice["id"], "{backend:?}");
        assert_eq!(me["default_org"]["id"], acme_shared["id"], "{backend:?}");
        let (_, me) = s.get(&alice, "/api/v1/me").await;
        assert_eq!(me["id"], alice_id.as_str(), "{backend:?}");

        // No listing of the first tenant shows the second's rows.
        for path in [
            "/api/v1/credentials",
            "/api/v1/specialties",
            "/api/v1/specialties?org=tenant",
            "/api/v1/api-keys",
            "/api/v1/orgs",
            "/api/v1/users",
        ] {
            for item in s.list_all(&s.admin, path).await {
                let id = item["id"].as_str().unwrap();
                assert!(
                    !acme_ids.iter().any(|a| a == id),
                    "{backend:?}: {path} shows {item}"
                );
            }
        }
        for entry in s.list_all(&s.admin, "/api/v1/audit").await {
            let text = entry.to_string();
            assert!(
                !acme_ids.iter().any(|a| text.contains(a.as_str())) && !text.contains("acme"),
                "{backend:?}: the audit log of tenant 1 shows {entry}"
            );
        }

        // The other way round: the second tenant's key and admin see
        // nothing of the first.
        for (who, token) in [("acme key", &acme_key), ("acme admin", &acme_admin)] {
            probe_resource(
                &s,
                token,
                who,
                "credentials",
                &t1_cred,
                "acme-secret",
                |_| StatusCode::NOT_FOUND,
            )
            .await;
            let listed = s.list_all(token, "/api/v1/credentials").await;
            assert!(
                listed.iter().all(|c| c["id"] != t1_cred.as_str()),
                "{backend:?}: {who} lists tenant 1's credential"
            );
        }
        let (st, users) = s.get(&acme_admin, "/api/v1/users").await;
        assert_eq!(st, StatusCode::OK);
        let listed: Vec<(&str, &str)> = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["id"].as_str().unwrap(), u["username"].as_str().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [
                (acme_admin_id.as_str(), "acme-admin"),
                (acme_alice["id"].as_str().unwrap(), "alice")
            ],
            "{backend:?}"
        );

        // A tenant 1 user cannot log into the other tenant.
        let (st, _, _) = s
            .login_in(Some("acme"), "admin", crate::harness::ADMIN_PASSWORD)
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{backend:?}");
        // The superuser, naming the tenant, sees its rows.
        let r = s
            .raw(
                Method::GET,
                &format!("/api/v1/credentials/{cred}"),
                Some(&root),
                &[("x-orgscope-tenant", "acme")],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend:?}: {}", r.text);
    }
}

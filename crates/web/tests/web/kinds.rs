//! Every other kind through the generic pages: forms that keep what was
//! typed when the app refuses them, reference pickers that offer only what
//! the viewer sees in the right org, a gateway's secret shown once beside
//! its webhook URL, a task's status, a credential's reveal behind a
//! confirm (audited), a move through the preview and its blocking
//! references; and in a browser, the story with axe-core and screenshots.

use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::e2e::sign_in;
use crate::harness::TestServer;

/// The id in a `Location` like `/hosts/hst_…?done=created`.
fn id_in(location: &str, path: &str) -> String {
    location
        .trim_start_matches(&format!("/{path}/"))
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

async fn made(server: &TestServer, token: &str, path: &str, body: Value) -> String {
    let (s, b) = server
        .api(Method::POST, token, &format!("/api/v1/{path}"), Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "create {path}: {b}");
    b["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_generic_pages_over_http() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("rita", &["eng"], Some("eng")).await;
    let rita = server.api_login("rita", "rita-password").await;

    // The list, the form, the nav.
    let (s, page) = server.page(&rita, "/hosts").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Nothing here yet"), "{page}");
    assert!(page.contains("href=\"/api-definitions\""), "{page}");
    assert!(page.contains(">API management<"), "{page}");
    let (s, form) = server.page(&rita, "/hosts/new").await;
    assert_eq!(s, StatusCode::OK);
    assert!(form.contains("name=\"address\""), "{form}");
    assert!(
        !form.contains("value=\"mkt\""),
        "only orgs she may place hosts in are offered: {form}"
    );

    // A refusal keeps what was typed, and says what to fix.
    let (s, _, page) = server
        .post_form(
            &rita,
            "/hosts",
            &[
                ("name", "db-1"),
                ("org", "eng"),
                ("address", ""),
                ("labels", "env=prod"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Address: is required"), "{page}");
    assert!(page.contains("value=\"db-1\""), "{page}");
    assert!(page.contains(">env=prod</textarea>"), "{page}");
    let (s, _, page) = server
        .post_form(
            &rita,
            "/hosts",
            &[
                ("name", "db-1"),
                ("org", "eng"),
                ("address", "10.0.0.5"),
                ("labels", "env=prod\nbroken"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("line 2 has no"), "{page}");
    assert!(page.contains("value=\"10.0.0.5\""), "{page}");

    // Made, then found on its page.
    let (s, location, _) = server
        .post_form(
            &rita,
            "/hosts",
            &[
                ("name", "db-1"),
                ("org", "eng"),
                ("address", "10.0.0.5"),
                ("labels", "env=prod"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let host = id_in(&location, "hosts");
    assert!(host.starts_with("hst_"), "{location}");
    let (_, page) = server.page(&rita, &location).await;
    assert!(
        page.contains("10.0.0.5") && page.contains("env=prod"),
        "{page}"
    );
    assert!(page.contains("Who has access"), "{page}");

    // A host in Marketing (by the admin): hidden from her like an unused id,
    // and never offered by her pickers.
    let hidden = made(
        &server,
        &server.admin,
        "hosts",
        json!({"name": "mkt-box", "org": "mkt", "address": "10.9.9.9"}),
    )
    .await;
    let (s1, p1) = server.page(&rita, &format!("/hosts/{hidden}")).await;
    let (s2, p2) = server.page(&rita, "/hosts/hst_neverused").await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(p1, p2, "a hidden host reads like an unused id");
    let agent = made(
        &server,
        &rita,
        "agents",
        json!({"name": "backup-agent", "org": "eng"}),
    )
    .await;
    let (_, form) = server.page(&rita, "/tasks/new?org=eng").await;
    assert!(form.contains(&host) && form.contains(&agent), "{form}");
    assert!(
        !form.contains(&hidden) && !form.contains("mkt-box"),
        "{form}"
    );

    // A task through the form: its status shows.
    let (s, location, page) = server
        .post_form(
            &rita,
            "/tasks",
            &[
                ("name", "dump"),
                ("org", "eng"),
                ("agent", &agent),
                ("host", &host),
                ("command", "pg_dump app"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let (_, page) = server.page(&rita, &location).await;
    assert!(page.contains("class=\"state pending\">queued<"), "{page}");
    // Agent, host and command are fixed once made: shown, not offered,
    // and a rename through the edit form still works.
    assert!(
        page.contains("class=\"fixed-value\"") && page.contains(">pg_dump app</textarea>"),
        "{page}"
    );
    for fixed in ["command", "agent", "host"] {
        assert!(
            !page.contains(&format!("name=\"{fixed}\"")),
            "{fixed}: {page}"
        );
    }
    let task = location.split('?').next().unwrap();
    let (s, _, body) = server
        .post_form(&rita, &format!("{task}/edit"), &[("name", "dump-nightly")])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (_, list) = server.page(&rita, "/tasks?org=eng").await;
    assert!(
        list.contains(">queued<") && list.contains("backup-agent"),
        "{list}"
    );

    // A change: only what differs is sent.
    let (s, location, _) = server
        .post_form(
            &rita,
            &format!("/hosts/{host}/edit"),
            &[
                ("name", "db-1"),
                ("address", "10.0.0.6"),
                ("labels", "env=prod"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location.ends_with("done=saved"), "{location}");
    let (_, h) = server
        .api(Method::GET, &rita, &format!("/api/v1/hosts/{host}"), None)
        .await;
    assert_eq!(h["address"], "10.0.0.6");

    // Deleting a host a task refers to is refused, naming the task.
    let (s, _, page) = server
        .post_form(&rita, &format!("/hosts/{host}/delete"), &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("still referred to"), "{page}");
    assert!(page.contains("href=\"/tasks/tsk_"), "{page}");

    // A gateway: its secret once, its webhook URL.
    let (s, _, page) = server
        .post_form(
            &rita,
            "/gateways",
            &[
                ("name", "tickets"),
                ("org", "eng"),
                ("type", "generic"),
                ("agent", &agent),
                ("host", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{page}");
    assert!(page.contains("osg_"), "the secret is shown once: {page}");
    assert!(page.contains("/hooks/gateways/gw_"), "{page}");

    // A job's next firing.
    let (s, location, page) = server
        .post_form(
            &rita,
            "/jobs",
            &[
                ("name", "nightly"),
                ("org", "eng"),
                ("agent", &agent),
                ("host", &host),
                ("command", "pg_dump app"),
                ("schedule", "0 3 * * *"),
                ("enabled", "true"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let (_, page) = server.page(&rita, &location).await;
    assert!(
        page.contains("Next firing") && page.contains(">in "),
        "{page}"
    );

    // A credential: the reveal is a POST behind a confirm, and audited.
    let (s, location, _) = server
        .post_form(
            &rita,
            "/credentials",
            &[
                ("name", "db-password"),
                ("org", "eng"),
                ("secret", "s3cret"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cred = id_in(&location, "credentials");
    let (_, page) = server.page(&rita, &location).await;
    assert!(!page.contains("s3cret"), "{page}");
    let (s, confirm) = server
        .page(&rita, &format!("/credentials/{cred}/reveal"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(confirm.contains("recorded in the audit log"), "{confirm}");
    let (s, _, page) = server
        .post_form(&rita, &format!("/credentials/{cred}/reveal"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(">s3cret</code>"), "{page}");
    let (_, audit) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/audit?action=credential.reveal",
            None,
        )
        .await;
    assert!(audit.to_string().contains(&cred), "{audit}");
    // Only a credential reveals.
    let (s, _) = server.page(&rita, &format!("/hosts/{host}/reveal")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Without the token, nothing is made.
    let res = server
        .http
        .post(server.url("/hosts"))
        .header("cookie", format!("orgscope_session={rita}"))
        .form(&[("name", "sneaky"), ("org", "eng"), ("address", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, hosts) = server.api(Method::GET, &rita, "/api/v1/hosts", None).await;
    assert!(!hosts.to_string().contains("sneaky"), "{hosts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_agents_tasks_and_credentials_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let outcome = std::panic::AssertUnwindSafe(story(&server, &browser))
        .catch_unwind()
        .await;
    browser.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn story(server: &TestServer, b: &Browser) {
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("tess", &["eng", "mkt"], Some("eng")).await;
    sign_in(b, server, "tess").await;

    // A host, through the nav and the form.
    b.click(".sidenav a[href='/hosts']").await;
    b.wait_url("the hosts", |u| u.ends_with("/hosts")).await;
    b.click("#new-open").await;
    b.wait_url("the new host form", |u| u.contains("/hosts/new"))
        .await;
    let org = b.find("#new-org").await.prop("value").await.unwrap();
    assert_eq!(
        org.as_deref(),
        Some("eng"),
        "the default org is preselected"
    );
    b.find("#field-name").await.send_keys("db-1").await.unwrap();
    b.find("#field-address")
        .await
        .send_keys("10.0.0.5")
        .await
        .unwrap();
    b.find("#field-labels")
        .await
        .send_keys("env=prod\nrole=db")
        .await
        .unwrap();
    b.click("#create").await;
    b.wait_url("the new host", |u| u.contains("done=created"))
        .await;
    let host_url = b.url().await;
    let host = host_url
        .split("/hosts/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    // A credential in Engineering.
    b.goto(&server.url("/credentials/new")).await;
    b.find("#field-name")
        .await
        .send_keys("db-password")
        .await
        .unwrap();
    b.find("#field-secret")
        .await
        .send_keys("s3cret-value")
        .await
        .unwrap();
    b.click("#create").await;
    b.wait_url("the new credential", |u| u.contains("done=created"))
        .await;
    let cred_url = b.url().await;

    // An agent that refers to it through the picker, chosen after its org;
    // the picker is drawn again when the org changes, keeping the name.
    b.goto(&server.url("/agents/new")).await;
    b.find("#field-name")
        .await
        .send_keys("backup-agent")
        .await
        .unwrap();
    b.find("#new-org")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.wait_text("#field-credentials", "no credential in Marketing", |t| {
        !t.contains("db-password")
    })
    .await;
    let kept = b.find("#field-name").await.prop("value").await.unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("backup-agent"),
        "what was typed stays"
    );
    b.find("#new-org")
        .await
        .select_by_value("eng")
        .await
        .unwrap();
    b.wait_text("#field-credentials", "Engineering's credential", |t| {
        t.contains("db-password")
    })
    .await;
    b.audit("kind-form").await;
    b.shoot("kind-form").await;
    b.click("#field-credentials input[type=checkbox]").await;
    b.click("#create").await;
    b.wait_url("the new agent", |u| u.contains("done=created"))
        .await;
    let details = b.text("#facts-title + dl").await;
    assert!(details.contains("db-password"), "{details}");

    // A task on that host for that agent, through the pickers: its status.
    b.goto(&server.url("/tasks/new")).await;
    b.find("#field-name").await.send_keys("dump").await.unwrap();
    b.find("#field-agent")
        .await
        .select_by_label("backup-agent")
        .await
        .unwrap();
    b.find("#field-host")
        .await
        .select_by_label("db-1")
        .await
        .unwrap();
    b.find("#field-command")
        .await
        .send_keys("pg_dump app")
        .await
        .unwrap();
    b.click("#create").await;
    b.wait_url("the new task", |u| u.contains("done=created"))
        .await;
    let status = b.text(".facts .state").await;
    assert_eq!(status, "queued");
    b.audit("kind-page").await;
    b.shoot("kind-page").await;

    // The hosts under the org filter.
    b.click(".sidenav a[href='/hosts']").await;
    b.wait_url("the hosts", |u| u.ends_with("/hosts")).await;
    b.find("#org-filter")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.wait_url("Marketing's hosts", |u| u.contains("org=mkt"))
        .await;
    b.wait_text("main", "no host in Marketing", |t| {
        t.contains("Nothing here yet")
    })
    .await;
    b.find("#org-filter")
        .await
        .select_by_value("eng")
        .await
        .unwrap();
    b.wait_url("Engineering's hosts", |u| u.contains("org=eng"))
        .await;
    let table = b
        .wait_text("#kind-table", "db-1 under Engineering", |t| {
            t.contains("db-1")
        })
        .await;
    assert!(
        table.contains("Engineering") && table.contains("10.0.0.5"),
        "{table}"
    );
    b.audit("kind-list").await;
    b.shoot("kind-list").await;

    // Moving the host: the preview names the task that blocks it.
    b.goto(&host_url).await;
    b.find("#move-to")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.click("form[data-dialog='move-dialog'] button[type=submit]")
        .await;
    b.find("#move-dialog[open]").await;
    let preview = b
        .wait_text("#move-dialog", "the preview", |t| {
            t.to_lowercase().contains("blocking references")
        })
        .await;
    assert!(preview.contains("referred to by task"), "{preview}");
    let disabled = b
        .find("#move-confirm")
        .await
        .attr("disabled")
        .await
        .unwrap();
    assert!(disabled.is_some(), "a blocked move cannot be confirmed");
    b.click("#move-dialog [data-close-dialog]").await;

    // A second host moves: the preview, then the confirm.
    b.goto(&server.url("/hosts/new")).await;
    b.find("#field-name")
        .await
        .send_keys("web-1")
        .await
        .unwrap();
    b.find("#field-address")
        .await
        .send_keys("10.0.0.9")
        .await
        .unwrap();
    b.click("#create").await;
    b.wait_url("the new host", |u| u.contains("done=created"))
        .await;
    b.find("#move-to")
        .await
        .select_by_value("mkt")
        .await
        .unwrap();
    b.click("form[data-dialog='move-dialog'] button[type=submit]")
        .await;
    b.find("#move-dialog[open]").await;
    let confirm = b.text("#move-confirm").await;
    assert!(confirm.starts_with("Move to Marketing"), "{confirm}");
    b.audit("kind-move-preview").await;
    b.shoot("kind-move-preview").await;
    b.click("#move-confirm").await;
    b.wait_url("the moved host", |u| u.contains("done=moved"))
        .await;
    assert!(b.text(".page-head .context").await.contains("Marketing"));
    b.goto(&server.url("/hosts?org=mkt")).await;
    b.wait_text("#kind-table", "web-1 under Marketing", |t| {
        t.contains("web-1")
    })
    .await;
    assert!(!host.is_empty());

    // The credential's secret, after a confirm.
    b.goto(&cred_url).await;
    assert!(!b.text("main").await.contains("s3cret-value"));
    b.click("#reveal-open").await;
    b.find("#reveal-dialog[open]").await;
    b.audit("reveal-confirm").await;
    b.click("#reveal-confirm").await;
    let secret = b
        .wait_text("#secret-value", "the secret", |t| !t.is_empty())
        .await;
    assert_eq!(secret, "s3cret-value");
    b.shoot("credential-revealed").await;
}

/// The consumer key (`ock_…`) a page shows once.
fn key_in(page: &str) -> String {
    secret_in(page, "ock_")
}

fn secret_in(page: &str, prefix: &str) -> String {
    let start = page.find(prefix).expect("the secret is shown");
    page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[tokio::test]
async fn api_management_pages_over_http() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("rita", &["eng"], Some("eng")).await;
    let rita = server.api_login("rita", "rita-password").await;
    let admin = server.admin.clone();
    // Marketing's API and developer, which rita never sees.
    let hidden_api = made(
        &server,
        &admin,
        "api-definitions",
        json!({"name": "mkt-api", "org": "mkt", "listen_path": "/mkt/", "upstream_url": "http://mkt.internal"}),
    )
    .await;
    let hidden_dev = made(
        &server,
        &admin,
        "developers",
        json!({"name": "mallory", "org": "mkt", "email": "mallory@example.com"}),
    )
    .await;

    // An API definition through the form, with two methods.
    let (s, location, page) = server
        .post_form(
            &rita,
            "/api-definitions",
            &[
                ("name", "payments"),
                ("org", "eng"),
                ("listen_path", "/pay/"),
                ("upstream_url", "http://payments.internal:9000"),
                ("published", "true"),
                ("methods", "GET"),
                ("methods", "POST"),
                ("description", "Charge cards."),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let api = id_in(&location, "api-definitions");
    let (_, page) = server.page(&rita, &location).await;
    assert!(
        page.contains("/pay/") && page.contains("Charge cards."),
        "{page}"
    );
    assert!(page.contains(">GET<") && page.contains(">POST<"), "{page}");
    assert!(!page.contains(">DELETE<"), "{page}");
    // A listen path another org's API holds on a gateway that would serve
    // both (a tenant-wide one): refused, what was typed kept.
    made(
        &server,
        &admin,
        "api-gateways",
        json!({"name": "edge", "org": null}),
    )
    .await;
    let (s, _, page) = server
        .post_form(
            &rita,
            "/api-definitions",
            &[
                ("name", "payments-2"),
                ("org", "eng"),
                ("listen_path", "/mkt/"),
                ("upstream_url", "http://other.internal"),
            ],
        )
        .await;
    assert!(s.is_client_error(), "{s}: {page}");
    assert!(
        page.contains("listen_path") && page.contains("value=\"payments-2\""),
        "{page}"
    );
    assert!(
        !page.contains("mkt.internal") && !page.contains(&hidden_api),
        "{page}"
    );

    // A developer.
    let (s, location, page) = server
        .post_form(
            &rita,
            "/developers",
            &[
                ("name", "dana"),
                ("org", "eng"),
                ("email", "dana@example.com"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let dev = id_in(&location, "developers");
    let (_, list) = server.page(&rita, "/developers?org=eng").await;
    assert!(list.contains("dana") && !list.contains("mallory"), "{list}");

    // The consumer key form offers eng's developer and API, nothing of mkt's.
    let (s, form) = server.page(&rita, "/consumer-keys/new?org=eng").await;
    assert_eq!(s, StatusCode::OK);
    assert!(form.contains(&dev) && form.contains(&api), "{form}");
    assert!(
        !form.contains(&hidden_dev) && !form.contains(&hidden_api),
        "{form}"
    );
    // Naming mkt's API anyway is refused like an unknown one.
    let (s, _, page) = server
        .post_form(
            &rita,
            "/consumer-keys",
            &[
                ("name", "sneaky"),
                ("org", "eng"),
                ("developer", &dev),
                ("apis", &hidden_api),
            ],
        )
        .await;
    assert!(s.is_client_error(), "{s}: {page}");
    assert!(!page.contains("ock_"), "{page}");

    // A key: shown once, and it opens the API at the gateway check.
    let (s, _, page) = server
        .post_form(
            &rita,
            "/consumer-keys",
            &[
                ("name", "dana-key"),
                ("org", "eng"),
                ("developer", &dev),
                ("apis", &api),
                ("rate_limit", "60"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{page}");
    let key = key_in(&page);
    // Eng's API gateway, made here too: its secret is shown once.
    let (s, _, page) = server
        .post_form(
            &rita,
            "/api-gateways",
            &[("name", "eng-edge"), ("org", "eng"), ("tags", "")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{page}");
    let mut gateway = secret_in(&page, "oagw_");
    let check = |gateway: &str, key: String, path: &'static str| {
        server
            .http
            .get(server.url("/api/v1/gateway/check"))
            .header("x-orgscope-gateway", gateway)
            .header("x-original-method", "GET")
            .header("x-original-uri", path)
            .header("x-api-key", key)
            .send()
    };
    assert_eq!(
        check(&gateway, key.clone(), "/pay/charges")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        check(&gateway, key.clone(), "/mkt/x")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let (_, keys) = server
        .api(Method::GET, &rita, "/api/v1/consumer-keys", None)
        .await;
    let ck = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, page) = server.page(&rita, &format!("/consumer-keys/{ck}")).await;
    assert!(!page.contains(&key), "the key is shown once only: {page}");
    assert!(page.contains("payments") && page.contains("60"), "{page}");

    // The gateway's page: what it serves; a new secret, shown once, and the
    // old one stops.
    let (_, gateways) = server
        .api(Method::GET, &rita, "/api/v1/api-gateways?org=eng", None)
        .await;
    let gw = gateways["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, page) = server.page(&rita, &format!("/api-gateways/{gw}")).await;
    let serves = &page[page.find("id=\"serves\"").expect("what it serves")..];
    assert!(
        serves.contains(&format!("/api-definitions/{api}")) && serves.contains("/pay/"),
        "{page}"
    );
    assert!(!page.contains(&gateway), "its secret is not shown again");
    let (s, _, page) = server
        .post_form(&rita, &format!("/api-gateways/{gw}/rotate"), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let fresh = secret_in(&page, "oagw_");
    assert_ne!(fresh, gateway);
    assert_eq!(
        check(&gateway, key.clone(), "/pay/charges")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the old secret"
    );
    gateway = fresh;
    assert_eq!(
        check(&gateway, key.clone(), "/pay/charges")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    // Revoking it (the delete of a consumer key) closes the gate.
    let (s, _, page) = server
        .post_form(&rita, &format!("/consumer-keys/{ck}/delete"), &[])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(
        check(&gateway, key, "/pay/charges").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_picker_of_many_keeps_the_choice_it_did_not_reach() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.user("rita", &["eng"], Some("eng")).await;
    let rita = server.api_login("rita", "rita-password").await;
    let agent = made(
        &server,
        &rita,
        "agents",
        json!({"name": "runner", "org": "eng"}),
    )
    .await;
    // More hosts than a picker holds; the job uses the last one made.
    let mut last = String::new();
    for n in 0..=200 {
        last = made(
            &server,
            &rita,
            "hosts",
            json!({"name": format!("box-{n:03}"), "org": "eng", "address": "10.0.0.1"}),
        )
        .await;
    }
    let job = made(
        &server,
        &rita,
        "jobs",
        json!({"name": "nightly", "org": "eng", "agent": agent, "host": last,
               "command": "true", "schedule": "0 3 * * *"}),
    )
    .await;
    let (_, page) = server.page(&rita, &format!("/jobs/{job}")).await;
    assert!(
        page.contains(&format!(
            "<option value=\"{last}\" selected>box-200</option>"
        )),
        "the job's host is offered, and chosen: {page}"
    );
    assert!(page.contains("Only the first 200"), "{page}");
    // Saving the form as shown keeps the host.
    let (s, _, body) = server
        .post_form(
            &rita,
            &format!("/jobs/{job}/edit"),
            &[
                ("name", "nightly-2"),
                ("agent", &agent),
                ("host", &last),
                ("command", "true"),
                ("schedule", "0 3 * * *"),
                ("enabled", "true"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (_, j) = server
        .api(Method::GET, &rita, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert_eq!(j["host"], json!(last), "{j}");
    // A list names it, not its id.
    made(
        &server,
        &rita,
        "tasks",
        json!({"name": "once", "org": "eng", "agent": agent, "host": last, "command": "true"}),
    )
    .await;
    let (_, list) = server.page(&rita, "/tasks").await;
    assert!(
        list.contains("box-200") && !list.contains(&format!(">{last}<")),
        "{list}"
    );
}

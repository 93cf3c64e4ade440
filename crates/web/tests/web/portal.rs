//! An org's developer portal on its proved domain (the Host header): the
//! catalogue without upstreams, sign-up confirmed by the link a real SMTP
//! server received, sign-in with a portal session that opens nothing else,
//! a developer's own keys, and nothing of another org's portal.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestServer;
use crate::mailsink::MailSink;
use crate::nginx;
use crate::portal_client::{Got, cookie_of, form_token, keys_shown, link_in, visit};

const ENG: &str = "api.eng.test";
const MKT: &str = "api.mkt.test";
/// A small square PNG, for portal logos.
const LOGO: &[u8] = include_bytes!("../fixtures/logo.png");

async fn portal(
    server: &TestServer,
    method: Method,
    host: &str,
    path: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> Got {
    visit(&server.http, method, server.url(path), host, cookie, form).await
}

/// Changes an API definition as `token`'s holder: status and body.
async fn patch_api(
    server: &TestServer,
    token: &str,
    id: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    server
        .api(
            Method::PATCH,
            token,
            &format!("/api/v1/api-definitions/{id}"),
            Some(body),
        )
        .await
}

/// A server mailing through a real SMTP server, with org eng whose portal
/// is proved on ENG: (the mail it sent, the server). `None`: no aiosmtpd
/// here (said aloud; under CI a failure).
async fn eng_portal() -> Option<(MailSink, TestServer)> {
    let sink = MailSink::start().await?;
    let mailer =
        orgscope_app::mail::Mailer::new(&sink.url(), "Portal <portal@orgscope.test>").unwrap();
    let server = TestServer::start_mailing(mailer).await;
    server.org("eng", "Engineering").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;
    Some((sink, server))
}

/// Posts the sign-up form with the form token.
async fn sign_up(
    server: &TestServer,
    host: &str,
    (cookie, token): (&str, &str),
    email: &str,
    password: &str,
) -> Got {
    portal(
        server,
        Method::POST,
        host,
        "/portal/signup",
        cookie,
        Some(&[("csrf", token), ("email", email), ("password", password)]),
    )
    .await
}

async fn verified_domain(server: &TestServer, root: &str, org: &str, domain: &str) {
    let (s, b) = server
        .api(
            Method::PATCH,
            &server.admin,
            &format!("/api/v1/orgs/{org}"),
            Some(json!({"domain": domain})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = server
        .api(
            Method::POST,
            root,
            &format!("/api/v1/orgs/{org}/domain/verify"),
            Some(json!({"skip_dns": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn api_definition(server: &TestServer, org: &str, name: &str, published: bool) -> String {
    let (s, b) = server
        .api(
            Method::POST,
            &server.admin,
            "/api/v1/api-definitions",
            Some(
                json!({"name": name, "org": org, "listen_path": format!("/{name}/"),
                "upstream_url": format!("http://{name}.internal:9000"), "published": published,
                "methods": ["GET"], "description": format!("The {name} API.")}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_developer_signs_up_confirms_signs_in_and_keeps_to_their_portal() {
    let Some(sink) = MailSink::start().await else {
        return;
    };
    let mailer =
        orgscope_app::mail::Mailer::new(&sink.url(), "Portal <portal@orgscope.test>").unwrap();
    let server = TestServer::start_mailing(mailer).await;
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;
    verified_domain(&server, &root, "mkt", MKT).await;
    let payments = api_definition(&server, "eng", "payments", true).await;
    let draft = api_definition(&server, "eng", "draft", false).await;
    let adverts = api_definition(&server, "mkt", "adverts", true).await;

    // The catalogue: published APIs of this org only, never an upstream.
    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("payments") && home.body.contains("/payments/"),
        "{}",
        home.body
    );
    for absent in ["draft", "adverts", ".internal"] {
        assert!(!home.body.contains(absent), "{absent}: {}", home.body);
    }
    let (form_cookie, token) = form_token(&home);
    let page = portal(
        &server,
        Method::GET,
        ENG,
        &format!("/portal/apis/{payments}"),
        "",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("The payments API.") && !page.body.contains(".internal"));
    for hidden in [&draft, &adverts] {
        let page = portal(
            &server,
            Method::GET,
            ENG,
            &format!("/portal/apis/{hidden}"),
            "",
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{hidden}");
    }
    let nobody = portal(&server, Method::GET, "nobody.test", "/portal", "", None).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    // A form without its token changes nothing.
    let refused = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/signup",
        "",
        Some(&[("email", "eve@example.com"), ("password", "eve-password")]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Sign up: a mail with a link; the password counts once it is followed.
    let signup = sign_up(
        &server,
        ENG,
        (&form_cookie, &token),
        "dana@example.com",
        "dana-password",
    )
    .await;
    assert_eq!(signup.status, StatusCode::OK, "{}", signup.body);
    assert!(signup.body.contains("Check your mail"), "{}", signup.body);
    let mail = sink.to("dana@example.com", 1).await.remove(0);
    let link = link_in(&mail);
    assert!(link.starts_with(&format!("http://{ENG}")), "{link}");
    let sign_in = |host: &'static str, password: &'static str| {
        let (form_cookie, token) = (form_cookie.clone(), token.clone());
        let server = &server;
        async move {
            portal(
                server,
                Method::POST,
                host,
                "/portal/login",
                &form_cookie,
                Some(&[
                    ("csrf", &token),
                    ("email", "dana@example.com"),
                    ("password", password),
                ]),
            )
            .await
        }
    };
    let early = sign_in(ENG, "dana-password").await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not confirmed yet"
    );
    let path = &link[link.find("/portal/confirm").unwrap()..];
    let confirmed = portal(&server, Method::GET, ENG, path, "", None).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert!(confirmed.body.contains("dana@example.com is confirmed"));
    let again = portal(&server, Method::GET, ENG, path, "", None).await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a link works once"
    );
    // Nor on another org's portal.
    let (_, devs) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/developers?org=eng",
            None,
        )
        .await;
    let dana = devs["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(devs["items"][0]["email"], "dana@example.com", "{devs}");
    assert!(devs["items"][0]["confirmed_at"].is_string(), "{devs}");

    // Sign in: a portal session, on this portal only.
    let wrong = sign_in(ENG, "not-her-password").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let elsewhere = sign_in(MKT, "dana-password").await;
    assert_eq!(
        elsewhere.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown account on mkt"
    );
    let signed = sign_in(ENG, "dana-password").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let session = cookie_of(&signed.cookies, "orgscope_portal").expect("a portal session");
    assert!(
        signed
            .cookies
            .iter()
            .any(|c| c.contains("Path=/portal") && c.contains("HttpOnly"))
    );
    let keys = portal(&server, Method::GET, ENG, "/portal/keys", &session, None).await;
    assert_eq!(keys.status, StatusCode::OK);
    assert!(keys.body.contains("no keys yet"), "{}", keys.body);
    let on_mkt = portal(&server, Method::GET, MKT, "/portal/keys", &session, None).await;
    assert_eq!(
        (on_mkt.status, on_mkt.location.as_str()),
        (StatusCode::SEE_OTHER, "/portal/login")
    );
    // The portal session opens nothing of the API or the tenant's pages,
    // and a tenant user's session opens no portal account.
    let secret = session.split_once('=').unwrap().1;
    let (s, _) = server.api(Method::GET, secret, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = server.page(secret, "/files").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let tenant = format!("orgscope_portal={}", server.admin);
    let as_admin = portal(&server, Method::GET, ENG, "/portal/keys", &tenant, None).await;
    assert_eq!(as_admin.location, "/portal/login");

    // Her keys, with the APIs they open; she revokes one (audited).
    let (s, key) = server
        .api(
            Method::POST,
            &server.admin,
            "/api/v1/consumer-keys",
            Some(json!({"name": "dana-key", "org": "eng", "developer": dana, "apis": [payments], "rate_limit": 60})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key_id = key["id"].as_str().unwrap();
    let both = format!("{session}; {form_cookie}");
    let keys = portal(&server, Method::GET, ENG, "/portal/keys", &both, None).await;
    assert!(
        keys.body.contains("dana-key")
            && keys.body.contains("payments")
            && keys.body.contains("60 a minute"),
        "{}",
        keys.body
    );
    assert!(
        !keys.body.contains("ock_"),
        "never the secret: {}",
        keys.body
    );
    let revoked = portal(
        &server,
        Method::POST,
        ENG,
        &format!("/portal/keys/{key_id}/revoke"),
        &both,
        Some(&[("csrf", &token)]),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    let (s, _) = server
        .api(
            Method::GET,
            &server.admin,
            &format!("/api/v1/consumer-keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/audit?action=consumer_key.delete",
            None,
        )
        .await;
    assert!(
        audit.to_string().contains("developer:dana@example.com"),
        "{audit}"
    );

    // Signing out ends the session.
    let out = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/logout",
        &both,
        Some(&[("csrf", &token)]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = portal(&server, Method::GET, ENG, "/portal/keys", &session, None).await;
    assert_eq!(after.location, "/portal/login");
}

#[tokio::test]
async fn without_a_mail_relay_a_portal_takes_no_sign_ups_and_says_why() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;
    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    let (form_cookie, token) = form_token(&home);
    let got = sign_up(
        &server,
        ENG,
        (&form_cookie, &token),
        "dana@example.com",
        "dana-password",
    )
    .await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE, "{}", got.body);
    assert!(got.body.contains("ORGSCOPE_SMTP_URL"), "{}", got.body);
    let (_, devs) = server
        .api(Method::GET, &server.admin, "/api/v1/developers", None)
        .await;
    assert_eq!(devs["items"], json!([]), "nothing was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser() {
    let Some(sink) = MailSink::start().await else {
        return;
    };
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    let mailer =
        orgscope_app::mail::Mailer::new(&sink.url(), "Portal <portal@orgscope.test>").unwrap();
    let server = TestServer::start_mailing(mailer).await;
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        browser_story(&server, &sink, &browser),
    ))
    .await;
    browser.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn browser_story(server: &TestServer, sink: &MailSink, b: &crate::browser::Browser) {
    server.org("eng", "Engineering").await;
    server.user("rita", &["eng"], Some("eng")).await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(server, &root, "eng", ENG).await;
    let payments = api_definition(server, "eng", "payments", true).await;
    api_definition(server, "eng", "ledger", true).await;
    let (s, b2) = patch_api(
        server,
        &server.admin,
        &payments,
        json!({"openapi": payments_document(), "methods": ["GET", "POST"]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b2}");
    let (s, _, body) = server
        .post_form(
            &server.admin,
            "/orgs/eng/portal",
            &[
                ("title", "Engineering APIs"),
                ("accent", "green"),
                ("intro", "Everything **Engineering** runs for you. Ask for a key below; we answer within a day."),
                ("signup_open", "true"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let logo = reqwest::multipart::Form::new()
        .text("csrf", orgscope_app::secrets::csrf_token(&server.admin))
        .part(
            "logo",
            reqwest::multipart::Part::bytes(LOGO.to_vec()).file_name("logo.png"),
        );
    let res = server
        .http
        .post(server.url("/orgs/eng/portal/logo"))
        .header("cookie", format!("orgscope_session={}", server.admin))
        .multipart(logo)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The gateway: a real nginx asking orgscope about every request.
    let up = nginx::upstream().await;
    // Eng's own API gateway: nginx names it by its secret on every check.
    let secret = server.api_gateway("eng").await;
    let check = nginx::check_location(
        server.base.trim_start_matches("http://"),
        &format!("proxy_set_header X-Orgscope-Gateway {secret};"),
    );
    let locations = format!(
        "{check}
    location /payments/ {{
      auth_request /_orgscope_check;
      proxy_pass http://127.0.0.1:{up}/payments-upstream/;
    }}"
    );
    let Some(gateway) = nginx::Nginx::start(&server.dir.join("nginx"), &locations).await else {
        return;
    };
    let call = |key: String| {
        server
            .http
            .get(gateway.url("/payments/charges"))
            .header("x-api-key", key)
            .send()
    };

    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let site = format!("http://{ENG}:{port}");
    b.goto(&format!("{site}/portal")).await;
    b.wait_text("main", "the catalogue", |t| {
        t.contains("payments") && t.contains("ledger")
    })
    .await;
    assert!(b.exists("img.portal-logo").await, "the logo is shown");
    b.audit("portal").await;
    b.shoot("portal").await;
    b.click(&format!("a[href='/portal/apis/{payments}']")).await;
    b.wait_text("main", "the API's reference", |t| {
        t.contains("The payments API.") && t.contains("Create a charge")
    })
    .await;
    b.audit("portal-api").await;
    b.shoot("portal-api").await;
    b.scroll_to("#op-createcharge").await;
    b.shoot("portal-api-operation").await;

    b.goto(&format!("{site}/portal/signup")).await;
    b.find("#email")
        .await
        .send_keys("dana@example.com")
        .await
        .unwrap();
    b.find("#password")
        .await
        .send_keys("dana-password")
        .await
        .unwrap();
    b.audit("portal-signup").await;
    b.shoot("portal-signup").await;
    b.click("form[action='/portal/signup'] button[type=submit]")
        .await;
    b.wait_text("main", "the check-your-mail page", |t| {
        t.contains("Check your mail")
    })
    .await;
    let link = link_in(&sink.to("dana@example.com", 1).await.remove(0));
    b.goto(&link).await;
    b.wait_text("main", "the confirmation", |t| t.contains("is confirmed"))
        .await;
    b.audit("portal-confirmed").await;

    b.goto(&format!("{site}/portal/login")).await;
    b.find("#email")
        .await
        .send_keys("dana@example.com")
        .await
        .unwrap();
    b.find("#password")
        .await
        .send_keys("dana-password")
        .await
        .unwrap();
    b.click("form[action='/portal/login'] button[type=submit]")
        .await;
    b.wait_url("her keys", |u| u.ends_with("/portal/keys"))
        .await;
    // She asks for a key to payments, saying why.
    b.click(&format!("#request input[value='{payments}']"))
        .await;
    b.find("#reason")
        .await
        .send_keys("Reconciling invoices")
        .await
        .unwrap();
    b.click("#request button[type=submit]").await;
    b.wait_text("main", "the request sent", |t| {
        t.contains("Your request was sent") && t.contains("Reconciling invoices")
    })
    .await;
    b.audit("portal-requested").await;
    b.shoot("portal-requested").await;

    // Rita, a member of the org, approves it in the org's web UI (another
    // host: her session and Dana's never meet).
    crate::e2e::sign_in(b, server, "rita").await;
    b.goto(&server.url("/key-requests?org=eng")).await;
    b.wait_text("main", "the queue", |t| {
        t.contains("dana@example.com asks for payments")
    })
    .await;
    b.shoot("key-requests").await;
    b.click("main a[href^='/key-requests/kr_']").await;
    b.wait_text("main", "the request", |t| {
        t.contains("Reconciling invoices")
    })
    .await;
    b.audit("key-request").await;
    b.click("#approve").await;
    b.wait_text("main", "the approval", |t| t.contains("approved"))
        .await;
    // The org's gateway page: what it serves.
    let (_, gateways) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/api-gateways?org=eng",
            None,
        )
        .await;
    let gw = gateways["items"][0]["id"].as_str().unwrap().to_owned();
    b.goto(&server.url(&format!("/api-gateways/{gw}"))).await;
    b.wait_text("#serves", "what the gateway serves", |t| {
        t.contains("payments") && t.contains("ledger")
    })
    .await;
    b.audit("api-gateway").await;
    b.shoot("api-gateway").await;

    // Dana sees her key once, and it passes the gateway.
    b.goto(&format!("{site}/portal/keys")).await;
    let shown = b
        .wait_text("main", "her new key", |t| t.contains("ock_"))
        .await;
    b.audit("portal-keys").await;
    b.shoot("portal-keys").await;
    let key = keys_shown(&shown).remove(0);
    let passed = call(key.clone()).await.unwrap();
    assert_eq!(passed.status(), StatusCode::OK);
    assert_eq!(
        passed.text().await.unwrap(),
        "upstream saw /payments-upstream/charges"
    );
    b.goto(&format!("{site}/portal/keys")).await;
    let again = b
        .wait_text("main", "her keys", |t| t.contains("Revoke"))
        .await;
    assert!(!again.contains(&key), "the key is shown once");
    // She revokes it: the next call through the gateway is refused.
    b.click("button[aria-label^='Revoke key for']").await;
    b.wait_text("main", "the revocation", |t| {
        t.contains("The key was revoked")
    })
    .await;
    let refused = call(key).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(!refused.text().await.unwrap().contains("upstream saw"));
}

/// The payments API's OpenAPI document, as its makers attach it.
fn payments_document() -> serde_json::Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Payments", "version": "2024-06", "description": "Charge cards and refund them. Amounts are in the **smallest unit** of the currency."},
        "servers": [{"url": "http://payments.internal:9000"}],
        "tags": [{"name": "Charges", "description": "A charge moves money from a card to you."}],
        "paths": {
            "/charges": {
                "get": {"operationId": "listCharges", "tags": ["Charges"], "summary": "List charges",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}, "description": "At most this many (default 20)."},
                                   {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "The cursor of the page before."}],
                    "responses": {"200": {"description": "A page of charges", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Charge"}}}}}}},
                "post": {"operationId": "createCharge", "tags": ["Charges"], "summary": "Create a charge",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewCharge"}}}},
                    "responses": {"201": {"description": "The charge", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Charge"}}}},
                                  "402": {"description": "The card was declined"}}}
            },
            "/charges/{id}/refund": {
                "post": {"operationId": "refundCharge", "tags": ["Charges"], "summary": "Refund a charge",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Refunded"}}}
            }
        },
        "components": {"schemas": {
            "NewCharge": {"type": "object", "required": ["amount", "currency", "card"], "properties": {
                "amount": {"type": "integer", "description": "In the currency's smallest unit."},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
                "card": {"type": "object", "properties": {"token": {"type": "string"}, "holder": {"type": "string"}}}}},
            "Charge": {"type": "object", "properties": {
                "id": {"type": "string"}, "amount": {"type": "integer"}, "currency": {"type": "string"},
                "status": {"type": "string", "enum": ["succeeded", "pending", "failed"]},
                "created_at": {"type": "string", "format": "date-time"}}}
        }}
    })
}

/// Signs `email` up on `host`, follows the mailed link and signs in:
/// (the cookies to send, the form token, the developer's id).
async fn developer(
    server: &TestServer,
    sink: &MailSink,
    host: &str,
    email: &str,
) -> (String, String) {
    let home = portal(server, Method::GET, host, "/portal", "", None).await;
    let (form_cookie, token) = form_token(&home);
    let signup = sign_up(
        server,
        host,
        (&form_cookie, &token),
        email,
        "a-long-password",
    )
    .await;
    assert_eq!(signup.status, StatusCode::OK, "{}", signup.body);
    let link = link_in(&sink.to(email, 1).await.remove(0));
    let path = &link[link.find("/portal/confirm").unwrap()..];
    let confirmed = portal(server, Method::GET, host, path, "", None).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let signed = portal(
        server,
        Method::POST,
        host,
        "/portal/login",
        &form_cookie,
        Some(&[
            ("csrf", &token),
            ("email", email),
            ("password", "a-long-password"),
        ]),
    )
    .await;
    let session = cookie_of(&signed.cookies, "orgscope_portal").expect("signed in");
    (format!("{session}; {form_cookie}"), token)
}

#[tokio::test]
async fn a_key_request_is_approved_by_a_member_and_its_key_shown_once() {
    let Some(sink) = MailSink::start().await else {
        return;
    };
    let mailer =
        orgscope_app::mail::Mailer::new(&sink.url(), "Portal <portal@orgscope.test>").unwrap();
    let server = TestServer::start_mailing(mailer).await;
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("rita", &["eng"], Some("eng")).await;
    server.user("mo", &["mkt"], Some("mkt")).await;
    let rita = server.api_login("rita", "rita-password").await;
    let mo = server.api_login("mo", "mo-password").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;
    let payments = api_definition(&server, "eng", "payments", true).await;
    let adverts = api_definition(&server, "mkt", "adverts", true).await;
    let (cookies, token) = developer(&server, &sink, ENG, "dana@example.com").await;

    // Asking: only this portal's published APIs.
    let refused = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/requests",
        &cookies,
        Some(&[("csrf", &token), ("apis", &adverts)]),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let asked = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/requests",
        &cookies,
        Some(&[
            ("csrf", &token),
            ("apis", &payments),
            ("reason", "billing sync"),
        ]),
    )
    .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let page = portal(&server, Method::GET, ENG, "/portal/keys", &cookies, None).await;
    assert!(
        page.body.contains("billing sync") && page.body.contains(">pending<"),
        "{}",
        page.body
    );

    // The org's queue: its members see it; another org's do not.
    let (_, queue) = server
        .api(Method::GET, &rita, "/api/v1/key-requests?org=eng", None)
        .await;
    let request = queue["items"][0]["id"]
        .as_str()
        .expect("a request")
        .to_owned();
    assert_eq!(queue["items"][0]["status"], "pending", "{queue}");
    let (s, _) = server.page(&mo, &format!("/key-requests/{request}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = server
        .post_form(
            &mo,
            &format!("/key-requests/{request}/decide"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nobody makes one but a developer: the API has no create for them.
    let (s, _) = server
        .api(
            Method::POST,
            &rita,
            "/api/v1/key-requests",
            Some(json!({"name": "x", "org": "eng", "developer": queue["items"][0]["developer"], "apis": [payments]})),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);

    let (_, list) = server.page(&rita, "/key-requests?org=eng").await;
    assert!(
        list.contains("dana@example.com asks for payments"),
        "{list}"
    );
    assert!(
        !list.contains("href=\"/key-requests/new"),
        "none is made here: {list}"
    );
    // Rita approves it on its page.
    let (s, page) = server
        .page(&rita, &format!("/key-requests/{request}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Approve and issue a key"), "{page}");
    let (s, location, body) = server
        .post_form(
            &rita,
            &format!("/key-requests/{request}/decide"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert!(location.ends_with("done=approved"), "{location}");
    let (s, again) = server
        .api(
            Method::POST,
            &rita,
            &format!("/api/v1/key-requests/{request}/decide"),
            Some(json!({"approve": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "decided once: {again}");

    // Dana sees the key once; it opens the API.
    let page = portal(&server, Method::GET, ENG, "/portal/keys", &cookies, None).await;
    assert!(page.body.contains("A new key for you"), "{}", page.body);
    let key = keys_shown(&page.body).remove(0);
    let page = portal(&server, Method::GET, ENG, "/portal/keys", &cookies, None).await;
    assert!(!page.body.contains(&key), "shown once only");
    assert!(
        page.body.contains(">approved<") && page.body.contains("payments"),
        "{}",
        page.body
    );
    let check = server
        .http
        .get(server.url("/api/v1/gateway/check"))
        .header("x-orgscope-gateway", server.api_gateway("eng").await)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/payments/charges")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), StatusCode::NO_CONTENT);

    // A second request, denied through the API: she sees it denied.
    let asked = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/requests",
        &cookies,
        Some(&[("csrf", &token), ("apis", &payments)]),
    )
    .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let (_, queue) = server
        .api(Method::GET, &rita, "/api/v1/key-requests?org=eng", None)
        .await;
    let second = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "pending")
        .expect("the second request")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, d) = server
        .api(
            Method::POST,
            &rita,
            &format!("/api/v1/key-requests/{second}/decide"),
            Some(json!({"approve": false})),
        )
        .await;
    assert_eq!(
        (s, d["status"].as_str()),
        (StatusCode::OK, Some("denied")),
        "{d}"
    );
    let page = portal(&server, Method::GET, ENG, "/portal/keys", &cookies, None).await;
    assert!(page.body.contains(">denied<"), "{}", page.body);
    let (_, audit) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/audit?kind=key_request",
            None,
        )
        .await;
    let actions = audit.to_string();
    for a in [
        "key_request.create",
        "key_request.approve",
        "key_request.deny",
    ] {
        assert!(actions.contains(a), "{a}: {actions}");
    }
}

#[tokio::test]
async fn an_orgs_managers_brand_its_portal_and_close_sign_up() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.org("mkt", "Marketing").await;
    server.user("pat", &["eng"], Some("eng")).await;
    server.user("mo", &["mkt"], Some("mkt")).await;
    let (s, b) = server
        .api(
            Method::POST,
            &server.admin,
            "/api/v1/orgs/mkt/members",
            Some(json!({"user": "mo", "can_manage": true})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let pat = server.api_login("pat", "pat-password").await;
    let mo = server.api_login("mo", "mo-password").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;

    let intro = "Welcome, **builders**.\n\n<script>alert(1)</script>\n\n[docs](javascript:alert(2)) and [site](https://eng.example)";
    let settings = [("title", "Eng APIs"), ("accent", "teal"), ("intro", intro)];
    // A plain member, and another org's manager, change nothing.
    let (s, _, _) = server.post_form(&pat, "/orgs/eng/portal", &settings).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = server.post_form(&mo, "/orgs/eng/portal", &settings).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, body) = server
        .post_form(&server.admin, "/orgs/eng/portal", &[("accent", "hot-pink")])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The admin brands it and closes sign-up (the checkbox left out).
    let (s, location, body) = server
        .post_form(&server.admin, "/orgs/eng/portal", &settings)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert!(location.ends_with("done=portal"), "{location}");

    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    assert!(
        home.body.contains("Eng APIs") && home.body.contains("accent-teal"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("<strong>builders</strong>"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("href=\"https://eng.example\""),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("<script>alert") && !home.body.contains("javascript:"),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("href=\"/portal/signup\""),
        "no sign-up offered: {}",
        home.body
    );
    let (form_cookie, token) = form_token(&home);
    let got = sign_up(
        &server,
        ENG,
        (&form_cookie, &token),
        "dana@example.com",
        "dana-password",
    )
    .await;
    assert_eq!(got.status, StatusCode::FORBIDDEN, "{}", got.body);
    assert!(got.body.contains("takes no sign-ups"), "{}", got.body);
    let (_, audit) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/audit?action=org.portal",
            None,
        )
        .await;
    assert!(audit.to_string().contains("Eng APIs"), "{audit}");

    // A logo: an image, by upload with the form's token, shown on the portal.
    let png: &[u8] = LOGO;
    let upload = |session: &str, with_token: bool, bytes: &[u8], name: &str| {
        let mut form = reqwest::multipart::Form::new();
        if with_token {
            form = form.text("csrf", orgscope_app::secrets::csrf_token(session));
        }
        let form = form.part(
            "logo",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
        );
        server
            .http
            .post(server.url("/orgs/eng/portal/logo"))
            .header("cookie", format!("orgscope_session={session}"))
            .multipart(form)
            .send()
    };
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(upload(&server.admin, false, png, "logo.png").await.unwrap()),
        StatusCode::FORBIDDEN,
        "no token, nothing read"
    );
    assert_eq!(
        status(upload(&pat, true, png, "logo.png").await.unwrap()),
        StatusCode::FORBIDDEN,
        "a plain member"
    );
    assert_eq!(
        status(upload(&mo, true, png, "logo.png").await.unwrap()),
        StatusCode::NOT_FOUND,
        "another org's manager"
    );
    let svg = upload(
        &server.admin,
        true,
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        "logo.svg",
    )
    .await
    .unwrap();
    assert_eq!(svg.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(svg.text().await.unwrap().contains("SVG is not taken"));
    let mut huge = png.to_vec();
    huge.resize(orgscope_app::portal::MAX_LOGO + 10, 0);
    let huge = upload(&server.admin, true, &huge, "big.png").await.unwrap();
    assert_eq!(huge.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(huge.text().await.unwrap().contains("at most 256 KiB"));
    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    assert!(!home.body.contains("/portal/logo"), "no logo yet");
    let done = upload(&server.admin, true, png, "logo.png").await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    let at = home
        .body
        .find("src=\"/portal/logo?v=")
        .expect("the logo shown");
    let src: String = home.body[at + 5..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let got = server
        .http
        .get(server.url(&src))
        .header("host", ENG)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.bytes().await.unwrap().as_ref(), png);
    // Only on its own portal.
    verified_domain(&server, &root, "mkt", MKT).await;
    let other = server
        .http
        .get(server.url("/portal/logo"))
        .header("host", MKT)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let (s, _, _) = server
        .post_form(&server.admin, "/orgs/eng/portal/logo/remove", &[])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let home = portal(&server, Method::GET, ENG, "/portal", "", None).await;
    assert!(!home.body.contains("/portal/logo"), "removed");
    let (_, audit) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/audit?action=org.portal_logo",
            None,
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");
}

/// Portal sign-ins share the login limits: a developer's own failures lock
/// that account, and an address's failures never refuse a correct password.
#[tokio::test]
async fn portal_sign_ins_are_limited_like_tenant_sign_ins() {
    let Some((sink, server)) = eng_portal().await else {
        return;
    };
    let (cookies, token) = developer(&server, &sink, ENG, "dana@example.com").await;
    developer(&server, &sink, ENG, "erin@example.com").await;
    let form_cookie = cookies.split("; ").nth(1).unwrap().to_owned();
    let sign_in = |email: String, password: &'static str| {
        let (form_cookie, token) = (form_cookie.clone(), token.clone());
        let server = &server;
        async move {
            portal(
                server,
                Method::POST,
                ENG,
                "/portal/login",
                &form_cookie,
                Some(&[("csrf", &token), ("email", &email), ("password", password)]),
            )
            .await
            .status
        }
    };
    // Strangers' failures from this address: past its budget they are 429s,
    // yet erin's correct password still opens.
    for i in 0..50 {
        sign_in(format!("nobody{i}@example.com"), "wrong-password").await;
    }
    assert_eq!(
        sign_in("nobody@example.com".into(), "wrong-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in("erin@example.com".into(), "a-long-password").await,
        StatusCode::SEE_OTHER
    );
    // Dana's own failures lock dana, even with the right password.
    for _ in 0..10 {
        sign_in("dana@example.com".into(), "wrong-password").await;
    }
    assert_eq!(
        sign_in("dana@example.com".into(), "a-long-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn an_api_set_to_auto_approval_issues_keys_at_once_and_only_people_set_it() {
    let Some((sink, server)) = eng_portal().await else {
        return;
    };
    let status = api_definition(&server, "eng", "status", true).await;
    let payments = api_definition(&server, "eng", "payments", true).await;

    // An org key may change the API, but not into one that issues keys.
    let (s, key) = server
        .api(
            Method::POST,
            &server.admin,
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "org": "eng", "access": "read_write"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let org_key = key["token"].as_str().unwrap().to_owned();
    let (s, b) = patch_api(&server, &org_key, &status, json!({"key_approval": "auto"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("key_approval"),
        "{b}"
    );
    let (s, b) = patch_api(
        &server,
        &server.admin,
        &status,
        json!({"key_approval": "auto"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Set by a person, it stays through the key's other changes.
    let (s, b) = patch_api(
        &server,
        &org_key,
        &status,
        json!({"description": "Is it up?"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let api_page = portal(
        &server,
        Method::GET,
        ENG,
        &format!("/portal/apis/{status}"),
        "",
        None,
    )
    .await;
    assert!(
        api_page.body.contains("Keys are issued as soon as you ask"),
        "{}",
        api_page.body
    );

    let (cookies, token) = developer(&server, &sink, ENG, "dana@example.com").await;
    // Auto and approved APIs together wait for a member.
    let asked = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/requests",
        &cookies,
        Some(&[("csrf", &token), ("apis", &status), ("apis", &payments)]),
    )
    .await;
    assert!(
        asked.location.ends_with("done=requested"),
        "{}",
        asked.location
    );
    // Auto alone: issued at once, shown once.
    let asked = portal(
        &server,
        Method::POST,
        ENG,
        "/portal/requests",
        &cookies,
        Some(&[
            ("csrf", &token),
            ("apis", &status),
            ("reason", "uptime board"),
        ]),
    )
    .await;
    assert!(
        asked.location.ends_with("done=issued"),
        "{}",
        asked.location
    );
    let page = portal(
        &server,
        Method::GET,
        ENG,
        &asked.location.replace("http://", ""),
        &cookies,
        None,
    )
    .await;
    let key = keys_shown(&page.body).remove(0);
    let again = portal(&server, Method::GET, ENG, "/portal/keys", &cookies, None).await;
    assert!(!again.body.contains(&key), "shown once only");
    let gateway = server.api_gateway("eng").await;
    let check = |path: &'static str| {
        server
            .http
            .get(server.url("/api/v1/gateway/check"))
            .header("x-orgscope-gateway", &gateway)
            .header("x-original-method", "GET")
            .header("x-original-uri", path)
            .header("x-api-key", &key)
            .send()
    };
    assert_eq!(
        check("/status/now").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        check("/payments/charges").await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "only what was asked"
    );
    let (_, queue) = server
        .api(
            Method::GET,
            &server.admin,
            "/api/v1/key-requests?org=eng",
            None,
        )
        .await;
    let decided: Vec<(&str, &str)> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["decided_by"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        decided,
        vec![("pending", "-"), ("approved", "auto-approval")],
        "{queue}"
    );
}

#[tokio::test]
async fn an_apis_openapi_document_is_checked_and_shown_as_its_reference() {
    let server = TestServer::start().await;
    server.org("eng", "Engineering").await;
    server.superuser().await;
    let root = server.api_login("root", "root-password").await;
    verified_domain(&server, &root, "eng", ENG).await;
    let pets = api_definition(&server, "eng", "pets", true).await;
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Pet store", "version": "1.4", "description": "Cats and <script>alert(1)</script> dogs."},
        "servers": [{"url": "http://pets.internal:9000/v1"}],
        "paths": {
            "/pets": {"get": {"operationId": "listPets", "tags": ["pets"], "summary": "Every pet",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32"}, "description": "At most this many"}],
                "responses": {"200": {"description": "The pets", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}}}},
                "post": {"tags": ["pets"], "summary": "A new pet",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                "responses": {"201": {"description": "Made"}}}}
        },
        "components": {"schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": "What it answers to"},
            "owner": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}}}}}
    });
    // A document with a remote reference is refused, saying where.
    let mut bad = doc.clone();
    bad["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"] =
        json!("https://evil.example/pet.json");
    let (s, b) = patch_api(&server, &server.admin, &pets, json!({"openapi": bad})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let detail = b["detail"].as_str().unwrap();
    assert!(
        detail.contains("paths./pets.post.requestBody") && detail.contains("not local"),
        "{b}"
    );
    let (s, b) = patch_api(&server, &server.admin, &pets, json!({"openapi": "3.0.3"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = patch_api(&server, &server.admin, &pets, json!({"openapi": doc})).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let page = portal(
        &server,
        Method::GET,
        ENG,
        &format!("/portal/apis/{pets}"),
        "",
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    for shown in [
        "Pet store",
        "version 1.4",
        "href=\"#op-listpets\"",
        "<code>/pets/pets</code>",
        "Every pet",
        "<code>limit</code>",
        "integer (int32)",
        "array of Pet",
        "What it answers to",
        "string (email)",
        "&lt;script&gt;",
    ] {
        assert!(body.contains(shown), "{shown}: {body}");
    }
    assert!(
        !body.contains("<script>alert"),
        "the description is made safe"
    );
    assert!(
        !body.contains("pets.internal"),
        "never the upstream: {body}"
    );
    // Its document, for client generators: without servers.
    let got = portal(
        &server,
        Method::GET,
        ENG,
        &format!("/portal/apis/{pets}/openapi.json"),
        "",
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let served: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(served["paths"], doc["paths"]);
    assert!(served.get("servers").is_none() && !got.body.contains("pets.internal"));
    // Paths stay in the author's order.
    let keys: Vec<&String> = served["components"]["schemas"]["Pet"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["name", "owner"]);
    // Another org's host, or an API without a document, has none.
    let plain = api_definition(&server, "eng", "plain", true).await;
    let none = portal(
        &server,
        Method::GET,
        ENG,
        &format!("/portal/apis/{plain}/openapi.json"),
        "",
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let elsewhere = portal(
        &server,
        Method::GET,
        MKT,
        &format!("/portal/apis/{pets}/openapi.json"),
        "",
        None,
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

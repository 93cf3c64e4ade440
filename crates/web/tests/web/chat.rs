//! Chat: a persona assigned to members of its org, a session started from
//! it, and a turn whose answer shows its citations, linking to their files:
//! retrieval-only (no model, answered at once) in a browser, and streamed
//! from a model as server-sent events.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::e2e::sign_in;
use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_turn_shows_citations_in_a_browser() {
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
    server.org("ops", "Operations").await;
    server.user("uma", &["eng"], Some("eng")).await;
    server.user("vic", &["eng"], Some("eng")).await;
    server.user("olaf", &["ops"], Some("ops")).await;
    let uma = server.api_login("uma", "uma-password").await;
    let id = server
        .upload(
            &uma,
            "runbook.md",
            "eng",
            "The rotation policy for database credentials is quarterly.",
        )
        .await;
    server.extracted(&uma, &id).await;

    sign_in(b, server, "uma").await;
    b.click(".sidenav a[href='/chat']").await;
    b.find("#new-persona input[name=name]")
        .await
        .send_keys("On-call helper")
        .await
        .unwrap();
    b.find("#persona-instructions")
        .await
        .send_keys("Answer from the runbooks.")
        .await
        .unwrap();
    b.click("#new-persona button[type=submit]").await;
    b.wait_url("the persona", |u| {
        u.contains("/personas/") && u.contains("done=created")
    })
    .await;
    // The picker offers the org's members only.
    let pick = b.text("#assignments").await;
    assert!(pick.contains("uma") && pick.contains("vic"), "{pick}");
    assert!(!pick.contains("olaf"), "not a member of eng: {pick}");
    b.click("#assignments input[name=open]").await;
    b.click("#assignments input[value=vic]").await;
    b.click("#assignments input[value=uma]").await;
    b.click("#assignments button[type=submit]").await;
    b.wait_url("the saved assignments", |u| u.contains("done=assigned"))
        .await;
    b.audit("persona").await;
    b.shoot("persona").await;

    b.click("#start-session").await;
    b.wait_url("the session", |u| u.contains("/chat/ses_"))
        .await;
    b.find("#chat-input")
        .await
        .send_keys("what is the rotation policy?")
        .await
        .unwrap();
    b.click("#composer button[type=submit]").await;
    let answer = b
        .wait_text(
            "#messages .message.assistant",
            "an answer with citations",
            |t| t.contains("runbook.md"),
        )
        .await;
    assert!(answer.contains("[1]"), "{answer}");
    let link = b
        .find("#messages .citation a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link, format!("/files/{id}"), "a citation links to its file");
    assert!(b.exists(".citation .snippet mark").await);
    let question = b.text("#messages .message.question").await;
    assert!(question.contains("rotation policy"), "{question}");
    b.audit("chat-session").await;
    b.shoot("chat-session").await;
    // The history is kept: a reload shows both.
    b.goto(&b.url().await).await;
    b.wait_text("#messages", "the kept history", |t| {
        t.contains("runbook.md")
    })
    .await;
    b.goto(&server.url("/chat")).await;
    b.audit("chat").await;
    b.shoot("chat").await;
}

/// What the fake model endpoint received.
type Received = Arc<Mutex<Vec<Value>>>;

/// A small OpenAI-compatible endpoint that streams a fixed answer.
async fn model_server() -> (String, Received) {
    use axum::routing::post;
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                let events = ["Rotate ", "every ", "quarter [1]."]
                    .iter()
                    .map(|d| {
                        format!(
                            "data: {}\n\n",
                            json!({"choices": [{"delta": {"content": d}}]})
                        )
                    })
                    .chain(std::iter::once("data: [DONE]\n\n".to_owned()))
                    .collect::<String>();
                ([("content-type", "text/event-stream")], events)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn a_models_answer_streams_to_the_page_with_its_citations() {
    let (url, received) = model_server().await;
    let llm = orgscope_server::llm::Llm::new(&url, "m", None);
    let server = TestServer::start_with(Some(llm)).await;
    server.org("eng", "Engineering").await;
    server.user("uma", &["eng"], Some("eng")).await;
    let uma = server.api_login("uma", "uma-password").await;
    let file = server
        .upload(
            &uma,
            "runbook.md",
            "eng",
            "The rotation policy is quarterly.",
        )
        .await;
    server.extracted(&uma, &file).await;
    let (s, persona) = server
        .api(
            Method::POST,
            &uma,
            "/api/v1/personas",
            Some(json!({"name": "Helper", "instructions": "Be brief.", "org": "eng"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{persona}");
    let (_, _, _) = server
        .post_form(
            &uma,
            "/chat",
            &[("persona", persona["id"].as_str().unwrap())],
        )
        .await;
    let (_, sessions) = server
        .api(Method::GET, &uma, "/api/v1/sessions", None)
        .await;
    let sid = sessions["items"][0]["id"].as_str().unwrap().to_owned();

    // The script's request: events as the model writes, then the saved answer.
    let csrf = orgscope_app::secrets::csrf_token(&uma);
    let res = server
        .http
        .post(server.url(&format!("/chat/{sid}/messages")))
        .header("cookie", format!("orgscope_session={uma}"))
        .header("x-csrf-token", csrf)
        .header("accept", "text/event-stream")
        .form(&[("content", "what is the rotation policy?")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = res.text().await.unwrap();
    let names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        ["question", "delta", "delta", "delta", "message"],
        "{body}"
    );
    assert!(body.contains("data: Rotate "), "{body}");
    let last = body.split("event: message").nth(1).unwrap();
    assert!(last.contains("Rotate every quarter [1]."), "{last}");
    assert!(last.contains(&format!("href=\"/files/{file}\"")), "{last}");
    // The model saw the passage; the answer is kept.
    assert!(
        received.lock().unwrap()[0]
            .to_string()
            .contains("quarterly")
    );
    let (_, history) = server
        .api(
            Method::GET,
            &uma,
            &format!("/api/v1/sessions/{sid}/messages"),
            None,
        )
        .await;
    assert_eq!(history["items"][1]["content"], "Rotate every quarter [1].");

    // Without JavaScript: the form posts, the page comes back with the answer.
    let (status, location, _) = server
        .post_form(
            &uma,
            &format!("/chat/{sid}/messages"),
            &[("content", "and the policy again?")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = server.page(&uma, &location).await;
    assert_eq!(page.matches("Rotate every quarter").count(), 2, "{page}");
}

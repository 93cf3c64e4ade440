//! Chat through HTTP: personas and their assignments, sessions that keep
//! their org, answers from the session's knowledge only, with a real
//! OpenAI-compatible endpoint (a small server started here) or without one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Options, TestServer, backends};

pub(crate) async fn upload(
    s: &TestServer,
    token: &str,
    name: &str,
    org: &str,
    body: &str,
) -> String {
    let res = s
        .http
        .post(format!("{}/api/v1/files?name={name}&org={org}", s.base))
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let f: Value = res.json().await.unwrap();
    let id = f["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let (_, f) = s.get(&s.admin, &format!("/api/v1/files/{id}")).await;
        if f["extraction"]["state"] == "done" {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("extraction of {name} did not finish");
}

/// Orgs alpha and beta, each with a file about quokkas, one tenant-wide too.
struct World {
    s: TestServer,
    alice: String,
    carol: String,
    bob: String,
    alpha_file: String,
}

async fn world(s: TestServer) -> World {
    s.org("alpha").await;
    s.org("beta").await;
    let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
    let (_, carol) = s.fast_user("carol", "user", &[("alpha", false)]).await;
    let (_, bob) = s.fast_user("bob", "user", &[("beta", false)]).await;
    let alpha_file = upload(
        &s,
        &alice,
        "alpha.md",
        "alpha",
        "quokka habitats of team alpha",
    )
    .await;
    upload(&s, &bob, "beta.md", "beta", "quokka secrets of team beta").await;
    upload(
        &s,
        &s.admin,
        "wide.md",
        "tenant",
        "quokka facts for everyone",
    )
    .await;
    World {
        s,
        alice,
        carol,
        bob,
        alpha_file,
    }
}

pub(crate) async fn persona(s: &TestServer, token: &str, org: &str) -> String {
    s.create(
        token,
        "personas",
        json!({"name": "Helper", "org": org, "instructions": "Be brief."}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn personas_assignments_and_sessions_follow_the_rules() {
    for backend in backends() {
        let w = world(TestServer::start(backend).await).await;
        let s = &w.s;
        let p = persona(s, &w.alice, "alpha").await;
        // Bob cannot see an alpha persona: 404, and no session with it.
        let (st, _) = s.get(&w.bob, &format!("/api/v1/personas/{p}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = s
            .post(&w.bob, "/api/v1/sessions", json!({"persona": p}))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{backend:?}");
        // Only members of the persona's org can be assigned.
        let path = format!("/api/v1/personas/{p}/assignments");
        let (st, body, _) = s
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&w.alice),
                Some(json!({"users": ["bob"]})),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("bob"));
        let (st, body, _) = s
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&w.alice),
                Some(json!({"users": ["alice"]})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        // The assignment list narrows who may select it: carol sees it, may not use it.
        let (st, _) = s
            .post(&w.carol, "/api/v1/sessions", json!({"persona": p}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{backend:?}");
        // Listings and reads say so beforehand, to each caller.
        let selectable = |items: Vec<Value>| {
            items
                .iter()
                .find(|i| i["id"] == p.as_str())
                .map(|i| i["selectable"].clone())
        };
        assert_eq!(
            selectable(s.list_all(&w.carol, "/api/v1/personas").await),
            Some(json!(false))
        );
        assert_eq!(
            selectable(s.list_all(&w.alice, "/api/v1/personas").await),
            Some(json!(true))
        );
        assert_eq!(
            s.get(&s.admin, &format!("/api/v1/personas/{p}")).await.1["selectable"],
            true
        );
        let (st, session) = s
            .post(
                &w.alice,
                "/api/v1/sessions",
                json!({"persona": p, "timezone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{session}");
        assert_eq!(session["org"]["slug"], "alpha");
        // Its default name: the persona and the caller's local date and time.
        let name = session["name"].as_str().unwrap();
        let paris = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris);
        assert!(
            name.starts_with(&format!(
                "{}, {}",
                session["persona"]["name"].as_str().unwrap(),
                paris.format("%a %-d %b %Y")
            )),
            "{name}"
        );
        let (st, bad) = s
            .post(
                &w.alice,
                "/api/v1/sessions",
                json!({"persona": p, "timezone": "Mars/Olympus"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let sid = session["id"].as_str().unwrap().to_owned();
        // Carol, a member of alpha, sees the session; bob does not.
        let (st, _) = s.get(&w.carol, &format!("/api/v1/sessions/{sid}")).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s.get(&w.bob, &format!("/api/v1/sessions/{sid}")).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // Moving the persona to beta prunes alice's assignment (previewed first)…
        let rescope = format!("/api/v1/personas/{p}/rescope");
        let (_, preview) = s
            .post(&s.admin, &rescope, json!({"org": "beta", "preview": true}))
            .await;
        assert_eq!(preview["impact"]["assignments_pruned"], json!(["alice"]));
        let (_, still) = s.get(&s.admin, &path).await;
        assert_eq!(
            still["users"].as_array().unwrap().len(),
            1,
            "a preview changes nothing"
        );
        let (st, moved) = s.post(&s.admin, &rescope, json!({"org": "beta"})).await;
        assert_eq!(st, StatusCode::OK, "{moved}");
        assert_eq!(moved["impact"]["assignments_pruned"], json!(["alice"]));
        let (_, now) = s.get(&s.admin, &path).await;
        assert_eq!(now["users"], json!([]));
        let (_, log) = s.get(&s.admin, "/api/v1/audit?limit=200").await;
        let entry = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["action"] == "persona.rescope")
            .unwrap();
        assert_eq!(
            entry["after"]["impact"]["assignments_pruned"],
            json!(["alice"])
        );
        // …and the session keeps the org it started in.
        let (_, kept) = s.get(&w.alice, &format!("/api/v1/sessions/{sid}")).await;
        assert_eq!(kept["org"]["slug"], "alpha", "{backend:?}");
        let (st, _) = s
            .post(
                &s.admin,
                &format!("/api/v1/sessions/{sid}/rescope"),
                json!({"org": "beta"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // Listed with the org filter.
        let (_, list) = s.get(&w.alice, "/api/v1/sessions?org=alpha").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = s.get(&w.alice, "/api/v1/sessions?org=tenant").await;
        assert_eq!(list["items"], json!([]));
    }
}

#[tokio::test]
async fn answers_come_from_the_sessions_org_and_citations_follow_the_reader() {
    for backend in backends() {
        let w = world(TestServer::start(backend).await).await;
        let s = &w.s;
        let p = persona(s, &w.alice, "alpha").await;
        let (_, session) = s
            .post(&w.alice, "/api/v1/sessions", json!({"persona": p}))
            .await;
        let sid = session["id"].as_str().unwrap().to_owned();
        let (st, answer) = s
            .post(
                &w.alice,
                &format!("/api/v1/sessions/{sid}/messages"),
                json!({"content": "Tell me about quokka"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{answer}");
        assert_eq!(answer["mode"], "retrieval_only");
        assert!(
            answer["content"]
                .as_str()
                .unwrap()
                .starts_with("Retrieval only")
        );
        let cited: Vec<&str> = answer["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file_name"].as_str().unwrap())
            .collect();
        assert!(
            cited.contains(&"alpha.md") && cited.contains(&"wide.md"),
            "{cited:?}"
        );
        assert!(
            !cited.contains(&"beta.md"),
            "{backend:?}: never another org's passage"
        );
        assert!(!answer.to_string().contains("secrets of team beta"));
        // Search in the session's context: what its answers draw on, even
        // for the admin, who sees beta's file everywhere else.
        let (st, hits) = s
            .get(
                &s.admin,
                &format!("/api/v1/knowledge/search?q=quokka&session={sid}"),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {hits}");
        let mut found: Vec<&str> = hits["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["file"]["name"].as_str().unwrap())
            .collect();
        found.sort_unstable();
        assert_eq!(found, ["alpha.md", "wide.md"], "{backend:?}: {hits}");
        let (st, _) = s
            .get(
                &s.admin,
                &format!("/api/v1/knowledge/search?q=quokka&session={sid}&org=beta"),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{backend:?}");
        // Named files outside the session's context read as missing.
        let beta_file = s.list_all(&s.admin, "/api/v1/files?org=beta").await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (st, _) = s
            .post(
                &w.alice,
                &format!("/api/v1/sessions/{sid}/messages"),
                json!({"content": "quokka", "files": [beta_file]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // The alpha file moves to beta: it vanishes from alice's citations and the answer text.
        let (st, _) = s
            .post(
                &s.admin,
                &format!("/api/v1/files/{}/rescope", w.alpha_file),
                json!({"org": "beta"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (_, history) = s
            .get(&w.alice, &format!("/api/v1/sessions/{sid}/messages"))
            .await;
        let text = history.to_string();
        assert!(
            !text.contains("alpha.md")
                && !text.contains(&w.alpha_file)
                && !text.contains("habitats"),
            "{text}"
        );
        assert!(text.contains("wide.md"));
        assert_eq!(history["items"][0]["role"], "user");
        // The admin, who sees the file, still sees it cited.
        let (_, history) = s
            .get(&s.admin, &format!("/api/v1/sessions/{sid}/messages"))
            .await;
        assert!(history.to_string().contains("alpha.md"));
        let _ = &w.carol;
    }
}

/// What the fake model endpoint received.
type Received = Arc<Mutex<Vec<Value>>>;

/// A small OpenAI-compatible endpoint: records each request and streams a
/// fixed answer as server-sent events.
pub(crate) async fn model_server() -> (String, Received) {
    use axum::routing::post;
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                let events = ["Quokkas ", "live in ", "alpha [1]."]
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
async fn a_model_gets_only_the_sessions_passages_and_its_answer_streams() {
    let (url, received) = model_server().await;
    let llm = orgscope_server::llm::Llm::new(&url, "test-model", Some("sk-test".into()));
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            llm: Some(llm),
            ..Options::default()
        },
    )
    .await;
    let w = world(s).await;
    let s = &w.s;
    let p = persona(s, &w.alice, "alpha").await;
    let (_, session) = s
        .post(&w.alice, "/api/v1/sessions", json!({"persona": p}))
        .await;
    let sid = session["id"].as_str().unwrap().to_owned();
    // Streamed: delta events, then the saved message.
    let res = s
        .http
        .post(format!("{}/api/v1/sessions/{sid}/messages", s.base))
        .bearer_auth(&w.alice)
        .header("accept", "text/event-stream")
        .json(&json!({"content": "where do quokka live"}))
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
    let events = res.text().await.unwrap();
    assert!(events.contains("event: delta\ndata: Quokkas "), "{events}");
    let message_line = events
        .lines()
        .skip_while(|l| *l != "event: message")
        .nth(1)
        .unwrap();
    let message: Value = serde_json::from_str(message_line.trim_start_matches("data: ")).unwrap();
    assert_eq!(message["content"], "Quokkas live in alpha [1].");
    assert_eq!(message["mode"], "model");
    // What the model received: the persona's instructions and the session's
    // passages, never another org's.
    let sent = received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "test-model");
    let prompt = sent[0].to_string();
    assert!(
        prompt.contains("Be brief.")
            && prompt.contains("habitats of team alpha")
            && prompt.contains("facts for everyone"),
        "{prompt}"
    );
    assert!(!prompt.contains("secrets of team beta"), "{prompt}");
    // Without asking for a stream, the answer comes whole as JSON.
    let (st, answer) = s
        .post(
            &w.alice,
            &format!("/api/v1/sessions/{sid}/messages"),
            json!({"content": "quokka"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(answer["content"], "Quokkas live in alpha [1].");
    let (_, history) = s
        .get(&w.alice, &format!("/api/v1/sessions/{sid}/messages"))
        .await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        4,
        "two turns kept"
    );
    let _ = (&w.bob, &w.carol);
}

#[tokio::test]
async fn an_unreachable_model_is_a_502_naming_it_and_the_message_is_kept() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let llm = orgscope_server::llm::Llm::new(&url, "m", None);
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            llm: Some(llm),
            ..Options::default()
        },
    )
    .await;
    s.org("alpha").await;
    let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
    let p = persona(&s, &alice, "alpha").await;
    let (_, session) = s
        .post(&alice, "/api/v1/sessions", json!({"persona": p}))
        .await;
    let sid = session["id"].as_str().unwrap().to_owned();
    let (st, problem) = s
        .post(
            &alice,
            &format!("/api/v1/sessions/{sid}/messages"),
            json!({"content": "hello there"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_GATEWAY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{problem}"
    );
    let (_, history) = s
        .get(&alice, &format!("/api/v1/sessions/{sid}/messages"))
        .await;
    assert_eq!(history["items"][0]["content"], "hello there");
}

/// A model endpoint that sends `events` one byte at a time (so characters
/// arrive split across reads), then stalls for `stall` before ending.
async fn trickling_model(events: String, stall: std::time::Duration) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let events = events.clone();
            async move {
                let bytes: Vec<u8> = events.into_bytes();
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let bytes = bytes.clone();
                    async move {
                        if i < bytes.len() {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                            let chunk = bytes::Bytes::copy_from_slice(&bytes[i..=i]);
                            Some((Ok::<_, std::io::Error>(chunk), i + 1))
                        } else if i == bytes.len() && !stall.is_zero() {
                            tokio::time::sleep(stall).await;
                            None
                        } else {
                            None
                        }
                    }
                });
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::from_stream(stream),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn sse(pieces: &[&str], done: bool) -> String {
    let mut out: String = pieces
        .iter()
        .map(|d| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"delta": {"content": d}}]})
            )
        })
        .collect();
    if done {
        out.push_str("data: [DONE]\n\n");
    }
    out
}

#[tokio::test]
async fn a_streamed_answer_split_inside_characters_comes_back_whole() {
    let url = trickling_model(
        sse(&["café ", "ünïcode ", "日本語 🦘"], true),
        Default::default(),
    )
    .await;
    let llm = orgscope_server::llm::Llm::new(&url, "test-model", None);
    let up = llm.start(&json!([])).await.unwrap();
    let answer = orgscope_server::llm::collect(up).await.unwrap();
    assert_eq!(answer, "café ünïcode 日本語 🦘");
}

#[tokio::test]
async fn a_model_that_stalls_is_a_504_naming_it_and_the_message_is_kept() {
    let url = trickling_model(
        sse(&["half an "], false),
        std::time::Duration::from_secs(30),
    )
    .await;
    let llm = orgscope_server::llm::Llm::new(&url, "test-model", None).with_timeouts(
        std::time::Duration::from_secs(2),
        std::time::Duration::from_millis(500),
    );
    let s = TestServer::start_with(
        Backend::Sqlite,
        Options {
            llm: Some(llm),
            ..Options::default()
        },
    )
    .await;
    let w = world(s).await;
    let s = &w.s;
    let p = persona(s, &w.alice, "alpha").await;
    let (_, session) = s
        .post(&w.alice, "/api/v1/sessions", json!({"persona": p}))
        .await;
    let sid = session["id"].as_str().unwrap().to_owned();
    let (st, problem) = s
        .post(
            &w.alice,
            &format!("/api/v1/sessions/{sid}/messages"),
            json!({"content": "quokka"}),
        )
        .await;
    assert_eq!(st, StatusCode::GATEWAY_TIMEOUT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&url),
        "{problem}"
    );
    let (_, history) = s
        .get(&w.alice, &format!("/api/v1/sessions/{sid}/messages"))
        .await;
    assert_eq!(
        history["items"][0]["content"], "quokka",
        "the question is kept"
    );
    let _ = (&w.bob, &w.carol);
}

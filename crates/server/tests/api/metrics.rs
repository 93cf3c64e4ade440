//! `/metrics`: superusers only on the API's address, or anyone on the
//! private `--metrics-listen` address; each family moves when the thing it
//! counts happens, with the labels it documents.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, backends};

/// The value of the sample `line` starts with (a name and its labels).
fn sample(text: &str, line: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {line} in\n{text}"))
}

async fn scrape(s: &TestServer, token: &str) -> String {
    let r = s.raw(Method::GET, "/metrics", Some(token), &[], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    r.text
}

#[tokio::test]
async fn only_superusers_read_the_metrics_on_the_api_address() {
    let s = TestServer::start(crate::harness::Backend::Sqlite).await;
    s.shared_gateway_check().await;
    let r = s.raw(Method::GET, "/metrics", None, &[], None).await;
    r.problem(StatusCode::UNAUTHORIZED);
    let r = s
        .raw(Method::GET, "/metrics", Some(&s.admin), &[], None)
        .await;
    let why = r.problem(StatusCode::FORBIDDEN);
    assert!(why.contains("--metrics-listen"), "{why}");
    // The private listener answers anyone: it is meant for an address only
    // the scraper reaches.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(orgscope_server::serve_metrics(
        listener,
        s.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let res = s
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "orgscope_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"403\"} 1"
        ),
        "the same registry as the API's: {text}"
    );
    // Nothing else is served there.
    let res = s
        .http
        .get(format!("http://{addr}/api/v1/me"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let _ = stop.send(());
}

#[tokio::test]
async fn each_family_counts_what_it_says() {
    for backend in backends() {
        let a = crate::apis::setup(backend).await;
        let s = &a.s;
        let root = s.superuser().await;
        let before = s.store.statements();

        // A request whose path holds an id.
        let (st, _) = s
            .get(&a.alice, &format!("/api/v1/api-definitions/{}", a.api_a))
            .await;
        assert_eq!(st, StatusCode::OK);
        // A failed sign-in.
        let (st, _, _) = s.login_in(None, "alice", "not her password").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        // Gateway checks: allowed, no key, a method the API does not take.
        let decisions = [
            (Some(a.key_a.as_str()), "GET", StatusCode::NO_CONTENT),
            (None, "GET", StatusCode::UNAUTHORIZED),
            (Some(a.key_a.as_str()), "DELETE", StatusCode::FORBIDDEN),
            (Some(a.key_a.as_str()), "POST", StatusCode::NO_CONTENT),
        ];
        for (key, method, status) in decisions {
            let r = crate::apis::check(s, key, method, "/alpha/orders").await;
            assert_eq!(r.status(), status, "{backend:?} {method}");
        }
        // An extraction that fails.
        let (st, pdf) =
            crate::files::upload(s, &s.admin, "broken.pdf", None, "%PDF-1.4 not a pdf").await;
        assert_eq!(st, StatusCode::CREATED, "{pdf}");
        let pdf = crate::files::extracted(s, pdf["id"].as_str().unwrap()).await;
        assert_eq!(pdf["extraction"]["state"], "failed");
        // A job due now fires once.
        let agent = s
            .create(&a.alice, "agents", json!({"name": "bot", "org": "alpha"}))
            .await;
        let host = s
            .create(
                &a.alice,
                "hosts",
                json!({"name": "web-1", "org": "alpha", "address": "10.0.0.5"}),
            )
            .await;
        let job = s
            .create(&a.alice, "jobs", json!({"name": "hourly", "org": "alpha", "agent": agent["id"], "host": host["id"], "command": "uptime", "schedule": "0 * * * *"}))
            .await;
        let mut tx = s.store.write().await.unwrap();
        tx.job_schedule_set(
            job["id"].as_str().unwrap(),
            Some("2000-01-01T00:00:00.000000Z"),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let made = orgscope_server::routes::agents::fire_due(&s.state)
            .await
            .unwrap();
        assert_eq!(made.len(), 1, "{backend:?}");

        let text = scrape(s, &root).await;
        let has = |line: &str| sample(&text, line);
        // Requests: by route template, never the path with its id.
        let by_template = "{method=\"GET\",route=\"/api/v1/api-definitions/{id}\",status=\"200\"}";
        assert_eq!(
            has(&format!("orgscope_http_requests_total{by_template}")),
            1.0
        );
        assert_eq!(
            has(&format!(
                "orgscope_http_request_duration_seconds_count{by_template}"
            )),
            1.0
        );
        let le = format!("{},le=\"+Inf\"}}", by_template.trim_end_matches('}'));
        assert_eq!(
            has(&format!(
                "orgscope_http_request_duration_seconds_bucket{le}"
            )),
            1.0
        );
        assert!(!text.contains(&a.api_a), "no id in a label: {text}");
        assert_eq!(
            has(
                "orgscope_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"401\"}"
            ),
            1.0
        );
        // Sign-ins, gateway decisions, the scheduler, the backlog.
        assert_eq!(
            has("orgscope_login_failures_total{reason=\"credentials\"}"),
            1.0
        );
        assert_eq!(has("orgscope_login_failures_total{reason=\"locked\"}"), 0.0);
        assert_eq!(
            has("orgscope_gateway_checks_total{decision=\"allowed\"}"),
            2.0
        );
        assert_eq!(
            has("orgscope_gateway_checks_total{decision=\"unauthorized\"}"),
            1.0
        );
        assert_eq!(
            has("orgscope_gateway_checks_total{decision=\"forbidden\"}"),
            1.0
        );
        assert_eq!(has("orgscope_scheduler_firings_total "), 1.0);
        assert_eq!(has("orgscope_extraction_files{state=\"failed\"}"), 1.0);
        assert_eq!(has("orgscope_extraction_files{state=\"pending\"}"), 0.0);
        // The database: statements and the pool.
        assert!(has("orgscope_db_statements_total ") > before as f64);
        assert!(has("orgscope_db_pool_connections ") >= 1.0);
        assert!(has("orgscope_db_pool_idle ") <= has("orgscope_db_pool_connections "));
        let (_, _, max) = s.store.pool_use();
        assert_eq!(has("orgscope_db_pool_max "), f64::from(max));
        assert_eq!(
            has(&format!(
                "orgscope_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )),
            1.0
        );
    }
}

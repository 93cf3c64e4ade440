//! Replicas share nothing but the database: limits that guard security are
//! counted there, so requests spread over two replicas spend one budget.
//! (Two `orgscope serve` processes behind a real nginx are in the CLI's
//! tests; these run on both databases, in-process.)

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::apis::{check, setup_with};
use crate::harness::{FAST_PASSWORD, Options, TestServer, backends};

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const LIMITED: StatusCode = StatusCode::TOO_MANY_REQUESTS;

/// A login from `address`, as the trusted proxy in front reports it.
async fn login_from(s: &TestServer, address: &str, username: &str, password: &str) -> StatusCode {
    let body = json!({"username": username, "password": password});
    s.raw(
        Method::POST,
        "/api/v1/auth/login",
        None,
        &[("x-forwarded-for", address)],
        Some(("application/json", serde_json::to_vec(&body).unwrap())),
    )
    .await
    .status
}

#[tokio::test]
async fn login_limits_and_key_rates_hold_across_replicas() {
    for backend in backends() {
        let a = setup_with(
            backend,
            Options {
                trusted_proxies: vec![
                    orgscope_server::client::Network::parse("127.0.0.1").unwrap(),
                ],
                ..Options::default()
            },
        )
        .await;
        let one = &a.s;
        let two = one.replica().await;
        let replicas = [one, &two];

        // A user's budget of 10 failures, spent 5 and 5 on each replica.
        one.fast_user("victim", "user", &[]).await;
        for i in 0..10 {
            let st = login_from(
                replicas[i % 2],
                "203.0.113.1",
                "victim",
                &format!("wrong-{i}"),
            )
            .await;
            assert_eq!(st, UNAUTHORIZED, "{backend:?} failure {i}");
        }
        for s in replicas {
            let st = login_from(s, "203.0.113.1", "victim", FAST_PASSWORD).await;
            assert_eq!(
                st, LIMITED,
                "{backend:?}: {} counted only its own failures",
                s.base
            );
        }

        // Guesses sent all at once, half to each replica: no more than the
        // budget of them reach the password check.
        one.fast_user("rushed", "user", &[]).await;
        let guesses =
            (0..30).map(|i| login_from(replicas[i % 2], "203.0.113.2", "rushed", "wrong"));
        let answers = futures_util::future::join_all(guesses).await;
        let checked = answers.iter().filter(|st| **st == UNAUTHORIZED).count();
        assert!(
            checked <= 10
                && answers
                    .iter()
                    .all(|st| *st == UNAUTHORIZED || *st == LIMITED),
            "{backend:?}: {checked} of 30 simultaneous guesses were checked: {answers:?}"
        );
        let st = login_from(&two, "203.0.113.2", "rushed", FAST_PASSWORD).await;
        assert_eq!(st, LIMITED, "{backend:?}: the rushed user stays locked");

        // An address's budget of 50 failures (over many usernames), spread
        // over both: the 50th is refused wherever it lands. The proxy's own
        // address and other clients behind it go on.
        for i in 0..49 {
            let st = login_from(
                replicas[i % 2],
                "198.51.100.7",
                &format!("nobody-{i}"),
                "wrong",
            )
            .await;
            assert_eq!(st, UNAUTHORIZED, "{backend:?} address failure {i}");
        }
        for s in replicas {
            let st = login_from(s, "198.51.100.7", "nobody-else", "wrong").await;
            assert_eq!(
                st, LIMITED,
                "{backend:?}: {} counted only its own failures",
                s.base
            );
        }
        one.fast_user("bystander", "user", &[]).await;
        for s in replicas {
            let st = login_from(s, "198.51.100.8", "bystander", FAST_PASSWORD).await;
            assert_eq!(
                st,
                StatusCode::OK,
                "{backend:?}: another client behind the same proxy"
            );
        }

        // A consumer key's rate of 4 a minute, spread over both.
        let key = one
            .create(&a.alice, "consumer-keys", json!({"name": "metered", "org": "alpha", "developer": a.dev_a, "apis": [a.api_a], "rate_limit": 4}))
            .await;
        let token = key["token"].as_str().unwrap();
        for i in 0..4 {
            let st = check(replicas[i % 2], Some(token), "GET", "/alpha/")
                .await
                .status();
            assert_eq!(st, StatusCode::NO_CONTENT, "{backend:?} request {i}");
        }
        for s in replicas {
            let r = check(s, Some(token), "GET", "/alpha/").await;
            assert_eq!(
                r.status(),
                LIMITED,
                "{backend:?}: {} counted only its own requests",
                s.base
            );
            assert!(r.headers().contains_key("retry-after"));
        }
        // Another key is not held back by it.
        assert_eq!(
            check(&two, Some(&a.key_a), "GET", "/alpha/").await.status(),
            StatusCode::NO_CONTENT
        );
    }
}

//! Debian's Chromium, headless, through its chromedriver (started here on
//! a free port), with what every page test needs: screenshots at desktop
//! and phone widths, and an axe-core audit.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core, vendored for the tests (see tests/vendor/README.md).
const AXE: &str = include_str!("../vendor/axe.min.js");

pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

pub struct Browser {
    pub client: Client,
    driver: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where the run's screenshots go: under the target dir.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")
}

impl Browser {
    /// A browser, or `None` (said aloud) when none is installed here and
    /// `CI` is not set; under `CI` a missing browser fails the test.
    pub async fn start() -> Option<Browser> {
        let chromium = std::env::var("ORGSCOPE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
        let chromedriver =
            std::env::var("ORGSCOPE_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        let missing: Vec<&str> = [&chromium, &chromedriver]
            .into_iter()
            .filter(|p| !std::path::Path::new(p).exists())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "no browser for the web UI tests: {} missing; install Debian's `chromium chromium-driver`",
                missing.join(", ")
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg} (CI is set: this is a failure, not a skip)");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut ready = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not listen on port {port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--force-device-scale-factor=1", "--hide-scrollbars",
                    // Portal domains (*.test) reach the test server.
                    "--host-resolver-rules=MAP *.test 127.0.0.1"],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("a TLS connector")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromedriver session");
        client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .expect("window size");
        Some(Browser { client, driver })
    }

    /// Ends the session and the driver.
    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("go to {url}: {e}"));
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no element {css} on {}: {e}", self.url().await),
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits until the URL satisfies `ok`.
    pub async fn wait_url(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let url = self.url().await;
            if ok(&url) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the URL never became {what}: it is {}", self.url().await);
    }

    /// Waits until the text of `css` satisfies `ok`.
    pub async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..200 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
            {
                if ok(&t) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never showed {what}; it shows: {last}");
    }

    /// Scrolls an element to the top of the window.
    pub async fn scroll_to(&self, css: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});",
                vec![serde_json::Value::String(css.to_owned())],
            )
            .await
            .unwrap();
    }

    /// Screenshots of what is shown now, at desktop and at phone width.
    pub async fn shoot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(w, h).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
        }
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .unwrap();
    }

    /// Runs axe-core on the page as it is: no violation of impact serious
    /// or critical may remain.
    pub async fn audit(&self, name: &str) {
        self.client
            .execute(AXE, vec![])
            .await
            .expect("inject axe-core");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))
                    .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        let bad: Vec<&Value> = result
            .as_array()
            .expect("axe answers a list")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "axe-core found serious or critical violations on {name}:\n{}",
            serde_json::to_string_pretty(&bad).unwrap()
        );
    }
}

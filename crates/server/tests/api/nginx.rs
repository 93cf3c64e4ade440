//! A real nginx for gateway tests, and an upstream behind it that says what
//! it was asked. Shared with the web tests (`#[path]`), which drive the
//! portal's key through it.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// The `location` that asks orgscope (at `orgscope`, host:port) whether a
/// request may pass: `auth_request /_orgscope_check;` uses it. `extra` is
/// more `proxy_set_header` lines (e.g. a gateway's secret).
#[must_use]
pub fn check_location(orgscope: &str, extra: &str) -> String {
    format!(
        "location = /_orgscope_check {{
      internal;
      proxy_pass http://{orgscope}/api/v1/gateway/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length \"\";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      {extra}
    }}"
    )
}

impl Nginx {
    /// Starts nginx in `dir` serving one `server` on a free port with these
    /// `locations`; `None` where nginx is not installed (CI installs it, so
    /// there a missing one fails).
    pub async fn start(dir: &Path, locations: &str) -> Option<Nginx> {
        let Some(nginx) = binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI installs nginx: it must be found"
            );
            eprintln!("nginx is not installed: the nginx test is skipped");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        let mut f = std::fs::File::create(&conf).unwrap();
        write!(
            f,
            "worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    {locations}
  }}
}}
"
        )
        .unwrap();
        drop(f);
        let child = Command::new(nginx)
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-g",
                "daemon off; user root root;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx { child, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(nginx);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// An upstream that answers `upstream saw <path>`.
pub async fn upstream() -> u16 {
    let app = axum::Router::new()
        .fallback(|uri: axum::http::Uri| async move { format!("upstream saw {}", uri.path()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

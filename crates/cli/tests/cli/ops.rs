//! Operating a server: a stop drains, backup and restore, migrate.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::{Server, bin, blob_files, data_dir, login, start_server, start_server_with};

/// Sends SIGTERM, as a service manager does.
fn terminate(server: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts a raw upload of `total` bytes and sends `sent` of them.
fn begin_upload(url: &str, token: &str, name: &str, total: usize, sent: usize) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /api/v1/files?name={name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    conn.write_all(&vec![7u8; sent]).unwrap();
    conn.flush().unwrap();
    conn
}

fn status_of(url: &str, path: &str) -> Option<u16> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

/// SIGTERM: /readyz turns unready at once while requests are still served;
/// an upload in flight that finishes within the bound becomes a file, one
/// that does not is cut short and leaves nothing behind, and the process
/// exits on its own.
#[test]
fn a_stop_drains_in_flight_requests_within_its_bound() {
    let dir = data_dir();
    let (mut server, url) = start_server_with(
        &dir,
        &["--unready-seconds", "2", "--drain-seconds", "3"],
        &[],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = login(&rt, &url);
    assert_eq!(status_of(&url, "/readyz"), Some(200));
    let size = 4 * 1024 * 1024;
    let mut finishing = begin_upload(&url, &token, "finishing.bin", size, size / 2);
    let mut stalled = begin_upload(&url, &token, "stalled.bin", size, size / 2);
    let staged = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        blob_files(&dir).iter().filter(|n| n.contains('#')).count() == 2
    });
    assert!(staged, "both uploads reached the disk: {:?}", blob_files(&dir));

    let stopped_at = Instant::now();
    terminate(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status_of(&url, "/readyz"), Some(503), "unready at once");
    assert_eq!(status_of(&url, "/healthz"), Some(200), "still serving");
    // The first upload finishes while draining; the second never does.
    finishing.write_all(&vec![7u8; size - size / 2]).unwrap();
    let mut answer = String::new();
    finishing.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let n = finishing.read(&mut buf).unwrap();
    answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let status = server.0.wait().unwrap();
    let took = stopped_at.elapsed();
    assert!(status.success(), "a drained stop exits cleanly: {status:?}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "unready 2s, then the bound of 3s: {took:?}"
    );
    drop(stalled.write_all(b"late"));
    let left = blob_files(&dir);
    assert_eq!(left.len(), 1, "only the finished upload remains: {left:?}");
    assert!(!left[0].contains('#'), "{left:?}");

    let (_server, url) = start_server(&dir);
    let token = login(&rt, &url);
    let out = bin()
        .args(["--url", &url, "--output", "json", "file", "list"])
        .env("ORGSCOPE_TOKEN", &token)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("finishing.bin") && !listed.contains("stalled.bin"),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! A real SMTP server for the tests: Python's aiosmtpd writing what it
//! receives into a Maildir. `.ci/run` installs it (ORGSCOPE_TEST_SMTP_PYTHON
//! names the Python that has it); elsewhere a missing aiosmtpd skips the
//! test, said aloud, unless `CI` is set.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct MailSink {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

fn python() -> Option<String> {
    let candidates = [
        std::env::var("ORGSCOPE_TEST_SMTP_PYTHON").ok(),
        Some("python3".to_owned()),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

impl MailSink {
    pub async fn start() -> Option<MailSink> {
        let Some(python) = python() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "aiosmtpd is missing (pip install aiosmtpd; ORGSCOPE_TEST_SMTP_PYTHON names its python)"
            );
            eprintln!("skipped: no aiosmtpd here (pip install aiosmtpd)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(orgscope_store::new_id("orgscope-mail"));
        let mut child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(MailSink { port, dir, child });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {port}");
    }

    /// The relay URL orgscope sends through.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// Waits until `count` messages to `to` arrived, and returns them all.
    pub async fn to(&self, to: &str, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let mine: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(to)))
                .collect();
            if mine.len() >= count {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message number {count} to {to} arrived");
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

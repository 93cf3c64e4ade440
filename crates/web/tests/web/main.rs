//! The web UI's tests: pages over a real server on port 0, driven by
//! Debian's Chromium (through chromedriver) where a browser is needed, and
//! by plain HTTP where it is not.

mod access;
mod browser;
mod chat;
mod csrf;
mod e2e;
mod harness;
mod hiding;
mod kinds;
mod mailsink;
#[path = "../../../server/tests/api/nginx.rs"]
mod nginx;
mod orgs;
mod people;
mod portal;
mod portal_client;
mod tenants;

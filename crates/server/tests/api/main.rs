//! API tests: the real server on a free port, spoken to over HTTP.
//! On SQLite by default; on PostgreSQL too when `ORGSCOPE_TEST_DATABASE_URL`
//! is set (each server gets a database of its own).

mod access;
mod agents;
mod api_gateways;
mod apis;
mod audit;
mod auth;
mod bad_input;
mod chat;
mod credentials;
mod defaults;
mod domains;
mod files;
mod filters;
mod forbidden;
mod harness;
mod hiding;
mod isolation;
mod lifecycle;
#[path = "../../../web/tests/web/mailsink.rs"]
mod mailsink;
mod metrics;
mod nginx;
mod openapi;
mod org_filter;
mod pagination;
mod plans;
#[path = "../../../web/tests/web/portal_client.rs"]
mod portal_client;
mod references;
mod regression;
mod replicas;
mod rescope;
mod revocation;
mod s3;
mod smoke;
mod statements;
mod tickets;

//! API tests: the real server on a free port, spoken to over HTTP.
//! On SQLite by default; on PostgreSQL too when `ORGSCOPE_TEST_DATABASE_URL`
//! is set (each server gets a database of its own).

mod auth;
mod forbidden;
mod harness;
mod hiding;
mod org_filter;
mod rescope;
mod smoke;

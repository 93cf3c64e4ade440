//! The pages, one module per area. Each handler reads its input, calls app
//! operations, and renders what they answer.

pub mod access;
pub mod audit;
pub mod chat;
pub mod files;
pub mod keys;
pub mod kinds;
pub mod knowledge;
pub mod login;
pub mod moving;
pub mod orgs;
pub mod people;
pub mod portal;
pub mod tenants;

/// A query value that means "no choice" reads as none.
pub fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

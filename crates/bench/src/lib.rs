//! Benchmarks only: `cargo bench -p orgscope-bench` (see
//! `benches/policy.rs` and docs/PERFORMANCE.md).

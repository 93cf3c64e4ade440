//! Prometheus metrics through `prometheus-client`: one registry in the
//! state. What happens at the edges is counted where it happens (requests
//! by a middleware, the gateway check's decisions, the scheduler's
//! firings); what the store and the login limiter already count is read at
//! scrape time by a collector, and the extraction backlog is asked of the
//! database at each scrape (so it is the same whichever replica answers).
//!
//! Requests are labelled by route template (`/api/v1/files/{id}`), never
//! the path, which holds ids and would make a series per resource.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use orgscope_app::limits::LoginLimiter;
use orgscope_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template, or `unmatched` for a path no route serves.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The extraction states the backlog gauge reports (`done` is left out: it
/// is nearly every file, and counting it walks the whole index).
const EXTRACTION_STATES: [&str; 4] = ["pending", "running", "failed", "unsupported"];

/// Latency buckets, in seconds (Prometheus' defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    gateway_checks: Family<DecisionLabels, Counter>,
    scheduler_firings: Counter,
    extraction: Family<StateLabels, Gauge>,
    store: Store,
}

impl Metrics {
    pub fn new(store: Store, limiter: Arc<LoginLimiter>) -> Metrics {
        let mut registry = Registry::with_prefix("orgscope");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (until its response starts), by method, route template and status",
            latency.clone(),
        );
        let gateway_checks = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "gateway_checks",
            "Gateway checks, by decision (allowed, unauthorized, forbidden, rate_limited, bad_request, error)",
            gateway_checks.clone(),
        );
        let scheduler_firings = Counter::default();
        registry.register(
            "scheduler_firings",
            "Tasks made by the job scheduler on this replica",
            scheduler_firings.clone(),
        );
        let extraction = Family::<StateLabels, Gauge>::default();
        registry.register(
            "extraction_files",
            "Files (all tenants) waiting for extraction, being extracted, failed, or of a type not extracted",
            extraction.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running version", build);
        registry.register_collector(Box::new(Counted {
            store: store.clone(),
            limiter,
        }));
        Metrics {
            registry,
            requests,
            latency,
            gateway_checks,
            scheduler_firings,
            extraction,
            store,
        }
    }

    /// One request answered.
    pub fn request(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        let labels = RequestLabels {
            method: method.as_str().to_owned(),
            route: route.to_owned(),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One gateway check, by the status it answered.
    pub fn gateway_check(&self, status: StatusCode) {
        let decision = match status.as_u16() {
            200..=299 => "allowed",
            401 => "unauthorized",
            403 => "forbidden",
            429 => "rate_limited",
            400..=499 => "bad_request",
            _ => "error",
        };
        self.gateway_checks
            .get_or_create(&DecisionLabels { decision })
            .inc();
    }

    /// Tasks the scheduler made.
    pub fn scheduler_fired(&self, tasks: usize) {
        self.scheduler_firings
            .inc_by(u64::try_from(tasks).unwrap_or(u64::MAX));
    }

    /// The text a scrape gets: the backlog is read from the database first.
    pub async fn render(&self) -> Result<String, orgscope_store::StoreError> {
        let counts = self
            .store
            .read()
            .await?
            .extraction_counts_all_tenants()
            .await?;
        for state in EXTRACTION_STATES {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.extraction.get_or_create(&StateLabels { state }).set(n);
        }
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).map_err(
            |e| orgscope_store::StoreError::Unavailable(format!("metrics encoding: {e}")),
        )?;
        Ok(out)
    }
}

/// What others count, read at each scrape.
struct Counted {
    store: Store,
    limiter: Arc<LoginLimiter>,
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counted")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Counted {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        counter(
            &mut encoder,
            "db_statements",
            "Statements run in database transactions on this replica.",
            self.store.statements(),
        )?;
        let (open, idle, max) = self.store.pool_use();
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "db_pool_connections",
            "Open database connections in the pool.",
            i64::from(open),
        )?;
        gauge(
            &mut encoder,
            "db_pool_idle",
            "Open database connections not in use.",
            idle,
        )?;
        gauge(
            &mut encoder,
            "db_pool_max",
            "The most connections the pool opens.",
            i64::from(max),
        )?;
        let logins = self.limiter.counts();
        let mut family = encoder.encode_descriptor(
            "login_failures",
            "Failed sign-ins on this replica: wrong credentials (password, unknown or disabled user), or refused because the username was locked.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, n) in [("credentials", logins.failed), ("locked", logins.locked)] {
            ConstCounter::new(n).encode(family.encode_family(&ReasonLabels { reason })?)?;
        }
        Ok(())
    }
}

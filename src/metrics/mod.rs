//! The Prometheus metric contract (DESIGN §4) and its HTTP exporter.
//!
//! [`Metrics`] registers every series at start and initialises every known label combination
//! to zero, so a dashboard's `rate()` works from the first scrape and a missing series always
//! means a bug. Hot-path code holds pre-resolved handles (`IntCounter` per type × reason), never
//! calls `with_label_values` per message: that is a hash lookup and a lock.

pub mod exporter;
pub mod flow;
pub mod propagation;
pub mod registry;

pub use exporter::{serve, serve_routes, serve_with, ExporterConfig, Health};
pub use registry::Metrics;

//! The sidecar's layers, as a library so that tests and benchmarks can
//! drive them: [`config`] (the TOML schema), [`metrics`] (Prometheus),
//! [`edge`] (the TLS and stream-validating proxy).

pub mod config;
pub mod edge;
pub mod metrics;

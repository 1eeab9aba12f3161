//! The sidecar's layers, as a library so that tests and benchmarks can
//! drive them: [`config`] (the TOML schema), [`metrics`] (Prometheus),
//! [`edge`] (the TLS and stream-validating proxy), [`component`] (MUC Light
//! rooms as an XEP-0114 component), [`storage`] (its SQLite or PostgreSQL store) and
//! [`index_api`] (the full-text index over loopback HTTP/JSON).

pub mod component;
pub mod config;
pub mod edge;
pub mod index_api;
pub mod metrics;
pub mod storage;

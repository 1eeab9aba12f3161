//! One Prometheus registry for the whole process, served as text on
//! `/metrics`, with `/health` beside it.
//!
//! Names follow MongooseIM's Prometheus metrics where one exists
//! (`xmpp_element_in_message_count`, `tcp_data_in_byte_size`,
//! `tls_data_in_byte_size`, ...), exposed without a `_total` suffix as
//! MongooseIM does, so its dashboards work; the sidecar's own metrics are
//! ordinary counters and gauges prefixed `edge_`. Every metric carries a
//! `listener` label.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub listener: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub listener: String,
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabel {
    pub listener: String,
    pub condition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub listener: String,
    pub limit: String,
}

/// A monotonically increasing count exposed under its exact name (no
/// `_total`), as MongooseIM's counters are; Prometheus reads it as untyped.
#[derive(Debug, Default, Clone)]
pub struct PlainCounter(Arc<AtomicU64>);

impl PlainCounter {
    pub fn inc_by(&self, v: u64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl TypedMetric for PlainCounter {
    const TYPE: MetricType = MetricType::Unknown;
}

impl EncodeMetric for PlainCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&(self.get() as i64))
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

type Plain = Family<ListenerLabel, PlainCounter>;

/// Every metric of the process.
#[derive(Default)]
pub struct Metrics {
    pub connections_open: Family<ListenerLabel, Gauge>,
    pub connections: Family<ListenerLabel, Counter>,
    pub tls_handshakes: Family<VersionLabel, Counter>,
    pub tls_handshake_failures: Family<ReasonLabel, Counter>,
    pub stream_errors: Family<ConditionLabel, Counter>,
    pub backend_connect_failures: Family<ListenerLabel, Counter>,
    pub refused: Family<LimitLabel, Counter>,
    pub tcp_data_in: Plain,
    pub tcp_data_out: Plain,
    pub tls_data_in: Plain,
    pub tls_data_out: Plain,
    pub element_in: Plain,
    pub element_out: Plain,
    pub message_in: Plain,
    pub message_out: Plain,
    pub iq_in: Plain,
    pub iq_out: Plain,
    pub presence_in: Plain,
    pub presence_out: Plain,
}

impl Metrics {
    /// The metrics and the registry that serves them.
    pub fn new() -> (Arc<Metrics>, Registry) {
        let m = Arc::new(Metrics::default());
        let mut r = Registry::default();
        r.register(
            "edge_connections_open",
            "Open client connections",
            m.connections_open.clone(),
        );
        r.register(
            "edge_connections",
            "Client connections accepted",
            m.connections.clone(),
        );
        r.register(
            "edge_tls_handshakes",
            "Finished TLS handshakes by protocol version",
            m.tls_handshakes.clone(),
        );
        r.register(
            "edge_tls_handshake_failures",
            "Failed TLS handshakes by reason (timeout, not_tls, alert, io, ...)",
            m.tls_handshake_failures.clone(),
        );
        r.register(
            "edge_stream_errors",
            "Streams ended with a stream error, by RFC 6120 condition",
            m.stream_errors.clone(),
        );
        r.register(
            "edge_backend_connect_failures",
            "Failed connections to the backend server",
            m.backend_connect_failures.clone(),
        );
        r.register(
            "edge_refused",
            "Connections or bytes refused by a limit (max_connections, max_connections_per_ip, rate, timeouts)",
            m.refused.clone(),
        );
        let plain: [(&str, &str, &Plain); 12] = [
            (
                "tcp_data_in_byte_size",
                "Bytes received from clients on TCP (before TLS)",
                &m.tcp_data_in,
            ),
            (
                "tcp_data_out_byte_size",
                "Bytes sent to clients on TCP (after TLS)",
                &m.tcp_data_out,
            ),
            (
                "tls_data_in_byte_size",
                "Plaintext bytes received from clients inside TLS",
                &m.tls_data_in,
            ),
            (
                "tls_data_out_byte_size",
                "Plaintext bytes sent to clients inside TLS",
                &m.tls_data_out,
            ),
            (
                "xmpp_element_in_count",
                "Top-level elements received from clients",
                &m.element_in,
            ),
            (
                "xmpp_element_out_count",
                "Top-level elements sent to clients",
                &m.element_out,
            ),
            (
                "xmpp_element_in_message_count",
                "Message stanzas received from clients",
                &m.message_in,
            ),
            (
                "xmpp_element_out_message_count",
                "Message stanzas sent to clients",
                &m.message_out,
            ),
            (
                "xmpp_element_in_iq_count",
                "IQ stanzas received from clients",
                &m.iq_in,
            ),
            (
                "xmpp_element_out_iq_count",
                "IQ stanzas sent to clients",
                &m.iq_out,
            ),
            (
                "xmpp_element_in_presence_count",
                "Presence stanzas received from clients",
                &m.presence_in,
            ),
            (
                "xmpp_element_out_presence_count",
                "Presence stanzas sent to clients",
                &m.presence_out,
            ),
        ];
        for (name, help, fam) in plain {
            r.register(name, help, fam.clone());
        }
        (m, r)
    }
}

/// The MUC Light component's metrics (registered by [`ComponentMetrics::register`]).
#[derive(Clone)]
pub struct ComponentMetrics {
    /// 1 while the XEP-0114 link is up.
    pub connected: Gauge,
    /// Rooms stored.
    pub rooms: Gauge,
    /// Occupants of all rooms (one per room and user).
    pub members: Gauge,
    /// Room stanzas fanned out (messages and notifications).
    pub broadcasts: Counter,
    /// Copies written per broadcast (one per online resource of each recipient).
    pub fanout_size: prometheus_client::metrics::histogram::Histogram,
    /// Stanzas written to the room archive.
    pub archive_writes: Counter,
    /// Archived messages not yet searchable in the full-text index.
    pub index_lag: Gauge,
    /// Stanzas received from the server.
    pub stanzas_in: Counter,
    /// Connection attempts that failed (connect, handshake, or a dropped link).
    pub reconnects: Counter,
    /// Seconds from a stanza's transaction start to its commit, for
    /// stanzas that wrote the archive.
    pub archive_write_seconds: prometheus_client::metrics::histogram::Histogram,
    /// Seconds from a message's mam id (the database's clock when it was
    /// archived) until it was searchable in this instance's index (the
    /// PostgreSQL archive tailer, per message; not the catch-up at start).
    pub index_lag_seconds: prometheus_client::metrics::histogram::Histogram,
    /// The highest mam id the archive tailer has made searchable.
    pub tail_last_id: Gauge,
    /// Messages the archive tailer fed to the index (every instance's).
    pub tail_messages: Counter,
}

impl ComponentMetrics {
    /// Creates the metrics and registers them as `component_*`.
    pub fn register(r: &mut Registry) -> ComponentMetrics {
        let m = ComponentMetrics {
            connected: Gauge::default(),
            rooms: Gauge::default(),
            members: Gauge::default(),
            broadcasts: Counter::default(),
            fanout_size: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(1.0, 4.0, 9),
            ),
            archive_writes: Counter::default(),
            index_lag: Gauge::default(),
            stanzas_in: Counter::default(),
            reconnects: Counter::default(),
            archive_write_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.000_1, 1.5, 30),
            ),
            index_lag_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 1.5, 25),
            ),
            tail_last_id: Gauge::default(),
            tail_messages: Counter::default(),
        };
        r.register(
            "component_connected",
            "1 while the XEP-0114 link to the server is up",
            m.connected.clone(),
        );
        r.register("component_rooms", "MUC Light rooms stored", m.rooms.clone());
        r.register(
            "component_members",
            "Room occupants (one per room and user)",
            m.members.clone(),
        );
        r.register(
            "component_broadcasts",
            "Room stanzas fanned out (messages and notifications)",
            m.broadcasts.clone(),
        );
        r.register(
            "component_fanout_size",
            "Copies written per broadcast (online resources of the recipients)",
            m.fanout_size.clone(),
        );
        r.register(
            "component_archive_writes",
            "Stanzas written to the room archive",
            m.archive_writes.clone(),
        );
        r.register(
            "component_index_lag",
            "Archived messages not yet searchable in the full-text index",
            m.index_lag.clone(),
        );
        r.register(
            "component_stanzas_in",
            "Stanzas received from the server",
            m.stanzas_in.clone(),
        );
        r.register(
            "component_reconnects",
            "Failed or lost XEP-0114 connections",
            m.reconnects.clone(),
        );
        r.register(
            "component_archive_write_seconds",
            "Transaction time of stanzas that wrote the archive",
            m.archive_write_seconds.clone(),
        );
        r.register(
            "component_index_lag_seconds",
            "From a message's archiving (its mam id's time) to searchable here",
            m.index_lag_seconds.clone(),
        );
        r.register(
            "component_tail_last_id",
            "Highest mam id the PostgreSQL archive tailer made searchable",
            m.tail_last_id.clone(),
        );
        r.register(
            "component_tail_messages",
            "Archived messages the PostgreSQL archive tailer indexed",
            m.tail_messages.clone(),
        );
        m
    }
}

/// The metric handles of one listener, looked up once.
#[derive(Clone)]
pub struct ListenerMetrics {
    pub name: Arc<str>,
    pub all: Arc<Metrics>,
    pub connections_open: Gauge,
    pub connections: Counter,
    pub backend_connect_failures: Counter,
    pub tcp_in: PlainCounter,
    pub tcp_out: PlainCounter,
    pub tls_in: PlainCounter,
    pub tls_out: PlainCounter,
    pub stanzas_in: StanzaCounters,
    pub stanzas_out: StanzaCounters,
}

/// Counts of top-level elements one way.
#[derive(Clone)]
pub struct StanzaCounters {
    pub all: PlainCounter,
    pub message: PlainCounter,
    pub iq: PlainCounter,
    pub presence: PlainCounter,
}

impl StanzaCounters {
    /// Counts one element by its qualified name (any prefix ignored).
    pub fn count(&self, name: &str) {
        self.all.inc_by(1);
        let local = name.rsplit(':').next().unwrap_or(name);
        match local {
            "message" => self.message.inc_by(1),
            "iq" => self.iq.inc_by(1),
            "presence" => self.presence.inc_by(1),
            _ => {}
        }
    }
}

impl ListenerMetrics {
    pub fn new(all: &Arc<Metrics>, name: &str) -> ListenerMetrics {
        let l = ListenerLabel {
            listener: name.to_owned(),
        };
        let m = all;
        ListenerMetrics {
            name: name.into(),
            all: all.clone(),
            connections_open: m.connections_open.get_or_create(&l).clone(),
            connections: m.connections.get_or_create(&l).clone(),
            backend_connect_failures: m.backend_connect_failures.get_or_create(&l).clone(),
            tcp_in: m.tcp_data_in.get_or_create(&l).clone(),
            tcp_out: m.tcp_data_out.get_or_create(&l).clone(),
            tls_in: m.tls_data_in.get_or_create(&l).clone(),
            tls_out: m.tls_data_out.get_or_create(&l).clone(),
            stanzas_in: StanzaCounters {
                all: m.element_in.get_or_create(&l).clone(),
                message: m.message_in.get_or_create(&l).clone(),
                iq: m.iq_in.get_or_create(&l).clone(),
                presence: m.presence_in.get_or_create(&l).clone(),
            },
            stanzas_out: StanzaCounters {
                all: m.element_out.get_or_create(&l).clone(),
                message: m.message_out.get_or_create(&l).clone(),
                iq: m.iq_out.get_or_create(&l).clone(),
                presence: m.presence_out.get_or_create(&l).clone(),
            },
        }
    }

    pub fn handshake(&self, version: &str) {
        self.all
            .tls_handshakes
            .get_or_create(&VersionLabel {
                listener: self.name.to_string(),
                version: version.to_owned(),
            })
            .inc();
    }

    pub fn handshake_failed(&self, reason: &str) {
        self.all
            .tls_handshake_failures
            .get_or_create(&ReasonLabel {
                listener: self.name.to_string(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn stream_error(&self, condition: &str) {
        self.all
            .stream_errors
            .get_or_create(&ConditionLabel {
                listener: self.name.to_string(),
                condition: condition.to_owned(),
            })
            .inc();
    }

    pub fn refused(&self, limit: &str) {
        self.all
            .refused
            .get_or_create(&LimitLabel {
                listener: self.name.to_string(),
                limit: limit.to_owned(),
            })
            .inc();
    }
}

/// Serves `/metrics` and `/health` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, registry: Registry) -> std::io::Result<()> {
    use axum::routing::get;
    let registry = Arc::new(registry);
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut out = String::new();
                    match prometheus_client::encoding::text::encode(&mut out, &registry) {
                        Ok(()) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            out,
                        ),
                        Err(_) => (
                            [(axum::http::header::CONTENT_TYPE, "text/plain")],
                            "encoding error\n".to_owned(),
                        ),
                    }
                }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_metric_names() {
        let mut r = Registry::default();
        let m = ComponentMetrics::register(&mut r);
        m.rooms.set(2);
        m.broadcasts.inc();
        m.fanout_size.observe(3.0);
        m.archive_writes.inc_by(4);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        for line in [
            "component_rooms 2\n",
            "component_broadcasts_total 1\n",
            "component_fanout_size_count 1\n",
            "component_archive_writes_total 4\n",
            "component_index_lag 0\n",
            "component_connected 0\n",
        ] {
            assert!(out.contains(line), "{line}: {out}");
        }
    }

    #[test]
    fn mongooseim_names_have_no_total_suffix() {
        let (m, r) = Metrics::new();
        let lm = ListenerMetrics::new(&m, "c2s_5222");
        lm.stanzas_in.count("message");
        lm.stanzas_in.count("stream:features");
        lm.tls_in.inc_by(100);
        lm.connections.inc();
        lm.refused("max_connections");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(
            out.contains("xmpp_element_in_message_count{listener=\"c2s_5222\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("xmpp_element_in_count{listener=\"c2s_5222\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("tls_data_in_byte_size{listener=\"c2s_5222\"} 100\n"),
            "{out}"
        );
        assert!(
            out.contains("edge_connections_total{listener=\"c2s_5222\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("edge_refused_total{listener=\"c2s_5222\",limit=\"max_connections\"} 1\n"),
            "{out}"
        );
    }
}

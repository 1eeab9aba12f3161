//! The TOML configuration (`--config FILE`), with defaults.
//!
//! `sidecar/examples/sidecar.toml` is the annotated example. Unknown keys are
//! errors (a typo must not silently fall back to a default); durations are
//! whole milliseconds or seconds as the key's suffix says.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub tls: Tls,
    /// Defaults for every listener's `limits`.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub shutdown: Shutdown,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// The MUC Light component (XEP-0114), if any.
    pub component: Option<Component>,
    /// The full-text index as a loopback HTTP/JSON API, if any.
    pub index: Option<Index>,
}

/// `[index]`: the MAM full-text index served over loopback HTTP/JSON
/// (`index_api`), for servers that keep their own archive (Prosody).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Where the API listens: a loopback address.
    #[serde(default = "default_index_address")]
    pub address: SocketAddr,
    /// The index directory (created if absent; one process at a time).
    pub directory: PathBuf,
    /// The shared secret clients send as `Authorization: Bearer <token>`
    /// (at least 16 characters).
    pub token: String,
    /// Writes become durable and searchable this often, in milliseconds.
    #[serde(default = "default_index_commit")]
    pub commit_interval_ms: u64,
    /// `unicode` (UAX #29 words, lower-cased) or `mongoose_compat`.
    #[serde(default)]
    pub tokenizer: IndexTokenizer,
    /// With `unicode`: also fold diacritics (é -> e).
    #[serde(default)]
    pub fold_diacritics: bool,
    /// Largest message body indexed, in bytes (larger: 400).
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Largest request body, in bytes (larger: 413).
    #[serde(default = "default_index_request")]
    pub max_request_bytes: usize,
    /// Most messages in one index request.
    #[serde(default = "default_index_batch")]
    pub max_batch: usize,
    /// Most index calls running at once, each on a blocking thread.
    #[serde(default = "default_index_workers")]
    pub workers: usize,
    /// Most requests admitted (running or waiting); more get 503 at once.
    #[serde(default = "default_index_pending")]
    pub max_pending: usize,
}

/// How `[index]` cuts bodies and queries into words.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IndexTokenizer {
    #[default]
    Unicode,
    MongooseCompat,
}

fn default_index_address() -> SocketAddr {
    "127.0.0.1:9093".parse().expect("literal address")
}
fn default_index_commit() -> u64 {
    500
}
fn default_index_request() -> usize {
    16 * 1024 * 1024
}
fn default_index_batch() -> usize {
    10_000
}
fn default_index_workers() -> usize {
    4
}
fn default_index_pending() -> usize {
    256
}

/// `[component]`: MUC Light rooms with an archive, connected to a server as
/// an XEP-0114 external component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// The server's `ejabberd_service` / `component_ports` listener.
    pub server: SocketAddr,
    /// The component's domain, for example `muclight.example.com`.
    pub domain: String,
    /// The shared secret of the XEP-0114 handshake.
    pub secret: String,
    /// Where rooms and their archive live: the path of the embedded SQLite
    /// database (created if absent), or `"postgres"` for the PostgreSQL
    /// database of [`Component::postgres`], which several instances can share.
    pub storage: PathBuf,
    /// With `storage = "postgres"`: the connection string, libpq style
    /// (`host=127.0.0.1 port=5432 user=xmpp dbname=xmpp`) or a
    /// `postgresql://` URL. No TLS: loopback or a private network.
    #[serde(default)]
    pub postgres: Option<String>,
    /// With `storage = "postgres"`: most pooled connections.
    #[serde(default = "default_postgres_pool")]
    pub postgres_pool_size: u32,
    /// The full-text index directory (derived from the archive; rebuilt
    /// from it when removed).
    pub index: PathBuf,
    /// A single space is sent after this long without writing (keep-alive).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// Reconnection delays double from 1 s up to this.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_secs: u64,
    /// Largest stanza accepted from the server, in bytes.
    #[serde(default = "default_component_stanza")]
    pub max_stanza_size: usize,
    /// Largest room message body accepted, in bytes (larger ones get
    /// `not-acceptable`; 0: no limit beyond `max_stanza_size`).
    #[serde(default = "default_max_body")]
    pub max_body_size: usize,
    /// Most results in one MAM page (RSM `max` above this is lowered).
    #[serde(default = "default_mam_max")]
    pub mam_max_page: usize,
    /// The server's XEP-0033 multicast service (ejabberd's `mod_multicast`,
    /// for example `multicast.example.com`). When set, a room stanza goes
    /// to it once, with one `bcc` address per online resource of the
    /// members, instead of one copy per resource. Unset: one copy each.
    #[serde(default)]
    pub multicast: Option<String>,
    /// Most addresses in one multicast stanza (larger fan-outs are sent in
    /// chunks). ejabberd's `mod_multicast` allows 20 to a sender that is
    /// not one of its hosts (a component) unless its `limits: remote:
    /// message:` is raised.
    #[serde(default = "default_multicast_max")]
    pub multicast_max_addresses: usize,
    /// Make the full-text index's writes searchable at least this often
    /// while messages flow, in ms (a MAM query makes them searchable at
    /// once in any case). Unset: 5,000 ms (SQLite), 100 ms (PostgreSQL
    /// tailer). Longer: fewer index commits and segment merges (about 7 ms
    /// of CPU each).
    #[serde(default)]
    pub index_commit_ms: Option<u64>,
    #[serde(default)]
    pub muclight: MucLight,
}

fn default_multicast_max() -> usize {
    20
}

fn default_postgres_pool() -> u32 {
    4
}

impl Component {
    /// The storage named by `storage` (and `postgres`).
    pub fn backend(&self) -> crate::storage::Backend {
        use crate::storage::Backend;
        match &self.postgres {
            Some(url) if self.storage.as_os_str() == "postgres" => Backend::Postgres {
                url: url.clone(),
                pool: self.postgres_pool_size,
            },
            _ => Backend::Sqlite(self.storage.clone()),
        }
    }
}

fn default_keepalive() -> u64 {
    30
}
fn default_reconnect_max() -> u64 {
    30
}
fn default_component_stanza() -> usize {
    1_048_576
}
fn default_max_body() -> usize {
    65_536
}
fn default_mam_max() -> usize {
    100
}

/// `[component.muclight]`: MongooseIM's `mod_muc_light` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MucLight {
    /// 0: unlimited.
    pub max_occupants: usize,
    /// 0: unlimited.
    pub rooms_per_user: usize,
    pub blocking: bool,
    pub all_can_configure: bool,
    pub all_can_invite: bool,
    pub equal_occupants: bool,
    pub allow_multiple_owners: bool,
    pub promote_on_last_owner_leave: bool,
    /// 0: all rooms on one page.
    pub rooms_per_page: usize,
    /// Room configuration fields; empty: `roomname` and `subject`.
    pub config_schema: Vec<SchemaFieldConfig>,
}

impl Default for MucLight {
    fn default() -> Self {
        let d = xmpp_accel_core::muclight::Options::default();
        MucLight {
            max_occupants: d.max_occupants.unwrap_or(0),
            rooms_per_user: d.rooms_per_user.unwrap_or(0),
            blocking: d.blocking,
            all_can_configure: d.all_can_configure,
            all_can_invite: d.all_can_invite,
            equal_occupants: d.equal_occupants,
            allow_multiple_owners: d.allow_multiple_owners,
            promote_on_last_owner_leave: d.promote_on_last_owner_leave,
            rooms_per_page: d.rooms_per_page.unwrap_or(0),
            config_schema: Vec::new(),
        }
    }
}

/// One `[[component.muclight.config_schema]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFieldConfig {
    pub field: String,
    /// `string`, `integer`, `float` or `boolean`.
    #[serde(rename = "type")]
    pub kind: String,
    pub default: toml::Value,
    /// Defaults to `field`.
    pub internal_key: Option<String>,
}

impl MucLight {
    /// The core's options (the MAM features added to disco#info).
    pub fn options(&self) -> Result<xmpp_accel_core::muclight::Options, String> {
        use xmpp_accel_core::muclight::{ConfigSchema, ConfigValue, Options, SchemaField};
        let nz = |v: usize| if v == 0 { None } else { Some(v) };
        let mut o = Options {
            max_occupants: nz(self.max_occupants),
            rooms_per_user: nz(self.rooms_per_user),
            blocking: self.blocking,
            all_can_configure: self.all_can_configure,
            all_can_invite: self.all_can_invite,
            equal_occupants: self.equal_occupants,
            allow_multiple_owners: self.allow_multiple_owners,
            promote_on_last_owner_leave: self.promote_on_last_owner_leave,
            rooms_per_page: nz(self.rooms_per_page),
            ..Options::default()
        };
        if !self.config_schema.is_empty() {
            let mut fields = Vec::new();
            for f in &self.config_schema {
                let bad = || {
                    format!(
                        "config_schema field {}: default is not a {}",
                        f.field, f.kind
                    )
                };
                let default = match (f.kind.as_str(), &f.default) {
                    ("string", toml::Value::String(s)) => ConfigValue::String(s.clone()),
                    ("integer", toml::Value::Integer(i)) => ConfigValue::Integer(*i),
                    ("float", toml::Value::Float(x)) => ConfigValue::Float(*x),
                    ("boolean", toml::Value::Boolean(b)) => ConfigValue::Boolean(*b),
                    ("string" | "integer" | "float" | "boolean", _) => return Err(bad()),
                    (k, _) => {
                        return Err(format!("config_schema field {}: unknown type {k}", f.field))
                    }
                };
                fields.push(SchemaField {
                    field: f.field.clone(),
                    default,
                    internal_key: f.internal_key.clone().unwrap_or_else(|| f.field.clone()),
                });
            }
            o.config_schema = ConfigSchema::new(fields).map_err(|e| e.to_string())?;
        }
        o.extra_features = vec!["urn:xmpp:mam:2".into(), "urn:xmpp:fulltext:0".into()];
        Ok(o)
    }
}

/// `[metrics]`: Prometheus text on `/metrics`, liveness on `/health`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Where to serve them; keep it on loopback or a management network.
    #[serde(default = "default_metrics_address")]
    pub address: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            address: default_metrics_address(),
        }
    }
}

fn default_metrics_address() -> SocketAddr {
    "127.0.0.1:9091".parse().expect("literal address")
}

/// `[tls]`: certificates per domain (Let's Encrypt layout or DOMAIN.crt/.key).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Directory of certificates, see `xmpp_accel_core::tls::cert_dir`.
    pub cert_dir: Option<PathBuf>,
    /// Served when no certificate matches the SNI name (or none is sent).
    pub default_domain: Option<String>,
    /// OpenSSL cipher string for TLS 1.2 (empty: rustls's defaults).
    #[serde(default)]
    pub ciphers: String,
    /// CA file for checking s2s peers' certificates (empty: the system's roots).
    #[serde(default)]
    pub cafile: String,
}

/// Limits of one connection; each listener may override any of them.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest stanza in bytes (as `max_stanza_size` in ejabberd; 0: none).
    pub max_stanza_size: usize,
    /// Deepest element nesting inside a stanza.
    pub max_depth: usize,
    /// Most attributes on one element.
    pub max_attrs: usize,
    /// From accept to a finished TLS handshake (and, for STARTTLS, the
    /// plaintext negotiation before it).
    pub handshake_timeout_ms: u64,
    /// From the end of the handshake to the first stanza (slowloris).
    pub first_stanza_timeout_ms: u64,
    /// A connection with no byte either way for this long is closed.
    pub idle_timeout_secs: u64,
    /// Client-to-server byte rate per connection (token bucket; 0: none).
    pub rate_bytes_per_sec: u64,
    /// The bucket's size: bytes allowed at once.
    pub burst_bytes: u64,
    /// Open connections per client address (0: none).
    pub max_connections_per_ip: usize,
    /// Open connections on the listener (0: none).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_size: 262_144,
            max_depth: 256,
            max_attrs: 256,
            handshake_timeout_ms: 10_000,
            first_stanza_timeout_ms: 30_000,
            idle_timeout_secs: 600,
            rate_bytes_per_sec: 0,
            burst_bytes: 1_048_576,
            max_connections_per_ip: 0,
            max_connections: 0,
        }
    }
}

impl Limits {
    /// The XML parser's limits.
    pub fn xml(&self) -> xmpp_accel_core::xml::Limits {
        xmpp_accel_core::xml::Limits {
            max_element_size: self.max_stanza_size,
            max_depth: self.max_depth,
            max_attrs: self.max_attrs,
        }
    }
}

/// Listener limits as written: every key optional, the rest from `[limits]`.
#[derive(Debug, Clone, Copy, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    pub max_stanza_size: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_attrs: Option<usize>,
    pub handshake_timeout_ms: Option<u64>,
    pub first_stanza_timeout_ms: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub rate_bytes_per_sec: Option<u64>,
    pub burst_bytes: Option<u64>,
    pub max_connections_per_ip: Option<usize>,
    pub max_connections: Option<usize>,
}

impl LimitsOverride {
    pub fn over(&self, d: &Limits) -> Limits {
        Limits {
            max_stanza_size: self.max_stanza_size.unwrap_or(d.max_stanza_size),
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            max_attrs: self.max_attrs.unwrap_or(d.max_attrs),
            handshake_timeout_ms: self.handshake_timeout_ms.unwrap_or(d.handshake_timeout_ms),
            first_stanza_timeout_ms: self
                .first_stanza_timeout_ms
                .unwrap_or(d.first_stanza_timeout_ms),
            idle_timeout_secs: self.idle_timeout_secs.unwrap_or(d.idle_timeout_secs),
            rate_bytes_per_sec: self.rate_bytes_per_sec.unwrap_or(d.rate_bytes_per_sec),
            burst_bytes: self.burst_bytes.unwrap_or(d.burst_bytes),
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or(d.max_connections_per_ip),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
        }
    }
}

/// `[shutdown]`: what SIGTERM does.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// How long open connections may go on after SIGTERM before each is
    /// ended with `<stream:error><system-shutdown/>`.
    #[serde(default = "default_drain")]
    pub drain_timeout_secs: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            drain_timeout_secs: default_drain(),
        }
    }
}

fn default_drain() -> u64 {
    30
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Client-to-server (RFC 6120, `jabber:client`).
    C2s,
    /// Server-to-server, inbound (`jabber:server`).
    S2s,
}

/// How TLS starts on a listener.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// RFC 6120 §5: the edge offers `<starttls/>` (required) and proceeds.
    Starttls,
    /// XEP-0368: TLS from the first byte, ALPN `xmpp-client` / `xmpp-server`.
    Direct,
}

/// Which PROXY protocol header goes to the backend.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxyOut {
    /// Version 2 (binary) with TLVs: ALPN, AUTHORITY, SSL, channel binding.
    #[default]
    V2,
    /// Version 1 (text): addresses only.
    V1,
    /// No header (for a backend without PROXY support, such as Prosody).
    None,
}

/// `[[listener]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Name in logs and metric labels (default: kind and port).
    pub name: Option<String>,
    pub kind: Kind,
    pub address: SocketAddr,
    pub tls: TlsMode,
    /// The server's plaintext listener (bound to loopback on the server side).
    pub backend: SocketAddr,
    #[serde(default)]
    pub proxy_out: ProxyOut,
    /// Source networks trusted to send a PROXY v1/v2 header first (a load
    /// balancer in front); the client address it gives is the one used.
    #[serde(default)]
    pub proxy_in_from: Vec<IpNet>,
    /// c2s over WebSocket (RFC 7395, subprotocol `xmpp`) instead of a TCP
    /// stream: needs `kind = "c2s"` and `tls = "direct"` (ALPN http/1.1);
    /// the backend still gets a plain TCP XMPP stream.
    #[serde(default)]
    pub websocket: bool,
    /// The XMPP domain this listener serves when a client's stream header
    /// names none (`to` is required by RFC 6120 for c2s; informative here).
    pub domain: Option<String>,
    #[serde(default)]
    pub limits: LimitsOverride,
}

impl Listener {
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let kind = match self.kind {
                Kind::C2s => "c2s",
                Kind::S2s => "s2s",
            };
            format!("{kind}_{}", self.address.port())
        })
    }
}

/// A configuration error with its place in the file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the error has a place.
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and checks a configuration file.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let err = |line, reason: String| ConfigError {
        file: file.to_path_buf(),
        line,
        reason,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err(None, e.to_string()))?;
    parse(&text).map_err(|(line, reason)| err(line, reason))
}

/// Parses and checks configuration text: `(line, reason)` on error.
pub fn parse(text: &str) -> Result<Config, (Option<usize>, String)> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        (line, e.message().to_owned())
    })?;
    check(&config).map_err(|reason| (None, reason))?;
    Ok(config)
}

fn check(c: &Config) -> Result<(), String> {
    if let Some(ix) = &c.index {
        if !ix.address.ip().is_loopback() {
            return Err(format!(
                "[index] address {} is not a loopback address (the API is for the server next to it)",
                ix.address
            ));
        }
        if ix.token.chars().count() < 16 {
            return Err("[index] token must have at least 16 characters".into());
        }
        if ix.workers == 0 || ix.max_pending == 0 || ix.max_batch == 0 || ix.commit_interval_ms == 0
        {
            return Err(
                "[index] workers, max_pending, max_batch and commit_interval_ms must be above 0"
                    .into(),
            );
        }
        if c.listeners.is_empty() && c.component.is_none() {
            return Ok(());
        }
    }
    if let Some(comp) = &c.component {
        xmpp_accel_core::muclight::Service::new(&comp.domain, comp.muclight.options()?)
            .map_err(|e| format!("[component] domain: {e}"))?;
        if comp.secret.is_empty() {
            return Err("[component] secret must not be empty".into());
        }
        match (comp.storage.as_os_str() == "postgres", &comp.postgres) {
            (true, None) => {
                return Err(
                    "[component] storage = \"postgres\" needs postgres = \"<connection string>\""
                        .into(),
                )
            }
            (false, Some(_)) => {
                return Err("[component] postgres is set but storage is not \"postgres\"".into())
            }
            _ => {}
        }
        if comp.postgres_pool_size == 0 {
            return Err("[component] postgres_pool_size must be above 0".into());
        }
        if let Some(m) = &comp.multicast {
            xmpp_accel_core::muclight::BareJid::new(m)
                .map_err(|e| format!("[component] multicast: {e}"))?;
        }
        if comp.multicast_max_addresses == 0 || comp.index_commit_ms == Some(0) {
            return Err(
                "[component] multicast_max_addresses and index_commit_ms must be above 0".into(),
            );
        }
        if comp.keepalive_secs == 0 || comp.reconnect_max_secs == 0 || comp.mam_max_page == 0 {
            return Err(
                "[component] keepalive_secs, reconnect_max_secs and mam_max_page must be above 0"
                    .into(),
            );
        }
        if c.listeners.is_empty() {
            return Ok(());
        }
    }
    if c.listeners.is_empty() {
        return Err("no [[listener]], no [component] and no [index]: nothing to serve".into());
    }
    if c.tls.cert_dir.is_none() {
        return Err("[tls] cert_dir is required (every listener terminates TLS)".into());
    }
    let mut names = std::collections::HashSet::new();
    let mut addrs = std::collections::HashSet::new();
    for l in &c.listeners {
        let name = l.label();
        if !names.insert(name.clone()) {
            return Err(format!("listener name {name} used twice"));
        }
        if !addrs.insert(l.address) {
            return Err(format!("listener address {} used twice", l.address));
        }
        if l.websocket && (l.kind != Kind::C2s || l.tls != TlsMode::Direct) {
            return Err(format!(
                "listener {name}: websocket = true needs kind = \"c2s\" and tls = \"direct\""
            ));
        }
        let lim = l.limits.over(&c.limits);
        if lim.max_depth == 0 || lim.max_attrs == 0 {
            return Err(format!(
                "listener {name}: max_depth and max_attrs must be at least 1"
            ));
        }
        if lim.rate_bytes_per_sec > 0 && lim.burst_bytes < 16_384 {
            return Err(format!(
                "listener {name}: burst_bytes must be at least 16384 (one TLS record) when rate_bytes_per_sec is set"
            ));
        }
        if lim.handshake_timeout_ms == 0
            || lim.first_stanza_timeout_ms == 0
            || lim.idle_timeout_secs == 0
        {
            return Err(format!("listener {name}: timeouts must be above 0"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[tls]
cert_dir = "/etc/letsencrypt/live"

[[listener]]
kind = "c2s"
address = "0.0.0.0:5222"
tls = "starttls"
backend = "127.0.0.1:15222"
limits = { max_stanza_size = 65536 }
"#;

    #[test]
    fn defaults_and_overrides() {
        let c = parse(GOOD).unwrap();
        let l = &c.listeners[0];
        assert_eq!(l.label(), "c2s_5222");
        assert_eq!(l.proxy_out, ProxyOut::V2);
        let lim = l.limits.over(&c.limits);
        assert_eq!(lim.max_stanza_size, 65536);
        assert_eq!(lim.max_depth, 256);
        assert_eq!(c.shutdown.drain_timeout_secs, 30);
    }

    #[test]
    fn the_annotated_example_parses() {
        let c = parse(include_str!("../examples/sidecar.toml")).unwrap();
        assert_eq!(c.listeners.len(), 3);
        assert_eq!(
            c.listeners[0].limits.over(&c.limits).max_connections_per_ip,
            50
        );
        assert_eq!(c.listeners[2].kind, Kind::S2s);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = GOOD.replace("tls = \"starttls\"", "tls = \"sometimes\"");
        let (line, reason) = parse(&bad).unwrap_err();
        assert_eq!(line, Some(8), "{reason}");
        assert!(reason.contains("unknown variant"), "{reason}");
        let typo = GOOD.replace("backend =", "backnd =");
        let (line, reason) = parse(&typo).unwrap_err();
        assert!(line.is_some(), "{reason}");
        assert!(parse("").unwrap_err().1.contains("no [[listener]]"));
    }

    const COMPONENT: &str = r#"
[component]
server = "127.0.0.1:5347"
domain = "muclight.example.com"
secret = "s3cr3t"
storage = "/var/lib/xmpp-accel/rooms.sqlite3"
index = "/var/lib/xmpp-accel/rooms-index"

[component.muclight]
max_occupants = 100
all_can_invite = true

[[component.muclight.config_schema]]
field = "roomname"
type = "string"
default = "Untitled"

[[component.muclight.config_schema]]
field = "display-lines"
type = "integer"
default = 30
internal_key = "display_lines"
"#;

    #[test]
    fn component_alone() {
        let c = parse(COMPONENT).unwrap();
        let comp = c.component.unwrap();
        assert_eq!(comp.keepalive_secs, 30);
        assert_eq!(comp.multicast, None);
        assert_eq!(
            (comp.multicast_max_addresses, comp.index_commit_ms),
            (20, None)
        );
        let mc = COMPONENT.replace(
            "index = \"/var/lib/xmpp-accel/rooms-index\"",
            "index = \"/var/lib/xmpp-accel/rooms-index\"\nmulticast = \"multicast.example.com\"\nmulticast_max_addresses = 500\nindex_commit_ms = 5000",
        );
        let m = parse(&mc).unwrap().component.unwrap();
        assert_eq!(m.multicast.as_deref(), Some("multicast.example.com"));
        assert_eq!(
            (m.multicast_max_addresses, m.index_commit_ms),
            (500, Some(5000))
        );
        let bad = mc.replace(
            "multicast_max_addresses = 500",
            "multicast_max_addresses = 0",
        );
        assert!(parse(&bad)
            .unwrap_err()
            .1
            .contains("multicast_max_addresses"));
        let bad = mc.replace("\"multicast.example.com\"", "\"a@b/c\"");
        assert!(parse(&bad).unwrap_err().1.contains("multicast"));
        let o = comp.muclight.options().unwrap();
        assert_eq!(o.max_occupants, Some(100));
        assert_eq!(o.rooms_per_user, None);
        assert!(o.all_can_invite && o.blocking);
        assert_eq!(o.config_schema.fields().len(), 2);
        let bad = COMPONENT.replace("muclight.example.com", "a@b/c");
        assert!(parse(&bad).unwrap_err().1.contains("domain"));
        let bad = COMPONENT.replace("default = 30", "default = \"30\"");
        assert!(parse(&bad).unwrap_err().1.contains("display-lines"));
        let typo = COMPONENT.replace("all_can_invite", "all_can_invit");
        assert!(parse(&typo).is_err());
        assert!(matches!(
            comp.backend(),
            crate::storage::Backend::Sqlite(p) if p.ends_with("rooms.sqlite3")
        ));
        let pg = COMPONENT.replace(
            "storage = \"/var/lib/xmpp-accel/rooms.sqlite3\"",
            "storage = \"postgres\"\npostgres = \"host=127.0.0.1 user=xmpp dbname=xmpp\"",
        );
        let b = parse(&pg).unwrap().component.unwrap().backend();
        assert_eq!(
            b,
            crate::storage::Backend::Postgres {
                url: "host=127.0.0.1 user=xmpp dbname=xmpp".into(),
                pool: 4
            }
        );
        let no_url = COMPONENT.replace("/var/lib/xmpp-accel/rooms.sqlite3", "postgres");
        assert!(parse(&no_url).unwrap_err().1.contains("needs postgres"));
        let stray = format!(
            "{}\npostgres = \"host=x\"",
            COMPONENT.split("\n[component.muclight]").next().unwrap()
        );
        assert!(parse(&stray).unwrap_err().1.contains("is not"));
        // beside the edge
        let both = format!("{GOOD}{COMPONENT}");
        let c = parse(&both).unwrap();
        assert!(c.component.is_some() && c.listeners.len() == 1);
    }

    const INDEX: &str = r#"
[index]
address = "127.0.0.1:16401"
directory = "/var/lib/xmpp-accel/prosody-index"
token = "0123456789abcdef"
"#;

    #[test]
    fn index_alone() {
        let c = parse(INDEX).unwrap();
        let ix = c.index.unwrap();
        assert_eq!(ix.commit_interval_ms, 500);
        assert_eq!(ix.tokenizer, IndexTokenizer::Unicode);
        assert_eq!((ix.workers, ix.max_pending), (4, 256));
        let bad = INDEX.replace("127.0.0.1:16401", "0.0.0.0:16401");
        assert!(parse(&bad).unwrap_err().1.contains("loopback"));
        let bad = INDEX.replace("0123456789abcdef", "short");
        assert!(parse(&bad).unwrap_err().1.contains("token"));
        let typo = INDEX.replace("directory", "dir");
        assert!(parse(&typo).is_err());
        let both = format!("{GOOD}{INDEX}");
        assert!(parse(&both).unwrap().index.is_some());
    }
}

//! How much work a NIF may do on a normal scheduler.
//!
//! Measured here (see `bench/` and the scheduler test in
//! `erlang/apps/exml/test/exml_scheduler_tests.erl`): the parser with term
//! building runs at well over 100 MB/s, serialisation faster, so these limits
//! keep a normal-scheduler call far below 1 ms. Above them the NIF answers
//! `dirty` and the facade calls the dirty twin.

/// Largest input (bytes) parsed on a normal scheduler in one call.
pub const PARSE_BYTES: usize = 64 * 1024;
/// Largest parse result (bytes of text on the tape) turned into terms on a normal scheduler.
pub const BUILD_BYTES: usize = 64 * 1024;
/// Most tape items turned into terms on a normal scheduler.
pub const BUILD_ITEMS: usize = 8 * 1024;
/// Largest element (bytes of its binaries) serialised on a normal scheduler.
pub const SERIALISE_BYTES: usize = 128 * 1024;
/// Most nodes serialised on a normal scheduler.
pub const SERIALISE_NODES: usize = 16 * 1024;
/// Largest TLS step (bytes in and out plus bytes held) on a normal
/// scheduler: AES-GCM and ChaCha20 run at well over 1 GB/s here.
pub const TLS_BYTES: usize = 256 * 1024;

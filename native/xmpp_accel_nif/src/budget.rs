//! How much work a NIF may do on a normal scheduler.
//!
//! Measured here (see `bench/` and the scheduler test in
//! `erlang/apps/exml/test/exml_scheduler_tests.erl`): the parser with term
//! building runs at well over 100 MB/s, serialisation faster, so these limits
//! keep a normal-scheduler call far below 1 ms. Above them the NIF answers
//! `dirty` and the facade calls the dirty twin. Below them, each call
//! reports the time it used ([`Timeslice`]).

use rustler::Env;
use std::time::Instant;

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

/// A normal-scheduler timeslice as the VM counts it: about 1 ms (4,000
/// reductions).
const TIMESLICE_MICROS: u128 = 1_000;

/// Reports to the VM the time a NIF call used (`enif_consume_timeslice`),
/// so that a process calling NIFs in a loop is preempted as one running
/// Erlang code would be, after about 1 ms, instead of holding its scheduler
/// for many calls in a row. Start one at the top of every NIF that works
/// in proportion to its input; it reports when dropped, at the end of the
/// call (after the result terms are built). On a dirty scheduler the VM
/// ignores the report.
pub struct Timeslice<'a> {
    env: Env<'a>,
    start: Instant,
}

impl<'a> Timeslice<'a> {
    pub fn start(env: Env<'a>) -> Self {
        Timeslice {
            env,
            start: Instant::now(),
        }
    }
}

impl Drop for Timeslice<'_> {
    fn drop(&mut self) {
        // elapsed / 1 ms * 100, rounded up, in 1..=100 (what the VM accepts)
        let micros = self.start.elapsed().as_micros();
        let percent = (micros * 100).div_ceil(TIMESLICE_MICROS).clamp(1, 100) as i32;
        rustler::schedule::consume_timeslice(self.env, percent);
    }
}

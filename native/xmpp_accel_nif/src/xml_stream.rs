//! The stream parser as a NIF resource (`exml_stream` flavour).
//!
//! The parser keeps its state between calls and never re-reads bytes it has
//! consumed. A resource is freed by its destructor when the last Erlang
//! reference to it goes away.

use crate::atoms;
use crate::budget;
use crate::intern::Interner;
use crate::term::{error_tuple, list, tuple, wrap};
use crate::xml_exml::{event_term, exml_parser};
use rustler::{Binary, Env, NifResult, Resource, ResourceArc, Term};
use std::sync::{Mutex, MutexGuard};
use xmpp_accel_core::xml::{Limits, Mode, Parser};

pub struct StreamResource {
    parser: Mutex<Parser>,
}

#[rustler::resource_impl]
impl Resource for StreamResource {}

impl StreamResource {
    fn lock(&self) -> MutexGuard<'_, Parser> {
        // A poisoned lock can only come from a panic inside the core, which
        // rustler turned into an Erlang error; the parser state is still a
        // value, so go on with it.
        self.parser.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `stream_new(MaxElementSize, InfiniteStream, MaxDepth, MaxAttrs) -> Parser`.
/// `MaxElementSize` 0 means unlimited; `InfiniteStream` is a boolean.
#[rustler::nif]
fn stream_new(
    max_element_size: u64,
    infinite: bool,
    max_depth: u32,
    max_attrs: u32,
) -> ResourceArc<StreamResource> {
    let limits = Limits {
        max_element_size: usize::try_from(max_element_size).unwrap_or(usize::MAX),
        max_depth: max_depth as usize,
        max_attrs: max_attrs as usize,
    };
    let mode = if infinite {
        Mode::Elements
    } else {
        Mode::Stream
    };
    ResourceArc::new(StreamResource {
        parser: Mutex::new(exml_parser(mode, limits)),
    })
}

/// Forgets all stream state (for a stream restart after STARTTLS or SASL).
#[rustler::nif]
fn stream_reset(res: ResourceArc<StreamResource>) -> rustler::Atom {
    res.lock().reset();
    atoms::ok()
}

fn feed<'a>(env: Env<'a>, res: &StreamResource, data: &[u8], normal: bool) -> Term<'a> {
    let mut parser = res.lock();
    if let Err(e) = parser.feed(data) {
        return error_tuple(env, &e.to_string());
    }
    let tape = parser.tape();
    if normal && (tape.bytes.len() > budget::BUILD_BYTES || tape.items.len() > budget::BUILD_ITEMS)
    {
        return atoms::dirty_events().to_term(env);
    }
    let mut scratch = Vec::with_capacity(64);
    let mut events = Vec::with_capacity(tape.events.len());
    Interner::with(env, |names| {
        for ev in &tape.events {
            events.push(event_term(env, names, tape, ev, &mut scratch));
        }
    });
    parser.clear_events();
    let events = list(env, &events);
    wrap(
        env,
        tuple(env, &[atoms::ok().to_term(env).as_c_arg(), events]),
    )
}

/// `stream_feed(Parser, Data) -> {ok, [Event]} | {error, Reason} | dirty | dirty_events`.
///
/// `dirty`: `Data` is too large for a normal scheduler and was not read:
/// call `stream_feed_dirty(Parser, Data)`. `dirty_events`: `Data` was read
/// but its events are large: call `stream_feed_dirty(Parser, <<>>)`.
#[rustler::nif]
fn stream_feed<'a>(
    env: Env<'a>,
    res: ResourceArc<StreamResource>,
    data: Binary<'a>,
) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    if data.len() > budget::PARSE_BYTES {
        return Ok(atoms::dirty().to_term(env));
    }
    Ok(feed(env, &res, data.as_slice(), true))
}

/// The dirty-scheduler twin of `stream_feed/2`.
#[rustler::nif(schedule = "DirtyCpu")]
fn stream_feed_dirty<'a>(
    env: Env<'a>,
    res: ResourceArc<StreamResource>,
    data: Binary<'a>,
) -> NifResult<Term<'a>> {
    Ok(feed(env, &res, data.as_slice(), false))
}

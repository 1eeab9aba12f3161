//! `fxml_stream` (fast_xml 1.1.60): a stream parser resource that sends
//! its events to a callback process.
//!
//! Events, each as a message to the callback pid, wrapped in
//! `{'$gen_event', Ev}` unless `no_gen_server` was given (text between
//! stanzas in `{'$gen_all_state_event', Ev}`):
//! `{xmlstreamstart, Name, Attrs}`, `{xmlstreamelement, #xmlel{}}`,
//! `{xmlstreamend, Name}`, `{xmlstreamcdata, Bin}`,
//! `{xmlstreamerror, {Code, Msg} | <<"XML stanza is too big">>}`; the
//! latter for fast_xml's limits (bytes, elements) and for ours (nesting
//! deeper than 256, more than 256 attributes on one element).
//! Stanzas are namespace-normalised as fast_xml does ([`fxml_ns`]).
//!
//! Limits, as fast_xml counts them: the bytes fed since the last event
//! (checked before a chunk is parsed), and the elements started since the
//! last event. An error is final: every later `parse` sends it again.
//!
//! [`fxml_ns`]: xmpp_accel_core::xml::fxml_ns

use crate::atoms;
use crate::budget;
use crate::intern::Interner;
use crate::term::{binary, tuple};
use crate::xml_fxml::{
    error_reason, is_limit, stream_end_term, stream_start_term, Shape, StanzaBuilder,
};
use rustler::sys::enif_send;
use rustler::sys::ErlNifTerm as ERL_NIF_TERM;
use rustler::{Atom, Binary, Env, LocalPid, NifResult, OwnedEnv, Resource, ResourceArc, Term};
use std::sync::{Mutex, MutexGuard};
use xmpp_accel_core::xml::fxml_ns::{normalize_into, StreamNamespaces};
use xmpp_accel_core::xml::{Event, Item, Limits, Mode, Parser};

const TOO_BIG: &str = "XML stanza is too big";

struct State {
    parser: Parser,
    pid: LocalPid,
    gen_server: bool,
    shape: Shape,
    max_size: u64,
    max_elements: u64,
    /// Bytes fed since the last event.
    size: u64,
    /// The error every later call repeats.
    error: Option<StreamError>,
    /// A parse error of the chunk just fed, not yet sent.
    fresh_error: Option<xmpp_accel_core::xml::XmlError>,
    /// What the open stream's header declared.
    namespaces: StreamNamespaces,
    /// Working space for building stanzas.
    builder: StanzaBuilder,
    /// Where events are built before they are sent (cleared after each).
    msg_env: Option<OwnedEnv>,
}

#[derive(Clone)]
enum StreamError {
    TooBig,
    Parse(xmpp_accel_core::xml::XmlError),
}

pub struct FxmlStream {
    /// `None` once closed.
    state: Mutex<Option<State>>,
}

#[rustler::resource_impl]
impl Resource for FxmlStream {}

impl FxmlStream {
    fn lock(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn new_parser() -> Parser {
    // fast_xml keeps all character data and passes text between stanzas on
    Parser::new(Mode::Stream, Limits::default()).with_stream_text(true)
}

/// `infinity` or a non-negative integer.
fn limit(env: Env<'_>, term: Term<'_>) -> NifResult<u64> {
    if term.as_c_arg() == atoms::infinity().to_term(env).as_c_arg() {
        Ok(u64::MAX)
    } else {
        term.decode::<u64>()
    }
}

/// `fxml_stream_new(Pid, MaxSize | {MaxSize, MaxElements}, Options)`.
#[rustler::nif]
fn fxml_stream_new<'a>(
    env: Env<'a>,
    pid: LocalPid,
    limits: Term<'a>,
    options: Term<'a>,
) -> NifResult<ResourceArc<FxmlStream>> {
    let (max_size, max_elements) = match rustler::types::tuple::get_tuple(limits) {
        Ok(pair) if pair.len() == 2 => (limit(env, pair[0])?, limit(env, pair[1])?),
        Ok(_) => return Err(rustler::Error::BadArg),
        Err(_) => (limit(env, limits)?, u64::MAX),
    };
    let mut gen_server = true;
    let mut shape = Shape::Records;
    for opt in options.into_list_iterator()? {
        if opt.as_c_arg() == atoms::no_gen_server().to_term(env).as_c_arg() {
            gen_server = false;
        } else if opt.as_c_arg() == atoms::use_maps().to_term(env).as_c_arg() {
            shape = Shape::Maps;
        }
    }
    let state = State {
        parser: new_parser(),
        pid,
        gen_server,
        shape,
        max_size,
        max_elements,
        size: 0,
        error: None,
        fresh_error: None,
        namespaces: StreamNamespaces::default(),
        builder: StanzaBuilder::default(),
        msg_env: Some(OwnedEnv::new()),
    };
    Ok(ResourceArc::new(FxmlStream {
        state: Mutex::new(Some(state)),
    }))
}

impl State {
    /// Builds one event in the message environment, sends it to the
    /// callback process (wrapped for gen_server/gen_fsm unless
    /// `no_gen_server`) and clears that environment, so a chunk with many
    /// events needs no more memory than its largest event (as in fast_xml).
    fn emit(
        &mut self,
        caller: Env<'_>,
        all_state: bool,
        build: impl FnOnce(Env<'_>, &mut State) -> ERL_NIF_TERM,
    ) {
        let mut msg_env = self.msg_env.take().unwrap_or_default();
        msg_env.run(|m| {
            let event = build(m, self);
            let msg = if self.gen_server {
                let tag = if all_state {
                    atoms::gen_all_state_event()
                } else {
                    atoms::gen_event()
                };
                tuple(m, &[tag.to_term(m).as_c_arg(), event])
            } else {
                event
            };
            // SAFETY: `msg` lives in `m`, a process-independent env; `caller`
            // is the calling process's env (normal or dirty scheduler thread).
            // A dead callback process is not an error (as in fast_xml).
            unsafe {
                enif_send(caller.as_c_arg(), self.pid.as_c_arg(), m.as_c_arg(), msg);
            }
        });
        msg_env.clear();
        self.msg_env = Some(msg_env);
        self.size = 0;
    }

    fn send_error(&mut self, caller: Env<'_>) {
        if self.error.is_none() {
            return;
        }
        self.emit(caller, false, |env, state| {
            let reason = match &state.error {
                Some(StreamError::Parse(e)) => error_reason(env, e),
                _ => binary(env, TOO_BIG.as_bytes()),
            };
            match state.shape {
                Shape::Records => tuple(
                    env,
                    &[atoms::xmlstreamerror().to_term(env).as_c_arg(), reason],
                ),
                Shape::Maps => {
                    let atom = |name: &str| {
                        Atom::from_str(env, name)
                            .map(|a| a.to_term(env).as_c_arg())
                            .unwrap_or_default()
                    };
                    let keys = [atom("__struct__"), atom("desc")];
                    let values = [atom("Elixir.FastXML.StreamError"), reason];
                    crate::term::map(env, &keys, &values).unwrap_or_default()
                }
            }
        });
    }

    /// Parses one chunk; its events wait on the tape for [`State::deliver`].
    fn feed(&mut self, data: &[u8]) {
        self.size = self.size.saturating_add(data.len() as u64);
        if self.error.is_none() && self.size >= self.max_size {
            self.error = Some(StreamError::TooBig);
        }
        if self.error.is_none() && !data.is_empty() {
            if let Err(e) = self.parser.feed(data) {
                self.fresh_error = Some(e);
            }
        }
    }

    /// True when the events waiting are too large to build on a normal scheduler.
    fn delivery_is_large(&self) -> bool {
        let tape = self.parser.tape();
        tape.bytes.len() > budget::BUILD_BYTES || tape.items.len() > budget::BUILD_ITEMS
    }

    /// Sends the events waiting, then the error, if any (an error already
    /// there is sent again on every call, as fast_xml does).
    fn deliver(&mut self, env: Env<'_>) {
        if self.error.is_none() {
            self.send_events(env);
        }
        if self.error.is_none() {
            if let Some(e) = self.fresh_error.take() {
                self.error = Some(if is_limit(&e) {
                    StreamError::TooBig
                } else {
                    StreamError::Parse(e)
                });
            } else if self.too_many_elements(None) {
                self.error = Some(StreamError::TooBig);
            }
        }
        if self.error.is_some() {
            self.send_error(env);
        }
        self.fresh_error = None;
        self.parser.clear_events();
    }

    /// True when the stanza `range` of the tape, or the one still open when
    /// `None`, started as many elements as the limit or more.
    fn too_many_elements(&self, range: Option<std::ops::Range<usize>>) -> bool {
        // no need to count without a limit
        self.max_elements != u64::MAX && self.started_elements(range) >= self.max_elements
    }

    /// Elements started in the stanza `range` of the tape, or in the one
    /// still open when `None`.
    fn started_elements(&self, range: Option<std::ops::Range<usize>>) -> u64 {
        let tape = self.parser.tape();
        let items = match range {
            Some(r) => &tape.items[r],
            None => self.parser.open_stanza_items(),
        };
        items
            .iter()
            .filter(|it| matches!(it, Item::Start { .. }))
            .count() as u64
    }

    /// Sends the complete events on the tape, stopping at a stanza over the element limit.
    fn send_events(&mut self, caller: Env<'_>) {
        let count = self.parser.tape().events.len();
        for i in 0..count {
            let event = self.parser.tape().events[i].clone();
            match event {
                Event::StreamStart(range) => {
                    let tape = self.parser.tape();
                    let attrs = tape.items[range.clone()].iter().filter_map(|it| match *it {
                        Item::Attr { name, value } => Some((tape.get(name), tape.get(value))),
                        _ => None,
                    });
                    self.namespaces = StreamNamespaces::from_attrs(attrs);
                    self.emit(caller, false, |env, s| {
                        stream_start_term(env, s.shape, s.parser.tape(), range.start)
                    });
                }
                Event::Element(range) => {
                    if self.too_many_elements(Some(range.clone())) {
                        self.error = Some(StreamError::TooBig);
                        return;
                    }
                    self.emit(caller, false, |env, s| {
                        let el = Interner::with(env, |names| {
                            let mut sink = s.builder.sink(env, s.shape, names);
                            let declarations = s.shape == Shape::Records;
                            normalize_into(
                                s.parser.tape(),
                                range,
                                &s.namespaces,
                                declarations,
                                &mut sink,
                            );
                            sink.finish()
                        });
                        match s.shape {
                            Shape::Records => tuple(
                                env,
                                &[atoms::xmlstreamelement().to_term(env).as_c_arg(), el],
                            ),
                            Shape::Maps => el,
                        }
                    });
                }
                Event::StreamEnd(span) => {
                    self.emit(caller, false, |env, s| {
                        stream_end_term(env, s.shape, s.parser.tape().get(span))
                    });
                }
                Event::StreamText(span) => {
                    self.emit(caller, true, |env, s| {
                        let text = binary(env, s.parser.tape().get(span));
                        tuple(
                            env,
                            &[atoms::xmlstreamcdata().to_term(env).as_c_arg(), text],
                        )
                    });
                }
            }
        }
    }
}

fn with_state<R>(res: &FxmlStream, f: impl FnOnce(&mut State) -> R) -> NifResult<R> {
    let mut guard = res.lock();
    match guard.as_mut() {
        Some(state) => Ok(f(state)),
        None => Err(rustler::Error::BadArg),
    }
}

/// `fxml_stream:parse/2` on a normal scheduler. Returns the parser; or
/// `dirty` for a large chunk (not read: call `fxml_stream_parse_dirty(State,
/// Data)`), or `dirty_events` when the chunk completed large events (read
/// but not sent: call `fxml_stream_parse_dirty(State, <<>>)`).
#[rustler::nif]
fn fxml_stream_parse<'a>(env: Env<'a>, state: Term<'a>, data: Binary<'a>) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    let res: ResourceArc<FxmlStream> = state.decode()?;
    if data.len() > budget::PARSE_BYTES {
        // refuse a closed parser here already, as the dirty twin would
        with_state(&res, |_| ())?;
        return Ok(atoms::dirty().to_term(env));
    }
    let large = with_state(&res, |s| {
        s.feed(data.as_slice());
        let large = s.delivery_is_large();
        if !large {
            s.deliver(env);
        }
        large
    })?;
    Ok(if large {
        atoms::dirty_events().to_term(env)
    } else {
        state
    })
}

/// The dirty-scheduler twin of `fxml_stream_parse/2`: reads `Data` (which
/// may be empty) and sends every event waiting.
#[rustler::nif(schedule = "DirtyCpu")]
fn fxml_stream_parse_dirty<'a>(
    env: Env<'a>,
    state: Term<'a>,
    data: Binary<'a>,
) -> NifResult<Term<'a>> {
    let res: ResourceArc<FxmlStream> = state.decode()?;
    with_state(&res, |s| {
        s.feed(data.as_slice());
        s.deliver(env);
    })?;
    Ok(state)
}

/// `fxml_stream:reset/1`: a new stream on the same parser and callback.
#[rustler::nif]
fn fxml_stream_reset<'a>(state: Term<'a>) -> NifResult<Term<'a>> {
    let res: ResourceArc<FxmlStream> = state.decode()?;
    with_state(&res, |s| {
        s.parser.reset();
        s.size = 0;
        s.error = None;
        s.fresh_error = None;
        s.namespaces = StreamNamespaces::default();
    })?;
    Ok(state)
}

/// `fxml_stream:close/1`: `true`; the parser cannot be used afterwards.
#[rustler::nif]
fn fxml_stream_close(res: ResourceArc<FxmlStream>) -> NifResult<bool> {
    let mut guard = res.lock();
    match guard.take() {
        Some(_) => Ok(true),
        None => Err(rustler::Error::BadArg),
    }
}

/// `fxml_stream:change_callback_pid/2`: returns the parser.
#[rustler::nif]
fn fxml_stream_change_callback_pid<'a>(state: Term<'a>, pid: LocalPid) -> NifResult<Term<'a>> {
    let res: ResourceArc<FxmlStream> = state.decode()?;
    with_state(&res, |s| s.pid = pid)?;
    Ok(state)
}

/// `fxml_stream:change_limits/3`: `ok`.
#[rustler::nif]
fn fxml_stream_change_limits<'a>(
    env: Env<'a>,
    res: ResourceArc<FxmlStream>,
    max_size: Term<'a>,
    max_elements: Term<'a>,
) -> NifResult<Atom> {
    let (size, elements) = (limit(env, max_size)?, limit(env, max_elements)?);
    // fast_xml changes the limits of a closed parser without complaint
    let mut guard = res.lock();
    if let Some(s) = guard.as_mut() {
        s.max_size = size;
        s.max_elements = elements;
    }
    Ok(atoms::ok())
}

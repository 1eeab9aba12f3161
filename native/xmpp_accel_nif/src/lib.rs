//! xmpp_accel_nif: the thin rustler layer of xmpp-accel.
//!
//! It decodes Erlang terms, calls `xmpp_accel_core`, encodes the results, and
//! decides where work runs. Every NIF here finishes in about 1 ms on a normal
//! scheduler; larger work is refused with the atom `dirty` and the Erlang
//! facade repeats the call on the `_dirty` twin, which runs on a dirty CPU
//! scheduler (see `budget`).
//!
//! Modules mirror the core: `xml_exml` (exml flavour: terms of esl/exml 4.x)
//! and `xml_stream` (its stream parser resource); `xml_fxml` (fast_xml
//! flavour) and `fxml_stream` (its stream parser resource with a callback pid);
//! `tls` (fast_tls sessions).

mod atoms;
mod budget;
mod fanout;
mod fxml_stream;
mod intern;
mod mam;
mod term;
mod tls;
mod xml_exml;
mod xml_fxml;
mod xml_stream;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    env.register::<xml_stream::StreamResource>().is_ok()
        && env.register::<fxml_stream::FxmlStream>().is_ok()
        && env.register::<fanout::TemplateResource>().is_ok()
        && env.register::<fanout::JobResource>().is_ok()
        && env.register::<mam::MamResource>().is_ok()
        && env.register::<tls::TlsResource>().is_ok()
}

rustler::init!("xmpp_accel_nif", load = load);

//! Every atom the NIF layer uses.

rustler::atoms! {
    ok,
    error,
    dirty,
    dirty_events,
    xmlel,
    xmlcdata,
    xmlstreamstart,
    xmlstreamend,
    escaped,
    cdata,
    pretty,
    not_pretty,
}

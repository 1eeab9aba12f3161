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
    // fast_xml
    use_maps,
    no_gen_server,
    infinity,
    gen_event = "$gen_event",
    gen_all_state_event = "$gen_all_state_event",
    xmlstreamelement,
    xmlstreamcdata,
    xmlstreamerror,
}

# The Erlang modules (exml, exml_stream, exml_query, xmpp_accel_nif) are
# compiled by mix.exs; the NIF is built by its :xmpp_accel_nif compiler.
ExUnit.start()

#!/usr/bin/env bash
# Compiles the ejabberd full-text modules (mod_xmpp_accel_fulltext,
# mod_mam_xmpp_accel) with erlc against an installed ejabberd's headers and
# beams (Debian's by default) into OUTDIR (default: erlang/ejabberd/ebin).
#   EJABBERD_LIB  ejabberd's lib dir (default /usr/lib/x86_64-linux-gnu/ejabberd-*)
#   ERLANG_LIB    where p1_xmpp-* and p1_xml-* are (default /usr/lib/erlang/lib)
# The beams then go on the node's code path next to the xmpp_accel
# application (its ebin, with priv/ holding the NIF): see README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/ebin}
erlang_lib=${ERLANG_LIB:-/usr/lib/erlang/lib}
ejabberd_lib=${EJABBERD_LIB:-$(ls -d /usr/lib/x86_64-linux-gnu/ejabberd-* 2>/dev/null | sort -V | tail -n 1)}
xmpp_lib=$(ls -d "$erlang_lib"/p1_xmpp-* 2>/dev/null | sort -V | tail -n 1)
xml_lib=$(ls -d "$erlang_lib"/p1_xml-* 2>/dev/null | sort -V | tail -n 1)
for d in "$ejabberd_lib" "$xmpp_lib" "$xml_lib"; do
    [ -n "$d" ] && [ -d "$d/include" ] ||
        { echo "build.sh: ejabberd, p1_xmpp or p1_xml headers not found (apt-get install ejabberd erlang-dev)" >&2; exit 1; }
done
mkdir -p "$out"
# include_lib("xmpp/...") and include_lib("p1_xml/...") resolve through an
# include dir of unversioned links (Debian's dirs carry versions).
inc=$(mktemp -d)
trap 'rm -rf "$inc"' EXIT
ln -s "$xmpp_lib" "$inc/xmpp"
ln -s "$xml_lib" "$inc/p1_xml"
erlc -o "$out" -I "$inc" -I "$ejabberd_lib/include" -pa "$ejabberd_lib/ebin" -pa "$xmpp_lib/ebin" \
    +warn_unused_vars +warnings_as_errors \
    "$here/src/mod_xmpp_accel_fulltext.erl" "$here/src/mod_mam_xmpp_accel.erl"
echo "built $(ls "$out"/*.beam | tr '\n' ' ')"

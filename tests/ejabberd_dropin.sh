#!/usr/bin/env bash
# End to end on a real ejabberd with our drop-ins loaded in place of
# Debian's: stages our built applications where the `ejabberd` user can read
# them, shadows Debian's fast_xml and fast_tls with them (tests/ejabberd/run.sh,
# EJABBERD_EXTRA_PA) and runs the real-client session. Needs root (it installs
# ejabberd from Debian on first use) and `make build` done.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
lib=$repo/erlang/_build/default/lib
stage=$(mktemp -d /tmp/xmpp-accel-dropin.XXXXXX)
trap 'rm -rf "$stage"' EXIT
for app in xmpp_accel fast_xml fast_tls; do
    mkdir -p "$stage/$app"
    cp -rL "$lib/$app/ebin" "$stage/$app/"
    if [ -d "$lib/$app/priv" ]; then cp -rL "$lib/$app/priv" "$stage/$app/"; fi
done
chmod -R a+rX "$stage"
# XMPP_CHECK_LIMITS: also send a stanza nested 100,000 deep and one with
# 10,000 attributes; our limits must end the stream with policy-violation.
XMPP_CHECK_LIMITS=1 \
EJABBERD_EXTRA_PA="$stage/fast_xml/ebin:$stage/fast_tls/ebin:$stage/xmpp_accel/ebin" \
EXPECT_FXML_PREFIX="$stage/fast_xml/" \
EXPECT_FAST_TLS_PREFIX="$stage/fast_tls/" \
    bash "$repo/tests/ejabberd/run.sh"

# Shell functions for the tests that start Debian's Prosody (0.12) on
# 127.0.0.1 in a throwaway directory. Sourced after tests/ejabberd/lib.sh
# (alive, die, say). Work on: tmp (the run's dir; the instance lives in
# $tmp/prosody, logs go to $tmp/logs/prosody.log) and set prosody_pid.

# The settings every instance here shares, as the top of prosody.cfg.lua:
# pid file, data path, loopback only, one c2s port and optionally one
# component port (0: none), no s2s or HTTP, console log, no daemon.
prosody_config_head() { # c2s_port [component_port]
    local comp="" comp_if=""
    if [ "${2:-0}" != 0 ]; then
        comp=$2
        comp_if='component_interfaces = { "127.0.0.1" }'
    fi
    cat <<EOF
pidfile = "$tmp/prosody/prosody.pid"
data_path = "$tmp/prosody/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $1 }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { $comp }
$comp_if
http_ports = { }
https_ports = { }
log = { { levels = { min = "info" }, to = "console" } }
daemonize = false
authentication = "internal_hashed"
EOF
}

# A command as the prosody user (not for backgrounding: a backgrounded
# function is a subshell, and $! would not be the command's pid).
as_prosody() { setpriv --reuid=prosody --regid=prosody --init-groups -- "$@"; }

# prosodyctl register for each user, password "pw-USER-SUFFIX", as the
# prosody user (the data files must be its own).
prosody_register() { # password_suffix user...
    local sfx=$1 u
    shift
    chown -R prosody:prosody "$tmp/prosody"
    for u in "$@"; do
        as_prosody prosodyctl --config "$tmp/prosody/prosody.cfg.lua" register "$u" localhost "pw-$u-$sfx" \
            >>"$tmp/logs/prosody.log" 2>&1 || die "prosodyctl register $u"
    done
}

# Starts Prosody in the foreground, in the background, as the prosody user,
# and waits (bounded, 20 s) until it listens on PORT. setpriv execs prosody,
# so $! (prosody_pid) is Prosody's own pid: stopped by pid afterwards.
prosody_start() { # port
    local i
    chown -R prosody:prosody "$tmp/prosody"
    rm -f "$tmp/prosody/prosody.pid"
    setpriv --reuid=prosody --regid=prosody --init-groups -- \
        prosody --config "$tmp/prosody/prosody.cfg.lua" -F >>"$tmp/logs/prosody.log" 2>&1 &
    prosody_pid=$!
    for ((i = 0; i < 200; i++)); do
        ss -Hltnp "sport = :$1" | grep -q "pid=$prosody_pid," && return 0
        alive "$prosody_pid" || die "prosody exited (see $tmp/logs/prosody.log)"
        sleep 0.1
    done
    die "prosody not listening on $1"
}

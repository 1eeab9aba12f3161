# Shell functions shared by the ejabberd end-to-end tests (sourced by
# tests/ejabberd/run.sh and tests/ejabberd_fulltext.sh). The sourcing script
# defines say() and die() and may set, before sourcing:
#   RUN_USER         user the node runs as (default ejabberd)
#   VENV             slixmpp venv (default $XMPP_ACCEL_VENV or /tmp/xmpp-accel-venv)
#   SLIXMPP_VERSION  pinned slixmpp (default 1.17.0)
# Instance functions work on: tmp (the instance dir), node, c2s_port,
# beam_pid, wrapper_pid (set by ejd_start), ctl_args (set by ejd_ctl_args).

RUN_USER=${RUN_USER:-ejabberd}
VENV=${VENV:-${XMPP_ACCEL_VENV:-/tmp/xmpp-accel-venv}}
SLIXMPP_VERSION=${SLIXMPP_VERSION:-1.17.0}

# ---------------------------------------------------------------- packages
ensure_packages() { # package...: installs the missing ones, never starting a service
    local need=()
    local p
    for p in "$@"; do
        dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing ${need[*]}"
    # The package must not start its service (it would listen on 5222 etc.
    # on all interfaces): policy-rc.d exit 101 makes invoke-rc.d refuse.
    local made_policy=0 rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    { DEBIAN_FRONTEND=noninteractive timeout 900 apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${need[@]}"; } \
        >/tmp/xmpp-accel-ejabberd-apt.log 2>&1 || rc=$?
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ $rc != 0 ]; then
        tail -n 30 /tmp/xmpp-accel-ejabberd-apt.log >&2
        die "apt-get failed (log: /tmp/xmpp-accel-ejabberd-apt.log)"
    fi
    # Keep the packaged service from starting at boot too.
    if [[ " ${need[*]} " == *" ejabberd "* ]] && command -v systemctl >/dev/null; then
        systemctl disable ejabberd >/dev/null 2>&1 || true
    fi
}

# The packaged node (ejabberd@localhost, Debian's /etc/ejabberd config) must
# not be running: it would listen on 5222 and friends on every interface.
ensure_packaged_service_stopped() {
    local pids
    pids=$(pgrep -u "$RUN_USER" -f -- '-sname ejabberd@localhost( |$)' || true)
    if [ -n "$pids" ]; then
        say "the packaged ejabberd node is running (pids $pids): stopping it"
        timeout 60 ejabberdctl stop >/dev/null 2>&1 || true
        timeout 60 ejabberdctl stopped >/dev/null 2>&1 || true
        pgrep -u "$RUN_USER" -f -- '-sname ejabberd@localhost( |$)' >/dev/null &&
            die "the packaged ejabberd node (pids $pids) would not stop"
    fi
    if ss -Hltn 'sport = :5222' | grep -q .; then
        say "warning: something listens on port 5222 (not this test's instance):"
        ss -Hltnp 'sport = :5222' >&2
    fi
}

ensure_venv() {
    mkdir -p "$(dirname "$VENV")"
    (
        flock -w 600 9 || die "timed out waiting for the lock on $VENV"
        if [ -x "$VENV/bin/python" ] &&
           "$VENV/bin/python" -c "import slixmpp, sys; sys.exit(slixmpp.__version__ != '$SLIXMPP_VERSION')" 2>/dev/null; then
            exit 0
        fi
        say "creating venv $VENV with slixmpp==$SLIXMPP_VERSION"
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
        # wheels only: slixmpp ships a compiled extension, never build it here
        timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check \
            --only-binary=:all: "slixmpp==$SLIXMPP_VERSION" ||
            { rm -rf "$VENV"; die "pip install slixmpp==$SLIXMPP_VERSION failed"; }
    ) 9>"$VENV.lock"
}

free_port() { # first port in [$1, $2] nobody listens on
    local p
    for p in $(seq "$1" "$2"); do
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- processes
alive() { # a zombie (our exited, not yet reaped child) counts as gone
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
        [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

wait_gone() { # pid seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
    return 1
}

# Stops processes this run started: SIGTERM (or -s SIGNAL) to each live one,
# then waits up to -t SECONDS (15) for each, SIGKILLs what is left and reaps
# our children. Empty pids are skipped; safe under set -e.
stop_pids() { # [-t seconds] [-s signal] pid...
    local secs=15 sig=TERM p
    while [ $# -gt 0 ]; do
        case "$1" in
            -t) secs=$2; shift 2 ;;
            -s) sig=$2; shift 2 ;;
            *) break ;;
        esac
    done
    for p in "$@"; do
        if alive "$p"; then kill "-$sig" "$p" 2>/dev/null || true; fi
    done
    for p in "$@"; do
        [ -n "$p" ] || continue
        wait_gone "$p" "$secs" || kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    return 0
}

# ---------------------------------------------------------------- PostgreSQL
# Debian's newest PostgreSQL, a throwaway cluster in DIR/data owned by USER
# (its superuser has the same name, trust auth on 127.0.0.1), listening on
# 127.0.0.1:PORT with its socket in DIR; the log goes to LOG. The extra
# arguments go to postgres (`-c fsync=off`). Waits (bounded, 30 s) until it
# takes connections. Sets pg_bin and pg_pid (the postmaster: setpriv execs
# it); stop it with pg_stop.
pg_start() { # user dir port log [postgres args...]
    local user=$1 dir=$2 port=$3 log=$4 i
    shift 4
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [ -x "$pg_bin/postgres" ] || die "no PostgreSQL server (apt install postgresql)"
    mkdir -p "$dir"
    chown "$user:$user" "$dir"
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$pg_bin/initdb" -D "$dir/data" -U "$user" \
        --auth=trust -E UTF8 --locale=C --no-sync >>"$log" 2>&1 || die "initdb failed (see $log)"
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$pg_bin/postgres" -D "$dir/data" \
        -h 127.0.0.1 -p "$port" -k "$dir" "$@" >>"$log" 2>&1 &
    pg_pid=$!
    for ((i = 0; i < 300; i++)); do
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
        alive "$pg_pid" || die "postgres exited (see $log)"
        sleep 0.1
    done
    die "postgres not ready after 30 s (see $log)"
}

# Stops the cluster of pg_start by pid (fast shutdown, then KILL).
pg_stop() {
    if alive "${pg_pid:-}"; then
        kill -INT "$pg_pid" 2>/dev/null
        wait_gone "$pg_pid" 30 || kill -KILL "$pg_pid" 2>/dev/null
    fi
    if [ -n "${pg_pid:-}" ]; then wait "$pg_pid" 2>/dev/null || true; fi
    pg_pid=""
    return 0
}

# ---------------------------------------------------------------- instance
# ejabberdctl against this instance only (its own config, spool, logs, node)
ejd_ctl_args() {
    ctl_args=(--config-dir "$tmp/etc" --config "$tmp/etc/ejabberd.yml"
              --ctl-config "$tmp/etc/ejabberdctl.cfg" --logs "$tmp/logs"
              --spool "$tmp/spool" --node "$node")
}
ctl() { timeout 60 ejabberdctl "${ctl_args[@]}" "$@"; } # a bounded ctl command

# Self-signed certificate for the XMPP domain "localhost" (and
# conference.localhost) in $tmp/cert: cert.pem (what clients trust),
# server.pem (what ejabberd serves).
ejd_make_cert() {
    mkdir -p "$tmp/cert"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,DNS:conference.localhost" \
        -keyout "$tmp/cert/key.pem" -out "$tmp/cert/cert.pem" >/dev/null 2>&1 ||
        die "openssl could not make a certificate"
    cat "$tmp/cert/cert.pem" "$tmp/cert/key.pem" >"$tmp/cert/server.pem"
}

# $tmp/etc/ejabberdctl.cfg. ejabberdctl sources this file; ERLANG_OPTS =
# "+K true +P ... $ERL_OPTIONS" goes on every erl command line it runs, the
# server node's included. ERL_DIST_PORT: the node listens for distribution on
# that fixed port (-erl_epmd_port P -start_epmd false) and ctl calls connect
# to it with -dist_listen false: no epmd at all. INET_DIST_INTERFACE binds it
# to loopback. Also $tmp/etc/inetrc: ejabberdctl points ERL_INETRC at
# <config dir>/inetrc, which resolves localhost to loopback.
ejd_write_ctl_cfg() { # cookie dist_port extra_erl_options
    mkdir -p "$tmp/etc" "$tmp/run" "$tmp/contrib/conf"
    cat >"$tmp/etc/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$node
ERL_OPTIONS="-setcookie $1 -env ERL_CRASH_DUMP_BYTES 0$3"
ERL_DIST_PORT=$2
INET_DIST_INTERFACE=127.0.0.1
EJABBERD_PID_PATH=$tmp/run/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
CONTRIB_MODULES_PATH=$tmp/contrib
CONTRIB_MODULES_CONF_DIR=$tmp/contrib/conf
EOF
    printf '%s\n' '{lookup, ["file", "native"]}.' '{host, {127,0,0,1}, ["localhost"]}.' >"$tmp/etc/inetrc"
}

# One listener entry for ejabberd.yml, on 127.0.0.1: ejd_listener MODULE PORT
# [OPTION_LINE ...], each option line as YAML ("starttls_required: true").
ejd_listener() {
    local module=$1 port=$2 line
    shift 2
    printf '  -\n    port: %s\n    ip: "127.0.0.1"\n    module: %s\n' "$port" "$module"
    for line in "$@"; do printf '    %s\n' "$line"; done
}

# The c2s listener of these tests: ejd_c2s_listener PORT [OPTION_LINE ...].
ejd_c2s_listener() {
    local port=$1
    shift
    ejd_listener ejabberd_c2s "$port" "max_stanza_size: 262144" "access: c2s" "$@"
}

# An XEP-0114 component listener: ejd_service_listener PORT DOMAIN SECRET.
ejd_service_listener() {
    ejd_listener ejabberd_service "$1" "hosts:" "  \"$2\":" "    password: \"$3\""
}

# TLS protocol options for c2s: TLS 1.2 and later only.
EJD_C2S_PROTOCOL_OPTIONS='c2s_protocol_options:
  - "no_sslv3"
  - "no_tlsv1"
  - "no_tlsv1_1"
  - "no_compression"'

# The modules every instance here has (mod_admin_extra: ctl register).
EJD_BASE_MODULES='  mod_admin_extra: {}
  mod_disco: {}
  mod_roster: {}
  mod_ping: {}'

# MUC (XEP-0045) on conference.localhost, rooms archived by mod_mam.
EJD_MUC_MODULE='  mod_muc:
    hosts:
      - "conference.localhost"
    access: all
    access_admin: none
    access_create: muc_create
    access_persistent: muc_create
    default_room_options:
      mam: true'

# XEP-0356 privileged presence for our component (the sidecar's tests).
EJD_PRIVILEGE_MODULE='  mod_privilege:
    presence:
      managed_entity: all'

# $tmp/etc/ejabberd.yml for the host "localhost":
#   ejd_write_config LISTENERS MODULES [TOP_LEVEL]
# LISTENERS: the listen entries' YAML (from ejd_listener); MODULES: the
# modules map's entries, indented two spaces (empty: `modules: {}`);
# TOP_LEVEL: more top-level YAML (SQL settings, protocol options). The rest
# is what every instance here needs: the certificate, ACL `local`, access
# rules c2s/local/muc_create, and ejabberdctl's access to every command.
# Settings: EJD_LOGLEVEL (info), EJD_CERTFILE ($tmp/cert/server.pem) and
# EJD_AUTH (the auth settings' YAML; default internal with SCRAM).
ejd_write_config() { # listeners modules [top_level]
    local modules="modules: {}"
    [ -z "$2" ] || modules="modules:
$2"
    cat >"$tmp/etc/ejabberd.yml" <<EOF
hosts:
  - localhost
loglevel: ${EJD_LOGLEVEL:-info}
log_rotate_count: 0
certfiles:
  - "${EJD_CERTFILE:-$tmp/cert/server.pem}"
${3:-}
listen:
$1
${EJD_AUTH:-auth_method: internal
auth_password_format: scram}
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  muc_create:
    allow: local
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
$modules
EOF
}

# Starts the node in the background (ejabberdctl foreground, as $RUN_USER)
# and waits (bounded) for the pid file and for that beam to listen on
# $c2s_port. Sets wrapper_pid and beam_pid. EJD_SETPRIV=1: ejabberdctl runs
# as $RUN_USER through setpriv rather than su, whose pam_limits would reset
# the open-files limit to 1,024 and the node sizes its port table from it.
ejd_start() { # timeout_seconds
    local deadline
    rm -f "$tmp/run/ejabberd.pid"
    beam_pid=""
    if [ "${EJD_SETPRIV:-0}" = 1 ]; then
        setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- \
            env HOME="$tmp/spool" ejabberdctl "${ctl_args[@]}" foreground >>"$tmp/logs/console.log" 2>&1 &
    else
        ejabberdctl "${ctl_args[@]}" foreground >>"$tmp/logs/console.log" 2>&1 &
    fi
    wrapper_pid=$!
    deadline=$((SECONDS + $1))
    while :; do
        if [ -z "$beam_pid" ] && [ -s "$tmp/run/ejabberd.pid" ]; then
            beam_pid=$(cat "$tmp/run/ejabberd.pid")
        fi
        if [ -n "$beam_pid" ] &&
           ss -Hltnp "sport = :$c2s_port" | grep -q "pid=$beam_pid,"; then
            break
        fi
        alive "$wrapper_pid" || die "ejabberd exited during startup"
        [ "$SECONDS" -lt "$deadline" ] || die "c2s port $c2s_port not listening after $1s"
        sleep 0.3
    done
}

# Stops the node started by ejd_start: ejabberdctl stop, then TERM and KILL
# by pid if it lingers. Safe under set -e (the wrapper's exit code is not
# ours to judge).
ejd_stop() {
    if alive "$beam_pid" || alive "$wrapper_pid"; then
        ctl stop >/dev/null 2>&1 || true
        wait_gone "$beam_pid" 30 || { kill -TERM "$beam_pid" 2>/dev/null; wait_gone "$beam_pid" 5 || true; }
        if alive "$beam_pid"; then kill -KILL "$beam_pid" 2>/dev/null || true; fi
        wait_gone "$wrapper_pid" 5 || kill -TERM "$wrapper_pid" 2>/dev/null || true
    fi
    if [ -n "$wrapper_pid" ]; then wait "$wrapper_pid" 2>/dev/null || true; fi
    beam_pid=""
    wrapper_pid=""
    return 0
}

# Anything else carrying this run's unique node name (a ctl call cut off by a
# signal, a beam whose pid file never got written).
ejd_kill_leftovers() {
    local p pids
    pids=$(pgrep -f -- "$node" || true)
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null; done
    return 0
}

# The tails of the instance's logs, on stderr (after a failure).
ejd_log_tails() {
    local f
    [ -d "$tmp/logs" ] || return 0
    for f in ejabberd.log error.log console.log; do
        [ -s "$tmp/logs/$f" ] || continue
        echo "---- tail of ejabberd $f ----" >&2
        tail -n 40 "$tmp/logs/$f" >&2
    done
    echo "----" >&2
}

# Nothing of ours may listen beyond loopback.
ejd_check_loopback() {
    local listeners
    listeners=$(ss -Hltunp | grep "pid=$beam_pid," | awk '{print $1" "$5}')
    local l
    while read -r l; do [ -n "$l" ] && say "listening: $l"; done <<<"$listeners"
    if echo "$listeners" | awk '{print $2}' | grep -vq '^127\.0\.0\.1:'; then
        die "ejabberd listens beyond 127.0.0.1"
    fi
}

#!/usr/bin/env python3
"""End to end through the sidecar's edge, with real servers and slixmpp.

Started by tests/sidecar_edge.sh, which runs ejabberd (behind a PROXY v2
listener), Prosody (no PROXY), a recording backend and the sidecar, all on
loopback, and passes their addresses in the environment. Each step prints
`ok: ...` or `FAILED: ...`; the last line is `N passed, M failed`.

Steps:
  ejabberd via STARTTLS and via direct TLS (XEP-0368): two users log in
  through the edge, chat, log out; ejabberd reports the client's own address
  (127.0.0.2), not the edge's (127.0.0.1);
  Prosody via STARTTLS: the same session;
  hostile input (to the recording backend): not-well-formed XML, a stanza
  that passes the size limit without ending, 100,000-deep nesting, a
  comment (restricted XML), garbage instead of a TLS record, a client that
  stops mid-handshake: each gets its stream error or is closed in bounded
  time, the backend never receives the offending bytes, the edge's memory
  stays bounded, and a normal client logs in meanwhile;
  metrics: /metrics and /health answer, with MongooseIM's names;
  certificate reload (SIGHUP) while a session is open: new connections get
  the new certificate, the open session goes on;
  SIGTERM: an open stream ends with <system-shutdown/> after the drain time.
"""

import asyncio
import base64
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid

from slixmpp import ClientXMPP

E = os.environ
DOMAIN = "localhost"
CAFILE = E["CAFILE"]
SIDECAR_PID = int(E["SIDECAR_PID"])
STEP_TIMEOUT = 20
CLIENT_IP = "127.0.0.2"
if E.get("XMPP_DEBUG") == "1":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


def addr(name):
    host, port = E[name].rsplit(":", 1)
    return host, int(port)


# Every client connects from 127.0.0.2, the edge's backend connections come
# from 127.0.0.1: the server must report the former.
_orig_create_connection = asyncio.BaseEventLoop.create_connection


async def _from_client_ip(self, *args, **kwargs):
    kwargs.setdefault("local_addr", (CLIENT_IP, 0))
    return await _orig_create_connection(self, *args, **kwargs)


asyncio.BaseEventLoop.create_connection = _from_client_ip


class StepFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise StepFailed(what)


class Client(ClientXMPP):
    def __init__(self, user, password, direct=False, resource="edge"):
        super().__init__(f"{user}@{DOMAIN}/{resource}", password)
        self.register_plugin("xep_0199")
        self.enable_direct_tls = direct
        self.enable_starttls = not direct
        self.enable_plaintext = False
        self.ca_certs = CAFILE
        self.inbox = asyncio.Queue()
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))

    async def login(self, where):
        done = asyncio.get_running_loop().create_future()

        def finish(r):
            if not done.done():
                done.set_result(r)

        self.add_event_handler("session_start", lambda _: finish("ok"))
        self.add_event_handler("failed_auth", lambda _: finish("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: finish(f"connection failed: {e}"))
        self.add_event_handler("disconnected", lambda r: finish(f"disconnected: {r}"))
        self.connect(*where)
        r = await asyncio.wait_for(done, STEP_TIMEOUT)
        check(r == "ok", r)
        check(self.transport.get_extra_info("ssl_object") is not None, "not encrypted")
        self.send_presence()

    async def logout(self):
        gone = asyncio.get_running_loop().create_future()
        self.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
        self.disconnect(wait=2.0)
        await asyncio.wait_for(gone, STEP_TIMEOUT)


async def chat(a, b, b_jid):
    body = f"through the edge {uuid.uuid4().hex} <&> ü€𝄞"
    a.send_message(mto=b_jid, mbody=body, mtype="chat")
    while True:
        m = await asyncio.wait_for(b.inbox.get(), STEP_TIMEOUT)
        if m["body"] == body:
            return


def users(prefix):
    return (E[f"{prefix}_USER_A"], E[f"{prefix}_PASS_A"], E[f"{prefix}_USER_B"], E[f"{prefix}_PASS_B"])


async def session(where, prefix, direct=False, check_ip=None):
    ua, pa, ub, pb = users(prefix)
    a, b = Client(ua, pa, direct), Client(ub, pb, direct)
    await a.login(where)
    await b.login(where)
    try:
        if check_ip:
            out = check_ip()
            check(f"{CLIENT_IP}" in out, f"server does not report {CLIENT_IP}: {out!r}")
            check("127.0.0.1" not in out, f"server reports the edge's address: {out!r}")
        # to the full JID: a bare JID may bounce while the other's initial
        # presence is still on its way (no offline storage here)
        await chat(a, b, f"{ub}@{DOMAIN}/edge")
        await chat(b, a, f"{ua}@{DOMAIN}/edge")
        await a.plugin["xep_0199"].ping(f"{DOMAIN}", timeout=STEP_TIMEOUT)
    finally:
        await a.logout()
        await b.logout()


def ejabberd_sessions():
    out = subprocess.run([E["EJD_CTL"], "connected_users_info"], capture_output=True, text=True, timeout=60)
    return out.stdout


# ------------------------------------------------------------ raw clients

STREAM = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


def tls_context():
    ctx = ssl.create_default_context(cafile=CAFILE)
    return ctx


def recv_until(sock, pattern, timeout):
    sock.settimeout(timeout)
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionError, OSError):
            break
        if not chunk:
            break
        data += chunk
        if re.search(pattern, data):
            break
    return data


def starttls(where):
    """A raw client through STARTTLS: returns the TLS socket after the new stream header."""
    s = socket.create_connection(where, timeout=10, source_address=(CLIENT_IP, 0))
    s.sendall(STREAM.encode())
    got = recv_until(s, rb"</stream:features>", 10)
    check(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" in got,
          f"no required starttls feature: {got[:300]!r}")
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    got = recv_until(s, rb"<proceed", 10)
    check(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" in got, f"no proceed: {got!r}")
    t = tls_context().wrap_socket(s, server_hostname=DOMAIN)
    t.sendall(STREAM.encode())
    return t


class WsClient:
    """A minimal RFC 6455 client (text frames, masked), enough to speak
    RFC 7395 by hand: no WebSocket support in slixmpp."""

    def __init__(self, where, protocol="xmpp"):
        ctx = tls_context()
        ctx.set_alpn_protocols(["http/1.1"])
        s = socket.create_connection(where, timeout=10, source_address=(CLIENT_IP, 0))
        self.sock = ctx.wrap_socket(s, server_hostname=DOMAIN)
        key = base64.b64encode(os.urandom(16)).decode()
        proto = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
        self.sock.sendall((f"GET /xmpp-websocket HTTP/1.1\r\nHost: {DOMAIN}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n{proto}"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        self.status = head.split(b"\r\n", 1)[0]
        self.headers = head.decode(errors="replace")
        self.buf = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise StepFailed("WebSocket closed")
            self.buf += chunk

    def recv(self):
        """Next text message (None on a close frame)."""
        while True:
            self._need(2)
            op, ln = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if ln == 126:
                self._need(4)
                ln, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif ln == 127:
                self._need(10)
                ln, at = int.from_bytes(self.buf[2:10], "big"), 10
            self._need(at + ln)
            payload, self.buf = self.buf[at:at + ln], self.buf[at + ln:]
            if op == 0x8:
                return None
            if op == 0x1:
                return payload.decode()

    def recv_until(self, needle, limit=10):
        got = []
        for _ in range(limit):
            m = self.recv()
            if m is None:
                raise StepFailed(f"closed before {needle!r}: {got!r}")
            got.append(m)
            if needle in m:
                return m, got
        raise StepFailed(f"no {needle!r} in {got!r}")


def recorded():
    with open(E["RECORDER_LOG"], "rb") as f:
        return f.read()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hostile_stream_error(where, payload, condition, marker):
    t = starttls(where)
    try:
        t.sendall(payload)
    except (ssl.SSLError, ConnectionError, OSError):
        pass  # the edge may close before all of it is sent; its answer is read below
    got = recv_until(t, rb"</stream:stream>", 10)
    t.close()
    check(f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>".encode() in got,
          f"expected {condition}, got {got[-300:]!r}")
    time.sleep(0.2)
    check(marker not in recorded(), f"the backend received the offending bytes ({marker[:40]!r})")


async def main():
    passed = failed = 0

    async def step(name, fn):
        nonlocal passed, failed
        t0 = time.monotonic()
        try:
            r = fn()
            if asyncio.iscoroutine(r):
                await asyncio.wait_for(r, 120)
            print(f"ok: {name} ({time.monotonic() - t0:.1f} s)", flush=True)
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every failure
            print(f"FAILED: {name}: {type(e).__name__}: {e}", flush=True)
            failed += 1

    ejd_starttls, ejd_direct = addr("EDGE_EJD_STARTTLS"), addr("EDGE_EJD_DIRECT")
    prosody_starttls, rec = addr("EDGE_PROSODY_STARTTLS"), addr("EDGE_RECORDER")

    await step("ejabberd through the edge, STARTTLS: login, chat both ways, ping, logout; ejabberd sees 127.0.0.2",
               lambda: session(ejd_starttls, "EJD", check_ip=ejabberd_sessions))
    await step("ejabberd through the edge, direct TLS (XEP-0368)",
               lambda: session(ejd_direct, "EJD", direct=True, check_ip=ejabberd_sessions))
    await step("Prosody through the edge (no PROXY), STARTTLS: login, chat both ways, ping, logout",
               lambda: session(prosody_starttls, "PROSODY"))

    async def websocket_session():
        ua, pa, ub, pb = users("EJD")
        b = Client(ub, pb)
        await b.login(ejd_starttls)
        try:
            refused = await asyncio.to_thread(WsClient, addr("EDGE_EJD_WS"), None)
            check(b" 400 " in refused.status, f"no subprotocol: {refused.status!r}")
            body = f"over websocket {uuid.uuid4().hex} <&>"

            def ws_flow():
                ws = WsClient(addr("EDGE_EJD_WS"))
                check(b" 101 " in ws.status and "sec-websocket-protocol: xmpp" in ws.headers.lower(),
                      f"upgrade: {ws.headers!r}")
                ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                m, got = ws.recv_until("mechanisms")
                check(got[0].startswith("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"), f"open: {got[0]!r}")
                check("xmlns:stream='http://etherx.jabber.org/streams'" in m, f"features not namespaced: {m!r}")
                cred = base64.b64encode(f"\0{ua}\0{pa}".encode()).decode()
                ws.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{cred}</auth>")
                ws.recv_until("<success")
                ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                ws.recv_until("urn:ietf:params:xml:ns:xmpp-bind")
                ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                        "<resource>ws</resource></bind></iq>")
                m, _ = ws.recv_until("</jid>")
                check("xmlns='jabber:client'" in m or 'xmlns="jabber:client"' in m, f"iq not namespaced: {m!r}")
                esc = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                ws.send(f"<message xmlns='jabber:client' to='{ub}@{DOMAIN}/edge' type='chat'><body>{esc}</body></message>")
                ws.send("<message xmlns='jabber:client' to='x'><body>bad</bodyx></message>")
                m, _ = ws.recv_until("not-well-formed")
                check("<stream:error xmlns:stream=" in m, f"stream error: {m!r}")
                ws.sock.close()

            await asyncio.to_thread(ws_flow)
            while True:
                m = await asyncio.wait_for(b.inbox.get(), STEP_TIMEOUT)
                if m["body"] == body:
                    break
        finally:
            await b.logout()

    await step("WebSocket (RFC 7395) through the edge to ejabberd: subprotocol required, open/features "
               "namespaced, SASL PLAIN, bind, a message reaches a TCP client, not-well-formed gets a stream error",
               websocket_session)

    rss0 = rss_kb(SIDECAR_PID)

    def not_well_formed():
        hostile_stream_error(rec, b"<message to='x@localhost'><body>NWF-MARK</bodyx></message>",
                             "not-well-formed", b"NWF-MARK")

    def too_big():
        big = b"<message><body>" + b"BIG-MARK" * 20000  # 160 kB > the 64 kB limit, never ends
        hostile_stream_error(rec, big, "policy-violation", b"BIG-MARK")

    def deep():
        hostile_stream_error(rec, b"<a>" * 100_000, "policy-violation", b"<a><a><a>")

    def comment():
        hostile_stream_error(rec, b"<!-- COMMENT-MARK -->", "restricted-xml", b"COMMENT-MARK")

    def garbage_tls():
        s = socket.create_connection(ejd_direct, timeout=10, source_address=(CLIENT_IP, 0))
        s.sendall(os.urandom(4096))
        t0 = time.monotonic()
        got = recv_until(s, rb"$^", 10)
        s.close()
        check(time.monotonic() - t0 < 9, "not closed within 9 s")
        check(b"<" not in got[:1], f"answered XML to garbage: {got[:60]!r}")

    def stalled_handshake():
        s = socket.create_connection(ejd_direct, timeout=10, source_address=(CLIENT_IP, 0))
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello
        t0 = time.monotonic()
        recv_until(s, rb"$^", 15)
        s.close()
        took = time.monotonic() - t0
        check(took < 5, f"a stalled handshake was kept {took:.1f} s (limit 2 s)")

    async def hostile_with_a_client_alongside():
        ua, pa, _, _ = users("EJD")
        c = Client(ua, pa)
        login = asyncio.ensure_future(c.login(ejd_starttls))
        for fn in (not_well_formed, too_big, deep, comment, garbage_tls, stalled_handshake):
            await asyncio.to_thread(fn)
        await login
        await c.logout()

    await step("hostile input: not-well-formed, too big, 100,000 deep, comment, TLS garbage, stalled "
               "handshake; backend never sees it; a normal login meanwhile",
               hostile_with_a_client_alongside)

    def many_hostile_bounded_memory():
        for _ in range(100):
            hostile_stream_error(rec, b"<a>" * 1000 + b"<b" + b" x='1'" * 300 + b"/>", "policy-violation", b"x='1' x='1'")
        grown = rss_kb(SIDECAR_PID) - rss0
        print(f"  edge RSS {rss0} kB before the hostile rounds, grew {grown} kB", flush=True)
        check(grown < 20_000, f"edge RSS grew {grown} kB")

    await step("100 more hostile streams: the edge's RSS stays bounded", many_hostile_bounded_memory)

    def metrics():
        body = urllib.request.urlopen(f"http://{E['METRICS']}/metrics", timeout=5).read().decode()
        for name in ("xmpp_element_in_message_count{", "tcp_data_in_byte_size{", "tls_data_in_byte_size{",
                     "edge_stream_errors_total{", "edge_tls_handshake_failures_total{", "edge_connections_open{"):
            check(name in body, f"{name} missing from /metrics")
        m = re.search(r'xmpp_element_in_message_count\{listener="ejd_starttls"\} (\d+)', body)
        check(m and int(m.group(1)) >= 2, "message count of ejd_starttls below 2")
        check(re.search(r'edge_stream_errors_total\{listener="recorder",condition="policy-violation"\} \d+', body),
              "policy-violation stream errors not counted")
        health = urllib.request.urlopen(f"http://{E['METRICS']}/health", timeout=5).read()
        check(health == b"ok\n", f"health: {health!r}")

    await step("/metrics (MongooseIM names) and /health", metrics)

    def serial_of(where):
        s = socket.create_connection(where, timeout=10, source_address=(CLIENT_IP, 0))
        t = tls_context().wrap_socket(s, server_hostname=DOMAIN)
        der = t.getpeercert(binary_form=True)
        t.close()
        return der

    async def reload_certs():
        ua, pa, ub, pb = users("EJD")
        a, b = Client(ua, pa), Client(ub, pb)
        await a.login(ejd_starttls)
        await b.login(ejd_starttls)
        before = await asyncio.to_thread(serial_of, ejd_direct)
        subprocess.run(["bash", E["RENEW_CERT"]], check=True, timeout=60)
        os.kill(SIDECAR_PID, signal.SIGHUP)
        after = before
        for _ in range(50):
            await asyncio.sleep(0.1)
            after = await asyncio.to_thread(serial_of, ejd_direct)
            if after != before:
                break
        check(after != before, "new connections still get the old certificate after SIGHUP")
        await chat(a, b, f"{ub}@{DOMAIN}/edge")  # the open sessions go on
        await a.logout()
        await b.logout()

    await step("certificate reload (SIGHUP) with sessions open", reload_certs)

    async def through_haproxy():
        ua, pa, ub, pb = users("EJD")
        lb = addr("HAPROXY")
        clients = []
        for i in range(4):
            c = Client(ua if i % 2 == 0 else ub, pa if i % 2 == 0 else pb, resource=f"lb{i}")
            await c.login(lb)
            clients.append(c)
        try:
            out = ejabberd_sessions()
            lb_lines = [ln for ln in out.splitlines() if "/lb" in ln]
            check(len(lb_lines) == 4, f"ejabberd lists {len(lb_lines)} of the 4 sessions: {out!r}")
            for ln in lb_lines:
                check(CLIENT_IP in ln and "127.0.0.1" not in ln, f"client address lost on the way: {ln!r}")
            await chat(clients[0], clients[1], f"{ub}@{DOMAIN}/lb1")
            for m in (E["METRICS"], E["METRICS2"]):
                body = urllib.request.urlopen(f"http://{m}/metrics", timeout=5).read().decode()
                n = re.search(r'edge_connections_total\{listener="ejd_lb"\} (\d+)', body)
                check(n and int(n.group(1)) >= 2, f"edge {m} took {n.group(1) if n else 0} of the 4 connections")
        finally:
            for c in clients:
                await c.logout()

    await step("HAProxy (PROXY v2) in front of two edges: sessions spread over both, ejabberd sees 127.0.0.2 "
               "through both hops", through_haproxy)

    def drain():
        t = starttls(rec)
        t.sendall(b"<presence/>")
        time.sleep(0.3)
        os.kill(SIDECAR_PID, signal.SIGTERM)
        t0 = time.monotonic()
        got = recv_until(t, rb"</stream:stream>", 15)
        took = time.monotonic() - t0
        check(b"<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in got,
              f"no system-shutdown: {got[-200:]!r}")
        check(2.0 <= took < 8, f"system-shutdown after {took:.1f} s (drain 3 s)")
        for _ in range(100):
            if not os.path.exists(f"/proc/{SIDECAR_PID}") or open(f"/proc/{SIDECAR_PID}/stat").read().split()[2] == "Z":
                return
            time.sleep(0.1)
        raise StepFailed("the sidecar did not exit after the drain")

    await step("SIGTERM: open streams get <system-shutdown/> after the drain time; the process exits", drain)

    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

#!/usr/bin/env python3
"""A realistic two-user XMPP session against a running server, with slixmpp.

Steps (each with a timeout and an assertion; one line each, `ok: ...` or
`FAILED: ...`, then `N passed, M failed`; exit code 1 on any failure):

  alice and bob log in over STARTTLS (certificate verified against
  XMPP_CAFILE, host name checked), SASL, bind, roster, presence;
  ping (XEP-0199); disco#items lists the MUC service;
  a chat message alice -> bob, with XML-special and non-ASCII text;
  MUC (XEP-0045): alice creates a room, bob joins, alice speaks, bob hears;
  MAM (XEP-0313): alice's archive with bob and the room's archive hold
  the messages, byte for byte;
  offline storage: bob logs out, alice writes, bob logs in and gets it;
  both log out cleanly.
  With XMPP_CHECK_LIMITS=1, also: a stanza nested 1,000 deep, one nested
  100,000 deep and one with 10,000 attributes each end the sender's stream with a policy-violation
  stream error (as an over-sized stanza does), not not-well-formed.

Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN, XMPP_MUC, XMPP_CAFILE (unset:
no certificate verification), XMPP_USER_A/XMPP_PASS_A, XMPP_USER_B/XMPP_PASS_B,
XMPP_STEP_TIMEOUT (seconds, default 15), XMPP_DEBUG=1 (slixmpp debug log).
"""

import asyncio
import logging
import os
import ssl
import sys
import uuid
from pathlib import Path

from slixmpp import JID, ClientXMPP

HOST = os.environ.get("XMPP_HOST", "127.0.0.1")
PORT = int(os.environ.get("XMPP_PORT", "15222"))
DOMAIN = os.environ.get("XMPP_DOMAIN", "localhost")
MUC = os.environ.get("XMPP_MUC", "conference." + DOMAIN)
CAFILE = os.environ.get("XMPP_CAFILE")
USER_A = os.environ.get("XMPP_USER_A", "alice")
PASS_A = os.environ.get("XMPP_PASS_A", "alice")
USER_B = os.environ.get("XMPP_USER_B", "bob")
PASS_B = os.environ.get("XMPP_PASS_B", "bob")
STEP_TIMEOUT = float(os.environ.get("XMPP_STEP_TIMEOUT", "15"))
CHECK_LIMITS = os.environ.get("XMPP_CHECK_LIMITS") == "1"

# Text that makes an XML library work: the five escapes, a character
# reference's worth of non-ASCII (2-, 3- and 4-byte UTF-8), a tab.
TRICKY = "<b>&amp;</b> \"q\" 'a' \tüñï €✓ 𝄞"


class StepFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise StepFailed(what)


class Client(ClientXMPP):
    def __init__(self, user, password, resource="e2e"):
        super().__init__(f"{user}@{DOMAIN}/{resource}", password)
        for plugin in ("xep_0004", "xep_0030", "xep_0045", "xep_0059",
                       "xep_0199", "xep_0203", "xep_0297", "xep_0313"):
            self.register_plugin(plugin)
        # STARTTLS on the c2s port only: no direct TLS (XEP-0368), no plaintext.
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        if CAFILE:
            self.ca_certs = Path(CAFILE)
        else:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        self.inbox = asyncio.Queue()
        self.groupchat = asyncio.Queue()
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("groupchat_message", self.groupchat.put_nowait)
        self.tls_info = None
        self.add_event_handler("tls_success", self._on_tls)

    def _on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.inbox.put_nowait(msg)

    def _on_tls(self, *_):
        obj = self.transport.get_extra_info("ssl_object")
        if obj is not None:
            self.tls_info = f"{obj.version()} {obj.cipher()[0]}"

    async def login(self):
        done = asyncio.get_running_loop().create_future()

        def finish(result):
            if not done.done():
                done.set_result(result)

        self.add_event_handler("session_start", lambda _: finish("ok"))
        self.add_event_handler("failed_auth", lambda _: finish("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: finish(f"connection failed: {e}"))
        self.add_event_handler("disconnected", lambda r: finish(f"disconnected: {r}"))
        self.connect(HOST, PORT)
        result = await done
        check(result == "ok", result)
        check(self.tls_info is not None, "session started without TLS")
        check(self.transport.get_extra_info("ssl_object") is not None,
              "stream is not encrypted")
        await self.get_roster(timeout=STEP_TIMEOUT)
        self.send_presence()

    async def logout(self):
        gone = asyncio.get_running_loop().create_future()
        self.add_event_handler(
            "disconnected", lambda _: gone.done() or gone.set_result(True))
        self.disconnect(wait=2.0)
        await gone


async def next_matching(queue, pred, what):
    """Next item of queue satisfying pred (others are dropped)."""
    while True:
        item = await queue.get()
        if pred(item):
            return item


class Session:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.done = set()
        self.a = Client(USER_A, PASS_A)
        self.b = Client(USER_B, PASS_B)
        self.a_jid = JID(f"{USER_A}@{DOMAIN}")
        self.b_jid = JID(f"{USER_B}@{DOMAIN}")
        self.room = JID(f"e2e-{uuid.uuid4().hex[:8]}@{MUC}")
        self.token = uuid.uuid4().hex[:12]
        self.chat_body = f"hello {USER_B} {self.token} {TRICKY}"
        self.room_body = f"hello room {self.token} {TRICKY}"
        self.offline_body = f"while you were away {self.token} {TRICKY}"

    async def step(self, name, coro_fn, needs=()):
        missing = [n for n in needs if n not in self.done]
        if missing:
            self.failed += 1
            print(f"FAILED: {name}: not run, needs {', '.join(missing)}", flush=True)
            return
        try:
            detail = await asyncio.wait_for(coro_fn(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            self.failed += 1
            print(f"FAILED: {name}: no answer within {STEP_TIMEOUT:g}s", flush=True)
        except Exception as e:  # noqa: BLE001 - report, go on with the rest
            self.failed += 1
            print(f"FAILED: {name}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            self.done.add(name)
            print(f"ok: {name}{': ' + detail if detail else ''}", flush=True)

    # ------------------------------------------------------------ steps
    async def login_a(self):
        await self.a.login()
        return f"{self.a.boundjid} ({self.a.tls_info})"

    async def login_b(self):
        await self.b.login()
        return f"{self.b.boundjid} ({self.b.tls_info})"

    async def ping(self):
        rtt = await self.a.plugin["xep_0199"].ping(JID(DOMAIN), timeout=STEP_TIMEOUT)
        return f"rtt {rtt * 1000:.1f} ms"

    async def disco(self):
        iq = await self.a.plugin["xep_0030"].get_items(jid=DOMAIN, timeout=STEP_TIMEOUT)
        items = [str(i[0]) for i in iq["disco_items"]["items"]]
        check(MUC in items, f"{MUC} not in disco#items of {DOMAIN}: {items}")
        return f"{DOMAIN} lists {', '.join(items)}"

    async def chat(self):
        self.a.send_message(mto=self.b_jid, mbody=self.chat_body, mtype="chat")
        msg = await next_matching(
            self.b.inbox, lambda m: self.token in m["body"], "chat message")
        check(msg["from"].bare == self.a_jid.bare,
              f"from {msg['from']}, expected {self.a_jid}")
        check(msg["body"] == self.chat_body,
              f"body {msg['body']!r}, expected {self.chat_body!r}")
        return f"{USER_B} got {len(self.chat_body.encode())} bytes of body intact"

    async def muc_create(self):
        muc = self.a.plugin["xep_0045"]
        pres, _subject, _occupants, _history = await muc.join_muc_wait(
            self.room, USER_A, maxstanzas=0, timeout=STEP_TIMEOUT)
        codes = pres["muc"]["status_codes"]
        check(110 in codes, f"no self-presence status 110: {codes}")
        check(pres["muc"]["affiliation"] == "owner",
              f"affiliation {pres['muc']['affiliation']}, expected owner")
        if 201 in codes:  # new room: accept the default configuration
            form = self.a.plugin["xep_0004"].make_form(ftype="submit")
            await muc.set_room_config(self.room, form, timeout=STEP_TIMEOUT)
        return f"{self.room} (status {sorted(codes)})"

    async def muc_join(self):
        pres, _subject, occupants, _history = await self.b.plugin["xep_0045"].join_muc_wait(
            self.room, USER_B, maxstanzas=0, timeout=STEP_TIMEOUT)
        check(110 in pres["muc"]["status_codes"], "no self-presence status 110")
        nicks = [p["from"].resource for p in occupants]
        check(USER_A in nicks, f"{USER_A} not among occupants {nicks}")
        return f"{USER_B} sees occupants {sorted(nicks)}"

    async def muc_message(self):
        self.a.send_message(mto=self.room, mbody=self.room_body, mtype="groupchat")
        msg = await next_matching(
            self.b.groupchat, lambda m: self.token in m["body"], "groupchat message")
        check(msg["from"] == JID(f"{self.room}/{USER_A}"),
              f"from {msg['from']}, expected {self.room}/{USER_A}")
        check(msg["body"] == self.room_body,
              f"body {msg['body']!r}, expected {self.room_body!r}")
        return f"{USER_B} heard {USER_A} in the room"

    async def mam_query(self, client, archive, with_jid, body):
        # The archive is written as the message is routed; retry briefly anyway.
        bodies = []
        for _ in range(5):
            iq = await client.plugin["xep_0313"].retrieve(
                jid=archive, with_jid=with_jid, timeout=STEP_TIMEOUT)
            results = iq["mam"]["results"]
            bodies = [r["mam_result"]["forwarded"]["stanza"]["body"] for r in results]
            if body in bodies:
                return f"{len(bodies)} result(s), message found byte for byte"
            await asyncio.sleep(0.5)
        raise StepFailed(f"message not in archive; got {bodies!r}")

    async def mam_chat(self):
        return await self.mam_query(self.a, None, self.b_jid, self.chat_body)

    async def mam_room(self):
        return await self.mam_query(self.b, self.room, None, self.room_body)

    async def offline(self):
        await self.b.logout()
        self.b = Client(USER_B, PASS_B)
        self.a.send_message(mto=self.b_jid, mbody=self.offline_body, mtype="chat")
        # Let the server route it to offline storage before bob comes back.
        await self.a.plugin["xep_0199"].ping(JID(DOMAIN), timeout=STEP_TIMEOUT)
        await self.b.login()
        msg = await next_matching(
            self.b.inbox, lambda m: self.token in m["body"], "offline message")
        check(msg["body"] == self.offline_body,
              f"body {msg['body']!r}, expected {self.offline_body!r}")
        check(msg["delay"]["stamp"] is not None, "no XEP-0203 delay stamp")
        return f"{USER_B} got it at login, delayed from {msg['delay']['stamp']}"

    async def logout(self):
        await asyncio.gather(self.a.logout(), self.b.logout())
        return ""

    async def limit(self, payload):
        """Logs in a fresh client, sends `payload` raw, returns the stream error."""
        c = Client(USER_A, PASS_A, resource=f"limits-{uuid.uuid4().hex[:6]}")
        errors = asyncio.Queue()
        c.add_event_handler("stream_error", errors.put_nowait)
        try:
            await c.login()
            c.send_raw(payload)
            err = await errors.get()
        finally:
            if c.transport is not None:
                c.abort()
        cond, text = err["condition"], err["text"]
        check(cond == "policy-violation",
              f"stream error {cond!r} ({text!r}), expected policy-violation")
        return f"stream error {cond}: {text!r}"

    async def limit_depth(self, depth=100_000):
        to = f"{USER_B}@{DOMAIN}"
        return await self.limit(f"<message to='{to}'>" + "<a>" * depth)

    async def limit_attrs(self):
        to = f"{USER_B}@{DOMAIN}"
        attrs = "".join(f" a{i}='v'" for i in range(10_000))
        return await self.limit(f"<message to='{to}'{attrs}><body>x</body></message>")

    async def run(self):
        s = self.step
        login_a = f"{USER_A} logs in over STARTTLS"
        login_b = f"{USER_B} logs in over STARTTLS"
        chat = f"chat {USER_A} -> {USER_B}"
        create = f"MUC: {USER_A} creates the room"
        join = f"MUC: {USER_B} joins the room"
        speak = f"MUC: {USER_A} speaks, {USER_B} hears"
        await s(login_a, self.login_a)
        await s(login_b, self.login_b)
        await s("ping the server (XEP-0199)", self.ping, [login_a])
        await s("disco#items lists the MUC service", self.disco, [login_a])
        await s(chat, self.chat, [login_a, login_b])
        await s(create, self.muc_create, [login_a])
        await s(join, self.muc_join, [login_b, create])
        await s(speak, self.muc_message, [join])
        await s(f"MAM: {USER_A}'s archive with {USER_B} has the chat message",
                self.mam_chat, [chat])
        await s("MAM: the room's archive has the groupchat message",
                self.mam_room, [speak])
        await s(f"offline: {USER_B} logs out, {USER_A} writes, {USER_B} logs back in and gets it",
                self.offline, [login_a, login_b])
        await s("both log out cleanly", self.logout, [login_a])
        if CHECK_LIMITS:
            # 3 KB: far below max_stanza_size, so only the depth limit can answer
            await s("limits: a stanza nested 1,000 deep ends the stream",
                    lambda: self.limit_depth(1_000))
            await s("limits: a stanza nested 100,000 deep ends the stream",
                    self.limit_depth)
            await s("limits: a stanza with 10,000 attributes ends the stream",
                    self.limit_attrs)

async def main():
    session = Session()
    try:
        await session.run()
    finally:
        for c in (session.a, session.b):
            if c.transport is not None:
                c.abort()
    print(f"{session.passed} passed, {session.failed} failed", flush=True)
    return 1 if session.failed else 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("XMPP_DEBUG") == "1" else logging.CRITICAL,
        format="%(levelname)s %(name)s %(message)s")
    sys.exit(asyncio.run(main()))

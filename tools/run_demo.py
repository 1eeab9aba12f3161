#!/usr/bin/env python3
"""The clients of `make run` (tools/run_demo.sh starts the servers).

Four users log in with slixmpp, each from its own loopback address:
juliet and romeo (two resources) through the sidecar's edge (STARTTLS and
direct TLS), the nurse through the edge, mercutio straight to ejabberd's
STARTTLS listener (our fast_tls). ejabberd's own session list shows whom it
saw where. juliet creates a MUC Light room on the sidecar's component with
the others; every member posts, round robin, the message bodies of the XEP
examples (XEP_CORPUS, else built-in lines); each resource must get each
message exactly once. Then MAM full-text searches over the room archive, and
a selection of the sidecar's metrics. Prints a report; exit 1 if a delivery
or a search is not as expected.

Environment: XMPP_DOMAIN, XMPP_MUCLIGHT, XMPP_CAFILE (read by
tests/sidecar/component.py, whose client and stanza helpers this uses),
EDGE_STARTTLS, EDGE_DIRECT_TLS, EJD_STARTTLS (host:port), METRICS
(host:port), EJD_CTL (ejabberdctl for the instance), PASSWORDS
("user=password ..."), XEP_CORPUS.
"""

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as XET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sidecar"))
import component as C  # noqa: E402  (Client, el, users, namespaces)

E = os.environ
DOMAIN, MUC = C.DOMAIN, C.MUC
ROOM = f"verona@{MUC}"
PASSWORDS = dict(kv.split("=", 1) for kv in E["PASSWORDS"].split())
SEARCHES = ["romeo", "wherefore art thou", "thrice", "night"]
SAMPLES = [  # without the corpus: lines in the style of the XEP examples
    "Art thou not Romeo, and a Montague?", "Neither, fair saint, if either thee dislike.",
    "Wherefore art thou, Romeo?", "O Romeo, Romeo! wherefore art thou Romeo?",
    "Thrice the brinded cat hath mew'd.", "Thrice and once the hedge-pig whined.",
    "Harpier cries: 'tis time, 'tis time.", "O blessed, blessed night! I am afeard.",
    "Being in night, all this is but a dream, too flattering-sweet to be substantial.",
    "How cam'st thou hither, tell me, and wherefore?", "O, I am fortune's fool!",
    "What man art thou that, thus bescreen'd in night, so stumblest on my counsel?",
]


def addr(name):
    host, port = E[name].rsplit(":", 1)
    return host, int(port)


# Each client connects from its own loopback address, so that ejabberd's
# session list shows whose address it saw (through the edge: the client's,
# from the PROXY header; the edge itself connects from 127.0.0.1).
_orig_create_connection = asyncio.BaseEventLoop.create_connection


async def _from_source_ip(self, factory, *args, **kwargs):
    proto = factory()
    ip = getattr(proto, "source_ip", None)
    if ip:
        kwargs.setdefault("local_addr", (ip, 0))
    return await _orig_create_connection(self, lambda: proto, *args, **kwargs)


asyncio.BaseEventLoop.create_connection = _from_source_ip


class Member(C.Client):
    def __init__(self, user, resource, path, where, source_ip, direct=False):
        super().__init__(user, PASSWORDS[user], resource)
        self.path, self.where, self.source_ip = path, where, source_ip
        self.enable_direct_tls, self.enable_starttls = direct, not direct

    async def login(self):  # component.Client.login, to our own address
        done = asyncio.get_running_loop().create_future()

        def finish(result):
            if not done.done():
                done.set_result(result)

        self.add_event_handler("session_start", lambda _: finish("ok"))
        self.add_event_handler("failed_auth", lambda _: finish("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: finish(f"connection failed: {e}"))
        self.add_event_handler("disconnected", lambda r: finish(f"disconnected: {r}"))
        self.connect(*self.where)
        result = await asyncio.wait_for(done, C.T)
        C.check(result == "ok", f"{self.boundjid}: {result}")
        ssl_object = self.transport.get_extra_info("ssl_object")
        C.check(ssl_object is not None, f"{self.boundjid}: not encrypted")
        self.tls = ssl_object.version()
        self.sasl = self.plugin["feature_mechanisms"].mech.name
        self.send_presence()


def bodies():
    path = E.get("XEP_CORPUS", "")
    if not path or not os.path.exists(path):
        return SAMPLES, f"{len(SAMPLES)} built-in lines ({path or 'XEP_CORPUS'} is absent)"
    seen, out = set(), []
    for line in open(path, encoding="utf-8"):
        xml = json.loads(line).get("xml", "")
        if not xml.startswith("<message") or "<body" not in xml:
            continue
        try:
            m = XET.fromstring(xml)
        except XET.ParseError:
            continue
        for b in m.iter():
            if b.tag.rsplit("}", 1)[-1] == "body" and b.text:
                text = " ".join(b.text.split())
                if 3 <= len(text) <= 500 and text not in seen:
                    seen.add(text)
                    out.append(text)
    return out, f"the {len(out)} distinct message bodies of the XEP examples ({os.path.basename(path)})"


def ejabberd_sessions():
    """jid/resource -> (connection, ip) as ejabberd reports them."""
    out = subprocess.run([E["EJD_CTL"], "connected_users_info"], capture_output=True,
                         text=True, timeout=60).stdout
    seen = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) >= 4:
            seen[f[0]] = (f[1], f[2].removeprefix("::ffff:"))
    return seen


def metrics():
    text = urllib.request.urlopen(f"http://{E['METRICS']}/metrics", timeout=10).read().decode()
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " in line:
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def label(key, name):
    m = re.search(name + r'="([^"]*)"', key)
    return m.group(1) if m else "?"


def fmt(v):
    return f"{int(v)}" if v == int(v) else f"{v:.1f}"


async def main():
    t0 = time.monotonic()
    ok = True
    edge, edge_tls, ejd = addr("EDGE_STARTTLS"), addr("EDGE_DIRECT_TLS"), addr("EJD_STARTTLS")
    members = [
        Member("juliet", "balcony", "edge STARTTLS", edge, "127.0.0.2"),
        Member("romeo", "garden", "edge STARTTLS", edge, "127.0.0.3"),
        Member("romeo", "phone", "edge direct TLS", edge_tls, "127.0.0.4", direct=True),
        Member("nurse", "chamber", "edge STARTTLS", edge, "127.0.0.5"),
        Member("mercutio", "street", "ejabberd's own STARTTLS (our fast_tls)", ejd, "127.0.0.6"),
    ]
    juliet = members[0]
    await asyncio.gather(*(m.login() for m in members))
    await asyncio.sleep(1)  # their presences reach the component (XEP-0356)
    seen = ejabberd_sessions()
    print("logins (client address -> path, TLS -> what ejabberd's `connected_users_info` shows; SASL):")
    width = max(len(str(m.boundjid)) for m in members)
    for m in members:
        conn, ip = seen.get(str(m.boundjid), ("-", "-"))
        via = " -> PROXY v2" if m.path.startswith("edge") else ""
        print(f"  {str(m.boundjid):{width}}  {m.source_ip} -> {m.path}, {m.tls}{via} -> "
              f"ejabberd {conn} from {ip}; {m.sasl}")
        if ip != m.source_ip:
            print(f"  ^ FAILED: ejabberd should see {m.source_ip}")
            ok = False

    # ------------------------------------------------------------ the room
    others = ["romeo", "nurse", "mercutio"]
    q = C.el(f"{{{C.NS_ML}#create}}query", children=[
        C.el(f"{{{C.NS_ML}#create}}configuration",
             children=[C.el(f"{{{C.NS_ML}#create}}roomname", text="Verona")]),
        C.el(f"{{{C.NS_ML}#create}}occupants",
             children=C.users(*((f"{u}@{DOMAIN}", "member") for u in others), ns=C.NS_ML + "#create"))])
    _, err = await juliet.iq(ROOM, "set", None, raw=q)
    C.check(err is None, f"create: {err}")
    await asyncio.sleep(0.5)
    for m in members:
        m.take()
    print(f"room: {ROOM} (MUC Light), created by juliet with {', '.join(others)}: "
          f"4 members, {len(members)} online resources")

    lines, source = bodies()
    senders = [m for m in members if m.boundjid.resource != "phone"]
    t1 = time.monotonic()
    for i, body in enumerate(lines):
        senders[i % len(senders)].send_message(mto=ROOM, mbody=body, mtype="groupchat")
        if i % 10 == 9:
            await asyncio.sleep(0.02)
    want = set(lines)
    isbody = lambda x: x.get("type") == "groupchat" and x.findtext("{jabber:client}body")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(sum(1 for x in m.inbox if isbody(x)) >= len(lines) for m in members):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    elapsed = time.monotonic() - t1
    print(f"messages: {len(lines)} posted round robin by juliet, romeo, nurse, mercutio: {source}")
    counts = []
    for m in members:
        got = [" ".join(x.findtext("{jabber:client}body").split()) for x in m.take(isbody)]
        once = len(got) == len(set(got)) and set(got) == want
        counts.append(f"{m.boundjid.user}/{m.boundjid.resource} {len(got)}")
        if not once:
            ok = False
            print(f"  FAILED: {m.boundjid} got {len(got)} ({len(set(got))} distinct) of {len(lines)}")
    print(f"  delivered to each resource, each message once: {', '.join(counts)} "
          f"({len(lines) * len(members)} copies in {elapsed:.1f} s)")

    # ------------------------------------------------------------ search
    print("full-text search (MAM, urn:xmpp:mam:2 with the `fulltext` field) over the room archive, by romeo:")
    romeo = members[1]
    for words in SEARCHES:
        page, err = await romeo.mam(to=ROOM, fields=[("fulltext", words)], rsm={"max": 3})
        if err:
            print(f"  {words!r}: FAILED: {err}")
            ok = False
            continue
        expect = sum(1 for b in lines if all(re.search(rf"\b{w}\b", b, re.I) for w in words.split()))
        line = f"  {words!r}: {page['count']} hits"
        if page["count"] != expect:
            line += f" (FAILED: {expect} bodies hold every word)"
            ok = False
        if page["results"]:
            _, frm, body = page["results"][0]
            short = body if len(body) <= 60 else body[:57] + "..."
            line += f"; first: {frm.split('/', 1)[-1].split('@')[0]}: \"{short}\""
        print(line)

    await asyncio.gather(*(m.logout() for m in members), return_exceptions=True)
    await asyncio.sleep(0.3)

    # ------------------------------------------------------------ metrics
    v = metrics()
    print(f"sidecar metrics (http://{E['METRICS']}/metrics, a selection):")
    for lst in ("edge_starttls", "edge_direct_tls"):
        g = lambda name: fmt(v.get(f'{name}{{listener="{lst}"}}', 0))
        print(f"  {lst}: edge_connections_total {g('edge_connections_total')}, "
              f"xmpp_element_in_count {g('xmpp_element_in_count')}, "
              f"xmpp_element_out_message_count {g('xmpp_element_out_message_count')}, "
              f"tls_data_in_byte_size {g('tls_data_in_byte_size')}, "
              f"tls_data_out_byte_size {g('tls_data_out_byte_size')}")
    hs = ", ".join(f"{label(k, 'listener')} {label(k, 'version')} {fmt(x)}"
                   for k, x in sorted(v.items()) if k.startswith("edge_tls_handshakes_total{"))
    errs = sum(x for k, x in v.items() if k.startswith("edge_stream_errors_total"))
    print(f"  edge_tls_handshakes_total: {hs or 0}; edge_stream_errors_total {fmt(errs)}")
    c = lambda name: fmt(v.get(name, 0))
    n, s = v.get("component_fanout_size_count", 0), v.get("component_fanout_size_sum", 0)
    print(f"  component: component_rooms {c('component_rooms')}, component_members {c('component_members')}, "
          f"component_broadcasts_total {c('component_broadcasts_total')}, "
          f"component_fanout_size mean {s / n if n else 0:.1f}, "
          f"component_archive_writes_total {c('component_archive_writes_total')}, "
          f"component_index_lag {c('component_index_lag')}")
    print(f"clients done in {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    sys.exit(asyncio.run(main()))

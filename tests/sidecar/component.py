#!/usr/bin/env python3
"""The sidecar's MUC Light component on a running ejabberd, with slixmpp
clients (no MUC Light plugin exists: stanzas are built here). Driven by
tests/sidecar_component.sh:

  main           alice, bob (resources phone and pc), carol and dave log in;
                 disco; alice creates a room with bob; everyone talks: each
                 member's resource gets each message exactly once, copies
                 identical except `to`, each with an XEP-0359 stanza-id;
                 affiliation changes (newcomer, staying, leaver each get
                 their notification), configuration changes, blocking;
                 MAM paging (forward, backward, index, flip-page) and full
                 text under every field name; bad input gets error stanzas;
                 metrics.
  after-restart  the sidecar was restarted with its index removed: the
                 archive is still there and found by full-text search.
  multicast      the sidecar sends room stanzas through the server's
                 XEP-0033 service (ejabberd's mod_multicast), in chunks of
                 2 addresses: each of 4 resources gets each message exactly
                 once, from room/sender, groupchat, body, stanza-id, no
                 <addresses/>, copies identical but `to`.

One line per step (`ok: ...` / `FAILED: ...`), then `N passed, M failed`;
exit code 1 on any failure. Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN,
XMPP_MUCLIGHT, XMPP_CAFILE, XMPP_PASS_A/B/C/D, METRICS (host:port).
"""

import asyncio
import logging
import os
import sys
import urllib.request
import uuid
from pathlib import Path

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HOST = os.environ.get("XMPP_HOST", "127.0.0.1")
PORT = int(os.environ.get("XMPP_PORT", "16000"))
DOMAIN = os.environ.get("XMPP_DOMAIN", "localhost")
MUC = os.environ.get("XMPP_MUCLIGHT", "muclight." + DOMAIN)
CAFILE = os.environ.get("XMPP_CAFILE")
METRICS = os.environ.get("METRICS")
T = float(os.environ.get("XMPP_STEP_TIMEOUT", "20"))

NS_ML = "urn:xmpp:muclight:0"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_X = "jabber:x:data"
NS_SID = "urn:xmpp:sid:0"
NS_ST = "urn:ietf:params:xml:ns:xmpp-stanzas"
FT_FIELDS = ["{urn:xmpp:fulltext:0}fulltext", "full-text-search", "fulltext", "withtext"]
ROOM = f"coven@{MUC}"
ALICE, BOB, CAROL, DAVE = (f"{u}@{DOMAIN}" for u in ("alice", "bob", "carol", "dave"))


class StepFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise StepFailed(what)


class Client(ClientXMPP):
    def __init__(self, user, password, resource="e2e"):
        super().__init__(f"{user}@{DOMAIN}/{resource}", password)
        self.register_plugin("xep_0030")
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.ca_certs = Path(CAFILE) if CAFILE else None
        self.inbox = []  # every <message/> from the component, as received
        self.results = {}
        self.register_handler(Callback(
            "component-messages", MatchXPath("{jabber:client}message"), self._on_message))

    def _on_message(self, msg):
        x = msg.xml
        frm = x.get("from") or ""
        if not frm.split("/")[0].endswith(MUC):
            return
        res = x.find(f"{{{NS_MAM}}}result")
        if res is not None:
            fwd = res.find("{urn:xmpp:forward:0}forwarded")
            m = fwd.find("{jabber:client}message")
            self.results.setdefault(res.get("queryid"), []).append(
                (res.get("id"), m.get("from"), m.findtext("{jabber:client}body") or ""))
            return
        self.inbox.append(x)

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
        result = await asyncio.wait_for(done, T)
        check(result == "ok", result)
        self.send_presence()

    async def logout(self):
        gone = asyncio.get_running_loop().create_future()
        self.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
        self.disconnect(wait=2.0)
        await asyncio.wait_for(gone, T)

    def take(self, pred=lambda x: True):
        got = [x for x in self.inbox if pred(x)]
        self.inbox = [x for x in self.inbox if not pred(x)]
        return got

    async def iq(self, to, ty, ns, children=(), raw=None):
        """An IQ to the component: (result element or None, error condition or None)."""
        iq = self.make_iq_set(ito=to) if ty == "set" else self.make_iq_get(ito=to)
        if raw is not None:
            iq.xml.append(raw)
        else:
            q = ET.Element(f"{{{ns}}}query")
            for c in children:
                q.append(c)
            iq.xml.append(q)
        try:
            resp = await iq.send(timeout=T)
            return resp.xml, None
        except IqError as e:
            return e.iq.xml, e.iq["error"]["condition"]

    async def mam(self, to=ROOM, fields=(), rsm=None, flip=False):
        qid = uuid.uuid4().hex
        q = ET.Element(f"{{{NS_MAM}}}query", {"queryid": qid})
        x = ET.SubElement(q, f"{{{NS_X}}}x", {"type": "submit"})
        f = ET.SubElement(x, f"{{{NS_X}}}field", {"var": "FORM_TYPE", "type": "hidden"})
        ET.SubElement(f, f"{{{NS_X}}}value").text = NS_MAM
        for var, values in fields:
            f = ET.SubElement(x, f"{{{NS_X}}}field", {"var": var})
            for v in (values if isinstance(values, list) else [values]):
                ET.SubElement(f, f"{{{NS_X}}}value").text = v
        if rsm:
            s = ET.SubElement(q, f"{{{NS_RSM}}}set")
            for k in ("max", "after", "before", "index"):
                if k in rsm:
                    ET.SubElement(s, f"{{{NS_RSM}}}{k}").text = str(rsm[k]) if rsm[k] != "" else None
        if flip:
            ET.SubElement(q, f"{{{NS_MAM}}}flip-page")
        resp, err = await self.iq(to, "set", None, raw=q)
        if err:
            return None, err
        await asyncio.sleep(0)  # results came before the IQ result, on the same stream
        fin = resp.find(f"{{{NS_MAM}}}fin")
        s = fin.find(f"{{{NS_RSM}}}set")
        count = s.findtext(f"{{{NS_RSM}}}count")
        first = s.find(f"{{{NS_RSM}}}first")
        return {"results": self.results.pop(qid, []),
                "complete": fin.get("complete") in ("true", "1"),
                "count": int(count) if count is not None else None,
                "first": first.text if first is not None else None,
                "index": int(first.get("index")) if first is not None and first.get("index") else None,
                "last": s.findtext(f"{{{NS_RSM}}}last")}, None


def el(tag, attrs=None, text=None, children=()):
    e = ET.Element(tag, attrs or {})
    if text is not None:
        e.text = text
    for c in children:
        e.append(c)
    return e


def users(*pairs, ns=NS_ML + "#affiliations"):
    return [el(f"{{{ns}}}user", {"affiliation": a}, u) for u, a in pairs]


def without_to(x):
    y = ET.fromstring(ET.tostring(x))
    y.attrib.pop("to", None)
    return ET.tostring(y)


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    async def step(self, name, fn):
        try:
            detail = await asyncio.wait_for(fn(), T * 5)
            print(f"ok: {name}{': ' + detail if isinstance(detail, str) else ''}", flush=True)
            self.passed += 1
        except asyncio.TimeoutError:
            print(f"FAILED: {name}: timeout", flush=True)
            self.failed += 1
        except StepFailed as e:
            print(f"FAILED: {name}: {e}", flush=True)
            self.failed += 1

    async def settle(self, clients, pred, want, what):
        """Waits until each client holds `want[client]` stanzas matching pred."""
        for _ in range(int(T * 10)):
            if all(sum(1 for x in c.inbox if pred(x)) >= want.get(c, 0) for c in clients):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # and no more than that
        got = {c: c.take(pred) for c in clients}
        for c in clients:
            check(len(got[c]) == want.get(c, 0),
                  f"{what}: {c.boundjid} got {len(got[c])}, expected {want.get(c, 0)}")
        return got

    # ------------------------------------------------------------ main
    async def main(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        bp = Client("bob", os.environ["XMPP_PASS_B"], "phone")
        bc = Client("bob", os.environ["XMPP_PASS_B"], "pc")
        c = Client("carol", os.environ["XMPP_PASS_C"])
        d = Client("dave", os.environ["XMPP_PASS_D"])
        everyone = [a, bp, bc, c, d]
        await self.step("five sessions log in", lambda: asyncio.gather(*(x.login() for x in everyone)))
        await asyncio.sleep(1)  # their presences reach the component (XEP-0356)

        async def disco():
            r, err = await a.iq(MUC, "get", "http://jabber.org/protocol/disco#info")
            check(err is None, f"disco#info: {err}")
            feats = {f.get("var") for f in r.iter("{http://jabber.org/protocol/disco#info}feature")}
            for f in (NS_ML, NS_MAM, "urn:xmpp:fulltext:0"):
                check(f in feats, f"feature {f} missing: {feats}")
        await self.step("disco#info: muclight, mam:2, fulltext features", disco)

        async def create():
            q = el(f"{{{NS_ML}#create}}query", children=[
                el(f"{{{NS_ML}#create}}configuration",
                   children=[el(f"{{{NS_ML}#create}}roomname", text="Coven")]),
                el(f"{{{NS_ML}#create}}occupants",
                   children=users((BOB, "member"), ns=NS_ML + "#create"))])
            r, err = await a.iq(ROOM, "set", None, raw=q)
            check(err is None, f"create: {err}")
            aff = lambda x: x.find(f"{{{NS_ML}#affiliations}}x") is not None
            got = await self.settle(everyone, aff, {a: 1, bp: 1, bc: 1}, "create notification")
            for cl in (a, bp, bc):
                x = got[cl][0]
                check(x.get("from") == ROOM and x.get("type") == "groupchat", ET.tostring(x))
                check(x.get("to") == str(cl.boundjid), f"to {x.get('to')} for {cl.boundjid}")
        await self.step("create a room with a member: owner and both of bob's resources notified", create)

        sent = []

        async def talk():
            for i, (who, body) in enumerate([(a, "hello witches apple"), (bp, "banana from the phone"),
                                             (a, "cherry pie tonight"), (bc, "delta force from the pc"),
                                             (a, "echo echo apple")]):
                mid = f"m{i}-{uuid.uuid4().hex[:6]}"
                who.send_message(mto=ROOM, mbody=body, mtype="groupchat")
                # slixmpp gives an id; find it back by body
                sent.append((body, who))
                await asyncio.sleep(0.05)
            isbody = lambda x: x.findtext("{jabber:client}body")
            got = await self.settle(everyone, lambda x: bool(isbody(x)),
                                    {a: 5, bp: 5, bc: 5}, "room messages")
            for i, (body, who) in enumerate(sent):
                copies = [next(x for x in got[cl] if isbody(x) == body) for cl in (a, bp, bc)]
                for cl in (a, bp, bc):
                    check(sum(1 for x in got[cl] if isbody(x) == body) == 1,
                          f"{cl.boundjid} got {body!r} more than once")
                check(len({without_to(x) for x in copies}) == 1,
                      f"copies differ beyond `to`: {[ET.tostring(x) for x in copies]}")
                x = copies[0]
                check(x.get("from") == f"{ROOM}/{who.boundjid.bare}", f"from {x.get('from')}")
                sid = x.find(f"{{{NS_SID}}}stanza-id")
                check(sid is not None and sid.get("by") == ROOM and sid.get("id"), "no stanza-id")
            return "5 messages, 3 resources, once each, identical but `to`, stanza-id on each"
        await self.step("talk: every member's resource gets each message exactly once", talk)

        async def affiliations():
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users((CAROL, "member")))
            check(err is None, f"add carol: {err}")
            aff = lambda x: x.find(f"{{{NS_ML}#affiliations}}x") is not None
            got = await self.settle(everyone, aff, {a: 1, bp: 1, bc: 1, c: 1}, "carol added")
            xc = got[c][0].find(f"{{{NS_ML}#affiliations}}x")
            check(xc.find(f"{{{NS_ML}#affiliations}}prev-version") is None,
                  "the newcomer gets no prev-version")
            check(xc.findtext(f"{{{NS_ML}#affiliations}}version"), "the newcomer gets the version")
            xa = got[a][0].find(f"{{{NS_ML}#affiliations}}x")
            check(xa.findtext(f"{{{NS_ML}#affiliations}}prev-version"), "staying members get prev-version")
            us = [(u.text, u.get("affiliation")) for u in xa.findall(f"{{{NS_ML}#affiliations}}user")]
            check(us == [(CAROL, "member")], f"staying members see {us}")
            # get affiliations
            r, err = await c.iq(ROOM, "get", NS_ML + "#affiliations")
            check(err is None, f"get affiliations: {err}")
            us = {u.text: u.get("affiliation") for u in r.iter(f"{{{NS_ML}#affiliations}}user")}
            check(us == {ALICE: "owner", BOB: "member", CAROL: "member"}, f"affiliations {us}")
            # bob leaves (the owner removes him)
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users((BOB, "none")))
            check(err is None, f"remove bob: {err}")
            got = await self.settle(everyone, aff, {a: 1, bp: 1, bc: 1, c: 1}, "bob removed")
            xb = got[bp][0].find(f"{{{NS_ML}#affiliations}}x")
            us = [(u.text, u.get("affiliation")) for u in xb.findall(f"{{{NS_ML}#affiliations}}user")]
            check(us == [(BOB, "none")], f"the leaver sees {us}")
            check(xb.find(f"{{{NS_ML}#affiliations}}version") is None, "the leaver gets no version")
            # bob may no longer talk
            bp.send_message(mto=ROOM, mbody="let me in", mtype="groupchat")
            errs = await self.settle([bp], lambda x: x.get("type") == "error", {bp: 1}, "bob's error")
            check(errs[bp][0].find(f"{{jabber:client}}error/{{{NS_ST}}}item-not-found") is not None,
                  ET.tostring(errs[bp][0]))
            # and bob added back
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users((BOB, "member")))
            check(err is None, f"add bob again: {err}")
            await self.settle(everyone, aff, {a: 1, bp: 1, bc: 1, c: 1}, "bob back")
        await self.step("affiliations: newcomer, staying members and leaver each get theirs", affiliations)

        async def configuration():
            cfg = lambda x: x.find(f"{{{NS_ML}#configuration}}x") is not None
            r, err = await a.iq(ROOM, "set", NS_ML + "#configuration",
                                [el(f"{{{NS_ML}#configuration}}roomname", text="The Coven")])
            check(err is None, f"set config: {err}")
            got = await self.settle(everyone, cfg, {a: 1, bp: 1, bc: 1, c: 1}, "config change")
            x = got[c][0].find(f"{{{NS_ML}#configuration}}x")
            check(x.findtext(f"{{{NS_ML}#configuration}}roomname") == "The Coven", ET.tostring(x))
            check(x.findtext(f"{{{NS_ML}#configuration}}prev-version"), "no prev-version")
            r, err = await c.iq(ROOM, "set", NS_ML + "#configuration",
                                [el(f"{{{NS_ML}#configuration}}roomname", text="Mine")])
            check(err == "not-allowed", f"a member renaming: {err}")
            r, err = await c.iq(ROOM, "set", NS_ML + "#configuration",
                                [el(f"{{{NS_ML}#configuration}}subject", text="potions")])
            check(err is None, f"a member setting the subject: {err}")
            await self.settle(everyone, cfg, {a: 1, bp: 1, bc: 1, c: 1}, "subject change")
            r, err = await d.iq(ROOM, "get", NS_ML + "#configuration")
            check(err == "item-not-found", f"a non-member reading the config: {err}")
            r, err = await a.iq(ROOM, "get", NS_ML + "#info")
            check(err is None, f"info: {err}")
            check(r.findtext(f".//{{{NS_ML}#info}}roomname") == "The Coven", ET.tostring(r))
        await self.step("configuration: owner renames, member may set only the subject", configuration)

        async def items():
            r, err = await c.iq(MUC, "get", "http://jabber.org/protocol/disco#items")
            check(err is None, f"disco#items: {err}")
            rooms = [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
            check(rooms == [ROOM], f"carol's rooms {rooms}")
        await self.step("disco#items lists the user's rooms", items)

        async def blocking():
            ns = NS_ML + "#blocking"
            r, err = await d.iq(MUC, "set", ns, [el(f"{{{ns}}}user", {"action": "deny"}, ALICE)])
            check(err is None, f"block: {err}")
            r, err = await d.iq(MUC, "get", ns)
            check(err is None, f"get blocking: {err}")
            got = [(i.tag.split("}")[1], i.get("action"), i.text) for i in r.find(f"{{{ns}}}query")]
            check(got == [("user", "deny", ALICE)], f"blocking list {got}")
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users((DAVE, "member")))
            check(err is None, f"add dave: {err}")
            await asyncio.sleep(0.5)
            r, err = await a.iq(ROOM, "get", NS_ML + "#affiliations")
            us = {u.text for u in r.iter(f"{{{NS_ML}#affiliations}}user")}
            check(DAVE not in us, "dave blocked alice but was added")
            for cl in everyone:
                cl.take()
            r, err = await d.iq(MUC, "set", ns, [el(f"{{{ns}}}user", {"action": "allow"}, ALICE)])
            check(err is None, f"unblock: {err}")
            r, err = await d.iq(MUC, "get", ns)
            check(len(list(r.find(f"{{{ns}}}query"))) == 0, "blocking list not empty after allow")
        await self.step("blocking: a blocked owner cannot add; unblock empties the list", blocking)

        async def archive_all():
            page, err = await a.mam(rsm={"max": 50})
            check(err is None, f"MAM: {err}")
            check(page["complete"], "all in one page but not complete")
            bodies = [b for _, _, b in page["results"] if b]
            check(bodies == [b for b, _ in sent], f"bodies {bodies}")
            check(page["count"] == len(page["results"]), f"count {page['count']} vs {len(page['results'])}")
            return f"{page['count']} archived stanzas (messages and notifications)"
        await self.step("MAM: the whole room archive in order", archive_all)

        async def paging():
            full, _ = await a.mam(rsm={"max": 50})
            ids = [i for i, _, _ in full["results"]]
            n = len(ids)
            # forward with after
            seen, after = [], None
            while True:
                rsm = {"max": 2}
                if after:
                    rsm["after"] = after
                p, err = await a.mam(rsm=rsm)
                check(err is None, f"page: {err}")
                seen += [i for i, _, _ in p["results"]]
                if p["complete"]:
                    break
                after = p["last"]
                check(len(seen) <= n, "forward paging does not end")
            check(seen == ids, "forward pages differ from the whole")
            # backward with before
            seen, before = [], ""
            while True:
                p, err = await a.mam(rsm={"max": 3, "before": before})
                check(err is None, f"page: {err}")
                seen = [i for i, _, _ in p["results"]] + seen
                if p["complete"]:
                    break
                before = p["first"]
                check(len(seen) <= n, "backward paging does not end")
            check(seen == ids, "backward pages differ from the whole")
            # index
            p, _ = await a.mam(rsm={"max": 2, "index": 1})
            check([i for i, _, _ in p["results"]] == ids[1:3] and p["index"] == 1, f"index page {p}")
            # flip-page: last page, newest first
            p, _ = await a.mam(rsm={"max": 2, "before": ""}, flip=True)
            check([i for i, _, _ in p["results"]] == ids[-2:][::-1], "flip-page order")
            # after-id / before-id / ids / with / start-end
            p, _ = await a.mam(fields=[("after-id", ids[0]), ("before-id", ids[3])])
            check([i for i, _, _ in p["results"]] == ids[1:3], "after-id/before-id")
            p, _ = await a.mam(fields=[("ids", [ids[4], ids[1]])])
            check(sorted(i for i, _, _ in p["results"]) == sorted([ids[1], ids[4]]), "ids")
            p, _ = await a.mam(fields=[("with", BOB)])
            check({f for _, f, _ in p["results"]} == {f"{ROOM}/{BOB}"} and len(p["results"]) == 2,
                  f"with bob: {p['results']}")
            p, _ = await a.mam(fields=[("start", "2000-01-01T00:00:00Z"), ("end", "2001-01-01T00:00:00Z")])
            check(p["results"] == [] and p["complete"], "start/end in the past")
            return f"{n} stanzas: forward by 2, backward by 3, index, flip-page, ids, with, start/end"
        await self.step("MAM paging (RSM and XEP-0313 filters)", paging)

        async def fulltext():
            for f in FT_FIELDS:
                p, err = await a.mam(fields=[(f, "apple")])
                check(err is None, f"{f}: {err}")
                bodies = [b for _, _, b in p["results"]]
                check(bodies == ["hello witches apple", "echo echo apple"], f"{f}: {bodies}")
            p, _ = await a.mam(fields=[("full-text-search", "APPLE hello")])
            check([b for _, _, b in p["results"]] == ["hello witches apple"], "two words, case")
            p, _ = await a.mam(fields=[("fulltext", "apple"), ("with", BOB)])
            check(p["results"] == [], "text and with")
            p, _ = await a.mam(fields=[("withtext", "apple")], rsm={"max": 1})
            check(len(p["results"]) == 1 and not p["complete"] and p["count"] == 2, f"text paging {p}")
        await self.step("MAM full text under every field name", fulltext)

        async def bad_input():
            r, err = await a.iq(f"nosuch@{MUC}", "get", NS_ML + "#configuration")
            check(err == "item-not-found", f"unknown room: {err}")
            r, err = await a.iq(ROOM, "get", "urn:example:nothing")
            check(err in ("feature-not-implemented", "bad-request", "service-unavailable"),
                  f"unknown namespace: {err}")
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users(("not a jid@@", "member")))
            check(err == "bad-request", f"invalid JID: {err}")
            r, err = await a.iq(ROOM, "set", NS_ML + "#affiliations", users((CAROL, "emperor")))
            check(err == "bad-request", f"bad affiliation: {err}")
            p, err = await a.mam(fields=[("colour", "red")])
            check(err == "bad-request", f"unknown MAM field: {err}")
            p, err = await a.mam(fields=[("start", "yesterday")])
            check(err == "bad-request", f"bad date: {err}")
            p, err = await d.mam()
            check(err == "not-allowed", f"MAM of a non-member: {err}")
            a.send_message(mto=ROOM, mbody="x" * 5000, mtype="groupchat")
            errs = await self.settle([a], lambda x: x.get("type") == "error", {a: 1}, "oversized")
            check(errs[a][0].find(f"{{jabber:client}}error/{{{NS_ST}}}not-acceptable") is not None,
                  ET.tostring(errs[a][0])[:300])
            a.send_message(mto=f"nosuch@{MUC}", mbody="anyone?", mtype="groupchat")
            errs = await self.settle([a], lambda x: x.get("type") == "error", {a: 1}, "unknown room")
            a.send_message(mto=ROOM, mbody="chat, not groupchat", mtype="chat")
            errs = await self.settle([a], lambda x: x.get("type") == "error", {a: 1}, "chat type")
            check(errs[a][0].find(f"{{jabber:client}}error/{{{NS_ST}}}bad-request") is not None,
                  ET.tostring(errs[a][0]))
            # still alive and talking
            for cl in everyone:
                cl.take()
            a.send_message(mto=ROOM, mbody="still here foxtrot", mtype="groupchat")
            await self.settle(everyone, lambda x: x.findtext("{jabber:client}body") == "still here foxtrot",
                              {a: 1, bp: 1, bc: 1, c: 1}, "after bad input")
        await self.step("bad input gets error stanzas; the room goes on", bad_input)

        async def logout_one_resource():
            await bp.logout()
            await asyncio.sleep(0.5)
            for cl in everyone:
                cl.take()
            for body in ("hotel one resource left", "india still one"):
                a.send_message(mto=ROOM, mbody=body, mtype="groupchat")
                await self.settle([a, bc, c], lambda x, b=body: x.findtext("{jabber:client}body") == b,
                                  {a: 1, bc: 1, c: 1}, f"after bob/phone left: {body}")
            bp.inbox.clear()
        await self.step("a resource logs out: the others still get each message once", logout_one_resource)
        everyone.remove(bp)

        async def metrics():
            text = urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=5).read().decode()
            vals = {}
            for line in text.splitlines():
                if line.startswith("component_") and " " in line:
                    k, v = line.rsplit(" ", 1)
                    vals[k] = float(v)
            check(vals.get("component_rooms") == 1, f"rooms {vals.get('component_rooms')}")
            check(vals.get("component_members") == 3, f"members {vals.get('component_members')}")
            check(vals.get("component_broadcasts_total", 0) >= 10, f"broadcasts {vals}")
            check(vals.get("component_archive_writes_total", 0) >= 6, f"archive writes {vals}")
            check("component_fanout_size_count" in vals, "no fan-out histogram")
            check("component_index_lag" in vals, "no index lag")
        await self.step("metrics: rooms, members, broadcasts, fan-out, archive, index lag", metrics)

        async def destroy():
            r, err = await a.iq(f"doomed@{MUC}", "set", None, raw=el(f"{{{NS_ML}#create}}query", children=[
                el(f"{{{NS_ML}#create}}occupants", children=users((CAROL, "member"), ns=NS_ML + "#create"))]))
            check(err is None, f"create doomed: {err}")
            await asyncio.sleep(0.5)
            for cl in everyone:
                cl.take()
            r, err = await c.iq(f"doomed@{MUC}", "set", NS_ML + "#destroy")
            check(err == "not-allowed", f"a member destroying: {err}")
            r, err = await a.iq(f"doomed@{MUC}", "set", NS_ML + "#destroy")
            check(err is None, f"destroy: {err}")
            gone = lambda x: x.find(f"{{{NS_ML}#destroy}}x") is not None
            await self.settle(everyone, gone, {a: 1, c: 1}, "destroy notification")
            r, err = await a.iq(f"doomed@{MUC}", "get", NS_ML + "#info")
            check(err == "item-not-found", f"destroyed room: {err}")
        await self.step("destroy: members notified, the room is gone", destroy)

        await asyncio.gather(*(x.logout() for x in everyone), return_exceptions=True)

    # ------------------------------------------------------------ after restart
    async def after_restart(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("alice logs in again", a.login)

        async def archive():
            p, err = await a.mam(fields=[("fulltext", "apple")])
            check(err is None, f"MAM: {err}")
            check([b for _, _, b in p["results"]] == ["hello witches apple", "echo echo apple"],
                  f"after restart: {p['results']}")
            p, _ = await a.mam(fields=[("fulltext", "foxtrot")])
            check(len(p["results"]) == 1, "the last message before the restart")
        await self.step("after a restart with the index removed: rebuilt, full text finds the archive",
                        archive)

        async def talk():
            a.send_message(mto=ROOM, mbody="golf after restart", mtype="groupchat")
            await self.settle([a], lambda x: x.findtext("{jabber:client}body") == "golf after restart",
                              {a: 1}, "echo after restart")
            p, _ = await a.mam(fields=[("fulltext", "golf")])
            check(len(p["results"]) == 1, "new message searchable")
        await self.step("the room talks on after the restart", talk)
        await a.logout()


    # ------------------------------------------------------------ multicast
    async def multicast(self):
        a = Client("alice", os.environ["XMPP_PASS_A"], "mc")
        bp = Client("bob", os.environ["XMPP_PASS_B"], "phone")
        bc = Client("bob", os.environ["XMPP_PASS_B"], "pc")
        c = Client("carol", os.environ["XMPP_PASS_C"], "mc")
        d = Client("dave", os.environ["XMPP_PASS_D"], "mc")
        everyone = [a, bp, bc, c, d]
        members = [a, bp, bc, c]
        room = f"multi@{MUC}"
        await self.step("multicast: five sessions log in",
                        lambda: asyncio.gather(*(x.login() for x in everyone)))
        await asyncio.sleep(1)

        async def create():
            q = el(f"{{{NS_ML}#create}}query", children=[
                el(f"{{{NS_ML}#create}}occupants",
                   children=users((BOB, "member"), (CAROL, "member"), ns=NS_ML + "#create"))])
            r, err = await a.iq(room, "set", None, raw=q)
            check(err is None, f"create: {err}")
            aff = lambda x: x.find(f"{{{NS_ML}#affiliations}}x") is not None
            got = await self.settle(everyone, aff, {m: 1 for m in members}, "create notification")
            for m in members:
                x = got[m][0]
                check(x.get("from") == room and x.get("to") == str(m.boundjid), ET.tostring(x))
        await self.step("multicast: create notification reaches each member's resource once", create)

        async def talk():
            sent = [(a, "multicast alpha"), (bp, "multicast bravo"), (c, "multicast charlie")]
            for who, body in sent:
                who.send_message(mto=room, mbody=body, mtype="groupchat")
                await asyncio.sleep(0.05)
            isbody = lambda x: (x.findtext("{jabber:client}body") or "").startswith("multicast ")
            got = await self.settle(everyone, isbody, {m: 3 for m in members}, "room messages")
            for who, body in sent:
                copies = []
                for m in members:
                    mine = [x for x in got[m] if x.findtext("{jabber:client}body") == body]
                    check(len(mine) == 1, f"{m.boundjid} got {body!r} {len(mine)} times")
                    x = mine[0]
                    check(x.get("to") == str(m.boundjid), f"to {x.get('to')} for {m.boundjid}")
                    check(x.get("from") == f"{room}/{who.boundjid.bare}", f"from {x.get('from')}")
                    check(x.get("type") == "groupchat", f"type {x.get('type')}")
                    check(x.find("{http://jabber.org/protocol/address}addresses") is None,
                          f"an <addresses/> was left: {ET.tostring(x)}")
                    sid = x.find(f"{{{NS_SID}}}stanza-id")
                    check(sid is not None and sid.get("by") == room and sid.get("id"), "no stanza-id")
                    copies.append(x)
                check(len({without_to(x) for x in copies}) == 1,
                      f"copies differ beyond `to`: {[ET.tostring(x) for x in copies]}")
            p, err = await a.mam(to=room, fields=[("fulltext", "bravo")])
            check(err is None and [r[2] for r in p["results"]] == ["multicast bravo"], f"MAM: {err} {p}")
            return "3 messages, 4 resources in chunks of 2, once each, no <addresses/>, searchable"
        await self.step("multicast: every member's resource gets each message exactly once", talk)
        await asyncio.gather(*(x.logout() for x in everyone), return_exceptions=True)

    # ------------------------------------------------------------ across a restart
    async def hold(self, ready_path):
        """carol logs in before the sidecar restarts and stays; she must
        get alice's message after the restart (the component stored her
        online resource)."""
        c = Client("carol", os.environ["XMPP_PASS_C"], "steady")
        await self.step("hold: carol logs in before the restart", c.login)
        await asyncio.sleep(1)
        Path(ready_path).write_text("ready\n")

        async def gets_it():
            body = "golf after restart"
            for _ in range(600):
                if any(x.findtext("{jabber:client}body") == body for x in c.inbox):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            n = sum(1 for x in c.inbox if x.findtext("{jabber:client}body") == body)
            check(n == 1, f"carol got the message {n} times")
        await self.step("a member online since before the restart still gets room messages", gets_it)
        await c.logout()

    # ------------------------------------------------------------ crash safety
    async def flood(self, out_path, seconds):
        """alice sends numbered messages until `seconds` pass (the sidecar is
        killed meanwhile); each body whose echo came back is written to
        out_path at once."""
        a = Client("alice", os.environ["XMPP_PASS_A"], "flood")
        await self.step("flood: alice logs in", a.login)
        echoed = 0
        with open(out_path, "w") as out:
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            i = 0
            while loop.time() < end:
                a.send_message(mto=ROOM, mbody=f"flood zulu{i:05d}", mtype="groupchat")
                i += 1
                await asyncio.sleep(0.02)
                for x in a.take(lambda x: (x.findtext("{jabber:client}body") or "").startswith("flood ")):
                    if x.get("type") == "groupchat":
                        out.write(x.findtext("{jabber:client}body") + "\n")
                        out.flush()
                        echoed += 1
        print(f"ok: flood: {i} sent, {echoed} echoed before and after the kill", flush=True)
        self.passed += 1
        try:
            await asyncio.wait_for(a.logout(), 5)
        except Exception:
            pass

    async def verify_crash(self, path):
        bodies = [line.strip() for line in open(path) if line.strip()]
        a = Client("alice", os.environ["XMPP_PASS_A"], "verify")
        await self.step("verify: alice logs in", a.login)

        async def every_echo_found():
            check(len(bodies) > 10, f"only {len(bodies)} echoed before the kill")
            missing = []
            for b in bodies:
                word = b.split()[1]
                p, err = await a.mam(fields=[("fulltext", word)])
                check(err is None, f"MAM: {err}")
                if [r[2] for r in p["results"]] != [b]:
                    missing.append(b)
            check(not missing, f"{len(missing)} echoed messages not found: {missing[:5]}")
            return f"{len(bodies)} echoed messages, each found once by full-text search"
        await self.step("kill -9 while messages flow: every echoed message is archived and searchable",
                        every_echo_found)
        await a.logout()


async def amain(phase):
    run = Run()
    if phase == "main":
        await run.main()
    elif phase == "flood":
        await run.flood(sys.argv[2], float(sys.argv[3]))
    elif phase == "hold":
        await run.hold(sys.argv[2])
    elif phase == "verify-crash":
        await run.verify_crash(sys.argv[2])
    elif phase == "multicast":
        await run.multicast()
    else:
        await run.after_restart()
    print(f"{run.passed} passed, {run.failed} failed", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    sys.exit(asyncio.run(amain(sys.argv[1] if len(sys.argv) > 1 else "main")))

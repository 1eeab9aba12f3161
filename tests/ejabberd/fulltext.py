#!/usr/bin/env python3
"""Full-text MAM search on a running ejabberd (mod_xmpp_accel_fulltext), with
slixmpp clients. Driven by tests/ejabberd_fulltext.sh, one phase per run:

  seed TAG N   alice, bob (resources phone and pc) and carol chat: N messages
               in all, both directions, bodies drawn from a small vocabulary
               (seeded by TAG); waits until every message was delivered, so
               alice's archive holds them all.
  check        alice fetches her whole archive with plain MAM queries (the
               archive as ejabberd's SQL has it), then asks full-text queries
               under each field name ({urn:xmpp:fulltext:0}fulltext, withtext,
               full-text-search) alone and combined with `with` (bare and full
               JID), a time range (start/end, both included) and RSM paging
               (forward with after, backward with before, max 1..4): every
               answer must be exactly what a naive filter of the fetched
               archive gives (all query words among the body's words), in MAM
               order, with RSM count, first/last and complete right. Also the
               disco feature, the form field, and the room archive of a MUC.
  errors       bad queries get MAM's error stanzas.

One line per step (`ok: ...` / `FAILED: ...`), then `N passed, M failed`;
exit code 1 on any failure. Environment as session.py (XMPP_HOST, XMPP_PORT,
XMPP_DOMAIN, XMPP_MUC, XMPP_CAFILE, XMPP_PASS_A/B/C, XMPP_EXPECT_COUNT: the
archive size check expects).
"""

import asyncio
import collections
import datetime
import logging
import os
import random
import re
import ssl
import sys
import uuid
from pathlib import Path

from slixmpp import ClientXMPP, JID
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HOST = os.environ.get("XMPP_HOST", "127.0.0.1")
PORT = int(os.environ.get("XMPP_PORT", "15222"))
DOMAIN = os.environ.get("XMPP_DOMAIN", "localhost")
MUC = os.environ.get("XMPP_MUC", "conference." + DOMAIN)
CAFILE = os.environ.get("XMPP_CAFILE")
STEP_TIMEOUT = float(os.environ.get("XMPP_STEP_TIMEOUT", "30"))
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_X = "jabber:x:data"
NS_FT = "urn:xmpp:fulltext:0"
FIELDS = ["{urn:xmpp:fulltext:0}fulltext", "withtext", "full-text-search"]
VOCAB = ["apple", "Banana", "cherry", "delta", "echo", "foxtrot", "golf", "hotel",
         "café", "straße", "Ünïcode", "kilo", "lima", "mike", "42"]
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"


class StepFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise StepFailed(what)


def words(text):
    """The naive reference: lower-cased runs of word characters."""
    return set(re.findall(r"\w+", text.lower()))


def stamp(usec):
    t = datetime.datetime.fromtimestamp(usec / 1e6, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Client(ClientXMPP):
    def __init__(self, user, password, resource="e2e"):
        super().__init__(f"{user}@{DOMAIN}/{resource}", password)
        for plugin in ("xep_0030", "xep_0045", "xep_0199"):
            self.register_plugin(plugin)
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        if CAFILE:
            self.ca_certs = Path(CAFILE)
        else:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        self.received = asyncio.Queue()
        self.results = {}
        self.add_event_handler("message", self._on_message)
        self.register_handler(Callback(
            "mam-result", MatchXPath(f"{{jabber:client}}message/{{{NS_MAM}}}result"),
            self._on_result))

    def _on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.received.put_nowait(msg["body"])

    def _on_result(self, msg):
        res = msg.xml.find(f"{{{NS_MAM}}}result")
        fwd = res.find("{urn:xmpp:forward:0}forwarded")
        m = fwd.find("{jabber:client}message")
        self.results.setdefault(res.get("queryid"), []).append(
            (res.get("id"), m.get("from"), m.get("to"), m.findtext("{jabber:client}body") or ""))

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
        result = await asyncio.wait_for(done, STEP_TIMEOUT)
        check(result == "ok", result)
        self.send_presence()

    async def logout(self):
        gone = asyncio.get_running_loop().create_future()
        self.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
        self.disconnect(wait=2.0)
        await asyncio.wait_for(gone, STEP_TIMEOUT)

    async def mam(self, fields=(), rsm=None, to=None, ns=NS_MAM, raw_fields=None, flip=False):
        """One MAM query: fields [(var, [values])], rsm {max, after, before,
        index}. Returns (results [(id, from, to, body)], fin element)."""
        qid = uuid.uuid4().hex
        iq = self.make_iq_set(ito=to)
        q = ET.Element(f"{{{ns}}}query", {"queryid": qid})
        x = ET.SubElement(q, f"{{{NS_X}}}x", {"type": "submit"})
        f = ET.SubElement(x, f"{{{NS_X}}}field", {"var": "FORM_TYPE", "type": "hidden"})
        ET.SubElement(f, f"{{{NS_X}}}value").text = ns
        for var, values in (raw_fields or []) + [(k, v if isinstance(v, list) else [v]) for k, v in fields]:
            f = ET.SubElement(x, f"{{{NS_X}}}field", {"var": var})
            for v in values:
                ET.SubElement(f, f"{{{NS_X}}}value").text = v
        if rsm:
            s = ET.SubElement(q, f"{{{NS_RSM}}}set")
            for k in ("max", "after", "before", "index"):
                if k in rsm:
                    ET.SubElement(s, f"{{{NS_RSM}}}{k}").text = str(rsm[k]) if rsm[k] != "" else None
        if flip:
            ET.SubElement(q, f"{{{ns}}}flip-page")
        iq.xml.append(q)
        resp = await iq.send(timeout=STEP_TIMEOUT)
        fin = resp.xml.find(f"{{{ns}}}fin")
        return self.results.pop(qid, []), fin


def fin_rsm(fin):
    s = fin.find(f"{{{NS_RSM}}}set")
    count = s.findtext(f"{{{NS_RSM}}}count")
    return {"complete": fin.get("complete") in ("true", "1"),
            "count": int(count) if count is not None else None,
            "first": s.findtext(f"{{{NS_RSM}}}first"),
            "last": s.findtext(f"{{{NS_RSM}}}last")}


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    async def step(self, name, coro_fn):
        try:
            detail = await asyncio.wait_for(coro_fn(), STEP_TIMEOUT * 10)
            detail = detail if isinstance(detail, str) else None
            print(f"ok: {name}{': ' + detail if detail else ''}", flush=True)
            self.passed += 1
        except asyncio.TimeoutError:
            print(f"FAILED: {name}: timeout", flush=True)
            self.failed += 1
        except (StepFailed, IqError) as e:
            if isinstance(e, IqError):
                e = f"IQ error {e.iq['error']['condition']}: {e.iq['error']['text']}"
            print(f"FAILED: {name}: {e}", flush=True)
            self.failed += 1

    # ------------------------------------------------------------ seed
    async def seed(self, tag, n):
        rnd = random.Random(tag)
        a = Client("alice", os.environ["XMPP_PASS_A"])
        phone = Client("bob", os.environ["XMPP_PASS_B"], "phone")
        pc = Client("bob", os.environ["XMPP_PASS_B"], "pc")
        c = Client("carol", os.environ["XMPP_PASS_C"])
        clients = [a, phone, pc, c]
        await self.step("seed: four sessions log in", lambda: asyncio.gather(*(x.login() for x in clients)))
        # bob's two resources must both be online before alice writes to bob's
        # bare JID (ejabberd then delivers to both, and to each once archived)
        sent = {id(x): [] for x in clients}

        async def send_all():
            for i in range(n):
                body = " ".join(rnd.choice(VOCAB) + rnd.choice(["", "", "", ",", "!"])
                                for _ in range(rnd.randint(2, 6))) + f" {tag}{i}"
                sender = rnd.choice([a, a, phone, pc, c])
                if i == 0:  # a body over the index's 64 KB: indexed cut, not dropped
                    body = "apple " + "x " * 36000 + f"{tag}{i}"
                if sender is a:
                    to, rcpt = rnd.choice([(BOB, [phone, pc]), (CAROL, [c])])
                else:
                    to, rcpt = ALICE, [a]
                sender.send_message(mto=to, mbody=body, mtype="chat")
                for r in rcpt:
                    sent[id(r)].append(body)
                await asyncio.sleep(0.005)
            # every recipient got every message: all of them are archived
            for r in clients:
                want = sorted(sent[id(r)])
                got = []
                while len(got) < len(want):
                    got.append(await r.received.get())
                check(sorted(got) == want, f"{r.boundjid} got {len(got)} messages, not the {len(want)} sent")
            return f"{n} messages ({tag})"

        await self.step("seed: chat among alice, bob/phone, bob/pc, carol", send_all)
        await self.step("seed: log out", lambda: asyncio.gather(*(x.logout() for x in clients)))

    # ------------------------------------------------------------ check
    async def archive(self, a, to=None):
        """The whole archive through plain MAM, 50 a page, oldest first."""
        out, after = [], None
        while True:
            rsm = {"max": 50} if after is None else {"max": 50, "after": after}
            res, fin = await a.mam(rsm=rsm, to=to)
            out += res
            r = fin_rsm(fin)
            if r["complete"] or not res:
                return out
            after = r["last"]

    async def check(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("check: alice logs in", a.login)
        arc = []
        # ejabberd 23.01's MAM ids are microsecond timestamps taken by whichever
        # process routes the message: two messages archived in one archive in
        # the same microsecond share an id. The index keeps one message per id
        # (README, limits), so such ids are left out of the comparisons.
        dup = set()

        def strip(ids):
            return [i for i in ids if i not in dup]

        async def fetch():
            arc.extend(await self.archive(a))
            ids = [int(i) for i, *_ in arc]
            check(ids == sorted(ids), "plain MAM ids not in order")
            dup.update(i for i, n in collections.Counter(x[0] for x in arc).items() if n > 1)
            if dup:
                print(f"note: ejabberd gave {len(dup)} id(s) to more than one message: {sorted(dup)};"
                      " left out of the comparisons", flush=True)
            want = os.environ.get("XMPP_EXPECT_COUNT")
            check(not want or len(arc) == int(want), f"archive has {len(arc)} messages, expected {want}")
            return f"{len(arc)} messages in alice's archive"

        await self.step("check: the whole archive through plain MAM", fetch)

        def peer(m):
            _, frm, to, _ = m
            return to if JID(frm).bare == ALICE else frm

        def naive(text, with_=None, start=None, end=None, ids=None, after_id=None, before_id=None):
            ws = words(text)
            out = []
            for m in arc:
                i = int(m[0])
                if m[0] in dup:
                    continue
                if ids is not None and i not in ids or after_id is not None and i <= after_id \
                        or before_id is not None and i >= before_id:
                    continue
                if not ws <= words(m[3]):
                    continue
                if with_ and ("/" in with_ and peer(m) != with_ or "/" not in with_ and JID(peer(m)).bare != with_):
                    continue
                if start is not None and i < start or end is not None and i > end:
                    continue
                out.append(m[0])
            return out

        ids = [int(m[0]) for m in arc]
        lo, hi = (ids[len(ids) // 4], ids[(3 * len(ids)) // 4]) if ids else (0, 0)
        cases = [
            ("one word", "apple", {}),
            ("two words, other case", "BANANA cherry", {}),
            ("non-ASCII word, upper case", "CAFÉ", {}),
            ("ß and Ü", "straße ünïcode", {}),
            ("digits", "42", {}),
            ("no match", "zulu", {}),
            ("with bare JID", "delta", {"with": BOB}),
            ("with full JID", "echo", {"with": f"{BOB}/phone"}),
            ("with carol", "golf", {"with": CAROL}),
            ("time range (ends included)", "hotel", {"start": lo, "end": hi}),
            ("start only", "kilo", {"start": lo}),
            ("with and time range", "lima", {"with": BOB, "start": lo, "end": hi}),
        ]
        # the words of one archived message, so that a range end hits a match
        if arc:
            w = sorted(words(arc[len(arc) // 2][3]))[0]
            cases.append(("range bounds on matches", w, {"start": int(arc[len(arc) // 2][0]), "end": int(arc[-1][0])}))

        # XEP-0313's id filters, which ejabberd 23.01 does not know: with a text
        # they go to the index (both spellings of the names)
        if arc:
            some = [int(m[0]) for m in arc[::3]]
            third, two_thirds = int(arc[len(arc) // 3][0]), int(arc[(2 * len(arc)) // 3][0])
            cases += [
                ("{urn:xmpp:mam:2}ids", "apple", {"ids": some, "ids_var": "{urn:xmpp:mam:2}ids"}),
                ("ids with one that is no id", sorted(words(arc[min(3, len(arc) - 1)][3]))[-1],
                 {"ids": some[:6], "ids_var": "ids", "junk_id": True}),
                ("after-id and before-id", "apple", {"after_id": third, "before_id": two_thirds,
                                                     "id_ns": "{urn:xmpp:mam:2}"}),
                ("after-id, with", "delta", {"after_id": third, "with": BOB, "id_ns": ""}),
            ]

        def form(field, text, opts):
            f = [(field, text)]
            if "ids" in opts:
                f.append((opts["ids_var"], [str(i) for i in opts["ids"]] + (["x1"] if opts.get("junk_id") else [])))
            for key, name in (("after_id", "after-id"), ("before_id", "before-id")):
                if key in opts:
                    f.append((opts["id_ns"] + name, str(opts[key])))
            if "with" in opts:
                f.append(("with", opts["with"]))
            if "start" in opts:
                f.append(("start", stamp(opts["start"])))
            if "end" in opts:
                f.append(("end", stamp(opts["end"])))
            return f

        for field in FIELDS:
            for name, text, opts in cases:
                async def one(field=field, text=text, opts=opts):
                    want = naive(text, opts.get("with"), opts.get("start"), opts.get("end"),
                                 opts.get("ids"), opts.get("after_id"), opts.get("before_id"))
                    res, fin = await a.mam(form(field, text, opts), rsm={"max": 250})
                    got_all = [r[0] for r in res]
                    got = strip(got_all)
                    check(got == want, f"got {got}, naive filter {want}")
                    r = fin_rsm(fin)
                    n = len(want) + len(got_all) - len(got)
                    check(r["count"] == n and r["complete"], f"fin {r}, expected count {n}, complete")
                    check(not got_all or (r["first"], r["last"]) == (got_all[0], got_all[-1]), f"first/last {r}")
                    return f"{len(want)} of {len(arc)}"
                await self.step(f"check: {field}: {name}", one)

        # RSM paging, forward (after) and backward (before), several page sizes
        page_cases = [("apple", {}), ("delta", {"with": BOB}), ("hotel", {"start": lo, "end": hi})]
        for field in FIELDS:
            for text, opts in page_cases:
                for size in (1, 3, 4):
                    async def pages(field=field, text=text, opts=opts, size=size):
                        want = naive(text, opts.get("with"), opts.get("start"), opts.get("end"))
                        got, after, n, counts = [], None, 0, set()
                        while True:
                            rsm = {"max": size} if after is None else {"max": size, "after": after}
                            res, fin = await a.mam(form(field, text, opts), rsm=rsm)
                            r = fin_rsm(fin)
                            check(len(res) <= size, f"page {n}: {len(res)} results, {r}")
                            counts.add(r["count"])
                            got += [x[0] for x in res]
                            n += 1
                            check(n <= len(want) + len(dup) + 2, "too many pages")
                            if r["complete"]:
                                break
                            after = r["last"]
                        check(strip(got) == want, f"forward pages {got}, naive {want}")
                        total = len(want) + len(got) - len(strip(got))
                        check(counts == {total}, f"counts {counts}, expected {total}")
                        back, before, m = [], "", 0
                        while True:
                            res, fin = await a.mam(form(field, text, opts), rsm={"max": size, "before": before})
                            r = fin_rsm(fin)
                            back = [x[0] for x in res] + back
                            m += 1
                            check(m <= len(want) + len(dup) + 2, "too many pages backward")
                            if r["complete"] or not res:
                                break
                            before = r["first"]
                        check(strip(back) == want, f"backward pages {back}, naive {want}")
                        return f"{len(want)} matches in {n} pages forward, {m} backward"
                    await self.step(f"check: {field}: RSM pages of {size} ({text}{', ' + ', '.join(opts) if opts else ''})", pages)

        async def max_zero():
            full, _ = await a.mam([("{urn:xmpp:fulltext:0}fulltext", "apple")], rsm={"max": 250})
            n = len(naive("apple")) + len(full) - len(strip([x[0] for x in full]))
            res, fin = await a.mam([("{urn:xmpp:fulltext:0}fulltext", "apple")], rsm={"max": 0})
            r = fin_rsm(fin)
            check(res == [] and r["count"] == n, f"{len(res)} results, {r}; {n} expected in count")
            return f"count {r['count']}"
        await self.step("check: RSM max 0 gives the count only", max_zero)

        async def flip_page():
            full, _ = await a.mam([("full-text-search", "apple")], rsm={"max": 250})
            want = [x[0] for x in full]  # checked against the naive filter above
            res, fin = await a.mam([("full-text-search", "apple")], rsm={"max": 5, "before": ""}, flip=True)
            got = [r[0] for r in res]
            check(got == list(reversed(want[-5:])), f"got {got}, expected the last 5 of {want} newest first")
            return f"{len(got)} newest first"
        await self.step("check: flip-page on the last page", flip_page)

        async def disco():
            info = await a.plugin["xep_0030"].get_info(jid=ALICE, timeout=STEP_TIMEOUT)
            feats = info["disco_info"]["features"]
            check(NS_FT in feats and NS_MAM in feats, f"features {sorted(feats)}")
            return f"{NS_FT} among {len(feats)} features"
        await self.step("check: disco#info on the account lists urn:xmpp:fulltext:0", disco)

        async def form_fields():
            iq = a.make_iq_get()
            iq.xml.append(ET.Element(f"{{{NS_MAM}}}query"))
            resp = await iq.send(timeout=STEP_TIMEOUT)
            vars_ = [f.get("var") for f in resp.xml.iter(f"{{{NS_X}}}field")]
            check(FIELDS[0] in vars_ and "withtext" in vars_, f"form fields {vars_}")
            return ", ".join(v for v in vars_ if v != "FORM_TYPE")
        await self.step("check: the MAM form offers {urn:xmpp:fulltext:0}fulltext", form_fields)

        await self.step("check: log out", a.logout)

    # ------------------------------------------------------------ room
    async def room(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        b = Client("bob", os.environ["XMPP_PASS_B"], "room")
        await self.step("room: alice and bob log in", lambda: asyncio.gather(a.login(), b.login()))
        rj = f"ft-{uuid.uuid4().hex[:8]}@{MUC}"
        rnd = random.Random(rj)
        bodies = []

        async def chat():
            muc = a.plugin["xep_0045"]
            await muc.join_muc_wait(JID(rj), "alice", maxstanzas=0, timeout=STEP_TIMEOUT)
            form = await muc.get_room_config(JID(rj), timeout=STEP_TIMEOUT)
            await muc.set_room_config(JID(rj), form, timeout=STEP_TIMEOUT)
            await b.plugin["xep_0045"].join_muc_wait(JID(rj), "bob", maxstanzas=0, timeout=STEP_TIMEOUT)
            got = asyncio.Queue()
            b.add_event_handler("groupchat_message", lambda m: m["mucnick"] == "alice" and got.put_nowait(m["body"]))
            for i in range(12):
                body = " ".join(rnd.choice(VOCAB) for _ in range(3)) + f" room{i}"
                bodies.append(body)
                a.send_message(mto=rj, mbody=body, mtype="groupchat")
            for _ in bodies:
                await got.get()
            await asyncio.sleep(0.5)  # one commit interval of the test config and more
            return f"{len(bodies)} messages in {rj}"
        await self.step("room: alice speaks in a new room", chat)

        async def search():
            arc = await self.archive(b, to=rj)
            check([m[3] for m in arc] == bodies, "room archive differs from what was said")
            for text in ("apple", "banana cherry", "café"):
                want = [m[0] for m in arc if words(text) <= words(m[3])]
                res, fin = await b.mam([("{urn:xmpp:fulltext:0}fulltext", text)], rsm={"max": 250}, to=rj)
                got = [r[0] for r in res]
                check(got == want, f"{text}: got {got}, naive {want}")
            return "3 queries on the room's archive"
        await self.step("room: full-text queries on the room archive (as bob)", search)
        await self.step("room: log out", lambda: asyncio.gather(a.logout(), b.logout()))

    # ------------------------------------------------------------ errors
    async def errors(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("errors: alice logs in", a.login)
        ft = "{urn:xmpp:fulltext:0}fulltext"
        cases = [
            ("two values in the full-text field", dict(raw_fields=[(ft, ["apple", "banana"])]), "bad-request"),
            ("full-text-search with two values", dict(raw_fields=[("full-text-search", ["a", "b"])]), "bad-request"),
            ("bad with", dict(fields=[(ft, "apple"), ("with", "@@bad@@")]), "bad-request"),
            ("bad start", dict(fields=[(ft, "apple"), ("start", "yesterday")]), "bad-request"),
            ("unknown field next to the text", dict(fields=[(ft, "apple"), ("colour", "red")]), "bad-request"),
            ("RSM index", dict(fields=[(ft, "apple")], rsm={"max": 5, "index": 2}), "feature-not-implemented"),
            ("ids without a text (ejabberd does not know the field)",
             dict(raw_fields=[("{urn:xmpp:mam:2}ids", ["1", "2"])]), "bad-request"),
            ("after-id that is no MAM id", dict(fields=[(ft, "apple"), ("after-id", "abc")]), "bad-request"),
            ("before-id twice", dict(fields=[(ft, "apple"), ("before-id", "5"), ("{urn:xmpp:mam:2}before-id", "6")]),
             "bad-request"),
            ("start before 1970 (ejabberd's decoder refuses it)",
             dict(fields=[(ft, "apple"), ("start", "1938-04-24T22:13:20Z")]), "bad-request"),
        ]
        for name, kw, cond in cases:
            async def one(kw=kw, cond=cond):
                try:
                    await a.mam(**kw)
                except IqError as e:
                    got = e.iq["error"]["condition"]
                    check(got == cond, f"error {got}, expected {cond}")
                    return f"<{cond}/> ({e.iq['error']['type']})"
                raise StepFailed(f"no error, expected {cond}")
            await self.step(f"errors: {name}", one)

        async def huge_ids():
            res, fin = await a.mam([(ft, "apple")], rsm={"max": 5, "after": str(10**30)})
            r = fin_rsm(fin)
            check(res == [] and r["complete"], f"after 10^30: {len(res)} results, {r}")
            res, fin = await a.mam([(ft, "apple")], rsm={"max": 5, "before": str(10**30)})
            check(len(res) == min(5, fin_rsm(fin)["count"]), f"before 10^30: {len(res)} results")
            return "after: empty and complete; before: the last page"
        await self.step("errors: RSM ids beyond 64 bits are no error", huge_ids)

        async def after_errors():
            res, fin = await a.mam([(ft, "apple")], rsm={"max": 1})
            check(fin is not None, "no fin")
            return "a good query still works"
        await self.step("errors: the session still works", after_errors)
        await self.step("errors: log out", a.logout)


async def main():
    if os.environ.get("XMPP_DEBUG") == "1":
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(message)s")
    run = Run()
    what = sys.argv[1]
    if what == "seed":
        await run.seed(sys.argv[2], int(sys.argv[3]))
    elif what == "check":
        await run.check()
    elif what == "room":
        await run.room()
    elif what == "errors":
        await run.errors()
    else:
        raise SystemExit(f"unknown phase {what}")
    print(f"{run.passed} passed, {run.failed} failed", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

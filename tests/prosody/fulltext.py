#!/usr/bin/env python3
"""Full-text MAM search on a running Prosody 0.12 with
prosody/mod_xmpp_accel_fulltext.lua and the sidecar's index API, with slixmpp
clients. Driven by tests/prosody_fulltext.sh, one phase per run:

  seed TAG N   alice, bob and carol chat: N messages in all, both directions,
               spread over a few seconds (Prosody stamps whole seconds), bodies
               from a small vocabulary; waits until each was delivered.
  wait TAG N   until the last seeded message of TAG is found by full text
               (the module indexes in the background; catch-up after a start).
  check        alice fetches her whole archive with plain MAM (mod_mam), then
               full-text queries under each field name
               ({urn:xmpp:fulltext:0}fulltext, full-text-search, fulltext,
               withtext), alone and with `with`, a time range, ids and
               after-id/before-id, and RSM paging forward and backward: each
               answer must be exactly what a naive filter of the fetched
               archive gives, in MAM order, with count, first/last, complete.
               Also flip-page, max 0, disco and the form field.
  errors       bad queries get MAM's error stanzas.

One line per step (`ok: ...` / `FAILED: ...`), then `N passed, M failed`;
exit code 1 on any failure. Environment: XMPP_PORT, XMPP_PASS_A/B/C,
XMPP_EXPECT_COUNT (the archive size check expects).
"""

import asyncio
import datetime
import os
import random
import re
import sys
import uuid

from slixmpp import ClientXMPP, JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HOST = "127.0.0.1"
PORT = int(os.environ.get("XMPP_PORT", "16400"))
DOMAIN = "localhost"
STEP_TIMEOUT = float(os.environ.get("XMPP_STEP_TIMEOUT", "30"))
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_X = "jabber:x:data"
NS_FT = "urn:xmpp:fulltext:0"
FIELDS = ["{urn:xmpp:fulltext:0}fulltext", "full-text-search", "fulltext", "withtext"]
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


def stamp(secs):
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(s):
    return int(datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


class Client(ClientXMPP):
    def __init__(self, user, password, resource="e2e"):
        super().__init__(f"{user}@{DOMAIN}/{resource}", password)
        for plugin in ("xep_0030", "xep_0199"):
            self.register_plugin(plugin)
        # loopback, no TLS: SCRAM without TLS is fine here
        self.plugin["feature_mechanisms"].unencrypted_scram = True
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.received = asyncio.Queue()
        self.results = {}
        self.add_event_handler("message", self._on_message)
        self.register_handler(Callback(
            "mam-result", MatchXPath(f"{{jabber:client}}message/{{{NS_MAM}}}result"),
            self._on_result))

    def _on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"] and msg.xml.find(f"{{{NS_MAM}}}result") is None:
            self.received.put_nowait(msg["body"])

    def _on_result(self, msg):
        res = msg.xml.find(f"{{{NS_MAM}}}result")
        fwd = res.find("{urn:xmpp:forward:0}forwarded")
        m = fwd.find("{jabber:client}message")
        when = parse_stamp(fwd.find("{urn:xmpp:delay}delay").get("stamp"))
        self.results.setdefault(res.get("queryid"), []).append(
            (res.get("id"), m.get("from"), m.get("to"), m.findtext("{jabber:client}body") or "", when))

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

    async def mam(self, fields=(), rsm=None, raw_fields=None, flip=False, form_type=NS_MAM):
        """One MAM query: fields [(var, value or [values])], rsm {max, after,
        before, index}. Returns (results [(id, from, to, body, when)], fin)."""
        qid = uuid.uuid4().hex
        iq = self.make_iq_set()
        q = ET.Element(f"{{{NS_MAM}}}query", {"queryid": qid})
        x = ET.SubElement(q, f"{{{NS_X}}}x", {"type": "submit"})
        f = ET.SubElement(x, f"{{{NS_X}}}field", {"var": "FORM_TYPE", "type": "hidden"})
        ET.SubElement(f, f"{{{NS_X}}}value").text = form_type
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
            ET.SubElement(q, f"{{{NS_MAM}}}flip-page")
        iq.xml.append(q)
        resp = await iq.send(timeout=STEP_TIMEOUT)
        fin = resp.xml.find(f"{{{NS_MAM}}}fin")
        return self.results.pop(qid, []), fin


def fin_rsm(fin):
    s = fin.find(f"{{{NS_RSM}}}set")
    count = s.findtext(f"{{{NS_RSM}}}count") if s is not None else None
    return {"complete": fin.get("complete") in ("true", "1"),
            "count": int(count) if count is not None else None,
            "first": s.findtext(f"{{{NS_RSM}}}first") if s is not None else None,
            "last": s.findtext(f"{{{NS_RSM}}}last") if s is not None else None}


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
        except (StepFailed, IqError, IqTimeout) as e:
            if isinstance(e, IqTimeout):
                e = "IQ timeout (no answer)"
            elif isinstance(e, IqError):
                e = f"IQ error {e.iq['error']['condition']}: {e.iq['error']['text']}"
            print(f"FAILED: {name}: {e}", flush=True)
            self.failed += 1

    # ------------------------------------------------------------ seed
    async def seed(self, tag, n):
        rnd = random.Random(tag)
        a = Client("alice", os.environ["XMPP_PASS_A"])
        b = Client("bob", os.environ["XMPP_PASS_B"])
        c = Client("carol", os.environ["XMPP_PASS_C"])
        clients = [a, b, c]
        await self.step("seed: three sessions log in", lambda: asyncio.gather(*(x.login() for x in clients)))
        sent = {id(x): [] for x in clients}

        async def send_all():
            for i in range(n):
                body = " ".join(rnd.choice(VOCAB) + rnd.choice(["", "", "", ",", "!"])
                                for _ in range(rnd.randint(2, 6))) + f" {tag}{i}"
                sender = rnd.choice([a, a, b, c])
                if i == 0:  # a body over the index's 64 KB: indexed cut, not dropped
                    body = "apple " + "x " * 36000 + f"{tag}{i}"
                if sender is a:
                    to, rcpt = rnd.choice([(BOB, b), (CAROL, c)])
                else:
                    to, rcpt = ALICE, a
                sender.send_message(mto=to, mbody=body, mtype="chat")
                sent[id(rcpt)].append(body)
                # about 4 s in all: several messages per second, several seconds
                await asyncio.sleep(4.0 / n)
            for r in clients:
                want = sorted(sent[id(r)])
                got = []
                while len(got) < len(want):
                    got.append(await r.received.get())
                check(sorted(got) == want, f"{r.boundjid} got {len(got)} messages, not the {len(want)} sent")
            return f"{n} messages ({tag})"

        await self.step("seed: chat among alice, bob and carol", send_all)
        await self.step("seed: log out", lambda: asyncio.gather(*(x.logout() for x in clients)))

    async def wait(self, tag, n):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("wait: alice logs in", a.login)

        async def until():
            for i in range(200):
                res, _ = await a.mam([(FIELDS[0], f"{tag}{n - 1}")])
                if len(res) == 1:
                    return f"after {i * 0.2:.1f} s"
                await asyncio.sleep(0.2)
            raise StepFailed(f"{tag}{n - 1} not found by full text")
        await self.step(f"wait: the last message of {tag} is searchable", until)
        await self.step("wait: log out", a.logout)

    # ------------------------------------------------------------ check
    async def archive(self, a):
        """The whole archive through plain MAM (mod_mam), oldest first."""
        out, after = [], None
        while True:
            rsm = {"max": 50} if after is None else {"max": 50, "after": after}
            res, fin = await a.mam(rsm=rsm)
            out += res
            r = fin_rsm(fin)
            if r["complete"] or not res:
                return out
            after = r["last"]

    async def check(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("check: alice logs in", a.login)
        arc = []

        async def fetch():
            arc.extend(await self.archive(a))
            want = os.environ.get("XMPP_EXPECT_COUNT")
            check(not want or len(arc) == int(want), f"archive has {len(arc)} messages, expected {want}")
            whens = [m[4] for m in arc]
            check(whens == sorted(whens), "archive times not in order")
            return f"{len(arc)} messages in alice's archive over {len(set(whens))} seconds"

        await self.step("check: the whole archive through plain MAM", fetch)
        pos = {m[0]: i for i, m in enumerate(arc)}

        def peer(m):
            _, frm, to, _, _ = m
            return JID(to).bare if JID(frm).bare == ALICE else JID(frm).bare

        def naive(text, with_=None, start=None, end=None, ids=None, after_id=None, before_id=None):
            ws = words(text)
            out = []
            for i, m in enumerate(arc):
                if ids is not None and m[0] not in ids:
                    continue
                if after_id is not None and i <= pos[after_id] or before_id is not None and i >= pos[before_id]:
                    continue
                if not ws <= words(m[3]):
                    continue
                if with_ and peer(m) != JID(with_).bare:
                    continue
                if start is not None and m[4] < start or end is not None and m[4] > end:
                    continue
                out.append(m[0])
            return out

        whens = sorted({m[4] for m in arc})
        lo, hi = (whens[len(whens) // 4], whens[(3 * len(whens)) // 4]) if whens else (0, 0)
        cases = [
            ("one word", "apple", {}),
            ("two words, other case", "BANANA cherry", {}),
            ("non-ASCII word, upper case", "CAFÉ", {}),
            ("digits", "42", {}),
            ("no match", "zulu", {}),
            ("with bare JID", "delta", {"with": BOB}),
            ("with full JID (bared, as mod_mam does)", "echo", {"with": f"{BOB}/e2e"}),
            ("with carol", "golf", {"with": CAROL}),
            ("time range (ends included)", "hotel", {"start": lo, "end": hi}),
            ("start only", "kilo", {"start": lo}),
            ("end only", "mike", {"end": hi}),
            ("with and time range", "lima", {"with": BOB, "start": lo, "end": hi}),
        ]
        if arc:
            keys = [m[0] for m in arc]
            third, two_thirds = keys[len(keys) // 3], keys[(2 * len(keys)) // 3]
            cases += [
                ("ids", "apple", {"ids": keys[::3]}),
                ("ids with one unknown", "banana", {"ids": keys[::2] + ["no-such-id"]}),
                ("after-id and before-id", "apple", {"after_id": third, "before_id": two_thirds}),
                ("after-id, with", "delta", {"after_id": third, "with": BOB}),
            ]

        def form(field, text, opts):
            f = [(field, text)]
            if "ids" in opts:
                f.append(("ids", list(opts["ids"])))
            for key, name in (("after_id", "after-id"), ("before_id", "before-id")):
                if key in opts:
                    f.append((name, opts[key]))
            if "with" in opts:
                f.append(("with", opts["with"]))
            if "start" in opts:
                f.append(("start", stamp(opts["start"])))
            if "end" in opts:
                f.append(("end", stamp(opts["end"])))
            return f

        def want_of(text, opts):
            return naive(text, opts.get("with"), opts.get("start"), opts.get("end"),
                         set(opts["ids"]) if "ids" in opts else None, opts.get("after_id"), opts.get("before_id"))

        for field in FIELDS:
            for name, text, opts in cases:
                async def one(field=field, text=text, opts=opts):
                    want = want_of(text, opts)
                    res, fin = await a.mam(form(field, text, opts), rsm={"max": 50})
                    got = [r[0] for r in res]
                    check(got == want, f"got {got}, naive filter {want}")
                    r = fin_rsm(fin)
                    check(r["count"] == len(want) and r["complete"], f"fin {r}, expected count {len(want)}, complete")
                    check(not got or (r["first"], r["last"]) == (got[0], got[-1]), f"first/last {r}")
                    return f"{len(want)} of {len(arc)}"
                await self.step(f"check: {field}: {name}", one)

        page_cases = [("apple", {}), ("delta", {"with": BOB}), ("hotel", {"start": lo, "end": hi}),
                      ("banana", {"with": CAROL, "start": lo})]
        for field in FIELDS:
            for text, opts in page_cases:
                for size in (1, 3):
                    async def pages(field=field, text=text, opts=opts, size=size):
                        want = want_of(text, opts)
                        got, after, n, counts = [], None, 0, set()
                        while True:
                            rsm = {"max": size} if after is None else {"max": size, "after": after}
                            res, fin = await a.mam(form(field, text, opts), rsm=rsm)
                            r = fin_rsm(fin)
                            check(len(res) <= size, f"page {n}: {len(res)} results, {r}")
                            counts.add(r["count"])
                            got += [x[0] for x in res]
                            n += 1
                            check(n <= len(want) + 2, "too many pages")
                            if r["complete"]:
                                break
                            after = r["last"]
                        check(got == want, f"forward pages {got}, naive {want}")
                        check(counts == {len(want)}, f"counts {counts}, expected {len(want)}")
                        back, before, m = [], "", 0
                        while True:
                            res, fin = await a.mam(form(field, text, opts), rsm={"max": size, "before": before})
                            r = fin_rsm(fin)
                            back = [x[0] for x in res] + back
                            m += 1
                            check(m <= len(want) + 2, "too many pages backward")
                            if r["complete"] or not res:
                                break
                            before = r["first"]
                        check(back == want, f"backward pages {back}, naive {want}")
                        return f"{len(want)} matches in {n} pages forward, {m} backward"
                    await self.step(f"check: {field}: RSM pages of {size} ({text}"
                                    f"{', ' + ', '.join(opts) if opts else ''})", pages)

        async def max_zero():
            res, fin = await a.mam([(FIELDS[0], "apple")], rsm={"max": 0})
            r = fin_rsm(fin)
            n = len(naive("apple"))
            check(res == [] and r["count"] == n, f"{len(res)} results, {r}; {n} expected in count")
            return f"count {r['count']}"
        await self.step("check: RSM max 0 gives the count only", max_zero)

        async def index():
            want = naive("apple")
            res, fin = await a.mam([(FIELDS[1], "apple")], rsm={"max": 3, "index": 2})
            got = [r[0] for r in res]
            check(got == want[2:5], f"got {got}, expected {want[2:5]}")
            return f"{len(got)} from position 2"
        await self.step("check: RSM index", index)

        async def flip_page():
            want = naive("apple")
            res, fin = await a.mam([(FIELDS[2], "apple")], rsm={"max": 5, "before": ""}, flip=True)
            got = [r[0] for r in res]
            check(got == list(reversed(want[-5:])), f"got {got}, expected the last 5 of {want} newest first")
            res, fin = await a.mam([(FIELDS[2], "apple")], rsm={"max": 4}, flip=True)
            got = [r[0] for r in res]
            check(got == list(reversed(want[:4])), f"got {got}, expected the first 4 of {want} newest first")
            return "last and first pages newest first"
        await self.step("check: flip-page", flip_page)

        async def same_messages():
            res, _ = await a.mam([(FIELDS[3], "apple")], rsm={"max": 50})
            by_id = {m[0]: m for m in arc}
            for r in res:
                check(r == by_id[r[0]], f"{r} is not what mod_mam gives: {by_id[r[0]]}")
            return f"{len(res)} messages as mod_mam forwards them (from, to, body, stamp)"
        await self.step("check: the messages are the archive's", same_messages)

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
            check(FIELDS[0] in vars_ and "with" in vars_, f"form fields {vars_}")
            return ", ".join(v for v in vars_ if v != "FORM_TYPE")
        await self.step("check: the MAM form offers {urn:xmpp:fulltext:0}fulltext", form_fields)
        await self.step("check: log out", a.logout)

    # ------------------------------------------------------------ errors
    async def errors(self):
        a = Client("alice", os.environ["XMPP_PASS_A"])
        await self.step("errors: alice logs in", a.login)
        ft = FIELDS[0]
        cases = [
            ("two values in the full-text field", dict(raw_fields=[(ft, ["apple", "banana"])]), "bad-request"),
            ("wrong FORM_TYPE", dict(fields=[(ft, "apple")], form_type="urn:xmpp:mam:1"), "bad-request"),
            ("bad with", dict(fields=[(ft, "apple"), ("with", "@@bad@@")]), "bad-request"),
            ("bad start", dict(fields=[(ft, "apple"), ("start", "yesterday")]), "bad-request"),
            ("start after end", dict(fields=[(ft, "apple"), ("start", stamp(2000000000)),
                                            ("end", stamp(1000000000))]), "bad-request"),
            ("RSM after an unknown id", dict(fields=[("withtext", "apple")], rsm={"max": 5, "after": "nope"}),
             "item-not-found"),
            ("RSM before an unknown id", dict(fields=[("fulltext", "apple")], rsm={"max": 5, "before": "nope"}),
             "item-not-found"),
            ("after-id unknown", dict(fields=[(ft, "apple"), ("after-id", "nope")]), "item-not-found"),
            ("mod_mam's own answer to an unknown RSM after (no text)", dict(rsm={"max": 5, "after": "nope"}),
             "item-not-found"),
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

        async def still():
            res, fin = await a.mam([(ft, "apple")], rsm={"max": 1})
            check(fin is not None, "no fin")
            return "a good query still works"
        await self.step("errors: the session still works", still)
        await self.step("errors: log out", a.logout)


async def main():
    run = Run()
    what = sys.argv[1]
    if what == "seed":
        await run.seed(sys.argv[2], int(sys.argv[3]))
    elif what == "wait":
        await run.wait(sys.argv[2], int(sys.argv[3]))
    elif what == "check":
        await run.check()
    elif what == "errors":
        await run.errors()
    else:
        raise SystemExit(f"unknown phase {what}")
    print(f"{run.passed} passed, {run.failed} failed", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

#!/usr/bin/env python3
"""make bench-mam-servers: full-text MAM search through real servers.

Driven by bench/mam_servers/run.sh, one sub-command per step:

  gen N DIR               DIR/messages.jsonl (one user's archive: N messages,
                          alice with four correspondents, over ~6 months) and
                          DIR/queries.json (the query set, see pick_queries)
  template HOST PORT PASS_A PASS_B
                          alice and bob (logged in over plain TCP) exchange one
                          message each way, so that the server archives them
                          in its own row format (run.sh then reads the rows)
  load-ejabberd-sqlite DB DIR TEMPLATE.json
  load-ejabberd-mysql DIR TEMPLATE.json > load.sql
  load-prosody DB DIR TEMPLATE.json
                          rows in the server's own archive table, built from
                          the rows the server itself wrote (template)
  query HOST PASS DIR [--scan] [--repeats R] [--only I,J] SYSTEM@PORT@FIELD@OUT...
                          alice asks every query of DIR/queries.json of each
                          system in turn (with --scan: pages through the
                          archive over plain MAM, max 50, and filters the
                          bodies herself) and writes ids, counts and times
  report DIR RESULTS...   agreement with the naive filter, p50/p99 table,
                          summary line

The client is a small asyncio XMPP client (plain TCP, SASL PLAIN, bind,
expat through xml.etree's XMLPullParser): the same code for every system,
and a query's time runs from writing the IQ to parsing its <fin/> result.
"""

import asyncio
import base64
import json
import math
import random
import re
import sqlite3
import statistics
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from xml.sax.saxutils import escape

DOMAIN = "localhost"
ME = "alice"
PEERS = ["bob", "carol", "dave", "erin"]
PEER_WEIGHTS = [50, 25, 15, 10]
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_X = "jabber:x:data"
NS_FWD = "urn:xmpp:forward:0"
FT_FIELD = "{urn:xmpp:fulltext:0}fulltext"
PAGE = 50  # RSM max of every query; Prosody's default max_archive_query_results
T0 = 1735689600  # 2025-01-01T00:00:00Z, first message at or after this
SPAN = 182 * 86400  # about six months

# InnoDB's default full-text stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD)
INNODB_STOPWORDS = set("""a about an are as at be by com de en for from how i in is it la
of on or that the this to was what when where who will with und www""".split())

# A chat vocabulary, most frequent first (Zipf weights 1/rank). No
# apostrophes, no colons or dots inside words: the naive filter (\w+ runs),
# UAX #29 word segmentation (our index) and InnoDB's parser then cut the same
# words.
VOCAB = """the i you to a and it is that of in for on have be just so we do
not this with but at can are was my me what if get all no your know about
like will up out there go think good now time then one yes see how when
would ok well really too some today back work tomorrow need want right make
because people here still been going more thanks did could got also lol day
should sure yeah love night home something week said let way much why take
nice maybe meeting call morning tonight later doing great thing first last
over after new feel come who never even again check into look things long
best little since sorry weekend before help try done idea give please next
year sounds same many plan lunch dinner coffee office team project deadline
report review email send sent message phone train flight hotel trip city
weather rain snow sunny cold warm beach park movie music concert ticket
party birthday gift family mother father brother sister kids school class
teacher doctor appointment hospital pharmacy medicine sick better health
gym running football match game score season player coach league win lost
money bank account bill rent price cheap expensive budget salary invoice
contract client customer server database deploy release bug issue fix test
build branch merge review code laptop screen keyboard battery charger cable
printer update install password login access network wifi router backup
kitchen recipe pasta pizza salad bread cheese chocolate cake wine beer tea
garden flowers tree dog cat walk bike car bus station airport parking
street shop market store groceries milk eggs apples bananas oranges butter
book novel library author chapter story paper article news photo camera
video picture album song band guitar piano dance theater museum gallery
painting vacation holiday island mountain lake river forest camping tent
january february march april may june july august september october
november december monday tuesday wednesday thursday friday saturday sunday
london paris berlin madrid rome vienna prague lisbon dublin oslo
quarterly budgeting migration kubernetes terraform postgres latency
throughput benchmark dashboard metrics alerting oncall incident postmortem
rollback hotfix staging production cluster replica failover snapshot
archive index search query parser tokenizer compiler linker debugger
violin cello trumpet saxophone orchestra symphony opera ballet sonata
avocado mango papaya pineapple coconut blueberry raspberry strawberry
hiking kayaking climbing skiing surfing sailing cycling swimming rowing
plumber electrician carpenter painter gardener mechanic locksmith
passport visa embassy customs luggage suitcase boarding gate delay
umbrella jacket scarf gloves boots sweater hoodie sneakers sandals""".split()

SENT_END = [".", ".", ".", "?", "!", ""]


def zipf_weights(n):
    return [1.0 / (r + 1) for r in range(n)]


def gen_body(rnd, cum):
    out = []
    for s in range(rnd.choice([1, 1, 1, 2, 2, 3])):
        n = rnd.randint(3, 14)
        ws = rnd.choices(VOCAB, cum_weights=cum, k=n)
        if rnd.random() < 0.15:
            ws.insert(rnd.randrange(len(ws) + 1), str(rnd.randint(2, 500)))
        if rnd.random() < 0.2 and len(ws) > 4:
            ws[rnd.randrange(1, len(ws) - 1)] += ","
        ws[0] = ws[0][:1].upper() + ws[0][1:]
        out.append(" ".join(ws) + rnd.choice(SENT_END))
    return " ".join(out)


def words(text):
    """The naive reference: lower-cased runs of word characters."""
    return set(re.findall(r"\w+", text.lower()))


def eligible(w):
    # 4+ letters (InnoDB's innodb_ft_min_token_size is 3), not a stopword
    return w.isascii() and w.isalpha() and len(w) >= 4 and w not in INNODB_STOPWORDS


def stamp(sec):
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ data
def gen(n, d):
    rnd = random.Random(13)
    cum, acc = [], 0.0
    for w in zipf_weights(len(VOCAB)):
        acc += w
        cum.append(acc)
    gap = SPAN / n
    msgs = []
    t = float(T0)
    for i in range(n):
        # bursts: most gaps short, some long (conversations)
        t += rnd.expovariate(1.0 / gap) if rnd.random() < 0.3 else rnd.uniform(1, gap * 0.6)
        sec = int(t)
        usec = sec * 1_000_000 + rnd.randrange(1_000_000)
        if msgs and usec <= msgs[-1]["us"]:
            usec = msgs[-1]["us"] + 1
        peer = rnd.choices(PEERS, weights=PEER_WEIGHTS)[0]
        msgs.append({"i": i, "us": usec, "peer": f"{peer}@{DOMAIN}",
                     "out": rnd.random() < 0.5, "body": gen_body(rnd, cum),
                     "key": str(uuid.UUID(int=rnd.getrandbits(128), version=4))})
    with open(f"{d}/messages.jsonl", "w") as f:
        for m in msgs:
            f.write(json.dumps(m) + "\n")
    secs = {m["us"] // 1_000_000 for m in msgs}
    qs = pick_queries(rnd, msgs, secs, int(sys.argv[4]) if len(sys.argv) > 4 else 15)
    with open(f"{d}/queries.json", "w") as f:
        json.dump(qs, f, indent=0)
    print(f"generated {n} messages ({msgs[0]['us'] // 10**6}..{msgs[-1]['us'] // 10**6} s, "
          f"{sum(len(m['body']) for m in msgs) / n:.0f} chars/body avg), {len(qs)} queries")


def free_second(sec, secs):
    while sec in secs:
        sec += 1
    return sec


def pick_queries(rnd, msgs, secs, per_class):
    """per_class queries of each (words 1..3) x (alone, with, time range):
    the words of a random message's body (so every query has a hit),
    lower-cased, each eligible (see eligible()); time ranges 2-8 weeks on
    whole seconds where no message was archived (ejabberd compares
    microseconds, Prosody seconds: the boundaries must not split a second)."""
    qs = []
    for nw in (1, 2, 3):
        for kind in ("alone", "with", "range"):
            got = 0
            while got < per_class:
                m = rnd.choice(msgs)
                ws = sorted({w for w in words(m["body"]) if eligible(w)})
                if len(ws) < nw:
                    continue
                q = {"text": " ".join(rnd.sample(ws, nw)), "words": nw, "kind": kind}
                if kind == "with":
                    q["with"] = m["peer"]
                elif kind == "range":
                    length = rnd.randint(14, 56) * 86400
                    mid = m["us"] // 1_000_000
                    start = free_second(mid - rnd.randint(0, length), secs)
                    end = free_second(start + length, secs)
                    q["start"], q["end"] = start, end
                qs.append(q)
                got += 1
    for i, q in enumerate(qs):
        q["n"] = i
    return qs


def load_msgs(d):
    with open(f"{d}/messages.jsonl") as f:
        return [json.loads(line) for line in f]


def naive(msgs, q, any_word=False):
    """ids (indexes into msgs) in archive order matching q."""
    want = q["text"].split()
    out = []
    for m in msgs:
        if "with" in q and m["peer"] != q["with"]:
            continue
        if "start" in q and not (q["start"] * 10**6 <= m["us"] <= q["end"] * 10**6 + 999_999):
            continue
        ws = m.get("_w")
        if ws is None:
            ws = m["_w"] = words(m["body"])
        if (any(w in ws for w in want) if any_word else all(w in ws for w in want)):
            out.append(m["i"])
    return out


# ------------------------------------------------------------------ rows
def xml_stanza(tpl, m, me_full):
    """The template's stored stanza for message m: its from/to, id and body."""
    src = tpl["out_xml"] if m["out"] else tpl["in_xml"]
    peer_full = m["peer"] + "/pc"
    s = src.replace("__BODY__", escape(m["body"]))
    s = s.replace("__ID__", "b" + str(m["i"]))
    s = s.replace("__KEY__", m["key"])
    s = s.replace("__PEER_FULL__", peer_full).replace("__PEER__", m["peer"])
    s = s.replace("__ME_FULL__", me_full)
    return s


def load_template(path):
    with open(path) as f:
        return json.load(f)


def load_ejabberd_sqlite(db, d, tpl_path):
    tpl = load_template(tpl_path)
    msgs = load_msgs(d)
    con = sqlite3.connect(db)
    cols = tpl["cols"]
    rows = []
    for m in msgs:
        rows.append(ejabberd_row(tpl, m))
    con.execute("DELETE FROM archive")
    con.executemany(f"INSERT INTO archive ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
    con.commit()
    con.close()


def ejabberd_row(tpl, m):
    me_full = f"{ME}@{DOMAIN}/bench"
    peer = (tpl["peer_out"] if m["out"] else tpl["peer_in"])
    peer = peer.replace("__PEER_FULL__", m["peer"] + "/pc").replace("__PEER__", m["peer"])
    values = {"username": ME, "timestamp": m["us"], "peer": peer, "bare_peer": m["peer"],
              "xml": xml_stanza(tpl, m, me_full).replace("__TS__", str(m["us"])),
              "txt": m["body"], "kind": "chat", "nick": ""}
    return tuple(values[c] for c in tpl["cols"])


def sql_lit(v):
    if isinstance(v, int):
        return str(v)
    return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"


def load_ejabberd_mysql(d, tpl_path):
    tpl = load_template(tpl_path)
    msgs = load_msgs(d)
    cols = tpl["cols"]
    out = sys.stdout
    out.write("SET autocommit=0;\n")
    for i in range(0, len(msgs), 1000):
        rows = [ejabberd_row(tpl, m) for m in msgs[i:i + 1000]]
        out.write(f"INSERT INTO archive ({', '.join(cols)}) VALUES\n")
        out.write(",\n".join("(" + ", ".join(sql_lit(v) for v in r) + ")" for r in rows))
        out.write(";\n")
    out.write("COMMIT;\n")


def load_prosody(db, d, tpl_path):
    tpl = load_template(tpl_path)
    msgs = load_msgs(d)
    con = sqlite3.connect(db)
    rows = []
    me_full = f"{ME}@{DOMAIN}/bench"
    for m in msgs:
        when = m["us"] // 1_000_000 if tpl["when_int"] else m["us"] / 1e6
        rows.append((tpl["host"], ME, tpl["store"], m["key"], when, m["peer"], tpl["type"],
                     xml_stanza(tpl, m, me_full)))
    con.execute("DELETE FROM prosodyarchive")
    con.executemany('INSERT INTO "prosodyarchive" ("host", "user", "store", "key", "when", "with", "type", "value") '
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


# ------------------------------------------------------------------ client
class XmppError(Exception):
    pass


class Conn:
    """A bare-bones c2s client: plain TCP, SASL PLAIN, resource bind."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.n = 0

    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None
        self.ready = []

    async def _stanza(self):
        while not self.ready:
            data = await self.reader.read(1 << 16)
            if not data:
                raise XmppError("connection closed")
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == "start":
                    self.depth += 1
                    if self.depth == 1:
                        self.root = el
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        self.ready.append(el)
                        self.root.clear()
                    elif self.depth == 0:
                        raise XmppError("stream closed")
        return self.ready.pop(0)

    async def _open_stream(self):
        self._new_parser()
        self.writer.write(f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' version='1.0' "
                          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".encode())
        await self.writer.drain()
        feats = await self._stanza()
        if feats.tag != "{http://etherx.jabber.org/streams}features":
            raise XmppError(f"expected features, got {feats.tag}")
        return feats

    async def login(self, user, password, resource="bench"):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        await self._open_stream()
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{cred}</auth>".encode())
        r = await self._stanza()
        if not r.tag.endswith("}success"):
            raise XmppError(f"auth failed: {ET.tostring(r)[:200]}")
        await self._open_stream()
        self.writer.write(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                          f"<resource>{resource}</resource></bind></iq>".encode())
        r = await self._stanza()
        if r.get("type") != "result":
            raise XmppError("bind failed")
        self.jid = f"{user}@{DOMAIN}/{resource}"

    async def send_raw(self, s):
        self.writer.write(s.encode())
        await self.writer.drain()

    async def wait_message(self):
        while True:
            st = await self._stanza()
            if st.tag == "{jabber:client}message" and st.find("{jabber:client}body") is not None:
                return st

    async def mam(self, fields, after=None, want_bodies=False, rsm_max=PAGE):
        """One MAM query; returns (ids, bodies, fin dict)."""
        self.n += 1
        qid = f"q{self.n}"
        parts = [f"<iq type='set' id='{qid}'><query xmlns='{NS_MAM}' queryid='{qid}'>"
                 f"<x xmlns='{NS_X}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{NS_MAM}</value></field>"]
        for var, val in fields:
            parts.append(f"<field var='{escape(var)}'><value>{escape(val)}</value></field>")
        parts.append(f"</x><set xmlns='{NS_RSM}'><max>{rsm_max}</max>")
        if after:
            parts.append(f"<after>{escape(after)}</after>")
        parts.append("</set></query></iq>")
        self.writer.write("".join(parts).encode())
        ids, bodies = [], []
        while True:
            st = await self._stanza()
            if st.tag == "{jabber:client}message":
                res = st.find(f"{{{NS_MAM}}}result")
                if res is None or res.get("queryid") != qid:
                    continue
                ids.append(res.get("id"))
                if want_bodies:
                    b = res.find(f"{{{NS_FWD}}}forwarded/{{jabber:client}}message/{{jabber:client}}body")
                    bodies.append(b.text or "" if b is not None else "")
            elif st.tag == "{jabber:client}iq" and st.get("id") == qid:
                if st.get("type") != "result":
                    raise XmppError("MAM error: " + ET.tostring(st).decode()[:300])
                fin = st.find(f"{{{NS_MAM}}}fin")
                s = fin.find(f"{{{NS_RSM}}}set") if fin is not None else None
                cnt = s.findtext(f"{{{NS_RSM}}}count") if s is not None else None
                return ids, bodies, {"complete": fin.get("complete") in ("true", "1"),
                                     "count": int(cnt) if cnt is not None else None,
                                     "last": s.findtext(f"{{{NS_RSM}}}last") if s is not None else None}


def form_fields(q, with_text=True, field=FT_FIELD):
    f = []
    if with_text:
        f.append((field, q["text"]))
    if "with" in q:
        f.append(("with", q["with"]))
    if "start" in q:
        f.append(("start", stamp(q["start"])))
        f.append(("end", stamp(q["end"])))
    return f


async def client_scan(c, q):
    """What a client does today: every page of the (with/time filtered)
    archive over plain MAM, bodies filtered on the client."""
    want = q["text"].split()
    hits, after, pages = [], None, 0
    while True:
        ids, bodies, fin = await c.mam(form_fields(q, with_text=False), after=after, want_bodies=True)
        pages += 1
        for i, b in zip(ids, bodies):
            ws = words(b)
            if all(w in ws for w in want):
                hits.append(i)
        if fin["complete"] or not ids:
            return hits, len(hits), pages
        after = fin["last"] or ids[-1]


async def run_queries(targets, host, password, d, scan, repeats, only):
    """targets: [(system, port, field, out)], asked in turn: query by query,
    repeat by repeat, the order rotating, so that a change of machine load
    hits every system alike."""
    with open(f"{d}/queries.json") as f:
        qs = json.load(f)
    if only:
        qs = [qs[i] for i in only]
    conns = []
    for system, port, field, out in targets:
        c = Conn(host, int(port))
        await c.login(ME, password)
        conns.append(c)
    # warm-up: every query once, untimed (caches, first use of each path)
    if not scan:
        for q in qs:
            for c, (_, _, field, _) in zip(conns, targets):
                await c.mam(form_fields(q, field=field))
    res = [[] for _ in targets]
    for q in qs:
        got = [{"n": q["n"], "ms": []} for _ in targets]
        for r in range(repeats):
            order = list(range(len(targets)))
            k = (q["n"] + r) % len(order)
            order = order[k:] + order[:k]
            for j in order:
                c, field = conns[j], targets[j][2]
                t = time.perf_counter()
                if scan:
                    ids, count, pages = await client_scan(c, q)
                    got[j]["pages"] = pages
                else:
                    ids, _, fin = await c.mam(form_fields(q, field=field))
                    count = fin["count"]
                got[j]["ms"].append((time.perf_counter() - t) * 1000)
                got[j]["ids"], got[j]["count"] = ids, count
        for j in range(len(targets)):
            res[j].append(got[j])
    for j, (system, _, _, out) in enumerate(targets):
        with open(out, "w") as f:
            json.dump({"system": system, "scan": scan, "results": res[j]}, f)
    for c in conns:
        c.writer.close()


async def template(host, port, pa, pb):
    a, b = Conn(host, port), Conn(host, port)
    await a.login("alice", pa, "bench")
    await b.login("bob", pb, "pc")
    await a.send_raw("<presence/>")
    await b.send_raw("<presence/>")
    await asyncio.sleep(0.5)
    await a.send_raw(f"<message to='bob@{DOMAIN}' type='chat' id='tplout'><body>TEMPLATE OUT</body></message>")
    await b.wait_message()
    await b.send_raw(f"<message to='alice@{DOMAIN}' type='chat' id='tplin'><body>TEMPLATE IN</body></message>")
    await a.wait_message()
    await asyncio.sleep(1.0)
    for c in (a, b):
        c.writer.close()


# ------------------------------------------------------------------ report
def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))
    return xs[k]


def report(d, paths):
    msgs = load_msgs(d)
    with open(f"{d}/queries.json") as f:
        qs = json.load(f)
    key_of = {m["key"]: m["i"] for m in msgs}
    us_of = {str(m["us"]): m["i"] for m in msgs}
    systems = {}
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        systems[r["system"]] = r
    naive_all = {q["n"]: naive(msgs, q) for q in qs}
    naive_any = {q["n"]: naive(msgs, q, any_word=True) for q in qs}
    hits = [len(naive_all[q["n"]]) for q in qs]
    print(f"queries: {len(qs)} ({len(qs) // 9} per class: 1-3 words x alone/with/time range), "
          f"page max {PAGE}; naive hits per query: median {statistics.median(hits):.0f}, "
          f"min {min(hits)}, max {max(hits)}")
    rows = {}
    notes = []
    for name, r in systems.items():
        to_i = us_of if name.startswith("ejabberd") else key_of
        agree, total, anyagree = 0, 0, 0
        bad = []
        for x in r["results"]:
            q = qs[x["n"]]
            got = [to_i.get(i, -1) for i in x["ids"]]
            total += 1
            exp = naive_all[q["n"]]
            if r["scan"]:
                ok = got == exp and x["count"] == len(exp)
            else:
                ok = got == exp[:PAGE] and x["count"] == len(exp)
            if ok:
                agree += 1
            else:
                bad.append(q["n"])
                e2 = naive_any[q["n"]]
                if got == e2[:PAGE] and x["count"] == len(e2):
                    anyagree += 1
        times = [t for x in r["results"] for t in x["ms"]]
        rows[name] = {"agree": agree, "total": total, "anyagree": anyagree, "bad": bad,
                      "times": times, "per_n": {x["n"]: statistics.median(x["ms"]) for x in r["results"]},
                      "results": r["results"]}
    print()
    print(f"{'system':<34} {'queries':>7} {'samples':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} "
          f"{'agree':>9}")
    labels = {"ejabberd_ours": "(a) ejabberd + our module (SQLite)",
              "ejabberd_mariadb": "(b) ejabberd on MariaDB FULLTEXT",
              "prosody_ours": "(c) Prosody + our module (SQLite)",
              "prosody_scan": "(d) Prosody, client pages+filters"}
    for name in ("ejabberd_ours", "ejabberd_mariadb", "prosody_ours", "prosody_scan"):
        if name not in rows:
            continue
        x = rows[name]
        print(f"{labels[name]:<34} {x['total']:>7} {len(x['times']):>7} {pct(x['times'], 50):>9.2f} "
              f"{pct(x['times'], 99):>9.2f} {max(x['times']):>9.2f} {x['agree']:>4}/{x['total']:<4}")
    one = {q["n"] for q in qs if q["words"] == 1}
    print("1-word queries only (where MariaDB's natural-language MATCH has the same semantics):")
    for name in ("ejabberd_ours", "ejabberd_mariadb", "prosody_ours"):
        if name in rows:
            ts = [t for r in rows[name]["results"] if r["n"] in one for t in r["ms"]]
            ag = sum(1 for n in one if n not in rows[name]["bad"] and
                     any(r["n"] == n for r in rows[name]["results"]))
            print(f"  {labels[name]:<34} p50 {pct(ts, 50):8.2f} ms  p99 {pct(ts, 99):8.2f} ms  "
                  f"agree {ag}/{len(one)}")
    print()
    print("p50 ms by query class (words x filter):")
    print(f"{'class':<12}" + "".join(f"{n:>18}" for n in rows))
    for nw in (1, 2, 3):
        for kind in ("alone", "with", "range"):
            ns = {q["n"] for q in qs if q["words"] == nw and q["kind"] == kind}
            line = f"{nw}w {kind:<9}"
            for name, x in rows.items():
                ts = [t for r in x["results"] if r["n"] in ns for t in r["ms"]]
                line += f"{pct(ts, 50):>18.2f}" if ts else f"{'-':>18}"
            print(line)
    print()
    for name, x in rows.items():
        if x["bad"]:
            more = ""
            if name == "ejabberd_mariadb":
                multi = [n for n in x["bad"] if qs[n]["words"] > 1]
                more = (f"; {len(multi)} of them multi-word, {x['anyagree']} agree with an ANY-word "
                        f"filter instead (MATCH ... AGAINST in natural language mode is OR)")
            print(f"disagreement: {name}: {len(x['bad'])} queries differ from the naive "
                  f"all-words filter (first: {[qs[n]['text'] for n in x['bad'][:3]]}){more}")
        else:
            print(f"agreement: {name}: all {x['total']} queries equal the naive all-words filter")

    def p(name, q):
        return pct(rows[name]["times"], q) if name in rows else float("nan")

    def ratio(a, b):
        return f"{a / b:.2f}" if b and b == b and a == a else "NA"

    a50, a99 = p("ejabberd_ours", 50), p("ejabberd_ours", 99)
    b50, b99 = p("ejabberd_mariadb", 50), p("ejabberd_mariadb", 99)
    c50 = p("prosody_ours", 50)
    if "prosody_scan" in rows and "prosody_ours" in rows:
        ns = [x["n"] for x in rows["prosody_scan"]["results"]]
        d_same = statistics.median(rows["prosody_scan"]["per_n"][n] for n in ns)
        c_same = statistics.median(rows["prosody_ours"]["per_n"][n] for n in ns)
        print(f"(d) vs (c) on the same {len(ns)} queries: client scan median {d_same:.1f} ms "
              f"({statistics.median(x['pages'] for x in rows['prosody_scan']['results']):.0f} pages), "
              f"ours median {c_same:.2f} ms")
    else:
        d_same = c_same = float("nan")
    sp_b50, sp_b99, sp_d = ratio(b50, a50), ratio(b99, a99), ratio(d_same, c_same)
    print()

    def met(cond):
        return "met" if cond else "NOT met"
    try:
        print(f"target (a) ahead of (b) at p50: {met(float(sp_b50) > 1)} ({sp_b50}x); "
              f"at p99: {met(float(sp_b99) > 1)} ({sp_b99}x)")
        print(f"target (c) >= 100x faster than (d): {met(float(sp_d) >= 100)} ({sp_d}x)")
    except ValueError:
        print("targets: a system is missing (NA)")
    for name in ("ejabberd_ours", "prosody_ours"):
        if name in rows:
            x = rows[name]
            print(f"target {name} agrees with the naive filter on every query: "
                  f"{met(x['agree'] == x['total'])} ({x['agree']}/{x['total']})")
    print(f"summary: ejabberd_p50_ms={a50:.2f} prosody_p50_ms={c50:.2f} speedup_vs_mariadb_p50={sp_b50} "
          f"speedup_vs_mariadb_p99={sp_b99} speedup_vs_client_scan={sp_d}")


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(int(sys.argv[2]), sys.argv[3])
    elif cmd == "template":
        asyncio.run(template(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
    elif cmd == "load-ejabberd-sqlite":
        load_ejabberd_sqlite(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "load-ejabberd-mysql":
        load_ejabberd_mysql(sys.argv[2], sys.argv[3])
    elif cmd == "load-prosody":
        load_prosody(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "query":
        # query HOST PASS DIR [--scan] [--repeats R] [--only i,j] SYSTEM@PORT@FIELD@OUT...
        host, pw, d = sys.argv[2:5]
        rest = sys.argv[5:]
        scan = "--scan" in rest
        repeats = int(rest[rest.index("--repeats") + 1]) if "--repeats" in rest else 1
        only = [int(x) for x in rest[rest.index("--only") + 1].split(",")] if "--only" in rest else None
        targets = [tuple(x.split("@", 3)) for x in rest if x.count("@") >= 3]
        asyncio.run(run_queries(targets, host, pw, d, scan, repeats, only))
    elif cmd == "report":
        report(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

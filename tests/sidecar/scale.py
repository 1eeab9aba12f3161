#!/usr/bin/env python3
"""Several sidecar component instances on one domain (ejabberd balances the
component's connections), one PostgreSQL. Driven by tests/sidecar_scale.sh;
the clients and helpers are tests/sidecar/component.py's.

  two        two instances: alice creates a room (bob a member, members may
             invite); alice and bob add 20 members at once (their IQs land on
             both instances): every change is kept and the notifications form
             one version chain; alice and bob send 100 messages each (split
             over both instances, each archives some): each arrives once at
             each member; full-text searches answered by each instance (told
             apart by its stanzas_in metric) see all 200.
  flood F S  alice floods the room for S seconds; each echoed body is written
             to F (the instance killed meanwhile is the script's business).
  verify F   after the kill and the restart: every echoed body is found by
             search exactly once, on each of the instances (METRICS_ALL).

Environment: as component.py, plus METRICS_ALL (comma-separated host:port of
every live instance's metrics).
"""

import asyncio
import logging
import os
import sys
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from component import (  # noqa: E402  (reused, not copied)
    ALICE, BOB, MUC, NS_ML, Client, Run, StepFailed, check, el, users,
)
from slixmpp.xmlstream import ET  # noqa: E402

ROOM = f"scale-{uuid.uuid4().hex[:6]}@{MUC}"
AFF = NS_ML + "#affiliations"


def metrics_of(addr):
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    vals = {}
    for line in text.splitlines():
        if line.startswith("component_") and " " in line:
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def instances():
    return [a for a in os.environ["METRICS_ALL"].split(",") if a]


def stanzas_in():
    return [metrics_of(a).get("component_stanzas_in_total", 0) for a in instances()]


async def search_on_each(client, room, text, want, what, tries=60):
    """Full-text searches until each instance has answered at least one
    (ejabberd picks the instance per stanza; the one whose stanzas_in went
    up answered): each answer must count `want`. Returns answers per
    instance."""
    n = len(instances())
    answered = [0] * n
    for _ in range(tries):
        before = stanzas_in()
        page, err = await client.mam(to=room, fields=[("fulltext", text)], rsm={"max": 1})
        after = stanzas_in()
        check(err is None, f"{what}: MAM error {err}")
        moved = [i for i in range(n) if after[i] > before[i]]
        check(page["count"] == want,
              f"{what}: count {page['count']}, expected {want} (instances {moved})")
        if len(moved) == 1:
            answered[moved[0]] += 1
        if all(answered):
            return answered
    raise StepFailed(f"{what}: not every instance answered in {tries} searches: {answered}")


class Scale(Run):
    async def two(self):
        a = Client("alice", os.environ["XMPP_PASS_A"], "scale")
        b = Client("bob", os.environ["XMPP_PASS_B"], "scale")
        await self.step("alice and bob log in", lambda: asyncio.gather(a.login(), b.login()))
        await asyncio.sleep(1.5)  # presences reach one instance each, and the others through PostgreSQL

        async def create():
            q = el(f"{{{NS_ML}#create}}query", children=[
                el(f"{{{NS_ML}#create}}occupants",
                   children=users((BOB, "member"), ns=NS_ML + "#create"))])
            r, err = await a.iq(ROOM, "set", None, raw=q)
            check(err is None, f"create: {err}")
            await self.settle([a, b], lambda x: x.find(f"{{{AFF}}}x") is not None,
                              {a: 1, b: 1}, "create notification")
        await self.step("create a room (alice owner, bob member)", create)

        async def concurrent_affiliations():
            added = [f"u{i:02d}@localhost" for i in range(20)]
            a.take()
            b.take()
            # 10 IQs each, all in flight at once
            res = await asyncio.gather(
                *(a.iq(ROOM, "set", AFF, users((u, "member"))) for u in added[:10]),
                *(b.iq(ROOM, "set", AFF, users((u, "member"))) for u in added[10:]))
            errs = [e for _, e in res if e]
            check(not errs, f"errors: {errs}")
            got = await self.settle([a], lambda x: x.find(f"{{{AFF}}}x") is not None, {a: 20},
                                    "affiliation notifications")
            chain = []
            for x in got[a]:
                xa = x.find(f"{{{AFF}}}x")
                chain.append((xa.findtext(f"{{{AFF}}}prev-version"), xa.findtext(f"{{{AFF}}}version")))
            prevs = {p for p, _ in chain}
            starts = [p for p, _ in chain if p not in {v for _, v in chain}]
            check(len(prevs) == 20, f"two changes on one version (a fork): {chain}")
            check(len(starts) == 1, f"not one chain: {chain}")
            r, err = await a.iq(ROOM, "get", AFF)
            check(err is None, f"get affiliations: {err}")
            us = {u.text for u in r.iter(f"{{{AFF}}}user")}
            check(us == set(added) | {ALICE, BOB}, f"members lost: {set(added) - us}")
            return "20 concurrent additions: 22 members, one chain of 20 versions"
        await self.step("concurrent affiliation changes on one room from both instances",
                        concurrent_affiliations)

        async def split_flow():
            a.take()
            b.take()
            before = [metrics_of(m).get("component_archive_writes_total", 0) for m in instances()]
            for i in range(100):
                a.send_message(mto=ROOM, mbody=f"split kilo{i:03d} from alice", mtype="groupchat")
                b.send_message(mto=ROOM, mbody=f"split lima{i:03d} from bob", mtype="groupchat")
                await asyncio.sleep(0.005)
            isflow = lambda x: (x.findtext("{jabber:client}body") or "").startswith("split ")
            got = await self.settle([a, b], isflow, {a: 200, b: 200}, "the flow")
            for cl in (a, b):
                bodies = [x.findtext("{jabber:client}body") for x in got[cl]]
                check(len(set(bodies)) == 200, f"{cl.boundjid}: duplicates")
            after = [metrics_of(m).get("component_archive_writes_total", 0) for m in instances()]
            share = [int(y - x) for x, y in zip(before, after)]
            check(sum(share) == 200, f"archive writes {share}")
            check(all(s > 0 for s in share), f"not split over the instances: {share}")
            return f"200 messages, each once at each member; archived per instance: {share}"
        await self.step("one message flow split across both instances", split_flow)

        async def searches():
            answered = await search_on_each(a, ROOM, "split", 200, "search")
            await search_on_each(a, ROOM, "kilo042", 1, "one word")
            return f"each instance counts 200 (answers per instance {answered})"
        await self.step("searches on either instance see every message", searches)
        await asyncio.gather(a.logout(), b.logout(), return_exceptions=True)
        with open(os.environ["SCALE_ROOM_FILE"], "w") as f:
            f.write(ROOM + "\n")

    async def flood(self, out_path, seconds):
        room = open(os.environ["SCALE_ROOM_FILE"]).read().strip()
        a = Client("alice", os.environ["XMPP_PASS_A"], "flood")
        await self.step("flood: alice logs in", a.login)
        await asyncio.sleep(1)
        echoed, i = 0, 0
        with open(out_path, "w") as out:
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while loop.time() < end:
                a.send_message(mto=room, mbody=f"flood zulu{i:05d}", mtype="groupchat")
                i += 1
                await asyncio.sleep(0.01)
                for x in a.take(lambda x: (x.findtext("{jabber:client}body") or "").startswith("flood ")):
                    if x.get("type") == "groupchat":
                        out.write(x.findtext("{jabber:client}body") + "\n")
                        out.flush()
                        echoed += 1
            await asyncio.sleep(2)  # the last echoes
            for x in a.take(lambda x: (x.findtext("{jabber:client}body") or "").startswith("flood ")):
                if x.get("type") == "groupchat":
                    out.write(x.findtext("{jabber:client}body") + "\n")
                    echoed += 1
        print(f"ok: flood: {i} sent, {echoed} echoed", flush=True)
        self.passed += 1
        try:
            await asyncio.wait_for(a.logout(), 5)
        except Exception:
            pass

    async def verify(self, path):
        room = open(os.environ["SCALE_ROOM_FILE"]).read().strip()
        bodies = [line.strip() for line in open(path) if line.strip()]
        a = Client("alice", os.environ["XMPP_PASS_A"], "verify")
        await self.step("verify: alice logs in", a.login)

        async def each_once():
            check(len(bodies) > 50, f"only {len(bodies)} echoed")
            check(len(set(bodies)) == len(bodies), "a body echoed twice")
            missing = []
            for body in bodies:
                p, err = await a.mam(to=room, fields=[("fulltext", body.split()[1])])
                check(err is None, f"MAM: {err}")
                if [r[2] for r in p["results"]] != [body]:
                    missing.append((body, [r[2] for r in p["results"]]))
            check(not missing, f"{len(missing)} echoed messages not found once: {missing[:5]}")
            return f"{len(bodies)} echoed messages, each found exactly once"
        await self.step("every echoed message is archived once and searchable", each_once)

        async def every_instance():
            answered = await search_on_each(a, room, "flood", int(os.environ["FLOOD_ARCHIVED"]),
                                            "flood count", tries=90)
            return f"each instance (the restarted one too) counts every archived flood message: {answered}"
        await self.step("every instance, the restarted one too, sees the whole flood", every_instance)
        await a.logout()


async def amain(phase):
    run = Scale()
    if phase == "two":
        await run.two()
    elif phase == "flood":
        await run.flood(sys.argv[2], float(sys.argv[3]))
    elif phase == "verify":
        await run.verify(sys.argv[2])
    print(f"{run.passed} passed, {run.failed} failed", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    sys.exit(asyncio.run(amain(sys.argv[1] if len(sys.argv) > 1 else "two")))

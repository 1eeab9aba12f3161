#!/usr/bin/env python3
"""bench-scale's driver: plays the XMPP server's side of XEP-0114 for N
sidecar component instances (no ejabberd in the measure: the component and
PostgreSQL are what is measured), and drives room messages through them.

  1. accepts --instances connections on --port, handshakes (any digest);
  2. on every connection: available presence of each member (ROOMS rooms,
     two members each, one resource each; as if each instance got them);
  3. creates the rooms (room r through connection r mod N);
  4. closed loop for --secs (after --warmup): --window messages in flight
     per connection, room after room; a message is done when its first
     fanned-out copy comes back (the room's transaction committed, the
     copies rendered); its send-to-copy time is recorded;
  5. CPU seconds of each instance pid, of the PostgreSQL server (the
     postmaster and its children) and of this driver over the window, from
     /proc; the instances' archive-write and index-lag histograms over the
     window (their /metrics, before and after).
Prints `RESULT key=value ...` (one line) for bench/scale/run.sh.
Mode --tail-only: no connections; measures the histograms and CPU over
--secs while run.sh writes the archive directly.
"""

import argparse
import asyncio
import os
import re
import time
import urllib.request

DOMAIN = "muclight.bench"
HOST = "bench"
BODY = re.compile(rb"<body>t(\d+)</body>")
IQ = re.compile(rb"<iq [^>]*>")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def pg_cpu(pg_pid):
    """CPU of the postmaster and its live children, by pid (children that
    exit within the window are lost: the instances' connections persist)."""
    return {p: cpu_of(p) for p in [pg_pid] + children(pg_pid)}


def histogram(addrs, name):
    """Cumulative bucket counts {le: count} summed over instances."""
    total = {}
    for a in addrs:
        text = urllib.request.urlopen(f"http://{a}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + "_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                v = float(line.rsplit(" ", 1)[1])
                key = float("inf") if le == "+Inf" else float(le)
                total[key] = total.get(key, 0.0) + v
    return total


def quantile(before, after, q):
    """q-quantile of the observations between two scrapes (linear within
    the bucket), in ms; None without observations."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in les]
    n = counts[-1] if counts else 0
    if n <= 0:
        return None
    want = q * n
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, counts):
        if c >= want:
            if le == float("inf"):
                return prev_le * 1000
            frac = (want - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return (prev_le + (le - prev_le) * frac) * 1000
        prev_le, prev_c = le, c
    return None


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Link:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.buf = b""
        self.inflight = {}  # seq -> send time
        self.done = 0
        self.lat = []
        self.measuring = False
        self.wake = asyncio.Event()
        self.results = set()

    async def handshake(self):
        head = b""
        while b">" not in head or b"stream:stream" not in head:
            head += await self.r.read(4096)
        sid = os.urandom(6).hex()
        self.w.write(f"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                     f"xmlns='jabber:component:accept' from='{DOMAIN}' id='{sid}'>".encode())
        got = b""
        while b"</handshake>" not in got:
            got += await self.r.read(4096)
        self.w.write(b"<handshake/>")
        await self.w.drain()

    async def reader(self):
        while True:
            data = await self.r.read(262144)
            if not data:
                return
            self.buf += data
            cut = self.buf.rfind(b">")
            if cut < 0:
                continue
            chunk, self.buf = self.buf[:cut + 1], self.buf[cut + 1:]
            now = time.perf_counter()
            for m in BODY.finditer(chunk):
                t = self.inflight.pop(int(m.group(1)), None)
                if t is not None:
                    self.done += 1
                    if self.measuring:
                        self.lat.append(now - t)
            for m in IQ.finditer(chunk):
                tag = m.group(0)
                i = re.search(rb"id='(c\d+)'", tag)
                if i and b"type='result'" in tag:
                    self.results.add(i.group(1).decode())
            self.wake.set()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--rooms", type=int, default=100)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--pids", default="")
    ap.add_argument("--pg-pid", type=int, default=0)
    ap.add_argument("--metrics", default="")
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--tail-only", action="store_true")
    a = ap.parse_args()
    pids = [int(p) for p in a.pids.split(",") if p]
    addrs = [m for m in a.metrics.split(",") if m]

    def sample():
        return ([cpu_of(p) for p in pids], pg_cpu(a.pg_pid) if a.pg_pid else {},
                cpu_of(os.getpid()), time.perf_counter(),
                histogram(addrs, "component_archive_write_seconds"),
                histogram(addrs, "component_index_lag_seconds"))

    def report(s0, s1, extra):
        el = s1[3] - s0[3]
        inst = [f"{(b - x) / el * 100:.0f}" for x, b in zip(s0[0], s1[0])]
        pg = sum(v - s0[1].get(p, 0.0) for p, v in s1[1].items()) / el * 100
        drv = (s1[2] - s0[2]) / el * 100
        aw50, aw99 = quantile(s0[4], s1[4], 0.5), quantile(s0[4], s1[4], 0.99)
        il50, il99 = quantile(s0[5], s1[5], 0.5), quantile(s0[5], s1[5], 0.99)
        f = lambda v: "na" if v is None else f"{v:.1f}"
        print(f"RESULT {extra} secs={el:.1f} cpu_instances_pct={'/'.join(inst)} cpu_pg_pct={pg:.0f} "
              f"cpu_driver_pct={drv:.0f} archive_p50_ms={f(aw50)} archive_p99_ms={f(aw99)} "
              f"index_lag_p50_ms={f(il50)} index_lag_p99_ms={f(il99)}", flush=True)

    if a.tail_only:
        s0 = sample()
        if a.ready_file:
            open(a.ready_file, "w").write("go\n")
        await asyncio.sleep(a.secs)
        s1 = sample()
        report(s0, s1, "mode=tail")
        return

    links = []
    accepted = asyncio.Queue()

    async def on_conn(r, w):
        await accepted.put(Link(r, w))
    server = await asyncio.start_server(on_conn, "127.0.0.1", a.port)
    if a.ready_file:
        open(a.ready_file, "w").write("listening\n")
    for _ in range(a.instances):
        link = await asyncio.wait_for(accepted.get(), 60)
        await asyncio.wait_for(link.handshake(), 10)
        links.append(link)
    for link in links:
        asyncio.create_task(link.reader())
    pres = "".join(f"<presence from='u{r}{s}@{HOST}/r' to='{DOMAIN}'/>"
                   for r in range(a.rooms) for s in "ab").encode()
    for link in links:
        link.w.write(pres)
        await link.w.drain()
    for r in range(a.rooms):
        link = links[r % len(links)]
        link.w.write((f"<iq from='u{r}a@{HOST}/r' to='room{r}@{DOMAIN}' id='c{r}' type='set'>"
                      f"<query xmlns='urn:xmpp:muclight:0#create'><occupants>"
                      f"<user affiliation='member'>u{r}b@{HOST}</user></occupants></query></iq>").encode())
    for link in links:
        await link.w.drain()
    deadline = time.monotonic() + 60
    while sum(len(l.results) for l in links) < a.rooms:
        if time.monotonic() > deadline:
            raise SystemExit(f"rooms not created: {sum(len(l.results) for l in links)}/{a.rooms}")
        await asyncio.sleep(0.05)
    seq = [0]

    async def pump(i, link, until):
        room = i
        while time.perf_counter() < until:
            room_batch = []
            while len(link.inflight) < a.window:
                seq[0] += 1
                s = seq[0]
                r = room % a.rooms
                room += len(links)
                link.inflight[s] = time.perf_counter()
                room_batch.append(f"<message from='u{r}a@{HOST}/r' to='room{r}@{DOMAIN}' type='groupchat'>"
                                  f"<body>t{s}</body></message>")
            if room_batch:
                link.w.write("".join(room_batch).encode())
                await link.w.drain()
            link.wake.clear()
            try:
                await asyncio.wait_for(link.wake.wait(), 1)
            except asyncio.TimeoutError:
                pass

    t0 = time.perf_counter()
    end = t0 + a.warmup + a.secs
    tasks = [asyncio.create_task(pump(i, l, end)) for i, l in enumerate(links)]
    await asyncio.sleep(a.warmup)
    for l in links:
        l.measuring = True
    done0 = sum(l.done for l in links)
    s0 = sample()
    await asyncio.sleep(a.secs)
    s1 = sample()
    done1 = sum(l.done for l in links)
    for l in links:
        l.measuring = False
    await asyncio.gather(*tasks)
    lat = [x for l in links for x in l.lat]
    rate = (done1 - done0) / (s1[3] - s0[3])
    f = lambda v: "na" if v is None else f"{v * 1000:.1f}"
    report(s0, s1, f"mode=load instances={a.instances} rooms={a.rooms} window={a.window} msgs={done1 - done0} "
                   f"msgs_per_s={rate:.0f} rtt_p50_ms={f(pct(lat, 0.5))} rtt_p99_ms={f(pct(lat, 0.99))}")
    for l in links:
        l.w.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())

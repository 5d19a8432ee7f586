#!/usr/bin/env python3
"""The harvest benchmark: runs the release binary against its own replica and prints what a
harvest costs.

    cargo build --release
    python3 bench/bench.py                      # 200,000 records, unthrottled, default rows
    python3 bench/bench.py --records 1000000 --rows 1000
    python3 bench/bench.py --odp --records 60000   # a service shaped like the Open Data Portal
    python3 bench/bench.py --curve 5000000      # records per second for each million

Unthrottled, it prints CPU seconds per 100,000 records (user + system of the harvester alone,
from /usr/bin/time -v), peak RSS, bytes per record on disk (database plus WAL), requests and
wall clock. With --odp the replica answers like the Open Data Portal (one request in flight, 4
per second, 300 ms plus 100 ms per MB, a 10,000 start + rows cap, 413 over 6 MB), the harvest
runs at --rate 4, and the wall clock is compared with an ideal harvester that pages each leaf of
the same partition tree in the fewest pages the cap and the 6 MB limit allow, and with an oracle
that knows where every record is and counts nothing. Both runs end with a projection of a full
mirror of 133 M records at the portal's limits. Only the standard library is needed.
"""

import argparse
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "oac-mirror")
PREFIX = "/api/v1/patent/oa/oa_citations/v2"
FULL_RECORDS = 133_157_634
WEEKLY_CALLS = 5_000_000
ODP = dict(rate=4.0, latency=0.3, per_mb=0.1, cap=10_000, limit=6_000_000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_replica(records, odp, seed):
    port = free_port()
    args = [BIN, "replica", "--listen", f"127.0.0.1:{port}", "--records", str(records),
            "--seed", str(seed)]
    if odp:
        args += ["--max-in-flight", "1", "--max-per-second", "4", "--latency-ms", "300",
                 "--ms-per-mb", "100", "--max-response-bytes", str(ODP["limit"]),
                 "--paging-cap", str(ODP["cap"])]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}{PREFIX}"
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"the replica stopped: {proc.stderr.read()}")
            time.sleep(0.2)
    sys.exit("the replica did not start")


def timed(args, env=None):
    """Runs args under /usr/bin/time -v; returns (cpu seconds, peak RSS in MB, wall seconds)."""
    started = time.time()
    out = subprocess.run(["/usr/bin/time", "-v"] + args, capture_output=True, text=True, env=env)
    wall = time.time() - started
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {out.returncode}:\n{out.stderr[-3000:]}")

    def field(name):
        return float(re.search(rf"{re.escape(name)}: ([\d.]+)", out.stderr).group(1))

    cpu = field("User time (seconds)") + field("System time (seconds)")
    return cpu, field("Maximum resident set size (kbytes)") / 1024, wall


def disk_bytes(db):
    return sum(os.path.getsize(db + suffix) for suffix in ("", "-wal", "-shm")
               if os.path.exists(db + suffix))


def harvest(base_url, db, rows, rate, extra=()):
    args = [BIN, "harvest", "--db", db, "--base-url", base_url, "--rate", str(rate), "--quiet"]
    if rows:
        args += ["--rows", str(rows)]
    return timed(args + list(extra), env={**os.environ, "USPTO_API_KEY": "bench"})


def stored(db):
    con = sqlite3.connect(db)
    records = con.execute("SELECT count(*) FROM citations").fetchone()[0]
    requests = con.execute("SELECT requests FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]
    leaves = [n for (n,) in con.execute(
        "SELECT upstream_count FROM partitions WHERE state = 'done'")]
    splits = con.execute(
        "SELECT count(*) FROM partitions WHERE state = 'split' AND upstream_count IS NOT NULL"
    ).fetchone()[0]
    con.close()
    return records, requests, leaves, splits


def service_time(nbytes):
    return max(1 / ODP["rate"], ODP["latency"] + ODP["per_mb"] * nbytes / 1e6)


def ideal(leaves, splits, bytes_per_record, records):
    """The same tree, each split counted once (one record asked for) and each leaf paged in the
    fewest pages the cap and the 6 MB limit allow; and an oracle that counts nothing."""
    per_page = min(ODP["cap"], int(ODP["limit"] / bytes_per_record))
    requests, wall = splits, splits * service_time(bytes_per_record)
    for n in leaves:
        pages = max(1, -(-n // per_page))
        requests += pages
        wall += sum(service_time(min(per_page, n - i * per_page) * bytes_per_record)
                    for i in range(pages))
    oracle_pages = -(-records // per_page)
    oracle_wall = oracle_pages * service_time(per_page * bytes_per_record)
    return requests, wall, oracle_pages, oracle_wall


def projection(bytes_per_record_disk, requests_per_record, bytes_per_record_json):
    requests = FULL_RECORDS * requests_per_record
    per_request = service_time(bytes_per_record_json * FULL_RECORDS / max(requests, 1))
    hours = requests * per_request / 3600
    print(f"projection for {FULL_RECORDS:,} records at the portal's limits: "
          f"{requests:,.0f} requests ({100 * requests / WEEKLY_CALLS:.1f}% of a week's "
          f"{WEEKLY_CALLS:,} calls), about {hours:.1f} h, "
          f"{bytes_per_record_disk * FULL_RECORDS / 1e9:.1f} GB on disk")


def json_bytes_per_record(base_url):
    """The replica's average answer bytes per record, from one large page."""
    import urllib.parse
    import urllib.request
    body = urllib.parse.urlencode({"criteria": "*:*", "start": 0, "rows": 2000}).encode()
    req = urllib.request.Request(base_url + "/records", data=body,
                                 headers={"X-API-KEY": "bench"})
    with urllib.request.urlopen(req) as r:
        text = r.read()
    docs = len(json.loads(text)["response"]["docs"])
    return len(text) / max(docs, 1)


def one(args, records, odp, seed=1):
    replica, base_url = start_replica(records, odp, seed)
    try:
        bpr_json = json_bytes_per_record(base_url) if not odp else None
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            db = os.path.join(tmp, "bench.db")
            cpu, rss, wall = harvest(base_url, db, args.rows, ODP["rate"] if odp else 10000)
            n, requests, leaves, splits = stored(db)
            disk = disk_bytes(db)
    finally:
        replica.terminate()
        replica.wait()
    return dict(records=n, cpu=cpu, rss=rss, wall=wall, requests=requests, disk=disk,
                leaves=leaves, splits=splits, bpr_json=bpr_json)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--rows", type=int, help="fixed page size (default: the tool's default)")
    ap.add_argument("--odp", action="store_true", help="a service shaped like the portal")
    ap.add_argument("--curve", type=int, metavar="N",
                    help="harvest 1M, 2M, ... N records and print records per second for each")
    ap.add_argument("--dir", help="where the database goes (default: the system's temp dir)")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")

    if args.curve:
        print("records  CPU s  CPU s/100k  records/s (CPU)  records/s of that million  peak RSS MB  bytes/record")
        last = None
        for m in range(1, args.curve // 1_000_000 + 1):
            r = one(args, m * 1_000_000, False)
            marginal = ""
            if last:
                marginal = f"{(r['records'] - last['records']) / max(r['cpu'] - last['cpu'], 1e-9):,.0f}"
            print(f"{r['records']:>9,} {r['cpu']:6.1f} {100_000 * r['cpu'] / r['records']:9.2f} "
                  f"{r['records'] / r['cpu']:13,.0f} {marginal:>22} {r['rss']:13.0f} "
                  f"{r['disk'] / r['records']:10.0f}", flush=True)
            last = r
        return

    r = one(args, args.records, args.odp)
    n = r["records"]
    print(f"records        {n:,}")
    print(f"CPU            {r['cpu']:.2f} s (user + sys), {100_000 * r['cpu'] / n:.2f} s per 100,000 records")
    print(f"records/s      {n / r['wall']:,.0f} wall, {n / r['cpu']:,.0f} per CPU second")
    print(f"peak RSS       {r['rss']:.0f} MB")
    print(f"disk           {r['disk']:,} bytes, {r['disk'] / n:.0f} bytes per record (database + WAL)")
    print(f"requests       {r['requests']:,} ({len(r['leaves'])} leaves, {r['splits']} splits)")
    print(f"wall clock     {r['wall']:.1f} s")
    if args.odp:
        # The replica's JSON size per record, measured without limits on a second replica.
        replica, base_url = start_replica(args.records, False, 1)
        try:
            bpr_json = json_bytes_per_record(base_url)
        finally:
            replica.terminate()
            replica.wait()
        req, wall, oracle_req, oracle_wall = ideal(r["leaves"], r["splits"], bpr_json, n)
        print(f"ideal          {req} requests, {wall:.1f} s (same tree, fewest pages): "
              f"{r['wall'] / wall:.2f}x")
        print(f"oracle         {oracle_req} requests, {oracle_wall:.1f} s (knows where every "
              f"record is, counts nothing): {r['wall'] / oracle_wall:.2f}x")
        projection(r["disk"] / n, r["requests"] / n, bpr_json)
    else:
        projection(r["disk"] / n, r["requests"] / n, r["bpr_json"])


if __name__ == "__main__":
    main()

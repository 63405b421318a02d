#!/usr/bin/env python3
"""Startup benchmark (not a test): cold start to /ready and idle RSS of `rampart serve`.

Usage: bench/startup.py [path/to/rampart] [runs]
Default binary: target/release/rampart (build it with `cargo build --release`).

Prints, for a first start on an empty data dir (key generation, DB creation, migrations) and
for warm restarts on an existing data dir: milliseconds from spawn to the first 200 from
/ready, and the resident set size after one idle second. Goals: < 100 ms, < 30 MB.
"""
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/rampart"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPART_")}
    env["RAMPART_LOG"] = "warn"
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "--data-dir", data_dir, "serve", "--bind", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = p.stdout.readline().strip()
    host, port = line.removeprefix("listening on http://").rsplit(":", 1)
    while True:
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=2)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.001)
    ms = (time.perf_counter() - t0) * 1000
    time.sleep(1.0)
    rss = rss_mb(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    return ms, rss


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found; build with: cargo build --release")
    first, warm, rss = [], [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as d:
            ms, r = start(os.path.join(d, "data"))
            first.append(ms); rss.append(r)
            ms, r = start(os.path.join(d, "data"))
            warm.append(ms); rss.append(r)
    print(f"binary: {BIN} ({os.path.getsize(BIN) / 1e6:.1f} MB), runs: {RUNS}")
    print(f"first start to /ready (empty data dir): median {statistics.median(first):.1f} ms, max {max(first):.1f} ms  (goal < 100 ms)")
    print(f"restart to /ready (existing data dir):  median {statistics.median(warm):.1f} ms, max {max(warm):.1f} ms  (goal < 100 ms)")
    print(f"idle RSS after 1 s: median {statistics.median(rss):.1f} MB, max {max(rss):.1f} MB  (goal < 30 MB)")


if __name__ == "__main__":
    main()

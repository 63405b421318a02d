#!/usr/bin/env python3
"""Export benchmark (not a test): a 50-asset x 20-attacker threat model exported through the
real server, `GET /api/models/{id}/export`, timed end to end (HTTP request to last byte).

Usage: bench/export.py [path/to/rampart] [runs]
Default binary: target/release/rampart, else target/debug/rampart (debug is pessimistic).

Builds the model with the REST API (generate, add assets and attackers up to 50 x 20,
regenerate controls), submits assertions for ten controls, then
exports the threat-model PDF, the assurance PDF, the HTML report and the controls CSV `runs`
times each and prints median and max, the size and the page count (pdfinfo, when present).
Goal: the PDF in under 2 s.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else next(
    (p for p in (f"{ROOT}/target/release/rampart", f"{ROOT}/target/debug/rampart") if os.path.exists(p)),
    f"{ROOT}/target/release/rampart",
)
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
DESCRIPTION = ("A multi-tenant SaaS on Kubernetes with OAuth login, an admin panel, webhooks to "
               "customer endpoints, a Postgres database, S3 file storage and audit logs.")


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("RAMPART_")}
    e["RAMPART_LOG"] = "warn"
    return e


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found; build with: cargo build --release")
    data = tempfile.mkdtemp(prefix="rampart-bench-export.")
    try:
        run(data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run(data):
    admin = [BIN, "--data-dir", data, "admin"]
    subprocess.run(admin + ["setup", "--email", "bench@example.com", "--name", "Bench",
                            "--password-stdin"], input="bench-password-0123456789\n",
                   text=True, check=True, env=env(), capture_output=True)
    key = subprocess.run(admin + ["api-key", "create", "--user", "bench@example.com", "--scope",
                                  "developer"], text=True, check=True, env=env(),
                         capture_output=True).stdout.split()[0]
    p = subprocess.Popen([BIN, "--data-dir", data, "serve", "--bind", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env(), text=True)
    try:
        base = p.stdout.readline().strip().removeprefix("listening on ")
        bench(base, key)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def call(base, key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def bench(base, key):
    j = lambda *a: json.loads(call(base, key, *a) or b"null")
    m = j("POST", "/api/models?wait=true", {"feature_description": DESCRIPTION})
    mid = m["id"]
    for i in range(len(m["assets"]), 50):
        j("POST", f"/api/models/{mid}/assets", {
            "name": f"Bulk data store {i}", "description": f"Customer records shard {i} with PII",
            "properties": ["C", "I"], "impact": ["high", "medium", "low"][i % 3],
            "rationale": "Added by the export benchmark to reach 50 assets."})
    for i in range(len(m["attackers"]), 20):
        j("POST", f"/api/models/{mid}/attackers", {
            "name": f"Attacker archetype {i}", "description": "Synthetic attacker",
            "capability": "Scripted attacks with public tooling", "position": "external",
            "likelihood": ["high", "medium", "low"][i % 3], "threatens": ["C", "I", "A"],
            "rationale": "Added by the export benchmark to reach 20 attackers."})
    j("POST", f"/api/models/{mid}/controls/regenerate", {})
    m = j("GET", f"/api/models/{mid}?include_cos=true")
    for c in m["controls"][:10]:
        j("POST", f"/api/models/{mid}/assertions", {"control_id": c["id"], "assertions": [
            {"type": "file_exists", "params": {"file": f"src/{c['id'].lower()}.rs"},
             "description": f"{c['name']} is implemented"}]})
    print(f"model: {len(m['assets'])} assets x {len(m['attackers'])} attackers, "
          f"{len(m['control_objectives'])} control objectives, {len(m['controls'])} controls, "
          f"assertions on 10 controls; binary {BIN}")
    for query in ["format=pdf", "format=pdf&report=assurance", "format=html",
                  "format=csv&table=controls"]:
        times, size = [], 0
        for _ in range(RUNS):
            t0 = time.perf_counter()
            body = call(base, key, "GET", f"/api/models/{mid}/export?{query}")
            times.append(time.perf_counter() - t0)
            size = len(body)
        pages = ""
        if query.startswith("format=pdf") and shutil.which("pdfinfo"):
            with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
                f.write(body)
                f.flush()
                info = subprocess.run(["pdfinfo", f.name], capture_output=True, text=True).stdout
                pages = next((l.split()[1] for l in info.splitlines() if l.startswith("Pages:")), "?")
                pages = f", {pages} pages"
        print(f"{query:30} median {statistics.median(times):.3f} s, max {max(times):.3f} s "
              f"over {RUNS} runs; {size / 1024:.0f} KiB{pages}")


if __name__ == "__main__":
    main()

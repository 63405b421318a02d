#!/usr/bin/env python3
"""Export benchmark (not a test): a 50-asset x 20-attacker threat model exported through the
real server, `GET /api/models/{id}/export`, timed end to end (HTTP request to last byte).

Usage: bench/export.py [path/to/rampart] [runs] [--keep DIR]
Default binary: target/release/rampart, else target/debug/rampart (debug is pessimistic).
--keep DIR writes the last export of each kind to DIR (to look at them).

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
ARGS = sys.argv[1:]
KEEP = None
if "--keep" in ARGS:
    i = ARGS.index("--keep")
    KEEP = ARGS[i + 1]
    del ARGS[i:i + 2]
BIN = ARGS[0] if len(ARGS) > 0 else next(
    (p for p in (f"{ROOT}/target/release/rampart", f"{ROOT}/target/debug/rampart") if os.path.exists(p)),
    f"{ROOT}/target/release/rampart",
)
RUNS = int(ARGS[1]) if len(ARGS) > 1 else 5
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
                            "--password-stdin"], input="Bench-password-0123456789\n",
                   text=True, check=True, env=env(), capture_output=True)
    key = subprocess.run(admin + ["api-key", "create", "--user", "bench@example.com", "--scope",
                                  "developer"], text=True, check=True, env=env(),
                         capture_output=True).stdout.split()[0]
    vkey = subprocess.run(admin + ["api-key", "create", "--user", "bench@example.com", "--scope",
                                   "verifier"], text=True, check=True, env=env(),
                          capture_output=True).stdout.split()[0]
    p = subprocess.Popen([BIN, "--data-dir", data, "serve", "--bind", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env(), text=True)
    try:
        base = p.stdout.readline().strip().removeprefix("listening on ")
        bench(base, key, vkey, data)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def call(base, key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def ci_runs(base, vkey, mid, data):
    """--keep only: two real CI runs (`rampart verify run`), so the assurance report has
    results, commits, notary signatures and drift: every file exists in the first run, one
    is gone in the second."""
    root = os.path.join(data, "project")
    os.makedirs(os.path.join(root, "src"), exist_ok=True)
    m = json.loads(call(base, vkey, "GET", f"/api/models/{mid}/verification/assertions"))
    files = sorted({a["params"]["file"] for v in m["controls"].values() for a in v
                    if "file" in a.get("params", {})})
    for f in files:
        with open(os.path.join(root, f), "w") as out:
            out.write("// implemented\n")
    for i, gone in enumerate([None, files[0] if files else None]):
        if gone:
            os.remove(os.path.join(root, gone))
        e = env()
        e.update({"SOURCE_REVISION": ["1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c",
                                      "9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d"][i],
                  "SOURCE_BRANCH": "main", "BUILD_NUMBER": str(101 + i)})
        r = subprocess.run([BIN, "verify", "run", mid, "--base-url", base, "--api-key", vkey,
                            "--project-root", root, "--repo", "acme/saas", "--fail-on", "none",
                            "--output", "json"],
                           env=e, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"rampart verify run failed ({r.returncode}): {r.stderr}{r.stdout[:3000]}")


def bench(base, key, vkey, data):
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
    if KEEP:
        ci_runs(base, vkey, mid, data)
    print(f"model: {len(m['assets'])} assets x {len(m['attackers'])} attackers, "
          f"{len(m['control_objectives'])} control objectives, {len(m['controls'])} controls, "
          f"assertions on 10 controls; binary {BIN}")
    queries = ["format=pdf", "format=pdf&report=assurance", "format=html",
               "format=csv&table=controls"]
    if KEEP:
        queries += ["format=html&report=assurance", "format=json", "format=json&report=assurance",
                    "format=sarif", "format=csv&table=assets", "format=csv&table=assertions"]
    for query in queries:
        times, size = [], 0
        for _ in range(RUNS):
            t0 = time.perf_counter()
            body = call(base, key, "GET", f"/api/models/{mid}/export?{query}")
            times.append(time.perf_counter() - t0)
            size = len(body)
        if KEEP:
            os.makedirs(KEEP, exist_ok=True)
            name = query.replace("format=", "").replace("&report=", "-").replace("&table=", "-")
            ext = name.split("-")[0]
            with open(os.path.join(KEEP, f"{name}.{ext}"), "wb") as out:
                out.write(body)
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

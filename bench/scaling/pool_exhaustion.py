"""What /ready, /metrics and the operator API show while one replica's pool is exhausted
(docs/scaling.md, "Connection budget"). Standard library only; reuses bench/chaos/procs.py.

A throwaway PostgreSQL, one `switchboard serve` with a small pool, and a psql session that holds
an ACCESS EXCLUSIVE lock on `api_key` (every authenticated request reads it), so each API request
holds its connection while it waits: more concurrent requests than connections exhaust the pool.

    python3 bench/scaling/pool_exhaustion.py [--pool-max 4] [--requests 12] [--hold-secs 12]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "chaos"))
from procs import REPO, Database, Process, free_port, http_json, log, wait_until  # noqa: E402


def metrics(url):
    """The pool gauges and the request counters by status from /metrics."""
    out = subprocess.run(["curl", "-s", f"{url}/metrics"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if line.startswith("db_pool_connections") or re.match(r"http_requests_total\{.*status=\"(5\d\d)\"", line)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool-max", type=int, default=4)
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--hold-secs", type=int, default=12)
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="switchboard-pool.")
    os.chmod(work, 0o755)
    binary = os.path.join(args.target_dir, "debug", "switchboard")
    db = Database(work)
    server = None
    try:
        env = {"DATABASE_URL": db.url, "PATH": os.environ["PATH"]}
        subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
        out = subprocess.run([binary, "keys", "create", "--superadmin", "--name", "pool"], env=env,
                             check=True, capture_output=True, text=True)
        root = out.stdout.strip().splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env.update({"SWITCHBOARD_LISTEN_ADDR": f"127.0.0.1:{port}", "SWITCHBOARD_INSECURE_SKIP_SIGNATURE": "true",
                    "SWITCHBOARD_DB__POOL_MAX": str(args.pool_max), "SWITCHBOARD_DB__ACQUIRE_TIMEOUT_SECS": "2",
                    "SWITCHBOARD_LOG_FORMAT": "json", "RUST_LOG": "warn"})
        server = Process("replica", [binary, "serve"], env, os.path.join(work, "replica.log"))
        server.start()
        wait_until("ready", lambda: http_json("GET", f"{url}/ready", timeout=2)[0] == 200, 60)
        log(f"pool_max {args.pool_max}, acquire timeout 2 s; before: {metrics(url)}")
        lock = subprocess.Popen(["psql", db.url, "-c",
                                 f"BEGIN; LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({args.hold_secs}); COMMIT;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        answers = []

        def call():
            started = time.time()
            status, body = http_json("GET", f"{url}/api/tenants", token=root, timeout=30)
            answers.append((status, (body or {}).get("code"), round(time.time() - started, 1)))

        threads = [threading.Thread(target=call) for _ in range(args.requests)]
        for t in threads:
            t.start()
        time.sleep(2.5)
        started = time.time()
        status, body = http_json("GET", f"{url}/ready", timeout=10)
        log(f"/ready while exhausted: {status} in {time.time() - started:.1f} s: {body}")
        log(f"/metrics while exhausted: {metrics(url)}")
        for t in threads:
            t.join()
        lock.wait()
        summary = {}
        for status, code, _ in answers:
            summary[(status, code)] = summary.get((status, code), 0) + 1
        log(f"{args.requests} concurrent GET /api/tenants: {summary}; "
            f"seconds each: {sorted(s for _, _, s in answers)}")
        status, body = http_json("GET", f"{url}/ready", timeout=10)
        log(f"/ready after the lock is released: {status}")
        log(f"/metrics after: {metrics(url)}")
    finally:
        if server is not None:
            server.term(10)
        db.stop()


if __name__ == "__main__":
    main()

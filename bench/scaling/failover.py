"""A primary switch as one replica sees it (docs/scaling.md, "Failover"). Standard library only;
reuses bench/chaos/procs.py.

Two throwaway PostgreSQL clusters, both migrated: the old primary and the new one. One
`switchboard serve` (workers on) reaches the database through a TCP proxy, which stands for the
DNS name or VIP that a managed failover or a Patroni switchover moves.

  1. "demoted, connections kept": the proxy points at the new primary, the old one turns read-only
     (`default_transaction_read_only`) but its open connections stay, as after a DNS change whose
     old address still answers. Sampled every second: the replica's connections on each cluster,
     `/ready`, and the log lines about read-only transactions.
  2. "connections dropped": the proxy cuts what is left (what a restart of the old primary, or
     Patroni's demotion, does). Measured: time until `/ready` is 200 with every connection on the
     new primary.

    python3 bench/scaling/failover.py [--secs 15]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "chaos"))
from procs import REPO, Database, Process, Proxy, free_port, http_json, log, wait_until  # noqa: E402

COUNT = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"


def conns(db):
    return int(db.query(COUNT)[0][0])


def admin(db, sql):
    """`sql` as the cluster's superuser, over its socket (as scripts/dev-db does)."""
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", os.path.join(db.dir, "socket"), "-p",
               str(db.port), "-U", "postgres", "-d", "postgres", "-c", sql]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True)


def read_only_lines(path):
    with open(path, errors="replace") as f:
        return sum(1 for line in f if "read-only" in line)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secs", type=int, default=15)
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="switchboard-failover.")
    os.chmod(work, 0o755)
    binary = os.path.join(args.target_dir, "debug", "switchboard")
    old = Database(os.path.join(work, "old"))
    new = Database(os.path.join(work, "new"))
    server = None
    try:
        for db in (old, new):
            subprocess.run([binary, "migrate"], env={"DATABASE_URL": db.url, "PATH": os.environ["PATH"]},
                           check=True, capture_output=True)
        proxy = Proxy(old.port)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = os.path.join(work, "replica.log")
        env = {"DATABASE_URL": old.url.replace(f":{old.port}/", f":{proxy.port}/"), "PATH": os.environ["PATH"],
               "SWITCHBOARD_LISTEN_ADDR": f"127.0.0.1:{port}", "SWITCHBOARD_INSECURE_SKIP_SIGNATURE": "true",
               "SWITCHBOARD_LOG_FORMAT": "json", "RUST_LOG": "warn", "SWITCHBOARD_OUTBOX__POLL_INTERVAL_MS": "200"}
        server = Process("replica", [binary, "serve"], env, log_path)
        server.start()
        wait_until("ready", lambda: http_json("GET", f"{url}/ready", timeout=2)[0] == 200, 60)
        time.sleep(2)
        log(f"before: connections old {conns(old)}, new {conns(new)}")

        log("1. proxy -> new primary; old primary read-only, its connections kept")
        proxy.retarget(new.port)
        admin(old, "ALTER SYSTEM SET default_transaction_read_only = on")
        admin(old, "SELECT pg_reload_conf()")
        begin, errors_before = time.time(), read_only_lines(log_path)
        for _ in range(args.secs):
            time.sleep(1)
            status, _ = http_json("GET", f"{url}/ready", timeout=3)
            log(f"  t+{time.time() - begin:4.1f}s connections old {conns(old)}, new {conns(new)}; /ready {status}; "
                f"read-only errors logged {read_only_lines(log_path) - errors_before}")

        log("2. the old primary's connections cut")
        begin = time.time()
        proxy.cut(0)
        while time.time() < begin + 60:
            status, _ = http_json("GET", f"{url}/ready", timeout=3)
            if status == 200 and conns(old) == 0 and conns(new) > 0:
                break
            time.sleep(0.1)
        log(f"  ready on the new primary alone after {time.time() - begin:.1f} s: "
            f"connections old {conns(old)}, new {conns(new)}")
    finally:
        if server is not None:
            server.term(10)
        old.stop()
        new.stop()


if __name__ == "__main__":
    main()

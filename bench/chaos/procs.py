"""The moving parts of the chaos harness: PostgreSQL, TCP proxies, receivers, replicas, HAProxy,
the Twilio emulator. Standard library only, so the harness runs on a fresh machine without a venv.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "chaos-auth-token"
WEBHOOK_SECRET = "whsec_Y2hhb3MtaGFybmVzcy1zZWNyZXQtMzItYnl0ZXMh"


def log(message):
    print(f"chaos {time.strftime('%H:%M:%S')}: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(method, url, body=None, token=None, headers=None, timeout=10):
    """(status, parsed body or None); status 0 when the connection failed."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


class Database:
    """A throwaway cluster from scripts/dev-db, restartable in immediate mode."""

    def __init__(self, work):
        self.dir = os.path.join(work, "db")
        env = dict(os.environ, SWITCHBOARD_DEV_DB_DIR=self.dir)  # durable: it is crashed on purpose
        env.pop("DATABASE_URL", None)
        out = subprocess.run([f"{REPO}/scripts/dev-db"], env=env, check=True, capture_output=True, text=True)
        self.url = out.stdout.strip().splitlines()[-1].removeprefix("DATABASE_URL=")
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def restart_immediate(self):
        """Stops with `-m immediate` (a crash: no checkpoint, recovery at start) and starts again
        through scripts/dev-db, which knows the cluster's options."""
        bindir = subprocess.run(["bash", "-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"],
                                capture_output=True, text=True, check=True).stdout.strip()
        command = [f"{bindir}/pg_ctl", "-D", os.path.join(self.dir, "data"), "stop", "-m", "immediate", "-w"]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)
        env = dict(os.environ, SWITCHBOARD_DEV_DB_DIR=self.dir)  # durable: it is crashed on purpose
        env.pop("DATABASE_URL", None)
        subprocess.run([f"{REPO}/scripts/dev-db"], env=env, check=True, capture_output=True)

    def query(self, sql):
        """Rows of `sql` as lists of strings (psql, unaligned)."""
        out = subprocess.run(["psql", self.url, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, check=True)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def stop(self):
        env = dict(os.environ, SWITCHBOARD_DEV_DB_DIR=self.dir)
        subprocess.run([f"{REPO}/scripts/dev-db", "stop"], env=env, capture_output=True)


class Proxy:
    """A TCP relay in front of PostgreSQL for one replica; `cut(secs)` drops every connection and
    refuses new ones for that long (a network partition between that replica and the database)."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_until = 0.0
        self.conns = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if time.time() < self.cut_until:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            self.conns.discard(src)
            self.conns.discard(dst)

    @staticmethod
    def reachable(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def retarget(self, port):
        """New connections go to `port` from now on (a DNS or VIP change); the open ones stay
        where they are, as they do after a real DNS change, until cut."""
        self.target = port

    def cut(self, secs):
        self.cut_until = time.time() + secs
        with self.lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Receiver:
    """The call service and the dispatcher: records every notification (its `webhook-id`, type and
    data); can be taken down (its port closed) and brought back."""

    def __init__(self):
        self.port = free_port()
        self.deliveries = []  # (webhook-id, type, data, path)
        self.lock = threading.Lock()
        self.server = None
        self.up()

    def up(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {}
                with receiver.lock:
                    receiver.deliveries.append(
                        (self.headers.get("webhook-id"), event.get("type"), event.get("data"), self.path))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.deliveries)


class Process:
    """A child process with its log file."""

    def __init__(self, name, argv, env, log_path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc = None

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def term(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()


class Replica(Process):
    """One `switchboard serve`, its database behind its own proxy, its own spool directory."""

    def __init__(self, index, binary, db, proxy, public_url, emulator_url, receiver, work, spool):
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        db_url = db.url.replace(f":{db.port}/", f":{proxy.port}/")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": db_url,
            "SWITCHBOARD_LISTEN_ADDR": f"127.0.0.1:{self.port}",
            "PUBLIC_BASE_URL": public_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE": emulator_url,
            "SWITCHBOARD_CALL_SERVICE_URL": f"http://127.0.0.1:{receiver.port}/calls",
            "SWITCHBOARD_DISPATCH_URL": f"http://127.0.0.1:{receiver.port}/dispatch",
            "SWITCHBOARD_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SWITCHBOARD_LOG_FORMAT": "json",
            "RUST_LOG": "warn",
            "SWITCHBOARD_SERVER__DRAIN_DELAY_SECS": "1",
            "SWITCHBOARD_OUTBOX__POLL_INTERVAL_MS": "200",
            # A short retry schedule, so the drain at the end sees every notification delivered
            # rather than waiting hours for a backoff step after the receiver's outage.
            "SWITCHBOARD_OUTBOX__BACKOFF_MAX_SECS": "20",
            # With the backoff capped at 20 s, the default 12 deliveries fit in the receiver's 60 s
            # outage; 40 keep the schedule longer than any outage the harness makes.
            "SWITCHBOARD_OUTBOX__MAX_ATTEMPTS": "40",
            "SWITCHBOARD_EFFECTS__CALLS_PER_SECOND": "20",
            "SWITCHBOARD_EFFECTS__MESSAGES_PER_SECOND": "20",
            "SWITCHBOARD_EFFECTS__RECONCILE_WINDOW_SECS": "20",
            "SWITCHBOARD_DB__ACQUIRE_TIMEOUT_SECS": "2",
        }
        if spool:
            env["SWITCHBOARD_INBOUND__SPOOL_DIR"] = os.path.join(work, f"spool-{index}")
        super().__init__(f"replica-{index}", [binary, "serve"], env, os.path.join(work, f"replica-{index}.log"))

    def ready(self):
        status, _ = http_json("GET", f"{self.url}/ready", timeout=2)
        return status == 200


def wait_until(what, check, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {secs}s waiting for {what}")


class Haproxy(Process):
    """Round robin over the replicas, health-checked on /ready; a request that found a dead
    replica (refused, reset, empty answer) is retried on another, as Twilio's connection
    overrides would retry it."""

    def __init__(self, replicas, work):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Ready replicas take the traffic. When none is ready — the database is away, and /ready
        # says so on every replica — the live ones (/health) still do: they answer webhooks from
        # the cache and keep the effects until the database is back.
        def servers(kind):
            return "\n".join(f"    server r{r.index} 127.0.0.1:{r.port} check inter 500ms fall 1 rise 1"
                             for r in replicas)
        config = f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend web
    bind 127.0.0.1:{self.port}
    use_backend live if {{ nbsrv(ready) eq 0 }}
    default_backend ready
backend ready
    balance roundrobin
    option httpchk GET /ready
{servers("ready")}
backend live
    balance roundrobin
    option httpchk GET /health
{servers("live")}
"""
        path = os.path.join(work, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        super().__init__("haproxy", ["haproxy", "-db", "-f", path], dict(os.environ),
                         os.path.join(work, "haproxy.log"))


class Pgbouncer(Process):
    """PgBouncer (Debian's package) between the replicas' proxies and PostgreSQL, in `mode`
    pooling; from 1.21 on with `max_prepared_statements`, which sqlx's prepared statements need
    in transaction mode (docs/scaling.md)."""

    def __init__(self, db, mode, work, replicas):
        self.port = free_port()
        # Session pooling lends a server connection for a client's whole life: every replica's
        # pool (20) and its listeners must fit, or a client waits for one forever. Transaction
        # pooling shares 20 among them all.
        pool_size = 20 if mode == "transaction" else replicas * 22 + 5
        version = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout.split()[1]
        prepared = tuple(int(x) for x in version.split(".")[:2]) >= (1, 21)
        config = f"""[databases]
switchboard = host=127.0.0.1 port={db.port} user=switchboard password=switchboard
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = {mode}
default_pool_size = {pool_size}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
{"max_prepared_statements = 200" if prepared else ""}
"""
        path = os.path.join(work, "pgbouncer.ini")
        with open(path, "w") as f:
            f.write(config)
        argv = ["pgbouncer", path]
        if os.getuid() == 0:  # PgBouncer refuses to run as root
            argv = ["runuser", "-u", "postgres", "--", *argv]
        super().__init__("pgbouncer", argv, dict(os.environ), os.path.join(work, "pgbouncer.log"))
        self.version = version


class Emulator(Process):
    """The Twilio emulator, sending its webhooks to HAProxy."""

    def __init__(self, binary, target_url, work):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--account-sid", ACCOUNT_SID,
                "--auth-token", AUTH_TOKEN, "--target", target_url, "--clock", "scaled:5"]
        super().__init__("emulator", argv, dict(os.environ), os.path.join(work, "emulator.log"))

    def get(self, what):
        status, body = http_json("GET", f"{self.url}/_emulator/{what}", timeout=30)
        if status != 200:
            raise RuntimeError(f"emulator {what}: {status}")
        return body[what]

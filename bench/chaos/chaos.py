"""bench/chaos: three replicas behind HAProxy, the Twilio emulator sending mixed load through it,
faults on a schedule drawn from a printed seed, and the invariants checked at the end from the
database, the emulator's records and the receivers' logs. See bench/README.md.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from procs import (REPO, Database, Emulator, Haproxy, Pgbouncer, Proxy, Receiver, Replica, http_json,  # noqa: E402
                   log, wait_until)
import sessions_outbound  # noqa: E402

# Tenants and what their people do: the owner's phone and the duty officer's keypad.
TENANTS = {
    # owner answers; the officer approves (6)
    "alpha": {"owner": {"answer": "human", "answer_after_secs": 2, "hangup_after_secs": 4},
              "officer": {"answer": "human", "answer_after_secs": 1, "digits": ["6"]},
              "crisis_ends": "dispatched", "call_ends": "answered", "settings": {"approval": {"timeout_secs": 30}}},
    # owner never answers (missed → text-back); the officer rejects (9)
    "bravo": {"owner": {"answer": "no-answer"},
              "officer": {"answer": "human", "answer_after_secs": 1, "digits": ["9"]},
              "crisis_ends": "rejected", "call_ends": "missed",
              "settings": {"dial_timeout_secs": 5, "approval": {"timeout_secs": 30}}},
    # closed (voicemail); the officer is busy, the crisis expires
    "charlie": {"owner": {"answer": "human"}, "officer": {"answer": "busy"},
                "crisis_ends": "expired", "call_ends": "",
                "settings": {"after_hours": "voicemail", "approval": {"timeout_secs": 20}}},
}


class World:
    """Everything started, and what the driver did."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.rng = random.Random(args.seed)
        self.counter = 0
        self.lock = threading.Lock()
        self.calls = []  # (call sid, caller, tenant)
        self.texts = []  # (message sid, customer, tenant, body)
        self.crises = []  # (id, tenant)
        self.sessions = []  # (id, client number, reader number)
        self.runs = []  # (id, [lead numbers])
        self.api_failures = []  # (time, what, status)
        self.faults = []  # (time, description)

    def number(self):
        with self.lock:
            self.counter += 1
            return f"+1202{self.args.seed % 1000:03d}{self.counter:04d}"

    def fault(self, text):
        self.faults.append((time.strftime("%H:%M:%S"), text))
        log(f"fault: {text}")


def start(world, target):
    args, work = world.args, world.work
    bins = os.path.join(target, "release" if not args.quick else "debug")
    world.server_bin = os.path.join(bins, "switchboard")
    world.db = Database(work)
    log(f"PostgreSQL on port {world.db.port}")
    subprocess.run([world.server_bin, "migrate"], env={"DATABASE_URL": world.db.url, "PATH": os.environ["PATH"]},
                   check=True, capture_output=True)
    world.receiver = Receiver()
    # HAProxy's port is needed by the emulator and the replicas (their public URL) before either
    # starts, and the replicas' ports by HAProxy: ports first, processes after.
    db_port = world.db.port
    if args.pgbouncer:
        world.pgbouncer = Pgbouncer(world.db, args.pgbouncer, work, args.replicas)
        world.pgbouncer.start()
        wait_until("PgBouncer", lambda: Proxy.reachable(world.pgbouncer.port), 30)
        log(f"PgBouncer {world.pgbouncer.version} ({args.pgbouncer} pooling) on port {world.pgbouncer.port}")
        db_port = world.pgbouncer.port
    world.proxies = [Proxy(db_port) for _ in range(args.replicas)]
    world.emulator = Emulator(os.path.join(bins, "twilio-emulator"), "http://127.0.0.1:0", work)
    world.replicas = []
    for i in range(args.replicas):
        world.replicas.append(Replica(i, world.server_bin, world.db, world.proxies[i], None,
                                      world.emulator.url, world.receiver, work, spool=not args.no_spool))
    world.haproxy = Haproxy(world.replicas, work)
    public = world.haproxy.url
    world.emulator.argv[world.emulator.argv.index("--target") + 1] = public
    for r in world.replicas:
        r.env["PUBLIC_BASE_URL"] = public
        if args.pgbouncer:  # LISTEN needs a session of its own: straight to PostgreSQL
            r.env["SWITCHBOARD_DB__LISTEN_URL"] = world.db.url
        r.env["SWITCHBOARD_BOT_URL"] = f"http://127.0.0.1:{world.receiver.port}/bot"
    world.emulator.start()
    wait_until("the emulator", lambda: http_json("GET", f"{world.emulator.url}/_emulator/clock")[0] == 200, 30)
    for r in world.replicas:
        r.start()
    for r in world.replicas:
        wait_until(f"{r.name} ready", r.ready, 120)
    world.haproxy.start()
    wait_until("HAProxy", lambda: http_json("GET", f"{public}/ready")[0] == 200, 30)
    log(f"{args.replicas} replicas behind HAProxy on {public}, emulator on {world.emulator.url}")


def setup_tenants(world):
    env = {"DATABASE_URL": world.db.url, "PATH": os.environ["PATH"]}
    out = subprocess.run([world.server_bin, "keys", "create", "--superadmin", "--name", "chaos"], env=env,
                         check=True, capture_output=True, text=True)
    world.root = out.stdout.strip().splitlines()[-1]
    world.tenants = {}
    for slug, plan in TENANTS.items():
        owner, officer, number = world.number(), world.number(), world.number()
        body = {"slug": slug, "name": f"Chaos {slug}", "timezone": "UTC", "owner_number": owner,
                "duty_officers": [officer], **plan["settings"]}
        if slug == sessions_outbound.TENANT:
            body.update(sessions_outbound.tenant_settings())
        if plan["settings"].get("after_hours"):
            # Open one minute a week, three days from now: closed for the whole run.
            day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(time.gmtime().tm_wday + 3) % 7]
            body["business_hours"] = {day: [["03:00", "03:01"]]}
        api(world, "POST", "/api/tenants", world.root, body, expect=201)
        api(world, "POST", f"/api/tenants/{slug}/numbers", world.root, {"number": number}, expect=201)
        key = api(world, "POST", f"/api/tenants/{slug}/keys", world.root, {"role": "admin"}, expect=201)
        for who in ("owner", "officer"):
            script_number = owner if who == "owner" else officer
            http_json("PUT", f"{world.emulator.url}/_emulator/numbers/{script_number.replace('+', '%2B')}",
                      plan[who])
        world.tenants[slug] = {"number": number, "admin": key["token"]}


def api(world, method, path, token, body=None, expect=None, deadline_secs=60):
    """An operator API call through HAProxy, retried with one Idempotency-Key while the answer is
    a 503/5xx or no answer (an outage): those are counted on their own line, not as lost."""
    key = str(uuid.uuid4())
    deadline = time.time() + deadline_secs
    while True:
        status, answer = http_json(method, f"{world.haproxy.url}{path}", body, token,
                                   {"idempotency-key": key} if method == "POST" else None)
        if status == 0 or status >= 500:
            world.api_failures.append((time.strftime("%H:%M:%S"), f"{method} {path.split('?')[0]}", status))
            if time.time() < deadline:
                time.sleep(0.5)
                continue
        if expect is not None and status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer


def action(world):
    """One piece of load, chosen by the seeded generator."""
    slug = world.rng.choice(list(TENANTS))
    tenant = world.tenants[slug]
    kind = world.rng.choices(["call", "sms", "crisis", "session", "outbound"], weights=[5, 4, 1, 1, 0.5])[0]
    if kind == "session":
        sessions_outbound.session(world, api)
    elif kind == "outbound":
        sessions_outbound.outbound(world, api)
    elif kind == "call":
        caller = world.number()
        status, answer = http_json("POST", f"{world.emulator.url}/_emulator/inbound/call",
                                   {"from": caller, "to": tenant["number"]})
        if status == 201 and answer:
            world.calls.append((answer["call_sid"], caller, slug))
    elif kind == "sms":
        customer = world.number()
        bodies = ["Is the plumber coming?"]
        if world.rng.random() < 0.3:
            bodies += ["STOP", "START", "Thanks"]
        for body in bodies:
            status, answer = http_json("POST", f"{world.emulator.url}/_emulator/inbound/sms",
                                       {"from": customer, "to": tenant["number"], "body": body})
            if status == 200 and answer:
                world.texts.append((answer["message_sid"], customer, slug, body))
    else:
        body = {"type": "fire", "description": "chaos", "location": "5th and Main", "risk_score": 4.5,
                "decision": {"units": ["engine-1"]}}
        crisis = api(world, "POST", "/api/crises", tenant["admin"], body, deadline_secs=120)
        if crisis and "id" in crisis:
            world.crises.append((crisis["id"], slug))


def drive(world, seconds, stop):
    """Load at the given rate; an action that finds no free worker (everything waits on an
    outage) is skipped rather than queued, so the load ends on time."""
    slots = threading.Semaphore(16)

    def run():
        try:
            action(world)
        except Exception as e:  # noqa: BLE001 - one failed action must not stop the load
            world.api_failures.append((time.strftime("%H:%M:%S"), f"action: {e}"[:120], 0))
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=16) as pool:
        end = time.time() + seconds
        while time.time() < end and not stop.is_set():
            if slots.acquire(blocking=False):
                pool.submit(run)
            time.sleep(1.0 / world.args.rate)


def restart(world, replica, how):
    if how == "kill":
        replica.kill9()
    else:
        replica.term()
    time.sleep(world.rng.uniform(0.5, 2.0))
    replica.start()
    wait_until(f"{replica.name} back", replica.ready, 120)


def schedule(world, seconds):
    """The faults, drawn from the seed: (at seconds, name)."""
    rng = random.Random(world.args.seed + 1)
    plan = []
    t = rng.uniform(3, 8)
    while t < seconds * 0.9:
        plan.append((t, "kill"))
        t += rng.uniform(8, 20) if world.args.quick else rng.uniform(5, 12)
    if world.args.no_faults:
        return []
    plan += [(seconds * 0.45, "db-restart"), (seconds * 0.6, "cut-db")]
    if not world.args.quick:
        plan += [(seconds * 0.25, "rolling"), (seconds * 0.75, "receiver-down")]
    return sorted(plan)


def inject(world, seconds, stop):
    begin = time.time()
    for at, name in schedule(world, seconds):
        if stop.wait(max(0, begin + at - time.time())):
            return
        if name == "kill":
            r = world.rng.choice(world.replicas)
            world.fault(f"kill -9 {r.name}")
            restart(world, r, "kill")
        elif name == "rolling":
            world.fault("rolling SIGTERM restart")
            for r in world.replicas:
                restart(world, r, "term")
        elif name == "db-restart":
            world.fault("PostgreSQL restarted in immediate mode")
            back = threading.Event()
            threading.Thread(target=time_to_ready, args=(world, time.time(), back), daemon=True).start()
            world.db.restart_immediate()
            back.set()
        elif name == "cut-db":
            r = world.rng.choice(world.replicas)
            world.fault(f"{r.name}'s database connection cut for 10 s")
            world.proxies[r.index].cut(10)
        elif name == "receiver-down":
            world.fault("call-service receiver down for 60 s")
            world.receiver.down()
            world.receiver_back = threading.Timer(60, world.receiver.up)
            world.receiver_back.start()


def buffered(replica):
    """The replica's `inbound_buffered_effects` gauge (webhook effects held while the database
    is away), 0 when /metrics does not answer."""
    try:
        with urllib.request.urlopen(f"{replica.url}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    lines = [line for line in text.splitlines() if line.startswith("inbound_buffered_effects")]
    return int(float(lines[0].split()[-1])) if lines else 0


def time_to_ready(world, down, back):
    """Logs how long after the database went down every live replica's /ready said 200 again
    (once it is `back`), and the most webhook effects the replicas held meanwhile
    (docs/scaling.md: failover)."""
    deadline, most = down + 120, 0
    while time.time() < deadline:
        most = max(most, sum(buffered(r) for r in world.replicas if r.alive()))
        if back.is_set() and all(r.ready() for r in world.replicas if r.alive()):
            log(f"after the database restart every replica was ready in {time.time() - down:.1f} s; "
                f"at most {most} webhook effects were buffered meanwhile")
            return
        time.sleep(0.1)
    log("after the database restart the replicas were not all ready within 120 s")


def log_cost(world):
    """The replicas' CPU seconds (user + system) and their database connections at the end of the
    load: what running more replicas costs (docs/scaling.md)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = []
    for r in world.replicas:
        with open(f"/proc/{r.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu.append((int(fields[11]) + int(fields[12])) / tick)
    conns = world.db.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    log(f"replica CPU seconds {', '.join(f'{c:.1f}' for c in cpu)} (total {sum(cpu):.1f}); "
        f"client connections to PostgreSQL {conns[0][0]}")


def settled(world):
    rows = world.db.query("""SELECT
        (SELECT count(*) FROM outbox_message WHERE status IN ('pending', 'delivering')),
        (SELECT count(*) FROM crisis WHERE status = 'pending_approval'),
        (SELECT count(*) FROM twilio_attempt WHERE state IN ('queued', 'sending', 'unknown'))""")
    pending = [int(x) for x in rows[0]] + sessions_outbound.unsettled(world)
    live = [c for c in world.emulator.get("calls") if c["status"] in ("queued", "ringing", "in-progress")]
    return pending, len(live)


def drain(world, secs):
    for r in world.replicas:
        if not r.alive():
            r.start()
    for r in world.replicas:
        wait_until(f"{r.name} ready", r.ready, 120)
    deadline = time.time() + secs
    while time.time() < deadline:
        pending, live = settled(world)
        if sum(pending) == 0 and live == 0:
            return True
        time.sleep(1)
    log(f"not settled after {secs}s: outbox/crises/attempts {pending}, live calls {live}")
    return False


def webhook_effects(world, exchanges):
    """2xx webhooks whose effect is not in the database: (time, route, sid)."""
    calls = {r[0]: r[1] for r in world.db.query("SELECT call_sid, coalesce(outcome, '') FROM inbound_call")}
    messages = {r[0] for r in world.db.query("SELECT message_sid FROM conversation_message WHERE message_sid IS NOT NULL")}
    missing, checked = [], 0
    for e in exchanges:
        if e["kind"] != "webhook" or not 200 <= e["status"] < 300:
            continue
        params = dict(e["params"])
        path = e["url"].split("://", 1)[-1].split("/", 1)[-1]
        if path == "webhooks/twilio/call" and params.get("CallStatus") == "ringing":
            checked += 1
            if params["CallSid"] not in calls:
                missing.append((e["at"], "ringing", params["CallSid"]))
        elif path.startswith("webhooks/twilio/call/status/"):
            checked += 1
            sid = path.rsplit("/", 1)[-1]
            if not calls.get(sid):
                missing.append((e["at"], "dial result", sid))
        elif path == "webhooks/twilio/sms":
            checked += 1
            if params["MessageSid"] not in messages:
                missing.append((e["at"], "sms", params["MessageSid"]))
    return missing, checked


def invariants(world):
    exchanges = world.emulator.get("requests")
    messages = world.emulator.get("messages")
    deliveries = world.receiver.snapshot()
    rows = []

    missing, checked = webhook_effects(world, exchanges)
    rows.append(("webhooks answered 2xx whose effect is missing", len(missing), f"of {checked} checked",
                 missing[:5]))

    answered_2xx = {dict(e["params"]).get("CallSid") for e in exchanges
                    if e["kind"] == "webhook" and 200 <= e["status"] < 300
                    and dict(e["params"]).get("CallStatus") == "ringing"}
    texts_to = {}
    for m in messages:
        if m["direction"] == "outbound-api":
            texts_to[m["to"]] = texts_to.get(m["to"], 0) + 1
    outcomes = {r[0]: r[1] for r in world.db.query("SELECT call_sid, coalesce(outcome, '') FROM inbound_call")}
    wrong_texts = []
    for sid, caller, slug in world.calls:
        if sid not in answered_2xx:
            continue
        expected = 1 if outcomes.get(sid) == "missed" else 0
        if texts_to.get(caller, 0) != expected:
            wrong_texts.append((sid, outcomes.get(sid), texts_to.get(caller, 0)))
    missed = sum(1 for sid, _, _ in world.calls if outcomes.get(sid) == "missed")
    rows.append(("callers texted back other than once per missed call (0 otherwise)", len(wrong_texts),
                 f"{missed} missed of {len(world.calls)} calls", wrong_texts[:5]))
    wrong_outcome = [(sid, slug, outcomes.get(sid)) for sid, _, slug in world.calls
                     if sid in answered_2xx and outcomes.get(sid) != TENANTS[slug]["call_ends"]]
    rows.append(("calls whose outcome is not what the owner's phone did", len(wrong_outcome), "", wrong_outcome[:5]))

    status = {r[0]: r[1] for r in world.db.query("SELECT id::text, status FROM crisis")}
    dispatches = {}
    for webhook_id, kind, data, _ in deliveries:
        if kind == "crisis.dispatch":
            dispatches.setdefault(data.get("crisis_id"), set()).add(webhook_id)
    wrong_crises, expired_instead = [], []
    for cid, slug in world.crises:
        wanted, final = TENANTS[slug]["crisis_ends"], status.get(cid)
        sent = len(dispatches.get(cid, ()))
        # A decision lost with its webhook (a Twilio-visible 5xx above) leaves the crisis to expire:
        # counted on its own line. Anything else, and any dispatch count but exactly one for a
        # dispatched crisis and none otherwise, is a violation.
        if final == "expired" and wanted != "expired":
            expired_instead.append((cid, slug))
        elif final != wanted:
            wrong_crises.append((cid, slug, final, sent))
        if sent != (1 if final == "dispatched" else 0):
            wrong_crises.append((cid, slug, final, sent))
    rows.append(("crises ended otherwise than decided or expired, or dispatched other than once (never unless approved)",
                 len(wrong_crises), f"of {len(world.crises)}", wrong_crises[:5]))
    rows.append(("crises that expired because their officer's answer was lost (5xx: Twilio-visible)",
                 len(expired_instead), "", expired_instead[:5]))

    delivered = {d[0] for d in deliveries}
    ids = world.db.query("""SELECT id::text, kind, status FROM outbox_message
        WHERE status <> 'cancelled' AND destination NOT LIKE 'twilio%'""")
    undelivered = [(i, k, s) for i, k, s in ids if i not in delivered]
    duplicates = len(deliveries) - len(delivered)
    rows.append(("notifications never delivered", len(undelivered),
                 f"of {len(ids)}; {duplicates} repeats with the same webhook-id", undelivered[:5]))

    rows += sessions_outbound.invariants(world, world.emulator.get("calls"))

    env = {"DATABASE_URL": world.db.url, "PATH": os.environ["PATH"]}
    audit = subprocess.run([world.server_bin, "audit", "verify"], env=env, capture_output=True, text=True)
    broken = 0 if audit.returncode == 0 else max(1, audit.stdout.count("BROKEN") + audit.stderr.count("broken"))
    rows.append(("audit chains that fail to verify", broken, "", [audit.stderr.strip()[-300:]] if broken else []))

    stuck = world.db.query("""SELECT kind, status, count(*) FROM outbox_message
        WHERE status IN ('pending', 'delivering') GROUP BY 1, 2""")
    rows.append(("outbox rows still pending or leased after the drain", sum(int(r[2]) for r in stuck), "", stuck))

    attempts = world.db.query("""SELECT a.state, a.kind, a.owner_domain, o.status, o.attempts, left(coalesce(o.last_error, ''), 120)
        FROM twilio_attempt a LEFT JOIN outbox_message o ON o.id = a.outbox_id
        WHERE a.state IN ('queued', 'sending', 'unknown', 'parked')""")
    rows.append(("Twilio creates unsettled or parked", len(attempts), "", attempts[:5]))

    failures = [(e["at"][11:19], e["url"].split("/", 3)[-1], e["status"]) for e in exchanges
                if e["kind"] == "webhook" and (e["status"] >= 500 or e["status"] == 0)]
    rows.append(("webhook answers 5xx or none (Twilio-visible)", len(failures),
                 f"of {sum(1 for e in exchanges if e['kind'] == 'webhook')} webhooks", failures[:8]))
    rows.append(("operator API answers 5xx or none (retried, same Idempotency-Key)", len(world.api_failures),
                 "", world.api_failures[:8]))
    return rows


def report(world, rows, seconds):
    print()
    print(f"seed {world.args.seed}, {seconds}s of load at {world.args.rate}/s, {world.args.replicas} replicas, "
          f"spool {'off' if world.args.no_spool else 'on'}, "
          f"{len(world.calls)} calls, {len(world.texts)} SMS, {len(world.crises)} crises, "
          f"{len(world.sessions)} sessions, {len(world.runs)} outbound runs")
    print("faults: " + "; ".join(f"{t} {f}" for t, f in world.faults))
    print()
    print("| invariant | count | context |")
    print("|---|---|---|")
    for name, count, context, _ in rows:
        print(f"| {name} | {count} | {context} |")
    for name, count, _, examples in rows:
        if count and examples:
            print(f"\n{name}: e.g. {json.dumps(examples, default=str)[:600]}")
    # The lines that must be 0; the 5xx lines are reported, with their times, not judged.
    return all(count == 0 for name, count, _, _ in rows if "5xx" not in name)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=600, help="load duration (default 600)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=float, default=4.0, help="load actions per second")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="debug binaries, fewer faults (scripts/test)")
    parser.add_argument("--no-spool", action="store_true", help="replicas without SWITCHBOARD_INBOUND__SPOOL_DIR")
    parser.add_argument("--drain-secs", type=int, default=240)
    parser.add_argument("--pgbouncer", choices=["transaction", "session"],
                        help="the replicas reach PostgreSQL through PgBouncer in this pooling mode (docs/scaling.md)")
    parser.add_argument("--no-faults", action="store_true",
                        help="load only, and the replicas' CPU seconds and connections (docs/scaling.md)")
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")))
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    log(f"seed {args.seed} (rerun with --seed {args.seed})")
    work = tempfile.mkdtemp(prefix="switchboard-chaos.")
    os.chmod(work, 0o755)
    world = World(args, work)
    ok = False
    try:
        start(world, args.target_dir)
        setup_tenants(world)
        stop = threading.Event()
        faults = threading.Thread(target=inject, args=(world, args.seconds, stop))
        faults.start()
        drive(world, args.seconds, stop)
        stop.set()
        faults.join()
        if "receiver_back" in world.__dict__:
            world.receiver_back.join()
        if args.no_faults:
            log_cost(world)
        log("load over: healing and draining")
        drain(world, args.drain_secs)
        ok = report(world, invariants(world), args.seconds)
    finally:
        for p in [world.__dict__.get("haproxy"), world.__dict__.get("emulator"), *world.__dict__.get("replicas", []),
                  world.__dict__.get("pgbouncer")]:
            if p is not None:
                p.term(10)
        if "db" in world.__dict__:
            world.db.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")
    print("\nchaos: PASS" if ok else "\nchaos: FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

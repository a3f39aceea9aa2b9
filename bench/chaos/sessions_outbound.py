"""The call sessions and outbound runs in bench/chaos's load, and their invariants.

A session: an admin books a two-party call a few minutes ahead, starts it at once, and asks for
its recording once it is live; both parties answer and the client hangs up after a while, so the
session should end `completed` (or `no_answer` / `failed` when a fault lost a leg's TwiML — any
final state is accepted, a session left open is not). An outbound run: five fresh leads that answer
and listen, dialled under the business's cap.
"""

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from procs import http_json

# The tenant whose runs and sessions the load books, and its cap on live outbound calls.
TENANT = "alpha"
OUTBOUND_CAP = 2
LEADS_PER_RUN = 5
SESSION_FINAL = ("completed", "cancelled", "no_answer", "failed", "dropped_by_monitor", "dropped_by_reader",
                 "dropped_by_client")
RUN_FINAL = ("completed", "cancelled", "stopped", "failed")


def tenant_settings():
    """Settings for TENANT at creation: the outbound cap."""
    return {"outbound_max_concurrent": OUTBOUND_CAP}


def script(world, number, answer_after=1, hangup_after=6):
    http_json("PUT", f"{world.emulator.url}/_emulator/numbers/{number.replace('+', '%2B')}",
              {"answer": "human", "answer_after_secs": answer_after, "hangup_after_secs": hangup_after})


def session(world, api):
    """Book, start, and (a few seconds later) record one session."""
    tenant = world.tenants[TENANT]
    client, reader = world.number(), world.number()
    script(world, client, hangup_after=world.rng.uniform(6, 14))
    script(world, reader, hangup_after=60)
    order = f"ord-{uuid.uuid4().hex[:12]}"
    at = (datetime.now(timezone.utc) + timedelta(minutes=3)).replace(microsecond=0).isoformat()
    body = {"order_id": order, "client": {"subject": "c-" + order, "number": client},
            "reader": {"subject": "r-" + order, "number": reader}, "scheduled_at": at,
            "duration_minutes": 30, "record": True}
    booked = api(world, "POST", "/api/calls/schedule", tenant["admin"], body, deadline_secs=120)
    if not booked or "id" not in booked:
        return
    with world.lock:
        world.sessions.append((booked["id"], client, reader))
    api(world, "POST", f"/api/calls/{order}/start", tenant["admin"], {}, deadline_secs=120)

    def record():
        # 409 while the conference is not live yet, or once it ended: both fine.
        api(world, "POST", f"/api/calls/{booked['id']}/recording/start", tenant["admin"], {}, deadline_secs=60)

    threading.Timer(4, record).start()


def outbound(world, api):
    """Create, fill and start one run of fresh leads."""
    tenant = world.tenants[TENANT]
    leads = []
    for i in range(LEADS_PER_RUN):
        number = world.number()
        script(world, number, hangup_after=30)
        leads.append({"lead_id": f"L{i}-{uuid.uuid4().hex[:8]}", "number": number})
    body = {"name": "chaos", "from_number": tenant["number"], "script": {"say": "Hello from the chaos run."}}
    run = api(world, "POST", "/api/outbound/runs", tenant["admin"], body, deadline_secs=120)
    if not run or "id" not in run:
        return
    api(world, "POST", f"/api/outbound/runs/{run['id']}/leads", tenant["admin"], {"leads": leads},
        deadline_secs=120)
    api(world, "POST", f"/api/outbound/runs/{run['id']}/start", tenant["admin"], {}, deadline_secs=120)
    with world.lock:
        world.runs.append((run["id"], [lead["number"] for lead in leads]))


def unsettled(world):
    """Sessions and runs not final yet (the drain waits for them)."""
    rows = world.db.query(f"""SELECT
        (SELECT count(*) FROM call_session WHERE status NOT IN ({", ".join(f"'{s}'" for s in SESSION_FINAL)})),
        (SELECT count(*) FROM outbound_run WHERE status IN ('pending', 'running'))""")
    return [int(x) for x in rows[0]]


def _when(text):
    """An emulator RFC 2822 time, in epoch seconds."""
    from email.utils import parsedate_to_datetime
    return parsedate_to_datetime(text).timestamp()


def most_live(calls):
    """The most calls live at once: an end and a start in the same second do not overlap."""
    edges = []
    for c in calls:
        start = _when(c["date_created"])
        end = _when(c["end_time"]) if c.get("end_time") else float("inf")
        edges += [(start, 1), (end, -1)]
    live = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        live += step
        peak = max(peak, live)
    return peak


def invariants(world, calls):
    """The rows these parts add to the table."""
    rows = []
    dialled = {}
    for c in calls:
        if c["direction"] == "outbound-api":
            dialled[c["to"]] = dialled.get(c["to"], 0) + 1
    status = {r[0]: r[1] for r in world.db.query("SELECT id::text, status FROM call_session")}
    open_sessions = [(sid, status.get(sid)) for sid, _, _ in world.sessions if status.get(sid) not in SESSION_FINAL]
    rows.append(("sessions not ended after the drain", len(open_sessions), f"of {len(world.sessions)}",
                 open_sessions[:5]))
    twice = [(sid, who, dialled.get(n, 0)) for sid, client, reader in world.sessions
             for who, n in (("client", client), ("reader", reader)) if dialled.get(n, 0) > 1]
    ended = {r[0]: r[1] for r in world.db.query("SELECT status, count(*) FROM call_session GROUP BY 1")}
    rows.append(("session parties dialled more than once", len(twice), f"ended: {ended}", twice[:5]))

    runs = {r[0]: r[1] for r in world.db.query("SELECT id::text, status FROM outbound_run")}
    open_runs = [(rid, runs.get(rid)) for rid, _ in world.runs if runs.get(rid) not in RUN_FINAL]
    rows.append(("outbound runs not finished after the drain", len(open_runs), f"of {len(world.runs)}",
                 open_runs[:5]))
    jobs = {r[0]: (r[1], r[2]) for r in world.db.query("SELECT number, status, coalesce(outcome, '') FROM outbound_job")}
    leads = [n for _, numbers in world.runs for n in numbers]
    wrong = [(n, jobs.get(n), dialled.get(n, 0)) for n in leads
             if dialled.get(n, 0) > 1 or (jobs.get(n, ("",))[0] == "completed" and dialled.get(n, 0) != 1)]
    outcomes = {}
    for n in leads:
        outcomes[jobs.get(n, ("?",))[0]] = outcomes.get(jobs.get(n, ("?",))[0], 0) + 1
    rows.append(("leads dialled more than once (or completed without one call)", len(wrong),
                 f"{len(leads)} leads: {outcomes}", wrong[:5]))
    lead_set = set(leads)
    peak = most_live([c for c in calls if c["to"] in lead_set and c["direction"] == "outbound-api"])
    rows.append((f"outbound calls live at once above the cap ({OUTBOUND_CAP})", max(0, peak - OUTBOUND_CAP),
                 f"peak {peak}", []))
    return rows

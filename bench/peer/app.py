"""The FastAPI peer of bench/run: the ringing webhook as the seeds' stack would build it.

Per request: the signature checked with Twilio's RequestValidator, then in one transaction the
called number looked up (with its tenant) and the two inserts Switchboard commits — the call and,
when new, its `call.incoming` outbox row — and the TwiML built with Twilio's helper library.
Same tables, same database, same signed requests as Switchboard gets.

Run by bench/run: `uvicorn app:app` with PEER_PUBLIC_URL (the URL the requests are signed for),
TWILIO_AUTH_TOKEN, DATABASE_URL and PEER_POOL (connections).
"""

import json
import os
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from psycopg_pool import AsyncConnectionPool
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

PUBLIC = os.environ["PEER_PUBLIC_URL"]
BASE = PUBLIC.rsplit("/webhooks/", 1)[0]
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
pool = AsyncConnectionPool(
    os.environ["DATABASE_URL"], min_size=4, max_size=int(os.environ.get("PEER_POOL", "40")), open=False
)

LOOKUP = """SELECT t.id, t.status, t.owner_number, t.dial_timeout_secs, n.status
  FROM tenant_number n JOIN tenant t ON t.id = n.tenant_id WHERE n.number = %s"""
INSERT_CALL = """INSERT INTO inbound_call (call_sid, tenant_id, from_address, to_number, status, status_rank,
  after_hours, screened, started_at, created_at, updated_at)
  VALUES (%s, %s, %s, %s, 'ringing', 1, false, false, %s, %s, %s) ON CONFLICT (call_sid) DO NOTHING"""
INSERT_OUTBOX = """INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key,
  owner_domain, owner_id, priority, status, next_attempt_at, created_at, updated_at)
  VALUES (%s, %s, 'call.incoming', 'call_service', %s, %s, NULL, NULL, 5, 'pending', %s, %s, %s)
  ON CONFLICT (idempotency_key) DO NOTHING"""


@asynccontextmanager
async def lifespan(_app):
    await pool.open()
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


def say(text: str) -> Response:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return Response(str(response), media_type="text/xml")


@app.post("/webhooks/twilio/call")
async def call(request: Request) -> Response:
    params = dict(parse_qsl((await request.body()).decode()))
    if not validator.validate(PUBLIC, params, request.headers.get("x-twilio-signature", "")):
        return Response(status_code=403)
    sid, caller, to = params["CallSid"], params.get("From", ""), params.get("To", "")
    now = datetime.now(timezone.utc)
    async with pool.connection() as conn:
        async with conn.transaction():
            route = await (await conn.execute(LOOKUP, (to,))).fetchone()
            if route is None or route[1] == "suspended" or route[4] != "active":
                return say("The number you have called is not in service. Goodbye.")
            tenant, _, owner, timeout, _ = route
            inserted = await conn.execute(INSERT_CALL, (sid, tenant, caller, to, now, now, now))
            if inserted.rowcount == 1:
                data = {"call_sid": sid, "from": caller, "to": to, "tenant_id": str(tenant), "status": "ringing",
                        "direction": "inbound", "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
                await conn.execute(INSERT_OUTBOX, (uuid.uuid4(), tenant, json.dumps(data), f"call.incoming:{sid}",
                                                   now, now, now))
    response = VoiceResponse()
    dial = Dial(action=f"{BASE}/webhooks/twilio/call/status/{sid}", method="POST", timeout=timeout)
    dial.number(owner)
    response.append(dial)
    return Response(str(response), media_type="text/xml")

//! Inbound voice: `/webhooks/twilio/call` (the numbers' voice URL; its status callbacks are in
//! [`super::status`], the dial result in [`super::dial`]), the screening whisper and its key
//! press, the voicemail `<Record>` action and the fallback URL. Every answer is valid TwiML; the ringing answer comes from the cached routing and
//! does not wait on the database.

use super::answers::RingingAnswers;
use super::calls::{self, NewCall};
use super::group::{GroupCommit, Write};
use super::notify;
use super::pending::{PendingEffect, PendingEffects};
use super::status;
use crate::error::error_chain;
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants::{AfterHours, NumberDirectory, Route, Settings};
use crate::twilio::WebhookError;
use crate::twilio::params::FormParams;
use crate::twilio::twiml::{Dial, DialTarget, Gather, Method, Number, Record, Say, Verb};
use crate::twilio::{
    CallStatus, DeferredError, DeferredWebhook, GatherResult, RecordingStatusCallback, TwilioWebhook, Twiml,
    VoiceRequest, WebhookReply,
};
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use sqlx::PgConnection;
use std::sync::Arc;

pub(super) const NOT_IN_SERVICE: &str = "The number you have called is not in service. Goodbye.";
pub(super) const APOLOGY: &str =
    "We are sorry, we cannot take your call right now. Please try again later. Goodbye.";

pub(super) fn say_and_hang_up(text: &str) -> Twiml {
    Twiml::new().say(text).hangup()
}

/// The voicemail greeting and recording of a tenant's caller.
pub(super) fn voicemail(state: &AppState, settings: &Settings, sid: &str) -> Twiml {
    let record = Record {
        action: Some(state.public_url(&format!("/webhooks/twilio/call/voicemail/{sid}"))),
        method: Some(Method::Post),
        max_length: Some(120),
        play_beep: Some(true),
        recording_status_callback: Some(
            state.public_url(&format!("/webhooks/twilio/call/voicemail/{sid}/status")),
        ),
        ..Record::default()
    };
    let greeting = format!("You have reached {}. Please leave a message after the tone.", settings.name);
    Twiml::new().say(greeting).verb(record).say("No message was recorded. Goodbye.").hangup()
}

/// What a ringing call to an active tenant hears, and whether the owner is screened.
fn route_call(state: &AppState, settings: &Settings, sid: &str, open: bool) -> (Twiml, bool) {
    if !open {
        match settings.after_hours {
            AfterHours::Voicemail => return (voicemail(state, settings, sid), false),
            AfterHours::Message => {
                let text = format!(
                    "Thank you for calling {}. We are closed right now. Please call again during business hours. Goodbye.",
                    settings.name
                );
                return (say_and_hang_up(&text), false);
            }
            AfterHours::Forward => {}
        }
    }
    let Some(owner) = &settings.owner_number else {
        tracing::error!(tenant.slug = %settings.slug, "configuration error: the tenant has no owner number; sending the caller to voicemail");
        return (voicemail(state, settings, sid), false);
    };
    let screen = settings.screen_forwarded_calls;
    let number = Number {
        number: owner.as_str().to_owned(),
        url: screen.then(|| state.public_url(&format!("/webhooks/twilio/call/screen/{sid}"))),
        ..Number::default()
    };
    let dial = Dial {
        action: Some(state.public_url(&format!("/webhooks/twilio/call/status/{sid}"))),
        method: Some(Method::Post),
        timeout: u32::try_from(settings.dial_timeout_secs).ok(),
        targets: vec![DialTarget::Number(number)],
        ..Dial::default()
    };
    (Twiml::new().verb(dial), screen)
}

/// Writes a ringing call and its `call.incoming` notification (once per call).
pub async fn record_ringing(state: &AppState, call: &NewCall) -> Result<(), sqlx::Error> {
    let mut tx = crate::system::system_tx(&state.db).await?;
    insert_call(&mut tx, call).await?;
    tx.commit().await
}

/// Inserts a call and, when it is new, its `call.incoming` notification — whichever webhook
/// records the call first (ringing, its dial result or a status callback), the call service hears
/// of it once.
pub(super) async fn insert_call(conn: &mut PgConnection, call: &NewCall) -> Result<bool, sqlx::Error> {
    if !calls::insert(conn, call).await? {
        return Ok(false);
    }
    crate::outbox::enqueue(conn, call.tenant, call.at, call_incoming(call)).await?;
    Ok(true)
}

/// The kind of a new call's notification.
pub(super) const CALL_INCOMING: &str = "call.incoming";
/// Where it goes.
pub(super) const CALL_SERVICE: &str = "call_service";
/// Its idempotency key: this, then the `CallSid`.
pub(super) const CALL_INCOMING_KEY: &str = "call.incoming:";

/// The `call.incoming` of a new call (built only once the call is known to be new).
pub(super) fn call_incoming(call: &NewCall) -> crate::outbox::NewMessage<'static> {
    let data = notify::call_data(call.tenant, &call.sid, &call.from, &call.to, &call.status, call.at);
    notify::message(CALL_INCOMING, CALL_SERVICE, format!("{CALL_INCOMING_KEY}{}", call.sid), data)
}

fn is_new_call(status: &CallStatus) -> bool {
    matches!(status, CallStatus::Ringing | CallStatus::Queued | CallStatus::Initiated)
}

/// `POST /webhooks/twilio/call`: a ringing call is routed; later statuses are recorded. Both are
/// written with their neighbours ([`GroupCommit`]) and answered once committed; the ringing
/// answer is the route's kept rendering ([`RingingAnswers`]).
pub async fn call(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    Extension(group): Extension<Arc<GroupCommit>>,
    Extension(answers): Extension<Arc<RingingAnswers>>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    if !is_new_call(&hook.payload.call_status) {
        let update = status::StatusUpdate::new(&hook);
        return status::status_update(&state, &directory, &pending, &group, update).await;
    }
    let request = hook.payload;
    let sid = request.call_sid.to_string();
    let Some(to) = request.to.number() else { return say_and_hang_up(NOT_IN_SERVICE).into_response() };
    let route = match directory.lookup(&state.db, to).await {
        Ok((route, _)) => route,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), number = %to.masked(), "number lookup failed and nothing is cached");
            return say_and_hang_up(APOLOGY).into_response();
        }
    };
    let routed = match route {
        Route::Active(routed) => routed,
        Route::Unknown => {
            tracing::warn!(number = %to.masked(), "call to a number no tenant owns");
            return say_and_hang_up(NOT_IN_SERVICE).into_response();
        }
        Route::Suspended(_) | Route::NumberInactive(_) => {
            return say_and_hang_up(NOT_IN_SERVICE).into_response();
        }
    };
    tracing::Span::current().record("tenant.id", tracing::field::display(routed.tenant.id));
    let now = state.clock.now();
    let settings = &routed.tenant.settings;
    let open = settings.is_open(now);
    let answer =
        answers.answer(to.as_str(), &routed, open, &sid, |sid| route_call(&state, settings, sid, open));
    let call = NewCall {
        sid,
        tenant: routed.tenant.id,
        from: request.from.to_string(),
        to: to.as_str().to_owned(),
        status: request.call_status.as_str().to_owned(),
        after_hours: !open,
        screened: answer.screened,
        at: now,
    };
    match group.submit(&state, Write::Ringing(call.clone())).await {
        Ok(()) => crate::outbox::wake(&state),
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "the call's record waits for the database");
            pending.push(PendingEffect::Ringing(call)).await;
        }
    }
    answer.into_response()
}

/// `POST /webhooks/twilio/call/screen/{CallSid}`: the owner's leg hears who calls and presses 1.
pub async fn screen(
    State(state): State<AppState>,
    Path(parent): Path<String>,
    _hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let gather = Gather {
        action: Some(state.public_url(&format!("/webhooks/twilio/call/screen/{parent}/accept"))),
        method: Some(Method::Post),
        num_digits: Some(1),
        timeout: Some(8),
        prompts: vec![Verb::Say(Say::new("You have a call from a customer. Press 1 to accept."))],
        ..Gather::default()
    };
    // Without the 1 (a carrier voicemail cannot press it) the leg ends and the call counts as missed.
    Twiml::new().verb(gather).hangup().into_response()
}

/// `POST /webhooks/twilio/call/screen/{CallSid}/accept`.
pub async fn screen_accept(
    State(state): State<AppState>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    Path(parent): Path<String>,
    hook: TwilioWebhook<GatherResult>,
) -> Response {
    if hook.payload.digits.as_deref() != Some("1") {
        return Twiml::new().hangup().into_response();
    }
    let kept = PendingEffect::ScreenAccepted { parent: parent.clone(), hook: hook.deferred() };
    let s = state.clone();
    let result =
        hook.try_once(&state.db, move |conn, press| accept_screened(s, parent, conn, press).boxed()).await;
    // An empty answer connects the legs, whether or not the database has heard of it yet.
    answer_or_keep(&pending, result, kept, Twiml::new(), true).await
}

/// The screened owner's key press, kept while the database was away, applied.
pub(super) async fn apply_screen_accepted(
    state: &AppState,
    parent: String,
    hook: DeferredWebhook,
) -> Result<(), DeferredError> {
    let s = state.clone();
    hook.once::<GatherResult, _>(&state.db, move |conn, press| {
        accept_screened(s, parent, conn, press).boxed()
    })
    .await
    .map(drop)
}

/// What a webhook whose answer does not depend on the database says: its effect's answer, or —
/// the database being away — `usual`, the effect kept until it is back. Any other failure gets
/// the edge's failure answer.
async fn answer_or_keep(
    pending: &Arc<PendingEffects>,
    result: Result<WebhookReply, WebhookError>,
    kept: PendingEffect,
    usual: Twiml,
    answers_twiml: bool,
) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) if e.is_unavailable() => {
            tracing::warn!("an inbound webhook's effect waits for the database");
            pending.push(kept).await;
            usual.into_response()
        }
        Err(e) => crate::twilio::receipts::failure_response(&e, answers_twiml),
    }
}

/// The owner pressed 1: the call is accepted (an empty answer connects the legs).
async fn accept_screened(
    state: AppState,
    parent: String,
    conn: &mut PgConnection,
    _press: GatherResult,
) -> Result<WebhookReply, WebhookError> {
    calls::accept(conn, &parent, state.clock.now()).await?;
    // An empty answer connects the legs.
    Ok(WebhookReply::from(Twiml::new()))
}

/// `POST /webhooks/twilio/call/voicemail/{CallSid}`: the `<Record>` action.
pub async fn voicemail_recorded(
    State(state): State<AppState>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    Path(sid): Path<String>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let kept = PendingEffect::Voicemail { sid: sid.clone(), hook: hook.deferred() };
    let recording = Recording::from_params(&hook.params);
    let s = state.clone();
    let result = hook
        .try_once(&state.db, move |conn, fetch| store_voicemail(s, sid, recording, conn, fetch).boxed())
        .await;
    crate::outbox::wake(&state);
    answer_or_keep(&pending, result, kept, say_and_hang_up(VOICEMAIL_THANKS), true).await
}

/// The voicemail `<Record>` action, kept while the database was away, applied.
pub(super) async fn apply_voicemail(
    state: &AppState,
    sid: String,
    hook: DeferredWebhook,
) -> Result<(), DeferredError> {
    let recording = Recording::from_params(&hook.params());
    let s = state.clone();
    hook.once::<VoiceRequest, _>(&state.db, move |conn, fetch| {
        store_voicemail(s, sid, recording, conn, fetch).boxed()
    })
    .await
    .map(drop)
}

/// What the `<Record>` action says of the recording.
struct Recording {
    sid: Option<String>,
    url: Option<String>,
    duration: Option<i32>,
}

impl Recording {
    fn from_params(params: &FormParams) -> Self {
        Recording {
            sid: params.get("RecordingSid").map(str::to_owned),
            url: params.get("RecordingUrl").map(str::to_owned),
            duration: params.get("RecordingDuration").and_then(|d| d.parse().ok()),
        }
    }
}

/// What the caller hears once the voicemail is recorded.
const VOICEMAIL_THANKS: &str = "Thank you. Goodbye.";

/// The `<Record>` action, once: the voicemail stored and announced to the call service.
async fn store_voicemail(
    state: AppState,
    sid: String,
    recording: Recording,
    conn: &mut PgConnection,
    _fetch: VoiceRequest,
) -> Result<WebhookReply, WebhookError> {
    let Recording { sid: recording, url, duration } = recording;
    let now = state.clock.now();
    if let Some(recording) = &recording
        && calls::set_voicemail(conn, &sid, recording, url.as_deref(), duration, None, now).await?
        && let Some(call) = calls::find(conn, &sid).await?
    {
        let tenant = TenantId(call.tenant_id);
        let mut data =
            notify::call_data(tenant, &sid, &call.from_address, &call.to_number, &call.status, now);
        data["recording_sid"] = serde_json::json!(recording);
        data["recording_url"] = serde_json::json!(url);
        data["recording_duration_secs"] = serde_json::json!(duration);
        notify::send(
            conn,
            tenant,
            now,
            "call.voicemail",
            "call_service",
            format!("call.voicemail:{sid}"),
            data,
        )
        .await?;
    }
    Ok(WebhookReply::from(say_and_hang_up(VOICEMAIL_THANKS)))
}

/// `POST /webhooks/twilio/call/voicemail/{CallSid}/status`: the recording's status callback.
pub async fn voicemail_status(
    State(state): State<AppState>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    Path(sid): Path<String>,
    hook: TwilioWebhook<RecordingStatusCallback>,
) -> Response {
    let kept = PendingEffect::VoicemailStatus { sid: sid.clone(), hook: hook.deferred() };
    let s = state.clone();
    let result = hook.try_once(&state.db, move |conn, rec| update_voicemail(s, sid, conn, rec).boxed()).await;
    answer_or_keep(&pending, result, kept, Twiml::new(), false).await
}

/// The voicemail recording's status, kept while the database was away, applied.
pub(super) async fn apply_voicemail_status(
    state: &AppState,
    sid: String,
    hook: DeferredWebhook,
) -> Result<(), DeferredError> {
    let s = state.clone();
    hook.once::<RecordingStatusCallback, _>(&state.db, move |conn, rec| {
        update_voicemail(s, sid, conn, rec).boxed()
    })
    .await
    .map(drop)
}

/// A voicemail recording's status callback, once.
async fn update_voicemail(
    state: AppState,
    sid: String,
    conn: &mut PgConnection,
    rec: RecordingStatusCallback,
) -> Result<WebhookReply, WebhookError> {
    let duration = rec.recording_duration.and_then(|d| i32::try_from(d).ok());
    let status = rec.recording_status.as_str().to_owned();
    calls::set_voicemail(
        conn,
        &sid,
        rec.recording_sid.as_str(),
        rec.recording_url.as_deref(),
        duration,
        Some(&status),
        state.clock.now(),
    )
    .await?;
    Ok(WebhookReply::from(Twiml::new()))
}

/// `POST /webhooks/twilio/fallback`: Twilio could not use our answer. Record what it says and
/// apologise to the caller — even when the database is down.
pub async fn fallback(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let code = hook.params.get("ErrorCode").map(str::to_owned);
    let url = hook.params.get("ErrorUrl").map(str::to_owned);
    let sid = hook.payload.call_sid.to_string();
    tracing::error!(call.sid = %sid, error_code = ?code, "Twilio used the fallback URL");
    let tenant = match hook.payload.to.number() {
        Some(to) => match directory.lookup(&state.db, to).await {
            Ok((Route::Active(r), _)) => Some(r.tenant.id),
            _ => None,
        },
        None => None,
    };
    let fallback =
        calls::Fallback { tenant, call_sid: &sid, error_code: code.as_deref(), error_url: url.as_deref() };
    if let Err(e) = calls::record_fallback(&state.db, &fallback, state.clock.now()).await {
        tracing::warn!(error = %error_chain(&e), "could not record the fallback");
    }
    say_and_hang_up(APOLOGY).into_response()
}

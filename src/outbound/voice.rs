//! `/webhooks/twilio/outbound/{job}/voice?attempt=…`: the TwiML of a dialled lead's call — the
//! run's script. The attempt token must be the job's current one and the call must be the job's,
//! so a call of one lead can never play another's script. The fetch proves the call exists, so it
//! binds the SID to the attempt and the job (even when the create's answer was lost).

use super::model::Script;
use super::policy::{Machine, Policy};
use crate::effects::{self, AttemptQuery};
use crate::error::ApiQuery;
use crate::state::AppState;
use crate::twilio::twiml::{Dial, DialTarget, Number, Say, Verb};
use crate::twilio::{TwilioWebhook, Twiml, VoiceRequest, WebhookError, WebhookReply};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

const NOT_VALID: &str = "This call is not valid. Goodbye.";

/// `POST /webhooks/twilio/outbound/{job}/voice?attempt=…`.
pub async fn voice(
    State(state): State<AppState>,
    Path(job): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let s = state.clone();
    hook.once(&state.db, move |conn, call| answer(s, job, q.attempt, conn, call).boxed()).await
}

/// The lead's TwiML, once: the job and its call checked, the SID bound, the run's script played.
async fn answer(
    state: AppState,
    job: String,
    token: Option<String>,
    conn: &mut PgConnection,
    call: VoiceRequest,
) -> Result<WebhookReply, WebhookError> {
    let sid = call.call_sid.as_str();
    let (Ok(job), Some(token)) = (Uuid::parse_str(&job), token) else {
        return Ok(WebhookReply::from(Twiml::new().say(NOT_VALID).hangup()));
    };
    let found = super::repo::voice_job(conn, job).await?;
    let Some(found) = found.filter(|f| {
        f.attempt_token.as_deref() == Some(token.as_str()) && f.call_sid.as_deref().is_none_or(|s| s == sid)
    }) else {
        tracing::warn!(call.sid = sid, "voice fetch for an outbound job this call does not belong to");
        return Ok(WebhookReply::from(Twiml::new().say(NOT_VALID).hangup()));
    };
    let now = state.clock.now();
    effects::attempts::bind(conn, &token, sid, now).await?;
    super::slots::bind_sid(conn, job, sid, now).await?;
    let answered_by = call.answered_by.as_ref().map(|a| a.as_str().to_owned());
    if let Some(verdict) = &answered_by {
        super::repo::set_answered_by(conn, job, &token, verdict).await?;
    }
    tracing::debug!(tenant.id = %found.tenant_id, answered_by = ?answered_by, "outbound call answered");
    if found.hangup_requested {
        return Ok(WebhookReply::from(Twiml::new().hangup()));
    }
    let machine = Policy::from_stored(&found.policy).machine;
    Ok(WebhookReply::from(answer_twiml(
        &found.script,
        &found.from_number,
        machine.as_ref(),
        answered_by.as_deref(),
    )))
}

/// What the callee gets: with a `machine` policy a machine or a fax is hung up on or left the
/// message (`unknown` counts as a person); everyone else gets the script.
pub fn answer_twiml(
    script: &serde_json::Value,
    from: &str,
    machine: Option<&Machine>,
    answered_by: Option<&str>,
) -> Twiml {
    let verdict = answered_by.unwrap_or("human");
    let is_machine = verdict.starts_with("machine");
    match machine {
        Some(_) if verdict == "fax" => Twiml::new().hangup(),
        Some(Machine::Hangup) if is_machine => Twiml::new().hangup(),
        Some(Machine::LeaveMessage(text)) if is_machine => {
            Twiml::new().verb(Verb::Say(Say::new(text.clone()))).hangup()
        }
        _ => match serde_json::from_value::<Script>(script.clone()) {
            // The business's script decides for itself: it gets the verdict along.
            Ok(Script::TwimlUrl(url)) => {
                Twiml::new().verb(Verb::Redirect { url: with_answered_by(&url, answered_by), method: None })
            }
            _ => script_twiml(script, from),
        },
    }
}

/// `url` with `AnsweredBy=…` added to its query (unchanged without a verdict).
fn with_answered_by(url: &str, answered_by: Option<&str>) -> String {
    match (answered_by, url::Url::parse(url)) {
        (Some(verdict), Ok(mut parsed)) => {
            parsed.query_pairs_mut().append_pair("AnsweredBy", verdict);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The TwiML of a script: say and hang up, connect the agent, or redirect to the business's URL.
pub fn script_twiml(script: &serde_json::Value, from: &str) -> Twiml {
    match serde_json::from_value::<Script>(script.clone()) {
        Ok(Script::Say(text)) => Twiml::new().verb(Verb::Say(Say::new(text))).hangup(),
        Ok(Script::Connect(agent)) => Twiml::new().verb(Dial {
            caller_id: Some(from.to_owned()),
            targets: vec![DialTarget::Number(Number { number: agent.to_string(), ..Number::default() })],
            ..Dial::default()
        }),
        Ok(Script::TwimlUrl(url)) => Twiml::new().verb(Verb::Redirect { url, method: None }),
        Err(_) => Twiml::new().say(NOT_VALID).hangup(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_script_has_its_twiml() {
        let say = script_twiml(&json!({"say": "Hi & bye"}), "+12025550100").to_xml();
        assert!(say.contains("<Say>Hi &amp; bye</Say><Hangup/>"), "{say}");
        let connect = script_twiml(&json!({"connect": "+12025550111"}), "+12025550100").to_xml();
        assert!(
            connect.contains(r#"<Dial callerId="+12025550100"><Number>+12025550111</Number></Dial>"#),
            "{connect}"
        );
        let url = script_twiml(&json!({"twiml_url": "https://example.com/t?a=1&b=2"}), "+1").to_xml();
        assert!(url.contains("<Redirect>https://example.com/t?a=1&amp;b=2</Redirect>"), "{url}");
        let broken = script_twiml(&json!({"sing": "la"}), "+1").to_xml();
        assert!(broken.contains("not valid"), "{broken}");
    }

    #[test]
    fn a_redirect_carries_the_verdict_along() {
        let url = json!({"twiml_url": "https://example.com/t?a=1"});
        let xml = answer_twiml(&url, "+1", None, Some("machine_start")).to_xml();
        assert!(
            xml.contains("<Redirect>https://example.com/t?a=1&amp;AnsweredBy=machine_start</Redirect>"),
            "{xml}"
        );
        let xml = answer_twiml(&url, "+1", None, None).to_xml();
        assert!(xml.contains("<Redirect>https://example.com/t?a=1</Redirect>"), "{xml}");
    }
}

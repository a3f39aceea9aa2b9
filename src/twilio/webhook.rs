//! `TwilioWebhook<T>`: the extractor every webhook handler takes. It reads the raw body (within
//! the limit), rebuilds the URL Twilio signed, verifies `X-Twilio-Signature` against the primary
//! and secondary tokens, refuses a foreign `AccountSid`, parses the payload and records its SID on
//! the request span. Handlers never see raw input.

use super::params::{FormParams, WebhookPayload};
use super::receipts::{self, WebhookError, WebhookReply};
use super::settings::{TwilioConfig, WebhookSettings};
use super::signature::{self, Rejection};
use super::twiml::Twiml;
use crate::error::{FieldError, problem_response};
use axum::extract::{FromRef, FromRequest, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;

/// The header Twilio keeps the same across retries of one delivery.
pub const IDEMPOTENCY_HEADER: &str = "i-twilio-idempotency-token";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// A verified, parsed webhook.
#[derive(Debug)]
pub struct TwilioWebhook<T> {
    /// The typed payload.
    pub payload: T,
    /// Every parameter received, unknown ones included.
    pub params: FormParams,
    idempotency_token: Option<String>,
}

impl<T: WebhookPayload> TwilioWebhook<T> {
    /// The deduplication key: the idempotency header when present, else the payload's natural
    /// key; `None` for a TwiML fetch without the header.
    pub fn receipt_key(&self) -> Option<String> {
        match &self.idempotency_token {
            Some(token) => Some(format!("{}:token:{token}", T::KIND)),
            None => self.payload.natural_key().map(|key| format!("{}:{key}", T::KIND)),
        }
    }

    /// Runs `effect` at most once per delivery, in one transaction with the receipt: a duplicate
    /// (on any replica) gets the first answer and runs nothing.
    pub async fn once<F>(self, db: &PgPool, effect: F) -> Response
    where
        F: for<'c> FnOnce(&'c mut PgConnection, T) -> BoxFuture<'c, Result<WebhookReply, WebhookError>>
            + Send,
    {
        match self.try_once(db, effect).await {
            Ok(reply) => reply.into_response(),
            Err(error) => receipts::failure_response(&error, T::ANSWERS_TWIML),
        }
    }

    /// [`once`](Self::once), leaving a failure to the caller (which may keep the webhook for later
    /// with [`deferred`](Self::deferred) when the database is away).
    pub async fn try_once<F>(self, db: &PgPool, effect: F) -> Result<WebhookReply, WebhookError>
    where
        F: for<'c> FnOnce(&'c mut PgConnection, T) -> BoxFuture<'c, Result<WebhookReply, WebhookError>>
            + Send,
    {
        let key = self.receipt_key();
        let payload = self.payload;
        receipts::run_once(db, key.as_deref(), T::KIND, move |conn| effect(conn, payload)).await
    }

    /// The webhook as kept while the database is away: its receipt key and its parameters.
    pub fn deferred(&self) -> DeferredWebhook {
        DeferredWebhook { key: self.receipt_key(), params: self.params.pairs().to_vec() }
    }
}

/// A verified webhook answered while the database was away, kept to be applied when it is back:
/// the receipt key it claims then (so a retry that reached another replica is harmless) and its
/// parameters, parsed again by the handler's own payload type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeferredWebhook {
    /// The webhook receipt key.
    pub key: Option<String>,
    /// Every parameter received, in order.
    pub params: Vec<(String, String)>,
}

impl DeferredWebhook {
    /// The parameters, as the handler received them.
    pub fn params(&self) -> FormParams {
        FormParams(self.params.clone())
    }

    /// Runs `effect` on the parsed payload at most once per delivery, as
    /// [`TwilioWebhook::once`] would have. Parameters that no longer parse (they did when the
    /// webhook was answered) are a bug, said as such.
    pub async fn once<T, F>(self, db: &PgPool, effect: F) -> Result<WebhookReply, DeferredError>
    where
        T: WebhookPayload,
        F: for<'c> FnOnce(&'c mut PgConnection, T) -> BoxFuture<'c, Result<WebhookReply, WebhookError>>
            + Send,
    {
        let payload = T::parse(&self.params()).map_err(|errors| DeferredError::Unreadable(errors.len()))?;
        let result =
            receipts::run_once(db, self.key.as_deref(), T::KIND, move |conn| effect(conn, payload)).await;
        Ok(result?)
    }
}

/// Why a kept webhook could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DeferredError {
    /// The effect failed (the database may still be away).
    #[error(transparent)]
    Effect(#[from] WebhookError),
    /// The kept parameters no longer parse.
    #[error("a kept webhook no longer parses ({0} field errors)")]
    Unreadable(usize),
}

impl<S, T> FromRequest<S> for TwilioWebhook<T>
where
    S: Send + Sync,
    T: WebhookPayload,
    Arc<WebhookSettings>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let settings = Arc::<WebhookSettings>::from_ref(state);
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, settings.body_limit_bytes).await else {
            return Err(unprocessable::<T>(vec![FieldError::new("body", "is too large or was cut off")]));
        };
        let url = public_url(&parts, &settings);
        let is_json = is_json(&parts.headers);
        let params = if is_json {
            json_params(&bytes)
        } else if parts.method == Method::GET {
            FormParams::from_form(parts.uri.query().unwrap_or("").as_bytes())
        } else {
            FormParams::from_form(&bytes)
        };
        let twilio = &settings.twilio;
        if !twilio.insecure_skip_signature {
            let presented = parts.headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
            let signed_params = if parts.method == Method::GET { &[][..] } else { params.pairs() };
            if let Err(reason) = verify(twilio, &url, signed_params, &bytes, is_json, presented) {
                tracing::warn!(reason = %reason, candidates = ?signature::url_variants(&url), "webhook refused: bad signature");
                return Err(forbidden::<T>());
            }
        }
        if let (Some(expected), Some(got)) = (&twilio.account_sid, params.get("AccountSid"))
            && got != expected.as_str()
        {
            tracing::warn!(reason = "foreign account", "webhook refused: AccountSid is not ours");
            return Err(forbidden::<T>());
        }
        let payload = T::parse(&params).map_err(|errors| {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            tracing::warn!(kind = T::KIND, fields = ?fields, "webhook refused: malformed");
            unprocessable::<T>(errors)
        })?;
        record_sid(payload.sid());
        let idempotency_token = parts
            .headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map(str::to_owned);
        Ok(TwilioWebhook { payload, params, idempotency_token })
    }
}

fn verify(
    twilio: &TwilioConfig,
    url: &str,
    params: &[(String, String)],
    body: &[u8],
    is_json: bool,
    presented: Option<&str>,
) -> Result<(), Rejection> {
    let tokens: Vec<&[u8]> = [&twilio.auth_token, &twilio.auth_token_secondary]
        .into_iter()
        .flatten()
        .map(|t| t.expose_secret().as_bytes())
        .collect();
    if is_json {
        signature::verify_json(&tokens, url, body, presented)
    } else {
        signature::verify_form(&tokens, url, params, presented)
    }
}

/// The URL Twilio requested: `PUBLIC_BASE_URL` + the raw path and query; else, when trusted,
/// the forwarded scheme and host; else the request's own `Host` over plain HTTP.
pub fn public_url(parts: &Parts, server: &WebhookSettings) -> String {
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(base) = &server.public_base_url {
        return format!("{}{path_and_query}", base.as_str().trim_end_matches('/'));
    }
    let host = header_str(&parts.headers, header::HOST.as_str())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    if server.trust_forwarded_headers {
        let proto = header_str(&parts.headers, "x-forwarded-proto").unwrap_or("http");
        let host = header_str(&parts.headers, "x-forwarded-host").unwrap_or(host);
        return format!("{proto}://{host}{path_and_query}");
    }
    format!("http://{host}{path_and_query}")
}

/// The first value of a (possibly comma-separated) header.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    value.split(',').next().map(str::trim).filter(|v| !v.is_empty())
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str()).is_some_and(|ct| ct.starts_with("application/json"))
}

/// The top-level scalar members of a JSON body, as parameters.
fn json_params(body: &[u8]) -> FormParams {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return FormParams::default();
    };
    let pairs = map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect();
    FormParams(pairs)
}

fn record_sid(sid: &str) {
    let field = if sid.starts_with("CA") {
        "call.sid"
    } else if sid.starts_with("SM") || sid.starts_with("MM") {
        "message.sid"
    } else {
        return;
    };
    tracing::Span::current().record(field, sid);
}

/// 403: a voice webhook tells the caller; the others get an empty body.
fn forbidden<T: WebhookPayload>() -> Response {
    if T::ANSWERS_TWIML {
        let twiml = Twiml::new().say("We could not verify this request.").hangup();
        (StatusCode::FORBIDDEN, twiml).into_response()
    } else {
        StatusCode::FORBIDDEN.into_response()
    }
}

/// 422: problem+json naming the fields; a voice webhook gets a spoken apology instead.
fn unprocessable<T: WebhookPayload>(errors: Vec<FieldError>) -> Response {
    if T::ANSWERS_TWIML {
        let twiml = Twiml::new().say("We are sorry, this call could not be processed.").hangup();
        return (StatusCode::UNPROCESSABLE_ENTITY, twiml).into_response();
    }
    let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let detail = format!("invalid webhook parameters: {}", names.join(", "));
    problem_response(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail, Some(&errors))
}

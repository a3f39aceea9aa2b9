//! `GET /media/recordings/{id}?expires=…&sig=…`: a signed link's audio, streamed from Twilio with
//! the account's credentials (`Range` passed through; `Content-Type`, `Content-Length`,
//! `Content-Range` kept). No key is needed: the signature is the authorization. Anything wrong —
//! expired, tampered, unknown, deleted, not yet completed — is a bare 403 that says nothing, and
//! neither Twilio's URL nor the recording's SID is ever shown or logged.

use super::{link, repo};
use crate::state::AppState;
use crate::twilio::settings::ApiCredentials;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use uuid::Uuid;

fn forbidden() -> Response {
    StatusCode::FORBIDDEN.into_response()
}

/// `expires` and `sig` from the query, if both are there.
fn signature(query: Option<&str>) -> Option<(i64, String)> {
    let (mut expires, mut sig) = (None, None);
    for (k, v) in form_urlencoded::parse(query?.as_bytes()) {
        match k.as_ref() {
            "expires" => expires = v.parse().ok(),
            "sig" => sig = Some(v.into_owned()),
            _ => {}
        }
    }
    Some((expires?, sig?))
}

/// `GET /media/recordings/{id}`.
#[utoipa::path(get, path = "/media/recordings/{id}", tag = "calls", operation_id = "recording_media",
    summary = "A recording's audio, by its signed link",
    description = "No key: the link's `expires` and `sig` (from `GET /api/calls/{id}/recordings`, valid one hour) authorize it. Streams the audio from Twilio; `Range` is passed through (206 with `Content-Range`). Expired, tampered, unknown or deleted: 403 without a body.",
    params(("id" = Uuid, Path), ("expires" = i64, Query), ("sig" = String, Query)),
    responses((status = 200, description = "The audio", content_type = "audio/x-wav"), (status = 206, description = "The asked range"), (status = 403, description = "No valid link")))]
pub async fn media(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (Ok(id), Some((expires, sig))) = (Uuid::parse_str(&id), signature(query.as_deref())) else {
        return forbidden();
    };
    if !link::verify(&state.config.media, id, expires, &sig, state.clock.now()) {
        return forbidden();
    }
    let url = match repo::media_url(&state.db, id).await {
        Ok(Some(url)) => url,
        Ok(None) => return forbidden(),
        Err(e) => {
            tracing::warn!(error = %e, "recording media lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    stream(&state, id, &url, headers.get(header::RANGE)).await
}

/// Fetches the media from Twilio and streams it through.
async fn stream(state: &AppState, id: Uuid, url: &str, range: Option<&header::HeaderValue>) -> Response {
    let twilio = &state.config.twilio;
    // Credentials go to Twilio's API only, whatever a callback claimed the URL was.
    if !url.starts_with(twilio.api_base.as_str().trim_end_matches('/')) {
        tracing::warn!(recording.id = %id, "recording media is not at the Twilio API base; refused");
        return forbidden();
    }
    let (user, secret) = match (&twilio.account_sid, &twilio.credentials) {
        (Some(sid), Some(ApiCredentials::AuthToken(token))) => (sid.to_string(), token.clone()),
        (Some(_), Some(ApiCredentials::ApiKey { sid, secret })) => (sid.clone(), secret.clone()),
        _ => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let Ok(client) = crate::net::client_builder().connect_timeout(twilio.request_timeout).build() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut request = client.get(url).basic_auth(user, Some(secret.expose_secret()));
    if let Some(range) = range {
        request = request.header(reqwest::header::RANGE, range.as_bytes());
    }
    let upstream = match request.send().await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(recording.id = %id, "recording media could not be fetched from Twilio");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = upstream.status();
    if !status.is_success() {
        tracing::warn!(recording.id = %id, status = status.as_u16(), "Twilio refused the recording media");
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let mut response = Response::builder().status(status.as_u16());
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_RANGE, header::ACCEPT_RANGES] {
        if let Some(value) = upstream.headers().get(name.as_str()) {
            response = response.header(name, value.as_bytes());
        }
    }
    // reqwest's errors name the URL: the stream's error says only what happened.
    let body = futures::stream::unfold(Some(upstream), |upstream| async move {
        let mut upstream = upstream?;
        match upstream.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(upstream))),
            Ok(None) => None,
            Err(_) => Some((Err(std::io::Error::other("the recording stream from Twilio broke")), None)),
        }
    });
    response.body(Body::from_stream(body)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

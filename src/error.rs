//! The operator API's error type, rendered as `application/problem+json` (RFC 9457) with the
//! stable `code` values of DESIGN.md §4. Internal errors are logged once, here, with their
//! source chain, and shown to the client as an opaque 500. A database error that is the
//! caller's fault (a data exception, SQLSTATE class 22) is a 422 instead ([`database`]).

pub mod database;
mod extract;
mod json;

pub use extract::{ApiPath, ApiQuery, parse_query, storable};
pub use json::ApiJson;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The content type of every error body on the operator API.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Result alias for handlers and domain functions that answer the operator API.
pub type ApiResult<T> = Result<T, ApiError>;

/// One invalid field of a 422 answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the client sent it (`owner_number`, `business_hours.mon`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// Everything the operator API can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no key, an unknown key or a revoked one.
    #[error("a valid API key is required")]
    Unauthorized,
    /// 403: the caller's role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// 404: no such object (also another tenant's object).
    #[error("no such resource")]
    NotFound,
    /// 405: the path exists but not with this method.
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 409: a state machine refused the transition.
    #[error("{0}")]
    InvalidTransition(String),
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the body is well-formed but some fields are invalid.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// 400: the body cannot be parsed.
    #[error("{0}")]
    MalformedBody(String),
    /// 413: the body is larger than the configured limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 429: too many requests.
    #[error("too many requests")]
    RateLimited,
    /// 503: a dependency is unavailable or the request timed out.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a database failure. Built only through `From<sqlx::Error>`, which turns the
    /// caller's faults into [`ApiError::Validation`].
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        database::from_sqlx(error)
    }
}

impl ApiError {
    /// A 422 with a single invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status and the stable `code`.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InvalidTransition(_) => (StatusCode::CONFLICT, "invalid_transition"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_body"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The RFC 9457 body.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// Builds a problem+json response; used by [`ApiError`] and by the layers that answer before
/// any handler runs (timeouts, panics).
pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Option<&[FieldError]>,
) -> Response {
    let body = Problem {
        kind: format!("/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        code,
        errors,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let detail = match &self {
            ApiError::Database(source) => {
                tracing::error!(error = %error_chain(source), "internal error");
                "an internal error occurred".to_string()
            }
            other => other.to_string(),
        };
        let errors = match &self {
            ApiError::Validation(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let mut response = problem_response(status, code, detail, errors);
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `error: cause: cause`, for logging an error once with everything that led to it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Answers unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Answers a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Maps a violation of one of the named constraints to a 409 with its message; any other
/// database error stays internal. Use: `.map_err(conflict_on(&[("tenant_slug_key", "…")]))`.
pub fn conflict_on(constraints: &'static [(&'static str, &'static str)]) -> impl Fn(sqlx::Error) -> ApiError {
    move |error| {
        let violated = match &error {
            sqlx::Error::Database(db) => {
                db.constraint().and_then(|c| constraints.iter().find(|(name, _)| *name == c))
            }
            _ => None,
        };
        match violated {
            Some((_, message)) => ApiError::Conflict((*message).to_owned()),
            None => ApiError::from(error),
        }
    }
}

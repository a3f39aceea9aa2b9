//! `ApiJson<T>`: axum's `Json` extractor with its rejections turned into problem+json, so a
//! malformed body, a wrong content type or a wrongly typed field gets the same error shape as
//! everything else. A string (or key) holding a NUL character, which PostgreSQL cannot store in
//! `text` or `jsonb`, is a 422 naming where it is (`name`, `media[0]`) before any handler runs.
//! A body that is not a JSON object (an array, a string, `null`) is a 422 naming `body`.

use super::{ApiError, FieldError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON body (request) or a JSON answer (response).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await.map_err(map_rejection)?;
        // Every body of the API is an object. serde would also read a struct from an array (by
        // position), so `[]` would pass as a body whose fields are all optional.
        if !value.is_object() {
            return Err(ApiError::invalid("body", "must be a JSON object"));
        }
        if let Some(path) = nul_at(&value, String::new()) {
            let field = if path.is_empty() { "body".to_owned() } else { path };
            return Err(ApiError::invalid(field, "must not contain a NUL character"));
        }
        serde_path_to_error::deserialize(value).map(ApiJson).map_err(|error| {
            let field = match error.path().to_string() {
                path if path == "." => "body".to_owned(),
                path => path,
            };
            ApiError::Validation(vec![FieldError::new(field, error.into_inner().to_string())])
        })
    }
}

/// Where the first string or object key holding a NUL character is, as a path (`a.b[2]`).
fn nul_at(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_at(item, format!("{path}[{i}]")))
        }
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains('\0') {
                Some(if path.is_empty() { "body".to_owned() } else { path.clone() })
            } else {
                nul_at(item, here)
            }
        }),
        _ => None,
    }
}

fn map_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("the body must be application/json".into())
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::Validation(vec![FieldError::new("body", data_error_message(&e.body_text()))])
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::MalformedBody("the body is not valid JSON".into()),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::MalformedBody(other.body_text()),
    }
}

/// serde's message without axum's generic prefix.
fn data_error_message(text: &str) -> String {
    text.strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text)
        .to_string()
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

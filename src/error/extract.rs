//! `ApiQuery<T>` and `ApiPath<T>`: axum's extractors with problem+json rejections. Both refuse
//! text PostgreSQL cannot store (a NUL character) before any handler runs: a query parameter
//! carrying one is a 422 naming it, a path segment carrying one names nothing (404).

use super::{ApiError, FieldError};
use axum::extract::{FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Query parameters. A parameter that is not storable text, or does not deserialize, is a 422
/// whose `errors[].field` names it (`query` when no single parameter is to blame).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Deserializes a raw query string into `T`, refusing unstorable text first.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    if let Some((name, _)) = pairs.clone().find(|(name, value)| !storable(name) || !storable(value)) {
        return Err(ApiError::invalid(field_name(&name), "must not contain a NUL character"));
    }
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|error| {
        let field = match error.path().to_string() {
            path if path == "." => "query".to_owned(),
            path => path,
        };
        ApiError::Validation(vec![FieldError::new(field, error.into_inner().to_string())])
    })
}

/// Path parameters. A segment that carries a NUL character or is not UTF-8, or that does not
/// parse (a malformed id), names no resource: 404.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound)?;
        if raw.iter().any(|(_, value)| !storable(value)) {
            return Err(ApiError::NotFound);
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Whether PostgreSQL's UTF-8 `text` can hold this string. A Rust `str` is valid UTF-8 (invalid
/// bytes were replaced or refused while decoding), so the one character it refuses is NUL.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// A parameter's name fit to echo back: control characters dropped, at most 64 characters.
fn field_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if name.is_empty() { "query".to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Filters {
        status: Option<String>,
        limit: Option<i64>,
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_nul_in_a_query_parameter_is_refused_naming_the_parameter() {
        let error = parse_query::<Filters>("status=%E2%80%AE%00").expect_err("refused");
        assert_eq!(fields(error), ["status"]);
    }

    #[test]
    fn a_parameter_that_does_not_deserialize_is_named() {
        let error = parse_query::<Filters>("limit=ten").expect_err("refused");
        assert_eq!(fields(error), ["limit"]);
    }

    #[test]
    fn a_nul_in_an_unknown_parameter_name_is_refused_without_echoing_it() {
        let error = parse_query::<Filters>("a%00b=1").expect_err("refused");
        assert_eq!(fields(error), ["ab"]);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_and_accepted_as_text() {
        let parsed = parse_query::<Filters>("status=%ED%A0%80").expect("lossy text");
        assert_eq!(parsed.status.as_deref(), Some("\u{fffd}\u{fffd}\u{fffd}"));
    }
}

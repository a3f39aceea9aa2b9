//! The seed's log line for every sensitive action on sessions and sirens: one `info` event
//! (target `switchboard::sensitive`) per operator request, after the handler, with exactly
//! `req_id`, `actor_id`, `role`, `route`, `entity`, `entity_id`, `event` and `result`. The route
//! is the template (`/api/calls/{id}/siren`), never the URL; the entity id is the path's id;
//! nothing else of the request — no phone numbers, tokens, bodies or recording URLs — is logged.

use crate::auth::SeenOperator;
use crate::http::REQUEST_ID;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// What the answer's status says happened.
pub fn result(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        401 | 403 => "denied",
        404 => "not_found",
        409 => "refused",
        422 => "invalid",
        500..=599 => "error",
        _ => "failed",
    }
}

/// The entity and event a route template stands for: `POST /api/sirens/{id}/resolve` is
/// (`siren`, `resolve`), `GET /api/calls/{id}` (`session`, `read`).
pub fn describe(method: &str, route: &str) -> (&'static str, String) {
    let entity = if route.contains("siren") { "siren" } else { "session" };
    let last = route.rsplit('/').next().unwrap_or_default();
    let event = match (method, last.starts_with('{')) {
        ("GET", true) => "read".to_owned(),
        ("GET", false) => "list".to_owned(),
        (_, _) if last == "siren" => "trigger".to_owned(),
        _ => last.to_owned(),
    };
    (entity, event)
}

/// The value of the route's first path parameter (`{id}`, `{order_id}`) in `path`.
pub fn path_id(route: &str, path: &str) -> String {
    route
        .split('/')
        .zip(path.split('/'))
        .find(|(template, _)| template.starts_with('{'))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default()
}

/// The layer: logs each `/api` request of the routes it wraps once answered.
pub async fn log(mut request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    if !route.starts_with("/api/") {
        return next.run(request).await;
    }
    let seen = SeenOperator::default();
    request.extensions_mut().insert(seen.clone());
    let method = request.method().as_str().to_owned();
    let req_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let entity_id = path_id(&route, request.uri().path());
    let response = next.run(request).await;
    let (entity, event) = describe(&method, &route);
    let (actor_id, role) =
        seen.0.get().map_or((String::new(), "none"), |(id, role)| (id.to_string(), role.as_str()));
    tracing::info!(
        target: "switchboard::sensitive",
        req_id,
        actor_id,
        role,
        route = %format_args!("{method} {route}"),
        entity,
        entity_id,
        event,
        result = result(response.status().as_u16()),
        "sensitive action"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_entity_and_event() {
        assert_eq!(describe("POST", "/api/calls/{id}/siren"), ("siren", "trigger".into()));
        assert_eq!(describe("POST", "/api/sirens/{id}/resolve"), ("siren", "resolve".into()));
        assert_eq!(describe("GET", "/api/calls/{id}"), ("session", "read".into()));
        assert_eq!(describe("GET", "/api/calls"), ("session", "list".into()));
        assert_eq!(describe("POST", "/api/calls/{id}/drop"), ("session", "drop".into()));
        assert_eq!((result(201), result(403), result(409)), ("ok", "denied", "refused"));
        assert_eq!(path_id("/api/sirens/{id}/resolve", "/api/sirens/abc/resolve"), "abc");
        assert_eq!(path_id("/api/calls", "/api/calls"), "");
    }
}

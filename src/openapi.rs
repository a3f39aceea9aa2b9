//! The OpenAPI 3.1 document of everything the router serves, generated from the code.
//!
//! Each module documents its own routes next to its `router()`: operator API handlers carry
//! `#[utoipa::path]`, and the module exposes an `openapi()` fragment (a [`Domain`] through
//! [`Domain::openapi`]) together with the list of routes it serves (`ROUTES`). Startup merges the
//! fragments like it merges the routers ([`document`]), so a new domain adds its paths without
//! editing a central list. [`document`] then applies what every operation shares, so a handler's
//! annotation says only what is its own (summary, roles, body, answers, the 409s it can give):
//! the bearer key and the 401/403/404/422/500/503 answers on `/api`, the 400/413/415 answers of
//! JSON bodies, and the `Idempotency-Key` header of creating POSTs.
//!
//! The document is served at `GET /api/openapi.json` without a key, and read at `/api/docs`
//! (Swagger UI, compiled into the binary from the copy its `vendored` crate ships).
//!
//! [`Domain`]: crate::domain::Domain
//! [`Domain::openapi`]: crate::domain::Domain::openapi

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use std::sync::Arc;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, PathItem, Ref, RefOr, Required};
use utoipa::{Modify, ToSchema};

/// Where the document is served (without a key).
pub const SPEC_PATH: &str = "/api/openapi.json";
/// Where the browsable reference is served.
pub const DOCS_PATH: &str = "/api/docs";

/// One route the router serves: an HTTP method (upper case) and an axum path.
pub type Route = (&'static str, &'static str);

/// The routes [`router`] serves (the document and the reference; the reference's assets live
/// under `/api/docs/…` and are not operations of the API, so only its entry page is listed).
pub const ROUTES: &[Route] = &[("GET", SPEC_PATH)];

/// The security scheme name of operator keys.
pub const BEARER: &str = "bearer";

/// The content type of Twilio's webhooks.
const FORM: &str = "application/x-www-form-urlencoded";

/// The `code` of a problem+json answer (DESIGN.md §4).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ProblemCode {
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404, also for another tenant's objects.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409.
    Conflict,
    /// 409 from a state machine.
    InvalidTransition,
    /// 415.
    UnsupportedMediaType,
    /// 422.
    ValidationFailed,
    /// 400.
    MalformedBody,
    /// 413.
    PayloadTooLarge,
    /// 429.
    RateLimited,
    /// 500.
    Internal,
    /// 503.
    Unavailable,
}

/// An `application/problem+json` answer (RFC 9457).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `/problems/{code}`.
    #[schema(rename = "type", example = "/problems/not_found")]
    kind: String,
    /// The status's reason phrase.
    #[schema(example = "Not Found")]
    title: String,
    /// The HTTP status.
    #[schema(example = 404)]
    status: u16,
    /// What went wrong, for a person.
    #[schema(example = "no such resource")]
    detail: String,
    /// The stable machine-readable code.
    code: ProblemCode,
    /// 422 only: one entry per invalid field.
    #[schema(nullable = false)]
    errors: Option<Vec<FieldErrorSchema>>,
}

/// One invalid field of a 422 answer.
#[derive(ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub struct FieldErrorSchema {
    /// The field as the client sent it (`owner_number`, `business_hours.mon`, `limit`).
    #[schema(example = "owner_number")]
    field: String,
    /// What is wrong with it.
    #[schema(example = "not an E.164 phone number")]
    message: String,
}

/// The shared problem answers, by component name: (status, name, description).
const PROBLEMS: &[(u16, &str, &str)] = &[
    (400, "MalformedBody", "`malformed_body`: the body is not valid JSON."),
    (401, "Unauthorized", "`unauthorized`: no key, an unknown key or a revoked one."),
    (403, "Forbidden", "`forbidden`: the key's role may not do this."),
    (
        404,
        "NotFound",
        "`not_found`: no such object — also another tenant's, never a 403 that would confirm it exists.",
    ),
    (
        409,
        "Conflict",
        "`conflict` (the request conflicts with the current state, or an `Idempotency-Key` was reused for another request) or `invalid_transition` (the object's state does not allow it).",
    ),
    (413, "PayloadTooLarge", "`payload_too_large`: the body is larger than the configured limit."),
    (415, "UnsupportedMediaType", "`unsupported_media_type`: the body is not `application/json`."),
    (
        422,
        "ValidationFailed",
        "`validation_failed`: invalid fields, parameters or headers, one entry per field in `errors`.",
    ),
    (500, "Internal", "`internal`: an internal error (logged with the request id)."),
    (503, "Unavailable", "`unavailable`: the request timed out or a dependency is down."),
];

/// A 409 answer, for handlers' `responses(...)`: `(status = 409, response = inline(ConflictResponse))`.
#[derive(utoipa::ToResponse)]
#[response(
    description = "`conflict` (the request conflicts with the current state, or an `Idempotency-Key` was reused for another request) or `invalid_transition` (the object's state does not allow it)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct ConflictResponse(Problem);

/// A reference to a shared problem answer, for handlers' `responses(...)`.
pub fn problem(name: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// The frame every fragment is merged into: info, the bearer scheme, the problem answers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "The operator API of Switchboard, and the webhooks it serves Twilio and sends other services.\n\n\
            Every `/api` request but `GET /api/openapi.json` carries `Authorization: Bearer <token>`. Roles: \
            `superadmin` (every tenant), `admin` and `monitor` (their tenant), `client` and `reader` (their own \
            orders' calls). Lists answer `{\"items\": [...], \"next_cursor\": \"...\" | null}` (`limit` 1–200, \
            default 50; `cursor` from the previous page). Every creating POST accepts an `Idempotency-Key`. \
            Errors are `application/problem+json` with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, ProblemCode, FieldErrorSchema)),
    modifiers(&Frame),
    tags(
        (name = "tenants", description = "Businesses, their settings, numbers and keys"),
        (name = "me", description = "The calling key"),
        (name = "crises", description = "Crisis approvals"),
        (name = "inbound", description = "Inbound calls, conversations and opt-outs"),
        (name = "notifications", description = "The outbox of notifications and Twilio effects"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "twilio-webhooks", description = "Form posts from Twilio, signed with `X-Twilio-Signature`"),
        (name = "probes", description = "Liveness, readiness and metrics"),
        (name = "meta", description = "This document"),
    )
)]
struct FrameDoc;

struct Frame;

impl Modify for Frame {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `switchboard keys create` or `POST /api/tenants/{tenant}/keys`",
                    ))
                    .build(),
            ),
        );
        for (_, name, description) in PROBLEMS {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
            let response =
                ResponseBuilder::new().description(*description).content(crate::error::PROBLEM_JSON, content);
            components.responses.insert((*name).to_owned(), RefOr::T(response.build()));
        }
    }
}

/// The whole document: the frame, each fragment (paths, schemas, tags and `webhooks`), then
/// what every operation shares.
pub fn document(fragments: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = FrameDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.merge(own());
    for mut fragment in fragments {
        if let Some(webhooks) = fragment.webhooks.take() {
            doc.webhooks.get_or_insert_with(Default::default).paths.extend(webhooks.paths);
        }
        doc.merge(fragment);
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in operations_mut(item) {
            shared(path, method, operation);
        }
    }
    doc
}

/// The document's own path.
fn own() -> OpenApi {
    let mut doc = OpenApi::default();
    let operation = OperationBuilder::new()
        .tag("meta")
        .summary(Some("This OpenAPI document"))
        .description(Some(
            "The one `/api` route that needs no key. The browsable reference is at `/api/docs`.",
        ))
        .operation_id(Some("openapi"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI 3.1 document")
                .content("application/json", ContentBuilder::new().schema(Some(any_object())).build()),
        )
        .build();
    let mut operation = operation;
    operation.security = Some(Vec::new());
    doc.paths.add_path_operation(SPEC_PATH, vec![HttpMethod::Get], operation);
    doc
}

/// Every operation of a path item, with its method.
pub fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
    .collect()
}

/// What every `/api` operation shares (the document's own route aside).
fn shared(path: &str, method: &str, operation: &mut Operation) {
    let keyed = path.starts_with("/api/") && operation.security.is_none();
    let names_tenant = names_query(operation, "tenant");
    let responses = &mut operation.responses.responses;
    let mut add = |status: u16, name: &str| {
        responses.entry(status.to_string()).or_insert_with(|| problem(name));
    };
    if keyed {
        operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
        for (status, name) in [(401, "Unauthorized"), (403, "Forbidden"), (422, "ValidationFailed")] {
            add(status, name);
        }
        // A path's object, or a superadmin's `?tenant=`, may not exist.
        if path.contains('{') || names_tenant {
            add(404, "NotFound");
        }
        if operation.request_body.is_some() {
            for (status, name) in
                [(400, "MalformedBody"), (413, "PayloadTooLarge"), (415, "UnsupportedMediaType")]
            {
                add(status, name);
            }
        }
        add(500, "Internal");
        add(503, "Unavailable");
    }
    let creates = method == "POST" && operation.responses.responses.contains_key("201");
    if keyed && creates {
        // The key reused for another request.
        operation.responses.responses.entry("409".to_owned()).or_insert_with(|| problem("Conflict"));
        let header = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1–255 visible ASCII characters. A repeat by the same key within 24 h gets the first answer \
                 (same status and body) and creates nothing, even when the two race; the key reused for \
                 another request is a 409.",
            ))
            .schema(Some(
                ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)),
            ))
            .example(Some(serde_json::json!("c-42")))
            .build();
        operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(header));
    }
}

/// Whether the operation has a query parameter `name`.
fn names_query(operation: &Operation, name: &str) -> bool {
    operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.name == name && p.parameter_in == ParameterIn::Query,
        RefOr::Ref(_) => false,
    })
}

/// Any JSON object.
pub fn any_object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

/// A Twilio webhook: a form post signed with `X-Twilio-Signature`, answered with TwiML (voice
/// fetches) or an empty `<Response/>` (status callbacks). `attempt` names the `?attempt=` token
/// of the routes that carry one.
pub fn twilio_webhook(summary: &str, description: &str, path_params: &[&str], attempt: bool) -> Operation {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let mut builder = OperationBuilder::new()
        .tag("twilio-webhooks")
        .summary(Some(summary))
        .description(Some(description))
        .parameter(
            ParameterBuilder::new()
                .name("X-Twilio-Signature")
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(
                    "Base64 HMAC-SHA1, with the account's auth token, of the full URL followed by each \
                     form parameter's name and value, sorted by name",
                ))
                .schema(Some(string())),
        );
    for name in path_params {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string())),
        );
    }
    if attempt {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name("attempt")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "The attempt token Switchboard put in the callback URL of the call or message it created",
                ))
                .schema(Some(string())),
        );
    }
    let form = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Twilio's parameters (`AccountSid`, `CallSid` or `MessageSid`, `From`, `To`, `CallStatus`, …); \
             unknown ones are accepted",
        ))
        .additional_properties(Some(string()));
    let twiml = ContentBuilder::new()
        .schema(Some(string()))
        .example(Some(serde_json::json!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")));
    let mut operation = builder
        .request_body(Some(
            RequestBodyBuilder::new().content(FORM, ContentBuilder::new().schema(Some(form)).build()).required(Some(Required::True)).build(),
        ))
        .responses(
            ResponsesBuilder::new()
                .response("200", ResponseBuilder::new().description("TwiML").content("text/xml", twiml.build()))
                .response(
                    "403",
                    ResponseBuilder::new()
                        .description("A bad or missing signature, or another account's `AccountSid` (voice fetches get TwiML saying so)"),
                )
                .response("422", problem("ValidationFailed")),
        )
        .build();
    // Twilio signs; no operator key.
    operation.security = Some(Vec::new());
    operation
}

/// An outgoing notification (Standard Webhooks): `POST` to the destination's URL with the
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers and the envelope around
/// `data` (a schema name).
pub fn notification(kind: &str, destination: &str, when: &str, data: &str) -> (String, PathItem) {
    let header = |name: &str, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
    };
    let envelope = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))),
        )
        .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([kind])))
        .property(
            "created_at",
            ObjectBuilder::new().schema_type(Type::String).format(Some(
                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime),
            )),
        )
        .property(
            "tenant_id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))),
        )
        .property("data", Ref::from_schema_name(data))
        .required("id")
        .required("type")
        .required("created_at")
        .required("tenant_id")
        .required("data");
    let operation = OperationBuilder::new()
        .tag("notifications")
        .summary(Some(format!("`{kind}` to the {destination}")))
        .description(Some(format!(
            "Sent when {when}. Delivered at least once (receivers deduplicate on `webhook-id`, stable across \
             retries), signed per Standard Webhooks with `SWITCHBOARD_WEBHOOK_SECRET`. Any 2xx answer counts as \
             delivered; anything else is retried with backoff."
        )))
        .operation_id(Some(kind.replace('.', "_")))
        .parameter(header("webhook-id", "The message id (the envelope's `id`)"))
        .parameter(header("webhook-timestamp", "Unix seconds"))
        .parameter(header("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`"))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", ContentBuilder::new().schema(Some(envelope)).build())
                .required(Some(Required::True))
                .build(),
        ))
        .response("200", ResponseBuilder::new().description("Received (any 2xx)"))
        .build();
    (kind.to_owned(), PathItem::new(HttpMethod::Post, operation))
}

/// `GET /api/openapi.json` and the reference at `/api/docs`.
pub fn router<S: Clone + Send + Sync + 'static>(document: Arc<OpenApi>) -> Router<S> {
    let ui = utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH).config(utoipa_swagger_ui::Config::from(SPEC_PATH));
    Router::new().route(SPEC_PATH, get(serve)).layer(Extension(document)).merge(Router::from(ui))
}

async fn serve(Extension(document): Extension<Arc<OpenApi>>) -> Response {
    let body = serde_json::to_vec(&*document).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

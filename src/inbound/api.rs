//! The operator API of inbound calls and conversations (tenant-scoped, paginated).

use super::calls::{self, InboundCall};
use super::conversations::{self, Conversation, Message, OptOut};
use super::textback::DOMAIN;
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role};
use crate::effects::{self, MessageRequest, Owner, priority};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::filters::closed_set;
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use crate::twilio::E164;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Datelike, Utc};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const READERS: &[Role] = &[Role::Admin, Role::Monitor];

closed_set!(
    /// The `status` filter of inbound calls: one of Twilio's call statuses or one of our outcomes.
    pub CallStatusFilter {
        /// Twilio: queued.
        Queued => "queued",
        /// Twilio: initiated.
        Initiated => "initiated",
        /// Twilio: ringing.
        Ringing => "ringing",
        /// Twilio: in progress.
        InProgress => "in-progress",
        /// Twilio: completed.
        Completed => "completed",
        /// Twilio: busy.
        Busy => "busy",
        /// Twilio: failed.
        Failed => "failed",
        /// Twilio: no answer.
        NoAnswer => "no-answer",
        /// Twilio: canceled.
        Canceled => "canceled",
        /// Outcome: the owner picked up.
        Answered => "answered",
        /// Outcome: the call was missed.
        Missed => "missed",
    }
);

/// `?status=&since=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Twilio's status or the outcome.
    status: Option<CallStatusFilter>,
    /// Only calls that rang at or after this time (RFC 3339, years 1–9999).
    since: Option<DateTime<Utc>>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/inbound-calls?status=&since=` (newest first; `status` matches Twilio's status or the outcome).
#[utoipa::path(get, path = "/api/inbound-calls", tag = "inbound", operation_id = "list_inbound_calls",
    summary = "List inbound calls", description = "Roles: admin, monitor. Permission: `inbound_calls:read`. Newest first.",
    params(CallQuery), responses((status = 200, description = "A page of calls", body = Page<InboundCall>)))]
pub async fn list_calls(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<ApiJson<Page<InboundCall>>> {
    let tenant = operator.own_tenant_as(READERS)?;
    if q.since.is_some_and(|since| !(1..=9999).contains(&since.year())) {
        return Err(ApiError::invalid("since", "must be a time between the years 1 and 9999"));
    }
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = calls::list(&mut tx, tenant, q.status.map(CallStatusFilter::as_str), q.since, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `GET /api/conversations` (most recent first).
#[utoipa::path(get, path = "/api/conversations", tag = "inbound", operation_id = "list_conversations",
    summary = "List conversations", description = "Roles: admin, monitor. Permission: `conversations:read`.",
    params(PageQuery), responses((status = 200, description = "A page of conversations", body = Page<Conversation>)))]
pub async fn list_conversations(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<Conversation>>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let keys = Keyset::from_query(&page)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = conversations::list(&mut tx, tenant, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// A conversation with its messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub(super) conversation: Conversation,
    /// Its latest 200 messages.
    pub(super) messages: Vec<Message>,
}

/// `GET /api/conversations/{id}` (the latest 200 messages).
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "inbound", operation_id = "get_conversation",
    summary = "Read a conversation", description = "Roles: admin, monitor. Permission: `conversations:read`. With its latest 200 messages and their delivery status.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "The conversation", body = ConversationDetail)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<ConversationDetail>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let conversation = conversations::find(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let messages = conversations::recent(&mut tx, id, 200).await?;
    tx.commit().await?;
    Ok(ApiJson(ConversationDetail { conversation, messages }))
}

/// `{"body": "…", "media": ["https://…"]}`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "We are on our way."}))]
pub struct Reply {
    /// 1–1600 characters (may be empty with media).
    #[schema(max_length = 1600)]
    pub(super) body: String,
    /// At most 10 `https://` URLs.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub(super) media: Vec<String>,
}

#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "inbound", operation_id = "reply",
    summary = "Reply to a conversation", description = "Roles: admin, monitor. Permission: `conversations:reply`. Sent from the number the customer last wrote to; 409 for a customer who opted out (STOP).",
    params(("id" = Uuid, Path)), request_body = Reply,
    responses((status = 201, description = "Queued", body = Message, headers(("Location" = String, description = "The message's URL"))),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
/// `POST /api/conversations/{id}/messages`: a reply from the bot or an operator, sent through
/// the outbox from the number the customer last wrote to; 409 for a customer who opted out.
pub async fn reply(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    key: Option<IdempotencyKey>,
    ApiJson(reply): ApiJson<Reply>,
) -> ApiResult<Response> {
    let tenant = operator.own_tenant_as(READERS)?;
    let count = reply.body.chars().count();
    if count == 0 && reply.media.is_empty() || count > 1600 {
        return Err(ApiError::invalid("body", "must be 1 to 1600 characters"));
    }
    if reply.media.len() > 10 || reply.media.iter().any(|m| !m.starts_with("https://")) {
        return Err(ApiError::invalid("media", "must be at most 10 https:// URLs"));
    }
    let now = state.clock.now();
    let request = serde_json::to_vec(&(id, &reply)).unwrap_or_default();
    let response = create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let conversation = conversations::find(conn, tenant, id).await?.ok_or(ApiError::NotFound)?;
            if conversations::is_opted_out(conn, tenant, &conversation.customer).await? {
                return Err(ApiError::Conflict("the customer opted out of messages (STOP)".into()));
            }
            let message = conversations::insert_outbound(conn, &conversation, &reply.body, now).await?;
            let owner = Owner {
                domain: DOMAIN,
                id: message.id.to_string(),
                idempotency_key: format!("reply:{}", message.id),
                priority: priority::NORMAL,
            };
            let request = MessageRequest {
                to: conversation.customer.clone(),
                from: conversation.business_number.clone(),
                body: reply.body,
                media: reply.media,
            };
            effects::request_message(conn, tenant, now, owner, &request).await?;
            Ok(Created::new(format!("/api/conversations/{id}/messages/{}", message.id), &message))
        }
        .boxed()
    })
    .await?;
    crate::outbox::wake(&state);
    Ok(response)
}

/// `GET /api/opt-outs`.
#[utoipa::path(get, path = "/api/opt-outs", tag = "inbound", operation_id = "list_opt_outs",
    summary = "List opt-outs", description = "Roles: admin, monitor. Permission: `opt_outs:read`.",
    params(PageQuery), responses((status = 200, description = "A page of opt-outs", body = Page<OptOut>)))]
pub async fn list_opt_outs(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<OptOut>>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let keys = Keyset::from_query(&page)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = conversations::list_opt_outs(&mut tx, tenant, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `DELETE /api/opt-outs/{e164}` (admin): the customer may be texted again.
#[utoipa::path(delete, path = "/api/opt-outs/{number}", tag = "inbound", operation_id = "delete_opt_out",
    summary = "Remove an opt-out", description = "Roles: admin. Permission: `opt_outs:delete`. The customer may be texted again.",
    params(("number" = String, Path, description = "E.164; `+` raw or `%2B`", example = "+12025550177")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_opt_out(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = operator.own_tenant_as(&[Role::Admin])?;
    let number = E164::parse(&number).map_err(|_| ApiError::NotFound)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let removed = conversations::opt_in(&mut tx, tenant, number.as_str()).await?;
    tx.commit().await?;
    if removed { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}

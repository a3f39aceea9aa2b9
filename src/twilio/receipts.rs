//! Webhook idempotency. Twilio retries and duplicates webhooks, and a retry may land on another
//! replica, so deduplication lives in PostgreSQL: the first delivery claims its key with
//! `INSERT … ON CONFLICT DO NOTHING` in the same transaction as its effects and stores its answer;
//! a duplicate reads that answer back and runs nothing. A concurrent duplicate blocks on the
//! uncommitted key until the first transaction ends, then sees its answer (or, if the first
//! rolled back, claims the key itself).

use super::twiml::{TWIML_CONTENT_TYPE, Twiml};
use crate::clock::Clock;
use crate::error::{error_chain, problem_response};
use crate::worker::Worker;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;

/// How long receipts are kept (Twilio's retries end long before).
pub const RECEIPT_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// An answer to a webhook, storable so a duplicate gets the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    /// HTTP status.
    pub status: StatusCode,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Bytes,
}

impl From<Twiml> for WebhookReply {
    fn from(twiml: Twiml) -> Self {
        WebhookReply {
            status: StatusCode::OK,
            content_type: TWIML_CONTENT_TYPE.to_owned(),
            body: Bytes::from(twiml.to_xml()),
        }
    }
}

impl IntoResponse for WebhookReply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    }
}

/// Why a webhook's effect failed. The client sees no detail.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl WebhookError {
    /// Whether the database could not be reached (the effect can wait for it), rather than that
    /// it refused the effect (waiting would not help).
    pub fn is_unavailable(&self) -> bool {
        let WebhookError::Database(e) = self;
        crate::error::database::is_unavailable(e)
    }
}

/// Runs `effect` in a transaction, at most once per `key` (every time when `key` is `None`).
pub async fn run_once<F>(
    db: &PgPool,
    key: Option<&str>,
    kind: &str,
    effect: F,
) -> Result<WebhookReply, WebhookError>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<WebhookReply, WebhookError>>,
{
    let mut tx = db.begin().await?;
    if let Some(key) = key {
        // Claim first: the unique key makes a concurrent duplicate wait here for our outcome.
        let claimed = sqlx::query(
            "INSERT INTO webhook_receipt (key, kind, response_status, content_type, body)
             VALUES ($1, $2, 0, '', '') ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(kind)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return stored_reply(db, key).await;
        }
    }
    let reply = effect(&mut tx).await?;
    if let Some(key) = key {
        sqlx::query(
            "UPDATE webhook_receipt SET response_status = $2, content_type = $3, body = $4 WHERE key = $1",
        )
        .bind(key)
        .bind(i16::try_from(reply.status.as_u16()).unwrap_or(200))
        .bind(&reply.content_type)
        .bind(reply.body.as_ref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(reply)
}

async fn stored_reply(db: &PgPool, key: &str) -> Result<WebhookReply, WebhookError> {
    let (status, content_type, body): (i16, String, Vec<u8>) =
        sqlx::query_as("SELECT response_status, content_type, body FROM webhook_receipt WHERE key = $1")
            .bind(key)
            .fetch_one(db)
            .await?;
    tracing::info!(
        receipt.kind = key.split(':').next().unwrap_or(""),
        "duplicate webhook answered from its receipt"
    );
    Ok(WebhookReply {
        status: u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK),
        content_type,
        body: Bytes::from(body),
    })
}

/// The answer when an effect failed: the caller hears an apology; other webhooks get a 503 so
/// Twilio records the failure (and retries where the connection overrides ask it to) — or a 422
/// when the database refused a value the webhook carried (a retry would be refused again).
pub fn failure_response(error: &WebhookError, answers_twiml: bool) -> Response {
    if let Some(reason) = refused_value(error) {
        tracing::warn!(error = %error_chain(error), "webhook refused: the database refused one of its values");
        if !answers_twiml {
            let detail = format!("invalid webhook parameters: {reason}");
            return problem_response(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail, None);
        }
    } else {
        tracing::error!(error = %error_chain(error), "webhook effect failed");
    }
    if answers_twiml {
        Twiml::new().say("We are sorry, an error occurred. Please try again later.").hangup().into_response()
    } else {
        problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "temporarily unavailable".into(),
            None,
        )
    }
}

/// What the database said of a value it refused (SQLSTATE class 22), if that is the failure.
fn refused_value(error: &WebhookError) -> Option<&'static str> {
    let WebhookError::Database(sqlx::Error::Database(db)) = error else { return None };
    db.code().as_deref().and_then(crate::error::database::caller_fault)
}

/// Deletes receipts older than [`RECEIPT_RETENTION`], in batches.
pub struct ReceiptSweeper {
    db: PgPool,
    clock: Arc<dyn Clock>,
}

impl ReceiptSweeper {
    /// A sweeper over `db`, with the application clock.
    pub fn new(db: PgPool, clock: Arc<dyn Clock>) -> Self {
        ReceiptSweeper { db, clock }
    }
}

#[async_trait::async_trait]
impl Worker for ReceiptSweeper {
    fn name(&self) -> &'static str {
        "webhook-receipt-sweeper"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let cutoff = self.clock.now() - RECEIPT_RETENTION;
        let mut total = 0;
        loop {
            // Small batches keep each delete short; the index on created_at finds them.
            let deleted = sqlx::query(
                "DELETE FROM webhook_receipt WHERE key IN
                   (SELECT key FROM webhook_receipt WHERE created_at < $1 LIMIT 5000)",
            )
            .bind(cutoff)
            .execute(&self.db)
            .await?
            .rows_affected();
            total += deleted;
            if deleted < 5000 {
                return Ok(total);
            }
        }
    }
}

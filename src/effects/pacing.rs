//! Account-wide pacing: a token bucket per kind (`call`, `message`) kept in PostgreSQL, so every
//! replica draws from the same allowance. Time comes from the application clock, so a frozen
//! clock releases exactly one token per tick. A 429 from Twilio puts the bucket in debt.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Takes one token, or says how long until one is available.
pub async fn take(
    db: &PgPool,
    kind: &str,
    rate: f64,
    now: DateTime<Utc>,
) -> Result<Result<(), chrono::Duration>, sqlx::Error> {
    let burst = rate.max(1.0);
    sqlx::query("INSERT INTO twilio_pace (kind, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT (kind) DO NOTHING")
        .bind(kind)
        .bind(burst)
        .bind(now)
        .execute(db)
        .await?;
    // One statement: refill by elapsed time, then take a token only if a whole one is there. The
    // row lock serializes takers across replicas.
    let taken: Option<f64> = sqlx::query_scalar(
        "UPDATE twilio_pace
            SET tokens = LEAST($2, tokens + GREATEST(0, EXTRACT(EPOCH FROM ($4 - updated_at))) * $3) - 1,
                updated_at = GREATEST(updated_at, $4)
          WHERE kind = $1 AND LEAST($2, tokens + GREATEST(0, EXTRACT(EPOCH FROM ($4 - updated_at))) * $3) >= 1
          RETURNING tokens",
    )
    .bind(kind)
    .bind(burst)
    .bind(rate)
    .bind(now)
    .fetch_optional(db)
    .await?;
    if taken.is_some() {
        return Ok(Ok(()));
    }
    let available: f64 = sqlx::query_scalar(
        "SELECT LEAST($2, tokens + GREATEST(0, EXTRACT(EPOCH FROM ($3 - updated_at))) * $4) FROM twilio_pace WHERE kind = $1",
    )
    .bind(kind)
    .bind(burst)
    .bind(now)
    .bind(rate)
    .fetch_one(db)
    .await?;
    let wait_ms = ((1.0 - available) / rate * 1000.0).ceil().max(1.0);
    Ok(Err(chrono::Duration::milliseconds(wait_ms as i64)))
}

/// Twilio said 429: pause the bucket for `penalty` (no token until the debt is repaid).
pub async fn penalize(
    db: &PgPool,
    kind: &str,
    rate: f64,
    penalty: std::time::Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE twilio_pace SET tokens = LEAST(tokens, 0) - $2 WHERE kind = $1")
        .bind(kind)
        .bind(rate * penalty.as_secs_f64())
        .execute(db)
        .await?;
    Ok(())
}

//! The chain's canonical encoding and verification.
//!
//! Every field is written as `<byte length>:<bytes>\n` in a fixed order, timestamps as RFC 3339
//! with microseconds and `Z`, and the data as JSON with object keys sorted — the values exactly as
//! read back from PostgreSQL, so the hash can be recomputed from the table alone.

use super::AuditEvent;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The previous hash of a tenant's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// `sha256(prev_hash || canonical(event))`.
pub fn hash(event: &AuditEvent) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(&event.prev_hash);
    hasher.update(canonical(event));
    hasher.finalize().to_vec()
}

/// The fixed-order encoding of everything but the hashes.
pub fn canonical(e: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |value: &str| {
        out.extend_from_slice(value.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    };
    field("v1");
    field(&e.id.to_string());
    field(&e.tenant_id.to_string());
    field(&e.sequence.to_string());
    field(&e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    field(&e.actor_kind);
    field(&e.actor_id);
    field(&e.action);
    field(&e.entity_type);
    field(&e.entity_id);
    field(e.request_id.as_deref().unwrap_or(""));
    field(&canonical_json(&e.data));
    out
}

/// JSON with object keys sorted at every level, no insignificant whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(","))
        }
        other => other.to_string(),
    }
}

/// The first broken link of a chain read in sequence order, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The sequence where the chain breaks.
    pub sequence: i64,
    /// The event's id.
    pub id: uuid::Uuid,
    /// What is wrong.
    pub reason: &'static str,
}

/// Checks one tenant's events as they are read, in sequence order, from the first.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_prev: Vec<u8>,
    count: i64,
    last_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { expected_prev: GENESIS.to_vec(), count: 0, last_at: None }
    }
}

impl Verifier {
    /// Checks the next event.
    pub fn push(&mut self, e: &AuditEvent) -> Result<(), Broken> {
        let broken = |reason| Broken { sequence: e.sequence, id: e.id, reason };
        if e.sequence != self.count + 1 {
            return Err(broken("sequence gap or duplicate"));
        }
        if e.prev_hash != self.expected_prev {
            return Err(broken("prev_hash does not match the previous event"));
        }
        if hash(e) != e.hash {
            return Err(broken("hash does not match the event's contents"));
        }
        if self.last_at.is_some_and(|t| e.occurred_at <= t) {
            return Err(broken("time does not increase"));
        }
        self.last_at = Some(e.occurred_at);
        self.expected_prev = e.hash.clone();
        self.count += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn count(&self) -> i64 {
        self.count
    }

    /// The last event's hash (the chain head).
    pub fn head(&self) -> &[u8] {
        &self.expected_prev
    }
}

/// Checks a whole chain; the number of events, or the first broken link.
pub fn verify<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> Result<i64, Broken> {
    let mut verifier = Verifier::default();
    for e in events {
        verifier.push(e)?;
    }
    Ok(verifier.count())
}

/// A tenant's audit events after `sequence`, in order (verification).
///
/// Unscoped (system path).
pub async fn audit_events_after(
    db: &PgPool,
    tenant: Uuid,
    sequence: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action, entity_type, entity_id,
                request_id, data, prev_hash, hash
         FROM audit_event WHERE tenant_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
    )
    .bind(tenant)
    .bind(sequence)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A tenant's chain head (sequence, hash), if it has events.
///
/// Unscoped (system path).
pub async fn audit_head(db: &PgPool, tenant: Uuid) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT sequence, hash FROM audit_head WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(db)
        .await
}

/// Events read per query when verifying.
const VERIFY_PAGE: i64 = 5000;

/// Recomputes a tenant's chain from the table and compares its end with the chain head: the
/// number of events, or where and why it is broken (`audit verify`, the console's audit page).
///
/// Unscoped (system path).
pub async fn verify_tenant(pool: &PgPool, tenant: Uuid) -> Result<Result<i64, String>, sqlx::Error> {
    let mut verifier = Verifier::default();
    let mut after = 0i64;
    loop {
        let events = audit_events_after(pool, tenant, after, VERIFY_PAGE).await?;
        for event in &events {
            if let Err(broken) = verifier.push(event) {
                return Ok(Err(format!(
                    "at sequence {} (event {}): {}",
                    broken.sequence, broken.id, broken.reason
                )));
            }
        }
        match events.last() {
            Some(last) if events.len() as i64 == VERIFY_PAGE => after = last.sequence,
            _ => break,
        }
    }
    let head = audit_head(pool, tenant).await?;
    let (head_sequence, head_hash) = head.unwrap_or((0, GENESIS.to_vec()));
    if head_sequence != verifier.count() || head_hash != verifier.head() {
        return Ok(Err(format!(
            "the chain ends at sequence {} but its head records {head_sequence} (events were removed)",
            verifier.count()
        )));
    }
    Ok(Ok(verifier.count()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "é"}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":"é","z":[1,{"x":1,"y":2}]},"b":1}"#);
    }

    fn event(sequence: i64, prev: Vec<u8>) -> AuditEvent {
        let mut e = AuditEvent {
            id: uuid::Uuid::from_u128(sequence as u128),
            tenant_id: uuid::Uuid::nil(),
            sequence,
            occurred_at: chrono::DateTime::from_timestamp(1_800_000_000 + sequence, 0).expect("time"),
            actor_kind: "system".into(),
            actor_id: "test".into(),
            action: "TESTED".into(),
            entity_type: "thing".into(),
            entity_id: "1".into(),
            request_id: None,
            data: json!({"n": sequence}),
            prev_hash: prev,
            hash: vec![],
        };
        e.hash = hash(&e);
        e
    }

    #[test]
    fn a_chain_verifies_and_any_change_breaks_it() {
        let first = event(1, GENESIS.to_vec());
        let second = event(2, first.hash.clone());
        assert_eq!(verify([&first, &second]), Ok(2));
        let mut tampered = second.clone();
        tampered.data = json!({"n": 99});
        assert_eq!(
            verify([&first, &tampered]).map_err(|b| b.reason),
            Err("hash does not match the event's contents")
        );
        let third = event(3, second.hash.clone());
        assert_eq!(verify([&first, &third]).map_err(|b| b.sequence), Err(3));
    }
}

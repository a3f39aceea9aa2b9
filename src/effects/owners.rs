//! The registry through which the ledger hands changes to the domain that owns an effect, and
//! asks it whether a message may still be sent.

use crate::ids::TenantId;
use crate::twilio::{AnsweredBy, CallStatus, MessageStatus, RecordingStatus};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::Arc;

/// A call's status changed (only forward: the ledger drops regressions).
#[derive(Debug, Clone, PartialEq)]
pub struct CallChange {
    /// The tenant.
    pub tenant: TenantId,
    /// The call.
    pub sid: String,
    /// Its parent, for a child leg.
    pub parent_sid: Option<String>,
    /// The owning entity.
    pub owner_id: String,
    /// The new status.
    pub status: CallStatus,
    /// AMD's verdict, if any.
    pub answered_by: Option<AnsweredBy>,
    /// Seconds, on completion.
    pub duration_secs: Option<i32>,
    /// The attempt that created it, if we did.
    pub attempt_token: Option<String>,
}

/// A message's status changed.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageChange {
    /// The tenant.
    pub tenant: TenantId,
    /// The message (`None` when the create was refused before a SID existed).
    pub sid: Option<String>,
    /// The owning entity.
    pub owner_id: String,
    /// The new status.
    pub status: MessageStatus,
    /// Twilio's error code (21610: the recipient opted out).
    pub error_code: Option<i64>,
    /// The recipient.
    pub to: Option<String>,
}

/// A recording's status changed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingChange {
    /// The tenant.
    pub tenant: TenantId,
    /// The recording.
    pub sid: String,
    /// The recorded call.
    pub call_sid: Option<String>,
    /// The call's owning entity.
    pub owner_id: String,
    /// The new status.
    pub status: RecordingStatus,
    /// Seconds recorded, when Twilio says.
    pub duration_secs: Option<i32>,
    /// Channels, when Twilio says.
    pub channels: Option<i32>,
    /// Where the media is (private: never shown or logged).
    pub url: Option<String>,
}

/// What a domain that creates calls or messages hears and decides. Every method runs in the
/// transaction that records the change; the defaults ignore it.
#[async_trait::async_trait]
pub trait EffectOwner: Send + Sync {
    /// A call of this domain changed status.
    async fn on_call_status(
        &self,
        _conn: &mut PgConnection,
        _change: &CallChange,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
    /// A message of this domain changed status, or was refused.
    async fn on_message_status(
        &self,
        _conn: &mut PgConnection,
        _change: &MessageChange,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
    /// A recording of one of this domain's calls changed status.
    async fn on_recording_status(
        &self,
        _conn: &mut PgConnection,
        _change: &RecordingChange,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
    /// Whether a message may be sent to `to` now (an opt-out list vetoes it).
    async fn may_send_message(
        &self,
        _conn: &mut PgConnection,
        _tenant: TenantId,
        _to: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(true)
    }
    /// Whether the effect owned by `owner_id` is still wanted (a crisis decided meanwhile).
    async fn still_wanted(
        &self,
        _conn: &mut PgConnection,
        _tenant: TenantId,
        _owner_id: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(true)
    }
}

/// Owners by domain name.
#[derive(Clone, Default)]
pub struct EffectOwners(HashMap<String, Arc<dyn EffectOwner>>);

impl EffectOwners {
    /// Adds a domain's owner.
    pub fn register(&mut self, domain: &str, owner: Arc<dyn EffectOwner>) {
        self.0.insert(domain.to_owned(), owner);
    }

    /// The owner of `domain`, if registered.
    pub fn get(&self, domain: &str) -> Option<&Arc<dyn EffectOwner>> {
        self.0.get(domain)
    }

    /// Every registered domain.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn EffectOwner>)> {
        self.0.iter()
    }

    /// One outbox hook per registered domain, asking its owner whether an effect is still wanted.
    pub fn hooks(self: &Arc<Self>, db: &sqlx::PgPool) -> Vec<(String, OwnerHook)> {
        self.0
            .keys()
            .map(|domain| {
                let hook = OwnerHook { db: db.clone(), owners: self.clone(), domain: domain.clone() };
                (domain.clone(), hook)
            })
            .collect()
    }
}

/// Asks the owning domain of an effect whether it is still wanted.
pub struct OwnerHook {
    db: sqlx::PgPool,
    owners: Arc<EffectOwners>,
    domain: String,
}

#[async_trait::async_trait]
impl crate::outbox::StillWanted for OwnerHook {
    async fn still_wanted(&self, message: &crate::outbox::OutboxMessage) -> Result<bool, sqlx::Error> {
        let (Some(owner), Some(owner_id)) = (self.owners.get(&self.domain), message.owner_id.as_deref())
        else {
            return Ok(true);
        };
        let mut conn = self.db.acquire().await?;
        owner.still_wanted(&mut conn, crate::ids::TenantId(message.tenant_id), owner_id).await
    }
}

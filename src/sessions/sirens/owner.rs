//! How sirens hear about their escalation texts: a text not yet sent when the siren was
//! acknowledged or resolved is no longer wanted.

use super::machine::SirenStatus;
use super::repo;
use crate::effects::EffectOwner;
use crate::ids::TenantId;
use sqlx::PgConnection;

/// The `sirens` domain's side of the effects registry.
pub struct SirensOwner;

#[async_trait::async_trait]
impl EffectOwner for SirensOwner {
    async fn still_wanted(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        owner_id: &str,
    ) -> Result<bool, sqlx::Error> {
        // An id that names no siren of the tenant cannot be wanted by one.
        let Ok(id) = uuid::Uuid::parse_str(owner_id) else { return Ok(false) };
        let siren = repo::find(conn, id).await?;
        Ok(siren.is_some_and(|s| s.tenant() == tenant && s.status == SirenStatus::Active))
    }
}

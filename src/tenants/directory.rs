//! Routing a called number to its tenant, for the webhooks' hot path.
//!
//! Lookups are cached in a `DashMap` and invalidated at once on this instance when a number or a
//! tenant changes. Other replicas converge within the TTL (30 s): a short TTL was chosen over a
//! debounced LISTEN/NOTIFY because it needs no extra connection per replica and a routing change
//! is rare and tolerates seconds of delay. When the database cannot be reached, a stale entry is
//! still used — a caller must not hear an error because bookkeeping is down.

use super::model::{NumberStatus, TenantId, TenantStatus};
use super::repo::NumberRoute;
use crate::clock::Clock;
use crate::twilio::E164;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use sqlx::PgPool;
use std::sync::Arc;

/// How long a cached route is trusted (on the application clock).
pub const ROUTE_TTL: chrono::Duration = chrono::Duration::seconds(30);

/// Where a call to a number goes.
#[derive(Debug, Clone)]
pub enum Route {
    /// An active tenant's active number.
    Active(Arc<NumberRoute>),
    /// The tenant is suspended.
    Suspended(TenantId),
    /// The number exists but is provisioning or released.
    NumberInactive(TenantId),
    /// No tenant owns the number.
    Unknown,
}

impl Route {
    fn from_lookup(found: Option<NumberRoute>) -> Route {
        match found {
            None => Route::Unknown,
            Some(r) if r.tenant.settings.status == TenantStatus::Suspended => Route::Suspended(r.tenant.id),
            Some(r) if r.status != NumberStatus::Active => Route::NumberInactive(r.tenant.id),
            Some(r) => Route::Active(Arc::new(r)),
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        match self {
            Route::Active(r) => Some(r.tenant.id),
            Route::Suspended(t) | Route::NumberInactive(t) => Some(*t),
            Route::Unknown => None,
        }
    }
}

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The database, or a cache entry within its TTL.
    Fresh,
    /// An expired cache entry, because the database could not be reached.
    Stale,
}

/// The cached number → route directory. Per-process and disposable: PostgreSQL is the truth.
#[derive(Debug)]
pub struct NumberDirectory {
    clock: Arc<dyn Clock>,
    // Each route with the time it was read.
    cache: DashMap<String, (Route, DateTime<Utc>)>,
}

impl NumberDirectory {
    /// An empty directory whose TTL runs on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        NumberDirectory { clock, cache: DashMap::new() }
    }

    /// The route for `number`: cached within the TTL, else read; stale if the read fails.
    pub async fn lookup(&self, db: &PgPool, number: &E164) -> Result<(Route, Freshness), sqlx::Error> {
        if let Some(entry) = self.cache.get(number.as_str())
            && self.clock.now() - entry.1 < ROUTE_TTL
        {
            return Ok((entry.0.clone(), Freshness::Fresh));
        }
        match super::repo::route_number(db, number).await {
            Ok(found) => {
                let route = Route::from_lookup(found);
                self.cache.insert(number.as_str().to_owned(), (route.clone(), self.clock.now()));
                Ok((route, Freshness::Fresh))
            }
            Err(e) => match self.cache.get(number.as_str()) {
                Some(entry) => {
                    tracing::warn!(number = %number.masked(), "number lookup failed; using the cached route");
                    Ok((entry.0.clone(), Freshness::Stale))
                }
                None => Err(e),
            },
        }
    }

    /// The cached route for `number`, however old, without asking the database (for answers
    /// decided while it is away).
    pub fn cached(&self, number: &E164) -> Option<Route> {
        self.cache.get(number.as_str()).map(|entry| entry.0.clone())
    }

    /// Forgets one number (added, removed, changed).
    pub fn invalidate_number(&self, number: &E164) {
        self.cache.remove(number.as_str());
    }

    /// Forgets every number of a tenant (its settings changed).
    pub fn invalidate_tenant(&self, tenant: TenantId) {
        self.cache.retain(|_, (route, _)| route.tenant() != Some(tenant));
    }
}

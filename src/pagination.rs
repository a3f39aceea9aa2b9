//! List pagination (DESIGN.md §4): `{"items": […], "next_cursor": "…" | null}`, `limit` (default
//! 50, at most 200) and an opaque `cursor` that encodes the sort key of the last item returned
//! (keyset pagination: stable while rows are added, no OFFSET scans).

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 200;

/// The longest cursor text this API issues, with room to spare.
const MAX_CURSOR_LEN: usize = 512;

/// `?limit=&cursor=`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A sort key: a timestamp and a tie-breaking id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last item's timestamp.
    pub at: DateTime<Utc>,
    /// The last item's id.
    pub id: String,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor; `None` for anything this API cannot have issued: not base64 JSON of a
    /// cursor, an id that is not short storable text, a time outside years 1 to 9999.
    fn decode(text: &str) -> Option<Cursor> {
        if text.len() > MAX_CURSOR_LEN {
            return None;
        }
        let cursor: Cursor = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let id_ok =
            !cursor.id.is_empty() && cursor.id.len() <= 128 && !cursor.id.chars().any(char::is_control);
        let at_ok = (1..=9999).contains(&cursor.at.year());
        (id_ok && at_ok).then_some(cursor)
    }
}

impl PageQuery {
    /// The page size, validated.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", format!("must be from 1 to {MAX_LIMIT}"))),
        }
    }

    /// The decoded cursor, if one was given.
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(text) => Cursor::decode(text)
                .map(Some)
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this API")),
        }
    }
}

/// What a keyset list knows of its items: each one's sort key (time, tie-breaking id).
pub trait Keyed {
    /// The item's place in the list.
    fn sort_key(&self) -> Cursor;
}

/// A list request, validated: the page size and where the previous page ended, its id parsed as
/// `I` (a UUID, a call SID, a number, a sequence). The one helper every list uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset<I> {
    /// Page size.
    pub limit: i64,
    /// The previous page's last key.
    pub after: Option<(DateTime<Utc>, I)>,
}

impl<I: std::str::FromStr> Keyset<I> {
    /// Validates `limit` and decodes `cursor` (422 naming the parameter otherwise).
    pub fn from_query(query: &PageQuery) -> Result<Self, ApiError> {
        let after = query
            .cursor()?
            .map(|c| {
                c.id.parse()
                    .map(|id| (c.at, id))
                    .map_err(|_| ApiError::invalid("cursor", "is not a cursor from this API"))
            })
            .transpose()?;
        Ok(Keyset { limit: query.limit()?, after })
    }
}

impl<I> Keyset<I> {
    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page of up to [`Keyset::fetch`] rows, with the cursor of its last item when more follow.
    pub fn page<T: Keyed>(&self, rows: Vec<T>) -> Page<T> {
        Page::from_rows(rows, self.limit, T::sort_key)
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(|last| key(last).encode()) } else { None };
        Page { items: rows, next_cursor }
    }
}

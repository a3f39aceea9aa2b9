//! The ringing answer of each called number, rendered once and kept until its route changes: the
//! number directory hands out a new route value whenever the tenant (or the number) changes or its
//! cache entry is refreshed, so an answer is reused only for the very route it was rendered from.
//! The call's SID is the only part that differs between two calls of one route and business-hours
//! state; it is spliced in where the rendering had a marker.

use crate::tenants::NumberRoute;
use crate::twilio::Twiml;
use crate::twilio::twiml::TWIML_CONTENT_TYPE;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Stands for the call's SID while rendering; a control character no XML text escapes or holds.
const MARKER: &str = "\u{1}CallSid\u{1}";

/// Rendered answers, per called number and whether the business is open.
#[derive(Default)]
pub struct RingingAnswers {
    cache: Mutex<HashMap<(String, bool), Rendered>>,
}

/// One route's answer, cut where the SID goes, and whether the owner is screened.
#[derive(Clone)]
struct Rendered {
    route: Arc<NumberRoute>,
    parts: Arc<[String]>,
    screened: bool,
}

/// An answer ready to send, and whether the owner is screened.
pub(super) struct Answer {
    body: String,
    /// The owner has to press 1.
    pub(super) screened: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TWIML_CONTENT_TYPE));
        response
    }
}

impl RingingAnswers {
    /// The answer to call `sid` to `number` on `route`, rendered by `render(marker)` unless this
    /// route's is kept.
    pub(super) fn answer(
        &self,
        number: &str,
        route: &Arc<NumberRoute>,
        open: bool,
        sid: &str,
        render: impl FnOnce(&str) -> (Twiml, bool),
    ) -> Answer {
        let key = (number.to_owned(), open);
        let kept = self.lock().get(&key).filter(|r| Arc::ptr_eq(&r.route, route)).cloned();
        let rendered = kept.unwrap_or_else(|| {
            let (twiml, screened) = render(MARKER);
            let parts: Arc<[String]> = twiml.to_xml().split(MARKER).map(str::to_owned).collect();
            let rendered = Rendered { route: route.clone(), parts, screened };
            self.lock().insert(key, rendered.clone());
            rendered
        });
        Answer { body: rendered.parts.join(sid), screened: rendered.screened }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, bool), Rendered>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

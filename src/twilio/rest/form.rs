//! Form bodies in Twilio's dialect (repeated keys for arrays, `true`/`false`), which
//! `serde_urlencoded` cannot write, and absolute callback URLs.

use url::Url;

/// An ordered list of form fields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form(Vec<(&'static str, String)>);

impl Form {
    /// A field that is always sent.
    pub fn set(&mut self, key: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.push((key, value.into()));
        self
    }

    /// A field sent only when present.
    pub fn opt<T: ToString>(&mut self, key: &'static str, value: Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.0.push((key, value.to_string()));
        }
        self
    }

    /// A boolean, as `true`/`false`.
    pub fn flag(&mut self, key: &'static str, value: Option<bool>) -> &mut Self {
        self.opt(key, value.map(|b| if b { "true" } else { "false" }))
    }

    /// An array: one field per value, with the same key.
    pub fn each(&mut self, key: &'static str, values: &[String]) -> &mut Self {
        for value in values {
            self.0.push((key, value.clone()));
        }
        self
    }

    /// The `application/x-www-form-urlencoded` body.
    pub fn encode(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.0 {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }
}

/// An absolute callback URL: `base` + `path` + `query`, plus the configured connection-override
/// fragment (`#rc=…&rp=…`) that tells Twilio how to retry it.
pub fn callback_url(base: &Url, path: &str, query: &[(&str, &str)], overrides: Option<&str>) -> String {
    let mut url = format!("{}{path}", base.as_str().trim_end_matches('/'));
    if !query.is_empty() {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in query {
            serializer.append_pair(key, value);
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&serializer.finish());
    }
    if let Some(fragment) = overrides {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_repeat_their_key_and_booleans_are_words() {
        let mut form = Form::default();
        form.set("To", "+12025550100")
            .each("StatusCallbackEvent", &["initiated".into(), "answered".into()])
            .flag("Record", Some(true))
            .opt::<u32>("Timeout", None);
        assert_eq!(
            form.encode(),
            "To=%2B12025550100&StatusCallbackEvent=initiated&StatusCallbackEvent=answered&Record=true"
        );
    }

    #[test]
    fn callback_urls_are_absolute_with_overrides() {
        let base = Url::parse("https://sb.example.com/").expect("url");
        assert_eq!(
            callback_url(&base, "/webhooks/twilio/calls/events", &[("attempt", "a b")], Some("rc=3&rp=ct")),
            "https://sb.example.com/webhooks/twilio/calls/events?attempt=a+b#rc=3&rp=ct"
        );
    }
}

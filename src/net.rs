//! Outbound HTTP clients. The project uses one TLS stack, rustls with the `ring` provider, for
//! both sqlx and reqwest; reqwest is built without a provider of its own, so the provider is
//! installed here, once per process, before any client is built.

/// A reqwest builder with the crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    // The provider is process-global by nature (rustls keeps it in a static); installing it
    // twice is harmless and reports an error we ignore.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
}

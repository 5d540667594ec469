//! [`OAuthConfig`]: who the client is and how it gets a client id.

/// A client id (and secret) registered with an authorization server beforehand.
#[derive(Clone)]
pub struct PreRegisteredClient {
    /// The client id.
    pub client_id: String,
    /// The secret, for a confidential client.
    pub client_secret: Option<String>,
    /// The authorization server it is registered with; `None` uses it with any.
    pub issuer: Option<String>,
}

impl std::fmt::Debug for PreRegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreRegisteredClient")
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Which grant obtains tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Grant {
    /// Authorization code with PKCE (a user, through the redirect hook).
    #[default]
    AuthorizationCode,
    /// Client credentials (machine to machine; needs a pre-registered client with a
    /// secret).
    ClientCredentials,
}

/// How the OAuth client identifies itself.
///
/// The client id comes from, in order: a [`PreRegisteredClient`] for the
/// authorization server; a client ID metadata document URL when the server advertises
/// `client_id_metadata_document_supported`; dynamic client registration.
///
/// ```
/// use ferromcp_client::oauth::OAuthConfig;
/// let cfg = OAuthConfig::new("http://127.0.0.1:8976/callback")
///     .client_name("my-agent")
///     .client_metadata_url("https://example.com/client.json");
/// assert_eq!(cfg.redirect_uri, "http://127.0.0.1:8976/callback");
/// ```
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Where the authorization server sends the user back.
    pub redirect_uri: String,
    /// `client_name` in dynamic registration.
    pub client_name: String,
    /// This client's metadata document URL (used as its client id where supported).
    pub client_metadata_url: Option<String>,
    /// Credentials registered out of band.
    pub pre_registered: Option<PreRegisteredClient>,
    /// The grant to use.
    pub grant: Grant,
    /// Ask for `offline_access` (refresh tokens) when the authorization server lists it.
    pub offline_access: bool,
    /// How many times a 403 `insufficient_scope` may trigger re-authorization.
    pub max_step_ups: usize,
}

impl OAuthConfig {
    /// A public client with the given redirect URI, named `ferromcp`.
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        OAuthConfig {
            redirect_uri: redirect_uri.into(),
            client_name: "ferromcp".into(),
            client_metadata_url: None,
            pre_registered: None,
            grant: Grant::AuthorizationCode,
            offline_access: true,
            max_step_ups: 3,
        }
    }

    /// Sets the `client_name` for dynamic registration.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// Sets the client ID metadata document URL.
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.client_metadata_url = Some(url.into());
        self
    }

    /// Uses a pre-registered client (for the authorization server `issuer`, or any).
    pub fn pre_registered(
        mut self,
        client_id: impl Into<String>,
        client_secret: Option<String>,
        issuer: Option<String>,
    ) -> Self {
        self.pre_registered = Some(PreRegisteredClient {
            client_id: client_id.into(),
            client_secret,
            issuer,
        });
        self
    }

    /// Uses the client credentials grant with this client.
    pub fn client_credentials(
        self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let mut s = self.pre_registered(client_id, Some(client_secret.into()), None);
        s.grant = Grant::ClientCredentials;
        s
    }

    /// Whether to ask for `offline_access` when offered (default true).
    pub fn offline_access(mut self, on: bool) -> Self {
        self.offline_access = on;
        self
    }

    /// Caps scope step-ups (default 3).
    pub fn max_step_ups(mut self, n: usize) -> Self {
        self.max_step_ups = n;
        self
    }
}

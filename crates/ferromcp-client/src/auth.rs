//! The authorization seam of the Streamable HTTP transport: [`AuthProvider`] and the
//! static [`BearerToken`].
//!
//! Before every HTTP request the transport asks the provider for the `Authorization`
//! header value. When the server answers 401 or 403, the transport hands the provider an
//! [`AuthChallenge`] (status and `WWW-Authenticate` header); the provider may fetch or
//! refresh a token, step up its scopes, and say whether the request should be sent again.
//! The transport retries one request at most
//! [`HttpOptions::max_auth_retries`](crate::options::HttpOptions::max_auth_retries) times,
//! never more than [`MAX_AUTH_RETRIES`], then fails with
//! [`ClientError::Unauthorized`](crate::ClientError::Unauthorized).

use futures_util::future::BoxFuture;

use crate::error::{ClientError, Result};
use crate::options::HttpOptions;

/// The hard cap on retries of one request after 401/403, whatever the options say.
pub const MAX_AUTH_RETRIES: usize = 8;

/// What the server said when it refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChallenge {
    /// 401 or 403.
    pub status: u16,
    /// The `WWW-Authenticate` header, if the server sent one (it names the
    /// `resource_metadata` URL, the `scope`, and `error="insufficient_scope"` on a
    /// step-up).
    pub www_authenticate: Option<String>,
    /// The MCP endpoint the request went to.
    pub url: String,
    /// How many retries of this request already happened (0 on the first refusal).
    pub attempt: usize,
    /// Whether the refused request carried an `Authorization` header: `false` means the
    /// server wants credentials at all (first contact), `true` that the ones sent were
    /// refused (expired, revoked, or short of a scope).
    pub authorization_sent: bool,
}

/// Supplies credentials for HTTP requests (an OAuth client implements it).
///
/// ```
/// use ferromcp_client::auth::{AuthChallenge, AuthProvider};
/// use futures_util::future::BoxFuture;
///
/// /// Sends a fixed API key and never retries.
/// struct ApiKey(String);
/// impl AuthProvider for ApiKey {
///     fn authorization(&self) -> BoxFuture<'_, ferromcp_client::Result<Option<String>>> {
///         Box::pin(async move { Ok(Some(format!("ApiKey {}", self.0))) })
///     }
///     fn on_rejected<'a>(&'a self, _c: &'a AuthChallenge) -> BoxFuture<'a, ferromcp_client::Result<bool>> {
///         Box::pin(async { Ok(false) })
///     }
/// }
/// ```
pub trait AuthProvider: Send + Sync {
    /// The `Authorization` header value for the next request (e.g. `Bearer abc`), or
    /// `None` to send none.
    fn authorization(&self) -> BoxFuture<'_, Result<Option<String>>>;

    /// Called when the server answered 401 or 403. Returns whether to send the request
    /// again (after obtaining a new token, say); `false` makes the request fail with
    /// [`ClientError::Unauthorized`](crate::ClientError::Unauthorized).
    fn on_rejected<'a>(&'a self, challenge: &'a AuthChallenge) -> BoxFuture<'a, Result<bool>>;
}

/// A fixed bearer token: `Authorization: Bearer <token>` on every request, no retry.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ferromcp_client::auth::{AuthProvider, BearerToken};
/// let t = BearerToken::new("abc");
/// assert_eq!(t.authorization().await.ok().flatten().as_deref(), Some("Bearer abc"));
/// # }
/// ```
#[derive(Clone)]
pub struct BearerToken {
    header: String,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// A provider that always sends `token`.
    pub fn new(token: impl AsRef<str>) -> Self {
        BearerToken {
            header: format!("Bearer {}", token.as_ref()),
        }
    }
}

impl AuthProvider for BearerToken {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move { Ok(Some(self.header.clone())) })
    }

    fn on_rejected<'a>(&'a self, _challenge: &'a AuthChallenge) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async { Ok(false) })
    }
}

/// Sends a request; returns the response and whether it carried an `Authorization`
/// header (for [`AuthChallenge::authorization_sent`]).
pub(crate) async fn send_noting_auth(
    b: reqwest::RequestBuilder,
) -> std::result::Result<(reqwest::Response, bool), reqwest::Error> {
    let (client, request) = b.build_split();
    let request = request?;
    let sent = request
        .headers()
        .contains_key(reqwest::header::AUTHORIZATION);
    Ok((client.execute(request).await?, sent))
}

/// Handles a 401/403 answer to request attempt `attempt` (which carried an
/// `Authorization` header if `authorization_sent`): `Ok(())` when the provider fixed the
/// credentials and the request should be sent again, otherwise
/// [`ClientError::Unauthorized`].
pub(crate) async fn refused(
    opts: &HttpOptions,
    resp: &reqwest::Response,
    url: &str,
    attempt: usize,
    authorization_sent: bool,
) -> Result<()> {
    let challenge = AuthChallenge {
        status: resp.status().as_u16(),
        www_authenticate: resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        url: url.to_owned(),
        attempt,
        authorization_sent,
    };
    let retry = match &opts.auth {
        Some(auth) if attempt < opts.max_auth_retries.min(MAX_AUTH_RETRIES) => {
            auth.on_rejected(&challenge).await?
        }
        _ => false,
    };
    if retry {
        Ok(())
    } else {
        Err(ClientError::Unauthorized {
            status: challenge.status,
            www_authenticate: challenge.www_authenticate,
        })
    }
}

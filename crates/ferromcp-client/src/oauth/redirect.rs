//! [`RedirectHandler`]: "open this URL and give me the redirect back".
//!
//! A CLI opens a browser and listens on the redirect URI; tests and the conformance
//! client use [`FollowRedirects`], which GETs the authorization URL and follows
//! redirects until one points at the redirect URI (that one is not fetched).

use futures_util::future::BoxFuture;
use reqwest::header::LOCATION;

use super::OAuthError;

/// Takes the user through authorization and returns the URL the authorization server
/// redirected to (with `code`, `state` and maybe `iss` in its query).
pub trait RedirectHandler: Send + Sync {
    /// Visits `authorization_url`; returns the full redirect URL that starts with
    /// `redirect_uri`.
    fn authorize<'a>(
        &'a self,
        authorization_url: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<String, OAuthError>>;
}

/// Follows the authorization server's HTTP redirects without a user (for servers that
/// authorize automatically: tests, the conformance suite).
#[derive(Debug, Clone)]
pub struct FollowRedirects {
    http: reqwest::Client,
    max_hops: usize,
}

impl Default for FollowRedirects {
    fn default() -> Self {
        Self::new()
    }
}

impl FollowRedirects {
    /// Follows at most 10 redirects.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        FollowRedirects { http, max_hops: 10 }
    }
}

impl RedirectHandler for FollowRedirects {
    fn authorize<'a>(
        &'a self,
        authorization_url: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<String, OAuthError>> {
        Box::pin(async move {
            let mut url = authorization_url.to_owned();
            for _ in 0..self.max_hops {
                let resp = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| OAuthError::Http {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                let status = resp.status();
                let Some(loc) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
                    return Err(OAuthError::Redirect(format!(
                        "{url} answered HTTP {status} without a redirect; this server needs a user (use a browser-based RedirectHandler)"
                    )));
                };
                let next = reqwest::Url::parse(&url)
                    .and_then(|base| base.join(loc))
                    .map_err(|e| OAuthError::Redirect(format!("bad Location `{loc}`: {e}")))?
                    .to_string();
                if next.starts_with(redirect_uri) {
                    return Ok(next);
                }
                url = next;
            }
            Err(OAuthError::Redirect(format!(
                "more than {} redirects without reaching {redirect_uri}",
                self.max_hops
            )))
        })
    }
}

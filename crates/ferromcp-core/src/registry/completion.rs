//! Completions (`completion/complete`): completers attached to prompt arguments and
//! resource-template variables.
//!
//! ```
//! use ferromcp_core::registry::completion::{Completer, CompletionRequest};
//! let c = Completer::fixed(["python", "rust", "ruby"]);
//! # let _ = c;
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use super::BoxFuture;
use crate::context::Context;
use crate::error::Result;

/// What the client is completing.
#[derive(Debug, Clone, Default)]
pub struct CompletionRequest {
    /// The argument (or template variable) being completed.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// Values of other arguments already resolved (`context.arguments`).
    pub context: BTreeMap<String, String>,
}

type CompleteFn = dyn Fn(Context, CompletionRequest) -> BoxFuture<Result<Vec<String>>> + Send + Sync;

/// Produces completion values for one argument.
#[derive(Clone)]
pub struct Completer(Arc<CompleteFn>);

impl Completer {
    /// A completer from an async function.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(Context, CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>>> + Send + 'static,
    {
        Completer(Arc::new(move |ctx, req| Box::pin(f(ctx, req))))
    }

    /// A completer over a fixed list, filtered by prefix.
    pub fn fixed<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Arc<[String]> = values.into_iter().map(Into::into).collect();
        Completer::new(move |_ctx, req| {
            let values = values.clone();
            async move { Ok(values.iter().filter(|v| v.starts_with(&req.value)).cloned().collect()) }
        })
    }

    pub(crate) fn complete(&self, ctx: Context, req: CompletionRequest) -> BoxFuture<Result<Vec<String>>> {
        (self.0)(ctx, req)
    }
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Completer")
    }
}

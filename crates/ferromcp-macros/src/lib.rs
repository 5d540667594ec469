//! Attribute macros for ferromcp: `#[tool]`, `#[resource]` and `#[prompt]` turn plain
//! functions into components you register on a server.
//!
//! Each macro replaces the function with a unit struct of the same name and
//! visibility. The struct converts into the matching definition (`ToolDef`,
//! `ResourceDef` / `ResourceTemplateDef`, `PromptDef`), so it is passed straight to
//! the server builder, and the original function stays callable as `name::call(..)`.
//!
//! ```
//! use ferromcp::{Context, Error, Server};
//! use ferromcp::{prompt, resource, tool};
//!
//! /// Adds two integers.
//! #[tool(read_only, idempotent)]
//! async fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! /// Current weather for a city.
//! #[tool(name = "get_weather", title = "Weather", open_world, tags("web"))]
//! async fn weather(
//!     ctx: Context,
//!     #[arg(description = "City name")] city: String,
//!     units: Option<String>,
//! ) -> Result<String, Error> {
//!     Ok(format!("sunny in {city} ({})", units.as_deref().unwrap_or("metric")))
//! }
//!
//! /// The project README.
//! #[resource("docs://readme", mime_type = "text/markdown")]
//! async fn readme() -> &'static str {
//!     "# Hello"
//! }
//!
//! /// One user's profile.
//! #[resource("users://{id}/profile", name = "user-profile")]
//! async fn user(id: u64) -> String {
//!     format!("user {id}")
//! }
//!
//! /// Asks for a code review.
//! #[prompt(title = "Code review")]
//! async fn review(#[arg(description = "The code")] code: String) -> String {
//!     format!("Please review:\n{code}")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = Server::builder("demo", "1.0")
//!     .tool(add)
//!     .tool(weather)
//!     .resource(readme)
//!     .template(user)
//!     .prompt(review)
//!     .build();
//! assert_eq!(add::call(1, 2).await, 3);
//! assert_eq!(user::call(7).await, "user 7");
//! # }
//! ```
//!
//! # Parameters
//!
//! A parameter whose type is `Context` or `&Context` receives the request context and
//! is not part of the schema. Every other parameter becomes a field of a generated
//! argument struct (`serde::Deserialize` + `schemars::JsonSchema`): parameters must be
//! plain names with owned types, `Option<T>` parameters are optional, and
//! `#[arg(description = "..", rename = "..")]` documents or renames one.
//!
//! # Sync functions
//!
//! A sync `#[tool]` runs on the blocking pool (`ToolDef::blocking`). Sync resource and
//! prompt functions run inline on the async worker, so keep them cheap.
//!
//! # Naming
//!
//! The generated unit struct lives in both the type and value namespaces, so in the
//! same scope `let add = ..;` is a pattern match against it, not a new binding: pick
//! another local name.
//!
//! # Where the generated code finds the runtime
//!
//! Generated code names the runtime as `::ferromcp::__core`, which works for users of
//! the `ferromcp` facade. Crates that depend on `ferromcp-core` directly say so with
//! `crate = "::ferromcp_core"` (or `crate = ::ferromcp_core`) in any of the macros.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod func;
mod prompt;
mod resource;
mod tool;

use proc_macro::TokenStream;

/// Turns a function (async, or sync — which runs on the blocking pool) into a tool.
///
/// The struct it leaves behind converts into `ToolDef`. The description is the doc
/// comment unless `description` is given.
///
/// Arguments (all optional): `name = ".."` (defaults to the function name),
/// `title = ".."`, `description = ".."`, `tags("a", "b")`, `enabled = false`, the
/// hints `read_only`, `destructive`, `idempotent`, `open_world` (each alone for true,
/// or `= true|false`), and `crate = ".."`.
///
/// ```
/// use ferromcp::tool;
///
/// /// Adds two integers.
/// #[tool(read_only)]
/// async fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
/// let server = ferromcp::Server::builder("demo", "1.0").tool(add).build();
/// ```
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(tool::expand(attr.into(), item.clone().into()), item)
}

/// Turns a function into a resource (`ResourceDef`) or, when its URI contains
/// `{variables}`, a resource template (`ResourceTemplateDef`).
///
/// The URI comes first (or as `uri = ".."`). Other arguments (all optional):
/// `name = ".."` (defaults to the function name), `title`, `description` (defaults to
/// the doc comment), `mime_type`, `tags("a")`, `enabled = false`, `crate = ".."`.
///
/// A template's parameters are named after its variables and parsed with `FromStr`
/// (`Option<T>` for variables that may be absent); a missing variable or a value that
/// does not parse answers with an invalid-params error naming the variable. A static
/// resource takes at most a `Context`.
///
/// ```
/// use ferromcp::resource;
///
/// /// One user's profile.
/// #[resource("users://{id}/profile", mime_type = "text/plain")]
/// async fn user(id: u64) -> String {
///     format!("user {id}")
/// }
/// let server = ferromcp::Server::builder("demo", "1.0").template(user).build();
/// ```
#[proc_macro_attribute]
pub fn resource(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(resource::expand(attr.into(), item.clone().into()), item)
}

/// Turns a function into a prompt (`PromptDef`); its parameters are the prompt's
/// arguments.
///
/// Arguments (all optional): `name = ".."`, `title`, `description` (defaults to the
/// doc comment), `tags("a")`, `enabled = false`, `crate = ".."`.
///
/// ```
/// use ferromcp::prompt;
///
/// /// Asks for a code review.
/// #[prompt]
/// async fn review(#[arg(description = "The code")] code: String) -> String {
///     format!("Please review:\n{code}")
/// }
/// let server = ferromcp::Server::builder("demo", "1.0").prompt(review).build();
/// ```
#[proc_macro_attribute]
pub fn prompt(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(prompt::expand(attr.into(), item.clone().into()), item)
}

/// On error, emits the error next to the original function (minus `#[arg]`
/// attributes), so the one real error is not buried under "cannot find" ones.
fn finish(out: syn::Result<proc_macro2::TokenStream>, item: TokenStream) -> TokenStream {
    match out {
        Ok(ts) => ts.into(),
        Err(e) => {
            let mut err = e.to_compile_error();
            if let Ok(mut f) = syn::parse::<syn::ItemFn>(item) {
                for input in f.sig.inputs.iter_mut() {
                    if let syn::FnArg::Typed(pt) = input {
                        pt.attrs.retain(|a| !a.path().is_ident("arg"));
                    }
                }
                err.extend(quote::quote!(#f));
            }
            err.into()
        }
    }
}

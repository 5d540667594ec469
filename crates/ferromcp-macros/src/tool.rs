//! `#[tool]`: a function becomes a unit struct that converts into a `ToolDef`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, ItemFn};

use crate::args::{self, AttrArgs, Common};
use crate::func;

/// The behaviour hints of `ToolAnnotations`, as `(attribute key, builder method)`.
const HINTS: [(&str, &str); 4] = [
    ("read_only", "read_only"),
    ("destructive", "destructive"),
    ("idempotent", "idempotent"),
    ("open_world", "open_world"),
];

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut attr_args: AttrArgs = syn::parse2(attr)?;
    let mut f: ItemFn = syn::parse2(item)?;
    args::no_positional(&attr_args, "tool")?;
    let core = attr_args.core_path()?;
    let common = Common::parse(&mut attr_args, &f)?;
    let mut hints = Vec::new();
    for (key, method) in HINTS {
        if let Some(on) = attr_args.boolean(key)? {
            let method = Ident::new(method, Span::call_site());
            hints.push(quote!(.#method(#on)));
        }
    }
    let accepted: Vec<&str> = Common::KEYS.iter().copied().chain(HINTS.iter().map(|h| h.0)).collect();
    attr_args.finish(&accepted)?;
    func::check_signature(&f, "tool")?;
    let params = func::parse_params(&mut f, "tool")?;
    let session = func::session_handle(&params)?;
    let attrs = func::split_attrs(&f.attrs);

    let name = &f.sig.ident;
    let tool_name = &common.name;
    let setters = common.setters();
    let annotations = if hints.is_empty() {
        quote!()
    } else {
        let start = match &common.title {
            Some(t) => quote!(#core::protocol::ToolAnnotations::with_title(#t)),
            None => quote!(#core::protocol::ToolAnnotations::new()),
        };
        quote!(.annotations(#start #(#hints)*))
    };
    let func::ArgsType { def: args_def, pat: args_pat } = func::args_type(&core, "__FerromcpToolArgs", &params);
    let ctx = func::ctx_ident();
    let is_async = f.sig.asyncness.is_some();
    let call = func::call_expr(name, &params, &ctx, is_async);
    let handler = if is_async {
        quote! {
            .handler(|#ctx: #core::Context, #args_pat| async move {
                #call
            })
        }
    } else {
        quote! {
            .blocking(|#ctx: #core::Context, #args_pat| #call)
        }
    };
    let item = func::unit_struct_and_call(&f, &attrs, "tool");
    let cfgs = &attrs.cfgs;
    Ok(quote! {
        #item

        #(#cfgs)*
        impl ::core::convert::From<#name> for #core::ToolDef {
            fn from(_: #name) -> Self {
                #args_def
                #core::ToolDef::new(#tool_name)
                    #setters
                    #annotations
                    #handler
                    #session
            }
        }
    })
}

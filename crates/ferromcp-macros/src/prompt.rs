//! `#[prompt]`: a function becomes a unit struct that converts into a `PromptDef`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::args::{self, AttrArgs, Common};
use crate::func;

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut attr_args: AttrArgs = syn::parse2(attr)?;
    let mut f: ItemFn = syn::parse2(item)?;
    args::no_positional(&attr_args, "prompt")?;
    let core = attr_args.core_path()?;
    let common = Common::parse(&mut attr_args, &f)?;
    attr_args.finish(&Common::KEYS)?;
    func::check_signature(&f, "prompt")?;
    let params = func::parse_params(&mut f, "prompt")?;
    let attrs = func::split_attrs(&f.attrs);

    let name = &f.sig.ident;
    let prompt_name = &common.name;
    let setters = common.setters();
    let func::ArgsType { def: args_def, pat: args_pat } = func::args_type(&core, "__FerromcpPromptArgs", &params);
    let ctx = func::ctx_ident();
    let call = func::call_expr(name, &params, &ctx, f.sig.asyncness.is_some());
    let item = func::unit_struct_and_call(&f, &attrs, "prompt");
    let cfgs = &attrs.cfgs;
    Ok(quote! {
        #item

        #(#cfgs)*
        impl ::core::convert::From<#name> for #core::PromptDef {
            fn from(_: #name) -> Self {
                #args_def
                #core::PromptDef::new(#prompt_name)
                    #setters
                    .handler(|#ctx: #core::Context, #args_pat| async move {
                        #call
                    })
            }
        }
    })
}

//! Resources: static text and binary, a template, and a watched resource.

use ferromcp::prelude::*;
use ferromcp::{ResourceDef, ResourceTemplateDef, ServerBuilder};

pub const WATCHED: &str = "test://watched-resource";

pub fn register(b: ServerBuilder) -> ServerBuilder {
    let template = ResourceTemplateDef::new("test://template/{id}/data", "template-data")
        .unwrap_or_else(|e| panic!("fixture template is valid: {e}"))
        .description("JSON data for any id")
        .mime_type("application/json")
        .handler(|_ctx: Context, vars| async move {
            let id = vars.get("id").cloned().unwrap_or_default();
            serde_json::json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()
        });
    b.resource(
        ResourceDef::new("test://static-text", "static-text")
            .description("A static text resource")
            .mime_type("text/plain")
            .handler(|_ctx: Context| async { "This is the content of the static text resource." }),
    )
    .resource(
        ResourceDef::new("test://static-binary", "static-binary")
            .description("A static binary resource (a 1x1 PNG)")
            .mime_type("image/png")
            .handler(|_ctx: Context| async {
                use base64::Engine as _;
                Blob(base64::engine::general_purpose::STANDARD.decode(crate::tools::PNG).unwrap_or_default())
            }),
    )
    .resource(
        ResourceDef::new(WATCHED, "watched-resource")
            .description("A resource that changes every 3 seconds (subscribe to it)")
            .mime_type("text/plain")
            .handler(|_ctx: Context| async {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                format!("Watched resource content at {secs}")
            }),
    )
    .template(template)
}

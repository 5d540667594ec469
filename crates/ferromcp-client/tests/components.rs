//! Resources, templates, prompts and completion in both eras over the in-memory
//! transport, including a resource and a prompt that ask the user a question.

mod common;

use std::collections::BTreeSet;

use common::{ERAS, connect, full};
use ferromcp_client::{ClientEra, CompletionRef};
use ferromcp_core::error::code;
use serde_json::json;

#[tokio::test]
async fn resources_are_listed_and_read() {
    for era in ERAS {
        let client = connect(full(era)).await;
        let resources = client.list_resources().await.expect("resources/list");
        let uris: BTreeSet<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            BTreeSet::from(["docs://readme", "docs://secret"]),
            "{era:?}"
        );
        let templates = client
            .list_resource_templates()
            .await
            .expect("templates/list");
        assert_eq!(templates.len(), 1);
        assert_eq!(templates[0].uri_template, "users://{id}/profile");

        let r = client.read_resource("docs://readme").await.expect("read");
        assert_eq!(r["contents"][0]["text"], "# Hello", "{era:?}: {r}");
        assert_eq!(r["contents"][0]["mimeType"], "text/markdown");
        let r = client
            .read_resource("users://42/profile")
            .await
            .expect("read template");
        assert_eq!(r["contents"][0]["text"], "user 42");
        // A resource that asks a question: a server request (legacy) or MRTR (modern).
        let r = client
            .read_resource("docs://secret")
            .await
            .expect("read secret");
        assert_eq!(r["contents"][0]["text"], "secret for Ada", "{era:?}: {r}");

        let err = client
            .read_resource("docs://missing")
            .await
            .expect_err("missing resource");
        let want = match era {
            ClientEra::Legacy => code::RESOURCE_NOT_FOUND_LEGACY,
            ClientEra::Modern | ClientEra::Auto => code::INVALID_PARAMS,
        };
        assert_eq!(err.protocol_code(), Some(want), "{era:?}: {err}");
        assert_eq!(
            err.as_protocol()
                .and_then(|e| e.data.as_ref())
                .map(|d| d["uri"].clone()),
            Some(json!("docs://missing"))
        );
        client.close().await;
    }
}

#[tokio::test]
async fn prompts_are_listed_rendered_and_completed() {
    for era in ERAS {
        let client = connect(full(era)).await;
        let prompts = client.list_prompts().await.expect("prompts/list");
        let names: BTreeSet<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["personal", "review"]), "{era:?}");

        let p = client
            .get_prompt("review", json!({"code": "x = 1", "language": "python"}))
            .await
            .expect("prompts/get");
        assert_eq!(
            p["messages"][0]["content"]["text"], "Review this python: x = 1",
            "{era:?}: {p}"
        );
        assert_eq!(p["description"], "Review code");
        let p = client
            .get_prompt("personal", ())
            .await
            .expect("prompt that asks");
        assert_eq!(
            p["messages"][0]["content"]["text"], "Write to Ada",
            "{era:?}: {p}"
        );
        let err = client
            .get_prompt("nope", json!({}))
            .await
            .expect_err("unknown prompt");
        assert_eq!(err.protocol_code(), Some(code::INVALID_PARAMS));

        let c = client
            .complete(CompletionRef::Prompt("review".into()), "language", "ru")
            .await
            .expect("complete");
        assert_eq!(c.values, vec!["rust", "ruby"], "{era:?}");
        assert_eq!(c.total, Some(2));
        assert!(!c.has_more);
        let c = client
            .complete(
                CompletionRef::Resource("users://{id}/profile".into()),
                "id",
                "1",
            )
            .await
            .expect("complete template");
        assert_eq!(c.values, vec!["1", "12"]);
        client.close().await;
    }
}

//! The guide's code samples, compiled by `cargo test --doc -p ferromcp`.
//!
//! The guide is an mdBook under `docs/guide/` (`mdbook build docs/guide`). Each chapter
//! is included here as the doc comment of one item, so rustdoc compiles every ```rust
//! block in it (and runs it unless it is marked `no_run`): a sample that drifts from
//! the API fails the build. Shell, JSON, TOML and Python samples are fenced with their
//! language and ignored by rustdoc.
//!
//! The unit tests below keep the table of `FERROMCP_*` variables (the README's, which
//! the guide's settings chapter includes) in step with the variables the code reads and
//! with the copy in `ferromcp-http`'s settings docs.

macro_rules! chapters {
    ($($item:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = include_str!(concat!("../docs/guide/src/", $file))]
            #[cfg(doctest)]
            pub struct $item;
        )*
        /// Every chapter file that is compiled, in `SUMMARY.md` order.
        #[cfg(test)]
        const CHAPTERS: &[&str] = &[$($file),*];
    };
}

chapters! {
    Introduction => "introduction.md",
    GettingStarted => "getting-started.md",
    Components => "components.md",
    ContextChapter => "context.md",
    SessionsAndState => "sessions-and-state.md",
    Stores => "stores.md",
    Lifecycle => "lifecycle.md",
    Eras => "eras.md",
    Auth => "auth.md",
    Proxy => "proxy.md",
    ScaleOut => "scale-out.md",
    Cli => "cli.md",
    SettingsChapter => "settings.md",
    Observability => "observability.md",
    FromFastmcp => "from-fastmcp.md",
    Deploying => "deploying.md",
}

#[cfg(test)]
mod tests {
    use super::CHAPTERS;

    const SUMMARY: &str = include_str!("../docs/guide/src/SUMMARY.md");
    const README: &str = include_str!("../README.md");

    /// The variables named in the first column of the README's settings table, between
    /// the mdBook anchors the guide includes it by.
    fn readme_table_variables() -> Vec<&'static str> {
        let start = README.find("ANCHOR: settings").expect("README has the `settings` anchor the guide includes");
        let end = README.find("ANCHOR_END: settings").expect("README closes the `settings` anchor");
        README[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|v| v.starts_with("FERROMCP_"))
            .collect()
    }

    #[test]
    fn readme_settings_table_lists_every_variable_the_code_reads_in_order() {
        assert_eq!(readme_table_variables(), crate::settings::VARIABLES.to_vec());
    }

    /// `ferromcp-http`'s rustdoc keeps a copy of the table for docs.rs readers; it must
    /// name the same variables as the README's.
    #[test]
    fn settings_module_docs_table_names_the_same_variables() {
        let module_docs = include_str!("../crates/ferromcp-http/src/settings.rs");
        let listed: Vec<&str> = module_docs
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| l.split('`').next())
            .filter(|v| v.starts_with("FERROMCP_"))
            .collect();
        assert_eq!(listed, readme_table_variables());
    }

    #[test]
    fn every_chapter_in_the_summary_is_compiled_and_every_compiled_chapter_is_in_the_summary() {
        let linked: Vec<&str> =
            SUMMARY.lines().filter_map(|l| l.split("](").nth(1)).filter_map(|l| l.strip_suffix(')')).collect();
        assert_eq!(linked, CHAPTERS.to_vec());
    }
}

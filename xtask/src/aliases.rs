//! `cargo xtask aliases`: every function of `vmnet.h` can be found by its C name in vmnet's
//! documentation.
//!
//! The functions are the `vmnet_*` functions that `vmnet-sys/src/bindings.rs` declares (the 32
//! of the macOS 26 SDK). Each must be named by a `#[doc(alias = "vmnet_…")]` (or
//! `#[doc(alias("…", …))]`, also inside `cfg_attr`) on a `pub` item of `vmnet/src` that wraps
//! it. The check fails naming every function without one, and every `vmnet_*` alias that names
//! nothing in the bindings (a typo would otherwise hide a missing alias). Aliases on items that
//! are not `pub` do not count: rustdoc's search never shows them.
//!
//! `--list` prints, for each function, the items that carry its alias.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ImplItem, Item, Lit, LitStr, Meta, Token, TraitItem, Visibility};

/// The bindings whose functions must be aliased, relative to the workspace root.
const BINDINGS: &str = "vmnet-sys/src/bindings.rs";
/// The sources whose aliases count, relative to the workspace root.
const SOURCES: &str = "vmnet/src";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let list = match args {
        [] => false,
        [flag] if flag == "--list" => true,
        [other, ..] => return Err(format!("aliases takes only --list (got `{other}`)")),
    };
    let root = crate::root();
    let report = check_workspace(&root)?;
    if list {
        print!("{}", report.table());
    }
    if report.is_clean() {
        eprintln!(
            "xtask: aliases: each of the {} vmnet functions of {BINDINGS} has a doc(alias) on a \
             public item of {SOURCES}",
            report.aliased.len()
        );
        Ok(())
    } else {
        Err(report.to_string())
    }
}

/// Reads the bindings and every `.rs` file under the sources, and checks them.
fn check_workspace(root: &Path) -> Result<Report, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let bindings = read(&root.join(BINDINGS))?;
    let mut files = Vec::new();
    rust_files(&root.join(SOURCES), &mut files)?;
    files.sort();
    let mut sources = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        sources.push((shown, read(&file)?));
    }
    check(&bindings, &sources)
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// What the check found.
#[derive(Debug, Default)]
struct Report {
    /// Each vmnet function and the public items aliasing it (`Interface::start
    /// (vmnet/src/interface.rs)`), empty when none does.
    aliased: BTreeMap<String, Vec<String>>,
    /// `vmnet_*` aliases that name nothing the bindings declare, with the item carrying them.
    unknown: Vec<(String, String)>,
}

impl Report {
    fn missing(&self) -> impl Iterator<Item = &str> {
        self.aliased
            .iter()
            .filter(|(_, items)| items.is_empty())
            .map(|(name, _)| name.as_str())
    }

    fn is_clean(&self) -> bool {
        self.missing().next().is_none() && self.unknown.is_empty()
    }

    /// One line per function: its name, then the items aliasing it.
    fn table(&self) -> String {
        let width = self.aliased.keys().map(String::len).max().unwrap_or(0);
        let mut out = String::new();
        for (name, items) in &self.aliased {
            let items = if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join(", ")
            };
            out.push_str(&format!("{name:width$}  {items}\n"));
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing: Vec<&str> = self.missing().collect();
        if !missing.is_empty() {
            writeln!(
                f,
                "{} of the {} vmnet functions of {BINDINGS} have no #[doc(alias = \"...\")] on a \
                 public item of {SOURCES}:",
                missing.len(),
                self.aliased.len()
            )?;
            for name in &missing {
                writeln!(f, "  {name}")?;
            }
            writeln!(
                f,
                "add `#[doc(alias = \"vmnet_...\")]` to each public item that wraps it"
            )?;
        }
        if !self.unknown.is_empty() {
            writeln!(f, "aliases that name nothing in {BINDINGS}:")?;
            for (alias, item) in &self.unknown {
                writeln!(f, "  {alias} on {item}")?;
            }
        }
        Ok(())
    }
}

/// Checks `sources` (display name, text) against the `vmnet_*` functions of `bindings`.
fn check(bindings: &str, sources: &[(String, String)]) -> Result<Report, String> {
    let functions = vmnet_functions(bindings)?;
    if functions.is_empty() {
        return Err(format!("{BINDINGS} declares no vmnet_* function"));
    }
    let declared: BTreeSet<&str> = bindings
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let mut report = Report {
        aliased: functions.into_iter().map(|f| (f, Vec::new())).collect(),
        unknown: Vec::new(),
    };
    for (file, text) in sources {
        for (alias, item) in
            public_aliases(text).map_err(|e| format!("cannot parse {file}: {e}"))?
        {
            let item = format!("{item} ({file})");
            if let Some(items) = report.aliased.get_mut(&alias) {
                if !items.contains(&item) {
                    items.push(item);
                }
            } else if alias.starts_with("vmnet_") && !declared.contains(alias.as_str()) {
                report.unknown.push((alias, item));
            }
        }
    }
    Ok(report)
}

/// The `vmnet_*` functions declared in the `extern` blocks of a bindings file.
fn vmnet_functions(bindings: &str) -> Result<BTreeSet<String>, String> {
    let file = syn::parse_file(bindings).map_err(|e| format!("cannot parse {BINDINGS}: {e}"))?;
    let mut names = BTreeSet::new();
    for item in file.items {
        if let Item::ForeignMod(block) = item {
            for foreign in block.items {
                if let syn::ForeignItem::Fn(f) = foreign {
                    let name = f.sig.ident.to_string();
                    if name.starts_with("vmnet_") {
                        names.insert(name);
                    }
                }
            }
        }
    }
    Ok(names)
}

/// Each alias on a `pub` item of `source`, with the item's name (`Type::method` for methods).
fn public_aliases(source: &str) -> syn::Result<Vec<(String, String)>> {
    let file = syn::parse_file(source)?;
    let mut out = Vec::new();
    items(&file.items, &mut out)?;
    Ok(out)
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// Collects the aliases of the public items among `items`, descending into inline modules,
/// impl blocks and public traits.
fn items(items: &[Item], out: &mut Vec<(String, String)>) -> syn::Result<()> {
    for item in items {
        let (attrs, vis, name): (&[Attribute], &Visibility, String) = match item {
            Item::Fn(i) => (&i.attrs, &i.vis, i.sig.ident.to_string()),
            Item::Struct(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Enum(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Union(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Type(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Const(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Static(i) => (&i.attrs, &i.vis, i.ident.to_string()),
            Item::Trait(i) => {
                if is_pub(&i.vis) {
                    for trait_item in &i.items {
                        if let TraitItem::Fn(f) = trait_item {
                            let name = format!("{}::{}", i.ident, f.sig.ident);
                            push_aliases(&f.attrs, &name, out)?;
                        }
                    }
                }
                (&i.attrs, &i.vis, i.ident.to_string())
            }
            Item::Impl(i) => {
                let self_ty = match &*i.self_ty {
                    syn::Type::Path(p) => p
                        .path
                        .segments
                        .last()
                        .map_or_else(String::new, |s| s.ident.to_string()),
                    _ => String::from("_"),
                };
                for impl_item in &i.items {
                    // Items of a trait impl are as public as the trait.
                    let (attrs, vis, ident) = match impl_item {
                        ImplItem::Fn(f) => (&f.attrs, &f.vis, &f.sig.ident),
                        ImplItem::Const(c) => (&c.attrs, &c.vis, &c.ident),
                        _ => continue,
                    };
                    if i.trait_.is_some() || is_pub(vis) {
                        push_aliases(attrs, &format!("{self_ty}::{ident}"), out)?;
                    }
                }
                continue;
            }
            Item::Mod(m) => {
                if let Some((_, content)) = &m.content {
                    self::items(content, out)?;
                }
                continue;
            }
            _ => continue,
        };
        if is_pub(vis) {
            push_aliases(attrs, &name, out)?;
        }
    }
    Ok(())
}

/// Adds `(alias, name)` for each alias in `attrs`: `doc(alias = "a")`, `doc(alias("a", "b"))`,
/// and both inside `cfg_attr(predicate, ...)`.
fn push_aliases(
    attrs: &[Attribute],
    name: &str,
    out: &mut Vec<(String, String)>,
) -> syn::Result<()> {
    for attr in attrs {
        let Meta::List(list) = &attr.meta else {
            continue;
        };
        let metas = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
        if list.path.is_ident("doc") {
            doc_aliases(metas.iter(), name, out)?;
        } else if list.path.is_ident("cfg_attr") {
            // The first is the predicate; the others are attributes.
            for meta in metas.iter().skip(1) {
                if let Meta::List(inner) = meta {
                    if inner.path.is_ident("doc") {
                        let inner = inner
                            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
                        doc_aliases(inner.iter(), name, out)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The aliases among the arguments of one `doc(...)`.
fn doc_aliases<'a>(
    metas: impl Iterator<Item = &'a Meta>,
    name: &str,
    out: &mut Vec<(String, String)>,
) -> syn::Result<()> {
    for meta in metas {
        if !meta.path().is_ident("alias") {
            continue;
        }
        match meta {
            Meta::NameValue(nv) => {
                if let Expr::Lit(lit) = &nv.value {
                    if let Lit::Str(s) = &lit.lit {
                        out.push((s.value(), name.to_owned()));
                    }
                }
            }
            Meta::List(list) => {
                let names =
                    list.parse_args_with(Punctuated::<LitStr, Token![,]>::parse_terminated)?;
                out.extend(names.iter().map(|s| (s.value(), name.to_owned())));
            }
            Meta::Path(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDINGS_SAMPLE: &str = r#"
        pub type interface_ref = *mut vmnet_interface;
        unsafe extern "C" {
            pub static vmnet_mtu_key: *const ::core::ffi::c_char;
            pub fn vmnet_start_interface(
                interface_desc: xpc_object_t,
                queue: dispatch_queue_t,
                handler: vmnet_start_interface_completion_handler_t,
            ) -> interface_ref;
            pub fn vmnet_copy_shared_interface_list() -> xpc_object_t;
            pub fn xpc_get_type(object: xpc_object_t) -> xpc_type_t;
        }
        unsafe extern "C" {
            pub fn vmnet_read(interface: interface_ref, packets: *mut vmpktdesc, pktcnt: *mut ::core::ffi::c_int) -> vmnet_return_t;
        }
    "#;

    fn sources(text: &str) -> Vec<(String, String)> {
        vec![("lib.rs".to_owned(), text.to_owned())]
    }

    #[test]
    fn the_vmnet_functions_are_those_of_the_extern_blocks() {
        let functions = vmnet_functions(BINDINGS_SAMPLE).unwrap();
        let expected = [
            "vmnet_copy_shared_interface_list",
            "vmnet_read",
            "vmnet_start_interface",
        ];
        assert_eq!(
            functions.iter().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn every_form_of_alias_counts() {
        let text = r#"
            impl Interface {
                /// Starts.
                #[doc(alias = "vmnet_start_interface")]
                pub fn start() {}
                #[doc(alias("vmnet_read", "vmnet_write"), cfg(unix))]
                pub fn read() {}
            }
            #[cfg_attr(unix, doc(alias = "vmnet_copy_shared_interface_list"))]
            pub fn bridgeable_interfaces() {}
        "#;
        let found = public_aliases(text).unwrap();
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(a, i)| (a.as_str(), i.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("vmnet_start_interface", "Interface::start"),
                ("vmnet_read", "Interface::read"),
                ("vmnet_write", "Interface::read"),
                ("vmnet_copy_shared_interface_list", "bridgeable_interfaces"),
            ]
        );
    }

    #[test]
    fn a_missing_alias_is_reported_by_name() {
        let text = r#"
            pub struct Interface;
            impl Interface {
                #[doc(alias = "vmnet_start_interface")]
                pub fn start() {}
            }
        "#;
        let report = check(BINDINGS_SAMPLE, &sources(text)).unwrap();
        assert!(!report.is_clean());
        assert_eq!(
            report.missing().collect::<Vec<_>>(),
            ["vmnet_copy_shared_interface_list", "vmnet_read"]
        );
        let message = report.to_string();
        assert!(message.contains("2 of the 3 vmnet functions"), "{message}");
        assert!(
            message.contains("  vmnet_copy_shared_interface_list\n"),
            "{message}"
        );
        assert!(message.contains("  vmnet_read\n"), "{message}");
        assert!(!message.contains("  vmnet_start_interface\n"), "{message}");
        assert_eq!(
            report.aliased["vmnet_start_interface"],
            ["Interface::start (lib.rs)"]
        );
    }

    #[test]
    fn aliases_in_comments_or_on_private_items_do_not_count() {
        let text = r#"
            /// Not this: #[doc(alias = "vmnet_read")]
            // nor this: #[doc(alias = "vmnet_start_interface")]
            pub fn documented() {}
            impl Interface {
                #[doc(alias = "vmnet_read")]
                fn private() {}
                #[doc(alias = "vmnet_start_interface")]
                pub(crate) fn crate_only() {}
            }
            mod inner {
                #[doc(alias = "vmnet_copy_shared_interface_list")]
                pub fn listed() {}
            }
        "#;
        let report = check(BINDINGS_SAMPLE, &sources(text)).unwrap();
        assert_eq!(
            report.missing().collect::<Vec<_>>(),
            ["vmnet_read", "vmnet_start_interface"]
        );
        assert_eq!(
            report.aliased["vmnet_copy_shared_interface_list"],
            ["listed (lib.rs)"]
        );
    }

    #[test]
    fn an_alias_naming_nothing_is_reported() {
        let text = r#"
            #[doc(alias = "vmnet_start_interface", alias = "vmnet_copy_shared_interface_list")]
            #[doc(alias = "vmnet_read")]
            #[doc(alias = "vmnet_raed")]
            #[doc(alias = "vmnet_mtu_key")]
            #[doc(alias = "read")]
            pub fn everything() {}
        "#;
        let report = check(BINDINGS_SAMPLE, &sources(text)).unwrap();
        assert_eq!(report.missing().count(), 0);
        assert_eq!(
            report.unknown,
            [("vmnet_raed".to_owned(), "everything (lib.rs)".to_owned())]
        );
        assert!(!report.is_clean());
        assert!(
            report
                .to_string()
                .contains("  vmnet_raed on everything (lib.rs)")
        );
    }

    #[test]
    fn the_workspace_aliases_every_vmnet_function() {
        let report = check_workspace(&crate::root()).unwrap();
        assert_eq!(report.aliased.len(), 32, "vmnet.h has 32 functions");
        assert!(report.is_clean(), "{report}");
    }
}

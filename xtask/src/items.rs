//! Item-level comparison of two bindings files: the same items with the same declarations,
//! whatever their order, formatting, comments or grouping into `extern` blocks.
//!
//! Each top-level item (and each item of an `extern` block) gets a key from its kind and name
//! (`fn vmnet_read`, `const VMNET_SUCCESS`, `impl Default for iovec`) and a declaration: its
//! token text, attributes included, so a derive, a field, a parameter's name or type, a value
//! or the ABI all count. Items without a name (bindgen's `const _: () = { ... };` layout
//! assertions) are keyed by their declaration.

use quote::ToTokens;
use std::collections::BTreeMap;
use std::fmt;

/// One item of a bindings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// What identifies the item across files: kind and name.
    key: String,
    /// How a message names the item (`function vmnet_read`).
    label: String,
    /// The whole declaration, normalised to token text.
    decl: String,
}

/// A way two bindings files differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Difference {
    /// In the reference file only.
    Missing { label: String, decl: String },
    /// In the other file only.
    Extra { label: String, decl: String },
    /// In both, declared differently.
    Changed {
        label: String,
        reference: String,
        other: String,
    },
}

#[cfg(test)]
impl Difference {
    /// How the message names the item.
    pub(crate) fn label(&self) -> &str {
        match self {
            Self::Missing { label, .. }
            | Self::Extra { label, .. }
            | Self::Changed { label, .. } => label,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { label, decl } => write!(f, "missing: {label}\n      {decl}"),
            Self::Extra { label, decl } => write!(f, "extra: {label}\n      {decl}"),
            Self::Changed {
                label,
                reference,
                other,
            } => write!(
                f,
                "different: {label}\n      expected: {reference}\n      found:    {other}"
            ),
        }
    }
}

/// The items of the Rust source `source`.
pub(crate) fn items(source: &str) -> Result<Vec<Item>, String> {
    let file = syn::parse_file(source).map_err(|e| format!("not Rust source: {e}"))?;
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            syn::Item::ForeignMod(block) => {
                // Each foreign item stands alone, in a block of its own with its block's ABI.
                for foreign in &block.items {
                    let alone = syn::ItemForeignMod {
                        items: vec![foreign.clone()],
                        ..block.clone()
                    };
                    let decl = declaration(syn::Item::ForeignMod(alone));
                    let (key, label) = match foreign {
                        syn::ForeignItem::Fn(f) => named("fn", "function", &f.sig.ident),
                        syn::ForeignItem::Static(s) => named("static", "static", &s.ident),
                        syn::ForeignItem::Type(t) => named("type", "foreign type", &t.ident),
                        _ => unnamed("foreign item", &decl),
                    };
                    out.push(Item { key, label, decl });
                }
            }
            other => {
                let decl = declaration(other.clone());
                let (key, label) = key_of(other, &decl);
                out.push(Item { key, label, decl });
            }
        }
    }
    Ok(out)
}

/// The normalised text of one item: printed alone by prettyplease (which decides line breaks
/// and trailing commas from the syntax tree only, so the source's formatting is gone), then
/// put on one line.
fn declaration(item: syn::Item) -> String {
    let text = prettyplease::unparse(&syn::File {
        shebang: None,
        frontmatter: None,
        attrs: Vec::new(),
        items: vec![item],
    });
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Key and label of an item outside `extern` blocks.
fn key_of(item: &syn::Item, decl: &str) -> (String, String) {
    match item {
        syn::Item::Const(c) if c.ident != "_" => named("const", "constant", &c.ident),
        syn::Item::Const(_) => {
            // bindgen's layout assertions: name them by their first message ("Size of vmpktdesc").
            let first = decl.split('"').nth(1).unwrap_or("no message");
            unnamed(&format!("layout assertions (\"{first}\", ...)"), decl)
        }
        syn::Item::Type(t) => named("type", "type alias", &t.ident),
        syn::Item::Struct(s) => named("struct", "struct", &s.ident),
        syn::Item::Union(u) => named("union", "union", &u.ident),
        syn::Item::Enum(e) => named("enum", "enum", &e.ident),
        syn::Item::Fn(f) => named("fn", "function", &f.sig.ident),
        syn::Item::Static(s) => named("static", "static", &s.ident),
        syn::Item::Mod(m) => named("mod", "module", &m.ident),
        syn::Item::Trait(t) => named("trait", "trait", &t.ident),
        syn::Item::Impl(i) => {
            let self_ty = i.self_ty.to_token_stream().to_string();
            let key = match &i.trait_ {
                Some((path, _)) => {
                    format!("impl {} for {self_ty}", path.to_token_stream())
                }
                None => format!("impl {self_ty}"),
            };
            (key.clone(), key)
        }
        syn::Item::Use(u) => match use_name(&u.tree) {
            Some(name) => (format!("use {name}"), format!("re-export {name}")),
            None => unnamed("use", decl),
        },
        _ => unnamed("item", decl),
    }
}

fn named(kind: &str, label: &str, ident: &syn::Ident) -> (String, String) {
    (format!("{kind} {ident}"), format!("{label} {ident}"))
}

fn unnamed(label: &str, decl: &str) -> (String, String) {
    (format!("({label}) {decl}"), label.to_owned())
}

/// The one name a `use` item brings in (`vmnet_mode_t` of `use self::x as vmnet_mode_t`).
fn use_name(tree: &syn::UseTree) -> Option<String> {
    match tree {
        syn::UseTree::Path(p) => use_name(&p.tree),
        syn::UseTree::Name(n) => Some(n.ident.to_string()),
        syn::UseTree::Rename(r) => Some(r.rename.to_string()),
        syn::UseTree::Glob(_) | syn::UseTree::Group(_) => None,
    }
}

/// Every difference between the items of `reference` and `other`, ordered by item key.
pub(crate) fn differences(reference: &str, other: &str) -> Result<Vec<Difference>, String> {
    let group = |source: &str| -> Result<BTreeMap<String, Vec<Item>>, String> {
        let mut map: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        for item in items(source)? {
            map.entry(item.key.clone()).or_default().push(item);
        }
        for same_key in map.values_mut() {
            same_key.sort_by(|a, b| a.decl.cmp(&b.decl));
        }
        Ok(map)
    };
    let reference = group(reference).map_err(|e| format!("the reference file is {e}"))?;
    let other = group(other).map_err(|e| format!("the compared file is {e}"))?;

    let mut found = Vec::new();
    for (key, expected) in &reference {
        match other.get(key) {
            None => found.extend(expected.iter().map(|item| Difference::Missing {
                label: item.label.clone(),
                decl: item.decl.clone(),
            })),
            Some(actual) if actual != expected => {
                let join = |items: &[Item]| {
                    items
                        .iter()
                        .map(|item| item.decl.as_str())
                        .collect::<Vec<_>>()
                        .join("\n                ")
                };
                found.push(Difference::Changed {
                    label: expected[0].label.clone(),
                    reference: join(expected),
                    other: join(actual),
                });
            }
            Some(_) => {}
        }
    }
    for (key, actual) in &other {
        if !reference.contains_key(key) {
            found.extend(actual.iter().map(|item| Difference::Extra {
                label: item.label.clone(),
                decl: item.decl.clone(),
            }));
        }
    }
    Ok(found)
}

/// Compares the items of two bindings files; the error lists every difference.
pub(crate) fn compare(
    reference_name: &str,
    reference: &str,
    other_name: &str,
    other: &str,
) -> Result<(), String> {
    let found = differences(reference, other)?;
    if found.is_empty() {
        let count = items(reference)?.len();
        eprintln!("xtask: {other_name} declares the same {count} items as {reference_name}");
        return Ok(());
    }
    let mut message = format!(
        "{} item(s) of {other_name} differ from {reference_name} \
         (missing: only in {reference_name}; extra: only in {other_name}):",
        found.len()
    );
    for difference in &found {
        message.push_str(&format!("\n  {difference}"));
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDINGS: &str = r#"
pub type vmnet_return_t = u32;
pub type interface_ref = *mut vmnet_interface;
#[repr(C)]
#[derive(Debug)]
pub struct vmnet_interface {
    _unused: [u8; 0],
}
pub const VMNET_SUCCESS: vmnet_return_t = 1000;
pub const VMNET_FAILURE: vmnet_return_t = 1001;
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = {
    ["Size of vmnet_interface"][::core::mem::size_of::<vmnet_interface>() - 0usize];
};
impl Default for vmnet_interface {
    fn default() -> Self { Self { _unused: [] } }
}
unsafe extern "C" {
    pub static vmnet_mtu_key: *const ::core::ffi::c_char;
    pub fn vmnet_read(interface: interface_ref, pktcnt: *mut ::core::ffi::c_int) -> vmnet_return_t;
    pub fn vmnet_copy_shared_interface_list() -> *mut ::core::ffi::c_void;
}
"#;

    fn labels(found: &[Difference]) -> Vec<&str> {
        found.iter().map(Difference::label).collect()
    }

    #[test]
    fn the_same_items_in_another_order_and_layout_are_equal() {
        // Items reordered, the extern block split in two and reordered, other formatting and a
        // comment: nothing an item comparison should see.
        let reordered = r#"
// @generated, another banner
unsafe extern "C" {
    pub fn vmnet_copy_shared_interface_list() -> *mut ::core::ffi::c_void;
}
impl Default for vmnet_interface { fn default() -> Self { Self { _unused: [] } } }
pub const VMNET_FAILURE: vmnet_return_t = 1001;
#[allow(clippy::unnecessary_operation, clippy::identity_op)]
const _: () = { ["Size of vmnet_interface"][::core::mem::size_of::<vmnet_interface>() - 0usize]; };
unsafe extern "C" {
    pub fn vmnet_read(
        interface: interface_ref,
        pktcnt: *mut ::core::ffi::c_int,
    ) -> vmnet_return_t;
    pub static vmnet_mtu_key: *const ::core::ffi::c_char;
}
#[repr(C)]
#[derive(Debug)]
pub struct vmnet_interface { _unused: [u8; 0] }
pub const VMNET_SUCCESS: vmnet_return_t = 1000;
pub type interface_ref = *mut vmnet_interface;
pub type vmnet_return_t = u32;
"#;
        assert_eq!(differences(BINDINGS, reordered), Ok(vec![]));
        assert_eq!(compare("a", BINDINGS, "b", reordered), Ok(()));
    }

    #[test]
    fn a_changed_parameter_type_is_reported_on_its_function() {
        let changed = BINDINGS.replace("pktcnt: *mut ::core::ffi::c_int", "pktcnt: *mut u32");
        let found = differences(BINDINGS, &changed).unwrap();
        assert_eq!(labels(&found), ["function vmnet_read"]);
        let message = compare("checked-in", BINDINGS, "generated", &changed).unwrap_err();
        assert!(
            message.contains("different: function vmnet_read"),
            "{message}"
        );
        assert!(message.contains("pktcnt: *mut u32"), "{message}");
    }

    #[test]
    fn a_changed_parameter_name_counts_too() {
        let changed = BINDINGS.replace("(interface: interface_ref", "(iface: interface_ref");
        let found = differences(BINDINGS, &changed).unwrap();
        assert_eq!(labels(&found), ["function vmnet_read"]);
    }

    #[test]
    fn a_renamed_constant_is_missing_under_one_name_and_extra_under_the_other() {
        let renamed = BINDINGS.replace("VMNET_FAILURE", "VMNET_FAILED");
        let found = differences(BINDINGS, &renamed).unwrap();
        assert_eq!(
            found,
            [
                Difference::Missing {
                    label: "constant VMNET_FAILURE".into(),
                    decl: "pub const VMNET_FAILURE: vmnet_return_t = 1001;".into(),
                },
                Difference::Extra {
                    label: "constant VMNET_FAILED".into(),
                    decl: "pub const VMNET_FAILED: vmnet_return_t = 1001;".into(),
                },
            ]
        );
        let message = compare("checked-in", BINDINGS, "generated", &renamed).unwrap_err();
        assert!(
            message.contains("missing: constant VMNET_FAILURE"),
            "{message}"
        );
        assert!(
            message.contains("extra: constant VMNET_FAILED"),
            "{message}"
        );
    }

    #[test]
    fn a_constant_typed_differently_is_reported() {
        let retyped = BINDINGS.replace(
            "VMNET_SUCCESS: vmnet_return_t",
            "VMNET_SUCCESS: _bindgen_ty_3",
        );
        let found = differences(BINDINGS, &retyped).unwrap();
        assert_eq!(labels(&found), ["constant VMNET_SUCCESS"]);
    }

    #[test]
    fn a_missing_item_is_reported_by_name() {
        let without = BINDINGS.replace("pub type interface_ref = *mut vmnet_interface;\n", "");
        let found = differences(BINDINGS, &without).unwrap();
        assert_eq!(labels(&found), ["type alias interface_ref"]);
        let message = compare("checked-in", BINDINGS, "generated", &without).unwrap_err();
        assert!(
            message.starts_with("1 item(s) of generated differ"),
            "{message}"
        );
        assert!(
            message.contains("missing: type alias interface_ref"),
            "{message}"
        );
        // And the other way round, an extra item.
        let found = differences(&without, BINDINGS).unwrap();
        assert!(
            matches!(&found[..], [Difference::Extra { label, .. }] if label == "type alias interface_ref")
        );
    }

    #[test]
    fn layout_assertions_and_derives_are_part_of_the_declarations() {
        let resized = BINDINGS.replace("- 0usize]", "- 8usize]");
        let found = differences(BINDINGS, &resized).unwrap();
        assert_eq!(
            labels(&found),
            [
                "layout assertions (\"Size of vmnet_interface\", ...)",
                "layout assertions (\"Size of vmnet_interface\", ...)",
            ]
        );
        let underived = BINDINGS.replace("#[derive(Debug)]\n", "");
        let found = differences(BINDINGS, &underived).unwrap();
        assert_eq!(labels(&found), ["struct vmnet_interface"]);
    }

    #[test]
    fn a_function_moved_out_of_extern_c_is_different() {
        let moved = BINDINGS.replace("unsafe extern \"C\"", "unsafe extern \"system\"");
        let found = differences(BINDINGS, &moved).unwrap();
        assert_eq!(
            labels(&found),
            [
                "function vmnet_copy_shared_interface_list",
                "function vmnet_read",
                "static vmnet_mtu_key",
            ]
        );
    }

    #[test]
    fn a_reexport_and_an_alias_of_the_same_name_differ() {
        let a =
            "pub type operating_modes_t = u32;\npub use self::operating_modes_t as vmnet_mode_t;\n";
        let b = "pub type operating_modes_t = u32;\npub type vmnet_mode_t = operating_modes_t;\n";
        let found = differences(a, b).unwrap();
        assert_eq!(
            labels(&found),
            ["re-export vmnet_mode_t", "type alias vmnet_mode_t"]
        );
    }

    #[test]
    fn only_formatting_is_normalised_away() {
        // A one-element tuple keeps its comma: `(u8,)` is not `(u8)`.
        let found = differences("pub type t = (u8,);", "pub type t = (u8);").unwrap();
        assert_eq!(labels(&found), ["type alias t"]);
        // Trailing commas of lists and line breaks are formatting.
        let found = differences(
            "pub fn f(a: u8, b: u8,) -> u8 { a }",
            "pub fn f(\n    a: u8,\n    b: u8\n) -> u8 {\n    a\n}",
        )
        .unwrap();
        assert_eq!(found, []);
    }

    #[test]
    fn the_checked_in_bindings_equal_themselves() {
        let text = std::fs::read_to_string(crate::root().join("vmnet-sys/src/bindings.rs"))
            .expect("the checked-in bindings");
        assert_eq!(differences(&text, &text), Ok(vec![]));
        assert!(items(&text).unwrap().len() > 100);
    }

    #[test]
    fn not_rust_is_an_error() {
        assert!(differences("pub fn", BINDINGS).is_err());
    }
}

//! `cargo xtask bindgen`: the checked-in bindings, regenerated or checked, and compared item
//! by item with other bindings (those a Mac build generates from Apple's SDK).

#[path = "../../vmnet-sys/bindgen/config.rs"]
#[allow(dead_code)]
mod config;

use std::path::{Path, PathBuf};

/// Where the checked-in bindings live, relative to the workspace root.
const CHECKED_IN: &str = "vmnet-sys/src/bindings.rs";
/// The stand-in SDK, relative to the workspace root.
const FIXTURE: &str = "xtask/sdk-fixture";

const USAGE: &str = "\
usage: cargo xtask bindgen [--sdk PATH] [--check]
       cargo xtask bindgen --compare-items FILE
       cargo xtask bindgen --compare-built [--target TRIPLE]

  (none)               regenerate vmnet-sys/src/bindings.rs from a macOS SDK (default: SDKROOT
                       or xcrun's SDK on macOS, the stand-in fixture xtask/sdk-fixture elsewhere)
  --check              fail if the checked-in file differs, byte for byte, instead of writing it
  --compare-items FILE compare the items of FILE (names and full declarations, order and
                       formatting aside) with those of the checked-in file; fail on any difference
  --compare-built      build vmnet-sys for this host with its `bindgen` feature and compare the
                       items of the bindings its build script generated (from the macOS SDK) with
                       the checked-in file; fails where the build used the checked-in file.
                       --target builds for another Apple target (on Linux, with SDKROOT set to
                       the absolute path of xtask/sdk-fixture, this tests the whole path)
";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut sdk: Option<PathBuf> = None;
    let mut check = false;
    let mut compare: Option<PathBuf> = None;
    let mut compare_built = false;
    let mut target: Option<String> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--sdk" => {
                let path = it.next().ok_or("--sdk needs a path")?;
                sdk = Some(PathBuf::from(path));
            }
            "--compare-items" => {
                let path = it.next().ok_or("--compare-items needs a file")?;
                compare = Some(PathBuf::from(path));
            }
            "--compare-built" => compare_built = true,
            "--target" => target = Some(it.next().ok_or("--target needs a target triple")?.clone()),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("bindgen: unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if (compare.is_some() || compare_built) && (check || sdk.is_some()) {
        return Err(format!(
            "bindgen: --compare-items and --compare-built take no --sdk or --check\n\n{USAGE}"
        ));
    }
    if target.is_some() && !compare_built {
        return Err(format!(
            "bindgen: --target goes with --compare-built\n\n{USAGE}"
        ));
    }
    if compare.is_some() && compare_built {
        return Err(format!(
            "bindgen: --compare-items or --compare-built, not both\n\n{USAGE}"
        ));
    }
    let root = super::root();
    if compare_built {
        let (built, build_ok) = built_bindings(target.as_deref())?;
        compare_with_checked_in(&built)?;
        return if build_ok {
            Ok(())
        } else {
            Err("the build of vmnet-sys failed (see above)".to_owned())
        };
    }
    if let Some(path) = compare {
        return compare_with_checked_in(&path);
    }
    let sdk = match sdk {
        Some(path) if path.is_relative() => std::env::current_dir()
            .map_err(|e| format!("current directory: {e}"))?
            .join(path),
        Some(path) => path,
        None if cfg!(target_os = "macos") => config::default_sdk()
            .ok_or("no macOS SDK found: set SDKROOT, install Xcode, or pass --sdk")?,
        None => root.join(FIXTURE),
    };
    let version = config::sdk_version(&sdk).ok_or_else(|| {
        format!(
            "{} is not a macOS SDK (no SDKSettings.json version)",
            sdk.display()
        )
    })?;
    match config::parse_version(&version) {
        Some(v) if v >= config::MIN_SDK => {}
        _ => {
            return Err(format!(
                "the SDK at {} is version {version}; vmnet-sys binds the API of {}.{} or newer",
                sdk.display(),
                config::MIN_SDK.0,
                config::MIN_SDK.1
            ));
        }
    }
    eprintln!(
        "xtask: generating bindings from {} (SDK {version})",
        sdk.display()
    );
    let text = config::generate(&sdk, &root.join("vmnet-sys").join(config::WRAPPER))?;
    let target = root.join(CHECKED_IN);
    if check {
        let current = std::fs::read_to_string(&target)
            .map_err(|e| format!("cannot read {}: {e}", target.display()))?;
        if current != text {
            let line = first_difference(&current, &text);
            return Err(format!(
                "{CHECKED_IN} is stale: it differs from what bindgen generates from {} \
                 (first difference at line {line}). Run `cargo xtask bindgen --sdk {}` and commit \
                 the result; if the SDK is Apple's, bring the stand-in headers under {FIXTURE} \
                 in line first.",
                sdk.display(),
                sdk.display()
            ));
        }
        eprintln!("xtask: {CHECKED_IN} is up to date");
    } else {
        std::fs::write(&target, text)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        eprintln!("xtask: wrote {CHECKED_IN}");
    }
    Ok(())
}

/// Compares the items of the bindings file at `path` with the checked-in file's.
fn compare_with_checked_in(path: &Path) -> Result<(), String> {
    let checked_in = super::root().join(CHECKED_IN);
    let reference = std::fs::read_to_string(&checked_in)
        .map_err(|e| format!("cannot read {}: {e}", checked_in.display()))?;
    let other = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::items::compare(CHECKED_IN, &reference, &path.display().to_string(), &other).map_err(
        |differences| {
            format!(
                "{differences}\n\nIf {} was generated from Apple's SDK, the stand-in SDK under \
                 {FIXTURE} declares something else: bring its headers in line (from the facts, \
                 never by copying Apple's), then run `cargo xtask bindgen`.",
                path.display()
            )
        },
    )
}

/// Builds `vmnet-sys` with its `bindgen` feature, for this host or `target`, and returns the
/// bindings file its build script generated, found through cargo's JSON messages, and whether
/// the build succeeded. Fails where the build script used the checked-in bindings instead (not
/// an Apple target, no macOS SDK 26.0 or newer).
///
/// The build script reruns when `vmnet-sys/bindgen/` or `SDKROOT` changes, not when the SDK's
/// headers do: after updating Xcode, touch `vmnet-sys/build.rs` (CI's fresh checkout does).
fn built_bindings(target: Option<&str>) -> Result<(PathBuf, bool), String> {
    let mut cmd = crate::toolchain::cargo();
    cmd.args([
        "build",
        "-p",
        "vmnet-sys",
        "--features",
        "bindgen",
        "--message-format=json-render-diagnostics",
    ])
    // Cargo's progress and the build script's warnings (which say why it did not generate).
    .stderr(std::process::Stdio::inherit());
    if let Some(target) = target {
        cmd.args(["--target", target]);
    }
    // The build script runs before the library compiles: when the generated bindings break
    // the build (a changed type no longer matches `weak.rs`), their items are still compared,
    // which says more than the compiler error.
    eprintln!("xtask: running {cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if !output.status.success() {
        eprintln!(
            "xtask: the build failed ({}); comparing what it generated",
            output.status
        );
    }
    let (out_dir, generated) = build_script_output(&String::from_utf8_lossy(&output.stdout))?;
    if !generated {
        return Err(format!(
            "vmnet-sys's build script used the checked-in bindings (not an Apple target, the \
             `bindgen` feature off, or no macOS SDK 26.0 or newer: see its warnings above), so \
             there are no build-time bindings to compare (OUT_DIR {})",
            out_dir.display()
        ));
    }
    let file = out_dir.join("bindings.rs");
    eprintln!("xtask: vmnet-sys was built with {}", file.display());
    Ok((file, output.status.success()))
}

/// From cargo's JSON messages: `vmnet-sys`'s build script `OUT_DIR`, and whether the script
/// generated bindings there (it then sets the `vmnet_sys_generated` cfg).
fn build_script_output(messages: &str) -> Result<(PathBuf, bool), String> {
    let messages: Vec<serde_json::Value> = messages
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let script = messages
        .iter()
        .find(|m| {
            m["reason"] == "build-script-executed"
                && m["package_id"].as_str().is_some_and(is_vmnet_sys)
        })
        .ok_or("cargo reported no run of vmnet-sys's build script")?;
    let out_dir = script["out_dir"]
        .as_str()
        .ok_or("cargo reported no OUT_DIR for vmnet-sys's build script")?;
    let generated = script["cfgs"]
        .as_array()
        .is_some_and(|cfgs| cfgs.iter().any(|c| c == "vmnet_sys_generated"));
    Ok((PathBuf::from(out_dir), generated))
}

/// Whether a cargo package id is `vmnet-sys`'s: `path+file:///…/vmnet-sys#0.1.0`,
/// `path+file:///…/dir#vmnet-sys@0.1.0`, or before cargo 1.77 `vmnet-sys 0.1.0 (path+file://…)`.
fn is_vmnet_sys(id: &str) -> bool {
    const NAME: &str = "vmnet-sys";
    if let Some((path, fragment)) = id.split_once('#') {
        match fragment.split_once('@') {
            Some((name, _)) => name == NAME,
            None => path.rsplit('/').next() == Some(NAME),
        }
    } else {
        id.split(' ').next() == Some(NAME)
    }
}

/// The 1-based number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bindgen makes of `typedef OBJC_ENUM(uint32_t, …) { … };` compiled as C, with a
    /// nested anonymous type that must stay as it is.
    const GENERATED: &str = "\
pub type operating_modes_t = u32;
pub type _bindgen_ty_1 = u32;
pub type vmnet_mode_t = operating_modes_t;
pub type interface_event_t = u32;
pub type _bindgen_ty_2 = u32;
pub type vmnet_return_t = u32;
pub type _bindgen_ty_13 = u32;
pub struct in6_addr {
    pub __u6_addr: in6_addr__bindgen_ty_1,
}
pub const VMNET_HOST_MODE: _bindgen_ty_1 = 1000;
pub const VMNET_BRIDGED_MODE: _bindgen_ty_1 = 1002;
pub const VMNET_INTERFACE_PACKETS_AVAILABLE: _bindgen_ty_2 = 1;
pub const VMNET_SUCCESS: _bindgen_ty_13 = 1000;
pub const VMNET_FUTURE_CODE: _bindgen_ty_13 = 1011;
";

    #[test]
    fn anonymous_enum_constants_get_their_typedefs() {
        let text = config::name_anonymous_enums(GENERATED).unwrap();
        assert_eq!(
            text,
            "\
pub type operating_modes_t = u32;
pub type vmnet_mode_t = operating_modes_t;
pub type interface_event_t = u32;
pub type vmnet_return_t = u32;
pub struct in6_addr {
    pub __u6_addr: in6_addr__bindgen_ty_1,
}
pub const VMNET_HOST_MODE: operating_modes_t = 1000;
pub const VMNET_BRIDGED_MODE: operating_modes_t = 1002;
pub const VMNET_INTERFACE_PACKETS_AVAILABLE: interface_event_t = 1;
pub const VMNET_SUCCESS: vmnet_return_t = 1000;
pub const VMNET_FUTURE_CODE: vmnet_return_t = 1011;
"
        );
        // Named enums (what the fixture used to declare) pass through unchanged.
        let named =
            "pub type vmnet_return_t = u32;\npub const VMNET_SUCCESS: vmnet_return_t = 1000;\n";
        assert_eq!(config::name_anonymous_enums(named).unwrap(), named);
    }

    #[test]
    fn an_unknown_anonymous_enum_is_an_error_naming_its_constants() {
        let text = format!(
            "{GENERATED}pub type _bindgen_ty_20 = u32;\npub const FOO_A: _bindgen_ty_20 = 1;\npub const FOO_B: _bindgen_ty_20 = 2;\n"
        );
        let error = config::name_anonymous_enums(&text).unwrap_err();
        assert!(error.contains("constants: FOO_A, FOO_B"), "{error}");
        assert!(error.contains("ANONYMOUS_ENUMS"), "{error}");
    }

    #[test]
    fn a_typedef_of_another_type_or_none_is_an_error() {
        let wider = GENERATED.replace(
            "pub type vmnet_return_t = u32;",
            "pub type vmnet_return_t = u64;",
        );
        let error = config::name_anonymous_enums(&wider).unwrap_err();
        assert!(
            error.contains("VMNET_SUCCESS, VMNET_FUTURE_CODE"),
            "{error}"
        );
        assert!(error.contains("`vmnet_return_t` is a `u64`"), "{error}");
        let missing = GENERATED.replace("pub type interface_event_t = u32;\n", "");
        let error = config::name_anonymous_enums(&missing).unwrap_err();
        assert!(
            error.contains("`interface_event_t` is not declared"),
            "{error}"
        );
    }

    #[test]
    fn a_constant_of_an_undeclared_anonymous_type_is_an_error() {
        let text = format!("{GENERATED}pub const STRAY: _bindgen_ty_7 = 3;\n");
        let error = config::name_anonymous_enums(&text).unwrap_err();
        assert!(error.contains("STRAY are typed `_bindgen_ty_7`"), "{error}");
    }

    #[test]
    fn the_checked_in_constants_have_their_typedefs() {
        let text = std::fs::read_to_string(super::super::root().join(CHECKED_IN)).unwrap();
        for line in [
            "pub const VMNET_HOST_MODE: operating_modes_t = 1000;",
            "pub const VMNET_INTERFACE_PACKETS_AVAILABLE: interface_event_t = 1;",
            "pub const VMNET_SUCCESS: vmnet_return_t = 1000;",
            "pub const VMNET_NOT_AUTHORIZED: vmnet_return_t = 1010;",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} is not in {CHECKED_IN}"
            );
        }
        assert_eq!(
            config::name_anonymous_enums(&text).as_deref(),
            Ok(&text[..])
        );
    }

    #[test]
    fn vmnet_sys_package_ids() {
        assert!(is_vmnet_sys("path+file:///work/main/vmnet-sys#0.1.0"));
        assert!(is_vmnet_sys("path+file:///src/checkout#vmnet-sys@0.1.0"));
        assert!(is_vmnet_sys(
            "vmnet-sys 0.1.0 (path+file:///work/main/vmnet-sys)"
        ));
        assert!(!is_vmnet_sys("path+file:///work/main/vmnet#0.1.0"));
        assert!(!is_vmnet_sys(
            "registry+https://github.com/rust-lang/crates.io-index#bindgen@0.73.2"
        ));
    }

    #[test]
    fn the_build_scripts_out_dir_and_cfg_come_from_cargos_messages() {
        let messages = r#"{"reason":"build-script-executed","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.170","linked_libs":[],"linked_paths":[],"cfgs":["freebsd11"],"env":[],"out_dir":"/t/debug/build/libc-1/out"}
not json
{"reason":"build-script-executed","package_id":"path+file:///w/vmnet-sys#0.1.0","linked_libs":["framework=vmnet"],"linked_paths":[],"cfgs":["vmnet_sys_generated"],"env":[],"out_dir":"/t/debug/build/vmnet-sys-2/out"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            build_script_output(messages),
            Ok((PathBuf::from("/t/debug/build/vmnet-sys-2/out"), true))
        );
        let fallback = messages.replace(r#""cfgs":["vmnet_sys_generated"]"#, r#""cfgs":[]"#);
        assert_eq!(
            build_script_output(&fallback),
            Ok((PathBuf::from("/t/debug/build/vmnet-sys-2/out"), false))
        );
        assert!(build_script_output("{\"reason\":\"build-finished\"}").is_err());
    }
}

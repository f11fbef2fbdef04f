//! `cargo xtask bindgen`: the checked-in bindings, regenerated or checked.

#[path = "../../vmnet-sys/bindgen/config.rs"]
#[allow(dead_code)]
mod config;

use std::path::PathBuf;

/// Where the checked-in bindings live, relative to the workspace root.
const CHECKED_IN: &str = "vmnet-sys/src/bindings.rs";
/// The stand-in SDK, relative to the workspace root.
const FIXTURE: &str = "xtask/sdk-fixture";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut sdk: Option<PathBuf> = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--sdk" => {
                let path = it.next().ok_or("--sdk needs a path")?;
                sdk = Some(PathBuf::from(path));
            }
            other => return Err(format!("bindgen: unknown argument `{other}`")),
        }
    }
    let root = super::root();
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

/// The 1-based number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

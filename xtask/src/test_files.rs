//! The integration test files of `vmnet` (`vmnet/tests/*.rs`), and the check that a command
//! which runs a chosen list of them (`miri`, `leak`) knows every one.

use std::path::Path;

/// Every integration test file is either in `run` or in `not_run` with a reason, so a new one
/// is not left out of `tool` silently; `list` names the file that holds the lists. Prints the
/// files not run, with their reasons.
pub(crate) fn check(
    tool: &str,
    list: &str,
    run: &[&str],
    not_run: &[(&str, &str)],
) -> Result<(), String> {
    let dir = super::root().join("vmnet/tests");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut unknown = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let known = run.contains(&name.as_str()) || not_run.iter().any(|(n, _)| *n == name);
        if !known {
            unknown.push(name);
        }
    }
    for name in run {
        if !Path::new(&dir).join(format!("{name}.rs")).exists() {
            return Err(format!(
                "vmnet/tests/{name}.rs is listed for {tool} but does not exist: update {list}"
            ));
        }
    }
    for (name, why) in not_run {
        if Path::new(&dir).join(format!("{name}.rs")).exists() {
            eprintln!("xtask: not under {tool}: tests/{name}.rs ({why})");
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        unknown.sort();
        Err(format!(
            "vmnet/tests/{{{}}}.rs: neither run under {tool} nor listed as not run; add each to \
             RUN or NOT_RUN in {list}",
            unknown.join(",")
        ))
    }
}

/// Builds test binaries with `test` (a `cargo test` command, to which `--no-run
/// --message-format=json` is added) and returns vmnet's as (target name, path); the unit test
/// binary is named `lib`.
pub(crate) fn build(test: &mut std::process::Command) -> Result<Vec<(String, String)>, String> {
    let stdout = crate::toolchain::run_output(test.args(["--no-run", "--message-format=json"]))?;
    let manifest = super::root().join("vmnet").join("Cargo.toml");
    let manifest = format!("\"manifest_path\":\"{}\"", manifest.display());
    let mut binaries = Vec::new();
    for line in stdout.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") || !line.contains(&manifest) {
            continue;
        }
        let Some(executable) = string_field(line, "executable") else {
            continue;
        };
        let Some(target) = line.split("\"target\":{").nth(1) else {
            continue;
        };
        let (Some(kind), Some(name)) = (
            target.split("\"kind\":[\"").nth(1),
            string_field(target, "name"),
        ) else {
            continue;
        };
        let name = if kind.starts_with("lib\"") {
            "lib".to_owned()
        } else if kind.starts_with("test\"") {
            name
        } else {
            continue;
        };
        binaries.push((name, executable));
    }
    Ok(binaries)
}

/// The first string value of `"field":"…"` in a JSON line (cargo's paths need no unescaping
/// on the systems this runs on).
fn string_field(json: &str, field: &str) -> Option<String> {
    let start = json.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_owned())
}

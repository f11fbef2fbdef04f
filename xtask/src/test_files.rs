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

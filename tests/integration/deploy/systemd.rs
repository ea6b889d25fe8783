//! systemd: the unit runs a command ragwatch has, keeps the history in its state directory,
//! is not restarted on a refused configuration, has room for connections and probes under
//! its open-files limit, and passes `systemd-analyze verify`.

use std::path::Path;
use std::process::Command;

use super::{BIN, assert_ragwatch_accepts, output, ragwatch_config, read, text, toml_str};

const UNIT: &str = "deploy/systemd/ragwatch.service";

/// `Key=value` lines of a unit's `[Service]` section, in order.
fn service_entries(unit: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut entries = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" && !line.starts_with('#') && !line.is_empty() {
            let (key, value) = line.split_once('=').unwrap();
            entries.push((key.to_owned(), value.to_owned()));
        }
    }
    entries
}

#[allow(clippy::print_stderr)]
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = read(UNIT);
    let entries = service_entries(&unit);
    let value = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key}="))
    };
    let exec: Vec<&str> = value("ExecStart").split_whitespace().collect();
    assert!(
        exec[0].ends_with("/ragwatch") && exec[1] == "serve",
        "{exec:?}"
    );
    assert_ragwatch_accepts(&exec[1..]);

    // Its Environment= lines make a valid configuration whose history is in the state
    // directory systemd creates and hands to the dynamic user.
    let env: Vec<(String, String)> = entries
        .iter()
        .filter(|(k, _)| k == "Environment")
        .map(|(_, v)| {
            let (name, value) = v.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let printed = ragwatch_config(&["config"], &env);
    let history = toml_str(&printed, "history.url");
    let state = format!("/var/lib/{}", value("StateDirectory"));
    assert_eq!(
        Path::new(history.strip_prefix("sqlite://").unwrap()).parent(),
        Some(Path::new(&state))
    );
    assert_eq!(value("WorkingDirectory"), state);

    // Not restarted on the exit code of a refused configuration, and that is ragwatch's.
    let refused = output(
        Command::new(BIN)
            .arg("config")
            .env_clear()
            .env("RAGWATCH_DB__KIND", "oracle"),
    );
    assert_eq!(
        refused.status.code().unwrap().to_string(),
        value("RestartPreventExitStatus"),
        "{}",
        text(&refused)
    );

    // Enough open files that the connection cap derived from them stays well above what a
    // monitor's clients need, with the probes' reserve beside it.
    let files: u64 = value("LimitNOFILE")
        .parse()
        .expect("LimitNOFILE= is a number");
    assert!(
        files >= 4 * ragwatch::api::DEFAULT_MAX_CONNECTIONS as u64 / 3,
        "LimitNOFILE={files} is below the default connection cap and its reserve"
    );

    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("systemd-analyze is not installed: the unit was not verified");
        return;
    }
    // verify needs ExecStart's program to exist: the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ragwatch.service");
    std::fs::write(&copy, unit.replace(exec[0], BIN)).unwrap();
    let out = output(Command::new(analyze).arg("verify").arg(&copy));
    assert!(out.status.success(), "{}", text(&out));
    // Unknown keys and bad values are only warnings: none may concern this unit.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("ragwatch")).collect();
    assert!(about_unit.is_empty(), "{}", text(&out));
}

//! The command line as an operator meets it: exit codes, error messages, redaction.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");

fn ragwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RAGWATCH_CONFIG")
        .env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("ragwatch runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file in tests/data/config/ is refused with exit 2 and exactly the message in the
/// `.err` file beside it, whichever command reads it and wherever `--config` stands.
#[test]
fn every_bad_config_exits_2_with_its_exact_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let relative = format!("tests/data/config/{name}");
        let expected = std::fs::read_to_string(path.with_extension("err")).unwrap();
        for args in [
            vec!["--config", relative.as_str(), "check"],
            vec!["config", "--config", relative.as_str()],
            vec!["serve", "--config", relative.as_str()],
        ] {
            let out = ragwatch(&args, &[]);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}");
            assert_eq!(text(&out.stderr), expected, "{name} {args:?}");
            assert!(out.stdout.is_empty(), "{name} printed on stdout");
        }
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} bad configs found");
}

#[test]
fn config_file_named_by_the_environment_is_read() {
    let out = ragwatch(
        &["config"],
        &[("RAGWATCH_CONFIG", "tests/data/config/unknown_kind.toml")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown_kind.toml:3: db.kind"));
}

#[test]
fn missing_config_file_exits_2() {
    let out = ragwatch(&["check", "--config", "/nonexistent/ragwatch.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ragwatch: invalid configuration: cannot read config file /nonexistent/ragwatch.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn config_prints_effective_values_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        "[server]\ntokens = [\"tok-file-1\"]\n[db]\nurl = \"mysql://root:db-pass-1@10.0.0.5:3306/rag_flow\"\n[doc_engine]\npassword = \"es-pass-1\"\n[storage]\nsecret_key = \"s3-secret-1\"\nbucket = \"ragflow\"\n",
    )
    .unwrap();
    let out = ragwatch(
        &["config", "--config", file.to_str().unwrap()],
        &[(
            "RAGWATCH_REDIS__URL",
            "redis://:redis-pass-1@10.0.0.6:6379/1",
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for secret in [
        "tok-file-1",
        "db-pass-1",
        "es-pass-1",
        "s3-secret-1",
        "redis-pass-1",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    // The effective values are there, credentials replaced.
    assert!(
        printed.contains("url = \"mysql://root:***@10.0.0.5:3306/rag_flow\""),
        "{printed}"
    );
    assert!(
        printed.contains("url = \"redis://:***@10.0.0.6:6379/1\""),
        "{printed}"
    );
    assert!(printed.contains("bucket = \"ragflow\""), "{printed}");
    assert!(printed.contains("secret_key = \"***\""), "{printed}");
    // What it prints is itself a valid configuration with the same shape.
    let reparsed: toml::Table = toml::from_str(&printed).unwrap();
    assert_eq!(reparsed["monitor"]["interval"].as_str(), Some("5s"));
}

#[test]
fn check_exits_1_and_names_each_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &file,
        "[db]\nurl = \"mysql://root:db-pass-2@127.0.0.1:1/rag_flow\"\n[redis]\nurl = \"redis://:redis-pass-2@127.0.0.1:1/1\"\n[doc_engine]\nurl = \"http://127.0.0.1:1\"\npassword = \"es-pass-2\"\n[storage]\nendpoint = \"http://127.0.0.1:1\"\nsecret_key = \"s3-secret-2\"\nrequired = false\n",
    )
    .unwrap();
    let table = ragwatch(&["check", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(table.status.code(), Some(1), "{}", text(&table.stderr));
    let printed = text(&table.stdout);
    assert!(
        printed.lines().next().unwrap().starts_with("COMPONENT"),
        "{printed}"
    );
    assert!(
        printed.contains("connection refused to 127.0.0.1:1"),
        "{printed}"
    );
    assert!(printed.contains("(not required)"), "{printed}");
    assert!(printed.ends_with("status: nok\n"), "{printed}");

    let json = ragwatch(
        &["--config", file.to_str().unwrap(), "check", "--json"],
        &[],
    );
    assert_eq!(json.status.code(), Some(1));
    let out = text(&json.stdout);
    for secret in ["db-pass-2", "redis-pass-2", "es-pass-2", "s3-secret-2"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
        assert!(
            !text(&json.stderr).contains(secret),
            "{secret} leaked on stderr"
        );
    }
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["status"], "nok");
    for key in ["db", "redis", "doc_engine", "storage"] {
        assert_eq!(body["components"][key]["status"], "red", "{key}");
        assert_eq!(
            body["components"][key]["error"], "connection refused to 127.0.0.1:1",
            "{key}"
        );
    }
    assert_eq!(body["components"]["storage"]["required"], false);
}

#[test]
fn check_exits_0_when_every_required_component_is_ok() {
    let out = ragwatch(
        &["check", "--json"],
        &[
            ("RAGWATCH_DB__URL", "mysql://root@127.0.0.1:3306/mysql"),
            ("RAGWATCH_REDIS__URL", "redis://127.0.0.1:6379/1"),
            ("RAGWATCH_DOC_ENGINE__ENABLED", "false"),
            ("RAGWATCH_STORAGE__REQUIRED", "false"),
            ("RAGWATCH_STORAGE__ENDPOINT", "http://127.0.0.1:1"),
        ],
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{body:#}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["components"]["db"]["status"], "green");
    assert!(body["components"]["db"]["details"]["version"].is_string());
    assert_eq!(body["components"]["storage"]["status"], "red");
    assert!(
        body["components"].get("doc_engine").is_none(),
        "disabled components are not listed"
    );
}

#[test]
fn help_describes_every_command() {
    let out = ragwatch(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for word in ["serve", "check", "config", "notify", "--config"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

/// What `ragwatch config` prints loads back and prints the same, for every storage kind:
/// `[storage]` holds only the keys its kind reads (another kind's key is refused).
#[test]
fn printed_config_loads_back_for_every_storage_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, storage) in [
        ("minio", "bucket = \"ragflow\""),
        (
            "oss",
            "endpoint = \"https://oss-cn-hangzhou.aliyuncs.com\"\naccess_key = \"ak\"\nsecret_key = \"sk-1\"\nregion = \"cn-hangzhou\"",
        ),
        (
            "azure",
            "account_name = \"acct\"\naccount_key = \"a2V5\"\ncontainer = \"ragflow\"",
        ),
        ("gcs", "bucket = \"ragflow\""),
    ] {
        let file = dir.path().join(format!("{kind}.toml"));
        std::fs::write(&file, format!("[storage]\nkind = \"{kind}\"\n{storage}\n")).unwrap();
        let first = ragwatch(&["config", "--config", file.to_str().unwrap()], &[]);
        assert_eq!(
            first.status.code(),
            Some(0),
            "{kind}: {}",
            text(&first.stderr)
        );
        let printed = dir.path().join(format!("{kind}-printed.toml"));
        std::fs::write(&printed, &first.stdout).unwrap();
        let second = ragwatch(&["config", "--config", printed.to_str().unwrap()], &[]);
        assert_eq!(
            second.status.code(),
            Some(0),
            "{kind}: {}",
            text(&second.stderr)
        );
        let table: toml::Table = toml::from_str(&text(&first.stdout)).unwrap();
        let again: toml::Table = toml::from_str(&text(&second.stdout)).unwrap();
        assert_eq!(again, table, "{kind}");
        let shown = table["storage"].as_table().unwrap();
        assert_eq!(
            shown.contains_key("access_key"),
            kind != "azure" && kind != "gcs",
            "{kind}: {shown:?}"
        );
        assert_eq!(
            shown.contains_key("container"),
            kind == "azure",
            "{kind}: {shown:?}"
        );
    }
}

/// The table's columns line up whatever the length of a key (`models.<name>` ones are long).
#[test]
fn check_table_columns_line_up_with_long_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        "[db]\nenabled = false\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [task_executors]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:1/1\"\n\
         [[models]]\nname = \"a-rather-long-embedding-model-name\"\nkind = \"tei\"\nurl = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = ragwatch(&["check", "--config", file.to_str().unwrap()], &[]);
    let printed = text(&out.stdout);
    let mut lines = printed.lines();
    let header = lines.next().unwrap();
    let status_at = header.find("STATUS").unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.starts_with("status:")).collect();
    assert_eq!(rows.len(), 2, "{printed}");
    for row in rows {
        assert_eq!(&row[status_at..status_at + 4], "red ", "{printed}");
        assert_eq!(row.as_bytes()[status_at - 1], b' ', "{printed}");
    }
}

/// Bad values given in the environment are refused as they are in a file: a secret of the
/// wrong type by its type alone, an ambiguous URL password without any part of it, empty
/// tokens, too short an interval.
#[test]
fn bad_environment_values_exit_2_without_showing_secrets() {
    for (name, value, expected, hidden) in [
        (
            "RAGWATCH_DB__URL",
            "12345",
            "db.url: invalid URL (relative URL without a base)",
            Some("12345"),
        ),
        (
            "RAGWATCH_DB__PASSWORD_FILE",
            "/nonexistent/db_password",
            "db.password_file: cannot read /nonexistent/db_password: No such file or directory",
            None,
        ),
        (
            "RAGWATCH_REDIS__URL",
            "redis://:p@ss#w/rd?x%y:z@127.0.0.1:6379/1",
            "redis.url: its user info cannot be read unambiguously: percent-encode",
            Some("ss#w"),
        ),
        (
            "RAGWATCH_SERVER__TOKENS",
            ",",
            "server.tokens: token 1 is empty;",
            None,
        ),
        (
            "RAGWATCH_MONITOR__INTERVAL",
            "1ns",
            "monitor.interval: interval 1ns is shorter than 100ms",
            None,
        ),
    ] {
        for command in ["config", "check"] {
            let out = ragwatch(&[command], &[(name, value)]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert!(
                stderr.starts_with(&format!(
                    "ragwatch: invalid configuration: environment variable {name}: {expected}"
                )),
                "{name}: {stderr}"
            );
            for part in hidden.into_iter().chain(["p@ss", "rd?x", "x%y"]) {
                assert!(!stderr.contains(part), "{name}: {part} in {stderr}");
            }
            assert!(out.stdout.is_empty(), "{name}");
        }
    }
}

/// `config` prints the effective observer (the host name when unset) and each duration in
/// its largest whole unit, and what it prints loads back the same (only the comments saying
/// where each secret came from change).
#[test]
fn config_prints_the_observer_and_exact_durations() {
    let out = ragwatch(&["config"], &[("HOSTNAME", "watch-host-1")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let table: toml::Table = toml::from_str(&printed).unwrap();
    let history = &table["history"];
    assert_eq!(
        history["observer"].as_str(),
        Some("watch-host-1"),
        "{printed}"
    );
    assert_eq!(history["incidents_retention"].as_str(), Some("90d"));
    assert_eq!(history["results_retention"].as_str(), Some("7d"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("printed.toml");
    std::fs::write(&file, &printed).unwrap();
    let again = ragwatch(
        &["config", "--config", file.to_str().unwrap()],
        &[("HOSTNAME", "another-host")],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let path = file.display().to_string();
    assert_eq!(
        text(&again.stdout),
        printed
            .replace("  # default", "  # from FILE")
            .lines()
            .enumerate()
            .map(|(i, line)| format!("{}\n", line.replace("FILE", &format!("{path}:{}", i + 1))))
            .collect::<String>()
    );
}

/// A receiver's template is printed as written, and the printed configuration loads back.
#[test]
fn config_prints_a_receivers_template_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    let template = "*{{ summary }}* in {{ labels.deployment }}\n{% if duration %}lasted {{ duration }}{% endif %}\n";
    std::fs::write(
        &file,
        format!(
            "[alerts.labels]\ndeployment = \"prod\"\n[[alerts.slack]]\nurl = \"https://hooks.slack.example/services/T/B/slack-Tok-1\"\ntemplate = \"\"\"\n{template}\"\"\"\n"
        ),
    )
    .unwrap();
    let out = ragwatch(&["config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(!printed.contains("slack-Tok-1"), "{printed}");
    let table: toml::Table = toml::from_str(&printed).unwrap();
    assert_eq!(
        table["alerts"]["slack"][0]["template"].as_str(),
        Some(template)
    );
    let again = dir.path().join("printed.toml");
    std::fs::write(&again, &printed).unwrap();
    let out = ragwatch(&["config", "--config", again.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

//! The operator files in `deploy/` and the `Dockerfile`, each checked against the real
//! thing: promtool and amtool on the Prometheus and Alertmanager files; a real Prometheus
//! running the example config and rules against a running ragwatch, and answering every
//! dashboard query; a real Alertmanager inhibiting the task executors' alerts while Redis
//! is down; the dashboard's and the rules' metric names against a real scrape; the compose
//! and Kubernetes environments through `ragwatch config`; the systemd unit through
//! `systemd-analyze verify`; the Dockerfile's commands through the binary's own parser and
//! its build context through cargo.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::app::TestApp;
use common::daemon::Daemon;
use common::ragflow::{Beat, redis, unix_now, write_beats};
use common::{FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RedisInstance, free_port};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");
const TOKEN: &str = "deploy-Token-42";

// ---------------------------------------------------------------------------------------------
// Files and processes.

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn yaml_documents(path: &str) -> Vec<Yaml> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Yaml::deserialize(document).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn output(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command that must exit 0; returns its stdout.
fn run_ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(out.status.success(), "{command:?} failed:\n{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Whether ragwatch's argument parser accepts these arguments (subcommand and flags): clap
/// reads them all before `--help` prints and exits 0, and refuses an unknown one with 2.
fn assert_ragwatch_accepts(args: &[&str]) {
    let out = output(Command::new(BIN).args(args).arg("--help"));
    assert!(
        out.status.success(),
        "ragwatch does not accept {args:?}:\n{}",
        text(&out)
    );
}

/// `ragwatch config` with exactly this environment: the effective configuration, as TOML.
fn ragwatch_config(args: &[&str], env: &[(String, String)]) -> toml::Table {
    let stdout = run_ok(
        Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().cloned()),
    );
    toml::from_str(&stdout).unwrap_or_else(|e| panic!("ragwatch config printed non-TOML: {e}"))
}

fn toml_str<'a>(table: &'a toml::Table, path: &str) -> &'a str {
    let (sections, key) = path.rsplit_once('.').unwrap();
    let mut current = table;
    for section in sections.split('.') {
        current = current[section].as_table().unwrap();
    }
    current[key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn listen_port(config: &toml::Table) -> u16 {
    toml_str(config, "server.listen")
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// Metric and label names in PromQL, Grafana queries and an exposition.

/// Metric names a query reads, and label names it matches or groups on.
#[derive(Debug, Default, PartialEq)]
struct Names {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];
const GROUPINGS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Index after the string literal that starts at `start` (quote included).
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Reads the metric names (identifiers that are neither functions, aggregations, keywords
/// nor label names) and the label names of a PromQL expression. Grafana variables (`$x`,
/// `${x}`) are skipped.
fn promql_names(expr: &str) -> Names {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Names::default();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
        } else if c == '[' {
            // Ranges and subqueries: durations and variables only.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            // Label matchers: `name op "value"`, comma-separated.
            i += 1;
            while i < chars.len() && chars[i] != '}' {
                if matches!(chars[i], '"' | '\'' | '`') {
                    i = skip_string(&chars, i);
                } else if is_ident_start(chars[i]) {
                    let start = i;
                    while i < chars.len() && is_ident(chars[i]) {
                        i += 1;
                    }
                    names.labels.insert(chars[start..i].iter().collect());
                } else {
                    i += 1;
                }
            }
            i += 1;
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers and durations (`0.95`, `5m`, `1e3`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_space(&chars, i);
            let call = chars.get(next) == Some(&'(');
            if GROUPINGS.contains(&word.as_str()) {
                if call {
                    i = next + 1;
                    while i < chars.len() && chars[i] != ')' {
                        if is_ident_start(chars[i]) {
                            let start = i;
                            while i < chars.len() && is_ident(chars[i]) {
                                i += 1;
                            }
                            names.labels.insert(chars[start..i].iter().collect());
                        } else {
                            i += 1;
                        }
                    }
                    i += 1;
                }
            } else if !call
                && !AGGREGATIONS.contains(&word.as_str())
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                names.metrics.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The names a Grafana variable query reads: `label_values(selector, label)` names the
/// selector's metrics and the label; anything else is PromQL.
fn grafana_variable_names(query: &str) -> Names {
    let Some(args) = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return promql_names(query);
    };
    match args.rsplit_once(',') {
        Some((selector, label)) => {
            let mut names = promql_names(selector);
            names.labels.insert(label.trim().to_owned());
            names
        }
        None => Names {
            metrics: BTreeSet::new(),
            labels: BTreeSet::from([args.trim().to_owned()]),
        },
    }
}

/// What one scrape of `/metrics` (classic text format) contains.
#[derive(Debug, Default)]
struct Exposition {
    /// Sample names: `ragwatch_probes_total`, `ragwatch_probe_duration_seconds_bucket`, ...
    samples: BTreeSet<String>,
    /// Metric families with their type, from the `# TYPE` lines.
    families: BTreeMap<String, String>,
    /// Every label name on any sample.
    labels: BTreeSet<String>,
}

fn parse_exposition(text: &str) -> Exposition {
    let mut exposition = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            exposition.families.insert(name.into(), kind.into());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap();
        exposition.samples.insert(line[..end].to_owned());
        if line[end..].starts_with('{') {
            let chars: Vec<char> = line[end + 1..].chars().collect();
            let mut i = 0;
            while i < chars.len() && chars[i] != '}' {
                let start = i;
                while chars[i] != '=' {
                    i += 1;
                }
                exposition
                    .labels
                    .insert(chars[start..i].iter().collect::<String>());
                i = skip_string(&chars, i + 1);
                if chars.get(i) == Some(&',') {
                    i += 1;
                }
            }
        }
    }
    exposition
}

/// Label names Prometheus attaches to every scraped series itself.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// The names in `names` that a scrape does not have: metric names must be sample names as
/// exported (a histogram is read through `_bucket`, `_sum` and `_count`), label names must
/// be on some sample or be a target label. `also` are series Prometheus makes itself.
fn not_exported(names: &Names, exposition: &Exposition, also: &[&str]) -> Vec<String> {
    let metrics = names
        .metrics
        .iter()
        .filter(|m| !exposition.samples.contains(*m) && !also.contains(&m.as_str()))
        .map(|m| format!("metric {m}"));
    let labels = names
        .labels
        .iter()
        .filter(|l| !exposition.labels.contains(*l) && !TARGET_LABELS.contains(&l.as_str()))
        .map(|l| format!("label {l}"));
    metrics.chain(labels).collect()
}

#[test]
fn metric_and_label_names_are_read_from_queries() {
    let names = promql_names(
        "histogram_quantile(0.95, sum by (component, le) (rate(ragwatch_probe_duration_seconds_bucket{instance=~\"$instance\", component!=\"a,b}\"}[$__rate_interval]))) \
         / on (job) group_left sum without (kind) (ragwatch_probes_total offset 5m) > bool 1e3 \
         unless ragwatch_component_up{kind='x'} == 0 and ignoring(executor) vector(0) or ${other} + Inf",
    );
    assert_eq!(
        names.metrics,
        BTreeSet::from([
            "ragwatch_probe_duration_seconds_bucket".to_owned(),
            "ragwatch_probes_total".to_owned(),
            "ragwatch_component_up".to_owned(),
        ])
    );
    assert_eq!(
        names.labels,
        ["component", "le", "instance", "job", "kind", "executor"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(
        grafana_variable_names(
            "label_values(ragwatch_component_up{instance=~\"$instance\"}, component)"
        ),
        Names {
            metrics: BTreeSet::from(["ragwatch_component_up".to_owned()]),
            labels: ["instance", "component"].map(str::to_owned).into(),
        }
    );
    // A misspelled name is reported, and a histogram is not read by its family name.
    let exposition = parse_exposition(
        "# TYPE ragwatch_probe_duration_seconds histogram\nragwatch_probe_duration_seconds_bucket{le=\"0.1\",component=\"db\"} 1\n",
    );
    let names = promql_names(
        "ragwatch_probe_duration_seconds{component=\"db\"} + ragwatch_probe_duration_seconds_bucket{compnent=\"db\"}",
    );
    assert_eq!(
        not_exported(&names, &exposition, &[]),
        ["metric ragwatch_probe_duration_seconds", "label compnent"]
    );
}

// ---------------------------------------------------------------------------------------------
// A ragwatch exporting every series: a red required database, Redis with a live task
// executor, the history store and an alert receiver.

struct Watched {
    app: TestApp,
    _redis: RedisInstance,
    _hook: FixtureServer,
}

async fn watched() -> Watched {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    // Alive for a minute: as long as these tests take.
    write_beats(
        &mut conn,
        "te_deploy",
        &[Beat::new(unix_now() - 1.0, 12, 1)],
    )
    .await;
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await;
    let toml = format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n[monitor]\ninterval = \"300ms\"\ntimeout = \"1s\"\n\
         [db]\nurl = \"mysql://root:pw@127.0.0.1:{}/rag_flow\"\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [alerts]\n[[alerts.webhook]]\nurl = \"{}/hook\"\n",
        free_port(),
        server.url(),
        hook.url()
    );
    Watched {
        app: TestApp::start(&toml).await,
        _redis: server,
        _hook: hook,
    }
}

/// Scrapes until the history store and the executor are in the exposition.
async fn full_scrape(app: &TestApp) -> Exposition {
    let mut text = String::new();
    for _ in 0..100 {
        text = app.get_as("/metrics", Some(TOKEN)).await.2;
        if text.lines().any(|l| l == "ragwatch_history_up 1")
            && text.contains("ragwatch_task_executor_alive{executor=\"te_deploy\"} 1")
        {
            return parse_exposition(&text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the exposition never had the history and the executor:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Prometheus rules and config.

const RULES: &str = "deploy/prometheus/ragwatch-rules.yml";
const RULE_TESTS: &str = "deploy/prometheus/ragwatch-rules.test.yml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";

fn alert_rules() -> Vec<Yaml> {
    yaml(RULES)["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_sequence().unwrap().clone())
        .collect()
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests_fire_every_alert() {
    run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(repo(RULES)),
    );
    run_ok(
        Command::new("promtool")
            .args(["test", "rules"])
            .arg(repo(RULE_TESTS)),
    );

    let rules = alert_rules();
    assert!(!rules.is_empty());
    let mut fired = BTreeSet::new();
    for test in yaml(RULE_TESTS)["tests"].as_sequence().unwrap() {
        for case in test["alert_rule_test"].as_sequence().unwrap() {
            let expected = case["exp_alerts"].as_sequence().unwrap();
            for alert in expected {
                // Labels Alertmanager's inhibition and routing rely on.
                for label in ["component", "severity"] {
                    assert!(
                        alert["exp_labels"][label].is_string(),
                        "{case:?} lacks {label}"
                    );
                }
            }
            if !expected.is_empty() {
                fired.insert(case["alertname"].as_str().unwrap().to_owned());
            }
        }
    }
    for rule in &rules {
        let name = rule["alert"].as_str().expect("only alerting rules");
        assert!(fired.contains(name), "no unit test fires {name}");
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?} is not one of ragwatch's"
        );
    }
}

#[test]
fn the_example_prometheus_config_passes_promtool() {
    // The scrape job's token file must exist for promtool; it is read next to the config.
    let dir = tempfile::tempdir().unwrap();
    for file in [PROMETHEUS, RULES] {
        std::fs::copy(
            repo(file),
            dir.path().join(Path::new(file).file_name().unwrap()),
        )
        .unwrap();
    }
    let config = yaml(PROMETHEUS);
    let job = ragwatch_job(&config);
    let token = job["authorization"]["credentials_file"].as_str().unwrap();
    std::fs::write(dir.path().join(token), TOKEN).unwrap();
    let out = run_ok(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(dir.path()),
    );
    assert!(out.contains("1 rule files found"), "{out}");
    let rule_files = config["rule_files"].as_sequence().unwrap();
    assert_eq!(rule_files, &[Yaml::from("ragwatch-rules.yml")]);
}

fn ragwatch_job(config: &Yaml) -> &Yaml {
    config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|job| job["job_name"] == "ragwatch")
        .expect("a scrape job named ragwatch, as the rules' up{job=\"ragwatch\"} expects")
}

// ---------------------------------------------------------------------------------------------
// The Grafana dashboard.

const DASHBOARD: &str = "deploy/grafana/ragwatch-dashboard.json";

fn dashboard() -> Json {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Json) -> Vec<&Json> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// Every panel query's expression.
fn dashboard_exprs(dashboard: &Json) -> Vec<String> {
    panels(dashboard)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect()
}

fn variable_query(variable: &Json) -> &str {
    variable["query"]
        .as_str()
        .or_else(|| variable["query"]["query"].as_str())
        .unwrap()
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard = dashboard();
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let variables: Vec<&Json> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let mut defined: BTreeSet<String> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    defined.extend(["__rate_interval", "__interval", "__range"].map(str::to_owned));
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a data source variable");
    assert_eq!(datasource["query"], "prometheus");
    let datasource_ref = format!("${{{}}}", datasource["name"].as_str().unwrap());

    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(&str, [u64; 4])> = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id taken"
        );
        let grid = &panel["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| grid[k].as_u64().unwrap());
        assert!(x + w <= 24, "{title}: wider than the dashboard");
        for (other, [oh, ow, ox, oy]) in &boxes {
            let apart = x >= ox + ow || ox >= &(x + w) || y >= oy + oh || oy >= &(y + h);
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((title, [h, w, x, y]));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"],
            datasource_ref.as_str(),
            "{title}"
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(
                refs.insert(target["refId"].as_str().unwrap()),
                "{title}: refId twice"
            );
            let expr = target["expr"].as_str().unwrap();
            assert!(
                promql_names(expr)
                    .metrics
                    .iter()
                    .any(|m| m.starts_with("ragwatch_")),
                "{title}: `{expr}` reads no ragwatch metric"
            );
            for used in grafana_variables(expr) {
                assert!(defined.contains(&used), "{title}: ${used} is not defined");
            }
        }
    }
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let query = variable_query(variable);
        for used in grafana_variables(query) {
            assert!(defined.contains(&used), "variable query {query}: ${used}");
        }
    }
}

/// Names of the `$x` / `${x}` variables an expression uses.
fn grafana_variables(expr: &str) -> Vec<String> {
    let mut used = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        used.push(name);
    }
    used
}

#[tokio::test]
async fn every_name_in_the_dashboard_and_the_rules_is_exported_by_a_running_ragwatch() {
    let watched = watched().await;
    let exposition = full_scrape(&watched.app).await;

    let dashboard = dashboard();
    let mut shown = BTreeSet::new();
    let mut queries: Vec<(String, Names)> = dashboard_exprs(&dashboard)
        .into_iter()
        .map(|expr| {
            let names = promql_names(&expr);
            (expr, names)
        })
        .collect();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            let query = variable_query(variable).to_owned();
            let names = grafana_variable_names(&query);
            queries.push((query, names));
        }
    }
    for (query, names) in &queries {
        let missing = not_exported(names, &exposition, &[]);
        assert!(
            missing.is_empty(),
            "dashboard `{query}`: {missing:?} not exported"
        );
        shown.extend(names.metrics.iter().cloned());
    }
    // And the other way round: the dashboard shows every family ragwatch exports.
    for (family, kind) in &exposition.families {
        let read = |sample: &str| shown.contains(sample);
        let covered = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| read(&format!("{family}{suffix}"))),
            _ => read(family),
        };
        assert!(covered, "no dashboard panel shows {family}");
    }

    for rule in alert_rules() {
        let expr = rule["expr"].as_str().unwrap();
        // `up` is the one series Prometheus writes itself for every target.
        let missing = not_exported(&promql_names(expr), &exposition, &["up"]);
        assert!(
            missing.is_empty(),
            "rule `{expr}`: {missing:?} not exported"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus with the example config, the rules and the dashboard's queries.

/// Polls `check` every 250 ms for up to 30 s; returns its first success or panics with
/// its last complaint.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut last = String::new();
    for _ in 0..120 {
        match check().await {
            Ok(value) => return value,
            Err(complaint) => last = complaint,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what}: {last}");
}

#[tokio::test]
async fn a_real_prometheus_runs_the_example_config_rules_and_dashboard_queries() {
    let watched = watched().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo(RULES), dir.path().join("ragwatch-rules.yml")).unwrap();
    let mut config = yaml(PROMETHEUS);
    // Only timing and addresses change: evaluate quickly, scrape this test's ragwatch, and
    // send no alerts (pending ones are enough).
    config["global"]["scrape_interval"] = "500ms".into();
    config["global"]["scrape_timeout"] = "400ms".into();
    config["global"]["evaluation_interval"] = "500ms".into();
    config.as_mapping_mut().unwrap().remove("alerting");
    let jobs = config["scrape_configs"].as_sequence_mut().unwrap();
    let job = jobs
        .iter_mut()
        .find(|j| j["job_name"] == "ragwatch")
        .unwrap();
    job["static_configs"][0]["targets"] = vec![Yaml::from(watched.app.addr.to_string())].into();
    let token = job["authorization"]["credentials_file"].as_str().unwrap();
    std::fs::write(dir.path().join(token), TOKEN).unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    let prometheus = Daemon::start("prometheus", &file, dir, &[]).await;

    // Every rule loads and evaluates without error against the real series.
    let expected = alert_rules().len();
    let prometheus = &prometheus;
    eventually("the rules evaluate", || async move {
        let body = prometheus.get("/api/v1/rules", &[]).await;
        let rules: Vec<&Json> = body["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        let healthy = rules.iter().filter(|r| r["health"] == "ok").count();
        if rules.len() == expected && healthy == expected {
            Ok(())
        } else {
            Err(format!("{healthy} of {expected} healthy: {body}"))
        }
    })
    .await;

    // The database is red and required: its alert is pending, labelled as ragwatch's own.
    eventually("RagwatchComponentDown for db", || async move {
        let body = prometheus.get("/api/v1/alerts", &[]).await;
        let found = body["data"]["alerts"].as_array().unwrap().iter().any(|a| {
            a["labels"]["alertname"] == "RagwatchComponentDown"
                && a["labels"]["component"] == "db"
                && a["labels"]["kind"] == "mysql"
                && a["labels"]["severity"] == "critical"
        });
        found.then_some(()).ok_or(body.to_string())
    })
    .await;

    // Each dashboard query, with Grafana's variables as "All", answers with data.
    for expr in dashboard_exprs(&dashboard()) {
        let promql = expr
            .replace("$__rate_interval", "5s")
            .replace("$instance", ".*")
            .replace("$component", ".*");
        assert!(!promql.contains('$'), "unknown variable in {expr}");
        let promql = promql.as_str();
        eventually(&format!("dashboard query {promql}"), || async move {
            let body = prometheus.get("/api/v1/query", &[("query", promql)]).await;
            let answered = body["status"] == "success"
                && !body["data"]["result"].as_array().unwrap().is_empty();
            answered.then_some(()).ok_or(body.to_string())
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager.

const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";

#[test]
fn the_alertmanager_example_passes_amtool_and_pages_only_for_critical() {
    run_ok(
        Command::new("amtool")
            .arg("check-config")
            .arg(repo(ALERTMANAGER)),
    );
    let route = |labels: &[&str]| {
        run_ok(
            Command::new("amtool")
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", repo(ALERTMANAGER).display()))
                .args(labels),
        )
        .trim()
        .to_owned()
    };
    let oncall = route(&[
        "alertname=RagwatchComponentDown",
        "component=redis",
        "severity=critical",
    ]);
    let team = route(&[
        "alertname=RagwatchComponentDown",
        "component=task_executors",
        "severity=warning",
    ]);
    assert_ne!(
        oncall, team,
        "critical and warning alerts reach different receivers"
    );
}

/// The Alertmanager's alerts with these labels.
async fn alerts_where(alertmanager: &Daemon, labels: &[(&str, &str)]) -> Vec<Json> {
    let all = alertmanager.get("/api/v2/alerts", &[]).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| labels.iter().all(|(k, v)| a["labels"][*k] == *v))
        .cloned()
        .collect()
}

#[tokio::test]
async fn while_redis_is_down_a_real_alertmanager_holds_back_the_task_executor_alerts() {
    // The example config, its receivers pointed at a local server.
    let receiver = FixtureServer::start([("POST", "*", FixtureResponse::new(200, "ok"))]).await;
    let mut config = yaml(ALERTMANAGER);
    for entry in config["receivers"].as_sequence_mut().unwrap() {
        let name = entry["name"].as_str().unwrap().to_owned();
        let kinds: Vec<String> = entry
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .filter(|k| k != "name")
            .collect();
        assert_eq!(
            kinds,
            ["webhook_configs"],
            "{name}: only webhooks can be pointed here"
        );
        for webhook in entry["webhook_configs"].as_sequence_mut().unwrap() {
            webhook["url"] = format!("{}/{name}", receiver.url()).into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    let alertmanager = Daemon::start(
        "prometheus-alertmanager",
        &file,
        dir,
        &["--cluster.listen-address="],
    )
    .await;

    // ragwatch sends its own alerts: Redis through a proxy the test can cut, and no task
    // executor has ever written a heartbeat, so task_executors is red (not required).
    let server = RedisInstance::start(None).await;
    let proxy = FaultProxy::start(server.addr()).await;
    let app = TestApp::start_unscheduled(&format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"1s\"\n[db]\nenabled = false\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://{}/1\"\n\
         [alerts]\nfailure_threshold = 2\n[[alerts.alertmanager]]\nurl = \"{}\"\n",
        proxy.host_port(),
        alertmanager.url("")
    ))
    .await;
    fresh(&app).await;
    fresh(&app).await;
    // The same outage as Prometheus' rules would report it, for one executor.
    let from_rules = [
        ("alertname", "RagwatchTaskExecutorLost"),
        ("component", "task_executors"),
        ("kind", "redis"),
        ("severity", "warning"),
        ("executor", "te_1"),
        ("job", "ragwatch"),
        ("instance", "ragwatch:9390"),
    ];
    let labels: serde_json::Map<String, Json> = from_rules
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let posted = reqwest::Client::new()
        .post(alertmanager.url("/api/v2/alerts"))
        .json(&serde_json::json!([{"labels": labels, "annotations": {"summary": "te_1 stopped"}}]))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let from_ragwatch = [
        ("alertname", "RagwatchComponentDown"),
        ("component", "task_executors"),
        ("severity", "warning"),
    ];

    // Redis works: both executor alerts are active, nothing inhibits them.
    let alertmanager = &alertmanager;
    for labels in [&from_ragwatch[..], &from_rules[..]] {
        eventually("the executor alert is active", || async move {
            let alerts = alerts_where(alertmanager, labels).await;
            match alerts.as_slice() {
                [alert] if alert["status"]["state"] == "active" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    // Redis goes down: ragwatch fires for it, and Alertmanager holds back both executor
    // alerts because of it.
    proxy.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    fresh(&app).await;
    let redis_down = &[
        ("alertname", "RagwatchComponentDown"),
        ("component", "redis"),
    ][..];
    let fingerprint: String = eventually("the Redis alert is active", || async move {
        let alerts = alerts_where(alertmanager, redis_down).await;
        match alerts.as_slice() {
            [alert] if alert["status"]["state"] == "active" => {
                assert_eq!(alert["labels"]["severity"], "critical");
                Ok(alert["fingerprint"].as_str().unwrap().to_owned())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let inhibited_by = &serde_json::json!([fingerprint]);
    for labels in [&from_ragwatch[..], &from_rules[..]] {
        eventually("the executor alert is inhibited by Redis", || async move {
            let alerts = alerts_where(alertmanager, labels).await;
            match alerts.as_slice() {
                [alert]
                    if alert["status"]["state"] == "suppressed"
                        && &alert["status"]["inhibitedBy"] == inhibited_by =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let redis_alert = alerts_where(alertmanager, redis_down).await;
    assert_eq!(
        redis_alert[0]["status"]["state"], "active",
        "{redis_alert:?}"
    );
}

async fn fresh(app: &TestApp) {
    app.get_json("/v1/system/healthz?fresh=1").await;
}

// ---------------------------------------------------------------------------------------------
// docker compose next to RAGFlow's.

const COMPOSE: &str = "deploy/compose/docker-compose.ragwatch.yml";
/// RAGFlow's stock docker files (`env` and `service_conf.yaml.template` of its `docker/`),
/// recorded in `tests/fixtures/ragflow/docker/`.
fn ragflow_docker(file: &str) -> String {
    let path = common::fixture_path("ragflow/docker").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replaces `$$`, `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` as docker
/// compose (and RAGFlow's template rendering) do.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').expect("unclosed ${");
            let expr = &inner[..end];
            rest = &inner[end + 1..];
            let name_end = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_end);
            let value = vars.get(name);
            out.push_str(&match op {
                "" => value.cloned().unwrap_or_default(),
                _ if op.starts_with(":-") => value
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| interpolate(&op[2..], vars)),
                _ if op.starts_with('-') => value
                    .cloned()
                    .unwrap_or_else(|| interpolate(&op[1..], vars)),
                _ => panic!("interpolation ${{{expr}}} is not handled here"),
            });
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The variables of a compose `.env` file, each interpolated with those before it.
fn dotenv(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, raw) = line.split_once('=').unwrap();
        let raw = raw.trim();
        let value = match raw.chars().next() {
            Some(q @ ('"' | '\'')) => raw[1..].split(q).next().unwrap().to_owned(),
            _ => raw.split(" #").next().unwrap().trim().to_owned(),
        };
        let value = interpolate(&value, &vars);
        vars.insert(name.trim().to_owned(), value);
    }
    vars
}

/// RAGFlow's own view of its services, from its service_conf.yaml.template.
fn ragflow_service_conf(vars: &BTreeMap<String, String>) -> Yaml {
    let template = ragflow_docker("service_conf.yaml.template");
    serde_norway::from_str(&interpolate(&template, vars)).unwrap()
}

fn yaml_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Asserts that a loaded configuration points where RAGFlow itself goes.
fn assert_points_at_ragflow(config: &ragwatch::config::Config, ragflow: &Yaml, whose: &str) {
    let db = config.db.url.expose();
    let mysql = &ragflow["mysql"];
    assert_eq!(db.scheme(), "mysql", "{whose}");
    assert_eq!(db.host_str().unwrap(), yaml_text(&mysql["host"]), "{whose}");
    assert_eq!(
        db.port_or_known_default().unwrap().to_string(),
        yaml_text(&mysql["port"])
    );
    assert_eq!(
        db.path(),
        format!("/{}", yaml_text(&mysql["name"])),
        "{whose}"
    );
    assert_eq!(db.username(), yaml_text(&mysql["user"]), "{whose}");
    assert_eq!(
        db.password().unwrap(),
        yaml_text(&mysql["password"]),
        "{whose}"
    );

    let url = config.redis.url.expose();
    let redis = &ragflow["redis"];
    let host_port = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
    assert_eq!(host_port, yaml_text(&redis["host"]), "{whose}");
    assert_eq!(
        url.path(),
        format!("/{}", yaml_text(&redis["db"])),
        "{whose}"
    );
    assert_eq!(url.username(), yaml_text(&redis["username"]), "{whose}");
    assert_eq!(
        url.password().unwrap(),
        yaml_text(&redis["password"]),
        "{whose}"
    );
    assert_eq!(config.heartbeat_redis().expose(), url, "{whose}");

    let es = &ragflow["es"];
    let doc_engine = config.doc_engine.url.expose().as_str();
    assert_eq!(
        doc_engine.trim_end_matches('/'),
        yaml_text(&es["hosts"]),
        "{whose}"
    );
    assert_eq!(
        config.doc_engine.username,
        yaml_text(&es["username"]),
        "{whose}"
    );
    assert_eq!(
        config.doc_engine.password.expose(),
        yaml_text(&es["password"])
    );

    let minio = &ragflow["minio"];
    let ragwatch::config::StorageService::Minio(storage) = &config.storage.service else {
        panic!("{whose}: storage is not MinIO");
    };
    let endpoint = &storage.endpoint;
    let host_port = format!(
        "{}:{}",
        endpoint.host_str().unwrap(),
        endpoint.port().unwrap()
    );
    assert_eq!(host_port, yaml_text(&minio["host"]), "{whose}");
    assert_eq!(storage.access_key, yaml_text(&minio["user"]), "{whose}");
    assert_eq!(storage.secret_key.expose(), yaml_text(&minio["password"]));
    assert_eq!(storage.bucket, yaml_text(&minio["bucket"]), "{whose}");
}

#[test]
fn the_compose_fragment_points_ragwatch_at_a_stock_ragflow() {
    let compose = yaml(COMPOSE);
    let service = &compose["services"]["ragwatch"];
    let stock = dotenv(&ragflow_docker("env"));
    // As shipped, and as an operator who followed .env's advice and changed every password.
    let mut changed = stock.clone();
    for (name, value) in [
        ("MYSQL_PASSWORD", "mysql-Pw-81"),
        ("REDIS_PASSWORD", "redis-Pw-82"),
        ("ELASTIC_PASSWORD", "elastic-Pw-83"),
        ("MINIO_PASSWORD", "minio-Pw-84"),
        ("MINIO_USER", "minio-user-85"),
    ] {
        changed.insert(name.into(), value.into());
    }
    for (whose, vars) in [("stock .env", &stock), ("changed .env", &changed)] {
        let env: Vec<(String, String)> = service["environment"]
            .as_mapping()
            .expect("environment as a mapping")
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_owned(),
                    interpolate(&yaml_text(v), vars),
                )
            })
            .collect();
        let ragflow = ragflow_service_conf(vars);
        let config =
            ragwatch::config::load(None, env.clone()).unwrap_or_else(|e| panic!("{whose}: {e}"));
        assert_points_at_ragflow(&config, &ragflow, whose);

        // The binary accepts exactly this environment and shows no password.
        let printed = ragwatch_config(&["config"], &env);
        let mysql = &ragflow["mysql"];
        assert_eq!(
            toml_str(&printed, "db.url"),
            format!(
                "mysql://{}:***@{}:{}/{}",
                yaml_text(&mysql["user"]),
                yaml_text(&mysql["host"]),
                yaml_text(&mysql["port"]),
                yaml_text(&mysql["name"])
            )
        );
        let shown = toml::to_string(&printed).unwrap();
        for secret in [
            "MYSQL_PASSWORD",
            "REDIS_PASSWORD",
            "ELASTIC_PASSWORD",
            "MINIO_PASSWORD",
        ] {
            assert!(!shown.contains(&vars[secret]), "{whose}: {secret} shown");
        }

        // The published port is the one ragwatch listens on.
        let ports = service["ports"].as_sequence().unwrap();
        assert_eq!(ports.len(), 1);
        let mapping = interpolate(&yaml_text(&ports[0]), vars);
        let container_port: u16 = mapping.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(container_port, listen_port(&printed), "{whose}: {mapping}");

        // The history file is in a volume, so it outlives the container.
        let history = toml_str(&printed, "history.url");
        let history_dir = Path::new(history.strip_prefix("sqlite://").unwrap())
            .parent()
            .unwrap();
        let volumes: Vec<String> = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| yaml_text(v).split(':').nth(1).unwrap().to_owned())
            .collect();
        assert!(
            volumes.iter().any(|v| Path::new(v) == history_dir),
            "{history} is not in a volume: {volumes:?}"
        );
    }

    let test: Vec<String> = service["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(yaml_text)
        .collect();
    assert_eq!(test[..2], ["CMD", "ragwatch"], "{test:?}");
    assert_eq!(test[2], "check");
    assert_ragwatch_accepts(&test[2..].iter().map(String::as_str).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.

const KUBERNETES: &str = "deploy/kubernetes/ragwatch.yaml";

fn of_kind<'a>(documents: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {KUBERNETES}"))
}

/// Asserts every `key: value` of `subset` is in `labels`.
fn assert_selects(selector: &Yaml, labels: &Yaml, what: &str) {
    let selector = selector.as_mapping().unwrap();
    assert!(!selector.is_empty(), "{what}: empty selector");
    for (key, value) in selector {
        assert_eq!(
            &labels[key.as_str().unwrap()],
            value,
            "{what} does not select the pod"
        );
    }
}

/// The pod's environment as Kubernetes builds it: secret values from `secrets`, and
/// `$(NAME)` replaced only by variables defined earlier in the list.
fn pod_env(container: &Yaml, secrets: &BTreeMap<&str, &str>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for entry in container["env"].as_sequence().unwrap() {
        let name = entry["name"].as_str().unwrap().to_owned();
        let value = if let Some(value) = entry["value"].as_str() {
            let mut expanded = value.to_owned();
            for (earlier, earlier_value) in &env {
                expanded = expanded.replace(&format!("$({earlier})"), earlier_value);
            }
            expanded
        } else {
            let key = entry["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
            secrets
                .get(key)
                .unwrap_or_else(|| panic!("no secret value {key}"))
                .to_string()
        };
        env.push((name, value));
    }
    env
}

#[tokio::test]
async fn the_kubernetes_example_is_consistent_and_its_probes_answer() {
    let documents = yaml_documents(KUBERNETES);
    let deployment = of_kind(&documents, "Deployment", "ragwatch");
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert_selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels,
        "Deployment",
    );
    let containers = pod["spec"]["containers"].as_sequence().unwrap();
    let container = &containers[0];

    // The configuration the pod would load: its file from the mounted ConfigMap, the
    // passwords from the secret.
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    assert_ragwatch_accepts(&args);
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    let volumes = pod["spec"]["volumes"].as_sequence().unwrap();
    let volume = |name: &Yaml| {
        volumes
            .iter()
            .find(|v| &v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name:?}"))
    };
    let mount_of = |path: &Path| {
        mounts
            .iter()
            .filter(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
            .unwrap_or_else(|| panic!("{} is on no volume", path.display()))
    };
    let config_mount = mount_of(Path::new(config_path));
    let config_map_name = volume(&config_mount["name"])["configMap"]["name"]
        .as_str()
        .unwrap();
    let config_map = of_kind(&documents, "ConfigMap", config_map_name);
    let key = Path::new(config_path)
        .strip_prefix(config_mount["mountPath"].as_str().unwrap())
        .unwrap();
    let toml = config_map["data"][key.to_str().unwrap()].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(&file, toml).unwrap();

    let secrets = BTreeMap::from([
        ("MYSQL_PASSWORD", "k8s-mysql-Pw"),
        ("REDIS_PASSWORD", "k8s-redis-Pw"),
        ("ELASTIC_PASSWORD", "k8s-elastic-Pw"),
        ("MINIO_PASSWORD", "k8s-minio-Pw"),
    ]);
    let env = pod_env(container, &secrets);
    let file_arg = file.display().to_string();
    let mut config_args = args.clone();
    config_args[0] = "config";
    let at = config_args.iter().position(|a| *a == config_path).unwrap();
    config_args[at] = &file_arg;
    let printed = ragwatch_config(&config_args, &env);
    let config = ragwatch::config::load(Some(&file), env.clone()).unwrap();
    assert_eq!(
        config.db.url.expose().password(),
        Some(secrets["MYSQL_PASSWORD"])
    );
    assert_eq!(
        config.redis.url.expose().password(),
        Some(secrets["REDIS_PASSWORD"])
    );
    assert_eq!(
        config.doc_engine.password.expose(),
        secrets["ELASTIC_PASSWORD"]
    );
    let ragwatch::config::StorageService::Minio(minio) = &config.storage.service else {
        panic!("storage is not MinIO");
    };
    assert_eq!(minio.secret_key.expose(), secrets["MINIO_PASSWORD"]);

    // The history file is on the persistent volume, writable.
    let history = toml_str(&printed, "history.url");
    let history_mount = mount_of(Path::new(history.strip_prefix("sqlite://").unwrap()));
    assert_ne!(history_mount["readOnly"], true);
    let claim = volume(&history_mount["name"])["persistentVolumeClaim"]["claimName"]
        .as_str()
        .expect("the history on a PersistentVolumeClaim");
    of_kind(&documents, "PersistentVolumeClaim", claim);

    // Ports: ragwatch listens on the container port the probes and the Service use.
    let port = listen_port(&printed);
    let ports = container["ports"].as_sequence().unwrap();
    let resolve = |port: &Yaml| -> u64 {
        match port {
            Yaml::Number(n) => n.as_u64().unwrap(),
            Yaml::String(name) => ports
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
                .as_u64()
                .unwrap(),
            other => panic!("port {other:?}"),
        }
    };
    let mut paths = Vec::new();
    for (probe, expected) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        let path = get["path"].as_str().unwrap();
        assert_eq!(path.split('?').next().unwrap(), expected, "{probe}");
        assert_eq!(resolve(&get["port"]), u64::from(port), "{probe}");
        paths.push(path.to_owned());
    }
    let service = of_kind(&documents, "Service", "ragwatch");
    assert_selects(&service["spec"]["selector"], pod_labels, "Service");
    for service_port in service["spec"]["ports"].as_sequence().unwrap() {
        assert_eq!(resolve(&service_port["targetPort"]), u64::from(port));
    }

    // The pod runs as the image's user (the Dockerfile's USER), which owns the volume.
    let user = dockerfile_user();
    let security = &pod["spec"]["securityContext"];
    assert_eq!(security["runAsUser"].as_u64(), Some(user));
    assert_eq!(security["fsGroup"].as_u64(), Some(user));

    // Both probe paths exist on a running ragwatch and answer 200 while it is healthy.
    let app = TestApp::start_unscheduled(
        "[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[db]\nenabled = false\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [task_executors]\nenabled = false\n[history]\nenabled = false\n",
    )
    .await;
    for path in paths {
        let (status, _, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// systemd.

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

// ---------------------------------------------------------------------------------------------
// The Dockerfile.

/// One instruction: keyword and its arguments, continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, rest) = pending.split_once(' ').unwrap();
        instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
        pending.clear();
    }
    instructions
}

/// A JSON (exec form) argument list.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"))
}

fn dockerfile_user() -> u64 {
    let instructions = dockerfile();
    let (_, user) = instructions.iter().rfind(|(k, _)| k == "USER").unwrap();
    user.split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER")
}

/// `1.89` as `[1, 89, 0]`, comparable with `1.88.1`.
fn version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|part| part.parse().unwrap());
    [0; 3].map(|_| parts.next().unwrap_or(0))
}

/// Whether a `.dockerignore` pattern (no `**`) excludes this path or one of its parents.
fn ignored(patterns: &[String], path: &Path) -> bool {
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut excluded = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        assert!(
            !pattern.contains("**"),
            "`**` is not handled here: {pattern}"
        );
        let segments: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        let matches =
            segments.len() <= parts.len() && segments.iter().zip(&parts).all(|(s, p)| glob(s, p));
        if matches {
            excluded = !negated;
        }
    }
    excluded
}

/// `*` and `?` within one path component.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.chars().next() {
        None => name.is_empty(),
        Some('*') => (0..=name.len())
            .filter(|i| name.is_char_boundary(*i))
            .any(|i| glob(&pattern[1..], &name[i..])),
        Some('?') => name
            .chars()
            .next()
            .is_some_and(|c| glob(&pattern[1..], &name[c.len_utf8()..])),
        Some(c) => name.starts_with(c) && glob(&pattern[c.len_utf8()..], &name[c.len_utf8()..]),
    }
}

/// Copies what `COPY <src> <dst>` sends from the build context, minus the ignored.
fn copy_context(src: &Path, dst: &Path, patterns: &[String]) {
    let from = repo(src.to_str().unwrap());
    assert!(
        from.exists(),
        "COPY {}: not in the repository",
        src.display()
    );
    assert!(
        !ignored(patterns, src),
        "COPY {}: excluded by .dockerignore",
        src.display()
    );
    if from.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name();
            let inner = src.join(&name);
            if !ignored(patterns, &inner) {
                copy_context(&inner, &dst.join(&name), patterns);
            }
        }
    } else {
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&from, dst).unwrap();
    }
}

/// The files `include_str!`/`include_bytes!` name in the Rust sources under `dir`.
fn included_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            included_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for macro_name in ["include_str!(\"", "include_bytes!(\""] {
                for (at, _) in source.match_indices(macro_name) {
                    let rest = &source[at + macro_name.len()..];
                    let relative = &rest[..rest.find('"').unwrap()];
                    found.push(path.parent().unwrap().join(relative));
                }
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_the_locked_release_and_runs_commands_that_exist() {
    let instructions = dockerfile();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build_stage = &instructions[stages[0]..stages[1]];
    let runtime_stage = &instructions[stages[1]..];
    let from: Vec<&str> = build_stage[0].1.split_whitespace().collect();
    assert_eq!(from.len(), 3, "FROM image AS name: {from:?}");
    let stage_name = from[2];

    // The builder's toolchain is new enough for every locked crate.
    let (image, tag) = from[0].split_once(':').unwrap();
    assert_eq!(image, "rust");
    let (toolchain, builder_debian) = tag.split_once('-').unwrap();
    let metadata: Json = serde_json::from_str(&run_ok(
        Command::new(env!("CARGO"))
            .args(["metadata", "--locked", "--offline", "--format-version", "1"])
            .arg(format!(
                "--filter-platform={}-unknown-{}-gnu",
                std::env::consts::ARCH,
                std::env::consts::OS
            ))
            .current_dir(repo("")),
    ))
    .unwrap();
    let needed = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["rust_version"].as_str())
        .map(version)
        .max()
        .unwrap();
    assert!(
        version(toolchain) >= needed,
        "rust:{toolchain} is older than {needed:?}"
    );

    // The runtime has the glibc the binary was linked against.
    let runtime_from = &runtime_stage[0].1;
    let (runtime_image, runtime_tag) = runtime_from.split_once(':').unwrap();
    assert_eq!(runtime_image, "debian");
    assert_eq!(runtime_tag.split('-').next().unwrap(), builder_debian);

    let runs: Vec<&str> = build_stage
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, v)| v.as_str())
        .collect();
    let build_run = runs
        .iter()
        .find(|r| r.contains("cargo build --release --locked"))
        .expect("cargo build --release --locked");
    assert!(build_run.contains("target/release/ragwatch"));

    // The binary copied from the build stage is the one the build wrote, and the entry
    // point finds it.
    let (_, copy) = runtime_stage
        .iter()
        .find(|(k, v)| k == "COPY" && v.starts_with(&format!("--from={stage_name} ")))
        .expect("COPY --from the build stage");
    let copy: Vec<&str> = copy.split_whitespace().collect();
    assert!(
        build_run.contains(copy[1]),
        "{} is not what the build wrote",
        copy[1]
    );
    let installed = Path::new(copy[2]);
    let entrypoint = exec_form(
        &runtime_stage
            .iter()
            .rfind(|(k, _)| k == "ENTRYPOINT")
            .unwrap()
            .1,
    );
    let cmd = exec_form(&runtime_stage.iter().rfind(|(k, _)| k == "CMD").unwrap().1);
    let on_path = ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .any(|dir| installed.parent() == Some(Path::new(dir)));
    assert!(
        Path::new(&entrypoint[0]) == installed
            || (on_path && installed.file_name().unwrap() == entrypoint[0].as_str()),
        "ENTRYPOINT {entrypoint:?} does not run {}",
        installed.display()
    );

    // ENTRYPOINT + CMD and the HEALTHCHECK are commands ragwatch has.
    let served: Vec<&str> = entrypoint[1..]
        .iter()
        .chain(&cmd)
        .map(String::as_str)
        .collect();
    assert_eq!(served.first(), Some(&"serve"));
    assert_ragwatch_accepts(&served);
    let (_, healthcheck) = runtime_stage
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .unwrap();
    let probe = exec_form(healthcheck.split_once("CMD ").unwrap().1);
    assert!(
        Path::new(&probe[0]) == installed || probe[0] == entrypoint[0],
        "{probe:?}"
    );
    assert_eq!(probe[1], "check");
    assert_ragwatch_accepts(&probe[1..].iter().map(String::as_str).collect::<Vec<_>>());

    let (_, expose) = runtime_stage.iter().find(|(k, _)| k == "EXPOSE").unwrap();
    let default: std::net::SocketAddr = ragwatch::config::DEFAULT_LISTEN.parse().unwrap();
    assert_eq!(expose.parse::<u16>().unwrap(), default.port());

    // The build context the build stage copies is enough: cargo accepts the manifest and
    // lock file as they are, and every file the sources include is there.
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let context = tempfile::tempdir().unwrap();
    let (_, workdir) = build_stage.iter().rfind(|(k, _)| k == "WORKDIR").unwrap();
    for (_, args) in build_stage.iter().filter(|(k, _)| k == "COPY") {
        let args: Vec<&str> = args.split_whitespace().collect();
        let (sources, target) = args.split_at(args.len() - 1);
        let target = Path::new(workdir).join(target[0]);
        let target = target.strip_prefix(workdir).unwrap();
        for source in sources {
            let destination = if sources.len() > 1 || target.as_os_str().is_empty() {
                context.path().join(target).join(source)
            } else {
                context.path().join(target)
            };
            copy_context(Path::new(source), &destination, &patterns);
        }
    }
    run_ok(
        Command::new(env!("CARGO"))
            .args(["metadata", "--locked", "--offline", "--format-version", "1"])
            .arg(format!(
                "--filter-platform={}-unknown-{}-gnu",
                std::env::consts::ARCH,
                std::env::consts::OS
            ))
            .current_dir(context.path()),
    );
    let mut included = Vec::new();
    included_files(&context.path().join("src"), &mut included);
    assert!(!included.is_empty());
    for file in included {
        assert!(
            file.exists(),
            "{} is not in the build context",
            file.display()
        );
    }
}

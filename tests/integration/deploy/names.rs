//! Metric and label names in PromQL, Grafana queries and an exposition: what the dashboard
//! and the rules read, to be checked against what ragwatch exports.

use std::collections::{BTreeMap, BTreeSet};

/// Metric names a query reads, and label names it matches or groups on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Names {
    pub(super) metrics: BTreeSet<String>,
    pub(super) labels: BTreeSet<String>,
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
pub(super) fn promql_names(expr: &str) -> Names {
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
pub(super) fn grafana_variable_names(query: &str) -> Names {
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
pub(super) struct Exposition {
    /// Sample names: `ragwatch_probes_total`, `ragwatch_probe_duration_seconds_bucket`, ...
    pub(super) samples: BTreeSet<String>,
    /// Metric families with their type, from the `# TYPE` lines.
    pub(super) families: BTreeMap<String, String>,
    /// Every label name on any sample.
    pub(super) labels: BTreeSet<String>,
}

pub(super) fn parse_exposition(text: &str) -> Exposition {
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
pub(super) fn not_exported(names: &Names, exposition: &Exposition, also: &[&str]) -> Vec<String> {
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

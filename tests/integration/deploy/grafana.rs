//! The Grafana dashboard: well formed, every variable defined, and every name it and the
//! rules read exported by a running ragwatch (and every family ragwatch exports shown).

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::names::{Names, grafana_variable_names, not_exported, promql_names};
use super::prometheus::alert_rules;
use super::{full_scrape, read, watched};

const DASHBOARD: &str = "deploy/grafana/ragwatch-dashboard.json";

pub(super) fn dashboard() -> Json {
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
pub(super) fn dashboard_exprs(dashboard: &Json) -> Vec<String> {
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

/// Each component panel links to the System page of the ragwatch a series came from: its
/// queries keep the `instance` label the link is built from.
#[test]
fn component_panels_link_to_the_page_of_their_ragwatch() {
    let dashboard = dashboard();
    let mut linked = 0;
    for panel in panels(&dashboard) {
        let exprs: Vec<&str> = panel["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        if !exprs
            .iter()
            .any(|e| e.contains("component=~\"$component\""))
        {
            continue;
        }
        let title = &panel["title"];
        let links = panel["fieldConfig"]["defaults"]["links"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no link to the page"));
        assert!(
            links
                .iter()
                .any(|l| l["url"] == "http://${__field.labels.instance}/"),
            "{title}: {links:?}"
        );
        for expr in exprs {
            // An aggregation keeps `instance`, or there is none.
            let kept = expr
                .split(" by (")
                .skip(1)
                .all(|grouping| grouping.split(')').next().unwrap().contains("instance"));
            assert!(kept, "{title}: `{expr}` drops the instance its link needs");
        }
        linked += 1;
    }
    assert!(linked >= 5, "{linked} component panels");
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
    watched.finish().await;
}

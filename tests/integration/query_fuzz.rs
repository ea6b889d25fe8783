//! Property tests of the query-string parsing of the history and executor endpoints: any
//! query, valid or not, gets 200 or a JSON 400 naming one of the parameters it sent, never
//! a 500 or a dropped connection; every numeric parameter (query or path) of every
//! endpoint, however huge, negative, fractional or not a number, is range-checked.

use crate::common;

use common::app::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Values that mix well-formed times, durations and numbers with noise.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..4_000_000_000).prop_map(|n| n.to_string()),
        (-1e12f64..1e12).prop_map(|f| f.to_string()),
        Just("2025-01-02T02:31:02Z".to_owned()),
        Just("2025-01-02T10:31:02+08:00".to_owned()),
        prop_oneof![
            Just("5m"),
            Just("1h"),
            Just("90s"),
            Just("0"),
            Just("1e400"),
            Just("NaN"),
            Just("-3")
        ]
        .prop_map(str::to_owned),
        "[ -~]{0,24}",
        "\\PC{0,12}",
    ]
}

fn query() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    let path = prop_oneof![
        Just("/api/v1/components/redis/history"),
        Just("/api/v1/incidents"),
        Just("/api/v1/executors/te/intervals"),
        Just("/v1/system/healthz"),
        Just("/readyz"),
    ];
    let name = prop_oneof![
        Just("since"),
        Just("until"),
        Just("step"),
        Just("limit"),
        Just("component"),
        Just("fresh"),
        Just("verbose"),
        Just("exclude"),
        Just("other"),
    ];
    (path, prop::collection::vec((name, value()), 0..4)).prop_map(|(path, pairs)| {
        (
            path.to_owned(),
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )
    })
}

#[test]
fn any_query_gets_an_answer_or_a_named_400() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::start_unscheduled(
        "[db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n",
    ));
    // The history store opens in the background; wait so answers are about the query.
    runtime.block_on(common::wait_for("the history opens", || async {
        app.get("/api/v1/incidents").await.0 == 200
    }));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    runner
        .run(&query(), |(path, pairs)| {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            let target = format!("{path}?{encoded}");
            let (status, content_type, body) = runtime.block_on(app.get(&target));
            prop_assert!(
                status != 500 || path.ends_with("healthz") || path == "/readyz",
                "{target}: 500 {body}"
            );
            if status == 400 {
                prop_assert_eq!(content_type.as_str(), "application/json", "{}", target);
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                let named = json["parameter"].as_str().unwrap_or_default().to_owned();
                prop_assert!(
                    pairs.iter().any(|(k, _)| *k == named),
                    "{target}: 400 names `{named}`, not a sent parameter"
                );
            } else {
                prop_assert!(
                    [200, 404, 500].contains(&status),
                    "{target}: {status} {body}"
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Every numeric parameter of every endpoint: where it goes (`{}` marks a path segment)
/// and its name.
const NUMERIC: &[(&str, &[&str])] = &[
    (
        "/api/v1/components/redis/history",
        &["since", "until", "step"],
    ),
    ("/api/v1/incidents", &["since", "limit"]),
    ("/api/v1/executors/te/intervals", &["since"]),
    ("/api/v1/executors/te/intervals/{}", &["end"]),
];

/// Numbers a hostile or careless client sends: the edges of every integer type, huge,
/// negative, fractional, exponent forms, NaN and infinities, and times at the ends of the
/// calendar.
fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "9223372036854775808",
            "9223372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "170141183460469231731687303715884105728",
            "4294967296",
            "2147483648",
            "0",
            "-0",
            "-1",
            "+1",
            "1.5",
            "-0.0001",
            "1e3",
            "1E308",
            "1e309",
            "-1e309",
            "1e-400",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            "0x10",
            "00000000000000000000060",
            "99999999999999999999999999999999y",
            "18446744073709551615s",
            "9223372036854775807m",
            "-5m",
            "1.5h",
            "-009999-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "-009999-01-01T00:00:00+23:59",
            "1e11",
            "-1e11",
            "99999999999.999",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        (any::<u64>(), "[smhdwy]|ms|ns|us").prop_map(|(n, unit)| format!("{n}{unit}")),
    ]
}

fn numeric_request() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    prop::sample::select(NUMERIC).prop_flat_map(|(path, names)| {
        let names: Vec<&'static str> = names.to_vec();
        prop::collection::vec((prop::sample::select(names), hostile_number()), 1..4).prop_map(
            move |sent| {
                (
                    path.to_owned(),
                    sent.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                )
            },
        )
    })
}

#[test]
fn every_numeric_parameter_is_range_checked_into_a_named_400() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::start_unscheduled(
        "[db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n",
    ));
    // A recorded result, so that bucket queries have rows to compute over.
    runtime.block_on(app.monitor.refresh_all());
    runtime.block_on(common::wait_for("the history opens", || async {
        app.get("/api/v1/incidents").await.0 == 200
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 600,
        ..Config::default()
    });
    runner
        .run(&numeric_request(), |(path, sent)| {
            let mut path = path;
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &sent {
                if name == "end" {
                    let segment: String =
                        url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                    path = path.replace("{}", &segment);
                } else {
                    query.append_pair(name, value);
                }
            }
            let path = path.replace("{}", "0");
            let target = format!("{path}?{}", query.finish());
            let response = runtime
                .block_on(client.get(app.url(&target)).send())
                .map_err(|e| TestCaseError::fail(format!("{target}: no answer: {e}")))?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = runtime
                .block_on(response.text())
                .map_err(|e| TestCaseError::fail(format!("{target}: body cut: {e}")))?;
            prop_assert!(
                [200, 400, 404].contains(&status),
                "{target}: {status} {body}"
            );
            prop_assert_eq!(content_type.as_str(), "application/json", "{}", target);
            let json: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| TestCaseError::fail(format!("{target}: not JSON ({e}): {body}")))?;
            if status == 400 {
                let named = json["parameter"].as_str().unwrap_or_default();
                prop_assert!(
                    sent.iter().any(|(k, _)| k == named),
                    "{target}: 400 names `{named}`, not a sent parameter: {body}"
                );
            }
            Ok(())
        })
        .unwrap();
}

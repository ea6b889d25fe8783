//! Property test of the query-string parsing of the history and executor endpoints: any
//! query, valid or not, gets 200 or a JSON 400 naming one of the parameters it sent, never
//! a 500 or a dropped connection.

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

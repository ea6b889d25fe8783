//! Chat and paging receivers, each against a local stand-in: one Redis outage fires and
//! resolves, and each service gets the request its documented contract asks for (method,
//! path, headers, JSON shape) carrying what a person reads: the headline, the error, the
//! deployment's labels and the link. A receiver limited to other components or to firing
//! alerts gets only those; a 429 is retried no sooner than the service asked (Slack's
//! `Retry-After`, Discord's `retry_after`, Telegram's `parameters.retry_after`); no
//! receiver is named by its token.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::{FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RecordedRequest, wait_for};
use serde_json::Value;

const SLACK: &str = "/services/T1/B2/slack-Token-7";
const SLACK_DB_ONLY: &str = "/services/T1/B2/db-only";
const SLACK_FIRING_ONLY: &str = "/services/T1/B2/firing-only";
const DISCORD: &str = "/api/webhooks/42/discord-Token-9";
const TELEGRAM_TOKEN: &str = "123456:telegram-Token-5";
const TELEGRAM: &str = "/bot123456:telegram-Token-5/sendMessage";
const NTFY_TOPIC: &str = "ragwatch-Topic-3";
const PAGERDUTY: &str = "/v2/enqueue";
const ROUTING_KEY: &str = "pagerduty-Key-11";

/// Redis behind `redis`, probed on request, with every receiver of `receivers`.
fn config(redis: &str, receivers: &str) -> String {
    format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[task_executors]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://{redis}/1\"\n\
         [alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\nexternal_url = \"https://ragwatch.example\"\n\
         [alerts.labels]\ndeployment = \"prod\"\n{receivers}"
    )
}

fn receivers(stand_in: &str) -> String {
    format!(
        "[[alerts.slack]]\nurl = \"{stand_in}{SLACK}\"\n\
         [[alerts.slack]]\nurl = \"{stand_in}{SLACK_DB_ONLY}\"\ncomponents = [\"db\"]\n\
         [[alerts.slack]]\nurl = \"{stand_in}{SLACK_FIRING_ONLY}\"\nsend_resolved = false\nseverities = [\"critical\"]\n\
         [[alerts.discord]]\nurl = \"{stand_in}{DISCORD}\"\n\
         [[alerts.telegram]]\nbot_token = \"{TELEGRAM_TOKEN}\"\nchat_id = \"-1001\"\napi_url = \"{stand_in}\"\n\
         [[alerts.ntfy]]\nurl = \"{stand_in}/{NTFY_TOPIC}\"\n\
         [[alerts.pagerduty]]\nrouting_key = \"{ROUTING_KEY}\"\nurl = \"{stand_in}{PAGERDUTY}\"\n"
    )
}

/// Answers as each service does on success.
async fn stand_in() -> FixtureServer {
    FixtureServer::start([
        ("POST", SLACK, FixtureResponse::new(200, "ok")),
        ("POST", SLACK_DB_ONLY, FixtureResponse::new(200, "ok")),
        ("POST", SLACK_FIRING_ONLY, FixtureResponse::new(200, "ok")),
        ("POST", DISCORD, FixtureResponse::new(204, "")),
        (
            "POST",
            TELEGRAM,
            FixtureResponse::json(200, r#"{"ok":true,"result":{"message_id":1}}"#),
        ),
        (
            "POST",
            "/",
            FixtureResponse::json(200, r#"{"id":"x1","event":"message"}"#),
        ),
        (
            "POST",
            PAGERDUTY,
            FixtureResponse::json(202, r#"{"status":"success","message":"Event processed"}"#),
        ),
    ])
    .await
}

/// The JSON body of a request that keeps the common contract: a POST of JSON.
fn json(request: &RecordedRequest) -> Value {
    assert_eq!(request.method, "POST", "{}", request.path());
    assert_eq!(
        request.header("content-type"),
        Some("application/json"),
        "{}",
        request.path()
    );
    serde_json::from_slice(&request.body).unwrap()
}

async fn fresh(app: &TestApp) {
    app.get_json("/v1/system/healthz?fresh=1").await;
}

/// The requests to `path`, once there are `count`.
async fn requests(stand_in: &FixtureServer, path: &str, count: usize) -> Vec<RecordedRequest> {
    wait_for(&format!("{count} requests to {path}"), || async {
        stand_in.requests_to(path).len() >= count
    })
    .await;
    stand_in.requests_to(path)
}

#[tokio::test]
async fn each_service_gets_its_own_format_with_what_a_person_needs() {
    let stand_in = stand_in().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let app =
        TestApp::start_unscheduled(&config(&redis.host_port(), &receivers(&stand_in.url()))).await;
    fresh(&app).await;
    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    fresh(&app).await;
    let error = format!("connection refused to {}", redis.host_port());
    requests(&stand_in, PAGERDUTY, 1).await;
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    fresh(&app).await;

    // Slack: Block Kit, a plain-text header and mrkdwn facts.
    let slack = requests(&stand_in, SLACK, 2).await;
    let firing = json(&slack[0]);
    assert_eq!(firing["text"], "RAGFlow redis is down");
    assert_eq!(firing["blocks"][0]["type"], "header");
    assert_eq!(firing["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(firing["blocks"][0]["text"]["text"], "RAGFlow redis is down");
    let facts = firing["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(firing["blocks"][1]["text"]["type"], "mrkdwn");
    assert!(facts.contains(&format!("*Error:* {error}")), "{facts}");
    assert!(facts.contains("*Since:* 20"), "{facts}");
    assert!(facts.contains("*deployment:* prod"), "{facts}");
    assert_eq!(
        firing["blocks"][2]["text"]["text"],
        "<https://ragwatch.example/|Open ragwatch>"
    );
    let resolved = json(&slack[1]);
    assert_eq!(resolved["text"], "RAGFlow redis is back up");
    let facts = resolved["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(facts.contains("*Lasted:* "), "{facts}");

    // Discord: one embed, red then green, no mention allowed; Markdown escaped.
    let discord = requests(&stand_in, DISCORD, 2).await;
    let (firing, resolved) = (json(&discord[0]), json(&discord[1]));
    assert_eq!(firing["allowed_mentions"]["parse"], serde_json::json!([]));
    let embed = &firing["embeds"][0];
    assert_eq!(embed["title"], "RAGFlow redis is down");
    assert_eq!(embed["color"], 0xd9_30_25);
    assert_eq!(embed["url"], "https://ragwatch.example/");
    assert_eq!(embed["fields"][0]["name"], "Error");
    assert_eq!(
        embed["fields"][0]["value"],
        error.replace('.', "\\.").replace(':', "\\:")
    );
    assert_eq!(resolved["embeds"][0]["title"], "RAGFlow redis is back up");
    assert_eq!(resolved["embeds"][0]["color"], 0x2e_b8_6e);

    // Telegram: sendMessage to the chat, HTML parse mode.
    let telegram = requests(&stand_in, TELEGRAM, 2).await;
    let firing = json(&telegram[0]);
    assert_eq!(firing["chat_id"], "-1001");
    assert_eq!(firing["parse_mode"], "HTML");
    let text = firing["text"].as_str().unwrap();
    assert!(text.starts_with("<b>RAGFlow redis is down</b>\n"), "{text}");
    assert!(text.contains(&format!("<b>Error:</b> {error}")), "{text}");
    assert!(text.contains("<b>deployment:</b> prod"), "{text}");
    assert!(
        text.ends_with("<a href=\"https://ragwatch.example/\">Open ragwatch</a>"),
        "{text}"
    );

    // ntfy: a JSON publish to the server's root naming the topic.
    let ntfy = requests(&stand_in, "/", 2).await;
    let (firing, resolved) = (json(&ntfy[0]), json(&ntfy[1]));
    assert_eq!(firing["topic"], NTFY_TOPIC);
    assert_eq!(firing["title"], "RAGFlow redis is down");
    assert_eq!(firing["priority"], 5);
    assert_eq!(firing["click"], "https://ragwatch.example/");
    assert!(
        firing["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Error: {error}"))
    );
    assert_eq!(resolved["priority"], 3);

    // PagerDuty: trigger, then resolve with the same dedup_key.
    let pagerduty = requests(&stand_in, PAGERDUTY, 2).await;
    let (trigger, resolve) = (json(&pagerduty[0]), json(&pagerduty[1]));
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["summary"], "RAGFlow redis is down");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "ragwatch.example");
    assert_eq!(trigger["payload"]["custom_details"]["Error"], error);
    assert_eq!(trigger["payload"]["custom_details"]["deployment"], "prod");
    assert_eq!(resolve["event_action"], "resolve");
    assert!(
        trigger["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with("ragwatch/redis/")
    );
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);

    // Routing: a receiver for db only got nothing; one without resolutions, the firing.
    common::settle().await;
    assert!(stand_in.requests_to(SLACK_DB_ONLY).is_empty());
    let firing_only = stand_in.requests_to(SLACK_FIRING_ONLY);
    assert_eq!(firing_only.len(), 1);
    assert_eq!(json(&firing_only[0])["text"], "RAGFlow redis is down");

    // Receivers are named by kind and host, never by token.
    let (_, _, readyz) = app.get("/readyz?verbose").await;
    let metrics = app.get("/metrics").await.2;
    for token in [
        "slack-Token-7",
        "discord-Token-9",
        "telegram-Token-5",
        NTFY_TOPIC,
        ROUTING_KEY,
    ] {
        assert!(
            !readyz.contains(token) && !metrics.contains(token),
            "{token}"
        );
    }
    let host = format!("127.0.0.1:{}", stand_in.port());
    for kind in ["slack", "discord", "telegram", "ntfy", "pagerduty"] {
        assert!(
            metrics.contains(&format!("receiver=\"{kind} {host}\"")),
            "{kind}: {metrics}"
        );
    }
}

/// How long after its first request a receiver tried again.
async fn retry_gap(stand_in: &FixtureServer, path: &str, then: FixtureResponse) -> Duration {
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no retry to {path}");
        let seen = stand_in.requests_to(path).len();
        match (seen, first) {
            (1, None) => {
                first = Some(Instant::now());
                stand_in.set_route("POST", path, then.clone());
            }
            (2.., Some(first)) => return first.elapsed(),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_the_service_asked() {
    // Back-off alone would try again after 1 s.
    let stand_in = FixtureServer::start([
        (
            "POST",
            SLACK,
            FixtureResponse::new(429, "rate_limited").with_header("Retry-After", "4"),
        ),
        (
            "POST",
            DISCORD,
            FixtureResponse::json(429, r#"{"message":"You are being rate limited.","retry_after":4.0,"global":false}"#),
        ),
        (
            "POST",
            TELEGRAM,
            FixtureResponse::json(429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 4","parameters":{"retry_after":4}}"#),
        ),
    ])
    .await;
    let url = stand_in.url();
    let receivers = format!(
        "[[alerts.slack]]\nurl = \"{url}{SLACK}\"\n\
         [[alerts.discord]]\nurl = \"{url}{DISCORD}\"\n\
         [[alerts.telegram]]\nbot_token = \"{TELEGRAM_TOKEN}\"\nchat_id = \"-1001\"\napi_url = \"{url}\"\n"
    );
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &receivers)).await;
    fresh(&app).await;
    fresh(&app).await;
    let (slack, discord, telegram) = tokio::join!(
        retry_gap(&stand_in, SLACK, FixtureResponse::new(200, "ok")),
        retry_gap(&stand_in, DISCORD, FixtureResponse::new(204, "")),
        retry_gap(
            &stand_in,
            TELEGRAM,
            FixtureResponse::json(200, r#"{"ok":true,"result":{}}"#)
        ),
    );
    for (name, gap) in [
        ("slack", slack),
        ("discord", discord),
        ("telegram", telegram),
    ] {
        assert!(
            gap >= Duration::from_secs(3),
            "{name} tried again after {gap:?}"
        );
    }
}

//! Chat and paging receivers, each against a local stand-in: one Redis outage fires and
//! resolves, and each service gets the request its documented contract asks for (method,
//! path, headers, JSON shape) carrying what a person reads: the headline, the error, the
//! deployment's labels and the link. A receiver limited to other components or to firing
//! alerts gets only those; a 429 is retried no sooner than the service asked (Slack's
//! `Retry-After`, Discord's `retry_after`, Telegram's `parameters.retry_after`); Feishu
//! and DingTalk requests carry a valid signature, Opsgenie closes the alias it created,
//! and a bot answering HTTP 200 with an error code has failed; no receiver is named by its
//! token.

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

/// Redis behind `redis`, probed on request, with every receiver of `receivers`. Each test
/// writes its own database: two apps probing one at once would see each other's write check.
fn config(redis: &str, db: u8, receivers: &str) -> String {
    format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[task_executors]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://{redis}/{db}\"\n\
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
        TestApp::start_unscheduled(&config(&redis.host_port(), 3, &receivers(&stand_in.url())))
            .await;
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
            .starts_with("ragwatch-redis-")
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
    // Counted per kind, never per address.
    for kind in ["slack", "discord", "telegram", "ntfy", "pagerduty"] {
        assert!(
            metrics.contains(&format!(
                "ragwatch_notifications_total{{integration=\"{kind}\"}}"
            )),
            "{kind}: {metrics}"
        );
    }
    let host = format!("127.0.0.1:{}", stand_in.port());
    assert!(!metrics.contains(&host), "{metrics}");
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
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), 4, &receivers)).await;
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

const TEAMS: &str = "/workflows/7/triggers/manual/paths/invoke";
const GOOGLECHAT: &str = "/v1/spaces/S1/messages";
const WECOM: &str = "/cgi-bin/webhook/send";
const FEISHU: &str = "/open-apis/bot/v2/hook/feishu-Hook-2";
const FEISHU_REFUSING: &str = "/open-apis/bot/v2/hook/refusing";
const FEISHU_SECRET: &str = "feishu-Secret-4";
const DINGTALK: &str = "/robot/send";
const DINGTALK_SECRET: &str = "dingtalk-Secret-8";
const OPSGENIE: &str = "/v2/alerts";
const OPSGENIE_KEY: &str = "opsgenie-Key-6";

/// Standard Base64 of HMAC-SHA256, as the stand-ins check Feishu's and DingTalk's signs.
fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A signing timestamp is close to now (`per_second` units in a second).
fn recent(timestamp: i64, per_second: i64) -> bool {
    let now = jiff::Timestamp::now().as_millisecond() * per_second / 1000;
    (now - timestamp).abs() < 3600 * per_second
}

#[tokio::test]
async fn teams_google_chat_feishu_dingtalk_wecom_and_opsgenie_get_their_formats() {
    let stand_in = FixtureServer::start([
        ("POST", TEAMS, FixtureResponse::new(202, "")),
        (
            "POST",
            GOOGLECHAT,
            FixtureResponse::json(200, r#"{"name":"spaces/S1/messages/1"}"#),
        ),
        (
            "POST",
            WECOM,
            FixtureResponse::json(200, r#"{"errcode":0,"errmsg":"ok"}"#),
        ),
        (
            "POST",
            FEISHU,
            FixtureResponse::json(200, r#"{"code":0,"msg":"success","data":{}}"#),
        ),
        (
            "POST",
            FEISHU_REFUSING,
            FixtureResponse::json(200, r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time","data":{}}"#),
        ),
        (
            "POST",
            DINGTALK,
            FixtureResponse::json(200, r#"{"errcode":0,"errmsg":"ok"}"#),
        ),
        (
            "POST",
            OPSGENIE,
            FixtureResponse::json(202, r#"{"result":"Request will be processed","took":0.1,"requestId":"r1"}"#),
        ),
    ])
    .await;
    let url = stand_in.url();
    let receivers = format!(
        "[[alerts.teams]]\nurl = \"{url}{TEAMS}?api-version=1&sig=teams-Sig-1\"\n\
         [[alerts.googlechat]]\nurl = \"{url}{GOOGLECHAT}?key=k&token=chat-Token-1\"\n\
         [[alerts.wecom]]\nurl = \"{url}{WECOM}?key=wecom-Key-1\"\n\
         [[alerts.feishu]]\nurl = \"{url}{FEISHU}\"\nsecret = \"{FEISHU_SECRET}\"\n\
         [[alerts.feishu]]\nurl = \"{url}{FEISHU_REFUSING}\"\nsend_resolved = false\n\
         [[alerts.dingtalk]]\nurl = \"{url}{DINGTALK}?access_token=dingtalk-Token-1\"\nsecret = \"{DINGTALK_SECRET}\"\n\
         [[alerts.opsgenie]]\napi_key = \"{OPSGENIE_KEY}\"\nurl = \"{url}\"\n"
    );
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), 5, &receivers)).await;
    fresh(&app).await;
    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    fresh(&app).await;
    let error = format!("connection refused to {}", redis.host_port());

    // Opsgenie: create with the incident's alias; its close goes to that alias.
    let create = json(&requests(&stand_in, OPSGENIE, 1).await[0]);
    let alias = create["alias"].as_str().unwrap().to_owned();
    assert!(alias.starts_with("ragwatch-redis-"), "{alias}");
    assert_eq!(create["message"], "RAGFlow redis is down");
    assert_eq!(create["priority"], "P1");
    assert_eq!(create["details"]["Error"], error);
    assert_eq!(create["details"]["deployment"], "prod");
    let close = format!("{OPSGENIE}/{alias}/close");
    stand_in.set_route(
        "POST",
        &close,
        FixtureResponse::json(202, r#"{"result":"Request will be processed"}"#),
    );
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    fresh(&app).await;
    let closed = requests(&stand_in, &close, 1).await;
    assert!(closed[0].path_and_query.ends_with("?identifierType=alias"));
    for request in stand_in.requests_to(OPSGENIE).iter().chain(&closed) {
        assert_eq!(
            request.header("authorization"),
            Some(format!("GenieKey {OPSGENIE_KEY}").as_str())
        );
    }

    // Teams: a message with one Adaptive Card.
    let teams = json(&requests(&stand_in, TEAMS, 2).await[0]);
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["body"][0]["text"], "RAGFlow redis is down");
    assert_eq!(card["body"][1]["type"], "FactSet");
    assert_eq!(card["body"][1]["facts"][0]["title"], "Error");
    assert_eq!(
        card["body"][1]["facts"][0]["value"],
        error.replace('.', "\\.").replace(':', "\\:")
    );
    assert_eq!(card["actions"][0]["url"], "https://ragwatch.example/");

    // Google Chat: a cardsV2 card.
    let chat = json(&requests(&stand_in, GOOGLECHAT, 2).await[0]);
    let card = &chat["cardsV2"][0]["card"];
    assert_eq!(card["header"]["title"], "RAGFlow redis is down");
    let widgets = &card["sections"][0]["widgets"];
    assert_eq!(widgets[0]["decoratedText"]["topLabel"], "Error");
    assert_eq!(widgets[0]["decoratedText"]["text"], error);

    // Feishu: an interactive card, signed.
    let feishu = requests(&stand_in, FEISHU, 2).await;
    let (firing, resolved) = (json(&feishu[0]), json(&feishu[1]));
    assert_eq!(firing["msg_type"], "interactive");
    assert_eq!(
        firing["card"]["header"]["title"]["content"],
        "RAGFlow redis is down"
    );
    assert_eq!(firing["card"]["header"]["template"], "red");
    let facts = firing["card"]["elements"][0]["text"]["content"]
        .as_str()
        .unwrap();
    assert!(facts.contains(&format!("Error: {error}")), "{facts}");
    assert_eq!(resolved["card"]["header"]["template"], "green");
    for body in [&firing, &resolved] {
        let timestamp: i64 = body["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(recent(timestamp, 1), "{timestamp}");
        let expected = hmac_base64(format!("{timestamp}\n{FEISHU_SECRET}").as_bytes(), b"");
        assert_eq!(body["sign"], expected);
    }

    // DingTalk: Markdown, signed in the query, no one mentioned.
    let dingtalk = requests(&stand_in, DINGTALK, 2).await;
    let firing = json(&dingtalk[0]);
    assert_eq!(firing["msgtype"], "markdown");
    assert_eq!(firing["at"]["isAtAll"], false);
    assert_eq!(firing["markdown"]["title"], "RAGFlow redis is down");
    let text = firing["markdown"]["text"].as_str().unwrap();
    assert!(text.starts_with("#### RAGFlow redis is down\n"), "{text}");
    assert!(
        text.ends_with("[Open ragwatch](https://ragwatch.example/)"),
        "{text}"
    );
    for request in &dingtalk {
        let query: std::collections::HashMap<String, String> = url::form_urlencoded::parse(
            request.path_and_query.split_once('?').unwrap().1.as_bytes(),
        )
        .into_owned()
        .collect();
        assert_eq!(query["access_token"], "dingtalk-Token-1");
        let timestamp: i64 = query["timestamp"].parse().unwrap();
        assert!(recent(timestamp, 1000), "{timestamp}");
        let expected = hmac_base64(
            DINGTALK_SECRET.as_bytes(),
            format!("{timestamp}\n{DINGTALK_SECRET}").as_bytes(),
        );
        assert_eq!(query["sign"], expected);
    }

    // WeCom: Markdown content.
    let wecom = json(&requests(&stand_in, WECOM, 2).await[1]);
    assert_eq!(wecom["msgtype"], "markdown");
    let content = wecom["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("#### RAGFlow redis is back up\n"),
        "{content}"
    );
    assert!(content.contains("**Lasted:** "), "{content}");

    // A bot that answers HTTP 200 with an error code failed, and says why.
    let (_, _, readyz) = app.get("/readyz?verbose").await;
    let host = format!("127.0.0.1:{}", stand_in.port());
    assert!(
        readyz.contains(&format!(
            "[-]alerts feishu {host} failed (not required): code 19021 sign match fail"
        )),
        "{readyz}"
    );
    for token in [
        "teams-Sig-1",
        "chat-Token-1",
        "wecom-Key-1",
        "feishu-Hook-2",
        "dingtalk-Token-1",
        OPSGENIE_KEY,
    ] {
        assert!(!readyz.contains(token), "{token}: {readyz}");
    }
}

const HOOK: &str = "/hook";
const SLACK_BROKEN_TEMPLATE: &str = "/services/T1/B2/broken-template";
const TEI_INFO: &str = r#"{"model_id":"BAAI/bge-m3","version":"1.8.0"}"#;

/// A model server whose error text tries every markup and mention.
fn hostile_health() -> FixtureResponse {
    let error = format!(
        "<b>x</b> *bold* `code` [link](http://evil) <!channel> <@U1> @all @everyone </code>\n# {}",
        "A".repeat(10_000)
    );
    FixtureResponse::json(500, serde_json::json!({ "error": error }).to_string())
}

/// Only a TEI model (at `model`) watched, and `receivers`; alerts at once.
fn model_config(model: &str, receivers: &str) -> String {
    format!(
        "{}[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[history]\nenabled = false\n\
         [[models]]\nname = \"embedding\"\nkind = \"tei\"\nurl = \"{model}\"\n\
         [alerts]\nfailure_threshold = 1\nsuccess_threshold = 1\nexternal_url = \"https://ragwatch.example\"\n\
         [alerts.labels]\ndeployment = \"prod\"\n{receivers}",
        common::app::only("none")
    )
}

#[tokio::test]
async fn a_template_is_the_text_that_arrives_its_values_escaped_for_each_service() {
    let stand_in = FixtureServer::start([
        ("GET", "/health", FixtureResponse::new(200, "")),
        ("GET", "/info", FixtureResponse::json(200, TEI_INFO)),
        ("POST", SLACK, FixtureResponse::new(200, "ok")),
        (
            "POST",
            SLACK_BROKEN_TEMPLATE,
            FixtureResponse::new(200, "ok"),
        ),
        ("POST", DISCORD, FixtureResponse::new(204, "")),
        (
            "POST",
            TELEGRAM,
            FixtureResponse::json(200, r#"{"ok":true,"result":{"message_id":1}}"#),
        ),
        (
            "POST",
            WECOM,
            FixtureResponse::json(200, r#"{"errcode":0,"errmsg":"ok"}"#),
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
        ("POST", HOOK, FixtureResponse::new(200, "")),
    ])
    .await;
    let url = stand_in.url();
    let receivers = format!(
        "[[alerts.slack]]\nurl = \"{url}{SLACK}\"\n\
         template = \"\"\"\n*{{{{ summary }}}}* in {{{{ labels.deployment }}}}\n{{{{ error }}}}\n{{% if duration %}}lasted {{{{ duration }}}}{{% endif %}}\"\"\"\n\
         [[alerts.slack]]\nurl = \"{url}{SLACK_BROKEN_TEMPLATE}\"\n\
         template = \"{{% if component != 'redis' %}}{{{{ no_such_field }}}}{{% endif %}}\"\n\
         [[alerts.discord]]\nurl = \"{url}{DISCORD}\"\ntemplate = \"**{{{{ summary }}}}**\\n{{{{ error }}}}\"\n\
         [[alerts.telegram]]\nbot_token = \"{TELEGRAM_TOKEN}\"\nchat_id = \"-1001\"\napi_url = \"{url}\"\n\
         template = \"<b>{{{{ summary }}}}</b> ({{{{ severity }}}})\\n<i>{{{{ error }}}}</i>\"\n\
         [[alerts.wecom]]\nurl = \"{url}{WECOM}?key=wecom-Key-1\"\ntemplate = \"### {{{{ summary }}}}\\n> {{{{ error }}}}\"\n\
         [[alerts.ntfy]]\nurl = \"{url}/{NTFY_TOPIC}\"\ntemplate = \"{{{{ summary }}}} ({{{{ labels.deployment }}}})\\n{{{{ state }}}} since {{{{ started_at }}}}\"\n\
         [[alerts.pagerduty]]\nrouting_key = \"{ROUTING_KEY}\"\nurl = \"{url}{PAGERDUTY}\"\ntemplate = \"{{{{ component }}}} is {{{{ status }}}} in {{{{ labels.deployment }}}}\"\n\
         [[alerts.webhook]]\nurl = \"{url}{HOOK}\"\ntemplate = \"{{{{ component }}}} {{{{ state }}}}: {{{{ error }}}}\"\n"
    );
    let app = TestApp::start_unscheduled(&model_config(&url, &receivers)).await;
    fresh(&app).await;
    stand_in.set_route("GET", "/health", hostile_health());
    fresh(&app).await;
    requests(&stand_in, PAGERDUTY, 1).await;
    stand_in.set_route("GET", "/health", FixtureResponse::new(200, ""));
    fresh(&app).await;

    // Slack: the template's own mrkdwn stands; the values in it are text.
    let slack = requests(&stand_in, SLACK, 2).await;
    let (firing, resolved) = (json(&slack[0]), json(&slack[1]));
    assert!(firing.get("blocks").is_none(), "{firing}");
    let text = firing["text"].as_str().unwrap();
    assert!(
        text.starts_with("*RAGFlow models.embedding is down* in prod\nthe server failed"),
        "{text}"
    );
    assert!(
        text.contains("&lt;b&gt;x&lt;/b&gt; *\u{200B}bold*\u{200B}"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel>") && !text.contains("<@U1>"),
        "{text}"
    );
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(!text.contains("lasted"), "{text}");
    assert!(text.len() < 1000, "the error is cut: {}", text.len());
    let text = resolved["text"].as_str().unwrap();
    assert!(
        text.starts_with("*RAGFlow models.embedding is back up* in prod\n"),
        "{text}"
    );
    assert!(text.contains("\nlasted "), "{text}");

    // A template that fails at run time: the default text goes instead.
    let broken = json(&requests(&stand_in, SLACK_BROKEN_TEMPLATE, 1).await[0]);
    assert_eq!(broken["text"], "RAGFlow models.embedding is down");
    assert_eq!(broken["blocks"][0]["type"], "header");

    // Discord: the embed's description, Markdown escaped in the values only.
    let discord = json(&requests(&stand_in, DISCORD, 2).await[0]);
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("**RAGFlow models\\.embedding is down**\nthe server failed"),
        "{description}"
    );
    assert!(
        description.contains(
            "&lt;b&gt;x&lt;\\/b&gt; \\*bold\\* \\`code\\` \\[link\\]\\(http\\:\\/\\/evil\\)"
        ),
        "{description}"
    );
    assert!(!description.contains("@all") && !description.contains("@everyone"));
    assert_eq!(discord["embeds"][0]["color"], 0xd9_30_25);
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));

    // Telegram: the template's HTML stands, the values are entities.
    let telegram = json(&requests(&stand_in, TELEGRAM, 2).await[0]);
    assert_eq!(telegram["parse_mode"], "HTML");
    let text = telegram["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>RAGFlow models.embedding is down</b> (warning)\n<i>the server"),
        "{text}"
    );
    assert!(text.contains("&lt;b&gt;x&lt;/b&gt; *bold*"), "{text}");
    assert!(text.ends_with("…</i>"), "{text}");
    assert!(
        !text.contains("</code>") && !text.contains("<b>x"),
        "{text}"
    );

    // WeCom: Markdown, values escaped, no one mentioned.
    let wecom = json(&requests(&stand_in, WECOM, 2).await[0]);
    let content = wecom["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("### RAGFlow models\\.embedding is down\n> the server"),
        "{content}"
    );
    assert!(content.contains("&lt;b&gt;x"), "{content}");
    assert!(
        !content.contains("@all") && !content.contains("](http"),
        "{content}"
    );

    // ntfy: the first line is the title, the rest the message.
    let ntfy = json(&requests(&stand_in, "/", 2).await[0]);
    assert_eq!(ntfy["title"], "RAGFlow models.embedding is down (prod)");
    let message = ntfy["message"].as_str().unwrap();
    assert!(message.starts_with("firing since 20"), "{message}");
    assert!(message.ends_with(" UTC"), "{message}");

    // PagerDuty: the summary.
    let trigger = json(&requests(&stand_in, PAGERDUTY, 2).await[0]);
    assert_eq!(
        trigger["payload"]["summary"],
        "models.embedding is red in prod"
    );

    // The JSON webhook: `text`, beside the documented fields.
    let hook = requests(&stand_in, HOOK, 2).await;
    let (firing, resolved) = (json(&hook[0]), json(&hook[1]));
    let text = firing["text"].as_str().unwrap();
    assert!(
        text.starts_with("models.embedding firing: the server failed"),
        "{text}"
    );
    assert!(
        text.contains("<b>x</b> *bold*"),
        "plain text, as written: {text}"
    );
    assert_eq!(firing["test"], false);
    assert_eq!(firing["component"], "models.embedding");
    assert!(
        resolved["text"]
            .as_str()
            .unwrap()
            .starts_with("models.embedding resolved: ")
    );
}

/// `ragwatch notify --test` with `args` on a configuration of `receivers`: its exit code,
/// stdout and stderr.
async fn notify_test(receivers: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    let config = format!(
        "[alerts]\nexternal_url = \"https://ragwatch.example\"\n[alerts.labels]\ndeployment = \"prod\"\n{receivers}"
    );
    std::fs::write(&file, config).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"))
        .args(["notify", "--test", "--config"])
        .arg(&file)
        .args(args)
        .env_remove("RAGWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn notify_test_sends_each_receiver_a_test_and_prints_each_outcome() {
    let stand_in = stand_in().await;
    stand_in.set_route("POST", HOOK, FixtureResponse::new(200, ""));
    let url = stand_in.url();
    let host = format!("127.0.0.1:{}", stand_in.port());
    let receivers = format!(
        "[[alerts.slack]]\nurl = \"{url}{SLACK}\"\ncomponents = [\"db\"]\n\
         [[alerts.discord]]\nurl = \"{url}{DISCORD}\"\n\
         [[alerts.telegram]]\nbot_token = \"{TELEGRAM_TOKEN}\"\nchat_id = \"-1001\"\napi_url = \"{url}\"\n\
         template = \"<b>{{{{ summary }}}}</b> {{{{ labels.deployment }}}}\"\n\
         [[alerts.pagerduty]]\nrouting_key = \"{ROUTING_KEY}\"\nurl = \"{url}{PAGERDUTY}\"\n\
         [[alerts.webhook]]\nurl = \"{url}{HOOK}\"\n\
         template = \"{{% if component != 'redis' %}}{{{{ no_such_field }}}}{{% endif %}}\"\n"
    );
    let secrets = [
        "slack-Token-7",
        "discord-Token-9",
        "telegram-Token-5",
        ROUTING_KEY,
    ];

    // All delivered: a line each, exit 0.
    let (code, stdout, stderr) = notify_test(&receivers, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!(
            "ok     webhook {host} (alerts.webhook[0])\n\
             ok     slack {host} (alerts.slack[0])\n\
             ok     discord {host} (alerts.discord[0])\n\
             ok     telegram {host} (alerts.telegram[0])\n\
             ok     pagerduty {host} (alerts.pagerduty[0])\n"
        )
    );
    // What a person reads says it is a test, with the deployment and the link, whatever
    // the receiver's routing.
    let slack = json(&stand_in.requests_to(SLACK)[0]);
    assert_eq!(slack["text"], "Test notification from ragwatch");
    let facts = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        facts.contains("*Test:* This is a test from ragwatch: nothing is wrong."),
        "{facts}"
    );
    assert!(facts.contains("*deployment:* prod"), "{facts}");
    assert_eq!(
        slack["blocks"][2]["text"]["text"],
        "<https://ragwatch.example/|Open ragwatch>"
    );
    // A template is rendered after the test's own line.
    let telegram = json(&stand_in.requests_to(TELEGRAM)[0]);
    assert_eq!(
        telegram["text"],
        "This is a test from ragwatch: nothing is wrong.\n<b>Test notification from ragwatch</b> prod"
    );
    // A template failing on the test: the default text went, and a warning says why.
    let hook = json(&stand_in.requests_to(HOOK)[0]);
    assert_eq!(hook["test"], true);
    assert_eq!(
        hook["text"],
        "Test notification from ragwatch\nTest: This is a test from ragwatch: nothing is wrong.\ndeployment: prod\nhttps://ragwatch.example/"
    );
    assert!(
        stderr.contains("A receiver's template failed; the default text is sent.")
            && stderr.contains("uses a field that does not exist"),
        "{stderr}"
    );
    // A paging service: triggered, then resolved at once under the same key.
    let pagerduty = stand_in.requests_to(PAGERDUTY);
    assert_eq!(pagerduty.len(), 2);
    let (trigger, resolve) = (json(&pagerduty[0]), json(&pagerduty[1]));
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(
        trigger["payload"]["summary"],
        "Test notification from ragwatch"
    );
    assert_eq!(trigger["payload"]["severity"], "warning");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    // Each got one attempt.
    assert_eq!(stand_in.requests_to(DISCORD).len(), 1);

    // One failing: its line says why, exit 1.
    stand_in.set_route("POST", DISCORD, FixtureResponse::new(500, "oops"));
    let (code, stdout, stderr) = notify_test(&receivers, &[]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "failed discord {host} (alerts.discord[0]): HTTP 500\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("ok     slack {host}")), "{stdout}");
    assert_eq!(stand_in.requests_to(DISCORD).len(), 2, "no retry");

    // One receiver, by key or by name: the others get nothing.
    stand_in.clear_requests();
    let (code, stdout, _) = notify_test(&receivers, &["--receiver", "alerts.slack[0]"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("ok     slack {host} (alerts.slack[0])\n"));
    let by_name = format!("pagerduty {host}");
    let (code, stdout, _) = notify_test(&receivers, &["--receiver", &by_name]).await;
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("ok     pagerduty {host} (alerts.pagerduty[0])\n")
    );
    assert_eq!(stand_in.requests_to(SLACK).len(), 1);
    assert_eq!(stand_in.requests_to(PAGERDUTY).len(), 2);
    for path in [DISCORD, TELEGRAM, HOOK] {
        assert!(stand_in.requests_to(path).is_empty(), "{path}");
    }

    // An unknown name: exit 2, the valid names listed, nothing sent.
    stand_in.clear_requests();
    let (code, stdout, stderr) = notify_test(&receivers, &["--receiver", "slack"]).await;
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "ragwatch: no receiver is named \"slack\"; the receivers are: webhook {host} (alerts.webhook[0]), \
             slack {host} (alerts.slack[0]), discord {host} (alerts.discord[0]), \
             telegram {host} (alerts.telegram[0]), pagerduty {host} (alerts.pagerduty[0])\n"
        )
    );
    assert!(stand_in.requests().is_empty());

    // A failure that would name a token: scrubbed.
    let refused = format!(
        "[[alerts.slack]]\nurl = \"http://127.0.0.1:9{SLACK}\"\n\
         [[alerts.telegram]]\nbot_token = \"{TELEGRAM_TOKEN}\"\nchat_id = \"-1001\"\napi_url = \"http://127.0.0.1:9\"\n"
    );
    let (code, stdout, stderr) = notify_test(&refused, &[]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(stdout.matches("failed ").count(), 2, "{stdout}");
    for out in [&stdout, &stderr] {
        for secret in secrets {
            assert!(!out.contains(secret), "{secret}: {out}");
        }
    }
}

#[tokio::test]
async fn a_template_replaces_the_text_of_cards_markdown_and_paging_alerts_too() {
    let stand_in = FixtureServer::start([
        ("GET", "/health", FixtureResponse::new(200, "")),
        ("GET", "/info", FixtureResponse::json(200, TEI_INFO)),
        ("POST", TEAMS, FixtureResponse::new(202, "")),
        (
            "POST",
            GOOGLECHAT,
            FixtureResponse::json(200, r#"{"name":"spaces/S1/messages/1"}"#),
        ),
        (
            "POST",
            FEISHU,
            FixtureResponse::json(200, r#"{"code":0,"msg":"success","data":{}}"#),
        ),
        (
            "POST",
            DINGTALK,
            FixtureResponse::json(200, r#"{"errcode":0,"errmsg":"ok"}"#),
        ),
        (
            "POST",
            OPSGENIE,
            FixtureResponse::json(202, r#"{"result":"Request will be processed"}"#),
        ),
    ])
    .await;
    let url = stand_in.url();
    let template = "template = \"{{ summary }} [{{ labels.deployment }}]\\n{{ error }}\"\n";
    let receivers = format!(
        "[[alerts.teams]]\nurl = \"{url}{TEAMS}?sig=teams-Sig-1\"\n{template}\
         [[alerts.googlechat]]\nurl = \"{url}{GOOGLECHAT}?token=chat-Token-1\"\n{template}\
         [[alerts.feishu]]\nurl = \"{url}{FEISHU}\"\n{template}\
         [[alerts.dingtalk]]\nurl = \"{url}{DINGTALK}?access_token=dingtalk-Token-1\"\n{template}\
         [[alerts.opsgenie]]\napi_key = \"{OPSGENIE_KEY}\"\nurl = \"{url}\"\nsend_resolved = false\n{template}"
    );
    let app = TestApp::start_unscheduled(&model_config(&url, &receivers)).await;
    fresh(&app).await;
    stand_in.set_route("GET", "/health", hostile_health());
    fresh(&app).await;

    // Teams: the card's one text block, Markdown-escaped values; the button stays.
    let teams = json(&requests(&stand_in, TEAMS, 1).await[0]);
    let card = &teams["attachments"][0]["content"];
    let text = card["body"][0]["text"].as_str().unwrap();
    assert_eq!(card["body"].as_array().unwrap().len(), 1, "{card}");
    assert!(
        text.starts_with("RAGFlow models\\.embedding is down [prod]\nthe server failed"),
        "{text}"
    );
    assert!(!text.contains("@all") && !text.contains("](http"), "{text}");
    assert_eq!(card["actions"][0]["url"], "https://ragwatch.example/");

    // Google Chat: one paragraph in Chat's HTML subset, the values as entities.
    let chat = json(&requests(&stand_in, GOOGLECHAT, 1).await[0]);
    let widgets = &chat["cardsV2"][0]["card"]["sections"][0]["widgets"];
    let text = widgets[0]["textParagraph"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("RAGFlow models.embedding is down [prod]\nthe server failed"),
        "{text}"
    );
    assert!(
        text.contains("&lt;b&gt;x&lt;/b&gt;") && !text.contains("<b>"),
        "{text}"
    );
    assert_eq!(
        widgets[1]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"],
        "https://ragwatch.example/"
    );

    // Feishu: the first line is the coloured header's title, the rest the card's text.
    let feishu = json(&requests(&stand_in, FEISHU, 1).await[0]);
    let header = &feishu["card"]["header"];
    assert_eq!(header["template"], "red");
    assert_eq!(
        header["title"]["content"],
        "RAGFlow models.embedding is down [prod]"
    );
    let text = feishu["card"]["elements"][0]["text"]["content"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("the server failed"), "{text}");

    // DingTalk: the Markdown text; the notification's title stays the headline.
    let dingtalk = json(&requests(&stand_in, DINGTALK, 1).await[0]);
    assert_eq!(
        dingtalk["markdown"]["title"],
        "RAGFlow models.embedding is down"
    );
    let text = dingtalk["markdown"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("RAGFlow models\\.embedding is down [prod]\nthe server failed"),
        "{text}"
    );
    assert!(!text.contains("@all"), "{text}");

    // Opsgenie: the first line is the message, the whole text the description.
    let create = json(&requests(&stand_in, OPSGENIE, 1).await[0]);
    assert_eq!(create["message"], "RAGFlow models.embedding is down [prod]");
    let description = create["description"].as_str().unwrap();
    assert!(
        description.starts_with("RAGFlow models.embedding is down [prod]\nthe server failed"),
        "{description}"
    );
    assert_eq!(create["priority"], "P3");
}

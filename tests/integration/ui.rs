//! The System page in a real headless Chromium, against a real ragwatch probing real
//! MariaDB, Redis and NATS, a real (refused) S3 port and recorded Elasticsearch answers.
//! Screenshots land in `target/tmp/ui-screenshots/`.

use crate::common;

use common::app::TestApp;
use common::browser::Browser;
use common::ragflow::{Beat, RagflowDb, create_task_streams, redis, unix_now, write_beats};
use common::ragflow_server::RagflowServer;
use common::{AzuriteServer, FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RedisInstance};
use serde_json::{Value, json};

const GREEN_ES: &str = "elasticsearch/netdata/v8.4.2/cluster_health.json";
const YELLOW_ES: &str = "elasticsearch/clusterhealth/7.13.1.json";

async fn elasticsearch(fixture: &str) -> FixtureServer {
    FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, fixture),
    )])
    .await
}

/// ragwatch on a one-second schedule; `sections` adds or overrides TOML sections.
async fn ragwatch(redis_url: &str, es_url: &str, sections: &str) -> TestApp {
    TestApp::start(&format!(
        "[monitor]\ninterval = \"2s\"\ntimeout = \"2s\"\n\
         [db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n\
         [redis]\nurl = \"{redis_url}\"\n[doc_engine]\nurl = \"{es_url}\"\n{sections}{storage}",
        storage = if sections.contains("[storage]") {
            ""
        } else {
            "[storage]\nenabled = false\n"
        }
    ))
    .await
}

/// The `<dl>` details (term to description) inside the element `selector` names.
async fn detail_list(browser: &Browser, selector: &str) -> Value {
    browser
        .run(
            "const dl = document.querySelector(arguments[0]).querySelector('dl.details'); \
             return Object.fromEntries([...dl.querySelectorAll('dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]));",
            vec![json!(selector)],
        )
        .await
}

/// `data-status` of every component card, by key, once the page shows `count` of them.
async fn card_colours(browser: &Browser, count: usize) -> Value {
    browser
        .wait_for(
            &format!("{count} component cards"),
            &format!(
                "(() => {{ const cards = [...document.querySelectorAll('#components .card')]; \
                 return cards.length === {count} ? Object.fromEntries(cards.map(c => [c.dataset.key, c.dataset.status])) : null; }})()"
            ),
        )
        .await
}

#[tokio::test]
async fn cards_show_each_components_colour_details_and_error() {
    let es = elasticsearch(YELLOW_ES).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    for name in ["task_executor_a_0", "task_executor_b_1"] {
        let beats: Vec<Beat> = (0u32..20)
            .map(|i| {
                Beat::new(
                    now - 570.0 + 30.0 * f64::from(i),
                    u64::from(i * 3),
                    u64::from(i / 4),
                )
            })
            .collect();
        write_beats(&mut conn, name, &beats).await;
    }
    let refused = common::free_port();
    let app = ragwatch(
        &server.url(),
        &es.url(),
        &format!(
            "[storage]\nendpoint = \"http://127.0.0.1:{refused}\"\naccess_key = \"k\"\n\
             secret_key = \"s3-secret\"\nbucket = \"ragflow\"\n\
             [message_queue]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\n"
        ),
    )
    .await;
    let browser = Browser::start(1280, 1500).await;
    browser.open(&app.url("/")).await;

    let colours = card_colours(&browser, 6).await;
    assert_eq!(
        colours,
        json!({"db": "green", "redis": "green", "doc_engine": "yellow", "storage": "red",
               "message_queue": "green", "task_executors": "green"})
    );
    let card = |key: &str| {
        format!("document.querySelector('#components .card[data-key=\"{key}\"]').innerText")
    };
    let es_details = detail_list(&browser, ".card[data-key=\"doc_engine\"]").await;
    assert_eq!(
        es_details,
        json!({"cluster": "elasticsearch", "nodes": "1", "data nodes": "1", "shards": "30", "unassigned": "30"})
    );
    let es_card = browser
        .run(&format!("return {};", card("doc_engine")), vec![])
        .await;
    assert!(
        es_card
            .as_str()
            .unwrap()
            .contains("cluster status is yellow: 30 replica shards unassigned"),
        "{es_card}"
    );
    let storage = browser
        .run(&format!("return {};", card("storage")), vec![])
        .await;
    let storage = storage.as_str().unwrap();
    assert!(
        storage.contains(&format!("127.0.0.1:{refused}")),
        "{storage}"
    );
    assert!(!storage.contains("s3-secret"), "{storage}");
    let redis_details = detail_list(&browser, ".card[data-key=\"redis\"]").await;
    assert!(
        redis_details["version"].as_str().unwrap().starts_with("7."),
        "{redis_details}"
    );
    assert!(
        redis_details["memory"].as_str().unwrap().ends_with("MiB"),
        "{redis_details}"
    );
    let db_details = detail_list(&browser, ".card[data-key=\"db\"]").await;
    assert!(
        db_details["version"].as_str().unwrap().contains("MariaDB"),
        "{db_details}"
    );
    assert_eq!(db_details["max connections"], "151", "{db_details}");
    let overall = browser
        .run(
            "return document.getElementById('overall').innerText;",
            vec![],
        )
        .await;
    assert_eq!(overall, "Down: storage");

    // The strip: one slot per half hour of the last day, the current one coloured from
    // the roll-ups ragwatch has written so far.
    let strip = browser
        .wait_for(
            "the storage strip's current slot",
            "(() => { const slots = document.querySelectorAll('.card[data-key=\"storage\"] .slot'); \
             const last = slots[slots.length - 1]; \
             return last && last.dataset.status !== 'none' ? [slots.length, last.dataset.status, last.title] : null; })()",
        )
        .await;
    assert_eq!(strip[0], 48);
    assert_eq!(strip[1], "red");
    assert!(strip[2].as_str().unwrap().contains("red ("), "{strip}");

    let bars = browser
        .wait_for(
            "bars of both executors",
            "(() => { const charts = document.querySelectorAll('.executor .bar'); return charts.length === 38 ? charts.length : null; })()",
        )
        .await;
    assert_eq!(bars, 38, "19 intervals per executor");
    browser.screenshot("overview-one-red-two-executors").await;
}

#[tokio::test]
async fn a_dependency_taken_down_turns_red_and_back_without_a_reload() {
    let es = elasticsearch(GREEN_ES).await;
    let mut server = RedisInstance::start(None).await;
    let app = ragwatch(
        &server.url(),
        &es.url(),
        "[task_executors]\nenabled = false\n",
    )
    .await;
    let browser = Browser::start(1280, 1000).await;
    browser.open(&app.url("/")).await;
    let colours = card_colours(&browser, 3).await;
    assert_eq!(colours["redis"], "green");
    browser.run("window.loadedOnce = true;", vec![]).await;

    server.kill();
    let error = browser
        .wait_for(
            "the redis card turning red",
            "(() => { const c = document.querySelector('.card[data-key=\"redis\"]'); \
             return c && c.dataset.status === 'red' ? c.querySelector('.error').innerText : null; })()",
        )
        .await;
    assert!(
        error.as_str().unwrap().contains(&server.port().to_string()),
        "{error}"
    );
    assert_eq!(
        browser
            .run(
                "return document.getElementById('overall').innerText;",
                vec![]
            )
            .await,
        "Down: redis"
    );
    let incident = browser
        .wait_for(
            "an open redis incident",
            "(() => { const row = document.querySelector('#incidents tbody tr[data-open]'); \
             return row ? row.innerText : null; })()",
        )
        .await;
    assert!(
        incident.as_str().unwrap().starts_with("redis\tRED\t"),
        "{incident}"
    );
    assert!(incident.as_str().unwrap().contains("ongoing"), "{incident}");
    browser.screenshot("redis-down").await;

    server.start_again().await;
    browser
        .wait_for(
            "the redis card green again",
            "document.querySelector('.card[data-key=\"redis\"]')?.dataset.status === 'green'",
        )
        .await;
    let ended = browser
        .wait_for(
            "the incident ended",
            "(() => { const rows = [...document.querySelectorAll('#incidents tbody tr')]; \
             return rows.length && !rows.some(r => r.hasAttribute('data-open')) ? rows[0].innerText : null; })()",
        )
        .await;
    assert!(!ended.as_str().unwrap().contains("ongoing"), "{ended}");
    assert_eq!(
        browser
            .run("return window.loadedOnce === true;", vec![])
            .await,
        true,
        "the page refreshed itself without reloading"
    );
}

#[tokio::test]
async fn executor_bars_match_the_heartbeats_and_a_bar_opens_its_interval() {
    let db = RagflowDb::create(false).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now().floor();
    let injected = "<img src=x onerror=\"window.injected=1\">";
    let mut busy = Beat::new(now - 60.0, 13, 1);
    busy.current = vec!["<script>window.injected=2</script>"];
    busy.pending = 4;
    busy.lag = 2;
    // Intervals: (3 done, 0 failed), (0, 2), (7, 0).
    let beats = [
        Beat::new(now - 90.0, 10, 1),
        busy,
        Beat::new(now - 30.0, 13, 3),
        Beat::new(now, 20, 3),
    ];
    write_beats(&mut conn, "task_executor_ui_0", &beats).await;
    let ms = |s: f64| (s * 1000.0) as i64;
    db.execute("INSERT INTO document (id, kb_id, name, type, size) VALUES ('doc1', 'kb', 'annual_report.pdf', 'pdf', 10)").await;
    db.execute(&format!(
        "INSERT INTO task (id, doc_id, progress, progress_msg, update_time, process_duration) VALUES \
         ('task_failed', 'doc1', -1, '[ERROR]{injected}', {}, 3)",
        ms(now - 50.0)
    ))
    .await;
    let es = elasticsearch(GREEN_ES).await;
    let app = TestApp::start(&format!(
        "[monitor]\ninterval = \"2s\"\ntimeout = \"2s\"\n[db]\nurl = \"{}\"\n\
         [redis]\nurl = \"{}\"\n[doc_engine]\nurl = \"{}\"\n[storage]\nenabled = false\n",
        db.url,
        server.url(),
        es.url()
    ))
    .await;
    let browser = Browser::start(1280, 1000).await;
    browser.open(&app.url("/")).await;

    let bars = "[...document.querySelectorAll('.executor[data-name=\"task_executor_ui_0\"] .bar')]";
    let per_interval = browser
        .wait_for(
            "three bars",
            &format!(
                "(() => {{ const b = {bars}; return b.length === 3 ? b.map(x => [+x.dataset.done, +x.dataset.failed]) : null; }})()"
            ),
        )
        .await;
    assert_eq!(per_interval, json!([[3, 0], [0, 2], [7, 0]]));
    let card = detail_list(&browser, ".executor[data-name=\"task_executor_ui_0\"]").await;
    assert_eq!(
        card,
        json!({"pending": "0", "lag": "0", "running": "0", "done (30 min)": "10", "failed (30 min)": "2"})
    );
    let state = browser
        .run("return document.querySelector('.executor[data-name=\"task_executor_ui_0\"]').dataset.state;", vec![])
        .await;
    assert_eq!(state, "alive");

    browser
        .run(
            "document.querySelector('input[name=\"mode\"][value=\"cumulative\"]').click();",
            vec![],
        )
        .await;
    let cumulative = browser
        .wait_for(
            "cumulative bars",
            &format!("(() => {{ const b = {bars}; return b.length === 3 && b[0].dataset.done === '13' ? b.map(x => [+x.dataset.done, +x.dataset.failed]) : null; }})()"),
        )
        .await;
    assert_eq!(cumulative, json!([[13, 1], [13, 3], [20, 3]]));

    // The second interval: the failure, with the task from RAGFlow's table.
    browser
        .run(
            &format!("{bars}[1].dispatchEvent(new MouseEvent('click', {{bubbles: true}}));"),
            vec![],
        )
        .await;
    let details = browser
        .wait_for(
            "the interval's details",
            "(() => { const d = document.getElementById('interval-dialog'); \
             return d.open && d.querySelector('table.tasks') ? d.innerText : null; })()",
        )
        .await;
    let details_text = details.as_str().unwrap();
    for expected in [
        "task_executor_ui_0",
        "Running (0)",
        "annual_report.pdf\tFAILED",
        &format!("[ERROR]{injected}"),
        "ip_address\t172.18.0.6",
    ] {
        assert!(
            details_text.contains(expected),
            "{expected:?} not in\n{details_text}"
        );
    }
    assert!(!details_text.contains("null"), "{details_text}");
    let counts = detail_list(&browser, "#interval-body").await;
    assert_eq!(
        counts,
        json!({"done": "0", "failed": "2", "pending": "0", "lag": "0", "restarted": "no"})
    );
    browser.screenshot("interval-details").await;

    // The busy heartbeat closes the first interval: its running task, whose id is markup.
    browser
        .run("document.getElementById('interval-close').click();", vec![])
        .await;
    browser
        .run(
            &format!("{bars}[0].dispatchEvent(new MouseEvent('click', {{bubbles: true}}));"),
            vec![],
        )
        .await;
    let running = browser
        .wait_for(
            "the running task",
            "(() => { const d = document.getElementById('interval-dialog'); \
             return d.open && d.innerText.includes('Running (1)') ? d.innerText : null; })()",
        )
        .await;
    let running = running.as_str().unwrap();
    assert!(
        running.contains("<script>window.injected=2</script>.pdf"),
        "{running}"
    );
    assert_eq!(
        detail_list(&browser, "#interval-body").await["pending"],
        "4"
    );
    let executed = browser
        .run(
            "return [window.injected ?? null, document.querySelectorAll('#interval-dialog img, #interval-dialog script').length];",
            vec![],
        )
        .await;
    assert_eq!(executed, json!([null, 0]), "markup from data stays text");
    db.drop_database().await;
}

#[tokio::test]
async fn the_token_prompt_guards_the_page_and_the_token_stays_out_of_urls() {
    let es = elasticsearch(GREEN_ES).await;
    let app = ragwatch(
        "redis://127.0.0.1:6379",
        &es.url(),
        "[server]\ntokens = [\"page-token-7f3a\"]\n[task_executors]\nenabled = false\n",
    )
    .await;
    let browser = Browser::start(1280, 1000).await;
    browser.open(&app.url("/")).await;
    browser
        .wait_for(
            "the token prompt",
            "document.getElementById('token-dialog').open",
        )
        .await;
    let cards = browser
        .run(
            "return document.querySelectorAll('#components .card').length;",
            vec![],
        )
        .await;
    assert_eq!(cards, 0, "nothing shows without a token");

    let sign_in = |token: &'static str| {
        format!(
            "document.getElementById('token-input').value = '{token}'; \
             document.getElementById('token-form').requestSubmit();"
        )
    };
    browser.run(&sign_in("wrong-token"), vec![]).await;
    let refused = browser
        .wait_for(
            "the refusal",
            "(() => { const e = document.getElementById('token-error'); return e.hidden ? null : e.innerText; })()",
        )
        .await;
    assert_eq!(refused, "Not accepted: Invalid access token");

    browser.run(&sign_in("page-token-7f3a"), vec![]).await;
    let colours = card_colours(&browser, 3).await;
    assert_eq!(colours["redis"], "green");
    assert_eq!(
        browser
            .run(
                "return document.getElementById('token-dialog').open;",
                vec![]
            )
            .await,
        false
    );
    let urls = browser
        .run(
            "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)];",
            vec![],
        )
        .await;
    assert!(urls.as_array().unwrap().len() > 3, "{urls}");
    assert!(!urls.to_string().contains("page-token"), "{urls}");

    // A reload in the same tab keeps the session; signing out asks again.
    browser.client.refresh().await.unwrap();
    card_colours(&browser, 3).await;
    browser
        .run("document.getElementById('sign-out').click();", vec![])
        .await;
    browser
        .wait_for(
            "the prompt again",
            "document.getElementById('token-dialog').open",
        )
        .await;
}

#[tokio::test]
async fn an_unreachable_ragwatch_is_shown_as_such_and_recovers() {
    let es = elasticsearch(GREEN_ES).await;
    let app = ragwatch(
        "redis://127.0.0.1:6379",
        &es.url(),
        "[task_executors]\nenabled = false\n",
    )
    .await;
    let proxy = FaultProxy::start(app.addr).await;
    let browser = Browser::start(1280, 1000).await;
    browser
        .open(&format!("http://{}/", proxy.host_port()))
        .await;
    card_colours(&browser, 3).await;

    proxy.set_mode(ProxyMode::Refuse).await;
    let banner = browser
        .wait_for(
            "the unreachable banner",
            "(() => { const b = document.getElementById('banner'); return b.hidden ? null : b.innerText; })()",
        )
        .await;
    assert!(
        banner
            .as_str()
            .unwrap()
            .starts_with("ragwatch is unreachable: cannot connect."),
        "{banner}"
    );
    let kept = browser
        .run(
            "return [document.body.classList.contains('offline'), document.querySelectorAll('#components .card').length];",
            vec![],
        )
        .await;
    assert_eq!(kept, json!([true, 3]), "the last data stays, marked as old");
    browser.screenshot("unreachable").await;

    proxy.set_mode(ProxyMode::Pass).await;
    browser
        .wait_for(
            "the banner gone",
            "document.getElementById('banner').hidden && !document.body.classList.contains('offline')",
        )
        .await;
}

#[tokio::test]
async fn the_page_fits_a_phone_screen() {
    let es = elasticsearch(YELLOW_ES).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    let beats: Vec<Beat> = (0u32..10)
        .map(|i| Beat::new(now - 270.0 + 30.0 * f64::from(i), u64::from(i * 2), 0))
        .collect();
    write_beats(&mut conn, "task_executor_with_a_rather_long_name_0", &beats).await;
    let app = ragwatch(&server.url(), &es.url(), "").await;
    let browser = Browser::phone().await;
    browser.open(&app.url("/")).await;
    card_colours(&browser, 4).await;
    browser
        .wait_for(
            "the executor's bars",
            "document.querySelectorAll('.executor .bar').length === 9",
        )
        .await;
    let widths = browser
        .run(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await;
    assert_eq!(widths[1], 390, "a phone-width viewport");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "no sideways scrolling on a phone: {widths}"
    );
    browser.screenshot("phone").await;
}

#[tokio::test]
async fn a_consequence_shows_as_unknown_with_its_cause() {
    let es = elasticsearch(GREEN_ES).await;
    let mut server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "task_executor_dep_0",
        &[Beat::new(now - 30.0, 1, 0), Beat::new(now - 1.0, 2, 0)],
    )
    .await;
    let app = ragwatch(&server.url(), &es.url(), "").await;
    let browser = Browser::start(1280, 1000).await;
    browser.open(&app.url("/")).await;
    assert_eq!(card_colours(&browser, 4).await["task_executors"], "green");

    server.kill();
    let cause = browser
        .wait_for(
            "the executors' card unknown",
            "(() => { const c = document.querySelector('.card[data-key=\"task_executors\"]'); \
             return c && c.dataset.status === 'unknown' ? c.querySelector('.cause').innerText : null; })()",
        )
        .await;
    assert_eq!(cause, "Unknown while redis is down");
    assert_eq!(
        browser
            .run(
                "return document.getElementById('overall').innerText;",
                vec![]
            )
            .await,
        "Down: redis"
    );
    browser.screenshot("unknown-cause").await;
}

/// The other RAGFlow backends' cards show their own details: an Infinity cluster node
/// (recorded answer), Azure Blob (Azurite), a TEI and an OpenAI-compatible model server
/// (documented answers), and the parsing pipeline over a real RAGFlow `task` table.
#[tokio::test]
async fn every_backends_card_shows_its_details() {
    const ACCOUNT: &str = "ragwatchui";
    const KEY: &str = "cmFnd2F0Y2gtYXp1cml0ZS1hY2NvdW50LWtleS0wMQ==";
    let infinity = FixtureServer::start([
        (
            "GET",
            "/admin/node/current",
            FixtureResponse::from_fixture(
                200,
                "infinity/admin_node_current.cluster_leader.derived.json",
            ),
        ),
        (
            "GET",
            "/configs",
            FixtureResponse::from_fixture(200, "infinity/configs.docs.json"),
        ),
    ])
    .await;
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let models = FixtureServer::start([
        ("GET", "/health", FixtureResponse::new(200, "")),
        (
            "GET",
            "/info",
            FixtureResponse::json(
                200,
                r#"{"model_id":"BAAI/bge-m3","max_input_length":8192,"version":"1.8.0"}"#,
            ),
        ),
        (
            "GET",
            "/v1/models",
            FixtureResponse::json(
                200,
                r#"{"object":"list","data":[{"id":"qwen2.5-7b-instruct","object":"model"},{"id":"bge-m3","object":"model"}]}"#,
            ),
        ),
    ])
    .await;
    let db = RagflowDb::create(false).await;
    let queued_at = jiff::Timestamp::now().as_millisecond() - 200_000;
    db.execute(&format!(
        "INSERT INTO task (id, doc_id, progress, progress_msg, create_time, update_time) \
         VALUES ('t1', 'doc1', 0, '', {queued_at}, {queued_at})"
    ))
    .await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    // RAGFlow's task streams with its executors' group, as a running deployment has them.
    create_task_streams(&mut conn).await;
    // A task message no executor has read yet: lag 1 on the normal-priority stream.
    redis::cmd("XADD")
        .arg(&["te.1.common", "*", "message", "{}"][..])
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
    // A retrieval canary through a stand-in of RAGFlow's API that finds the document.
    let ragflow = RagflowServer::start("ragflow-ui-key").await;
    let dataset = ragflow.create_dataset();
    ragflow.add_parsed_document(&dataset, "handbook.pdf", &["Refunds within 30 days."]);
    let app = TestApp::start(&format!(
        "[monitor]\ninterval = \"2s\"\ntimeout = \"2s\"\n\
         [[canaries]]\nname = \"handbook\"\nkind = \"retrieval\"\nurl = \"{ragflow}\"\n\
         api_key = \"ragflow-ui-key\"\ndataset_ids = [\"{dataset}\"]\nquestion = \"refunds\"\n\
         expect_document = \"handbook.pdf\"\n\
         [db]\nurl = \"{db}\"\n[redis]\nurl = \"{redis}\"\n\
         [doc_engine]\nkind = \"infinity\"\nurl = \"{infinity}\"\n\
         [storage]\nkind = \"azure\"\nendpoint = \"{azure}\"\naccount_name = \"{ACCOUNT}\"\n\
         account_key = \"{KEY}\"\ncontainer = \"ragflow\"\n\
         [task_executors]\nenabled = false\n\
         [parsing]\nqueued_warn = \"10m\"\nqueued_critical = \"1h\"\n\
         [[models]]\nname = \"embedding\"\nkind = \"tei\"\nurl = \"{models}\"\n\
         [[models]]\nname = \"chat\"\nkind = \"openai\"\nurl = \"{models}/v1\"\napi_key = \"sk-ui-test\"\n",
        db = db.url,
        redis = server.url(),
        infinity = infinity.url(),
        azure = azurite.endpoint(),
        models = models.url(),
        ragflow = ragflow.url(),
    ))
    .await;
    let browser = Browser::start(1280, 1400).await;
    browser.open(&app.url("/")).await;

    assert_eq!(
        card_colours(&browser, 8).await,
        json!({"db": "green", "redis": "green", "doc_engine": "green", "storage": "green",
               "parsing": "green", "models.embedding": "green", "models.chat": "green",
               "canary.handbook": "green"})
    );
    let canary = detail_list(&browser, ".card[data-key=\"canary.handbook\"]").await;
    assert_eq!(
        canary,
        json!({"chunks": "1", "expected_rank": "1", "top_similarity": "1", "total": "1"})
    );
    assert_eq!(
        detail_list(&browser, ".card[data-key=\"doc_engine\"]").await,
        json!({"role": "leader", "node status": "alive", "node": "boss",
               "address": "0.0.0.0:23851", "version": "0.7.0"})
    );
    assert_eq!(
        detail_list(&browser, ".card[data-key=\"storage\"]").await,
        json!({"container": "ragflow", "account": ACCOUNT, "lease": "available"})
    );
    assert_eq!(
        detail_list(&browser, ".card[data-key=\"models.embedding\"]").await,
        json!({"model": "BAAI/bge-m3", "version": "1.8.0", "max input": "8192"})
    );
    assert_eq!(
        detail_list(&browser, ".card[data-key=\"models.chat\"]").await,
        json!({"models": "2", "names": "qwen2.5-7b-instruct, bge-m3"})
    );
    let parsing = detail_list(&browser, ".card[data-key=\"parsing\"]").await;
    assert_eq!(parsing["queued"], "1", "{parsing}");
    assert_eq!(parsing["in progress"], "0", "{parsing}");
    assert_eq!(parsing["stuck"], "0", "{parsing}");
    assert_eq!(parsing["te.1.common"], "0 pending · lag 1", "{parsing}");
    assert_eq!(parsing["te.0.common"], "0 pending · lag 0", "{parsing}");
    let waiting = parsing["oldest waiting"].as_str().unwrap();
    assert!(waiting.starts_with("3 min "), "{parsing}");
    let page = browser.run("return document.body.innerText;", vec![]).await;
    assert!(!page.as_str().unwrap().contains("sk-ui-test"));
    assert!(!page.as_str().unwrap().contains("ragflow-ui-key"));
    browser.screenshot("every-backend").await;
}

#[tokio::test]
async fn the_page_shows_a_maintenance_window_and_marks_its_incident() {
    let es = elasticsearch(GREEN_ES).await;
    let mut server = RedisInstance::start(None).await;
    let now = jiff::Timestamp::now();
    let window = format!(
        "[task_executors]\nenabled = false\n[alerts]\n\
         [[alerts.maintenance]]\nstart = \"{}\"\nend = \"{}\"\ncomponents = [\"redis\"]\ncomment = \"upgrade\"\n\
         [[alerts.maintenance]]\ncron = \"0 3 * * Sun\"\ntimezone = \"Europe/Berlin\"\nduration = \"1h\"\n",
        now - std::time::Duration::from_secs(60),
        now + std::time::Duration::from_secs(3600),
    );
    let app = ragwatch(&server.url(), &es.url(), &window).await;
    let browser = Browser::start(1280, 1000).await;
    browser.open(&app.url("/")).await;
    let quiet = browser
        .wait_for(
            "the windows shown",
            "(() => { const s = document.getElementById('quiet-section'); \
             return s && !s.hidden ? document.getElementById('quiet').innerText : null; })()",
        )
        .await;
    let lines: Vec<&str> = quiet.as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 2, "{quiet}");
    assert!(lines[0].starts_with("Maintenance now, until "), "{quiet}");
    assert!(lines[0].ends_with(": redis (upgrade)"), "{quiet}");
    assert!(lines[1].starts_with("Next maintenance "), "{quiet}");
    assert!(lines[1].ends_with(": all components"), "{quiet}");
    server.kill();
    let incident = browser
        .wait_for(
            "an open redis incident marked as in maintenance",
            "(() => { const row = document.querySelector('#incidents tbody tr[data-open]'); \
             return row && row.innerText.includes('in maintenance') ? row.innerText : null; })()",
        )
        .await;
    assert!(
        incident
            .as_str()
            .unwrap()
            .starts_with("redis\tRED in maintenance\t"),
        "{incident}"
    );
    browser.screenshot("maintenance").await;
}

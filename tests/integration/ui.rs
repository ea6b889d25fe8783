//! The System page in a real headless Chromium, against a real ragwatch probing real
//! MariaDB, Redis and NATS, a real (refused) S3 port and recorded Elasticsearch answers.
//! Screenshots land in `target/tmp/ui-screenshots/`.

use crate::common;

use common::app::TestApp;
use common::browser::Browser;
use common::ragflow::{Beat, RagflowDb, create_task_streams, redis, unix_now, write_beats};
use common::ragflow_server::RagflowServer;
use common::{
    AzuriteServer, FaultProxy, FixtureResponse, FixtureServer, NginxProxy, ProxyMode, RedisInstance,
};
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
        incident.as_str().unwrap().starts_with("redis\tRED\tRED\t"),
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
    // RAGFlow's sentinel for a file it does not split into pages.
    busy.pages = (0, 100_000_000);
    let mut second_part = Beat::new(now, 20, 3);
    second_part.current = vec!["task_pages_13_to_24"];
    second_part.pages = (12, 24);
    // Intervals: (3 done, 0 failed), (0, 2), (7, 0).
    let beats = [
        Beat::new(now - 90.0, 10, 1),
        busy,
        Beat::new(now - 30.0, 13, 3),
        second_part,
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
    // Failed is hatched besides its hue; done is plain.
    let fills = browser
        .run(
            &format!("const bar = {bars}[1]; return ['done', 'failed'].map(k => getComputedStyle(bar.querySelector('rect.' + k)).fill);"),
            vec![],
        )
        .await;
    assert!(fills[0].as_str().unwrap().starts_with("rgb("), "{fills}");
    assert!(
        fills[1].as_str().unwrap().contains("#hatch-failed"),
        "{fills}"
    );
    let card = detail_list(&browser, ".executor[data-name=\"task_executor_ui_0\"]").await;
    assert_eq!(
        card,
        json!({"pending": "0", "lag": "0", "running": "1", "done (30 min)": "10", "failed (30 min)": "2"})
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
    // The heartbeat's own time as written, then the same instant on the page's clock.
    let beat_time = details_text
        .lines()
        .find(|l| l.starts_with("now\t"))
        .unwrap_or_else(|| panic!("no now field in\n{details_text}"));
    assert!(beat_time.ends_with(" local)"), "{beat_time}");
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
        running.contains("<script>window.injected=2</script>.pdf\t\twhole file\t"),
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

    // Pages as people count them: RAGFlow's from_page 12 to 24 (excluded) is 13–24.
    browser
        .run(
            &format!(
                "document.getElementById('interval-close').click(); \
                      {bars}[2].dispatchEvent(new MouseEvent('click', {{bubbles: true}}));"
            ),
            vec![],
        )
        .await;
    let pages = browser
        .wait_for(
            "the second part's pages",
            "(() => { const d = document.getElementById('interval-dialog'); \
             return d.open && d.innerText.includes('Running (1)') ? d.innerText : null; })()",
        )
        .await;
    assert!(
        pages
            .as_str()
            .unwrap()
            .contains("task_pages_13_to_24.pdf\t\t13–24\t"),
        "{pages}"
    );
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
    // Short enough that the page scrolls under the banner.
    let browser = Browser::start(1280, 500).await;
    browser
        .open(&format!("http://{}/", proxy.host_port()))
        .await;
    card_colours(&browser, 3).await;
    // The tab says the overall status, in its title and its icon.
    const TAB: &str = "[document.title, document.getElementById('favicon').dataset.status, \
         document.getElementById('favicon').href.startsWith('data:image/svg+xml,')]";
    let tab = browser
        .wait_for(
            "the tab's title and icon",
            &format!("document.title.startsWith('All') && {TAB}"),
        )
        .await;
    assert_eq!(
        tab,
        json!(["All systems operational · ragwatch", "green", true])
    );

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
    // The header no longer says green: the verdict is unknown while ragwatch is unreachable.
    let header = browser
        .run(
            &format!("const o = document.getElementById('overall'); return [o.dataset.status, o.innerText, ...{TAB}];"),
            vec![],
        )
        .await;
    assert_eq!(header[0], "unknown", "{header}");
    let said = header[1].as_str().unwrap();
    assert!(
        said.starts_with("Unknown: ragwatch unreachable (last seen ") && said.ends_with(')'),
        "{header}"
    );
    assert_eq!(header[2], format!("{said} · ragwatch"), "{header}");
    assert_eq!(
        (&header[3], &header[4]),
        (&json!("unknown"), &json!(true)),
        "{header}"
    );
    // The banner stays in view when the page is scrolled.
    let banner_top = browser
        .run(
            "window.scrollTo(0, document.body.scrollHeight); \
             return [window.scrollY > 0, document.getElementById('banner').getBoundingClientRect().top];",
            vec![],
        )
        .await;
    assert_eq!(banner_top, json!([true, 0]), "sticky banner");
    browser.screenshot("unreachable").await;

    proxy.set_mode(ProxyMode::Pass).await;
    browser
        .wait_for(
            "the banner gone",
            "document.getElementById('banner').hidden && !document.body.classList.contains('offline')",
        )
        .await;
    assert_eq!(
        browser.run(&format!("return {TAB};"), vec![]).await,
        json!(["All systems operational · ragwatch", "green", true])
    );
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

/// `[key, status]` of every component card, in the order the page shows them.
const CARD_ORDER: &str = "[...document.querySelectorAll('#components .card')].map(c => [c.dataset.key, c.dataset.status])";

/// The lowest WCAG 2 contrast of the text of every visible pill and link (and the overall
/// status) against the colour it is drawn on, from the rendered colours: `[ratio, what]`.
const LOWEST_CONTRAST: &str = r#"
const rgba = (text) => { const v = text.match(/[\d.]+/g).map(Number); return v.length === 3 ? [...v, 1] : v; };
const luminance = ([r, g, b]) => {
  const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ground = (node) => {
  for (; node; node = node.parentElement) {
    const colour = rgba(getComputedStyle(node).backgroundColor);
    if (colour[3] > 0) return colour;
  }
  return rgba(getComputedStyle(document.documentElement).backgroundColor);
};
const ratio = (a, b) => { const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
const shown = [...document.querySelectorAll('.pill, a, button.link, .overall')].filter(e => e.getClientRects().length);
const all = shown.map(e => [ratio(rgba(getComputedStyle(e).color), ground(e)), `${e.className || e.tagName} ${e.textContent.slice(0, 30)}`]);
all.sort((a, b) => a[0] - b[0]);
return [all.length, all[0], luminance(ground(document.body))];
"#;

/// The scene an operator opens in an incident: a red component (its own Redis killed), a
/// yellow one (Elasticsearch's yellow cluster health), an unknown one (the executors, whose
/// Redis that is) and greens (MariaDB, NATS), at desktop and phone width.
#[tokio::test]
async fn the_worst_comes_first_with_since_when_in_light_and_dark() {
    let es = elasticsearch(YELLOW_ES).await;
    let mut server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "task_executor_scene_0",
        &[Beat::new(now - 30.0, 1, 0), Beat::new(now - 1.0, 2, 0)],
    )
    .await;
    let app = ragwatch(
        &server.url(),
        &es.url(),
        "[message_queue]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\n",
    )
    .await;
    let browser = Browser::start(1440, 900).await;
    browser.open(&app.url("/")).await;
    card_colours(&browser, 5).await;
    server.kill();

    // Cards: red, yellow, unknown, then the greens in configuration order.
    let expected = json!([
        ["redis", "red"],
        ["doc_engine", "yellow"],
        ["task_executors", "unknown"],
        ["db", "green"],
        ["message_queue", "green"]
    ]);
    browser
        .wait_for(
            "cards ordered red, yellow, unknown, green",
            &format!("JSON.stringify({CARD_ORDER}) === '{expected}'"),
        )
        .await;

    // The header names every component that is not green, the worst first, each since the
    // start of its open incident and linked to it.
    let header = browser
        .wait_for(
            "the header's list with since for each",
            "(() => { const items = [...document.querySelectorAll('#problems li')]; \
             return items.length === 3 && items.every(li => li.querySelector('a.since')) \
               ? items.map(li => [li.dataset.key, li.dataset.status, +li.querySelector('a.since').dataset.since, \
                                  li.querySelector('a.since').getAttribute('href'), li.innerText]) : null; })()",
        )
        .await;
    let (_, open) = app.get_json("/api/v1/incidents/open").await;
    let started = |key: &str| {
        open["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["component"] == key)
            .map(|i| (i["started_at_ms"].clone(), format!("#incident-{}", i["id"])))
            .unwrap_or_else(|| panic!("no open incident for {key}: {open}"))
    };
    for (item, (key, status)) in header.as_array().unwrap().iter().zip([
        ("redis", "red"),
        ("doc_engine", "yellow"),
        ("task_executors", "unknown"),
    ]) {
        assert_eq!(
            (item[0].as_str(), item[1].as_str()),
            (Some(key), Some(status)),
            "{header}"
        );
        assert_eq!(
            (item[2].clone(), item[3].as_str().unwrap().to_owned()),
            started(key),
            "{header}"
        );
        let text = item[4].as_str().unwrap();
        assert!(
            text.starts_with(&format!("{} {key}", status.to_uppercase())),
            "{text}"
        );
        assert!(text.contains(" since "), "{text}");
    }
    assert!(
        header[2][4]
            .as_str()
            .unwrap()
            .contains("while redis is down"),
        "{header}"
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

    // Each card that is not green says since when and links to its incident, whose row
    // shows its current status beside the worst.
    let cards = browser
        .wait_for(
            "since and a link on each card that is not green",
            "(() => { const cards = [...document.querySelectorAll('#components .card:not([data-status=green])')]; \
             const links = cards.map(c => c.querySelector('.card-since a')); \
             return links.every(a => a && document.querySelector(a.getAttribute('href'))) \
               ? cards.map(c => [c.dataset.key, c.querySelector('.card-since').innerText, \
                   document.querySelector(c.querySelector('.card-since a').getAttribute('href')).innerText]) : null; })()",
        )
        .await;
    assert_eq!(cards[0][0], "redis");
    assert!(
        cards[0][1].as_str().unwrap().starts_with("Red since "),
        "{cards}"
    );
    assert!(
        cards[0][2]
            .as_str()
            .unwrap()
            .starts_with("redis\tRED\tRED\t"),
        "{cards}"
    );
    assert!(
        cards[1][1].as_str().unwrap().starts_with("Yellow since "),
        "{cards}"
    );
    assert!(
        cards[1][2]
            .as_str()
            .unwrap()
            .starts_with("doc_engine\tYELLOW\tYELLOW\t"),
        "{cards}"
    );
    assert_eq!(
        browser
            .run("return document.querySelectorAll('#components .card[data-status=green] .card-since').length;", vec![])
            .await,
        0
    );

    // A yellow reason is a warning, told from an error by more than its colour.
    let reasons = browser
        .run(
            "const reason = (key) => document.querySelector(`.card[data-key=\"${key}\"] .warning, .card[data-key=\"${key}\"] .error`); \
             const look = (e) => [e.className, getComputedStyle(e).color, getComputedStyle(e).backgroundColor, getComputedStyle(e, '::before').content]; \
             return [look(reason('doc_engine')), look(reason('redis'))];",
            vec![],
        )
        .await;
    assert_eq!(reasons[0][0], "warning", "{reasons}");
    assert_eq!(reasons[1][0], "error", "{reasons}");
    assert_ne!(reasons[0][1], reasons[1][1], "{reasons}");
    assert_ne!(reasons[0][2], reasons[1][2], "{reasons}");
    assert_ne!(
        reasons[0][3], reasons[1][3],
        "a sign besides the colour: {reasons}"
    );

    // A bad slot of the 24 h strip has a pattern, not only a hue.
    let slot = browser
        .wait_for(
            "the redis strip's red slot",
            "(() => { const s = [...document.querySelectorAll('.card[data-key=\"redis\"] .slot[data-status=red]')].pop(); \
             return s ? getComputedStyle(s).backgroundImage : null; })()",
        )
        .await;
    assert!(
        slot.as_str()
            .unwrap()
            .starts_with("repeating-linear-gradient"),
        "{slot}"
    );

    // Every pill and link reads at 4.5:1 or more, in light and in dark mode.
    for scheme in ["light", "dark"] {
        browser.prefer_color_scheme(scheme).await;
        let contrast = browser.run(LOWEST_CONTRAST, vec![]).await;
        let (lowest, page_luminance) = (
            contrast[1][0].as_f64().unwrap(),
            contrast[2].as_f64().unwrap(),
        );
        assert_eq!(
            page_luminance < 0.1,
            scheme == "dark",
            "{scheme} mode rendered: {contrast}"
        );
        assert!(contrast[0].as_u64().unwrap() >= 10, "{contrast}");
        assert!(lowest >= 4.5, "{scheme}: {contrast}");
        browser.screenshot(&format!("scene-1440-{scheme}")).await;
    }

    // On a phone: the same order, the worst card first on screen, nothing wider than it.
    let phone = Browser::phone().await;
    phone.open(&app.url("/")).await;
    phone
        .wait_for(
            "the order on a phone",
            &format!("JSON.stringify({CARD_ORDER}) === '{expected}' && document.querySelectorAll('#problems a.since').length === 3"),
        )
        .await;
    let widths = phone
        .run(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await;
    assert!(widths[0].as_u64() <= widths[1].as_u64(), "{widths}");
    phone.screenshot("scene-390").await;
    drop(phone);

    // One clock: the browser's zone, named, until the viewer picks UTC, which is kept.
    browser.time_zone("Asia/Kolkata").await;
    browser.client.refresh().await.unwrap();
    const SINCE: &str = "(() => { const a = document.querySelector('#problems li[data-key=redis] a.since'); \
         return a ? [+a.dataset.since, a.innerText, document.querySelector('.zone').innerText] : null; })()";
    let local = browser.wait_for("since, in Kolkata", SINCE).await;
    // ICU names Kolkata by its older name, Calcutta.
    assert!(
        local[2]
            .as_str()
            .unwrap()
            .contains("local (Asia/Calcutta, UTC+05:30)"),
        "{local}"
    );
    let started = local[0].as_i64().unwrap();
    assert_shown_in(&local[1], started, "Asia/Kolkata");
    browser
        .run(
            "document.querySelector('input[name=zone][value=utc]').click();",
            vec![],
        )
        .await;
    let utc = browser.run(&format!("return {SINCE};"), vec![]).await;
    assert_shown_in(&utc[1], started, "UTC");
    browser.client.refresh().await.unwrap();
    let kept = browser.wait_for("since, after a reload", SINCE).await;
    assert_shown_in(&kept[1], started, "UTC");
}

/// `text` shows the instant `ms` as a clock time in `zone`, 24 h or as the locale has it.
fn assert_shown_in(text: &Value, ms: i64, zone: &str) {
    let time = jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .in_tz(zone)
        .unwrap();
    let text = text.as_str().unwrap();
    let (h24, h12) = (time.strftime("%H:%M:%S"), time.strftime("%I:%M:%S"));
    assert!(
        text.contains(&h24.to_string()) || text.contains(&h12.to_string()),
        "{text} shows {h24} in {zone}"
    );
}

#[tokio::test]
async fn the_page_works_under_a_path_prefix_behind_nginx() {
    let es = elasticsearch(GREEN_ES).await;
    let app = ragwatch(
        "redis://127.0.0.1:6379",
        &es.url(),
        "[task_executors]\nenabled = false\n",
    )
    .await;
    let nginx = NginxProxy::start("/ragwatch/", app.addr).await;
    let browser = Browser::start(1280, 1000).await;
    let base = nginx.url("/ragwatch/");
    browser.open(&base).await;
    assert_eq!(
        card_colours(&browser, 3).await,
        json!({"db": "green", "redis": "green", "doc_engine": "green"})
    );
    browser
        .wait_for(
            "the 24 h strips and incidents through the proxy",
            "document.querySelectorAll('.slot').length === 3 * 48 && document.getElementById('incidents-note').innerText === 'No incidents in the last 7 days.'",
        )
        .await;
    let urls = browser
        .run(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            vec![],
        )
        .await;
    let urls: Vec<&str> = urls
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    for expected in [
        "ui/app.css",
        "ui/app.js",
        "api/v1/components",
        "api/v1/incidents/open",
    ] {
        assert!(
            urls.iter()
                .any(|u| u.starts_with(&format!("{base}{expected}"))),
            "{expected} under the prefix: {urls:?}"
        );
    }
    assert!(urls.iter().all(|u| u.starts_with(&base)), "{urls:?}");
    // The style applied: the page is drawn as designed, not as bare HTML.
    let background = browser
        .run(
            "return getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await;
    assert_eq!(background, "rgb(246, 247, 249)");
    browser.screenshot("behind-nginx").await;
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
            .starts_with("redis\tRED\tRED in maintenance\t"),
        "{incident}"
    );
    browser.screenshot("maintenance").await;
}

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
use std::time::Duration;

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

    // The strip: one slot per 5 minutes of the last day, the current one coloured from
    // the roll-ups ragwatch has written so far.
    let strip = browser
        .wait_for(
            "the storage strip's current slot",
            "(() => { const slots = document.querySelectorAll('.card[data-key=\"storage\"] .slot'); \
             const last = slots[slots.length - 1]; \
             return last && last.dataset.status !== 'none' ? [slots.length, last.dataset.status, last.title] : null; })()",
        )
        .await;
    assert_eq!(strip[0], 288, "5-minute slots on a wide screen");
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
        json!({"running": "1", "done (30 min)": "10", "failed (30 min)": "2", "failed share": "17 %"})
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
    browser
        .wait_for(
            "the interval's details",
            "(() => { const d = document.getElementById('interval-dialog'); \
             return d.open && d.querySelector('table.tasks'); })()",
        )
        .await;
    // The heartbeat as written, behind its disclosure.
    let details = browser
        .run(
            "const d = document.getElementById('interval-dialog'); \
             d.querySelector('details.heartbeat > summary').click(); return d.innerText;",
            vec![],
        )
        .await;
    let details_text = details.as_str().unwrap();
    for expected in [
        "task_executor_ui_0",
        "Running at its end (0)",
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
             return d.open && d.innerText.includes('Running at its end (1)') ? d.innerText : null; })()",
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
             return d.open && d.innerText.includes('Running at its end (1)') ? d.innerText : null; })()",
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

    // Wider slots on a narrow screen; a tap on one opens its details, inside the screen.
    let slots = browser
        .wait_for(
            "the redis strip's newest slot with checks",
            "(() => { const slots = document.querySelectorAll('.card[data-key=\"redis\"] .slot'); \
             return slots[slots.length - 1]?.dataset.status === 'green' ? slots.length : null; })()",
        )
        .await;
    assert_eq!(slots, 96, "15-minute slots on a phone");
    let tapped = browser
        .run(
            "const slots = document.querySelectorAll('.card[data-key=\"redis\"] .slot'); \
             slots[slots.length - 1].click(); const p = document.getElementById('slot-popover').getBoundingClientRect(); \
             return [p.left, p.right, p.width, document.documentElement.scrollWidth, \
               document.getElementById('slot-body').innerText];",
            vec![],
        )
        .await;
    assert!(
        tapped[2].as_f64().unwrap() > 0.0,
        "the details show: {tapped}"
    );
    assert!(
        tapped[0].as_f64().unwrap() >= 0.0 && tapped[1].as_f64().unwrap() <= 390.0,
        "the details fit the screen: {tapped}"
    );
    assert!(tapped[3].as_u64().unwrap() <= 390, "{tapped}");
    let details = tapped[4].as_str().unwrap();
    assert!(
        details.starts_with("checks") && details.trim_end().ends_with(" ms"),
        "counts and p95, no incident: {details:?}"
    );
    browser.screenshot("phone-slot-details").await;
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
            "document.querySelectorAll('.slot').length === 3 * 288 && document.getElementById('incidents-note').innerText === 'No incidents in the last 7 days.'",
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

/// A document name with no break point, as uploads are often named.
const LONG_NAME: &str = "Quarterly_financial_statement_of_the_consolidated_subsidiaries_2024_final_revised_v17_approved_EN.pdf";

/// The executors' scene, written as RAGFlow writes heartbeats (one every 30 s): fifteen
/// executors, one failing two tasks in three, two stale, one dead, one restarted after a
/// silence, ten healthy that now and then end nothing. Returns `now`.
async fn fifteen_executors(conn: &mut redis::aio::MultiplexedConnection) -> f64 {
    let now = unix_now().floor();
    // Beat `k` of the window: the oldest 29.5 minutes ago, the newest now.
    let at = |k: u32| now - 1770.0 + 30.0 * f64::from(k);
    let series = |ks: std::ops::Range<u32>, per_beat: fn(u32) -> (u64, u64)| -> Vec<Beat> {
        let (mut done, mut failed) = (0, 0);
        ks.map(|k| {
            let (d, f) = per_beat(k);
            done += d;
            failed += f;
            Beat::new(at(k), done, failed)
        })
        .collect()
    };
    let steady: fn(u32) -> (u64, u64) = |k| (if k % 5 == 0 { 0 } else { 2 }, 0);
    for n in 0..10 {
        write_beats(
            conn,
            &format!("task_executor_ok_{n:02}"),
            &series(0..60, steady),
        )
        .await;
    }
    // Two of every three tasks fail; the newest interval's two were running here at its
    // start (in the opening heartbeat's `current`).
    let mut failing = series(0..60, |_| (1, 2));
    failing[58].current = vec!["oom_task_1", "oom_task_2"];
    write_beats(conn, "task_executor_failing_0", &failing).await;
    // Stale: silent for 12 and 12.5 minutes; dead: silent for 25 minutes.
    write_beats(conn, "task_executor_stale_0", &series(0..36, steady)).await;
    write_beats(conn, "task_executor_stale_1", &series(0..35, steady)).await;
    write_beats(conn, "task_executor_dead_0", &series(0..10, steady)).await;
    // Restarted: three minutes without a heartbeat, then a new process counting from zero.
    let mut booted = series(0..30, steady);
    booted.extend(
        series(36..60, steady)
            .into_iter()
            .map(|b| b.with_boot("2025-01-02T10:40:02.117+08:00")),
    );
    write_beats(conn, "task_executor_booted_0", &booted).await;
    now
}

/// What a person sees of the executors: `[name, failing, text]` of every row or card.
const EXECUTOR_ROWS: &str = "[...document.querySelectorAll('#executors .executor')].map(e => [e.dataset.name, e.hasAttribute('data-failing'), e.innerText])";

/// Elements reaching past the viewport's edges, with their tag and class (visually hidden
/// ones, clipped to a pixel for screen readers, aside).
const OVERFLOWING: &str = "const clipped = (e) => { for (; e; e = e.parentElement) if (getComputedStyle(e).clip.startsWith('rect')) return true; return false; }; \
     return [...document.querySelectorAll('body *')].filter(e => { \
     const r = e.getBoundingClientRect(); return r.width > 2 && (r.right > innerWidth + 0.5 || r.left < -0.5) && !clipped(e); }) \
     .map(e => `${e.tagName}.${e.getAttribute('class')} ${Math.round(e.getBoundingClientRect().right)}`);";

/// The dialog of the failing executor's newest interval: the failed rows first, their cause
/// in view, the full log behind a disclosure. Returns what it measured.
async fn open_failing_interval(browser: &Browser) -> Value {
    browser
        .run(
            "const bars = document.querySelectorAll('.executor[data-name=task_executor_failing_0] .bar'); \
             bars[bars.length - 1].dispatchEvent(new MouseEvent('click', {bubbles: true}));",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "the failing interval's tasks",
            "(() => { const d = document.getElementById('interval-dialog'); \
             const rows = [...d.querySelectorAll('table.tasks tbody tr')]; if (!d.open || !rows.length) return null; \
             const failed = rows[0]; const cause = failed.querySelector('.last-line'); const r = cause.getBoundingClientRect(); \
             const dr = d.getBoundingClientRect(); \
             return { summary: d.querySelector('.summary').innerText, \
                      rows: rows.map(r => [r.dataset.outcome, r.hasAttribute('data-here')]), \
                      filters: [...d.querySelectorAll('.filters input')].map(i => [i.parentElement.innerText.trim(), i.checked]), \
                      cause: cause.innerText, \
                      cause_in_view: r.width > 0 && r.left >= dr.left && r.right <= dr.right && r.right <= innerWidth, \
                      name_in_view: failed.querySelector('td.name').getBoundingClientRect().right <= dr.right, \
                      log: [failed.querySelector('.message details').open, failed.querySelector('pre.log').textContent.split('\\n').length], \
                      sideways: [d.scrollWidth, d.clientWidth, document.documentElement.scrollWidth, innerWidth], \
                      focus: document.activeElement.id }; })()",
        )
        .await
}

fn assert_failing_interval(seen: &Value) {
    let summary = seen["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("2 failed here: CUDA out of memory. Tried to allocate 2.00 GiB (2)"),
        "{seen}"
    );
    assert_eq!(
        seen["filters"],
        json!([["this executor", false], ["failed only", true]]),
        "{seen}"
    );
    assert_eq!(
        seen["rows"],
        json!([["failed", true], ["failed", true]]),
        "{seen}"
    );
    assert_eq!(
        seen["cause"], "12:31:09 [ERROR]CUDA out of memory. Tried to allocate 2.00 GiB",
        "{seen}"
    );
    assert_eq!(seen["cause_in_view"], true, "{seen}");
    assert_eq!(seen["name_in_view"], true, "{seen}");
    assert_eq!(seen["log"], json!([false, 41]), "{seen}");
    let sideways = &seen["sideways"];
    assert!(
        sideways[0].as_u64() <= sideways[1].as_u64()
            && sideways[2].as_u64() <= sideways[3].as_u64(),
        "no sideways scrolling: {seen}"
    );
    assert_eq!(seen["focus"], "interval-title", "{seen}");
}

#[tokio::test]
async fn fifteen_executors_read_problems_first_in_a_compact_view() {
    let db = RagflowDb::create(false).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = fifteen_executors(&mut conn).await;
    // The failing executor's newest interval: its two tasks failed on a long log ending in
    // the cause; others' tasks with long unbreakable names finished in the same window.
    let log: String = (1..=40)
        .map(|n| {
            format!(
                "12:30:{:02} Page({n}~{}): OCR finished, {n} chunks\n",
                n % 60,
                n + 1
            )
        })
        .collect::<String>()
        + "12:31:09 [ERROR]CUDA out of memory. Tried to allocate 2.00 GiB";
    let ended = ((now - 15.0) * 1000.0) as i64;
    db.execute(&format!(
        "INSERT INTO document (id, kb_id, name, type, size) VALUES ('doc_long', 'kb', '{LONG_NAME}', 'pdf', 10)"
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO task (id, doc_id, progress, progress_msg, update_time, process_duration) VALUES \
         ('oom_task_1', 'doc_long', -1, '{log}', {ended}, 41.5), ('oom_task_2', 'doc_long', -1, '{log}', {ended}, 39), \
         ('ok_task_1', 'doc_long', 1, 'Done', {ended}, 3), ('ok_task_2', 'doc_long', 1, 'Done', {ended}, 4), \
         ('ok_task_3', 'doc_long', 1, 'Done', {ended}, 5)"
    ))
    .await;
    let es = elasticsearch(GREEN_ES).await;
    // RAGFlow's 30 s heartbeats, judged on a long period so that the scene's states hold
    // while the test runs on busy cores: stale past 10 minutes, dead past 20.
    let app = TestApp::start(&format!(
        "[monitor]\ninterval = \"2s\"\ntimeout = \"2s\"\n[db]\nurl = \"{}\"\n\
         [redis]\nurl = \"{}\"\n[doc_engine]\nurl = \"{}\"\n[storage]\nenabled = false\n\
         [task_executors]\nheartbeat_period = \"5m\"\nheartbeat_timeout = \"20m\"\n",
        db.url,
        server.url(),
        es.url()
    ))
    .await;
    let browser = Browser::start(1440, 900).await;
    browser.open(&app.url("/")).await;

    // Problems first (dead, stale, failing), then by name; the healthy fill up to twelve.
    let rows = browser
        .wait_for(
            "twelve executor rows with their sparklines",
            &format!("document.querySelectorAll('#executors .executor .bar').length > 100 && {EXECUTOR_ROWS}"),
        )
        .await;
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "task_executor_dead_0",
            "task_executor_stale_0",
            "task_executor_stale_1",
            "task_executor_failing_0",
            "task_executor_booted_0",
            "task_executor_ok_00",
            "task_executor_ok_01",
            "task_executor_ok_02",
            "task_executor_ok_03",
            "task_executor_ok_04",
            "task_executor_ok_05",
            "task_executor_ok_06",
        ]
    );
    let compact = browser
        .run(
            "return [document.querySelector('#executors table.executor-table') !== null, \
             document.querySelector('input[name=view][value=compact]').checked, \
             document.getElementById('show-all').innerText];",
            vec![],
        )
        .await;
    assert_eq!(
        compact,
        json!([true, true, "Show all 15 executors (3 healthy not shown)"])
    );
    // One row each: the short name, host, state, last heartbeat, done / failed, share.
    let failing = &rows[3];
    assert_eq!(failing[1], true, "{failing}");
    let cells: Vec<&str> = failing[2].as_str().unwrap().split('\t').collect();
    assert_eq!(
        [&cells[..3], &cells[4..6]].concat(),
        [
            "failing_0",
            "172.18.0.6 · pid 41",
            "ALIVE FAILING",
            "59 / 118",
            "67 %"
        ],
        "{failing}"
    );
    assert!(cells[3].ends_with(" s ago"), "{failing}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r[1] == true)
            .count()
            == 1,
        "{rows}"
    );
    assert!(
        rows[0][2]
            .as_str()
            .unwrap()
            .starts_with("dead_0\t172.18.0.6 · pid 41\tDEAD\t25 min "),
        "{rows}"
    );
    // The queue's figures once, in the section's header.
    let summary = browser
        .run(
            "return document.getElementById('executors-summary').innerText;",
            vec![],
        )
        .await;
    assert!(
        summary
            .as_str()
            .unwrap()
            .starts_with("12 alive, 2 stale, 1 dead · last 30 min: ")
            && summary
                .as_str()
                .unwrap()
                .ends_with(" · queue: 0 pending, lag 0 (newest heartbeat)"),
        "{summary}"
    );
    // The component is yellow, its reason naming the failing executor.
    let reason = browser
        .wait_for(
            "the executors' card naming the failing one",
            "(() => { const c = document.querySelector('.card[data-key=task_executors]'); \
             return c && c.dataset.status === 'yellow' ? c.querySelector('.warning').innerText : null; })()",
        )
        .await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("more than 50% of the tasks of the last 30 minutes failed on task_executor_failing_0 (67%: 118 failed, 59 done)"),
        "{reason}"
    );
    // The charts: a dead executor's silence hatched, a restart marked, idle intervals as
    // ticks, one scale for all.
    let marks = browser
        .run(
            "const of = (name, sel) => document.querySelectorAll(`.executor[data-name=${name}] ${sel}`).length; \
             return [of('task_executor_dead_0', 'rect.gap'), of('task_executor_booted_0', '.bar[data-restarted] line.restart'), \
                     of('task_executor_booted_0', 'rect.gap'), of('task_executor_ok_00', 'rect.zero'), of('task_executor_ok_00', 'rect.gap')];",
            vec![],
        )
        .await;
    assert_eq!(
        marks,
        json!([1, 1, 1, 11, 0]),
        "gap, restart, gap, ticks, none"
    );

    // One tab stop per chart, the arrow keys between its bars, a summary label on each.
    let charts = browser
        .run(
            "return [...document.querySelectorAll('#executors svg')].map(s => [s.querySelectorAll('.bar[tabindex=\"0\"]').length, s.getAttribute('aria-label')]);",
            vec![],
        )
        .await;
    assert_eq!(charts.as_array().unwrap().len(), 12);
    assert!(
        charts.as_array().unwrap().iter().all(|c| c[0] == 1),
        "{charts}"
    );
    assert_eq!(
        charts[3][1],
        "task_executor_failing_0, last 30 minutes: 59 done, 118 failed in 59 intervals. Arrow keys move between intervals, Enter opens one."
    );
    assert!(
        charts[0][1].as_str().unwrap().contains(", 25 min "),
        "{charts}"
    );
    browser
        .run(
            "document.getElementById('executor-filter').focus();",
            vec![],
        )
        .await;
    let mut stops = Vec::new();
    loop {
        browser.press(fantoccini::key::Key::Tab).await;
        let at = browser
            .run(
                "const a = document.activeElement; return a.id || a.closest('.executor')?.dataset.name || a.tagName;",
                vec![],
            )
            .await;
        if at == "show-all" || stops.len() > 40 {
            break;
        }
        stops.push(at);
    }
    assert_eq!(stops.len(), 12, "one tab stop per chart: {stops:?}");
    assert_eq!(stops[3], "task_executor_failing_0");
    // On the failing executor's chart (the newest bar), Left moves to the one before.
    browser
        .run("document.querySelector('.executor[data-name=task_executor_failing_0] .bar[tabindex=\"0\"]').focus();", vec![])
        .await;
    let newest = browser
        .run("return document.activeElement.dataset.end;", vec![])
        .await;
    browser.press(fantoccini::key::Key::Left).await;
    let before = browser
        .run("const a = document.activeElement; return [a.dataset.end, a.getAttribute('tabindex'), a.closest('.executor').dataset.name];", vec![])
        .await;
    assert_eq!(
        before[0].as_str().unwrap().parse::<i64>().unwrap(),
        newest.as_str().unwrap().parse::<i64>().unwrap() - 30_000,
        "{before}"
    );
    assert_eq!(
        (&before[1], &before[2]),
        (&json!("0"), &json!("task_executor_failing_0"))
    );
    browser
        .run(
            "document.getElementById('executors-title').scrollIntoView();",
            vec![],
        )
        .await;
    browser.screenshot("executors-1440").await;

    // The failing pill and the compact rows read at 4.5:1 or more, in light and dark mode.
    for scheme in ["light", "dark"] {
        browser.prefer_color_scheme(scheme).await;
        let contrast = browser.run(LOWEST_CONTRAST, vec![]).await;
        assert!(
            contrast[1][0].as_f64().unwrap() >= 4.5,
            "{scheme}: {contrast}"
        );
    }
    browser.prefer_color_scheme("light").await;

    // The overall status is announced politely, and only when it changes.
    let live = browser
        .run(
            "const o = document.getElementById('overall'); window.announced = 0; \
             new MutationObserver(() => window.announced++).observe(o, {childList: true, characterData: true, subtree: true}); \
             return [o.getAttribute('role'), o.innerText];",
            vec![],
        )
        .await;
    assert_eq!(live, json!(["status", "Degraded: task_executors"]));

    let seen = open_failing_interval(&browser).await;
    assert_failing_interval(&seen);
    browser.screenshot("interval-1440").await;
    // Every task of the window, once "failed only" is off: this executor's failures first.
    let all = browser
        .run(
            "const box = [...document.querySelectorAll('#interval-dialog .filters input')][1]; box.click(); \
             return [...document.querySelectorAll('#interval-dialog table.tasks tbody tr')].map(r => [r.dataset.outcome, r.hasAttribute('data-here')]);",
            vec![],
        )
        .await;
    assert_eq!(
        all,
        json!([
            ["failed", true],
            ["failed", true],
            ["done", false],
            ["done", false],
            ["done", false]
        ])
    );
    assert_eq!(
        browser.run("return window.announced;", vec![]).await,
        0,
        "nothing announced while the status stays"
    );

    // Light on the wire: gzip for the files and the JSON, and after the first load only
    // what is new (each shown executor's new intervals, `since` the newest known one).
    let weight = browser
        .run(
            "performance.setResourceTimingBufferSize(10000); window.measuredFrom = performance.now(); \
             const first = performance.getEntriesByType('resource').filter(e => /ui\\/app\\.(js|css)$|api\\/v1\\/executors$/.test(e.name)); \
             return first.map(e => [e.name.split('/').pop(), e.encodedBodySize < e.decodedBodySize / 3]);",
            vec![],
        )
        .await;
    assert_eq!(
        weight,
        json!([["app.css", true], ["app.js", true], ["executors", true]]),
        "gzip"
    );
    let measured = browser
        .wait_for(
            "five refreshes to weigh",
            "(() => { const since = performance.getEntriesByType('resource').filter(e => e.startTime > window.measuredFrom); \
             const refreshes = since.filter(e => e.name.endsWith('api/v1/components')); \
             if (refreshes.length < 5) return null; \
             const [t0, t1] = [refreshes[0].startTime, refreshes[4].startTime]; \
             const inside = since.filter(e => e.startTime >= t0 && e.startTime < t1); \
             return { bytes: inside.reduce((s, e) => s + e.transferSize, 0), ms: t1 - t0, \
                      incremental: inside.filter(e => e.name.includes('/intervals')).every(e => e.name.includes('/intervals?since=')), \
                      intervals: inside.filter(e => e.name.includes('/intervals')).length }; })()",
        )
        .await;
    let per_minute =
        measured["bytes"].as_f64().unwrap() / measured["ms"].as_f64().unwrap() * 60_000.0;
    assert_eq!(measured["incremental"], true, "{measured}");
    assert!(measured["intervals"].as_u64().unwrap() >= 12, "{measured}");
    assert!(per_minute < 200_000.0, "{per_minute:.0} B/min: {measured}");
    // The merged intervals are the whole window still, each once.
    let kept = browser
        .run(
            "const bars = [...document.querySelectorAll('.executor[data-name=task_executor_failing_0] .bar')]; \
             return [bars.length, new Set(bars.map(b => b.dataset.end)).size];",
            vec![],
        )
        .await;
    assert_eq!(kept, json!([59, 59]));

    // On a phone: rows stacked, nothing wider than the screen, the dialog fitting it.
    let phone = Browser::phone().await;
    phone.open(&app.url("/")).await;
    phone
        .wait_for(
            "the executor rows on a phone",
            "document.querySelectorAll('#executors .executor .bar').length > 100",
        )
        .await;
    let overflowing = phone.run(OVERFLOWING, vec![]).await;
    assert_eq!(overflowing, json!([]), "nothing wider than a phone");
    phone
        .run(
            "document.getElementById('executors-title').scrollIntoView();",
            vec![],
        )
        .await;
    phone.screenshot("executors-390").await;
    let seen = open_failing_interval(&phone).await;
    assert_failing_interval(&seen);
    let overflowing = phone
        .run(
            &OVERFLOWING.replace(
                "document.querySelectorAll('body *')",
                "document.querySelectorAll('#interval-dialog *')",
            ),
            vec![],
        )
        .await;
    assert_eq!(
        overflowing,
        json!([]),
        "nothing in the dialog wider than a phone"
    );
    phone.screenshot("interval-390").await;
    db.drop_database().await;
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

/// The redis strip's newest slot as the page has it: its green checks and the milliseconds
/// left until it ends.
const NEWEST_REDIS_SLOT: &str = "(() => { const s = [...document.querySelectorAll('.card[data-key=\"redis\"] .slot')].pop(); \
     const m = s && /\\((\\d+) green/.exec(s.title); \
     return m ? [Number(m[1]), Number(s.dataset.start) + 300000 - Date.now()] : null; })()";

/// The strip's ticks in `zone`: at least three, each on a sixth hour of that zone, labelled
/// with its time there.
async fn assert_ticks_in(browser: &Browser, zone: &str) {
    let ticks = browser
        .run(
            "return [...document.querySelectorAll('.card[data-key=\"redis\"] .tick')].map(t => [Number(t.dataset.at), t.innerText]);",
            vec![],
        )
        .await;
    let ticks = ticks.as_array().unwrap();
    assert!(ticks.len() >= 3, "ticks every 6 h: {ticks:?}");
    for tick in ticks {
        let time = jiff::Timestamp::from_millisecond(tick[0].as_i64().unwrap())
            .unwrap()
            .in_tz(zone)
            .unwrap();
        assert!(
            time.minute() == 0 && time.hour() % 6 == 0,
            "{tick} on a sixth hour in {zone}"
        );
        let text = tick[1].as_str().unwrap();
        let (h24, h12) = (time.strftime("%H:%M"), time.strftime("%I:%M"));
        assert!(
            text.contains(&h24.to_string()) || text.contains(&h12.to_string()),
            "{text} shows {h24} in {zone}"
        );
    }
}

#[tokio::test]
async fn a_short_blip_is_one_light_slot_that_opens_its_details_and_incident() {
    let es = elasticsearch(GREEN_ES).await;
    let mut server = RedisInstance::start(None).await;
    let app = ragwatch(
        &server.url(),
        &es.url(),
        "[task_executors]\nenabled = false\n",
    )
    .await;
    let browser = Browser::start(1280, 1000).await;
    // Half an hour off UTC: ticks in the browser's zone and in UTC are never the same.
    browser.time_zone("Asia/Kolkata").await;
    browser.open(&app.url("/")).await;
    card_colours(&browser, 3).await;

    // The blip lands in a slot that already has green checks, early enough to stay in it.
    common::wait::wait_until_within(
        "green checks in the newest slot, with time left in it",
        Duration::from_secs(420),
        || async {
            let newest = browser
                .run(&format!("return {NEWEST_REDIS_SLOT};"), vec![])
                .await;
            match (newest[0].as_i64(), newest[1].as_i64()) {
                (Some(green), Some(left)) if green >= 8 && left >= 20_000 => Ok(()),
                _ => Err(newest.to_string()),
            }
        },
    )
    .await;
    server.kill();
    browser
        .wait_for(
            "the redis card turning red",
            "document.querySelector('.card[data-key=\"redis\"]')?.dataset.status === 'red'",
        )
        .await;
    server.start_again().await;
    browser
        .wait_for(
            "the redis card green again",
            "document.querySelector('.card[data-key=\"redis\"]')?.dataset.status === 'green'",
        )
        .await;

    // One narrow, lightly shaded bad slot; the uptime says what it counts.
    let bad = common::wait::wait_until_within(
        "the blip on the redis strip",
        Duration::from_secs(120),
        || async {
            let bad = browser
                .run(
                    "const strip = document.querySelector('.card[data-key=\"redis\"] .strip'); \
                     const bad = [...strip.querySelectorAll('.slot:not([data-status=green]):not([data-status=none])')]; \
                     return bad.length ? [bad.length, bad[0].dataset.status, bad[0].dataset.level, \
                       bad[0].getBoundingClientRect().width / strip.getBoundingClientRect().width, \
                       strip.querySelectorAll('.slot').length, Number(bad[0].dataset.start), \
                       document.querySelector('.card[data-key=\"redis\"] .uptime').innerText] : null;",
                    vec![],
                )
                .await;
            if bad.is_null() { Err("no bad slot yet".into()) } else { Ok(bad) }
        },
    )
    .await;
    assert_eq!(bad[0], 1, "one slot: {bad}");
    assert_eq!(bad[1], "red", "{bad}");
    assert_eq!(
        bad[2], "1",
        "lightly shaded: few of its checks were red: {bad}"
    );
    assert!(bad[3].as_f64().unwrap() < 0.01, "narrow: {bad}");
    assert_eq!(bad[4], 288, "5-minute slots: {bad}");
    let uptime = bad[6].as_str().unwrap();
    assert!(
        uptime.ends_with(" % ok (green or yellow) over 24 h") && !uptime.starts_with("100 "),
        "{uptime}"
    );
    let start = bad[5].as_i64().unwrap();
    browser.screenshot("strip-blip").await;

    assert_ticks_in(&browser, "Asia/Kolkata").await;
    browser
        .run(
            "document.querySelector('input[name=zone][value=utc]').click();",
            vec![],
        )
        .await;
    assert_ticks_in(&browser, "UTC").await;

    // A click opens the slot's span, counts, p95 and a link to the incident.
    let incident = browser
        .wait_for(
            "the ended redis incident",
            "(() => { const row = [...document.querySelectorAll('#incidents tbody tr')].find(r => !r.hasAttribute('data-open') && r.cells[0].innerText === 'redis'); \
             return row ? row.id : null; })()",
        )
        .await;
    let bad_slot = "document.querySelector('.card[data-key=\"redis\"] .slot[data-status=red]')";
    let element = browser
        .client
        .find(fantoccini::Locator::Css(
            ".card[data-key=\"redis\"] .slot[data-status=red]",
        ))
        .await
        .unwrap();
    element.click().await.unwrap();
    const POPOVER: &str = "(() => { const p = document.getElementById('slot-popover'); \
        return p.hidden ? null : [document.getElementById('slot-title').innerText, p.querySelector('.counts')?.innerText, \
          p.querySelectorAll('dd')[1]?.innerText, p.querySelector('.incident-link')?.getAttribute('href')]; })()";
    let shown = browser.wait_for("the slot's details", POPOVER).await;
    assert_shown_in(&shown[0], start, "UTC");
    assert!(shown[0].as_str().unwrap().ends_with(" UTC"), "{shown}");
    let counts = shown[1].as_str().unwrap();
    assert!(
        counts.contains(" green, 0 yellow, ")
            && counts.ends_with(" red")
            && !counts.ends_with(" 0 red"),
        "{shown}"
    );
    assert!(shown[2].as_str().unwrap().ends_with(" ms"), "p95: {shown}");
    assert_eq!(
        shown[3],
        json!(format!("#{}", incident.as_str().unwrap())),
        "the incident's link: {shown}"
    );
    browser.screenshot("strip-slot-details").await;

    // Escape closes it and gives the focus back to the slot; Enter opens it again.
    browser.press(fantoccini::key::Key::Escape).await;
    let closed = browser
        .run(
            &format!("return [document.getElementById('slot-popover').hidden, document.activeElement === {bad_slot}];"),
            vec![],
        )
        .await;
    assert_eq!(closed, json!([true, true]));
    let stops = browser
        .run(
            "return document.querySelectorAll('.card[data-key=\"redis\"] .slot[tabindex=\"0\"]').length;",
            vec![],
        )
        .await;
    assert_eq!(stops, 1, "one tab stop per strip");
    browser.press(fantoccini::key::Key::Enter).await;
    let again = browser.wait_for("the details by keyboard", POPOVER).await;
    assert_eq!(again[3], shown[3]);
}

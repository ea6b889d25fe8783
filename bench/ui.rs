//! Benchmark: the System page in headless Chromium. For each URL in `PAGES` (`label=url`,
//! comma-separated), loads it `REPS` times in a fresh tab and prints the medians of first
//! contentful paint and of the page's own `first-data` mark (when it has one), with the
//! bytes of the page's HTML, scripts and styles. Needs a chromedriver at `CHROMEDRIVER`.
//!
//! Run with `bench/ui.sh`, which starts ragwatch and nginx (serving the same files) for it.

#![allow(clippy::print_stdout, missing_docs)]

use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Waits for the page to settle, then reads its timings and the sizes of what it loaded.
const MEASURE: &str = r#"
const done = arguments[arguments.length - 1];
const started = performance.now();
(function poll() {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const data = performance.getEntriesByName('first-data')[0];
  const waited = performance.now() - started;
  if (!paint || (!data && waited < 3000)) return setTimeout(poll, 20);
  const navigation = performance.getEntriesByType('navigation')[0];
  const assets = performance.getEntriesByType('resource')
    .filter(e => ['script', 'link', 'css'].includes(e.initiatorType));
  done({
    fcp: paint.startTime,
    data: data ? data.startTime : null,
    html: navigation.decodedBodySize,
    assets: assets.reduce((sum, e) => sum + e.decodedBodySize, 0),
  });
})();
"#;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let driver = std::env::var("CHROMEDRIVER").expect("CHROMEDRIVER=http://127.0.0.1:PORT");
    let pages = std::env::var("PAGES").expect("PAGES=label=url,...");
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver)
        .await
        .expect("WebDriver session");
    let mut fcp_by_label = Vec::new();
    for page in pages.split(',') {
        let (label, url) = page.split_once('=').expect("label=url");
        let (mut fcp, mut data, mut bytes) = (Vec::new(), Vec::new(), (0.0, 0.0));
        for _ in 0..reps {
            // A new tab each time: no memory cache, no warm JavaScript.
            let tab = client.new_window(true).await.unwrap();
            client.close_window().await.unwrap();
            client.switch_to_window(tab.handle).await.unwrap();
            client.goto(url).await.unwrap();
            let result: Value = client.execute_async(MEASURE, vec![]).await.unwrap();
            fcp.push(result["fcp"].as_f64().unwrap());
            if let Some(ms) = result["data"].as_f64() {
                data.push(ms);
            }
            bytes = (
                result["html"].as_f64().unwrap(),
                result["assets"].as_f64().unwrap(),
            );
        }
        let fcp = median(fcp);
        let data = if data.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.0} ms", median(data))
        };
        println!(
            "{label:<10} first paint {fcp:>4.0} ms  first data {data:>6}  html {:>6} B  js+css {:>6} B  total {:>6} B",
            bytes.0,
            bytes.1,
            bytes.0 + bytes.1
        );
        fcp_by_label.push((label.to_owned(), fcp));
    }
    if let [(a, a_fcp), (b, b_fcp), ..] = fcp_by_label.as_slice() {
        println!("first paint {a}/{b}: {:.2}x", a_fcp / b_fcp);
    }
    client.close().await.ok();
}

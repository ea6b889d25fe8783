//! A real headless Chromium driven over WebDriver: Debian's `chromedriver` on a free port,
//! one session per [`Browser`]. Screenshots go to `target/tmp/ui-screenshots/` (test
//! artifacts, never committed).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a condition on the page may take before the test fails: a few refresh periods.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// A browser session; chromedriver and its Chromium are killed when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::launch(width, height, None).await
    }

    /// A phone: Chromium's mobile emulation at 390 x 844 CSS pixels (a desktop window cannot
    /// be made that narrow).
    pub async fn phone() -> Self {
        let metrics = json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "mobile": true, "touch": true}});
        Self::launch(390, 844, Some(metrics)).await
    }

    async fn launch(width: u32, height: u32, mobile: Option<Value>) -> Self {
        let port = super::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop takes Chromium down with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (scripts/test-services.sh installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let mut options = json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--window-size={width},{height}"),
                ],
        });
        if let Some(mobile) = mobile {
            options["mobileEmulation"] = mobile;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = super::wait_until("chromedriver opens a WebDriver session", || async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
                .map_err(|error| error.to_string())
        })
        .await;
        Self { client, driver }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls the JavaScript expression `expression` until it is neither null, undefined
    /// nor false, and returns it; fails the test after [`PAGE_DEADLINE`] with `what`.
    pub async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let script = format!("return ({expression}) ?? null;");
        let started = Instant::now();
        loop {
            let value = self.run(&script, vec![]).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if started.elapsed() > PAGE_DEADLINE {
                self.screenshot(&format!("timeout-{}", slug(what))).await;
                let text = self.run("return document.body.innerText;", vec![]).await;
                panic!("{what}: not seen within {PAGE_DEADLINE:?}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses and releases `key` on the keyboard, as a person would.
    pub async fn press(&self, key: fantoccini::key::Key) {
        let press = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client
            .perform_actions(press)
            .await
            .unwrap_or_else(|e| panic!("key {key:?} pressed: {e}"));
    }

    /// Emulates `prefers-color-scheme: <scheme>` (`light` or `dark`) through Chromium's
    /// DevTools protocol, as the operating system's setting would.
    pub async fn prefer_color_scheme(&self, scheme: &str) {
        self.devtools(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Puts the browser in time zone `zone` (an IANA name), as the operating system's
    /// setting would; pages loaded afterwards see it.
    pub async fn time_zone(&self, zone: &str) {
        self.devtools("Emulation.setTimezoneOverride", json!({"timezoneId": zone}))
            .await;
    }

    async fn devtools(&self, cmd: &'static str, params: Value) {
        self.client
            .issue_cmd(DevTools { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("chromedriver runs {cmd}: {e}"));
    }

    /// Saves a screenshot as `target/tmp/ui-screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// A DevTools protocol command through chromedriver's `goog/cdp/execute` endpoint.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leaves Chromium running when it is killed alone: kill the whole group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

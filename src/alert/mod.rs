//! Alerts on status changes. [`Thresholds`] decides, per component, when consecutive red
//! results make an alert fire and consecutive ok results resolve it. [`Alerts`] hands each
//! decision to every receiver's own bounded queue without waiting; a task per receiver
//! delivers in order, retrying with back-off, so a slow or failing receiver delays nothing
//! but itself. Closed ([`Alerts::close`]), each task delivers what is queued before a
//! deadline and logs how many notifications it could not.
//!
//! Notifications wait while [`Quiet`] says a component is quiet (a maintenance window or a
//! silence). A [`Ledger`] per component holds what receivers were last told and what is
//! true now; when the quiet ends, the difference is sent: a firing alert still firing, the
//! resolution of one told before, nothing for one that fired and resolved while quiet.

mod alertmanager;
mod counts;
mod dingtalk;
mod discord;
mod email;
mod feishu;
mod googlechat;
mod leadership;
mod maintenance;
mod notifier;
mod ntfy;
mod opsgenie;
mod pagerduty;
mod quiet;
mod slack;
mod teams;
mod telegram;
mod template;
mod text;
mod webhook;
mod wecom;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::backoff::Backoff;
use crate::component::Component;
use crate::config::{
    AlertsConfig, CaFile, ComponentKey, ReceiverConfig, Routing, Scrubber, Severity,
};
use crate::history::Incident;
use crate::monitor::{Published, Sink};
use crate::net::Network;
use crate::shutdown::{Closer, Closing};
use crate::status::Status;

pub use alertmanager::{ALERT_NAME, Alertmanager, RESEND_EVERY};
pub use counts::{Counts, CountsRead, DropReason};
pub use leadership::Leadership;
pub use maintenance::{LONGEST_WINDOW, Stretch, Window};
pub use notifier::{Context, Failure, Notifier};
pub use quiet::{Quiet, QuietReason, SILENCES_REFRESH, WindowState};
pub use template::check as check_template;

use dingtalk::Dingtalk;
use discord::Discord;
use email::Email;
use feishu::Feishu;
use googlechat::GoogleChat;
use ntfy::Ntfy;
use opsgenie::Opsgenie;
use pagerduty::Pagerduty;
use slack::Slack;
use teams::Teams;
use telegram::Telegram;
pub use webhook::{SIGNATURE_HEADER, Webhook, signature};
use wecom::Wecom;

/// Alerts waiting for one receiver before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1000;
/// Delivery attempts of one alert before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A firing or resolved alert about one component.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// Component key.
    pub component: ComponentKey,
    /// Its kind.
    pub kind: &'static str,
    /// Whether the component counts in the overall status (critical) or not (warning).
    pub required: bool,
    /// `firing` or `resolved`.
    pub state: AlertState,
    /// The status now.
    pub status: Status,
    /// The status before the alert fired.
    pub previous_status: Status,
    /// The error of the first failed result.
    pub error: Option<String>,
    /// The first failed result's time.
    pub started_at: jiff::Timestamp,
    /// When it resolved.
    pub resolved_at: Option<jiff::Timestamp>,
    /// Dependents whose results are held back while this component is down.
    pub held_back: Vec<ComponentKey>,
    /// The term of the cluster leader that sent it (`[cluster]` only).
    pub term: Option<i64>,
}

impl Alert {
    /// Redis down since 2025-11-24 16:00:00 UTC, holding back the task executors, and
    /// (resolved) back up 1h 2m 3s later: what a template is checked against.
    pub fn sample(state: AlertState) -> Self {
        let started_at = jiff::Timestamp::from_second(1_764_000_000).expect("a valid time");
        Alert {
            component: ComponentKey::Redis,
            kind: "redis",
            required: true,
            state,
            status: match state {
                AlertState::Firing => Status::Red,
                AlertState::Resolved => Status::Green,
            },
            previous_status: Status::Green,
            error: Some("connection refused to redis:6379".into()),
            started_at,
            resolved_at: (state == AlertState::Resolved)
                .then(|| started_at + jiff::SignedDuration::from_secs(3_723)),
            held_back: vec![ComponentKey::TaskExecutors],
            term: None,
        }
    }

    /// `critical` for a required component, `warning` for an optional one.
    pub fn severity(&self) -> Severity {
        Severity::of(self.required)
    }

    /// One key per incident, the same when it fires and resolves and after a restart: the
    /// component and when it started failing (to the millisecond, as the history keeps it).
    pub fn incident_key(&self) -> String {
        format!(
            "ragwatch-{}-{}",
            self.component,
            self.started_at.as_millisecond()
        )
    }
}

/// Whether an alert is going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The component has failed `failure_threshold` times in a row.
    Firing,
    /// It has been ok `success_threshold` times in a row since.
    Resolved,
}

/// One component's run of results.
#[derive(Clone, Debug, Default)]
struct Streak {
    failures: u32,
    successes: u32,
    first_failure: Option<(jiff::Timestamp, Option<String>, Status)>,
    last_status: Option<Status>,
    firing: Option<Alert>,
}

/// A component's run of results: red ones in a row, ok ones in a row, and when the
/// failures began (with the first error and the status before).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// Red results in a row.
    pub failures: u32,
    /// Ok results in a row.
    pub successes: u32,
    /// The first failure of the run: when, its error, the status before it.
    pub first_failure: Option<(jiff::Timestamp, Option<String>, Status)>,
}

/// What receivers were last told about one component, and what is true now.
#[derive(Clone, Debug, Default, PartialEq)]
struct Ledger {
    /// The firing alert receivers were told of and not yet of its resolution.
    told: Option<Alert>,
    /// The alert firing now.
    firing: Option<Alert>,
    /// The resolution of `told`, while it waits.
    resolution: Option<Alert>,
}

impl Ledger {
    /// Takes a decided alert as the truth.
    fn learn(&mut self, alert: &Alert) {
        match alert.state {
            AlertState::Firing => self.firing = Some(alert.clone()),
            AlertState::Resolved => {
                self.firing = None;
                if self.told.as_ref().map(Alert::incident_key) == Some(alert.incident_key()) {
                    self.resolution = Some(alert.clone());
                }
            }
        }
    }

    /// What receivers must hear for what they were told to match the truth: the resolution
    /// of a told alert that no longer fires, then an alert firing they were not told of.
    fn difference(&self) -> Vec<Alert> {
        let key = |a: &Option<Alert>| a.as_ref().map(Alert::incident_key);
        let mut out = Vec::new();
        if let Some(told) = &self.told
            && key(&self.firing) != key(&self.told)
        {
            out.push(self.resolution.clone().unwrap_or_else(|| Alert {
                state: AlertState::Resolved,
                resolved_at: Some(jiff::Timestamp::now()),
                ..told.clone()
            }));
        }
        if let Some(firing) = &self.firing
            && key(&self.firing) != key(&self.told)
        {
            out.push(firing.clone());
        }
        out
    }

    /// Receivers have been told the difference.
    fn told(&mut self) {
        self.told = self.firing.clone();
        self.resolution = None;
    }
}

/// The consecutive-result rule, per component. Kept in one place so every receiver sees
/// the same alerts.
#[derive(Debug)]
pub struct Thresholds {
    failure: u32,
    success: u32,
    streaks: HashMap<ComponentKey, Streak>,
}

/// What a component is, for an alert.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Component key.
    pub component: ComponentKey,
    /// Its kind.
    pub kind: &'static str,
    /// Counted in the overall status.
    pub required: bool,
}

impl Thresholds {
    /// Fire after `failure` red results in a row, resolve after `success` ok ones.
    pub fn new(failure: u32, success: u32) -> Self {
        Self {
            failure: failure.max(1),
            success: success.max(1),
            streaks: HashMap::new(),
        }
    }

    /// Marks an alert as already firing (remembered from before a restart).
    pub fn resume(&mut self, alert: Alert) {
        let streak = self.streaks.entry(alert.component.clone()).or_default();
        streak.failures = self.failure;
        streak.firing = Some(alert);
    }

    /// Takes a result; returns the alert to send, if this result fires or resolves one.
    pub fn observe(
        &mut self,
        subject: Subject,
        status: Status,
        error: Option<&str>,
        at: jiff::Timestamp,
    ) -> Option<Alert> {
        let (failure, success) = (self.failure, self.success);
        let streak = self.streaks.entry(subject.component.clone()).or_default();
        let previous = streak.last_status.replace(status);
        if status.is_ok() {
            streak.failures = 0;
            streak.first_failure = None;
            streak.successes += 1;
            if streak.successes >= success
                && let Some(firing) = streak.firing.take()
            {
                return Some(Alert {
                    state: AlertState::Resolved,
                    status,
                    resolved_at: Some(at),
                    ..firing
                });
            }
            return None;
        }
        streak.successes = 0;
        streak.failures += 1;
        let (started_at, first_error, before) = streak
            .first_failure
            .get_or_insert_with(|| {
                (
                    at,
                    error.map(str::to_owned),
                    previous.unwrap_or(Status::Green),
                )
            })
            .clone();
        if streak.failures >= failure && streak.firing.is_none() {
            let alert = Alert {
                component: subject.component,
                kind: subject.kind,
                required: subject.required,
                state: AlertState::Firing,
                status,
                previous_status: before,
                error: first_error,
                started_at,
                resolved_at: None,
                held_back: Vec::new(),
                term: None,
            };
            streak.firing = Some(alert.clone());
            return Some(alert);
        }
        None
    }

    /// A component's current run of results.
    pub fn run(&self, component: &ComponentKey) -> Option<Run> {
        let streak = self.streaks.get(component)?;
        Some(Run {
            failures: streak.failures,
            successes: streak.successes,
            first_failure: streak.first_failure.clone(),
        })
    }
}

/// A time to the millisecond, as the history keeps it, so an alert resumed after a restart
/// carries the same start.
pub fn millisecond(at: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at)
}

/// The link to a component in ragwatch's API.
fn component_link(external: &url::Url, component: &str) -> String {
    let base = external.as_str().trim_end_matches('/');
    format!("{base}/api/v1/components/{component}")
}

/// One receiver: its queue and how it is doing.
struct Receiver {
    name: String,
    /// Its key in the configuration (`alerts.slack[0]`).
    key: String,
    /// Its kind (`webhook`, `slack`, ...).
    integration: &'static str,
    notifier: Box<dyn Notifier>,
    routing: Routing,
    /// Trusts the receiver's own `tls_ca_file` too.
    client: reqwest::Client,
    queue: mpsc::Sender<Alert>,
    inbox: Mutex<Option<mpsc::Receiver<Alert>>>,
    last_error: ArcSwapOption<String>,
    counts: Counts,
}

/// A receiver's health, for readyz and metrics.
#[derive(Clone, Debug)]
pub struct ReceiverHealth {
    /// `webhook hooks.example.com`, `alertmanager am:9093`.
    pub name: String,
    /// The last delivery failed with this.
    pub error: Option<String>,
    /// The receiver's kind: `webhook`, `alertmanager`, `slack`, ...
    pub integration: &'static str,
    /// Its notifications since start.
    pub counts: CountsRead,
}

/// How one receiver took a test notification.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    /// `slack hooks.slack.com:443`, as readyz names it.
    pub name: String,
    /// `alerts.slack[0]`.
    pub key: String,
    /// Why it failed (scrubbed); `None` when it was delivered.
    pub error: Option<String>,
}

/// The alerting of one ragwatch: thresholds plus receivers.
pub struct Alerts {
    thresholds: Mutex<Thresholds>,
    /// Per component, what receivers were told and what is true.
    ledgers: Mutex<HashMap<ComponentKey, Ledger>>,
    quiet: Arc<Quiet>,
    /// Per component, the components that depend on it.
    dependents: Mutex<HashMap<ComponentKey, BTreeSet<ComponentKey>>>,
    receivers: Vec<Receiver>,
    context: Context,
    scrubber: Scrubber,
    closer: Closer,
    /// In a cluster: whether this replica leads (the leader decides by the quorum, not
    /// this replica's own results, and only the leader sends).
    leadership: Option<Arc<Leadership>>,
}

impl Alerts {
    /// The receivers of `[alerts]`, reached through `network`; nothing is sent until
    /// [`Alerts::start`]. In a cluster (`leadership` given) alerts are decided by the
    /// leader ([`Alerts::decided`]) and sent only while this replica leads.
    pub fn new(
        config: &AlertsConfig,
        scrubber: Scrubber,
        network: &Network,
        leadership: Option<Arc<Leadership>>,
        quiet: Arc<Quiet>,
    ) -> Self {
        let targets = [
            kind(&config.webhook, "webhook", Webhook::new),
            kind(&config.alertmanager, "alertmanager", Alertmanager::new),
            kind(&config.slack, "slack", Slack::new),
            kind(&config.discord, "discord", Discord::new),
            kind(&config.telegram, "telegram", Telegram::new),
            kind(&config.ntfy, "ntfy", Ntfy::new),
            kind(&config.pagerduty, "pagerduty", Pagerduty::new),
            kind(&config.teams, "teams", Teams::new),
            kind(&config.googlechat, "googlechat", GoogleChat::new),
            kind(&config.feishu, "feishu", Feishu::new),
            kind(&config.dingtalk, "dingtalk", Dingtalk::new),
            kind(&config.wecom, "wecom", Wecom::new),
            kind(&config.opsgenie, "opsgenie", Opsgenie::new),
            kind(&config.email, "email", |c| {
                Email::new(c, &network.trust.roots(c.tls_ca_file.as_ref()))
            }),
        ]
        .into_iter()
        .flatten();
        let receivers = targets
            .map(|target| {
                let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
                let ca_file = target.ca_file.as_ref();
                Receiver {
                    name: target.name,
                    key: target.key,
                    integration: target.integration,
                    notifier: target.notifier,
                    routing: target.routing,
                    client: network
                        .http_client(ca_file)
                        .build()
                        .expect("the HTTP client builds"),
                    queue,
                    inbox: Mutex::new(Some(inbox)),
                    last_error: ArcSwapOption::empty(),
                    counts: Counts::default(),
                }
            })
            .collect();
        Self {
            thresholds: Mutex::new(Thresholds::new(
                config.failure_threshold,
                config.success_threshold,
            )),
            dependents: Mutex::new(HashMap::new()),
            ledgers: Mutex::new(HashMap::new()),
            quiet,
            receivers,
            context: Context {
                external: config.external_url.clone(),
                labels: config.labels.clone(),
                test: false,
                scrubber: scrubber.clone(),
            },
            scrubber,
            closer: Closer::new(),
            leadership,
        }
    }

    /// In a cluster, when this replica starts or stops leading: the alerts the leader
    /// recorded as firing are taken as told (unless quiet now: then they are sent when
    /// the quiet ends), so a new leader neither repeats them nor forgets to resolve them;
    /// a replica that stops leading forgets them.
    pub fn adopt(&self, firing: Vec<Alert>) {
        let now = jiff::Timestamp::now();
        let mut ledgers = self.ledgers.lock().expect("ledgers lock");
        ledgers.clear();
        for alert in firing {
            let ledger = ledgers.entry(alert.component.clone()).or_default();
            ledger.learn(&alert);
            if self.quiet.reason(alert.component.as_str(), now).is_none() {
                ledger.told();
            }
        }
    }

    /// Takes up the alerts that were firing before a restart: every incident left open
    /// whose latest status is red, for a watched component. The threshold counts are not
    /// stored, so an incident that had not fired yet is taken as firing too; it then
    /// resolves with a notice when the component recovers. Receivers are taken to have
    /// been told, unless the incident was quiet: then they hear of it when the quiet ends.
    pub fn resume(&self, components: &[Component], open: Vec<Incident>) {
        let mut thresholds = self.thresholds.lock().expect("thresholds lock");
        let mut ledgers = self.ledgers.lock().expect("ledgers lock");
        for incident in open {
            let watched = components
                .iter()
                .find(|c| c.key.as_str() == incident.component);
            let (Some(component), Status::Red) = (watched, incident.last) else {
                continue;
            };
            let alert = Alert {
                component: component.key.clone(),
                kind: component.kind,
                required: component.required,
                state: AlertState::Firing,
                status: Status::Red,
                // As for an alert of this run: an unknown status before counts as green.
                previous_status: incident.from.unwrap_or(Status::Green),
                error: incident.first_error,
                started_at: incident.started_at,
                resolved_at: None,
                held_back: Vec::new(),
                term: None,
            };
            let ledger = ledgers.entry(alert.component.clone()).or_default();
            ledger.learn(&alert);
            if incident.quiet.is_none() {
                ledger.told();
            }
            thresholds.resume(alert);
        }
    }

    /// The maintenance windows and silences notifications wait for.
    pub fn quiet(&self) -> &Arc<Quiet> {
        &self.quiet
    }

    /// Sends each component's difference once it is no longer quiet; every second, and
    /// reads the silences every [`SILENCES_REFRESH`], until closing is asked.
    async fn catch_up_loop(&self, mut closing: Closing) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut refreshed: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = closing.asked() => return,
                _ = tick.tick() => {}
            }
            if refreshed.is_none_or(|at| at.elapsed() >= SILENCES_REFRESH) {
                // A store that hangs holds up neither the shutdown nor the loop for long:
                // the silences last read hold meanwhile.
                let refresh = tokio::time::timeout(SILENCES_REFRESH, self.quiet.refresh());
                tokio::select! {
                    _ = closing.asked() => return,
                    _ = refresh => {}
                }
                refreshed = Some(tokio::time::Instant::now());
            }
            self.catch_up();
        }
    }

    /// Tells receivers what changed while each component that is no longer quiet was.
    fn catch_up(&self) {
        let now = jiff::Timestamp::now();
        let mut ledgers = self.ledgers.lock().expect("ledgers lock");
        for (component, ledger) in ledgers.iter_mut() {
            if self.quiet.reason(component.as_str(), now).is_some() {
                continue;
            }
            let difference = ledger.difference();
            if difference.is_empty() {
                continue;
            }
            tracing::info!(
                component = component.as_str(),
                "Quiet ended; sending what changed."
            );
            for alert in difference {
                self.dispatch(alert);
            }
            ledger.told();
        }
    }

    /// Each receiver's health.
    pub fn health(&self) -> Vec<ReceiverHealth> {
        self.receivers
            .iter()
            .map(|r| ReceiverHealth {
                name: r.name.clone(),
                error: r.last_error.load_full().map(|e| (*e).clone()),
                integration: r.integration,
                counts: r.counts.read(),
            })
            .collect()
    }

    /// Starts one delivery task per receiver (once). The tasks end once the alerting is
    /// closed ([`Alerts::close`]) and have delivered what they could.
    pub fn start(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        for index in 0..self.receivers.len() {
            let Some(inbox) = self.receivers[index]
                .inbox
                .lock()
                .expect("inbox lock")
                .take()
            else {
                continue;
            };
            let alerts = Arc::clone(self);
            let closing = self.closer.subscribe();
            tasks.spawn(async move { alerts.deliver_loop(index, inbox, closing).await });
        }
        let alerts = Arc::clone(self);
        let closing = self.closer.subscribe();
        tasks.spawn(async move { alerts.catch_up_loop(closing).await });
    }

    /// Takes no more alerts: each receiver's task delivers the notification under way and
    /// those queued before `deadline` (retrying as usual, but never past it), logs how
    /// many it could not, and ends.
    pub fn close(&self, deadline: tokio::time::Instant) {
        self.closer.close(deadline);
    }

    async fn deliver_loop(
        &self,
        index: usize,
        mut inbox: mpsc::Receiver<Alert>,
        mut closing: Closing,
    ) {
        let receiver = &self.receivers[index];
        let mut resend = tokio::time::interval(RESEND_EVERY);
        resend.tick().await;
        let mut undelivered = 0;
        loop {
            let batch = tokio::select! {
                biased;
                _ = closing.asked() => break,
                alert = inbox.recv() => match alert {
                    Some(alert) => vec![alert],
                    None => return,
                },
                _ = resend.tick(), if receiver.notifier.resends_firing() => {
                    let mut firing = self.told_firing();
                    firing.retain(|a| receiver.routing.takes(a.component.as_str(), a.severity(), false));
                    if firing.is_empty() { continue; }
                    firing
                }
            };
            if self.deliver(receiver, &batch, &mut closing).await.is_err() {
                undelivered += batch.len();
                receiver.counts.dropped(DropReason::Shutdown, batch.len());
                break;
            }
        }
        // Closing: the queue takes no more; what it holds goes out before the deadline.
        inbox.close();
        while let Some(alert) = inbox.recv().await {
            let batch = std::slice::from_ref(&alert);
            if self.deliver(receiver, batch, &mut closing).await.is_err() {
                undelivered += 1;
                receiver.counts.dropped(DropReason::Shutdown, 1);
            }
        }
        if undelivered > 0 {
            tracing::error!(
                receiver = receiver.name,
                undelivered,
                "Alert notifications could not be delivered before the shutdown deadline."
            );
        }
    }

    /// Delivers with exponential back-off, up to [`MAX_ATTEMPTS`]; `Err` when closing was
    /// asked and its deadline came first.
    async fn deliver(
        &self,
        receiver: &Receiver,
        batch: &[Alert],
        closing: &mut Closing,
    ) -> Result<(), tokio::time::Instant> {
        let mut delay = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
        for attempt in 1..=MAX_ATTEMPTS {
            if let Some(leadership) = &self.leadership
                && leadership.term().is_none()
            {
                tracing::warn!(
                    receiver = receiver.name,
                    "No longer leading the cluster: a notification is left undelivered."
                );
                receiver.counts.dropped(DropReason::NotLeader, batch.len());
                return Ok(());
            }
            match closing.bounded(self.send(receiver, batch)).await? {
                Ok(()) => {
                    receiver.counts.attempted(false);
                    receiver.last_error.store(None);
                    return Ok(());
                }
                Err(failure) => {
                    let error = self.scrubber.scrub(&failure.message);
                    receiver.counts.attempted(true);
                    tracing::warn!(receiver = receiver.name, attempt, %error, "Alert delivery failed.");
                    receiver.last_error.store(Some(Arc::new(error)));
                    if attempt < MAX_ATTEMPTS {
                        // A service that said how long to wait (429) is not asked sooner.
                        let wait = delay
                            .next_delay()
                            .max(failure.retry_after.unwrap_or_default());
                        let pause = tokio::time::sleep(wait);
                        closing.bounded(pause).await?;
                    }
                }
            }
        }
        tracing::error!(
            receiver = receiver.name,
            "Alert given up after {MAX_ATTEMPTS} attempts."
        );
        receiver
            .counts
            .dropped(DropReason::RetriesExhausted, batch.len());
        Ok(())
    }

    /// The firing alerts receivers have been told of (a silence does not take them back);
    /// none on a cluster replica that does not lead.
    fn told_firing(&self) -> Vec<Alert> {
        if self.leadership.as_ref().is_some_and(|l| l.term().is_none()) {
            return Vec::new();
        }
        let ledgers = self.ledgers.lock().expect("ledgers lock");
        ledgers.values().filter_map(|l| l.told.clone()).collect()
    }

    /// Takes an alert decided (by this replica's thresholds, or its cluster's leader by the
    /// quorum): it is sent now, unless its component is quiet (a maintenance window, a
    /// silence); then it waits, and what receivers were not told is sent when the quiet
    /// ends.
    pub fn decided(&self, mut alert: Alert) {
        alert.held_back = self.held_back(&alert);
        let mut ledgers = self.ledgers.lock().expect("ledgers lock");
        let ledger = ledgers.entry(alert.component.clone()).or_default();
        ledger.learn(&alert);
        if let Some(reason) = self
            .quiet
            .reason(alert.component.as_str(), jiff::Timestamp::now())
        {
            tracing::info!(
                component = alert.component.as_str(),
                state = ?alert.state,
                reason = reason.as_str(),
                "Alert held back while quiet."
            );
            let resolved = alert.state == AlertState::Resolved;
            for receiver in &self.receivers {
                if receiver
                    .routing
                    .takes(alert.component.as_str(), alert.severity(), resolved)
                {
                    receiver.counts.suppressed(reason);
                }
            }
            return;
        }
        for alert in ledger.difference() {
            self.dispatch(alert);
        }
        ledger.told();
    }

    /// Queues `alert` for every receiver that takes it; in a cluster it carries the
    /// leader's term.
    fn dispatch(&self, mut alert: Alert) {
        alert.term = self.leadership.as_ref().and_then(|l| l.term());
        tracing::info!(component = alert.component.as_str(), state = ?alert.state, "Alert.");
        let resolved = alert.state == AlertState::Resolved;
        for receiver in &self.receivers {
            if !receiver
                .routing
                .takes(alert.component.as_str(), alert.severity(), resolved)
            {
                continue;
            }
            if receiver.queue.try_send(alert.clone()).is_err() {
                receiver.counts.dropped(DropReason::QueueFull, 1);
                tracing::warn!(
                    receiver = receiver.name,
                    "Alert queue is full; an alert was dropped."
                );
            }
        }
    }

    /// One attempt at sending `batch` to `receiver`.
    async fn send(&self, receiver: &Receiver, batch: &[Alert]) -> Result<(), Failure> {
        receiver
            .notifier
            .send_all(&receiver.client, batch, &self.context)
            .await
    }

    /// Sends a test notification to every receiver, or to those `only` names (by name,
    /// as readyz shows it, or by key), whatever their routing: one attempt each, all at
    /// once. A paging service's test alert is resolved at once, with the same key. `Err`
    /// lists every receiver when `only` names none.
    pub async fn test(&self, only: Option<&str>) -> Result<Vec<TestOutcome>, Vec<String>> {
        let chosen: Vec<&Receiver> = self
            .receivers
            .iter()
            .filter(|r| only.is_none_or(|name| r.name == name || r.key == name))
            .collect();
        if chosen.is_empty() {
            return Err(self
                .receivers
                .iter()
                .map(|r| format!("{} ({})", r.name, r.key))
                .collect());
        }
        let context = Context {
            test: true,
            ..self.context.clone()
        };
        let now = millisecond(jiff::Timestamp::now());
        let firing = Alert {
            component: ComponentKey::Ragflow,
            kind: "ragwatch",
            required: false,
            state: AlertState::Firing,
            status: Status::Red,
            previous_status: Status::Green,
            error: Some(text::TEST_TEXT.to_owned()),
            started_at: now,
            resolved_at: None,
            held_back: Vec::new(),
            term: None,
        };
        let resolved = Alert {
            state: AlertState::Resolved,
            status: Status::Green,
            resolved_at: Some(now),
            ..firing.clone()
        };
        let sends = chosen.iter().map(|receiver| {
            let (firing, resolved, context) = (&firing, &resolved, &context);
            async move {
                let notifier = &receiver.notifier;
                let mut sent = notifier.send(&receiver.client, firing, context).await;
                if sent.is_ok() && notifier.opens_incidents() {
                    sent = notifier.send(&receiver.client, resolved, context).await;
                }
                TestOutcome {
                    name: receiver.name.clone(),
                    key: receiver.key.clone(),
                    error: sent.err().map(|f| self.scrubber.scrub(&f.message)),
                }
            }
        });
        Ok(futures_util::future::join_all(sends).await)
    }

    /// Remembers which components depend on which, as results arrive.
    fn note_dependencies(&self, published: &Published<'_>) {
        let component = published.component;
        if component.depends_on.is_empty() {
            return;
        }
        let mut dependents = self.dependents.lock().expect("dependents lock");
        for cause in &component.depends_on {
            dependents
                .entry(cause.clone())
                .or_default()
                .insert(component.key.clone());
        }
    }

    /// The components held back while `alert`'s component is down (red): those that
    /// depend on it, whose own results wait on it.
    fn held_back(&self, alert: &Alert) -> Vec<ComponentKey> {
        if alert.state != AlertState::Firing || alert.status != Status::Red {
            return Vec::new();
        }
        let dependents = self.dependents.lock().expect("dependents lock");
        dependents
            .get(&alert.component)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A receiver being built: its name (kind and host, never a secret), what sends, which
/// alerts it takes and the certificate authorities it trusts beside the system's.
struct Target {
    name: String,
    key: String,
    /// The kind, the metrics' low-cardinality `integration` label.
    integration: &'static str,
    notifier: Box<dyn Notifier>,
    routing: Routing,
    ca_file: Option<CaFile>,
}

/// The receivers of one kind, from its configurations.
fn kind<C: ReceiverConfig, N: Notifier + 'static>(
    configs: &[C],
    kind: &'static str,
    new: impl Fn(&C) -> N,
) -> Vec<Target> {
    configs
        .iter()
        .enumerate()
        .map(|(index, config)| Target {
            name: format!("{kind} {}", config.host()),
            key: format!("alerts.{kind}[{index}]"),
            integration: kind,
            notifier: Box::new(new(config)),
            routing: config.routing(),
            ca_file: config.ca_file(),
        })
        .collect()
}

impl Sink for Alerts {
    /// Takes a published result; an alert it fires or resolves is queued for every receiver
    /// (unless a cluster's leader decides). A failure held back by a red dependency is not
    /// counted ([`held_by_dependency`]).
    fn publish(&self, published: &Published<'_>) {
        self.note_dependencies(published);
        if held_by_dependency(published) {
            tracing::debug!(
                component = published.component.key.as_str(),
                "Alert held back: a dependency is down."
            );
            return;
        }
        if self.leadership.is_some() {
            // The cluster's leader decides, from every observer's results.
            return;
        }
        let (component, result) = (published.component, published.result);
        let subject = Subject {
            component: component.key.clone(),
            kind: component.kind,
            required: component.required,
        };
        let alert = self.thresholds.lock().expect("thresholds lock").observe(
            subject,
            result.status,
            result.error.as_deref(),
            millisecond(result.checked_at),
        );
        if let Some(alert) = alert {
            self.decided(alert);
        }
    }
}

/// Whether a result does not count toward an alert: a failure while a dependency of the
/// component is red. The dependency's own alert names the cause, and the dependent fires
/// only if it stays red once the cause is gone.
pub fn held_by_dependency(published: &Published<'_>) -> bool {
    published.held_by.is_some() && !published.result.status.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS: Subject = Subject {
        component: ComponentKey::Redis,
        kind: "redis",
        required: true,
    };

    fn run(thresholds: &mut Thresholds, statuses: &[Status]) -> Vec<(usize, AlertState)> {
        statuses
            .iter()
            .enumerate()
            .filter_map(|(i, status)| {
                let at = jiff::Timestamp::from_second(1_000 + i as i64).unwrap();
                thresholds
                    .observe(REDIS, *status, Some("down"), at)
                    .map(|a| (i, a.state))
            })
            .collect()
    }

    #[test]
    fn fires_and_resolves_after_consecutive_results_only() {
        use Status::{Green as G, Red as R, Yellow as Y};
        let cases = [
            ("one red is not enough", vec![G, R, G, R, G], vec![]),
            (
                "flapping below the thresholds",
                vec![R, G, R, G, R, Y, R],
                vec![],
            ),
            (
                "two reds fire once",
                vec![G, R, R, R, R],
                vec![(2, AlertState::Firing)],
            ),
            (
                "two oks resolve; one does not",
                vec![R, R, G, R, G, Y],
                vec![(1, AlertState::Firing), (5, AlertState::Resolved)],
            ),
        ];
        for (name, statuses, expected) in cases {
            let mut thresholds = Thresholds::new(2, 2);
            assert_eq!(run(&mut thresholds, &statuses), expected, "{name}");
        }
    }

    #[test]
    fn a_firing_alert_carries_the_first_failure() {
        let mut thresholds = Thresholds::new(2, 1);
        let first = jiff::Timestamp::from_second(10).unwrap();
        let second = jiff::Timestamp::from_second(15).unwrap();
        assert_eq!(thresholds.observe(REDIS, Status::Green, None, first), None);
        assert_eq!(
            thresholds.observe(REDIS, Status::Red, Some("refused"), first),
            None
        );
        let alert = thresholds
            .observe(REDIS, Status::Red, Some("timed out"), second)
            .unwrap();
        assert_eq!(alert.started_at, first);
        assert_eq!(alert.error.as_deref(), Some("refused"));
        assert_eq!(alert.previous_status, Status::Green);
        assert_eq!(thresholds.streaks[&ComponentKey::Redis].firing, Some(alert));
    }

    /// Receivers hear the difference between what they were told and what is true.
    #[test]
    fn the_difference_after_a_quiet_is_what_receivers_were_not_told() {
        let mut thresholds = Thresholds::new(1, 1);
        let mut at = 0;
        let mut next = |status| {
            at += 1;
            let when = jiff::Timestamp::from_second(at).unwrap();
            thresholds
                .observe(REDIS, status, Some("down"), when)
                .unwrap()
        };
        let states = |ledger: &Ledger| -> Vec<(AlertState, i64)> {
            ledger
                .difference()
                .iter()
                .map(|a| (a.state, a.started_at.as_second()))
                .collect()
        };
        // Fired and resolved while quiet: nothing.
        let mut ledger = Ledger::default();
        ledger.learn(&next(Status::Red));
        ledger.learn(&next(Status::Green));
        assert_eq!(states(&ledger), []);
        // Fired while quiet, still firing: the firing.
        ledger.learn(&next(Status::Red));
        assert_eq!(states(&ledger), [(AlertState::Firing, 3)]);
        ledger.told();
        assert_eq!(states(&ledger), [], "told");
        // Told before, resolved while quiet: its resolution, with its own time.
        let resolved = next(Status::Green);
        ledger.learn(&resolved);
        assert_eq!(ledger.difference(), [resolved]);
        // ... and firing again while quiet: the resolution, then the new firing.
        ledger.learn(&next(Status::Red));
        assert_eq!(
            states(&ledger),
            [(AlertState::Resolved, 3), (AlertState::Firing, 5)]
        );
        ledger.told();
        assert_eq!(states(&ledger), []);
    }

    #[test]
    fn a_resumed_alert_resolves_without_firing_again() {
        let mut thresholds = Thresholds::new(2, 1);
        let mut alert = thresholds
            .observe(REDIS, Status::Red, None, jiff::Timestamp::UNIX_EPOCH)
            .or_else(|| thresholds.observe(REDIS, Status::Red, None, jiff::Timestamp::UNIX_EPOCH))
            .unwrap();
        alert.error = Some("before the restart".into());
        let mut restarted = Thresholds::new(2, 1);
        restarted.resume(alert);
        assert_eq!(
            run(&mut restarted, &[Status::Red, Status::Red, Status::Green]),
            [(2, AlertState::Resolved)]
        );
    }
}

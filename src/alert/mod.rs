//! Alerts on status changes. [`Thresholds`] decides, per component, when consecutive red
//! results make an alert fire and consecutive ok results resolve it. [`Alerts`] hands each
//! decision to every receiver's own bounded queue without waiting; a task per receiver
//! delivers in order, retrying with back-off, so a slow or failing receiver delays nothing
//! but itself. Closed ([`Alerts::close`]), each task delivers what is queued before a
//! deadline and logs how many notifications it could not.
//!
//! Notifications wait while [`Quiet`] says a component is quiet (a maintenance window or a
//! silence). A `Ledger` (`ledger.rs`) per component holds what receivers were last told and what is
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
mod ledger;
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
mod thresholds;
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
use ledger::Ledger;
pub use notifier::{Context, Failure, Notifier};
pub use quiet::{Quiet, QuietReason, SILENCES_REFRESH, WindowState};
pub use template::check as check_template;
pub use thresholds::{Run, Subject, Thresholds};

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

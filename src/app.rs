//! The composition root: the one place that builds ragwatch's parts from a configuration
//! and wires them together. The monitor hands each result to its sinks (metrics, history,
//! alerts); the executor tracker and RAGFlow's task table are built once and shared by the
//! probes that write or read them and by the API. `serve`, `check`, the tests and the
//! benchmarks all build the application here. It also stops here, in order: probing
//! first, then the history writer and the alert receivers finish what they hold by one
//! deadline.

use std::sync::Arc;

use axum::Router;
use tokio::task::JoinSet;
use tokio::time::Instant;

use std::collections::HashSet;
use std::sync::Mutex;

use crate::alert::{Alerts, Leadership, Quiet, Subject};
use crate::api;
use crate::cluster::Cluster;
use crate::component::{self, Component};
use crate::config::{ComponentKey, Config, ConfigError, KeyError};
use crate::history::{ChangeRecord, History, QuietRecord, Record, ResultRecord, Store};
use crate::metrics::Metrics;
use crate::monitor::{Monitor, Published, Sink};
use crate::net::Network;
use crate::probe::Sources;
use crate::status::Status;
use crate::task_executors::{self, Liveness, TaskSource, Tracker};

/// What the application is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `ragwatch serve`: history and alerts as configured.
    Serve,
    /// `ragwatch check`: one round of probes, nothing recorded or sent.
    Check,
}

/// Every part of a running ragwatch.
pub struct App {
    /// Schedules, snapshot and single-flight probing.
    pub monitor: Arc<Monitor>,
    /// Probe counters and durations.
    pub metrics: Arc<Metrics>,
    /// The history store and its writer, when kept.
    pub history: Option<Arc<History>>,
    /// Alert thresholds and receivers, when configured.
    pub alerts: Option<Arc<Alerts>>,
    /// This replica of a cluster, when `[cluster]` is configured.
    pub cluster: Option<Arc<Cluster>>,
    /// The board of RAGFlow's task executors, when they are watched.
    pub executors: Option<Arc<Tracker>>,
    /// RAGFlow's task table, when its database is watched.
    pub tasks: Option<Arc<TaskSource>>,
    config: Config,
}

impl App {
    /// Builds every part `mode` needs from `config`; nothing runs until [`App::start`].
    pub fn build(config: Config, mode: Mode) -> Result<Self, ConfigError> {
        check_templates(&config)?;
        let (components, sources) = components(&config)?;
        let metrics = Arc::new(Metrics::new(&components));
        let history = match mode {
            Mode::Serve => open_history(&config)?,
            Mode::Check => None,
        };
        let leadership = config
            .cluster
            .as_ref()
            .and(history.as_ref())
            .map(|_| Arc::new(Leadership::default()));
        let alerts = match mode {
            Mode::Serve => open_alerts(
                &config,
                &sources.network,
                history.clone(),
                leadership.clone(),
            ),
            Mode::Check => None,
        };
        let cluster = match (&history, leadership) {
            (Some(history), Some(leadership)) => {
                Some(open_cluster(&config, history, &components, leadership)?)
            }
            _ => None,
        };
        let mut sinks: Vec<Arc<dyn Sink>> = vec![metrics.clone()];
        sinks.extend(history.clone().map(|history| {
            Arc::new(Recorder {
                history,
                quiet: alerts.as_ref().map(|a| Arc::clone(a.quiet())),
                marked: Mutex::new(HashSet::new()),
            }) as Arc<dyn Sink>
        }));
        sinks.extend(alerts.clone().map(|a| a as Arc<dyn Sink>));
        sinks.extend(cluster.clone().map(|c| c as Arc<dyn Sink>));
        let monitor = Arc::new(Monitor::new(
            components,
            config.scrubber(),
            sinks,
            config.server.fresh_min_interval,
        ));
        Ok(Self {
            monitor,
            metrics,
            history,
            alerts,
            cluster,
            executors: sources.executors,
            tasks: sources.tasks,
            config,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts the background work: alert delivery, the history writer, the resumption of
    /// firing alerts (awaited up to a probe timeout), the executor memory, and (when
    /// `scheduled`) every component's schedule. It runs until [`App::drain`], or until the
    /// returned [`Running`] is dropped.
    pub async fn start(&self, scheduled: bool) -> Running {
        let mut running = Running {
            probing: JoinSet::new(),
            delivering: JoinSet::new(),
            leading: JoinSet::new(),
        };
        if let Some(cluster) = &self.cluster {
            running
                .leading
                .spawn(Arc::clone(cluster).run(self.alerts.clone()));
        }
        if let Some(alerts) = &self.alerts {
            alerts.start(&mut running.delivering);
        }
        if let Some(history) = &self.history {
            history.start(&mut running.delivering).await;
            // In a cluster, the firing alerts are the leader's, kept in the shared store.
            if let (Some(alerts), None) = (&self.alerts, &self.cluster) {
                let mut resume = Box::pin(resume_alerts(
                    Arc::clone(alerts),
                    Arc::clone(history),
                    Arc::clone(&self.monitor),
                ));
                // Alerts firing before the restart are taken up before any result is judged
                // (else a result could fire one again), unless the store takes longer than a
                // probe's timeout to open: then they are taken up when it does.
                let wait = self.config.monitor.timeout;
                if tokio::time::timeout(wait, &mut resume).await.is_err() {
                    running.probing.spawn(resume);
                }
            }
            if let Some(tracker) = &self.executors {
                running.probing.spawn(task_executors::memory::run(
                    Arc::clone(tracker),
                    Arc::clone(history),
                ));
            }
        }
        if scheduled {
            self.monitor.start(&mut running.probing);
        }
        running
    }

    /// Stops what `running` runs by `deadline`: probing first, so no new result comes;
    /// then the history writer writes what it holds and the alert receivers deliver what
    /// is queued, each giving up at the deadline with a log line counting what was lost;
    /// last, a cluster's leader gives its lease up (its receivers send only while it
    /// leads). Returns when all of them have ended.
    pub async fn drain(&self, mut running: Running, deadline: Instant) {
        running.stop_probing().await;
        if let Some(history) = &self.history {
            history.close(deadline);
        }
        if let Some(alerts) = &self.alerts {
            alerts.close(deadline);
        }
        while running.delivering.join_next().await.is_some() {}
        if let Some(cluster) = &self.cluster {
            cluster.close(deadline);
        }
        while running.leading.join_next().await.is_some() {}
    }

    /// Every HTTP route, reading this application's parts.
    pub fn router(&self) -> Router {
        api::router(api::Parts {
            monitor: Arc::clone(&self.monitor),
            metrics: Arc::clone(&self.metrics),
            history: self.history.clone(),
            alerts: self.alerts.clone(),
            cluster: self.cluster.clone(),
            executors: self.executors.clone(),
            tasks: self.tasks.clone(),
            tokens: self.config.server.tokens.clone(),
            open: self.config.server.open,
            scrubber: self.config.scrubber(),
            history_required: self.config.history.required,
        })
    }
}

/// The background work of a started [`App`]: dropped, it stops at once.
pub struct Running {
    /// Schedules and what reads the store on start: stopped first, at once.
    probing: JoinSet<()>,
    /// The history writer and the alert receivers: they hold work, drained by
    /// [`App::drain`].
    delivering: JoinSet<()>,
    /// A cluster replica's rounds: stopped last, giving the lease up.
    leading: JoinSet<()>,
}

impl Running {
    /// Stops every schedule (a probe under way is dropped); no new result comes after
    /// this returns, but from requests (`?fresh=1`).
    pub async fn stop_probing(&mut self) {
        self.probing.shutdown().await;
    }

    /// Stops everything at once, as if ragwatch had died.
    pub fn abort_all(&mut self) {
        self.probing.abort_all();
        self.delivering.abort_all();
        self.leading.abort_all();
    }
}

/// The enabled components of a configuration and the sources their probes share: the
/// executor tracker when the executors are watched, RAGFlow's task table when its
/// database is (or the parsing pipeline reads it).
pub fn components(config: &Config) -> Result<(Vec<Component>, Sources), ConfigError> {
    let executors = config.task_executors.settings.enabled.then(|| {
        Arc::new(Tracker::new(
            Liveness {
                period: config.task_executors.heartbeat_period,
                timeout: config.task_executors.heartbeat_timeout,
                forget_after: config.task_executors.forget_after,
            },
            config.task_executors.max_failure_rate,
        ))
    });
    let tasks = if config.db.settings.enabled || config.parsing.is_some() {
        let timeout = config.db.settings.timeout.unwrap_or(config.monitor.timeout);
        let source = TaskSource::new(&config.db, timeout).map_err(|error| {
            config.invalid(KeyError {
                message: config.scrubber().scrub(&error.message),
                ..error
            })
        })?;
        Some(Arc::new(source))
    } else {
        None
    };
    let network = network()?;
    let sources = Sources {
        executors,
        tasks,
        network,
    };
    Ok((component::from_config(config, &sources)?, sources))
}

/// How this process reaches other hosts: the system's trusted roots and the proxies of
/// its environment.
fn network() -> Result<Network, ConfigError> {
    let network = Network::from_env().map_err(|error| ConfigError::Invalid {
        location: format!("environment variable {}", error.variable),
        message: error.message,
    })?;
    if !network.proxies.is_empty() {
        tracing::info!(
            "HTTP requests go through the proxies of HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, except to loopback and NO_PROXY's hosts."
        );
    }
    Ok(network)
}

/// The receivers of `[alerts]` alone, as `serve` would reach them, for `ragwatch notify`;
/// `None` without `[alerts]`.
pub fn receivers(config: &Config) -> Result<Option<Arc<Alerts>>, ConfigError> {
    Ok(open_alerts(config, &network()?, None, None))
}

/// Refuses a receiver's `template` that does not compile or reads a field (or label) that
/// does not exist, found by rendering it once for a firing and a resolved alert: every
/// command checks them once the configuration is loaded (the configuration itself knows
/// no template engine).
pub fn check_templates(config: &Config) -> Result<(), ConfigError> {
    let Some(alerts) = &config.alerts else {
        return Ok(());
    };
    for (key, source) in alerts.templates() {
        crate::alert::check_template(source, &alerts.labels)
            .map_err(|why| config.invalid(KeyError::new(key, why)))?;
    }
    Ok(())
}

/// The history `serve` records into, when enabled.
fn open_history(config: &Config) -> Result<Option<Arc<History>>, ConfigError> {
    if !config.history.enabled {
        return Ok(None);
    }
    let history = History::open(&config.history, config.monitor.timeout, config.scrubber())
        // Its errors name `history.url`, the one key it reads.
        .map_err(|message| ConfigError::Invalid {
            location: config.origin("history.url"),
            message: config.scrubber().scrub(&message),
        })?;
    Ok(Some(Arc::new(history)))
}

/// The alerting `serve` sends, when `[alerts]` is configured; its silences are kept in
/// `history`; in a cluster, it sends only while `leadership` says this replica leads.
fn open_alerts(
    config: &Config,
    network: &Network,
    history: Option<Arc<History>>,
    leadership: Option<Arc<Leadership>>,
) -> Option<Arc<Alerts>> {
    let alerts = config.alerts.as_ref()?;
    let quiet = Arc::new(Quiet::new(alerts, history));
    Some(Arc::new(Alerts::new(
        alerts,
        config.scrubber(),
        network,
        leadership,
        quiet,
    )))
}

/// This replica of the cluster `[cluster]` describes, on the history's PostgreSQL.
fn open_cluster(
    config: &Config,
    history: &Arc<History>,
    components: &[Component],
    leadership: Arc<Leadership>,
) -> Result<Arc<Cluster>, ConfigError> {
    let cluster = config.cluster.as_ref().expect("[cluster] is configured");
    let options = crate::history::postgres_connect_options(
        &config.history.login(),
        config.history.tls_ca_file.as_ref(),
    )
    .map_err(|message| ConfigError::Invalid {
        location: config.origin("history.url"),
        message: config.scrubber().scrub(&message),
    })?;
    let thresholds = config.alerts.clone().unwrap_or_default();
    let subjects = components
        .iter()
        .map(|c| Subject {
            component: c.key.clone(),
            kind: c.kind,
            required: c.required,
        })
        .collect();
    Ok(Arc::new(Cluster::new(
        cluster,
        Arc::clone(history),
        options,
        (thresholds.failure_threshold, thresholds.success_threshold),
        subjects,
        leadership,
        config.monitor.timeout,
        config.scrubber(),
    )))
}

/// The history as a sink of the monitor: every result, and every status change, handed to
/// the writer without waiting; an incident open while its component is quiet is marked so,
/// once. It lives here so the history need not know the monitor.
struct Recorder {
    history: Arc<History>,
    quiet: Option<Arc<Quiet>>,
    /// Components whose open incident has been marked quiet.
    marked: Mutex<HashSet<ComponentKey>>,
}

impl Sink for Recorder {
    fn publish(&self, published: &Published<'_>) {
        let (component, result) = (published.component, published.result);
        if published.previous != Some(result.status) {
            self.history.record(Record::Change(ChangeRecord {
                component: component.key.clone(),
                at: result.checked_at,
                from: published.previous,
                to: result.status,
                error: result.error.clone(),
            }));
        }
        self.history.record(Record::Result(ResultRecord {
            component: component.key.clone(),
            checked_at: result.checked_at,
            status: result.status,
            elapsed_ms: result.elapsed_ms,
            error: result.error.clone(),
        }));
        let mut marked = self.marked.lock().expect("marked lock");
        if result.status == Status::Green {
            marked.remove(&component.key);
            return;
        }
        let reason = self
            .quiet
            .as_ref()
            .and_then(|quiet| quiet.reason(component.key.as_str(), jiff::Timestamp::now()));
        if let Some(reason) = reason
            && marked.insert(component.key.clone())
        {
            self.history.record(Record::Quiet(QuietRecord {
                component: component.key.clone(),
                reason: reason.as_str(),
            }));
        }
    }
}

/// Takes up the alerts that were firing before a restart, once the store is open.
async fn resume_alerts(alerts: Arc<Alerts>, history: Arc<History>, monitor: Arc<Monitor>) {
    match history
        .opened()
        .await
        .open_incidents(history.observer())
        .await
    {
        Ok(open) => alerts.resume(monitor.components(), open),
        Err(error) => {
            tracing::warn!(%error, "Cannot read open incidents; firing alerts are not resumed.")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::config::load;

    /// The error building a configuration's components gives, with the file's path as FILE.
    fn build_error(text: &str, vars: &[(&str, &str)]) -> String {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let config = load(Some(f.path()), env).unwrap();
        let Err(err) = super::components(&config) else {
            panic!("the probe was built");
        };
        err.to_string()
            .replace(&f.path().display().to_string(), "FILE")
    }

    #[tokio::test]
    async fn errors_found_while_building_a_probe_name_file_and_line() {
        let azure = "[storage]\nkind = \"azure\"\naccount_name = \"a\"\ncontainer = \"c\"\naccount_key = \"not base64!\"\n";
        assert_eq!(
            build_error(azure, &[]),
            "FILE:5: storage.account_key: not base64, as Azure shows account keys"
        );
        let gcs = "[storage]\nkind = \"gcs\"\nbucket = \"b\"\n";
        assert_eq!(
            build_error(
                gcs,
                &[(
                    "RAGWATCH_STORAGE__CREDENTIALS_FILE",
                    "/nonexistent/key.json"
                )]
            ),
            "environment variable RAGWATCH_STORAGE__CREDENTIALS_FILE: storage.credentials_file: /nonexistent/key.json: No such file or directory (os error 2)"
        );
    }

    /// A tls_ca_file beside a SQL URL that does not verify certificates would go unused.
    #[tokio::test]
    async fn a_ca_file_for_a_sql_url_that_does_not_verify_is_refused() {
        let ca = "tls_ca_file = \"tests/data/config/ca.pem\"\n";
        let postgres =
            format!("[db]\nkind = \"postgres\"\nurl = \"postgres://u@h/d?sslmode=require\"\n{ca}");
        assert_eq!(
            build_error(&postgres, &[]),
            "FILE:3: db.url: the URL does not ask to verify the server's certificate, so tls_ca_file would go unused: add sslmode=verify-full (or verify-ca) to it"
        );
        let mysql = format!("[doc_engine]\nkind = \"seekdb\"\n{ca}url = \"mysql://u@h/d\"\n");
        assert_eq!(
            build_error(&mysql, &[]),
            "FILE:4: doc_engine.url: the URL does not ask to verify the server's certificate, so tls_ca_file would go unused: add ssl-mode=VERIFY_IDENTITY (or VERIFY_CA) to it"
        );
        let verifying = format!(
            "[db]\nkind = \"postgres\"\nurl = \"postgres://u@h/d?sslmode=verify-full\"\n{ca}"
        );
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(verifying.as_bytes()).unwrap();
        let config = load(Some(f.path()), std::iter::empty()).unwrap();
        assert!(super::components(&config).is_ok());
    }
}

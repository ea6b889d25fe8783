//! Several ragwatch replicas on one PostgreSQL history (`[cluster]`). Every replica probes,
//! serves and writes its results as its own observer, and reports its run of results per
//! component (its *view*). One replica holds a lease and leads: it alone decides alerts, by
//! the quorum rule over the live observers' views (`quorum.rs`), records each decision in
//! the shared store under its term before handing it to the receivers, and sends only
//! while its lease is surely in force ([`Leadership`]). The parts:
//! - `store.rs`: the rows and their statements, on the database's clock, fenced by the lease;
//! - `quorum.rs`: the rule, pure;
//! - this file: the replica's round, every third of a lease, and what it shows the API.

mod quorum;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::alert::{Alert, AlertState, Alerts, Leadership, Subject, Thresholds};
use crate::config::{ClusterConfig, ComponentKey, Scrubber};
use crate::history::History;
use crate::monitor::{Published, Sink};
use crate::shutdown::{Closer, Closing};

pub use quorum::ObserverView;
use quorum::{Decision, Rule};
use store::{ClusterStore, FiringRow};

/// What the API and metrics show of the cluster, as of the latest round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterState {
    /// This replica's observer name.
    pub observer: String,
    /// Who leads, if anyone holds a lease in force.
    pub leader: Option<String>,
    /// The current term (0 before any leader).
    pub term: i64,
    /// Whether this replica leads.
    pub leading: bool,
    /// The quorum in force, as configured (`majority` or a number).
    pub quorum: String,
    /// How many observers must agree now.
    pub quorum_needed: u32,
    /// Every observer that ever wrote, newest first.
    pub observers: Vec<ObserverState>,
    /// Per component, what each live observer sees.
    #[serde(skip)]
    pub views: BTreeMap<String, Vec<ObserverView>>,
    /// The last round's error, if it failed (scrubbed).
    pub error: Option<String>,
}

/// One observer, for `/api/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct ObserverState {
    /// Its name.
    pub name: String,
    /// When it last wrote.
    pub last_seen: Timestamp,
    /// Whether it wrote within one lease.
    pub live: bool,
    /// Whether it leads.
    pub leader: bool,
}

impl ClusterState {
    /// The live observers.
    pub fn live(&self) -> u32 {
        self.observers.iter().filter(|o| o.live).count() as u32
    }
}

/// One replica of a cluster.
pub struct Cluster {
    config: ClusterConfig,
    rule: Rule,
    observer: String,
    /// Distinguishes this process from another given the same observer name.
    holder_id: String,
    store: ClusterStore,
    history: Arc<History>,
    components: Vec<Subject>,
    /// This replica's own runs of results, and the views not yet written.
    local: Mutex<Local>,
    wake: Notify,
    leadership: Arc<Leadership>,
    state: ArcSwap<ClusterState>,
    scrubber: Scrubber,
    closer: Closer,
}

struct Local {
    thresholds: Thresholds,
    unwritten: HashMap<ComponentKey, ObserverView>,
}

impl Cluster {
    /// A replica of the cluster `config` describes, sharing `history`'s database; it
    /// decides alerts with `failure`/`success` thresholds and lets `leadership` gate the
    /// receivers.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &ClusterConfig,
        history: Arc<History>,
        options: sqlx::postgres::PgConnectOptions,
        thresholds: (u32, u32),
        components: Vec<Subject>,
        leadership: Arc<Leadership>,
        timeout: Duration,
        scrubber: Scrubber,
    ) -> Self {
        let observer = history.observer().to_owned();
        Self {
            rule: Rule {
                failure_threshold: thresholds.0.max(1),
                success_threshold: thresholds.1.max(1),
                quorum: config.quorum,
            },
            config: config.clone(),
            holder_id: format!("{observer}/{:016x}", crate::random::id()),
            state: ArcSwap::from_pointee(ClusterState {
                observer: observer.clone(),
                quorum: config.quorum.to_string(),
                ..ClusterState::default()
            }),
            observer,
            store: ClusterStore::new(options, config.lease, timeout),
            history,
            components,
            local: Mutex::new(Local {
                thresholds: Thresholds::new(thresholds.0, thresholds.1),
                unwritten: HashMap::new(),
            }),
            wake: Notify::new(),
            leadership,
            scrubber,
            closer: Closer::new(),
        }
    }

    /// Asks the rounds to stop and the lease to be given up (after the receivers have
    /// delivered what they hold: they send only while this replica leads).
    pub fn close(&self, deadline: Instant) {
        self.closer.close(deadline);
    }

    /// The latest round's picture, with whether this replica leads as of now.
    pub fn state(&self) -> Arc<ClusterState> {
        let state = self.state.load_full();
        let leading = self.leadership.term().is_some();
        if state.leading == leading {
            return state;
        }
        Arc::new(ClusterState {
            leading,
            ..(*state).clone()
        })
    }

    /// Runs rounds every third of a lease (and as soon as this replica's view of a
    /// component changes) until `closing` asks to stop; then gives the lease up, so
    /// another replica leads at once.
    pub async fn run(self: Arc<Self>, alerts: Option<Arc<Alerts>>) {
        let mut closing: Closing = self.closer.subscribe();
        tokio::select! {
            _ = closing.asked() => return,
            _ = self.history.opened() => {}
        }
        let mut tick = tokio::time::interval(self.config.renew_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = closing.asked() => break,
                _ = tick.tick() => {}
                _ = self.wake.notified() => {}
            }
            self.round(alerts.as_deref()).await;
        }
        self.leadership.clear();
        let release = tokio::time::timeout(
            self.config.renew_every(),
            self.store.release(&self.holder_id),
        );
        if let Ok(Err(error)) = release.await {
            tracing::warn!(error = %self.scrubber.scrub(&error.to_string()), "Could not give the cluster lease up.");
        }
    }

    /// One round: the lease, this replica's presence and views, what the others see, and
    /// as leader, the decisions.
    async fn round(&self, alerts: Option<&Alerts>) {
        // A database that stopped answering must not hold the next renewal up.
        let bound = self.config.renew_every();
        let error = match tokio::time::timeout(bound, self.exchange(alerts)).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!(
                "the history database did not answer within {}",
                humantime::format_duration(bound)
            )),
        };
        match error {
            None => {}
            Some(error) => {
                let error = self.scrubber.scrub(&error);
                let previous = self.state.load();
                if previous.error.is_none() {
                    tracing::warn!(%error, "Cluster round failed.");
                }
                let mut state = (**previous).clone();
                state.error = Some(error);
                state.leading = self.leadership.term().is_some();
                self.state.store(Arc::new(state));
            }
        }
    }

    async fn exchange(&self, alerts: Option<&Alerts>) -> Result<(), sqlx::Error> {
        let asked = Instant::now();
        let held = self.store.acquire(&self.observer, &self.holder_id).await?;
        let before = self.leadership.term();
        match held {
            // The database set the expiry after `asked`: stopping a renewal period before
            // `asked + lease` stops before any other replica can take over.
            Some(term) => self
                .leadership
                .hold(term, asked + self.config.lease - self.config.renew_every()),
            None => self.leadership.clear(),
        }
        let term = self.leadership.term();
        if term != before {
            match term {
                Some(term) => tracing::info!(term, "Leading the cluster."),
                None => tracing::info!("No longer leading the cluster."),
            }
        }
        let unwritten: Vec<(ComponentKey, ObserverView)> = {
            let mut local = self.local.lock().expect("cluster lock");
            local.unwritten.drain().collect()
        };
        let rows: Vec<(String, ObserverView)> = unwritten
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
        if let Err(error) = self.store.report(&self.observer, &rows).await {
            // Written next round, unless a newer view came meanwhile.
            let mut local = self.local.lock().expect("cluster lock");
            for (key, view) in unwritten {
                local.unwritten.entry(key).or_insert(view);
            }
            return Err(error);
        }
        let observers = self.store.observers().await?;
        let lease = self.store.lease().await?;
        let mut views: BTreeMap<String, Vec<ObserverView>> = BTreeMap::new();
        for (component, view) in self.store.live_views().await? {
            views.entry(component).or_default().push(view);
        }
        let mut firing = self.store.firing().await?;
        let live = observers.iter().filter(|o| o.live).count() as u32;
        if let Some(alerts) = alerts
            && term != before
        {
            // A new leader goes on from what the last one recorded; a follower keeps none.
            let recorded = firing.iter().filter_map(|f| self.firing_alert(f));
            alerts.adopt(if term.is_some() {
                recorded.collect()
            } else {
                Vec::new()
            });
        }
        if let (Some(term), Some(alerts)) = (term, alerts) {
            self.decide(term, live, &views, &mut firing, alerts).await?;
        }
        let leader = lease.filter(|l| l.valid);
        self.state.store(Arc::new(ClusterState {
            observer: self.observer.clone(),
            term: leader.as_ref().map_or(0, |l| l.term),
            leading: term.is_some(),
            quorum: self.config.quorum.to_string(),
            quorum_needed: self.config.quorum.needed(live),
            observers: observers
                .into_iter()
                .map(|o| ObserverState {
                    leader: leader.as_ref().is_some_and(|l| l.holder == o.name),
                    name: o.name,
                    last_seen: o.last_seen,
                    live: o.live,
                })
                .collect(),
            leader: leader.map(|l| l.holder),
            views,
            error: None,
        }));
        Ok(())
    }

    /// As leader in `term`: fires and resolves by the quorum rule, each decision recorded
    /// (fenced by the lease) before it is handed to the alerting (which sends it, or holds
    /// it while its component is quiet).
    async fn decide(
        &self,
        term: i64,
        live: u32,
        views: &BTreeMap<String, Vec<ObserverView>>,
        firing: &mut Vec<FiringRow>,
        alerts: &Alerts,
    ) -> Result<(), sqlx::Error> {
        for component in &self.components {
            let key = component.component.as_str();
            let seen = views.get(key).map(Vec::as_slice).unwrap_or_default();
            let position = firing.iter().position(|f| f.component == key);
            let Some(decision) = self.rule.decide(seen, live, position.is_some()) else {
                continue;
            };
            let alert = match decision {
                Decision::Fire {
                    started_at,
                    error,
                    previous_status,
                    status,
                } => {
                    let row = FiringRow {
                        component: key.to_owned(),
                        status,
                        previous_status,
                        error,
                        started_at,
                        term,
                    };
                    if !self.store.fire(&self.holder_id, &row).await? {
                        continue;
                    }
                    let alert = self.firing_alert(&row).expect("a watched component");
                    firing.push(row);
                    alert
                }
                Decision::Resolve { status } => {
                    if !self.store.resolve(&self.holder_id, term, key).await? {
                        continue;
                    }
                    let row = firing.remove(position.expect("it was firing"));
                    Alert {
                        state: AlertState::Resolved,
                        status,
                        resolved_at: Some(Timestamp::now()),
                        ..self.firing_alert(&row).expect("a watched component")
                    }
                }
            };
            alerts.decided(alert);
        }
        Ok(())
    }

    /// The alert a firing row stands for, if its component is watched here.
    fn firing_alert(&self, row: &FiringRow) -> Option<Alert> {
        let component = self
            .components
            .iter()
            .find(|c| c.component.as_str() == row.component)?;
        Some(Alert {
            component: component.component.clone(),
            kind: component.kind,
            required: component.required,
            state: AlertState::Firing,
            status: row.status,
            previous_status: row.previous_status,
            error: row.error.clone(),
            started_at: row.started_at,
            resolved_at: None,
            held_back: Vec::new(),
            term: None,
        })
    }

    /// What each live observer last reported of `component`, as of the latest round.
    pub fn views_of(&self, component: &str) -> Vec<ObserverView> {
        self.state
            .load()
            .views
            .get(component)
            .cloned()
            .unwrap_or_default()
    }
}

impl Sink for Cluster {
    /// Takes this replica's result into its run for the component (a result held back by a
    /// red dependency is not counted, as for a single instance's alerts) and wakes the
    /// round to write the view.
    fn publish(&self, published: &Published<'_>) {
        if crate::alert::held_by_dependency(published) {
            return;
        }
        let (component, result) = (published.component, published.result);
        let wake = {
            let mut local = self.local.lock().expect("cluster lock");
            let at = crate::alert::millisecond(result.checked_at);
            let subject = crate::alert::Subject {
                component: component.key.clone(),
                kind: component.kind,
                required: component.required,
            };
            local
                .thresholds
                .observe(subject, result.status, result.error.as_deref(), at);
            let run = local.thresholds.run(&component.key).unwrap_or_default();
            let view = ObserverView {
                observer: self.observer.clone(),
                status: result.status,
                failures: run.failures,
                successes: run.successes,
                first_failure: run.first_failure,
                checked_at: at,
                error: result.error.clone(),
            };
            // A round is woken when the view's meaning changes (a run starts or reaches a
            // threshold); other views wait for the next tick.
            let meaningful = [1, self.rule.failure_threshold].contains(&run.failures)
                || [1, self.rule.success_threshold].contains(&run.successes);
            local.unwritten.insert(component.key.clone(), view);
            meaningful
        };
        if wake {
            self.wake.notify_one();
        }
    }
}

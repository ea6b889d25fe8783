//! High availability: three real `ragwatch serve` processes on one PostgreSQL database,
//! each reaching Redis (a server of the test's own) and PostgreSQL through a fault proxy of
//! its own, and one webhook receiver recording every delivery with its term. One outage is
//! one firing and one resolution, whichever replica leads, across a leader's SIGKILL and a
//! leader cut off from the database; one replica's broken path to Redis pages nobody under
//! a majority quorum (and the API shows the split), but does under `quorum = 1`.

use crate::common;

use std::time::Duration;

use common::browser::Browser;
use common::scratch::ScratchDatabase;
use common::served::{Served, get};
use common::{
    FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RedisInstance, free_port, wait_until,
    wait_until_within,
};
use serde_json::Value;
use sqlx::Connection;

/// The leader's lease, and the probe interval (the timeout equals it).
const LEASE: Duration = Duration::from_secs(4);
const INTERVAL: Duration = Duration::from_secs(2);

/// What a busy machine may add to the takeover bound (lease + interval): scheduling, the
/// first round of the new leader, a probe in flight.
const SLACK: Duration = Duration::from_secs(10);

struct Replica {
    name: String,
    port: u16,
    served: Option<Served>,
    redis: FaultProxy,
    postgres: FaultProxy,
}

struct Scene {
    hook: FixtureServer,
    redis: RedisInstance,
    database: ScratchDatabase,
    replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

/// A delivery as the receiver got it.
#[derive(Debug, PartialEq)]
struct Delivery {
    component: String,
    state: String,
    term: i64,
    error: Option<String>,
}

impl Scene {
    /// Three replicas `ragwatch-a`, `-b`, `-c` with this quorum, once one of them leads and
    /// all three are live.
    async fn start(quorum: &str) -> Self {
        let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await;
        let redis = RedisInstance::start(None).await;
        let database = ScratchDatabase::create("cluster").await;
        let dir = tempfile::tempdir().unwrap();
        let mut replicas = Vec::new();
        for name in ["ragwatch-a", "ragwatch-b", "ragwatch-c"] {
            let redis_proxy = FaultProxy::start(redis.addr()).await;
            let postgres = FaultProxy::start("127.0.0.1:5432").await;
            let port = free_port();
            let config = dir.path().join(format!("{name}.toml"));
            let interval = humantime::format_duration(INTERVAL);
            let lease = humantime::format_duration(LEASE);
            std::fs::write(
                &config,
                format!(
                    "[server]\nlisten = \"127.0.0.1:{port}\"\n\
                     [monitor]\ninterval = \"{interval}\"\ntimeout = \"{interval}\"\n\
                     [db]\nenabled = false\n[doc_engine]\nenabled = false\n\
                     [storage]\nenabled = false\n[task_executors]\nenabled = false\n\
                     [redis]\nurl = \"redis://{}/0\"\n\
                     [history]\nurl = \"{}\"\nobserver = \"{name}\"\n\
                     [cluster]\nlease = \"{lease}\"\nquorum = {quorum}\n\
                     [alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\n\
                     [[alerts.webhook]]\nurl = \"{}/hook\"\n",
                    redis_proxy.host_port(),
                    database.url_via(&postgres.host_port()),
                    hook.url()
                ),
            )
            .unwrap();
            replicas.push(Replica {
                name: name.into(),
                port,
                served: Some(Served::start(&config, port, 1024).await),
                redis: redis_proxy,
                postgres,
            });
        }
        let scene = Self {
            hook,
            redis,
            database,
            replicas,
            _dir: dir,
        };
        scene.leader().await;
        wait_until("every replica is live", || async {
            let cluster = scene.cluster(0).await?;
            let live = cluster["observers"]
                .as_array()
                .map_or(0, |o| o.iter().filter(|o| o["live"] == true).count());
            (live == 3).then_some(()).ok_or(cluster.to_string())
        })
        .await;
        scene
    }

    /// `/api/v1/cluster` of replica `i`.
    async fn cluster(&self, i: usize) -> Result<Value, String> {
        let (status, body) = get(
            self.replicas[i].port,
            "/api/v1/cluster",
            Duration::from_secs(5),
        )
        .await?;
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| e.to_string())
    }

    /// The replica that leads, once one says so; with its term.
    async fn leader(&self) -> (usize, i64) {
        self.leader_within(common::wait::PATIENCE, |_| true).await
    }

    /// The replica that leads in a term for which `term_ok` holds, within `bound`.
    async fn leader_within(&self, bound: Duration, term_ok: impl Fn(i64) -> bool) -> (usize, i64) {
        wait_until_within("a replica leads", bound, || async {
            let mut seen = Vec::new();
            for (i, replica) in self.replicas.iter().enumerate() {
                if replica.served.is_none() {
                    continue;
                }
                let Ok(cluster) = self.cluster(i).await else {
                    continue;
                };
                let term = cluster["term"].as_i64().unwrap_or(0);
                if cluster["leading"] == true && term_ok(term) {
                    return Ok((i, term));
                }
                seen.push(cluster.to_string());
            }
            Err(seen.join("\n"))
        })
        .await
    }

    /// Every delivery so far.
    fn deliveries(&self) -> Vec<Delivery> {
        self.hook
            .requests_to("/hook")
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                Delivery {
                    component: body["component"].as_str().unwrap().into(),
                    state: body["state"].as_str().unwrap().into(),
                    term: body["term"]
                        .as_i64()
                        .expect("a cluster's delivery carries its term"),
                    error: body["error"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    /// Waits for `count` deliveries, then lets two leases pass (rounds of every replica) so
    /// that a duplicate would have arrived too; returns them all.
    async fn delivered(&self, count: usize) -> Vec<Delivery> {
        wait_until(&format!("{count} deliveries"), || async {
            let got = self.deliveries().len();
            (got >= count).then_some(()).ok_or(format!("{got} so far"))
        })
        .await;
        self.quiet().await;
        self.deliveries()
    }

    /// Two leases: every replica has had several rounds.
    async fn quiet(&self) {
        tokio::time::sleep(2 * LEASE).await;
    }

    /// What each observer sees of redis, from replica `i`'s API.
    async fn observers_of_redis(&self, i: usize) -> Result<Value, String> {
        let (_, body) = get(
            self.replicas[i].port,
            "/api/v1/components/redis",
            Duration::from_secs(5),
        )
        .await?;
        let body: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(body["observers"].clone())
    }

    async fn finish(mut self) {
        for replica in &mut self.replicas {
            if let Some(served) = replica.served.take() {
                served.kill().await;
            }
        }
        self.database.drop_it().await;
    }
}

#[tokio::test]
async fn one_outage_is_one_firing_and_one_resolution_from_three_replicas() {
    let mut scene = Scene::start("\"majority\"").await;
    let (leader, term) = scene.leader().await;
    for (i, replica) in scene.replicas.iter().enumerate() {
        let leads = u8::from(i == leader);
        let expected = [
            format!("ragwatch_cluster_leader {leads}"),
            "ragwatch_cluster_observers 3".to_owned(),
            format!("ragwatch_cluster_term {term}"),
        ];
        wait_until(&format!("{}'s cluster gauges", replica.name), || async {
            let (_, metrics) = get(replica.port, "/metrics", Duration::from_secs(5)).await?;
            let missing: Vec<&String> = expected
                .iter()
                .filter(|line| !metrics.lines().any(|l| l == line.as_str()))
                .collect();
            missing
                .is_empty()
                .then_some(())
                .ok_or(format!("{missing:?}"))
        })
        .await;
    }
    scene.redis.kill();
    let firing = scene.delivered(1).await;
    assert_eq!(
        firing.len(),
        1,
        "one firing, not one per replica: {firing:?}"
    );
    assert_eq!(
        (firing[0].component.as_str(), firing[0].state.as_str()),
        ("redis", "firing")
    );
    assert_eq!(firing[0].term, term);
    scene.redis.start_again().await;
    let both = scene.delivered(2).await;
    assert_eq!(both.len(), 2, "one resolution: {both:?}");
    assert_eq!(both[1].state, "resolved");
    scene.finish().await;
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_and_nothing_is_sent_twice_or_forgotten() {
    let mut scene = Scene::start("\"majority\"").await;
    let (leader, first_term) = scene.leader().await;
    scene.redis.kill();
    assert_eq!(scene.delivered(1).await.len(), 1);

    scene.replicas[leader].served.take().unwrap().kill().await;
    let (_, term) = scene
        .leader_within(LEASE + INTERVAL + SLACK, |t| t > first_term)
        .await;
    scene.quiet().await;
    assert_eq!(scene.deliveries().len(), 1, "the firing is not sent again");

    scene.redis.start_again().await;
    let both = scene.delivered(2).await;
    assert_eq!(both.len(), 2, "the resolution is sent once: {both:?}");
    assert_eq!(both[1].state, "resolved");
    assert_eq!(both[1].term, term, "by the new leader");
    scene.finish().await;
}

#[tokio::test]
async fn a_stopped_leader_gives_its_lease_up_at_once() {
    let mut scene = Scene::start("\"majority\"").await;
    let (leader, first_term) = scene.leader().await;
    scene.replicas[leader]
        .served
        .take()
        .unwrap()
        .stop(Duration::from_secs(30))
        .await;
    // The lease was given up on the way out: expired at once, or already another's.
    let mut db = sqlx::PgConnection::connect(&scene.database.url())
        .await
        .unwrap();
    let (holder, in_force): (String, bool) = sqlx::query_as(
        "SELECT holder, expires_at_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint \
         FROM cluster_lease",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(
        holder != scene.replicas[leader].name || !in_force,
        "{holder} still holds a lease in force after it stopped"
    );
    scene.leader_within(LEASE + SLACK, |t| t > first_term).await;
    scene.finish().await;
}

#[tokio::test]
async fn a_leader_cut_off_from_the_database_stops_sending_and_follows_when_back() {
    let mut scene = Scene::start("\"majority\"").await;
    let (cut, first_term) = scene.leader().await;
    scene.replicas[cut]
        .postgres
        .set_mode(ProxyMode::BlackHole)
        .await;
    let (next, second_term) = scene
        .leader_within(LEASE + INTERVAL + SLACK, |t| t > first_term)
        .await;
    assert_ne!(next, cut);

    // An outage while the old leader still runs, cut off: only the new one sends.
    scene.redis.kill();
    let firing = scene.delivered(1).await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].term, second_term);

    scene.replicas[cut].postgres.set_mode(ProxyMode::Pass).await;
    wait_until("the old leader follows", || async {
        let cluster = scene.cluster(cut).await?;
        let follows = cluster["leading"] == false
            && cluster["leader"] == scene.replicas[next].name.as_str()
            && cluster["error"].is_null();
        follows.then_some(()).ok_or(cluster.to_string())
    })
    .await;

    // Then the new leader is refused by the database: a third takes over and resolves.
    scene.replicas[next]
        .postgres
        .set_mode(ProxyMode::Refuse)
        .await;
    let (_, third_term) = scene
        .leader_within(LEASE + INTERVAL + SLACK, |t| t > second_term)
        .await;
    scene.redis.start_again().await;
    let both = scene.delivered(2).await;
    assert_eq!(both.len(), 2, "nothing duplicated: {both:?}");
    assert_eq!(
        (both[1].state.as_str(), both[1].term),
        ("resolved", third_term)
    );
    scene.replicas[next]
        .postgres
        .set_mode(ProxyMode::Pass)
        .await;
    scene.finish().await;
}

#[tokio::test]
async fn a_silence_made_through_a_follower_holds_the_leaders_notification() {
    let mut scene = Scene::start("\"majority\"").await;
    let (leader, _) = scene.leader().await;
    let follower = (leader + 1) % 3;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{}", scene.replicas[follower].port);
    let made: Value = client
        .post(format!("{base}/api/v1/silences"))
        .json(
            &serde_json::json!({"components": ["redis"], "duration": "10m", "comment": "upgrade"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_i64().unwrap_or_else(|| panic!("{made}"));
    scene.redis.kill();
    wait_until("every replica sees redis down", || async {
        let observers = scene.observers_of_redis(leader).await?;
        let down = ["ragwatch-a", "ragwatch-b", "ragwatch-c"]
            .iter()
            .all(|name| observers[name]["status"] == "red");
        down.then_some(()).ok_or(observers.to_string())
    })
    .await;
    scene.quiet().await;
    assert_eq!(scene.deliveries(), [], "silenced, whichever replica leads");

    let status = client
        .delete(format!("{base}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let firing = scene.delivered(1).await;
    assert_eq!(firing.len(), 1, "the held firing, once: {firing:?}");
    assert_eq!(firing[0].state, "firing");
    scene.finish().await;
}

/// Replica `c` alone cannot reach Redis; the API shows the split.
async fn split(scene: &Scene) {
    scene.replicas[2].redis.set_mode(ProxyMode::Refuse).await;
    wait_until("the API shows the split", || async {
        let observers = scene.observers_of_redis(0).await?;
        let split = observers["ragwatch-c"]["status"] == "red"
            && observers["ragwatch-a"]["status"] == "green"
            && observers["ragwatch-b"]["status"] == "green";
        split.then_some(()).ok_or(observers.to_string())
    })
    .await;
}

#[tokio::test]
async fn one_replica_that_cannot_reach_redis_pages_nobody_under_a_majority() {
    let scene = Scene::start("\"majority\"").await;
    split(&scene).await;
    // The page of any replica says who leads and who sees what.
    let browser = Browser::start(1280, 1000).await;
    browser
        .open(&format!("http://127.0.0.1:{}/", scene.replicas[0].port))
        .await;
    browser
        .wait_for(
            "the split on redis's card",
            "document.querySelector('.card[data-key=\"redis\"] .split')?.innerText\
             === 'Observers disagree: red from ragwatch-c only'",
        )
        .await;
    let header = browser
        .wait_for(
            "the cluster in the header",
            "document.getElementById('cluster').innerText.includes('leads (term') \
             && document.getElementById('cluster').innerText",
        )
        .await;
    assert!(
        header
            .as_str()
            .unwrap()
            .contains("3 of 3 observers live · quorum majority (2 now) · this is ragwatch-a"),
        "{header}"
    );
    browser.screenshot("cluster-split").await;
    scene.quiet().await;
    assert_eq!(scene.deliveries(), [], "one of three is not a majority");
    scene.finish().await;
}

#[tokio::test]
async fn under_a_quorum_of_one_a_single_replica_fires() {
    let scene = Scene::start("1").await;
    split(&scene).await;
    let firing = scene.delivered(1).await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].state, "firing");
    assert!(
        firing[0].error.as_deref().is_some_and(|e| !e.is_empty()),
        "the error ragwatch-c saw: {firing:?}"
    );
    scene.finish().await;
}

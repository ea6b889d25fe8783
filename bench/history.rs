//! Benchmark: 7 days of results for 6 components at a 5 s interval (~725,000 rows), written
//! the way ragwatch's writer writes them (batches of 1,000 with their roll-ups), into the
//! embedded SQLite file and into PostgreSQL (a fresh database on the machine's server,
//! dropped afterwards). Prints the insert rate and the time of a 24 h strip (288 buckets of
//! 5 minutes from the minute roll-ups) and of a 7-day uptime (from the hour roll-ups).
//!
//! Run with `cargo bench --bench history`; `DAYS` changes the span.

#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ragwatch::config::{ComponentKey, SecretUrl};
use ragwatch::history::{
    AnyStore, Batch, BucketQuery, ChangeRecord, IncidentQuery, ResultRecord, Store,
};
use ragwatch::status::Status;
use sqlx::Connection;

const COMPONENTS: [ComponentKey; 6] = [
    ComponentKey::Db,
    ComponentKey::Redis,
    ComponentKey::DocEngine,
    ComponentKey::Storage,
    ComponentKey::MessageQueue,
    ComponentKey::TaskExecutors,
];
const BATCH: usize = 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A time from unix milliseconds, as the data here is made.
fn from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap()
}
const INTERVAL_MS: i64 = 5_000;
const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Results of every component every 5 s over `days`, in write order; 1 % red, 2 % yellow.
fn batches(days: i64, now: i64) -> Vec<Batch> {
    let start = now - days * 24 * 3600 * 1000;
    let mut batches = vec![Batch::default()];
    let mut previous = [Status::Green; 6];
    let mut at = start;
    let mut n: u64 = 0;
    while at < now {
        for (i, component) in COMPONENTS.iter().enumerate() {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let status = match (n >> 33) % 100 {
                0 => Status::Red,
                1 | 2 => Status::Yellow,
                _ => Status::Green,
            };
            let batch = batches.last_mut().unwrap();
            if status != previous[i] {
                batch.changes.push(ChangeRecord {
                    component: component.clone(),
                    at: from_ms(at),
                    from: Some(previous[i]),
                    to: status,
                    error: None,
                });
                previous[i] = status;
            }
            let error =
                (status == Status::Red).then(|| "connection refused to 127.0.0.1:6379".to_owned());
            batch.results.push(ResultRecord {
                component: component.clone(),
                checked_at: from_ms(at),
                status,
                elapsed_ms: ((n >> 40) % 50) as f64 + 0.5,
                error,
            });
            if batch.results.len() == BATCH {
                batches.push(Batch::default());
            }
        }
        at += INTERVAL_MS;
    }
    batches
}

async fn run(name: &str, store: &AnyStore, batches: &[Batch], now: i64) {
    store.migrate().await.unwrap();
    let rows: usize = batches.iter().map(|b| b.results.len()).sum();
    let started = Instant::now();
    for batch in batches {
        store.write("bench", batch).await.unwrap();
    }
    let insert = started.elapsed();
    let time = |reps: usize| async move {
        let mut strip = Vec::new();
        let mut uptime = Vec::new();
        let mut incidents = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let strip_query = BucketQuery {
                component: "redis",
                resolution_s: 60,
                since: from_ms(now - DAY_MS),
                until: from_ms(now),
                step: SignedDuration::from_mins(5),
            };
            let buckets = store.buckets(&strip_query).await.unwrap();
            strip.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(buckets.len() >= 287, "{} buckets", buckets.len());
            let t = Instant::now();
            let week_query = BucketQuery {
                component: "redis",
                resolution_s: 3600,
                since: from_ms(now - 7 * DAY_MS),
                until: from_ms(now + 1),
                step: SignedDuration::from_hours(7 * 24),
            };
            let week = store.buckets(&week_query).await.unwrap();
            uptime.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(week[0].uptime.unwrap() > 0.9);
            let t = Instant::now();
            store
                .incidents(&IncidentQuery {
                    since: from_ms(now - 7 * DAY_MS),
                    component: None,
                    limit: 100,
                })
                .await
                .unwrap();
            incidents.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (median(strip), median(uptime), median(incidents))
    };
    let (strip, uptime, incidents) = time(15).await;
    println!(
        "{name:>8}: insert {rows} results in {:.1} s = {:>7.0} results/s | 24 h strip (288 buckets) {strip:6.2} ms | 7 d uptime {uptime:6.2} ms | 100 newest incidents {incidents:6.2} ms",
        insert.as_secs_f64(),
        rows as f64 / insert.as_secs_f64(),
    );
}

#[tokio::main]
async fn main() {
    let days: i64 = std::env::var("DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(7);
    let now = jiff::Timestamp::now().as_millisecond();
    let batches = batches(days, now);
    let rows: usize = batches.iter().map(|b| b.results.len()).sum();
    let changes: usize = batches.iter().map(|b| b.changes.len()).sum();
    println!(
        "data: {days} days x {} components at 5 s = {rows} results, {changes} status changes, batches of {BATCH}",
        COMPONENTS.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite =
        SecretUrl::parse(&format!("sqlite://{}/history.db", dir.path().display())).unwrap();
    run(
        "sqlite",
        &AnyStore::open(&sqlite.into(), Duration::from_secs(10)).unwrap(),
        &batches,
        now,
    )
    .await;

    let name = format!("ragwatch_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN)
        .await
        .expect("the machine's PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let postgres = SecretUrl::parse(&format!("postgres://postgres@127.0.0.1:5432/{name}")).unwrap();
    {
        let store = AnyStore::open(&postgres.into(), Duration::from_secs(10)).unwrap();
        run("postgres", &store, &batches, now).await;
    }
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

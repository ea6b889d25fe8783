//! ragwatch's integration tests, one module per area, in one test binary: linking a binary per
//! file repeated the whole dependency tree 29 times (time and disk), and one process lets the
//! helpers in [`common`] (free ports, for one) coordinate across every test.

mod common;

mod access;
mod alerts;
mod azure;
mod canaries;
mod canary_ingestion;
mod cli;
mod cluster;
mod credentials;
mod dependencies;
mod deploy;
mod elasticsearch;
mod email;
mod executor_bounds;
mod executor_memory;
mod executors;
mod gcs;
mod harness;
mod healthz;
mod history;
mod history_faults;
mod hostile_http;
mod infinity;
mod metrics;
mod models;
mod mysql;
mod nats;
mod openapi;
mod own_health;
mod parsing;
mod postgres;
mod proxies;
mod query_fuzz;
mod quiet;
mod ragflow_api;
mod ragflow_conf;
mod receivers;
mod redis;
mod redis_stream;
mod s3;
mod secrets;
mod shutdown;
mod sql_doc_engines;
mod staleness;
mod status;
mod tls;
mod ui;

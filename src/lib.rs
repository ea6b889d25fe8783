//! ragwatch: a health monitor for the services a RAG platform depends on.

pub mod alert;
pub mod api;
pub mod app;
pub mod backoff;
pub mod cli;
pub mod cluster;
pub mod component;
pub mod config;
pub mod connect;
pub mod dialect;
pub mod history;
pub mod message;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod probe;
pub mod random;
pub mod shutdown;
pub mod status;
pub mod task_executors;

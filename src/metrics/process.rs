//! The process metrics every Prometheus client library exports under the same names
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read from /proc at
//! scrape time, so the usual dashboards and rules work on ragwatch too. Linux only; a
//! figure /proc does not give is left out, never made up.

use std::sync::atomic::AtomicU64;

use procfs::process::{LimitValue, Process};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// Registers what /proc says of this process now.
pub fn register(registry: &mut Registry) {
    let Ok(process) = Process::myself() else {
        return;
    };
    if let Ok(stat) = process.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        let cpu = Counter::<f64, AtomicU64>::default();
        cpu.inc_by((stat.utime + stat.stime) as f64 / ticks);
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time spent",
            Unit::Seconds,
            cpu,
        );
        let resident = Gauge::<i64>::default();
        resident.set((stat.rss * procfs::page_size()) as i64);
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory size",
            Unit::Bytes,
            resident,
        );
        let virtual_memory = Gauge::<i64>::default();
        virtual_memory.set(stat.vsize as i64);
        registry.register_with_unit(
            "process_virtual_memory",
            "Virtual memory size",
            Unit::Bytes,
            virtual_memory,
        );
        if let Ok(boot) = procfs::boot_time_secs() {
            let started = Gauge::<f64, AtomicU64>::default();
            started.set(boot as f64 + stat.starttime as f64 / ticks);
            registry.register_with_unit(
                "process_start_time",
                "Start time of the process since the unix epoch",
                Unit::Seconds,
                started,
            );
        }
    }
    if let Ok(count) = process.fd_count() {
        let open = Gauge::<i64>::default();
        open.set(count as i64);
        registry.register("process_open_fds", "Open file descriptors", open);
    }
    if let Ok(limits) = process.limits()
        && let LimitValue::Value(max) = limits.max_open_files.soft_limit
    {
        let most = Gauge::<i64>::default();
        most.set(max as i64);
        registry.register(
            "process_max_fds",
            "Most open file descriptors allowed",
            most,
        );
    }
}

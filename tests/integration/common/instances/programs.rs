//! Finding the servers' programs and the OS user a server must run as.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// `$CARGO_HOME/bin` and `~/.cargo/bin`, where `cargo install` puts programs.
pub(super) fn cargo_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs
}

/// The first of `names` found in `PATH`, `/usr/local/{s,}bin`, `/usr/{s,}bin`, or
/// `extra_dirs`.
pub(super) fn find_program(names: &[&str], extra_dirs: &[PathBuf]) -> PathBuf {
    let mut dirs = path_dirs();
    dirs.extend(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"].map(PathBuf::from));
    dirs.extend_from_slice(extra_dirs);
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "none of {names:?} found in PATH or {extra_dirs:?}; run scripts/test-services.sh to install it"
    );
}

/// The directory holding PostgreSQL's `initdb` and `postgres`: `$RAGWATCH_PG_BINDIR`, else the
/// newest `/usr/lib/postgresql/<version>/bin`, else a `PATH` directory.
pub(super) fn postgres_bin_dir() -> PathBuf {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("RAGWATCH_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    path_dirs()
        .into_iter()
        .find(|d| has_both(d))
        .unwrap_or_else(|| {
            panic!("PostgreSQL initdb/postgres not found; run scripts/test-services.sh")
        })
}

/// Whether the tests run as root.
pub(super) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// `(uid, gid)` of an OS user, from `/etc/passwd`.
pub(super) fn os_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

//! Random identifiers that need no cryptographic strength: a probe's own key, a process's
//! claim on the cluster lease.

/// 64 random bits from the standard library's per-process random hash keys.
pub fn id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

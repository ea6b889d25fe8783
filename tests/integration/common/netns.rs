//! [`PeerNetwork`]: a network namespace of its own joined to this one by a veth pair, so that
//! a test can be a client whose address is not loopback. The pair gets a /30 of its own from
//! 198.18.0.0/15 (RFC 2544's benchmarking range, never routed), and the test talks only to
//! those two addresses. Needs root (CAP_NET_ADMIN) and `ip` (iproute2); where namespaces are
//! refused, [`PeerNetwork::create`] says so on the terminal and the test skips.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace with one veth pair: `host` on this side, `peer` inside it. Removed when
/// dropped (deleting the namespace deletes the pair).
pub struct PeerNetwork {
    namespace: String,
    host_link: String,
    /// This side's address: what a client inside the namespace connects to.
    pub host: Ipv4Addr,
    /// The address inside the namespace: the client's address as this side sees it.
    pub peer: Ipv4Addr,
}

/// Runs `ip ARGS`; `Err` holds what it said.
fn ip(args: &[&str]) -> Result<Output, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl PeerNetwork {
    /// A new namespace and pair, names and addresses unique to this process and call;
    /// `None`, after a visible message naming `test`, where namespaces are refused.
    pub fn create(test: &str) -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (host, peer) = free_pair(pid, n);
        let network = Self {
            namespace: format!("ragwatch-test-{pid}-{n}"),
            // Interface names take 15 bytes at most.
            host_link: format!("rwt{}h{n}", pid % 1_000_000),
            host,
            peer,
        };
        match network.set_up() {
            Ok(()) => Some(network),
            Err(reason) => {
                // Straight to the terminal: the test harness hides a passing test's prints.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: no network namespace for a non-loopback client ({reason})"
                );
                None
            }
        }
    }

    fn set_up(&self) -> Result<(), String> {
        let peer_link = self.host_link.replacen('h', "p", 1);
        let (ns, host_link) = (self.namespace.as_str(), self.host_link.as_str());
        let host_cidr = format!("{}/30", self.host);
        let peer_cidr = format!("{}/30", self.peer);
        ip(&["netns", "add", ns])?;
        ip(&[
            "link", "add", host_link, "type", "veth", "peer", "name", &peer_link, "netns", ns,
        ])?;
        ip(&["addr", "add", &host_cidr, "dev", host_link])?;
        ip(&["link", "set", host_link, "up"])?;
        ip(&["-n", ns, "addr", "add", &peer_cidr, "dev", &peer_link])?;
        ip(&["-n", ns, "link", "set", &peer_link, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Runs `program ARGS` inside the namespace.
    pub async fn run(&self, program: &str, args: &[&str]) -> Output {
        tokio::process::Command::new("ip")
            .args(["netns", "exec", &self.namespace, program])
            .args(args)
            .output()
            .await
            .unwrap_or_else(|e| panic!("ip netns exec {program}: {e}"))
    }
}

impl Drop for PeerNetwork {
    fn drop(&mut self) {
        // The host end goes with its peer; deleting it first as well leaves nothing behind
        // should the namespace be held open by a process that outlived the test.
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

/// Two addresses of a /30 in 198.18.0.0/15 picked from `pid` and `n`, moving on past any
/// /30 that already has an address on this machine (another process's pair).
fn free_pair(pid: u32, n: u32) -> (Ipv4Addr, Ipv4Addr) {
    let taken = ip(&["-o", "-4", "addr", "show"])
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let subnets = 1u32 << 15; // 2^17 addresses, 4 per /30
    let first = pid.wrapping_mul(97).wrapping_add(n) % subnets;
    (0..subnets)
        .map(|i| {
            let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + ((first + i) % subnets) * 4;
            (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
        })
        .find(|(host, peer)| {
            !taken.contains(&format!(" {host}/")) && !taken.contains(&format!(" {peer}/"))
        })
        .expect("a free /30 in 198.18.0.0/15")
}

//! What the outbound peer manager reads: how many peers to keep, how fast to dial, where to
//! find candidates (DNS seeds), how to reach them (SOCKS5), each with the reason for its
//! default.

use std::net::SocketAddr;

use super::values::Network;

/// Finding and reaching peers (issue 18; README "Finding peers" and "Tor").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Outbound sessions to keep, configured peers included. 8 is Bitcoin Core's outbound
    /// count and above LND's 3 bootstrap targets: a gossip collector wants several
    /// independent views of the graph, and each extra peer costs little after dedup.
    pub outbound_peers: usize,
    /// New outbound dials a minute, at most: a dead candidate list or a hostile
    /// announcement must not turn into a connection storm.
    pub dials_per_minute: u32,
    /// Nodes kept as dial candidates (sampled from the graph and the seeds) and their bytes.
    pub candidates_cap: usize,
    pub candidates_bytes_cap: usize,
    /// Dial private, loopback and link-local addresses announced by nodes. Off except on
    /// regtest, where every node is local; tests turn it on.
    pub dial_private_addresses: bool,
    /// BOLT 10 DNS seeds asked for candidates at start and when the graph has too few.
    pub dns_seeds: Vec<String>,
    /// The DNS server to ask (UDP); `None` = the system's resolver configuration.
    pub dns_server: Option<SocketAddr>,
    /// SOCKS5 proxy (Tor's SocksPort), `host:port`; needed for onion addresses.
    pub proxy: Option<String>,
    /// Send every outbound connection through the proxy, not only onion ones.
    pub proxy_all: bool,
}

impl DiscoverySettings {
    pub fn defaults_for(network: Network) -> Self {
        DiscoverySettings {
            outbound_peers: 8,
            dials_per_minute: 12,
            candidates_cap: 2_000,
            candidates_bytes_cap: 1 << 20,
            dial_private_addresses: false,
            dns_seeds: default_dns_seeds(network),
            dns_server: None,
            proxy: None,
            proxy_all: false,
        }
    }
}

/// The public seeds LND and Core Lightning ship: `nodes.lightning.directory` (LND's
/// `chainDNSSeeds`) and `lseed.bitcoinstats.com` (Core Lightning's and lseed's); testnet's
/// from LND; none for signet and regtest, which have no public seed.
pub fn default_dns_seeds(network: Network) -> Vec<String> {
    let seeds: &[&str] = match network {
        Network::Bitcoin => &["nodes.lightning.directory", "lseed.bitcoinstats.com"],
        Network::Testnet => &["test.nodes.lightning.directory"],
        Network::Signet | Network::Regtest => &[],
    };
    seeds.iter().map(|s| (*s).to_string()).collect()
}

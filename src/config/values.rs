//! The configuration's value types: what an option's value is, apart from where it came from.
//! Flags (`args`), the file (`file`) and resolution (`settings`) all parse into these, so none
//! of them imports another for a type.

use std::str::FromStr;

use secp256k1::PublicKey;

/// The chain a node follows. Gossip for any other chain is dropped as `wrong_chain`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Bitcoin,
    Testnet,
    Signet,
    Regtest,
}

impl Network {
    /// BOLT 0: `chain_hash` is the genesis block hash in internal (little-endian) byte order.
    pub fn chain_hash(self) -> [u8; 32] {
        let hex_str = match self {
            Network::Bitcoin => "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000",
            Network::Testnet => "43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000",
            Network::Signet => "f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000",
            Network::Regtest => "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f",
        };
        let mut out = [0u8; 32];
        // The literals above are fixed, valid 64-digit hex strings.
        if let Ok(bytes) = hex::decode(hex_str) {
            out.copy_from_slice(&bytes);
        }
        out
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

/// A peer to dial: `<33-byte compressed node id, hex>@host:port` (the form `lightning-cli
/// connect` and lnd's `connect` take). Its node id is the BOLT 8 responder's static key; the
/// host is resolved at each dial, so a DNS change is picked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub node_id: PublicKey,
    pub host: String,
    pub port: u16,
}

impl PeerAddr {
    /// `host:port` for `TcpStream::connect` (IPv6 hosts bracketed).
    pub fn socket_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.node_id, self.socket_addr_string())
    }
}

/// Why a `<node_id>@host:port` string is not a peer address.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddrError {
    #[error("expected <node_pubkey_hex>@host:port")]
    MissingAt,
    #[error("node id is not a 33-byte compressed public key in hex (66 hex digits, on the curve)")]
    BadNodeId,
    #[error("expected host:port after @, with a non-empty host and a port from 1 to 65535")]
    BadAddress,
}

impl FromStr for PeerAddr {
    type Err = PeerAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, addr) = s.trim().split_once('@').ok_or(PeerAddrError::MissingAt)?;
        let bytes = hex::decode(key).map_err(|_| PeerAddrError::BadNodeId)?;
        if bytes.len() != 33 {
            return Err(PeerAddrError::BadNodeId);
        }
        let node_id = PublicKey::from_slice(&bytes).map_err(|_| PeerAddrError::BadNodeId)?;
        let (host, port) = addr.rsplit_once(':').ok_or(PeerAddrError::BadAddress)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| PeerAddrError::BadAddress)?;
        if host.is_empty() || port == 0 {
            return Err(PeerAddrError::BadAddress);
        }
        Ok(PeerAddr {
            node_id,
            host: host.to_string(),
            port,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        }
    }
}

/// How our own initial sync asks outbound peers for the graph (issue 12 item 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum InitialSync {
    /// Every peer that negotiated gossip_queries is asked for everything
    /// (`gossip_timestamp_filter` from 0); the sieve drops the copies.
    #[default]
    Dump,
    /// The block range is cut into chunks that the peers take in turn (`query_channel_range`,
    /// then `query_short_channel_ids` for what we lack); a peer that ignores the queries gets
    /// asked for a dump instead.
    Split,
}

impl InitialSync {
    pub fn as_str(self) -> &'static str {
        match self {
            InitialSync::Dump => "dump",
            InitialSync::Split => "split",
        }
    }
}

impl FromStr for InitialSync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dump" => Ok(InitialSync::Dump),
            "split" => Ok(InitialSync::Split),
            _ => Err("expected dump or split".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7";

    #[test]
    fn peer_addresses_parse_and_print_back() {
        let peer: PeerAddr = format!("{ID}@127.0.0.1:9735").parse().expect("parse");
        assert_eq!(peer.socket_addr_string(), "127.0.0.1:9735");
        assert_eq!(peer.to_string(), format!("{ID}@127.0.0.1:9735"));
        let v6: PeerAddr = format!("{ID}@[::1]:9735").parse().expect("ipv6");
        assert_eq!(v6.socket_addr_string(), "[::1]:9735");
        assert_eq!(
            "127.0.0.1:9735".parse::<PeerAddr>(),
            Err(PeerAddrError::MissingAt)
        );
        assert_eq!(
            format!("{}@h:1", &ID[..64]).parse::<PeerAddr>(),
            Err(PeerAddrError::BadNodeId)
        );
        assert_eq!(
            format!("{ID}@nohost").parse::<PeerAddr>(),
            Err(PeerAddrError::BadAddress)
        );
        assert_eq!(
            format!("{ID}@h:99999").parse::<PeerAddr>(),
            Err(PeerAddrError::BadAddress)
        );
    }

    #[test]
    fn mainnet_chain_hash_matches_bolt_example() {
        let hash = Network::Bitcoin.chain_hash();
        assert_eq!(hash[0], 0x6f);
        assert_eq!(hash[31], 0x00);
        assert_ne!(Network::Regtest.chain_hash(), hash);
    }
}

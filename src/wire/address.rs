//! `node_announcement` address descriptors (BOLT 7 "The `node_announcement` Message").
//!
//! Owns decoding the `addresses` field (the `addrlen` bytes) into [`Address`] values and
//! writing them back byte for byte. Unknown descriptor types carry no length on the wire, so the
//! first one ends parsing and keeps the rest of the field opaque ([`Address::Unknown`]).

use super::DecodeError;

/// One address descriptor. Ports are big-endian on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// Type 1.
    Ipv4 { addr: [u8; 4], port: u16 },
    /// Type 2.
    Ipv6 { addr: [u8; 16], port: u16 },
    /// Type 3: Tor v2 onion service. Deprecated in BOLT 7, still seen in old announcements.
    TorV2 { addr: [u8; 10], port: u16 },
    /// Type 4: Tor v3 onion service.
    TorV3 {
        ed25519_pubkey: [u8; 32],
        checksum: u16,
        version: u8,
        port: u16,
    },
    /// Type 5: DNS hostname, ASCII only, at most 255 bytes.
    Dns { hostname: Vec<u8>, port: u16 },
    /// A type this code does not know, with every byte after it up to the end of `addresses`.
    Unknown { descriptor_type: u8, data: Vec<u8> },
}

impl Address {
    /// A DNS hostname that is fit to resolve: ASCII letters, digits, `-` and `.` only (what
    /// BOLT 7 lets an origin node announce), non-empty. `None` for other descriptors.
    pub fn usable_hostname(&self) -> Option<&str> {
        let Address::Dns { hostname, .. } = self else {
            return None;
        };
        let ok = !hostname.is_empty()
            && hostname
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.');
        ok.then(|| std::str::from_utf8(hostname).ok()).flatten()
    }

    pub fn descriptor_type(&self) -> u8 {
        match self {
            Address::Ipv4 { .. } => 1,
            Address::Ipv6 { .. } => 2,
            Address::TorV2 { .. } => 3,
            Address::TorV3 { .. } => 4,
            Address::Dns { .. } => 5,
            Address::Unknown {
                descriptor_type, ..
            } => *descriptor_type,
        }
    }

    /// Appends the descriptor (type byte included). A DNS hostname longer than 255 bytes is cut
    /// to 255 so the written length byte and content always agree.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.descriptor_type());
        match self {
            Address::Ipv4 { addr, port } => {
                out.extend_from_slice(addr);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Address::Ipv6 { addr, port } => {
                out.extend_from_slice(addr);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Address::TorV2 { addr, port } => {
                out.extend_from_slice(addr);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Address::TorV3 {
                ed25519_pubkey,
                checksum,
                version,
                port,
            } => {
                out.extend_from_slice(ed25519_pubkey);
                out.extend_from_slice(&checksum.to_be_bytes());
                out.push(*version);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Address::Dns { hostname, port } => {
                let len = hostname.len().min(usize::from(u8::MAX));
                out.push(len as u8);
                out.extend_from_slice(hostname.get(..len).unwrap_or(&[]));
                out.extend_from_slice(&port.to_be_bytes());
            }
            Address::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// RFC 4648 base32, lower case, no padding: how onion service names are spelled.
pub fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

impl Address {
    /// `<name>.onion` of a Tor v2 or v3 descriptor: base32 of the descriptor's bytes between
    /// its type and its port (for v3: public key, checksum and version, as Tor spells it).
    pub fn onion_name(&self) -> Option<String> {
        let name_len = match self {
            Address::TorV2 { .. } => 10,
            Address::TorV3 { .. } => 32 + 2 + 1,
            _ => return None,
        };
        let mut bytes = Vec::new();
        self.write(&mut bytes);
        Some(format!(
            "{}.onion",
            base32_lower(bytes.get(1..1 + name_len)?)
        ))
    }
}

/// Decodes a whole `addresses` field (exactly the `addrlen` bytes).
///
/// BOLT 7, receiving node: "SHOULD ignore the first `address descriptor` that does NOT match the
/// types defined above" — with no length to skip it, everything from there on is kept opaque.
pub fn parse_addresses(mut field: &[u8]) -> Result<Vec<Address>, DecodeError> {
    let mut out = Vec::new();
    while let Some((&descriptor_type, rest)) = field.split_first() {
        let (address, rest) = match descriptor_type {
            1 => {
                let (addr, rest) = take::<4>(rest)?;
                let (port, rest) = take_u16(rest)?;
                (Address::Ipv4 { addr, port }, rest)
            }
            2 => {
                let (addr, rest) = take::<16>(rest)?;
                let (port, rest) = take_u16(rest)?;
                (Address::Ipv6 { addr, port }, rest)
            }
            3 => {
                let (addr, rest) = take::<10>(rest)?;
                let (port, rest) = take_u16(rest)?;
                (Address::TorV2 { addr, port }, rest)
            }
            4 => {
                let (ed25519_pubkey, rest) = take::<32>(rest)?;
                let (checksum, rest) = take_u16(rest)?;
                let ([version], rest) = take::<1>(rest)?;
                let (port, rest) = take_u16(rest)?;
                let address = Address::TorV3 {
                    ed25519_pubkey,
                    checksum,
                    version,
                    port,
                };
                (address, rest)
            }
            5 => {
                let ([len], rest) = take::<1>(rest)?;
                let len = usize::from(len);
                let hostname = rest.get(..len).ok_or(DecodeError::BadLengthDescriptor)?;
                // BOLT 7 tells the *origin* node it "MUST NOT add a DNS hostname ... which
                // contains non-ASCII characters", but the descriptor is length-delimited, so a
                // bad one is skippable. As Core Lightning does (`fromwire_wireaddr` reads the
                // bytes by length only), it is kept as is rather than failing the whole signed
                // message; LDK instead refuses the message, which would charge the relaying
                // peer for one address. Use [`Address::usable_hostname`] before dialling one.
                let (port, rest) = take_u16(rest.get(len..).unwrap_or(&[]))?;
                let address = Address::Dns {
                    hostname: hostname.to_vec(),
                    port,
                };
                (address, rest)
            }
            _ => {
                out.push(Address::Unknown {
                    descriptor_type,
                    data: rest.to_vec(),
                });
                return Ok(out);
            }
        };
        out.push(address);
        field = rest;
    }
    Ok(out)
}

/// Writes descriptors back to back. An [`Address::Unknown`] anywhere but last would be read back
/// as swallowing the ones after it, so only parse output round-trips exactly.
pub fn write_addresses(addresses: &[Address], out: &mut Vec<u8>) {
    for address in addresses {
        address.write(out);
    }
}

/// A descriptor running past `addrlen` is a length mismatch, not a short message: the message
/// itself held all `addrlen` bytes.
fn take<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), DecodeError> {
    let head = bytes.get(..N).ok_or(DecodeError::BadLengthDescriptor)?;
    let head = <[u8; N]>::try_from(head).map_err(|_| DecodeError::BadLengthDescriptor)?;
    Ok((head, bytes.get(N..).unwrap_or(&[])))
}

fn take_u16(bytes: &[u8]) -> Result<(u16, &[u8]), DecodeError> {
    let (b, rest) = take::<2>(bytes)?;
    Ok((u16::from_be_bytes(b), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_names_are_rfc4648_base32() {
        // RFC 4648 §10 vectors, lower case and unpadded.
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        let v3 = Address::TorV3 {
            ed25519_pubkey: [0; 32],
            checksum: 0,
            version: 3,
            port: 9735,
        };
        assert_eq!(v3.onion_name().map(|n| n.len()), Some(56 + 6));
        assert!(v3.onion_name().is_some_and(|n| n.ends_with("ad.onion")));
        assert_eq!(
            Address::Ipv4 {
                addr: [1; 4],
                port: 1
            }
            .onion_name(),
            None
        );
    }

    fn sample() -> Vec<Address> {
        vec![
            Address::Ipv4 {
                addr: [203, 0, 113, 7],
                port: 9735,
            },
            Address::Ipv6 {
                addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                port: 9736,
            },
            Address::TorV2 {
                addr: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                port: 9735,
            },
            Address::TorV3 {
                ed25519_pubkey: [7; 32],
                checksum: 0xbeef,
                version: 3,
                port: 9735,
            },
            Address::Dns {
                hostname: b"ln.example.com".to_vec(),
                port: 9735,
            },
            Address::Unknown {
                descriptor_type: 42,
                data: vec![1, 2, 3],
            },
        ]
    }

    #[test]
    fn every_type_round_trips() {
        let mut bytes = Vec::new();
        write_addresses(&sample(), &mut bytes);
        assert_eq!(bytes.len(), 7 + 19 + 13 + 38 + 18 + 4);
        assert_eq!(parse_addresses(&bytes).unwrap(), sample());
    }

    #[test]
    fn unknown_type_swallows_the_rest() {
        // Type 6 followed by what looks like an IPv4 descriptor: still one opaque unknown.
        let bytes = [6, 1, 127, 0, 0, 1, 0x26, 0x07];
        let parsed = parse_addresses(&bytes).unwrap();
        assert_eq!(
            parsed,
            vec![Address::Unknown {
                descriptor_type: 6,
                data: bytes[1..].to_vec()
            }]
        );
        let mut out = Vec::new();
        write_addresses(&parsed, &mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn overrun_is_a_length_error() {
        let mut bytes = Vec::new();
        write_addresses(&sample()[..5], &mut bytes);
        for cut in 1..bytes.len() {
            let boundaries = [7, 26, 39, 77];
            if boundaries.contains(&cut) {
                continue;
            }
            assert_eq!(
                parse_addresses(&bytes[..cut]),
                Err(DecodeError::BadLengthDescriptor),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_bad_hostname_is_kept_by_its_length_and_the_next_address_still_parses() {
        // Non-ASCII, then an IPv4 address after it.
        let bytes = [5, 2, b'a', 0xc3, 0x26, 0x07, 1, 127, 0, 0, 1, 0x26, 0x07];
        let parsed = parse_addresses(&bytes).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].usable_hostname(), None);
        assert_eq!(
            parsed[1],
            Address::Ipv4 {
                addr: [127, 0, 0, 1],
                port: 0x2607
            }
        );
        let mut out = Vec::new();
        write_addresses(&parsed, &mut out);
        assert_eq!(out, bytes, "kept byte for byte: the signature covers it");
        let good = Address::Dns {
            hostname: b"node-1.example.com".to_vec(),
            port: 9735,
        };
        assert_eq!(good.usable_hostname(), Some("node-1.example.com"));
        for bad in [&b""[..], b"a b", b"a\x00", b"x/y"] {
            let dns = Address::Dns {
                hostname: bad.to_vec(),
                port: 1,
            };
            assert_eq!(dns.usable_hostname(), None, "{bad:?}");
        }
    }

    #[test]
    fn empty_field_is_no_addresses() {
        assert_eq!(parse_addresses(&[]), Ok(vec![]));
    }
}

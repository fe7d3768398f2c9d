use std::fmt;
use std::net::IpAddr;

/// A network: address and prefix length, address already masked to the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// The network of `prefix` bits (at most the address's 32 or 128) that holds `ip`.
    pub(crate) fn of(ip: IpAddr, prefix: u8) -> Cidr {
        let addr = match ip {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Cidr { addr, prefix }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why a text is not a network (or address): the message and a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct CidrError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl CidrError {
    fn new(message: String, hint: Option<String>) -> Self {
        CidrError { message, hint }
    }
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/8`; a bare address (when `!is_net`) is a host network.
    pub(crate) fn parse(s: &str, is_net: bool) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) if is_net => (a, Some(p)),
            Some(_) => {
                return Err(CidrError::new(
                    format!("`{s}` is a network, not an address"),
                    Some("use `in cidr(...)` for networks".into()),
                ));
            }
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::new(format!("`{s}` is not an IP address or network"), None))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    CidrError::new(
                        format!("`{s}` has an invalid prefix length"),
                        Some(format!("use 0 to {max}")),
                    )
                })?,
            None if is_net => {
                return Err(CidrError::new(
                    format!("`{s}` has no prefix length"),
                    Some(format!("write `{s}/{max}` for one address")),
                ));
            }
            None => max,
        };
        let masked = Cidr::of(addr, prefix);
        if masked.addr != addr {
            return Err(CidrError::new(
                format!("`{s}` has host bits set"),
                Some(format!("did you mean `{masked}`?")),
            ));
        }
        Ok(masked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_keeps_the_prefix_bits_of_an_address() {
        let of = |a: &str, p| Cidr::of(a.parse().expect("an address"), p).to_string();
        assert_eq!(of("203.0.113.250", 24), "203.0.113.0/24");
        assert_eq!(of("203.0.113.250", 31), "203.0.113.250/31");
        assert_eq!(of("203.0.113.251", 31), "203.0.113.250/31");
        assert_eq!(of("203.0.113.250", 32), "203.0.113.250/32");
        assert_eq!(of("203.0.113.250", 0), "0.0.0.0/0");
        assert_eq!(of("2001:db8:1:3:ffff::1", 64), "2001:db8:1:3::/64");
        assert_eq!(of("2001:db8:1:3:ffff::1", 63), "2001:db8:1:2::/63");
        assert_eq!(of("2001:db8:1:3:ffff::1", 65), "2001:db8:1:3:8000::/65");
        assert_eq!(of("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(of("2001:db8::1", 0), "::/0");
    }
}

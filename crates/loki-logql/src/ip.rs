//! `ip("…")` filters: a single address, a CIDR block or an `a-b` range, IPv4 or IPv6.
use std::net::IpAddr;

/// An inclusive address range of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRange {
    v6: bool,
    lo: u128,
    hi: u128,
}

fn bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

fn addr(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid IP address {s:?}"))
}

impl IpRange {
    /// Parses `192.168.0.1`, `10.0.0.0/8`, `192.168.0.10-192.168.0.20` or IPv6 forms.
    pub fn parse(s: &str) -> Result<IpRange, String> {
        if let Some((a, p)) = s.split_once('/') {
            let (v6, base) = bits(addr(a)?);
            let width = if v6 { 128 } else { 32 };
            let prefix: u32 = p
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= width)
                .ok_or_else(|| format!("invalid CIDR prefix {p:?} in {s:?}"))?;
            // Host bits of the family's width.
            let host: u128 = if prefix == width {
                0
            } else {
                (1u128 << (width - prefix)) - 1
            };
            return Ok(IpRange {
                v6,
                lo: base & !host,
                hi: base | host,
            });
        }
        if let Some((a, b)) = s.split_once('-') {
            let (v6a, lo) = bits(addr(a)?);
            let (v6b, hi) = bits(addr(b)?);
            if v6a != v6b {
                return Err(format!("range {s:?} mixes IPv4 and IPv6"));
            }
            if lo > hi {
                return Err(format!("range {s:?} ends before it starts"));
            }
            return Ok(IpRange { v6: v6a, lo, hi });
        }
        let (v6, x) = bits(addr(s)?);
        Ok(IpRange { v6, lo: x, hi: x })
    }

    /// Whether `a` is in the range.
    pub fn contains(&self, a: IpAddr) -> bool {
        let (v6, x) = bits(a);
        v6 == self.v6 && self.lo <= x && x <= self.hi
    }

    /// Whether a label value is an address in the range.
    pub fn contains_str(&self, s: &str) -> bool {
        s.parse::<IpAddr>().is_ok_and(|a| self.contains(a))
    }

    /// Whether any address written in `line` is in the range. Candidates are the runs of
    /// characters addresses are made of (hex digits, `.`, `:`), also without a `:port`
    /// suffix, and the digit-and-dot runs inside them (IPv4 next to letters).
    pub fn found_in_line(&self, line: &str) -> bool {
        let is_ip_char = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
        line.split(|c: char| !is_ip_char(c))
            .filter(|run| run.len() >= 2 && (run.contains('.') || run.contains(':')))
            .any(|run| {
                let run = run.trim_matches('.');
                if self.contains_str(run) {
                    return true;
                }
                if let Some((host, _port)) = run.rsplit_once(':') {
                    if self.contains_str(host) {
                        return true;
                    }
                }
                !self.v6
                    && run
                        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .any(|v4| self.contains_str(v4.trim_matches('.')))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_cidr_and_range() {
        let r = IpRange::parse("192.168.4.0/22").unwrap();
        assert!(r.contains_str("192.168.4.0"));
        assert!(r.contains_str("192.168.7.255"));
        assert!(!r.contains_str("192.168.8.0"));
        assert!(!r.contains_str("::1"));
        let r = IpRange::parse("10.0.0.5-10.0.0.9").unwrap();
        assert!(r.contains_str("10.0.0.9") && !r.contains_str("10.0.0.10"));
        let r = IpRange::parse("2001:db8::/32").unwrap();
        assert!(r.contains_str("2001:db8:1::7"));
        assert!(!r.contains_str("2001:db9::1"));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains_str("8.8.8.8"));
        assert!(IpRange::parse("1.2.3.4/33").is_err());
        assert!(IpRange::parse("1.2.3.9-1.2.3.4").is_err());
        assert!(IpRange::parse("::1-1.2.3.4").is_err());
        assert!(IpRange::parse("nope").is_err());
    }

    #[test]
    fn addresses_inside_lines() {
        let r = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(r.found_in_line("conn from 10.1.2.3:5432 closed"));
        assert!(r.found_in_line("peer=10.1.9.9, ok"));
        assert!(r.found_in_line("[client 10.1.0.1]"));
        assert!(!r.found_in_line("conn from 10.2.2.3:5432 closed"));
        assert!(!r.found_in_line("version 10.1.2"));
        let r6 = IpRange::parse("fe80::/10").unwrap();
        assert!(r6.found_in_line("addr fe80::1 up"));
        assert!(!r6.found_in_line("addr ::1 up"));
    }
}

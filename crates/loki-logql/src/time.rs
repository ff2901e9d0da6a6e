//! Times as Loki's HTTP API accepts and prints them.

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 in UTC with nanoseconds trimmed as Go's `time.RFC3339Nano` prints them.
pub fn format_rfc3339_nanos(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses a time as Loki's API does: unix nanoseconds (an integer with more than 10
/// digits… Loki treats any integer as seconds unless it is too large), unix seconds with
/// an optional fraction, or RFC 3339.
pub fn parse_time_ns(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'-') && !t[1..].contains('-')
    {
        let v: i64 = t.parse().map_err(|_| format!("invalid time {s:?}"))?;
        // Loki: integers are nanoseconds, except short ones which are seconds.
        return Ok(if t.trim_start_matches('-').len() <= 10 {
            v.saturating_mul(1_000_000_000)
        } else {
            v
        });
    }
    if let Ok(f) = t.parse::<f64>() {
        let whole = f.trunc();
        let frac = ((f - whole) * 1e9).round();
        return Ok((whole as i64).saturating_mul(1_000_000_000) + frac as i64);
    }
    parse_rfc3339(t)
        .ok_or_else(|| format!("{s:?} is not RFC 3339, unix seconds or unix nanoseconds"))
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        let st = i + 1;
        i = st;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &t[st..i];
        let mut v: i64 = 0;
        for (k, c) in digits.bytes().enumerate() {
            if k < 9 {
                v = v * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits.len()..9 {
            v *= 10;
        }
        frac_ns = v;
    }
    let off_secs = match t.get(i..)? {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600
                + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - off_secs;
    Some(secs * 1_000_000_000 + frac_ns)
}

/// A query step: a duration (`1h`, `15m`) or seconds (`60`, `0.5`), in ns.
pub fn parse_step_ns(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.trim().parse::<f64>() {
        return Ok((f * 1e9).round() as i64);
    }
    crate::units::parse_duration_ns(s.trim()).ok_or_else(|| format!("invalid step {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time_ns("1794960000000000000").unwrap(),
            1_794_960_000_000_000_000
        );
        assert_eq!(
            parse_time_ns("1794960000").unwrap(),
            1_794_960_000_000_000_000
        );
        assert_eq!(
            parse_time_ns("1794960000.5").unwrap(),
            1_794_960_000_500_000_000
        );
        let ns = parse_time_ns("2026-11-18T00:00:00Z").unwrap();
        assert_eq!(ns, 1_794_960_000_000_000_000);
        assert_eq!(
            format_rfc3339_nanos(ns + 1_500_000),
            "2026-11-18T00:00:00.0015Z"
        );
        assert_eq!(parse_time_ns("2026-11-18T01:00:00+01:00").unwrap(), ns);
        assert_eq!(parse_step_ns("15m").unwrap(), 900_000_000_000);
        assert_eq!(parse_step_ns("60").unwrap(), 60_000_000_000);
        assert!(parse_time_ns("yesterday").is_err());
        assert!(parse_time_ns("2026-11-18T01:00:00+€1").is_err());
    }
}

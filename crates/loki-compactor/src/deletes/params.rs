//! Parameter parsing and formatting with Loki's rules: times as RFC3339 or unix seconds,
//! Go durations, Prometheus `model.Time` JSON numbers.

/// Parses a time parameter to unix ms: RFC3339 (any fraction, truncated to ms) or unix
/// seconds. Loki accepts exactly 10 integer digits; we also accept a fraction
/// (`1795610391.361`), which Loki's own clients print and which is unambiguous.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.len() != 10 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    Some(secs * 1000 + ms)
}

/// Parses a Go duration (`1h30m`, `90s`, `1.5h`, `500ms`) to ms; None if invalid.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total_ns += v * mult;
    }
    let ms = (total_ns / 1e6).floor() as i64;
    Some(if neg { -ms } else { ms })
}

/// Formats ms as Go's `time.Duration.String()` (`24h0m0s`, `1m30s`, `500ms`).
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, (ms / 60_000) % 60);
    let (s, frac) = ((ms / 1000) % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

/// Milliseconds as Prometheus `model.Time` JSON: seconds with up to three decimals,
/// trailing zeros dropped.
pub fn model_time(ms: i64) -> String {
    let (s, f) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if f == 0 {
        s.to_string()
    } else {
        format!("{s}.{f:03}").trim_end_matches('0').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1795610391"), Some(1_795_610_391_000));
        assert_eq!(parse_time("1795610391.37"), Some(1_795_610_391_370));
        assert_eq!(parse_time("2026-11-25T12:00:00Z"), Some(1_795_608_000_000));
        assert_eq!(
            parse_time("2026-11-25T13:00:00.123456+01:00"),
            Some(1_795_608_000_123)
        );
        for bad in [
            "",
            "1795610391000",
            "179561039",
            "abc",
            "1795610391.",
            "-179561039",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1h"), Some(3_600_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000));
        assert_eq!(parse_go_duration("500ms"), Some(500));
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(go_duration(86_400_000), "24h0m0s");
        assert_eq!(go_duration(90_000), "1m30s");
        assert_eq!(go_duration(10_800_000), "3h0m0s");
        assert_eq!(go_duration(7_378), "7.378s");
        assert_eq!(go_duration(500), "500ms");
    }

    #[test]
    fn model_times() {
        assert_eq!(model_time(1_795_610_391_000), "1795610391");
        assert_eq!(model_time(1_795_610_391_370), "1795610391.37");
        assert_eq!(model_time(1_795_610_391_361), "1795610391.361");
    }
}

//! Event times: `@timestamp` as RFC 3339 text or epoch milliseconds, to epoch milliseconds.

use serde_json::Value;

/// Why an event has no time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TimeError {
    #[error("no @timestamp")]
    Missing,
    #[error("@timestamp {0:?} is not RFC 3339 date-time text")]
    NotRfc3339(String),
    #[error("@timestamp {0} is not epoch milliseconds")]
    NotEpochMillis(serde_json::Number),
    #[error("@timestamp {0} is neither text nor a number")]
    NotTextOrNumber(Value),
}

/// An event's time in epoch milliseconds: its first `@timestamp` value, RFC 3339 text
/// (`2026-11-25T10:00:00Z`, an offset, fractional seconds) or a number of epoch
/// milliseconds. The error says why there is none.
pub(crate) fn event_time(event: &Value) -> Result<i64, TimeError> {
    let Some(v) = super::values(event, "@timestamp").into_iter().next() else {
        return Err(TimeError::Missing);
    };
    match v {
        Value::String(s) => parse_rfc3339(s).ok_or_else(|| TimeError::NotRfc3339(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.is_finite() && x.abs() < 9.0e15)
                    .map(|x| x.floor() as i64)
            })
            .ok_or_else(|| TimeError::NotEpochMillis(n.clone())),
        other => Err(TimeError::NotTextOrNumber(other.clone())),
    }
}

/// RFC 3339 date-time (`T`, `t` or a space between date and time; `Z`, `z` or `±HH:MM`;
/// any number of fractional digits, cut to milliseconds) to epoch milliseconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return None,
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b":") => {
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    // A leap second reads as the last millisecond-second of its minute plus one second,
    // which is the next minute's first second: times stay ordered.
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset * 60;
    Some(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The UTC date (`YYYY-MM-DD`) of a Unix time in seconds (Howard Hinnant's algorithm).
pub fn date_of(unix_seconds: i64) -> String {
    let z = unix_seconds.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_of_unix_times_round_trip() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(-86_400), "1969-12-31");
        for days in (-800_000..800_000).step_by(997) {
            let date = date_of(days * 86_400 + 86_399);
            let (y, rest) = date.split_at(date.len() - 6);
            let (m, d) = (&rest[1..3], &rest[4..6]);
            let back = days_from_civil(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap());
            assert_eq!(back, days, "{date}");
        }
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-25T10:00:00Z"),
            Some(1_795_600_800_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T11:30:00+01:30"),
            Some(1_795_600_800_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-25t08:00:00.5-02:00"),
            Some(1_795_600_800_500)
        );
        assert_eq!(
            parse_rfc3339("2026-11-25 10:00:00.123456789Z"),
            Some(1_795_600_800_123)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Some(-1));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-25T10:00:00",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00+0100",
            "2026-11-25T10:00:00Zx",
            "26-11-25T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_times() {
        assert_eq!(event_time(&json!({"@timestamp": 1234})), Ok(1234));
        assert_eq!(event_time(&json!({"@timestamp": 1234.9})), Ok(1234));
        assert_eq!(
            event_time(&json!({"@timestamp": "1970-01-01T00:00:01Z"})),
            Ok(1000)
        );
        assert!(event_time(&json!({})).is_err());
        assert!(event_time(&json!({"@timestamp": "yesterday"})).is_err());
        assert!(event_time(&json!({"@timestamp": true})).is_err());
    }
}

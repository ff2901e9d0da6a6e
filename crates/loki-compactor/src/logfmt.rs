//! Log output like Loki's: logfmt (`level=info ts=… caller=… msg="…" key=value`) or JSON,
//! selected by `-log.format`, filtered by `-log.level`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// logfmt event formatter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Logfmt;

fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '"', '=', '\n', '\t']) {
        v.to_owned()
    } else {
        format!("{v:?}")
    }
}

struct Fields(String, Option<String>);

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "message" {
            self.1 = Some(v.to_owned());
        } else {
            self.0.push_str(&format!(" {}={}", f.name(), quote(v)));
        }
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.record_str(f, &format!("{v:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        e: &Event<'_>,
    ) -> fmt::Result {
        let m = e.metadata();
        let mut f = Fields(String::new(), None);
        e.record(&mut f);
        let ts = chrono_like_now();
        write!(
            w,
            "level={} ts={ts} caller={}",
            m.level().as_str().to_ascii_lowercase(),
            quote(m.target())
        )?;
        if let Some(msg) = f.1 {
            write!(w, " msg={}", quote(&msg))?;
        }
        writeln!(w, "{}", f.0)
    }
}

/// RFC 3339 UTC time with nanoseconds, without a date library.
fn chrono_like_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, da) = loki_config::Day(days).ymd();
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

//! JSON log lines for audit events: the event's own fields (`kind`, `user`,
//! `client_ip`, `detail` as a JSON object) sit at the top level of the line, beside
//! `timestamp`, `level` and `target`, instead of one string field holding JSON text.
//! Every other event goes to the standard JSON formatter.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The field `AuditEvent::emit` puts the serialized event in.
pub const EVENT_FIELD: &str = "event";

pub struct AuditFlattening<F> {
    inner: F,
}

impl<F> AuditFlattening<F> {
    pub fn new(inner: F) -> Self {
        AuditFlattening { inner }
    }
}

#[derive(Default)]
struct EventText(Option<String>);

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == EVENT_FIELD {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `event = %json` arrives here; a Display value's Debug is its Display.
        if field.name() == EVENT_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The audit line for `event`, or `None` when it is not an audit event carrying JSON.
fn audit_line(event: &Event<'_>) -> Option<String> {
    if event.metadata().target() != crate::audit::AUDIT_TARGET {
        return None;
    }
    let mut text = EventText::default();
    event.record(&mut text);
    let serde_json::Value::Object(fields) = serde_json::from_str(&text.0?).ok()? else {
        return None;
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut line = serde_json::Map::new();
    line.insert("timestamp".into(), now.into());
    line.insert("level".into(), event.metadata().level().as_str().into());
    line.insert("target".into(), crate::audit::AUDIT_TARGET.into());
    line.extend(fields);
    Some(serde_json::Value::Object(line).to_string())
}

impl<S, N, F> FormatEvent<S, N> for AuditFlattening<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match audit_line(event) {
            Some(line) => writeln!(writer, "{line}"),
            None => self.inner.format_event(ctx, writer, event),
        }
    }
}

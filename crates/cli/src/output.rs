//! What admin commands print: a readable table for people by default, JSON or CSV for scripts
//! (`--format`), and the small terminal helpers every command shares (confirmation, progress).
//!
//! Listings implement [`Row`] once and get all three formats; single records implement
//! [`Record`]. Results go to stdout, messages and progress to stderr, so that
//! `--format json | jq` always reads clean JSON. A closed stdout (`| head`) ends the output
//! quietly instead of failing.

use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::Serialize;

use crate::error::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON (an array for listings, an object for one record), for scripts.
    Json,
    /// CSV with a header line, for spreadsheets and scripts.
    Csv,
}

/// A line of a listing: its JSON form comes from serde, its table and CSV cells from `cells`.
pub trait Row: Serialize {
    /// Column names, in the order of [`Row::cells`].
    const HEADERS: &'static [&'static str];
    /// The cells of this line, as shown in a table or written to CSV.
    fn cells(&self) -> Vec<String>;
}

/// One record shown on its own (`show`): `name: value` lines in a table, an object in JSON,
/// one header and one line in CSV.
pub trait Record: Serialize {
    /// `(name, value)` pairs in display order.
    fn fields(&self) -> Vec<(&'static str, String)>;
}

/// Turns a write error into success when stdout was closed by the reader (`| head`).
fn tolerate_closed_pipe(result: io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| CliError::failed(format!("writing the output: {e}"))),
    }
}

/// Writes text to stdout as it is.
pub fn text(s: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    tolerate_closed_pipe(out.write_all(s.as_bytes()).and_then(|()| out.flush()))
}

/// Writes a JSON value, pretty-printed, to stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failed(format!("encoding JSON: {e}")))?;
    s.push('\n');
    text(&s)
}

/// Writes CSV lines (the first is the header) to stdout.
fn csv_lines(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| CliError::failed(format!("encoding CSV: {e}"));
    w.write_record(header).map_err(fail)?;
    for row in rows {
        w.write_record(row).map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::failed(format!("encoding CSV: {e}")))?;
    text(&String::from_utf8_lossy(&bytes))
}

/// Lays out rows in aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            s.extend(std::iter::repeat_n(' ', pad.saturating_sub(width(cell))));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Prints a listing in the chosen format. An empty table says so on stderr, so that a script
/// reading stdout still gets only the header.
pub fn rows<T: Row>(format: Format, items: &[T]) -> Result<(), CliError> {
    match format {
        Format::Json => json(items),
        Format::Csv => csv_lines(
            T::HEADERS,
            &items.iter().map(Row::cells).collect::<Vec<_>>(),
        ),
        Format::Table => {
            if items.is_empty() {
                eprintln!("(nothing to list)");
                return Ok(());
            }
            text(&table(
                T::HEADERS,
                &items.iter().map(Row::cells).collect::<Vec<_>>(),
            ))
        }
    }
}

/// Prints one record in the chosen format.
pub fn record<T: Record>(format: Format, item: &T) -> Result<(), CliError> {
    match format {
        Format::Json => json(item),
        Format::Csv => {
            let fields = item.fields();
            let header: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
            csv_lines(&header, &[fields.into_iter().map(|(_, v)| v).collect()])
        }
        Format::Table => text(&record_text(&item.fields())),
    }
}

/// `name: value` lines, names aligned; empty values are left out.
pub fn record_text(fields: &[(&'static str, String)]) -> String {
    let pad = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = writeln!(s, "{k:<pad$}  {v}");
    }
    s
}

/// Prints the outcome of an action: `message` for people, `value` for scripts (JSON, or CSV
/// of its top-level fields).
pub fn outcome<T: Serialize>(format: Format, message: &str, value: &T) -> Result<(), CliError> {
    match format {
        Format::Table => text(&format!("{message}\n")),
        Format::Json => json(value),
        Format::Csv => {
            let v = serde_json::to_value(value)
                .map_err(|e| CliError::failed(format!("encoding: {e}")))?;
            let Some(map) = v.as_object() else {
                return text(&format!("{message}\n"));
            };
            let header: Vec<&str> = map.keys().map(String::as_str).collect();
            let row: Vec<String> = map.values().map(plain).collect();
            csv_lines(&header, &[row])
        }
    }
}

/// A JSON value as one CSV cell: strings bare, null empty, the rest as JSON.
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time for people: UTC, to the second.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An optional time for people (empty when absent).
pub fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_default()
}

/// Asks before a destructive action. `--yes` answers for the user; without a terminal to ask
/// on, the action is refused (a usage error) rather than done silently.
pub fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "{question} — refusing without confirmation: stdin is not a terminal; add --yes to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::failed("cancelled: nothing was changed"))
    }
}

/// Progress of long work: an indicatif bar when stderr is a terminal, plain lines (at most one
/// every few seconds, and the last one) otherwise, so that logs of cron jobs stay readable.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: String,
    total: u64,
    done: u64,
    /// Items already done when reporting started (not counted in the rate).
    base: u64,
    started: Instant,
    last_line: Option<Instant>,
    every: Duration,
}

impl Progress {
    /// Starts reporting on `total` items of `what` ("recorded", "checked", ...).
    pub fn new(what: &str, total: u64) -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            what: what.to_owned(),
            total,
            done: 0,
            base: 0,
            started: Instant::now(),
            last_line: None,
            every: Duration::from_secs(2),
        }
    }

    /// Starts from `done` items already done (they do not count in the rate).
    #[must_use]
    pub fn starting_at(mut self, done: u64) -> Self {
        self.done = done;
        self.base = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.reset_eta();
        }
        self
    }

    /// Sets how many items are done, with a short note (counts of outcomes, say).
    pub fn set(&mut self, done: u64, note: &str) {
        self.done = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(note.to_owned());
            return;
        }
        if self.last_line.is_none_or(|t| t.elapsed() >= self.every) {
            self.line(note);
        }
    }

    /// Adds one done item.
    pub fn inc(&mut self, note: &str) {
        self.set(self.done + 1, note);
    }

    fn line(&mut self, note: &str) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        #[allow(clippy::cast_precision_loss)]
        let rate = self.done.saturating_sub(self.base) as f64 / secs;
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        eprintln!(
            "{}: {}/{} ({percent}%), {rate:.1}/s{}{note}",
            self.what,
            self.done,
            self.total,
            if note.is_empty() { "" } else { ", " }
        );
        self.last_line = Some(Instant::now());
    }

    /// Ends the bar (or writes the last line) with a final note.
    pub fn finish(mut self, note: &str) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(self.done);
            bar.finish_with_message(note.to_owned());
        } else {
            self.line(note);
        }
    }

    /// Prints a message without breaking the bar.
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_trailing_spaces() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "Ada".into()],
                vec!["1234".into(), "Grace".into()],
            ],
        );
        assert_eq!(t, "ID    NAME\n1     Ada\n1234  Grace\n");
    }

    #[test]
    fn records_skip_empty_values() {
        let s = record_text(&[
            ("id", "x".into()),
            ("email", String::new()),
            ("state", "ok".into()),
        ]);
        assert_eq!(s, "id     x\nstate  ok\n");
    }
}

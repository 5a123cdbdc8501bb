//! `certificates backfill`: many creation requests from a CSV file.
//!
//! Three passes, so that bad input changes nothing:
//! 1. read: every line is parsed into the domain's value types; a bad value is reported with
//!    its line number (as an editor counts them, the header being line 1) and column;
//! 2. check: every good line goes through the domain's own creation rule (`decide_creation`,
//!    without looking at existing certificates), so a course that is not linked, a mode the
//!    course does not issue, or a template parameter the line cannot fill is caught here,
//!    before anything is recorded;
//! 3. record: `request_certificate` for each line, at most `--rate` per second. It answers
//!    "already requested" for a learner who has a certificate for the course, which is what
//!    makes a second run resume an interrupted one without duplicates.
//!
//! `--dry-run` stops after pass 2 and says, per line, what pass 3 would do. `--issue-now`
//! runs the worker in this process during pass 3 and waits until every certificate was sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use pok_domain::binding::CourseBinding;
use pok_domain::filters::{
    CreationDecision, CreationRequest, DOWNLOADABLE, decide_creation, effective_binding,
};
use pok_domain::lifecycle::CertificateId;
use pok_domain::service::CreationAnswer;
use pok_domain::values::{CourseKey, CourseMode, Email, LanguageTag, PersonName, UserId};
use pok_domain::{CertificateService, Error};
use serde::Serialize;

use super::actions::parse_grade;
use super::drain::{self, DrainArgs, Drained, Worker};
use crate::commands::{Ctx, parse_course};
use crate::error::CliError;
use crate::output::{self, Format, Progress};

/// What to do with a line that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnBadLine {
    /// Check the whole file first and record nothing if any line is bad (exit status 2).
    Stop,
    /// Leave the bad lines out, list them, and record the others.
    Skip,
}

/// A rate limit: at most this many learners recorded per second (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(Option<f64>);

/// Parses `N/s`, `N/min` or `N` (per second); `0` means no limit.
fn parse_rate(s: &str) -> Result<Rate, String> {
    let t = s.trim().to_ascii_lowercase();
    let (n, per) = if let Some(n) = t.strip_suffix("/s").or_else(|| t.strip_suffix("/sec")) {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("/min").or_else(|| t.strip_suffix("/m")) {
        (n, 60.0)
    } else {
        (t.as_str(), 1.0)
    };
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("expected N/s, N/min or N per second, e.g. 5/s (got {s:?})"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("the rate must be a positive number (got {s:?})"));
    }
    Ok(Rate((n > 0.0).then_some(n / per)))
}

/// Options of `certificates backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The CSV file of learners ("-" reads standard input). See the columns above.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// The course of every line, for a file without a course_key column. With a course_key
    /// column, only this course's lines are taken; the others are counted and left alone.
    #[arg(long, value_name = "COURSE", value_parser = parse_course)]
    course: Option<CourseKey>,
    /// The enrolment mode of lines that give none.
    #[arg(long, default_value = "honor", value_parser = parse_mode)]
    mode: CourseMode,
    /// The course title of lines that give none (the credential's title, unless the course's
    /// link overrides it; without either it is the course key).
    #[arg(long)]
    course_title: Option<String>,
    /// At most this many learners recorded per second: N/s, N/min or N; 0 for no limit. The
    /// service's worker takes their jobs in order, so a moderate rate leaves room for the
    /// LMS's own requests and keeps POK's rate limit away.
    #[arg(long, default_value = "10/s", value_parser = parse_rate)]
    rate: Rate,
    /// Check the file and say what would be recorded; record nothing.
    #[arg(long)]
    dry_run: bool,
    /// stop: check the whole file first and record nothing if a line is bad; skip: leave bad
    /// lines out (each is listed with its line number and column) and record the others.
    #[arg(long, value_enum, default_value_t = OnBadLine::Stop)]
    on_bad_line: OnBadLine,
    #[command(flatten)]
    drain: DrainArgs,
}

fn parse_mode(s: &str) -> Result<CourseMode, String> {
    CourseMode::parse(s).map_err(|e| e.to_string())
}

/// A line that cannot be used, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BadLine {
    /// The line number in the file (the header is line 1).
    pub line: u64,
    /// The column, when one value is to blame.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A usable line: a creation request ready for the domain.
#[derive(Debug)]
struct Learner {
    line: u64,
    user: UserId,
    course: CourseKey,
    request: CreationRequest,
}

/// The columns this command reads.
const COLUMNS: &[&str] = &[
    "user_id",
    "username",
    "email",
    "full_name",
    "first_name",
    "last_name",
    "course_key",
    "course_title",
    "mode",
    "grade",
    "language",
];

/// What was read from the file.
#[derive(Debug, Default)]
struct Parsed {
    learners: Vec<Learner>,
    bad: Vec<BadLine>,
    lines: u64,
    other_course: u64,
}

fn open(path: &PathBuf) -> Result<Box<dyn Read>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    std::fs::File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read>)
        .map_err(|e| CliError::Usage(format!("--csv {}: {e}", path.display())))
}

/// Pass 1: reads and parses every line.
fn read(args: &BackfillArgs) -> Result<Parsed, CliError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(open(&args.csv)?);
    let file = args.csv.display().to_string();
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| CliError::Usage(format!("{file}, line 1 (the header): {e}")))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            h.trim().to_ascii_lowercase()
        })
        .collect();
    let index: HashMap<&str, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            eprintln!(
                "note: {file}: column {h:?} is not one of {} and is ignored",
                COLUMNS.join(", ")
            );
        }
    }
    let mut missing = Vec::new();
    for required in ["user_id", "email"] {
        if !index.contains_key(required) {
            missing.push(required.to_owned());
        }
    }
    let has_name = index.contains_key("full_name")
        || (index.contains_key("first_name") && index.contains_key("last_name"));
    if !has_name {
        missing.push("full_name (or first_name and last_name)".to_owned());
    }
    if !index.contains_key("course_key") && args.course.is_none() {
        missing.push("course_key (or give --course)".to_owned());
    }
    if !missing.is_empty() {
        return Err(CliError::Usage(format!(
            "{file}, line 1 (the header): missing column(s) {}; the header names the columns, e.g. user_id,username,email,full_name,course_key,mode,grade",
            missing.join(", ")
        )));
    }
    let mut parsed = Parsed::default();
    let mut seen: HashMap<(UserId, CourseKey), u64> = HashMap::new();
    for (i, result) in reader.records().enumerate() {
        let fallback_line = i as u64 + 2;
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                parsed.lines += 1;
                let line = e.position().map_or(fallback_line, csv::Position::line);
                parsed.bad.push(BadLine {
                    line,
                    column: None,
                    reason: format!("not readable as CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(fallback_line, csv::Position::line);
        parsed.lines += 1;
        if record.len() != headers.len() {
            let (column, what) = if record.len() < headers.len() {
                (headers.get(record.len()), "missing from here on")
            } else {
                (headers.last(), "followed by extra fields")
            };
            parsed.bad.push(BadLine {
                line,
                column: column.cloned(),
                reason: format!(
                    "has {} field(s) but the header has {} ({what}; a comma inside a value needs double quotes)",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let get = |name: &str| {
            index
                .get(name)
                .and_then(|i| record.get(*i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let mut bad = Vec::new();
        let mut fail = |column: &str, reason: String| {
            bad.push(BadLine {
                line,
                column: Some(column.to_owned()),
                reason,
            });
        };
        let course = match (get("course_key"), &args.course) {
            (Some(raw), given) => match CourseKey::parse(raw) {
                Ok(c) => {
                    if given.as_ref().is_some_and(|g| *g != c) {
                        parsed.other_course += 1;
                        continue;
                    }
                    Some(c)
                }
                Err(e) => {
                    fail("course_key", e.to_string());
                    None
                }
            },
            (None, Some(given)) => Some(given.clone()),
            (None, None) => {
                fail("course_key", "empty".into());
                None
            }
        };
        let user = match get("user_id").map(UserId::parse) {
            Some(Ok(u)) => Some(u),
            Some(Err(e)) => {
                fail("user_id", e.to_string());
                None
            }
            None => {
                fail("user_id", "empty".into());
                None
            }
        };
        let email = match get("email").map(Email::parse) {
            Some(Ok(e)) => Some(e),
            Some(Err(e)) => {
                fail("email", e.to_string());
                None
            }
            None => {
                fail("email", "empty".into());
                None
            }
        };
        let (first, last) = (get("first_name"), get("last_name"));
        let name = if let Some(full) = get("full_name") {
            PersonName::parse(full).map_err(|e| ("full_name", e.to_string()))
        } else {
            let joined = [first, last]
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            PersonName::parse(&joined).map_err(|_| {
                (
                    "full_name",
                    "empty (and no first_name or last_name)".to_owned(),
                )
            })
        };
        let name = match name {
            Ok(n) => Some(n),
            Err((column, why)) => {
                fail(column, why);
                None
            }
        };
        let mode = match get("mode").map(CourseMode::parse) {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                fail("mode", e.to_string());
                None
            }
            None => Some(args.mode.clone()),
        };
        let grade = match get("grade").map(parse_grade) {
            Some(Ok(g)) => Some(Some(g)),
            Some(Err(e)) => {
                fail("grade", e);
                None
            }
            None => Some(None),
        };
        let language = match get("language").map(LanguageTag::parse) {
            Some(Ok(l)) => Some(Some(l)),
            Some(Err(e)) => {
                fail("language", e.to_string());
                None
            }
            None => Some(None),
        };
        let (
            Some(course),
            Some(user),
            Some(email),
            Some(name),
            Some(mode),
            Some(grade),
            Some(language),
        ) = (course, user, email, name, mode, grade, language)
        else {
            parsed.bad.extend(bad);
            continue;
        };
        if let Some(first_line) = seen.get(&(user, course.clone())) {
            parsed.bad.push(BadLine {
                line,
                column: Some("user_id".into()),
                reason: format!("learner {user} in {course} is already on line {first_line}"),
            });
            continue;
        }
        seen.insert((user, course.clone()), line);
        let request = CreationRequest {
            user_id: Some(user),
            username: get("username").unwrap_or_default().to_owned(),
            email: Some(email.to_string()),
            full_name: Some(name.to_string()),
            first_name: first.map(str::to_owned),
            last_name: last.map(str::to_owned),
            language: language.map(|l| l.to_string()),
            course_key: Some(course.clone()),
            course_title: get("course_title")
                .map(str::to_owned)
                .or_else(|| args.course_title.clone()),
            mode: Some(mode),
            status: DOWNLOADABLE.to_owned(),
            grade,
            passed: Some(true),
            ..CreationRequest::default()
        };
        parsed.learners.push(Learner {
            line,
            user,
            course,
            request,
        });
    }
    Ok(parsed)
}

/// Pass 2: the domain's creation rule on every line, as if the learner had no certificate
/// yet. Returns the lines it refuses.
async fn check(
    service: &CertificateService,
    learners: &[Learner],
) -> Result<Vec<BadLine>, CliError> {
    let mut bindings: HashMap<CourseKey, Option<CourseBinding>> = HashMap::new();
    let mut bad = Vec::new();
    let now = service.now();
    for l in learners {
        if !bindings.contains_key(&l.course) {
            let b = service.bindings().get(&l.course).await?;
            bindings.insert(l.course.clone(), b);
        }
        let binding = bindings.get(&l.course).and_then(Option::as_ref);
        if effective_binding(&l.course, binding, service.settings()).is_none() {
            bad.push(BadLine {
                line: l.line,
                column: Some("course_key".into()),
                reason: format!(
                    "course {} is not linked to a POK template (`courses link` it first)",
                    l.course
                ),
            });
            continue;
        }
        match decide_creation(&l.request, binding, service.settings(), None, now) {
            CreationDecision::Enqueue(_) | CreationDecision::AlreadyRequested(_) => {}
            CreationDecision::NotOurs(why) | CreationDecision::Prevent(why) => bad.push(BadLine {
                line: l.line,
                column: None,
                reason: why,
            }),
        }
    }
    Ok(bad)
}

/// What the back-fill did (or, with --dry-run, would do).
#[derive(Debug, Serialize)]
struct Report {
    file: String,
    dry_run: bool,
    /// Data lines read (the header not counted).
    lines: u64,
    /// Lines of another course than --course, left alone.
    other_course: u64,
    /// Lines left out because they are bad (with --on-bad-line skip).
    bad_lines: Vec<BadLine>,
    /// Certificates recorded (or, dry run, that would be).
    recorded: u64,
    /// Learners who already had a certificate for the course (skipped: this is what makes a
    /// second run resume the first).
    already: u64,
    /// Lines the domain refused when recording (a revoked certificate, say).
    refused: Vec<BadLine>,
    /// Ctrl-C stopped the recording; the rest is recorded by running the command again.
    interrupted: bool,
    /// Seconds spent recording.
    seconds: f64,
    /// With --issue-now: where the certificates stood at the end.
    issuing: Option<Drained>,
}

impl Report {
    fn text(&self) -> String {
        let verb = if self.dry_run {
            "to record"
        } else {
            "recorded"
        };
        let mut s = format!(
            "backfill of {}{}: {} line(s)\n",
            self.file,
            if self.dry_run {
                " (dry run: nothing recorded)"
            } else {
                ""
            },
            self.lines
        );
        let _ = writeln!(s, "  {verb:<17} {}", self.recorded);
        let _ = writeln!(
            s,
            "  {:<17} {} (the learner already has a certificate for the course; skipped)",
            "already recorded", self.already
        );
        if self.other_course > 0 {
            let _ = writeln!(
                s,
                "  {:<17} {} (lines of other courses than --course)",
                "other courses", self.other_course
            );
        }
        if !self.bad_lines.is_empty() {
            let lines: HashSet<u64> = self.bad_lines.iter().map(|b| b.line).collect();
            let _ = writeln!(
                s,
                "  {:<17} {} (listed above)",
                "bad lines skipped",
                lines.len()
            );
        }
        if !self.refused.is_empty() {
            let _ = writeln!(s, "  {:<17} {}:", "refused", self.refused.len());
            for r in &self.refused {
                let _ = writeln!(s, "    {r}");
            }
        }
        if !self.dry_run {
            #[allow(clippy::cast_precision_loss)]
            let rate = (self.recorded + self.already) as f64 / self.seconds.max(0.001);
            let _ = writeln!(s, "  took {:.1}s ({rate:.1} learners/s)", self.seconds);
        }
        if self.interrupted {
            s.push_str("  interrupted: run the same command again to record the rest\n");
        }
        match &self.issuing {
            Some(d) => {
                let _ = writeln!(s, "  issuing: {}", d.describe());
            }
            None if !self.dry_run && self.recorded > 0 => {
                s.push_str("  the service's worker sends them to POK; follow with `certificates list --state requested,failed`\n");
            }
            None => {}
        }
        s
    }
}

/// Runs `certificates backfill`.
pub(crate) async fn run(ctx: &Ctx, args: BackfillArgs) -> Result<(), CliError> {
    let parsed = read(&args)?;
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let mut bad = parsed.bad;
    bad.extend(check(service, &parsed.learners).await?);
    bad.sort_by_key(|b| b.line);
    let file = args.csv.display().to_string();
    if !bad.is_empty() && args.on_bad_line == OnBadLine::Stop {
        let lines: HashSet<u64> = bad.iter().map(|b| b.line).collect();
        let mut msg = format!(
            "{file}: {} bad line(s); nothing was recorded:\n",
            lines.len()
        );
        for b in bad.iter().take(50) {
            let _ = writeln!(msg, "  {b}");
        }
        if bad.len() > 50 {
            let _ = writeln!(msg, "  ... and {} more", bad.len() - 50);
        }
        msg.push_str("Fix them, or run with --on-bad-line skip to leave them out.");
        return Err(CliError::Usage(msg));
    }
    let skipped: HashSet<u64> = bad.iter().map(|b| b.line).collect();
    for b in &bad {
        eprintln!("skipping {b}");
    }
    let learners: Vec<&Learner> = parsed
        .learners
        .iter()
        .filter(|l| !skipped.contains(&l.line))
        .collect();
    let mut report = Report {
        file,
        dry_run: args.dry_run,
        lines: parsed.lines,
        other_course: parsed.other_course,
        bad_lines: bad,
        recorded: 0,
        already: 0,
        refused: Vec::new(),
        interrupted: false,
        seconds: 0.0,
        issuing: None,
    };
    if args.dry_run {
        for l in &learners {
            if service
                .certificates()
                .find_live(l.user, &l.course)
                .await?
                .is_some()
            {
                report.already += 1;
            } else {
                report.recorded += 1;
            }
        }
        return print(ctx, &report);
    }
    let worker = args.drain.issue_now.then(|| Worker::start(ctx, service));
    let recorded = record(ctx, service, &learners, args.rate, &mut report).await;
    let mut ids = HashSet::new();
    let courses: Vec<CourseKey> = {
        let set: BTreeMap<&str, &CourseKey> = learners
            .iter()
            .map(|l| (l.course.as_str(), &l.course))
            .collect();
        set.into_values().cloned().collect()
    };
    let failure = match recorded {
        Ok(got) => {
            ids = got;
            None
        }
        Err(e) => Some(e),
    };
    if let Some(worker) = worker {
        if failure.is_none() && !report.interrupted {
            let waited = drain::wait(service, &ids, &courses, &args.drain).await;
            worker.stop().await;
            let mut drained = waited?;
            drained.states = drain::tally(service, &ids, &courses).await?;
            report.issuing = Some(drained);
        } else {
            worker.stop().await;
        }
    }
    print(ctx, &report)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if report.interrupted {
        return Err(CliError::failed(
            "interrupted: run the same command again to record the rest",
        ));
    }
    if !report.refused.is_empty() {
        return Err(CliError::failed(format!(
            "{} learner(s) were not recorded (see above)",
            report.refused.len()
        )));
    }
    match report.issuing {
        Some(d) => d.into_result(),
        None => Ok(()),
    }
}

fn print(ctx: &Ctx, report: &Report) -> Result<(), CliError> {
    match ctx.format() {
        Format::Table => output::text(&report.text()),
        Format::Json => output::json(report),
        Format::Csv => output::outcome(Format::Csv, "", report),
    }
}

/// Pass 3: records each learner at the rate asked for, until done, Ctrl-C, or a storage
/// failure (reported with the line it stopped at; a new run resumes).
async fn record(
    ctx: &Ctx,
    service: &CertificateService,
    learners: &[&Learner],
    rate: Rate,
    report: &mut Report,
) -> Result<HashSet<CertificateId>, CliError> {
    let mut ids = HashSet::new();
    let mut progress = Progress::new("recording", learners.len() as u64);
    let interval = rate.0.map(|r| Duration::from_secs_f64(1.0 / r));
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    for (i, l) in learners.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let due = interval.map_or(start, |iv| start + iv.mul_f64(i as f64));
        tokio::select! {
            biased;
            _ = &mut ctrl_c => {
                report.interrupted = true;
                break;
            }
            () = tokio::time::sleep_until(due) => {}
        }
        match service
            .request_certificate(&l.request, ctx.actor.clone())
            .await
        {
            Ok(CreationAnswer::Enqueued(id)) => {
                report.recorded += 1;
                ids.insert(id);
            }
            Ok(CreationAnswer::AlreadyRequested(id)) => {
                report.already += 1;
                ids.insert(id);
            }
            Ok(CreationAnswer::NotOurs(why) | CreationAnswer::Prevent(why)) => {
                progress.println(&format!("not recorded: line {}: {why}", l.line));
                report.refused.push(BadLine {
                    line: l.line,
                    column: None,
                    reason: why,
                });
            }
            Err(e) => {
                report.seconds = started.elapsed().as_secs_f64();
                progress.finish("stopped");
                return Err(match e {
                    Error::Invalid { .. } => CliError::Domain(e),
                    other => CliError::failed(format!(
                        "stopped at line {} ({other}); {} recorded so far: run the same command again to continue",
                        l.line, report.recorded
                    )),
                });
            }
        }
        progress.inc(&format!(
            "new {}, already {}",
            report.recorded, report.already
        ));
    }
    report.seconds = started.elapsed().as_secs_f64();
    progress.finish(if report.interrupted {
        "interrupted"
    } else {
        "done"
    });
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_per_second_or_per_minute() {
        assert_eq!(parse_rate("5/s").unwrap(), Rate(Some(5.0)));
        assert_eq!(parse_rate("120/min").unwrap(), Rate(Some(2.0)));
        assert_eq!(parse_rate("3").unwrap(), Rate(Some(3.0)));
        assert_eq!(parse_rate("0").unwrap(), Rate(None));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1/s").is_err());
    }
}

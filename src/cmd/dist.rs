//! What an installed snapplan says about itself outside `--help`: one man
//! page per subcommand and the bash, zsh and fish completions, generated
//! from the command line definition so they cannot drift from the options.
//!
//! Lives in cmd/ because it renders the command line (clap stays here).
//! One generator for every way of installing: the hidden commands
//! `snapplan man DIR` and `snapplan completions SHELL` (for `cargo install`
//! users) and `cargo xtask deb` / `cargo xtask dist` all call these
//! functions. The sections clap does not know about (EXIT STATUS,
//! ENVIRONMENT, FILES, SEE ALSO) come from the tables below; the exit
//! codes from [`crate::ExitCode`] itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{Roff, bold, italic, roman};

use super::Cli;
use crate::ExitCode;

/// The shells completions are generated for, with the file name each
/// shell's completion loader looks for (the Debian package installs them
/// under these names).
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "snapplan.bash"),
    (Shell::Zsh, "_snapplan"),
    (Shell::Fish, "snapplan.fish"),
];

/// Every environment variable snapplan reads, with what it does. A test
/// greps the sources for `env::var` so that a new one cannot be left out.
pub const ENVIRONMENT: [(&str, &str); 9] = [
    (
        "SNAPPLAN_MOUNTS_DIR",
        "Where snapplan mount keeps its records and unmount, check and apply read them (default /run/snapplan/mounts). For tests; it must be root's alone like the state directory.",
    ),
    (
        "SNAPPLAN_LOG",
        "Log filter in tracing's EnvFilter syntax (e.g. debug, or snapplan=trace); when set and valid it replaces the level chosen with -v.",
    ),
    (
        "SNAPPLAN_TOOL_PATH",
        "Directories (colon-separated) searched for lvm, dmsetup, udevadm, iscsiadm and the thin-provisioning tools, instead of $PATH plus /usr/sbin, /sbin and /usr/local/sbin. For tests and unusual installations.",
    ),
    (
        "SNAPPLAN_WATCHDOG_INTERVAL_MS",
        "How often apply polls a snapshot's copy-on-write usage while copying it, in milliseconds (default 5000).",
    ),
    (
        "SNAPPLAN_THIN_POOL_THRESHOLD",
        "The thin-pool fill level (data or metadata, percent, 1 to 99; default 90) at which apply abandons a thin volume's copy and removes its snapshot to protect the live volumes, and check fails the pool.",
    ),
    (
        "PATH",
        "Searched for the system tools, followed by /usr/sbin, /sbin and /usr/local/sbin (cron's short PATH lacks them).",
    ),
    (
        "NO_COLOR",
        "When set, --color auto leaves diagnostics uncoloured.",
    ),
    (
        "JOURNAL_STREAM",
        "Set by systemd when stderr is the journal; when it names snapplan's own stderr, text log lines start with their syslog priority (<3> for errors) and carry no timestamp, so journalctl -p err finds failures.",
    ),
    (
        "SOURCE_DATE_EPOCH",
        "Only for snapplan man: the date printed on the pages (Unix time), for reproducible builds; today otherwise.",
    ),
];

/// What hooks find in their environment (set by snapplan, not read).
pub const HOOK_ENVIRONMENT: [(&str, &str); 3] = [
    ("SNAPPLAN_PLAN", "the plan's name"),
    ("SNAPPLAN_RUN_ID", "the run's id, as in its run record"),
    ("SNAPPLAN_PHASE", "suspend or resume"),
];

/// The files an installed snapplan reads and writes.
pub const FILES: [(&str, &str); 10] = [
    (
        "/etc/snapplan/PLAN.yaml",
        "A plan, one file per backup job, named after its name: key; snapplan@PLAN.service runs this file.",
    ),
    (
        "/etc/snapplan/hooks.d/",
        "The usual hooks directory (the plan's hooks.dir): every executable file in it is a hook.",
    ),
    (
        "/var/lib/snapplan/",
        "The default state_dir: PLAN.lock, and under PLAN/ the journal of a running run (journal.jsonl), the run records (runs/) and the copy manifests (manifests/). Mode 0700, owned by root.",
    ),
    (
        "/run/snapplan/targets/",
        "The locks of shared backup targets, host-wide (vg-VG.lock, iscsi-IQN.lock, and who holds each in LOCK.users/PID): several plans may back up into one target at once, and only the last of their runs to finish deactivates, exports or logs out. Mode 0700, owned by root.",
    ),
    (
        "/run/snapplan/mounts/",
        "The records of snapplan mount, one per mount point: what it imported, activated and mounted, which unmount undoes and check and apply refuse to run over. Mode 0700, files 0600, owned by root.",
    ),
    (
        "/usr/share/snapplan/plan.schema.json",
        "The JSON Schema of a plan, for editors (snapplan schema prints the same).",
    ),
    (
        "/usr/share/snapplan/prometheus/snapplan.rules.yml",
        "Prometheus alert rules for the metrics apply --metrics writes.",
    ),
    (
        "/usr/lib/systemd/system/snapplan@.service",
        "One run of /etc/snapplan/INSTANCE.yaml; snapplan@.timer starts it weekly, snapplan-failure@.service reports a failed run.",
    ),
    (
        "/var/lib/prometheus/node-exporter/snapplan-PLAN.prom",
        "Where the systemd unit has apply write its metrics, for node_exporter's textfile collector.",
    ),
    (
        "/usr/share/doc/snapplan/examples/",
        "Example hooks (hooks.d/) and how hooks are called.",
    ),
];

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "snapplan", out);
}

/// Writes `completions/` (one file per shell of [`SHELLS`]) and `man/`
/// (every page) under `out`, dating the pages `date`; returns every file
/// written.
pub fn generate(out: &Path, date: &str) -> std::io::Result<Vec<PathBuf>> {
    let dir = out.join("completions");
    std::fs::create_dir_all(&dir)?;
    let mut written = Vec::new();
    for (shell, file) in SHELLS {
        let path = dir.join(file);
        let mut buf = Vec::new();
        completions(shell, &mut buf);
        std::fs::write(&path, buf)?;
        written.push(path);
    }
    written.extend(man_pages(&out.join("man"), date)?);
    Ok(written)
}

/// `snapplan.1` plus one page per visible subcommand, named as man(1)
/// expects for git-style commands (`man snapplan-check`), into `dir`.
pub fn man_pages(dir: &Path, date: &str) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    // Built once so that subcommands carry their full names
    // (`snapplan check`) and the global options (--color, ...).
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let subcommands: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    let names: Vec<String> = std::iter::once("snapplan".to_string())
        .chain(
            subcommands
                .iter()
                .map(|s| format!("snapplan-{}", s.get_name())),
        )
        .collect();
    // Subcommands carry no version of their own: name the release on every page.
    let source = format!("snapplan {}", cli.get_version().unwrap_or_default());
    let mut written = Vec::new();
    for (page, name) in std::iter::once(cli.clone()).chain(subcommands).zip(&names) {
        let man = clap_mangen::Man::new(page)
            .title(name.to_uppercase())
            .date(date)
            .source(source.as_str())
            .manual("snapplan manual");
        let mut text = Vec::new();
        man.render(&mut text)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let see_also: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| n != name)
            .collect();
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, tidy(&with_admin_sections(&text, &see_also)))?;
        written.push(path);
    }
    Ok(written)
}

/// Inserts EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO where man-pages(7)
/// puts them: after the description and options, before VERSION.
fn with_admin_sections(page: &str, see_also: &[&str]) -> String {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for code in ExitCode::ALL {
        roff.control("TP", [])
            .text([bold(code.code().to_string())])
            .text([roman(code.meaning())]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(meaning)]);
    }
    let hooks: Vec<String> = HOOK_ENVIRONMENT
        .iter()
        .map(|(name, meaning)| format!("{name} ({meaning})"))
        .collect();
    roff.control("PP", []).text([roman(format!(
        "Hooks are run with {} set.",
        hooks.join(", ")
    ))]);
    roff.control("SH", ["FILES"]);
    for (path, meaning) in FILES {
        roff.control("TP", [])
            .text([italic(path)])
            .text([roman(meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<roff::Inline> = Vec::new();
    for (i, name) in see_also.iter().enumerate() {
        refs.push(bold(*name));
        refs.push(roman(if i + 1 == see_also.len() {
            "(1), lvm(8), systemd.timer(5)"
        } else {
            "(1), "
        }));
    }
    roff.text(refs);
    let sections = roff.to_roff();
    match page.find("\n.SH VERSION") {
        Some(at) => format!("{}\n{}{}", &page[..at], sections, &page[at + 1..]),
        None => format!("{page}{sections}"),
    }
}

/// What `mandoc -Tlint` asks of a page and clap_mangen does not do: no
/// `.br` around a paragraph break, no trailing blanks, text lines of at
/// most 80 bytes (broken at spaces, which fill mode joins again). Tag
/// lines of `.TP` and no-fill blocks are left as they are: a break there
/// would show.
fn tidy(page: &str) -> String {
    let page = page
        .replace("\n.br\n\n.br\n", "\n.sp\n")
        .replace("\n\n.br\n", "\n.sp\n");
    let mut out = String::with_capacity(page.len());
    let mut fill = true;
    let mut tag_next = false;
    for line in page.lines() {
        let line = line.trim_end();
        let is_control = line.starts_with('.') || line.starts_with('\'');
        if is_control {
            match line.split_whitespace().next() {
                Some(".nf") => fill = false,
                Some(".fi") => fill = true,
                _ => {}
            }
            tag_next = line == ".TP";
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if !fill || tag_next || line.len() <= 80 {
            out.push_str(line);
            out.push('\n');
        } else {
            wrap(line, &mut out);
        }
        tag_next = false;
    }
    out
}

/// Breaks a text line at spaces into lines of at most 80 bytes where the
/// words allow; a break never lands before a `.` or `'` (a control line).
fn wrap(line: &str, out: &mut String) {
    let mut current = String::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let starts_control = word.starts_with('.') || word.starts_with('\'');
        if !current.is_empty() && current.len() + 1 + word.len() > 80 && !starts_control {
            out.push_str(&current);
            out.push('\n');
            current.clear();
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push_str(&current);
    out.push('\n');
}

/// The date on the pages: `SOURCE_DATE_EPOCH` when set (reproducible
/// builds), today (UTC) otherwise, as YYYY-MM-DD.
pub fn page_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    date_of(seconds)
}

/// Unix time `seconds` as the YYYY-MM-DD (UTC) a man page is dated with.
pub fn date_of(seconds: i64) -> String {
    let (y, m, d) = crate::state::time::civil_from_days(seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn visible_subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn generates_completions_and_a_dated_man_page_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(dir.path(), "2026-12-02").unwrap();
        let subcommands = visible_subcommands();
        assert!(subcommands.contains(&"check".to_string()));
        assert!(!subcommands.contains(&"man".to_string()), "man is hidden");
        assert_eq!(written.len(), SHELLS.len() + 1 + subcommands.len());

        for (_, file) in SHELLS {
            let text = read(&dir.path().join("completions").join(file));
            for sub in &subcommands {
                assert!(text.contains(sub.as_str()), "{file} lacks {sub}");
            }
        }
        let main = read(&dir.path().join("man/snapplan.1"));
        assert!(main.starts_with(".ie"), "not roff: {main:.80}");
        assert!(
            main.contains("\n.TH SNAPPLAN 1 2026-12-02 \"snapplan "),
            "{main:.300}"
        );
        for sub in &subcommands {
            let page = read(&dir.path().join(format!("man/snapplan-{sub}.1")));
            assert!(
                page.contains(&format!(".TH SNAPPLAN-{} 1 2026-12-02", sub.to_uppercase())),
                "{sub}: {page:.300}"
            );
            assert!(
                page.contains("\\-\\-color"),
                "{sub} lacks the global options"
            );
        }
    }

    #[test]
    fn every_page_has_exit_status_environment_and_files_before_version() {
        let dir = tempfile::tempdir().unwrap();
        for path in man_pages(dir.path(), "2026-01-01").unwrap() {
            let page = read(&path);
            let at = |section: &str| {
                page.find(&format!("\n.SH {section}\n"))
                    .unwrap_or_else(|| panic!("{} lacks {section}", path.display()))
            };
            assert!(at("DESCRIPTION") < at("\"EXIT STATUS\""));
            assert!(at("\"EXIT STATUS\"") < at("ENVIRONMENT"));
            assert!(at("ENVIRONMENT") < at("FILES"));
            assert!(at("FILES") < at("\"SEE ALSO\""));
            // Only the main page has a VERSION (subcommands carry none).
            if let Some(version) = page.find("\n.SH VERSION\n") {
                assert!(at("\"SEE ALSO\"") < version);
            }
            for code in ExitCode::ALL {
                assert!(
                    page.contains(&format!(".TP\n\\fB{}\\fR\n", code.code())),
                    "{} lacks exit code {code}",
                    path.display()
                );
            }
            for (name, _) in ENVIRONMENT {
                assert!(page.contains(&format!("\\fB{name}\\fR")), "{name}");
            }
        }
    }

    #[test]
    fn pages_are_dated_in_utc() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_796_169_599), "2026-12-01");
        assert_eq!(date_of(1_796_169_600), "2026-12-02");
        assert_eq!(page_date().len(), 10);
    }

    #[test]
    fn bash_completion_is_valid_shell() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), "2026-01-01").unwrap();
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(dir.path().join("completions/snapplan.bash"))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

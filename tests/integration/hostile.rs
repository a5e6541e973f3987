//! Hostile plans: files written to trick the YAML reader, the reviewer or
//! LVM (tests/hostile_plans/, plus huge ones generated here rather than
//! committed). Each is refused with a located diagnostic, or, for the few
//! tricks that are legal YAML and a valid plan, shown for what it means;
//! either way snapshotted. And none may cost more than a plan should.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::repo_root;

/// Most CPU time (user + system) `snapplan validate` may use on any plan.
/// The guard is against super-linear blow-ups (the plan that once took
/// 60 s), which cost orders of magnitude; the biggest plan here takes
/// ~100 ms of a debug build on an idle machine and up to 150 ms on a
/// loaded one, so the bound leaves room for the load, not for a blow-up.
const MAX_CPU_MICROS: i64 = 400_000;
/// Most memory (peak resident set) it may use.
const MAX_RSS_KIB: i64 = 64 * 1024;
/// Most it may print about one plan.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

fn corpus() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("tests/hostile_plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

/// Whether `text` holds a character that would act on a terminal.
fn unsafe_char(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| c != '\n' && snapplan::printable::is_unsafe(c))
}

#[test]
fn hostile_plans_are_refused_or_mean_what_they_say() {
    let files = corpus();
    assert!(files.len() >= 60, "only {} hostile plans", files.len());
    for file in &files {
        let relative = format!("tests/hostile_plans/{file}");
        let shown = match snapplan::plan::load(Path::new(&relative)) {
            Ok(plan) => format!(
                "accepted, meaning:\n{}",
                serde_json::to_string_pretty(&plan).unwrap()
            ),
            Err(e) => {
                let rendered = snapplan::plan::diagnostic::render_plain(&e);
                assert!(
                    rendered.contains(&format!("[{relative}:")),
                    "{relative}: diagnostic names no line:column:\n{rendered}"
                );
                rendered
            }
        };
        // Whatever the file holds, what is printed cannot act on a terminal.
        if let Some(c) = unsafe_char(&shown) {
            panic!("{relative}: output holds {c:?}:\n{shown}");
        }
        let stem = file.trim_end_matches(".yaml");
        insta::with_settings!({
            snapshot_suffix => stem,
            description => format!("snapplan validate {relative}"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!("hostile_plan", shown);
        });
    }
}

/// Plans too big to commit: each at most the 1 MiB a plan may be (one just
/// over it), each made to be slow or verbose to validate.
fn generated(dir: &Path) -> Vec<PathBuf> {
    const HEAD: &str = "version: 1\nname: home\ntarget:\n  vg: backup\nvolumes:\n";
    let million = "x".repeat(1_000_000);
    let plans: Vec<(&str, String)> = vec![
        (
            "name-1m",
            format!(
                "version: 1\nname: {million}\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n"
            ),
        ),
        (
            "after-1m",
            format!("{HEAD}  - lv: vg0/root\n    after: [{million}]\n"),
        ),
        (
            "key-1m",
            format!("{HEAD}  - lv: vg0/root\n    {million}: 1\n"),
        ),
        ("lv-1m", format!("{HEAD}  - lv: vg0/{million}\n")),
        (
            "state-dir-1m",
            format!(
                "version: 1\nname: home\nstate_dir: /{million}\ntarget:\n  vg: backup\nvolumes:\n  - lv: vg0/root\n"
            ),
        ),
        (
            "comment-line-1m",
            format!("{HEAD}  - lv: vg0/root # {million}\n    after: [nope]\n"),
        ),
        ("unknown-after-names-900k", {
            // The plan that took 60 s: many volumes, many unknown names.
            let mut text = String::from(HEAD);
            for i in 0..2000 {
                text.push_str(&format!("  - lv: vg0/volume_number_{i}\n"));
            }
            text.push_str("  - lv: vg1/last\n    after: [");
            let mut i = 0;
            while text.len() < 900_000 {
                text.push_str(&format!("volume_numbr_{i}, "));
                i += 1;
            }
            text.push_str("x]\n");
            text
        }),
        ("twenty-thousand-volumes", {
            let mut text = String::from(HEAD);
            for i in 0..20_000 {
                text.push_str(&format!("  - {{lv: vg0/v{i}, after: [v{}]}}\n", i + 1));
            }
            text
        }),
        ("thousands-of-bad-names", {
            let mut text = String::from(HEAD);
            for i in 0..2000 {
                text.push_str(&format!("  - lv: vg0/snapshot_{i}_rimage\n"));
            }
            text
        }),
        ("escapes-everywhere", {
            let mut text = String::from(HEAD);
            for i in 0..1000 {
                text.push_str(&format!(
                    "  - lv: vg0/r{i}\n    after: [\"\\e[2J{i}\\n\"]\n"
                ));
            }
            text
        }),
        (
            "over-the-size-limit",
            format!("{HEAD}# {million}{million}\n"),
        ),
    ];
    plans
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// `snapplan validate PLAN` as a child, measured by the kernel: CPU time
/// (user + system, microseconds), peak RSS (KiB), and what it printed.
fn measure(plan: &Path) -> (i64, i64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    // Reaped by wait4 below, which returns its resource usage as well.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(assert_cmd::cargo::cargo_bin("snapplan"))
        .arg("validate")
        .arg(plan)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which `child` never waits for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && matches!(libc::WEXITSTATUS(status), 0 | 2),
        "{}: snapplan validate ended with status {status:#x}",
        plan.display()
    );
    let micros = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let cpu = micros(usage.ru_utime) + micros(usage.ru_stime);
    let printed = std::fs::metadata(&out_path).unwrap().len() as usize;
    (cpu, usage.ru_maxrss, printed)
}

/// Set to a plan's path, [`rusage_probe`] measures validating it.
const PROBE_ENV: &str = "SNAPPLAN_TEST_PROBE_PLAN";

/// Not a test of its own: run as a fresh process by
/// [`validating_any_hostile_plan_is_cheap`]. Linux counts the memory of
/// the process a child was forked from in the child's peak RSS, and this
/// test binary is large once its tests run; a freshly started copy of it
/// is small, so its children are measured truly.
#[test]
fn rusage_probe() {
    if let Some(plan) = std::env::var_os(PROBE_ENV) {
        let (cpu, rss, printed) = measure(Path::new(&plan));
        println!("PROBE {cpu} {rss} {printed}");
    }
}

/// [`measure`], from a fresh copy of this test binary.
fn probe(plan: &Path) -> (i64, i64, usize) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "hostile::rusage_probe",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, plan)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| Some(l.split_once("PROBE ")?.1))
        .unwrap_or_else(|| panic!("probe printed nothing: {stdout}"));
    let fields: Vec<i64> = line
        .split_whitespace()
        .take(3)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0], fields[1], fields[2] as usize)
}

#[test]
fn validating_any_hostile_plan_is_cheap() {
    let generated_dir = tempfile::tempdir().unwrap();
    let mut plans: Vec<PathBuf> = corpus()
        .iter()
        .map(|f| repo_root().join("tests/hostile_plans").join(f))
        .collect();
    plans.extend(generated(generated_dir.path()));
    let mut costly = Vec::new();
    for plan in &plans {
        let (cpu, rss, printed) = probe(plan);
        if cpu > MAX_CPU_MICROS || rss > MAX_RSS_KIB || printed > MAX_OUTPUT_BYTES {
            costly.push(format!(
                "{}: {} ms CPU, {} MiB peak RSS, {printed} bytes printed",
                plan.file_name().unwrap().to_string_lossy(),
                cpu / 1000,
                rss / 1024
            ));
        }
    }
    assert!(
        costly.is_empty(),
        "validate must stay under {} ms CPU, {} MiB and {MAX_OUTPUT_BYTES} bytes of output:\n{}",
        MAX_CPU_MICROS / 1000,
        MAX_RSS_KIB / 1024,
        costly.join("\n")
    );
}

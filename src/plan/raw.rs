//! The plan as written: typed, every value still carrying where it came
//! from. Built from the YAML tree by [`from_tree`], which reports every
//! unknown or duplicate key, wrong type and missing key at once. These types
//! are also what `snapplan schema` describes, so their doc comments are the
//! descriptions editors show.

use std::borrow::Cow;
use std::collections::BTreeMap;

use miette::SourceSpan;
use schemars::{JsonSchema, SchemaGenerator};

use super::diagnostic::{Problem, did_you_mean, shown};
use super::tree::{Node, Value};
use super::units::{DURATION_PATTERN, RATE_PATTERN, SIZE_PATTERN};

/// What editors say instead of a raw regular expression when a value does
/// not match its pattern (`patternErrorMessage`, read by
/// yaml-language-server and VS Code).
const SIZE_MESSAGE: &str = "a size like 2GiB or 20% (B, KiB, MiB, GiB, TiB; a percentage of the origin LV above 0 and at most 100%)";
const RATE_MESSAGE: &str = "a rate like 60MiB/s, or unlimited";
const DURATION_MESSAGE: &str =
    "a whole number of seconds, minutes or hours like 30s, 5m or 1h, from 1s to 24h";
const PLAN_NAME_MESSAGE: &str = "a plan name: lower-case letters, digits, _ and -, starting with a letter or digit, at most 64 characters";
const LVM_NAME_MESSAGE: &str =
    "an LVM name: letters, digits and + _ . -, not starting with -, at most 127 characters";
const LV_MESSAGE: &str = "the origin LV as vg/lv, e.g. vg0/root (letters, digits and + _ . -)";
const ABSOLUTE_MESSAGE: &str = "an absolute path, starting with /";
/// An LVM name (VG, LV, volume): as `names::check_vg`, less `.` and `..`
/// (excluded by `not` in the schema).
const LVM_NAME_PATTERN: &str = r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$";
/// Longest path Linux accepts (PATH_MAX, with its NUL).
const MAX_PATH: u32 = 4095;

/// A value and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: SourceSpan,
}

/// The schema of a located value is the schema of the value.
impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A snapplan plan: which logical volumes to back up, in which order, with
/// which snapshot sizes, throttle, hooks and backup target.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(title = "snapplan plan", deny_unknown_fields)]
pub struct RawPlan {
    /// Version of the plan language. Only 1 exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: Sp<u64>,
    /// Names the run, its lock, its state and its LVM tags: lower-case
    /// letters, digits, `_` and `-`, starting with a letter or digit, at most
    /// 64 characters.
    #[schemars(
        regex(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"),
        length(min = 1, max = 64),
        extend("patternErrorMessage" = PLAN_NAME_MESSAGE)
    )]
    pub name: Sp<String>,
    /// Absolute directory for the journal, run history and manifests.
    /// Default: /var/lib/snapplan.
    #[schemars(
        regex(pattern = r"^/"),
        length(max = MAX_PATH),
        extend("default" = "/var/lib/snapplan", "patternErrorMessage" = ABSOLUTE_MESSAGE)
    )]
    pub state_dir: Option<Sp<String>>,
    /// Values every volume gets unless it sets its own.
    pub defaults: Option<RawDefaults>,
    /// Scripts run around the snapshots, e.g. to flush and freeze a database.
    pub hooks: Option<RawHooks>,
    /// Where the backups go.
    pub target: RawTarget,
    /// Only with `target.pool`: how many generations of
    /// each volume to keep.
    pub retention: Option<RawRetention>,
    /// The volumes to back up. Snapshots are taken in this order, inside one
    /// suspend window: put the fastest-changing volume first.
    #[schemars(length(min = 1))]
    pub volumes: Sp<Vec<RawVolume>>,
    /// What could not be read (and is already reported): checks that
    /// depend on it are skipped rather than report follow-up noise.
    #[schemars(skip)]
    pub incomplete: Incomplete,
}

/// Parts of the plan that were missing or malformed. Placeholders stand in
/// for them so that every other check still runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Incomplete {
    /// `version` or `name` (placeholders are valid values).
    pub header: bool,
    /// `target` or `target.vg`.
    pub target: bool,
    /// `volumes`, or one of its entries (which is left out).
    pub volumes: bool,
}

impl Incomplete {
    pub fn any(self) -> bool {
        self.header || self.target || self.volumes
    }
}

/// Defaults for every volume.
#[derive(Debug, Clone, Default, PartialEq, JsonSchema)]
#[schemars(rename = "Defaults", deny_unknown_fields)]
pub struct RawDefaults {
    /// Copy-on-write space for each snapshot: a binary size such as `2GiB`
    /// (B, K/KiB, M/MiB, G/GiB, T/TiB, case-insensitive) or a percentage of
    /// the origin LV such as `20%`. Default: 20%.
    #[schemars(
        regex(pattern = SIZE_PATTERN),
        extend("default" = "20%", "patternErrorMessage" = SIZE_MESSAGE)
    )]
    pub snapshot_size: Option<Sp<String>>,
    /// How far the watchdog may grow a classic snapshot (`lvextend`) while
    /// the run is in progress, so that it does not overflow: a size such as
    /// `8GiB` or a percentage of the origin such as `30%`, at least
    /// `snapshot_size`. Default: no growth.
    #[schemars(
        regex(pattern = SIZE_PATTERN),
        extend("patternErrorMessage" = SIZE_MESSAGE)
    )]
    pub snapshot_size_max: Option<Sp<String>>,
    /// Copy speed limit per volume: a size per second such as `60MiB/s`, or
    /// `unlimited`. Default: unlimited.
    #[schemars(
        regex(pattern = RATE_PATTERN),
        extend("default" = "unlimited", "patternErrorMessage" = RATE_MESSAGE)
    )]
    pub bandwidth: Option<Sp<String>>,
    /// Read the backup back and compare checksums after each copy.
    /// Default: true.
    #[schemars(extend("default" = true))]
    pub verify: Option<Sp<bool>>,
    /// Thin origins: keep the snapshot of a good copy as the base the next
    /// copy reads only the changes since (it holds the pool blocks the
    /// origin rewrites until the next good run). Default: true.
    #[schemars(extend("default" = true))]
    pub retain_base: Option<Sp<bool>>,
}

/// Hook scripts.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "Hooks", deny_unknown_fields)]
pub struct RawHooks {
    /// Absolute directory of hook scripts. Every executable file in it is
    /// run with `suspend` in name order before the snapshots, and with
    /// `resume` in reverse order after them.
    #[schemars(
        regex(pattern = r"^/"),
        length(max = MAX_PATH),
        extend("patternErrorMessage" = ABSOLUTE_MESSAGE)
    )]
    pub dir: Sp<String>,
    /// How long one hook may run before it is killed and the run rolled
    /// back: a whole number of seconds, minutes or hours (`30s`, `5m`, `1h`),
    /// at most 24h. Default: 60s.
    #[schemars(
        regex(pattern = DURATION_PATTERN),
        extend("default" = "60s", "patternErrorMessage" = DURATION_MESSAGE)
    )]
    pub timeout: Option<Sp<String>>,
}

/// The backup target.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "Target", deny_unknown_fields)]
pub struct RawTarget {
    /// Volume group that holds the backup LVs. The backup of `vg0/root` is
    /// `<vg>/root` unless the volume sets `target_lv`.
    #[schemars(
        regex(pattern = LVM_NAME_PATTERN),
        length(min = 1, max = 127),
        extend("not" = {"enum": [".", ".."]}, "patternErrorMessage" = LVM_NAME_MESSAGE)
    )]
    pub vg: Sp<String>,
    /// Log in to this iSCSI target before the backup and out after it.
    pub iscsi: Option<RawIscsi>,
    /// Deactivate and `vgexport` the backup VG when done, so that its disk
    /// can be unplugged. Default: false.
    #[schemars(extend("default" = false))]
    pub export: Option<Sp<bool>>,
    /// Keep the previous backup recoverable while a volume is copied: a
    /// copy-on-write snapshot of the backup LV, merged back when the copy
    /// or its verify fails or the run dies, removed once the new copy is
    /// verified. Needs free space in the target VG (the backup LV's size);
    /// `false` overwrites the backup in place. Default: true.
    #[schemars(extend("default" = true))]
    pub keep_previous: Option<Sp<bool>>,
    /// A thin pool in `target.vg` (the admin creates it; `snapplan check`
    /// says how) that holds every volume's generations: each run adds one
    /// thin LV per volume, `<target_lv>.<YYYYMMDDTHHMMSSZ>`, sharing the
    /// blocks that did not change, and retention removes old ones.
    pub pool: Option<Sp<String>>,
    /// Only with `target.pool`: the pool's data or metadata use, in
    /// percent, at which a run stops writing a volume (its new generation
    /// is removed, the older ones stay). Default: 95.
    #[schemars(range(min = 1, max = 99), extend("default" = 95))]
    pub pool_threshold: Option<Sp<u64>>,
}

/// How many complete generations of each volume to keep (only with
/// `target.pool`). The newest complete one is always kept.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "Retention", deny_unknown_fields)]
pub struct RawRetention {
    /// The newest complete generations kept, at least 1. Default: 7.
    #[schemars(range(min = 1), extend("default" = 7))]
    pub keep_last: Option<Sp<u64>>,
    /// Also keep the newest complete generation of each of this many days.
    #[schemars(range(min = 0))]
    pub keep_daily: Option<Sp<u64>>,
    /// Also keep the newest complete generation of each of this many weeks.
    #[schemars(range(min = 0))]
    pub keep_weekly: Option<Sp<u64>>,
    /// Also keep the newest complete generation of each of this many months.
    #[schemars(range(min = 0))]
    pub keep_monthly: Option<Sp<u64>>,
    /// Where `retention:` is written.
    #[schemars(skip)]
    pub at: SourceSpan,
}

/// An iSCSI target.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "Iscsi", deny_unknown_fields)]
pub struct RawIscsi {
    /// `host` or `host:port` (port defaults to 3260); an IPv6 address is
    /// written in brackets, e.g. `[2001:db8::1]:3260`.
    #[schemars(length(min = 1, max = 261))]
    pub portal: Sp<String>,
    /// The target's name: `iqn.YYYY-MM.reversed.domain[:name]`, or an
    /// `eui.` or `naa.` name.
    #[schemars(regex(
        pattern = r"^(iqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9][a-z0-9.-]*(:.+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16}([0-9A-Fa-f]{16})?)$"
    ), length(max = 223), extend("patternErrorMessage" = "an iSCSI name like iqn.2026-01.org.example:backup, or an eui. or naa. name"))]
    pub iqn: Sp<String>,
}

/// One logical volume to back up.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(rename = "Volume", deny_unknown_fields)]
pub struct RawVolume {
    /// The origin LV as `vg/lv`.
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}/[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"),
        length(max = 255),
        extend("patternErrorMessage" = LV_MESSAGE)
    )]
    pub lv: Sp<String>,
    /// Unique name of this volume in the plan, used by `after:` and in
    /// reports: letters, digits and `+ _ . -`, at most 127 characters.
    /// Default: the LV name.
    #[schemars(
        regex(pattern = LVM_NAME_PATTERN),
        length(min = 1, max = 127),
        extend("not" = {"enum": [".", ".."]}, "patternErrorMessage" = LVM_NAME_MESSAGE)
    )]
    pub name: Option<Sp<String>>,
    /// Copy-on-write space for this volume's snapshot (overrides
    /// `defaults.snapshot_size`): `8GiB` or `20%`.
    #[schemars(
        regex(pattern = SIZE_PATTERN),
        extend("patternErrorMessage" = SIZE_MESSAGE)
    )]
    pub snapshot_size: Option<Sp<String>>,
    /// How far this volume's snapshot may grow while the run is in progress
    /// (overrides `defaults.snapshot_size_max`): `16GiB` or `30%`.
    #[schemars(
        regex(pattern = SIZE_PATTERN),
        extend("patternErrorMessage" = SIZE_MESSAGE)
    )]
    pub snapshot_size_max: Option<Sp<String>>,
    /// Copy speed limit for this volume (overrides `defaults.bandwidth`):
    /// `60MiB/s` or `unlimited`.
    #[schemars(
        regex(pattern = RATE_PATTERN),
        extend("patternErrorMessage" = RATE_MESSAGE)
    )]
    pub bandwidth: Option<Sp<String>>,
    /// Verify this volume's backup (overrides `defaults.verify`).
    pub verify: Option<Sp<bool>>,
    /// Keep a thin origin's base for incremental copies (overrides
    /// `defaults.retain_base`).
    pub retain_base: Option<Sp<bool>>,
    /// Name of the backup LV inside `target.vg`. Default: the LV name.
    #[schemars(
        regex(pattern = LVM_NAME_PATTERN),
        length(min = 1, max = 127),
        extend("not" = {"enum": [".", ".."]}, "patternErrorMessage" = LVM_NAME_MESSAGE)
    )]
    pub target_lv: Option<Sp<String>>,
    /// Volumes (by name) whose copy must finish before this one's starts;
    /// each at most once.
    #[schemars(
        inner(regex(pattern = LVM_NAME_PATTERN), length(min = 1, max = 127)),
        extend("uniqueItems" = true)
    )]
    pub after: Option<Vec<Sp<String>>>,
    /// Where this volume's entry starts (for problems about the whole entry).
    #[schemars(skip)]
    pub at: SourceSpan,
}

/// The keys each mapping accepts, for unknown-key reports and for the test
/// that keeps them equal to the schema.
pub const PLAN_KEYS: &[&str] = &[
    "version",
    "name",
    "state_dir",
    "defaults",
    "hooks",
    "target",
    "retention",
    "volumes",
];
pub const DEFAULTS_KEYS: &[&str] = &[
    "snapshot_size",
    "snapshot_size_max",
    "bandwidth",
    "verify",
    "retain_base",
];
pub const HOOKS_KEYS: &[&str] = &["dir", "timeout"];
pub const TARGET_KEYS: &[&str] = &[
    "vg",
    "iscsi",
    "export",
    "keep_previous",
    "pool",
    "pool_threshold",
];
pub const RETENTION_KEYS: &[&str] = &["keep_last", "keep_daily", "keep_weekly", "keep_monthly"];
pub const ISCSI_KEYS: &[&str] = &["portal", "iqn"];
pub const VOLUME_KEYS: &[&str] = &[
    "lv",
    "name",
    "snapshot_size",
    "snapshot_size_max",
    "bandwidth",
    "verify",
    "retain_base",
    "target_lv",
    "after",
];

/// Where a key belongs when it is written at the wrong level.
fn belongs_under(key: &str) -> Option<&'static str> {
    Some(match key {
        "snapshot_size" | "snapshot_size_max" | "bandwidth" | "verify" | "retain_base" => {
            "`defaults:` or a volume"
        }
        "dir" | "timeout" => "`hooks:`",
        "vg" | "iscsi" | "export" | "keep_previous" | "pool" | "pool_threshold" => "`target:`",
        "keep_last" | "keep_daily" | "keep_weekly" | "keep_monthly" => "`retention:`",
        "portal" | "iqn" => "`target.iscsi:`",
        "lv" | "target_lv" | "after" => "a volume in `volumes:`",
        "version" | "name" | "state_dir" | "defaults" | "hooks" | "target" | "retention"
        | "volumes" => "the top level of the plan",
        _ => return None,
    })
}

/// Collects problems while the tree is read.
#[derive(Default)]
pub(crate) struct Reader {
    pub(crate) problems: Vec<Problem>,
}

/// The entries of one YAML mapping, by key, after unknown and duplicate
/// keys have been reported.
struct Fields<'a> {
    /// What the mapping is, for messages: "the plan", "`target`", "volume 2".
    what: String,
    /// Where to point when a key is missing.
    owner: SourceSpan,
    entries: BTreeMap<&'a str, (&'a Node, &'a Node)>,
}

impl Reader {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn type_error(&mut self, node: &Node, key: &str, expected: &str, help: &str) {
        let found = node.value.kind();
        // Keys are quoted; descriptions such as "volume 2" are not.
        let subject = if key.contains(' ') {
            key.to_string()
        } else {
            format!("`{key}`")
        };
        let mut problem = Problem::new(
            "plan::wrong_type",
            format!("{subject} must be {expected}, not {found}"),
            node.span,
        )
        .label(format!("this is {found}"));
        if !help.is_empty() {
            problem = problem.help(help.to_string());
        } else if node.value == Value::Null {
            problem = problem.help(format!(
                "`{key}:` has nothing after it: give it a value, indent its keys under it, or remove the line"
            ));
        }
        self.push(problem);
    }

    /// Reads a mapping: reports non-string, duplicate and unknown keys.
    fn fields<'a>(
        &mut self,
        node: &'a Node,
        key: &str,
        what: String,
        owner: SourceSpan,
        known: &[&'static str],
    ) -> Option<Fields<'a>> {
        let Value::Map(entries) = &node.value else {
            self.type_error(node, key, "a mapping", "");
            return None;
        };
        let mut fields = Fields {
            what,
            owner,
            entries: BTreeMap::new(),
        };
        for (k, v) in entries {
            let Value::Str(name) = &k.value else {
                self.push(
                    Problem::new(
                        "plan::bad_key",
                        format!(
                            "keys in {} must be names, not {}",
                            fields.what,
                            k.value.kind()
                        ),
                        k.span,
                    )
                    .label("not a name")
                    .help(format!("the keys here are: {}", known.join(", "))),
                );
                continue;
            };
            if let Some((first, _)) = fields.entries.get(name.as_str()) {
                self.push(
                    Problem::new(
                        "plan::duplicate_key",
                        format!("`{}` is set twice in {}", shown(name), fields.what),
                        k.span,
                    )
                    .label("set again here")
                    .also(first.span, "first set here")
                    .help("remove one of them: snapplan never guesses which one you meant"),
                );
                continue;
            }
            if !known.contains(&name.as_str()) {
                let help = if let Some(close) = did_you_mean(name, known.iter().copied()) {
                    format!("did you mean `{close}`?")
                } else if let Some(place) = belongs_under(name) {
                    format!("`{name}` belongs under {place}")
                } else {
                    format!("the keys here are: {}", known.join(", "))
                };
                self.push(
                    Problem::new(
                        "plan::unknown_key",
                        format!("unknown key `{}` in {}", shown(name), fields.what),
                        k.span,
                    )
                    .label("not a key snapplan knows here")
                    .help(help),
                );
                continue;
            }
            fields.entries.insert(name, (k, v));
        }
        Some(fields)
    }

    fn missing(&mut self, fields: &Fields<'_>, key: &str, help: &str) {
        self.push(
            Problem::new(
                "plan::missing_key",
                format!("{} lacks the required key `{key}`", fields.what),
                fields.owner,
            )
            .label(format!("`{key}` is missing here"))
            .help(help.to_string()),
        );
    }

    fn string(&mut self, key: &str, node: &Node) -> Option<Sp<String>> {
        match &node.value {
            Value::Str(s) => Some(Sp {
                value: s.clone(),
                span: node.span,
            }),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.type_error(
                    node,
                    key,
                    "a string",
                    "put it in quotes if it is meant as text",
                );
                None
            }
            _ => {
                self.type_error(node, key, "a string", "");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, node: &Node) -> Option<Sp<bool>> {
        match &node.value {
            Value::Bool(b) => Some(Sp {
                value: *b,
                span: node.span,
            }),
            _ => {
                self.type_error(
                    node,
                    key,
                    "true or false",
                    "write true or false (yes/no/on/off are not booleans in YAML 1.2)",
                );
                None
            }
        }
    }

    /// A whole number, zero or more.
    fn count(&mut self, key: &str, node: &Node) -> Option<Sp<u64>> {
        match &node.value {
            Value::Int(v) if *v >= 0 && *v <= i128::from(u64::MAX) => Some(Sp {
                value: *v as u64,
                span: node.span,
            }),
            _ => {
                self.type_error(node, key, "a whole number, zero or more", "");
                None
            }
        }
    }

    fn unit_string(&mut self, key: &str, node: &Node, example: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Int(_) | Value::Float(_) => {
                self.type_error(
                    node,
                    key,
                    "a value with a unit",
                    &format!("add a unit, e.g. {example}"),
                );
                None
            }
            _ => self.string(key, node),
        }
    }
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.get(key).map(|(_, v)| *v)
    }
    fn key_span(&self, key: &str) -> Option<SourceSpan> {
        self.entries.get(key).map(|(k, _)| k.span)
    }
}

/// Reads the tree into a [`RawPlan`], reporting every structural problem to
/// `reader`. `None` only when the document is not a mapping at all; missing
/// or malformed parts are replaced by placeholders and marked in
/// [`RawPlan::incomplete`], so that the meaning checks still run on the rest.
pub(crate) fn from_tree(reader: &mut Reader, root: &Node) -> Option<RawPlan> {
    if root.value == Value::Null {
        reader.push(
            Problem::new("plan::empty", "the plan is empty", root.span)
                .label("nothing here")
                .help("a plan needs at least `version: 1`, `name`, `target` and `volumes`; see plans/minimal.yaml"),
        );
        return None;
    }
    let fields = reader.fields(
        root,
        "the plan",
        "the plan".into(),
        SourceSpan::new(root.span.offset().into(), 0),
        PLAN_KEYS,
    )?;
    let version = match fields.get("version") {
        None => {
            reader.missing(
                &fields,
                "version",
                "add `version: 1` at the top of the plan",
            );
            None
        }
        Some(node) => match &node.value {
            Value::Int(v) if *v >= 0 && *v <= i128::from(u64::MAX) => Some(Sp {
                value: *v as u64,
                span: node.span,
            }),
            _ => {
                reader.push(
                    Problem::new(
                        "plan::bad_version",
                        "`version` must be the whole number 1",
                        node.span,
                    )
                    .label(format!("this is {}", node.value.kind()))
                    .help("the supported plan versions are: 1"),
                );
                None
            }
        },
    };
    let name = match fields.get("name") {
        None => {
            reader.missing(
                &fields,
                "name",
                "add e.g. `name: home-server`; it names the run, its lock and its state",
            );
            None
        }
        Some(node) => reader.string("name", node),
    };
    let state_dir = fields
        .get("state_dir")
        .and_then(|n| reader.string("state_dir", n));
    let defaults = fields.get("defaults").and_then(|node| {
        let owner = fields.key_span("defaults").unwrap_or(node.span);
        let f = reader.fields(node, "defaults", "`defaults`".into(), owner, DEFAULTS_KEYS)?;
        Some(RawDefaults {
            snapshot_size: f
                .get("snapshot_size")
                .and_then(|n| reader.unit_string("snapshot_size", n, "2GiB")),
            snapshot_size_max: f
                .get("snapshot_size_max")
                .and_then(|n| reader.unit_string("snapshot_size_max", n, "8GiB")),
            bandwidth: f
                .get("bandwidth")
                .and_then(|n| reader.unit_string("bandwidth", n, "60MiB/s")),
            verify: f.get("verify").and_then(|n| reader.boolean("verify", n)),
            retain_base: f
                .get("retain_base")
                .and_then(|n| reader.boolean("retain_base", n)),
        })
    });
    let hooks = fields.get("hooks").and_then(|node| {
        let owner = fields.key_span("hooks").unwrap_or(node.span);
        let f = reader.fields(node, "hooks", "`hooks`".into(), owner, HOOKS_KEYS)?;
        let timeout = f
            .get("timeout")
            .and_then(|n| reader.unit_string("timeout", n, "60s"));
        let dir = match f.get("dir") {
            None => {
                reader.missing(
                    &f,
                    "dir",
                    "add e.g. `dir: /etc/snapplan/hooks.d`, or remove `hooks:`",
                );
                None
            }
            Some(n) => reader.string("dir", n),
        };
        Some(RawHooks { dir: dir?, timeout })
    });
    let target = match fields.get("target") {
        None => {
            reader.missing(
                &fields,
                "target",
                "add `target:` with at least `vg:`, the volume group that holds the backups",
            );
            None
        }
        Some(node) => {
            let owner = fields.key_span("target").unwrap_or(node.span);
            read_target(reader, node, owner)
        }
    };
    let retention = fields.get("retention").and_then(|node| {
        let at = fields.key_span("retention").unwrap_or(node.span);
        let f = reader.fields(node, "retention", "`retention`".into(), at, RETENTION_KEYS)?;
        let mut count = |key: &str| f.get(key).and_then(|n| reader.count(key, n));
        Some(RawRetention {
            keep_last: count("keep_last"),
            keep_daily: count("keep_daily"),
            keep_weekly: count("keep_weekly"),
            keep_monthly: count("keep_monthly"),
            at,
        })
    });
    let volumes = match fields.get("volumes") {
        None => {
            reader.missing(
                &fields,
                "volumes",
                "add `volumes:` with a list of `- lv: vg/lv` entries",
            );
            None
        }
        Some(node) => read_volumes(reader, node),
    };
    let start = SourceSpan::new(root.span.offset().into(), 0);
    let placeholder = |value: &str| Sp {
        value: value.to_string(),
        span: start,
    };
    let mut incomplete = Incomplete {
        header: version.is_none() || name.is_none(),
        target: target.is_none(),
        volumes: false,
    };
    let volumes = match volumes {
        Some((volumes, complete)) => {
            incomplete.volumes = !complete;
            volumes
        }
        None => {
            incomplete.volumes = true;
            Sp {
                value: Vec::new(),
                span: start,
            }
        }
    };
    Some(RawPlan {
        version: version.unwrap_or(Sp {
            value: 1,
            span: start,
        }),
        name: name.unwrap_or_else(|| placeholder("plan")),
        state_dir,
        defaults,
        hooks,
        target: target.unwrap_or_else(|| RawTarget {
            vg: placeholder("backup"),
            iscsi: None,
            export: None,
            keep_previous: None,
            pool: None,
            pool_threshold: None,
        }),
        retention,
        volumes,
        incomplete,
    })
}

fn read_target(reader: &mut Reader, node: &Node, owner: SourceSpan) -> Option<RawTarget> {
    let f = reader.fields(node, "target", "`target`".into(), owner, TARGET_KEYS)?;
    let export = f.get("export").and_then(|n| reader.boolean("export", n));
    let keep_previous = f
        .get("keep_previous")
        .and_then(|n| reader.boolean("keep_previous", n));
    let pool = f.get("pool").and_then(|n| reader.string("pool", n));
    let pool_threshold = f
        .get("pool_threshold")
        .and_then(|n| reader.count("pool_threshold", n));
    let iscsi = f.get("iscsi").map(|node| {
        let owner = f.key_span("iscsi").unwrap_or(node.span);
        let i = reader.fields(node, "iscsi", "`target.iscsi`".into(), owner, ISCSI_KEYS)?;
        let portal = match i.get("portal") {
            None => {
                reader.missing(&i, "portal", "add e.g. `portal: 192.0.2.10:3260`");
                None
            }
            Some(n) => reader.string("portal", n),
        };
        let iqn = match i.get("iqn") {
            None => {
                reader.missing(&i, "iqn", "add e.g. `iqn: iqn.2026-01.org.example:backup`");
                None
            }
            Some(n) => reader.string("iqn", n),
        };
        Some(RawIscsi {
            portal: portal?,
            iqn: iqn?,
        })
    });
    let vg = match f.get("vg") {
        None => {
            reader.missing(
                &f,
                "vg",
                "add e.g. `vg: backup`, the volume group that holds the backup LVs",
            );
            None
        }
        Some(n) => reader.string("vg", n),
    };
    Some(RawTarget {
        vg: vg?,
        // An incomplete `iscsi` is already reported; leave it out.
        iscsi: iscsi.flatten(),
        export,
        keep_previous,
        pool,
        pool_threshold,
    })
}

/// The volumes that could be read, and whether that is all of them.
fn read_volumes(reader: &mut Reader, node: &Node) -> Option<(Sp<Vec<RawVolume>>, bool)> {
    let Value::Seq(items) = &node.value else {
        reader.type_error(
            node,
            "volumes",
            "a list",
            "write each volume as a list item: `- lv: vg0/root`",
        );
        return None;
    };
    let mut volumes = Vec::with_capacity(items.len());
    let mut complete = true;
    for (index, item) in items.iter().enumerate() {
        match read_volume(reader, item, index) {
            Some(v) => volumes.push(v),
            None => complete = false,
        }
    }
    let volumes = Sp {
        value: volumes,
        span: node.span,
    };
    Some((volumes, complete))
}

fn read_volume(reader: &mut Reader, node: &Node, index: usize) -> Option<RawVolume> {
    let what = format!("volume {}", index + 1);
    if let Value::Str(s) = &node.value {
        reader.push(
            Problem::new(
                "plan::wrong_type",
                format!("{what} must be a mapping with `lv:`"),
                node.span,
            )
            .label("this is a string")
            .help(format!("write `- lv: {s}`")),
        );
        return None;
    }
    let owner = SourceSpan::new(node.span.offset().into(), 0);
    let f = reader.fields(node, &what, what.clone(), owner, VOLUME_KEYS)?;
    let after = f.get("after").and_then(|n| match &n.value {
        Value::Seq(items) => {
            let names: Vec<_> = items
                .iter()
                .filter_map(|i| reader.string("after", i))
                .collect();
            (names.len() == items.len()).then_some(names)
        }
        _ => {
            reader.type_error(
                n,
                "after",
                "a list of volume names",
                "write e.g. `after: [root]`",
            );
            None
        }
    });
    let lv = match f.get("lv") {
        None => {
            reader.missing(&f, "lv", "add the origin LV, e.g. `lv: vg0/root`");
            None
        }
        Some(n) => reader.string("lv", n),
    };
    Some(RawVolume {
        lv: lv?,
        name: f.get("name").and_then(|n| reader.string("name", n)),
        snapshot_size: f
            .get("snapshot_size")
            .and_then(|n| reader.unit_string("snapshot_size", n, "8GiB")),
        snapshot_size_max: f
            .get("snapshot_size_max")
            .and_then(|n| reader.unit_string("snapshot_size_max", n, "30%")),
        bandwidth: f
            .get("bandwidth")
            .and_then(|n| reader.unit_string("bandwidth", n, "60MiB/s")),
        verify: f.get("verify").and_then(|n| reader.boolean("verify", n)),
        retain_base: f
            .get("retain_base")
            .and_then(|n| reader.boolean("retain_base", n)),
        target_lv: f
            .get("target_lv")
            .and_then(|n| reader.string("target_lv", n)),
        after,
        at: owner,
    })
}

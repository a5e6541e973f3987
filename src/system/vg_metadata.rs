//! The thin LVs of an exported VG, from its text metadata (`vgcfgbackup
//! -f FILE VG`, which lvm2 allows on an exported VG). `lvs` hides an
//! exported VG's LVs and `pvs --segments` shows only LVs with segments on
//! a PV, which thin LVs (generations) do not have: without this, a pool
//! target that apply exports would list no generation until imported.
//!
//! Only what readers need is taken: each visible LV's name, size, tags,
//! segment type, thin pool and origin. The text is bounded by the caller
//! and parsed without recursion limits being an issue: sections nest a
//! few levels deep by format, and a deeper file is refused.

/// Why the metadata text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse the metadata of VG {vg} (vgcfgbackup): {why} (line {line})")]
pub struct MetadataError {
    pub vg: String,
    pub why: String,
    pub line: usize,
}

/// One visible LV of the VG, as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataLv {
    pub name: String,
    pub size_bytes: u64,
    pub tags: Vec<String>,
    /// The first segment's type: `thin`, `thin-pool`, `striped`, ...
    pub segtype: String,
    pub thin_pool: String,
    pub origin: String,
}

/// The most metadata text read: lvm2's metadata area is 1 MiB by default.
pub const MAX_BYTES: u64 = 16 << 20;

/// Reads the file `vgcfgbackup` wrote, at most [`MAX_BYTES`] of it.
pub fn read_bounded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "more than {MAX_BYTES} bytes of metadata: not read"
        )));
    }
    Ok(text)
}

/// As the LVM report would show it for an inactive LV of VG `vg`.
pub fn to_lv(vg: &str, found: MetadataLv) -> super::Lv {
    let lv_attr = match found.segtype.as_str() {
        "thin" => "Vwi-------",
        "thin-pool" => "twi-------",
        _ => "-wi-------",
    };
    super::Lv {
        lv_name: found.name,
        vg_name: vg.to_string(),
        lv_size: found.size_bytes,
        lv_attr: lv_attr.into(),
        segtype: found.segtype,
        origin: found.origin,
        pool_lv: found.thin_pool,
        lv_tags: found.tags,
        data_percent: None,
        snap_percent: None,
        metadata_percent: None,
        lv_snapshot_invalid: String::new(),
        lv_active: String::new(),
        lv_device_open: String::new(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(i64),
    List(Vec<Value>),
}

#[derive(Debug, Default)]
struct Section {
    name: String,
    values: Vec<(String, Value)>,
    children: Vec<Section>,
}

impl Section {
    fn child(&self, name: &str) -> Option<&Section> {
        self.children.iter().find(|c| c.name == name)
    }
    fn value(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn text(&self, key: &str) -> String {
        match self.value(key) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        }
    }
    fn number(&self, key: &str) -> Option<i64> {
        match self.value(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }
    fn texts(&self, key: &str) -> Vec<String> {
        match self.value(key) {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Sections nest VG > logical_volumes > LV > segment: more is not LVM's.
const MAX_DEPTH: usize = 8;

/// The visible LVs of `vg` in `text` (the output of `vgcfgbackup`).
pub fn parse(vg: &str, text: &str) -> Result<Vec<MetadataLv>, MetadataError> {
    let root = Parser::new(vg, text).document()?;
    let err = |why: &str| MetadataError {
        vg: vg.to_string(),
        why: why.to_string(),
        line: 0,
    };
    let group = root.child(vg).ok_or_else(|| err("no section for the VG"))?;
    let extent_sectors = group
        .number("extent_size")
        .filter(|n| *n > 0)
        .ok_or_else(|| err("no extent_size"))?;
    let Some(lvs) = group.child("logical_volumes") else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for lv in &lvs.children {
        if !lv.texts("status").iter().any(|s| s == "VISIBLE") {
            continue; // _tdata, _tmeta, pmspare: the pool's own parts
        }
        let segments: Vec<&Section> = lv
            .children
            .iter()
            .filter(|c| c.name.starts_with("segment"))
            .collect();
        let extents: i64 = segments
            .iter()
            .filter_map(|s| s.number("extent_count"))
            .sum();
        let first = segments.first();
        found.push(MetadataLv {
            name: lv.name.clone(),
            size_bytes: (extents.max(0) as u64)
                .saturating_mul(extent_sectors as u64)
                .saturating_mul(512),
            tags: lv.texts("tags"),
            segtype: first.map(|s| s.text("type")).unwrap_or_default(),
            thin_pool: first.map(|s| s.text("thin_pool")).unwrap_or_default(),
            origin: first.map(|s| s.text("origin")).unwrap_or_default(),
        });
    }
    Ok(found)
}

struct Parser<'a> {
    vg: &'a str,
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> Parser<'a> {
    fn new(vg: &'a str, text: &'a str) -> Self {
        Parser {
            vg,
            chars: text.chars().peekable(),
            line: 1,
        }
    }

    fn fail<T>(&self, why: impl Into<String>) -> Result<T, MetadataError> {
        Err(MetadataError {
            vg: self.vg.to_string(),
            why: why.into(),
            line: self.line,
        })
    }

    /// Skips blanks and `#` comments.
    fn skip(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c == '\n' {
                self.line += 1;
                self.chars.next();
            } else if c.is_whitespace() {
                self.chars.next();
            } else if c == '#' {
                while self.chars.peek().is_some_and(|&c| c != '\n') {
                    self.chars.next();
                }
            } else {
                break;
            }
        }
    }

    fn document(&mut self) -> Result<Section, MetadataError> {
        let mut root = Section::default();
        self.body(&mut root, 0)?;
        if self.chars.peek().is_some() {
            return self.fail("a `}` closes no section");
        }
        Ok(root)
    }

    /// Entries until `}` (left unread) or the end.
    fn body(&mut self, section: &mut Section, depth: usize) -> Result<(), MetadataError> {
        loop {
            self.skip();
            match self.chars.peek() {
                None | Some('}') => return Ok(()),
                Some(_) => {}
            }
            let name = self.word()?;
            self.skip();
            match self.chars.next() {
                Some('=') => {
                    self.skip();
                    let value = self.value()?;
                    section.values.push((name, value));
                }
                Some('{') => {
                    if depth >= MAX_DEPTH {
                        return self.fail("sections nested too deep");
                    }
                    let mut child = Section {
                        name,
                        ..Section::default()
                    };
                    self.body(&mut child, depth + 1)?;
                    if self.chars.next() != Some('}') {
                        return self.fail(format!("section {} is not closed", child.name));
                    }
                    section.children.push(child);
                }
                _ => return self.fail(format!("expected `=` or `{{` after {name}")),
            }
        }
    }

    /// A key or section name: LV names may hold `.`, `-`, `+` and `_`.
    fn word(&mut self) -> Result<String, MetadataError> {
        let mut word = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                word.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        if word.is_empty() {
            return self.fail("expected a name");
        }
        Ok(word)
    }

    fn value(&mut self) -> Result<Value, MetadataError> {
        match self.chars.peek() {
            Some('"') => self.string().map(Value::Text),
            Some('[') => {
                self.chars.next();
                let mut items = Vec::new();
                loop {
                    self.skip();
                    match self.chars.peek() {
                        Some(']') => {
                            self.chars.next();
                            return Ok(Value::List(items));
                        }
                        Some(',') => {
                            self.chars.next();
                        }
                        None => return self.fail("a list is not closed"),
                        Some(_) => items.push(self.value()?),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let mut digits = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_ascii_digit() || c == '-' || c == '.' {
                        digits.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                match digits.parse::<i64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    // A fraction: kept as text, nothing here reads one.
                    Err(_) => Ok(Value::Text(digits)),
                }
            }
            _ => self.fail("expected a value"),
        }
    }

    fn string(&mut self) -> Result<String, MetadataError> {
        self.chars.next();
        let mut out = String::new();
        loop {
            match self.chars.next() {
                None => return self.fail("a string is not closed"),
                Some('"') => return Ok(out),
                Some('\\') => match self.chars.next() {
                    Some(c) => out.push(c),
                    None => return self.fail("a string is not closed"),
                },
                Some('\n') => {
                    self.line += 1;
                    out.push('\n');
                }
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `vgcfgbackup -f F backup` wrote for an exported VG with a pool
    /// and two generations (lvm2 2.03, trimmed of ids).
    const BACKUP: &str = r#"# Generated by LVM2 version 2.03.16(2) (2022-05-18): Thu Dec  3 15:30:06 2026

contents = "Text Format Volume Group"
version = 1

description = "vgcfgbackup -f /run/x backup"

creation_host = "vm"	# Linux vm 6.1.0
creation_time = 1796316606	# Thu Dec  3 15:30:06 2026

backup {
	id = "abc"
	seqno = 12
	format = "lvm2"			# informational
	status = ["EXPORTED", "RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = 8192		# 4 Megabytes
	max_lv = 0
	max_pv = 0
	metadata_copies = 0

	physical_volumes {

		pv0 {
			id = "def"
			device = "/dev/ram1"	# Hint only
			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 131072	# 64 Megabytes
			pe_start = 2048
			pe_count = 15	# 60 Megabytes
		}
	}

	logical_volumes {

		gens {
			id = "g"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			creation_time = 1796316580	# 2026-12-03 15:29:40 +0000
			creation_host = "vm"
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 10	# 40 Megabytes
				type = "thin-pool"
				metadata = "gens_tmeta"
				pool = "gens_tdata"
				transaction_id = 2
				chunk_size = 128	# 64 Kilobytes
				discards = "passdown"
				zero_new_blocks = 1
			}
		}

		data.20261203T152942Z {
			id = "a"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			tags = ["snapplan", "snapplan-plan:mountgen", "snapplan-role:generation", "snapplan-state:complete"]
			creation_time = 1796316582
			creation_host = "vm"
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 6	# 24 Megabytes
				type = "thin"
				thin_pool = "gens"
				transaction_id = 0
				device_id = 1
			}
		}

		data.20261203T152955Z {
			id = "b"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			tags = ["snapplan", "snapplan-plan:mountgen", "snapplan-role:generation", "snapplan-state:complete", "odd \"quoted\" tag"]
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 6	# 24 Megabytes
				type = "thin"
				thin_pool = "gens"
				transaction_id = 1
				origin = "data.20261203T152942Z"
				device_id = 2
			}
		}

		gens_tmeta {
			id = "m"
			status = ["READ", "WRITE"]
			flags = []
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 10
				]
			}
		}
	}

}
"#;

    #[test]
    fn an_exported_vgs_thin_lvs_come_with_size_tags_pool_and_origin() {
        let lvs = parse("backup", BACKUP).unwrap();
        let names: Vec<&str> = lvs.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["gens", "data.20261203T152942Z", "data.20261203T152955Z"],
            "hidden parts of the pool are left out"
        );
        assert_eq!(lvs[0].segtype, "thin-pool");
        assert_eq!(lvs[0].size_bytes, 40 << 20);
        let newer = &lvs[2];
        assert_eq!(newer.size_bytes, 24 << 20);
        assert_eq!(newer.segtype, "thin");
        assert_eq!(newer.thin_pool, "gens");
        assert_eq!(newer.origin, "data.20261203T152942Z");
        assert_eq!(newer.tags[3], "snapplan-state:complete");
        assert_eq!(newer.tags[4], "odd \"quoted\" tag");
        assert_eq!(lvs[1].origin, "");
    }

    #[test]
    fn broken_metadata_is_an_error_naming_the_line_never_a_panic() {
        for (text, line) in [
            ("backup {\n extent_size = 8192\n", 3),
            ("backup {\n tags = [\"a\"\n}\n", 3),
            ("backup }\n", 1),
            ("backup {\n name = \"open\n}\n", 4),
        ] {
            let e = parse("backup", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
        let deep = "a {".repeat(20) + &"}".repeat(20);
        assert!(parse("a", &deep).unwrap_err().why.contains("too deep"));
        assert!(
            parse("other", BACKUP)
                .unwrap_err()
                .why
                .contains("no section")
        );
    }
}

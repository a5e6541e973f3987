//! `thin_delta`'s XML, read like hostile input: bounded in size, every
//! element that matters checked, anything else a typed error (the caller
//! then reads the whole volume). What it prints:
//!
//! ```text
//! <superblock uuid="" time="2" transaction="4" data_block_size="128" nr_data_blocks="768">
//!   <diff left="1" right="3">
//!     <same begin="0" length="48"/>
//!     <different begin="48" length="32"/>
//!     <right_only begin="80" length="16"/>
//!   </diff>
//! </superblock>
//! ```
//!
//! Ranges are in the pool's data blocks of `data_block_size` 512-byte
//! sectors. `same` ranges share their blocks (identical content); blocks in
//! no range are unmapped in both (zeros in both); the rest may differ. The
//! delta of a device against itself is therefore its mapped blocks, all
//! `same`: what a first copy of a thin snapshot needs to read.

/// More output than this is refused: a delta of a 16 TiB volume in 64 KiB
/// blocks, every other block changed, is ~4 GiB of XML; far below that a
/// full read is the cheaper answer anyway.
pub const MAX_DELTA_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThinDeltaError {
    #[error("thin_delta printed {0} bytes, more than the {MAX_DELTA_BYTES} snapplan reads")]
    TooLarge(usize),
    #[error("cannot read thin_delta's output: {0}")]
    Malformed(String),
}

/// What changed between the two devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinDelta {
    /// The pool's block size in 512-byte sectors, when the output says.
    pub data_block_sectors: Option<u64>,
    /// `(begin, length)` in blocks: `different`, `left_only` and
    /// `right_only` ranges, in the order printed.
    pub changed: Vec<(u64, u64)>,
    /// `(begin, length)` in blocks: the `same` ranges, in the order printed.
    pub same: Vec<(u64, u64)>,
    /// The changed ranges the right (new) device has blocks in: `different`
    /// and `right_only`, not `left_only` (unmapped, so zeros, in the new).
    pub right_changed: Vec<(u64, u64)>,
}

impl ThinDelta {
    /// Blocks in `same` ranges (for the log: what was not read).
    pub fn same_blocks(&self) -> u64 {
        self.same
            .iter()
            .fold(0u64, |sum, (_, length)| sum.saturating_add(*length))
    }

    /// Every block the right (new) device maps: `same`, `different` and
    /// `right_only` ranges.
    pub fn mapped(&self) -> Vec<(u64, u64)> {
        self.same
            .iter()
            .chain(&self.right_changed)
            .copied()
            .collect()
    }
}

pub fn parse(xml: &[u8]) -> Result<ThinDelta, ThinDeltaError> {
    if xml.len() > MAX_DELTA_BYTES {
        return Err(ThinDeltaError::TooLarge(xml.len()));
    }
    let text = std::str::from_utf8(xml)
        .map_err(|e| ThinDeltaError::Malformed(format!("not UTF-8: {e}")))?;
    let bad = |why: String| ThinDeltaError::Malformed(why);
    let mut delta = ThinDelta {
        data_block_sectors: None,
        changed: Vec::new(),
        same: Vec::new(),
        right_changed: Vec::new(),
    };
    let mut saw_diff = false;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after
            .find('>')
            .ok_or_else(|| bad("an element is not closed".into()))?;
        let inner = after[..end].trim().trim_end_matches('/').trim();
        rest = &after[end + 1..];
        if inner.starts_with('/') || inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        let (name, attrs) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
        let attrs = attributes(attrs).map_err(|why| bad(format!("<{name}>: {why}")))?;
        let number = |key: &str| -> Result<u64, ThinDeltaError> {
            let value = attrs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| bad(format!("<{name}> has no {key}")))?;
            value
                .parse()
                .map_err(|_| bad(format!("<{name}> {key}=\"{value}\" is not a number")))
        };
        match name {
            "superblock" => {
                if attrs.iter().any(|(k, _)| *k == "data_block_size") {
                    let sectors = number("data_block_size")?;
                    if sectors == 0 {
                        return Err(bad("data_block_size is 0".into()));
                    }
                    delta.data_block_sectors = Some(sectors);
                }
            }
            "diff" => saw_diff = true,
            "same" => {
                delta.same.push((number("begin")?, number("length")?));
            }
            "different" | "right_only" => {
                let range = (number("begin")?, number("length")?);
                delta.changed.push(range);
                delta.right_changed.push(range);
            }
            "left_only" => {
                delta.changed.push((number("begin")?, number("length")?));
            }
            other => return Err(bad(format!("unexpected element <{other}>"))),
        }
    }
    if !saw_diff {
        return Err(bad("no <diff> element".into()));
    }
    Ok(delta)
}

/// `key="value"` pairs.
fn attributes(mut text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(out);
        }
        let (key, after) = text
            .split_once('=')
            .ok_or_else(|| format!("attribute without a value near `{}`", cut(text)))?;
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| format!("attribute {} is not quoted", key.trim()))?;
        let (value, tail) = after
            .split_once('"')
            .ok_or_else(|| format!("attribute {} is not closed", key.trim()))?;
        out.push((key.trim(), value));
        text = tail;
    }
}

fn cut(text: &str) -> &str {
    let end = text.char_indices().nth(40).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// `dmsetup status` of a pool's `-tpool` device: whether a metadata
/// snapshot is held. The fields after `thin-pool` are: transaction id,
/// used/total metadata blocks, used/total data blocks, then the held
/// metadata root ("-" when none).
pub fn metadata_snap_held(status: &str) -> Result<bool, ThinDeltaError> {
    let fields: Vec<&str> = status.split_whitespace().collect();
    let at = fields
        .iter()
        .position(|f| *f == "thin-pool")
        .ok_or_else(|| ThinDeltaError::Malformed(format!("not a thin-pool status: {status}")))?;
    let held = fields.get(at + 4).ok_or_else(|| {
        ThinDeltaError::Malformed(format!("thin-pool status too short: {status}"))
    })?;
    Ok(*held != "-")
}

/// A thin LV as the pool knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinDevice {
    pub lv_uuid: String,
    /// Its device id in the pool: what `thin_delta` takes.
    pub thin_id: u64,
    /// The pool's data block size in bytes.
    pub pool_block_bytes: Option<u64>,
}

/// The answer to [`crate::graph::argv::thin_ids`]: for each of `lvs`, its
/// row (UUID and thin id, `None` when it is not in the report), with the
/// block size from the row of `pool`.
pub fn parse_thin_ids(
    json: &[u8],
    lvs: &[&str],
    pool: &str,
) -> Result<Vec<Option<ThinDevice>>, ThinDeltaError> {
    let bad = |why: String| ThinDeltaError::Malformed(format!("lvs thin_id report: {why}"));
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let rows: Vec<&serde_json::Value> = value["report"]
        .as_array()
        .ok_or_else(|| bad("no report".into()))?
        .iter()
        .filter_map(|section| section["lv"].as_array())
        .flatten()
        .collect();
    let field =
        |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or("").trim().to_string();
    let pool_block_bytes = rows
        .iter()
        .find(|row| field(row, "lv_name") == pool)
        .and_then(|row| field(row, "chunk_size").parse::<u64>().ok())
        .filter(|&b| b > 0);
    let mut out = Vec::with_capacity(lvs.len());
    for lv in lvs {
        let Some(row) = rows.iter().find(|row| field(row, "lv_name") == *lv) else {
            out.push(None);
            continue;
        };
        let id = field(row, "thin_id");
        let thin_id = id
            .parse()
            .map_err(|_| bad(format!("thin_id {id:?} of {lv} is not a number")))?;
        let lv_uuid = field(row, "lv_uuid");
        if lv_uuid.is_empty() || lv_uuid.len() > 64 {
            return Err(bad(format!("{lv} has no sensible lv_uuid")));
        }
        out.push(Some(ThinDevice {
            lv_uuid,
            thin_id,
            pool_block_bytes,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEASURED: &str = r#"<superblock uuid="" time="2" transaction="4" data_block_size="128" nr_data_blocks="768">
  <diff left="1" right="2">
    <same begin="0" length="48"/>
    <different begin="48" length="32"/>
    <same begin="80" length="176"/>
    <left_only begin="300" length="2"/>
    <right_only begin="400" length="3"/>
  </diff>
</superblock>
"#;

    #[test]
    fn the_changed_ranges_and_the_block_size_are_read_from_the_output() {
        let delta = parse(MEASURED.as_bytes()).unwrap();
        assert_eq!(delta.data_block_sectors, Some(128));
        assert_eq!(delta.changed, [(48, 32), (300, 2), (400, 3)]);
        assert_eq!(delta.same_blocks(), 224);
        // The new device maps the same blocks, the different and its own,
        // not the ones only the old one had.
        assert_eq!(delta.mapped(), [(0, 48), (80, 176), (48, 32), (400, 3)]);
    }

    #[test]
    fn a_device_against_itself_is_its_mapped_blocks() {
        // thin_delta --snap1 1 --snap2 1 of a device mapping blocks 0-9, 50
        // and 100-108, as thin-provisioning-tools 0.9 prints it.
        let delta = parse(
            br#"<superblock uuid="" time="1" transaction="1" data_block_size="128" nr_data_blocks="1000">
  <diff left="1" right="1">
    <same begin="0" length="10"/>
    <same begin="50" length="1"/>
    <same begin="100" length="9"/>
  </diff>
</superblock>
"#,
        )
        .unwrap();
        assert!(delta.changed.is_empty());
        assert_eq!(delta.mapped(), [(0, 10), (50, 1), (100, 9)]);
        assert_eq!(delta.same_blocks(), 20);
    }

    #[test]
    fn an_empty_diff_is_no_change() {
        let delta = parse(b"<superblock data_block_size=\"128\">\n<diff left=\"1\" right=\"2\">\n</diff>\n</superblock>").unwrap();
        assert!(delta.changed.is_empty());
    }

    #[test]
    fn garbage_and_truncated_output_are_typed_errors_not_guesses() {
        for bad in [
            "",
            "thin_delta: no such device",
            "<superblock data_block_size=\"128\"><diff left=\"1\" right=\"2\"><different begin=\"48\"",
            "<superblock><diff><different begin=\"x\" length=\"2\"/></diff></superblock>",
            "<superblock><diff><different length=\"2\"/></diff></superblock>",
            "<superblock><diff><mapping begin=\"1\" length=\"2\"/></diff></superblock>",
            "<superblock data_block_size=\"0\"><diff></diff></superblock>",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ThinDeltaError::Malformed(_))),
                "{bad:?}"
            );
        }
        let huge = vec![b' '; MAX_DELTA_BYTES + 1];
        assert!(matches!(parse(&huge), Err(ThinDeltaError::TooLarge(_))));
    }

    #[test]
    fn thin_ids_come_from_the_lvs_row_and_the_block_size_from_the_pools() {
        let json = br#"{"report":[{"lv":[
            {"lv_name":"pool","vg_name":"vg0","lv_uuid":"P","thin_id":"","chunk_size":"65536"},
            {"lv_name":"vm1-snapplan","vg_name":"vg0","lv_uuid":"abc-DEF","thin_id":"3","chunk_size":"0"}
        ]}]}"#;
        assert_eq!(
            parse_thin_ids(json, &["vm1-snapplan", "gone"], "pool").unwrap(),
            [
                Some(ThinDevice {
                    lv_uuid: "abc-DEF".into(),
                    thin_id: 3,
                    pool_block_bytes: Some(65536)
                }),
                None
            ]
        );
        assert!(
            parse_thin_ids(json, &["pool"], "pool").is_err(),
            "a pool has no thin id"
        );
        assert!(parse_thin_ids(b"nonsense", &["a"], "b").is_err());
    }

    #[test]
    fn a_held_metadata_snapshot_shows_in_the_pool_status() {
        let none =
            "0 98304 thin-pool 4 17/1024 96/768 - rw discard_passdown queue_if_no_space - 1024";
        let held =
            "0 98304 thin-pool 4 18/1024 96/768 21 rw discard_passdown queue_if_no_space - 1024";
        assert!(!metadata_snap_held(none).unwrap());
        assert!(metadata_snap_held(held).unwrap());
        assert!(metadata_snap_held("0 100 linear 7:0 0").is_err());
    }
}

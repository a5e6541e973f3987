//! Incremental copies of thin origins. A good run keeps the thin snapshot
//! it copied as the origin's base (step `keep-base`); the next run asks the
//! pool which blocks differ between that base and its new snapshot
//! (`thin_delta` on a reserved metadata snapshot, released on every path)
//! and the copy reads only the chunks they touch. The manifest records the
//! base it was read from: whatever does not match (no base, a base
//! recreated, another pool, a manifest not trusted) makes a full read,
//! logged with the reason; that read, like a first copy, reads only the
//! snapshot's mapped blocks (`thin_delta` of the snapshot against itself:
//! its blocks, all `same`), the rest being zeros. Classic origins: nothing
//! here (a classic
//! snapshot's exception table says what changed since the snapshot, not
//! since the last backup).

use crate::copy::{BaseRef, ByteRange, ChangedSince, ranges};
use crate::plan::LvPath;
use crate::system::{System, SystemReport, ThinDelta, ThinDevice};
use crate::tags;

/// What the copy of one snapshot records and may skip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ThinBasis {
    /// The snapshot read: the base of the next copy once kept.
    pub base: Option<BaseRef>,
    /// The changes since the kept base; `None` reads everything...
    pub changed: Option<ChangedSince>,
    /// ...that is mapped, when the pool said (the rest reads as zeros).
    pub mapped: Option<Vec<ByteRange>>,
    /// Why everything is read, when it is (for the log).
    pub full_read: Option<String>,
}

fn base_ref(device: &ThinDevice) -> BaseRef {
    BaseRef {
        lv_uuid: device.lv_uuid.clone(),
        thin_id: device.thin_id,
    }
}

/// The basis of the copy of `snapshot` of plan `plan`: nothing for a
/// classic snapshot; for a thin one its own identity, and the changes
/// since the origin's base when there is one to trust.
pub fn thin_basis(
    sys: &dyn System,
    plan: &str,
    snapshot: &LvPath,
    report: &SystemReport,
) -> ThinBasis {
    let Some(snap) = report.lv(snapshot) else {
        return ThinBasis::default();
    };
    let Some(pool) = snap.thin_pool() else {
        return ThinBasis::default();
    };
    let origin = LvPath {
        vg: snapshot.vg.clone(),
        lv: snap.origin.clone(),
    };
    // The base, when the report has one this copy may be relative to;
    // both thin ids are then read in one lvs call.
    let base_path = tags::base_path(&origin);
    let base = usable_base(plan, &origin, &base_path, &pool, report);
    let mut asked = vec![snapshot.clone()];
    if base.is_ok() {
        asked.push(base_path.clone());
    }
    let devices = match sys.thin_devices(&asked, &pool) {
        Ok(devices) => devices,
        Err(e) => {
            return ThinBasis {
                full_read: Some(format!("cannot read the thin id of {snapshot}: {e}")),
                ..ThinBasis::default()
            };
        }
    };
    let Some(Some(new)) = devices.first() else {
        return ThinBasis {
            full_read: Some(format!("{snapshot} has no thin device id")),
            ..ThinBasis::default()
        };
    };
    let mut basis = ThinBasis {
        base: Some(base_ref(new)),
        ..ThinBasis::default()
    };
    // Unmapped blocks read as zeros only without an external origin.
    let external = external_origin(&origin, &pool, report);
    if let Some(external) = &external {
        tracing::info!(
            "{origin} reads its unmapped blocks from the external origin {external}: they are \
             read too"
        );
    }
    let changed = base.and_then(|()| match devices.get(1) {
        Some(Some(old)) => changes_since_base(sys, &base_path, &pool, old, new),
        _ => Err(format!("{base_path} is gone")),
    });
    match changed {
        Ok((changed, mapped)) => {
            // The mapped blocks too: the copy reads them alone if it turns
            // the changes down (its previous manifest is not trusted).
            basis.changed = Some(changed);
            basis.mapped = external.is_none().then_some(mapped);
        }
        Err(reason) => {
            if external.is_none() {
                match mapped_blocks(sys, snapshot, &pool, new) {
                    Ok(mapped) => basis.mapped = Some(mapped),
                    Err(why) => tracing::info!("reading unmapped blocks too: {why}"),
                }
            }
            basis.full_read = Some(reason);
        }
    }
    basis
}

/// The byte ranges `snapshot` (thin device `device` of `pool`) has blocks
/// for: the delta of the device against itself, on a reserved metadata
/// snapshot released whatever happens.
fn mapped_blocks(
    sys: &dyn System,
    snapshot: &LvPath,
    pool: &LvPath,
    device: &ThinDevice,
) -> Result<Vec<ByteRange>, String> {
    let what = format!("thin_delta of {snapshot} against itself");
    let (delta, block_bytes) = pool_delta(sys, pool, device, device, &what)?;
    let ranges = to_bytes(&delta.mapped(), block_bytes)?;
    tracing::info!(
        "thin_delta {snapshot} against itself: {} mapped range(s), {} bytes mapped",
        ranges.len(),
        ranges.iter().map(|r| r.len).sum::<u64>()
    );
    Ok(ranges)
}

/// `thin_delta` between thin devices `left` and `right` of `pool`, on its
/// reserved metadata snapshot, with the pool's block size in bytes (from
/// the output, else from lvs). `what` names a failing `thin_delta`.
fn pool_delta(
    sys: &dyn System,
    pool: &LvPath,
    left: &ThinDevice,
    right: &ThinDevice,
    what: &str,
) -> Result<(ThinDelta, u64), String> {
    let delta = with_metadata_snap(sys, pool, || {
        sys.thin_delta(pool, left.thin_id, right.thin_id)
    })?
    .map_err(|e| format!("{what}: {e}"))?;
    let block_bytes = delta
        .data_block_sectors
        .map(|s| s * 512)
        .or(right.pool_block_bytes)
        .ok_or_else(|| format!("the block size of pool {pool} is unknown"))?;
    Ok((delta, block_bytes))
}

fn to_bytes(blocks: &[(u64, u64)], block_bytes: u64) -> Result<Vec<ByteRange>, String> {
    ranges::blocks_to_bytes(blocks, block_bytes).map_err(|e| e.to_string())
}

/// Runs `f` with the pool's metadata snapshot reserved, and releases it
/// after, whatever `f` returned (a release that fails is logged with what
/// releases it by hand; `snapplan recover` does too).
fn with_metadata_snap<T>(
    sys: &dyn System,
    pool: &LvPath,
    f: impl FnOnce() -> T,
) -> Result<T, String> {
    sys.metadata_snap(pool, true)
        .map_err(|e| format!("cannot reserve the metadata snapshot of pool {pool}: {e}"))?;
    let out = f();
    if let Err(e) = sys.metadata_snap(pool, false) {
        tracing::error!(
            "cannot release the metadata snapshot of pool {pool}: {e}; `snapplan recover` or \
             `dmsetup message {}-tpool 0 release_metadata_snap` releases it",
            tags::dm_name(&pool.vg, &pool.lv)
        );
    }
    Ok(out)
}

/// The external origin under `origin`'s chain of thin snapshots, if any: a
/// thin LV made from a read-only LV outside its pool (`lvconvert --thin
/// --originname`) reads the blocks it has not written from it, not zeros.
/// Anything the report cannot place (an ancestor missing, a chain too long)
/// counts as external: reading zeros from it would be guessing.
fn external_origin(origin: &LvPath, pool: &LvPath, report: &SystemReport) -> Option<LvPath> {
    let mut at = origin.clone();
    for _ in 0..64 {
        let Some(lv) = report.lv(&at) else {
            return Some(at);
        };
        if !lv.is_thin() || lv.thin_pool().as_ref() != Some(pool) {
            return Some(at);
        }
        if lv.origin.is_empty() {
            return None;
        }
        at = LvPath {
            vg: at.vg.clone(),
            lv: lv.origin.clone(),
        };
    }
    Some(at)
}

/// Whether the report has a base of this plan at `base_path`, in `pool`.
fn usable_base(
    plan: &str,
    origin: &LvPath,
    base_path: &LvPath,
    pool: &LvPath,
    report: &SystemReport,
) -> Result<(), String> {
    let Some(base_lv) = report.lv(base_path) else {
        return Err(format!(
            "{origin} has no base {base_path} (its first copy, or the base was removed)"
        ));
    };
    if !base_lv.is_plans(plan, tags::ROLE_BASE) {
        return Err(format!("{base_path} is not tagged as plan {plan}'s base"));
    }
    if base_lv.thin_pool().as_ref() != Some(pool) {
        return Err(format!("{base_path} is not in pool {pool}"));
    }
    Ok(())
}

/// The changes between base `base` and snapshot `new`, from `thin_delta`
/// on a reserved metadata snapshot that is released whatever happens.
fn changes_since_base(
    sys: &dyn System,
    base_path: &LvPath,
    pool: &LvPath,
    base: &ThinDevice,
    new: &ThinDevice,
) -> Result<(ChangedSince, Vec<ByteRange>), String> {
    let what = format!("thin_delta between {base_path} and the snapshot");
    let (delta, block_bytes) = pool_delta(sys, pool, base, new, &what)?;
    let ranges = to_bytes(&delta.changed, block_bytes)?;
    let mapped = to_bytes(&delta.mapped(), block_bytes)?;
    let changed: u64 = ranges.iter().map(|r| r.len).sum();
    tracing::info!(
        "thin_delta {base_path} -> new snapshot: {} changed range(s), {} bytes changed, {} \
         bytes shared",
        ranges.len(),
        changed,
        delta.same_blocks().saturating_mul(block_bytes)
    );
    Ok((
        ChangedSince {
            base: base_ref(base),
            ranges,
        },
        mapped,
    ))
}

/// After a dead run: a metadata snapshot it reserved on a pool of the
/// plan's thin origins and never released (SIGKILL between the two) is
/// released, so the pool's metadata does not stay pinned.
pub fn release_leftover_metadata_snaps(
    sys: &dyn System,
    origins: &[LvPath],
    report: &SystemReport,
    actions: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    let mut pools: Vec<LvPath> = origins
        .iter()
        .filter_map(|o| report.lv(o).and_then(|lv| lv.thin_pool()))
        .collect();
    pools.sort_by_key(|p| p.to_string());
    pools.dedup();
    for pool in pools {
        match sys.metadata_snap_held(&pool) {
            Ok(false) => {}
            Ok(true) => {
                tracing::warn!("recover: releasing the metadata snapshot of pool {pool}");
                match sys.metadata_snap(&pool, false) {
                    Ok(()) => {
                        actions.push(format!("released the metadata snapshot of pool {pool}"))
                    }
                    Err(e) => failures.push(format!(
                        "cannot release the metadata snapshot of pool {pool}: {e}"
                    )),
                }
            }
            Err(e) => {
                tracing::warn!("cannot tell whether pool {pool} holds a metadata snapshot: {e}")
            }
        }
    }
}

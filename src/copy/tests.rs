//! Engine tests on regular files (the loop-device tests drive the binary:
//! tests/integration/copy.rs).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use proptest::prelude::*;

use super::*;

const CHUNK: u64 = 64 << 10;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn request(src: &Path, dst: &Path, manifest: Option<&Path>) -> CopyRequest {
    let mut req = CopyRequest::new(src, dst);
    req.chunk_size = CHUNK;
    req.manifest = manifest.map(Path::to_path_buf);
    req
}

fn run_plain(req: &CopyRequest) -> Result<CopyReport, CopyError> {
    let cancel = AtomicBool::new(false);
    run(
        req,
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: None,
            throttle: None,
        },
    )
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any content of any size (0, partial last chunks, exact multiples)
    /// arrives intact, and the manifest verifies.
    #[test]
    fn copies_any_content_of_any_size(
        data in prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 1..5 * CHUNK as usize),
            (1..5u64).prop_map(|n| pseudo_random((n * CHUNK) as usize, n)),
        ],
        slack in prop_oneof![Just(0usize), 1..10_000usize],
    ) {
        let files = Files::new();
        let src = files.write("src", &data);
        let dst = files.write("dst", &vec![0xEE; data.len() + slack]);
        let manifest = files.path("m.json");
        let mut req = request(&src, &dst, Some(&manifest));
        req.verify = true;
        let report = run_plain(&req).unwrap();
        let back = std::fs::read(&dst).unwrap();
        prop_assert_eq!(&back[..data.len()], &data[..]);
        // Bytes beyond the source's size are left alone.
        prop_assert!(back[data.len()..].iter().all(|&b| b == 0xEE));
        prop_assert_eq!(report.bytes_read, data.len() as u64);
        prop_assert_eq!(report.bytes_written, data.len() as u64);
        let saved = Manifest::load(&manifest).unwrap();
        prop_assert!(saved.completed);
        prop_assert_eq!(saved.chunks.len() as u64, (data.len() as u64).div_ceil(CHUNK));
        prop_assert!(report.verify.unwrap().mismatches.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Whatever chunks change (and only where), a delta writes exactly
    /// those and leaves the destination equal to the source.
    #[test]
    fn delta_writes_exactly_the_changed_chunks(
        chunks in 1u64..8,
        tail in 0u64..CHUNK,
        seed in any::<u64>(),
        changes in proptest::collection::btree_set(any::<u64>(), 0..5),
    ) {
        let size = (chunks - 1) * CHUNK + tail.max(1);
        let mut data = pseudo_random(size as usize, seed);
        let files = Files::new();
        let src = files.write("src", &data);
        let dst = files.write("dst", &vec![0; size as usize]);
        let manifest = files.path("m.json");
        let req = request(&src, &dst, Some(&manifest));
        run_plain(&req).unwrap();
        let offsets: std::collections::BTreeSet<u64> = changes.iter().map(|c| c % size).collect();
        let changed: std::collections::BTreeSet<u64> = offsets.iter().map(|o| o / CHUNK).collect();
        for &offset in &offsets {
            data[offset as usize] ^= 0x5A;
        }
        std::fs::write(&src, &data).unwrap();
        let report = run_plain(&req).unwrap();
        prop_assert_eq!(report.chunks_written, changed.len() as u64);
        prop_assert_eq!(report.chunks_written + report.chunks_skipped, size.div_ceil(CHUNK));
        prop_assert_eq!(report.bytes_read, size);
        prop_assert_eq!(std::fs::read(&dst).unwrap(), data);
    }
}

#[test]
fn delta_writes_only_changed_chunks() {
    let files = Files::new();
    let mut data = pseudo_random(10 * CHUNK as usize + 123, 1);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let req = request(&src, &dst, Some(&manifest));
    let first = run_plain(&req).unwrap();
    assert_eq!(first.chunks_written, 11);
    assert!(matches!(first.delta, DeltaBasis::Full { .. }));

    // Change chunks 1, 6 and the partial last one.
    for offset in [CHUNK + 5, 6 * CHUNK, 10 * CHUNK + 100] {
        data[offset as usize] ^= 0xFF;
    }
    std::fs::write(&src, &data).unwrap();
    let second = run_plain(&req).unwrap();
    assert_eq!(
        second.delta,
        DeltaBasis::Previous {
            manifest: manifest.clone()
        }
    );
    assert_eq!(second.chunks_written, 3);
    assert_eq!(second.bytes_written, 2 * CHUNK + 123);
    assert_eq!(second.chunks_skipped, 8);
    assert_eq!(second.bytes_read, data.len() as u64);
    assert_eq!(std::fs::read(&dst).unwrap(), data);

    // An unchanged source writes nothing.
    let third = run_plain(&req).unwrap();
    assert_eq!(third.bytes_written, 0);
}

#[test]
fn too_small_destination_is_refused_before_anything_is_written() {
    let files = Files::new();
    let src = files.write("src", &[1; 3 * CHUNK as usize]);
    let dst = files.write("dst", &[0; 3 * CHUNK as usize - 1]);
    let manifest = files.path("m.json");
    let err = run_plain(&request(&src, &dst, Some(&manifest))).unwrap_err();
    assert!(
        matches!(err, CopyError::DestinationTooSmall { .. }),
        "{err}"
    );
    assert!(err.is_usage());
    assert!(std::fs::read(&dst).unwrap().iter().all(|&b| b == 0));
    assert!(!manifest.exists());
}

#[test]
fn copying_onto_itself_is_refused() {
    let files = Files::new();
    let src = files.write("src", &[1; 4096]);
    let link = files.path("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let err = run_plain(&request(&src, &link, None)).unwrap_err();
    assert!(matches!(err, CopyError::SameDevice { .. }), "{err}");
}

#[test]
fn bad_chunk_sizes_are_refused() {
    for size in [0, 4096, (64 << 10) + 512, 128 << 20] {
        assert!(check_chunk_size(size).is_err(), "{size}");
    }
    assert!(check_chunk_size(4 << 20).is_ok());
}

#[test]
fn cancelled_copy_leaves_an_incomplete_manifest_that_no_delta_trusts() {
    let files = Files::new();
    let data = pseudo_random(8 * CHUNK as usize, 2);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let req = request(&src, &dst, Some(&manifest));
    let cancel = AtomicBool::new(false);
    // Cancel as the third chunk is read, as a signal handler would.
    let check = |read: &ChunkRead| {
        if read.index == 2 {
            cancel.store(true, Ordering::Relaxed);
        }
        Ok(())
    };
    let err = run(
        &req,
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: Some(&check),
            throttle: None,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, CopyError::Interrupted { offset } if offset == 3 * CHUNK),
        "{err}"
    );
    let saved = Manifest::load(&manifest).unwrap();
    assert!(!saved.completed);
    assert_eq!(saved.chunks.len(), 3);
    // The chunks after the stop were not written.
    assert!(
        std::fs::read(&dst).unwrap()[3 * CHUNK as usize..]
            .iter()
            .all(|&b| b == 0)
    );

    let next = run_plain(&req).unwrap();
    assert!(
        matches!(&next.delta, DeltaBasis::Full { reason } if reason.contains("did not complete")),
        "{:?}",
        next.delta
    );
    assert_eq!(next.chunks_written, 8);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[test]
fn failing_source_check_stops_the_copy_with_the_offset() {
    let files = Files::new();
    let src = files.write("src", &pseudo_random(4 * CHUNK as usize, 3));
    let dst = files.write("dst", &vec![0; 4 * CHUNK as usize]);
    let manifest = files.path("m.json");
    let cancel = AtomicBool::new(false);
    let check = |read: &ChunkRead| {
        if read.index == 1 {
            Err("snapshot invalid".to_string())
        } else {
            Ok(())
        }
    };
    let err = run(
        &request(&src, &dst, Some(&manifest)),
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: Some(&check),
            throttle: None,
        },
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("up to offset 131072: snapshot invalid"),
        "{text}"
    );
    assert!(!Manifest::load(&manifest).unwrap().completed);
}

#[test]
fn source_check_sees_the_last_chunk() {
    let files = Files::new();
    let src = files.write("src", &[5; 2 * CHUNK as usize + 1]);
    let dst = files.write("dst", &vec![0; 2 * CHUNK as usize + 1]);
    let cancel = AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::new());
    let check = |read: &ChunkRead| {
        seen.lock().unwrap().push((read.index, read.len, read.last));
        Ok(())
    };
    run(
        &request(&src, &dst, None),
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: Some(&check),
            throttle: None,
        },
    )
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, CHUNK, false), (1, CHUNK, false), (2, 1, true)]
    );
}

#[test]
fn verify_reports_the_corrupted_ranges() {
    let files = Files::new();
    let data = pseudo_random(6 * CHUNK as usize + 10, 4);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    run_plain(&request(&src, &dst, Some(&manifest))).unwrap();
    let mut corrupt = data.clone();
    corrupt[(CHUNK + 7) as usize] ^= 1; // chunk 1
    corrupt[(2 * CHUNK) as usize] ^= 1; // chunk 2, adjacent: merged
    corrupt[(6 * CHUNK + 9) as usize] ^= 1; // the partial last chunk
    std::fs::write(&dst, &corrupt).unwrap();
    let cancel = AtomicBool::new(false);
    let report = verify::verify(
        &Manifest::load(&manifest).unwrap(),
        &dst,
        &cancel,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(
        report.mismatches,
        vec![CHUNK..3 * CHUNK, 6 * CHUNK..6 * CHUNK + 10]
    );
    assert!(
        report.summary().contains("bytes 65536..196608"),
        "{}",
        report.summary()
    );
}

#[test]
fn verify_refuses_an_incomplete_manifest() {
    let files = Files::new();
    let src = files.write("src", &[1; CHUNK as usize]);
    let dst = files.write("dst", &[0; CHUNK as usize]);
    let manifest = files.path("m.json");
    run_plain(&request(&src, &dst, Some(&manifest))).unwrap();
    let mut m = Manifest::load(&manifest).unwrap();
    m.completed = false;
    let cancel = AtomicBool::new(false);
    let err = verify::verify(&m, &dst, &cancel, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
}

#[test]
fn a_replaced_destination_file_is_copied_in_full() {
    let files = Files::new();
    let data = pseudo_random(3 * CHUNK as usize, 5);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let req = request(&src, &dst, Some(&manifest));
    run_plain(&req).unwrap();
    // A hard link keeps the old inode allocated, so the new file cannot
    // reuse its number.
    std::fs::hard_link(&dst, files.path("old")).unwrap();
    std::fs::remove_file(&dst).unwrap();
    files.write("dst", &vec![0; data.len()]);
    let again = run_plain(&req).unwrap();
    assert_eq!(again.chunks_written, 3);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[test]
fn a_separate_previous_manifest_is_marked_incomplete_before_writing() {
    let files = Files::new();
    let mut data = pseudo_random(4 * CHUNK as usize, 6);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let first = files.path("first.json");
    run_plain(&request(&src, &dst, Some(&first))).unwrap();

    // A second copy, kept in its own manifest, interrupted after chunk 0.
    data[0] ^= 1;
    data[3 * CHUNK as usize] ^= 1;
    std::fs::write(&src, &data).unwrap();
    let second = files.path("second.json");
    let mut req = request(&src, &dst, Some(&second));
    req.previous_manifest = Some(first.clone());
    let cancel = AtomicBool::new(false);
    let check = |_: &ChunkRead| {
        cancel.store(true, Ordering::Relaxed);
        Ok(())
    };
    let err = run(
        &req,
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: Some(&check),
            throttle: None,
        },
    )
    .unwrap_err();
    assert!(matches!(err, CopyError::Interrupted { .. }), "{err}");
    // The destination no longer matches the first manifest: nobody may
    // trust it now.
    assert!(!Manifest::load(&first).unwrap().completed);
    assert!(!Manifest::load(&second).unwrap().completed);
    let again = run_plain(&req).unwrap();
    assert!(
        matches!(again.delta, DeltaBasis::Full { .. }),
        "{:?}",
        again.delta
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[test]
fn length_copies_only_a_prefix_of_a_larger_source() {
    let files = Files::new();
    let data = pseudo_random(3 * CHUNK as usize + 100, 9);
    let src = files.write("src", &data);
    let prefix = 2 * CHUNK + 50;
    // The destination only has room for the prefix.
    let dst = files.write("dst", &vec![0xEE; prefix as usize]);
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.length = Some(prefix);
    req.verify = true;
    let report = run_plain(&req).unwrap();
    assert_eq!(report.bytes_read, prefix);
    assert_eq!(std::fs::read(&dst).unwrap(), &data[..prefix as usize]);
    assert_eq!(Manifest::load(&manifest).unwrap().size, prefix);
    // Longer than the source: refused before anything is written.
    req.length = Some(data.len() as u64 + 1);
    assert!(matches!(
        run_plain(&req),
        Err(CopyError::UnexpectedEnd { .. })
    ));
}

#[test]
fn a_manifest_path_that_is_the_source_or_destination_is_refused() {
    let files = Files::new();
    let data = pseudo_random(3 * CHUNK as usize, 10);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0xEE; data.len()]);
    let hard = files.path("hard");
    std::fs::hard_link(&dst, &hard).unwrap();
    let soft = files.path("soft");
    std::os::unix::fs::symlink(&dst, &soft).unwrap();
    let subdir = files.path("dir");
    std::fs::create_dir(&subdir).unwrap();
    for (manifest, why) in [
        (&dst, "destination's file"),
        (&src, "source's file"),
        (&hard, "destination's file"),
        (&soft, "a symbolic link"),
        (&subdir, "a directory"),
    ] {
        let err = run_plain(&request(&src, &dst, Some(manifest))).unwrap_err();
        assert!(matches!(err, CopyError::ManifestPath { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(err.is_usage());
        // The same for the previous manifest, which a copy also rewrites.
        let mut req = request(&src, &dst, Some(&files.path("m.json")));
        req.previous_manifest = Some(manifest.clone());
        let err = run_plain(&req).unwrap_err();
        assert!(matches!(err, CopyError::ManifestPath { .. }), "{err}");
    }
    assert_eq!(std::fs::read(&src).unwrap(), data);
    assert!(std::fs::read(&dst).unwrap().iter().all(|&b| b == 0xEE));
    assert!(std::fs::symlink_metadata(&soft).unwrap().is_symlink());
    assert!(!files.path("m.json").exists());
}

#[test]
fn a_manifest_path_that_is_a_device_node_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let files = Files::new();
    let src = files.write("src", &[1; CHUNK as usize]);
    let dst = files.write("dst", &[0; CHUNK as usize]);
    // A node of /dev/null's number, made here: were it replaced, nothing
    // outside the test would be.
    let node = files.path("null");
    if let Err(e) = rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 3),
    ) {
        eprintln!("SKIPPED: cannot make a device node here: {e}");
        return;
    }
    let err = run_plain(&request(&src, &dst, Some(&node))).unwrap_err();
    assert!(err.to_string().contains("a character device"), "{err}");
    assert!(
        std::fs::symlink_metadata(&node)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(std::fs::read(&dst).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn a_copy_of_more_chunks_than_a_manifest_holds_is_refused() {
    let files = Files::new();
    let size = (manifest::MAX_CHUNKS + 1) * CHUNK;
    let src = files.write("src", b"");
    let dst = files.write("dst", b"");
    for path in [&src, &dst] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(size)
            .unwrap();
    }
    let manifest = files.path("m.json");
    let err = run_plain(&request(&src, &dst, Some(&manifest))).unwrap_err();
    assert!(matches!(err, CopyError::TooManyChunks { .. }), "{err}");
    assert!(!manifest.exists());
}

#[test]
fn the_spot_check_sample_is_bounded_distinct_and_holds_both_ends() {
    assert_eq!(spot_check_sample(0, 1), Vec::<u64>::new());
    assert_eq!(spot_check_sample(5, 1), vec![0, 1, 2, 3, 4]);
    for seed in [1, 2, 99, u64::MAX] {
        let sample = spot_check_sample(1_000_000, seed);
        assert_eq!(sample.len() as u64, SPOT_CHECK_CHUNKS);
        assert_eq!(sample[0], 0);
        assert_eq!(*sample.last().unwrap(), 999_999);
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
    }
    assert_ne!(spot_check_sample(1000, 1), spot_check_sample(1000, 2));
}

/// The fault: the destination changed after the last copy, the next copy
/// trusted the manifest, wrote 0 bytes and left a wrong copy.
#[test]
fn a_destination_changed_behind_our_back_is_caught_and_copied_in_full() {
    let files = Files::new();
    let data = pseudo_random(10 * CHUNK as usize + 99, 11);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let req = request(&src, &dst, Some(&manifest));
    run_plain(&req).unwrap();

    let mut changed = data.clone();
    changed[5 * CHUNK as usize + 3] ^= 0x40;
    std::fs::write(&dst, &changed).unwrap();
    let report = run_plain(&req).unwrap();
    assert!(
        matches!(&report.delta, DeltaBasis::Full { reason } if reason.contains("chunk 5")),
        "{:?}",
        report.delta
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("copying every chunk")),
        "{:?}",
        report.notes
    );
    assert_eq!(report.chunks_written, 11);
    assert_eq!(std::fs::read(&dst).unwrap(), data);

    // Unchanged since: a delta again, with every chunk (11 <= 32) checked
    // but the partial last one compared as usual.
    let again = run_plain(&req).unwrap();
    assert!(matches!(again.delta, DeltaBasis::Previous { .. }));
    assert_eq!(again.chunks_written, 0);
    assert_eq!(again.chunks_spot_checked, 11);
    assert!(
        again.summary().contains("spot-checked"),
        "{}",
        again.summary()
    );
}

#[test]
fn the_spot_check_of_a_large_destination_reads_its_ends_and_a_bounded_sample() {
    let files = Files::new();
    let chunks = 3 * SPOT_CHECK_CHUNKS;
    let data = pseudo_random((chunks * CHUNK) as usize, 12);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let req = request(&src, &dst, Some(&manifest));
    run_plain(&req).unwrap();
    let unchanged = run_plain(&req).unwrap();
    assert_eq!(unchanged.chunks_spot_checked, SPOT_CHECK_CHUNKS);
    assert_eq!(unchanged.bytes_spot_checked, SPOT_CHECK_CHUNKS * CHUNK);
    // A change in the last chunk (always sampled) forces a full copy.
    let mut changed = data.clone();
    *changed.last_mut().unwrap() ^= 1;
    std::fs::write(&dst, &changed).unwrap();
    let full = run_plain(&req).unwrap();
    assert_eq!(full.chunks_written, chunks);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[test]
fn a_lifted_throttle_lets_the_rest_of_the_copy_run_at_full_speed() {
    // 32 chunks of 64 KiB at 64 KiB/s would take about 32 s; the switch is
    // lifted as the second chunk is read, so the copy ends at once.
    let files = Files::new();
    let data = pseudo_random(32 * CHUNK as usize, 7);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let mut req = request(&src, &dst, None);
    req.bytes_per_second = Some(CHUNK);
    let cancel = AtomicBool::new(false);
    let switch = throttle::ThrottleSwitch::default();
    let check = |read: &ChunkRead| {
        if read.index == 1 {
            switch.lift();
        }
        Ok(())
    };
    let started = std::time::Instant::now();
    run(
        &req,
        &CopyControl {
            cancel: &cancel,
            progress: &NoProgress,
            source_check: Some(&check),
            throttle: Some(&switch),
        },
    )
    .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    assert_eq!(switch.bytes_read(), data.len() as u64);
    assert!(switch.full_rate() > 0.0);
}

fn base(id: u64) -> BaseRef {
    BaseRef {
        lv_uuid: format!("uuid-{id}"),
        thin_id: id,
    }
}

#[test]
fn changed_ranges_relative_to_the_recorded_base_read_only_the_chunks_they_touch() {
    let files = Files::new();
    let mut data = pseudo_random(8 * CHUNK as usize, 3);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.base = Some(base(1));
    run_plain(&req).unwrap();
    assert_eq!(Manifest::load(&manifest).unwrap().base, Some(base(1)));

    // Chunk 2 changes; the delta says so. Chunk 5 changes too, but the
    // delta does not mention it: a ranged copy must not read it (which
    // proves it was not read), and its old hash stays.
    data[2 * CHUNK as usize + 7] ^= 0xFF;
    data[5 * CHUNK as usize] ^= 0xFF;
    std::fs::write(&src, &data).unwrap();
    req.base = Some(base(2));
    req.changed = Some(ChangedSince {
        base: base(1),
        ranges: vec![ByteRange {
            offset: 2 * CHUNK + 4096,
            len: 4096,
        }],
    });
    let second = run_plain(&req).unwrap();
    assert_eq!(second.bytes_read, CHUNK);
    assert_eq!(second.chunks_unread, 7);
    assert_eq!(second.chunks_written, 1);
    let written = std::fs::read(&dst).unwrap();
    assert_eq!(
        written[2 * CHUNK as usize + 7],
        data[2 * CHUNK as usize + 7]
    );
    assert_ne!(written[5 * CHUNK as usize], data[5 * CHUNK as usize]);
    let m = Manifest::load(&manifest).unwrap();
    assert!(m.completed);
    assert_eq!(m.base, Some(base(2)));
    assert_eq!(m.chunks.len(), 8);
}

#[test]
fn changes_since_another_base_than_the_recorded_one_read_everything_and_say_why() {
    let files = Files::new();
    let mut data = pseudo_random(4 * CHUNK as usize, 4);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.base = Some(base(1));
    run_plain(&req).unwrap();
    data[3 * CHUNK as usize] ^= 0xFF;
    std::fs::write(&src, &data).unwrap();
    req.changed = Some(ChangedSince {
        base: base(9),
        ranges: Vec::new(),
    });
    let report = run_plain(&req).unwrap();
    assert_eq!(report.bytes_read, data.len() as u64);
    assert_eq!(report.chunks_unread, 0);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("full read: the previous copy was read from LV uuid-1")),
        "{:?}",
        report.notes
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);

    // No manifest at all: a full read too, said so.
    std::fs::remove_file(&manifest).unwrap();
    let report = run_plain(&req).unwrap();
    assert_eq!(report.bytes_read, data.len() as u64);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("no trusted previous copy"))
    );
}

#[test]
fn only_mapped_ranges_are_read_and_the_rest_is_written_and_hashed_as_zeros() {
    let files = Files::new();
    let mut data = vec![0u8; 8 * CHUNK as usize];
    // Data in chunks 1 and 4; chunk 6 holds bytes too, but the mapping
    // says it has no blocks: a copy that read it would write them.
    data[CHUNK as usize..2 * CHUNK as usize].copy_from_slice(&pseudo_random(CHUNK as usize, 7));
    data[4 * CHUNK as usize + 100] = 1;
    data[6 * CHUNK as usize + 5] = 0xEE;
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0xAA; data.len()]);
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.mapped = Some(vec![
        ByteRange {
            offset: CHUNK,
            len: CHUNK,
        },
        ByteRange {
            offset: 4 * CHUNK,
            len: 4096,
        },
    ]);
    let report = run_plain(&req).unwrap();
    assert_eq!(report.bytes_read, 2 * CHUNK, "only chunks 1 and 4 are read");
    assert_eq!(report.chunks_unmapped, 6);
    assert_eq!(
        report.chunks_written, 8,
        "the stale destination gets its zeros"
    );
    let mut expected = data.clone();
    expected[6 * CHUNK as usize + 5] = 0;
    assert_eq!(std::fs::read(&dst).unwrap(), expected);
    let m = Manifest::load(&manifest).unwrap();
    assert!(m.completed);
    let zeros = ChunkHash::of(&vec![0; CHUNK as usize]);
    assert_eq!(m.chunks[0], zeros);
    assert_eq!(m.chunks[6], zeros);
    assert_ne!(m.chunks[1], zeros);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("only the mapped blocks")),
        "{:?}",
        report.notes
    );

    // Again, with that manifest: the zeros are there already, nothing is
    // written, and a later verify of the destination agrees.
    let again = run_plain(&req).unwrap();
    assert_eq!(again.chunks_written, 0);
    assert_eq!(again.bytes_read, 2 * CHUNK);
    let cancel = AtomicBool::new(false);
    let verified = verify::verify(&m, &dst, &cancel, &NoProgress).unwrap();
    assert!(verified.mismatches.is_empty());
}

#[test]
fn changes_that_apply_win_over_the_mapping() {
    let files = Files::new();
    let data = pseudo_random(4 * CHUNK as usize, 8);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.base = Some(base(1));
    run_plain(&req).unwrap();
    req.changed = Some(ChangedSince {
        base: base(1),
        ranges: Vec::new(),
    });
    req.mapped = Some(Vec::new()); // would make every chunk zeros
    let report = run_plain(&req).unwrap();
    assert_eq!(report.chunks_unread, 4);
    assert_eq!(report.chunks_unmapped, 0);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

#[test]
fn a_lift_ends_a_throttle_wait_already_under_way() {
    // 4 chunks at an eighth of a chunk per second: the first wait alone is
    // 8 s. Lifted 0.3 s in, from another thread (the grower's), the copy
    // must not sit out that wait.
    let files = Files::new();
    let data = pseudo_random(4 * CHUNK as usize, 9);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let mut req = request(&src, &dst, None);
    req.bytes_per_second = Some(CHUNK / 8);
    let cancel = AtomicBool::new(false);
    let switch = throttle::ThrottleSwitch::default();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            switch.lift();
        });
        run(
            &req,
            &CopyControl {
                cancel: &cancel,
                progress: &NoProgress,
                source_check: None,
                throttle: Some(&switch),
            },
        )
        .unwrap();
    });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the copy waited {:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

/// The copy of generation A, then B made as a snapshot of A (here: a copy
/// of the file): with `destination_snapshot_of` naming A's tag, A's manifest
/// stands for B, only the changed chunks are written to B, and A's manifest
/// still says complete (A was not touched).
#[test]
fn a_snapshot_of_a_copy_is_written_only_where_the_source_changed_and_the_copy_it_came_from_stays_trusted()
 {
    let files = Files::new();
    let mut data = pseudo_random(6 * CHUNK as usize, 11);
    let src = files.write("src", &data);
    let a = files.write("a", &vec![0; data.len()]);
    let a_manifest = files.path("a.json");
    let mut first = request(&src, &a, Some(&a_manifest));
    first.destination_tag = Some("uuid-a".into());
    run_plain(&first).unwrap();
    let a_before = std::fs::read(&a).unwrap();

    let b = files.write("b", &a_before);
    data[2 * CHUNK as usize + 9] ^= 0x55;
    data[5 * CHUNK as usize] ^= 0x55;
    std::fs::write(&src, &data).unwrap();
    let b_manifest = files.path("b.json");
    let mut second = request(&src, &b, Some(&b_manifest));
    second.destination_tag = Some("uuid-b".into());
    second.previous_manifest = Some(a_manifest.clone());
    second.destination_snapshot_of = Some("uuid-a".into());
    second.verify = true;
    let report = run_plain(&second).unwrap();
    assert!(
        matches!(&report.delta, DeltaBasis::Previous { manifest } if *manifest == a_manifest),
        "{:?}",
        report.delta
    );
    assert_eq!(report.chunks_written, 2);
    assert_eq!(std::fs::read(&b).unwrap(), data);
    assert_eq!(std::fs::read(&a).unwrap(), a_before, "A is untouched");
    assert!(Manifest::load(&a_manifest).unwrap().completed);
    let b_saved = Manifest::load(&b_manifest).unwrap();
    assert!(b_saved.completed);
    assert_eq!(b_saved.destination.tag.as_deref(), Some("uuid-b"));
}

#[test]
fn a_snapshot_of_another_device_than_the_manifest_describes_is_copied_in_full() {
    let files = Files::new();
    let data = pseudo_random(3 * CHUNK as usize, 12);
    let src = files.write("src", &data);
    let a = files.write("a", &vec![0; data.len()]);
    let a_manifest = files.path("a.json");
    let mut first = request(&src, &a, Some(&a_manifest));
    first.destination_tag = Some("uuid-a".into());
    run_plain(&first).unwrap();

    let b = files.write("b", &vec![0; data.len()]);
    let mut second = request(&src, &b, Some(&files.path("b.json")));
    second.destination_tag = Some("uuid-b".into());
    second.previous_manifest = Some(a_manifest.clone());
    second.destination_snapshot_of = Some("uuid-other".into());
    let report = run_plain(&second).unwrap();
    assert!(
        matches!(&report.delta, DeltaBasis::Full { reason } if reason.contains("snapshot of")),
        "{:?}",
        report.delta
    );
    assert_eq!(report.chunks_written, 3);
    assert_eq!(std::fs::read(&b).unwrap(), data);

    // Nor does a manifest of A stand for B without the caller saying B is
    // a snapshot of A.
    second.destination_snapshot_of = None;
    let report = run_plain(&second).unwrap();
    assert!(
        matches!(report.delta, DeltaBasis::Full { .. }),
        "{:?}",
        report.delta
    );
    assert!(Manifest::load(&a_manifest).unwrap().completed);
}

#[test]
fn a_destination_that_reads_as_zeros_gets_no_chunk_of_zeros_written() {
    let files = Files::new();
    let mut data = vec![0u8; 6 * CHUNK as usize];
    data[CHUNK as usize..2 * CHUNK as usize].copy_from_slice(&pseudo_random(CHUNK as usize, 13));
    data[4 * CHUNK as usize + 7] = 1;
    let src = files.write("src", &data);
    // A sparse file reads as zeros, as a new thin LV does.
    let dst = files.path("dst");
    std::fs::File::create(&dst)
        .unwrap()
        .set_len(data.len() as u64)
        .unwrap();
    let manifest = files.path("m.json");
    let mut req = request(&src, &dst, Some(&manifest));
    req.destination_zeroed = true;
    req.verify = true;
    let report = run_plain(&req).unwrap();
    assert_eq!(report.chunks_written, 2, "only chunks 1 and 4 hold data");
    assert_eq!(report.bytes_read, data.len() as u64);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    assert!(report.verify.unwrap().mismatches.is_empty());
    assert!(
        report.notes.iter().any(|n| n.contains("reads as zeros")),
        "{:?}",
        report.notes
    );
}

/// With a trusted previous manifest the destination holds what it says, not
/// zeros: a chunk that turned to zeros in the source is written.
#[test]
fn a_zeroed_destination_with_a_trusted_previous_copy_writes_chunks_that_became_zeros() {
    let files = Files::new();
    let mut data = pseudo_random(3 * CHUNK as usize, 14);
    let src = files.write("src", &data);
    let dst = files.write("dst", &vec![0; data.len()]);
    let manifest = files.path("m.json");
    run_plain(&request(&src, &dst, Some(&manifest))).unwrap();

    data[..CHUNK as usize].fill(0);
    std::fs::write(&src, &data).unwrap();
    let mut req = request(&src, &dst, Some(&manifest));
    req.destination_zeroed = true;
    let report = run_plain(&req).unwrap();
    assert!(
        matches!(report.delta, DeltaBasis::Previous { .. }),
        "{:?}",
        report.delta
    );
    assert_eq!(report.chunks_written, 1);
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}

/// A snapshot whose origin's manifest is not trusted holds that origin's
/// data, not zeros: `destination_zeroed` does not apply to it.
#[test]
fn a_snapshot_is_never_taken_for_a_destination_of_zeros() {
    let files = Files::new();
    let data = vec![0u8; 2 * CHUNK as usize];
    let src = files.write("src", &data);
    let b = files.write("b", &vec![0xEE; data.len()]);
    let mut req = request(&src, &b, Some(&files.path("b.json")));
    req.destination_tag = Some("uuid-b".into());
    req.destination_snapshot_of = Some("uuid-a".into());
    req.destination_zeroed = true;
    let report = run_plain(&req).unwrap();
    assert_eq!(report.chunks_written, 2);
    assert_eq!(std::fs::read(&b).unwrap(), data);
}

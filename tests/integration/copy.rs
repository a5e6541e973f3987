//! `snapplan copy` and `snapplan verify` on loop devices (and files),
//! asserting on what the devices hold and on the kernel's count of sectors
//! written, not only on what snapplan says.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Test;

const MIB: u64 = 1 << 20;

/// A loop device over a file in the test directory, detached on drop.
pub(crate) struct Loop {
    device: PathBuf,
    backing: PathBuf,
}

impl Loop {
    /// None (after printing why) when loop devices cannot be used here.
    pub(crate) fn new(test: &Test, name: &str, contents: &[u8]) -> Option<Loop> {
        let backing = test.path(name);
        std::fs::write(&backing, contents).expect("write backing file");
        let output = match Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&backing)
            .output()
        {
            Ok(output) => output,
            Err(e) => {
                eprintln!("SKIPPED: losetup is unavailable: {e}");
                return None;
            }
        };
        if !output.status.success() {
            eprintln!(
                "SKIPPED: losetup failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        let device = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
        Some(Loop { device, backing })
    }

    /// A loop device over bytes `offset..offset + sizelimit` of an
    /// existing file (which it does not write).
    pub(crate) fn over(backing: &Path, offset: u64, sizelimit: u64) -> Option<Loop> {
        let output = Command::new("losetup")
            .args(["--find", "--show", "--offset"])
            .arg(offset.to_string())
            .arg("--sizelimit")
            .arg(sizelimit.to_string())
            .arg(backing)
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!(
                "SKIPPED: losetup failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        let device = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
        Some(Loop {
            device,
            backing: backing.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &str {
        self.device.to_str().unwrap()
    }

    /// Sectors (512 B) the kernel has written to this device so far.
    fn sectors_written(&self) -> u64 {
        let name = self.device.file_name().unwrap().to_str().unwrap();
        let stat = std::fs::read_to_string(format!("/sys/block/{name}/stat")).unwrap();
        stat.split_whitespace().nth(6).unwrap().parse().unwrap()
    }

    /// What the device holds (read through its backing file, which the
    /// loop driver writes to).
    pub(crate) fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.backing).unwrap()
    }

    /// Overwrites bytes at `offset` behind snapplan's back.
    fn poke(&self, offset: u64, bytes: &[u8]) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.backing)
            .unwrap();
        file.write_all_at(bytes, offset).unwrap();
        file.sync_all().unwrap();
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

pub(crate) fn random(len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 9 MiB and 512 bytes: the last 1 MiB chunk is a partial one, and not a
/// multiple of 4 KiB.
const SIZE: u64 = 9 * MIB + 512;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn manifest_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn device_to_device_copy_verifies_and_verify_finds_corruption() {
    let test = Test::new();
    let data = random(SIZE, 1);
    let Some(src) = Loop::new(&test, "src.img", &data) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; (SIZE + 3 * MIB) as usize]) else {
        return;
    };
    let output = test
        .snapplan(&[
            "copy",
            src.path(),
            dst.path(),
            "--chunk",
            "1MiB",
            "--manifest",
            "m.json",
            "--verify",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let copied = dst.contents();
    assert!(
        copied[..SIZE as usize] == data[..],
        "destination differs from source"
    );
    assert!(copied[SIZE as usize..].iter().all(|&b| b == 0));
    let manifest = manifest_json(&test.path("m.json"));
    assert_eq!(manifest["completed"], true);
    assert_eq!(manifest["chunks"].as_array().unwrap().len(), 10);
    assert_eq!(manifest["destination"]["kind"], "block-device");

    test.snapplan(&["verify", "--manifest", "m.json"])
        .assert()
        .success();

    // One byte flipped in chunk 5: verify names exactly that chunk's range.
    let offset = 5 * MIB + 100;
    dst.poke(offset, &[copied[offset as usize] ^ 0x01]);
    let output = test
        .snapplan(&["verify", "--manifest", "m.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("bytes {}..{}", 5 * MIB, 6 * MIB)),
        "{}",
        stderr(&output)
    );
    // And in the partial last chunk.
    dst.poke(SIZE - 1, &[copied[SIZE as usize - 1] ^ 0x01]);
    let output = test
        .snapplan(&["verify", "--manifest", "m.json", dst.path()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("bytes {}..{}", 9 * MIB, SIZE)),
        "{}",
        stderr(&output)
    );
}

#[test]
fn delta_after_changing_three_chunks_writes_exactly_those() {
    let test = Test::new();
    let mut data = random(SIZE, 2);
    let Some(src) = Loop::new(&test, "src.img", &data) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; SIZE as usize]) else {
        return;
    };
    let args = [
        "copy",
        src.path(),
        dst.path(),
        "--chunk",
        "1MiB",
        "--manifest",
        "m.json",
    ];
    test.snapplan(&args).assert().success();

    // Change chunks 1, 4 and 8 of the source.
    for offset in [MIB + 17, 4 * MIB, 8 * MIB + MIB - 1] {
        data[offset as usize] ^= 0xA5;
        src.poke(offset, &[data[offset as usize]]);
    }
    let before = dst.sectors_written();
    let output = test.snapplan(&args).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let written = dst.sectors_written() - before;
    assert_eq!(written * 512, 3 * MIB, "the kernel saw other writes");
    assert!(
        stderr(&output).contains("wrote 3.0 MiB (3 chunks), skipped 6.0 MiB (7 chunks)"),
        "{}",
        stderr(&output)
    );
    assert!(dst.contents() == data, "destination differs from source");

    // Nothing changed: nothing written.
    let before = dst.sectors_written();
    test.snapplan(&args).assert().success();
    assert_eq!(dst.sectors_written(), before);
}

#[test]
fn interrupted_copy_leaves_an_incomplete_manifest_no_delta_trusts() {
    let test = Test::new();
    let data = random(SIZE, 3);
    let Some(src) = Loop::new(&test, "src.img", &data) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; SIZE as usize]) else {
        return;
    };
    let args = [
        "copy",
        src.path(),
        dst.path(),
        "--chunk",
        "1MiB",
        "--manifest",
        "m.json",
    ];
    // A complete copy first, so there is a trusted manifest to lose.
    test.snapplan(&args).assert().success();
    let manifest = test.path("m.json");
    let first = std::fs::metadata(&manifest).unwrap().modified().unwrap();

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("snapplan"))
        .current_dir(test.dir())
        .args(args)
        .args(["--bandwidth", "1MiB/s", "--progress", "never"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The manifest is rewritten as incomplete before DST is touched: wait
    // for that, then stop the copy.
    while std::fs::metadata(&manifest).unwrap().modified().unwrap() == first
        || manifest_json(&manifest)["completed"] == true
    {
        assert!(child.try_wait().unwrap().is_none(), "copy ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("says incomplete"),
        "{}",
        stderr(&output)
    );
    assert_eq!(manifest_json(&manifest)["completed"], false);

    // Verify refuses it; the next copy writes every chunk.
    let output = test
        .snapplan(&["verify", "--manifest", "m.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("incomplete"),
        "{}",
        stderr(&output)
    );
    let before = dst.sectors_written();
    let output = test.snapplan(&args).output().unwrap();
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("did not complete"),
        "{}",
        stderr(&output)
    );
    assert_eq!((dst.sectors_written() - before) * 512, SIZE);
    assert!(dst.contents() == data);
}

#[test]
fn sigint_stops_a_file_copy_with_exit_130() {
    let test = Test::new();
    std::fs::write(test.path("src"), random(4 * MIB, 4)).unwrap();
    std::fs::write(test.path("dst"), vec![0; 4 * MIB as usize]).unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("snapplan"))
        .current_dir(test.dir())
        .args([
            "copy",
            "src",
            "dst",
            "--chunk",
            "64KiB",
            "--manifest",
            "m.json",
        ])
        .args(["--bandwidth", "256KiB/s", "--progress", "never"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !test.path("m.json").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_eq!(manifest_json(&test.path("m.json"))["completed"], false);
}

#[test]
fn too_small_destination_is_refused_and_nothing_is_written() {
    let test = Test::new();
    let Some(src) = Loop::new(&test, "src.img", &random(4 * MIB, 5)) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; (4 * MIB - 512) as usize]) else {
        return;
    };
    let before = dst.sectors_written();
    let output = test
        .snapplan(&["copy", src.path(), dst.path(), "--manifest", "m.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("is smaller than source"));
    assert_eq!(dst.sectors_written(), before);
    assert!(dst.contents().iter().all(|&b| b == 0));
    assert!(!test.path("m.json").exists());
}

#[test]
fn copying_a_device_onto_itself_is_refused() {
    let test = Test::new();
    let data = random(MIB, 6);
    let Some(dev) = Loop::new(&test, "one.img", &data) else {
        return;
    };
    let link = test.path("alias");
    std::os::unix::fs::symlink(&dev.device, &link).unwrap();
    let output = test
        .snapplan(&["copy", dev.path(), "alias"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("are the same"),
        "{}",
        stderr(&output)
    );
    assert!(dev.contents() == data);
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let test = Test::new().file("src", "abc").file("dst", "abc");
    let output = test
        .snapplan(&["copy", "src", "dst", "--bandwidth", "60MiB"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("add `/s`, e.g. 60MiB/s"),
        "{}",
        stderr(&output)
    );
    let output = test.snapplan(&["verify"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_destination_in_use_is_refused_with_a_hint() {
    use std::os::unix::fs::OpenOptionsExt;
    let test = Test::new();
    let Some(src) = Loop::new(&test, "src.img", &random(MIB, 7)) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; MIB as usize]) else {
        return;
    };
    // Held exclusively, as a mounted filesystem holds its device.
    let _held = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::EXCL.bits() as i32)
        .open(&dst.device)
        .unwrap();
    let before = dst.sectors_written();
    let output = test
        .snapplan(&["copy", src.path(), dst.path()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // (miette wraps long lines: look for words, not phrases.)
    let text = stderr(&output);
    assert!(text.contains("busy") && text.contains("mounted"), "{text}");
    assert_eq!(dst.sectors_written(), before);
}

/// The fault: `--manifest` naming the destination (here a device node of
/// the same device, made in the test directory, and the loop's backing
/// file) replaced it with the manifest's JSON and exited 0.
#[test]
fn a_manifest_on_the_source_or_destination_is_refused_and_both_survive() {
    let test = Test::new();
    let data = random(2 * MIB, 20);
    let Some(src) = Loop::new(&test, "src.img", &data) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; 2 * MIB as usize]) else {
        return;
    };
    let node = test.path("dst-node");
    let rdev = std::fs::metadata(&dst.device).unwrap();
    let rdev = std::os::unix::fs::MetadataExt::rdev(&rdev);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::BlockDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rdev,
    )
    .unwrap();
    let before = dst.sectors_written();
    for manifest in ["dst-node", "dst.img", "src.img", src.path()] {
        let output = test
            .snapplan(&["copy", src.path(), dst.path(), "--manifest", manifest])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("refusing manifest path"),
            "{}",
            stderr(&output)
        );
    }
    assert_eq!(dst.sectors_written(), before);
    assert!(dst.contents().iter().all(|&b| b == 0));
    assert!(src.contents() == data);
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&node)
            .unwrap()
            .file_type()
            .is_block_device()
    );
}

/// The fault: two loop devices over overlapping bytes of one file made a
/// wrong copy that still verified.
#[test]
fn loop_devices_over_overlapping_bytes_of_one_file_are_refused() {
    let test = Test::new();
    let data = random(4 * MIB, 21);
    let image = test.path("disk.img");
    std::fs::write(&image, &data).unwrap();
    // Bytes 0..3 MiB and 1..4 MiB of the same file.
    let Some(a) = Loop::over(&image, 0, 3 * MIB) else {
        return;
    };
    let Some(b) = Loop::over(&image, MIB, 3 * MIB) else {
        return;
    };
    let before = b.sectors_written();
    let output = test
        .snapplan(&[
            "copy",
            a.path(),
            b.path(),
            "--manifest",
            "m.json",
            "--verify",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("overlap"), "{}", stderr(&output));
    assert_eq!(b.sectors_written(), before);
    assert!(std::fs::read(&image).unwrap() == data);
    assert!(!test.path("m.json").exists());

    // The file itself onto a loop over it, and the other way round.
    std::fs::write(test.path("other.img"), vec![0; 4 * MIB as usize]).unwrap();
    for (from, to) in [("disk.img", b.path()), (a.path(), "disk.img")] {
        let output = test.snapplan(&["copy", from, to]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    }
    assert!(std::fs::read(&image).unwrap() == data);

    // Disjoint bytes of one file are two devices: that copy goes ahead.
    let Some(low) = Loop::over(&image, 0, MIB) else {
        return;
    };
    let Some(high) = Loop::over(&image, 2 * MIB, MIB) else {
        return;
    };
    test.snapplan(&["copy", low.path(), high.path()])
        .assert()
        .success();
    let after = std::fs::read(&image).unwrap();
    assert!(after[2 * MIB as usize..3 * MIB as usize] == data[..MIB as usize]);
}

/// The fault: copying onto the image file behind a mounted loop
/// filesystem destroyed the filesystem.
#[test]
fn an_image_file_behind_a_mounted_loop_is_refused_as_destination() {
    let test = Test::new();
    let Some(fs) = Loop::new(&test, "fs.img", &vec![0; 8 * MIB as usize]) else {
        return;
    };
    let mkfs = Command::new("mkfs.ext4").args(["-q", fs.path()]).status();
    if !mkfs.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: mkfs.ext4 is unavailable");
        return;
    }
    let mount_point = test.path("mnt");
    std::fs::create_dir(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .arg(fs.path())
        .arg(&mount_point)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount_point.clone());
    let image = fs.contents();
    std::fs::write(test.path("src"), random(8 * MIB, 22)).unwrap();
    let output = test
        .snapplan(&["copy", "src", "fs.img", "--manifest", "m.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("mounted") && text.contains("losetup"),
        "{text}"
    );
    assert!(fs.contents() == image, "the mounted image was written");
    assert!(!test.path("m.json").exists());
}

/// The fault: after the destination changed behind snapplan's back, the
/// next (unverified) delta wrote 0 bytes, exited 0, and the copy differed.
#[test]
fn a_delta_onto_a_changed_destination_rewrites_it_in_full() {
    let test = Test::new();
    let data = random(SIZE, 23);
    let Some(src) = Loop::new(&test, "src.img", &data) else {
        return;
    };
    let Some(dst) = Loop::new(&test, "dst.img", &vec![0; SIZE as usize]) else {
        return;
    };
    let args = [
        "copy",
        src.path(),
        dst.path(),
        "--chunk",
        "1MiB",
        "--manifest",
        "m.json",
    ];
    test.snapplan(&args).assert().success();
    dst.poke(6 * MIB + 5, &[data[(6 * MIB + 5) as usize] ^ 0xFF]);
    let before = dst.sectors_written();
    let output = test.snapplan(&args).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!((dst.sectors_written() - before) * 512, SIZE);
    assert!(dst.contents() == data, "destination differs from source");
    let text = stderr(&output);
    assert!(text.contains("destination changed"), "{text}");
    test.snapplan(&["verify", "--manifest", "m.json"])
        .assert()
        .success();
}

/// The fault: a chunk_size of 1 TiB made verify allocate it (abort, exit
/// 134); larger ones overflowed (panic, exit 101).
#[test]
fn verify_refuses_a_crafted_manifest_with_a_clear_error() {
    let test = Test::new();
    std::fs::write(test.path("src"), random(256 << 10, 24)).unwrap();
    std::fs::write(test.path("dst"), vec![0; 256 << 10]).unwrap();
    test.snapplan(&[
        "copy",
        "src",
        "dst",
        "--manifest",
        "m.json",
        "--chunk",
        "64KiB",
    ])
    .assert()
    .success();
    let big = std::fs::File::create(test.path("big")).unwrap();
    big.set_len(1 << 41).unwrap();
    for chunk_size in [1u64 << 40, u64::MAX] {
        let mut manifest = manifest_json(&test.path("m.json"));
        manifest["chunk_size"] = chunk_size.into();
        manifest["size"] = (1u64 << 40).into();
        manifest["source"]["size"] = (1u64 << 41).into();
        manifest["destination"]["size"] = (1u64 << 41).into();
        manifest["chunks"] = serde_json::json!([format!("{:032x}", 7)]);
        std::fs::write(test.path("bad.json"), manifest.to_string()).unwrap();
        let output = test
            .snapplan(&["verify", "--manifest", "bad.json", "big"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("chunk_size"),
            "{}",
            stderr(&output)
        );
    }
}

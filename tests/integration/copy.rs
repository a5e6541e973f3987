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

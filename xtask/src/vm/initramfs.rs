//! The VM's whole userland, packed as a gzip'ed newc cpio: static busybox,
//! lvm2 and jq with the libraries `ldd` names, the kernel modules LVM needs,
//! the freshly built snapplan, /init and the scenarios.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::host::{self, cmd};
use super::iscsi;
use super::kernel::Kernel;

/// Modules /init loads, in this order after their dependencies: RAM disks to
/// put PVs on, loop devices, device-mapper with classic snapshots, and thin
/// pools, and ext4 (with jbd2, mbcache and crc16 from modules.dep) for
/// `snapplan mount` (tests/vm/mount.sh). crc32c_generic comes before dm-thin-pool because nothing in
/// modules.dep names it: dm-persistent-data needs a crc32c implementation
/// loaded, not a symbol of crc32c_generic ("unknown symbol in module"
/// otherwise).
pub const MODULES: &[&str] = &[
    "brd",
    "loop",
    "dm-mod",
    "dm-bufio",
    "dm-snapshot",
    "crc32c_generic",
    "libcrc32c",
    "dm-thin-pool",
    "ext4",
];

/// thin-provisioning-tools is one binary with its tools as symlinks to it:
/// lvm runs thin_check when it activates a pool, snapplan runs thin_delta.
const THIN_TOOLS: &[&str] = &[
    "thin_check",
    "thin_delta",
    "thin_dump",
    "thin_ls",
    "thin_repair",
    "thin_restore",
];

/// No udev in the VM: without these lvm waits for udev and warns about
/// dmeventd on every snapshot.
const LVM_CONF: &str = "\
devices {
    obtain_device_list_from_udev = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
";

const INIT: &str = include_str!("init.sh");

/// Host binaries packed with the libraries `ldd` names, and where they go:
/// lvm2, jq for assertions on JSON reports, util-linux's flock (busybox's
/// lacks it) to hold a lock from a scenario, setpriv for no_new_privs
/// (apply_hardened), e2fsprogs' mke2fs for ext4 filesystems with a journal
/// (busybox's makes ext2 only; tests/vm/mount.sh).
const HOST_TOOLS: &[(&str, &str)] = &[
    ("lvm", "usr/sbin"),
    ("dmsetup", "usr/sbin"),
    ("jq", "usr/bin"),
    ("flock", "usr/bin"),
    ("setpriv", "usr/bin"),
    ("pdata_tools", "usr/sbin"),
    ("mke2fs", "usr/sbin"),
];

pub struct Inputs<'a> {
    pub kernel: &'a Kernel,
    pub snapplan: &'a Path,
    /// tests/vm: every *.sh in it goes to /vm/ in the VM.
    pub scenario_dir: &'a Path,
    /// open-iscsi and the iSCSI modules, when a scenario asks for them.
    pub iscsi: Option<&'a iscsi::Tools>,
}

pub fn build(inputs: &Inputs, staging: &Path, out: &Path) -> Result<(), String> {
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    }
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc/lvm", "proc", "sys", "dev", "tmp", "run",
        "var/lib", "root", "vm",
    ] {
        mkdir(&staging.join(dir))?;
    }
    copy_file(Path::new("/bin/busybox"), &staging.join("bin/busybox"))?;

    let mut binaries = vec![(
        inputs.snapplan.to_path_buf(),
        "usr/bin/snapplan".to_string(),
    )];
    for (tool, dir) in HOST_TOOLS {
        binaries.push((find_tool(tool)?, format!("{dir}/{tool}")));
    }
    let mut libraries = BTreeSet::new();
    for (from, to) in &binaries {
        copy_file(from, &staging.join(to))?;
        let ldd = host::output(cmd("ldd", [from]))?;
        libraries.extend(ldd_paths(&ldd));
    }
    for lib in &libraries {
        copy_file(lib, &under(staging, lib))?;
    }
    if let Some(tools) = inputs.iscsi {
        pack_iscsi_tools(tools, staging)?;
    }
    link_lvm_commands(&find_tool("lvm")?, &staging.join("usr/sbin"))?;
    for tool in THIN_TOOLS {
        let link = staging.join("usr/sbin").join(tool);
        symlink("pdata_tools", &link).map_err(|e| format!("link {}: {e}", link.display()))?;
    }
    // Debug info is most of a release binary, and every MiB of initramfs
    // costs boot time under TCG. Symbols stay, so backtraces keep names.
    if host::run(cmd(
        "strip",
        [
            "--strip-debug".as_ref(),
            staging.join("usr/bin/snapplan").as_os_str(),
        ],
    ))
    .is_err()
    {
        eprintln!("xtask: strip failed; packing snapplan with its debug info");
    }

    let order = load_order(
        &read(&inputs.kernel.modules.join("modules.dep"))?,
        &read(&inputs.kernel.modules.join("modules.builtin")).unwrap_or_default(),
        MODULES,
    )?;
    let modules_dir = staging.join("lib/modules").join(&inputs.kernel.version);
    let mut list = String::new();
    for (name, rel) in &order {
        copy_file(&inputs.kernel.modules.join(rel), &modules_dir.join(rel))?;
        list.push_str(&format!(
            "{name} /lib/modules/{}/{rel}\n",
            inputs.kernel.version
        ));
    }
    if inputs.iscsi.is_some() {
        // Not loaded at boot: scenarios `modprobe` them (depmod below
        // writes their modules.dep), as the kernel does for LIO's backends.
        let iscsi_order = load_order(
            &read(&inputs.kernel.modules.join("modules.dep"))?,
            &read(&inputs.kernel.modules.join("modules.builtin")).unwrap_or_default(),
            iscsi::MODULES,
        )?;
        for (_, rel) in &iscsi_order {
            copy_file(&inputs.kernel.modules.join(rel), &modules_dir.join(rel))?;
        }
    }
    for f in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        let from = inputs.kernel.modules.join(f);
        if from.exists() {
            copy_file(&from, &modules_dir.join(f))?;
        }
    }
    host::run(cmd(
        "depmod",
        [
            "-b".as_ref(),
            staging.as_os_str(),
            inputs.kernel.version.as_ref(),
        ],
    ))?;
    write(&staging.join("vm/modules"), &list)?;

    write(&staging.join("etc/lvm/lvm.conf"), LVM_CONF)?;
    write(
        &staging.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )?;
    write(&staging.join("etc/group"), "root:x:0:\n")?;
    write(&staging.join("init"), INIT)?;
    chmod_x(&staging.join("init"))?;
    for entry in fs::read_dir(inputs.scenario_dir)
        .map_err(|e| format!("{}: {e}", inputs.scenario_dir.display()))?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "sh") {
            let name = path.file_name().unwrap_or_default();
            copy_file(&path, &staging.join("vm").join(name))?;
        }
    }

    let script = "find . | cpio -o -H newc -R 0:0 --quiet | gzip -1 > \"$1\"";
    let mut pack = cmd(
        "sh",
        [
            "-c".as_ref(),
            script.as_ref(),
            "pack".as_ref(),
            out.as_os_str(),
        ],
    );
    pack.current_dir(staging);
    host::run(pack)
}

/// iscsid and iscsiadm with their libraries (the packages' own ones and the
/// host's), the initiator's name, and the packaged iscsid.conf.
fn pack_iscsi_tools(tools: &iscsi::Tools, staging: &Path) -> Result<(), String> {
    let mut libraries = BTreeSet::new();
    for bin in iscsi::BINARIES {
        let from = tools.root.join(bin);
        copy_file(&from, &staging.join(bin))?;
        let mut ldd = cmd("ldd", [&from]);
        ldd.env("LD_LIBRARY_PATH", tools.library_dir());
        let out = host::output(ldd)?;
        if out.contains("not found") {
            return Err(format!(
                "ldd {} names a library that is missing:\n{out}",
                from.display()
            ));
        }
        libraries.extend(ldd_paths(&out));
    }
    for lib in &libraries {
        copy_file(lib, &under(staging, tools.vm_path(lib)))?;
    }
    let conf = tools.root.join("etc/iscsi/iscsid.conf");
    copy_file(&conf, &staging.join("etc/iscsi/iscsid.conf"))?;
    write(
        &staging.join("etc/iscsi/initiatorname.iscsi"),
        iscsi::INITIATOR_NAME,
    )
}

/// Library paths from `ldd` output, including the dynamic loader.
pub fn ldd_paths(ldd: &str) -> Vec<PathBuf> {
    ldd.lines()
        .filter_map(|line| {
            let line = line.trim();
            let target = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            let path = target.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn module_name(rel: &str) -> String {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// `(name, path relative to lib/modules/VERSION)` of `wanted` and their
/// dependencies, each after what it needs, from a modules.dep text. Modules
/// built into the kernel (listed in modules.builtin) are left out.
pub fn load_order(
    modules_dep: &str,
    modules_builtin: &str,
    wanted: &[&str],
) -> Result<Vec<(String, String)>, String> {
    let deps: Vec<(String, String, Vec<String>)> = modules_dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, d)| {
            (
                module_name(m),
                m.trim().to_string(),
                d.split_whitespace().map(String::from).collect(),
            )
        })
        .collect();
    let builtin: BTreeSet<String> = modules_builtin.lines().map(module_name).collect();
    let mut order: Vec<(String, String)> = Vec::new();
    fn visit(
        name: &str,
        deps: &[(String, String, Vec<String>)],
        order: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Result<bool, String> {
        if depth > 64 {
            return Err(format!("module dependency cycle at {name}"));
        }
        let Some((_, rel, needs)) = deps.iter().find(|(n, _, _)| n == name) else {
            return Ok(false);
        };
        for dep in needs {
            visit(&module_name(dep), deps, order, depth + 1)?;
        }
        if !order.iter().any(|(n, _)| n == name) {
            order.push((name.to_string(), rel.clone()));
        }
        Ok(true)
    }
    for w in wanted {
        let name = module_name(w);
        if !visit(&name, &deps, &mut order, 0)? && !builtin.contains(&name) {
            return Err(format!(
                "kernel module {w} is neither in modules.dep nor built in"
            ));
        }
    }
    Ok(order)
}

/// lvm's commands (lvs, vgcreate, ...) are symlinks to it on the host: make
/// the same links in the VM.
fn link_lvm_commands(lvm: &Path, to: &Path) -> Result<(), String> {
    let dir = lvm.parent().unwrap_or(Path::new("/"));
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Ok(target) = fs::read_link(&path) else {
            continue;
        };
        if target.file_name().is_some_and(|n| n == "lvm") {
            let name = path.file_name().unwrap_or_default();
            symlink("lvm", to.join(name)).map_err(|e| format!("link {}: {e}", name.display()))?;
        }
    }
    Ok(())
}

fn find_tool(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` not found on the host (PATH, /usr/sbin, /sbin)"))
}

fn under(root: &Path, absolute: &Path) -> PathBuf {
    root.join(absolute.strip_prefix("/").unwrap_or(absolute))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn chmod_x(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_paths_include_loader_and_skip_vdso() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibudev.so.1 => /lib/x86_64-linux-gnu/libudev.so.1 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\
                   \tlibmissing.so => not found\n";
        assert_eq!(
            ldd_paths(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libudev.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(ldd_paths("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn load_order_puts_dependencies_first_and_skips_builtins() {
        let dep = "kernel/drivers/md/dm-snapshot.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko\n\
                   kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko\n\
                   kernel/drivers/md/dm-mod.ko:\n\
                   kernel/drivers/block/brd.ko:\n";
        let builtin = "kernel/drivers/block/loop.ko\n";
        let order = load_order(
            dep,
            builtin,
            &["brd", "loop", "dm-mod", "dm-bufio", "dm-snapshot"],
        )
        .unwrap();
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["brd", "dm_mod", "dm_bufio", "dm_snapshot"]);
        assert_eq!(order[3].1, "kernel/drivers/md/dm-snapshot.ko");
    }

    #[test]
    fn load_order_names_a_missing_module() {
        let e = load_order("kernel/a.ko:\n", "", &["brd"]).unwrap_err();
        assert!(e.contains("brd"), "{e}");
    }
}

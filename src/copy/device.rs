//! Opening the source and destination: block devices or regular files, with
//! O_DIRECT so the page cache neither serves stale data nor gets flushed of
//! the server's working set. Filesystems that refuse O_DIRECT get buffered
//! I/O, dropped from the cache afterwards, and a note in the report.

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroU64;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{Advice, OFlags};

use super::buffer::{ALIGN, AlignedBuf, round_up};
use super::error::CopyError;
pub use super::identity::{Identity, Kind};

/// An open source or destination.
pub struct Device {
    file: File,
    identity: Identity,
    direct: bool,
    /// Set once any transfer went through the page cache.
    buffered_io: bool,
    note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Device {
    /// Opens a device or file to read from.
    pub fn open_read(path: &Path) -> Result<Device, CopyError> {
        Self::open(path, Access::Read)
    }

    /// Opens a device or file to write to. It must exist: a typo must not
    /// create a file under /dev. Block devices are opened exclusively, so a
    /// mounted destination is refused by the kernel (EBUSY).
    pub fn open_write(path: &Path) -> Result<Device, CopyError> {
        Self::open(path, Access::Write)
    }

    fn open(path: &Path, access: Access) -> Result<Device, CopyError> {
        let open_error = |source| CopyError::Open {
            path: path.to_path_buf(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(open_error)?;
        let kind = if metadata.file_type().is_block_device() {
            Kind::BlockDevice
        } else if metadata.file_type().is_file() {
            Kind::File
        } else {
            return Err(CopyError::NotADevice {
                path: path.to_path_buf(),
            });
        };
        let exclusive = kind == Kind::BlockDevice && access == Access::Write;
        let (file, direct, note) =
            open_preferring_direct(path, |direct| open_file(path, access, direct, exclusive))
                .map_err(|e| {
                    if exclusive && e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error())
                    {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "{e}: is it mounted, or held open exclusively by another program?"
                            ),
                        )
                    } else {
                        e
                    }
                })
                .map_err(open_error)?;
        let size = match kind {
            Kind::BlockDevice => block_device_size(&file),
            Kind::File => file.metadata().map(|m| m.len()),
        }
        .map_err(|source| CopyError::Size {
            path: path.to_path_buf(),
            source,
        })?;
        let identity = Identity {
            // Absolute but with symlinks kept: /dev/vg/lv is stable where
            // the /dev/dm-N it points to is not.
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            kind,
            size,
            device: (kind == Kind::BlockDevice).then(|| {
                let rdev = metadata.rdev();
                format!("{}:{}", rustix::fs::major(rdev), rustix::fs::minor(rdev))
            }),
            inode: (kind == Kind::File).then(|| format!("{}:{}", metadata.dev(), metadata.ino())),
            tag: None,
        };
        Ok(Device {
            file,
            identity,
            direct,
            buffered_io: false,
            note,
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// fstat of the open file: what was opened, whatever the path names now.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    pub fn size(&self) -> u64 {
        self.identity.size
    }

    pub fn path(&self) -> &Path {
        &self.identity.path
    }

    /// Why this device is not using O_DIRECT, if it is not.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Reads `len` bytes at `offset` into `buf` (whose capacity must hold
    /// `len` rounded up to [`ALIGN`]). With O_DIRECT the request is rounded up
    /// to the alignment; the kernel stops at the end of a file whose size is
    /// not a multiple of it.
    pub fn read_chunk(
        &mut self,
        offset: u64,
        len: usize,
        buf: &mut AlignedBuf,
    ) -> Result<(), CopyError> {
        let want = round_up(len);
        assert!(want <= buf.capacity(), "buffer too small for the chunk");
        let mut done = 0;
        while done < len {
            let at = offset + done as u64;
            let end = if self.direct { want } else { len };
            let result = self.file.read_at(&mut buf.whole_mut()[done..end], at);
            match result {
                Ok(0) => {
                    return Err(CopyError::UnexpectedEnd {
                        path: self.path().to_path_buf(),
                        offset: at,
                        expected: self.size(),
                    });
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.stop_direct("refused an O_DIRECT read")
                        .map_err(|source| self.read_error(at, source))?;
                }
                Err(source) => return Err(self.read_error(at, source)),
            }
        }
        buf.set_len(len);
        if !self.direct {
            self.drop_cache(offset, len as u64);
        }
        Ok(())
    }

    fn read_error(&self, offset: u64, source: io::Error) -> CopyError {
        CopyError::Read {
            path: self.path().to_path_buf(),
            offset,
            source,
        }
    }

    /// Writes `data` at `offset` (a multiple of [`ALIGN`]). A tail whose
    /// length is not aligned is written through the page cache: O_DIRECT
    /// cannot write it, and [`Device::sync`] flushes it.
    pub fn write_chunk(&mut self, offset: u64, data: &[u8]) -> Result<(), CopyError> {
        debug_assert_eq!(offset % ALIGN as u64, 0);
        let write_error = |path: &Path, source| CopyError::Write {
            path: path.to_path_buf(),
            offset,
            source,
        };
        if self.direct && !data.len().is_multiple_of(ALIGN) {
            self.set_direct(false)
                .map_err(|e| write_error(self.path(), e))?;
        }
        loop {
            match self.file.write_all_at(data, offset) {
                Ok(()) => break,
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.stop_direct("refused an O_DIRECT write")
                        .map_err(|e| write_error(self.path(), e))?;
                }
                Err(e) => return Err(write_error(self.path(), e)),
            }
        }
        if !self.direct {
            self.buffered_io = true;
        }
        Ok(())
    }

    /// Makes everything written durable (fdatasync), then drops whatever
    /// went through the page cache from it.
    pub fn sync(&mut self) -> Result<(), CopyError> {
        rustix::fs::fdatasync(&self.file).map_err(|e| CopyError::Sync {
            path: self.path().to_path_buf(),
            source: e.into(),
        })?;
        if self.buffered_io {
            self.drop_cache(0, 0);
        }
        Ok(())
    }

    /// Advises the kernel to drop the cached pages of a range (len 0: all).
    /// Only advice: failing it costs cache space, not correctness.
    fn drop_cache(&self, offset: u64, len: u64) {
        let _ = rustix::fs::fadvise(&self.file, offset, NonZeroU64::new(len), Advice::DontNeed);
    }

    fn stop_direct(&mut self, why: &str) -> io::Result<()> {
        self.note = Some(format!(
            "{} {why}; using buffered I/O and dropping it from the page cache",
            self.path().display()
        ));
        self.set_direct(false)
    }

    fn set_direct(&mut self, direct: bool) -> io::Result<()> {
        let mut flags = rustix::fs::fcntl_getfl(&self.file)?;
        flags.set(OFlags::DIRECT, direct);
        rustix::fs::fcntl_setfl(&self.file, flags)?;
        self.direct = direct;
        Ok(())
    }
}

fn open_file(path: &Path, access: Access, direct: bool, exclusive: bool) -> io::Result<File> {
    let mut flags = OFlags::CLOEXEC;
    if direct {
        flags |= OFlags::DIRECT;
    }
    if exclusive {
        flags |= OFlags::EXCL;
    }
    // The destination is opened read-write: a delta copy re-reads a sample
    // of it before trusting the previous manifest (see `spot_check`).
    OpenOptions::new()
        .read(true)
        .write(access == Access::Write)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

/// Opens with O_DIRECT, or without when the filesystem refuses it (EINVAL),
/// returning whether direct I/O is on and, if not, a note saying why.
fn open_preferring_direct(
    path: &Path,
    open: impl Fn(bool) -> io::Result<File>,
) -> io::Result<(File, bool, Option<String>)> {
    match open(true) {
        Ok(file) => Ok((file, true, None)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            let note = format!(
                "{}: the filesystem refuses O_DIRECT; using buffered I/O and dropping it from the page cache",
                path.display()
            );
            open(false).map(|file| (file, false, Some(note)))
        }
        Err(e) => Err(e),
    }
}

/// BLKGETSIZE64: a block device's size in bytes.
fn block_device_size(file: &File) -> io::Result<u64> {
    const BLKGETSIZE64: rustix::ioctl::Opcode = rustix::ioctl::opcode::read::<u64>(0x12, 114);
    // SAFETY: BLKGETSIZE64 is a getter that writes one u64 (size_t on Linux).
    let size =
        unsafe { rustix::ioctl::ioctl(file, rustix::ioctl::Getter::<BLKGETSIZE64, u64>::new()) }?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        file
    }

    #[test]
    fn reads_an_unaligned_tail() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&data);
        let mut dev = Device::open_read(file.path()).unwrap();
        assert_eq!(dev.size(), 10_000);
        let mut buf = AlignedBuf::new(8192);
        dev.read_chunk(8192, 10_000 - 8192, &mut buf).unwrap();
        assert_eq!(buf.as_slice(), &data[8192..]);
    }

    #[test]
    fn reading_past_the_end_names_path_and_offset() {
        let file = file_with(&[7u8; 4096]);
        let mut dev = Device::open_read(file.path()).unwrap();
        let mut buf = AlignedBuf::new(8192);
        let err = dev.read_chunk(0, 8192, &mut buf).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("offset 4096"), "{text}");
        assert!(text.contains(&file.path().display().to_string()), "{text}");
    }

    #[test]
    fn writes_an_unaligned_tail_and_syncs() {
        let file = file_with(&[0u8; 12_345]);
        let mut dev = Device::open_write(file.path()).unwrap();
        let mut buf = AlignedBuf::new(8192);
        buf.whole_mut().fill(0xAB);
        buf.set_len(4096);
        dev.write_chunk(0, buf.as_slice()).unwrap();
        buf.set_len(12_345 - 8192);
        dev.write_chunk(8192, buf.as_slice()).unwrap();
        dev.sync().unwrap();
        let back = std::fs::read(file.path()).unwrap();
        assert!(back[..4096].iter().all(|&b| b == 0xAB));
        assert!(back[4096..8192].iter().all(|&b| b == 0));
        assert!(back[8192..].iter().all(|&b| b == 0xAB));
    }

    #[test]
    fn missing_destination_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        assert!(matches!(
            Device::open_write(&path),
            Err(CopyError::Open { .. })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Device::open_read(dir.path()),
            Err(CopyError::NotADevice { .. })
        ));
    }

    #[test]
    fn falls_back_to_buffered_when_direct_is_refused() {
        let file = file_with(b"x");
        let tries = Cell::new(Vec::new());
        let (_, direct, note) = open_preferring_direct(file.path(), |direct| {
            let mut t = tries.take();
            t.push(direct);
            tries.set(t);
            if direct {
                Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::INVAL.raw_os_error(),
                ))
            } else {
                File::open(file.path())
            }
        })
        .unwrap();
        assert_eq!(tries.take(), vec![true, false]);
        assert!(!direct);
        assert!(note.unwrap().contains("refuses O_DIRECT"));
    }

    #[test]
    fn other_open_errors_are_not_retried() {
        let result = open_preferring_direct(Path::new("/x"), |_| {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn same_object_compares_inodes() {
        let file = file_with(b"abc");
        let a = Device::open_read(file.path()).unwrap();
        let b = Device::open_read(file.path()).unwrap();
        assert!(a.identity().same_object(b.identity()));
        let other = file_with(b"abc");
        let c = Device::open_read(other.path()).unwrap();
        assert!(!a.identity().same_object(c.identity()));
    }
}

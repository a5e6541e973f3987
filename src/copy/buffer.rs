//! Page-aligned buffers: O_DIRECT transfers need the memory address, the
//! length and the file offset aligned to the device's logical block size.
//! 4096 covers every logical block size Linux block devices use.

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;

/// Alignment of buffers, offsets and direct transfer lengths.
pub const ALIGN: usize = 4096;

/// Size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// Rounds `n` up to a multiple of [`ALIGN`].
pub const fn round_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// A heap buffer whose start and capacity are multiples of [`ALIGN`], with
/// a length (`len`) of valid bytes that may be anything up to the capacity.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

// SAFETY: the buffer owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of at least `capacity` bytes (rounded up to [`ALIGN`]).
    pub fn new(capacity: usize) -> Self {
        let capacity = round_up(capacity.max(1));
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        if layout.align() == HUGE_PAGE {
            // SAFETY: the range is this allocation, exclusively ours.
            // Only advice: without huge pages the buffer still works.
            let _ = unsafe {
                rustix::mm::madvise(raw.cast(), capacity, rustix::mm::Advice::LinuxHugepage)
            };
        }
        // SAFETY: ptr is valid for `capacity` bytes; zeroing initialises them.
        unsafe { std::ptr::write_bytes(raw, 0, capacity) };
        AlignedBuf {
            ptr,
            capacity,
            len: 0,
        }
    }

    /// Buffers of whole huge pages are aligned to them: one 4 MiB transfer
    /// is then 2 scatter-gather segments instead of up to 1024, which the
    /// block layer would otherwise split into several requests (virtio-blk
    /// allows ~254 segments per request).
    fn layout(capacity: usize) -> Layout {
        let align = if capacity.is_multiple_of(HUGE_PAGE) {
            HUGE_PAGE
        } else {
            ALIGN
        };
        Layout::from_size_align(capacity, align).expect("buffer size fits a Layout")
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The valid bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for `capacity` initialised bytes, len <= capacity.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole allocation, to read into.
    pub fn whole_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for `capacity` initialised bytes, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    /// Declares how many bytes from the start are valid.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity, "length {len} > capacity");
        self.len = len;
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_rounded() {
        let mut buf = AlignedBuf::new(5000);
        assert_eq!(buf.capacity(), 8192);
        assert_eq!(buf.whole_mut().as_ptr() as usize % ALIGN, 0);
        assert!(buf.as_slice().is_empty());
        buf.whole_mut()[..3].copy_from_slice(b"abc");
        buf.set_len(3);
        assert_eq!(buf.as_slice(), b"abc");
    }

    #[test]
    fn chunk_sized_buffers_are_huge_page_aligned() {
        let mut buf = AlignedBuf::new(4 << 20);
        assert_eq!(buf.whole_mut().as_ptr() as usize % HUGE_PAGE, 0);
        assert!(buf.whole_mut().iter().all(|&b| b == 0));
    }

    #[test]
    #[should_panic(expected = "capacity")]
    fn length_beyond_capacity_panics() {
        AlignedBuf::new(4096).set_len(4097);
    }
}

//! Page-aligned buffers: O_DIRECT transfers need the memory address, the
//! length and the file offset aligned to the device's logical block size.
//! 4096 covers every logical block size Linux block devices use.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

/// Alignment of buffers, offsets and direct transfer lengths.
pub const ALIGN: usize = 4096;

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
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf {
            ptr,
            capacity,
            len: 0,
        }
    }

    fn layout(capacity: usize) -> Layout {
        Layout::from_size_align(capacity, ALIGN).expect("buffer size fits a Layout")
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
    #[should_panic(expected = "capacity")]
    fn length_beyond_capacity_panics() {
        AlignedBuf::new(4096).set_len(4097);
    }
}

//! Which chunks of a copy to read, when the caller knows which byte ranges
//! of the source changed since the copy its previous manifest describes
//! (for a thin origin: `thin_delta` between its kept base and the new
//! snapshot). Pure range arithmetic: blocks of the pool to byte ranges, byte
//! ranges to the manifest's chunks they touch.

use super::manifest::Chunking;

/// `len` bytes from `offset` of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub len: u64,
}

/// A block range does not fit in 64-bit byte offsets: the delta is
/// nonsense, and the copy must read everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block range {begin}+{length} of {block_bytes}-byte blocks overflows a byte offset")]
pub struct RangeOverflow {
    pub begin: u64,
    pub length: u64,
    pub block_bytes: u64,
}

/// `(begin, length)` in blocks of `block_bytes` to byte ranges, in order,
/// adjacent ones merged.
pub fn blocks_to_bytes(
    blocks: &[(u64, u64)],
    block_bytes: u64,
) -> Result<Vec<ByteRange>, RangeOverflow> {
    let mut out: Vec<ByteRange> = Vec::with_capacity(blocks.len());
    let mut sorted = blocks.to_vec();
    sorted.sort_unstable();
    for (begin, length) in sorted {
        if length == 0 {
            continue;
        }
        let overflow = RangeOverflow {
            begin,
            length,
            block_bytes,
        };
        let offset = begin.checked_mul(block_bytes).ok_or(overflow.clone())?;
        let len = length.checked_mul(block_bytes).ok_or(overflow.clone())?;
        offset.checked_add(len).ok_or(overflow)?;
        match out.last_mut() {
            Some(last) if last.offset + last.len >= offset => {
                let end = (last.offset + last.len).max(offset + len);
                last.len = end - last.offset;
            }
            _ => out.push(ByteRange { offset, len }),
        }
    }
    Ok(out)
}

/// For each chunk of `chunking`: whether some byte of `ranges` falls in it.
/// Ranges past the end of the source are cut at it.
pub fn chunks_touched(ranges: &[ByteRange], chunking: Chunking) -> Vec<bool> {
    let count = chunking.count();
    let mut touched = vec![false; count as usize];
    for range in ranges {
        if range.len == 0 || range.offset >= chunking.size {
            continue;
        }
        let last_byte = (range.offset + (range.len - 1)).min(chunking.size - 1);
        let first = range.offset / chunking.chunk_size;
        let last = last_byte / chunking.chunk_size;
        for flag in &mut touched[first as usize..=last as usize] {
            *flag = true;
        }
    }
    touched
}

/// Bytes of the source the touched chunks cover: what a ranged copy reads.
pub fn touched_bytes(touched: &[bool], chunking: Chunking) -> u64 {
    touched
        .iter()
        .enumerate()
        .filter(|(_, t)| **t)
        .map(|(i, _)| chunking.chunk(i as u64).1)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn one_mib_changed_in_64k_blocks_touches_one_or_two_4mib_chunks() {
        // 1 MiB at 3.5 MiB: blocks 56..72 of 64 KiB straddle chunks 0 and 1.
        let bytes = blocks_to_bytes(&[(56, 16)], 64 << 10).unwrap();
        assert_eq!(
            bytes,
            [ByteRange {
                offset: 3 * MIB + MIB / 2,
                len: MIB
            }]
        );
        let chunking = Chunking {
            size: 32 * MIB,
            chunk_size: 4 * MIB,
        };
        let touched = chunks_touched(&bytes, chunking);
        assert_eq!(
            touched,
            [true, true, false, false, false, false, false, false]
        );
        assert_eq!(touched_bytes(&touched, chunking), 8 * MIB);
        let inside = chunks_touched(&blocks_to_bytes(&[(64, 16)], 64 << 10).unwrap(), chunking);
        assert_eq!(touched_bytes(&inside, chunking), 4 * MIB);
    }

    #[test]
    fn adjacent_and_overlapping_block_ranges_merge_and_empty_ones_vanish() {
        let bytes = blocks_to_bytes(&[(10, 2), (0, 4), (4, 2), (11, 5), (20, 0)], 512).unwrap();
        assert_eq!(
            bytes,
            [
                ByteRange {
                    offset: 0,
                    len: 6 * 512
                },
                ByteRange {
                    offset: 10 * 512,
                    len: 6 * 512
                }
            ]
        );
    }

    #[test]
    fn a_range_past_the_end_of_a_64_bit_offset_is_an_error_not_a_wrap() {
        let err = blocks_to_bytes(&[(u64::MAX / 2, 4)], 128 << 10).unwrap_err();
        assert_eq!(err.begin, u64::MAX / 2);
        assert!(blocks_to_bytes(&[(0, u64::MAX)], 2).is_err());
    }

    #[test]
    fn ranges_past_the_end_of_the_source_are_cut_at_it() {
        let chunking = Chunking {
            size: 10 * MIB,
            chunk_size: 4 * MIB,
        };
        let touched = chunks_touched(
            &[ByteRange {
                offset: 9 * MIB,
                len: 100 * MIB,
            }],
            chunking,
        );
        assert_eq!(touched, [false, false, true]);
        assert_eq!(touched_bytes(&touched, chunking), 2 * MIB);
        let beyond = [ByteRange {
            offset: 11 * MIB,
            len: MIB,
        }];
        assert_eq!(chunks_touched(&beyond, chunking), [false, false, false]);
    }

    proptest! {
        #[test]
        fn a_chunk_is_touched_exactly_when_a_changed_byte_falls_in_it(
            blocks in proptest::collection::vec((0u64..600, 0u64..40), 0..12),
            block_kib in prop_oneof![Just(64u64), Just(128), Just(512), Just(1024)],
            chunk_kib in prop_oneof![Just(64u64), Just(256), Just(4096)],
            size_kib in 1u64..40_000,
        ) {
            let block = block_kib << 10;
            let chunking = Chunking { size: size_kib << 10, chunk_size: chunk_kib << 10 };
            let bytes = blocks_to_bytes(&blocks, block).unwrap();
            // Merged, sorted, disjoint, and the same bytes as the blocks.
            for pair in bytes.windows(2) {
                prop_assert!(pair[0].offset + pair[0].len < pair[1].offset);
            }
            let in_blocks = |b: u64| blocks.iter().any(|&(s, l)| b >= s * block && b < (s + l) * block);
            let in_bytes = |b: u64| bytes.iter().any(|r| b >= r.offset && b < r.offset + r.len);
            let touched = chunks_touched(&bytes, chunking);
            prop_assert_eq!(touched.len() as u64, chunking.count());
            for (i, &t) in touched.iter().enumerate() {
                let (offset, len) = chunking.chunk(i as u64);
                // Sample every block boundary inside the chunk, and its ends.
                let mut points = vec![offset, offset + len - 1];
                let mut p = offset.div_ceil(block) * block;
                while p < offset + len {
                    points.push(p);
                    points.push((p + block - 1).min(offset + len - 1));
                    p += block;
                }
                let changed = points.iter().any(|&b| in_blocks(b));
                prop_assert_eq!(t, changed, "chunk {}", i);
                prop_assert_eq!(points.iter().any(|&b| in_bytes(b)), changed);
            }
        }
    }
}

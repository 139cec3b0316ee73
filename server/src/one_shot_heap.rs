//! The heap of one-shot commands (`render`, `diff`): a bump allocator on huge pages.
//!
//! These commands allocate a few hundred thousand small blocks, free nearly none of
//! them before they exit, and are measured whole-process against `git diff` and
//! `kubectl kustomize`. With glibc's malloc, page faults were most of their system
//! time (on the 4,000-object diff: ~1,750 faults, ~1,200 of them in the heaps: the
//! main heap cannot be given huge pages from its first byte, and each helper thread
//! gets an arena of its own in 4 KiB pages), and malloc and free themselves a
//! further ~5% of the time. Here every thread carves blocks out of one region that
//! was marked for transparent huge pages before anything touched it: a 2 MiB page
//! costs one fault, and an allocation is an add.
//!
//! Freed memory is not reused, except the last block of a thread's chunk (so a
//! growing `Vec` or `String` at the end of a chunk grows in place). That is right
//! only for processes that end soon after their work, which is why only `main`
//! switches it on, and only for those commands. Everything else (and anything past
//! the reserved region, or any allocation when it could not be reserved) goes to the
//! system allocator, as before it is switched on: `dealloc` tells the two apart by
//! address.
//!
//! Why not a crate: general allocators (mimalloc, jemalloc) would replace the web
//! server's allocator as well and still free block by block; bump crates (bumpalo)
//! are arenas a program passes around, not a process allocator that can be
//! switched on at start. What is needed here is those ~100 lines.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Address space reserved (not memory: pages exist once touched). Inputs are capped at
/// 256 MiB a side, and a process needing more than this falls back to `System`.
const RESERVE: usize = 4 << 30;
const HUGE_PAGE: usize = 2 << 20;
/// What a thread takes from the shared region at a time: threads bump their own
/// chunk, so they do not fight over one counter on every allocation.
const CHUNK_BYTES: usize = 256 << 10;

pub struct OneShotHeap {
    /// `[start, end)` is the region; both 0 until [`OneShotHeap::switch_on`].
    start: AtomicUsize,
    end: AtomicUsize,
    /// The shared region's first free byte.
    next: AtomicUsize,
}

/// A thread's current chunk: `[start, end)`, handed out up to `next` (all 0: none yet).
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    next: usize,
    end: usize,
}

impl Chunk {
    /// `[at, at + size)` is the block this chunk handed out last.
    fn ends_with(self, at: usize, size: usize) -> bool {
        at >= self.start && self.next == at + size
    }
}

/// `x` rounded up to a multiple of `align` (a power of two).
fn align_up(x: usize, align: usize) -> Option<usize> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// Resizes, in place, the block at `at` of `old` bytes to `new` bytes (0: frees it) if
/// it is the last block of this thread's chunk and the chunk has room.
fn resize_last_block(at: usize, old: usize, new: usize) -> bool {
    let mut chunk = CHUNK.get();
    let fits = chunk.ends_with(at, old) && at + new <= chunk.end;
    if fits {
        chunk.next = at + new;
        CHUNK.set(chunk);
    }
    fits
}

thread_local! {
    /// A `Cell` with a const initializer: no destructor, no allocation, usable here.
    static CHUNK: Cell<Chunk> = const { Cell::new(Chunk { start: 0, next: 0, end: 0 }) };
}

impl OneShotHeap {
    pub const fn new() -> OneShotHeap {
        OneShotHeap {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
        }
    }

    /// Reserves the region. Call once, before other threads start; if the system
    /// refuses (an address-space limit, strict overcommit), nothing changes.
    pub fn switch_on(&self) {
        #[cfg(target_os = "linux")]
        // SAFETY: a fresh private anonymous mapping, used only by this allocator;
        // madvise is a hint about that mapping (its failure changes nothing).
        unsafe {
            let len = RESERVE + HUGE_PAGE;
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            let p = libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0);
            if p == libc::MAP_FAILED {
                return;
            }
            // Huge pages need 2 MiB-aligned addresses.
            let Some(start) = align_up(p as usize, HUGE_PAGE) else {
                return;
            };
            libc::madvise(start as *mut libc::c_void, RESERVE, libc::MADV_HUGEPAGE);
            self.next.store(start, Relaxed);
            self.start.store(start, Relaxed);
            self.end.store(start + RESERVE, Relaxed);
        }
    }

    fn owns(&self, p: *mut u8) -> bool {
        let p = p as usize;
        p >= self.start.load(Relaxed) && p < self.end.load(Relaxed)
    }

    /// `size` bytes aligned to `align` from the shared region, if it has room.
    fn take_shared(&self, size: usize, align: usize) -> Option<usize> {
        let end = self.end.load(Relaxed);
        let mut cur = self.next.load(Relaxed);
        loop {
            let at = align_up(cur, align)?;
            let new = at.checked_add(size).filter(|&n| n <= end)?;
            match self.next.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => return Some(at),
                Err(now) => cur = now,
            }
        }
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if self.end.load(Relaxed) == 0 {
            return None;
        }
        let (size, align) = (layout.size(), layout.align());
        if size >= CHUNK_BYTES / 4 {
            // Big blocks directly, so chunks are not wasted on them.
            return self.take_shared(size, align).map(|a| a as *mut u8);
        }
        let mut chunk = CHUNK.get();
        let mut at = align_up(chunk.next, align)?;
        // A chunk of another heap (tests make several on one thread) is not this one's.
        let mine = chunk.start >= self.start.load(Relaxed) && chunk.end <= self.end.load(Relaxed);
        if chunk.next == 0 || !mine || at + size > chunk.end {
            let start = self.take_shared(CHUNK_BYTES, align.max(64))?;
            chunk = Chunk {
                start,
                next: start,
                end: start + CHUNK_BYTES,
            };
            at = align_up(start, align)?;
        }
        chunk.next = at + size;
        CHUNK.set(chunk);
        Some(at as *mut u8)
    }
}

impl Default for OneShotHeap {
    fn default() -> Self {
        OneShotHeap::new()
    }
}

// SAFETY: blocks from the region never overlap (the shared counter and each thread's
// chunk only move forward, except that a thread takes back the last block of its own
// chunk when it is freed or resized); each is aligned as asked; blocks from `System`
// are given back to `System`, told apart by address.
unsafe impl GlobalAlloc for OneShotHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            // The chunk's last block can be handed out again; others stay until exit.
            resize_last_block(ptr as usize, layout.size(), 0);
            return;
        }
        // SAFETY: not ours, so it came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: a `System` block stays with `System`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let at = ptr as usize;
        // The last block of this thread's chunk shrinks, or grows while the chunk has room, in place.
        if resize_last_block(at, layout.size(), new_size) {
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // So does the last block of the shared region (a big `Vec` being filled).
        let (old_end, new_end) = (at + layout.size(), at.saturating_add(new_size));
        if new_end <= self.end.load(Relaxed)
            && self
                .next
                .compare_exchange(old_end, new_end, Relaxed, Relaxed)
                .is_ok()
        {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size`, rounded to `align`, fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for any allocation.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for `layout.size()` bytes and distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn before_switching_on_everything_comes_from_the_system() {
        let heap = OneShotHeap::new();
        // SAFETY: non-zero layouts; each block freed once with its layout.
        unsafe {
            let p = heap.alloc(layout(100, 8));
            assert!(!p.is_null() && !heap.owns(p));
            let p = heap.realloc(p, layout(100, 8), 5000);
            assert!(!heap.owns(p));
            heap.dealloc(p, layout(5000, 8));
        }
    }

    #[test]
    fn blocks_are_aligned_distinct_and_keep_their_bytes_across_threads() {
        let heap = OneShotHeap::new();
        heap.switch_on();
        assert!(
            heap.end.load(Relaxed) > 0,
            "the region could not be reserved"
        );
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let heap = &heap;
                s.spawn(move || {
                    let mut blocks = Vec::new();
                    // SAFETY: every block is written within its size and freed once
                    // with the layout it has at that time.
                    unsafe {
                        for i in 0..5_000usize {
                            let (size, align) = (1 + (i * 7919) % 1500, 1 << (i % 7));
                            let mut p = heap.alloc(layout(size, align));
                            assert!(heap.owns(p) && (p as usize).is_multiple_of(align));
                            p.write_bytes(t, size);
                            let mut size_now = size;
                            if i % 3 == 0 {
                                // Grows in place when last, moves otherwise; bytes follow.
                                size_now = size * 2 + 70_000 * usize::from(i % 300 == 0);
                                p = heap.realloc(p, layout(size, align), size_now);
                                assert!((p as usize).is_multiple_of(align));
                                p.add(size).write_bytes(t, size_now - size);
                            }
                            if i % 5 == 0 {
                                heap.dealloc(p, layout(size_now, align));
                            } else {
                                blocks.push((p, size_now));
                            }
                        }
                        let pattern = vec![t; 80_000];
                        for (p, size) in blocks {
                            let bytes = std::slice::from_raw_parts(p, size);
                            assert!(bytes == &pattern[..size], "a block was overwritten");
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn the_last_block_grows_in_place_and_a_freed_last_block_is_reused() {
        let heap = OneShotHeap::new();
        heap.switch_on();
        // SAFETY: as above.
        unsafe {
            let a = heap.alloc(layout(64, 8));
            let grown = heap.realloc(a, layout(64, 8), 4096);
            assert_eq!(grown, a);
            let b = heap.alloc(layout(32, 8));
            // `a` is no longer last: it moves, with its bytes.
            a.write_bytes(7, 4096);
            let moved = heap.realloc(a, layout(4096, 8), 8192);
            assert_ne!(moved, a);
            assert_eq!(*moved.add(4095), 7);
            heap.dealloc(moved, layout(8192, 8));
            assert_eq!(heap.alloc(layout(16, 8)), moved);
            assert_ne!(b, moved);
        }
    }
}

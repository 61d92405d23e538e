// SPDX-License-Identifier: GPL-2.0

//! Zero-initialised kernel buffers for large arrays (`kvzalloc`):
//! [`KvBuf`] (unique) and [`KvShared`] (reference-counted).

use super::bindings;
use super::Errno;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

mod private {
    pub trait Sealed {}
}

/// Types for which all-zero memory is a valid value.
pub trait Zeroable: private::Sealed + Sized {}
impl private::Sealed for u8 {}
impl Zeroable for u8 {}
impl private::Sealed for u64 {}
impl Zeroable for u64 {}
impl private::Sealed for AtomicU64 {}
impl Zeroable for AtomicU64 {}

fn alloc_zeroed(bytes: usize) -> Result<NonNull<u8>, Errno> {
    // SAFETY: kvzalloc may be called with any size from process context.
    NonNull::new(unsafe { bindings::dm_remap_kvzalloc(bytes.max(1)) }.cast::<u8>())
        .ok_or(Errno::ENOMEM)
}

/// A uniquely owned, zero-initialised `[T]` in `kvzalloc` memory.
pub struct KvBuf<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

// SAFETY: a `KvBuf<T>` owns its elements like a `Box<[T]>`.
unsafe impl<T: Zeroable + Send> Send for KvBuf<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroable + Sync> Sync for KvBuf<T> {}

impl<T: Zeroable> KvBuf<T> {
    /// `len` zeroed elements.
    pub fn new(len: usize) -> Result<Self, Errno> {
        let bytes = len
            .checked_mul(core::mem::size_of::<T>())
            .ok_or(Errno::ENOMEM)?;
        Ok(Self {
            ptr: alloc_zeroed(bytes)?.cast(),
            len,
            _owns: PhantomData,
        })
    }

    /// True if the memory came from vmalloc (not physically contiguous).
    pub fn is_vmalloc(&self) -> bool {
        // SAFETY: any address may be tested.
        unsafe { bindings::dm_remap_is_vmalloc_addr(self.ptr.as_ptr().cast()) }
    }
}

impl<T: Zeroable> Deref for KvBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` zero-initialised (hence valid) `T`s owned by us.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for KvBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as above, and `&mut self` is unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for KvBuf<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by kvzalloc in `new`, freed once; `Zeroable`
        // types need no drop glue.
        unsafe { bindings::kvfree(self.ptr.as_ptr().cast()) };
    }
}

#[repr(C)]
struct SharedHeader {
    refs: AtomicUsize,
    len: usize,
}

/// A reference-counted, zero-initialised `[T]` in `kvzalloc` memory, for
/// arrays read lock-free by several owners (e.g. the remap table, read by
/// the bio map path and written by the engine).  `T` must be `Sync` data
/// such as atomics: only shared access is given out.
pub struct KvShared<T: Zeroable + Sync> {
    header: NonNull<SharedHeader>,
    _owns: PhantomData<T>,
}

// SAFETY: only `&[T]` is handed out and `T: Sync`; the count is atomic.
unsafe impl<T: Zeroable + Sync> Send for KvShared<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroable + Sync> Sync for KvShared<T> {}

impl<T: Zeroable + Sync> KvShared<T> {
    const DATA_OFFSET: usize = {
        let align = core::mem::align_of::<T>();
        let header = core::mem::size_of::<SharedHeader>();
        header.div_ceil(align) * align
    };

    /// `len` zeroed elements with one reference.
    pub fn new(len: usize) -> Result<Self, Errno> {
        let bytes = len
            .checked_mul(core::mem::size_of::<T>())
            .and_then(|b| b.checked_add(Self::DATA_OFFSET))
            .ok_or(Errno::ENOMEM)?;
        let header = alloc_zeroed(bytes)?.cast::<SharedHeader>();
        // SAFETY: fresh, suitably aligned (kvzalloc gives at least 8-byte
        // alignment, enough for the header and for `T`s of our types).
        unsafe {
            header.as_ptr().write(SharedHeader {
                refs: AtomicUsize::new(1),
                len,
            })
        };
        Ok(Self {
            header,
            _owns: PhantomData,
        })
    }
}

impl<T: Zeroable + Sync> Clone for KvShared<T> {
    fn clone(&self) -> Self {
        // SAFETY: the header is alive while any handle is.
        unsafe { self.header.as_ref() }
            .refs
            .fetch_add(1, Ordering::Relaxed);
        Self {
            header: self.header,
            _owns: PhantomData,
        }
    }
}

impl<T: Zeroable + Sync> Deref for KvShared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the data follows the header at DATA_OFFSET and holds `len`
        // zero-initialised `T`s for as long as any handle is alive.
        unsafe {
            let len = self.header.as_ref().len;
            let data = self
                .header
                .as_ptr()
                .cast::<u8>()
                .add(Self::DATA_OFFSET)
                .cast::<T>();
            core::slice::from_raw_parts(data, len)
        }
    }
}

impl<T: Zeroable + Sync> Drop for KvShared<T> {
    fn drop(&mut self) {
        // SAFETY: the header is alive while this handle is.
        if unsafe { self.header.as_ref() }
            .refs
            .fetch_sub(1, Ordering::AcqRel)
            == 1
        {
            // SAFETY: this was the last handle; nobody can reach the memory.
            unsafe { bindings::kvfree(self.header.as_ptr().cast()) };
        }
    }
}

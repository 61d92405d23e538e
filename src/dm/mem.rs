// SPDX-License-Identifier: GPL-2.0

//! Owned kernel allocations.
//!
//! [`KzBox`] is a minimal owning pointer over `kzalloc`/`kfree`, independent
//! of the kernel crate's allocator API (which differs between the kernel
//! lines we build for).

use super::bindings;
use super::Errno;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

/// The alignment `kmalloc` guarantees for every allocation
/// (`ARCH_KMALLOC_MINALIGN`, at least `sizeof(unsigned long long)`).
const KMALLOC_MIN_ALIGN: usize = 8;

/// An owned, heap-allocated `T` in `kzalloc` memory.
pub struct KzBox<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

impl<T> KzBox<T> {
    /// Move `value` into a new `kzalloc` allocation.
    pub fn new(value: T) -> Result<Self, Errno> {
        const { assert!(core::mem::align_of::<T>() <= KMALLOC_MIN_ALIGN) };
        let size = core::mem::size_of::<T>().max(1);
        // SAFETY: `kzalloc` may be called with any size from process context,
        // which is where targets are constructed.
        let raw = unsafe { bindings::dm_remap_kzalloc(size) }.cast::<T>();
        let ptr = NonNull::new(raw).ok_or(Errno::ENOMEM)?;
        // SAFETY: `ptr` is a fresh allocation of at least `size_of::<T>()`
        // bytes, aligned for `T` (checked above), and not yet initialised.
        unsafe { ptr.as_ptr().write(value) };
        Ok(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// Give up ownership; the allocation must be passed to [`KzBox::from_raw`]
    /// later to be freed.
    pub fn into_raw(self) -> *mut T {
        let ptr = self.ptr.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// Take back ownership of an allocation made by [`KzBox::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`KzBox::into_raw`] and must not be used after
    /// this call by anyone else.
    pub unsafe fn from_raw(ptr: *mut T) -> Self {
        Self {
            // SAFETY: the caller guarantees `ptr` came from `into_raw`, so it
            // is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for KzBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` points to an initialised `T` owned by this box.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for KzBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: `ptr` points to an initialised `T` owned exclusively by
        // this box, and we hold `&mut self`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for KzBox<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` points to an initialised `T` that nobody else owns;
        // after dropping it in place the memory is freed exactly once.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            bindings::kfree(self.ptr.as_ptr().cast());
        }
    }
}

// SAFETY: `KzBox<T>` owns its `T` like `Box<T>` does; sending or sharing it
// is exactly as safe as sending or sharing `T`.
unsafe impl<T: Send> Send for KzBox<T> {}
// SAFETY: see above.
unsafe impl<T: Sync> Sync for KzBox<T> {}

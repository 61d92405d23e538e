// SPDX-License-Identifier: GPL-2.0

//! Kernel locks: [`Mutex`] (sleeping) and [`SpinLock`] (IRQ-safe).
//!
//! The C lock lives in its own small heap allocation, so the Rust value can
//! move freely (a `struct mutex` must never move once initialised: its wait
//! list points to itself).

use super::bindings;
use super::mem::KzBox;
use super::Errno;
use core::cell::UnsafeCell;
use core::ffi::c_ulong;
use core::ops::{Deref, DerefMut};

struct RawMutex(UnsafeCell<bindings::mutex>);
struct RawSpinLock(UnsafeCell<bindings::spinlock_t>);

/// A sleeping lock protecting a `T`; lock it only from process context.
pub struct Mutex<T> {
    raw: KzBox<RawMutex>,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex serialises all access to `data`, so sharing the lock is
// as safe as sending `T` between threads.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: owning the lock and its data on another thread is fine if `T` is.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `data`.
    pub fn new(data: T) -> Result<Self, Errno> {
        let raw = KzBox::new(RawMutex(UnsafeCell::new(Default::default())))?;
        // SAFETY: `raw` is a zeroed `struct mutex` at its final address
        // (the heap); it is initialised once, before any use.
        unsafe { bindings::dm_remap_mutex_init(raw.0.get()) };
        Ok(Self {
            raw,
            data: UnsafeCell::new(data),
        })
    }

    /// Lock, sleeping until the lock is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: the mutex was initialised in `new`; the guard unlocks it.
        unsafe { bindings::dm_remap_mutex_lock(self.raw.0.get()) };
        MutexGuard { lock: self }
    }
}

/// Proof of holding a [`Mutex`]; unlocks on drop.
pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no one else accesses `data`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard locked the mutex in `Mutex::lock`.
        unsafe { bindings::mutex_unlock(self.lock.raw.0.get()) };
    }
}

/// A spinning lock taken with interrupts disabled, for state shared with
/// bio completion (which may run in interrupt context).
pub struct SpinLock<T> {
    raw: KzBox<RawSpinLock>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `data`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as for `Mutex`.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new unlocked spinlock holding `data`.
    pub fn new(data: T) -> Result<Self, Errno> {
        let raw = KzBox::new(RawSpinLock(UnsafeCell::new(Default::default())))?;
        // SAFETY: zeroed `spinlock_t` at its final address, initialised once.
        unsafe { bindings::dm_remap_spin_lock_init(raw.0.get()) };
        Ok(Self {
            raw,
            data: UnsafeCell::new(data),
        })
    }

    /// Lock with interrupts disabled; never sleeps.  Do not sleep while
    /// holding the guard.
    pub fn lock(&self) -> SpinGuard<'_, T> {
        // SAFETY: initialised in `new`; the guard restores `flags`.
        let flags = unsafe { bindings::dm_remap_spin_lock_irqsave(self.raw.0.get()) };
        SpinGuard { lock: self, flags }
    }
}

/// Proof of holding a [`SpinLock`]; unlocks and restores interrupts on drop.
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    flags: c_ulong,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and `&mut self` is unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard took the lock with these saved flags.
        unsafe { bindings::dm_remap_spin_unlock_irqrestore(self.lock.raw.0.get(), self.flags) };
    }
}

/// Full memory barrier after an atomic read-modify-write, like the kernel's
/// `smp_mb__after_atomic()`: orders the RMW before later loads.  On x86 a
/// locked RMW already is a full barrier, so only the compiler is fenced.
#[inline(always)]
pub fn mb_after_atomic() {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

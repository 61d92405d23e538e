// SPDX-License-Identifier: GPL-2.0

//! A work item with its own workqueue: [`WorkBox`].

use super::bindings;
use super::mem::KzBox;
use super::Errno;
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::ops::Deref;

/// What a [`WorkBox`] runs, in process context, one run at a time.
pub trait WorkItem: Send + Sync {
    /// Called from the workqueue after [`WorkBox::queue`].
    fn run(&self);
}

/// `repr(C)` so that the `work_struct` is at offset 0 and the callback can
/// find its container from the pointer it is given.
#[repr(C)]
struct Inner<T> {
    work: UnsafeCell<bindings::work_struct>,
    wq: *mut bindings::workqueue_struct,
    data: T,
}

/// `T` together with a work item that runs `T::run` on a dedicated
/// single-threaded workqueue (`WQ_MEM_RECLAIM`, so it makes progress under
/// memory pressure, as block I/O work must).  Dropping it cancels pending
/// work and waits for a running one before `T` is dropped.
pub struct WorkBox<T: WorkItem> {
    inner: KzBox<Inner<T>>,
}

// SAFETY: `T: Send + Sync`; the work item itself is managed by the kernel's
// workqueue code, which is thread-safe.
unsafe impl<T: WorkItem> Send for WorkBox<T> {}
// SAFETY: `&WorkBox` only gives `&T` and `queue`/`flush`, both thread-safe.
unsafe impl<T: WorkItem> Sync for WorkBox<T> {}

unsafe extern "C" fn work_fn<T: WorkItem>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of a live `Inner<T>` (repr(C)); the
    // `WorkBox` cancels the work before freeing it, so it is alive here.
    let inner = unsafe { &*work.cast::<Inner<T>>() };
    inner.data.run();
}

impl<T: WorkItem> WorkBox<T> {
    /// Allocate `data` next to a work item and a workqueue called `name`.
    pub fn new(name: &CStr, data: T) -> Result<Self, Errno> {
        // SAFETY: `name` is NUL-terminated; alloc_workqueue copies it.
        let wq = unsafe { bindings::dm_remap_alloc_workqueue(name.as_ptr()) };
        if wq.is_null() {
            return Err(Errno::ENOMEM);
        }
        let inner = KzBox::new(Inner {
            work: UnsafeCell::new(Default::default()),
            wq,
            data,
        });
        let inner = match inner {
            Ok(inner) => inner,
            Err(e) => {
                // SAFETY: `wq` was allocated above and never used.
                unsafe { bindings::destroy_workqueue(wq) };
                return Err(e);
            }
        };
        // SAFETY: the `work_struct` is at its final (heap) address and is
        // initialised once, before it can be queued.
        unsafe { bindings::dm_remap_init_work(inner.work.get(), Some(work_fn::<T>)) };
        Ok(Self { inner })
    }

    /// Queue the work; a no-op if it is already queued (not yet running).
    pub fn queue(&self) {
        // SAFETY: `work` and `wq` are initialised and alive while `self` is.
        unsafe { bindings::dm_remap_queue_work(self.inner.wq, self.inner.work.get()) };
    }

    /// Wait until all queued work has run.  Sleeps.
    pub fn flush(&self) {
        // SAFETY: `wq` is alive while `self` is.
        unsafe { bindings::dm_remap_flush_workqueue(self.inner.wq) };
    }
}

impl<T: WorkItem> Deref for WorkBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner.data
    }
}

impl<T: WorkItem> Drop for WorkBox<T> {
    fn drop(&mut self) {
        // After cancel_work_sync the work is neither queued nor running and
        // nobody can queue it again (we own the only handle); the queue is
        // then drained and freed.  `data` is dropped afterwards, with the
        // KzBox.
        // SAFETY: the work item was initialised in `new` and is alive.
        unsafe { bindings::cancel_work_sync(self.inner.work.get()) };
        // SAFETY: allocated in `new`; no work can be queued on it any more.
        unsafe { bindings::destroy_workqueue(self.inner.wq) };
    }
}

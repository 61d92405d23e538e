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
    /// Called from the workqueue after [`WorkBox::queue`] or
    /// [`WorkBox::queue_after`]; `work` can queue the next run.
    fn run(&self, work: &WorkRef<'_>);
}

/// Queues runs of the work item of a live [`WorkBox`].
pub struct WorkRef<'a> {
    work: *mut bindings::delayed_work,
    wq: *mut bindings::workqueue_struct,
    _box: core::marker::PhantomData<&'a ()>,
}

impl WorkRef<'_> {
    /// Run the work as soon as possible (pulling in a delayed run); a no-op
    /// if it is already queued to run now.
    pub fn queue(&self) {
        // SAFETY: `work` and `wq` belong to a `WorkBox` that outlives `'a`.
        unsafe { bindings::dm_remap_mod_delayed_work(self.wq, self.work, 0) };
    }

    /// Run the work in `ms` milliseconds, unless it is already queued (to
    /// run sooner or later): an earlier request is never postponed.
    pub fn queue_after(&self, ms: u32) {
        // SAFETY: as for `queue`.
        unsafe { bindings::dm_remap_queue_delayed_work(self.wq, self.work, ms) };
    }
}

/// `repr(C)` so that the `delayed_work` (whose first field is the
/// `work_struct`) is at offset 0 and the callback can find its container
/// from the pointer it is given.
#[repr(C)]
struct Inner<T> {
    work: UnsafeCell<bindings::delayed_work>,
    wq: *mut bindings::workqueue_struct,
    data: T,
}

/// `T` together with a (delayable) work item that runs `T::run` on a
/// dedicated single-threaded workqueue (`WQ_MEM_RECLAIM`, so it makes
/// progress under memory pressure, as block I/O work must).  Dropping it
/// cancels pending work and waits for a running one before `T` is dropped.
pub struct WorkBox<T: WorkItem> {
    inner: KzBox<Inner<T>>,
}

// SAFETY: `T: Send + Sync`; the work item itself is managed by the kernel's
// workqueue code, which is thread-safe.
unsafe impl<T: WorkItem> Send for WorkBox<T> {}
// SAFETY: `&WorkBox` only gives `&T` and `queue`/`flush`/`cancel`, all
// thread-safe.
unsafe impl<T: WorkItem> Sync for WorkBox<T> {}

unsafe extern "C" fn work_fn<T: WorkItem>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of the `delayed_work` that is the
    // first field of a live `Inner<T>` (both repr(C)); the `WorkBox` cancels
    // the work before freeing it, so it is alive here.
    let inner = unsafe { &*work.cast::<Inner<T>>() };
    inner.data.run(&inner.work_ref());
}

impl<T> Inner<T> {
    fn work_ref(&self) -> WorkRef<'_> {
        WorkRef {
            work: self.work.get(),
            wq: self.wq,
            _box: core::marker::PhantomData,
        }
    }
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
        // SAFETY: the `delayed_work` is at its final (heap) address and is
        // initialised once, before it can be queued.
        unsafe { bindings::dm_remap_init_delayed_work(inner.work.get(), Some(work_fn::<T>)) };
        Ok(Self { inner })
    }

    /// Handle to queue runs of the work (see [`WorkRef`]).
    pub fn work_ref(&self) -> WorkRef<'_> {
        self.inner.work_ref()
    }

    /// Cancel a queued run and wait for a running one to finish.  Sleeps.
    /// The work may be queued again afterwards.
    pub fn cancel(&self) {
        // SAFETY: the work item was initialised in `new` and is alive.
        unsafe { bindings::cancel_delayed_work_sync(self.inner.work.get()) };
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
        // After cancel_delayed_work_sync the work is neither queued nor
        // running and nobody can queue it again (we own the only handle);
        // the queue is then drained and freed.  `data` is dropped
        // afterwards, with the KzBox.
        self.cancel();
        // SAFETY: allocated in `new`; no work can be queued on it any more.
        unsafe { bindings::destroy_workqueue(self.inner.wq) };
    }
}

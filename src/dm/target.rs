// SPDX-License-Identifier: GPL-2.0

//! The [`Target`] trait and its registration with device-mapper core.
//!
//! A target type implements [`Target`]; [`Registration::new`] builds the C
//! `struct target_type` whose hooks are `extern "C"` trampolines that turn the
//! raw arguments into the safe views of this module and call the trait.  The
//! target's state (`Self`) lives in a [`KzBox`] referenced by `ti->private`
//! from a successful `ctr` until `dtr`.

use super::args::Args;
use super::bindings;
use super::bio::{Bio, HeldBio, OwnedBio};
use super::device::DmDevice;
use super::emit::Emitter;
use super::limits::QueueLimits;
use super::mem::KzBox;
use super::Errno;
use core::ffi::{c_char, c_int, c_uint, c_void, CStr};
use core::marker::PhantomData;

/// What `map` did with a bio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapResult {
    /// The bio was redirected; device-mapper core submits it
    /// (`DM_MAPIO_REMAPPED`).
    Remapped,
    /// The target took the bio and will submit or complete it itself
    /// (`DM_MAPIO_SUBMITTED`).
    Submitted,
    /// Fail the bio with `BLK_STS_IOERR` (`DM_MAPIO_KILL`).
    Kill,
    /// Ask core to retry the bio later (`DM_MAPIO_REQUEUE`).  Only during a
    /// noflush suspend: otherwise dm core fails the bio with
    /// `BLK_STS_IOERR` (`dm_handle_requeue()`).  To make a bio wait, hold
    /// it ([`MapIo::hold`]).
    Requeue,
}

/// What `end_io` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndIoResult {
    /// Complete the bio with the (possibly changed) status (`DM_ENDIO_DONE`).
    Done,
    /// Requeue the bio (`DM_ENDIO_REQUEUE`).
    Requeue,
}

/// What a `message` produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageResult {
    /// Done, nothing to return to user space.
    Done,
    /// Done, and the reply written to the [`Emitter`] goes back to user
    /// space (`dmsetup message` prints it).
    Reply,
}

/// A completed bio as seen by `end_io`; the target may take it over to
/// complete it later ([`EndIo::take`]), e.g. after recovering from an error
/// in process context.
pub struct EndIo<'a> {
    bio: &'a Bio,
    taken: &'a core::cell::Cell<bool>,
}

impl<'a> EndIo<'a> {
    /// The bio.
    pub fn bio(&self) -> &'a Bio {
        self.bio
    }

    /// Take the bio over: dm core will not complete it; the target must
    /// call [`OwnedBio::complete`], after which `end_io` runs again.
    pub fn take(self) -> OwnedBio {
        self.taken.set(true);
        // SAFETY: we are in `end_io` and the trampoline returns
        // `DM_ENDIO_INCOMPLETE` because `taken` is now set.
        unsafe { OwnedBio::take(self.bio) }
    }
}

/// A bio handed to `map`.  The target redirects it (and returns
/// [`MapResult::Remapped`]) or takes it over ([`MapIo::take`]) to complete it
/// later, e.g. from a worker.
pub struct MapIo<'a> {
    bio: &'a Bio,
    taken: &'a core::cell::Cell<bool>,
}

impl<'a> MapIo<'a> {
    /// The bio.
    pub fn bio(&self) -> &'a Bio {
        self.bio
    }

    /// Take the bio over: `map` reports `DM_MAPIO_SUBMITTED` whatever it
    /// returns, and the target must call [`OwnedBio::complete`] (after which
    /// `end_io` runs).
    pub fn take(self) -> OwnedBio {
        self.taken.set(true);
        // SAFETY: we are in `map` and the trampoline returns
        // `DM_MAPIO_SUBMITTED` because `taken` is now set: the target owns
        // the clone until it ends it.
        unsafe { OwnedBio::take(self.bio) }
    }

    /// Hold the bio without sending it anywhere: `map` reports
    /// `DM_MAPIO_SUBMITTED` whatever it returns, and the target later
    /// submits the bio where it belongs ([`HeldBio::submit`]) or completes
    /// it.  For I/O that must wait, e.g. for a block being remapped.
    pub fn hold(self) -> HeldBio {
        self.taken.set(true);
        // SAFETY: we are in `map`, the bio was not submitted, and the
        // trampoline returns `DM_MAPIO_SUBMITTED` because `taken` is now
        // set: the target owns the clone until it submits or ends it.
        unsafe { HeldBio::hold(self.bio) }
    }
}

/// The kind of status requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// `dmsetup status`: runtime state.
    Info,
    /// `dmsetup table`: the table line, in canonical form.
    Table,
    /// IMA measurement of the table.
    Ima,
}

/// A constructor failure: `message` is stored in `ti->error` (core logs it as
/// `table: <dev>: remap: <message>`) and `errno` is returned.
#[derive(Clone, Copy, Debug)]
pub struct CtrError {
    /// Static message naming the problem.
    pub message: &'static CStr,
    /// The negative errno.
    pub errno: Errno,
}

impl CtrError {
    /// An invalid-argument error with `message`.
    pub const fn invalid(message: &'static CStr) -> Self {
        Self {
            message,
            errno: Errno::EINVAL,
        }
    }
}

/// The `struct dm_target` a hook runs for.
#[repr(transparent)]
pub struct Ti(core::cell::UnsafeCell<bindings::dm_target>);

impl Ti {
    /// # Safety
    ///
    /// `ptr` must be a valid `dm_target` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::dm_target) -> &'a Ti {
        // SAFETY: `repr(transparent)` and the caller's guarantee.
        unsafe { &*ptr.cast::<Ti>() }
    }

    fn raw(&self) -> *mut bindings::dm_target {
        self.0.get()
    }

    /// First sector of the target in the mapped device.
    pub fn begin(&self) -> u64 {
        // SAFETY: `begin` is set before `ctr` and never changes afterwards.
        unsafe { (*self.raw()).begin }
    }

    /// Length of the target in sectors.
    pub fn len(&self) -> u64 {
        // SAFETY: `len` is set before `ctr` and never changes afterwards.
        unsafe { (*self.raw()).len }
    }

    /// Always false: device-mapper core rejects zero-length targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raise a table event (`dm_table_event()`): wakes `dmsetup wait` and
    /// udev.  May sleep; call from process context only.
    pub fn table_event(&self) {
        // SAFETY: `table` is valid for the target's lifetime.
        unsafe { bindings::dm_table_event((*self.raw()).table) }
    }
}

/// Raises table events (`dm_table_event()`) for a target from any process
/// context, e.g. a worker.  Valid for the life of the target that made it.
pub struct TableEvent(*mut bindings::dm_table);

// SAFETY: `dm_table_event` may be called from any thread in process
// context; the table outlives its targets.
unsafe impl Send for TableEvent {}
// SAFETY: as above.
unsafe impl Sync for TableEvent {}

impl TableEvent {
    /// Wake `dmsetup wait` and udev.  Sleeps; process context only.
    pub fn raise(&self) {
        // SAFETY: the table outlives the target holding this handle.
        unsafe { bindings::dm_table_event(self.0) }
    }
}

/// What a constructor may do with its `dm_target`.
pub struct CtrContext<'a> {
    ti: *mut bindings::dm_target,
    _ti: PhantomData<&'a mut bindings::dm_target>,
}

impl<'a> CtrContext<'a> {
    /// The target being constructed.
    pub fn ti(&self) -> &Ti {
        // SAFETY: `ti` is valid during `ctr`.
        unsafe { Ti::from_raw(self.ti) }
    }

    /// Open a device named in the table (a path or `major:minor`) with the
    /// table's mode; the reference is dropped with the returned value.
    pub fn get_device(&mut self, path: &CStr) -> Result<DmDevice, Errno> {
        let mut dev: *mut bindings::dm_dev = core::ptr::null_mut();
        // SAFETY: `ti` and its table are valid during `ctr`; `path` is a
        // NUL-terminated string; `dev` is a valid output location.
        let r = unsafe {
            let mode = bindings::dm_table_get_mode((*self.ti).table);
            bindings::dm_get_device(self.ti, path.as_ptr(), mode, &mut dev)
        };
        if r != 0 {
            return Err(Errno(r));
        }
        // SAFETY: `dm_get_device` succeeded, so `dev` holds a reference on
        // behalf of `ti`, which `DmDevice` now owns.
        Ok(unsafe { DmDevice::from_raw(self.ti, dev) })
    }

    /// A handle to raise table events later.
    pub fn table_event(&self) -> TableEvent {
        // SAFETY: `ti` is valid during `ctr`; its table outlives the target.
        TableEvent(unsafe { (*self.ti).table })
    }

    /// Number of `REQ_PREFLUSH` bios the target wants per flush (0 or 1).
    pub fn set_num_flush_bios(&mut self, n: u32) {
        // SAFETY: constructors may set these fields of their `ti`.
        unsafe { (*self.ti).num_flush_bios = n }
    }

    /// Number of discard bios per discard (0 disables discard).
    pub fn set_num_discard_bios(&mut self, n: u32) {
        // SAFETY: as above.
        unsafe { (*self.ti).num_discard_bios = n }
    }

    /// Number of write-zeroes bios per request (0 disables it).
    pub fn set_num_write_zeroes_bios(&mut self, n: u32) {
        // SAFETY: as above.
        unsafe { (*self.ti).num_write_zeroes_bios = n }
    }

    /// Split bios so that none crosses a multiple of `sectors`.
    pub fn set_max_io_len(&mut self, sectors: u32) {
        // SAFETY: as above.
        unsafe { (*self.ti).max_io_len = sectors }
    }

    /// Size of the per-bio data area the target wants.
    pub fn set_per_io_data_size(&mut self, bytes: u32) {
        // SAFETY: as above.
        unsafe { (*self.ti).per_io_data_size = bytes }
    }

    /// The target submits bios it took in `map` itself, later
    /// ([`HeldBio::submit`], `dm_submit_bio_remap()`), which starts their
    /// I/O accounting: dm core must then not start it again when `map`
    /// returns `DM_MAPIO_SUBMITTED` (it would race with the submission on
    /// another CPU and leak an in-flight count).  Bios the target completes
    /// without submitting are accounted by dm core at completion.
    pub fn set_accounts_remapped_io(&mut self) {
        // SAFETY: as above; a bitfield of `ti`, set before the table is live.
        unsafe { (*self.ti).set_accounts_remapped_io(true) }
    }
}

/// Calls a `iterate_devices_callout_fn` for each device of the target.
pub struct DeviceIterator<'a> {
    ti: *mut bindings::dm_target,
    callout: bindings::iterate_devices_callout_fn,
    data: *mut c_void,
    _ti: PhantomData<&'a ()>,
}

impl DeviceIterator<'_> {
    /// Report that the target maps `len` sectors of `dev` starting at
    /// `start`; returns the callout's result (non-zero stops the iteration).
    pub fn visit(&mut self, dev: &DmDevice, start: u64, len: u64) -> i32 {
        match self.callout {
            // SAFETY: core handed us the callout together with `ti` and
            // `data` for this call; `dev` is one of `ti`'s devices.
            Some(f) => unsafe { f(self.ti, dev.raw(), start, len, self.data) },
            None => 0,
        }
    }
}

/// A device-mapper target type.
///
/// `Self` is the per-target state created by [`Target::ctr`] and dropped in
/// `dtr` (so `Drop` is the destructor).  Hooks may run concurrently on any
/// CPU, hence `Send + Sync`: interior mutability must be explicit.
pub trait Target: Sized + Send + Sync {
    /// Name used in table lines.
    const NAME: &'static CStr;
    /// Target version, as shown by `dmsetup targets`.
    const VERSION: [u32; 3];

    /// Construct the target from its table line arguments.
    fn ctr(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<Self, CtrError>;

    /// Map a bio: redirect it and return [`MapResult::Remapped`], or take it
    /// ([`MapIo::take`]).
    fn map(&self, ti: &Ti, io: MapIo<'_>) -> MapResult;

    /// Look at a completed bio; may change `status` (e.g. hide an error the
    /// target recovered from) or take the bio over ([`EndIo::take`]).
    fn end_io(&self, _ti: &Ti, _io: EndIo<'_>, _status: &mut u8) -> EndIoResult {
        EndIoResult::Done
    }

    /// Write the status or table line.
    fn status(&self, ti: &Ti, kind: StatusKind, out: &mut Emitter<'_>);

    /// Handle `dmsetup message`.
    fn message(
        &self,
        _ti: &Ti,
        _args: &mut Args<'_>,
        _out: &mut Emitter<'_>,
    ) -> Result<MessageResult, Errno> {
        Err(Errno::EINVAL)
    }

    /// Report every device the target maps to.
    fn iterate_devices(&self, ti: &Ti, it: &mut DeviceIterator<'_>) -> i32;

    /// Adjust the queue limits of the mapped device.
    fn io_hints(&self, _ti: &Ti, _limits: &QueueLimits) {}

    /// Before suspend: I/O may still arrive.
    fn presuspend(&self, _ti: &Ti) {}
    /// A suspend that ran [`Target::presuspend`] was cancelled: the device
    /// stays live.
    fn presuspend_undo(&self, _ti: &Ti) {}
    /// After suspend: no I/O is in flight and none arrives until resume.
    fn postsuspend(&self, _ti: &Ti) {}
    /// Before resume; an error aborts the resume.
    fn preresume(&self, _ti: &Ti) -> Result<(), Errno> {
        Ok(())
    }
    /// After resume: I/O may arrive again.
    fn resume(&self, _ti: &Ti) {}
}

/// Borrow the target state of `ti`.
///
/// # Safety
///
/// `ti` must be a target of type `T` whose `ctr` succeeded and whose `dtr`
/// has not run yet (device-mapper core guarantees this for every hook other
/// than `ctr` and `dtr`).
unsafe fn state<'a, T: Target>(ti: *mut bindings::dm_target) -> &'a T {
    // SAFETY: per the contract, `private` holds a live `KzBox<T>` pointer.
    unsafe { &*((*ti).private as *const T) }
}

unsafe extern "C" fn ctr_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: core passes `argc` valid argument strings that live for the
    // duration of `ctr`.
    let mut args = unsafe { Args::from_raw(argc, argv) };
    let mut ctx = CtrContext {
        ti,
        _ti: PhantomData,
    };
    let result = T::ctr(&mut ctx, &mut args).and_then(|state| {
        KzBox::new(state).map_err(|errno| CtrError {
            message: c"Cannot allocate target state",
            errno,
        })
    });
    match result {
        Ok(state) => {
            // SAFETY: `ti` is valid and ours to initialise during `ctr`.
            unsafe { (*ti).private = KzBox::into_raw(state).cast() };
            0
        }
        Err(e) => {
            // SAFETY: as above; `message` is 'static, as `ti->error` needs.
            unsafe { (*ti).error = e.message.as_ptr() as *mut c_char };
            e.errno.0
        }
    }
}

unsafe extern "C" fn dtr_trampoline<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: `dtr` runs once, after the last hook, for a target whose `ctr`
    // stored a `KzBox<T>` in `private`; we take it back and drop it.
    unsafe {
        drop(KzBox::from_raw((*ti).private.cast::<T>()));
        (*ti).private = core::ptr::null_mut();
    }
}

unsafe extern "C" fn map_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
) -> c_int {
    // SAFETY: `map` is called between a successful `ctr` and `dtr` with a
    // valid `ti` and a bio clone owned by the target for this call.
    let (t, ti, bio) = unsafe { (state::<T>(ti), Ti::from_raw(ti), Bio::from_raw(bio)) };
    let taken = core::cell::Cell::new(false);
    let result = t.map(ti, MapIo { bio, taken: &taken });
    if taken.get() {
        return bindings::DM_MAPIO_SUBMITTED as c_int;
    }
    (match result {
        MapResult::Remapped => bindings::DM_MAPIO_REMAPPED,
        MapResult::Submitted => bindings::DM_MAPIO_SUBMITTED,
        MapResult::Kill => bindings::DM_MAPIO_KILL,
        MapResult::Requeue => bindings::DM_MAPIO_REQUEUE,
    }) as c_int
}

unsafe extern "C" fn end_io_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    bio: *mut bindings::bio,
    error: *mut bindings::blk_status_t,
) -> c_int {
    // SAFETY: as for `map`; `error` points to the bio's status, which the
    // target may change during `end_io`.
    let (t, ti, bio, status) = unsafe {
        (
            state::<T>(ti),
            Ti::from_raw(ti),
            Bio::from_raw(bio),
            &mut *error,
        )
    };
    let taken = core::cell::Cell::new(false);
    let result = t.end_io(ti, EndIo { bio, taken: &taken }, status);
    if taken.get() {
        return bindings::DM_ENDIO_INCOMPLETE as c_int;
    }
    (match result {
        EndIoResult::Done => bindings::DM_ENDIO_DONE,
        EndIoResult::Requeue => bindings::DM_ENDIO_REQUEUE,
    }) as c_int
}

unsafe extern "C" fn status_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    type_: bindings::status_type_t,
    _flags: c_uint,
    result: *mut c_char,
    maxlen: c_uint,
) {
    let kind = match type_ {
        bindings::status_type_t_STATUSTYPE_INFO => StatusKind::Info,
        bindings::status_type_t_STATUSTYPE_TABLE => StatusKind::Table,
        _ => StatusKind::Ima,
    };
    // SAFETY: called between `ctr` and `dtr`; `result` is writable for
    // `maxlen` bytes during the call.
    let (t, ti, mut out) = unsafe {
        (
            state::<T>(ti),
            Ti::from_raw(ti),
            Emitter::from_raw(result, maxlen),
        )
    };
    t.status(ti, kind, &mut out);
}

unsafe extern "C" fn message_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    argc: c_uint,
    argv: *mut *mut c_char,
    result: *mut c_char,
    maxlen: c_uint,
) -> c_int {
    // SAFETY: called between `ctr` and `dtr` with `argc` valid strings and
    // a result buffer writable for `maxlen` bytes during the call.
    let (t, ti, mut args, mut out) = unsafe {
        (
            state::<T>(ti),
            Ti::from_raw(ti),
            Args::from_raw(argc, argv),
            Emitter::from_raw(result, maxlen),
        )
    };
    match t.message(ti, &mut args, &mut out) {
        Ok(MessageResult::Done) => 0,
        // 1 tells dm-ioctl that `result` holds a reply to copy out.
        Ok(MessageResult::Reply) => 1,
        Err(e) => e.0,
    }
}

unsafe extern "C" fn iterate_devices_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    callout: bindings::iterate_devices_callout_fn,
    data: *mut c_void,
) -> c_int {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, tiref) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    let mut it = DeviceIterator {
        ti,
        callout,
        data,
        _ti: PhantomData,
    };
    t.iterate_devices(tiref, &mut it)
}

unsafe extern "C" fn io_hints_trampoline<T: Target>(
    ti: *mut bindings::dm_target,
    limits: *mut bindings::queue_limits,
) {
    // SAFETY: called between `ctr` and `dtr` with limits we may change.
    let (t, ti, limits) = unsafe {
        (
            state::<T>(ti),
            Ti::from_raw(ti),
            QueueLimits::from_raw(limits),
        )
    };
    t.io_hints(ti, limits);
}

unsafe extern "C" fn presuspend_trampoline<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, ti) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    t.presuspend(ti);
}

unsafe extern "C" fn presuspend_undo_trampoline<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, ti) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    t.presuspend_undo(ti);
}

unsafe extern "C" fn postsuspend_trampoline<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, ti) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    t.postsuspend(ti);
}

unsafe extern "C" fn preresume_trampoline<T: Target>(ti: *mut bindings::dm_target) -> c_int {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, ti) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    match t.preresume(ti) {
        Ok(()) => 0,
        Err(e) => e.0,
    }
}

unsafe extern "C" fn resume_trampoline<T: Target>(ti: *mut bindings::dm_target) {
    // SAFETY: called between `ctr` and `dtr`.
    let (t, ti) = unsafe { (state::<T>(ti), Ti::from_raw(ti)) };
    t.resume(ti);
}

/// A registered target type; unregistered on drop.
///
/// The `struct target_type` is heap-allocated because core links it into
/// its list of types: it must not move while registered.
pub struct Registration<T: Target> {
    tt: KzBox<bindings::target_type>,
    _t: PhantomData<T>,
}

// SAFETY: the registration is only touched at module init and exit; core
// serialises access to the `target_type` with its own lock.
unsafe impl<T: Target> Send for Registration<T> {}
// SAFETY: `&Registration` exposes nothing.
unsafe impl<T: Target> Sync for Registration<T> {}

impl<T: Target> Registration<T> {
    /// Register `T` with device-mapper core.
    pub fn new() -> Result<Self, Errno> {
        let tt = bindings::target_type {
            name: T::NAME.as_ptr(),
            // SAFETY: returns this module's `THIS_MODULE`; no preconditions.
            module: unsafe { bindings::dm_remap_this_module() },
            version: T::VERSION,
            ctr: Some(ctr_trampoline::<T>),
            dtr: Some(dtr_trampoline::<T>),
            map: Some(map_trampoline::<T>),
            end_io: Some(end_io_trampoline::<T>),
            presuspend: Some(presuspend_trampoline::<T>),
            presuspend_undo: Some(presuspend_undo_trampoline::<T>),
            postsuspend: Some(postsuspend_trampoline::<T>),
            preresume: Some(preresume_trampoline::<T>),
            resume: Some(resume_trampoline::<T>),
            status: Some(status_trampoline::<T>),
            message: Some(message_trampoline::<T>),
            iterate_devices: Some(iterate_devices_trampoline::<T>),
            io_hints: Some(io_hints_trampoline::<T>),
            ..Default::default()
        };
        let mut tt = KzBox::new(tt)?;
        // SAFETY: `tt` is a fully initialised target type that stays at the
        // same address until `drop` unregisters it.
        let r = unsafe { bindings::dm_register_target(&mut *tt) };
        if r != 0 {
            return Err(Errno(r));
        }
        Ok(Self {
            tt,
            _t: PhantomData,
        })
    }
}

impl<T: Target> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; module exit runs only when no device
        // uses the target (core holds a module reference per target).
        unsafe { bindings::dm_unregister_target(&mut *self.tt) };
    }
}

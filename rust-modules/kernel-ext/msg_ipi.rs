// SPDX-License-Identifier: GPL-2.0

//! The message layer's interrupt (`POPCORN_MSG_VECTOR`, linux-patches/0008)
//! and what a secondary was told about itself at boot.
//!
//! Another kernel's CPU has no CPU number here, so interrupts are sent to
//! physical APIC IDs. One handler at a time can be registered for the
//! vector; it runs in hard interrupt context on the CPU the IPI reached.

use kernel::{bindings, error::Result};

/// The registration of the message interrupt's handler; dropping it
/// unregisters the handler and waits until no CPU runs it any more.
///
/// # Invariants
///
/// While this object lives, its handler is the one registered with
/// `popcorn_set_msg_handler`.
pub struct MsgIpiHandler(());

impl MsgIpiHandler {
    /// Makes `handler` run on every message interrupt this kernel's CPUs
    /// get. It runs in hard interrupt context: it must not sleep (count,
    /// wake a thread, queue work). `EBUSY` if a handler is registered.
    pub fn register(handler: extern "C" fn()) -> Result<Self> {
        // SAFETY: `handler` is a plain function, valid for as long as the
        // module is loaded; `Drop` unregisters it (and waits for running
        // calls) before the module can go away.
        let ret = unsafe { bindings::popcorn_set_msg_handler(Some(handler)) };
        kernel::error::to_result(ret)?;
        // INVARIANT: registered above.
        Ok(MsgIpiHandler(()))
    }
}

impl Drop for MsgIpiHandler {
    fn drop(&mut self) {
        // SAFETY: clears the handler this object registered (invariant) and
        // waits until no CPU runs it; may sleep, which drop here can.
        unsafe { bindings::popcorn_clear_msg_handler() };
    }
}

/// Sends the message interrupt to the CPU with physical APIC ID
/// `apic_id`, which may belong to another kernel. An ID no CPU has is
/// dropped by the hardware.
pub fn send_msg_ipi(apic_id: u32) {
    // SAFETY: sends one fixed-vector IPI; the C side handles any ID.
    unsafe { bindings::popcorn_send_msg_ipi(apic_id) };
}

/// What a secondary kernel was told by the primary at boot.
#[derive(Debug, Clone, Copy)]
pub struct SecondaryInfo {
    /// This kernel's id (1 or more).
    pub kernel_id: u32,
    /// Physical base and size of the shared window.
    pub shared_base: u64,
    pub shared_size: u64,
    /// The APIC ID to send the primary's notifications to.
    pub notify_apic_id: u32,
}

/// `Some` on a Popcorn secondary, `None` on the primary (or any kernel not
/// started by Popcorn).
pub fn secondary_info() -> Option<SecondaryInfo> {
    // SAFETY: no preconditions; NULL or a pointer to data validated at
    // boot and never written afterwards (`__ro_after_init`).
    let raw = unsafe { bindings::popcorn_secondary_info() };
    // SAFETY: a non-NULL result points to that static, valid forever.
    let info = unsafe { raw.as_ref() }?;
    Some(SecondaryInfo {
        kernel_id: u32::from_le(info.kernel_id),
        shared_base: u64::from_le(info.shared_base),
        shared_size: u64::from_le(info.shared_size),
        notify_apic_id: u32::from_le(info.notify_apic_id),
    })
}

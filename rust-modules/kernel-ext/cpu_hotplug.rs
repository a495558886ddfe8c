// SPDX-License-Identifier: GPL-2.0

//! Giving CPUs away from this kernel, keeping them away, and taking them back.
//!
//! A CPU handed to a secondary kernel must stay offline here for as long as
//! the secondary owns it: if the primary brought it back online (a user
//! writing `1` to `/sys/devices/system/cpu/cpuN/online`, a tool restoring
//! SMT) it would send INIT/SIPI into a running kernel. [`CpuOwnership`]
//! registers a CPU hotplug state at `CPUHP_BP_PREPARE_DYN`, whose callback
//! runs on the controlling CPU *before* the target CPU is kicked, and makes
//! it refuse owned CPUs with `EBUSY`. Ownership is a static bitmap of
//! atomics, because the callback gets no context pointer.
//!
//! Requires the crate to provide `crate::cpulist` (popcorn-core).

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings, c_str,
    error::{code::*, Error, Result},
    ffi::{c_int, c_uint},
};

use crate::cpulist::{CpuSet, MAX_CPUS};

const WORDS: usize = MAX_CPUS / 64;

/// CPUs owned by secondary kernels. Bit `n` of word `n / 64` is CPU `n`.
static OWNED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

fn owned_bit(cpu: u32) -> Option<(&'static AtomicU64, u64)> {
    let index = usize::try_from(cpu).ok()?;
    OWNED
        .get(index / 64)
        .map(|word| (word, 1u64 << (index % 64)))
}

/// Whether `cpu` currently belongs to a secondary kernel.
pub fn is_owned(cpu: u32) -> bool {
    owned_bit(cpu).is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
}

fn set_owned(cpu: u32, owned: bool) {
    if let Some((word, bit)) = owned_bit(cpu) {
        if owned {
            word.fetch_or(bit, Ordering::AcqRel);
        } else {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

/// The hotplug callback: refuse to start an owned CPU.
///
/// # Safety
///
/// Only for the CPU hotplug core to call.
unsafe extern "C" fn refuse_owned_cpu(cpu: c_uint) -> c_int {
    if is_owned(cpu) {
        EBUSY.to_errno()
    } else {
        0
    }
}

/// While this object lives, owned CPUs cannot be brought online here.
///
/// # Invariants
///
/// `state` is a hotplug state this object registered and has not removed.
pub struct CpuOwnership {
    state: c_int,
}

impl CpuOwnership {
    /// Registers the hotplug state.
    pub fn register() -> Result<Self> {
        // SAFETY: the name is a static C string; the callback is a valid
        // function for the whole module lifetime, and the state is removed
        // in `drop` before the module goes away. `invoke` is false, so the
        // callback is not run for CPUs already online.
        let ret = unsafe {
            bindings::__cpuhp_setup_state(
                bindings::cpuhp_state_CPUHP_BP_PREPARE_DYN,
                c_str!("popcorn:refuse-owned-cpus").as_char_ptr(),
                false,
                Some(refuse_owned_cpu),
                None,
                false,
            )
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: a dynamic state was allocated and registered.
        Ok(CpuOwnership { state: ret })
    }

    /// Takes every CPU of `cpus` offline and marks it owned, or, if one
    /// cannot be taken, gives back those already taken and fails.
    pub fn take(&self, cpus: &CpuSet) -> Result {
        let mut taken = CpuSet::new();
        for cpu in cpus.iter() {
            // Owned first, so that nothing can bring it back online between
            // the offline and the mark.
            set_owned(cpu, true);
            // SAFETY: `remove_cpu` takes the hotplug locks itself and
            // accepts any CPU number.
            let ret = unsafe { bindings::remove_cpu(cpu) };
            if ret != 0 {
                set_owned(cpu, false);
                // `device_offline` returns 1 for a CPU already offline.
                let err = if ret > 0 {
                    EBUSY
                } else {
                    Error::from_errno(ret)
                };
                kernel::pr_err!("popcorn: cannot take CPU {} offline: {:?}\n", cpu, err);
                let _ = self.give_back(&taken);
                return Err(err);
            }
            taken.insert(cpu);
        }
        Ok(())
    }

    /// Clears ownership of `cpus` and brings them online here. Tries every
    /// CPU even after a failure; returns the first error.
    pub fn give_back(&self, cpus: &CpuSet) -> Result {
        let mut result = Ok(());
        for cpu in cpus.iter() {
            set_owned(cpu, false);
            // SAFETY: `add_cpu` takes the hotplug locks itself and accepts
            // any CPU number.
            let ret = unsafe { bindings::add_cpu(cpu) };
            if ret < 0 {
                let err = Error::from_errno(ret);
                kernel::pr_err!("popcorn: cannot bring CPU {} back online: {:?}\n", cpu, err);
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        result
    }
}

impl Drop for CpuOwnership {
    fn drop(&mut self) {
        // SAFETY: `state` was registered by `register` and not removed yet
        // (invariant); `invoke` is false, so no callback runs.
        unsafe { bindings::__cpuhp_remove_state(self.state, false) };
    }
}

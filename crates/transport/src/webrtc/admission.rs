//! Who may hold an ICE-TCP connection on the shared public port: at most so many connections
//! waiting for their first STUN packet, and at most so many (waiting or routed) from one IP
//! address. A [`Ticket`] is one admitted connection; dropping it gives its place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The limits, from the server's configuration (`limits.ice_tcp_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub pending: u32,
    pub per_address: u32,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            pending: 64,
            per_address: 8,
        }
    }
}

#[derive(Default)]
struct Counts {
    pending: u32,
    by_address: HashMap<IpAddr, u32>,
}

/// The shared counts behind every ticket of one listener.
#[derive(Clone)]
pub struct Admission {
    limits: AdmissionLimits,
    counts: Arc<Mutex<Counts>>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyPending,
    TooManyFromAddress,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission {
            limits,
            counts: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a new connection from `address` as pending, or says why not.
    pub fn admit(&self, address: IpAddr) -> Result<Ticket, Refused> {
        let mut counts = self.lock();
        if counts.pending >= self.limits.pending {
            return Err(Refused::TooManyPending);
        }
        let from_address = counts.by_address.entry(address).or_insert(0);
        if *from_address >= self.limits.per_address {
            return Err(Refused::TooManyFromAddress);
        }
        *from_address += 1;
        counts.pending += 1;
        Ok(Ticket {
            admission: self.clone(),
            address,
            pending: true,
        })
    }

    /// Connections waiting for their first packet now.
    pub fn pending(&self) -> u32 {
        self.lock().pending
    }

    /// Connections from `address` now.
    pub fn from_address(&self, address: IpAddr) -> u32 {
        self.lock().by_address.get(&address).copied().unwrap_or(0)
    }
}

/// One admitted connection's place.
pub struct Ticket {
    admission: Admission,
    address: IpAddr,
    pending: bool,
}

impl Ticket {
    /// The connection named its session: it no longer counts as pending (it still counts
    /// for its address until dropped).
    pub fn routed(&mut self) {
        if std::mem::take(&mut self.pending) {
            let mut counts = self.admission.lock();
            counts.pending = counts.pending.saturating_sub(1);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        if self.pending {
            counts.pending = counts.pending.saturating_sub(1);
        }
        if let Some(n) = counts.by_address.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_and_per_address_limits_hold_and_places_come_back() {
        let admission = Admission::new(AdmissionLimits {
            pending: 3,
            per_address: 2,
        });
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let c = IpAddr::from([10, 0, 0, 3]);
        let mut a1 = admission.admit(a).unwrap();
        let _a2 = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Refused::TooManyFromAddress));
        let b1 = admission.admit(b).unwrap();
        assert_eq!(admission.admit(c).err(), Some(Refused::TooManyPending));
        a1.routed();
        assert_eq!(admission.pending(), 2);
        assert_eq!(
            admission.from_address(a),
            2,
            "a routed connection still counts"
        );
        let _c1 = admission.admit(c).unwrap();
        drop(b1);
        drop(a1);
        assert_eq!(admission.pending(), 2);
        assert_eq!(admission.from_address(a), 1);
        assert_eq!(admission.from_address(b), 0);
    }
}

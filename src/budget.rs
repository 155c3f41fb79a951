//! How much work runs at once: a budget shared by weight (bytes, or one slot per piece).
//!
//! A piece takes a [`Share`] of its weight and gives it back when the share is dropped. It
//! waits while other pieces hold shares and its own would take the total past the budget; a
//! piece alone always goes, whatever its weight, so nothing waits forever. Used for the wheels
//! worked on as they land (one per core) and for the libraries being stripped (bytes held in
//! memory).

use std::sync::{Condvar, Mutex};

/// A budget of `capacity` units.
pub struct Budget {
    capacity: u64,
    busy: Mutex<u64>,
    freed: Condvar,
}

/// Units of a [`Budget`] held until dropped.
pub struct Share<'a> {
    budget: &'a Budget,
    weight: u64,
}

impl Budget {
    pub const fn new(capacity: u64) -> Budget {
        Budget {
            capacity,
            busy: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// `weight` units, once they fit (or nothing else is held). A poisoned lock (a panic
    /// elsewhere) does not hold work back: the share is then empty.
    pub fn take(&self, weight: u64) -> Share<'_> {
        let empty = Share {
            budget: self,
            weight: 0,
        };
        let Ok(mut busy) = self.busy.lock() else {
            return empty;
        };
        while *busy > 0 && busy.saturating_add(weight) > self.capacity {
            busy = match self.freed.wait(busy) {
                Ok(b) => b,
                Err(_) => return empty,
            };
        }
        *busy = busy.saturating_add(weight);
        Share {
            budget: self,
            weight,
        }
    }
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        if self.weight == 0 {
            return;
        }
        if let Ok(mut busy) = self.budget.busy.lock() {
            *busy = busy.saturating_sub(self.weight);
        }
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_piece_alone_goes_whatever_its_weight() {
        let b = Budget::new(10);
        let s = b.take(100);
        drop(s);
        let _a = b.take(4);
        let _c = b.take(6);
    }

    /// Pieces that together would pass the budget run one after the other; the units held at
    /// once never pass it unless one piece alone does.
    #[test]
    fn pieces_wait_for_room() {
        let b = Budget::new(10);
        let held = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        std::thread::scope(|s| {
            for w in [6u64, 6, 4, 3, 7] {
                let (b, held, most) = (&b, &held, &most);
                s.spawn(move || {
                    let _share = b.take(w);
                    let now = held.fetch_add(w, Ordering::SeqCst) + w;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    held.fetch_sub(w, Ordering::SeqCst);
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 10);
        assert_eq!(held.load(Ordering::SeqCst), 0);
    }
}

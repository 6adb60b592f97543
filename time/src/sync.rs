//! One rule for the workspace's shared state: a `std::sync::Mutex` is locked whether or
//! not an earlier holder panicked.
//!
//! Model: every critical section in Amphi leaves its data consistent at each step (single
//! inserts, removals and replacements), so a panic in one holder's thread cannot leave
//! the data half-changed. Recovering the guard from a poisoned lock is therefore sound,
//! and it keeps one failing connection, request or task from taking every other user of
//! the same state down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the guard if a holder panicked (see the module's model).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn locks_a_healthy_mutex() {
        let m = Mutex::new(1);
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }

    #[test]
    fn recovers_the_data_after_a_holder_panicked() {
        let m = Arc::new(Mutex::new(vec![1]));
        let held = Arc::clone(&m);
        let joined = std::thread::spawn(move || {
            let mut v = held.lock().expect("not poisoned yet");
            v.push(2);
            panic!("a holder fails");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.is_poisoned());
        lock(&m).push(3);
        assert_eq!(*lock(&m), vec![1, 2, 3]);
    }

    #[test]
    fn locks_an_unsized_value() {
        let m: Box<Mutex<[u8]>> = Box::new(Mutex::new([1, 2, 3]));
        assert_eq!(lock(&m).len(), 3);
    }
}

//! The run under way, readable from Python while a callback runs: SB3's callbacks evaluate,
//! save and inspect the model (and save its replay buffer) in the middle of `learn()`, while
//! the Rust loop holds the run. The loop lends the run to [`lend`] around each callback;
//! Python's calls on the same thread read it through [`read`].

use std::cell::Cell;

use deepq::train::RunView;

/// A run lent for the duration of a [`lend`] call.
type Lent = *const (dyn RunView + 'static);

thread_local! {
    static LENT: Cell<Option<Lent>> = const { Cell::new(None) };
}

/// Runs `f` with `run` readable through [`read`] on this thread.
pub fn lend<R>(run: &dyn RunView, f: impl FnOnce() -> R) -> R {
    /// Puts back what was lent before, also when `f` unwinds.
    struct Restore(Option<Lent>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LENT.with(|cell| cell.set(self.0));
        }
    }
    // SAFETY: only the lifetime is erased. The pointer is dereferenced by `read` alone,
    // which runs on this thread while it is set, and `Restore` unsets it before this
    // function returns (or unwinds), so while `run`'s borrow is alive.
    let lent: Lent = unsafe { std::mem::transmute::<*const (dyn RunView + '_), Lent>(run) };
    let _restore = Restore(LENT.with(|cell| cell.replace(Some(lent))));
    f()
}

/// `f` of the run lent to this thread, or None when no run is lent (no callback is running).
pub fn read<R>(f: impl FnOnce(&dyn RunView) -> R) -> Option<R> {
    let lent = LENT.with(Cell::get)?;
    // SAFETY: set by `lend`, whose borrow of the run outlives the pointer (see there).
    Some(f(unsafe { &*lent }))
}

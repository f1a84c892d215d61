//! Python environments in checkpoints. A checkpoint cannot hold an environment that lives in
//! the interpreter, so it holds a marker in the environment's place. [`restore_on`] restores
//! a checkpoint with clones of a fresh environment where the markers are, and the run then
//! starts new episodes on them ([`deepq::train::Trainer::resume_on`]).

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// What a checkpoint holds where a Python environment was.
pub const MARKER: &str = "python-env";

thread_local! {
    /// The environment whose clones take the markers' places while [`restore_on`] runs.
    static FRESH_ENV: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `restore`, in which every marker of a checkpoint decodes to a clone of `fresh`.
pub fn restore_on<T: Clone + 'static, R>(fresh: T, restore: impl FnOnce() -> R) -> R {
    /// Takes the environment back out however `restore` ends.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            FRESH_ENV.with(|env| env.borrow_mut().take());
        }
    }
    FRESH_ENV.with(|env| *env.borrow_mut() = Some(Rc::new(fresh)));
    let _clear = Clear;
    restore()
}

/// Decodes a marker into a clone of the environment [`restore_on`] was given.
pub fn take_place<'de, T: Clone + 'static, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let marker = String::deserialize(d)?;
    if marker != MARKER {
        return Err(D::Error::custom(format!(
            "expected a Python environment's place ({MARKER:?}), found {marker:?}"
        )));
    }
    // Cloned out of the cell first: cloning the env runs Python (`copy.deepcopy`).
    let fresh = FRESH_ENV.with(|env| env.borrow().clone());
    fresh
        .as_deref()
        .and_then(|env| env.downcast_ref::<T>())
        .cloned()
        .ok_or_else(|| {
            D::Error::custom(
                "this checkpoint's environment lives in Python: resume it from Python (python -m deepq train, the command that started it)",
            )
        })
}

/// Saves `$env` in a checkpoint as [`MARKER`], which [`take_place`] reads back.
macro_rules! saved_as_marker {
    ($env:ty) => {
        impl serde::Serialize for $env {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::checkpoint_place::MARKER)
            }
        }

        impl<'de> serde::Deserialize<'de> for $env {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                $crate::checkpoint_place::take_place(deserializer)
            }
        }
    };
}
pub(crate) use saved_as_marker;

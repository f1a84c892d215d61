//! Gymnasium's Box2D environments, on the vendored Box2D 2.3.2.
//!
//! # Why the C++ Box2D 2.3.2
//!
//! Gymnasium's LunarLander runs on pybox2d 2.3.10, whose physics is the C++
//! Box2D 2.3.2 (pybox2d's source releases 2.3.2 and 2.3.8 carry identical C++).
//! This crate compiles those same sources (vendored under `box2d/`, zlib
//! licence) with the system C++ compiler through the `cc` crate, so the
//! simulation is not merely "a Box2D": it is the one Gymnasium uses, and the
//! golden LunarLander trajectories recorded from Gymnasium replay bit for bit
//! (see `tests/golden.rs`). The alternatives measured were weaker:
//! - `box2d-rs` (the pure-Rust port of Box2D 2.4.1 that `gmgn` builds its
//!   LunarLander on) is a different Box2D version (2.4 rewrote the edge
//!   collision and the solver details), so parity could only be statistical; its
//!   `Rc<RefCell<..>>` object graph is neither `Send` nor `Clone`, and version
//!   0.0.4 is its latest;
//! - `wrapped2d` binds Box2D 2.3.1 but builds it with CMake, which the
//!   project's machines do not have, and has not been released since 2019.
//!
//! Box2D keeps its world in pointer-linked C++ objects, which cannot be
//! copied or serialized. The world wrapper therefore records the setup it was built
//! from and every call made on it since, and clones or deserializes by
//! rebuilding the world and replaying them: the simulation is deterministic,
//! so the copy is exact (an episode has at most a few thousand calls).

pub mod lunar_lander;

use std::ptr::NonNull;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The C side of `box2d/lunar_lander.cpp`.
mod ffi {
    use serde::{Deserialize, Serialize};

    /// `DqLanderSetup`: everything `reset()` builds, in Box2D units.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    pub(crate) struct Setup {
        pub(crate) gravity: f32,
        pub(crate) ground: [f32; 4],
        pub(crate) terrain: [[f32; 4]; 10],
        pub(crate) lander_position: [f32; 2],
        pub(crate) lander_vertices: [[f32; 2]; 6],
        pub(crate) initial_force: [f32; 2],
        pub(crate) leg_position: [[f32; 2]; 2],
        pub(crate) leg_angle: [f32; 2],
        pub(crate) leg_half_size: [f32; 2],
        pub(crate) leg_anchor: [[f32; 2]; 2],
        pub(crate) leg_reference_angle: [f32; 2],
        pub(crate) leg_lower_angle: [f32; 2],
        pub(crate) leg_upper_angle: [f32; 2],
        pub(crate) leg_motor_speed: [f32; 2],
        pub(crate) leg_max_motor_torque: f32,
    }

    /// `DqLanderReadout`: what the environment reads after a step.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub(crate) struct Readout {
        pub(crate) position: [f32; 2],
        pub(crate) linear_velocity: [f32; 2],
        pub(crate) angle: f32,
        pub(crate) angular_velocity: f32,
        pub(crate) awake: i32,
        pub(crate) game_over: i32,
        pub(crate) leg_contact: [i32; 2],
        pub(crate) leg_position: [[f32; 2]; 2],
        pub(crate) leg_angle: [f32; 2],
    }

    /// The opaque `DqLander` (a `b2World` with the lander in it).
    #[repr(C)]
    pub(crate) struct Lander {
        _private: [u8; 0],
    }

    unsafe extern "C" {
        pub(crate) fn dq_lander_create(setup: *const Setup) -> *mut Lander;
        pub(crate) fn dq_lander_destroy(world: *mut Lander);
        pub(crate) fn dq_lander_apply_force_to_center(world: *mut Lander, fx: f32, fy: f32);
        pub(crate) fn dq_lander_apply_torque(world: *mut Lander, torque: f32);
        pub(crate) fn dq_lander_apply_linear_impulse(
            world: *mut Lander,
            ix: f32,
            iy: f32,
            px: f32,
            py: f32,
        );
        pub(crate) fn dq_lander_step(
            world: *mut Lander,
            time_step: f32,
            velocity_iterations: i32,
            position_iterations: i32,
        );
        pub(crate) fn dq_lander_read(world: *const Lander, out: *mut Readout);
    }
}

pub(crate) use ffi::{Readout, Setup};

/// One call made on a [`World`] after it was built.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Call {
    /// `ApplyForceToCenter` on the lander (waking it).
    Force(f32, f32),
    /// `ApplyTorque` on the lander (waking it).
    Torque(f32),
    /// `ApplyLinearImpulse(impulse, point)` on the lander (waking it).
    Impulse(f32, f32, f32, f32),
    /// `Step(time_step, velocity_iterations, position_iterations)`.
    Step(f32, i32, i32),
}

/// A Box2D world holding a lunar lander, with the record needed to copy it.
pub(crate) struct World {
    raw: NonNull<ffi::Lander>,
    /// Boxed: it is large and only read again to copy the world.
    setup: Box<Setup>,
    calls: Vec<Call>,
}

// SAFETY: the world is reachable only through this value, which owns it (no
// pointer into it is handed out), so moving the value moves the whole object
// graph to the other thread. The vendored Box2D has no shared mutable state
// left: its statistics counters are thread_local and its one-time tables are
// initialised through C++11 function-local statics (see box2d/README.md).
unsafe impl Send for World {}

impl World {
    /// Builds the world `setup` describes.
    pub(crate) fn new(setup: Setup) -> Self {
        // SAFETY: `setup` is a valid, fully initialised `DqLanderSetup`; the
        // shim copies what it needs and returns a fresh heap object.
        let raw = unsafe { ffi::dq_lander_create(&setup) };
        Self {
            raw: NonNull::new(raw).expect("Box2D could not allocate a world"),
            setup: Box::new(setup),
            calls: Vec::new(),
        }
    }

    fn apply(&mut self, call: Call) {
        let w = self.raw.as_ptr();
        // SAFETY: `w` is the live world this value owns; the shim only touches
        // the lander body inside it.
        unsafe {
            match call {
                Call::Force(fx, fy) => ffi::dq_lander_apply_force_to_center(w, fx, fy),
                Call::Torque(t) => ffi::dq_lander_apply_torque(w, t),
                Call::Impulse(ix, iy, px, py) => {
                    ffi::dq_lander_apply_linear_impulse(w, ix, iy, px, py)
                }
                Call::Step(dt, v, p) => ffi::dq_lander_step(w, dt, v, p),
            }
        }
        self.calls.push(call);
    }

    /// Applies a force to the lander's centre of mass until the next step.
    pub(crate) fn apply_force_to_center(&mut self, fx: f32, fy: f32) {
        self.apply(Call::Force(fx, fy));
    }

    /// Applies a torque to the lander until the next step.
    pub(crate) fn apply_torque(&mut self, torque: f32) {
        self.apply(Call::Torque(torque));
    }

    /// Applies an impulse to the lander at a world point.
    pub(crate) fn apply_linear_impulse(&mut self, impulse: (f32, f32), point: (f32, f32)) {
        self.apply(Call::Impulse(impulse.0, impulse.1, point.0, point.1));
    }

    /// Advances the simulation.
    pub(crate) fn step(
        &mut self,
        time_step: f32,
        velocity_iterations: i32,
        position_iterations: i32,
    ) {
        self.apply(Call::Step(
            time_step,
            velocity_iterations,
            position_iterations,
        ));
    }

    /// The lander's state and the contact flags.
    pub(crate) fn read(&self) -> Readout {
        let mut out = Readout::default();
        // SAFETY: the world is live and `out` is a valid `DqLanderReadout`.
        unsafe { ffi::dq_lander_read(self.raw.as_ptr(), &mut out) };
        out
    }

    /// A world built from `setup` with `calls` replayed on it.
    fn replayed(setup: Setup, calls: &[Call]) -> Self {
        let mut world = Self::new(setup);
        world.calls.reserve(calls.len());
        for &call in calls {
            world.apply(call);
        }
        world
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // SAFETY: the world was created by `dq_lander_create` and is dropped once.
        unsafe { ffi::dq_lander_destroy(self.raw.as_ptr()) }
    }
}

/// An exact copy: the same world rebuilt and the same calls replayed.
impl Clone for World {
    fn clone(&self) -> Self {
        Self::replayed(*self.setup, &self.calls)
    }
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("lander", &self.read())
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

/// The serialized form of a [`World`]: its setup and the calls made since.
#[derive(Serialize, Deserialize)]
struct Record<S, C> {
    setup: S,
    calls: C,
}

impl Serialize for World {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Record {
            setup: &*self.setup,
            calls: &self.calls,
        }
        .serialize(serializer)
    }
}

/// Rebuilds the world and replays its calls, so it continues exactly.
impl<'de> Deserialize<'de> for World {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let record = Record::<Setup, Vec<Call>>::deserialize(deserializer)?;
        Ok(Self::replayed(record.setup, &record.calls))
    }
}

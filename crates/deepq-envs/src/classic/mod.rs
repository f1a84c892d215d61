//! Gymnasium's classic-control environments with discrete actions.

mod acrobot;
mod cartpole;
mod mountain_car;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;

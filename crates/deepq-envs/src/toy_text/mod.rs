//! Gymnasium's toy-text (tabular) environments.

pub mod frozen_lake;

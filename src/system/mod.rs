//! The machine, behind one trait. Placeholder for the layout of issue 9:
//! branch `arch-sys` moves the trait, its real implementation and its fake
//! here; until then this names them where the readers (verify, restore)
//! expect them, so that those never import apply.

pub use crate::apply::system::{RealSystem, System, device_path};

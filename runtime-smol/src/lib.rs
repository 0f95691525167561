//! smol adapter.

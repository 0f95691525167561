//! Placeholder: module under construction.

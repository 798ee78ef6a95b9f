//! engine-types

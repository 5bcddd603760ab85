//! The session tree (being written).

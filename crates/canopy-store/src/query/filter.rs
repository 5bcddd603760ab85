//! Helicone's filter language (being written).

//! Restricted unpickler (being written).

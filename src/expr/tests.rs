//! Tests (to be written)

//! Placeholder replaced by the SIP codec.

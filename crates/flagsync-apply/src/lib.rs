//! flagsync-apply

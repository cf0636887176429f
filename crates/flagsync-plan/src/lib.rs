//! flagsync-plan

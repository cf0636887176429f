//! flagsync-remote

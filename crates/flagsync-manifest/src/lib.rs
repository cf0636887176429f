//! flagsync-manifest

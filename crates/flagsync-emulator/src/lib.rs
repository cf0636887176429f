//! flagsync-emulator

//! placeholder until the emulator branch merges

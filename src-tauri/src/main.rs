//! The desktop app's entry point. Everything lives in the library so that
//! tests can reach it; see `softphone_app::run`.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    softphone_app::run();
}

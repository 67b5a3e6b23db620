//! The TypeScript twins of the types the UI exchanges with the shell,
//! generated from the Rust types (ts-rs) into ui/src/lib/bindings.ts.
//!
//! `cargo test -p softphone bindings` fails when the file is stale;
//! `UPDATE_BINDINGS=1 cargo test -p softphone bindings` rewrites it.

#[cfg(test)]
mod tests {
    use crate::audio::device_list::{UiAudioDevice, UiAudioDevices};
    use crate::audio::level::UiAudioLevels;
    use crate::audio::stats::UiMediaStats;
    use crate::commands::calls::RejectReason;
    use crate::dto::*;
    use crate::error::{AppError, ErrorKind};
    use crate::settings::{AudioSettings, VideoPrefs};
    use crate::ui_event::{UiConnection, UiEvent, EVENT};
    use crate::video::UiVideoSource;
    use ts_rs::{Config, TS};

    fn generate() -> String {
        let cfg = Config::new().with_large_int("number");
        let decls = [
            UiCallType::decl(&cfg),
            UiReceiverType::decl(&cfg),
            UiCallStatus::decl(&cfg),
            UiPresence::decl(&cfg),
            UiCall::decl(&cfg),
            UiUser::decl(&cfg),
            UiGroup::decl(&cfg),
            SessionInfo::decl(&cfg),
            LoginDefaults::decl(&cfg),
            RejectReason::decl(&cfg),
            ErrorKind::decl(&cfg),
            AppError::decl(&cfg),
            UiConnection::decl(&cfg),
            UiEvent::decl(&cfg),
            AudioSettings::decl(&cfg),
            UiAudioDevice::decl(&cfg),
            UiAudioDevices::decl(&cfg),
            UiMediaStats::decl(&cfg),
            UiAudioLevels::decl(&cfg),
            VideoPrefs::decl(&cfg),
            UiVideoSource::decl(&cfg),
        ];
        let mut out = String::from(
            "// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:\n\
             // run `UPDATE_BINDINGS=1 cargo test -p softphone bindings` after changing them.\n\n",
        );
        out.push_str(&format!(
            "/** The Tauri event every UiEvent is emitted under. */\nexport const EVENT = {EVENT:?};\n\n"
        ));
        for d in decls {
            out.push_str("export ");
            out.push_str(&d);
            out.push_str("\n\n");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }

    #[test]
    fn bindings_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/bindings.ts");
        let fresh = generate();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(path, &fresh).expect("write bindings.ts");
            return;
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == fresh,
            "ui/src/lib/bindings.ts is stale: run `UPDATE_BINDINGS=1 cargo test -p softphone bindings`"
        );
    }
}

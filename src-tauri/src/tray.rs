//! The tray icon: show the window, do-not-disturb (incoming calls are
//! declined as busy while it is on), quit. Closing the window only hides it,
//! so calls still ring; Quit from the tray ends the app.

use crate::notify::show_main_window;
use crate::state::AppState;
use std::sync::atomic::Ordering;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

/// Creates the tray icon for `app`.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Softphone", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, false, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&show, &dnd, &sep, &quit])?;
    let mut builder = TrayIconBuilder::with_id("main")
        .tooltip("Softphone")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "show" => show_main_window(app),
            "dnd" => {
                let state = app.state::<AppState>();
                let on = !state.do_not_disturb.load(Ordering::Relaxed);
                state.do_not_disturb.store(on, Ordering::Relaxed);
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

//! The real-terminal event loop: sets the terminal up (raw mode, alternate screen, mouse
//! capture, bracketed paste), feeds crossterm events to the [`App`], and restores the terminal on exit,
//! on Ctrl-C (a key event in raw mode) and on panic (hook installed here and by
//! `ratatui::init`).

use std::io::{self, stdout};
use std::time::Duration;

use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;

use crate::app::App;
use crate::backend::AdminBackend;

/// How long to wait for input before polling the worker job again.
const TICK: Duration = Duration::from_millis(100);

/// Runs the admin TUI until the operator quits. Errors are terminal I/O failures, or a
/// backup/restore worker that died (the message says so); the terminal is restored in
/// every case.
pub fn run(backend: Box<dyn AdminBackend>) -> io::Result<()> {
    // ratatui::init installs a hook that leaves raw mode and the alternate screen before
    // the previous hook prints the panic; ours also releases the mouse first.
    let mut terminal = ratatui::try_init()?;
    let ratatui_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
        ratatui_hook(info);
    }));
    let result = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste).and_then(|()| {
        let mut app = App::new(backend);
        event_loop(&mut terminal, &mut app)
    });
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    ratatui::restore();
    // Leave the ratatui hook chain in place: it is harmless after restore and `take_hook`
    // here could race with a panicking worker thread.
    result
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> io::Result<()> {
    loop {
        terminal.draw(|frame| app.draw(frame))?;
        if event::poll(TICK)? {
            // Drain everything that is ready so fast typing and wheel bursts stay smooth.
            loop {
                let ev = event::read()?;
                app.handle_event(&ev);
                if app.should_quit() || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        app.tick();
        if app.should_quit() {
            return match app.fatal() {
                Some(msg) => Err(io::Error::other(msg.to_owned())),
                None => Ok(()),
            };
        }
    }
}

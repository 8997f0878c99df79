//! Uploads one file through the built ftp plugin, loaded like the host loads it, and
//! prints the elapsed time and throughput. Used by `bench/ftp-upload.sh`.
//!
//! ```text
//! cargo run -p sauvegarde-ftp --example upload -- PLUGIN.so CONFIG.json LOCAL_FILE REMOTE_NAME
//! ```
//! CONFIG.json holds the destination's configuration as the host would pass it. Set
//! `UPLOAD_DEBUG=1` to see the plugin's debug log (TLS fallback, directory creation, …) on stderr.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use abi_stable::std_types::RStr;
use sauvegarde_plugin_api::ffi::{HostLogger, LogLevel};
use sauvegarde_plugin_api::host::LoadedPlugin;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugin, config, local, remote] = args.as_slice() else {
        eprintln!("usage: upload PLUGIN.so CONFIG.json LOCAL_FILE REMOTE_NAME");
        return ExitCode::from(2);
    };
    match run(plugin, config, local, remote) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("upload: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(plugin: &str, config: &str, local: &str, remote: &str) -> Result<(), String> {
    let plugin = LoadedPlugin::load(Path::new(plugin)).map_err(|e| e.to_string())?;
    let verbose = std::env::var_os("UPLOAD_DEBUG").is_some();
    plugin.set_logger(HostLogger {
        plugin: RStr::from("ftp"),
        max_level: if verbose {
            LogLevel::Debug
        } else {
            LogLevel::Warn
        },
        log,
    });
    let config = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let destination = plugin.new_destination(&config).map_err(|e| e.to_string())?;
    let size = std::fs::metadata(local)
        .map_err(|e| format!("{local}: {e}"))?
        .len();
    let start = Instant::now();
    destination
        .upload(Path::new(local), remote, &mut |_, _| true)
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{size} bytes in {seconds:.2} s: {:.1} MiB/s",
        size as f64 / seconds / f64::from(1 << 20)
    );
    Ok(())
}

/// Prints the plugin's log events on stderr.
extern "C" fn log(plugin: RStr<'static>, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    eprintln!("[{plugin} {level:?} {target}] {message}");
}

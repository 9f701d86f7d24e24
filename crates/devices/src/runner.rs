//! Running helper programs (`pactl`, `pacat`): the seam between device logic and the system.

use crate::error::DeviceError;
use std::process::Command;

/// Runs a program to completion and returns its standard output.
pub trait CommandRunner: Send {
    fn run(&mut self, program: &str, args: &[String]) -> Result<String, DeviceError>;
}

/// The real thing: spawns the program with this process's environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&mut self, program: &str, args: &[String]) -> Result<String, DeviceError> {
        let command = format!("{program} {}", args.join(" "));
        let output =
            Command::new(program)
                .args(args)
                .output()
                .map_err(|e| DeviceError::Command {
                    command: command.clone(),
                    message: if e.kind() == std::io::ErrorKind::NotFound {
                        format!("{program} is not installed")
                    } else {
                        e.to_string()
                    },
                })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return Err(DeviceError::Command {
                command,
                message: if stderr.is_empty() {
                    output.status.to_string()
                } else {
                    stderr
                },
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

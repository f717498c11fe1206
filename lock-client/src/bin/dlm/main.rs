//! `dlm`: take, release, renew and inspect locks of the Lambda-native DynamoDB lock, and run a
//! command under a lock like flock(1).

mod args;
mod exit;
mod group;
mod progress;
mod run;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use args::{Cli, Command};
use clap::Parser;
use exit::{fail, Exit, Failure};
use lock_client::{ClientError, LockClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, Failure> {
    let base = LockClient::from_env().await?.with_function(&cli.function);
    match cli.command {
        Command::Acquire {
            resource,
            duration,
            wait,
            limit,
        } => {
            let client = base
                .with_duration(duration.unwrap_or(base.duration()))
                .with_limit(limit);
            let guard = match wait {
                None => client.try_acquire(&resource).await?,
                Some(wait) => {
                    let show = progress::Progress::new(std::io::stderr().is_terminal());
                    let deadline = Instant::now() + wait;
                    let guard = client
                        .acquire_until(&resource, Some(deadline), |p| show.update(p))
                        .await;
                    show.finish();
                    match guard {
                        Err(ClientError::Timeout { .. }) => None,
                        other => Some(other?),
                    }
                }
            };
            let Some(guard) = guard else {
                let d = client.describe(&resource).await.ok();
                let until = d
                    .and_then(|d| d.expires_at_ms)
                    .map(progress::until)
                    .unwrap_or_default();
                eprintln!("dlm: lock {resource:?} is busy{until}");
                return Ok(Exit::Busy.code());
            };
            // The lock outlives this process: hand it over instead of releasing it on drop.
            let grant = guard.into_grant();
            println!(
                "{}",
                serde_json::to_string(&grant).expect("grant serializes")
            );
            Ok(Exit::Ok.code())
        }
        Command::Release {
            resource,
            owner,
            fence,
        } => {
            let owner = args::owner(owner);
            let outcome = base.raw().release(&resource, &owner, fence).await?;
            let answer = outcome.to_response(&resource);
            println!("{}", serde_json::to_string(&answer).expect("serializes"));
            if !answer.released {
                eprintln!(
                    "dlm: lock {resource:?} was not held by this owner (expired and/or taken){}",
                    if answer.uncertain {
                        ", or an earlier attempt of this release freed it unseen"
                    } else {
                        ""
                    }
                );
                return Ok(Exit::Lost.code());
            }
            Ok(Exit::Ok.code())
        }
        Command::Renew {
            resource,
            owner,
            fence,
            duration,
        } => {
            let owner = args::owner(owner);
            let r = base
                .raw()
                .renew(
                    &resource,
                    &owner,
                    fence,
                    duration.unwrap_or(base.duration()),
                )
                .await?;
            println!("{}", serde_json::to_string(&r).expect("serializes"));
            if !r.renewed {
                eprintln!(
                    "dlm: lock {resource:?} is no longer held by this owner (expired and/or taken)"
                );
                return Ok(Exit::Lost.code());
            }
            Ok(Exit::Ok.code())
        }
        Command::Status { resource, owner } => {
            let owner = owner.map(args::owner);
            let d = base.raw().describe(&resource, owner.as_deref()).await?;
            println!("{}", serde_json::to_string(&d).expect("serializes"));
            Ok(Exit::Ok.code())
        }
        Command::Run {
            resource,
            duration,
            wait,
            limit,
            command,
        } => {
            let client = base
                .with_duration(duration.unwrap_or(base.duration()))
                .with_limit(limit);
            run::run(&client, &resource, wait, &command).await
        }
    }
}

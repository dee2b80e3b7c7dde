//! `tasks list|add|retry`: a thin layer over the file-based queue
//! (`failover_daemon::queue::ops`). The files are the queue, so these work whether or not the
//! daemon runs. The projects are `--project DIR`, else every session `dir` and `[[projects]]
//! dir` of the config file.

use std::path::{Path, PathBuf};

use failover_daemon::queue::{DEFAULT_MAX_TASK_BYTES, QueueError, ops};

use crate::args::{TasksAction, TasksArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::paths::{expand_tilde, tilde};
use crate::render::{self, Table};

/// Runs `tasks`.
pub(crate) fn run(ctx: &Ctx, args: &TasksArgs) -> Result<(), CliError> {
    let out = |e| CliError::io("cannot write to", "stdout", e);
    let action = args.action.as_ref().unwrap_or(&TasksAction::List {
        project: None,
        json: false,
    });
    match action {
        TasksAction::List { project, json } => {
            let projects = projects(ctx, project.as_deref())?;
            let tasks = ops::list(&projects).map_err(queue_err)?;
            if *json {
                return render::json(&tasks).map_err(out);
            }
            if tasks.is_empty() {
                return render::line(&format!(
                    "no tasks in {}",
                    projects
                        .iter()
                        .map(|p| tilde(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .map_err(out);
            }
            let mut t = Table::new(&["PROJECT", "TASK", "STATE", "SESSION", "ATTEMPT", "NOTE"]);
            for e in &tasks {
                let state = serde_json::to_value(e.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let note = e
                    .problem
                    .clone()
                    .or_else(|| e.target_session.as_ref().map(|s| format!("for {s}")))
                    .or_else(|| {
                        e.delivered
                            .map(|d| if d { "prompt sent" } else { "claimed" }.to_owned())
                    })
                    .unwrap_or_default();
                t.row(vec![
                    tilde(&e.project),
                    e.name.clone(),
                    state,
                    render::opt(e.session.as_deref()),
                    render::opt(e.attempt),
                    note,
                ]);
            }
            render::print(&t.render()).map_err(out)
        }
        TasksAction::Add {
            file,
            project,
            json,
        } => {
            let added = ops::add(project, file, DEFAULT_MAX_TASK_BYTES).map_err(queue_err)?;
            if *json {
                return render::json(&added).map_err(out);
            }
            render::line(&format!(
                "queued {} in {}",
                added.name,
                tilde(&added.project)
            ))
            .map_err(out)
        }
        TasksAction::Retry { id, project, json } => {
            let projects = projects(ctx, project.as_deref())?;
            let r = ops::retry(&projects, id).map_err(queue_err)?;
            if *json {
                return render::json(&r).map_err(out);
            }
            render::line(&format!(
                "{} is back in the inbox of {} as {}",
                r.from,
                tilde(&r.project),
                r.name
            ))
            .map_err(out)
        }
    }
}

fn queue_err(e: QueueError) -> CliError {
    match e {
        QueueError::NotFound(_) => CliError::Other(format!(
            "{e}\nhint: `claude-failover tasks list` shows the failed tasks"
        )),
        QueueError::InvalidId { .. } => CliError::Usage(e.to_string()),
        other => CliError::library("the task queue", other),
    }
}

/// `--project`, else the session and project dirs of the config file.
fn projects(ctx: &Ctx, project: Option<&Path>) -> Result<Vec<PathBuf>, CliError> {
    if let Some(p) = project {
        return Ok(vec![p.to_path_buf()]);
    }
    let text = std::fs::read_to_string(&ctx.config).map_err(|e| {
        CliError::Usage(format!(
            "no --project given and the config file {} cannot be read ({e}); pass --project DIR",
            ctx.config.display()
        ))
    })?;
    let table: toml::Table = text.parse().map_err(|e| {
        CliError::Usage(format!(
            "{} is not valid TOML ({e}); pass --project DIR",
            ctx.config.display()
        ))
    })?;
    let base = ctx.config.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = Vec::new();
    for key in ["sessions", "projects"] {
        let dirs = table
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("dir")?.as_str());
        for d in dirs {
            let p = expand_tilde(d);
            let p = if p.is_absolute() { p } else { base.join(p) };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(CliError::Usage(format!(
            "{} lists no session or project dirs; pass --project DIR",
            ctx.config.display()
        )));
    }
    Ok(out)
}

//! `tasks list|add|retry`: a thin layer over the file-based queue
//! (`failover_queue::ops`). The files are the queue, so these work whether or not the
//! daemon runs. The projects are `--project DIR`, else the ones the daemon serves
//! ([`failover_daemon::config::served_projects_in`] the config file: with only `--socket`
//! given, the running daemon's own config file).

use std::path::{Path, PathBuf};

use failover_queue::{DEFAULT_MAX_TASK_BYTES, QueueError, ops, task};

use crate::args::{TasksAction, TasksArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::paths::tilde;
use crate::render::{self, Table};

/// Runs `tasks`.
pub(crate) fn run(ctx: &Ctx, args: &TasksArgs) -> Result<(), CliError> {
    let config = config_file(ctx);
    let ctx = &Ctx {
        socket: ctx.socket.clone(),
        config,
        config_explicit: ctx.config_explicit,
        socket_explicit: ctx.socket_explicit,
        client: ctx.client.clone(),
    };
    let out = |e| CliError::io("cannot write to", "stdout", e);
    let action = args.action.as_ref().unwrap_or(&TasksAction::List {
        project: None,
        json: false,
    });
    match action {
        TasksAction::List { project, json } => {
            let projects = projects(ctx, project.as_deref())?;
            let tasks = ops::list(&projects).map_err(|e| queue_err("cannot list the tasks", e))?;
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
                let note = note(e);
                t.row(vec![
                    tilde(&e.project),
                    e.name.clone(),
                    state,
                    render::opt(e.session.as_deref()),
                    render::opt(e.attempt),
                    note,
                ]);
            }
            render::print(&t.render_fit(render::COLUMNS)).map_err(out)
        }
        TasksAction::Add {
            file,
            project,
            json,
        } => {
            served_check(ctx, project)?;
            let added = ops::add(project, file, DEFAULT_MAX_TASK_BYTES)
                .map_err(|e| queue_err(&format!("cannot queue {}", file.display()), e))?;
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
            refuse_malformed(&projects, id)?;
            let r = ops::retry(&projects, id)
                .map_err(|e| queue_err(&format!("cannot retry {id}"), e))?;
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

/// What `tasks list` says about a task beside its state: why it failed or will be rejected,
/// who it is for, how far its delivery got.
fn note(e: &ops::TaskEntry) -> String {
    if let Some(p) = &e.problem {
        return format!("will be rejected: {p}");
    }
    if let Some(reason) = e.result.as_ref().and_then(|r| r.reason.as_deref()) {
        return reason.to_owned();
    }
    match e.delivered {
        Some(true) => return "prompt sent, waiting for completion".into(),
        Some(false) => return "claimed, prompt not sent yet".into(),
        None => {}
    }
    e.target_session
        .as_ref()
        .map(|s| format!("for {s}"))
        .unwrap_or_default()
}

/// A queue failure, starting with what failed.
fn queue_err(what: &str, e: QueueError) -> CliError {
    match e {
        QueueError::NotFound(_) => CliError::Other(format!(
            "{what}: {e}\nhint: `{}` shows the failed tasks",
            render::cmd("tasks list")
        )),
        QueueError::InvalidId { .. } => CliError::Usage(e.to_string()),
        other => CliError::library(what, other),
    }
}

/// The config file to read the projects from: `--config`, else (with only `--socket` given)
/// the one the running daemon was started with, else the default.
fn config_file(ctx: &Ctx) -> PathBuf {
    if ctx.config_explicit || !ctx.socket_explicit {
        return ctx.config.clone();
    }
    let asked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|rt| {
            rt.block_on(
                ctx.client
                    .get_json::<failover_daemon::http::dto::StatusDto>("/v1/status"),
            )
            .ok()
        })
        .and_then(|st| st.daemon.config_file);
    asked.map_or_else(|| ctx.config.clone(), PathBuf::from)
}

/// `tasks add` only queues into a project the daemon serves; anything else would wait forever.
fn served_check(ctx: &Ctx, project: &Path) -> Result<(), CliError> {
    let served = served(ctx).map_err(|why| {
        CliError::Usage(format!(
            "cannot queue into {}: {why}, so no project is known to be served\n\
             hint: name the config with --config FILE, or write one with `{}`",
            project.display(),
            render::cmd("init")
        ))
    })?;
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let wanted = canon(project);
    if served.iter().any(|p| canon(p) == wanted) {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "cannot queue into {}: no session serves it, so the task would wait forever\n\
         the served projects (from {}): {}\n\
         hint: add it as a [[projects]] dir in the config, or pass one of these to --project",
        project.display(),
        ctx.config.display(),
        served
            .iter()
            .map(|p| tilde(p))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// A task that failed because its file is malformed would only be rejected again: say why
/// instead of moving it back.
fn refuse_malformed(projects: &[PathBuf], id: &str) -> Result<(), CliError> {
    let tasks = ops::list(projects).map_err(|e| queue_err(&format!("cannot retry {id}"), e))?;
    let failed = tasks.iter().find(|t| {
        t.state == ops::TaskState::Failed && (t.name == id || t.name == format!("{id}.md"))
    });
    let Some(t) = failed else { return Ok(()) };
    let meta =
        std::fs::symlink_metadata(&t.path).map_err(|e| CliError::io("cannot read", &t.path, e))?;
    let checked = task::inspect(
        &t.project,
        &t.path,
        std::ffi::OsStr::new(&t.name),
        &meta,
        DEFAULT_MAX_TASK_BYTES,
    );
    match checked {
        Ok(_) => Ok(()),
        Err(bad) => Err(CliError::Other(format!(
            "cannot retry {}: the file is malformed ({bad}), so it would be rejected again\n\
             hint: fix {} and queue it with `{}`",
            t.name,
            t.path.display(),
            render::cmd(&format!(
                "tasks add {} --project {}",
                t.path.display(),
                t.project.display()
            ))
        ))),
    }
}

/// `--project`, else the projects the config file serves.
fn projects(ctx: &Ctx, project: Option<&Path>) -> Result<Vec<PathBuf>, CliError> {
    if let Some(p) = project {
        return Ok(vec![p.to_path_buf()]);
    }
    served(ctx)
        .map_err(|why| CliError::Usage(format!("no --project given and {why}; pass --project DIR")))
}

/// The projects the config file serves (by the daemon's own rules,
/// [`failover_daemon::config::served_projects_in`]), or why they are unknown.
fn served(ctx: &Ctx) -> Result<Vec<PathBuf>, String> {
    let out = failover_daemon::config::served_projects_in(
        &ctx.config,
        &failover_daemon::config::ProcessEnv,
    )
    .map_err(|e| format!("the config file cannot be used ({e})"))?;
    if out.is_empty() {
        return Err(format!(
            "the config file {} lists no [[projects]]: a queue is served only in a dir \
             listed there",
            ctx.config.display()
        ));
    }
    Ok(out)
}

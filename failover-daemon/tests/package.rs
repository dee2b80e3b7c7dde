//! The shape of the package: `cargo install --path failover-daemon` installs the daemon and
//! nothing else, and no simulator ships in it (the offline world lives in `failover-sim`); its
//! tasks do not reach into the control plane.

use std::path::Path;

#[test]
fn the_daemon_package_ships_one_binary_and_no_simulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let bins: Vec<&str> = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| a.iter().filter_map(|b| b.get("name")?.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bins, ["claude-failoverd"]);
    // Cargo would pick up any file under src/bin as another binary.
    assert!(
        !root.join("src/bin").exists(),
        "src/bin holds extra binaries"
    );
    assert!(
        !root.join("src/sim").exists(),
        "the simulator is in failover-sim"
    );
    let deps = manifest["dependencies"].as_table().unwrap();
    assert!(
        !deps.contains_key("failover-sim"),
        "failover-sim is a dev-dependency only"
    );
}

/// The daemon's tasks keep their own bookkeeping: none of them reaches into the control plane
/// (`http/` converts from their types, never the other way round).
#[test]
fn the_daemon_tasks_do_not_import_the_control_plane() {
    let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tasks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&tasks).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("crate::http"),
            "{} imports the control plane",
            path.display()
        );
    }
    assert!(seen > 5, "no task sources found in {}", tasks.display());
}

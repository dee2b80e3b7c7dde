//! The shape of the package: `cargo install --path failover-daemon` installs the daemon and
//! nothing else, and no simulator ships in it (the offline world lives in `failover-sim`).

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

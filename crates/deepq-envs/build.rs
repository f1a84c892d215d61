//! Compiles the vendored Box2D 2.3.2 (the C++ that pybox2d 2.3.10, and so
//! Gymnasium's LunarLander, runs) and the LunarLander shim with the system's
//! C++ compiler.

use std::path::Path;

fn main() {
    let root = Path::new("box2d");
    println!("cargo:rerun-if-changed=box2d");
    let mut sources = Vec::new();
    collect_cpp(&root.join("Box2D"), &mut sources);
    sources.sort();
    cc::Build::new()
        .cpp(true)
        .include(root)
        .files(&sources)
        .file(root.join("lunar_lander.cpp"))
        .std("c++11")
        // Fixed, so that debug builds are not slow and the float arithmetic is
        // the same in every profile; no contraction into fused multiply-adds,
        // which would change the rounding Gymnasium's build has.
        .opt_level(2)
        .flag_if_supported("-ffp-contract=off")
        .warnings(false)
        .compile("deepq_box2d");
}

/// Every `.cpp` file under `dir`.
fn collect_cpp(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the vendored Box2D sources are readable") {
        let path = entry.expect("a readable directory entry").path();
        if path.is_dir() {
            collect_cpp(&path, out);
        } else if path.extension().is_some_and(|e| e == "cpp") {
            out.push(path);
        }
    }
}

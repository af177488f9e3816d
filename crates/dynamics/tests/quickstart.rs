//! The README's library program (`examples/quickstart.rs`) runs, and the README shows it verbatim.

mod quickstart {
    include!("../examples/quickstart.rs");
    pub fn run() -> Result<(), attnflow_dynamics::DynamicsError> {
        main()
    }
}

#[test]
fn quickstart_runs() {
    quickstart::run().expect("the README program runs");
}

#[test]
fn readme_shows_the_quickstart_program() {
    let example = include_str!("../examples/quickstart.rs");
    let readme = include_str!("../../../README.md");
    // the program without its leading comment
    let code: String = example
        .lines()
        .skip_while(|l| l.starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(&code),
        "README.md must contain examples/quickstart.rs (after its leading comment) verbatim"
    );
}

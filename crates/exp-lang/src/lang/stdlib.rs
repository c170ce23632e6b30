//! The standard library: modules written in the language, embedded in the
//! binary so `use std.recipes` works from any directory.

/// (module name, source text).
pub const MODULES: &[(&str, &str)] = &[
    (
        "std.backbones",
        include_str!("../../../../stdlib/backbones.exp"),
    ),
    (
        "std.recipes",
        include_str!("../../../../stdlib/recipes.exp"),
    ),
    ("std.scores", include_str!("../../../../stdlib/scores.exp")),
];

/// The text of a module, if it exists.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of all modules.
pub fn names() -> Vec<&'static str> {
    MODULES.iter().map(|(n, _)| *n).collect()
}

//! `source scripts/env.sh` as a user types it in an interactive shell: the
//! shell's options (`set -e`, `-u`, `-o pipefail`) are as before, nothing but
//! the exported variables changes, and nothing is printed (no NumPy warning)
//! once torch is installed. Sourced from a script with its own
//! `set -euo pipefail` (scripts/test.sh, scripts/quickstart.sh) it works too.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bash(script: &str) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sourcing_env_sh_leaves_the_shell_as_it_was() {
    // Options, functions and variables before and after, in a shell that has
    // none of -e, -u, pipefail (an interactive shell's defaults).
    let script = r#"
set +euo pipefail
opts_before="$(set -o; shopt -p)"
funcs_before="$(declare -F)"
vars_before="$(compgen -v | sort)"
source scripts/env.sh > /tmp/exp-env-out.$$ 2>&1
rc=$?
opts_after="$(set -o; shopt -p)"
[ "$opts_before" = "$opts_after" ] || { echo "OPTIONS CHANGED"; diff <(echo "$opts_before") <(echo "$opts_after"); }
[ "$funcs_before" = "$(declare -F)" ] || echo "FUNCTIONS CHANGED: $(declare -F)"
echo "NEW VARIABLES: $(comm -13 <(echo "$vars_before") <(compgen -v | sort | grep -vx 'opts_after\|rc\|vars_before') | tr '\n' ' ')"
echo "PRINTED: [$(cat /tmp/exp-env-out.$$)]"
rm -f /tmp/exp-env-out.$$
echo "RC: $rc"
echo "LIB: $LD_LIBRARY_PATH"
false   # an interactive shell survives a failing command: -e is off
echo "STILL HERE"
"#;
    let (code, out, err) = bash(script);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("OPTIONS CHANGED"), "{out}");
    assert!(!out.contains("FUNCTIONS CHANGED"), "{out}");
    assert!(out.contains("RC: 0"), "{out}");
    assert!(
        out.contains("PRINTED: []"),
        "env.sh printed something:\n{out}"
    );
    assert!(out.contains("torch/lib"), "{out}");
    assert!(out.contains("STILL HERE"), "{out}");
    let new: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("NEW VARIABLES: "))
        .unwrap()
        .split_whitespace()
        .collect();
    for v in &new {
        let exported = bash(&format!(
            "set +u; source scripts/env.sh; declare -p {v} | grep -q '^declare -[a-zA-Z]*x'"
        ));
        assert_eq!(exported.0, 0, "env.sh left the unexported variable {v}");
    }
}

#[test]
fn sourcing_env_sh_under_strict_options_keeps_them() {
    let (code, out, err) = bash(
        "set -euo pipefail; source scripts/env.sh; set -o | grep -E '^(errexit|nounset|pipefail)' | tr -s ' \\t' ' '",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("errexit on") && out.contains("nounset on") && out.contains("pipefail on"),
        "{out}"
    );
}

use crate::util::binary;

#[test]
fn the_demo_walks_the_whole_chain() {
    let output = binary().arg("demo").output().expect("demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "!azure-ad-auth-start",
        "!azure-ad-auth-complete",
        "!azure-ad-auth-test",
        "risky-user-list",
        "risks-list",
        "history-list",
        "dismiss",
        "fetch-incidents",
        "All steps succeeded.",
    ] {
        assert!(stdout.contains(step), "missing {step} in:\n{stdout}");
    }
    // The emulator's token values have Microsoft's shapes: access and ID tokens are JWTs
    // ("eyJ..."), refresh tokens start "1.AQEA", device codes "DAQABIQEAAAD". None may be printed.
    let stderr = String::from_utf8_lossy(&output.stderr);
    for shape in ["eyJ", "1.AQEA", "DAQABIQEAAAD"] {
        assert!(
            !stdout.contains(shape) && !stderr.contains(shape),
            "a token value ({shape}...) was printed"
        );
    }
    assert!(
        stdout.contains("access_token"),
        "the demo names the context keys that changed"
    );
}

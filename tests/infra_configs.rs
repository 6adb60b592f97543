//! The deployment files stay true to the tested configuration: the Kubernetes ConfigMap's
//! VCL is the project's Varnish VCL (the one the scale and failover tests run) with only
//! its backends changed, and Varnish compiles both.

use std::path::PathBuf;
use std::process::Command;

fn read(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The `default.vcl: |` block scalar of the ConfigMap, de-indented.
fn configmap_vcl(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "default.vcl: |");
    assert!(
        lines.next().is_some(),
        "config.yaml has a default.vcl block"
    );
    let mut out = String::new();
    for l in lines {
        if l.trim().is_empty() {
            out.push('\n');
        } else if let Some(rest) = l.strip_prefix("    ") {
            out.push_str(rest);
            out.push('\n');
        } else {
            break;
        }
    }
    out
}

/// The VCL without what lies between `# BEGIN X` and `# END X` markers.
fn without_generated_blocks(vcl: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipping = false;
    for l in vcl.lines() {
        let t = l.trim();
        if t.starts_with("# BEGIN ") {
            skipping = true;
            out.push(t.to_owned());
        } else if t.starts_with("# END ") {
            skipping = false;
            out.push(t.to_owned());
        } else if !skipping && !t.is_empty() {
            out.push(l.trim_end().to_owned());
        }
    }
    out
}

fn varnishd() -> Option<PathBuf> {
    ["/usr/sbin/varnishd", "/usr/bin/varnishd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn kubernetes_vcl_is_the_tested_vcl() {
    let tested = read("infra/varnish/amphi.vcl");
    let k8s = configmap_vcl(&read("infra/k8s/config.yaml"));
    assert!(
        k8s.contains("\"amphi-origin\""),
        "the backend is the origin Service"
    );
    let (a, b) = (
        without_generated_blocks(&tested),
        without_generated_blocks(&k8s),
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            x, y,
            "line {i} differs between infra/varnish/amphi.vcl and the ConfigMap"
        );
    }
    assert_eq!(a.len(), b.len(), "same number of lines");

    let Some(varnishd) = varnishd() else {
        println!("varnishd not installed: the VCL compile check is left to the Varnish tests");
        return;
    };
    let dir = std::env::temp_dir().join(format!("amphi-vcl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The Service name resolves only inside the cluster; Varnish resolves it at load time.
    let k8s_here = k8s.replace("\"amphi-origin\"", "\"127.0.0.1\"");
    for (name, text) in [("tested.vcl", &tested), ("k8s.vcl", &k8s_here)] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write VCL");
        let out = Command::new(&varnishd)
            .arg("-C")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("run varnishd -C");
        assert!(
            out.status.success(),
            "{name} does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The lane's scale-set values (docs/lane/) as the chart and the cluster would take them:
//! top-level keys the gha-runner-scale-set chart knows, and a pod template the
//! AutoscalingRunnerSet CRD accepts, unknown fields refused (tests/fixtures holds the
//! CRD's template schema from chart 0.14.2). Plus the points docs/lane.md relies on:
//! the RuntimeClass, no device override, a versioned image, selectors real labellers
//! set.

use serde_json::Value;

use crate::common::read_json;

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn values(vendor: &str) -> Value {
    let p = root().join(format!("docs/lane/{vendor}-values.yaml"));
    let text = std::fs::read_to_string(&p).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The CRD's schema made strict: an object schema that lists its properties refuses
/// others, as a structural schema prunes or rejects them.
fn strict(schema: &mut Value) {
    if let Some(obj) = schema.as_object_mut() {
        if obj.contains_key("properties")
            && !obj.contains_key("additionalProperties")
            && !obj.contains_key("x-kubernetes-preserve-unknown-fields")
        {
            obj.insert("additionalProperties".into(), Value::Bool(false));
        }
        for v in obj.values_mut() {
            strict(v);
        }
    } else if let Some(arr) = schema.as_array_mut() {
        arr.iter_mut().for_each(strict);
    }
}

fn crd() -> (jsonschema::Validator, Vec<String>) {
    let doc = read_json(&root().join("tests/fixtures/arc-0.14.2-runner-template.schema.json"));
    let mut template = doc["template"].clone();
    strict(&mut template);
    let keys = doc["top_level_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    (jsonschema::validator_for(&template).unwrap(), keys)
}

/// What the chart and the CRD would refuse in `v`, in words.
fn refused(v: &Value) -> Vec<String> {
    let (validator, keys) = crd();
    let mut out: Vec<String> = v
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !keys.contains(k))
        .map(|k| format!("unknown chart value {k}"))
        .collect();
    out.extend(
        validator
            .iter_errors(&v["template"])
            .map(|e| format!("{e} at template{}", e.instance_path())),
    );
    out
}

#[test]
fn the_values_are_what_the_chart_and_the_crd_accept() {
    for vendor in ["nvidia", "amd"] {
        let v = values(vendor);
        assert_eq!(refused(&v), Vec::<String>::new(), "{vendor}");
    }
}

#[test]
fn a_misplaced_field_is_refused() {
    // The AMD values once had supplementalGroups in the container's securityContext,
    // where the pod spec has no such field: the cluster drops it and RADV cannot open
    // the render node.
    let mut v = values("amd");
    let groups = v["template"]["spec"]["securityContext"]["supplementalGroups"].clone();
    v["template"]["spec"]["containers"][0]["securityContext"] =
        serde_json::json!({ "supplementalGroups": groups });
    let r = refused(&v);
    assert!(r.iter().any(|e| e.contains("supplementalGroups")), "{r:?}");
    let mut v = values("nvidia");
    v["runnerScaleSetLabel"] = "typo".into();
    v["template"]["spec"]["runtimeClass"] = "nvidia".into();
    let r = refused(&v);
    assert!(
        r.iter().any(|e| e.contains("runnerScaleSetLabel"))
            && r.iter().any(|e| e.contains("runtimeClass")),
        "{r:?}"
    );
}

#[test]
fn the_pods_get_their_gpu_the_way_docs_lane_says() {
    let nv = values("nvidia");
    let spec = &nv["template"]["spec"];
    assert_eq!(spec["runtimeClassName"], "nvidia");
    let runner = &spec["containers"][0];
    let env = runner["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "NVIDIA_DRIVER_CAPABILITIES"
        && e["value"].as_str().unwrap().contains("graphics")));
    assert!(
        !env.iter().any(|e| e["name"] == "NVIDIA_VISIBLE_DEVICES"),
        "the device plugin picks the GPU"
    );
    assert_eq!(runner["resources"]["limits"]["nvidia.com/gpu"], 1);
    let amd = values("amd");
    let spec = &amd["template"]["spec"];
    assert!(
        !spec["securityContext"]["supplementalGroups"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        spec["containers"][0]["resources"]["limits"]["amd.com/gpu"],
        1
    );
    for (vendor, v) in [("nvidia", &nv), ("amd", &amd)] {
        let image = v["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            image.contains(&format!("gpu-canary-runner-{vendor}"))
                && !tag.is_empty()
                && tag != "latest",
            "{vendor}: {image} must name a built version"
        );
        // Selectors some labeller really sets: the kubelet's hostname, the GPU
        // operator's nvidia.com/gpu.present, the ROCm labeller's amd.com/gpu.*.
        for (k, _) in v["template"]["spec"]["nodeSelector"].as_object().unwrap() {
            assert!(
                k == "kubernetes.io/hostname"
                    || k == "nvidia.com/gpu.present"
                    || k.starts_with("amd.com/gpu.")
                    || k.starts_with("beta.amd.com/gpu."),
                "{vendor}: nothing sets the node label {k}"
            );
        }
        // An organisation-wide scale set in a runner group: shared by repositories.
        assert!(v["runnerGroup"].is_string(), "{vendor}");
    }
}

#[test]
fn the_runner_images_are_pinned_and_carry_vulkan() {
    for vendor in ["nvidia", "amd"] {
        let text =
            std::fs::read_to_string(root().join(format!("docker/runner-{vendor}.Dockerfile")))
                .unwrap();
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("ARG RUNNER_VERSION="))
            .expect("a pinned runner version");
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{vendor}: {version}"
        );
        assert!(text.contains("FROM ghcr.io/actions/actions-runner:${RUNNER_VERSION}"));
        for pkg in ["libvulkan1", "vulkan-tools"] {
            assert!(text.contains(pkg), "{vendor}: {pkg}");
        }
        assert_eq!(text.contains("mesa-vulkan-drivers"), vendor == "amd");
        // NVIDIA's ICD loads libEGL and libXext, which the toolkit does not mount; RADV's
        // ICD file must be where the loader looks, or the build fails.
        for pkg in ["libegl1", "libxext6"] {
            assert_eq!(text.contains(pkg), vendor == "nvidia", "{vendor}: {pkg}");
        }
        assert_eq!(
            text.contains("test -f /usr/share/vulkan/icd.d/radeon_icd.x86_64.json"),
            vendor == "amd"
        );
        assert!(
            text.contains("> /etc/gpu-canary-image.txt"),
            "{vendor}: versions recorded"
        );
        assert!(
            text.trim_end().ends_with("USER runner"),
            "{vendor}: runs as the runner"
        );
    }
}

#[test]
fn runner_pods_are_guaranteed_their_cpu_and_memory() {
    for vendor in ["nvidia", "amd"] {
        let v = values(vendor);
        let r = &v["template"]["spec"]["containers"][0]["resources"];
        for key in ["cpu", "memory"] {
            assert!(r["requests"][key].is_string(), "{vendor}: requests.{key}");
            assert_eq!(r["requests"][key], r["limits"][key], "{vendor}: {key}");
        }
        let text = std::fs::read_to_string(root().join(format!("docs/lane/{vendor}-values.yaml")))
            .unwrap();
        // A repository URL has no runner group: the values say to delete it.
        assert!(text.contains("delete runnerGroup"), "{vendor}");
        assert!(text.contains("allows public repositories"), "{vendor}");
        assert!(text.contains(":RUNNER_VERSION-COMMIT_SHA"), "{vendor}");
    }
    let doc = std::fs::read_to_string(root().join("docs/lane.md")).unwrap();
    for needle in [
        "libnvidia-gl-<branch>",
        "--no-opengl-files",
        "Allow public repositories",
        "\"command\":[\"sleep\",\"infinity\"]",
        "stat -c \"%n %g\" /dev/dri/renderD*; id",
        "## Runner updates",
        "Do not add required\n   reviewers",
        "lane-watchdog.yml",
    ] {
        assert!(doc.contains(needle), "docs/lane.md lacks {needle}");
    }
}

#[test]
fn every_lane_job_runs_the_preflight_first() {
    for vendor in ["nvidia", "amd"] {
        let image =
            std::fs::read_to_string(root().join(format!("docker/runner-{vendor}.Dockerfile")))
                .unwrap();
        // The binary and the hook in the image, outside the runner's own directory.
        for copy in [
            "COPY --chmod=0755 gpu-canary /usr/local/bin/gpu-canary",
            "COPY --chmod=0755 gpu-canary-job-started.sh /opt/gpu-canary/job-started.sh",
            "COPY --chmod=0755 push-metrics /opt/gpu-canary/push-metrics",
        ] {
            assert!(image.contains(copy), "{vendor}: {copy}");
        }
        let v = values(vendor);
        let env = v["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        let get = |name: &str| {
            env.iter()
                .find(|e| e["name"] == name)
                .and_then(|e| e["value"].as_str())
                .map(str::to_owned)
        };
        assert_eq!(
            get("ACTIONS_RUNNER_HOOK_JOB_STARTED").as_deref(),
            Some("/opt/gpu-canary/job-started.sh"),
            "{vendor}"
        );
        let args = get("GPU_CANARY_PREFLIGHT_ARGS").unwrap();
        assert!(
            args.contains("--require-hardware")
                && args.contains(&format!("--expect-vendor {vendor}")),
            "{vendor}: {args}"
        );
    }
    // The build puts the binary and the push script into the images' context.
    let wf = std::fs::read_to_string(root().join(".github/workflows/runner-images.yml")).unwrap();
    assert!(wf.contains("cp target/release/gpu-canary docker/"));
    assert!(wf.contains("scripts/install-release \"$RELEASE\" docker"));
    assert!(wf.contains("cp scripts/push-metrics docker/"));
    assert!(root().join("docker/gpu-canary-job-started.sh").exists());
}

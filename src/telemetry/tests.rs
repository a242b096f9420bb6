//! The readers on fake sysfs trees and recorded snapshots, the policy, and the card
//! matching.

use std::time::{Duration, Instant};

use super::amdgpu::throttlers as amd_throttlers;
use super::pcie::link_gen;
use super::sysfs::{SysfsGpu, power_between};
use super::*;
use crate::model::Hygiene;

/// The hygiene of a run whose every snapshot is `s`.
fn assessed(s: &GpuSnapshot) -> Hygiene {
    assess(
        Ok("sysfs"),
        Some(s.clone()),
        std::slice::from_ref(s),
        Some(s.clone()),
    )
}

/// The card of these PCI ids in a fake root, with no PCI address to go by.
fn find(
    root: &tempfile::TempDir,
    vendor: u32,
    device: u32,
) -> std::result::Result<SysfsGpu, String> {
    SysfsGpu::find(root.path(), vendor, device, None, "gpu").map(|(g, _)| g)
}

/// A card as amdgpu lays it out in sysfs, in a temporary root.
fn fake_sys(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    root
}

#[test]
fn an_amd_card_is_read_from_sysfs() {
    let d = "class/drm/card1/device";
    let root = fake_sys(&[
        ("class/drm/card0/device/vendor", "0x8086\n"),
        ("class/drm/card0/device/device", "0x56a0\n"),
        ("class/drm/card1-DP-1/status", "connected\n"),
        (&format!("{d}/vendor"), "0x1002\n"),
        (&format!("{d}/device"), "0x744c\n"),
        (&format!("{d}/gpu_busy_percent"), "97\n"),
        (&format!("{d}/current_link_speed"), "8.0 GT/s PCIe\n"),
        (&format!("{d}/max_link_speed"), "16.0 GT/s PCIe\n"),
        (&format!("{d}/current_link_width"), "16\n"),
        (&format!("{d}/max_link_width"), "16\n"),
        (&format!("{d}/ras/umc_err_count"), "ue: 0\nce: 3\n"),
        (&format!("{d}/hwmon/hwmon4/temp1_input"), "71000\n"),
        (&format!("{d}/hwmon/hwmon4/power1_average"), "287000000\n"),
        (&format!("{d}/hwmon/hwmon4/freq1_input"), "2482000000\n"),
        (&format!("{d}/hwmon/hwmon4/freq2_input"), "1249000000\n"),
    ]);
    assert!(find(&root, 0x1002, 0x7448).is_err());
    let g = find(&root, 0x1002, 0x744c).unwrap();
    let s = g.snapshot("AMD Radeon RX 7900 XTX (RADV NAVI31)");
    assert_eq!(s.temperature_c, Some(71));
    assert_eq!(s.power_w, Some(287.0));
    assert_eq!(
        (s.sm_clock_mhz, s.memory_clock_mhz),
        (Some(2482), Some(1249))
    );
    assert_eq!(s.utilization_percent, Some(97));
    assert_eq!(
        (s.ecc_uncorrected_volatile, s.ecc_corrected_volatile),
        (Some(0), Some(3))
    );
    assert_eq!(
        (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max),
        (Some(3), Some(4), Some(16), Some(16))
    );
    // A Gen3 link that should be Gen4, all through the run: a hygiene finding.
    let h = assessed(&s);
    assert!(h.link_degraded && h.source == "sysfs", "{h:?}");
}

/// class/drm/card0/device linked to the PCI function at `gpu`, as the kernel does.
fn drm_card0(root: &tempfile::TempDir, gpu: &str) {
    std::fs::create_dir_all(root.path().join("class/drm/card0")).unwrap();
    std::os::unix::fs::symlink(
        root.path().join(gpu),
        root.path().join("class/drm/card0/device"),
    )
    .unwrap();
}

/// A Navi card as the PCI tree holds it: root port 00:01.1 (the host's), the card's
/// switch (upstream port 01:00.0, downstream port 02:00.0), the GPU at 03:00.0, and
/// its DRM card linked to it. `host` is the root port's maximum, `up` the upstream
/// port's current link; the GPU's own link to the switch reads a fixed 2.5 GT/s x1.
fn navi_behind_switch(host: &str, up: (&str, &str)) -> tempfile::TempDir {
    let rp = "devices/pci0000:00/0000:00:01.1";
    let us = format!("{rp}/0000:01:00.0");
    let ds = format!("{us}/0000:02:00.0");
    let gpu = format!("{ds}/0000:03:00.0");
    let link = |dir: &str, vendor: &str, cur: (&str, &str), max: (&str, &str)| {
        vec![
            (format!("{dir}/vendor"), format!("{vendor}\n")),
            (format!("{dir}/current_link_speed"), format!("{}\n", cur.0)),
            (format!("{dir}/current_link_width"), format!("{}\n", cur.1)),
            (format!("{dir}/max_link_speed"), format!("{}\n", max.0)),
            (format!("{dir}/max_link_width"), format!("{}\n", max.1)),
        ]
    };
    let mut files = link(rp, "0x1022", up, (host, "16"));
    files.extend(link(&us, "0x1002", up, ("16.0 GT/s PCIe", "16")));
    files.extend(link(
        &ds,
        "0x1002",
        ("16.0 GT/s PCIe", "16"),
        ("16.0 GT/s PCIe", "16"),
    ));
    files.extend(link(
        &gpu,
        "0x1002",
        ("2.5 GT/s PCIe", "1"),
        ("2.5 GT/s PCIe", "1"),
    ));
    files.push((format!("{gpu}/device"), "0x73bf\n".into()));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let root = fake_sys(&files);
    drm_card0(&root, &gpu);
    root
}

#[test]
fn a_card_behind_its_own_switch_reports_the_switchs_link_to_the_host() {
    let link = |root: &tempfile::TempDir| {
        let s = find(root, 0x1002, 0x73bf)
            .unwrap()
            .snapshot("AMD Radeon RX 6900 XT (RADV NAVI21)");
        (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max)
    };
    // Healthy at Gen4 x16, though the GPU's own link reads Gen1 x1.
    let healthy = navi_behind_switch("16.0 GT/s PCIe", ("16.0 GT/s PCIe", "16"));
    assert_eq!(link(&healthy), (Some(4), Some(4), Some(16), Some(16)));
    let g = find(&healthy, 0x1002, 0x73bf).unwrap();
    assert!(g.link.ends_with("0000:01:00.0"), "{:?}", g.link);
    assert!(g.slot.unwrap().ends_with("0000:00:01.1"));
    // Trained down to Gen3 x8 in a Gen4 slot: degraded.
    let down = navi_behind_switch("16.0 GT/s PCIe", ("8.0 GT/s PCIe", "8"));
    assert_eq!(link(&down), (Some(3), Some(4), Some(8), Some(16)));
    // At Gen3 in a slot that can do no more: the slot's maximum, not degraded.
    let slot = navi_behind_switch("8.0 GT/s PCIe", ("8.0 GT/s PCIe", "16"));
    assert_eq!(link(&slot), (Some(3), Some(3), Some(16), Some(16)));
    for (root, degraded) in [(&healthy, false), (&down, true), (&slot, false)] {
        let s = find(root, 0x1002, 0x73bf).unwrap().snapshot("navi");
        let h = assessed(&s);
        assert_eq!(h.link_degraded, degraded, "{h:?}");
    }
}

#[test]
fn an_intel_card_stops_below_the_intel_root_port() {
    // Arc sits behind its own switch, and Intel's root port shares the GPU's vendor
    // id: the walk takes the switch and stops below the root port, the host's.
    let rp = "devices/pci0000:00/0000:00:01.0";
    let us = format!("{rp}/0000:03:00.0");
    let gpu = format!("{us}/0000:04:01.0/0000:05:00.0");
    let root = fake_sys(&[
        (&format!("{rp}/vendor"), "0x8086\n"),
        (&format!("{rp}/max_link_speed"), "16.0 GT/s PCIe\n"),
        (&format!("{rp}/max_link_width"), "16\n"),
        (&format!("{us}/vendor"), "0x8086\n"),
        (&format!("{us}/current_link_speed"), "16.0 GT/s PCIe\n"),
        (&format!("{us}/current_link_width"), "8\n"),
        (&format!("{us}/max_link_speed"), "16.0 GT/s PCIe\n"),
        (&format!("{us}/max_link_width"), "16\n"),
        (&format!("{us}/0000:04:01.0/vendor"), "0x8086\n"),
        (&format!("{gpu}/vendor"), "0x8086\n"),
        (&format!("{gpu}/device"), "0x56a0\n"),
        (&format!("{gpu}/current_link_speed"), "2.5 GT/s PCIe\n"),
        (&format!("{gpu}/current_link_width"), "1\n"),
    ]);
    drm_card0(&root, &gpu);
    let g = find(&root, 0x8086, 0x56a0).unwrap();
    assert!(g.link.ends_with("0000:03:00.0"), "{:?}", g.link);
    assert!(g.slot.as_ref().unwrap().ends_with("0000:00:01.0"));
    let s = g.snapshot("Intel(R) Arc(tm) A770 Graphics (DG2)");
    // Gen4 x8 of x16: degraded width.
    assert_eq!(
        (s.pcie_gen, s.pcie_gen_max, s.pcie_width, s.pcie_width_max),
        (Some(4), Some(4), Some(8), Some(16))
    );
}

/// An amdgpu `gpu_metrics` table of layout 1.3 (120 bytes) with these
/// `indep_throttle_status` bits.
fn metrics_v1_3(bits: u64) -> Vec<u8> {
    let mut t = vec![0u8; 120];
    t[..4].copy_from_slice(&[120, 0, 1, 3]);
    t[112..].copy_from_slice(&bits.to_le_bytes());
    t
}

#[test]
fn amdgpu_throttlers_are_read_from_gpu_metrics() {
    let hot_and_capped = 1 << 36 | 1 << 0 | 1 << 44 | 1 << 57;
    assert_eq!(
        amd_throttlers(&metrics_v1_3(hot_and_capped)).unwrap(),
        ["amd_ppt0", "amd_temp_hotspot", "amd_vrhot0", "amd_fit"]
    );
    assert_eq!(amd_throttlers(&metrics_v1_3(0)), Some(vec![]));
    // "Not supported" (all ones), another layout, a short read: unknown, not "none".
    assert_eq!(amd_throttlers(&metrics_v1_3(u64::MAX)), None);
    let mut v1_2 = metrics_v1_3(1 << 36);
    v1_2[3] = 2;
    assert_eq!(amd_throttlers(&v1_2), None);
    let mut wrong_size = metrics_v1_3(1 << 36);
    wrong_size[0] = 104;
    assert_eq!(amd_throttlers(&wrong_size), None);
    assert_eq!(amd_throttlers(&metrics_v1_3(1 << 36)[..100]), None);
    // Temperatures slow a run down; power and current limits are the power cap.
    assert!(is_slowdown("amd_temp_hotspot") && !is_power_cap("amd_temp_hotspot"));
    assert!(is_power_cap("amd_ppt0") && !is_slowdown("amd_ppt0"));
    assert!(is_power_cap("amd_tdc_gfx") && is_slowdown("amd_prochot_gfx"));
    assert!(is_slowdown("hw_thermal_slowdown") && is_power_cap("sw_power_cap"));
}

#[test]
fn a_hot_amd_card_makes_the_timing_suspect() {
    let d = "class/drm/card0/device";
    let table = metrics_v1_3(1 << 36);
    let root = fake_sys(&[
        (&format!("{d}/vendor"), "0x1002\n"),
        (&format!("{d}/device"), "0x744c\n"),
    ]);
    let g = find(&root, 0x1002, 0x744c).unwrap();
    // Without gpu_metrics: no reasons, and no claim of having them.
    assert!(g.throttlers().is_none());
    assert!(g.snapshot("navi31").throttle_reasons.is_empty());
    std::fs::write(root.path().join(d).join("gpu_metrics"), table).unwrap();
    let s = g.snapshot("navi31");
    assert_eq!(s.throttle_reasons, ["amd_temp_hotspot"]);
    let h = assessed(&s);
    assert!(h.throttled_at_end && h.timing_suspect(), "{h:?}");
}

#[test]
fn the_adapter_is_found_by_pci_address_else_by_a_name_only_one_has() {
    let h100 = "NVIDIA H100 80GB HBM3";
    let devs = |addrs: [Option<&str>; 3]| -> Vec<(String, Option<String>)> {
        addrs
            .iter()
            .map(|a| (h100.to_owned(), a.map(str::to_owned)))
            .collect()
    };
    // NVML writes an 8-digit domain, wgpu a 4-digit one: the same address.
    let three = devs([
        Some("00000000:17:00.0"),
        Some("00000000:3B:00.0"),
        Some("00000000:9A:00.0"),
    ]);
    assert_eq!(pick(Some("0000:3b:00.0"), h100, &three, "d"), Ok((1, None)));
    // An address none has: no telemetry rather than another card's.
    let e = pick(Some("0000:b1:00.0"), h100, &three, "NVML device").unwrap_err();
    assert!(e.contains("0000:b1:00.0"), "{e}");
    // Without an address, alike names are a doubt, said.
    let (i, caveat) = pick(None, h100, &three, "NVML device").unwrap();
    assert_eq!(i, 0);
    assert!(caveat.unwrap().starts_with("3 NVML devices are"));
    // Candidates without addresses fall back to the name.
    let mut mixed = devs([None, None, None]);
    mixed[2].0 = "NVIDIA H200".into();
    assert_eq!(
        pick(Some("0000:17:00.0"), "NVIDIA H200", &mixed, "d"),
        Ok((2, None))
    );
    assert_eq!(pick(None, "Tesla T4", &mixed[..1], "d"), Ok((0, None)));
    assert!(pick(None, "Tesla T4", &mixed, "d").is_err());
    assert!(pick(None, "Tesla T4", &[], "d").is_err());
}

#[test]
fn of_two_alike_cards_sysfs_reads_the_adapters() {
    let files: Vec<(String, String)> = [("0000:03:00.0", "a1"), ("0000:43:00.0", "b2")]
        .iter()
        .flat_map(|(addr, id)| {
            let d = format!("devices/pci0000:00/{addr}");
            [
                (format!("{d}/vendor"), "0x1002\n".to_owned()),
                (format!("{d}/device"), "0x74a1\n".to_owned()),
                (format!("{d}/unique_id"), format!("{id}\n")),
            ]
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let root = fake_sys(&files);
    for (card, addr) in [("card0", "0000:03:00.0"), ("card1", "0000:43:00.0")] {
        std::fs::create_dir_all(root.path().join("class/drm").join(card)).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("devices/pci0000:00").join(addr),
            root.path().join("class/drm").join(card).join("device"),
        )
        .unwrap();
    }
    let (g, caveat) =
        SysfsGpu::find(root.path(), 0x1002, 0x74a1, Some("0000:43:00.0"), "MI300X").unwrap();
    assert_eq!(caveat, None);
    let id = g.identity();
    assert_eq!(id.pci_bus_id.as_deref(), Some("0000:43:00.0"));
    assert_eq!(id.uuid.as_deref(), Some("b2"));
    let (g, caveat) = SysfsGpu::find(root.path(), 0x1002, 0x74a1, None, "MI300X").unwrap();
    assert_eq!(g.identity().uuid.as_deref(), Some("a1"));
    assert!(caveat.is_some());
}

#[test]
fn intel_throttle_reasons_and_clock_come_from_i915_and_xe() {
    let i915 = "class/drm/card0";
    let xe = "class/drm/card1/device/tile0";
    let root = fake_sys(&[
        (&format!("{i915}/device/vendor"), "0x8086\n"),
        (&format!("{i915}/device/device"), "0x56a0\n"),
        (&format!("{i915}/gt/gt0/rps_act_freq_mhz"), "2050\n"),
        (&format!("{i915}/gt/gt0/throttle_reason_status"), "1\n"),
        (&format!("{i915}/gt/gt0/throttle_reason_pl1"), "1\n"),
        (&format!("{i915}/gt/gt0/throttle_reason_thermal"), "0\n"),
        (
            &format!("{i915}/device/hwmon/hwmon3/energy1_input"),
            "123\n",
        ),
        ("class/drm/card1/device/vendor", "0x8086\n"),
        ("class/drm/card1/device/device", "0xe20b\n"),
        (&format!("{xe}/gt0/freq0/act_freq"), "2850\n"),
        (&format!("{xe}/gt0/freq0/throttle/status"), "1\n"),
        (&format!("{xe}/gt0/freq0/throttle/reason_thermal"), "1\n"),
        (&format!("{xe}/gt0/freq0/throttle/reason_pl1"), "0\n"),
        (&format!("{xe}/gt1/freq0/throttle/status"), "1\n"),
        (&format!("{xe}/gt1/freq0/throttle/reason_pl2"), "1\n"),
        ("class/drm/card1/device/hwmon/hwmon5/temp2_input", "81000\n"),
    ]);
    let arc = find(&root, 0x8086, 0x56a0).unwrap();
    let s = arc.snapshot("Intel(R) Arc(tm) A770 Graphics (DG2)");
    assert_eq!(s.throttle_reasons, ["intel_pl1"]);
    assert_eq!((s.sm_clock_mhz, s.temperature_c), (Some(2050), None));
    // xe: any GT's reasons; the clock of the first; the package temperature.
    let bmg = find(&root, 0x8086, 0xe20b).unwrap();
    let s = bmg.snapshot("Intel(R) Graphics (BMG G21)");
    assert_eq!(s.throttle_reasons, ["intel_pl2", "intel_thermal"]);
    assert_eq!((s.sm_clock_mhz, s.temperature_c), (Some(2850), Some(81)));
    assert!(bmg.throttlers().is_some());
    assert!(is_slowdown("intel_thermal") && is_power_cap("intel_pl2"));
    assert!(!is_slowdown("intel_pl1") && !is_power_cap("intel_ratl"));
    let h = assessed(&s);
    assert!(h.throttled_at_end, "{h:?}");
    // A driver without the files: no reasons, and none claimed.
    let root2 = fake_sys(&[
        ("class/drm/card0/device/vendor", "0x8086\n"),
        ("class/drm/card0/device/device", "0x56a0\n"),
    ]);
    assert!(find(&root2, 0x8086, 0x56a0).unwrap().throttlers().is_none());
}

#[test]
fn intel_power_is_the_energy_counters_difference() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_millis(100);
    // 25 J in 100 ms: 250 W.
    assert_eq!(power_between((t0, 1e6), (t1, 26e6)), Some(250.0));
    assert_eq!(
        power_between((t0, 26e6), (t1, 1e6)),
        None,
        "counter went back"
    );
    assert_eq!(power_between((t1, 1e6), (t0, 2e6)), None);
    assert_eq!(power_between((t0, 1e6), (t0, 2e6)), None);
    let hw = "class/drm/card0/device/hwmon/hwmon3/energy1_input";
    let root = fake_sys(&[
        ("class/drm/card0/device/vendor", "0x8086\n"),
        ("class/drm/card0/device/device", "0xe20b\n"),
        (hw, "1000000\n"),
    ]);
    let g = find(&root, 0x8086, 0xe20b).unwrap();
    assert_eq!(g.snapshot("bmg").power_w, None, "one reading is no power");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(root.path().join(hw), "3000000\n").unwrap();
    let p = g.snapshot("bmg").power_w.unwrap();
    // 2 J over at least the 20 ms slept: at most 100 W.
    assert!(p > 0.0 && p <= 100.0, "{p}");
}

#[test]
fn link_speeds_map_to_generations() {
    assert_eq!(link_gen("2.5 GT/s PCIe"), Some(1));
    assert_eq!(link_gen("32.0 GT/s PCIe"), Some(5));
    assert_eq!(link_gen("Unknown"), None);
}

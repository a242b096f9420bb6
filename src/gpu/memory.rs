//! How much memory the device has and how much this process may still allocate, as
//! Vulkan reports it: the device-local heaps' sizes, and with VK_EXT_memory_budget the
//! budget and this process's usage of each heap, read through wgpu's hal access. The
//! memory test sizes itself by these; NVML's and amdgpu's figures (in `telemetry`)
//! cross-check them. A figure Vulkan cannot give is absent, never 0.

use crate::model::MemoryReading;

/// The device-local heaps as Vulkan reports them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heaps {
    /// Sum of the device-local heaps' sizes.
    pub device_local: u64,
    /// Budget and usage summed over the device-local heaps (VK_EXT_memory_budget).
    pub budget: Option<u64>,
    pub usage: Option<u64>,
}

impl Heaps {
    /// What the process may still allocate: budget minus its own usage.
    pub fn free(&self) -> Option<u64> {
        Some(self.budget?.saturating_sub(self.usage.unwrap_or(0)))
    }

    pub fn reading(&self) -> MemoryReading {
        MemoryReading {
            source: "vulkan".to_owned(),
            total_bytes: Some(self.device_local),
            free_bytes: self.free(),
            used_bytes: self.usage,
        }
    }
}

/// The device-local heaps of `adapter`, or why Vulkan cannot say (another backend, a
/// device without Vulkan 1.1).
pub fn vulkan_heaps(adapter: &wgpu::Adapter) -> Result<Heaps, String> {
    use ash::vk;
    // SAFETY: only queries are made, on handles the guard keeps alive; nothing is
    // created or destroyed.
    let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }
        .ok_or_else(|| "not a Vulkan adapter".to_owned())?;
    let instance = hal.shared_instance().raw_instance();
    let pd = hal.raw_physical_device();
    let caps = hal.physical_device_capabilities();
    let api = caps.properties().api_version;
    let instance_api = hal.shared_instance().instance_api_version();
    let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
    let with_budget = caps.supports_extension(ash::ext::memory_budget::NAME);
    let base = if api >= vk::API_VERSION_1_1 && instance_api >= vk::API_VERSION_1_1 {
        let mut props = vk::PhysicalDeviceMemoryProperties2::default();
        if with_budget {
            props = props.push_next(&mut budget);
        }
        // SAFETY: a core Vulkan 1.1 query on a physical device of this instance.
        unsafe { instance.get_physical_device_memory_properties2(pd, &mut props) };
        props.memory_properties
    } else {
        // SAFETY: a core Vulkan 1.0 query on a physical device of this instance.
        unsafe { instance.get_physical_device_memory_properties(pd) }
    };
    let budgeted = with_budget && api >= vk::API_VERSION_1_1 && instance_api >= vk::API_VERSION_1_1;
    let heaps = &base.memory_heaps[..base.memory_heap_count as usize];
    let local: Vec<usize> = (0..heaps.len())
        .filter(|&i| heaps[i].flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
        .collect();
    if local.is_empty() {
        return Err("Vulkan lists no device-local heap".to_owned());
    }
    let sum = |f: &dyn Fn(usize) -> u64| local.iter().map(|&i| f(i)).sum::<u64>();
    Ok(Heaps {
        device_local: sum(&|i| heaps[i].size),
        budget: budgeted.then(|| sum(&|i| budget.heap_budget[i])),
        usage: budgeted.then(|| sum(&|i| budget.heap_usage[i])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_is_the_budget_less_the_usage_and_absent_without_one() {
        let h = Heaps {
            device_local: 100,
            budget: Some(90),
            usage: Some(30),
        };
        assert_eq!(h.free(), Some(60));
        let h = Heaps {
            budget: None,
            usage: None,
            ..h
        };
        assert_eq!(h.free(), None);
        assert_eq!(h.reading().free_bytes, None);
        assert_eq!(h.reading().total_bytes, Some(100));
    }
}

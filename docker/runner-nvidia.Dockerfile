# The honey lane's runner image for NVIDIA GPUs: the official Actions runner image, pinned,
# plus the Vulkan loader and vulkaninfo. The driver's Vulkan ICD is not in the image: the
# NVIDIA container toolkit mounts it from the host when the pod asks for the `graphics`
# capability (docs/lane/nvidia-values.yaml). The runner image is Ubuntu 24.04, like the
# hosted runner that builds gpu-canary, so the binary's glibc matches.
#
#   docker build -f docker/runner-nvidia.Dockerfile -t gpu-canary-runner-nvidia docker/
ARG RUNNER_VERSION=2.336.0
FROM ghcr.io/actions/actions-runner:${RUNNER_VERSION}

USER root
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libvulkan1 vulkan-tools \
    && rm -rf /var/lib/apt/lists/*
# Without `graphics` the toolkit mounts no Vulkan ICD, wgpu finds no GPU, and
# `gpu-canary run --require-hardware` exits 3. (The pod spec sets it too.)
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
USER runner

# The honey lane's runner image for AMD GPUs (RDNA 2 or newer): the official Actions
# runner image, pinned, plus Mesa's RADV Vulkan driver, the Vulkan loader and vulkaninfo.
# The AMD device plugin passes /dev/dri (the render node) and /dev/kfd into the pod; the
# runner user reaches them through the pod's supplementalGroups
# (docs/lane/amd-values.yaml). Ubuntu 24.04, like the hosted runner that builds
# gpu-canary, so the binary's glibc matches.
#
#   docker build -f docker/runner-amd.Dockerfile -t gpu-canary-runner-amd docker/
ARG RUNNER_VERSION=2.336.0
FROM ghcr.io/actions/actions-runner:${RUNNER_VERSION}

USER root
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mesa-vulkan-drivers libvulkan1 vulkan-tools \
    && rm -rf /var/lib/apt/lists/*
USER runner

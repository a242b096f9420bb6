# The honey lane's runner image for AMD GPUs (RDNA 2 or newer): the official Actions
# runner image plus Mesa's RADV Vulkan driver, the Vulkan loader and vulkaninfo. The AMD
# device plugin passes /dev/dri (the render node) and /dev/kfd into the pod; the runner
# user reaches them through the pod's supplementalGroups (docs/lane/amd-values.yaml).
# Ubuntu 24.04, like the hosted runner that builds gpu-canary, so the binary's glibc
# matches.
#
# RUNNER_VERSION is the Actions runner release: .github/workflows/runner-images.yml
# builds with the newest one every week and tags the image with it and the commit.
# Package versions are recorded in /etc/gpu-canary-image.txt (see the NVIDIA image).
#
#   docker build -f docker/runner-amd.Dockerfile --build-arg RUNNER_VERSION=2.336.0 docker/
ARG RUNNER_VERSION=2.336.0
FROM ghcr.io/actions/actions-runner:${RUNNER_VERSION}
ARG RUNNER_VERSION

USER root
# The build fails unless RADV's ICD file is where the Vulkan loader looks: an image
# without it would hand the canary llvmpipe, or nothing.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mesa-vulkan-drivers libvulkan1 vulkan-tools \
    && rm -rf /var/lib/apt/lists/* \
    && test -f /usr/share/vulkan/icd.d/radeon_icd.x86_64.json \
    && { echo "runner ${RUNNER_VERSION}"; \
         dpkg-query -W mesa-vulkan-drivers libvulkan1 vulkan-tools; } > /etc/gpu-canary-image.txt
# gpu-canary and the job-started hook: every job on the lane runs the preflight first
# (docs/lane.md, "The preflight"). runner-images.yml puts the release binary and
# scripts/push-metrics into this build context. The hook lives outside the runner's own
# directory, as GitHub requires; the values files set ACTIONS_RUNNER_HOOK_JOB_STARTED.
COPY --chmod=0755 gpu-canary /usr/local/bin/gpu-canary
COPY --chmod=0755 gpu-canary-job-started.sh /opt/gpu-canary/job-started.sh
COPY --chmod=0755 push-metrics /opt/gpu-canary/push-metrics
USER runner

# The honey lane's runner image for NVIDIA GPUs: the official Actions runner image, plus
# the Vulkan loader and vulkaninfo, and the two libraries the driver's Vulkan ICD loads
# that the NVIDIA container toolkit does not mount: libEGL (libglvnd's) and libXext.
# Without them the toolkit's ICD fails to load ("cannot open libXext.so.6 … Failed
# loading library associated with ICD JSON"), Vulkan finds no GPU, and the canary exits
# 3 "no adapter". The driver's ICD itself comes from the host when the pod asks for the
# `graphics` capability (docs/lane/nvidia-values.yaml). Ubuntu 24.04, like the hosted
# runner that builds gpu-canary, so the binary's glibc matches.
#
# RUNNER_VERSION is the Actions runner release: .github/workflows/runner-images.yml
# builds with the newest one every week (GitHub refuses runners older than its update
# window) and tags the image with it and the commit. Package versions are recorded in
# /etc/gpu-canary-image.txt (the canary's preflight prints it): pinning them would break
# the next build, since Ubuntu drops superseded versions from its archive.
#
#   docker build -f docker/runner-nvidia.Dockerfile --build-arg RUNNER_VERSION=2.336.0 docker/
ARG RUNNER_VERSION=2.336.0
FROM ghcr.io/actions/actions-runner:${RUNNER_VERSION}
ARG RUNNER_VERSION

USER root
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libvulkan1 vulkan-tools libegl1 libxext6 \
    && rm -rf /var/lib/apt/lists/* \
    && { echo "runner ${RUNNER_VERSION}"; \
         dpkg-query -W libvulkan1 vulkan-tools libegl1 libxext6; } > /etc/gpu-canary-image.txt
# Without `graphics` the toolkit mounts no Vulkan ICD, wgpu finds no GPU, and
# `gpu-canary run --require-hardware` exits 3. (The pod spec sets it too.)
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
# gpu-canary and the job-started hook: every job on the lane runs the preflight first
# (docs/lane.md, "The preflight"). runner-images.yml puts the release binary and
# scripts/push-metrics into this build context. The hook lives outside the runner's own
# directory, as GitHub requires; the values files set ACTIONS_RUNNER_HOOK_JOB_STARTED.
COPY --chmod=0755 gpu-canary /usr/local/bin/gpu-canary
COPY --chmod=0755 gpu-canary-job-started.sh /opt/gpu-canary/job-started.sh
COPY --chmod=0755 push-metrics /opt/gpu-canary/push-metrics
USER runner

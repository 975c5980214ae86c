#!/usr/bin/env bash
# Tools the tests drive, from Debian (never downloaded by the tests themselves): Chromium and
# Firefox ESR for the browser tests (Chromium also ships SwiftShader's Vulkan driver, on which the
# WebGPU engine's parity tests run through Dawn), the Vulkan loader (libvulkan1) that Dawn opens,
# promtool (package prometheus) to check the /metrics page, curl for the README's examples.
# Installed when missing.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
command -v promtool >/dev/null || missing+=(prometheus)
command -v curl >/dev/null || missing+=(curl) # the README's examples
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' || missing+=(libvulkan1) # Dawn (the webgpu package) loads it
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's ${missing[*]} for the tests…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "warning: ${missing[*]} missing and cannot be installed here (needs root and apt-get); the tests that use them will fail" >&2
fi
